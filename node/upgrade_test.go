package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/aura-node/aura-node/activation"
	"github.com/aura-node/aura-node/api"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/launcher"
	"github.com/aura-node/aura-node/release"
	"github.com/aura-node/aura-node/storage"
)

// fakeLauncher answers launcher requests at once, in memory: stage checks
// the exported file's sha256, cutover switches the current release (or,
// when the release's gate is set to fail, reports the gate failure and
// the automatic rollback), rollback restores the previous release. The
// node keeps running: Running reports the switch as a restart would.
type fakeLauncher struct {
	home string

	mu       sync.Mutex
	seq      uint64
	current  [2]string // release name, version
	previous [2]string
	staged   map[string]launcher.ReleaseInfo
	results  []launcher.Result
	requests []launcher.Request
	// failGate maps a release ID to the gate that fails after a cutover.
	failGate map[string]string
}

func newFakeLauncher(t *testing.T) *fakeLauncher {
	return &fakeLauncher{home: t.TempDir(), current: [2]string{"initial", "1.0.0"}, staged: map[string]launcher.ReleaseInfo{}, failGate: map[string]string{}}
}

func (f *fakeLauncher) Home() string { return f.home }

func (f *fakeLauncher) Running() (string, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.current[0], f.current[1]
}

func (f *fakeLauncher) IncomingPath(id string) string {
	return filepath.Join(f.home, "launcher", "incoming", id)
}

func (f *fakeLauncher) Pending() ([]launcher.Request, error) { return nil, nil }

func (f *fakeLauncher) Results() ([]launcher.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.results), nil
}

func (f *fakeLauncher) Ack(seq uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.results = slices.DeleteFunc(f.results, func(r launcher.Result) bool { return r.Seq == seq })
	return nil
}

func (f *fakeLauncher) Staged(id string) (launcher.ReleaseInfo, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ri, ok := f.staged[id]
	return ri, ok, nil
}

func (f *fakeLauncher) actions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.requests {
		out = append(out, string(r.Action))
	}
	return out
}

func (f *fakeLauncher) running() string {
	name, _ := f.Running()
	return name
}

func (f *fakeLauncher) Submit(req launcher.Request) (uint64, error) {
	if err := req.Validate(); err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	req.Seq = f.seq
	f.requests = append(f.requests, req)
	res := launcher.Result{Seq: req.Seq, Action: req.Action, ReleaseID: req.ReleaseID, Version: req.Version, Origin: req.Origin,
		Reason: req.Reason, Sessions: req.Sessions, SessionsDisposition: req.SessionsDisposition,
		FromRelease: f.current[0], FromVersion: f.current[1], Outcome: launcher.OutcomeOK}
	switch req.Action {
	case launcher.ActionStage:
		b, err := os.ReadFile(req.Artifact)
		sum := sha256.Sum256(b)
		if err != nil || hex.EncodeToString(sum[:]) != req.SHA256 {
			res.Outcome, res.FailureClass, res.Detail = launcher.OutcomeFailed, launcher.ArtifactRejected, fmt.Sprintf("sha256 mismatch or unreadable: %v", err)
			break
		}
		os.Remove(req.Artifact)
		f.staged[req.ReleaseID] = launcher.ReleaseInfo{ID: req.ReleaseID, Version: req.Version, SHA256: req.SHA256, Size: int64(len(b))}
	case launcher.ActionCutover:
		ri, ok := f.staged[req.ReleaseID]
		if !ok {
			res.Outcome, res.FailureClass, res.Detail = launcher.OutcomeFailed, launcher.RequestRejected, "not staged"
			break
		}
		res.Gates = []launcher.GateResult{{Name: "healthz", OK: true, Detail: "200 OK"}, {Name: "readyz", OK: true, Detail: "200 OK"}}
		for _, g := range req.Gates {
			ok := f.failGate[req.ReleaseID] != g.Name
			res.Gates = append(res.Gates, launcher.GateResult{Name: g.Name, OK: ok, Detail: map[bool]string{true: "exit 0", false: "exit status 3"}[ok]})
			if !ok {
				break
			}
		}
		if bad := f.failGate[req.ReleaseID]; bad != "" {
			res.Outcome, res.FailureClass = launcher.OutcomeRolledBack, launcher.HealthGateFailed
			res.Detail = "gate " + bad + " failed: exit status 3; rolled back to " + f.current[0]
			break
		}
		f.previous, f.current = f.current, [2]string{req.ReleaseID, ri.Version}
	case launcher.ActionRollback:
		if f.previous[0] == "" {
			res.Outcome, res.FailureClass, res.Detail = launcher.OutcomeFailed, launcher.RequestRejected, "nothing to roll back to"
			break
		}
		f.current, f.previous = f.previous, [2]string{}
		res.Outcome, res.FailureClass = launcher.OutcomeRolledBack, launcher.ManualRollbackRequested
	}
	res.ToRelease, res.ToVersion = f.current[0], f.current[1]
	f.results = append(f.results, res)
	return req.Seq, nil
}

