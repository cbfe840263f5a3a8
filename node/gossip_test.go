package node

import (
	"context"
	"testing"
	"time"

	"github.com/aura-node/aura-node/storage"
)

// A fact written right after peers connect, before the first heartbeat
// grafts the mesh, must still go out by gossip (flood publish), not wait
// for catch-up.
func TestGossipDeliversBeforeMeshForms(t *testing.T) {
	tn := newTestNet(t, 3)
	b := tn.addNode(1, storage.NewMemory())
	c := tn.addNode(2, storage.NewMemory())
	tn.linkAll()
	eventually(t, 5*time.Second, "topic peers", func() bool {
		return len(b.topic.ListPeers()) == 1 && len(c.topic.ListPeers()) == 1
	})
	ctx := context.Background()
	r, err := c.PutData(ctx, "ns", "fromC", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "B has C's fact", func() bool { _, err := b.GetFact(ctx, r.ID); return err == nil })
	if b.stats.gossipAccepted.Load() != 1 {
		t.Fatalf("B accepted %d facts by gossip, want 1", b.stats.gossipAccepted.Load())
	}
	r2, err := b.PutData(ctx, "ns", "fromB", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "C has B's fact", func() bool { _, err := c.GetFact(ctx, r2.ID); return err == nil })
	if c.stats.gossipAccepted.Load() != 1 {
		t.Fatalf("C accepted %d facts by gossip, want 1", c.stats.gossipAccepted.Load())
	}
}
