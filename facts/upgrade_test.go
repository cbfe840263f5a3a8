package facts_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aura-node/aura-node/facts"
)

func sortedAuths(labels ...string) []facts.AuthorityID {
	var out []facts.AuthorityID
	for _, l := range labels {
		out = append(out, authority(testKey(l)))
	}
	slices.SortFunc(out, func(a, b facts.AuthorityID) int { return bytes.Compare(a[:], b[:]) })
	return out
}

func TestScopeKeyRoundTrip(t *testing.T) {
	owner := authority(testKey("owner"))
	for _, s := range []facts.Scope{
		{Kind: facts.ScopeDevice, ID: "12D3KooWdevice", Owner: owner},
		{Kind: facts.ScopeAuthority, Owner: owner},
		{Kind: facts.ScopeContext, ID: "ops.eu-1", Owner: owner},
		{Kind: facts.ScopeManagedQuorum, ID: "core", Owner: owner, Participants: sortedAuths("a", "b", "c")},
	} {
		if err := s.CheckActivation(); err != nil {
			t.Fatalf("%s: %v", s.Kind, err)
		}
		got, err := facts.ParseScope(s.Key())
		if err != nil {
			t.Fatalf("parse %q: %v", s.Key(), err)
		}
		if got.Key() != s.Key() {
			t.Fatalf("round trip: %q, want %q", got.Key(), s.Key())
		}
		raw, err := facts.Marshal(&s)
		if err != nil {
			t.Fatal(err)
		}
		var back facts.Scope
		if err := facts.UnmarshalCanonical(raw, &back); err != nil {
			t.Fatalf("canonical round trip: %v", err)
		}
	}
	// A recommendation scope without an owner keeps its old encoding.
	raw, _ := facts.Marshal(&facts.Scope{Kind: facts.ScopeContext, ID: "ops"})
	if bytes.Contains(raw, []byte{0x04, 0x58, 0x20}) {
		t.Fatalf("zero owner encoded: %x", raw)
	}
}

func TestScopeCheckActivation(t *testing.T) {
	owner := authority(testKey("owner"))
	ps := sortedAuths("a", "b")
	for _, tc := range []struct {
		name string
		s    facts.Scope
		want string
	}{
		{"no owner", facts.Scope{Kind: facts.ScopeContext, ID: "ops"}, "no owner"},
		{"authority with ID", facts.Scope{Kind: facts.ScopeAuthority, ID: "x", Owner: owner}, "takes no ID"},
		{"device without ID", facts.Scope{Kind: facts.ScopeDevice, Owner: owner}, "device ID is empty"},
		{"context ID with slash", facts.Scope{Kind: facts.ScopeContext, ID: "a/b", Owner: owner}, "not allowed"},
		{"quorum without participants", facts.Scope{Kind: facts.ScopeManagedQuorum, ID: "q", Owner: owner}, "participants are required"},
		{"context with participants", facts.Scope{Kind: facts.ScopeContext, ID: "q", Owner: owner, Participants: ps}, "participants are required"},
		{"unsorted participants", facts.Scope{Kind: facts.ScopeManagedQuorum, ID: "q", Owner: owner, Participants: []facts.AuthorityID{ps[1], ps[0]}}, "sorted"},
		{"duplicate participants", facts.Scope{Kind: facts.ScopeManagedQuorum, ID: "q", Owner: owner, Participants: []facts.AuthorityID{ps[0], ps[0]}}, "sorted"},
		{"unknown kind", facts.Scope{Kind: 9, ID: "q", Owner: owner}, "unknown scope kind"},
	} {
		err := tc.s.CheckActivation()
		if err == nil || !errors.Is(err, facts.ErrBadPayload) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrBadPayload mentioning %q", tc.name, err, tc.want)
		}
	}
	for _, bad := range []string{"", "device", "nope:x", "device:notanauthority/d", "authority:" + owner.String() + "/x", "context:" + owner.String()} {
		if _, err := facts.ParseScope(bad); err == nil {
			t.Errorf("ParseScope(%q) accepted", bad)
		}
	}
}

