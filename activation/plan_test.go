package activation_test

import (
	"slices"
	"testing"

	"github.com/aura-node/aura-node/activation"
	"github.com/aura-node/aura-node/release"
)

func TestPlanCutover(t *testing.T) {
	profile := release.ActivationProfile{HealthGates: []string{"healthz"}}
	D, A, G := activation.Drain, activation.Abort, activation.Delegate
	for _, tc := range []struct {
		class               release.CompatibilityClass
		prefer              activation.InFlightAction
		coexist, refuse, pr bool
		inFlight            []activation.InFlightAction
		noted               bool
	}{
		{release.BackwardCompatible, G, true, false, false, []activation.InFlightAction{D, A}, false},
		{release.MixedCoexistenceAllowed, A, true, false, false, []activation.InFlightAction{D, A}, false},
		{release.ScopedHardFork, G, false, true, false, []activation.InFlightAction{G, D, A}, false},
		{release.ScopedHardFork, D, false, true, false, []activation.InFlightAction{D, A}, false},
		{release.ScopedHardFork, A, false, true, false, []activation.InFlightAction{A}, false},
		{release.ScopedHardFork, 0, false, true, false, []activation.InFlightAction{D, A}, false},
		{release.IncompatibleWithoutPartition, G, false, true, true, []activation.InFlightAction{D, A}, true},
		{release.IncompatibleWithoutPartition, A, false, true, true, []activation.InFlightAction{A}, false},
		{release.CompatibilityClass(9), D, false, true, true, []activation.InFlightAction{D, A}, false},
	} {
		p := activation.PlanCutover(tc.class, profile, tc.prefer)
		if p.Class != tc.class || p.CoexistenceAllowed != tc.coexist || p.RefuseIncompatibleNew != tc.refuse ||
			p.PartitionRequired != tc.pr || !slices.Equal(p.InFlight, tc.inFlight) || (len(p.Notes) > 0) != tc.noted {
			t.Errorf("%v prefer %v: %+v", tc.class, tc.prefer, p)
		}
		if !slices.Equal(p.Gates, profile.HealthGates) {
			t.Errorf("%v: gates %v", tc.class, p.Gates)
		}
	}
	// The guide's managed quorum cutover: partition_required or delegate.
	for _, c := range []release.CompatibilityClass{release.ScopedHardFork, release.IncompatibleWithoutPartition} {
		p := activation.PlanCutover(c, profile, activation.Delegate)
		if !p.PartitionRequired && p.InFlight[0] != activation.Delegate {
			t.Errorf("%v: %+v", c, p)
		}
	}
}
