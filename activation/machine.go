package activation

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/release"
)

// Reducer reduces activation events into the state of every scope. The
// state of a scope is a pure function of the set of its events: Apply
// them in any order, any number of times, and Status answers the same.
//
// It keeps each scope's events sorted (see compareEvents) and folds them
// in that order; an event that arrives out of order refolds its scope.
// Feeding events in timestamp order, as the journal lists them, keeps
// every Apply incremental.
//
// A Reducer is not safe for concurrent use; the node's state owner holds
// it.
type Reducer struct {
	scopes map[string]*scopeLog
}

type scopeLog struct {
	scope  Scope
	events []Event // sorted by compareEvents
	seen   map[string]struct{}
	state  *scopeState
}

// NewReducer returns an empty reducer.
func NewReducer() *Reducer { return &Reducer{scopes: map[string]*scopeLog{}} }

// compareEvents orders the events of a scope. The fold applies them in
// this order, so it decides every race:
//
//  1. The lower HLC timestamp first. A node's HLC is above every
//     timestamp it has seen, so an event comes after every event its
//     author knew of when it wrote it: causality is respected, and only
//     concurrent events are ordered by what follows.
//  2. Then the lower fact CID (bytewise). Two events are never equal:
//     the CID is the fact's identity.
func compareEvents(a, b *Event) int {
	return cmp.Or(
		cmp.Compare(a.Time, b.Time),
		bytes.Compare(a.Fact.Bytes(), b.Fact.Bytes()),
	)
}

// Outcome says what the reduction did with an event.
type Outcome uint8

// Outcomes.
const (
	// Applied: the event took effect.
	Applied Outcome = iota + 1
	// Noted: the event reports something a device did that breaks the
	// scope's rules, or that came too late to count (a concurrent
	// failure or cancellation came first). It is recorded where it
	// describes reality, and Status lists it with the note.
	Noted
	// Refused: the event is illegal at its place in the order and took no
	// effect; Status lists it with the reason.
	Refused
	// Duplicate: the event was already applied.
	Duplicate
)

var outcomeNames = []string{"", "applied", "noted", "refused", "duplicate"}

