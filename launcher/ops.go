package launcher

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// stage verifies the request's artifact and installs it as a release.
// It never touches the running node.
func (l *launcher) stage(ctx context.Context, req Request) error {
	res := Result{StartedUnixMs: time.Now().UnixMilli()}
	if cur, err := l.current(); err == nil {
		res.FromRelease, res.FromVersion = cur.ID, cur.Version
		res.ToRelease, res.ToVersion = cur.ID, cur.Version
	}
	ri, err := installRelease(ctx, l.lay, req.ReleaseID, req.Artifact, req.SHA256, req.Version, time.Now())
	if ctx.Err() != nil {
		return ctx.Err()
	}
	switch {
	case err == nil:
		res.Outcome, res.Version = OutcomeOK, ri.Version
		res.Detail = fmt.Sprintf("staged %s (%d bytes, sha256 %s)", ri.Version, ri.Size, ri.SHA256)
	case errors.Is(err, ErrArtifact):
		res.Outcome, res.FailureClass, res.Detail = OutcomeFailed, ArtifactRejected, err.Error()
	default:
		res.Outcome, res.FailureClass, res.Detail = OutcomeFailed, RequestRejected, err.Error()
	}
	// An artifact the node exported for this request is not needed again.
	if filepath.Dir(req.Artifact) == l.lay.incoming() {
		os.Remove(req.Artifact)
	}
	return l.finish(req, res, false)
}

// reject answers a request that cannot run, changing nothing.
func (l *launcher) reject(req Request, before ReleaseRef, format string, args ...any) error {
	return l.finish(req, Result{
		Outcome: OutcomeFailed, FailureClass: RequestRejected, Detail: fmt.Sprintf(format, args...),
		FromRelease: before.ID, FromVersion: before.Version, ToRelease: before.ID, ToVersion: before.Version,
		StartedUnixMs: time.Now().UnixMilli(),
	}, false)
}

// cutover starts a cutover request.
func (l *launcher) cutover(ctx context.Context, req Request) error {
	cur, err := l.current()
	if err != nil {
		return err
	}
	target, err := readRelease(l.lay, req.ReleaseID)
	if err != nil {
		return l.reject(req, cur, "%v", err)
	}
	if req.Version != "" && target.Version != req.Version {
		return l.reject(req, cur, "release %s is staged as version %s, the request says %s", target.ID, target.Version, req.Version)
	}
	if target.ID == cur.ID {
		return l.finish(req, Result{
			Outcome: OutcomeOK, Detail: "already the active release", Version: cur.Version,
			FromRelease: cur.ID, FromVersion: cur.Version, ToRelease: cur.ID, ToVersion: cur.Version,
			StartedUnixMs: time.Now().UnixMilli(),
		}, false)
	}
	prev, err := readLink(l.lay.previousLink())
	if err != nil {
		return err
	}
	now := time.Now().UnixMilli()
	st := State{
		Op: OpCutover, Request: req, Before: cur, From: cur, PreviousBefore: prev,
		To:            ReleaseRef{ID: target.ID, Version: target.Version},
		StartedUnixMs: now,
	}
	return l.runCutover(ctx, st, StepStopping)
}

// manualRollback starts a rollback request: back to releases/previous
// and its checkpoint.
func (l *launcher) manualRollback(ctx context.Context, req Request) error {
	cur, err := l.current()
	if err != nil {
		return err
	}
	prev, err := readLink(l.lay.previousLink())
	if err != nil {
		return err
	}
	if prev == "" {
		return l.reject(req, cur, "no previous release to roll back to (releases/%s is not set)", PreviousLink)
	}
	pr, err := readRelease(l.lay, prev)
	if err != nil {
		return l.reject(req, cur, "previous release: %v", err)
	}
	if st, err := os.Stat(l.lay.checkpoint(prev)); err != nil || !st.IsDir() {
		return l.reject(req, cur, "no checkpoint of release %s's data in %s", prev, l.lay.checkpoints())
	}
	detail := "rollback requested"
	if req.Reason != "" {
		detail += ": " + req.Reason
	}
	st := State{
		Op: OpRollback, Request: req, Before: cur, From: cur,
		To:            ReleaseRef{ID: pr.ID, Version: pr.Version},
		Failure:       &Failure{Class: ManualRollbackRequested, Detail: detail},
		StartedUnixMs: time.Now().UnixMilli(),
	}
	return l.runRollback(ctx, st, StepStopping)
}