// startUpgradeNode starts member i with an activation section and a fake
// launcher (nil: no launcher).
func (tn *testNet) startUpgradeNode(i int, act *ActivationConfig, l launcherLink) *Node {
	tn.t.Helper()
	return tn.startVersionedNode(i, act, l, 0)
}

// startVersionedNode is startUpgradeNode for a node that speaks node
// protocol version protocol (0: this build's).
func (tn *testNet) startVersionedNode(i int, act *ActivationConfig, l launcherLink, protocol uint64) *Node {
	tn.t.Helper()
	addr := ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", 42000+len(tn.nodes)))
	h, err := tn.mn.AddPeer(tn.keys[i].Node, addr)
	if err != nil {
		tn.t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.SyncInterval = Duration(time.Second)
	cfg.Activation = act
	n, err := New(Params{Config: cfg, Keys: tn.keys[i], Genesis: tn.genesis, Journal: storage.NewMemory(), Logger: quietLogger(), Host: h, launcher: l, protocol: protocol})
	if err != nil {
		tn.t.Fatal(err)
	}
	tn.nodes = append(tn.nodes, n)
	tn.t.Cleanup(func() { n.Close() })
	return n
}

// upgradeRelease publishes, from n (whose authority signs it), a release
// of series aura-node whose binary for this platform is content, imports
// the binary on n and waits until the release is in every node's
// catalogue.
func upgradeRelease(t *testing.T, k *Keys, n *Node, nodes []*Node, version string, class release.CompatibilityClass, gates []string) release.ID {
	t.Helper()
	ctx := context.Background()
	content := []byte("#!/bin/sh\necho " + version + "\n" + strings.Repeat("#", 4096))
	path := filepath.Join(t.TempDir(), "aura-node")
	if err := os.WriteFile(path, content, 0o755); err != nil {
		t.Fatal(err)
	}
	info, err := n.ImportArtifact(ctx, api.ArtifactImportRequest{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	root, _ := cid.Decode(info.Root)
	arts := []release.Artifact{{Name: "aura-node", Kind: "binary", Platform: platform(), Packaging: "raw", Size: uint64(len(content)), Root: root.Bytes()}}
	m := release.Manifest{
		Series: "aura-node", Version: version,
		Provenance: release.Provenance{
			SourceRepo: "https://github.com/aura-node/aura-node", SourceBundleHash: sha256.Sum256([]byte("bundle " + version)),
			BuildRecipeHash: sha256.Sum256([]byte("recipe " + version)), OutputHash: release.OutputHashOf(arts),
		},
		Artifacts: arts, Compatibility: release.Compatibility{Class: class},
		Activation: release.ActivationProfile{HealthGates: gates}, Author: k.AuthorityID(),
	}
	signed, id, err := release.SignManifest(k.Authority, m)
	if err != nil {
		t.Fatal(err)
	}
	publish(t, n, signed, id)
	for _, x := range nodes {
		eventually(t, 20*time.Second, "the release in every catalogue", func() bool { _, ok := x.releaseEntry(id); return ok })
	}
	return id
}

// publishScopePolicy publishes the activation policy of a scope owned by
// n's authority.
func publishScopePolicy(t *testing.T, n *Node, p activation.Policy) {
	t.Helper()
	raw, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.SetActivationPolicy(context.Background(), api.SetActivationPolicyRequest{Scope: p.Scope.Key(), Policy: raw}); err != nil {
		t.Fatal(err)
	}
}

func scopeStatus(t *testing.T, n *Node, s activation.Scope) api.UpgradeScope {
	t.Helper()
	st, err := n.UpgradeStatus(context.Background(), api.UpgradeStatusRequest{Scope: s.Key()})
	if err != nil {
		t.Fatal(err)
	}
	return st.Scopes[0]
}

// waitTicks waits until the upgrade manager of n ran k more times.
func waitTicks(t *testing.T, n *Node, k uint64) {
	t.Helper()
	start := n.upg.ticks.Load()
	eventually(t, time.Duration(k+5)*time.Second, fmt.Sprintf("%d upgrade ticks", k), func() bool { return n.upg.ticks.Load() >= start+k })
}

func linkLine(t *testing.T, tn *testNet, nodes ...*Node) {
	t.Helper()
	for i := 0; i+1 < len(nodes); i++ {
		a, b := nodes[i].Host().ID(), nodes[i+1].Host().ID()
		if _, err := tn.mn.LinkPeers(a, b); err != nil {
			t.Fatal(err)
		}
		if _, err := tn.mn.ConnectPeers(a, b); err != nil {
			t.Fatal(err)
		}
	}
}

// Activation facts invalid whatever the state (a policy by a non-owner,
// an approval by a non-participant, a malformed staging) are refused by
// the author, at ingestion and by the gossip validator, so in a line
// x - y - z they never reach z; a valid one published after them does.
func TestInvalidActivationFactsRejected(t *testing.T) {
	tn := newTestNet(t, 3)
	x := tn.startUpgradeNode(0, nil, nil)
	y := tn.startUpgradeNode(1, nil, nil)
	z := tn.startUpgradeNode(2, nil, nil)
	linkLine(t, tn, x, y, z)
	eventually(t, 10*time.Second, "the gossip mesh x - y - z", func() bool {
		return x.mesh.has(y.Host().ID()) && y.mesh.has(x.Host().ID()) && y.mesh.has(z.Host().ID()) && z.mesh.has(y.Host().ID())
	})
	ctx := context.Background()
	k0, k1, k2 := tn.keys[0].AuthorityID(), tn.keys[1].AuthorityID(), tn.keys[2].AuthorityID()
	rid := release.ID{7}
	quorum := activation.QuorumScope(k1, "q", k1, k2)
	otherPolicy, _ := activation.DefaultPolicy(activation.AuthorityScope(k1)).Marshal()
	bad := []struct {
		name    string
		kind    facts.Kind
		payload facts.Payload
		says    string
	}{
		{"policy by a non-owner", facts.KindActivationPolicyPublished, &facts.PolicyPublished{Scope: activation.AuthorityScope(k1), Policy: otherPolicy}, "owned by"},
		{"approval by a non-participant", facts.KindCutoverApproved, &facts.UpgradeEvent{Scope: quorum, ReleaseID: rid[:]}, "is not a participant"},
		{"staging with a bad version", facts.KindUpgradeStaged, &facts.UpgradeEvent{Scope: activation.AuthorityScope(k0), ReleaseID: rid[:], Device: "dev", Version: "one", Class: 1}, "staged version"},
	}
	var ids []cid.Cid
	for i, b := range bad {
		// The author refuses it.
		if _, err := x.Author(ctx, b.kind, b.payload); err == nil || !strings.Contains(err.Error(), b.says) {
			t.Fatalf("%s: author: %v, want a refusal saying %q", b.name, err, b.says)
		}
		// Ingestion refuses it.
		raw, id, err := facts.Sign(tn.keys[0].Authority, facts.Draft{Network: tn.netID, Kind: b.kind, Payload: b.payload, Time: facts.Timestamp(1_800_000_000_000 + uint64(i))})
		if err != nil {
			t.Fatal(err)
		}
		c, v := facts.CheckStateless(tn.netID, raw, facts.Limits{})
		if v.Result != facts.Accept {
			t.Fatalf("%s: stateless checks: %v", b.name, v)
		}
		vs, err := x.offer(ctx, []facts.Checked{c}, sourceSync)
		if err != nil {
			t.Fatal(err)
		}
		if vs[0].Result != facts.Reject || !errors.Is(vs[0].Reason, ErrBadActivation) || !strings.Contains(vs[0].Reason.Error(), b.says) {
			t.Fatalf("%s: ingest verdict %v, want a rejection saying %q", b.name, vs[0], b.says)
		}
		// Gossiped anyway (x's own messages skip its validator): y rejects it.
		if err := x.topic.Publish(ctx, raw); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// A valid activation fact published after them reaches z.
	pol, _ := activation.DefaultPolicy(activation.AuthorityScope(k0)).Marshal()
	good, err := x.Author(ctx, facts.KindActivationPolicyPublished, &facts.PolicyPublished{Scope: activation.AuthorityScope(k0), Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the valid policy on z and y's rejections", func() bool {
		has, _ := z.journal.HasFact(good.ID())
		return has && y.stats.gossipRejected.Load() >= uint64(len(bad))
	})
	for i, id := range ids {
		for _, n := range []*Node{x, y, z} {
			if has, _ := n.journal.HasFact(id); has {
				t.Fatalf("%s stored on a node", bad[i].name)
			}
		}
	}
	if st := scopeStatus(t, z, activation.AuthorityScope(k0)); st.PolicySource != "published" {
		t.Fatalf("z does not reduce the valid policy: %+v", st)
	}
}

// A managed quorum waits for the approval of every participant: the
// participants stage the release and wait, an approval by a
// non-participant is refused with the participant list, and the
// cutover happens only once the last participant approved. The status
// names who is missing.
func TestManagedQuorumWaitsForEveryParticipant(t *testing.T) {
	tn := newTestNet(t, 3)
	var fakes []*fakeLauncher
	var nodes []*Node
	for i := 0; i < 3; i++ {
		f := newFakeLauncher(t)
		fakes = append(fakes, f)
		nodes = append(nodes, tn.startUpgradeNode(i, &ActivationConfig{}, f))
	}
	tn.linkAll()
	ctx := context.Background()
	k0, k1 := tn.keys[0].AuthorityID(), tn.keys[1].AuthorityID()
	q := activation.QuorumScope(k0, "ops", k0, k1)
	p := activation.DefaultPolicy(q)
	p.TrustedReleaseAuthorities = []facts.AuthorityID{k0}
	publishScopePolicy(t, nodes[0], p)
	R := upgradeRelease(t, tn.keys[0], nodes[0], nodes, "1.1.0", release.BackwardCompatible, nil)

	for _, n := range nodes[:2] {
		eventually(t, 30*time.Second, "both participants staged", func() bool {
			st := scopeStatus(t, n, q)
			return st.Ready == 2 && st.Total == 2 && st.Target != nil && st.Target.Release == R.String()
		})
	}
	st := scopeStatus(t, nodes[0], q)
	if st.Threshold != 2 || len(st.Target.Missing) != 2 || st.Next.Action != "wait" || !strings.Contains(st.Next.Reason, "approvals") {
		t.Fatalf("before approvals: threshold %d missing %v next %+v", st.Threshold, st.Target.Missing, st.Next)
	}
	if st := scopeStatus(t, nodes[2], q); st.Participating {
		t.Fatalf("the non-participant takes part: %+v", st)
	}

	// The launcher loses the staged release: the node stages it again.
	fakes[0].mu.Lock()
	delete(fakes[0].staged, R.String())
	fakes[0].mu.Unlock()
	eventually(t, 20*time.Second, "the release staged again", func() bool {
		_, ok, _ := fakes[0].Staged(R.String())
		return ok && slices.Equal(fakes[0].actions(), []string{"stage", "stage"})
	})

	// A non-participant's approval is refused, with the participants.
	_, err := nodes[2].UpgradeAction(ctx, api.UpgradeActionRequest{Action: api.UpgradeApprove, Scope: q.Key(), Release: R.String()})
	wantRefusal(t, err, api.ErrConflict, "is not a participant", k0.String(), k1.String())

	// The owner approves: still one missing, nobody cuts over.
	if _, err := nodes[0].UpgradeAction(ctx, api.UpgradeActionRequest{Action: api.UpgradeApprove, Scope: q.Key()}); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes[:2] {
		eventually(t, 20*time.Second, "the owner's approval everywhere", func() bool {
			st := scopeStatus(t, n, q)
			return slices.Equal(st.Target.Missing, []string{k1.String()})
		})
	}
	waitTicks(t, nodes[0], 3)
	waitTicks(t, nodes[1], 3)
	for i, f := range fakes[:2] {
		if slices.Contains(f.actions(), "cutover") {
			t.Fatalf("node %d cut over with an approval missing", i)
		}
	}
	_, err = nodes[0].UpgradeAction(ctx, api.UpgradeActionRequest{Action: api.UpgradeCutover, Scope: q.Key()})
	wantRefusal(t, err, api.ErrConflict, "approvals", k1.String())

	// The last participant approves: both cut over, the scope completes.
	if _, err := nodes[1].UpgradeAction(ctx, api.UpgradeActionRequest{Action: api.UpgradeApprove, Scope: q.Key()}); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes[:2] {
		eventually(t, 30*time.Second, "the scope TargetOnly and complete", func() bool {
			st := scopeStatus(t, n, q)
			return st.Residency == "TargetOnly" && st.Transition == "Idle" && st.Target.State == "complete"
		})
	}
	for i, f := range fakes[:2] {
		if f.running() != R.String() {
			t.Fatalf("node %d runs %s", i, f.running())
		}
	}
	if fakes[2].actions() != nil {
		t.Fatalf("the non-participant asked its launcher for %v", fakes[2].actions())
	}
	st = scopeStatus(t, nodes[1], q)
	for _, d := range st.Devices {
		if !d.Healthy || d.Running != R.String() || d.RunningVersion != "1.1.0" {
			t.Fatalf("device not healthy on the target: %+v", d)
		}
	}
	if !strings.Contains(st.Summary, "TargetOnly/Idle") || !strings.Contains(st.Summary, "1.1.0") || !strings.Contains(st.Summary, "ready 2/2") || !strings.Contains(st.Summary, "approvals 2/2") {
		t.Fatalf("summary %q", st.Summary)
	}
}

// A release whose gate fails on one device fails the scope. Under
// ManualApproval the scope stays failed, the healthy device waiting on
// the release, until the owner approves the rollback; under Automatic
// every device rolls back by itself.
func TestFailedRolloutFollowsRollbackPreference(t *testing.T) {
	for _, pref := range []activation.RollbackPreference{activation.ManualApproval, activation.Automatic} {
		t.Run(pref.String(), func(t *testing.T) {
			tn := newTestNet(t, 2)
			k0 := tn.keys[0].AuthorityID()
			scope := activation.ContextScope(k0, "fleet")
			act := func() *ActivationConfig {
				return &ActivationConfig{Scopes: []string{scope.Key()}, Gates: []GateConfig{{Name: "smoke", Command: []string{"true"}}}}
			}
			good, bad := newFakeLauncher(t), newFakeLauncher(t)
			n0 := tn.startUpgradeNode(0, act(), good)
			tn.linkAll()
			ctx := context.Background()
			p := activation.DefaultPolicy(scope)
			p.TrustedReleaseAuthorities = []facts.AuthorityID{k0}
			p.Rollback = pref
			publishScopePolicy(t, n0, p)
			R := upgradeRelease(t, tn.keys[0], n0, []*Node{n0}, "2.0.0", release.BackwardCompatible, []string{"smoke"})
			// The owner's device cuts over first and passes its gates.
			eventually(t, 30*time.Second, "the owner's device on the release", func() bool {
				st := scopeStatus(t, n0, scope)
				return st.Residency == "TargetOnly" && len(st.Devices) == 1 && st.Devices[0].Healthy
			})
			// The second device's smoke gate fails.
			bad.failGate[R.String()] = "smoke"
			n1 := tn.startUpgradeNode(1, act(), bad)
			tn.linkAll()
			eventually(t, 40*time.Second, "the scope failed on the gate", func() bool {
				st := scopeStatus(t, n0, scope)
				return st.Target != nil && st.Target.Failure != nil
			})
			st := scopeStatus(t, n0, scope)
			if f := st.LastFailure; f == nil || f.Class != "HealthGateFailed" || !strings.Contains(f.Detail, "smoke") {
				t.Fatalf("last failure %+v", st.LastFailure)
			}
			if pref == activation.ManualApproval {
				eventually(t, 20*time.Second, "the failing device rolled back by its launcher", func() bool {
					st := scopeStatus(t, n0, scope)
					d := deviceOf(st, n1)
					return d != nil && d.Running == "" && d.Doing == "Idle"
				})
				waitTicks(t, n0, 3)
				waitTicks(t, n1, 3)
				st = scopeStatus(t, n0, scope)
				if st.Target.State != "failed" || st.Target.Rollback != "awaiting-approval" || good.running() != R.String() || slices.Contains(good.actions(), "rollback") {
					t.Fatalf("manual scope did not stay failed: target %+v, owner's device runs %s, asked %v", st.Target, good.running(), good.actions())
				}
				if st.Next == nil || st.Next.Action != "wait" || !strings.Contains(st.Next.Reason, "owner's approval") {
					t.Fatalf("owner's device step %+v", st.Next)
				}
				// Not by a non-owner.
				_, err := n1.UpgradeAction(ctx, api.UpgradeActionRequest{Action: api.UpgradeApproveRollback, Scope: scope.Key()})
				wantRefusal(t, err, api.ErrConflict, "only the owner")
				if _, err := n0.UpgradeAction(ctx, api.UpgradeActionRequest{Action: api.UpgradeApproveRollback, Scope: scope.Key(), Reason: "smoke fails on m1"}); err != nil {
					t.Fatal(err)
				}
			}
			eventually(t, 30*time.Second, "every device back on the legacy release", func() bool {
				st := scopeStatus(t, n0, scope)
				return st.Residency == "LegacyOnly" && st.Transition == "Idle" && st.Target.State == "rolled-back"
			})
			if good.running() != "initial" || bad.running() != "initial" {
				t.Fatalf("launchers run %s and %s", good.running(), bad.running())
			}
		})
	}
}

func deviceOf(st api.UpgradeScope, n *Node) *api.UpgradeDevice {
	for i := range st.Devices {
		if st.Devices[i].Device == n.upg.device {
			return &st.Devices[i]
		}
	}
	return nil
}

// Without a launcher the node reduces and shows activation state but
// refuses to stage or cut over, saying why; the status shows the
// decision's checks.
func TestUpgradeWithoutLauncher(t *testing.T) {
	tn := newTestNet(t, 1)
	k0 := tn.keys[0].AuthorityID()
	n := tn.startUpgradeNode(0, &ActivationConfig{Policy: ActivationPolicyDoc{TrustedReleaseAuthorities: []facts.AuthorityID{k0}}}, nil)
	R := upgradeRelease(t, tn.keys[0], n, []*Node{n}, "9.0.0", release.BackwardCompatible, nil)
	ctx := context.Background()
	_, err := n.UpgradeAction(ctx, api.UpgradeActionRequest{Action: api.UpgradeStage})
	wantRefusal(t, err, api.ErrConflict, "does not run under a launcher")
	st, err := n.UpgradeStatus(ctx, api.UpgradeStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Launcher || len(st.Scopes) != 1 || st.Scopes[0].PolicySource != "config" {
		t.Fatalf("status %+v", st)
	}
	d := st.Scopes[0].Decision
	if d.Release != R.String() || d.Verdict != "stage" || len(d.Checks) < 20 {
		t.Fatalf("decision %+v", d)
	}
	eventually(t, 10*time.Second, "the device policy published", func() bool {
		st, _ := n.UpgradeStatus(ctx, api.UpgradeStatusRequest{Scope: "device"})
		return st != nil && len(st.Scopes[0].Devices) == 1
	})
	_, err = n.UpgradeAction(ctx, api.UpgradeActionRequest{Action: api.UpgradeApprove, Scope: "device"})
	wantRefusal(t, err, api.ErrConflict, "no target")
	_, err = n.UpgradeAction(ctx, api.UpgradeActionRequest{Action: "jump"})
	wantRefusal(t, err, api.ErrBadRequest, "unknown upgrade action")
}

// migratedJournal is a journal whose storage migrations ran.
type migratedJournal struct {
	storage.Journal
	hist []storage.AppliedMigration
}

func (m migratedJournal) MigrationHistory() ([]storage.AppliedMigration, error) { return m.hist, nil }

// Each storage migration the journal records is recorded once as a
// MigrationApplied fact of this device, also after a restart.
func TestStorageMigrationsRecorded(t *testing.T) {
	tn := newTestNet(t, 1)
	j := migratedJournal{Journal: storage.NewMemory(), hist: []storage.AppliedMigration{{From: 1, To: 2, Name: "add author index"}}}
	count := func() int {
		es, err := j.List(storage.Query{Kind: facts.KindMigrationApplied})
		if err != nil {
			t.Fatal(err)
		}
		return len(es)
	}
	n := tn.startOn(0, newMockHost(t, tn, 0), j)
	eventually(t, 10*time.Second, "the migration recorded", func() bool { return count() == 1 })
	n.Close()
	n2 := tn.startOn(0, newMockHost(t, tn, 0), j)
	waitTicks(t, n2, 2)
	if c := count(); c != 1 {
		t.Fatalf("%d MigrationApplied facts after a restart, want 1", c)
	}
}

func newMockHost(t *testing.T, tn *testNet, i int) host.Host {
	t.Helper()
	h, err := tn.mn.AddPeer(tn.keys[i].Node, ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", 43000+len(tn.nodes))))
	if err != nil {
		t.Fatal(err)
	}
	return h
}
