package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"github.com/aura-node/aura-node/activation"
	"github.com/aura-node/aura-node/api"
	"github.com/aura-node/aura-node/artifacts"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/launcher"
	"github.com/aura-node/aura-node/release"
	"github.com/aura-node/aura-node/storage"
)

// The upgrade manager: the node side of scoped activation
// (docs/design/activation.md). The loop owns an activation.Reducer fed
// with every committed activation fact (rebuilt from the journal at start
// and after a snapshot adoption) and, every second, for each scope this
// device takes part in, evaluates the newest trusted release of its
// series (activation.Evaluate), asks activation.Next what to do and does
// it through the launcher that runs the node, recording a fact before
// each request and the launcher's results as UpgradeExecution facts.

// ErrBadActivation marks activation facts refused at ingestion: invalid
// whatever the scope's state (activation.EventFromFact).
var ErrBadActivation = errors.New("node: invalid activation fact")

// checkActivation refuses activation facts that are invalid whatever the
// state: malformed payloads, policies not by the scope's owner, approvals
// by non-participants, orders not by the owner, device events from
// outside the scope. The answer depends on the fact alone, so every node
// gives it whatever order facts arrive in. Facts illegal only in the
// scope's current state are accepted: the reduction refuses them at their
// place in the order, identically on every node.
func checkActivation(c facts.Checked) facts.Verdict {
	f := c.Fact()
	if f == nil || !activation.IsActivationKind(f.Kind) {
		return facts.Verdict{Result: facts.Accept}
	}
	if _, err := activation.EventFromFact(f, c.ID(), c.Payload()); err != nil {
		return facts.Verdict{Result: facts.Reject, Reason: fmt.Errorf("%w: %w", ErrBadActivation, err)}
	}
	return facts.Verdict{Result: facts.Accept}
}

// activationKinds are the kinds the reducer folds.
var activationKinds = []facts.Kind{
	facts.KindActivationPolicyPublished,
	facts.KindUpgradeStaged, facts.KindScopeEntered, facts.KindResidencyChanged, facts.KindTransitionChanged,
	facts.KindCutoverApproved, facts.KindCutoverCompleted, facts.KindRollbackExecuted, facts.KindPartitionObserved,
	facts.KindHealthGateResult,
}

// upgradeState is the loop-owned activation state.
type upgradeState struct {
	red    *activation.Reducer
	link   launcherLink // nil: not under a launcher
	device string       // this device's ID: the node's peer ID
	cfg    *ActivationConfig
	// last is the last evaluation of each scope, by key (status, logs).
	last map[string]*scopeEval
	// errs is the last error acting in a scope, by key.
	errs map[string]string
	// rejected are releases whose artifact the launcher refused to stage.
	rejected map[release.ID]string
	// backoff delays a failed action: key scope|action|release.
	backoff map[string]backoffState
	// partitioned: PartitionObserved recorded for the running release.
	partitioned map[release.ID]bool
	// export is the artifact export running off the loop, if any.
	export exportState
	// proto is the session state the sync goroutines read.
	proto protoState
	// crossing is the handling of in-flight sessions before a cutover
	// (sessions.go).
	crossing crossingState
	// ticks counts upgradeTick runs (tests wait on it).
	ticks atomic.Uint64
	// migrationsRecorded: the journal's storage migrations have facts.
	migrationsRecorded bool
	// importing: the journal a launcher rollback set aside is not
	// imported yet (importRolledBack); the restored journal is older than
	// what happened, so the manager neither records results nor acts.
	importing atomic.Bool
}

type backoffState struct {
	until time.Time
	n     int
}

// exportState is an artifact export and stage submission in flight.
type exportState struct {
	mu      sync.Mutex
	running bool
	scope   string
	release release.ID
	done    bool
	err     error
}

func (e *exportState) busy() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.running
}

// initUpgrades prepares the upgrade manager and rebuilds the reducer from
// the journal. It runs in New, before the loop.
func (n *Node) initUpgrades(p Params) error {
	u := &n.upg
	u.device = n.keys.PeerID().String()
	u.link = p.launcher
	if u.link == nil {
		u.link = launcherFromEnv(p.Home)
	}
	if n.cfg.Activation != nil {
		c := *n.cfg.Activation
		u.cfg = &c
	}
	u.last = map[string]*scopeEval{}
	u.errs = map[string]string{}
	u.rejected = map[release.ID]string{}
	u.backoff = map[string]backoffState{}
	u.partitioned = map[release.ID]bool{}
	if p.Home != "" {
		if _, err := os.Stat(Home{Dir: p.Home}.Path(RolledBackDir)); err == nil {
			u.importing.Store(true) // RunHome imports it right after New
		}
	}
	return n.loadUpgrades()
}

// loadUpgrades rebuilds the reducer from the journal's activation facts:
// at start and after the node adopts a snapshot.
func (n *Node) loadUpgrades() error {
	type item struct {
		ev   activation.Event
		time facts.Timestamp
	}
	var all []item
	for _, k := range activationKinds {
		var since facts.Timestamp
		for {
			page, err := n.journal.List(storage.Query{Kind: k, Since: since, Limit: storage.MaxLimit})
			if err != nil {
				return err
			}
			for _, e := range page {
				raw, ok, err := n.journal.GetFact(e.ID)
				if err != nil || !ok {
					return fmt.Errorf("node: stored activation fact %s: %v", e.ID, err)
				}
				f, p, err := facts.Decode(raw, 0)
				if err != nil {
					return fmt.Errorf("node: stored activation fact %s: %w", e.ID, err)
				}
				ev, err := activation.EventFromFact(f, e.ID, p)
				if err != nil {
					// Stored before this check existed; not part of the state.
					n.log.Warn("ignoring an invalid stored activation fact", "id", e.ID, "err", err)
					continue
				}
				all = append(all, item{ev: ev, time: f.Time})
			}
			if len(page) < storage.MaxLimit {
				break
			}
			next := page[len(page)-1].Time
			if next == since {
				next++ // a full page of one timestamp: move on
			}
			since = next
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].time < all[j].time })
	red := activation.NewReducer()
	for _, it := range all {
		if _, err := red.Apply(it.ev); err != nil {
			n.log.Warn("ignoring an invalid stored activation fact", "id", it.ev.Fact, "err", err)
		}
	}
	n.upg.red = red
	return nil
}

