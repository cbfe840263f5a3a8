package node

import (
	"context"
	"errors"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"

	"github.com/aura-node/aura-node/api"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/storage"
)

// TestInvalidFactsAreRejectedAndNotForwarded wires evil - B - C in a line.
// evil is a raw gossipsub peer holding the key of the network's first
// admin; B and C replace that admin, then evil publishes a fact with a bad
// signature, one from another network and an admin-only fact as the
// retired admin. B must reject all three (lowering evil's score), C must
// never see them, and a valid fact from evil must still reach C through B.
func TestInvalidFactsAreRejectedAndNotForwarded(t *testing.T) {
	tn := newTestNet(t, 3)
	evilHost, err := tn.mn.GenPeer()
	if err != nil {
		t.Fatal(err)
	}
	b := tn.addNode(1, storage.NewMemory())
	c := tn.addNode(2, storage.NewMemory())
	ctx := context.Background()
	link := func(x, y host.Host) {
		t.Helper()
		if _, err := tn.mn.LinkPeers(x.ID(), y.ID()); err != nil {
			t.Fatal(err)
		}
		if _, err := tn.mn.ConnectPeers(x.ID(), y.ID()); err != nil {
			t.Fatal(err)
		}
	}
	link(b.Host(), c.Host())

	// B and C replace the admin m0 with m1: B proposes and approves, C
	// approves, which reaches the threshold of 2.
	res, err := b.ReplaceAdmin(ctx, api.ReplaceAdminRequest{NewAdmin: tn.keys[1].AuthorityID().String(), Reason: "test"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "C to see the proposal", func() bool { return len(c.Governance().Pending()) == 1 })
	if _, err := c.Approve(ctx, api.ApproveRequest{Proposal: res.ID}); err != nil {
		t.Fatal(err)
	}
	for i, n := range []*Node{b, c} {
		defer (func() {
			if t.Failed() {
				g := n.Governance()
				st, _ := n.Status(ctx)
				t.Logf("node %d: epoch %d proposals %d approvals %d gossip %+v sync %+v peers %d", i, g.CurrentEpoch(), len(g.Proposals), len(g.Approvals), st.Gossip, st.Sync, len(st.Peers))
			}
		})()
		eventually(t, 10*time.Second, "epoch 1", func() bool { return n.Governance().CurrentEpoch() == 1 })
	}

	// evil joins the topic through B only.
	ps, err := pubsub.NewGossipSub(ctx, evilHost, pubsub.WithFloodPublish(true))
	if err != nil {
		t.Fatal(err)
	}
	topic, err := ps.Join(TopicName(tn.netID, buildProtocol()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := topic.Subscribe(); err != nil {
		t.Fatal(err)
	}
	link(evilHost, b.Host())
	// Gossipsub forwards only to mesh peers: wait for B's mesh to hold
	// both evil and C, so that forwarding (or not) is what is tested.
	eventually(t, 10*time.Second, "B's gossip mesh to hold evil and C", func() bool {
		return b.mesh.has(evilHost.ID()) && b.mesh.has(c.Host().ID())
	})
	m0 := tn.keys[0].Authority
	sign := func(network []byte, kind facts.Kind, p facts.Payload, epoch uint64, ms uint64) ([]byte, string) {
		t.Helper()
		d := facts.Draft{Network: tn.netID, Kind: kind, Payload: p, Epoch: epoch, Time: facts.MakeTimestamp(ms, 0)}
		if network != nil {
			d.Network = facts.ComputeID(network)
		}
		raw, id, err := facts.Sign(m0, d)
		if err != nil {
			t.Fatal(err)
		}
		return raw, id.String()
	}
	publish := func(raw []byte) {
		t.Helper()
		if err := topic.Publish(ctx, raw); err != nil {
			t.Fatal(err)
		}
	}
	has := func(n *Node, id string) func() bool {
		return func() bool { _, err := n.GetFact(ctx, id); return err == nil }
	}

	// Warm-up: a valid fact from evil reaches C, so the path forwards.
	warm, warmID := sign(nil, facts.KindData, &facts.Data{Namespace: "ns", Key: "warm", Value: []byte("up")}, 1, 1_700_000_000_100)
	publish(warm)
	eventually(t, 10*time.Second, "the warm-up fact at C", has(c, warmID))

	badSig, badSigID := sign(nil, facts.KindData, &facts.Data{Namespace: "ns", Key: "k", Value: []byte("forged")}, 1, 1_700_000_000_200)
	badSig = append([]byte(nil), badSig...)
	badSig[len(badSig)-1] ^= 0xff // the signature is the last field
	otherGenesis, _, err := NewGenesis(m0, "other", []facts.Member{{Authority: tn.keys[0].AuthorityID()}}, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	wrongNet, wrongNetID := sign(otherGenesis, facts.KindData, &facts.Data{Namespace: "ns", Key: "k", Value: []byte("elsewhere")}, 0, 1_700_000_000_300)
	members := []facts.Member{{Authority: tn.keys[0].AuthorityID()}}
	retired, retiredID := sign(nil, facts.KindRosterChangeProposed, &facts.RosterChange{Members: members, Threshold: 1}, 1, 1_700_000_000_400)

	rejectedBefore := b.stats.gossipRejected.Load()
	for _, raw := range [][]byte{badSig, wrongNet, retired} {
		publish(raw)
	}
	eventually(t, 15*time.Second, "B to reject the three facts", func() bool { return b.stats.gossipRejected.Load() >= rejectedBefore+3 })
	// B forwards only what its validator accepted, so C, which hears of
	// evil only through B, must never have had to reject anything.
	// A fact B writes afterwards still reaches C: the path is alive.
	after, err := b.PutData(ctx, "ns", "after", []byte("the attack"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "B's next fact at C", has(c, after.ID))
	for _, id := range []string{badSigID, wrongNetID, retiredID} {
		for _, n := range []*Node{b, c} {
			if _, err := n.GetFact(ctx, id); !errors.Is(err, api.ErrNotFound) {
				t.Errorf("invalid fact %s stored (err %v)", id, err)
			}
		}
	}
	if r := c.stats.gossipRejected.Load(); r != 0 {
		t.Errorf("C rejected %d gossiped facts: B forwarded invalid facts", r)
	}
	eventually(t, 15*time.Second, "evil's score at B to drop below zero", func() bool {
		return b.peerScores()[evilHost.ID()] < 0
	})
	// The reasons are counted by kind of refusal.
	for _, reason := range []string{"bad_signature", "wrong_network", "retired_admin"} {
		if got := counterValue(t, b, "aura_facts_refused_total", map[string]string{"source": "gossip", "result": "reject", "reason": reason}); got < 1 {
			t.Errorf("refusals for %s: %v, want >= 1", reason, got)
		}
	}
}

func counterValue(t *testing.T, n *Node, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := n.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue metric
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// TestRosterChangeByAdmin: the admin proposes a roster without member 2;
// once M members approve, the epoch advances and member 2 may no longer
// write; a non-admin cannot propose.
func TestRosterChangeByAdmin(t *testing.T) {
	tn := newTestNet(t, 3)
	var nodes []*Node
	for i := 0; i < 3; i++ {
		nodes = append(nodes, tn.addNode(i, storage.NewMemory()))
	}
	tn.linkAll()
	ctx := context.Background()
	spec := func(i int) string { return tn.keys[i].MemberSpec() }
	if _, err := nodes[1].ProposeRoster(ctx, api.RosterRequest{Members: []string{spec(0), spec(1)}}); !errors.Is(err, api.ErrConflict) || !errors.Is(err, facts.ErrNotAdmin) {
		t.Fatalf("roster change by a non-admin: %v", err)
	}
	res, err := nodes[0].ProposeRoster(ctx, api.RosterRequest{Members: []string{spec(0), spec(1)}, Threshold: 2, Reason: "drop 2"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "node 1 to see the proposal", func() bool { return len(nodes[1].Governance().Pending()) == 1 })
	if _, err := nodes[1].Approve(ctx, api.ApproveRequest{Proposal: res.ID}); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		eventually(t, 10*time.Second, "epoch 1 everywhere", func() bool { return n.Governance().CurrentEpoch() == 1 })
	}
	if _, err := nodes[2].PutData(ctx, "ns", "k", []byte("v")); !errors.Is(err, facts.ErrNotMember) {
		t.Fatalf("write by a removed member: %v", err)
	}
}
