// Package antientropy is the pure core of set reconciliation: range-based
// reconciliation over sets of (timestamp, 32-byte ID) items, wire-compatible
// with Negentropy protocol v1 (hoytech/negentropy), so an independent
// Negentropy v1 implementation can reconcile against it.
//
// It owns the message codec (protocol version byte 0x61, ranges of upper
// bound, mode and payload; modes Skip, Fingerprint and IdList; big-endian
// base-128 varints; timestamps delta-encoded per message), the
// fingerprint function (SHA-256 of the 256-bit little-endian sum of the
// IDs followed by the varint count, first 16 bytes), the frame-size limit,
// and two Storage implementations: Vector (a sealed sorted slice with
// prefix sums) and Tree (a B+ tree whose nodes cache the count and ID sum
// of their subtree, so a range fingerprint costs O(log n) and inserts stay
// cheap while the set grows).
//
// It does no I/O, starts no goroutines and never reads the clock: the node
// carries messages over libp2p streams, enforces rounds and session time,
// and fetches the facts the reconciliation finds missing.
//
// # Usage
//
//	// initiator
//	r := antientropy.NewReconciler(store, antientropy.Options{})
//	msg, _ := r.Initiate()
//	for msg != nil {
//		reply := send(msg)                       // the peer runs Respond
//		var have, need []antientropy.ID
//		msg, have, need, err = r.Reconcile(reply)
//		// have: IDs only we hold; need: IDs only the peer holds
//	}
//
//	// responder, one Reconciler per session
//	r := antientropy.NewReconciler(store, antientropy.Options{})
//	reply, err := r.Respond(msg)
//
// Every decoder bounds what it reads: an ID prefix longer than 32 bytes, a
// truncated message, an unknown mode, an overlong varint or bounds out of
// order are errors (ErrMalformed), never panics.
package antientropy