// applyUpgrades feeds committed facts to the reducer (called by commit).
func (n *Node) applyUpgrades(vs []facts.Verified) {
	if n.upg.red == nil {
		return
	}
	for _, v := range vs {
		f := v.Fact()
		if !activation.IsActivationKind(f.Kind) {
			continue
		}
		ev, err := activation.EventFromFact(f, v.ID(), v.Payload())
		if err != nil {
			continue // checkActivation refused these before they were stored
		}
		res, err := n.upg.red.Apply(ev)
		if err != nil {
			continue
		}
		if res.Outcome == activation.Refused || res.Outcome == activation.Noted {
			n.log.Info("activation event "+res.Outcome.String(), "kind", f.Kind, "scope", ev.Scope.Short(), "author", f.Author.Short(), "reason", res.Reason)
		}
	}
}

// deviceScope is this device's own scope.
func (n *Node) deviceScope() activation.Scope {
	return activation.DeviceScope(n.authority, n.upg.device)
}

// series is the release series this node runs.
func (n *Node) series() string {
	if c := n.upg.cfg; c != nil && c.Series != "" {
		return c.Series
	}
	return DefaultActivationSeries
}

// upgradeScopes lists the scopes this device takes part in: its device
// scope, the configured ones it may join, and the managed quorums that
// name its authority and its own authority scope once their owner has
// published a policy.
func (n *Node) upgradeScopes() []activation.Scope {
	me := n.authority
	out := []activation.Scope{n.deviceScope()}
	seen := map[string]bool{out[0].Key(): true}
	add := func(s activation.Scope) {
		if seen[s.Key()] {
			return
		}
		switch s.Kind {
		case activation.DeviceLocal:
			return
		case activation.AuthorityLocal:
			if s.Owner != me {
				return
			}
		case activation.ManagedQuorum:
			if !s.HasParticipant(me) {
				return
			}
		}
		seen[s.Key()] = true
		out = append(out, s)
	}
	if c := n.upg.cfg; c != nil {
		for _, k := range c.Scopes {
			if s, err := facts.ParseScope(k); err == nil {
				add(s)
			}
		}
	}
	for _, st := range n.upg.red.Scopes() {
		if st.Policy != nil && (st.Scope.Kind == activation.ManagedQuorum || st.Scope.Kind == activation.AuthorityLocal) {
			add(st.Scope)
		}
	}
	return out
}

// participates reports whether this device takes part in s.
func (n *Node) participates(s activation.Scope) bool {
	for _, p := range n.upgradeScopes() {
		if p.Key() == s.Key() {
			return true
		}
	}
	return false
}

// scopeEval is one evaluation of a scope for this device.
type scopeEval struct {
	scope  activation.Scope
	status activation.Status
	// policy is the policy in effect and source where it comes from
	// ("config", "published" or "none").
	policy *activation.Policy
	source string
	// entry is the candidate release, decision the evaluation of it.
	entry    *release.Entry
	decision activation.Decision
	step     activation.Step
	at       time.Time
}

// scopePolicy is the policy that governs s for this device: the
// configuration's for its device scope, else the last published one.
func (n *Node) scopePolicy(s activation.Scope, st *activation.Status) (*activation.Policy, string) {
	if s.Key() == n.deviceScope().Key() {
		var doc ActivationPolicyDoc
		if c := n.upg.cfg; c != nil {
			doc = c.Policy
		}
		p, err := doc.Policy(s)
		if err != nil {
			return nil, "none"
		}
		return &p, "config"
	}
	if st.Policy != nil {
		return st.Policy, "published"
	}
	return nil, "none"
}

// running is what this device runs: the launcher's release ID (zero
// when it is not a release ID, such as "initial") and version.
func (n *Node) running() (activation.Running, string) {
	if n.upg.link == nil {
		return activation.Running{Version: Version}, ""
	}
	name, v := n.upg.link.Running()
	r := activation.Running{Version: v}
	if id, err := release.ParseID(name); err == nil {
		r.Release = id
	}
	return r, name
}

func platform() string { return runtime.GOOS + "/" + runtime.GOARCH }

// platformArtifacts returns the manifest's artifacts for this platform
// and the index of the binary the launcher stages (-1: none).
func platformArtifacts(m *release.Manifest) ([]release.Artifact, int) {
	var out []release.Artifact
	bin := -1
	for _, a := range m.Artifacts {
		if a.Platform != "" && a.Platform != platform() {
			continue
		}
		if a.Kind == "binary" && bin < 0 {
			bin = len(out)
		}
		out = append(out, a)
	}
	return out, bin
}

// artifactEvidence says how far each artifact of a release has come: the
// binary is Staged once the launcher holds it under the release ID with
// the manifest's size (it checked the sha256 the node computed while
// exporting verified blocks), Corrupt when the launcher refused it; other
// artifacts are held in the node's block store (the launcher stages only
// the binary), so they count as staged once pinned.
func (n *Node) artifactEvidence(id release.ID, m *release.Manifest) map[string]activation.ArtifactEvidence {
	out := map[string]activation.ArtifactEvidence{}
	arts, bin := platformArtifacts(m)
	for i, a := range arts {
		ev := activation.ArtifactEvidence{Root: a.Root, State: activation.ArtifactMissing}
		root, err := release.ParseRoot(a.Root)
		if err != nil {
			ev.State, ev.Detail = activation.ArtifactCorrupt, err.Error()
			out[a.Name] = ev
			continue
		}
		if i == bin {
			if why, bad := n.upg.rejected[id]; bad {
				ev.State, ev.Detail = activation.ArtifactCorrupt, why
				out[a.Name] = ev
				continue
			}
			if l := n.upg.link; l != nil {
				if info, ok, err := l.Staged(id.String()); err == nil && ok && uint64(info.Size) == a.Size {
					ev.State = activation.ArtifactStaged
					out[a.Name] = ev
					continue
				}
			}
		}
		if pinned, err := n.art.store.IsPinned(root); err == nil && pinned {
			ev.State = activation.ArtifactFetched
			if i != bin {
				ev.State = activation.ArtifactStaged
			}
		}
		out[a.Name] = ev
	}
	return out
}

// gateEvidence lists the gates the launcher runs: healthz (this node
// answers), readyz (its host listens) and the configured commands, which
// run only after a cutover.
func (n *Node) gateEvidence() map[string]activation.GateEvidence {
	out := map[string]activation.GateEvidence{
		gateHealthz: {State: activation.GatePassed, Detail: "the node answers"},
		gateReadyz:  {State: activation.GatePassed, Detail: "the node is ready"},
	}
	if n.host == nil || len(n.host.Addrs()) == 0 {
		out[gateReadyz] = activation.GateEvidence{State: activation.GateFailed, Detail: "the node's host does not listen"}
	}
	if c := n.upg.cfg; c != nil {
		for _, g := range c.Gates {
			out[g.Name] = activation.GateEvidence{State: activation.GatePending}
		}
	}
	return out
}

