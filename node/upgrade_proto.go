package node

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"

	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/release"
)

// Sessions across a hard fork (SPEC section 7, item 4 of issue 6).
//
// Every build speaks one node protocol version (ProtocolVersion). The
// protocols that carry facts carry it in their IDs: anti-entropy runs
// over /aura/<network>/sync/<v> and gossip over the topic
// /aura/<network>/facts/<v>, and /aura/<network>/node/<v> advertises the
// version on its own (peers learn all three through libp2p identify). A
// release that is a hard fork (ScopedHardFork,
// IncompatibleWithoutPartition) ships a build with a higher version, so
// after a local cutover, which restarts the node as the new build, the
// node neither gossips with legacy peers nor serves or starts their
// sessions: multistream negotiation finds no common protocol, and a
// session this node would start with a peer that advertises another
// version is refused before a stream is opened, with the reason named
// (sessionRefusal). Soft-fork builds keep the version and refuse nothing.
//
// Content-addressed protocols (artifact blocks, bitswap, snapshot blobs)
// are not versioned: every block is verified against its CID, whatever
// build sent it, so artifacts keep spreading across a fork and a node
// that rolls back can still fetch what it needs.
//
// In-flight sessions at the moment of a cutover follow the recorded
// session plan (sessions.go): drain, abort or delegate, with fallbacks.
//
// A partition is recorded as PartitionObserved, once per running
// release, in each scope where this device runs it:
//   - IncompatibleWithoutPartition plans for one: the first refused
//     session records it (expected; the scope does not fail);
//   - ScopedHardFork expects the scope's peers to follow: when this node
//     has been cut off from every peer for partitionGrace (connected
//     peers speak only other versions), the release turned out to need a
//     partition, and the reducer fails the scope with PartitionRequired,
//     after which the rollback preference decides.

// ProtocolVersion is the node protocol version of this build. A hard-fork
// build raises it:
//
//	go build -ldflags "-X github.com/aura-node/aura-node/node.ProtocolVersion=2" ./cmd/aura-node
var ProtocolVersion = "1"

// partitionGrace is the default of how long a node running a scoped hard
// fork may have only incompatible peers before it records a partition
// (activation.partition_grace sets it). A variable for tests.
var partitionGrace = 2 * time.Minute

// buildProtocol is ProtocolVersion as a number (1 if unparseable).
func buildProtocol() uint64 {
	v, err := strconv.ParseUint(ProtocolVersion, 10, 32)
	if err != nil || v == 0 {
		return 1
	}
	return v
}

// versionProtocol is the protocol ID a node of version v advertises.
func versionProtocol(network cid.Cid, v uint64) protocol.ID {
	return protocol.ID(fmt.Sprintf("/aura/%s/node/%d", network, v))
}

// protoState is what the sync goroutines read: set by the loop.
type protoState struct {
	// hardFork is the hard-fork release this node runs, or nil.
	hardFork atomic.Pointer[hardForkState]
	// refused counts refused sessions; lastRefusal says the last one.
	refused     atomic.Uint64
	lastRefusal atomic.Pointer[string]
	// separated is set by a refusal and taken by the loop.
	separated atomic.Bool
	// logged holds the peers whose refusal was logged at Info (once
	// per peer and version).
	logged sync.Map
	// isolatedSince is when a node running a scoped hard fork first saw
	// only incompatible peers (loop only; zero: not isolated).
	isolatedSince time.Time
}

type hardForkState struct {
	release release.ID
	class   release.CompatibilityClass
	version uint64
}

// startUpgrades advertises this node's protocol version (a stream
// handler under its protocol ID, answering with the version).
func (n *Node) startUpgrades() {
	n.host.SetStreamHandler(versionProtocol(n.netID, n.protocol), func(s network.Stream) {
		defer s.Close()
		s.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(s, "%d\n", n.protocol)
	})
}

// peerProtocol returns the highest node protocol version p advertises.
func (n *Node) peerProtocol(p peer.ID) (uint64, bool) {
	protos, err := n.host.Peerstore().GetProtocols(p)
	if err != nil {
		return 0, false
	}
	prefix := "/aura/" + n.netID.String() + "/node/"
	var best uint64
	found := false
	for _, id := range protos {
		s, ok := strings.CutPrefix(string(id), prefix)
		if !ok {
			continue
		}
		if v, err := strconv.ParseUint(s, 10, 32); err == nil && (!found || v > best) {
			best, found = v, true
		}
	}
	return best, found
}

// identified waits (at most 5 s) until libp2p identify has run on the
// connections to p, so that its protocol list is current: a peer that
// restarted as another build keeps its peer ID, and the list from its
// previous connection would be stale.
func (n *Node) identified(ctx context.Context, p peer.ID) {
	ids, ok := n.host.(interface{ IDService() identify.IDService })
	if !ok {
		return
	}
	conns := n.host.Network().ConnsToPeer(p)
	if len(conns) == 0 {
		return
	}
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-ids.IDService().IdentifyWait(conns[0]):
	case <-t.C:
	case <-ctx.Done():
	}
}

