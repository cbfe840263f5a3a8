package activation_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/aura-node/aura-node/activation"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/release"
)

func TestEventFromFact(t *testing.T) {
	q := activation.QuorumScope(auth("o"), "core", auths("p1", "p2")...)
	id := release.ID{3}
	ts := facts.MakeTimestamp(5, 0)
	ev, err := signEvent(t, "p1", facts.KindUpgradeStaged, 2, ts, &facts.UpgradeEvent{
		Scope: q, ReleaseID: id[:], Device: "d1", Version: "2.0.0", Class: 3, Gates: []string{"readyz"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Kind != facts.KindUpgradeStaged || ev.Author != auth("p1") || ev.Epoch != 2 || ev.Time != ts ||
		ev.Release != id || ev.Scope.Key() != q.Key() || ev.Upgrade == nil || ev.Policy != nil || !ev.Fact.Defined() {
		t.Fatalf("event %+v", ev)
	}

	pol := activation.DefaultPolicy(q)
	pe, err := policyEvent(t, "o", ts, pol)
	if err != nil || pe.Policy == nil || pe.Policy.Scope.Key() != q.Key() {
		t.Fatalf("policy event %+v: %v", pe, err)
	}

	// Other kinds are not activation events.
	raw, cid, err := facts.Sign(testKey("p1"), facts.Draft{Network: testNetwork, Kind: facts.KindData, Time: ts,
		Payload: &facts.Data{Namespace: "n", Key: "k"}})
	if err != nil {
		t.Fatal(err)
	}
	f, p, _ := facts.Decode(raw, 0)
	if _, err := activation.EventFromFact(f, cid, p); !errors.Is(err, activation.ErrNotActivation) {
		t.Errorf("data fact: %v", err)
	}
	if activation.IsActivationKind(facts.KindMigrationApplied) || !activation.IsActivationKind(facts.KindHealthGateResult) {
		t.Error("IsActivationKind")
	}
}

func TestValidateEvent(t *testing.T) {
	q := activation.QuorumScope(auth("o"), "core", auths("p1", "p2")...)
	ctx := activation.ContextScope(auth("o"), "ops")
	dev := activation.DeviceScope(auth("a"), "da")
	id := release.ID{3}
	ts := facts.MakeTimestamp(5, 0)
	up := func(scope activation.Scope, mod func(*facts.UpgradeEvent)) *facts.UpgradeEvent {
		u := &facts.UpgradeEvent{Scope: scope, ReleaseID: id[:]}
		mod(u)
		return u
	}
	staged := func(u *facts.UpgradeEvent) { u.Device, u.Version, u.Class = "d1", "1.0.0", 1 }
	for _, tc := range []struct {
		name   string
		author string
		kind   facts.Kind
		p      facts.Payload
		want   error // nil: valid
		text   string
	}{
		{"participant stages", "p1", facts.KindUpgradeStaged, up(q, staged), nil, ""},
		{"non-participant stages", "x", facts.KindUpgradeStaged, up(q, staged), activation.ErrUnauthorised, "not a participant"},
		{"anyone enters a context", "x", facts.KindScopeEntered, up(ctx, func(u *facts.UpgradeEvent) { u.Device = "dx" }), nil, ""},
		{"staged version not semver", "p1", facts.KindUpgradeStaged, up(q, func(u *facts.UpgradeEvent) { staged(u); u.Version = "v1" }), activation.ErrInvalidEvent, "staged version"},
		{"participant approves", "p2", facts.KindCutoverApproved, up(q, func(*facts.UpgradeEvent) {}), nil, ""},
		{"non-participant approves", "x", facts.KindCutoverApproved, up(q, func(*facts.UpgradeEvent) {}), activation.ErrUnauthorised, "participants: "},
		{"owner sets the fence", "o", facts.KindCutoverApproved, up(q, func(u *facts.UpgradeEvent) { u.FenceEpoch = 3 }), nil, ""},
		{"participant sets the fence", "p1", facts.KindCutoverApproved, up(q, func(u *facts.UpgradeEvent) { u.FenceEpoch = 3 }), activation.ErrUnauthorised, "may approve but not set the epoch fence"},
		{"approval in a context", "o", facts.KindCutoverApproved, up(ctx, func(*facts.UpgradeEvent) {}), activation.ErrInvalidEvent, "no participant set"},
		{"fence in a device scope", "a", facts.KindCutoverApproved, up(dev, func(u *facts.UpgradeEvent) { u.FenceEpoch = 1 }), activation.ErrInvalidEvent, "owns no epoch fence"},
		{"owner cancels", "o", facts.KindTransitionChanged, up(ctx, func(u *facts.UpgradeEvent) { u.Transition = activation.Idle }), nil, ""},
		{"member cancels", "x", facts.KindTransitionChanged, up(ctx, func(u *facts.UpgradeEvent) { u.Transition = activation.Idle }), activation.ErrUnauthorised, "orders a cancellation"},
		{"member reports a revocation", "x", facts.KindTransitionChanged, up(ctx, func(u *facts.UpgradeEvent) {
			u.Transition, u.Failure = activation.RollingBack, activation.ReleaseRevoked
		}), nil, ""},
		{"outsider reports a revocation in a quorum", "x", facts.KindTransitionChanged, up(q, func(u *facts.UpgradeEvent) {
			u.Transition, u.Failure = activation.RollingBack, activation.ReleaseRevoked
		}), activation.ErrUnauthorised, "only the owner orders a rollback"},
		{"member requests a rollback", "p1", facts.KindTransitionChanged, up(q, func(u *facts.UpgradeEvent) {
			u.Transition, u.Failure = activation.RollingBack, activation.ManualRollbackRequested
		}), activation.ErrUnauthorised, "only the owner"},
		{"device scope, its owner", "a", facts.KindRollbackExecuted, up(dev, func(u *facts.UpgradeEvent) { u.Device = "da" }), nil, ""},
		{"device scope, another device", "a", facts.KindRollbackExecuted, up(dev, func(u *facts.UpgradeEvent) { u.Device = "db" }), activation.ErrUnauthorised, "is about device da"},
		{"device scope, another author", "b", facts.KindRollbackExecuted, up(dev, func(u *facts.UpgradeEvent) { u.Device = "da" }), activation.ErrUnauthorised, "owned by"},
		{"authority scope, another author", "b", facts.KindScopeEntered, up(activation.AuthorityScope(auth("a")), func(u *facts.UpgradeEvent) { u.Device = "d" }), activation.ErrUnauthorised, "only its own devices"},
		{"malformed payload", "p1", facts.KindCutoverCompleted, up(q, func(u *facts.UpgradeEvent) { u.Device = "d1" }), facts.ErrBadPayload, "completes OK or fails"},
	} {
		ev, err := signEvent(t, tc.author, tc.kind, 0, ts, tc.p)
		switch {
		case tc.want == nil && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != nil && (!errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text)):
			t.Errorf("%s: %v, want %v mentioning %q", tc.name, err, tc.want, tc.text)
		case tc.want == nil:
			// A valid event applies; Apply runs the same validation.
			if _, err := activation.NewReducer().Apply(ev); err != nil {
				t.Errorf("%s: apply: %v", tc.name, err)
			}
		}
	}

	// Policies: only the owner, and only for the scope they govern.
	pol := activation.DefaultPolicy(ctx)
	if _, err := policyEvent(t, "x", ts, pol); !errors.Is(err, activation.ErrUnauthorised) {
		t.Errorf("policy by a non-owner: %v", err)
	}
	raw, _ := pol.Marshal()
	other := activation.ContextScope(auth("o"), "elsewhere")
	if _, err := signEvent(t, "o", facts.KindActivationPolicyPublished, 0, ts, &facts.PolicyPublished{Scope: other, Policy: raw}); !errors.Is(err, activation.ErrInvalidEvent) {
		t.Errorf("policy for another scope: %v", err)
	}
	if _, err := signEvent(t, "o", facts.KindActivationPolicyPublished, 0, ts, &facts.PolicyPublished{Scope: ctx, Policy: []byte{1}}); err == nil {
		t.Error("undecodable policy accepted")
	}
	// A hand-built event is validated by Apply too.
	if _, err := activation.NewReducer().Apply(activation.Event{Kind: facts.KindUpgradeStaged, Scope: ctx, Author: auth("x")}); !errors.Is(err, activation.ErrInvalidEvent) {
		t.Errorf("hand-built event without payload: %v", err)
	}
}