// evaluate evaluates a scope for this device: against the candidate
// release given, or the newest release of the series that the scope's
// policy trusts.
func (n *Node) evaluate(s activation.Scope, want *release.ID) *scopeEval {
	e := &scopeEval{scope: s, status: n.upg.red.Status(s), at: n.now()}
	e.policy, e.source = n.scopePolicy(s, &e.status)
	run, _ := n.running()
	noCandidate := func(text string) {
		e.decision = activation.Decision{Verdict: activation.Defer, Scope: s, Checks: []activation.Check{{
			ID: activation.CheckAuthority, Result: activation.Fail, Blocks: activation.Defer, Text: text,
		}}}
	}
	n.releases.mu.RLock()
	switch {
	case e.policy == nil:
		noCandidate("no activation policy for " + s.Short() + " (its owner publishes one with `aura-node policy set activation --scope " + s.Key() + "`)")
	default:
		var id release.ID
		found := false
		if want != nil {
			id, found = *want, true
		} else if d, ok := n.releases.cat.Latest(n.series(), e.policy.TrustsAuthority); ok {
			id, found = d.Signed.Release, true
		}
		entry, known := n.releases.cat.Entry(id)
		switch {
		case !found:
			noCandidate(fmt.Sprintf("no release of series %q by a release authority the policy trusts (trusted: %d)", n.series(), len(e.policy.TrustedReleaseAuthorities)))
		case !known:
			noCandidate(fmt.Sprintf("release %s is not in this node's catalogue", id.Short()))
		default:
			entry.ID = id
			e.entry = &entry
			ev := activation.Evidence{
				Device: n.upg.device, Authority: n.authority, Platform: platform(), Running: run,
				Gates: n.gateEvidence(), PartitionHandling: true, Epoch: n.gov.Load().CurrentEpoch(),
				Scope: &e.status, Releases: n.releases.cat,
			}
			if entry.Declared() {
				m := entry.Declarations[0].Manifest
				ev.Artifacts = n.artifactEvidence(id, &m)
			}
			e.decision = activation.Evaluate(*e.policy, activation.Candidate{Scope: s, Release: entry}, ev, uint64(e.at.UnixMilli()))
		}
	}
	n.releases.mu.RUnlock()
	e.step = activation.Next(&e.status, n.authority, n.upg.device, e.decision)
	return e
}

// draftCID names a draft event for reducer.Check: distinct from every
// real fact CID.
func draftCID(kind facts.Kind, p facts.Payload) cid.Cid {
	raw, _ := facts.Marshal(p)
	sum, _ := mh.Sum(append([]byte(fmt.Sprintf("aura-node/activation-draft/%d\x00", kind)), raw...), mh.SHA2_256, -1)
	return cid.NewCidV1(cid.Raw, sum)
}

// checkDraft runs the event this node would author through
// EventFromFact and reducer.Check, as if it came after every event
// applied so far.
func (n *Node) checkDraft(kind facts.Kind, p facts.Payload) (activation.Result, error) {
	if err := p.CheckPayload(kind); err != nil {
		return activation.Result{}, fmt.Errorf("%w: %w", activation.ErrInvalidEvent, err)
	}
	f := &facts.Fact{Kind: kind, Author: n.authority, Epoch: n.gov.Load().CurrentEpoch(), Time: n.clock.Last() + 1}
	ev, err := activation.EventFromFact(f, draftCID(kind, p), p)
	if err != nil {
		return activation.Result{}, err
	}
	return n.upg.red.Check(ev)
}

// authorDecision authors a decision (a staging, a cutover or rollback
// begun, an approval, an order, a policy) only if the reducer applies it
// (or, with allowNoted, notes it): a refusal returns Result.Err, the
// reason. It runs on the loop.
func (n *Node) authorDecision(kind facts.Kind, p facts.Payload, allowNoted bool) (facts.Checked, error) {
	res, err := n.checkDraft(kind, p)
	if err != nil {
		return facts.Checked{}, err
	}
	switch res.Outcome {
	case activation.Refused:
		return facts.Checked{}, res.Err()
	case activation.Noted:
		if !allowNoted {
			return facts.Checked{}, fmt.Errorf("%w: %s", activation.ErrIllegal, res.Reason)
		}
	case activation.Duplicate:
		return facts.Checked{}, fmt.Errorf("%w: already recorded", activation.ErrIllegal)
	}
	return n.author(kind, p)
}

// report authors a report of what the device did: always published, the
// state must not lie about what runs.
func (n *Node) report(kind facts.Kind, u *facts.UpgradeEvent) error {
	u.Detail = clip(u.Detail, facts.MaxTextLen)
	_, err := n.author(kind, u)
	return err
}

// clip bounds free text on a UTF-8 boundary.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	for max > 0 && s[max]&0xC0 == 0x80 {
		max--
	}
	return s[:max]
}

// upgradeTick runs the upgrade manager once: launcher results become
// facts, interrupted switches are reported, and each scope does its next
// step. It runs on the loop every second.
func (n *Node) upgradeTick() {
	u := &n.upg
	defer u.ticks.Add(1)
	if u.red == nil || n.snap.fence || u.importing.Load() {
		return
	}
	n.finishExport()
	n.updateHardFork()
	n.recordMigrations()
	busy := false
	if u.link != nil {
		if err := n.recordLauncherResults(); err != nil {
			n.log.Warn("recording launcher results failed; retrying", "err", err)
			busy = true
		}
		crossing := u.crossing.busy.Load() // before Pending: it submits last
		pend, err := u.link.Pending()
		busy = busy || err != nil || len(pend) > 0 || u.export.busy() || crossing
		if !busy && n.sessions.reopen() {
			// A cutover this process asked for did not stop it.
			n.log.Info("the launcher has no cutover pending: anti-entropy sessions admitted again")
		}
	}
	scopes := n.upgradeScopes()
	evals := make([]*scopeEval, 0, len(scopes))
	for _, s := range scopes {
		e := n.evaluate(s, nil)
		evals = append(evals, e)
		u.last[s.Key()] = e
	}
	if u.cfg == nil {
		return // authors nothing: activation not configured
	}
	n.fetchCandidates(evals)
	if busy {
		return // the launcher is at work
	}
	if n.recoverInterrupted(evals) || n.publishDevicePolicy() || n.enterScopes(evals) || n.reportRevocations(evals) || n.reportPartition(evals) {
		return // the state changed: evaluate again next tick
	}
	for _, e := range evals {
		var err error
		switch e.step.Action {
		case activation.StageRelease:
			if u.cfg.Manual || n.backingOff(e, "stage") {
				continue
			}
			err = n.actStage(e)
		case activation.Cutover:
			if u.cfg.Manual || n.holdCutover(e, evals) || n.backingOff(e, "cutover") {
				continue
			}
			err = n.actCutover(e, evals)
		case activation.Rollback:
			if n.holdRollback(e, evals) || n.backingOff(e, "rollback") {
				continue
			}
			err = n.actRollback(e, evals)
		default:
			if u.cfg.Manual || !n.needsRestage(e) || n.backingOff(e, "restage") {
				continue
			}
			err = n.restage(e)
			n.noteAction(e, "restage", err)
			return
		}
		n.noteAction(e, e.step.Action.String(), err)
		return // one action per tick
	}
}

