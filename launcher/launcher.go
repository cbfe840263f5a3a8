package launcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Config configures Run. Zero fields take the defaults below.
type Config struct {
	// Home is the node home the launcher supervises (required).
	Home string
	// InitialBinary is installed as the first release when the home has
	// none; default: this process's own executable.
	InitialBinary string
	// InitialID is the first release's ID; default "initial".
	InitialID string
	// NodeArgs are extra arguments for `aura-node run` (e.g.
	// "--log-level", "debug").
	NodeArgs []string
	// NodeStdout and NodeStderr receive the node's output; default
	// discarded.
	NodeStdout, NodeStderr io.Writer
	// Logger receives the launcher's own log; default discarded.
	Logger *slog.Logger
	// PollInterval is how often the launcher looks for requests and
	// polls the node during gates; default 200ms.
	PollInterval time.Duration
	// StopTimeout is how long a node has to exit after SIGTERM before it
	// is killed; default 20s.
	StopTimeout time.Duration
	// StartTimeout bounds the wait for a started node's api.addr; a node
	// that exits or writes none in time failed to start (default 30s).
	StartTimeout time.Duration
	// HealthTimeout bounds the wait for /healthz and /readyz after a
	// cutover, for requests that do not set their own; default 60s.
	HealthTimeout time.Duration
	// RestartBackoff and MaxRestartBackoff bound the delay before a node
	// that exited is restarted (doubling from the first to the second);
	// a node that ran for StableAfter resets it. Defaults 500ms, 30s, 30s.
	RestartBackoff, MaxRestartBackoff, StableAfter time.Duration
	// KeepAcked is how many acknowledged results to keep; default 20.
	KeepAcked int
	// CrashAt, for crash tests only, names a point ("cutover:gating",
	// "rollback:restoring", ...; see doc.go) at which the launcher kills
	// itself with SIGKILL. The command sets it from
	// AURA_LAUNCHER_CRASH_AT.
	CrashAt string
}

func (c *Config) fill() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.PollInterval, 200*time.Millisecond)
	def(&c.StopTimeout, 20*time.Second)
	def(&c.StartTimeout, 30*time.Second)
	def(&c.HealthTimeout, 60*time.Second)
	def(&c.RestartBackoff, 500*time.Millisecond)
	def(&c.MaxRestartBackoff, 30*time.Second)
	def(&c.StableAfter, 30*time.Second)
	if c.InitialID == "" {
		c.InitialID = "initial"
	}
	if c.KeepAcked <= 0 {
		c.KeepAcked = 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.NodeStdout == nil {
		c.NodeStdout = io.Discard
	}
	if c.NodeStderr == nil {
		c.NodeStderr = io.Discard
	}
}

// ErrAlreadyRunning reports a second launcher for a home.
var ErrAlreadyRunning = errors.New("launcher: another launcher is already running for this home")

var errUnsupported = errors.New("launcher: the launcher needs a Unix system (Linux or macOS)")

// maxAttempts is how many launcher starts may find the same cutover
// interrupted before it is abandoned (rolled back) instead of resumed.
const maxAttempts = 3

// launcher is the state of one Run; only Run's goroutine touches it.
type launcher struct {
	cfg  Config
	lay  Layout
	log  *slog.Logger
	node *child
	// backoff is the next restart delay; restartAt when the node may be
	// started again.
	backoff   time.Duration
	restartAt time.Time
}

// Run supervises the node of cfg.Home until ctx ends: it installs the
// initial release if the home has none, finishes or undoes an operation a
// crash interrupted, starts the node from releases/current, restarts it
// if it exits, and carries out requests in order. When ctx ends it stops
// the node (SIGTERM, then SIGKILL after StopTimeout) and returns nil; an
// operation in progress is left in state.json for the next start.
func Run(ctx context.Context, cfg Config) error {
	if !supported {
		return errUnsupported
	}
	cfg.fill()
	lay, err := checkHome(cfg.Home)
	if err != nil {
		return err
	}
	for _, d := range lay.dirsToCreate() {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("launcher: %w", err)
		}
	}
	unlock, err := lockHome(lay.lock())
	if err != nil {
		if errors.Is(err, ErrAlreadyRunning) {
			return fmt.Errorf("%w (%s; see `aura-node launcher status --home %s`)", err, lay.Home, lay.Home)
		}
		return err
	}
	defer unlock()
	b, _ := json.Marshal(map[string]int{"pid": os.Getpid()})
	if err := writeFileAtomic(lay.launcherPID(), append(b, '\n'), 0o644); err != nil {
		return err
	}
	defer os.Remove(lay.launcherPID())

	l := &launcher{cfg: cfg, lay: lay, log: cfg.Logger.With("home", lay.Home), backoff: cfg.RestartBackoff}
	defer l.stopNode()
	if err := killStaleNode(lay, l.log); err != nil {
		return err
	}
	if err := l.cleanTemps(); err != nil {
		return err
	}
	if err := l.ensureInitial(ctx); err != nil {
		return err
	}
	if err := l.recover(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	// A crash after an operation's result may have left a spent
	// checkpoint: keep only the previous release's.
	prev, err := readLink(lay.previousLink())
	if err != nil {
		return err
	}
	if err := l.pruneCheckpoints(prev); err != nil {
		return err
	}
	return l.loop(ctx)
}

