package bench

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/node"
	"github.com/aura-node/aura-node/storage"
)

// GossipOptions configure Gossip.
type GossipOptions struct {
	// Nodes is the number of hosts in each network; default 20.
	Nodes int
	// Facts is the number of messages (facts) node 1 publishes; default
	// 200.
	Facts int
	// Interval paces the publishing; default 5 ms.
	Interval time.Duration
	// Degree is how many random others each host dials; default 4.
	Degree int
	// Seed fixes the topology; default 1.
	Seed uint64
	// Settle bounds the wait for stragglers after the last publish;
	// default 5 s.
	Settle time.Duration
	// Logger receives the nodes' logs; default: discarded.
	Logger *slog.Logger

	// isolate (tests only), if in 2..Nodes, is an aura node cut off from
	// its peers while the facts are published and reconnected before
	// anti-entropy, so that anti-entropy has something to repair.
	isolate int
}

// GossipRaw is the baseline: plain gossipsub between plain libp2p hosts.
type GossipRaw struct {
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
	// Lost counts (message, receiver) pairs not delivered by the end of
	// the settle time.
	Lost int `json:"lost"`
}

// GossipAura is aura-node: commit at the author to commit at each other
// node.
type GossipAura struct {
	P50Ms                float64 `json:"p50_ms"`
	P99Ms                float64 `json:"p99_ms"`
	MaxMs                float64 `json:"max_ms"`
	LostAfterGossip      int     `json:"lost_after_gossip"`
	LostAfterAntiEntropy int     `json:"lost_after_antientropy"`
}

// GossipResult is what `aura-node bench gossip --json` prints.
type GossipResult struct {
	Nodes int `json:"nodes"`
	Facts int `json:"facts"`
	// MsgBytes is the size of each baseline message: that of a signed
	// aura Data fact like the ones the nodes gossip.
	MsgBytes   int        `json:"msg_bytes"`
	IntervalMs float64    `json:"interval_ms"`
	Raw        GossipRaw  `json:"raw"`
	Aura       GossipAura `json:"aura"`
	P99Ratio   float64    `json:"p99_ratio"`
	Goal       string     `json:"goal"`
	MeetsGoal  bool       `json:"meets_goal"`
}

// Goal of the gossip benchmark (SPEC section 10).
const (
	gossipMaxP99Ratio = 1.5
	gossipGoal        = "p99_ratio <= 1.5 and lost_after_antientropy == 0"
)

const (
	// gossipQueue is node/gossip.go's queue size (validate queue, peer
	// outbound queue, subscription buffer).
	gossipQueue = 4096
	// gossipReadyTimeout bounds the wait for meshes and for a warm-up
	// message to reach every host.
	gossipReadyTimeout = 30 * time.Second
	// gossipWarmupRetry is how long one warm-up message may take before
	// another is published.
	gossipWarmupRetry = 2 * time.Second
	gossipPoll        = 10 * time.Millisecond
	gossipValueBytes  = 64
	gossipNamespace   = "bench"
)

