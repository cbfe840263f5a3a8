package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aura-node/aura-node/activation"
	"github.com/aura-node/aura-node/api"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/launcher"
	"github.com/aura-node/aura-node/release"
)

// The upgrade API: status, the operator's actions and activation
// policies. Everything runs on the loop, which owns the reducer; every
// refusal says why (the reducer's reason, the evaluator's blocking
// checks, the authorisation rule).

// resolveScope reads a scope argument: a key, "device" (this device's
// scope), "authority" (this authority's scope) or "" (the only configured
// scope, else the device scope).
func (n *Node) resolveScope(text string) (activation.Scope, error) {
	switch text {
	case "device":
		return n.deviceScope(), nil
	case "authority":
		return activation.AuthorityScope(n.authority), nil
	case "":
		if c := n.upg.cfg; c != nil && len(c.Scopes) == 1 {
			if s, err := facts.ParseScope(c.Scopes[0]); err == nil {
				return s, nil
			}
		}
		return n.deviceScope(), nil
	}
	s, err := facts.ParseScope(text)
	if err != nil {
		return s, refuse(api.ErrBadRequest, "scope %q: %v (a key like context:OWNER/ID, quorum:OWNER/ID/P1,P2, authority:OWNER, or device / authority for this node's own)", text, err)
	}
	return s, nil
}

// UpgradeStatus implements api.UpgradeBackend.
func (n *Node) UpgradeStatus(ctx context.Context, req api.UpgradeStatusRequest) (*api.UpgradeStatus, error) {
	var out *api.UpgradeStatus
	var err error
	if derr := n.do(ctx, func() { out, err = n.upgradeStatus(req) }); derr != nil {
		return nil, derr
	}
	return out, err
}

func (n *Node) upgradeStatus(req api.UpgradeStatusRequest) (*api.UpgradeStatus, error) {
	u := &n.upg
	run, name := n.running()
	out := &api.UpgradeStatus{
		Device: u.device, Authority: n.authority.String(), RunningName: name, Version: run.Version,
		Platform: platform(), Series: n.series(), Protocol: n.protocol, RefusedSessions: u.proto.refused.Load(),
		Launcher: u.link != nil, Configured: u.cfg != nil, Manual: u.cfg != nil && u.cfg.Manual, Scopes: []api.UpgradeScope{},
	}
	if !run.Release.IsZero() {
		out.RunningRelease = run.Release.String()
	}
	switch last := u.crossing.last.Load(); {
	case u.crossing.busy.Load():
		out.Sessions = fmt.Sprintf("a cutover is handling its in-flight sessions: %d running, new ones answered busy", n.sessions.running())
	case last != nil:
		out.Sessions = "last cutover to " + last.Release.Short() + ": " + last.Summary()
	}
	if hf := u.proto.hardFork.Load(); hf != nil {
		out.HardFork = hf.release.String()
	}
	if u.link != nil {
		out.LauncherHome = u.link.Home()
		if p, err := u.link.Pending(); err == nil {
			out.LauncherPending = len(p)
		}
	}
	var scopes []activation.Scope
	switch {
	case req.Scope != "":
		s, err := n.resolveScope(req.Scope)
		if err != nil {
			return nil, err
		}
		scopes = []activation.Scope{s}
	default:
		scopes = n.upgradeScopes()
		if req.All {
			seen := map[string]bool{}
			for _, s := range scopes {
				seen[s.Key()] = true
			}
			for _, st := range u.red.Scopes() {
				if !seen[st.Scope.Key()] {
					scopes = append(scopes, st.Scope)
				}
			}
		}
	}
	for _, s := range scopes {
		e := n.evaluate(s, nil)
		out.Scopes = append(out.Scopes, n.scopeView(e))
	}
	return out, nil
}

func failureView(f *activation.Failure) *api.UpgradeFailure {
	if f == nil {
		return nil
	}
	return &api.UpgradeFailure{Class: f.Class.String(), Detail: f.Detail, Release: f.Release.String(), Fact: f.By.Fact, Author: f.By.Author.String(), Device: f.By.Device}
}

func authorityStrings(as []facts.AuthorityID) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.String())
	}
	return out
}

func targetView(t activation.TargetStatus) api.UpgradeTarget {
	return api.UpgradeTarget{
		Release: t.Release.ID.String(), Version: t.Release.Version, Class: t.Release.Class.String(), State: t.State.String(),
		Cancelled: t.Cancelled, Failure: failureView(t.Failure), Rollback: t.Rollback.String(),
		Approved: authorityStrings(t.Approved), Missing: authorityStrings(t.Missing), Fence: t.Fence,
	}
}