// loop starts and restarts the node and carries out requests.
func (l *launcher) loop(ctx context.Context) error {
	tick := time.NewTicker(l.cfg.PollInterval)
	defer tick.Stop()
	for {
		if ctx.Err() != nil {
			return nil
		}
		if l.node == nil && !time.Now().Before(l.restartAt) {
			l.startCurrent()
		}
		if err := l.processRequests(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		var exited <-chan struct{}
		if l.node != nil {
			exited = l.node.done
		}
		select {
		case <-ctx.Done():
			return nil
		case <-exited:
			l.nodeExited()
		case <-tick.C:
		}
	}
}

// startCurrent starts the node from releases/current, scheduling a retry
// with backoff if that fails.
func (l *launcher) startCurrent() {
	rel, err := l.current()
	if err == nil {
		l.node, err = startNode(l.lay, rel, l.cfg.NodeArgs, l.cfg.NodeStdout, l.cfg.NodeStderr, l.log)
	}
	if err != nil {
		l.log.Error("cannot start the node", "err", err, "retry_in", l.backoff)
		l.scheduleRestart(false)
	}
}

// nodeExited handles a node that exited outside an operation.
func (l *launcher) nodeExited() {
	c := l.node
	l.node = nil
	os.Remove(l.lay.nodePID())
	l.scheduleRestart(time.Since(c.started) >= l.cfg.StableAfter)
	l.log.Warn("node exited; restarting", "release", c.release.ID, "status", c.exitStatus(), "ran", time.Since(c.started).Round(time.Millisecond), "restart_in", time.Until(l.restartAt).Round(time.Millisecond))
}

func (l *launcher) scheduleRestart(stable bool) {
	if stable {
		l.backoff = l.cfg.RestartBackoff
	}
	l.restartAt = time.Now().Add(l.backoff)
	l.backoff = min(2*l.backoff, l.cfg.MaxRestartBackoff)
}

// stopNode stops the node if one runs.
func (l *launcher) stopNode() {
	if l.node == nil {
		return
	}
	if l.node.stop(l.cfg.StopTimeout) {
		l.log.Warn("node did not stop in time and was killed", "timeout", l.cfg.StopTimeout)
	}
	l.log.Info("node stopped", "release", l.node.release.ID, "status", l.node.exitStatus())
	l.node = nil
	os.Remove(l.lay.nodePID())
}

// current returns the release releases/current points at.
func (l *launcher) current() (ReleaseRef, error) {
	id, err := readLink(l.lay.currentLink())
	if err != nil {
		return ReleaseRef{}, err
	}
	if id == "" {
		return ReleaseRef{}, fmt.Errorf("launcher: %s has no current release", l.lay.releases())
	}
	ri, err := readRelease(l.lay, id)
	if err != nil {
		return ReleaseRef{}, err
	}
	return ReleaseRef{ID: ri.ID, Version: ri.Version}, nil
}

// ensureInitial installs the initial release on a home that has none.
func (l *launcher) ensureInitial(ctx context.Context) error {
	if id, err := readLink(l.lay.currentLink()); err != nil {
		return err
	} else if id != "" {
		if l.cfg.InitialBinary != "" {
			l.log.Info("home already has releases; --initial-binary ignored", "current", id)
		}
		_, err := readRelease(l.lay, id)
		return err
	}
	bin := l.cfg.InitialBinary
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("launcher: finding this executable (pass an initial binary): %w", err)
		}
		bin = exe
	}
	ri, err := installRelease(ctx, l.lay, l.cfg.InitialID, bin, "", "", time.Now())
	if err != nil {
		return fmt.Errorf("launcher: installing the initial release from %s: %w", bin, err)
	}
	if err := switchLink(l.lay.releases(), CurrentLink, ri.ID); err != nil {
		return err
	}
	l.log.Info("installed the initial release", "release", ri.ID, "version", ri.Version, "from", bin)
	return nil
}