var cutoverSteps = []Step{StepStopping, StepCheckpointing, StepSwitching, StepStarting, StepGating}
var rollbackSteps = []Step{StepStopping, StepRestoring, StepSwitching, StepStarting}

func stepIndex(steps []Step, s Step) int {
	for i, x := range steps {
		if x == s {
			return i
		}
	}
	return -1
}

// runCutover carries out a cutover from step `from` on:
//
//  1. stopping: stop the node (SIGTERM, then SIGKILL after StopTimeout).
//  2. checkpointing: Pebble checkpoint of data/ into checkpoints/<From>.
//  3. switching: releases/previous -> From, then releases/current -> To.
//  4. starting: start To; it must write api.addr within StartTimeout, else
//     roll back (LauncherActivationFailed).
//  5. gating: /healthz and /readyz within the health timeout, then the
//     gate commands; a failure rolls back (HealthGateFailed).
//
// Then only checkpoints/<From> is kept, and the result is ok.
func (l *launcher) runCutover(ctx context.Context, st State, from Step) error {
	var addr string
	for _, s := range cutoverSteps[stepIndex(cutoverSteps, from):] {
		if err := l.enter(&st, s); err != nil {
			return err
		}
		switch s {
		case StepStopping:
			l.stopNode()
		case StepCheckpointing:
			if err := takeCheckpoint(l.lay.data(), l.lay.checkpoint(st.From.ID), l.log); err != nil {
				// Nothing has changed yet: give up, keep From.
				return l.abandon(st, fmt.Sprintf("checkpoint of %s failed: %v", l.lay.data(), err))
			}
		case StepSwitching:
			if err := switchLink(l.lay.releases(), PreviousLink, st.From.ID); err != nil {
				return err
			}
			l.crash("cutover:switching/half")
			if err := switchLink(l.lay.releases(), CurrentLink, st.To.ID); err != nil {
				return err
			}
		case StepStarting:
			var err error
			addr, err = l.start(ctx, st.To)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				st.Failure = &Failure{Class: LauncherActivationFailed, Detail: fmt.Sprintf("release %s (%s) did not start: %v", st.To.ID, st.To.Version, err)}
				return l.runRollback(ctx, toRollback(st), StepStopping)
			}
		case StepGating:
			timeout := l.cfg.HealthTimeout
			if st.Request.HealthTimeoutMs > 0 {
				timeout = time.Duration(st.Request.HealthTimeoutMs) * time.Millisecond
			}
			env := gateEnv{home: l.lay.Home, apiAddr: addr, release: st.To, previous: st.From.ID}
			results, ok := runGates(ctx, l.node, addr, st.Request.Gates, env, timeout, l.cfg.PollInterval)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			st.Gates = results
			if !ok {
				last := results[len(results)-1]
				st.Failure = &Failure{Class: HealthGateFailed, Detail: fmt.Sprintf("gate %s failed: %s", last.Name, last.Detail)}
				return l.runRollback(ctx, toRollback(st), StepStopping)
			}
		}
	}
	if err := l.pruneCheckpoints(st.From.ID); err != nil {
		return err
	}
	return l.finish(st.Request, Result{
		Outcome: OutcomeOK, Gates: st.Gates, Version: st.To.Version,
		Detail:      fmt.Sprintf("release %s (%s) is active and passed %d gates", st.To.ID, st.To.Version, len(st.Gates)),
		FromRelease: st.Before.ID, FromVersion: st.Before.Version, ToRelease: st.To.ID, ToVersion: st.To.Version,
		StartedUnixMs: st.StartedUnixMs,
	}, true)
}