// fetchCandidates fetches (and pins) the artifacts for this platform of
// each candidate whose evaluation waits only for them. A failed fetch is
// retried after 30 seconds.
func (n *Node) fetchCandidates(evals []*scopeEval) {
	for _, e := range evals {
		d := e.decision
		if e.entry == nil || d.Manifest == nil || d.Verdict != activation.Defer {
			continue
		}
		only := true
		for _, c := range d.Blocking() {
			only = only && c.ID == activation.CheckArtifact
		}
		if !only {
			continue
		}
		arts, _ := platformArtifacts(d.Manifest)
		for _, a := range arts {
			root, err := release.ParseRoot(a.Root)
			if err != nil {
				continue
			}
			if pinned, err := n.art.store.IsPinned(root); err != nil || pinned {
				continue
			}
			n.art.mu.Lock()
			j := n.art.jobs[root.String()]
			n.art.mu.Unlock()
			if j != nil {
				st := j.status()
				j.mu.Lock()
				ended := j.ended
				j.mu.Unlock()
				if st.State == api.FetchRunning || (st.State == api.FetchFailed && time.Since(ended) < 30*time.Second) {
					continue
				}
			}
			n.log.Info("fetching a candidate's artifact", "scope", e.scope.Short(), "release", d.Release.Short(), "artifact", a.Name, "root", root)
			n.startFetch(root, fmt.Sprintf("%s@%s/%s", d.Manifest.Series, d.Manifest.Version, a.Name), "activation "+e.scope.Short(), a.Size, true)
		}
	}
}

func backoffKey(e *scopeEval, action string) string {
	return e.scope.Key() + "|" + action + "|" + e.step.Release.String()
}

func (n *Node) backingOff(e *scopeEval, action string) bool {
	b, ok := n.upg.backoff[backoffKey(e, action)]
	return ok && n.now().Before(b.until)
}

// noteAction records an action's outcome: a failure is kept for status
// and delays the next try (30 s doubling to 10 min).
func (n *Node) noteAction(e *scopeEval, action string, err error) {
	u := &n.upg
	key := backoffKey(e, action)
	if err == nil {
		delete(u.backoff, key)
		delete(u.errs, e.scope.Key())
		return
	}
	b := u.backoff[key]
	b.n++
	b.until = n.now().Add(min(10*time.Minute, 30*time.Second<<min(b.n-1, 5)))
	u.backoff[key] = b
	u.errs[e.scope.Key()] = fmt.Sprintf("%s %s: %v", action, e.step.Release.Short(), err)
	if !errors.Is(err, errNoLauncher) || b.n == 1 {
		n.log.Warn("upgrade action failed", "scope", e.scope.Short(), "action", action, "release", e.step.Release.Short(), "err", err)
	}
}

// publishDevicePolicy publishes the configured device-local policy for
// the device scope when the journal does not hold it yet, so every node
// reduces the scope with its rollback preference.
func (n *Node) publishDevicePolicy() bool {
	s := n.deviceScope()
	p, src := n.scopePolicy(s, nil)
	if src != "config" {
		return false
	}
	st := n.upg.red.Status(s)
	raw, err := p.Marshal()
	if err != nil {
		return false
	}
	if st.Policy != nil {
		if old, err := st.Policy.Marshal(); err == nil && string(old) == string(raw) {
			return false
		}
	}
	if _, err := n.authorDecision(facts.KindActivationPolicyPublished, &facts.PolicyPublished{Scope: s, Policy: raw}, false); err != nil {
		n.log.Warn("publishing the device activation policy failed", "err", err)
		return false
	}
	n.log.Info("published the device activation policy", "scope", s.Short(), "rollback", p.Rollback)
	return true
}

// enterScopes records ScopeEntered in each scope this device takes part
// in but has no record in yet (non-device scopes once they have a
// policy, or when configured).
func (n *Node) enterScopes(evals []*scopeEval) bool {
	run, _ := n.running()
	changed := false
	for _, e := range evals {
		if _, known := e.status.Device(n.authority, n.upg.device); known || e.policy == nil {
			continue
		}
		u := &facts.UpgradeEvent{Scope: e.scope, ReleaseID: run.Release[:], Device: n.upg.device, Version: clip(run.Version, 128)}
		if err := n.report(facts.KindScopeEntered, u); err != nil {
			n.log.Warn("entering an activation scope failed", "scope", e.scope.Short(), "err", err)
			continue
		}
		changed = true
	}
	return changed
}

// reportRevocations reports a trusted revocation of a scope's target
// (TransitionChanged RollingBack with ReleaseRevoked): a target only
// staged is cancelled, one that runs fails and follows the rollback
// preference.
func (n *Node) reportRevocations(evals []*scopeEval) bool {
	changed := false
	for _, e := range evals {
		t := e.status.Target
		if t == nil || t.Cancelled != "" || t.Failure != nil {
			continue
		}
		if _, blocked := e.status.Blocked(t.Release.ID); blocked {
			continue
		}
		trusted := func(facts.AuthorityID) bool { return false } // the admin's always count
		if e.policy != nil {
			trusted = e.policy.TrustsAuthority
		}
		entry, ok := n.releaseEntry(t.Release.ID)
		if !ok {
			continue
		}
		r, revoked := entry.Revocation(trusted)
		if !revoked {
			continue
		}
		why := r.Reason
		if why == "" {
			why = "revoked by " + r.Signer.Short()
		}
		u := &facts.UpgradeEvent{Scope: e.scope, ReleaseID: t.Release.ID[:], Transition: activation.RollingBack, Failure: activation.ReleaseRevoked, Detail: clip(why, facts.MaxTextLen)}
		if _, err := n.authorDecision(facts.KindTransitionChanged, u, false); err != nil {
			n.log.Info("not reporting a revocation", "scope", e.scope.Short(), "release", t.Release.ID.Short(), "err", err)
			continue
		}
		n.log.Warn("reported a trusted revocation of the scope's target", "scope", e.scope.Short(), "release", t.Release.ID.Short(), "reason", why)
		changed = true
	}
	return changed
}

