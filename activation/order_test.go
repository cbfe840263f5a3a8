package activation_test

import (
	"bytes"
	"cmp"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/aura-node/aura-node/activation"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/release"
)

// randomEvents builds n valid events of one scope from a seed: policies,
// stagings, cutovers, results, gates, rollbacks, residency reports,
// partitions, approvals (with and without fences), cancellations,
// revocations and rollback orders, by owners, participants and devices,
// for three releases, with timestamps drawn from a small range so that
// many tie and are ordered by CID. Most are illegal somewhere in the
// order, which is the point.
func randomEvents(tb testing.TB, seed uint64, n int) (activation.Scope, []activation.Event) {
	tb.Helper()
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	var scope activation.Scope
	var members []string
	if rng.IntN(2) == 0 {
		scope = activation.QuorumScope(auth("o"), "core", auths("p1", "p2")...)
		members = []string{"p1", "p2"}
	} else {
		scope = activation.ContextScope(auth("o"), "ops")
		members = []string{"p1", "p2", "p3"}
	}
	releases := []release.ID{{1}, {2}, {3}}
	classes := []uint8{1, 3, 4}
	// R1 and R2 share a version, so neither replaces the other; R3 is
	// newer and replaces either while it is active.
	versions := []string{"1.0.0", "1.0.0", "1.1.0"}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	var out []activation.Event
	for len(out) < n {
		ts := facts.MakeTimestamp(uint64(1+rng.IntN(3*n/2+1)), uint16(rng.IntN(2)))
		epoch := uint64(rng.IntN(4))
		ri := rng.IntN(len(releases))
		rid := releases[ri]
		member := pick(members)
		u := &facts.UpgradeEvent{Scope: scope, ReleaseID: rid[:], Device: "d-" + member}
		author, kind := member, facts.Kind(0)
		switch rng.IntN(16) {
		case 0:
			p := activation.DefaultPolicy(scope)
			p.AllowedClasses = []release.CompatibilityClass{1, 3, 4}
			p.EpochFence = rng.IntN(2) == 0
			if rng.IntN(2) == 0 {
				p.Rollback = activation.ManualApproval
			}
			e, err := policyEvent(tb, "o", ts, p)
			if err != nil {
				tb.Fatal(err)
			}
			out = append(out, e)
			continue
		case 1:
			kind = facts.KindScopeEntered
			if rng.IntN(2) == 0 {
				u.ReleaseID = make([]byte, 32)
			}
		case 2, 3:
			kind, u.Version, u.Class = facts.KindUpgradeStaged, versions[ri], classes[ri]
			if rng.IntN(2) == 0 {
				u.Gates = []string{"readyz"}
			}
		case 4, 5:
			kind, u.Transition = facts.KindTransitionChanged, activation.CuttingOver
		case 6:
			kind = facts.KindCutoverCompleted
			if rng.IntN(4) == 0 {
				u.Failure = activation.LauncherActivationFailed
			} else {
				u.OK = true
			}
		case 7:
			kind, u.Gate, u.OK = facts.KindHealthGateResult, "readyz", rng.IntN(4) != 0
		case 8:
			kind, u.Transition = facts.KindTransitionChanged, activation.RollingBack
		case 9:
			kind = facts.KindRollbackExecuted
		case 10:
			kind, u.Residency = facts.KindResidencyChanged, []facts.Residency{activation.LegacyOnly, activation.TargetOnly}[rng.IntN(2)]
		case 11:
			kind = facts.KindPartitionObserved
		case 12:
			kind, u.Device = facts.KindCutoverApproved, ""
			if scope.Kind != activation.ManagedQuorum || rng.IntN(3) == 0 {
				author, u.FenceEpoch = "o", uint64(1+rng.IntN(3))
			}
		case 13:
			author, kind, u.Device, u.Transition = "o", facts.KindTransitionChanged, "", activation.Idle
		case 14:
			kind, u.Device, u.Transition, u.Failure = facts.KindTransitionChanged, "", activation.RollingBack, activation.ReleaseRevoked
		case 15:
			author, kind, u.Device, u.Transition = "o", facts.KindTransitionChanged, "", activation.RollingBack
			if rng.IntN(2) == 0 {
				u.Failure = activation.ManualRollbackRequested
			}
		}
		e, err := signEvent(tb, author, kind, epoch, ts, u)
		if err != nil {
			tb.Fatalf("generated an invalid event (%v by %s): %v", kind, author, err)
		}
		out = append(out, e)
	}
	return scope, out
}

