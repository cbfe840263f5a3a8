// Package snapshot is the pure core of aura-node snapshots: the
// threshold-approved checkpoints that let every node prune its journal.
//
// It owns two things:
//
//   - BLS keys, signatures and rogue-key-safe aggregation (bls.go): BLS
//     over the BN256 pairing of go.dedis.ch/kyber/v4 (signatures in G1,
//     64 bytes; keys in G2, 128 bytes) with Boneh-Drijvers-Neven
//     aggregation, and ApprovalMessage, the one encoding of what a member
//     signs.
//   - Machine (machine.go), the state machine of snapshot rounds:
//     proposal, writer fence, approval, commit, abort, timeouts. Its
//     inputs and the roster rules are in roster.go (with VerifyCompletion,
//     the offline check of a certificate), its outputs in actions.go.
//
// # The five steps
//
// A snapshot at target epoch E with digest D (SPEC section 4) runs:
//
//  1. Propose. A member publishes SnapshotProposed{E, D}, D being the
//     state digest after all facts of epochs <= E.
//  2. Fence. Every node that sees the proposal stops authoring facts in
//     E. Local writes are queued, not refused.
//  3. Capture and verify. Each member reconciles epochs <= E with its
//     peers, computes its own digest and approves only if it equals D. An
//     honest member approves one digest per epoch.
//  4. Collect. Each approval is a fact carrying the member's BLS signature
//     over ApprovalMessage(network, E, D, proposal). Approvals from
//     non-members, duplicates, signatures over anything else and a
//     member's second digest in an epoch are refused.
//  5. Commit. Any node holding M valid approvals assembles
//     SnapshotCompleted: one BDN aggregate and the signer set, verifiable
//     offline against the roster of E (VerifyCompletion). The identity
//     epoch becomes E+1 and facts of epochs <= E may be pruned.
//
// M > N/2 (Roster.Validate) so two digests for one epoch cannot both
// complete unless at least 2M-N members approve both.
//
// # The fence
//
// FenceOn{E} is emitted when the first round opens and FenceOff when the
// last open round closes. FenceOff says where the queued writes go: after
// a commit they are authored in E+1 (WriteEpoch = E+1, Committed = true);
// after an abort or timeout in E (WriteEpoch = E); after AdvanceEpoch in
// the new epoch. The fence is in Status.
//
// # The state machine
//
// Inputs are method calls; outputs are the returned []Action, to be
// carried out in order. Nothing else leaves the machine.
//
//	input                      may return
//	Propose(Proposal)          FenceOn
//	LocalDigest(id, digest)    ApproveNow (member, digest equals D, no other digest approved in E)
//	Approve(Approval)          Assemble (the M-th valid approval)
//	Complete(Completion)       Committed, Aborted (superseded), FenceOff
//	Tick()                     Aborted (approval-timeout, proposal-timeout), FenceOff
//	AdvanceEpoch(e)            Aborted (epoch-advanced), FenceOff
//	Status()                   last snapshot, epoch, fence, pending rounds with approvers and missing members
//
// A refused input returns an error wrapping one of the sentinels in
// errors.go and changes nothing. Every rule is a numbered comment above
// the one method that applies it. The canonical signer set of Assemble is
// described above round.assemble: the M approvers lowest in roster order,
// so whoever assembles from the same approvals publishes the same bytes.
//
// Time is ticks. ApprovalTimeoutTicks bounds the wait for M approvals,
// ProposalTimeoutTicks the whole round. An abort is local: a certificate
// assembled elsewhere still commits here, because a certificate is its
// own proof.
//
// # Usage sketch
//
// The node's loop goroutine owns one Machine:
//
//	m, err := snapshot.New(cfg.Snapshot, snapshot.Start{Network: netID, Self: me, Epoch: gov.CurrentEpoch()})
//	...
//	// on a SnapshotProposed fact accepted into the journal:
//	acts, err := m.Propose(snapshot.Proposal{ID: id, Proposer: author, Epoch: e, Digest: d, Roster: rosterOf(e)})
//	// once epochs <= E are reconciled and the digest computed:
//	acts, err = m.LocalDigest(id, digest)
//	// on a SnapshotApproved fact:         acts, err = m.Approve(...)
//	// on a SnapshotCompleted fact:        acts, err = m.Complete(...)
//	// every second:                       acts = m.Tick()
//	// when governance opens a new epoch:  acts = m.AdvanceEpoch(e)
//	for _, a := range acts {
//		switch a := a.(type) {
//		case snapshot.FenceOn:    // queue local writes
//		case snapshot.ApproveNow: // publish SnapshotApproved{BLSSig: snapshot.Sign(key, a.Message)}
//		case snapshot.Assemble:   // publish SnapshotCompleted{Signers, AggregateSig: a.Aggregate, StateBlob}
//		case snapshot.Committed:  // store the blob, prune epochs <= a.Epoch, re-issue uncovered own facts
//		case snapshot.Aborted:    // log a.Reason
//		case snapshot.FenceOff:   // author queued writes in a.WriteEpoch
//		}
//	}
//
// Own approvals and completions come back through Approve and Complete
// like anyone else's, so there is one path for every fact.
//
// # What it must never do
//
// No I/O, no os, net, libp2p or Pebble, no wall clock (time.Now, timers,
// sleeps), no goroutines, no global randomness: keys come from a seed
// (GenerateKey) and BLS signing is deterministic. It never logs; refusals
// are errors and effects are actions. internal/archtest enforces the
// imports and calls. The package does not import facts, so that facts can
// import it to verify approval signatures and certificates.
package snapshot
