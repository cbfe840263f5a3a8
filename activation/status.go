package activation

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/release"
)

// TargetState says where a scope's target stands.
type TargetState uint8

// Target states.
const (
	// TargetActive: devices are moving to the target.
	TargetActive TargetState = iota + 1
	// TargetComplete: every device of the scope runs it, gates passed.
	TargetComplete
	// TargetCancelled: cancelled by the owner or revoked while staged.
	TargetCancelled
	// TargetFailed: failed; awaiting rollback approval, or rolling back.
	TargetFailed
	// TargetRolledBack: failed, and no device runs it any more.
	TargetRolledBack
)

var targetStateNames = []string{"", "active", "complete", "cancelled", "failed", "rolled-back"}

// String returns the state's name.
func (s TargetState) String() string {
	if s > 0 && int(s) < len(targetStateNames) {
		return targetStateNames[s]
	}
	return fmt.Sprintf("TargetState(%d)", uint8(s))
}

// Status is the state of one scope, reduced from its events. It is a
// snapshot: changing it changes nothing in the Reducer.
type Status struct {
	Scope Scope
	// Policy is the policy in effect (the last published), or nil.
	Policy     *Policy
	Residency  Residency
	Transition Transition
	// Target is the release the scope moves to or last moved to; nil
	// before any staging.
	Target *TargetStatus
	// History holds the earlier targets, oldest first.
	History []TargetStatus
	// Devices are the scope's devices, sorted by authority then device.
	Devices []DeviceStatus
	// Ready counts devices that staged or run the target; Total counts
	// all devices of the scope.
	Ready, Total int
	// Refused lists the events the reduction refused, in order, with
	// the reason; Notes lists the events it applied with a note.
	Refused, Notes []Refusal

	approvals map[release.ID][]facts.AuthorityID
	fences    map[release.ID]uint64
	blocked   map[release.ID]string
}

// TargetStatus is one target of a scope.
type TargetStatus struct {
	Release ReleaseRef
	State   TargetState
	// Cancelled says why the target was cancelled.
	Cancelled string
	// Failure is the target's failure (the first reported), or nil.
	Failure  *Failure
	Rollback RollbackState
	// Approved and Missing are the participants of a managed quorum that
	// have and have not approved the cutover, sorted.
	Approved, Missing []facts.AuthorityID
	// Fence is the epoch fence set for the release, or nil.
	Fence *uint64
}

// GateState is the state of one health gate on a device.
type GateState uint8

// Gate states.
const (
	GatePending GateState = iota + 1
	GatePassed
	GateFailed
)

var gateStateNames = []string{"", "pending", "passed", "failed"}

// String returns "pending", "passed" or "failed".
func (g GateState) String() string {
	if g > 0 && int(g) < len(gateStateNames) {
		return gateStateNames[g]
	}
	return fmt.Sprintf("GateState(%d)", uint8(g))
}

// GateStatus is a gate the device declared for the release it runs.
type GateStatus struct {
	Name   string
	State  GateState
	Detail string
}

// DeviceStatus is one device of a scope.
type DeviceStatus struct {
	Authority facts.AuthorityID
	Device    string
	// Running is what the device runs (zero ID: an unreleased build or
	// not reported); Previous is what it ran before its last cutover,
	// which a rollback restores.
	Running, Previous ReleaseRef
	// Doing is Idle, CuttingOver or RollingBack, with the release.
	Doing        Transition
	DoingRelease release.ID
	// InFlight is the in-flight disposition of the current cutover.
	InFlight InFlightAction
	// Staged lists the releases the device staged, sorted.
	Staged []release.ID
	// StagedTarget: the device staged the scope's target (it is ready).
	StagedTarget bool
	// OnTarget: it runs the target. Healthy: also idle and every
	// declared gate passed.
	OnTarget, Healthy bool
	// Gates are the gates declared for the running release, sorted.
	Gates []GateStatus
	// Failure is the device's last failure, or nil.
	Failure *Failure
	// Partitions counts partitions observed on the running release.
	Partitions int
	// MustRollBack: it runs, by a cutover, a release the scope no longer
	// accepts (an ordered rollback, or a cutover that lost a race).
	MustRollBack bool
}

func (st *scopeState) status() Status {
	s := Status{
		Scope:      cloneScope(st.scope),
		Residency:  st.residency(),
		Transition: st.transition(),
		Total:      len(st.devices),
		Refused:    slices.Clone(st.refused),
		Notes:      slices.Clone(st.notes),
		approvals:  map[release.ID][]facts.AuthorityID{},
		fences:     maps.Clone(st.fences),
		blocked:    map[release.ID]string{},
	}
	if st.policy != nil {
		p := clonePolicy(*st.policy)
		s.Policy = &p
	}
	for id, set := range st.approvals {
		s.approvals[id] = slices.SortedFunc(maps.Keys(set), compareAuthorities)
	}
	for id, b := range st.blocked {
		s.blocked[id] = b.reason
	}
	for _, h := range st.history {
		s.History = append(s.History, st.targetStatus(h))
	}
	if st.target != nil {
		ts := st.targetStatus(st.target)
		s.Target = &ts
	}
	for _, k := range slices.SortedFunc(maps.Keys(st.devices), compareDeviceKeys) {
		ds := st.deviceStatus(st.devices[k])
		if ds.StagedTarget || ds.OnTarget {
			s.Ready++
		}
		s.Devices = append(s.Devices, ds)
	}
	return s
}