// Gossip measures delivery latency of node 1's facts to every other node
// of an in-process aura network on 127.0.0.1 TCP, against plain gossipsub
// on the same number of plain libp2p hosts in the same topology, measured
// first in the same run. The aura nodes run with a one-hour sync interval,
// so gossip alone is measured; then each node runs one anti-entropy
// session with its parent on a BFS tree rooted at the author, and every
// fact must have reached every node.
func Gossip(ctx context.Context, opts GossipOptions) (*GossipResult, error) {
	if opts.Nodes == 0 {
		opts.Nodes = 20
	}
	if opts.Facts == 0 {
		opts.Facts = 200
	}
	if opts.Interval == 0 {
		opts.Interval = 5 * time.Millisecond
	}
	if opts.Degree == 0 {
		opts.Degree = 4
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	if opts.Settle == 0 {
		opts.Settle = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Nodes < 2 || opts.Facts < 1 || opts.Interval < 0 || opts.Degree < 1 || opts.Settle < 0 {
		return nil, fmt.Errorf("bench: gossip needs at least 2 nodes, 1 fact, a degree of at least 1 and no negative durations")
	}
	edges := gossipTopology(opts.Nodes, opts.Degree, opts.Seed)

	// The aura keys and genesis come first: the baseline's messages have
	// the size of the Data facts the nodes will gossip.
	keys := make([]*node.Keys, opts.Nodes)
	members := make([]facts.Member, opts.Nodes)
	for i := range keys {
		k, err := gossipKeys(uint64(i + 1))
		if err != nil {
			return nil, err
		}
		keys[i] = k
		members[i] = facts.Member{Authority: k.AuthorityID(), Name: fmt.Sprintf("n%d", i+1)}
	}
	genesis, netID, err := node.NewGenesis(keys[0].Authority, "bench-gossip", members, 0, uint64(time.Now().UnixMilli()))
	if err != nil {
		return nil, err
	}
	sample, _, err := facts.Sign(keys[0].Authority, facts.Draft{
		Network: netID,
		Kind:    facts.KindData,
		Payload: &facts.Data{Namespace: gossipNamespace, Key: gossipKey(opts.Facts - 1), Value: make([]byte, gossipValueBytes)},
		Time:    facts.MakeTimestamp(uint64(time.Now().UnixMilli()), 0),
	})
	if err != nil {
		return nil, err
	}

	res := &GossipResult{
		Nodes:      opts.Nodes,
		Facts:      opts.Facts,
		MsgBytes:   len(sample),
		IntervalMs: ms(opts.Interval),
		Goal:       gossipGoal,
	}
	raw, err := runRawGossip(ctx, opts, edges, len(sample))
	if err != nil {
		return nil, fmt.Errorf("bench: raw gossipsub: %w", err)
	}
	res.Raw = *raw
	aura, err := runAuraGossip(ctx, opts, edges, keys, genesis)
	if err != nil {
		return nil, fmt.Errorf("bench: aura: %w", err)
	}
	res.Aura = *aura
	if res.Raw.P99Ms > 0 {
		res.P99Ratio = math.Round(res.Aura.P99Ms/res.Raw.P99Ms*1e3) / 1e3
	} else {
		res.P99Ratio = math.Inf(1)
	}
	res.MeetsGoal = res.P99Ratio <= gossipMaxP99Ratio && res.Aura.LostAfterAntiEntropy == 0
	if math.IsInf(res.P99Ratio, 0) {
		// JSON has no infinity; a zero baseline p99 cannot happen with
		// real delivery, but keep the result encodable.
		res.P99Ratio = 0
		res.MeetsGoal = false
	}
	return res, nil
}

func gossipKey(i int) string { return fmt.Sprintf("key-%d", i) }

// gossipKeys derives a member's keys from a seed, as the node tests do:
// the libp2p identity is the authority's Ed25519 key.
func gossipKeys(seed uint64) (*node.Keys, error) {
	s := make([]byte, ed25519.SeedSize)
	binary.BigEndian.PutUint64(s, seed)
	auth := ed25519.NewKeyFromSeed(s)
	nk, err := crypto.UnmarshalEd25519PrivateKey(auth)
	if err != nil {
		return nil, err
	}
	return &node.Keys{Node: nk, Authority: auth}, nil
}

// gossipTopology returns the undirected edges (dialer, target): each host
// dials min(degree, n-1) distinct random others (seeded), duplicates
// dropped; if that leaves the graph disconnected, host i dials host i-1
// wherever they are in different components, so the graph is connected.
func gossipTopology(n, degree int, seed uint64) [][2]int {
	rng := rand.New(rand.NewPCG(seed, 0x676f73736970)) // "gossip"
	type pair struct{ a, b int }
	seen := map[pair]bool{}
	var edges [][2]int
	add := func(a, b int) {
		k := pair{min(a, b), max(a, b)}
		if a == b || seen[k] {
			return
		}
		seen[k] = true
		edges = append(edges, [2]int{a, b})
	}
	d := min(degree, n-1)
	for i := 0; i < n; i++ {
		picked := 0
		for _, j := range rng.Perm(n) {
			if picked == d {
				break
			}
			if j != i {
				add(i, j)
				picked++
			}
		}
	}
	parent := make([]int, n)
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		if parent[i] != i {
			parent[i] = find(parent[i])
		}
		return parent[i]
	}
	for _, e := range edges {
		parent[find(e[0])] = find(e[1])
	}
	for i := 1; i < n; i++ {
		if find(i) != find(i-1) {
			add(i, i-1)
			parent[find(i)] = find(i - 1)
		}
	}
	return edges
}

// bfsParents returns, for a connected graph, the hosts in BFS order from
// root and each host's parent (-1 for the root).
func bfsParents(n int, edges [][2]int, root int) (order, parent []int) {
	adj := make([][]int, n)
	for _, e := range edges {
		adj[e[0]] = append(adj[e[0]], e[1])
		adj[e[1]] = append(adj[e[1]], e[0])
	}
	for _, a := range adj {
		sort.Ints(a)
	}
	parent = make([]int, n)
	for i := range parent {
		parent[i] = -2
	}
	parent[root] = -1
	order = []int{root}
	for q := 0; q < len(order); q++ {
		for _, j := range adj[order[q]] {
			if parent[j] == -2 {
				parent[j] = order[q]
				order = append(order, j)
			}
		}
	}
	return order, parent
}

// newGossipHost is the host both networks use: TCP on 127.0.0.1 only,
// Noise and yamux, no relay, no metrics.
func newGossipHost(key crypto.PrivKey) (host.Host, error) {
	return libp2p.New(
		libp2p.Identity(key),
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
	)
}

// connect dials every edge.
func connect(ctx context.Context, hosts []host.Host, edges [][2]int) error {
	for _, e := range edges {
		a, b := hosts[e[0]], hosts[e[1]]
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := a.Connect(cctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()})
		cancel()
		if err != nil {
			return fmt.Errorf("connecting host %d to host %d: %w", e[0]+1, e[1]+1, err)
		}
	}
	return nil
}

