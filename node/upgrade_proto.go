package node

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
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
// Every build speaks one node protocol version (ProtocolVersion) and
// advertises it as a protocol ID of its own, /aura/<network>/node/<v>, so
// peers learn it through libp2p identify. A release that is a hard fork
// (ScopedHardFork, IncompatibleWithoutPartition) ships a build with a
// higher version. Once this node runs such a release (the launcher
// started it as that release: a local cutover), it refuses new
// anti-entropy sessions, in both directions, with peers that advertise
// another version, or none. Soft forks refuse nothing. When the release
// plans for a partition (IncompatibleWithoutPartition), the first
// refusal is recorded as PartitionObserved in each scope where this
// device runs it.
//
// Not done: the gossip topic is shared across versions (facts are
// validated by content, not by protocol), and in-flight sessions are not
// drained or delegated by the recorded disposition: the launcher stops
// the old node with SIGTERM, which ends its sessions.

// ProtocolVersion is the node protocol version of this build. A hard-fork
// build raises it:
//
//	go build -ldflags "-X github.com/aura-node/aura-node/node.ProtocolVersion=2" ./cmd/aura-node
var ProtocolVersion = "1"

// localProtocol is ProtocolVersion as a number (1 if unparseable).
func localProtocol() uint64 {
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
}

type hardForkState struct {
	release release.ID
	class   release.CompatibilityClass
	version uint64
}

// startUpgrades advertises this build's protocol version (a stream
// handler under its protocol ID, answering with the version).
func (n *Node) startUpgrades() {
	n.host.SetStreamHandler(versionProtocol(n.netID, localProtocol()), func(s network.Stream) {
		defer s.Close()
		s.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(s, "%d\n", localProtocol())
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

// errIncompatible marks a refused session.
var errIncompatible = errors.New("node: incompatible protocol version")

// sessionRefusal returns why a new session with p is refused, or nil:
// this node runs a hard fork and p advertises another protocol version
// (or none, after identify).
func (n *Node) sessionRefusal(p peer.ID) error {
	hf := n.upg.proto.hardFork.Load()
	if hf == nil {
		return nil
	}
	v, ok := n.peerProtocol(p)
	if !ok {
		if ids, isHost := n.host.(interface{ IDService() identify.IDService }); isHost {
			for _, c := range n.host.Network().ConnsToPeer(p) {
				select {
				case <-ids.IDService().IdentifyWait(c):
				case <-time.After(5 * time.Second):
				}
				break
			}
			v, ok = n.peerProtocol(p)
		}
	}
	if ok && v == hf.version {
		return nil
	}
	have := "no protocol version"
	if ok {
		have = fmt.Sprintf("protocol %d", v)
	}
	why := fmt.Sprintf("peer %s advertises %s; this node runs hard fork %s (%v) at protocol %d", p, have, hf.release.Short(), hf.class, hf.version)
	n.upg.proto.refused.Add(1)
	n.upg.proto.lastRefusal.Store(&why)
	n.upg.proto.separated.Store(true)
	n.log.Info("refusing a session with an incompatible peer", "peer", p, "reason", why)
	return fmt.Errorf("%w: %s", errIncompatible, why)
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
	n.upg.proto.hardFork.Store(&hardForkState{release: run.Release, class: class, version: localProtocol()})
	n.log.Info("running a hard fork: sessions with other protocol versions are refused", "release", run.Release.Short(), "class", class, "protocol", localProtocol())
}

// reportPartition records PartitionObserved, once per running release,
// in the scopes where this device runs a release that plans for a
// partition, after incompatible peers were refused.
func (n *Node) reportPartition(evals []*scopeEval) bool {
	hf := n.upg.proto.hardFork.Load()
	if hf == nil || !n.upg.proto.separated.Swap(false) || hf.class != release.IncompatibleWithoutPartition || n.upg.partitioned[hf.release] {
		return false
	}
	n.upg.partitioned[hf.release] = true
	detail := "incompatible peers refused"
	if s := n.upg.proto.lastRefusal.Load(); s != nil {
		detail = *s
	}
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
