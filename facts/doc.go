// Package facts is the pure core of the aura-node journal.
//
// It owns the fact envelope, its one canonical CBOR encoding, fact identity
// (CIDv1, dag-cbor, sha2-256), every fact kind and its payload type, the
// validation pipeline, and the deterministic reducer that turns a set of
// facts into the replicated maintenance state.
//
// The package never does I/O, never starts goroutines and never reads the
// clock: callers pass wall-clock readings in (see Clock) and read state
// through the narrow StateReader interface, which storage/ implements.
//
// # The pipeline
//
// A fact travels through two stages before it may touch state:
//
//  1. CheckStateless decodes size-limited bytes, insists that re-encoding
//     gives the same bytes, checks the network ID and the Ed25519 signature
//     (CheckBatch does the same with batch verification). The result is a
//     Checked value.
//  2. Txn.Apply authorises a Checked fact against the governance chain (is
//     the author a roster member at the fact's epoch, is it the admin for
//     admin-only kinds, has the journal reached that epoch), runs the
//     kind-specific checks and, if all pass, reduces it. Only then does the
//     fact become Verified, the only type storage accepts.
//
// Every stage returns a Verdict: Accept, Reject (the fact is invalid: never
// store or forward it, penalise its sender) or Ignore (valid-looking but not
// usable now: a duplicate, or an epoch this node has not reached).
//
// # Usage sketch
//
//	txn := facts.NewTxn(store)            // store implements StateReader
//	for _, raw := range incoming {
//		c, v := facts.CheckStateless(netID, raw, limits)
//		if v.Result != facts.Accept { continue }
//		if v := txn.Apply(c); v.Result != facts.Accept { continue }
//	}
//	batch, err := txn.Commit()            // facts + state writes + digest
//	store.Commit(batch)                   // one atomic write
//
// # Determinism
//
// The reduced state is a pure function of the set of accepted facts: the
// same facts in any order give byte-identical state entries and the same
// StateDigest. Every tie-break is a numbered rule above the one function
// that applies it.
package facts