func releaseName(id release.ID) string {
	if id.IsZero() {
		return ""
	}
	return id.String()
}

func refusalViews(rs []activation.Refusal) []api.UpgradeRefusal {
	var out []api.UpgradeRefusal
	for _, r := range rs {
		out = append(out, api.UpgradeRefusal{Fact: r.Event.Fact, Kind: r.Event.Kind.String(), Author: r.Event.Author.String(), Device: r.Event.Device, Release: releaseName(r.Event.Release), Reason: r.Reason})
	}
	return out
}

// scopeView renders one evaluation for the API.
func (n *Node) scopeView(e *scopeEval) api.UpgradeScope {
	st := &e.status
	v := api.UpgradeScope{
		Scope: e.scope.Key(), Short: e.scope.Short(), Kind: e.scope.Kind.String(), Owner: e.scope.Owner.String(),
		Participants: authorityStrings(e.scope.Participants), Participating: n.participates(e.scope),
		PolicySource: e.source, Residency: st.Residency.String(), Transition: st.Transition.String(),
		Ready: st.Ready, Total: st.Total, Threshold: st.Threshold(), LastFailure: failureView(st.LastFailure()),
		Devices: []api.UpgradeDevice{}, LastError: n.upg.errs[e.scope.Key()], Summary: st.Summary(),
		Refused: refusalViews(st.Refused), Notes: refusalViews(st.Notes),
	}
	if e.policy != nil {
		v.Policy, _ = json.Marshal(PolicyDoc(*e.policy))
		v.PolicyCBOR, _ = e.policy.Marshal()
	}
	if st.Target != nil {
		t := targetView(*st.Target)
		v.Target = &t
	}
	for _, h := range st.History {
		v.History = append(v.History, targetView(h))
	}
	for _, d := range st.Devices {
		dv := api.UpgradeDevice{
			Authority: d.Authority.String(), Device: d.Device, Running: releaseName(d.Running.ID), RunningVersion: d.Running.Version,
			Previous: releaseName(d.Previous.ID), Doing: d.Doing.String(), DoingRelease: releaseName(d.DoingRelease),
			Ready: d.StagedTarget || d.OnTarget, OnTarget: d.OnTarget, Healthy: d.Healthy, MustRollBack: d.MustRollBack,
			Failure: failureView(d.Failure), Partitions: d.Partitions,
		}
		if d.InFlight != 0 {
			dv.InFlight = d.InFlight.String()
		}
		for _, s := range d.Staged {
			dv.Staged = append(dv.Staged, s.String())
		}
		for _, g := range d.Gates {
			dv.Gates = append(dv.Gates, api.UpgradeGate{Name: g.Name, State: g.State.String(), Detail: g.Detail})
		}
		v.Devices = append(v.Devices, dv)
	}
	d := e.decision
	dv := &api.UpgradeDecision{Verdict: d.Verdict.String(), Checks: []api.UpgradeCheck{}}
	if !d.Release.IsZero() {
		dv.Release = d.Release.String()
	}
	if d.Manifest != nil {
		dv.Version = d.Manifest.Version
	}
	for _, c := range d.Checks {
		cv := api.UpgradeCheck{ID: string(c.ID), Subject: c.Subject, Result: c.Result.String(), Text: c.Text}
		if c.Result == activation.Fail {
			cv.Blocks = c.Blocks.String()
		}
		dv.Checks = append(dv.Checks, cv)
	}
	v.Decision = dv
	v.Next = &api.UpgradeStep{Action: e.step.Action.String(), Release: releaseName(e.step.Release), Reason: e.step.Reason}
	return v
}

// UpgradeAction implements api.UpgradeBackend.
func (n *Node) UpgradeAction(ctx context.Context, req api.UpgradeActionRequest) (*api.UpgradeActionResult, error) {
	var out *api.UpgradeActionResult
	var err error
	if derr := n.do(ctx, func() { out, err = n.upgradeAction(req) }); derr != nil {
		return nil, derr
	}
	return out, err
}

// blocking renders an evaluation's blocking checks.
func blocking(d activation.Decision) string {
	var parts []string
	for _, c := range d.Blocking() {
		s := string(c.ID)
		if c.Subject != "" {
			s += "[" + c.Subject + "]"
		}
		parts = append(parts, s+": "+c.Text)
	}
	return strings.Join(parts, "; ")
}

