package node

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aura-node/aura-node/activation"
	"github.com/aura-node/aura-node/api"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/release"
	"github.com/aura-node/aura-node/storage"
)

// twoScopes starts one node, owner of two contexts a and b it takes part
// in (rollback preferences prefA and prefB), publishes both policies and
// a release, stages it in both and cuts over, and waits until the device
// runs it in both scopes. The node is manual (stage and cutover on
// command) so that both scopes stage before the cutover without waiting
// for a backoff; rollbacks are not manual.
func twoScopes(t *testing.T, prefA, prefB activation.RollbackPreference) (*Node, *fakeLauncher, activation.Scope, activation.Scope, release.ID) {
	t.Helper()
	tn := newTestNet(t, 1)
	k0 := tn.keys[0].AuthorityID()
	a, b := activation.ContextScope(k0, "a"), activation.ContextScope(k0, "b")
	f := newFakeLauncher(t)
	n := tn.startUpgradeNode(0, &ActivationConfig{Scopes: []string{a.Key(), b.Key()}, Manual: true}, f)
	for _, x := range []struct {
		s    activation.Scope
		pref activation.RollbackPreference
	}{{a, prefA}, {b, prefB}} {
		p := activation.DefaultPolicy(x.s)
		p.TrustedReleaseAuthorities = []facts.AuthorityID{k0}
		p.Rollback = x.pref
		publishScopePolicy(t, n, p)
	}
	R := upgradeRelease(t, tn.keys[0], n, []*Node{n}, "2.0.0", release.BackwardCompatible, nil)
	ctx := context.Background()
	for _, s := range []activation.Scope{a, b} {
		eventually(t, 20*time.Second, "the release staged in "+s.Short(), func() bool {
			n.UpgradeAction(ctx, api.UpgradeActionRequest{Action: api.UpgradeStage, Scope: s.Key()})
			st := scopeStatus(t, n, s)
			return st.Ready == 1 && st.Target != nil && st.Target.Release == R.String()
		})
	}
	if _, err := n.UpgradeAction(ctx, api.UpgradeActionRequest{Action: api.UpgradeCutover, Scope: a.Key()}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []activation.Scope{a, b} {
		eventually(t, 30*time.Second, "the device on the release in "+s.Short(), func() bool {
			st := scopeStatus(t, n, s)
			return st.Residency == "TargetOnly" && st.Transition == "Idle" && st.Target.State == "complete"
		})
	}
	if f.running() != R.String() {
		t.Fatalf("the launcher runs %s", f.running())
	}
	return n, f, a, b, R
}

func countOf(xs []string, x string) int {
	c := 0
	for _, y := range xs {
		if y == x {
			c++
		}
	}
	return c
}

// A device in two scopes runs a release that fails in both (revoked):
// the automatic scope orders the rollback, the manual-approval one waits
// for its owner. The strictest scope decides: the device keeps the
// release, the automatic scope says which scope holds the rollback, and
// the rollback runs once the owner of the manual scope approves it.
func TestRollbackHeldByManualApprovalScope(t *testing.T) {
	n, f, a, b, R := twoScopes(t, activation.Automatic, activation.ManualApproval)
	ctx := context.Background()
	if _, err := n.RevokeRelease(ctx, R.String(), api.RevokeReleaseRequest{Reason: "leaks file descriptors"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the revocation in both scopes", func() bool {
		sa, sb := scopeStatus(t, n, a), scopeStatus(t, n, b)
		return sa.Target.State == "failed" && sa.Target.Rollback == "ordered" && sb.Target.State == "failed" && sb.Target.Rollback == "awaiting-approval"
	})
	waitTicks(t, n, 4)
	if got := f.actions(); countOf(got, "rollback") != 0 || f.running() != R.String() {
		t.Fatalf("the device rolled back although %s awaits its owner's approval: asked %v, runs %s", b.Short(), got, f.running())
	}
	sa := scopeStatus(t, n, a)
	if !strings.Contains(sa.LastError, "holds the rollback") || !strings.Contains(sa.LastError, "approve-rollback --scope "+b.Key()) {
		t.Fatalf("%s last error %q, want the holding scope and the command", a.Short(), sa.LastError)
	}
	if _, err := n.UpgradeAction(ctx, api.UpgradeActionRequest{Action: api.UpgradeApproveRollback, Scope: b.Key(), Reason: "approved"}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []activation.Scope{a, b} {
		eventually(t, 20*time.Second, "the rollback done in "+s.Short(), func() bool {
			st := scopeStatus(t, n, s)
			return st.Residency == "LegacyOnly" && st.Transition == "Idle" && st.Target.State == "rolled-back" && st.LastError == ""
		})
	}
	if got := f.actions(); countOf(got, "rollback") != 1 || f.running() != "initial" {
		t.Fatalf("asked %v, runs %s; want one rollback to initial", got, f.running())
	}
}

// A rollback ordered in one scope (the owner's request) while another
// scope, under automatic rollback, still accepts the release: the device
// rolls back (the automatic scope notes it), and the scope where the
// release failed then holds a new cutover to it, so the device does not
// flip back and forth.
func TestRollbackInOneScopeHoldsCutoverInAnother(t *testing.T) {
	n, f, a, b, R := twoScopes(t, activation.Automatic, activation.Automatic)
	ctx := context.Background()
	// Stage and cut over by itself from now on.
	doc, err := json.Marshal(ActivationConfig{Scopes: []string{a.Key(), b.Key()}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.SetActivationPolicy(ctx, api.SetActivationPolicyRequest{Scope: "device", Config: doc}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.UpgradeAction(ctx, api.UpgradeActionRequest{Action: api.UpgradeRollback, Scope: a.Key(), Reason: "not in a"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the rollback done in "+a.Short(), func() bool {
		st := scopeStatus(t, n, a)
		return st.Transition == "Idle" && st.Target.State == "rolled-back" && f.running() == "initial"
	})
	waitTicks(t, n, 4)
	if got := f.actions(); countOf(got, "cutover") != 1 || countOf(got, "rollback") != 1 || f.running() != "initial" {
		t.Fatalf("asked %v, runs %s; want one cutover and one rollback", got, f.running())
	}
	sb := scopeStatus(t, n, b)
	if sb.Target.Release != R.String() || sb.Target.State != "active" || !strings.Contains(sb.LastError, "scope "+a.Short()+" holds it") {
		t.Fatalf("%s: target %+v, last error %q", b.Short(), sb.Target, sb.LastError)
	}
}

// The scope shows the device on a release it must roll back, but the
// launcher already runs the previous one (its rollback was recorded
// against a restored journal, or the facts saying it ran the release came
// back afterwards): the node reports what runs instead of asking the
// launcher again and again for a rollback it cannot do.
func TestRollbackOfReleaseTheLauncherNoLongerRuns(t *testing.T) {
	tn := newTestNet(t, 1)
	k0 := tn.keys[0].AuthorityID()
	s := activation.ContextScope(k0, "fleet")
	f := newFakeLauncher(t)
	n := tn.startUpgradeNode(0, &ActivationConfig{Scopes: []string{s.Key()}}, f)
	p := activation.DefaultPolicy(s)
	p.TrustedReleaseAuthorities = []facts.AuthorityID{k0}
	publishScopePolicy(t, n, p)
	R := upgradeRelease(t, tn.keys[0], n, []*Node{n}, "2.0.0", release.BackwardCompatible, nil)
	eventually(t, 30*time.Second, "the device on the release", func() bool {
		st := scopeStatus(t, n, s)
		return st.Residency == "TargetOnly" && st.Transition == "Idle" && st.Target.State == "complete"
	})
	// The launcher is back on the previous release; no fact says so.
	f.mu.Lock()
	f.current, f.previous = f.previous, [2]string{}
	f.mu.Unlock()
	ctx := context.Background()
	if _, err := n.RevokeRelease(ctx, R.String(), api.RevokeReleaseRequest{Reason: "second revocation"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the scope rolled back", func() bool {
		st := scopeStatus(t, n, s)
		return st.Residency == "LegacyOnly" && st.Transition == "Idle" && st.Target.State == "rolled-back"
	})
	st := scopeStatus(t, n, s)
	d := deviceOf(st, n)
	if d == nil || d.Running != "" || d.Doing != "Idle" || st.LastError != "" {
		t.Fatalf("device %+v, last error %q", d, st.LastError)
	}
	if got := f.actions(); countOf(got, "rollback") != 0 {
		t.Fatalf("asked the launcher %v", got)
	}
}

// After a launcher rollback the node imports the journal the rollback set
// aside; until then its restored journal is older than what happened, so
// the upgrade manager neither records launcher results nor acts.
func TestUpgradesWaitForRolledBackImport(t *testing.T) {
	tn := newTestNet(t, 1)
	home := Home{Dir: t.TempDir()}
	j, err := storage.OpenPebble(home.Path(RolledBackDir), storage.PebbleOptions{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	f := newFakeLauncher(t)
	h := newMockHost(t, tn, 0)
	cfg := DefaultConfig()
	cfg.Activation = &ActivationConfig{Policy: ActivationPolicyDoc{TrustedReleaseAuthorities: []facts.AuthorityID{tn.keys[0].AuthorityID()}}}
	n, err := New(Params{Config: cfg, Keys: tn.keys[0], Genesis: tn.genesis, Journal: storage.NewMemory(), Logger: quietLogger(), Host: h, launcher: f, Home: home.Dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	upgradeRelease(t, tn.keys[0], n, []*Node{n}, "2.0.0", release.BackwardCompatible, nil)
	waitTicks(t, n, 3)
	if got := f.actions(); len(got) != 0 {
		t.Fatalf("the upgrade manager acted before the import: %v", got)
	}
	if st := scopeStatus(t, n, n.deviceScope()); len(st.Devices) != 0 {
		t.Fatalf("the upgrade manager wrote before the import: %+v", st.Devices)
	}
	n.importRolledBack(context.Background(), home, quietLogger())
	if _, err := os.Stat(filepath.Join(home.Dir, RolledBackDir+".imported")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the release staged after the import", func() bool { return countOf(f.actions(), "stage") > 0 })
}