// errIncompatible marks a refused session.
var errIncompatible = errors.New("node: incompatible protocol version")

// sessionRefusal returns why a new session with p is refused, or nil: p
// advertises another node protocol version. A peer that advertises none
// is not refused here: if it does not speak this node's sync protocol,
// opening the stream fails.
func (n *Node) sessionRefusal(ctx context.Context, p peer.ID) error {
	n.identified(ctx, p)
	v, ok := n.peerProtocol(p)
	if !ok || v == n.protocol {
		return nil
	}
	why := fmt.Sprintf("peer %s speaks protocol %d; this node speaks protocol %d", p, v, n.protocol)
	if hf := n.upg.proto.hardFork.Load(); hf != nil {
		why += fmt.Sprintf(" (it runs hard fork %s, %v)", hf.release.Short(), hf.class)
	}
	ps := &n.upg.proto
	ps.refused.Add(1)
	ps.lastRefusal.Store(&why)
	ps.separated.Store(true)
	if _, seen := ps.logged.LoadOrStore(p.String()+"/"+strconv.FormatUint(v, 10), true); !seen {
		n.log.Info("refusing sessions with an incompatible peer", "peer", p, "reason", why)
	}
	return fmt.Errorf("%w: %s", errIncompatible, why)
}

// peerVersions counts the connected peers that advertise this node's
// protocol version and those that advertise another.
func (n *Node) peerVersions() (compatible, incompatible int) {
	for _, p := range n.host.Network().Peers() {
		v, ok := n.peerProtocol(p)
		switch {
		case !ok:
		case v == n.protocol:
			compatible++
		default:
			incompatible++
		}
	}
	return compatible, incompatible
}

// updateHardFork sets the hard-fork state from the release this node
// runs (on the loop).
func (n *Node) updateHardFork() {
	run, _ := n.running()
	if run.Release.IsZero() {
		n.upg.proto.hardFork.Store(nil)
		return
	}
	e, ok := n.releaseEntry(run.Release)
	if !ok || !e.Declared() || !e.Declarations[0].Manifest.Compatibility.Class.HardFork() {
		n.upg.proto.hardFork.Store(nil)
		return
	}
	class := e.Declarations[0].Manifest.Compatibility.Class
	if cur := n.upg.proto.hardFork.Load(); cur != nil && cur.release == run.Release {
		return
	}
	n.upg.proto.hardFork.Store(&hardForkState{release: run.Release, class: class, version: n.protocol})
	n.log.Info("running a hard fork: sessions and gossip with other protocol versions are refused", "release", run.Release.Short(), "class", class, "protocol", n.protocol)
}

// reportPartition records PartitionObserved, once per running release,
// in the scopes where this device runs a hard fork, when incompatible
// peers separated: for IncompatibleWithoutPartition after the first
// refusal, for ScopedHardFork once this node has had only incompatible
// peers for partitionGrace.
func (n *Node) reportPartition(evals []*scopeEval) bool {
	ps := &n.upg.proto
	hf := ps.hardFork.Load()
	if hf == nil {
		ps.isolatedSince = time.Time{}
		return false
	}
	if n.upg.partitioned[hf.release] {
		return false
	}
	var detail string
	switch hf.class {
	case release.IncompatibleWithoutPartition:
		if !ps.separated.Swap(false) {
			return false
		}
		detail = "incompatible peers refused"
		if s := ps.lastRefusal.Load(); s != nil {
			detail = *s
		}
	default:
		compatible, incompatible := n.peerVersions()
		if compatible > 0 || incompatible == 0 {
			ps.isolatedSince = time.Time{}
			return false
		}
		now := n.now()
		if ps.isolatedSince.IsZero() {
			ps.isolatedSince = now
			n.log.Warn("running a scoped hard fork, every connected peer speaks another protocol version", "release", hf.release.Short(), "incompatible_peers", incompatible, "grace", n.upg.cfg.partitionGrace())
			return false
		}
		grace := n.upg.cfg.partitionGrace()
		if now.Sub(ps.isolatedSince) < grace {
			return false
		}
		detail = fmt.Sprintf("scoped hard fork cut this device off: for %s its %d connected peers spoke other protocol versions and none spoke %d", grace, incompatible, n.protocol)
	}
	n.upg.partitioned[hf.release] = true
	changed := false
	for _, e := range evals {
		ds, ok := e.status.Device(n.authority, n.upg.device)
		if !ok || ds.Running.ID != hf.release || ds.Partitions > 0 {
			continue
		}
		u := &facts.UpgradeEvent{Scope: e.scope, ReleaseID: hf.release[:], Device: n.upg.device, Detail: clip(detail, facts.MaxTextLen)}
		if err := n.report(facts.KindPartitionObserved, u); err != nil {
			n.log.Warn("recording a partition failed", "scope", e.scope.Short(), "err", err)
			continue
		}
		changed = true
	}
	return changed
}