// refusalOf classifies an error from authoring an activation event.
func refusalOf(err error) error {
	switch {
	case errors.Is(err, activation.ErrUnauthorised), errors.Is(err, activation.ErrIllegal), errors.Is(err, ErrBadActivation), errors.Is(err, errNoLauncher):
		return refuse(api.ErrConflict, "%v", err)
	case errors.Is(err, activation.ErrInvalidEvent), errors.Is(err, activation.ErrInvalidPolicy):
		return refuse(api.ErrBadRequest, "%v", err)
	}
	return err
}

func (n *Node) upgradeAction(req api.UpgradeActionRequest) (*api.UpgradeActionResult, error) {
	s, err := n.resolveScope(req.Scope)
	if err != nil {
		return nil, err
	}
	var want *release.ID
	if req.Release != "" {
		id, err := parseReleaseID(req.Release)
		if err != nil {
			return nil, err
		}
		want = &id
	}
	if n.snap.fence {
		return nil, refuse(api.ErrConflict, "a snapshot round holds the writer fence; retry when it ends (`aura-node snapshot status`)")
	}
	res := &api.UpgradeActionResult{Action: req.Action, Scope: s.Key(), Facts: []api.WriteResult{}}
	wrote := func(c facts.Checked) { res.Facts = append(res.Facts, *n.writeResult(c)) }
	status := n.upg.red.Status(s)
	target := func() (release.ID, error) {
		if want != nil {
			return *want, nil
		}
		if status.Target == nil {
			return release.ID{}, refuse(api.ErrConflict, "%s has no target release (nothing staged there yet): name one with --release", s.Short())
		}
		return status.Target.Release.ID, nil
	}
	order := func(kind facts.Kind, u *facts.UpgradeEvent, msg string) (*api.UpgradeActionResult, error) {
		c, err := n.authorDecision(kind, u, false)
		if err != nil {
			return nil, refusalOf(err)
		}
		wrote(c)
		res.Release, res.Message = releaseName(release.ID(u.ReleaseID)), msg
		return res, nil
	}

	switch req.Action {
	case api.UpgradeStage, api.UpgradeCutover:
		if !n.participates(s) {
			return nil, refuse(api.ErrConflict, "this device does not take part in %s (add it to activation.scopes in config.json, or, for a quorum, be a participant)", s.Short())
		}
		if n.upg.link == nil {
			return nil, refuse(api.ErrConflict, "%v", errNoLauncher)
		}
		pend, err := n.upg.link.Pending()
		if err != nil {
			return nil, err
		}
		if len(pend) > 0 || n.upg.export.busy() {
			return nil, refuse(api.ErrConflict, "the launcher is busy with request %d (%s); retry when it answers", firstSeq(pend), firstAction(pend))
		}
		if n.upg.crossing.busy.Load() {
			return nil, refuse(api.ErrConflict, "a cutover is handling its in-flight sessions before it asks the launcher; retry when it has")
		}
		e := n.evaluate(s, want)
		n.upg.last[s.Key()] = e
		res.Release = releaseName(e.decision.Release)
		if e.decision.Verdict == activation.Deny || e.decision.Verdict == activation.Defer {
			return nil, refuse(api.ErrConflict, "refusing to %s %s in %s: %s: %s", req.Action, shortOr(e.decision.Release), s.Short(), e.decision.Verdict, blocking(e.decision))
		}
		wantAction := activation.StageRelease
		if req.Action == api.UpgradeCutover {
			wantAction = activation.Cutover
		}
		if e.step.Action != wantAction {
			return nil, refuse(api.ErrConflict, "refusing to %s %s in %s: the next step is %s: %s", req.Action, shortOr(e.decision.Release), s.Short(), e.step.Action, e.step.Reason)
		}
		var evals []*scopeEval
		for _, o := range n.upgradeScopes() {
			if o.Key() == s.Key() {
				evals = append(evals, e)
			} else {
				evals = append(evals, n.evaluate(o, nil))
			}
		}
		if req.Action == api.UpgradeStage {
			err = n.actStage(e)
		} else {
			err = n.actCutover(e, evals)
		}
		n.noteAction(e, req.Action, err)
		if err != nil {
			return nil, refusalOf(err)
		}
		if n.upg.export.busy() {
			res.Launcher = "stage " + e.step.Release.String()
			res.Message = "exporting the binary to the launcher, which stages and verifies it; the staging is recorded once it is done (see `aura-node upgrade status`)"
		} else if req.Action == api.UpgradeStage {
			res.Message = "staging recorded"
		} else {
			res.Launcher = "cutover " + e.step.Release.String()
			res.Message = "cutover begun: the launcher stops this node, checkpoints its data, starts " + e.step.Release.Short() + " and runs the health gates; the new node records the result"
		}
		return res, nil

	case api.UpgradeApprove:
		R, err := target()
		if err != nil {
			return nil, err
		}
		if why := n.approvalObstacle(s, &status, R); why != "" {
			return nil, refuse(api.ErrConflict, "refusing to approve the cutover of %s to %s: %s", s.Short(), R.Short(), why)
		}
		return order(facts.KindCutoverApproved, &facts.UpgradeEvent{Scope: s, ReleaseID: R[:], FenceEpoch: req.FenceEpoch, Detail: clip(req.Reason, facts.MaxTextLen)},
			fmt.Sprintf("approved the cutover of %s to %s", s.Short(), R.Short()))

	case api.UpgradeRollback:
		R, err := target()
		if err != nil {
			return nil, err
		}
		return order(facts.KindTransitionChanged, &facts.UpgradeEvent{Scope: s, ReleaseID: R[:], Transition: activation.RollingBack, Failure: activation.ManualRollbackRequested, Detail: clip(req.Reason, facts.MaxTextLen)},
			fmt.Sprintf("requested the rollback of %s in %s: every device on it rolls back", R.Short(), s.Short()))

	case api.UpgradeApproveRollback:
		R, err := target()
		if err != nil {
			return nil, err
		}
		return order(facts.KindTransitionChanged, &facts.UpgradeEvent{Scope: s, ReleaseID: R[:], Transition: activation.RollingBack, Detail: clip(req.Reason, facts.MaxTextLen)},
			fmt.Sprintf("approved the rollback of %s in %s: every device on it rolls back", R.Short(), s.Short()))

	case api.UpgradeCancel:
		R, err := target()
		if err != nil {
			return nil, err
		}
		return order(facts.KindTransitionChanged, &facts.UpgradeEvent{Scope: s, ReleaseID: R[:], Transition: activation.Idle, Detail: clip(req.Reason, facts.MaxTextLen)},
			fmt.Sprintf("cancelled %s in %s: it never becomes the scope's target again", R.Short(), s.Short()))
	}
	return nil, refuse(api.ErrBadRequest, "unknown upgrade action %q: want stage, cutover, approve, rollback, approve-rollback or cancel", req.Action)
}

