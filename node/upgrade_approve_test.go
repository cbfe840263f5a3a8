package node

import (
	"context"
	"testing"
	"time"

	"github.com/aura-node/aura-node/activation"
	"github.com/aura-node/aura-node/api"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/release"
)

// `upgrade approve` of a release whose approval could have no effect is
// refused before anything is written, naming the release's state: a
// cancelled target, an earlier target, a release older than the active
// target, one revoked or superseded in the catalogue, a complete target.
// A release the node may still move to can be approved ahead of its
// staging.
func TestApproveRefusesTargetsItCannotMove(t *testing.T) {
	tn := newTestNet(t, 1)
	k0 := tn.keys[0].AuthorityID()
	f := newFakeLauncher(t)
	n := tn.startUpgradeNode(0, &ActivationConfig{Manual: true}, f)
	ctx := context.Background()
	q := activation.QuorumScope(k0, "ops", k0)
	p := activation.DefaultPolicy(q)
	p.TrustedReleaseAuthorities = []facts.AuthorityID{k0}
	publishScopePolicy(t, n, p)

	act := func(action string, R release.ID) (*api.UpgradeActionResult, error) {
		req := api.UpgradeActionRequest{Action: action, Scope: q.Key()}
		if !R.IsZero() {
			req.Release = R.String()
		}
		return n.UpgradeAction(ctx, req)
	}
	// Under activation.manual the first stage exports the binary to the
	// launcher and a later one records the staging.
	stage := func(R release.ID) {
		t.Helper()
		eventually(t, 20*time.Second, "the release staged and the active target", func() bool {
			act(api.UpgradeStage, R)
			st := scopeStatus(t, n, q)
			return st.Target != nil && st.Target.Release == R.String() && st.Target.State == "active" && st.Ready == 1
		})
	}
	refused := func(R release.ID, words ...string) {
		t.Helper()
		before := len(scopeStatus(t, n, q).Refused)
		_, err := act(api.UpgradeApprove, R)
		wantRefusal(t, err, api.ErrConflict, append([]string{"refusing to approve"}, words...)...)
		if st := scopeStatus(t, n, q); len(st.Refused) != before {
			t.Fatalf("a refused approval was written: %+v", st.Refused)
		}
	}

	R1 := upgradeRelease(t, tn.keys[0], n, []*Node{n}, "1.1.0", release.BackwardCompatible, nil)
	stage(R1)
	if _, err := act(api.UpgradeCancel, release.ID{}); err != nil {
		t.Fatal(err)
	}
	// The scope's target (the default) is cancelled.
	refused(release.ID{}, "it is cancelled", R1.Short())

	R2 := upgradeRelease(t, tn.keys[0], n, []*Node{n}, "1.2.0", release.BackwardCompatible, nil)
	stage(R2)
	refused(R1, "earlier target", "superseded by "+R2.Short(), "cancelled")
	old := upgradeRelease(t, tn.keys[0], n, []*Node{n}, "1.0.5", release.BackwardCompatible, nil)
	refused(old, "not the active target", R2.Short(), "1.0.5 is not newer")

	// A newer release may be approved before any device staged it.
	R3 := upgradeRelease(t, tn.keys[0], n, []*Node{n}, "1.3.0", release.BackwardCompatible, nil)
	if _, err := act(api.UpgradeApprove, R3); err != nil {
		t.Fatalf("approving a newer release ahead of its staging: %v", err)
	}
	if _, err := n.RevokeRelease(ctx, R3.String(), api.RevokeReleaseRequest{Reason: "leaks"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the revocation in the catalogue", func() bool { e, _ := n.releaseEntry(R3); r, _ := e.Revoked(); return r })
	refused(R3, "revoked", "leaks")

	R4 := upgradeRelease(t, tn.keys[0], n, []*Node{n}, "1.4.0", release.BackwardCompatible, nil)
	if _, err := n.SupersedeRelease(ctx, R2.String(), api.SupersedeReleaseRequest{By: R4.String()}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the supersession in the catalogue", func() bool {
		e, _ := n.releaseEntry(R2)
		return len(e.SupersededBy(nil)) == 1
	})
	refused(R2, "superseded by release "+R4.Short())

	// The active target is approved, cut over to and complete: approving
	// it again is refused.
	if _, err := act(api.UpgradeApprove, R4); err != nil {
		t.Fatal(err)
	}
	stage(R4)
	eventually(t, 20*time.Second, "the cutover accepted", func() bool { _, err := act(api.UpgradeCutover, release.ID{}); return err == nil })
	eventually(t, 20*time.Second, "the target complete", func() bool {
		st := scopeStatus(t, n, q)
		return st.Target.Release == R4.String() && st.Target.State == "complete"
	})
	refused(release.ID{}, "it is complete", "every device runs it already")
}
