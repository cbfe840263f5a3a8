package activation

import (
	"slices"

	"github.com/aura-node/aura-node/release"
)

// SessionPlan says how a device's sessions cross its cutover. The node
// follows it: after the switch it refuses new incompatible sessions when
// RefuseIncompatibleNew, handles in-flight ones with InFlight (the first
// disposition that works, in order), and, when PartitionRequired, expects
// incompatible peers to separate and records PartitionObserved.
type SessionPlan struct {
	Class release.CompatibilityClass
	// CoexistenceAllowed: old and new releases interoperate, so the scope
	// may stay Coexisting for as long as its rollout takes.
	CoexistenceAllowed bool
	// RefuseIncompatibleNew: after the local cutover, new sessions with
	// peers on the legacy protocol version are refused.
	RefuseIncompatibleNew bool
	// InFlight lists the dispositions of in-flight sessions: the first
	// is tried, each next one is the fallback when the one before cannot
	// be done (no legacy peer to delegate to, a drain that times out).
	InFlight []InFlightAction
	// PartitionRequired: incompatible peers are expected to separate
	// cleanly rather than interoperate.
	PartitionRequired bool
	// Gates are the release's health gates (from its activation profile).
	Gates []string
	// Notes explain choices the plan made against the preference.
	Notes []string
}

// PlanCutover is the session plan for a release of class class with the
// given activation profile, when the scope prefers the in-flight
// disposition prefer (zero: no preference). The rules:
//
//  1. BackwardCompatible and MixedCoexistenceAllowed are soft forks: no
//     session is incompatible, coexistence is allowed, nothing is
//     refused, and in-flight sessions drain across the restart (abort
//     when the drain times out), whatever the preference.
//  2. ScopedHardFork refuses incompatible new sessions after cutover and
//     handles in-flight ones by the preference with its fallbacks:
//     delegate, then drain, then abort; drain, then abort; abort. No
//     preference means drain, then abort.
//  3. IncompatibleWithoutPartition does the same and requires a
//     partition; delegation needs a compatible legacy peer across the
//     partition, which it cannot assume, so a delegate preference
//     becomes drain, then abort (noted).
//
// An unknown class is treated as the strictest (rule 3): a plan must
// never assume compatibility it was not promised.
func PlanCutover(class release.CompatibilityClass, profile release.ActivationProfile, prefer InFlightAction) SessionPlan {
	p := SessionPlan{Class: class, Gates: slices.Clone(profile.HealthGates)}
	switch class {
	case release.BackwardCompatible, release.MixedCoexistenceAllowed:
		p.CoexistenceAllowed = true
		p.InFlight = []InFlightAction{Drain, Abort}
		return p
	case release.ScopedHardFork:
		p.RefuseIncompatibleNew = true
		p.InFlight = fallbacks(prefer)
		return p
	}
	p.RefuseIncompatibleNew = true
	p.PartitionRequired = true
	if prefer == Delegate {
		prefer = Drain
		p.Notes = append(p.Notes, "delegation needs a compatible peer across the partition: draining instead")
	}
	p.InFlight = fallbacks(prefer)
	return p
}

func fallbacks(prefer InFlightAction) []InFlightAction {
	switch prefer {
	case Delegate:
		return []InFlightAction{Delegate, Drain, Abort}
	case Abort:
		return []InFlightAction{Abort}
	}
	return []InFlightAction{Drain, Abort}
}
