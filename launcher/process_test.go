package launcher_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aura-node/aura-node/api"
	"github.com/aura-node/aura-node/launcher"
	"github.com/aura-node/aura-node/node"
)

// The process tests run real launchers and nodes on 127.0.0.1 from two
// builds of cmd/aura-node made once in TestMain: v1 (version 1.0.0) and
// v2 (version 2.0.0, built with the aura_testmigration tag, so it
// migrates the journal to storage format 2 when it opens it). A v1 node
// cannot open a journal v2 has migrated, so a v1 node that comes up
// healthy after a rollback proves the launcher restored the checkpoint.
var (
	binV1, binV2 string
	buildErr     error
)

const (
	v1Version = "1.0.0"
	v2Version = "2.0.0"
	waitLong  = 60 * time.Second
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "launcher-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binV1, binV2 = filepath.Join(dir, "aura-node-v1"), filepath.Join(dir, "aura-node-v2")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, b := range []struct{ out, version, tags string }{{binV1, v1Version, ""}, {binV2, v2Version, "aura_testmigration"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := []string{"build", "-o", b.out, "-ldflags", "-s -w -X github.com/aura-node/aura-node/node.Version=" + b.version}
			if b.tags != "" {
				args = append(args, "-tags", b.tags)
			}
			out, err := exec.Command("go", append(args, "github.com/aura-node/aura-node/cmd/aura-node")...).CombinedOutput()
			if err != nil {
				errs[i] = fmt.Errorf("go build %s: %v\n%s", b.version, err, out)
			}
		}()
	}
	wg.Wait()
	buildErr = errors.Join(errs...)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func needBinaries(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts real processes")
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last state: %s", d, what, state)
		}
		<-tick.C
	}
}

// testHome is a node home made with `aura-node init --new-network`.
type testHome struct {
	t    *testing.T
	dir  string
	logs *os.File
}

func newTestHome(t *testing.T) *testHome {
	t.Helper()
	needBinaries(t)
	dir := filepath.Join(t.TempDir(), "home")
	if out, err := exec.Command(binV1, "init", "--new-network", "--home", dir).CombinedOutput(); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	logs, err := os.Create(filepath.Join(filepath.Dir(dir), "launcher.log"))
	if err != nil {
		t.Fatal(err)
	}
	h := &testHome{t: t, dir: dir, logs: logs}
	t.Cleanup(func() {
		logs.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logs.Name())
			t.Logf("launcher and node log:\n%s", tail(string(b), 8000))
		}
	})
	return h
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// proc is a running launcher.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// startLauncher runs `v1 launcher --home DIR` with extra environment.
func (h *testHome) startLauncher(env ...string) *proc {
	h.t.Helper()
	cmd := exec.Command(binV1, "launcher", "--home", h.dir, "--health-timeout", "30s", "--stop-timeout", "10s")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = h.logs, h.logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	h.t.Cleanup(func() { p.stop(h.t) })
	return p
}

// stop ends the launcher with SIGTERM (it stops its node).
func (p *proc) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		t.Errorf("launcher did not stop after SIGTERM")
	}
}

// waitKilled waits for the launcher to die of SIGKILL (crash injection).
func (p *proc) waitKilled(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(waitLong):
		t.Fatal("the launcher did not crash at the injected point")
	}
	var ee *exec.ExitError
	if !errors.As(p.err, &ee) || ee.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("launcher ended with %v, want SIGKILL", p.err)
	}
}

func (h *testHome) client() (*api.Client, string, error) {
	home := node.Home{Dir: h.dir}
	addr, err := home.LoadAPIAddr()
	if err != nil {
		return nil, "", err
	}
	token, err := home.LoadToken()
	if err != nil {
		return nil, "", err
	}
	return api.NewClient(addr, token), addr, nil
}