// String returns the outcome's name.
func (o Outcome) String() string {
	if o > 0 && int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// Result is the outcome of one event at its place in the order, with the
// note or the reason for refusal.
type Result struct {
	Outcome Outcome
	Reason  string
}

// Err returns nil unless the event was refused, then an error wrapping
// ErrIllegal with the reason: what a node shows when it declines to
// author an event.
func (r Result) Err() error {
	if r.Outcome != Refused {
		return nil
	}
	return wrapf(ErrIllegal, "%s", r.Reason)
}

// Apply adds one event. An error (ValidateEvent's) means the event is
// invalid whatever the state: nothing is stored and the caller should
// refuse the fact. Otherwise the event is kept and the result says what
// it did at its place in the order. An event that sorts before others
// already applied may change what those did; Status always reflects the
// whole set.
func (r *Reducer) Apply(e Event) (Result, error) {
	if err := ValidateEvent(e); err != nil {
		return Result{}, err
	}
	key := e.Scope.Key()
	log, ok := r.scopes[key]
	if !ok {
		log = &scopeLog{scope: cloneScope(e.Scope), seen: map[string]struct{}{}, state: newScopeState(e.Scope)}
		r.scopes[key] = log
	}
	id := e.Fact.KeyString()
	if _, dup := log.seen[id]; dup {
		return Result{Outcome: Duplicate}, nil
	}
	log.seen[id] = struct{}{}
	i, _ := slices.BinarySearchFunc(log.events, &e, func(x Event, y *Event) int { return compareEvents(&x, y) })
	log.events = slices.Insert(log.events, i, e)
	if i == len(log.events)-1 {
		return log.state.apply(&log.events[i]), nil
	}
	// Out of order: refold the scope from its first event.
	log.state = fold(log.scope, log.events)
	return log.state.results[id], nil
}

// Check reports what Apply would do with e if it came after every event
// applied so far, without applying it: what a node asks before it
// authors an event (its HLC puts the event last). Refused results carry
// the reason (Result.Err).
func (r *Reducer) Check(e Event) (Result, error) {
	if err := ValidateEvent(e); err != nil {
		return Result{}, err
	}
	log, ok := r.scopes[e.Scope.Key()]
	if !ok {
		return newScopeState(e.Scope).apply(&e), nil
	}
	if _, dup := log.seen[e.Fact.KeyString()]; dup {
		return Result{Outcome: Duplicate}, nil
	}
	st := fold(log.scope, log.events)
	return st.apply(&e), nil
}

// Status returns the state of a scope: LegacyOnly/Idle with no devices
// when no event of the scope has been applied.
func (r *Reducer) Status(s Scope) Status {
	if log, ok := r.scopes[s.Key()]; ok {
		return log.state.status()
	}
	return newScopeState(s).status()
}

// Scopes returns the state of every scope with events, sorted by key.
func (r *Reducer) Scopes() []Status {
	out := make([]Status, 0, len(r.scopes))
	for _, k := range slices.Sorted(maps.Keys(r.scopes)) {
		out = append(out, r.scopes[k].state.status())
	}
	return out
}

func fold(scope Scope, events []Event) *scopeState {
	st := newScopeState(scope)
	for i := range events {
		st.apply(&events[i])
	}
	return st
}

// ReleaseRef names a release with the version and class the scope
// learnt from the staging that made it the target.
type ReleaseRef struct {
	ID      release.ID
	Version string
	Class   release.CompatibilityClass
}

// RollbackState says where a failed target stands.
type RollbackState uint8

// Rollback states.
const (
	// RollbackNone: no rollback is due.
	RollbackNone RollbackState = iota
	// RollbackAwaitingApproval: the target failed under ManualApproval;
	// nothing rolls back until the owner approves.
	RollbackAwaitingApproval
	// RollbackOrdered: every device on the target must roll back.
	RollbackOrdered
)

var rollbackNames = []string{"none", "awaiting-approval", "ordered"}

// String returns "none", "awaiting-approval" or "ordered".
func (r RollbackState) String() string {
	if int(r) < len(rollbackNames) {
		return rollbackNames[r]
	}
	return fmt.Sprintf("RollbackState(%d)", uint8(r))
}

// Failure is a scope's failure: the first one reported against its target.
type Failure struct {
	Class   FailureClass
	Detail  string
	Release release.ID
	// By is the event that reported it.
	By EventRef
}

// EventRef identifies an event in statuses and refusals.
type EventRef struct {
	Fact    string // CID text
	Kind    facts.Kind
	Author  facts.AuthorityID
	Device  string
	Release release.ID
	Time    facts.Timestamp
}

func refOf(e *Event) EventRef {
	r := EventRef{Fact: e.Fact.String(), Kind: e.Kind, Author: e.Author, Release: e.Release, Time: e.Time}
	if e.Upgrade != nil {
		r.Device = e.Upgrade.Device
	}
	return r
}

// targetState is one target of the scope: the release its devices move
// to, from the staging that chose it until the next target replaces it.
type targetState struct {
	ref       ReleaseRef
	cancelled string // why, when cancelled
	failure   *Failure
	rollback  RollbackState
}

type deviceKey struct {
	author facts.AuthorityID
	name   string
}

func compareDeviceKeys(a, b deviceKey) int {
	return cmp.Or(compareAuthorities(a.author, b.author), strings.Compare(a.name, b.name))
}

type deviceOp uint8

const (
	opNone deviceOp = iota
	opCuttingOver
	opRollingBack
)

type staging struct {
	version string
	class   release.CompatibilityClass
	gates   []string
}

type gateResult struct {
	ok     bool
	detail string
}

// device is one device of the scope as its own reports describe it: what
// it runs, what it staged, what it is doing.
type device struct {
	key deviceKey
	// running is what the device runs; its ID is zero when unknown (an
	// unreleased build, or a device only known from a staging).
	running ReleaseRef
	// cutTo is the release the device reached by its last cutover (zero
	// when it runs what it entered with, or rolled back).
	cutTo release.ID
	// prev and prevCutTo are what running and cutTo were before the
	// current release; a rollback restores them.
	prev      ReleaseRef
	prevCutTo release.ID
	staged    map[release.ID]staging
	op        deviceOp
	opRelease release.ID
	inFlight  InFlightAction
	gates     map[string]gateResult // results on the running release
	failure   *Failure              // the device's last failure
	partition int                   // partitions observed on the running release
}

type blockInfo struct {
	class  FailureClass // zero for an owner's cancellation
	reason string
}

// scopeState is the fold of a scope's events.
type scopeState struct {
	scope     Scope
	policy    *Policy
	target    *targetState
	history   []*targetState
	approvals map[release.ID]map[facts.AuthorityID]struct{}
	fences    map[release.ID]uint64
	blocked   map[release.ID]blockInfo
	devices   map[deviceKey]*device
	refused   []Refusal
	notes     []Refusal
	results   map[string]Result // by fact CID key
}

func newScopeState(s Scope) *scopeState {
	return &scopeState{
		scope:     cloneScope(s),
		approvals: map[release.ID]map[facts.AuthorityID]struct{}{},
		fences:    map[release.ID]uint64{},
		blocked:   map[release.ID]blockInfo{},
		devices:   map[deviceKey]*device{},
		results:   map[string]Result{},
	}
}

// Refusal is an event the reduction refused or noted, with the reason.
type Refusal struct {
	Event  EventRef
	Reason string
}

func (st *scopeState) apply(e *Event) Result {
	res := st.step(e)
	switch res.Outcome {
	case Refused:
		st.refused = append(st.refused, Refusal{Event: refOf(e), Reason: res.Reason})
	case Noted:
		st.notes = append(st.notes, Refusal{Event: refOf(e), Reason: res.Reason})
	}
	st.results[e.Fact.KeyString()] = res
	return res
}

func applied() Result { return Result{Outcome: Applied} }

func refused(format string, args ...any) Result {
	return Result{Outcome: Refused, Reason: fmt.Sprintf(format, args...)}
}

func noted(format string, args ...any) Result {
	return Result{Outcome: Noted, Reason: fmt.Sprintf(format, args...)}
}

// step applies one event. The legality rules, by event:
//
// Policy (owner): replaces the policy in effect. A switch to Automatic
// while a failure awaits approval queues the rollback.
//
// Device reports describe what a device physically did. They must be
// consistent with the device's own history (you cannot complete a
// cutover you did not begin, nor roll back a release you do not run);
// otherwise they are refused. A consistent report is never refused
// because of the scope's state, since refusing it would make the state
// lie about what runs; when it breaks a scope rule, or a concurrent
// failure, cancellation or retarget came first in the order, it is
// Noted, and a device left on a release the scope does not accept must
// roll back (Status.Devices[i].MustRollBack).
//
// Decisions are refused when their preconditions fail: a device's
// cutover needs its own staging of the release, every participant's
// approval (managed quorum) and, for a hard fork in a scope that owns an
// epoch fence, the fence reached by the event's epoch; the owner's
// cancel, rollback order or approval, and fence need the state they act
// on. See the case comments for the details.
func (st *scopeState) step(e *Event) Result {
	if e.Kind == facts.KindActivationPolicyPublished {
		p := *e.Policy
		st.policy = &p
		if t := st.target; t != nil && t.rollback == RollbackAwaitingApproval && p.Rollback == Automatic {
			t.rollback = RollbackOrdered // the queued rollback starts now
		}
		return applied()
	}
	u := e.Upgrade
	switch e.Kind {
	case facts.KindScopeEntered:
		return st.entered(e)
	case facts.KindUpgradeStaged:
		return st.staged(e)
	case facts.KindTransitionChanged:
		if u.Device == "" {
			return st.order(e)
		}
		if u.Transition == CuttingOver {
			return st.cutoverBegun(e)
		}
		return st.rollbackBegun(e)
	case facts.KindCutoverApproved:
		return st.approved(e)
	case facts.KindCutoverCompleted:
		return st.cutoverCompleted(e)
	case facts.KindHealthGateResult:
		return st.gateResult(e)
	case facts.KindRollbackExecuted:
		return st.rolledBack(e, "")
	case facts.KindResidencyChanged:
		return st.residencyReported(e)
	case facts.KindPartitionObserved:
		return st.partitionObserved(e)
	}
	return refused("%v is not reduced", e.Kind)
}

func (st *scopeState) device(e *Event) (*device, bool) {
	d, ok := st.devices[deviceKey{e.Author, e.Upgrade.Device}]
	return d, ok
}

func (st *scopeState) deviceOrNew(e *Event) *device {
	k := deviceKey{e.Author, e.Upgrade.Device}
	d, ok := st.devices[k]
	if !ok {
		d = &device{key: k, staged: map[release.ID]staging{}, gates: map[string]gateResult{}}
		st.devices[k] = d
	}
	return d
}

// entered: a device joins the scope, running e.Release (zero: an
// unreleased build). Entering again changes nothing once the device's
// running release is known: a device corrects it with ResidencyChanged.
func (st *scopeState) entered(e *Event) Result {
	d, known := st.device(e)
	if !known {
		d = st.deviceOrNew(e)
	}
	// Only a device whose running release is still unknown (first seen by
	// a staging) learns it from an entry.
	if d.running == (ReleaseRef{}) && d.cutTo.IsZero() && d.op == opNone {
		d.running = ReleaseRef{ID: e.Release, Version: e.Upgrade.Version}
	}
	return applied()
}

// staged: the device staged a release (its launcher holds the verified
// artifacts). The staging is always recorded on the device. It makes the
// release the scope's target when no target is in progress:
//
//  1. A release the scope cancelled, or that failed or was revoked in
//     it, never becomes the target again (publish a fixed release).
//  2. With no target, or a target that completed, was cancelled, or
//     failed and finished rolling back, the release becomes the target.
//  3. The current target is staged by one more device.
//  4. A release with a higher version than an active, unfailed target
//     replaces it, so a partial rollout or a device that never comes back
//     cannot block every later release; devices on the replaced target
//     stay accepted (they are legacy for the new one).
//  5. Otherwise another target is in progress, or the scope is failed:
//     the staging is noted and does not count.
func (st *scopeState) staged(e *Event) Result {
	u := e.Upgrade
	d := st.deviceOrNew(e)
	s := staging{version: u.Version, class: release.CompatibilityClass(u.Class), gates: slices.Clone(u.Gates)}
	if old, ok := d.staged[e.Release]; !ok || !slices.Equal(old.gates, s.gates) || old.version != s.version || old.class != s.class {
		d.staged[e.Release] = s
	}
	R := e.Release
	if b, ok := st.blocked[R]; ok { // 1.
		return noted("%s %s in this scope; it will not become the target", R.Short(), b.reason)
	}
	t := st.target
	switch {
	case t != nil && t.ref.ID == R && t.cancelled == "": // 3.
		if t.failure != nil {
			return noted("%s failed in this scope (%v)", R.Short(), t.failure.Class)
		}
		var note []string
		if t.ref.Version != s.version {
			note = append(note, fmt.Sprintf("version %s, the scope's target says %s", s.version, t.ref.Version))
		}
		if t.ref.Class != s.class {
			note = append(note, fmt.Sprintf("class %v, the scope's target says %v", s.class, t.ref.Class))
		}
		if len(note) > 0 {
			return noted("staged %s with %s", R.Short(), strings.Join(note, " and "))
		}
		return applied()
	case st.targetReplaceable(), st.newerThanTarget(s.version): // 2, 4.
		if t != nil {
			st.history = append(st.history, t)
		}
		st.target = &targetState{ref: ReleaseRef{ID: R, Version: s.version, Class: s.class}}
		return applied()
	}
	// 5.
	if t.failure != nil {
		return noted("the scope is failed on %s (%v, rollback %v); %s does not become the target", t.ref.ID.Short(), t.failure.Class, t.rollback, R.Short())
	}
	return noted("the scope is moving to %s (%s); %s can become the target after it completes, is cancelled or rolls back", t.ref.ID.Short(), t.ref.Version, R.Short())
}

// targetReplaceable: no target, or one that completed, was cancelled, or
// failed and has no device left on it with the rollback done.
func (st *scopeState) targetReplaceable() bool {
	t := st.target
	switch {
	case t == nil, t.cancelled != "":
		return true
	case t.failure != nil:
		return t.rollback == RollbackOrdered && !st.rollbackPending(t.ref.ID)
	}
	return st.complete()
}

// newerThanTarget: the target is active and unfailed, and version is
// higher than its version (staged versions are valid SemVer).
func (st *scopeState) newerThanTarget(version string) bool {
	t := st.target
	if t == nil || t.cancelled != "" || t.failure != nil {
		return false
	}
	v, err1 := release.ParseVersion(version)
	tv, err2 := release.ParseVersion(t.ref.Version)
	return err1 == nil && err2 == nil && v.Compare(tv) > 0
}

// cutoverBegun: the device begins cutting over to e.Release. Refused
// unless the device staged the release, is not busy and does not run it
// already; refused while approvals are missing (managed quorum) or a
// hard fork's epoch fence is not reached (scope owning a fence). A
// cutover to a release that is not the active target (a concurrent
// failure, cancellation or retarget came first) is noted: the device
// will have to roll back. For a release the scope blocked (cancelled,
// failed, revoked) approvals and fence are not asked: approvals ordered
// after the block are refused, and a device that saw them but not the
// block did cut over; refusing its cutover would make the state lie
// about what it runs.
func (st *scopeState) cutoverBegun(e *Event) Result {
	R := e.Release
	d, ok := st.device(e)
	if !ok {
		return refused("device %s has not staged %s", e.Upgrade.Device, R.Short())
	}
	s, ok := d.staged[R]
	if !ok {
		return refused("device %s has not staged %s", d.key.name, R.Short())
	}
	if d.op != opNone {
		return refused("device %s is already %s %s", d.key.name, d.opName(), d.opRelease.Short())
	}
	if d.running.ID == R {
		return refused("device %s already runs %s", d.key.name, R.Short())
	}
	if _, blocked := st.blocked[R]; !blocked {
		if missing := st.missingApprovals(R); len(missing) > 0 {
			return refused("cutover to %s needs the approval of every participant; missing %s", R.Short(), authorityList(missing))
		}
		if err := st.fenceReached(R, st.classOf(R, s), e.Epoch); err != "" {
			return refused("%s", err)
		}
	}
	d.op, d.opRelease, d.inFlight = opCuttingOver, R, e.Upgrade.InFlight
	if t := st.target; t == nil || t.ref.ID != R || t.cancelled != "" || t.failure != nil {
		return noted("device %s began a cutover to %s, which is not the scope's active target: it must roll back", d.key.name, R.Short())
	}
	return applied()
}

// classOf is R's compatibility class: the scope's, from the staging that
// made R the target, when R is the target; else what the device staged.
func (st *scopeState) classOf(R release.ID, s staging) release.CompatibilityClass {
	if t := st.target; t != nil && t.ref.ID == R {
		return t.ref.Class
	}
	return s.class
}

// missingApprovals: the participants of a managed quorum that have not
// approved R (nil for other scopes).
func (st *scopeState) missingApprovals(R release.ID) []facts.AuthorityID {
	if st.scope.Kind != ManagedQuorum {
		return nil
	}
	var missing []facts.AuthorityID
	for _, p := range st.scope.Participants {
		if _, ok := st.approvals[R][p]; !ok {
			missing = append(missing, p)
		}
	}
	return missing
}

// fenceReached: a hard fork in a scope whose policy owns an epoch fence
// cuts over only at or after the fence epoch the owner set. "" when the
// cutover may proceed.
func (st *scopeState) fenceReached(R release.ID, class release.CompatibilityClass, epoch uint64) string {
	if st.policy == nil || !st.policy.EpochFence || !class.HardFork() {
		return ""
	}
	fence, ok := st.fences[R]
	if !ok {
		return fmt.Sprintf("hard fork %s in a scope that owns an epoch fence: the owner has not set the fence", R.Short())
	}
	if epoch < fence {
		return fmt.Sprintf("hard fork %s cuts over from epoch %d; the event is at epoch %d", R.Short(), fence, epoch)
	}
	return ""
}

// cutoverCompleted: the launcher's result. OK: the device runs the
// release and starts its health gates. Failed (LauncherActivationFailed):
// the launcher restored the legacy release; the scope's target fails.
func (st *scopeState) cutoverCompleted(e *Event) Result {
	R := e.Release
	d, ok := st.device(e)
	if !ok || d.op != opCuttingOver || d.opRelease != R {
		return refused("device %s is not cutting over to %s", e.Upgrade.Device, R.Short())
	}
	d.op = opNone
	if !e.Upgrade.OK {
		return st.fail(e, d, LauncherActivationFailed, detailOr(e.Upgrade.Detail, "launcher activation failed"))
	}
	s := d.staged[R]
	d.prev, d.prevCutTo = d.running, d.cutTo
	d.running = ReleaseRef{ID: R, Version: s.version, Class: s.class}
	d.cutTo = R
	d.gates = map[string]gateResult{}
	d.partition = 0
	return st.unlessAccepted(d, "completed a cutover")
}

// unlessAccepted notes a device that now runs a release the scope does
// not accept.
func (st *scopeState) unlessAccepted(d *device, what string) Result {
	if st.mustRollBack(d) {
		return noted("device %s %s to %s, which the scope does not accept: it must roll back", d.key.name, what, d.running.ID.Short())
	}
	return applied()
}

// gateResult: a health gate's result on the release the device runs. The
// gate must be one the device declared when it staged the release. A
// failed gate fails the scope's target (HealthGateFailed).
func (st *scopeState) gateResult(e *Event) Result {
	R, u := e.Release, e.Upgrade
	d, ok := st.device(e)
	if !ok || d.running.ID != R || d.op != opNone {
		return refused("device %s does not run %s (or is still switching): no gate result", u.Device, R.Short())
	}
	if !slices.Contains(d.staged[R].gates, u.Gate) {
		declared := strings.Join(d.staged[R].gates, ", ")
		return refused("gate %s was not declared when device %s staged %s (declared: %s)", u.Gate, d.key.name, R.Short(), detailOr(declared, "none"))
	}
	d.gates[u.Gate] = gateResult{ok: u.OK, detail: u.Detail}
	if !u.OK {
		return st.fail(e, d, HealthGateFailed, fmt.Sprintf("gate %s on device %s: %s", u.Gate, d.key.name, detailOr(u.Detail, "failed")))
	}
	return applied()
}

// rollbackBegun: the device begins rolling back the release it runs.
func (st *scopeState) rollbackBegun(e *Event) Result {
	R := e.Release
	d, ok := st.device(e)
	if !ok || d.running.ID != R || d.cutTo != R || d.op != opNone {
		return refused("device %s does not run %s by a cutover (or is busy): nothing to roll back", e.Upgrade.Device, R.Short())
	}
	d.op, d.opRelease = opRollingBack, R
	if !st.mustRollBack(d) {
		return noted("device %s rolls back %s without a scope order", d.key.name, R.Short())
	}
	return applied()
}

// rolledBack: the device runs what it ran before its cutover to R again.
// The launcher rolls a device back on its own when the device's gates
// fail, so a rollback without a begin is accepted, and one by a device
// that itself failed on R is expected whatever the rollback preference
// (the preference governs the scope's other devices).
func (st *scopeState) rolledBack(e *Event, via string) Result {
	R := e.Release
	d, ok := st.device(e)
	if !ok || d.running.ID != R || d.cutTo != R || (d.op != opNone && !(d.op == opRollingBack && d.opRelease == R)) {
		return refused("device %s does not run %s by a cutover: nothing was rolled back", e.Upgrade.Device, R.Short())
	}
	ordered := st.mustRollBack(d) || (d.failure != nil && d.failure.Release == R)
	d.op = opNone
	d.running, d.cutTo = d.prev, d.prevCutTo
	d.prev, d.prevCutTo = ReleaseRef{}, release.ID{}
	d.gates = map[string]gateResult{}
	d.partition = 0
	if !ordered {
		return noted("device %s rolled back %s%s without a scope order", d.key.name, R.Short(), via)
	}
	return applied()
}

// residencyReported: after a crash the launcher tells what really runs.
// LegacyOnly: an interrupted cutover left the legacy release (the device
// may retry), or the device fell back (like a rollback). TargetOnly: an
// interrupted cutover completed, or an interrupted rollback kept the
// release. Anything else contradicts the device's history.
func (st *scopeState) residencyReported(e *Event) Result {
	R := e.Release
	d, ok := st.device(e)
	if !ok {
		return refused("device %s is not known in this scope", e.Upgrade.Device)
	}
	switch e.Upgrade.Residency {
	case LegacyOnly:
		switch {
		case d.op == opCuttingOver && d.opRelease == R:
			d.op = opNone
			return applied()
		case d.running.ID == R && d.cutTo == R:
			return st.rolledBack(e, " (reported by the launcher)")
		case d.running.ID != R && d.op == opNone:
			return applied() // already so
		}
	case TargetOnly:
		switch {
		case d.op == opCuttingOver && d.opRelease == R:
			d.op = opNone
			s := d.staged[R]
			d.prev, d.prevCutTo = d.running, d.cutTo
			d.running, d.cutTo = ReleaseRef{ID: R, Version: s.version, Class: s.class}, R
			d.gates = map[string]gateResult{}
			d.partition = 0
			return st.unlessAccepted(d, "completed a cutover (reported by the launcher)")
		case d.op == opRollingBack && d.opRelease == R:
			d.op = opNone
			return st.unlessAccepted(d, "kept")
		case d.running.ID == R && d.op == opNone:
			return applied() // already so
		}
	}
	return refused("device %s reports %v for %s, which contradicts its history (runs %s, %s)", d.key.name, e.Upgrade.Residency, R.Short(), d.running.ID.Short(), d.doing())
}

// partitionObserved: incompatible peers separated from a device on R.
// Expected when R's class is IncompatibleWithoutPartition (the plan said
// partition_required); otherwise the target fails with PartitionRequired.
func (st *scopeState) partitionObserved(e *Event) Result {
	R := e.Release
	d, ok := st.device(e)
	if !ok || (d.running.ID != R && !(d.op == opCuttingOver && d.opRelease == R)) {
		return refused("device %s is not on %s: it cannot observe a partition caused by it", e.Upgrade.Device, R.Short())
	}
	d.partition++
	if st.classOf(R, d.staged[R]) == release.IncompatibleWithoutPartition {
		return applied()
	}
	return st.fail(e, d, PartitionRequired, fmt.Sprintf("device %s: %s", d.key.name, detailOr(e.Upgrade.Detail, "incompatible peers separated")))
}

// approved: a participant approves the cutover to R; the owner may carry
// the epoch fence. A fence is honoured only when the policy in effect
// owns one, and is set once per release. An approval (or fence) of a
// release the scope cancelled, or that failed or was revoked in it, is
// refused: the release never becomes the target again, so it could have
// no effect.
func (st *scopeState) approved(e *Event) Result {
	R, u := e.Release, e.Upgrade
	if b, ok := st.blocked[R]; ok {
		return refused("%s %s in this scope: it never becomes the target again, so approving its cutover has no effect", R.Short(), b.reason)
	}
	if u.FenceEpoch != 0 {
		if st.policy == nil || !st.policy.EpochFence {
			return refused("%s does not own an epoch fence (its policy says so): the fence is not honoured", st.scope.Short())
		}
		if f, ok := st.fences[R]; ok && f != u.FenceEpoch {
			return refused("the epoch fence of %s is already epoch %d", R.Short(), f)
		}
		st.fences[R] = u.FenceEpoch
	}
	if st.scope.HasParticipant(e.Author) {
		if st.approvals[R] == nil {
			st.approvals[R] = map[facts.AuthorityID]struct{}{}
		}
		st.approvals[R][e.Author] = struct{}{}
	}
	return applied()
}

// order: the owner's orders (and revocation reports).
//
//   - Idle cancels the target: only while no device runs it or is
//     cutting over to it, and it has not failed. The release never
//     becomes the target again.
//   - RollingBack with ReleaseRevoked: the release is never a target
//     again; if it is the target and only staged, the target is
//     cancelled; if a device runs it, the target fails and the rollback
//     preference applies.
//   - RollingBack with ManualRollbackRequested: the target fails and the
//     rollback is ordered at once (the request is its own approval).
//   - RollingBack alone approves the rollback of a failure that awaits
//     approval.
func (st *scopeState) order(e *Event) Result {
	R, u, t := e.Release, e.Upgrade, st.target
	isTarget := t != nil && t.ref.ID == R && t.cancelled == ""
	switch {
	case u.Transition == Idle:
		switch {
		case !isTarget:
			return refused("%s is not the scope's active target: nothing to cancel", R.Short())
		case t.failure != nil:
			return refused("%s already failed (%v): approve its rollback instead of cancelling", R.Short(), t.failure.Class)
		case st.anyTouching(R):
			return refused("devices run %s or are cutting over to it: roll back instead of cancelling", R.Short())
		}
		t.cancelled = detailOr(u.Detail, "cancelled by the owner")
		st.blocked[R] = blockInfo{reason: "was cancelled"}
		return applied()

	case u.Failure == ReleaseRevoked:
		why := detailOr(u.Detail, "no reason given")
		st.blocked[R] = blockInfo{class: ReleaseRevoked, reason: "was revoked (" + why + ")"}
		switch {
		case !isTarget:
			return applied()
		case !st.anyTouching(R) && t.failure == nil:
			t.cancelled = "revoked while staged: " + why
			return applied()
		}
		return st.fail(e, nil, ReleaseRevoked, why)

	case u.Failure == ManualRollbackRequested:
		if !isTarget || !st.rollbackPending(R) {
			return refused("no device runs %s as the scope's target by a cutover: nothing to roll back (cancel a staged target instead)", R.Short())
		}
		if t.failure == nil {
			t.failure = &Failure{Class: ManualRollbackRequested, Detail: detailOr(u.Detail, "rollback requested by the owner"), Release: R, By: refOf(e)}
			st.blocked[R] = blockInfo{class: ManualRollbackRequested, reason: "was rolled back on request"}
		}
		t.rollback = RollbackOrdered
		return applied()
	}
	// Rollback approval.
	if !isTarget || t.rollback != RollbackAwaitingApproval {
		return refused("%s is not awaiting rollback approval in this scope", R.Short())
	}
	t.rollback = RollbackOrdered
	return applied()
}

// fail records a failure reported against R (by device d, or by an
// order when d is nil). The first failure of the active target fails the
// scope: Automatic (or no policy yet) orders the rollback at once,
// ManualApproval waits for the owner. A failure of anything else stays on
// the device and is noted.
func (st *scopeState) fail(e *Event, d *device, class FailureClass, detail string) Result {
	R := e.Release
	f := &Failure{Class: class, Detail: failureDetail(class, detail), Release: R, By: refOf(e)}
	if d != nil {
		d.failure = f
	}
	t := st.target
	if t == nil || t.ref.ID != R || t.cancelled != "" {
		return noted("%v for %s, which is not the scope's active target: recorded on the device", class, R.Short())
	}
	if t.failure != nil {
		return noted("%v for %s after the scope already failed (%v): recorded on the device", class, R.Short(), t.failure.Class)
	}
	t.failure = f
	if _, ok := st.blocked[R]; !ok {
		st.blocked[R] = blockInfo{class: class, reason: fmt.Sprintf("failed (%v)", class)}
	}
	if st.preference() == Automatic {
		t.rollback = RollbackOrdered
	} else {
		t.rollback = RollbackAwaitingApproval
	}
	return applied()
}

// failureDetail is a failure's detail without a leading "CLASS:": the
// class is the failure's own field, and reports that carry it in their
// detail too (a launcher result recorded as "LauncherActivationFailed:
// release ... did not start") would show it twice.
func failureDetail(class FailureClass, detail string) string {
	if rest, ok := strings.CutPrefix(detail, class.String()+":"); ok && strings.TrimSpace(rest) != "" {
		return strings.TrimSpace(rest)
	}
	return detail
}

// preference is the rollback preference in effect: the policy's, or
// Automatic before any policy is published.
func (st *scopeState) preference() RollbackPreference {
	if st.policy == nil {
		return Automatic
	}
	return st.policy.Rollback
}

// anyTouching: a device runs R or is switching to or from it.
func (st *scopeState) anyTouching(R release.ID) bool {
	for _, d := range st.devices {
		if d.running.ID == R || (d.op != opNone && d.opRelease == R) {
			return true
		}
	}
	return false
}

// rollbackPending: a device runs R by a cutover, or is switching to or
// from it, so a rollback of R has something left to do. A device that
// entered the scope already running R has no previous release to return
// to and does not hold the rollback up.
func (st *scopeState) rollbackPending(R release.ID) bool {
	for _, d := range st.devices {
		if (d.cutTo == R && d.running.ID == R) || (d.op != opNone && d.opRelease == R) {
			return true
		}
	}
	return false
}

// accepted reports whether the scope accepts devices running R reached by
// a cutover: the target while it is active or awaits a rollback
// approval, or a target that completed before.
func (st *scopeState) accepted(R release.ID) bool {
	if t := st.target; t != nil && t.ref.ID == R && t.cancelled == "" && t.rollback != RollbackOrdered {
		return true
	}
	for _, h := range st.history {
		if h.ref.ID == R && h.cancelled == "" && h.failure == nil {
			return true
		}
	}
	return false
}

// mustRollBack: the device runs, by a cutover, a release the scope no
// longer accepts (an ordered rollback, or a stray cutover).
func (st *scopeState) mustRollBack(d *device) bool {
	return !d.cutTo.IsZero() && d.running.ID == d.cutTo && !st.accepted(d.cutTo)
}

func (st *scopeState) onTarget(d *device) bool {
	return st.target != nil && d.running.ID == st.target.ref.ID
}

// gatesPassed: every gate the device declared for the release it runs
// has passed.
func (d *device) gatesPassed() bool {
	for _, g := range d.staged[d.running.ID].gates {
		if r, ok := d.gates[g]; !ok || !r.ok {
			return false
		}
	}
	return true
}

func (d *device) gateFailed() bool {
	for _, r := range d.gates {
		if !r.ok {
			return true
		}
	}
	return false
}

// healthy: on the target, idle, every declared gate passed.
func (st *scopeState) healthy(d *device) bool {
	return st.onTarget(d) && d.op == opNone && d.gatesPassed()
}

// complete: the active target runs healthy on every device of the scope.
func (st *scopeState) complete() bool {
	t := st.target
	if t == nil || t.cancelled != "" || t.failure != nil || len(st.devices) == 0 {
		return false
	}
	for _, d := range st.devices {
		if !st.healthy(d) {
			return false
		}
	}
	return true
}

// residency: no device on the target is LegacyOnly, all is TargetOnly,
// some is Coexisting.
func (st *scopeState) residency() Residency {
	n := 0
	for _, d := range st.devices {
		if st.onTarget(d) {
			n++
		}
	}
	switch {
	case n == 0:
		return LegacyOnly
	case n == len(st.devices):
		return TargetOnly
	}
	return Coexisting
}

// transition, by rules applied in order:
//
//  1. No target: Idle.
//  2. A device is rolling back, or must roll back: RollingBack.
//  3. A device is cutting over, or runs the target with gates still
//     pending: CuttingOver.
//  4. The target is active (not cancelled, not failed) and not complete:
//     AwaitingCutover.
//  5. Otherwise Idle (complete, cancelled, rolled back, or failed and
//     awaiting rollback approval).
func (st *scopeState) transition() Transition {
	if st.target == nil {
		return Idle
	}
	cutting := false
	for _, d := range st.devices {
		if d.op == opRollingBack || st.mustRollBack(d) {
			return RollingBack
		}
		if d.op == opCuttingOver || (st.onTarget(d) && d.op == opNone && !d.gatesPassed() && !d.gateFailed()) {
			cutting = true
		}
	}
	if cutting {
		return CuttingOver
	}
	if t := st.target; t.cancelled == "" && t.failure == nil && !st.complete() {
		return AwaitingCutover
	}
	return Idle
}

func (d *device) opName() string {
	switch d.op {
	case opCuttingOver:
		return "cutting over to"
	case opRollingBack:
		return "rolling back"
	}
	return "idle on"
}

func (d *device) doing() string {
	if d.op == opNone {
		return "idle"
	}
	return d.opName() + " " + d.opRelease.Short()
}

func detailOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
