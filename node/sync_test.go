package node

import (
	"bufio"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/aura-node/aura-node/storage"
)

// partitionGater blocks connections between peers of different groups
// while a partition is on.
type partitionGater struct {
	mu    sync.Mutex
	group map[peer.ID]int
	split bool
}

func (g *partitionGater) blocked(a, b peer.ID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.split && g.group[a] != g.group[b]
}

func (g *partitionGater) set(split bool) {
	g.mu.Lock()
	g.split = split
	g.mu.Unlock()
}

func (g *partitionGater) InterceptPeerDial(p peer.ID) bool { return true }
func (g *partitionGater) InterceptAddrDial(peer.ID, ma.Multiaddr) bool {
	return true
}
func (g *partitionGater) InterceptAccept(network.ConnMultiaddrs) bool { return true }
func (g *partitionGater) InterceptSecured(_ network.Direction, p peer.ID, c network.ConnMultiaddrs) bool {
	return true
}
func (g *partitionGater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) {
	return true, 0
}

// gaterFor is one host's view of the partition.
type gaterFor struct {
	*partitionGater
	self peer.ID
}

func (g gaterFor) InterceptPeerDial(p peer.ID) bool { return !g.blocked(g.self, p) }
func (g gaterFor) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return !g.blocked(g.self, p)
}

