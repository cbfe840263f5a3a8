package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aura-node/aura-node/cache"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/storage"
)

// Params are what New needs. Config, Keys, Genesis and Journal are
// required.
type Params struct {
	Config  Config
	Keys    *Keys
	Genesis []byte
	Journal storage.Journal
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registry receives the node's metrics; default: a new registry.
	Registry *prometheus.Registry
	// Now reads the wall clock; default time.Now. Only the shell reads it.
	Now func() time.Time
	// Host, if set, is used instead of creating one from Config (tests
	// pass mocknet hosts). The node does not close a host it was given.
	Host host.Host
	// CacheEntries bounds the local cache; default 100000.
	CacheEntries int
	// SnapshotDir is where snapshot state blobs are stored by CID; empty
	// keeps them in memory (tests).
	SnapshotDir string
	// BlocksDir is the artifact block store's directory (blocks/ in the
	// home); empty keeps it in memory (tests).
	BlocksDir string
	// OnCommit, if set, is called on the loop goroutine after every
	// journal commit with the facts it added (benchmarks and tests use
	// it to time delivery). It must return quickly and not call the node.
	OnCommit func([]facts.Verified)
	// Home is the node's home directory: under a launcher (AURA_LAUNCHER=1)
	// the upgrade manager talks to the launcher of this home (upgrade.go).
	Home string
	// launcher replaces the launcher link in tests.
	launcher launcherLink
	// protocol replaces the build's protocol version in tests (0: the
	// build's).
	protocol uint64
}

// Node is a running aura-node.
type Node struct {
	log       *slog.Logger
	cfg       Config
	keys      *Keys
	authority facts.AuthorityID
	netID     cid.Cid
	// protocol is the node protocol version this node speaks
	// (ProtocolVersion; upgrade_proto.go).
	protocol uint64
	journal  storage.Journal
	host     host.Host
	ownHost  bool
	ps       *pubsub.PubSub
	topic    *pubsub.Topic
	sub      *pubsub.Subscription
	cache    *cache.Cache
	registry *prometheus.Registry
	metrics  *metrics
	now      func() time.Time
	started  time.Time

	// gov is the governance state as of the last commit; the loop
	// replaces it, never mutates it.
	gov atomic.Pointer[facts.Governance]

	reqs     chan func()
	incoming chan inbound
	scores   atomic.Pointer[map[peer.ID]float64]
	onCommit func([]facts.Verified)
	stats    struct {
		gossipAccepted, gossipRejected, gossipIgnored atomic.Uint64
		syncSessions, syncPulled, syncFailures        atomic.Uint64
		syncPushed, syncIncomplete                    atomic.Uint64
		held                                          atomic.Int64
	}
	syncNow   chan peer.ID
	mesh      *meshTracker
	set       factSet
	syncPeers syncPeers
	blocked   *blocklist
	// sessions is the table of running anti-entropy sessions
	// (sessions.go).
	sessions *sessionTable
	releases releaseCatalogue
	upg      upgradeState // upgrade.go; loop-owned but for proto

	// loop-owned state.
	clock facts.Clock
	held  map[cid.Cid]facts.Checked
	snap  snapshotState

	genesis   []byte
	blobs     *blobStore
	art       *artifactLayer // artifacts.go
	adopting  atomic.Bool
	preDigest facts.Digest

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mdns   mdns.Service
}

// inbound is a checked fact and where it came from.
type inbound struct {
	fact   facts.Checked
	source string
	done   chan<- facts.Verdict // optional
}

const (
	sourceGossip = "gossip"
	sourceSync   = "sync"
	sourceLocal  = "local"
)

// maxHeld bounds the facts held for a future epoch.
const maxHeld = 10000

// TopicName returns the gossip topic of a network for nodes of protocol
// version v (upgrade_proto.go).
func TopicName(network cid.Cid, v uint64) string {
	return "/aura/" + network.String() + "/facts/" + strconv.FormatUint(v, 10)
}