func reduce(tb testing.TB, scope activation.Scope, events []activation.Event, order []int) activation.Status {
	tb.Helper()
	r := activation.NewReducer()
	for _, i := range order {
		if _, err := r.Apply(events[i]); err != nil {
			tb.Fatalf("apply: %v", err)
		}
	}
	return r.Status(scope)
}

func checkOrderIndependent(tb testing.TB, seed, permSeed uint64, n int) {
	tb.Helper()
	scope, events := randomEvents(tb, seed, n)
	inOrder := make([]int, len(events))
	for i := range inOrder {
		inOrder[i] = i
	}
	want := reduce(tb, scope, events, inOrder)
	rng := rand.New(rand.NewPCG(permSeed, seed))
	for range 3 {
		perm := rng.Perm(len(events))
		// Deliver some twice: duplicates change nothing.
		perm = append(perm, perm[:len(perm)/4]...)
		if got := reduce(tb, scope, events, perm); !reflect.DeepEqual(got, want) {
			tb.Fatalf("seed %d: order %v gives %s, generation order gives %s", seed, perm, got.Summary(), want.Summary())
		}
	}
}

// TestReduceOrderIndependent: for many random event sets, every delivery
// order gives the same Status.
func TestReduceOrderIndependent(t *testing.T) {
	seeds := 40
	if testing.Short() {
		seeds = 10
	}
	for seed := range uint64(seeds) {
		checkOrderIndependent(t, seed, seed*7919+1, 40)
	}
}

// TestRandomScenariosExercise guards the generator against vacuity: the
// random sets must reach failures, completions, rollbacks and refusals.
func TestRandomScenariosExercise(t *testing.T) {
	seen := map[string]bool{}
	for seed := range uint64(40) {
		scope, events := randomEvents(t, seed, 40)
		order := make([]int, len(events))
		for i := range order {
			order[i] = i
		}
		s := reduce(t, scope, events, order)
		seen["refused"] = seen["refused"] || len(s.Refused) > 0
		seen["noted"] = seen["noted"] || len(s.Notes) > 0
		for _, ts := range append(s.History, derefTarget(s.Target)...) {
			seen[ts.State.String()] = true
		}
		seen[s.Transition.String()] = true
		seen[s.Residency.String()] = true
	}
	for _, want := range []string{"refused", "noted", "active", "failed", "cancelled", "rolled-back",
		"AwaitingCutover", "CuttingOver", "RollingBack", "Idle", "LegacyOnly", "Coexisting"} {
		if !seen[want] {
			t.Errorf("random scenarios never reach %s (saw %v)", want, seen)
		}
	}
}

func derefTarget(t *activation.TargetStatus) []activation.TargetStatus {
	if t == nil {
		return nil
	}
	return []activation.TargetStatus{*t}
}

// TestCheckDoesNotApply: Check answers exactly what Apply then does for
// an event that comes last, and changes nothing.
func TestCheckDoesNotApply(t *testing.T) {
	scope, events := randomEvents(t, 99, 60)
	slices.SortFunc(events, func(a, b activation.Event) int {
		return cmp.Or(cmp.Compare(a.Time, b.Time), bytes.Compare(a.Fact.Bytes(), b.Fact.Bytes()))
	})
	r := activation.NewReducer()
	for _, e := range events {
		before := r.Status(scope)
		checked, err := r.Check(e)
		if err != nil {
			t.Fatal(err)
		}
		if after := r.Status(scope); !reflect.DeepEqual(before, after) {
			t.Fatal("Check changed the state")
		}
		applied, err := r.Apply(e)
		if err != nil {
			t.Fatal(err)
		}
		if checked != applied {
			t.Errorf("%v: Check said %+v, Apply did %+v", e.Kind, checked, applied)
		}
		if err := applied.Err(); (err != nil) != (applied.Outcome == activation.Refused) {
			t.Errorf("Result.Err %v for %v", err, applied.Outcome)
		}
	}
	if again, _ := r.Check(events[0]); again.Outcome != activation.Duplicate {
		t.Errorf("Check of an applied event: %v", again.Outcome)
	}
}

// FuzzReduceOrderIndependent lets the fuzzer pick event sets and orders.
func FuzzReduceOrderIndependent(f *testing.F) {
	f.Add(uint64(1), uint64(2), uint8(20))
	f.Add(uint64(42), uint64(7), uint8(60))
	f.Fuzz(func(t *testing.T, seed, permSeed uint64, n uint8) {
		checkOrderIndependent(t, seed, permSeed, 1+int(n)%80)
	})
}
