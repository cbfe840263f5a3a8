package artifacts

import (
	"context"

	bsnet "github.com/ipfs/boxo/bitswap/network/bsnet"
	bsserver "github.com/ipfs/boxo/bitswap/server"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// Bitswap is a bitswap server (boxo) on a libp2p host, serving the blocks
// of a Store, so ordinary IPFS nodes (kubo) connected to the host can
// fetch artifacts by root CID. It only serves; the node fetches with its
// own protocol (Service.Fetch).
type Bitswap struct {
	host   host.Host
	net    interface{ Stop() }
	server *bsserver.Server
	cancel context.CancelFunc
}

// bitswapProtocols are the stream protocols the server registers.
var bitswapProtocols = []protocol.ID{
	bsnet.ProtocolBitswap, bsnet.ProtocolBitswapOneOne, bsnet.ProtocolBitswapOneZero, bsnet.ProtocolBitswapNoVers,
}

// StartBitswap starts a bitswap server on h for the blocks of store. Any
// block in the store is served to any connected peer that asks for it
// (bitswap peers name blocks by CID; a block is public to whoever knows
// its hash). Close stops it.
func StartBitswap(h host.Host, store *Store) *Bitswap {
	ctx, cancel := context.WithCancel(context.Background())
	net := bsnet.NewFromIpfsHost(h)
	srv := bsserver.New(ctx, net, store,
		// Bitswap's 2 MiB block limit is the store's too: nothing to
		// refuse on the way out. Keep the engine's queues bounded.
		bsserver.MaxOutstandingBytesPerPeer(8<<20),
		bsserver.MaxQueuedWantlistEntriesPerPeer(1024),
		bsserver.SetSendDontHaves(true),
	)
	net.Start(srv)
	return &Bitswap{host: h, net: net, server: srv, cancel: cancel}
}

// BitswapStats are the server's counters.
type BitswapStats struct {
	BlocksSent uint64 `json:"blocks_sent"`
	DataSent   uint64 `json:"data_sent"`
	Peers      int    `json:"peers"`
}

// Stats returns the server's counters.
func (b *Bitswap) Stats() BitswapStats {
	st, err := b.server.Stat()
	if err != nil {
		return BitswapStats{}
	}
	return BitswapStats{BlocksSent: st.BlocksSent, DataSent: st.DataSent, Peers: len(st.Peers)}
}

// Close stops the server and removes its protocol handlers.
func (b *Bitswap) Close() {
	for _, p := range bitswapProtocols {
		b.host.RemoveStreamHandler(p)
	}
	b.net.Stop()
	b.server.Close()
	b.cancel()
}
