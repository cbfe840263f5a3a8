package facts_test

import (
	"bytes"
	"testing"

	"github.com/aura-node/aura-node/facts"
)

// seedFacts returns valid facts of many kinds for fuzz corpora.
func seedFacts(tb testing.TB) (*testnet, [][]byte) {
	tn := newTestnet(tb, 4, 3)
	id32 := bytes.Repeat([]byte{7}, 32)
	sig64 := bytes.Repeat([]byte{9}, 64)
	scope := facts.Scope{Kind: facts.ScopeManagedQuorum, ID: "q", Participants: []facts.AuthorityID{tn.auth(0)}, Owner: tn.auth(1)}
	out := [][]byte{tn.genesis, tn.data(0, 0, "k", "v"), tn.approve(1, 0, tn.id), tn.invalidate(2, 3, 1, "a", "b")}
	for _, d := range []struct {
		kind facts.Kind
		p    facts.Payload
	}{
		{facts.KindAdminReplacement, &facts.AdminReplacement{Previous: tn.auth(0), New: tn.auth(1), ActivationEpoch: 1, Reason: "lost key"}},
		{facts.KindRosterChangeProposed, &facts.RosterChange{Members: tn.members(0, 1), Threshold: 2}},
		{facts.KindSnapshotProposed, &facts.SnapshotProposed{TargetEpoch: 4, StateDigest: id32}},
		{facts.KindSnapshotApproved, &facts.SnapshotApproved{Proposal: tn.id.Bytes(), TargetEpoch: 4, StateDigest: id32, BLSSig: sig64}},
		{facts.KindReleaseDeclared, &facts.ReleaseDeclared{ReleaseID: id32, Manifest: []byte("{}"), Signature: sig64}},
		{facts.KindArtifactAvailable, &facts.ArtifactAvailable{ReleaseID: id32, Artifact: "aura-node-linux-amd64", Root: tn.id.Bytes()}},
		{facts.KindActivationPolicyPublished, &facts.PolicyPublished{Scope: scope, Policy: []byte("p")}},
		{facts.KindCutoverApproved, &facts.UpgradeEvent{Scope: scope, ReleaseID: id32, Detail: "ok"}},
		{facts.KindUpgradeStaged, &facts.UpgradeEvent{Scope: facts.Scope{Kind: facts.ScopeDevice, ID: "d", Owner: tn.auth(0)}, ReleaseID: id32, Device: "d", Version: "1.2.0", Class: 1, Gates: []string{"healthz", "readyz"}}},
		{facts.KindHealthGateResult, &facts.UpgradeEvent{Scope: scope, ReleaseID: id32, Device: "d", Gate: "readyz", OK: true}},
		{facts.KindMigrationApplied, &facts.MigrationApplied{FromVersion: 1, ToVersion: 2, Name: "m"}},
	} {
		raw, _ := tn.sign(0, d.kind, 0, d.p)
		out = append(out, raw)
	}
	return tn, out
}

// FuzzDecode holds the codec to its contract: any bytes either fail to
// decode or are exactly the canonical encoding of what they decode to.
func FuzzDecode(f *testing.F) {
	tn, seeds := seedFacts(f)
	for _, raw := range seeds {
		f.Add(raw)
	}
	for _, tc := range invalidFacts(f, tn) {
		f.Add(tc.raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		fact, p, err := facts.Decode(raw, 0)
		c, v := facts.CheckStateless(tn.id, raw, facts.Limits{})
		if err != nil {
			if v.Result == facts.Accept {
				t.Fatalf("Decode failed (%v) but CheckStateless accepted", err)
			}
			return
		}
		again, err := facts.Marshal(fact)
		if err != nil || !bytes.Equal(again, raw) {
			t.Fatalf("decode then encode: %x, %v; input %x", again, err, raw)
		}
		payload, err := facts.Marshal(p)
		if err != nil || !bytes.Equal(payload, fact.Payload) {
			t.Fatalf("payload decode then encode: %x, %v; input %x", payload, err, fact.Payload)
		}
		if v.Result == facts.Accept && !c.ID().Equals(facts.ComputeID(raw)) {
			t.Fatalf("accepted fact ID %s, want %s", c.ID(), facts.ComputeID(raw))
		}
	})
}

// FuzzUnmarshalCanonical holds the governance state encoding to the same
// contract, and checks its accessors do not panic on a decoded value.
func FuzzUnmarshalCanonical(f *testing.F) {
	tn := newTestnet(f, 3, 2)
	s := newMemStore()
	s.deliver(f, tn.id, tn.genesis)
	f.Add(s.state["g"])
	p, pid := tn.replaceAdmin(1, 0, 0, 2)
	s.deliver(f, tn.id, p, tn.approve(0, 0, pid), tn.approve(1, 0, pid))
	f.Add(s.state["g"])
	r, rid := tn.changeRoster(2, 1, 1, 0)
	s.deliver(f, tn.id, r, tn.approve(2, 1, rid))
	f.Add(s.state["g"])
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, data []byte) {
		var g facts.Governance
		if err := facts.UnmarshalCanonical(data, &g); err != nil {
			return
		}
		again, err := facts.Marshal(&g)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("decode then encode: %x, %v; input %x", again, err, data)
		}
		_ = g.NetworkID()
		_ = g.Pending()
		_, _ = g.At(0)
		_, _ = g.ReplacedAt(tn.auth(0))
		if len(g.Epochs) > 0 {
			_ = g.Current().IsMember(tn.auth(0))
		}
	})
}