// waitActive waits until the node answers ready with the given version and
// checks that releases/current is that version: one release, all of it.
func (h *testHome) waitActive(version string) *api.Client {
	h.t.Helper()
	var c *api.Client
	waitUntil(h.t, waitLong, "node "+version+" ready", func() (bool, string) {
		var err error
		var addr string
		if c, addr, err = h.client(); err != nil {
			return false, err.Error()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		st, err := c.Status(ctx)
		if err != nil {
			return false, err.Error()
		}
		if st.Version != version {
			return false, "version " + st.Version
		}
		if !ready(ctx, addr) {
			return false, "not ready"
		}
		return true, ""
	})
	cur, err := launcher.Current(h.dir)
	if err != nil || cur.Version != version {
		h.t.Fatalf("releases/current = %+v, %v; node runs %s", cur, err, version)
	}
	return c
}

// ready reports whether the node at addr answers /readyz with 200.
func ready(ctx context.Context, addr string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (h *testHome) put(c *api.Client, key, value string) {
	h.t.Helper()
	if _, err := c.PutData(context.Background(), "default", key, []byte(value)); err != nil {
		h.t.Fatalf("put %s: %v", key, err)
	}
}

// get returns the value of key, or "" if the node does not have it.
func (h *testHome) get(c *api.Client, key string) string {
	h.t.Helper()
	v, err := c.GetData(context.Background(), "default", key)
	if err != nil {
		var ae *api.APIError
		if errors.As(err, &ae) && ae.Code == 404 {
			return ""
		}
		h.t.Fatalf("get %s: %v", key, err)
	}
	return string(v.Value)
}

func (h *testHome) submit(req launcher.Request) uint64 {
	h.t.Helper()
	seq, err := launcher.Submit(h.dir, req)
	if err != nil {
		h.t.Fatal(err)
	}
	return seq
}

func (h *testHome) result(seq uint64) launcher.Result {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	r, err := launcher.Wait(ctx, h.dir, seq, 25*time.Millisecond)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// stageV2 stages v2 through the node's incoming folder and checks the
// launcher removed the exported file.
func (h *testHome) stageV2() {
	h.t.Helper()
	in := launcher.IncomingPath(h.dir, "v2")
	b, err := os.ReadFile(binV2)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(in, b, 0o600); err != nil {
		h.t.Fatal(err)
	}
	r := h.result(h.submit(launcher.Request{Action: launcher.ActionStage, ReleaseID: "v2", Version: v2Version, Artifact: in, SHA256: sha256Hex(b), Origin: "test"}))
	if r.Outcome != launcher.OutcomeOK || r.Version != v2Version || r.ToVersion != v1Version {
		h.t.Fatalf("stage: %+v", r)
	}
	if _, err := os.Stat(in); !errors.Is(err, os.ErrNotExist) {
		h.t.Fatalf("exported artifact not removed: %v", err)
	}
}

func gate(name, script string) launcher.GateCommand {
	return launcher.GateCommand{Name: name, Argv: []string{"/bin/sh", "-c", script}, TimeoutMs: 20000}
}

// checkIdle checks the launcher has no operation and no request left.
func (h *testHome) checkIdle() *launcher.Status {
	h.t.Helper()
	st, err := launcher.ReadStatus(h.dir)
	if err != nil {
		h.t.Fatal(err)
	}
	if st.Operation != nil || len(st.Pending) != 0 {
		h.t.Fatalf("launcher not idle: operation %+v, pending %+v", st.Operation, st.Pending)
	}
	return st
}

func TestCutoverAndManualRollback(t *testing.T) {
	h := newTestHome(t)
	l := h.startLauncher()
	c := h.waitActive(v1Version)
	h.put(c, "k1", "before cutover")
	h.stageV2()

	r := h.result(h.submit(launcher.Request{Action: launcher.ActionCutover, ReleaseID: "v2", Version: v2Version,
		Gates: []launcher.GateCommand{gate("env", `test "$AURA_RELEASE_ID" = v2 && test "$AURA_PREVIOUS_RELEASE_ID" = initial && test -n "$AURA_API_ADDR" && test -d "$AURA_HOME/data"`)}}))
	if r.Outcome != launcher.OutcomeOK || r.FromVersion != v1Version || r.ToVersion != v2Version || len(r.Gates) != 3 {
		t.Fatalf("cutover: %+v", r)
	}
	c = h.waitActive(v2Version)
	if got := h.get(c, "k1"); got != "before cutover" {
		t.Fatalf("v2 reads k1 = %q", got)
	}
	h.put(c, "k2", "written by v2")
	st := h.checkIdle()
	if st.Previous == nil || st.Previous.ID != "initial" || len(st.Checkpoints) != 1 || st.Checkpoints[0] != "initial" {
		t.Fatalf("after cutover: previous %+v, checkpoints %v", st.Previous, st.Checkpoints)
	}

	r = h.result(h.submit(launcher.Request{Action: launcher.ActionRollback, Reason: "test"}))
	if r.Outcome != launcher.OutcomeRolledBack || r.FailureClass != launcher.ManualRollbackRequested || r.ToVersion != v1Version {
		t.Fatalf("rollback: %+v", r)
	}
	c = h.waitActive(v1Version) // v1 opens the journal: the checkpoint was restored
	if k1, k2 := h.get(c, "k1"), h.get(c, "k2"); k1 != "before cutover" || k2 != "" {
		t.Fatalf("after rollback k1 = %q, k2 = %q; want the data from before the cutover", k1, k2)
	}
	st = h.checkIdle()
	if st.Previous != nil || len(st.Checkpoints) != 0 {
		t.Fatalf("after rollback: previous %+v, checkpoints %v", st.Previous, st.Checkpoints)
	}
	// Nothing left to roll back to.
	r = h.result(h.submit(launcher.Request{Action: launcher.ActionRollback}))
	if r.Outcome != launcher.OutcomeFailed || r.FailureClass != launcher.RequestRejected {
		t.Fatalf("second rollback: %+v", r)
	}

	// The launcher restarts a node that dies outside an operation.
	st, _ = launcher.ReadStatus(h.dir)
	syscall.Kill(st.NodePID, syscall.SIGKILL)
	waitUntil(t, waitLong, "a new node", func() (bool, string) {
		s, err := launcher.ReadStatus(h.dir)
		return err == nil && s.NodeRunning && s.NodePID != st.NodePID, fmt.Sprint(s, err)
	})
	h.waitActive(v1Version)

	// A second launcher for the same home is refused.
	out, err := exec.Command(binV1, "launcher", "--home", h.dir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "already running") {
		t.Fatalf("second launcher: %v: %s", err, out)
	}
	l.stop(t)
	if s, _ := launcher.ReadStatus(h.dir); s.NodeRunning || s.LauncherRunning {
		t.Fatalf("after SIGTERM: launcher running %v, node running %v", s.LauncherRunning, s.NodeRunning)
	}
}

func TestFailedGateRollsBack(t *testing.T) {
	h := newTestHome(t)
	h.startLauncher()
	c := h.waitActive(v1Version)
	h.put(c, "k1", "v1 data")

	// Stage refusals change nothing.
	b, _ := os.ReadFile(binV2)
	for _, bad := range []launcher.Request{
		{Action: launcher.ActionStage, ReleaseID: "v2", Artifact: binV2, SHA256: strings.Repeat("ab", 32)},
		{Action: launcher.ActionStage, ReleaseID: "v2", Artifact: binV2, SHA256: sha256Hex(b), Version: "9.9.9"},
	} {
		if r := h.result(h.submit(bad)); r.Outcome != launcher.OutcomeFailed || r.FailureClass != launcher.ArtifactRejected {
			t.Fatalf("bad stage: %+v", r)
		}
	}
	if r := h.result(h.submit(launcher.Request{Action: launcher.ActionCutover, ReleaseID: "v2"})); r.FailureClass != launcher.RequestRejected {
		t.Fatalf("cutover to an unstaged release: %+v", r)
	}
	h.stageV2()

	r := h.result(h.submit(launcher.Request{Action: launcher.ActionCutover, ReleaseID: "v2",
		Gates: []launcher.GateCommand{gate("ok", "true"), gate("smoke", "echo smoke test failed >&2; exit 3")}}))
	if r.Outcome != launcher.OutcomeRolledBack || r.FailureClass != launcher.HealthGateFailed || r.ToVersion != v1Version || r.Version != v2Version {
		t.Fatalf("cutover: %+v", r)
	}
	if last := r.Gates[len(r.Gates)-1]; last.Name != "smoke" || last.OK || !strings.Contains(last.Detail, "smoke test failed") {
		t.Fatalf("gate results %+v", r.Gates)
	}
	c = h.waitActive(v1Version)
	if got := h.get(c, "k1"); got != "v1 data" {
		t.Fatalf("k1 = %q after rollback", got)
	}
	h.checkIdle()
}

// TestBinaryThatWillNotStart cuts over to v2, then to a binary that
// exits at once: the launcher rolls back to v2 and gives back previous
// (v1) with its checkpoint, so a rollback request then reaches v1.
func TestBinaryThatWillNotStart(t *testing.T) {
	h := newTestHome(t)
	h.startLauncher()
	c := h.waitActive(v1Version)
	h.put(c, "k1", "v1 data")
	h.stageV2()
	if r := h.result(h.submit(launcher.Request{Action: launcher.ActionCutover, ReleaseID: "v2"})); r.Outcome != launcher.OutcomeOK {
		t.Fatalf("cutover to v2: %+v", r)
	}
	c = h.waitActive(v2Version)
	h.put(c, "k2", "v2 data")

	bad := filepath.Join(t.TempDir(), "aura-node-broken")
	script := "#!/bin/sh\nif [ \"$1\" = version ]; then echo 3.0.0; exit 0; fi\necho cannot start >&2\nexit 1\n"
	if err := os.WriteFile(bad, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if r := h.result(h.submit(launcher.Request{Action: launcher.ActionStage, ReleaseID: "broken", Artifact: bad, SHA256: sha256Hex([]byte(script)), Version: "3.0.0"})); r.Outcome != launcher.OutcomeOK {
		t.Fatalf("stage: %+v", r)
	}
	r := h.result(h.submit(launcher.Request{Action: launcher.ActionCutover, ReleaseID: "broken"}))
	if r.Outcome != launcher.OutcomeRolledBack || r.FailureClass != launcher.LauncherActivationFailed || r.ToRelease != "v2" {
		t.Fatalf("cutover to broken: %+v", r)
	}
	c = h.waitActive(v2Version)
	if got := h.get(c, "k2"); got != "v2 data" {
		t.Fatalf("k2 = %q after the rollback to v2", got)
	}
	st := h.checkIdle()
	if st.Previous == nil || st.Previous.ID != "initial" || len(st.Checkpoints) != 1 || st.Checkpoints[0] != "initial" {
		t.Fatalf("after the failed cutover: previous %+v, checkpoints %v", st.Previous, st.Checkpoints)
	}

	if r := h.result(h.submit(launcher.Request{Action: launcher.ActionRollback})); r.Outcome != launcher.OutcomeRolledBack || r.ToRelease != "initial" {
		t.Fatalf("rollback: %+v", r)
	}
	c = h.waitActive(v1Version)
	if k1, k2 := h.get(c, "k1"), h.get(c, "k2"); k1 != "v1 data" || k2 != "" {
		t.Fatalf("after rollback to v1: k1 = %q, k2 = %q", k1, k2)
	}
	h.checkIdle()
}

// TestNodeKilledDuringGates kills the new node while a gate command runs:
// the gates fail and the launcher rolls back.
func TestNodeKilledDuringGates(t *testing.T) {
	h := newTestHome(t)
	h.startLauncher()
	c := h.waitActive(v1Version)
	h.put(c, "k1", "v1 data")
	h.stageV2()
	marker := filepath.Join(t.TempDir(), "go")
	seq := h.submit(launcher.Request{Action: launcher.ActionCutover, ReleaseID: "v2",
		Gates: []launcher.GateCommand{gate("wait", fmt.Sprintf(`while [ ! -e %q ]; do sleep 0.05; done`, marker))}})
	var pid int
	waitUntil(t, waitLong, "the gates of v2", func() (bool, string) {
		st, err := launcher.ReadStatus(h.dir)
		if err != nil || st.Operation == nil {
			return false, fmt.Sprint(err)
		}
		pid = st.NodePID
		return st.Operation.Step == launcher.StepGating && st.NodeRelease == "v2" && st.NodeRunning, string(st.Operation.Step)
	})
	syscall.Kill(pid, syscall.SIGKILL)
	os.WriteFile(marker, nil, 0o644)
	r := h.result(seq)
	if r.Outcome != launcher.OutcomeRolledBack || r.FailureClass != launcher.HealthGateFailed {
		t.Fatalf("cutover: %+v", r)
	}
	c = h.waitActive(v1Version)
	if got := h.get(c, "k1"); got != "v1 data" {
		t.Fatalf("k1 = %q", got)
	}
	h.checkIdle()
}

// TestCrashAtEveryStep kills the launcher with SIGKILL at each step of a
// cutover and of the rollback of a failed one (its node dies with it),
// restarts it, and checks that exactly one release is active, healthy,
// with data it can read, and that the request got its result.
func TestCrashAtEveryStep(t *testing.T) {
	needBinaries(t)
	for _, c := range []struct {
		point   string
		failing bool // the cutover's gate fails, so a rollback runs
		want    launcher.Outcome
		version string
	}{
		{"cutover:stopping", false, launcher.OutcomeOK, v2Version},
		{"cutover:checkpointing", false, launcher.OutcomeOK, v2Version},
		{"cutover:switching", false, launcher.OutcomeOK, v2Version},
		{"cutover:switching/half", false, launcher.OutcomeOK, v2Version},
		{"cutover:starting", false, launcher.OutcomeOK, v2Version},
		{"cutover:gating", false, launcher.OutcomeOK, v2Version},
		{"cutover:result-written", false, launcher.OutcomeOK, v2Version},
		{"rollback:stopping", true, launcher.OutcomeRolledBack, v1Version},
		{"rollback:restoring", true, launcher.OutcomeRolledBack, v1Version},
		{"rollback:restoring/data-moved-aside", true, launcher.OutcomeRolledBack, v1Version},
		{"rollback:switching", true, launcher.OutcomeRolledBack, v1Version},
		{"rollback:starting", true, launcher.OutcomeRolledBack, v1Version},
	} {
		t.Run(strings.NewReplacer(":", "_", "/", "_").Replace(c.point), func(t *testing.T) {
			t.Parallel()
			h := newTestHome(t)
			l := h.startLauncher(launcher.EnvCrashAt + "=" + c.point)
			cl := h.waitActive(v1Version)
			h.put(cl, "k1", "v1 data")
			h.stageV2()
			script := "true"
			if c.failing {
				script = "exit 1"
			}
			seq := h.submit(launcher.Request{Action: launcher.ActionCutover, ReleaseID: "v2", Gates: []launcher.GateCommand{gate("g", script)}})
			l.waitKilled(t)
			if st, _ := launcher.ReadStatus(h.dir); st.NodeRunning {
				// The kernel kills the node with its launcher; give it a moment to go.
				waitUntil(t, 10*time.Second, "the node to die with its launcher", func() (bool, string) {
					st, _ := launcher.ReadStatus(h.dir)
					return !st.NodeRunning, "running"
				})
			}

			h.startLauncher()
			r := h.result(seq)
			if r.Outcome != c.want {
				t.Fatalf("result after the crash: %+v", r)
			}
			cl = h.waitActive(c.version)
			if got := h.get(cl, "k1"); got != "v1 data" {
				t.Fatalf("k1 = %q", got)
			}
			st := h.checkIdle()
			if !st.NodeRunning || st.NodeRelease != st.Current.ID {
				t.Fatalf("node running %v from %s, current %s", st.NodeRunning, st.NodeRelease, st.Current.ID)
			}
		})
	}
}

// TestRepeatedCrashesEndTheCutover crashes the launcher at the same step
// on every start: the fourth recovery gives up on the cutover — abandons
// it before the switch, rolls it back after — and v1 runs again.
func TestRepeatedCrashesEndTheCutover(t *testing.T) {
	needBinaries(t)
	for _, c := range []struct {
		point string
		want  launcher.Outcome
	}{
		{"cutover:checkpointing", launcher.OutcomeFailed},
		{"cutover:gating", launcher.OutcomeRolledBack},
	} {
		t.Run(strings.NewReplacer(":", "_").Replace(c.point), func(t *testing.T) {
			t.Parallel()
			h := newTestHome(t)
			env := launcher.EnvCrashAt + "=" + c.point
			l := h.startLauncher(env)
			cl := h.waitActive(v1Version)
			h.put(cl, "k1", "v1 data")
			h.stageV2()
			seq := h.submit(launcher.Request{Action: launcher.ActionCutover, ReleaseID: "v2"})
			l.waitKilled(t)
			for range 3 { // recoveries 1 to 3 resume and crash again
				h.startLauncher(env).waitKilled(t)
			}
			h.startLauncher(env)
			r := h.result(seq)
			if r.Outcome != c.want || r.FailureClass != launcher.LauncherActivationFailed || r.ToVersion != v1Version {
				t.Fatalf("result: %+v", r)
			}
			cl = h.waitActive(v1Version)
			if got := h.get(cl, "k1"); got != "v1 data" {
				t.Fatalf("k1 = %q", got)
			}
			h.checkIdle()
		})
	}
}

func TestLayoutMatchesNode(t *testing.T) {
	if launcher.NodeConfigFile != node.ConfigFile || launcher.NodeAPIAddrFile != node.APIAddrFile || launcher.NodeDataDir != node.DataDir {
		t.Fatal("launcher's names for the node's files differ from node/home.go")
	}
}
