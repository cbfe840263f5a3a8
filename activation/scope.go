package activation

import (
	"bytes"
	"slices"

	"github.com/aura-node/aura-node/facts"
)

// The wire types live in facts (payloads cannot import this package);
// these aliases give them their activation names.
type (
	// Scope is an activation scope: device-local, authority-local,
	// relational context or managed quorum. Scope.Key is its canonical
	// text, facts.ParseScope reads it back.
	Scope = facts.Scope
	// ScopeKind says what a scope covers.
	ScopeKind = facts.ScopeKind
	// Residency says which releases run in a scope.
	Residency = facts.Residency
	// Transition says what a scope is doing.
	Transition = facts.Transition
	// FailureClass classifies an upgrade failure.
	FailureClass = facts.FailureClass
	// InFlightAction is what happens to in-flight incompatible sessions
	// at cutover.
	InFlightAction = facts.InFlightAction
)

// Scope kinds.
const (
	DeviceLocal    = facts.ScopeDevice
	AuthorityLocal = facts.ScopeAuthority
	Context        = facts.ScopeContext
	ManagedQuorum  = facts.ScopeManagedQuorum
)

// Residencies.
const (
	LegacyOnly = facts.ResidencyLegacyOnly
	Coexisting = facts.ResidencyCoexisting
	TargetOnly = facts.ResidencyTargetOnly
)

// Transitions.
const (
	Idle            = facts.TransitionIdle
	AwaitingCutover = facts.TransitionAwaitingCutover
	CuttingOver     = facts.TransitionCuttingOver
	RollingBack     = facts.TransitionRollingBack
)

// Failure classes.
const (
	HealthGateFailed         = facts.FailureHealthGateFailed
	LauncherActivationFailed = facts.FailureLauncherActivationFailed
	ReleaseRevoked           = facts.FailureReleaseRevoked
	PartitionRequired        = facts.FailurePartitionRequired
	ManualRollbackRequested  = facts.FailureManualRollbackRequested
)

// In-flight dispositions.
const (
	Drain    = facts.InFlightDrain
	Abort    = facts.InFlightAbort
	Delegate = facts.InFlightDelegate
)

// DeviceScope returns the device-local scope of a device (its peer ID)
// owned by the device's authority.
func DeviceScope(owner facts.AuthorityID, device string) Scope {
	return Scope{Kind: DeviceLocal, Owner: owner, ID: device}
}

// AuthorityScope returns the scope of every device of an authority.
func AuthorityScope(owner facts.AuthorityID) Scope {
	return Scope{Kind: AuthorityLocal, Owner: owner}
}

// ContextScope returns a relational context scope governed by owner.
func ContextScope(owner facts.AuthorityID, context string) Scope {
	return Scope{Kind: Context, Owner: owner, ID: context}
}

// QuorumScope returns a managed quorum: a context with an explicit
// participant set (sorted and deduplicated here).
func QuorumScope(owner facts.AuthorityID, context string, participants ...facts.AuthorityID) Scope {
	ps := slices.Clone(participants)
	slices.SortFunc(ps, compareAuthorities)
	return Scope{Kind: ManagedQuorum, Owner: owner, ID: context, Participants: slices.Compact(ps)}
}

func compareAuthorities(a, b facts.AuthorityID) int { return bytes.Compare(a[:], b[:]) }