// New starts a node: it applies the genesis if the journal is new, creates
// or adopts the libp2p host, joins the network's gossip topic and starts
// the loop. Close stops it.
func New(p Params) (*Node, error) {
	if p.Keys == nil || p.Journal == nil || len(p.Genesis) == 0 {
		return nil, errors.New("node: keys, journal and genesis are required")
	}
	if err := p.Config.Validate(); err != nil {
		return nil, err
	}
	n := &Node{
		log:       p.Logger,
		cfg:       p.Config,
		keys:      p.Keys,
		authority: p.Keys.AuthorityID(),
		journal:   p.Journal,
		registry:  p.Registry,
		now:       p.Now,
		onCommit:  p.OnCommit,
		reqs:      make(chan func()),
		incoming:  make(chan inbound, 4096),
		syncNow:   make(chan peer.ID, 64),
		held:      map[cid.Cid]facts.Checked{},
		mesh:      newMeshTracker(),
		syncPeers: syncPeers{peers: map[peer.ID]*peerSyncState{}},
		blocked:   newBlocklist(),
		sessions:  newSessionTable(),
	}
	if n.log == nil {
		n.log = slog.Default()
	}
	if n.now == nil {
		n.now = time.Now
	}
	n.protocol = p.protocol
	if n.protocol == 0 {
		n.protocol = buildProtocol()
	}
	if n.registry == nil {
		n.registry = prometheus.NewRegistry()
	}
	if p.CacheEntries <= 0 {
		p.CacheEntries = 100000
	}
	n.cache = cache.New(p.CacheEntries)
	n.metrics = newMetrics(n.registry, n.cache)
	n.started = n.now()
	if err := n.openJournal(p.Genesis); err != nil {
		return nil, err
	}
	if err := n.loadFactSet(); err != nil {
		return nil, err
	}
	if err := n.loadReleases(); err != nil {
		return nil, err
	}
	if err := n.initUpgrades(p); err != nil {
		return nil, err
	}
	n.genesis = p.Genesis
	n.blobs = newBlobStore(p.SnapshotDir)
	if err := n.initSnapshots(); err != nil {
		return nil, err
	}
	if err := n.openArtifacts(p.BlocksDir); err != nil {
		return nil, err
	}
	started := false
	defer func() {
		if !started {
			n.closeArtifacts()
		}
	}()
	n.ctx, n.cancel = context.WithCancel(context.Background())
	if err := n.startHost(p.Host); err != nil {
		n.cancel()
		return nil, err
	}
	if err := n.startGossip(); err != nil {
		n.shutdownHost()
		n.cancel()
		return nil, err
	}
	n.host.SetStreamHandler(syncProtocol(n.netID, n.protocol), n.serveSync)
	n.host.SetStreamHandler(blobProtocol(n.netID), n.serveBlob)
	n.startUpgrades()
	n.host.Network().Notify(&network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) {
			select {
			case n.syncNow <- c.RemotePeer():
			default:
			}
		},
		DisconnectedF: func(net network.Network, c network.Conn) {
			if net.Connectedness(c.RemotePeer()) != network.Connected {
				n.mesh.Prune(c.RemotePeer(), "")
			}
		},
	})
	n.startArtifacts()
	started = true
	n.wg.Add(4)
	go n.loop()
	go n.readGossip()
	go n.syncLoop()
	go n.peerLoop()
	if n.cfg.MDNS {
		service := n.cfg.MDNSService
		if service == "" {
			service = "aura-" + n.netID.String()
		}
		n.mdns = mdns.NewMdnsService(n.host, service, mdnsNotifee{n})
		if err := n.mdns.Start(); err != nil {
			n.log.Warn("mDNS discovery failed to start", "err", err)
		}
	}
	return n, nil
}

// openJournal applies the genesis to a new journal, or checks that an
// existing journal belongs to the same network.
func (n *Node) openJournal(genesis []byte) error {
	n.netID = facts.ComputeID(genesis)
	g, err := facts.ReadGovernance(n.journal)
	if err != nil {
		return err
	}
	if g != nil {
		if !g.NetworkID().Equals(n.netID) {
			return fmt.Errorf("node: the data directory belongs to network %s, but the genesis is %s", g.NetworkID(), n.netID)
		}
		n.gov.Store(g)
		n.recordGauges()
		return nil
	}
	c, v := facts.CheckStateless(n.netID, genesis, facts.Limits{})
	if v.Result != facts.Accept {
		return fmt.Errorf("node: genesis: %v", v.Reason)
	}
	txn := facts.NewTxn(n.journal)
	if v, err := txn.Apply(c); err != nil {
		return err
	} else if v.Result != facts.Accept {
		return fmt.Errorf("node: genesis: %v", v)
	}
	b, err := txn.Commit()
	if err != nil {
		return err
	}
	if err := n.journal.Commit(b); err != nil {
		return err
	}
	g, err = facts.ReadGovernance(n.journal)
	if err != nil {
		return err
	}
	n.gov.Store(g)
	n.recordGauges()
	return nil
}

