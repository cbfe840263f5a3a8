package node

import (
	"fmt"
	"net"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// parsePeerAddr parses a multiaddr that ends in /p2p/<peer ID>.
func parsePeerAddr(s string) (*peer.AddrInfo, error) {
	m, err := ma.NewMultiaddr(s)
	if err != nil {
		return nil, err
	}
	ai, err := peer.AddrInfoFromP2pAddr(m)
	if err != nil {
		return nil, fmt.Errorf("want a multiaddr ending in /p2p/<peer ID>: %w", err)
	}
	return ai, nil
}

// checkLoopback accepts host:port addresses on a loopback IP only, so the
// admin API is never reachable from the network.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address; the admin API listens on loopback only", addr)
	}
	return nil
}