// start starts rel and waits for its api.addr.
func (l *launcher) start(ctx context.Context, rel ReleaseRef) (string, error) {
	c, err := startNode(l.lay, rel, l.cfg.NodeArgs, l.cfg.NodeStdout, l.cfg.NodeStderr, l.log)
	if err != nil {
		return "", err
	}
	l.node = c
	sctx, cancel := context.WithTimeout(ctx, l.cfg.StartTimeout)
	defer cancel()
	return waitAPIAddr(sctx, l.lay, c, l.cfg.PollInterval)
}

// toRollback turns a failed cutover's state into the rollback that
// undoes it.
func toRollback(st State) State {
	st.Op = OpRollback
	st.From, st.To = st.To, st.From
	return st
}

// abandon ends a cutover that changed nothing (before switching) with a
// failed result; the loop restarts From.
func (l *launcher) abandon(st State, detail string) error {
	return l.finish(st.Request, Result{
		Outcome: OutcomeFailed, FailureClass: LauncherActivationFailed, Detail: detail, Version: st.To.Version,
		FromRelease: st.Before.ID, FromVersion: st.Before.Version, ToRelease: st.Before.ID, ToVersion: st.Before.Version,
		StartedUnixMs: st.StartedUnixMs,
	}, true)
}

// runRollback carries out a rollback from step `from` on:
//
//  1. stopping: stop the node.
//  2. restoring: data/ <- a copy of checkpoints/<To> (the data/ it
//     replaces is kept in data.rolled-back until the next rollback).
//  3. switching: releases/current -> To; releases/previous back to what
//     it was before a failed cutover, else removed.
//  4. starting: start To and wait for /healthz and /readyz.
//
// The result is rolled_back with the failure's class. The restored
// checkpoint is spent; after a failed cutover, releases/previous and its
// checkpoint are what they were before it, after a rollback request there
// is none.
func (l *launcher) runRollback(ctx context.Context, st State, from Step) error {
	var detail []string
	if st.Failure != nil {
		detail = append(detail, st.Failure.Detail)
	}
	// A failed cutover gives back the previous release it found, if its
	// checkpoint is still there; a rollback request leaves none.
	keepPrev := ""
	if st.Request.Action == ActionCutover && st.PreviousBefore != "" && st.PreviousBefore != st.To.ID {
		if fi, err := os.Stat(l.lay.checkpoint(st.PreviousBefore)); err == nil && fi.IsDir() {
			keepPrev = st.PreviousBefore
		}
	}
	var err error
	for _, s := range rollbackSteps[stepIndex(rollbackSteps, from):] {
		if err := l.enter(&st, s); err != nil {
			return err
		}
		switch s {
		case StepStopping:
			l.stopNode()
		case StepRestoring:
			err := restoreCheckpoint(l.lay.checkpoint(st.To.ID), l.lay.data(), l.lay.restoreData(), l.lay.failedData(),
				func(p string) { l.crash("rollback:restoring/" + p) })
			if err != nil {
				// Without the checkpoint the old release may not read the
				// data: stop here, with the intent logged, for an operator.
				return fmt.Errorf("launcher: rollback to %s cannot restore its data: %w", st.To.ID, err)
			}
		case StepSwitching:
			if err := switchLink(l.lay.releases(), CurrentLink, st.To.ID); err != nil {
				return err
			}
			if keepPrev != "" {
				err = switchLink(l.lay.releases(), PreviousLink, keepPrev)
			} else {
				err = removeLink(l.lay.releases(), PreviousLink)
			}
			if err != nil {
				return err
			}
		case StepStarting:
			addr, err := l.start(ctx, st.To)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err == nil {
				hctx, cancel := context.WithTimeout(ctx, l.cfg.HealthTimeout)
				for _, path := range []string{"/" + gateHealthz, "/" + gateReadyz} {
					if r := waitHTTP(hctx, l.node, addr, path, l.cfg.PollInterval); !r.OK {
						err = errors.New(r.Detail)
						break
					}
				}
				cancel()
				if ctx.Err() != nil {
					return ctx.Err()
				}
			}
			if err != nil {
				detail = append(detail, fmt.Sprintf("the restored release %s did not become healthy (%v); the launcher keeps restarting it", st.To.ID, err))
			}
		}
	}
	class := LauncherActivationFailed
	if st.Failure != nil {
		class = st.Failure.Class
	}
	detail = append(detail, fmt.Sprintf("rolled back to %s (%s) with its data from before the cutover", st.To.ID, st.To.Version))
	// A failed cutover names the release that failed; a rollback request
	// the release it restored.
	rid, ver := st.Request.ReleaseID, st.From.Version
	if st.Request.Action == ActionRollback {
		rid, ver = st.To.ID, st.To.Version
	}
	if err := l.pruneCheckpoints(keepPrev); err != nil {
		return err
	}
	return l.finish(st.Request, Result{
		ReleaseID: rid, Version: ver,
		Outcome: OutcomeRolledBack, FailureClass: class, Detail: strings.Join(detail, "; "), Gates: st.Gates,
		FromRelease: st.Before.ID, FromVersion: st.Before.Version, ToRelease: st.To.ID, ToVersion: st.To.Version,
		StartedUnixMs: st.StartedUnixMs,
	}, true)
}