func (n *Node) startHost(h host.Host) error {
	if h != nil {
		n.host = h
		return nil
	}
	h, err := libp2p.New(
		libp2p.Identity(n.keys.Node),
		libp2p.ListenAddrStrings(n.cfg.ListenAddrs...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.DisableRelay(),
		libp2p.PrometheusRegisterer(n.registry),
		libp2p.ConnectionGater(n.blocked),
	)
	if err != nil {
		return fmt.Errorf("node: starting libp2p host: %w", err)
	}
	n.host, n.ownHost = h, true
	return nil
}

func (n *Node) shutdownHost() {
	if n.ownHost {
		n.host.Close()
	}
}

// Close stops the node and waits for its goroutines. It does not close the
// journal.
func (n *Node) Close() error {
	n.cancel()
	if n.mdns != nil {
		n.mdns.Close()
	}
	n.host.RemoveStreamHandler(syncProtocol(n.netID, n.protocol))
	n.host.RemoveStreamHandler(blobProtocol(n.netID))
	n.sub.Cancel()
	n.topic.Close()
	n.wg.Wait()
	n.closeArtifacts()
	n.shutdownHost()
	return nil
}

// Host returns the libp2p host.
func (n *Node) Host() host.Host { return n.host }

// NetworkID returns the genesis CID.
func (n *Node) NetworkID() cid.Cid { return n.netID }

// Authority returns the node's authority ID.
func (n *Node) Authority() facts.AuthorityID { return n.authority }

// Registry returns the node's metrics registry.
func (n *Node) Registry() *prometheus.Registry { return n.registry }

// Governance returns the governance state as of the last commit.
func (n *Node) Governance() *facts.Governance { return n.gov.Load() }

// Digest returns the current state digest.
func (n *Node) Digest() (facts.Digest, error) { return facts.ReadDigest(n.journal) }

// do runs f on the loop goroutine and waits for it.
func (n *Node) do(ctx context.Context, f func()) error {
	done := make(chan struct{})
	select {
	case n.reqs <- func() { f(); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.ctx.Done():
		return errors.New("node: shutting down")
	}
	select {
	case <-done:
		return nil
	case <-n.ctx.Done():
		return errors.New("node: shutting down")
	}
}

// loop owns the journal writes, the clock and the held facts.
func (n *Node) loop() {
	defer n.wg.Done()
	batch := make([]inbound, 0, 1024)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-tick.C:
			n.snapshotTick()
			n.runSnapshots()
			n.upgradeTick()
		case f := <-n.reqs:
			f()
			n.runSnapshots()
		case in := <-n.incoming:
			batch = append(batch[:0], in)
		drain:
			for len(batch) < cap(batch) {
				select {
				case in := <-n.incoming:
					batch = append(batch, in)
				default:
					break drain
				}
			}
			n.ingest(batch)
			n.runSnapshots()
		}
	}
}