// recoverInterrupted reports, with ResidencyChanged, a switch the scope
// shows in progress for this device although the launcher has neither a
// request nor a result for it (the node crashed between recording the
// begin and asking, or the request was lost): what AURA_RELEASE_ID says
// runs is what runs.
func (n *Node) recoverInterrupted(evals []*scopeEval) bool {
	if n.upg.link == nil {
		return false
	}
	run, name := n.running()
	changed := false
	for _, e := range evals {
		ds, known := e.status.Device(n.authority, n.upg.device)
		if !known || ds.Doing == activation.Idle {
			continue
		}
		R := ds.DoingRelease
		res := activation.LegacyOnly
		if run.Release == R {
			res = activation.TargetOnly
		}
		u := &facts.UpgradeEvent{Scope: e.scope, ReleaseID: R[:], Device: n.upg.device, Residency: res,
			Detail: fmt.Sprintf("the launcher has no request for the %v of %s; this node runs %s", ds.Doing, R.Short(), name)}
		if err := n.report(facts.KindResidencyChanged, u); err != nil {
			n.log.Warn("reporting the residency failed", "scope", e.scope.Short(), "err", err)
			continue
		}
		n.log.Warn("reported an interrupted switch", "scope", e.scope.Short(), "release", R.Short(), "residency", res)
		changed = true
	}
	return changed
}

// actStage stages the step's release: records UpgradeStaged when the
// launcher already holds it, else exports the binary from the block
// store and asks the launcher to stage it (off the loop).
func (n *Node) actStage(e *scopeEval) error {
	u := &n.upg
	if u.link == nil {
		return errNoLauncher
	}
	R := e.step.Release
	m := e.decision.Manifest
	if m == nil || e.entry == nil || e.entry.ID != R {
		return fmt.Errorf("no verified manifest for %s", R.Short())
	}
	arts, bin := platformArtifacts(m)
	if bin < 0 {
		return fmt.Errorf("release %s has no binary for %s", R.Short(), platform())
	}
	a := arts[bin]
	if info, ok, err := u.link.Staged(R.String()); err != nil {
		return err
	} else if ok && uint64(info.Size) == a.Size {
		gates := slices.Concat(e.decision.Gates, u.cfg.gateNames())
		slices.Sort(gates)
		gates = slices.Compact(gates)
		ev := &facts.UpgradeEvent{Scope: e.scope, ReleaseID: R[:], Device: u.device, Version: m.Version, Class: uint8(m.Compatibility.Class), Gates: gates}
		if _, err := n.authorDecision(facts.KindUpgradeStaged, ev, false); err != nil {
			return err
		}
		n.log.Info("recorded the staging", "scope", e.scope.Short(), "release", R.Short(), "version", m.Version)
		return nil
	}
	root, err := release.ParseRoot(a.Root)
	if err != nil {
		return err
	}
	if pinned, err := n.art.store.IsPinned(root); err != nil || !pinned {
		return fmt.Errorf("artifact %s of %s is not in the block store yet", a.Name, R.Short())
	}
	n.startExport(e.scope.Key(), R, m.Version, a.Name, root)
	return nil
}

// needsRestage reports a staging the scope recorded but the launcher no
// longer holds (its releases folder was cleaned, or another home's
// journal was restored): the evaluation waits on the binary being staged
// and Next, which sees the staging recorded, does not stage again.
func (n *Node) needsRestage(e *scopeEval) bool {
	d := e.decision
	if n.upg.link == nil || e.step.Action != activation.Wait || d.Verdict != activation.Stage || d.Manifest == nil || e.step.Release != d.Release {
		return false
	}
	ds, ok := e.status.Device(n.authority, n.upg.device)
	if !ok || !slices.Contains(ds.Staged, d.Release) {
		return false
	}
	for _, c := range d.Blocking() {
		if c.ID == activation.CheckArtifact && c.Subject != "" {
			arts, bin := platformArtifacts(d.Manifest)
			if bin >= 0 && c.Subject == arts[bin].Name {
				return true
			}
		}
	}
	return false
}

// restage has the launcher stage again a release whose staging is
// recorded.
func (n *Node) restage(e *scopeEval) error {
	m := e.decision.Manifest
	arts, bin := platformArtifacts(m)
	root, err := release.ParseRoot(arts[bin].Root)
	if err != nil {
		return err
	}
	if pinned, err := n.art.store.IsPinned(root); err != nil || !pinned {
		return fmt.Errorf("artifact %s of %s is not in the block store", arts[bin].Name, e.decision.Release.Short())
	}
	n.startExport(e.scope.Key(), e.decision.Release, m.Version, arts[bin].Name, root)
	return nil
}

// startExport exports a release binary from the block store to the
// launcher's incoming folder, computing its sha256, and submits the
// stage request, in a goroutine tracked with the artifact layer (Close
// waits for it before closing the store).
func (n *Node) startExport(scope string, id release.ID, version, name string, root cid.Cid) {
	ex := &n.upg.export
	ex.mu.Lock()
	ex.running, ex.done, ex.err, ex.scope, ex.release = true, false, nil, scope, id
	ex.mu.Unlock()
	link, store, ctx := n.upg.link, n.art.store, n.ctx
	n.art.wg.Add(1)
	go func() {
		defer n.art.wg.Done()
		err := exportAndSubmit(ctx, link, store, id, version, name, root, scope)
		ex.mu.Lock()
		ex.running, ex.done, ex.err = false, true, err
		ex.mu.Unlock()
	}()
	n.log.Info("staging a release", "scope", scope, "release", id.Short(), "version", version, "artifact", name)
}

func exportAndSubmit(ctx context.Context, link launcherLink, store *artifacts.Store, id release.ID, version, name string, root cid.Cid, scope string) error {
	path := link.IncomingPath(id.String())
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".part-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	if _, err = artifacts.Export(ctx, store, root, io.MultiWriter(tmp, h)); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("exporting %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	_, err = link.Submit(launcher.Request{
		Action: launcher.ActionStage, ReleaseID: id.String(), Version: version, Artifact: path,
		SHA256: hex.EncodeToString(h.Sum(nil)), Origin: "node", Reason: clip("scope "+scope+": stage "+id.Short(), launcher.MaxTextLen),
	})
	return err
}