func TestUpgradeEventCheckPayload(t *testing.T) {
	owner := authority(testKey("owner"))
	scope := facts.Scope{Kind: facts.ScopeContext, ID: "ops", Owner: owner}
	id := bytes.Repeat([]byte{7}, 32)
	ev := func(mod func(*facts.UpgradeEvent)) *facts.UpgradeEvent {
		u := &facts.UpgradeEvent{Scope: scope, ReleaseID: id}
		mod(u)
		return u
	}
	valid := []struct {
		kind facts.Kind
		u    *facts.UpgradeEvent
	}{
		{facts.KindUpgradeStaged, ev(func(u *facts.UpgradeEvent) {
			u.Device, u.Version, u.Class, u.Gates = "d1", "1.0.0", 3, []string{"a", "b"}
		})},
		{facts.KindScopeEntered, ev(func(u *facts.UpgradeEvent) { u.Device, u.ReleaseID = "d1", make([]byte, 32) })},
		{facts.KindResidencyChanged, ev(func(u *facts.UpgradeEvent) { u.Device, u.Residency = "d1", facts.ResidencyTargetOnly })},
		{facts.KindTransitionChanged, ev(func(u *facts.UpgradeEvent) {
			u.Device, u.Transition, u.InFlight = "d1", facts.TransitionCuttingOver, facts.InFlightDelegate
		})},
		{facts.KindTransitionChanged, ev(func(u *facts.UpgradeEvent) { u.Transition = facts.TransitionIdle })},
		{facts.KindTransitionChanged, ev(func(u *facts.UpgradeEvent) {
			u.Transition, u.Failure = facts.TransitionRollingBack, facts.FailureReleaseRevoked
		})},
		{facts.KindCutoverApproved, ev(func(u *facts.UpgradeEvent) { u.FenceEpoch = 9 })},
		{facts.KindCutoverCompleted, ev(func(u *facts.UpgradeEvent) { u.Device, u.OK = "d1", true })},
		{facts.KindCutoverCompleted, ev(func(u *facts.UpgradeEvent) { u.Device, u.Failure = "d1", facts.FailureLauncherActivationFailed })},
		{facts.KindRollbackExecuted, ev(func(u *facts.UpgradeEvent) { u.Device = "d1" })},
		{facts.KindPartitionObserved, ev(func(u *facts.UpgradeEvent) { u.Device, u.Detail = "d1", "peers gone" })},
		{facts.KindHealthGateResult, ev(func(u *facts.UpgradeEvent) { u.Device, u.Gate = "d1", "readyz" })},
	}
	for _, tc := range valid {
		if err := tc.u.CheckPayload(tc.kind); err != nil {
			t.Errorf("%v: %v", tc.kind, err)
		}
	}
	invalid := []struct {
		kind facts.Kind
		u    *facts.UpgradeEvent
		want string
	}{
		{facts.KindUpgradeStaged, ev(func(u *facts.UpgradeEvent) { u.Device, u.Version = "d1", "1.0.0" }), "needs a class"},
		{facts.KindUpgradeStaged, ev(func(u *facts.UpgradeEvent) { u.Device, u.Version, u.Class = "d1", "1.0.0", 5 }), "unknown compatibility class"},
		{facts.KindUpgradeStaged, ev(func(u *facts.UpgradeEvent) { u.Device, u.Version, u.Class, u.Gates = "d1", "1", 1, []string{"b", "a"} }), "sorted"},
		{facts.KindUpgradeStaged, ev(func(u *facts.UpgradeEvent) { u.Device, u.Version, u.Class, u.OK = "d1", "1", 1, true }), "takes no ok"},
		{facts.KindRollbackExecuted, ev(func(u *facts.UpgradeEvent) {}), "needs a device"},
		{facts.KindRollbackExecuted, ev(func(u *facts.UpgradeEvent) { u.Device, u.ReleaseID = "d1", make([]byte, 32) }), "zero release"},
		{facts.KindResidencyChanged, ev(func(u *facts.UpgradeEvent) { u.Device, u.Residency = "d1", facts.ResidencyCoexisting }), "LegacyOnly or TargetOnly"},
		{facts.KindTransitionChanged, ev(func(u *facts.UpgradeEvent) { u.Device, u.Transition = "d1", facts.TransitionIdle }), "begins CuttingOver or RollingBack"},
		{facts.KindTransitionChanged, ev(func(u *facts.UpgradeEvent) {
			u.Transition, u.Failure = facts.TransitionRollingBack, facts.FailureHealthGateFailed
		}), "cause is ReleaseRevoked or ManualRollbackRequested"},
		{facts.KindTransitionChanged, ev(func(u *facts.UpgradeEvent) { u.Transition = facts.TransitionCuttingOver }), "Idle (cancel) or RollingBack"},
		{facts.KindTransitionChanged, ev(func(u *facts.UpgradeEvent) {
			u.Device, u.Transition, u.InFlight = "d1", facts.TransitionRollingBack, facts.InFlightAbort
		}), "only a cutover"},
		{facts.KindCutoverApproved, ev(func(u *facts.UpgradeEvent) { u.Device = "d1" }), "takes no device"},
		{facts.KindCutoverCompleted, ev(func(u *facts.UpgradeEvent) { u.Device = "d1" }), "completes OK or fails"},
		{facts.KindCutoverCompleted, ev(func(u *facts.UpgradeEvent) { u.Device, u.Failure = "d1", facts.FailureHealthGateFailed }), "completes OK or fails"},
		{facts.KindHealthGateResult, ev(func(u *facts.UpgradeEvent) { u.Device, u.Gate = "d1", "../x" }), "not allowed"},
		{facts.KindData, ev(func(u *facts.UpgradeEvent) {}), "does not carry"},
		{facts.KindCutoverApproved, ev(func(u *facts.UpgradeEvent) { u.Scope.Owner = facts.AuthorityID{} }), "no owner"},
		{facts.KindCutoverApproved, ev(func(u *facts.UpgradeEvent) { u.ReleaseID = id[:31] }), "31 bytes"},
	}
	for _, tc := range invalid {
		err := tc.u.CheckPayload(tc.kind)
		if err == nil || !errors.Is(err, facts.ErrBadPayload) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %+v: %v, want ErrBadPayload mentioning %q", tc.kind, tc.u, err, tc.want)
		}
	}
}

func TestUpgradeEnums(t *testing.T) {
	for _, name := range []string{"LegacyOnly", "Coexisting", "TargetOnly"} {
		if r, err := facts.ParseResidency(strings.ToLower(name)); err != nil || r.String() != name {
			t.Errorf("residency %s: %v %v", name, r, err)
		}
	}
	for _, name := range []string{"Idle", "AwaitingCutover", "CuttingOver", "RollingBack"} {
		if v, err := facts.ParseTransition(name); err != nil || v.String() != name {
			t.Errorf("transition %s: %v %v", name, v, err)
		}
	}
	for _, name := range []string{"HealthGateFailed", "LauncherActivationFailed", "ReleaseRevoked", "PartitionRequired", "ManualRollbackRequested"} {
		if v, err := facts.ParseFailureClass(name); err != nil || v.String() != name {
			t.Errorf("failure %s: %v %v", name, v, err)
		}
	}
	if _, err := facts.ParseInFlightAction("teleport"); err == nil {
		t.Error("unknown in-flight action accepted")
	}
	if s := facts.Residency(9).String(); s != "Residency(9)" {
		t.Errorf("unknown residency prints %q", s)
	}
}