// ingest applies a batch of checked facts in one transaction and commits.
func (n *Node) ingest(batch []inbound) {
	before := n.gov.Load().CurrentEpoch()
	txn := facts.NewTxn(n.journal)
	verdicts := make([]facts.Verdict, len(batch))
	for i, in := range batch {
		n.clock.Observe(in.fact.Fact().Time)
		if v := checkRelease(in.fact, n.gov.Load()); v.Result != facts.Accept {
			verdicts[i] = v
			continue
		}
		if v := checkActivation(in.fact); v.Result != facts.Accept {
			verdicts[i] = v
			continue
		}
		if n.pastCut(in.fact.Fact()) {
			verdicts[i] = facts.Verdict{Result: facts.Ignore, Reason: errPastCut}
			continue
		}
		if in.fact.Fact().Kind == facts.KindSnapshotCompleted {
			// A completion commits alone, so the state just before it
			// can be compared with the certified state.
			if err := n.commit(txn); err != nil {
				n.log.Error("journal commit failed", "err", err)
			}
			verdicts[i] = n.applyCompletion(in.fact)
			txn = facts.NewTxn(n.journal)
			continue
		}
		v, err := txn.Apply(in.fact)
		if err != nil {
			n.log.Error("journal read failed", "err", err)
			v = facts.Verdict{Result: facts.Ignore, Reason: err}
		}
		verdicts[i] = v
	}
	if err := n.commit(txn); err != nil {
		n.log.Error("journal commit failed", "err", err)
		for i := range verdicts {
			if verdicts[i].Result == facts.Accept {
				verdicts[i] = facts.Verdict{Result: facts.Ignore, Reason: err}
			}
		}
	}
	for i, in := range batch {
		v := verdicts[i]
		switch v.Result {
		case facts.Accept:
			n.metrics.ingested.WithLabelValues(in.source).Inc()
		default:
			n.metrics.refused.WithLabelValues(in.source, v.Result.String(), reasonLabel(v.Reason)).Inc()
			if holdable(v.Reason) && len(n.held) < maxHeld {
				n.held[in.fact.ID()] = in.fact
			} else if v.Result == facts.Reject {
				n.log.Debug("fact refused", "source", in.source, "id", in.fact.ID(), "verdict", v)
			}
		}
		if in.done != nil {
			in.done <- v
		}
	}
	if len(n.held) > 0 && (n.gov.Load().CurrentEpoch() != before || n.heldMayApply(batch, verdicts)) {
		n.retryHeld()
	}
	n.stats.held.Store(int64(len(n.held)))
	n.metrics.held.Set(float64(len(n.held)))
}

// retryHeld re-offers the held facts after the epoch advanced.
func (n *Node) retryHeld() {
	for len(n.held) > 0 {
		before := len(n.held)
		txn := facts.NewTxn(n.journal)
		for id, c := range n.held {
			if n.pastCut(c.Fact()) {
				continue
			}
			if c.Fact().Kind == facts.KindSnapshotCompleted {
				if err := n.commit(txn); err != nil {
					n.log.Error("journal commit failed", "err", err)
					return
				}
				if v := n.applyCompletion(c); !holdable(v.Reason) {
					delete(n.held, id)
				}
				txn = facts.NewTxn(n.journal)
				continue
			}
			v, err := txn.Apply(c)
			if err != nil {
				return
			}
			if v.Result == facts.Accept || !holdable(v.Reason) {
				delete(n.held, id)
			}
		}
		if err := n.commit(txn); err != nil {
			n.log.Error("journal commit failed", "err", err)
			return
		}
		if len(n.held) == before {
			return
		}
	}
}

// commit writes a transaction's batch and publishes the new governance
// snapshot and the effects on the local cache.
func (n *Node) commit(txn *facts.Txn) error {
	if txn.Len() == 0 {
		return nil
	}
	b, err := txn.Commit()
	if err != nil {
		return err
	}
	if err := n.journal.Commit(b); err != nil {
		return err
	}
	n.queueSnapshotFacts(b.Facts, n.preDigest)
	n.set.mu.Lock()
	for _, v := range b.Facts {
		n.set.tree.Insert(itemOf(v.ID(), v.Fact().Time))
	}
	n.set.mu.Unlock()
	gov := n.gov.Load()
	n.releases.mu.Lock()
	for _, v := range b.Facts {
		n.releases.apply(gov, v.Fact(), v.Payload())
	}
	n.releases.mu.Unlock()
	n.applyUpgrades(b.Facts)
	if n.onCommit != nil {
		n.onCommit(b.Facts)
	}
	for _, v := range b.Facts {
		if ci, ok := v.Payload().(*facts.CacheInvalidated); ok {
			n.cache.Invalidated(ci.Keys, ci.EpochFloor)
		}
		switch v.Fact().Kind {
		case facts.KindRosterChangeProposed, facts.KindAdminReplacement, facts.KindTransitionApproved, facts.KindSnapshotCompleted:
			g, err := facts.ReadGovernance(n.journal)
			if err != nil {
				return err
			}
			advanced := g.CurrentEpoch() != n.gov.Load().CurrentEpoch()
			if advanced {
				n.log.Info("identity epoch advanced", "epoch", g.CurrentEpoch(), "cause", g.Current().CauseKind, "admin", g.Current().Admin)
			}
			n.gov.Store(g)
			if advanced && g.Current().CauseKind != facts.KindSnapshotCompleted && n.snap.m != nil {
				n.snapshotActions(n.snap.m.AdvanceEpoch(g.CurrentEpoch()))
			}
		}
	}
	n.recordGauges()
	return nil
}