// approvalObstacle says why approving the cutover of scope s to R could
// have no effect, or "" when it may. The reducer refuses approvals of
// releases the scope blocked (cancelled, failed, revoked); before
// authoring one the node also refuses, naming the state:
//
//  1. R is the scope's target but not active: complete, cancelled,
//     failed, rolled back.
//  2. R is revoked or superseded in the release catalogue, by the admin
//     or an authority the scope's policy trusts.
//  3. R was an earlier target of the scope, since superseded by another.
//  4. Another target is active and R is not newer: it cannot replace it.
//
// A release this node does not know yet, or newer than the active
// target, may be approved ahead of its staging.
func (n *Node) approvalObstacle(s activation.Scope, st *activation.Status, R release.ID) string {
	targetState := func(t activation.TargetStatus) string {
		switch {
		case t.Cancelled != "":
			return "cancelled (" + t.Cancelled + ")"
		case t.Failure != nil:
			return fmt.Sprintf("%v (%v, rollback %v)", t.State, t.Failure.Class, t.Rollback)
		}
		return t.State.String()
	}
	t := st.Target
	if t != nil && t.Release.ID == R && t.State != activation.TargetActive { // 1.
		why := fmt.Sprintf("it is %s in %s", targetState(*t), s.Short())
		if t.State == activation.TargetComplete {
			why += ": every device runs it already"
		}
		return why
	}
	entry, known := n.releaseEntry(R)
	if known { // 2.
		trusted := func(facts.AuthorityID) bool { return false } // the admin's always count
		if p, _ := n.scopePolicy(s, st); p != nil {
			trusted = p.TrustsAuthority
		}
		if r, ok := entry.Revocation(trusted); ok {
			return fmt.Sprintf("it is revoked by %s (%s)", r.Signer.Short(), r.Reason)
		}
		if by := entry.SupersededBy(trusted); len(by) > 0 {
			return "it is superseded by release " + by[0].Short()
		}
	}
	if t != nil && t.Release.ID == R {
		return ""
	}
	for i := len(st.History) - 1; i >= 0; i-- { // 3.
		if h := st.History[i]; h.Release.ID == R {
			why := fmt.Sprintf("it was an earlier target of %s, superseded by %s (%s)", s.Short(), t.Release.ID.Short(), t.Release.Version)
			if h.State != activation.TargetComplete {
				why += "; it is " + targetState(h)
			}
			return why
		}
	}
	if t != nil && t.State == activation.TargetActive && known && entry.Declared() { // 4.
		v, err1 := release.ParseVersion(entry.Declarations[0].Manifest.Version)
		tv, err2 := release.ParseVersion(t.Release.Version)
		if err1 == nil && err2 == nil && v.Compare(tv) <= 0 {
			return fmt.Sprintf("it is not the active target of %s, which is %s (%s), and version %s is not newer, so it cannot replace it",
				s.Short(), t.Release.ID.Short(), t.Release.Version, entry.Declarations[0].Manifest.Version)
		}
	}
	return ""
}