// TestPartitionHeals splits four nodes on real loopback TCP into two
// groups that keep writing, then heals the partition: every node ends with
// the union and the same state digest, nothing lost.
func TestPartitionHeals(t *testing.T) {
	tn := newTestNet(t, 4)
	pg := &partitionGater{group: map[peer.ID]int{}}
	var nodes []*Node
	for i := 0; i < 4; i++ {
		pid := tn.keys[i].PeerID()
		pg.group[pid] = i / 2
		h, err := libp2p.New(
			libp2p.Identity(tn.keys[i].Node),
			libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
			libp2p.Transport(tcp.NewTCPTransport),
			libp2p.DisableRelay(),
			libp2p.ConnectionGater(gaterFor{pg, pid}),
		)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		nodes = append(nodes, tn.startOn(i, h, storage.NewMemory()))
	}
	ctx := context.Background()
	connect := func() {
		for i, x := range nodes {
			for _, y := range nodes[i+1:] {
				if err := x.Host().Connect(ctx, peer.AddrInfo{ID: y.Host().ID(), Addrs: y.Host().Addrs()}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	connect()
	if _, err := nodes[0].PutData(ctx, "ns", "before", []byte("split")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the first write everywhere", converged(t, nodes, 2))

	groups := [][]*Node{nodes[:2], nodes[2:]}
	pg.set(true)
	for _, x := range groups[0] {
		for _, y := range groups[1] {
			x.Host().Network().ClosePeer(y.Host().ID())
		}
	}
	eventually(t, 10*time.Second, "the partition to take effect", func() bool {
		for _, x := range groups[0] {
			for _, y := range groups[1] {
				if x.Host().Network().Connectedness(y.Host().ID()) == network.Connected {
					return false
				}
			}
		}
		return true
	})
	for g, group := range groups {
		for i, n := range group {
			for w := 0; w < 15; w++ {
				// Keys collide across groups: last writer wins after heal.
				if _, err := n.PutData(ctx, "ns", fmt.Sprintf("k%d", w%5), []byte(fmt.Sprintf("g%d-n%d-%d", g, i, w))); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	eventually(t, 20*time.Second, "group 1 to agree", converged(t, groups[0], 2+30))
	eventually(t, 20*time.Second, "group 2 to agree", converged(t, groups[1], 2+30))
	if digestOf(t, nodes[0]) == digestOf(t, nodes[2]) {
		t.Fatal("partitioned groups should differ")
	}
	pg.set(false)
	connect()
	eventually(t, 30*time.Second, "all four to converge on the union", converged(t, nodes, 2+60))
	var repaired uint64
	for _, n := range nodes {
		repaired += n.stats.syncPulled.Load() + n.stats.syncPushed.Load()
	}
	if repaired == 0 {
		t.Fatal("convergence after the heal should have come from anti-entropy sessions")
	}
}

// TestHostileSyncPeerIsDropped sends garbage on the sync protocol: the node
// drops the peer, counts it, and keeps serving honest peers.
func TestHostileSyncPeerIsDropped(t *testing.T) {
	// Real loopback TCP: closing a connection tears down its streams, as
	// the test needs (mocknet streams can outlive a closed connection).
	tn := newTestNet(t, 2)
	tcpHost := func(i int) host.Host {
		opts := []libp2p.Option{
			libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
			libp2p.Transport(tcp.NewTCPTransport),
			libp2p.DisableRelay(),
		}
		if i >= 0 {
			opts = append(opts, libp2p.Identity(tn.keys[i].Node))
		}
		h, err := libp2p.New(opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	}
	a := tn.startOn(0, tcpHost(0), storage.NewMemory())
	b := tn.startOn(1, tcpHost(1), storage.NewMemory())
	evil := tcpHost(-1)
	connect := func(x, y host.Host) {
		t.Helper()
		if err := x.Connect(context.Background(), peer.AddrInfo{ID: y.ID(), Addrs: y.Addrs()}); err != nil {
			t.Fatal(err)
		}
	}
	connect(b.Host(), a.Host())
	ctx := context.Background()
	for _, garbage := range [][]byte{
		{0xff, 0xff, 0xff, 0xff, 0x0f},                    // a frame length far over the limit
		{0x02, 'Z', 0x00},                                 // an unknown frame type before hello
		append([]byte{0x05, 'H'}, 0xa1, 0x01, 0x00, 0x00), // hello with trailing bytes (not canonical)
	} {
		connect(evil, a.Host())
		s, err := evil.NewStream(ctx, a.Host().ID(), syncProtocol(tn.netID, buildProtocol()))
		if err != nil {
			t.Fatal(err)
		}
		s.Write(garbage)
		eventually(t, 10*time.Second, "the node to drop the evil peer", func() bool {
			return a.Host().Network().Connectedness(evil.ID()) != network.Connected
		})
		s.Reset()
	}
	// A valid hello followed by a malformed Negentropy message.
	connect(evil, a.Host())
	s, err := evil.NewStream(ctx, a.Host().ID(), syncProtocol(tn.netID, buildProtocol()))
	if err != nil {
		t.Fatal(err)
	}
	c := &frameConn{r: bufio.NewReader(s), w: bufio.NewWriter(s)}
	if err := c.writeCBOR(frameHello, &helloMsg{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.expect(frameHello); err != nil {
		t.Fatal(err)
	}
	c.write(frameNeg, []byte{0x61, 0x00, 0x00, 0x09}) // unknown mode 9
	eventually(t, 10*time.Second, "the node to drop the evil peer", func() bool {
		return a.Host().Network().Connectedness(evil.ID()) != network.Connected
	})
	if got := counterValue(t, a, "aura_sync_misbehaving_peers_total", nil); got < 4 {
		t.Fatalf("misbehaving peers counted %v, want 4", got)
	}
	// Honest peers are still served.
	if _, err := a.PutData(ctx, "ns", "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "b to sync with a", func() bool {
		res, err := b.SyncWith(ctx, a.Host().ID())
		return err == nil && (res.InSync || res.Pulled > 0)
	})
}

// TestSessionsContinueAfterTheRoundLimit: a session that hits the round
// limit transfers what it found and the next session follows at once, so
// a joiner far behind still reaches the full set (each round moves one
// frame of IDs, here 4096 bytes: ~120 facts).
func TestSessionsContinueAfterTheRoundLimit(t *testing.T) {
	oldRounds, oldFrame := maxSyncRounds, syncFrameLimit
	maxSyncRounds, syncFrameLimit = 3, 4096
	t.Cleanup(func() { maxSyncRounds, syncFrameLimit = oldRounds, oldFrame })
	tn := newTestNet(t, 2)
	a := tn.addNode(0, storage.NewMemory())
	ctx := context.Background()
	for i := 0; i < 1500; i++ {
		if _, err := a.PutData(ctx, "ns", fmt.Sprintf("k%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	b := tn.addNode(1, storage.NewMemory())
	tn.linkAll()
	eventually(t, 60*time.Second, "the joiner to hold every fact", converged(t, []*Node{a, b}, 1501))
	if a.stats.syncIncomplete.Load()+b.stats.syncIncomplete.Load() == 0 {
		t.Fatal("no session hit the round limit: the test does not exercise continuation")
	}
}