// poll checks cond every gossipPoll until it holds (true), the deadline
// passes (false) or ctx ends.
func poll(ctx context.Context, deadline time.Time, cond func() bool) (bool, error) {
	tick := time.NewTicker(gossipPoll)
	defer tick.Stop()
	for {
		if cond() {
			return true, nil
		}
		if !time.Now().Before(deadline) {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-tick.C:
		}
	}
}

// meshCount counts the mesh peers of one gossipsub router.
type meshCount struct {
	mu    sync.Mutex
	peers map[peer.ID]bool
}

var _ pubsub.RawTracer = (*meshCount)(nil)

func (m *meshCount) Graft(p peer.ID, _ string) {
	m.mu.Lock()
	m.peers[p] = true
	m.mu.Unlock()
}

func (m *meshCount) Prune(p peer.ID, _ string) {
	m.mu.Lock()
	delete(m.peers, p)
	m.mu.Unlock()
}

func (m *meshCount) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.peers)
}

func (m *meshCount) OnClosedOutboundStream(p peer.ID)                     { m.Prune(p, "") }
func (m *meshCount) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (m *meshCount) Join(string)                                          {}
func (m *meshCount) Leave(string)                                         {}
func (m *meshCount) ValidateMessage(*pubsub.Message)                      {}
func (m *meshCount) DeliverMessage(*pubsub.Message)                       {}
func (m *meshCount) RejectMessage(*pubsub.Message, string)                {}
func (m *meshCount) DuplicateMessage(*pubsub.Message)                     {}
func (m *meshCount) ThrottlePeer(peer.ID)                                 {}
func (m *meshCount) RecvRPC(*pubsub.RPC)                                  {}
func (m *meshCount) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (m *meshCount) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (m *meshCount) DropRPC(*pubsub.RPC, peer.ID)                         {}
func (m *meshCount) UndeliverableMessage(*pubsub.Message)                 {}

// rawPeer is one baseline host with its router.
type rawPeer struct {
	h     host.Host
	topic *pubsub.Topic
	sub   *pubsub.Subscription
	mesh  *meshCount
	// recv[i] is the receive time of message i (nanoseconds since the
	// run's start, +1), 0 until received.
	recv   []atomic.Int64
	warmup atomic.Uint64 // highest warm-up number received
}

// Raw message layout: a type byte, a big-endian uint64 number, then
// zeros to the size of a Data fact.
const (
	rawWarmup   = 'w'
	rawMeasured = 'm'
)

