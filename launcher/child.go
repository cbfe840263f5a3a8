package launcher

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"
)

// child is a running node process.
type child struct {
	cmd     *exec.Cmd
	release ReleaseRef
	started time.Time
	// done is closed when the process has exited; err is its exit status.
	done chan struct{}
	err  error
}

// nodePID is launcher/node.pid: the node the launcher started, so a
// restarted launcher can find one a crash left behind.
type nodePID struct {
	PID     int    `json:"pid"`
	Release string `json:"release"`
}

// Environment the launcher gives the node.
const (
	// EnvLauncher is "1" in a node the launcher runs.
	EnvLauncher = "AURA_LAUNCHER"
	// EnvReleaseID is the release ID the node runs as.
	EnvReleaseID = "AURA_RELEASE_ID"
	// EnvCrashAt is the crash-injection variable; the launcher removes it
	// from what its children see.
	EnvCrashAt = "AURA_LAUNCHER_CRASH_AT"
)

// Managed reports whether this process is a node a launcher started, and
// the release ID it runs as: the node side calls it to know whether it
// can ask for stage, cutover and rollback.
func Managed() (releaseID string, ok bool) {
	return os.Getenv(EnvReleaseID), os.Getenv(EnvLauncher) == "1"
}

// childEnv is the launcher's environment without crash injection, plus
// extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k == EnvCrashAt || k == EnvLauncher || k == EnvReleaseID {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// startNode starts `releases/<id>/aura-node run --home HOME [args]`
// after removing a stale api.addr, and records its pid.
func startNode(lay Layout, rel ReleaseRef, args []string, stdout, stderr io.Writer, log *slog.Logger) (*child, error) {
	if err := os.Remove(lay.apiAddr()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("launcher: %w", err)
	}
	bin := lay.binary(rel.ID)
	cmd := exec.Command(bin, append([]string{"run", "--home", lay.Home}, args...)...)
	cmd.Dir = lay.Home
	cmd.Env = childEnv(EnvLauncher+"=1", EnvReleaseID+"="+rel.ID)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	setProcAttrs(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("launcher: starting %s: %w", bin, err)
	}
	c := &child{cmd: cmd, release: rel, started: time.Now(), done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	b, _ := json.Marshal(nodePID{PID: cmd.Process.Pid, Release: rel.ID})
	if err := writeFileAtomic(lay.nodePID(), append(b, '\n'), 0o644); err != nil {
		c.kill()
		return nil, err
	}
	log.Info("node started", "pid", cmd.Process.Pid, "release", rel.ID, "version", rel.Version)
	return c, nil
}

// exited reports whether the process has exited.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// exitStatus describes how the process ended.
func (c *child) exitStatus() string {
	if c.err == nil {
		return "exit status 0"
	}
	return c.err.Error()
}

func (c *child) kill() {
	signalKill(c.cmd.Process)
	<-c.done
}

// stop sends SIGTERM, waits up to timeout, then SIGKILL, and waits for
// the exit. It reports whether the node had to be killed.
func (c *child) stop(timeout time.Duration) (killed bool) {
	if c.exited() {
		return false
	}
	signalTerm(c.cmd.Process)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-c.done:
		return false
	case <-t.C:
		c.kill()
		return true
	}
}

// killStaleNode kills a node a previous launcher started and left
// running (launcher/node.pid), and waits until it is gone.
func killStaleNode(lay Layout, log *slog.Logger) error {
	b, err := readBounded(lay.nodePID(), 4096)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var np nodePID
	if err == nil {
		err = json.Unmarshal(b, &np)
	}
	if err != nil {
		log.Warn("ignoring unreadable node pid file", "file", lay.nodePID(), "err", err)
		return os.Remove(lay.nodePID())
	}
	if processAlive(np.PID, lay.Home) {
		log.Warn("killing the node a previous launcher left running", "pid", np.PID, "release", np.Release)
		if err := killPID(np.PID); err != nil {
			return err
		}
		deadline := time.Now().Add(30 * time.Second)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for processAlive(np.PID, lay.Home) {
			if time.Now().After(deadline) {
				return fmt.Errorf("launcher: the node left running (pid %d) did not die after SIGKILL", np.PID)
			}
			<-tick.C
		}
	}
	return os.Remove(lay.nodePID())
}