// pruneCheckpoints removes every checkpoint but keep's.
func (l *launcher) pruneCheckpoints(keep string) error {
	ents, err := os.ReadDir(l.lay.checkpoints())
	if err != nil {
		return fmt.Errorf("launcher: %w", err)
	}
	for _, e := range ents {
		if e.Name() != keep {
			if err := removeAll(filepath.Join(l.lay.checkpoints(), e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// recover finishes or undoes the operation state.json says a crash
// interrupted, before any node starts:
//
//   - a result already written: only the cleanup is left;
//   - a cutover before switching (stopping, checkpointing): nothing has
//     changed; resume it from that step (the node is already stopped);
//   - a cutover at switching or later: resume it (switching again is
//     idempotent; starting and gating start To and gate it afresh);
//   - a cutover found interrupted more than maxAttempts times: abandon it
//     before switching, roll it back from switching on
//     (LauncherActivationFailed);
//   - a rollback: resume it at its step (every step is idempotent).
//
// So the node only ever starts from a release whose data is its own.
func (l *launcher) recover(ctx context.Context) error {
	st, err := loadState(l.lay)
	if err != nil || st.Op == "" {
		return err
	}
	if done, err := hasResult(l.lay, st.Request.Seq); err != nil {
		return err
	} else if done {
		l.log.Info("recovery: the interrupted operation had finished", "op", st.Op, "seq", st.Request.Seq)
		if err := saveState(l.lay, State{}); err != nil {
			return err
		}
		os.Remove(filepath.Join(l.lay.requests(), seqName(st.Request.Seq, jsonSuffix)))
		return nil
	}
	st.Attempts++
	l.log.Warn("recovery: resuming an interrupted operation", "op", st.Op, "step", st.Step, "seq", st.Request.Seq,
		"from", st.From.ID, "to", st.To.ID, "attempt", st.Attempts)
	if err := saveState(l.lay, st); err != nil {
		return err
	}
	// A half-built restore copy is rebuilt by the restoring step.
	if err := removeAll(l.lay.restoreData()); err != nil {
		return err
	}
	switch st.Op {
	case OpCutover:
		i := stepIndex(cutoverSteps, st.Step)
		if i < 0 {
			return fmt.Errorf("launcher: %s: cutover at unknown step %q", l.lay.state(), st.Step)
		}
		if st.Attempts > maxAttempts {
			detail := fmt.Sprintf("the launcher was interrupted %d times during this cutover (last at %s)", st.Attempts, st.Step)
			if i < stepIndex(cutoverSteps, StepSwitching) {
				return l.abandon(st, detail)
			}
			st.Failure = &Failure{Class: LauncherActivationFailed, Detail: detail}
			return l.runRollback(ctx, toRollback(st), StepStopping)
		}
		if st.Step == StepGating {
			st.Step = StepStarting // the gates need a node started afresh
		}
		return l.runCutover(ctx, st, st.Step)
	case OpRollback:
		if stepIndex(rollbackSteps, st.Step) < 0 {
			return fmt.Errorf("launcher: %s: rollback at unknown step %q", l.lay.state(), st.Step)
		}
		return l.runRollback(ctx, st, st.Step)
	}
	return nil
}