func rawMessage(size int, typ byte, i uint64) []byte {
	b := make([]byte, max(size, 9))
	b[0] = typ
	binary.BigEndian.PutUint64(b[1:], i)
	return b
}

func runRawGossip(ctx context.Context, opts GossipOptions, edges [][2]int, size int) (*GossipRaw, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	const topicName = "/bench/raw/1"
	peers := make([]*rawPeer, opts.Nodes)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		for _, p := range peers {
			if p == nil {
				continue
			}
			if p.sub != nil {
				p.sub.Cancel()
			}
			if p.topic != nil {
				p.topic.Close()
			}
		}
		wg.Wait()
		for _, p := range peers {
			if p != nil {
				p.h.Close()
			}
		}
	}()
	for i := range peers {
		// Other identities than the aura nodes'.
		k, err := gossipKeys(uint64(1_000_000 + i))
		if err != nil {
			return nil, err
		}
		h, err := newGossipHost(k.Node)
		if err != nil {
			return nil, err
		}
		p := &rawPeer{h: h, mesh: &meshCount{peers: map[peer.ID]bool{}}, recv: make([]atomic.Int64, opts.Facts)}
		peers[i] = p
		// The node's options (node/gossip.go) without its validator and
		// peer scoring.
		ps, err := pubsub.NewGossipSub(ctx, h,
			pubsub.WithMessageIdFn(func(m *pb.Message) string {
				sum := sha256.Sum256(m.Data)
				return string(sum[:])
			}),
			pubsub.WithFloodPublish(true),
			pubsub.WithValidateQueueSize(gossipQueue),
			pubsub.WithPeerOutboundQueueSize(gossipQueue),
			pubsub.WithRawTracer(p.mesh),
		)
		if err != nil {
			return nil, err
		}
		if p.topic, err = ps.Join(topicName); err != nil {
			return nil, err
		}
		if p.sub, err = p.topic.Subscribe(pubsub.WithBufferSize(gossipQueue)); err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m, err := p.sub.Next(ctx)
				if err != nil {
					return
				}
				at := int64(time.Since(start)) + 1
				if m.ReceivedFrom == h.ID() || len(m.Data) < 9 {
					continue
				}
				n := binary.BigEndian.Uint64(m.Data[1:9])
				switch m.Data[0] {
				case rawMeasured:
					if n < uint64(len(p.recv)) {
						p.recv[n].CompareAndSwap(0, at)
					}
				case rawWarmup:
					for {
						old := p.warmup.Load()
						if n <= old || p.warmup.CompareAndSwap(old, n) {
							break
						}
					}
				}
			}
		}()
	}
	hosts := make([]host.Host, len(peers))
	for i, p := range peers {
		hosts[i] = p.h
	}
	if err := connect(ctx, hosts, edges); err != nil {
		return nil, err
	}
	author, others := peers[0], peers[1:]

	// Meshes: every host sees topic peers and has grafted some.
	ok, err := poll(ctx, time.Now().Add(gossipReadyTimeout), func() bool {
		for _, p := range peers {
			if len(p.topic.ListPeers()) == 0 || p.mesh.count() == 0 {
				return false
			}
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("gossip meshes did not form")
	}
	// Warm-up: one message that reaches every host.
	warm := func(w uint64) error {
		return author.topic.Publish(ctx, rawMessage(size, rawWarmup, w))
	}
	if err := warmUp(ctx, warm, func(w uint64) bool {
		for _, p := range others {
			if p.warmup.Load() < w {
				return false
			}
		}
		return true
	}); err != nil {
		return nil, err
	}

	// Measured run.
	sent := make([]int64, opts.Facts)
	if err := paced(ctx, opts.Facts, opts.Interval, func(i int) error {
		sent[i] = int64(time.Since(start)) + 1
		return author.topic.Publish(ctx, rawMessage(size, rawMeasured, uint64(i)))
	}); err != nil {
		return nil, err
	}
	all := func() bool {
		for _, p := range others {
			for i := range p.recv {
				if p.recv[i].Load() == 0 {
					return false
				}
			}
		}
		return true
	}
	if _, err := poll(ctx, time.Now().Add(opts.Settle), all); err != nil {
		return nil, err
	}
	var lat []time.Duration
	lost := 0
	for _, p := range others {
		for i := range p.recv {
			if at := p.recv[i].Load(); at == 0 {
				lost++
			} else {
				lat = append(lat, time.Duration(at-sent[i]))
			}
		}
	}
	p50, p99, mx := quantiles(lat)
	return &GossipRaw{P50Ms: ms(p50), P99Ms: ms(p99), MaxMs: ms(mx), Lost: lost}, nil
}

// warmUp publishes warm-up number 1, 2, ... (one every gossipWarmupRetry)
// until reached(w) holds for one of them, or gossipReadyTimeout passes.
func warmUp(ctx context.Context, publish func(w uint64) error, reached func(w uint64) bool) error {
	deadline := time.Now().Add(gossipReadyTimeout)
	for w := uint64(1); ; w++ {
		if err := publish(w); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
		until := time.Now().Add(gossipWarmupRetry)
		if until.After(deadline) {
			until = deadline
		}
		ok, err := poll(ctx, until, func() bool { return reached(w) })
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("warm-up: no message reached every host within %v", gossipReadyTimeout)
		}
	}
}