// finishExport notes the end of an export (its error, if any).
func (n *Node) finishExport() {
	ex := &n.upg.export
	ex.mu.Lock()
	done, err, scope, id := ex.done, ex.err, ex.scope, ex.release
	ex.done = false
	ex.mu.Unlock()
	if !done || err == nil {
		return
	}
	n.upg.errs[scope] = fmt.Sprintf("stage %s: %v", id.Short(), err)
	n.log.Warn("staging a release failed", "scope", scope, "release", id.Short(), "err", err)
}

// holdingScope returns the first other scope that holds this device's
// cutover to release R: one where R failed, was revoked or cancelled (the
// device must not run it there, and would have to roll back at once); one
// whose next step is to stage R (cut over first, and that scope would
// show the device on its old release, never staging R); or one whose
// active target is R, in which this device staged R, and whose own step
// is not a cutover. The strictest scope decides.
func (n *Node) holdingScope(e *scopeEval, evals []*scopeEval, R release.ID) *scopeEval {
	for _, o := range evals {
		if o.scope.Key() == e.scope.Key() {
			continue
		}
		if _, blocked := o.status.Blocked(R); blocked {
			return o
		}
		if o.step.Action == activation.StageRelease && o.step.Release == R {
			return o
		}
		t := o.status.Target
		if t == nil || t.Release.ID != R || t.State != activation.TargetActive {
			continue
		}
		ds, known := o.status.Device(n.authority, n.upg.device)
		if known && slices.Contains(ds.Staged, R) && o.step.Action != activation.Cutover {
			return o
		}
	}
	return nil
}

// actCutover records the cutover's begin (in the acting scope, where the
// reducer must apply it, and in every other scope where this device
// staged the release) and asks the launcher to cut over.
func (n *Node) actCutover(e *scopeEval, evals []*scopeEval) error {
	u := &n.upg
	R := e.step.Release
	if o := n.holdingScope(e, evals, R); o != nil {
		return fmt.Errorf("scope %s holds the cutover: %s", o.scope.Short(), o.step.Reason)
	}
	if u.link == nil {
		return errNoLauncher
	}
	m := e.decision.Manifest
	if m == nil {
		return fmt.Errorf("no verified manifest for %s", R.Short())
	}
	if _, ok, err := u.link.Staged(R.String()); err != nil || !ok {
		return fmt.Errorf("the launcher has not staged %s (%v)", R.Short(), err)
	}
	var inFlight activation.InFlightAction
	if len(e.step.Plan.InFlight) > 0 {
		inFlight = e.step.Plan.InFlight[0]
	}
	begin := func(s activation.Scope) *facts.UpgradeEvent {
		return &facts.UpgradeEvent{Scope: s, ReleaseID: R[:], Device: u.device, Transition: activation.CuttingOver, InFlight: inFlight}
	}
	if _, err := n.authorDecision(facts.KindTransitionChanged, begin(e.scope), false); err != nil {
		return err
	}
	for _, o := range evals {
		if o.scope.Key() == e.scope.Key() {
			continue
		}
		ds, known := o.status.Device(n.authority, u.device)
		if known && slices.Contains(ds.Staged, R) && ds.Doing == activation.Idle && ds.Running.ID != R {
			if _, err := n.authorDecision(facts.KindTransitionChanged, begin(o.scope), true); err != nil {
				n.log.Info("not recording the cutover in another scope", "scope", o.scope.Short(), "err", err)
			}
		}
	}
	var hto int64
	if u.cfg != nil {
		hto = time.Duration(u.cfg.HealthTimeout).Milliseconds()
	}
	req := launcher.Request{
		Action: launcher.ActionCutover, ReleaseID: R.String(), Version: m.Version, Gates: u.cfg.gateCommands(), HealthTimeoutMs: hto,
		Origin: "node",
	}
	// The devices of the acting scope that staged R cut over too: no
	// session is delegated to them.
	var cutting []string
	for _, d := range e.status.Devices {
		if slices.Contains(d.Staged, R) {
			cutting = append(cutting, d.Device)
		}
	}
	n.log.Info("cutting over", "scope", e.scope.Short(), "release", R.Short(), "version", m.Version, "class", m.Compatibility.Class, "in_flight", e.step.Plan.InFlight)
	// In-flight sessions are handled by the plan off the loop; then the
	// launcher is asked. The begin is recorded: if the request is never
	// made (the node stops first), the next start reports the residency
	// (recoverInterrupted).
	n.startCrossing(R, e.step.Plan.InFlight, peerSet(cutting), u.cfg.drainTimeout(), func(rep *CrossingReport) (uint64, error) {
		req.Reason = clip("scope "+e.scope.Key()+": "+e.step.Reason, launcher.MaxTextLen)
		req.Sessions, req.SessionsDisposition = clip(rep.Summary(), launcher.MaxTextLen), rep.Disposition()
		return u.link.Submit(req)
	})
	return nil
}

// rollbackHold returns another scope that holds this device's rollback
// of R, and why: a scope that shows the device idle on R, which still
// accepts R (it has not ordered R's rollback) and whose rollback
// preference is ManualApproval. A device runs one release for all its
// scopes and the strictest scope decides: the device keeps R until that
// scope's owner approves or orders the rollback there. An Automatic scope
// that still accepts R does not hold it (it would roll back by itself on
// a failure); it notes the rollback, and the scope where R failed then
// holds any new cutover to R (holdingScope).
func (n *Node) rollbackHold(e *scopeEval, evals []*scopeEval, R release.ID) (*scopeEval, string) {
	for _, o := range evals {
		if o.scope.Key() == e.scope.Key() {
			continue
		}
		ds, known := o.status.Device(n.authority, n.upg.device)
		if !known || ds.Running.ID != R || ds.MustRollBack || ds.Doing != activation.Idle {
			continue
		}
		if o.status.Policy == nil || o.status.Policy.Rollback != activation.ManualApproval {
			continue
		}
		if t := o.status.Target; t != nil && t.Release.ID == R && t.Rollback == activation.RollbackAwaitingApproval {
			return o, fmt.Sprintf("%s holds the rollback of %s (rollback manual-approval; %v there): its owner approves it with `upgrade approve-rollback --scope %s`",
				o.scope.Short(), R.Short(), t.Failure.Class, o.scope.Key())
		}
		return o, fmt.Sprintf("%s holds the rollback of %s (rollback manual-approval; it still accepts %s): its owner orders it with `upgrade rollback --scope %s`",
			o.scope.Short(), R.Short(), R.Short(), o.scope.Key())
	}
	return nil, ""
}

