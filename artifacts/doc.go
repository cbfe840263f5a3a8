// Package artifacts stores release artifacts as content-addressed blocks
// and moves them between peers: a Pebble block store, UnixFS import and
// export, a multi-source fetcher over aura's own block protocol, and a
// bitswap server so that ordinary IPFS nodes can fetch from an aura-node.
//
// It is part of the I/O shell (it owns a Pebble database and talks to the
// network); node/ wires it to the node's libp2p host, API and release
// policies. It never trusts a peer: every block is verified against its
// CID before it is stored, every frame and request is bounded.
//
// # Chunking
//
// Import chunks a file with boxo's UnixFS importer using IPIP-499's
// unixfs-v1-2025 profile: fixed 1 MiB chunks stored as raw leaves (codec
// raw, the bytes themselves), a balanced DAG of dag-pb UnixFS File nodes
// with at most 1024 links each, CIDv1 and sha2-256 everywhere. A 256 MiB
// file is 256 leaves under one root; a file of at most 1 MiB is a single
// raw block whose CID is the root. kubo with the same profile (`ipfs
// config profile apply unixfs-v1-2025`, or --cid-version=1 --raw-leaves
// --chunker=size-1048576 and 1024 links) computes the same root CID,
// which the kubo interop test checks. Root computes the root without
// storing anything (release create uses it); the root goes into the
// release manifest (release.Artifact.Root, checked by release.ParseRoot).
//
// # Store and verification
//
// Store is a boxo blockstore.Blockstore in its own Pebble database
// (blocks/ in the node home). Blocks are keyed by multihash, as IPFS
// blockstores are, so a CIDv0 and a CIDv1 of the same bytes share an
// entry. Put and PutMany verify every block before writing: the CID must
// use an accepted hash (sha2-256, sha2-512, blake2b-256, blake3; 32 to 64
// byte digests; never the identity hash) and codec (raw or dag-pb), the
// block must be at most MaxBlockSize (2 MiB, bitswap's limit), and the
// bytes must hash to the CID; otherwise ErrHashMismatch (or ErrBadCID,
// ErrBlockTooLarge) names the CID and nothing of the batch is written.
//
// The database runs without a write-ahead log: a block is written once,
// and a crash loses at most the blocks since the last memtable flush,
// which a fetch requests again (blocks are re-fetchable by definition).
// Pin, Unpin and GC flush before they return, and memtables flush in
// order, so a durable pin always finds its blocks durable.
//
// # Pins and garbage collection
//
// Pin records a root as kept after walking its DAG: an incomplete DAG is
// refused (ErrIncomplete names the first missing block). Unpin removes the
// record; GC walks every pinned DAG and deletes every block none of them
// reaches. Imports and fetches hold off GC while they write a DAG that is
// not pinned yet (HoldGC; holds nest), so a caller that fetches and then
// pins holds across both and GC cannot take the blocks in between.
//
// # The block protocol
//
// /aura/<network-id>/blocks/1 is a libp2p stream protocol (see proto.go
// for the frames). A client sends requests one at a time on a stream and
// reads each answer whole:
//
//	HAS  up to 1024 CIDs -> one state per CID: none, block (has that
//	     block; for a root it may still be fetching the rest), pinned
//	     (a pinned root: it has the whole DAG)
//	WANT up to 32 CIDs   -> per CID, in order: BLOCK cid+bytes or DONT cid
//
// Every frame is length-prefixed and bounded (a block frame by
// MaxBlockSize plus the header; a request by its CID count), a CID must be
// in canonical binary form, and a server answers a broken request with an
// ERROR frame and closes the stream. Serving is bounded per peer and in
// total: at most MaxStreamsPerPeer (8) and MaxStreams (256) open streams
// (more are refused with "busy"), an optional per-peer and global byte
// rate (token buckets; the global one is the node's upload cap), an idle
// timeout. A node serves any block in its store: blocks are named by their
// hash, the protocol is scoped to the network ID (only members of the
// network speak it), and serving the blocks of artifacts still being
// fetched is what lets fetching nodes feed each other. What a node keeps
// and announces (ArtifactAvailable facts) follows its sharing policy.
//
// # Fetching
//
// Service.Fetch makes a DAG complete in the store:
//
//  1. Walk the DAG through the blocks already stored (resumption: a block
//     in the store is never requested; a second Fetch after an interrupted
//     one requests only what is missing) and queue the missing frontier,
//     leaves in random order so that peers fetching at the same time hold
//     different blocks early.
//  2. Ask the candidates (FetchOptions.Peers, and FindPeers each Refresh,
//     the node's connected peers) HAS root. A peer that pinned it is a
//     complete source; one that has the root block is a partial source,
//     asked again every Refresh which queued blocks it holds; one that has
//     nothing is asked again later.
//  3. Run StreamsPerPeer workers per source, each on its own stream,
//     requesting WANT batches: a complete source takes blocks from the
//     queue (keeping to those no idle partial source can send, so a seed's
//     upload goes to blocks nobody else has), a partial source only blocks
//     it said it holds. Batches start at one block and double while
//     answers come back within 250 ms, halving past one second, up to
//     BatchBlocks; at most MaxInFlight blocks are requested at once. When
//     nothing is queued, idle sources duplicate requests still in flight
//     elsewhere (end game); the first copy stored wins.
//  4. Verify each received block against its CID before storing it (one
//     batch write per answer), decode dag-pb nodes and queue their
//     children. A mismatching block is discarded, counted, its sender
//     reported through FetchOptions.Penalize (the node disconnects it and
//     lowers its score) and dropped from this fetch; so is a peer that
//     breaks the protocol. A failed request is requeued for any source; a
//     source failing three times in a row is dropped; a complete source
//     that answers DONT is not asked for that block again.
//  5. Stop when every block is stored, or fail: a DAG over MaxBytes or
//     MaxBlocks (ErrTooLarge; the node derives MaxBytes from the manifest's
//     size), a block no candidate can supply (ErrNoSource: at once with a
//     fixed candidate list, after StallTimeout without progress otherwise),
//     or a block that is not part of a UnixFS file (ErrNotFile).
//
// Progress reports blocks and bytes stored against the blocks discovered
// so far and the DAG size the root's links claim.
//
// # Bitswap
//
// StartBitswap runs boxo's bitswap server (server side only) on the same
// host, over the same store, so an IPFS node connected to an aura-node
// (`ipfs swarm connect`) can `ipfs cat` an artifact by root CID. Bitswap
// serves any connected peer, as IPFS nodes do; its queues are bounded per
// peer (8 MiB outstanding, 1024 wantlist entries).
//
// # Usage
//
//	st, _ := artifacts.Open(dir, artifacts.Options{Logger: log})
//	svc := artifacts.NewService(host, st, networkID, artifacts.ServiceOptions{Logger: log})
//	bs := artifacts.StartBitswap(host, st)
//
//	root, size, _ := artifacts.Import(ctx, st, file)   // publisher
//	st.Pin(ctx, root, "tool-1.0")
//
//	release := st.HoldGC()                               // fetcher
//	stats, err := svc.Fetch(ctx, root, artifacts.FetchOptions{
//		FindPeers: connectedPeers, Progress: show, Penalize: penalise,
//		MaxBytes: size + size/32 + 1<<20,
//	})
//	if err == nil { st.Pin(ctx, root, "tool-1.0") }
//	release()
//	artifacts.Export(ctx, st, root, out)
package artifacts
