package node

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
)

// peerLoop dials the bootstrap peers once and keeps the static peers
// connected, redialling with exponential backoff (1s to 30s).
func (n *Node) peerLoop() {
	defer n.wg.Done()
	var static []*peer.AddrInfo
	for _, s := range n.cfg.StaticPeers {
		if ai, err := parsePeerAddr(s); err == nil && ai.ID != n.host.ID() {
			n.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.PermanentAddrTTL)
			n.host.ConnManager().Protect(ai.ID, "aura-static")
			static = append(static, ai)
		}
	}
	for _, s := range n.cfg.BootstrapPeers {
		if ai, err := parsePeerAddr(s); err == nil && ai.ID != n.host.ID() {
			go n.dial(*ai)
		}
	}
	backoff := map[peer.ID]time.Duration{}
	next := map[peer.ID]time.Time{}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		now := time.Now()
		for _, ai := range static {
			if n.host.Network().Connectedness(ai.ID) == network.Connected {
				backoff[ai.ID] = 0
				continue
			}
			if now.Before(next[ai.ID]) {
				continue
			}
			b := backoff[ai.ID]
			b = min(max(2*b, time.Second), 30*time.Second)
			backoff[ai.ID], next[ai.ID] = b, now.Add(b)
			go n.dial(*ai)
		}
		n.metrics.peers.Set(float64(len(n.host.Network().Peers())))
		select {
		case <-n.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (n *Node) dial(ai peer.AddrInfo) {
	ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
	defer cancel()
	if err := n.host.Connect(ctx, ai); err != nil {
		n.log.Debug("dial failed", "peer", ai.ID, "err", err)
	}
}