// cleanTemps removes what an interrupted atomic write or staging left.
func (l *launcher) cleanTemps() error {
	for _, dir := range []string{l.lay.releases(), l.lay.checkpoints(), l.lay.dir(), l.lay.requests(), l.lay.results(), l.lay.Home} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("launcher: %w", err)
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".") && strings.Contains(e.Name(), ".tmp-") {
				if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
					return fmt.Errorf("launcher: %w", err)
				}
			}
		}
	}
	return nil
}

// crash kills the launcher at a named point when crash injection asks.
func (l *launcher) crash(point string) {
	if l.cfg.CrashAt != "" && l.cfg.CrashAt == point {
		l.log.Warn("crash injection: killing the launcher", "point", point)
		killSelf()
	}
}

// enter records that st's operation is starting step s, then offers the
// crash point "op:step".
func (l *launcher) enter(st *State, s Step) error {
	st.Step = s
	st.UpdatedUnixMs = time.Now().UnixMilli()
	if err := saveState(l.lay, *st); err != nil {
		return err
	}
	l.log.Info("step", "op", st.Op, "step", s, "seq", st.Request.Seq, "from", st.From.ID, "to", st.To.ID)
	l.crash(string(st.Op) + ":" + string(s))
	return nil
}

// finish writes a request's result, clears the intent log if an
// operation was running, and removes the request.
func (l *launcher) finish(req Request, res Result, hadOp bool) error {
	res.Seq, res.Action, res.Origin, res.SubmittedUnixMs = req.Seq, req.Action, req.Origin, req.SubmittedUnixMs
	res.Reason, res.Sessions, res.SessionsDisposition = req.Reason, req.Sessions, req.SessionsDisposition
	if res.ReleaseID == "" {
		res.ReleaseID = req.ReleaseID
	}
	res.FinishedUnixMs = time.Now().UnixMilli()
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("launcher: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(l.lay.results(), seqName(req.Seq, jsonSuffix)), append(b, '\n'), 0o644); err != nil {
		return err
	}
	l.crash(string(req.Action) + ":result-written")
	if hadOp {
		if err := saveState(l.lay, State{}); err != nil {
			return err
		}
	}
	if err := os.Remove(filepath.Join(l.lay.requests(), seqName(req.Seq, jsonSuffix))); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("launcher: %w", err)
	}
	lvl := slog.LevelInfo
	if res.Outcome != OutcomeOK {
		lvl = slog.LevelWarn
	}
	l.log.Log(context.Background(), lvl, "request done", "seq", req.Seq, "action", req.Action, "release", res.ReleaseID,
		"outcome", res.Outcome, "class", res.FailureClass, "detail", res.Detail, "active", res.ToRelease)
	return l.pruneAcked()
}

// pruneAcked keeps the newest KeepAcked acknowledged results.
func (l *launcher) pruneAcked() error {
	files, err := listSeq(l.lay.results())
	if err != nil {
		return err
	}
	var acked []seqFile
	for _, f := range files {
		if f.acked {
			acked = append(acked, f)
		}
	}
	for len(acked) > l.cfg.KeepAcked {
		os.Remove(acked[0].path)
		acked = acked[1:]
	}
	return nil
}

// processRequests carries out the pending requests in order.
func (l *launcher) processRequests(ctx context.Context) error {
	reqs, err := listSeq(l.lay.requests())
	if err != nil {
		return err
	}
	for _, f := range reqs {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if done, err := hasResult(l.lay, f.seq); err != nil {
			return err
		} else if done {
			os.Remove(f.path) // a crash between the result and the removal
			continue
		}
		req, err := readRequest(f.path)
		req.Seq = f.seq
		if err != nil {
			res := Result{Outcome: OutcomeFailed, FailureClass: RequestRejected, Detail: err.Error(), StartedUnixMs: time.Now().UnixMilli()}
			if err := l.finish(req, res, false); err != nil {
				return err
			}
			continue
		}
		l.log.Info("request", "seq", req.Seq, "action", req.Action, "release", req.ReleaseID, "origin", req.Origin)
		switch req.Action {
		case ActionStage:
			err = l.stage(ctx, req)
		case ActionCutover:
			err = l.cutover(ctx, req)
		case ActionRollback:
			err = l.manualRollback(ctx, req)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
