package node

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/aura-node/aura-node/api"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/snapshot"
	"github.com/aura-node/aura-node/storage"
)

// testNet is a network of in-process nodes on a libp2p mocknet.
type testNet struct {
	t       *testing.T
	mn      mocknet.Mocknet
	keys    []*Keys
	genesis []byte
	netID   cid.Cid
	nodes   []*Node
}

func quietLogger() *slog.Logger {
	if os.Getenv("AURA_TEST_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// testKeys returns deterministic keys for member i.
func testKeys(t *testing.T, i int) *Keys {
	seed := make([]byte, ed25519.SeedSize)
	binary.BigEndian.PutUint64(seed, uint64(i+1))
	auth := ed25519.NewKeyFromSeed(seed)
	nk, err := crypto.UnmarshalEd25519PrivateKey(auth)
	if err != nil {
		t.Fatal(err)
	}
	bls, _ := snapshot.GenerateKey([32]byte(seed))
	return &Keys{Node: nk, Authority: auth, BLS: bls}
}

// newTestNet makes n member keys and a genesis (admin = member 0,
// threshold = majority) and a mocknet without hosts yet.
func newTestNet(t *testing.T, n int) *testNet {
	t.Helper()
	tn := &testNet{t: t, mn: mocknet.New()}
	t.Cleanup(func() { tn.mn.Close() })
	var members []facts.Member
	for i := 0; i < n; i++ {
		k := testKeys(t, i)
		tn.keys = append(tn.keys, k)
		members = append(members, facts.Member{Authority: k.AuthorityID(), Name: fmt.Sprintf("m%d", i)})
	}
	raw, id, err := NewGenesis(tn.keys[0].Authority, "test", members, 0, 1_700_000_000_000)
	if err != nil {
		t.Fatal(err)
	}
	tn.genesis, tn.netID = raw, id
	return tn
}

// addNode starts a node for member i with the given journal.
func (tn *testNet) addNode(i int, j storage.Journal) *Node {
	tn.t.Helper()
	addr := ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", 40000+len(tn.nodes)))
	h, err := tn.mn.AddPeer(tn.keys[i].Node, addr)
	if err != nil {
		tn.t.Fatal(err)
	}
	return tn.startOn(i, h, j)
}

func (tn *testNet) startOn(i int, h host.Host, j storage.Journal) *Node {
	tn.t.Helper()
	cfg := DefaultConfig()
	// Gossip is lossy while meshes form; catch-up repairs it, as it does
	// in production, only more often.
	cfg.SyncInterval = Duration(time.Second)
	n, err := New(Params{Config: cfg, Keys: tn.keys[i], Genesis: tn.genesis, Journal: j, Logger: quietLogger(), Host: h})
	if err != nil {
		tn.t.Fatal(err)
	}
	tn.nodes = append(tn.nodes, n)
	tn.t.Cleanup(func() { n.Close() })
	return n
}

func (tn *testNet) linkAll() {
	tn.t.Helper()
	if err := tn.mn.LinkAll(); err != nil {
		tn.t.Fatal(err)
	}
	if err := tn.mn.ConnectAllButSelf(); err != nil {
		tn.t.Fatal(err)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		<-tick.C
	}
}

func digestOf(t *testing.T, n *Node) facts.Digest {
	t.Helper()
	d, err := n.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func converged(t *testing.T, nodes []*Node, wantFacts uint64) func() bool {
	t.Cleanup(func() {
		if t.Failed() {
			for i, n := range nodes {
				c, _ := n.journal.Count()
				s, _ := n.Status(context.Background())
				t.Logf("node %d: facts=%d digest=%s peers=%d gossip=%+v sync=%+v held=%d", i, c, digestOf(t, n), len(s.Peers), s.Gossip, s.Sync, s.HeldFacts)
			}
		}
	})
	return func() bool {
		first := digestOf(t, nodes[0])
		for _, n := range nodes {
			c, err := n.journal.Count()
			if err != nil || c != wantFacts || digestOf(t, n) != first {
				return false
			}
		}
		return true
	}
}

func TestFiveNodesWriteConcurrentlyAndConverge(t *testing.T) {
	const nodes, writes = 5, 30
	tn := newTestNet(t, nodes)
	for i := 0; i < nodes; i++ {
		tn.addNode(i, storage.NewMemory())
	}
	tn.linkAll()
	ctx := context.Background()
	var wg sync.WaitGroup
	for i, n := range tn.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for w := 0; w < writes; w++ {
				// Keys collide across nodes so last-writer-wins decides.
				key := fmt.Sprintf("k%d", w%7)
				if _, err := n.PutData(ctx, "ns", key, []byte(fmt.Sprintf("node%d-%d", i, w))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	want := uint64(1 + nodes*writes)
	eventually(t, 30*time.Second, "five nodes to converge", converged(t, tn.nodes, want))
	for k := 0; k < 7; k++ {
		var vals []string
		for _, n := range tn.nodes {
			v, err := n.GetData(ctx, "ns", fmt.Sprintf("k%d", k))
			if err != nil {
				t.Fatal(err)
			}
			vals = append(vals, string(v.Value))
		}
		for _, v := range vals[1:] {
			if v != vals[0] {
				t.Fatalf("key k%d differs across nodes: %v", k, vals)
			}
		}
	}
}

// countingJournal counts the journal reads a restart makes.
type countingJournal struct {
	storage.Journal
	mu        sync.Mutex
	factReads int
}

func (c *countingJournal) GetFact(id cid.Cid) ([]byte, bool, error) {
	c.mu.Lock()
	c.factReads++
	c.mu.Unlock()
	return c.Journal.GetFact(id)
}

func TestRestartResumesWithoutReplay(t *testing.T) {
	dir := t.TempDir()
	tn := newTestNet(t, 1)
	j, err := storage.OpenPebble(dir, storage.PebbleOptions{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	n := tn.addNode(0, j)
	ctx := context.Background()
	for i := 0; i < 50; i++ {
		if _, err := n.PutData(ctx, "ns", fmt.Sprintf("k%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := n.Invalidate(ctx, api.InvalidateRequest{Keys: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	before := digestOf(t, n)
	n.Close()
	j.Close()

	j2, err := storage.OpenPebble(dir, storage.PebbleOptions{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	cj := &countingJournal{Journal: j2}
	h, err := tn.mn.GenPeer()
	if err != nil {
		t.Fatal(err)
	}
	n2 := tn.startOn(0, h, cj)
	if got := digestOf(t, n2); got != before {
		t.Fatalf("digest after restart %s, before %s", got, before)
	}
	cj.mu.Lock()
	reads := cj.factReads
	cj.mu.Unlock()
	if reads != 0 {
		t.Fatalf("restart read %d facts; state must come from storage without replay (only indexes are scanned: IDs for anti-entropy, release facts for the catalogue)", reads)
	}
	if c, _ := j2.Count(); c != 52 {
		t.Fatalf("journal has %d facts after restart, want 52", c)
	}
	if f, _ := facts.ReadCacheFloor(j2, "a"); f != 1 {
		t.Fatalf("cache floor after restart %d, want 1", f)
	}
	// The restarted node keeps writing where it left off.
	if _, err := n2.PutData(ctx, "ns", "after", []byte("restart")); err != nil {
		t.Fatal(err)
	}
}

func TestCatchUpAfterMissingGossip(t *testing.T) {
	tn := newTestNet(t, 3)
	a := tn.addNode(0, storage.NewMemory())
	b := tn.addNode(1, storage.NewMemory())
	ctx := context.Background()
	// a writes while alone: nobody hears the gossip.
	for i := 0; i < 40; i++ {
		if _, err := a.PutData(ctx, "ns", fmt.Sprintf("k%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	tn.linkAll()
	eventually(t, 20*time.Second, "catch-up on connect", converged(t, []*Node{a, b}, 41))
	res, err := b.SyncWith(ctx, a.Host().ID())
	if err != nil {
		t.Fatal(err)
	}
	if !res.InSync {
		t.Fatalf("second session should find the nodes in sync: %+v", res)
	}
}
