package node

import (
	"sort"
	"sync"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// blocklist is a connection gater that refuses the peers an operator
// blocked: the way to cut a node off from some peers (a partition drill,
// or isolating a misbehaving peer) without stopping it. Blocks are not
// persisted: a restart clears them.
type blocklist struct {
	mu      sync.Mutex
	blocked map[peer.ID]bool
}

func newBlocklist() *blocklist { return &blocklist{blocked: map[peer.ID]bool{}} }

func (b *blocklist) has(p peer.ID) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.blocked[p]
}

func (b *blocklist) set(ps []peer.ID, block bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range ps {
		if block {
			b.blocked[p] = true
		} else {
			delete(b.blocked, p)
		}
	}
}

func (b *blocklist) clear() {
	b.mu.Lock()
	b.blocked = map[peer.ID]bool{}
	b.mu.Unlock()
}

func (b *blocklist) list() []peer.ID {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]peer.ID, 0, len(b.blocked))
	for p := range b.blocked {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func (b *blocklist) InterceptPeerDial(p peer.ID) bool                 { return !b.has(p) }
func (b *blocklist) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return !b.has(p) }
func (b *blocklist) InterceptAccept(network.ConnMultiaddrs) bool      { return true }
func (b *blocklist) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return !b.has(p)
}
func (b *blocklist) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) {
	return true, 0
}