// holdCutover reports whether another scope holds the cutover the step
// asks for (holdingScope), keeping the reason as the scope's last error.
// Like a rollback hold it is a wait, not a failure: no backoff, the
// cutover starts on the tick after the holding scope lets it.
func (n *Node) holdCutover(e *scopeEval, evals []*scopeEval) bool {
	R := e.step.Release
	o := n.holdingScope(e, evals, R)
	if o == nil {
		return false
	}
	u := &n.upg
	msg := fmt.Sprintf("cutover %s: scope %s holds it: %s", R.Short(), o.scope.Short(), o.step.Reason)
	if u.errs[e.scope.Key()] != msg {
		n.log.Info("another scope holds the cutover", "scope", e.scope.Short(), "release", R.Short(), "held_by", o.scope.Short())
	}
	u.errs[e.scope.Key()] = msg
	return true
}

// holdRollback reports whether another scope holds the rollback the
// step asks for, keeping the reason as the scope's last error. A hold is
// a wait, not a failure: it does not back off, so the rollback starts on
// the tick after the holding scope's owner approves it.
func (n *Node) holdRollback(e *scopeEval, evals []*scopeEval) bool {
	R := e.step.Release
	if run, _ := n.running(); run.Release != R {
		return false // actRollback reports what runs
	}
	o, why := n.rollbackHold(e, evals, R)
	if o == nil {
		return false
	}
	u := &n.upg
	msg := "rollback " + R.Short() + ": " + why
	if u.errs[e.scope.Key()] != msg {
		n.log.Warn("another scope holds the rollback", "scope", e.scope.Short(), "release", R.Short(), "held_by", o.scope.Short())
	}
	u.errs[e.scope.Key()] = msg
	return true
}

// actRollback records the rollback's begin and asks the launcher to
// restore the previous release and its checkpoint. When the launcher
// does not run R although the scope shows this device on it (a rollback
// whose result was recorded against a restored journal, facts that came
// back from the journal a rollback set aside or from peers after the
// device had already left R), there is nothing to roll back: it reports
// what runs with ResidencyChanged (LegacyOnly for R) in every scope that
// shows it idle on R, as recoverInterrupted does for a switch in
// progress, instead of asking again.
func (n *Node) actRollback(e *scopeEval, evals []*scopeEval) error {
	u := &n.upg
	if u.link == nil {
		return errNoLauncher
	}
	R := e.step.Release
	if run, name := n.running(); run.Release != R {
		return n.reportLeft(e, evals, R, name)
	}
	begin := func(s activation.Scope) *facts.UpgradeEvent {
		return &facts.UpgradeEvent{Scope: s, ReleaseID: R[:], Device: u.device, Transition: activation.RollingBack}
	}
	if _, err := n.authorDecision(facts.KindTransitionChanged, begin(e.scope), true); err != nil {
		return err
	}
	for _, o := range evals {
		if o.scope.Key() == e.scope.Key() {
			continue
		}
		if ds, known := o.status.Device(n.authority, u.device); known && ds.Running.ID == R && ds.Doing == activation.Idle {
			if _, err := n.authorDecision(facts.KindTransitionChanged, begin(o.scope), true); err != nil {
				n.log.Info("not recording the rollback in another scope", "scope", o.scope.Short(), "err", err)
			}
		}
	}
	seq, err := u.link.Submit(launcher.Request{Action: launcher.ActionRollback, Origin: "node",
		Reason: clip("scope "+e.scope.Key()+": "+e.step.Reason, launcher.MaxTextLen)})
	if err != nil {
		return fmt.Errorf("asking the launcher to roll back: %w", err)
	}
	n.log.Warn("rolling back", "scope", e.scope.Short(), "release", R.Short(), "reason", e.step.Reason, "launcher_seq", seq)
	return nil
}

// reportLeft reports, in the acting scope and in every other scope that
// shows this device idle on R, that the device no longer runs R: the
// launcher runs name.
func (n *Node) reportLeft(e *scopeEval, evals []*scopeEval, R release.ID, name string) error {
	u := &n.upg
	var first error
	for _, o := range evals {
		ds, known := o.status.Device(n.authority, u.device)
		if !known || ds.Running.ID != R || ds.Doing != activation.Idle {
			continue
		}
		ev := &facts.UpgradeEvent{Scope: o.scope, ReleaseID: R[:], Device: u.device, Residency: activation.LegacyOnly,
			Detail: fmt.Sprintf("the scope shows this device on %s, but the launcher runs %s: nothing of it to roll back", R.Short(), name)}
		if err := n.report(facts.KindResidencyChanged, ev); err != nil {
			if first == nil {
				first = fmt.Errorf("reporting that the launcher runs %q, not %s: %w", name, R.Short(), err)
			}
			continue
		}
		n.log.Warn("the scope showed this device on a release its launcher does not run; reported the residency", "scope", o.scope.Short(), "release", R.Short(), "running", name)
	}
	return first
}

// recordLauncherResults turns each unacknowledged launcher result into
// UpgradeExecution facts, then acknowledges it; a result whose facts
// could not all be written stays for the next tick.
func (n *Node) recordLauncherResults() error {
	results, err := n.upg.link.Results()
	if err != nil {
		return err
	}
	for _, r := range results {
		if err := n.recordResult(r); err != nil {
			return fmt.Errorf("launcher result %d (%s %s): %w", r.Seq, r.Action, r.Outcome, err)
		}
		if err := n.upg.link.Ack(r.Seq); err != nil {
			return err
		}
	}
	return nil
}

// doingIn lists the scopes in which this device is switching in the
// given way (to or from R; any release when R is zero).
func (n *Node) doingIn(doing activation.Transition, R release.ID) []activation.Status {
	var out []activation.Status
	for _, s := range n.upgradeScopes() {
		st := n.upg.red.Status(s)
		if ds, ok := st.Device(n.authority, n.upg.device); ok && ds.Doing == doing && (R.IsZero() || ds.DoingRelease == R) {
			out = append(out, st)
		}
	}
	return out
}

