// Package node is the I/O shell around the pure cores: it owns the libp2p
// host, gossipsub, the Pebble journal, timers and goroutines.
//
// One goroutine (Node.loop) owns all mutable node state: the hybrid
// logical clock, the held-facts buffer and every write to the journal.
// Everyone else talks to it by sending it functions (Node.do) or checked
// facts (Node.incoming). Pubsub validators run on pubsub's goroutines and
// read only immutable snapshots (the governance pointer) and the journal.
//
// The path of one fact:
//
//  1. The API asks the loop to author a fact. The loop stamps it with the
//     current epoch and the next HLC reading, signs it with the authority
//     key, runs it through the same pipeline as a remote fact
//     (facts.CheckStateless, then Txn.Apply), commits the batch to the
//     journal (facts, indexes and state in one atomic Pebble batch) and
//     only then publishes the bytes on the network's gossip topic.
//  2. On every peer, the topic validator runs facts.CheckStateless and
//     Governance.Authorize. A Reject lowers the sender's peer score and the
//     fact is never forwarded; an Ignore (duplicate, future epoch) is not
//     forwarded either.
//  3. The accepted message reaches the peer's loop, which applies it in a
//     batch with others and commits; the state digest is the same on every
//     peer that holds the same facts.
//  4. Whatever gossip missed (a restart, a partition) anti-entropy repairs:
//     Negentropy v1 set reconciliation over /aura/<network>/sync/1, then
//     the missing facts are pulled and pushed through the same pipeline.
//
// Nothing in this package decides what a fact means: that is facts/.
package node