func (n *Node) recordGauges() {
	n.metrics.epoch.Set(float64(n.gov.Load().CurrentEpoch()))
	if c, err := n.journal.Count(); err == nil {
		n.metrics.journal.Set(float64(c))
	}
}

// author signs a fact of this node's authority at the current epoch, runs
// it through the pipeline, commits it and publishes it. It runs on the
// loop.
func (n *Node) author(kind facts.Kind, payload facts.Payload) (facts.Checked, error) {
	if n.fenced(kind) {
		if err := payload.CheckPayload(kind); err != nil {
			return facts.Checked{}, err
		}
		n.snap.queue = append(n.snap.queue, queuedWrite{kind: kind, payload: payload, queued: n.now()})
		n.metrics.queued.Set(float64(len(n.snap.queue)))
		return facts.Checked{}, errQueued
	}
	gov := n.gov.Load()
	raw, id, err := facts.Sign(n.keys.Authority, facts.Draft{
		Network: n.netID,
		Kind:    kind,
		Payload: payload,
		Epoch:   gov.CurrentEpoch(),
		Time:    n.clock.Next(uint64(n.now().UnixMilli())),
	})
	if err != nil {
		return facts.Checked{}, err
	}
	c, v := facts.CheckStateless(n.netID, raw, gov.Limits())
	if v.Result == facts.Accept {
		v = checkRelease(c, gov)
	}
	if v.Result == facts.Accept {
		v = checkActivation(c)
	}
	if v.Result != facts.Accept {
		return facts.Checked{}, v.Reason
	}
	if kind == facts.KindSnapshotCompleted {
		v = n.applyCompletion(c)
		if v.Result != facts.Accept {
			return facts.Checked{}, fmt.Errorf("this node may not write %v: %w", kind, v.Reason)
		}
	} else {
		txn := facts.NewTxn(n.journal)
		v, err = txn.Apply(c)
		if err != nil {
			return facts.Checked{}, err
		}
		if v.Result != facts.Accept {
			return facts.Checked{}, fmt.Errorf("this node may not write %v: %w", kind, v.Reason)
		}
		if err := n.commit(txn); err != nil {
			return facts.Checked{}, err
		}
	}
	n.metrics.ingested.WithLabelValues(sourceLocal).Inc()
	// The fact is durable before it is announced. Publish keeps the slice:
	// raw is fresh and never reused.
	if err := n.topic.Publish(n.ctx, raw); err != nil {
		n.log.Warn("publishing fact failed; anti-entropy will spread it", "id", id, "err", err)
	}
	return c, nil
}

// Author signs, stores and publishes a fact from this node's authority.
func (n *Node) Author(ctx context.Context, kind facts.Kind, payload facts.Payload) (facts.Checked, error) {
	var v facts.Checked
	var aerr error
	if err := n.do(ctx, func() { v, aerr = n.author(kind, payload) }); err != nil {
		return v, err
	}
	return v, aerr
}

// Offer feeds checked facts into the loop as if received from source, and
// waits for their verdicts.
func (n *Node) offer(ctx context.Context, cs []facts.Checked, source string) ([]facts.Verdict, error) {
	done := make(chan facts.Verdict, len(cs))
	for _, c := range cs {
		select {
		case n.incoming <- inbound{fact: c, source: source, done: done}:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-n.ctx.Done():
			return nil, errors.New("node: shutting down")
		}
	}
	out := make([]facts.Verdict, 0, len(cs))
	for range cs {
		select {
		case v := <-done:
			out = append(out, v)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-n.ctx.Done():
			return nil, errors.New("node: shutting down")
		}
	}
	return out, nil
}

type mdnsNotifee struct{ n *Node }

func (m mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) {
	if ai.ID == m.n.host.ID() {
		return
	}
	ctx, cancel := context.WithTimeout(m.n.ctx, 10*time.Second)
	defer cancel()
	if err := m.n.host.Connect(ctx, ai); err != nil {
		m.n.log.Debug("mDNS peer dial failed", "peer", ai.ID, "err", err)
	}
}