// recordResult records one launcher result (see the table in
// docs/design/activation.md).
func (n *Node) recordResult(r launcher.Result) error {
	u := &n.upg
	R, idErr := release.ParseID(r.ReleaseID)
	detail := r.Detail
	if r.FailureClass != "" {
		detail = string(r.FailureClass) + ": " + detail
	}
	switch r.Action {
	case launcher.ActionStage:
		if idErr != nil {
			return nil // staged by hand under another name
		}
		if r.Outcome == launcher.OutcomeOK {
			delete(u.rejected, R)
		} else {
			u.rejected[R] = clip("the launcher refused it: "+detail, 512)
			n.log.Warn("the launcher refused to stage a release", "release", R.Short(), "class", r.FailureClass, "detail", r.Detail)
		}
		return nil

	case launcher.ActionCutover:
		if idErr != nil {
			return nil
		}
		if r.SessionsDisposition != "" {
			n.metrics.crossings.WithLabelValues(r.SessionsDisposition).Inc()
		}
		for _, st := range n.doingIn(activation.CuttingOver, R) {
			if err := n.recordCutover(st.Scope, R, r, detail); err != nil {
				return err
			}
		}
		return nil

	case launcher.ActionRollback:
		for _, st := range n.doingIn(activation.RollingBack, release.ID{}) {
			ds, _ := st.Device(n.authority, u.device)
			ev := &facts.UpgradeEvent{Scope: st.Scope, ReleaseID: ds.DoingRelease[:], Device: u.device, Detail: r.Detail}
			kind := facts.KindRollbackExecuted
			if r.Outcome == launcher.OutcomeFailed {
				kind, ev.Residency = facts.KindResidencyChanged, activation.TargetOnly
				ev.Detail = "rollback failed: " + detail
			}
			if err := n.report(kind, ev); err != nil {
				return err
			}
		}
		return nil
	}
	return nil
}

// recordCutover records a cutover result in one scope.
func (n *Node) recordCutover(s activation.Scope, R release.ID, r launcher.Result, detail string) error {
	dev := n.upg.device
	ev := func() *facts.UpgradeEvent { return &facts.UpgradeEvent{Scope: s, ReleaseID: R[:], Device: dev} }
	switch {
	case r.Outcome == launcher.OutcomeOK, r.Outcome == launcher.OutcomeRolledBack && r.FailureClass == launcher.HealthGateFailed:
		c := ev()
		c.OK = true
		c.Detail = r.Sessions // what the node did with its in-flight sessions
		if err := n.report(facts.KindCutoverCompleted, c); err != nil {
			return err
		}
		if err := n.recordGates(s, R, r.Gates); err != nil {
			return err
		}
		if r.Outcome == launcher.OutcomeRolledBack {
			rb := ev()
			rb.Detail = r.Detail
			return n.report(facts.KindRollbackExecuted, rb)
		}
		n.log.Info("cutover completed", "scope", s.Short(), "release", R.Short(), "version", r.ToVersion)
		return nil
	case r.Outcome == launcher.OutcomeFailed && r.FailureClass == launcher.RequestRejected:
		c := ev()
		c.Residency, c.Detail = activation.LegacyOnly, detail
		return n.report(facts.KindResidencyChanged, c)
	}
	c := ev()
	c.Failure, c.Detail = activation.LauncherActivationFailed, detail
	if string(r.FailureClass) == activation.LauncherActivationFailed.String() {
		c.Detail = r.Detail // the fact carries the class
	}
	return n.report(facts.KindCutoverCompleted, c)
}

// recordGates records the launcher's gate results for the gates this
// device declared when it staged R. The launcher names a node that
// exited or stopped answering during the gates "running": that is
// healthz failing. Each gate's last result counts.
func (n *Node) recordGates(s activation.Scope, R release.ID, results []launcher.GateResult) error {
	st := n.upg.red.Status(s)
	ds, ok := st.Device(n.authority, n.upg.device)
	if !ok || ds.Running.ID != R {
		return nil // the cutover was refused or noted: no gates to record
	}
	declared := map[string]bool{}
	for _, g := range ds.Gates {
		declared[g.Name] = true
	}
	var order []string
	last := map[string]launcher.GateResult{}
	for _, g := range results {
		name := g.Name
		if name == "running" {
			name = gateHealthz
		}
		if !declared[name] {
			continue
		}
		if _, seen := last[name]; !seen {
			order = append(order, name)
		}
		g.Name = name
		last[name] = g
	}
	for _, name := range order {
		g := last[name]
		ev := &facts.UpgradeEvent{Scope: s, ReleaseID: R[:], Device: n.upg.device, Gate: name, OK: g.OK, Detail: g.Detail}
		if err := n.report(facts.KindHealthGateResult, ev); err != nil {
			return err
		}
	}
	return nil
}

// migrationHistory is implemented by journals with storage migrations
// (storage.Pebble).
type migrationHistory interface {
	MigrationHistory() ([]storage.AppliedMigration, error)
}

// recordMigrations authors a MigrationApplied fact, once, for each storage
// migration the journal records that this device has no fact for yet
// (including one run by an open that crashed before recording it).
func (n *Node) recordMigrations() {
	u := &n.upg
	if u.migrationsRecorded {
		return
	}
	mh, ok := n.journal.(migrationHistory)
	if !ok {
		u.migrationsRecorded = true
		return
	}
	hist, err := mh.MigrationHistory()
	if err != nil {
		n.log.Warn("reading the storage migration history failed", "err", err)
		return
	}
	have := map[[2]uint32]bool{}
	me := n.authority
	entries, err := n.journal.List(storage.Query{Kind: facts.KindMigrationApplied, Author: &me, Limit: storage.MaxLimit})
	if err != nil {
		return
	}
	for _, e := range entries {
		raw, ok, err := n.journal.GetFact(e.ID)
		if err != nil || !ok {
			continue
		}
		if _, p, err := facts.Decode(raw, 0); err == nil {
			if m, ok := p.(*facts.MigrationApplied); ok && m.Device == u.device {
				have[[2]uint32{m.FromVersion, m.ToVersion}] = true
			}
		}
	}
	run, _ := n.running()
	for _, m := range hist {
		if have[[2]uint32{m.From, m.To}] {
			continue
		}
		p := &facts.MigrationApplied{FromVersion: m.From, ToVersion: m.To, Name: m.Name, Device: u.device}
		if !run.Release.IsZero() {
			p.ReleaseID = run.Release[:]
		}
		if _, err := n.author(facts.KindMigrationApplied, p); err != nil {
			n.log.Warn("recording a storage migration failed", "from", m.From, "to", m.To, "err", err)
			return
		}
		n.log.Info("recorded a storage migration", "from", m.From, "to", m.To, "name", m.Name)
	}
	u.migrationsRecorded = true
}