// paced calls f(0..n-1), one per tick of interval (the first at once).
func paced(ctx context.Context, n int, interval time.Duration, f func(int) error) error {
	if interval <= 0 {
		for i := 0; i < n; i++ {
			if err := f(i); err != nil {
				return err
			}
		}
		return nil
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := 0; i < n; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tick.C:
			}
		}
		if err := f(i); err != nil {
			return err
		}
	}
	return nil
}

// quantiles returns the nearest-rank p50 and p99 and the maximum.
func quantiles(d []time.Duration) (p50, p99, mx time.Duration) {
	if len(d) == 0 {
		return 0, 0, 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := func(q float64) time.Duration {
		k := int(math.Ceil(q*float64(len(s)))) - 1
		return s[min(max(k, 0), len(s)-1)]
	}
	return rank(0.50), rank(0.99), s[len(s)-1]
}

// commitLog records when each fact committed at one node.
type commitLog struct {
	mu sync.Mutex
	at map[cid.Cid]time.Duration
}

func (c *commitLog) record(vs []facts.Verified, at time.Duration) {
	c.mu.Lock()
	for _, v := range vs {
		if _, ok := c.at[v.ID()]; !ok {
			c.at[v.ID()] = at
		}
	}
	c.mu.Unlock()
}

func (c *commitLog) get(id cid.Cid) (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.at[id]
	return t, ok
}

func runAuraGossip(ctx context.Context, opts GossipOptions, edges [][2]int, keys []*node.Keys, genesis []byte) (*GossipAura, error) {
	start := time.Now()
	hosts := make([]host.Host, 0, opts.Nodes)
	nodes := make([]*node.Node, 0, opts.Nodes)
	defer func() {
		for _, n := range nodes {
			n.Close()
		}
		for _, h := range hosts {
			h.Close()
		}
	}()
	logs := make([]*commitLog, opts.Nodes)
	cfg := node.DefaultConfig()
	// Gossip alone first: no periodic anti-entropy during the run.
	cfg.SyncInterval = node.Duration(time.Hour)
	for i := 0; i < opts.Nodes; i++ {
		h, err := newGossipHost(keys[i].Node)
		if err != nil {
			return nil, err
		}
		hosts = append(hosts, h)
		log := &commitLog{at: map[cid.Cid]time.Duration{}}
		logs[i] = log
		n, err := node.New(node.Params{
			Config:  cfg,
			Keys:    keys[i],
			Genesis: genesis,
			Journal: storage.NewMemory(),
			Logger:  opts.Logger.With("node", i+1),
			Host:    h,
			OnCommit: func(vs []facts.Verified) {
				log.record(vs, time.Since(start))
			},
		})
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
	}
	if err := connect(ctx, hosts, edges); err != nil {
		return nil, err
	}
	author := nodes[0]

	ok, err := poll(ctx, time.Now().Add(gossipReadyTimeout), func() bool {
		for _, n := range nodes {
			s, err := n.Status(ctx)
			if err != nil || s.Gossip.TopicPeers == 0 || s.Gossip.MeshPeers == 0 {
				return false
			}
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("gossip meshes did not form")
	}
	committedEverywhere := func(id cid.Cid) bool {
		for _, l := range logs[1:] {
			if _, ok := l.get(id); !ok {
				return false
			}
		}
		return true
	}
	var warmID cid.Cid
	if err := warmUp(ctx, func(w uint64) error {
		r, err := author.PutData(ctx, "bench-warmup", fmt.Sprintf("warmup-%d", w), make([]byte, gossipValueBytes))
		if err != nil {
			return err
		}
		warmID, err = cid.Decode(r.ID)
		return err
	}, func(uint64) bool { return committedEverywhere(warmID) }); err != nil {
		return nil, err
	}

	if k := opts.isolate - 1; k > 0 && k < len(hosts) {
		for _, p := range hosts[k].Network().Peers() {
			hosts[k].Network().ClosePeer(p)
		}
	}
	ids := make([]cid.Cid, opts.Facts)
	if err := paced(ctx, opts.Facts, opts.Interval, func(i int) error {
		value := make([]byte, gossipValueBytes)
		binary.BigEndian.PutUint64(value, uint64(i))
		r, err := author.PutData(ctx, gossipNamespace, gossipKey(i), value)
		if err != nil {
			return err
		}
		ids[i], err = cid.Decode(r.ID)
		return err
	}); err != nil {
		return nil, err
	}
	missing := func() int {
		m := 0
		for _, l := range logs[1:] {
			for _, id := range ids {
				if _, ok := l.get(id); !ok {
					m++
				}
			}
		}
		return m
	}
	if _, err := poll(ctx, time.Now().Add(opts.Settle), func() bool { return missing() == 0 }); err != nil {
		return nil, err
	}
	// Latency and loss as gossip left them, before anti-entropy adds
	// anything.
	var lat []time.Duration
	lostGossip := 0
	for _, l := range logs[1:] {
		for _, id := range ids {
			sent, ok := logs[0].get(id)
			if !ok {
				return nil, fmt.Errorf("the author has no commit time for %s", id)
			}
			if at, ok := l.get(id); ok {
				lat = append(lat, at-sent)
			} else {
				lostGossip++
			}
		}
	}
	p50, p99, mx := quantiles(lat)
	out := &GossipAura{P50Ms: ms(p50), P99Ms: ms(p99), MaxMs: ms(mx), LostAfterGossip: lostGossip}

	if k := opts.isolate - 1; k > 0 && k < len(hosts) {
		var back [][2]int
		for _, e := range edges {
			if e[0] == k || e[1] == k {
				back = append(back, e)
			}
		}
		if err := connect(ctx, hosts, back); err != nil {
			return nil, err
		}
	}
	// Anti-entropy: each node, in BFS order from the author, syncs with
	// its parent, which has already synced with its own.
	order, parent := bfsParents(opts.Nodes, edges, 0)
	if len(order) != opts.Nodes {
		return nil, errors.New("the topology is not connected")
	}
	for pass := 0; pass < 3 && missing() > 0; pass++ {
		for _, i := range order[1:] {
			if err := syncRetry(ctx, nodes[i], hosts[parent[i]].ID()); err != nil {
				return nil, fmt.Errorf("anti-entropy from node %d to node %d: %w", i+1, parent[i]+1, err)
			}
		}
	}
	out.LostAfterAntiEntropy = missing()
	if out.LostAfterAntiEntropy > 0 {
		return nil, fmt.Errorf("%d (fact, node) pairs still missing after anti-entropy (%d after gossip)",
			out.LostAfterAntiEntropy, lostGossip)
	}
	return out, nil
}

// syncRetry runs one anti-entropy session, retrying a few times on
// failure (a peer may answer busy while its rate limit refills).
func syncRetry(ctx context.Context, n *node.Node, p peer.ID) error {
	const attempts = 5
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	var err error
	for a := 0; a < attempts; a++ {
		var res node.SyncResult
		if res, err = n.SyncWith(ctx, p); err == nil && !res.Incomplete {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	if err == nil {
		err = errors.New("sessions stayed incomplete")
	}
	return err
}