func shortOr(id release.ID) string {
	if id.IsZero() {
		return "a release"
	}
	return id.Short()
}

func firstSeq(p []launcher.Request) uint64 {
	if len(p) == 0 {
		return 0
	}
	return p[0].Seq
}

func firstAction(p []launcher.Request) string {
	if len(p) == 0 {
		return "an export"
	}
	return string(p[0].Action)
}

// SetActivationPolicy implements api.UpgradeBackend.
func (n *Node) SetActivationPolicy(ctx context.Context, req api.SetActivationPolicyRequest) (*api.UpgradeActionResult, error) {
	var out *api.UpgradeActionResult
	var err error
	if derr := n.do(ctx, func() { out, err = n.setActivationPolicy(req) }); derr != nil {
		return nil, derr
	}
	return out, err
}

func (n *Node) setActivationPolicy(req api.SetActivationPolicyRequest) (*api.UpgradeActionResult, error) {
	s, err := n.resolveScope(req.Scope)
	if err != nil {
		return nil, err
	}
	if req.Scope == "" {
		s = n.deviceScope()
	}
	res := &api.UpgradeActionResult{Action: "policy", Scope: s.Key(), Facts: []api.WriteResult{}}
	if s.Key() == n.deviceScope().Key() {
		if len(req.Config) == 0 || len(req.Policy) > 0 {
			return nil, refuse(api.ErrBadRequest, "the device scope's policy is set from the activation section of config.json: send config, not policy")
		}
		var c ActivationConfig
		if err := strictUnmarshal(req.Config, &c); err != nil {
			return nil, refuse(api.ErrBadRequest, "activation config: %v", err)
		}
		if err := c.validate(); err != nil {
			return nil, refuse(api.ErrBadRequest, "%v", err)
		}
		n.upg.cfg = &c
		res.Message = "device policy applied; the node publishes it for " + s.Short() + " on its next tick"
		return res, nil
	}
	if len(req.Policy) == 0 || len(req.Config) > 0 {
		return nil, refuse(api.ErrBadRequest, "a policy for %s is published as a canonical policy document: send policy, not config", s.Short())
	}
	if s.Owner != n.authority {
		return nil, refuse(api.ErrConflict, "only the owner %s of %s publishes its policy; this node's authority is %s", s.Owner, s.Short(), n.authority)
	}
	p, err := activation.DecodePolicy(req.Policy)
	if err != nil {
		return nil, refuse(api.ErrBadRequest, "%v", err)
	}
	if p.Scope.Key() != s.Key() {
		return nil, refuse(api.ErrBadRequest, "the policy document governs %s, not %s", p.Scope.Short(), s.Short())
	}
	if n.snap.fence {
		return nil, refuse(api.ErrConflict, "a snapshot round holds the writer fence; retry when it ends")
	}
	c, err := n.authorDecision(facts.KindActivationPolicyPublished, &facts.PolicyPublished{Scope: s, Policy: req.Policy}, false)
	if err != nil {
		return nil, refusalOf(err)
	}
	res.Facts = append(res.Facts, *n.writeResult(c))
	res.Message = fmt.Sprintf("published the activation policy of %s (rollback %v)", s.Short(), p.Rollback)
	return res, nil
}