func (st *scopeState) targetStatus(t *targetState) TargetStatus {
	ts := TargetStatus{Release: t.ref, Cancelled: t.cancelled, Rollback: t.rollback}
	if t.failure != nil {
		f := *t.failure
		ts.Failure = &f
	}
	if f, ok := st.fences[t.ref.ID]; ok {
		ts.Fence = &f
	}
	if st.scope.Kind == ManagedQuorum {
		ts.Missing = st.missingApprovals(t.ref.ID)
		for _, p := range st.scope.Participants {
			if _, ok := st.approvals[t.ref.ID][p]; ok {
				ts.Approved = append(ts.Approved, p)
			}
		}
	}
	switch {
	case t.cancelled != "":
		ts.State = TargetCancelled
	case t.failure != nil && t.rollback == RollbackOrdered && !st.rollbackPending(t.ref.ID):
		ts.State = TargetRolledBack
	case t.failure != nil:
		ts.State = TargetFailed
	case t == st.target && !st.complete():
		ts.State = TargetActive
	default:
		ts.State = TargetComplete
	}
	return ts
}

func (st *scopeState) deviceStatus(d *device) DeviceStatus {
	ds := DeviceStatus{
		Authority:    d.key.author,
		Device:       d.key.name,
		Running:      d.running,
		Previous:     d.prev,
		Doing:        Idle,
		Staged:       slices.SortedFunc(maps.Keys(d.staged), compareIDs),
		OnTarget:     st.onTarget(d),
		Healthy:      st.healthy(d),
		Partitions:   d.partition,
		MustRollBack: st.mustRollBack(d),
	}
	switch d.op {
	case opCuttingOver:
		ds.Doing, ds.DoingRelease, ds.InFlight = CuttingOver, d.opRelease, d.inFlight
	case opRollingBack:
		ds.Doing, ds.DoingRelease = RollingBack, d.opRelease
	}
	if st.target != nil {
		_, ds.StagedTarget = d.staged[st.target.ref.ID]
	}
	if d.failure != nil {
		f := *d.failure
		ds.Failure = &f
	}
	if !d.running.ID.IsZero() {
		for _, g := range d.staged[d.running.ID].gates {
			gs := GateStatus{Name: g, State: GatePending}
			if r, ok := d.gates[g]; ok {
				gs.Detail = r.detail
				gs.State = GateFailed
				if r.ok {
					gs.State = GatePassed
				}
			}
			ds.Gates = append(ds.Gates, gs)
		}
	}
	return ds
}

func compareIDs(a, b release.ID) int { return strings.Compare(string(a[:]), string(b[:])) }

func clonePolicy(p Policy) Policy {
	p.Scope = cloneScope(p.Scope)
	p.TrustedReleaseAuthorities = slices.Clone(p.TrustedReleaseAuthorities)
	p.TrustedBuilders = slices.Clone(p.TrustedBuilders)
	p.AllowedClasses = slices.Clone(p.AllowedClasses)
	p.RequiredHealthGates = slices.Clone(p.RequiredHealthGates)
	if p.Window != nil {
		w := *p.Window
		p.Window = &w
	}
	if p.Daily != nil {
		d := *p.Daily
		p.Daily = &d
	}
	return p
}

// Approvals returns the participants of a managed quorum that approved
// and that have not approved the cutover to a release (both nil for other
// scopes).
func (s *Status) Approvals(id release.ID) (approved, missing []facts.AuthorityID) {
	if s.Scope.Kind != ManagedQuorum {
		return nil, nil
	}
	have := s.approvals[id]
	for _, p := range s.Scope.Participants {
		if _, ok := slices.BinarySearchFunc(have, p, compareAuthorities); ok {
			approved = append(approved, p)
		} else {
			missing = append(missing, p)
		}
	}
	return approved, missing
}

// Threshold is how many approvals a cutover needs: every participant of
// a managed quorum, none elsewhere.
func (s *Status) Threshold() int { return len(s.Scope.Participants) }

// Fence returns the epoch fence set for a release.
func (s *Status) Fence(id release.ID) (uint64, bool) {
	f, ok := s.fences[id]
	return f, ok
}

// Blocked says whether a release was cancelled, revoked or failed in this
// scope, and so will never become its target again.
func (s *Status) Blocked(id release.ID) (string, bool) {
	r, ok := s.blocked[id]
	return r, ok
}

// Device returns the status of one device of the scope.
func (s *Status) Device(author facts.AuthorityID, device string) (DeviceStatus, bool) {
	for _, d := range s.Devices {
		if d.Authority == author && d.Device == device {
			return d, true
		}
	}
	return DeviceStatus{}, false
}

// LastFailure returns the failure of the target, else of the latest
// earlier target that failed, or nil.
func (s *Status) LastFailure() *Failure {
	if s.Target != nil && s.Target.Failure != nil {
		return s.Target.Failure
	}
	for i := len(s.History) - 1; i >= 0; i-- {
		if s.History[i].Failure != nil {
			return s.History[i].Failure
		}
	}
	return nil
}

// Summary returns one line for `upgrade status`: residency, transition,
// target and version, ready devices, approvals and the failure.
func (s *Status) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v/%v", s.Residency, s.Transition)
	if t := s.Target; t != nil {
		fmt.Fprintf(&b, " target %s %s (%v) ready %d/%d", t.Release.ID.Short(), t.Release.Version, t.State, s.Ready, s.Total)
		if s.Scope.Kind == ManagedQuorum {
			fmt.Fprintf(&b, " approvals %d/%d", len(t.Approved), s.Threshold())
			if len(t.Missing) > 0 {
				parts := make([]string, len(t.Missing))
				for i, m := range t.Missing {
					parts[i] = m.Short()
				}
				fmt.Fprintf(&b, " missing %s", strings.Join(parts, ","))
			}
		}
		if t.Failure != nil {
			fmt.Fprintf(&b, " failed %v: %s (rollback %v)", t.Failure.Class, t.Failure.Detail, t.Rollback)
		}
	}
	return b.String()
}
