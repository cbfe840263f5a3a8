package snapshot

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"slices"
)

// MaxRosterMembers bounds a roster, as facts.MaxRosterMembers does.
const MaxRosterMembers = 256

// MemberID identifies a roster member: the 32-byte Ed25519 key of its
// authority, the same bytes as facts.AuthorityID (convert with
// snapshot.MemberID(a)). This package does not import facts, so that
// facts can import it to verify approvals and certificates.
type MemberID [32]byte

// String returns the first 8 bytes in hex, for messages and logs.
func (m MemberID) String() string { return hex.EncodeToString(m[:8]) }

// ProposalID identifies a proposal: the bytes of its SnapshotProposed
// fact's CID, held in a string so it can key maps.
type ProposalID string

// String returns the ID as is when it is printable ASCII (test names),
// else the hex of its last 8 bytes (CIDs share their first bytes).
func (p ProposalID) String() string {
	for i := 0; i < len(p); i++ {
		if p[i] < 0x21 || p[i] > 0x7e {
			b := []byte(p)
			if len(b) > 8 {
				return "…" + hex.EncodeToString(b[len(b)-8:])
			}
			return hex.EncodeToString(b)
		}
	}
	return string(p)
}

// Digest is a state digest (facts.StateDigest at the target epoch).
type Digest [32]byte

// String returns the first 8 bytes in hex.
func (d Digest) String() string { return hex.EncodeToString(d[:8]) }

// Member is one roster entry.
type Member struct {
	ID  MemberID
	Key PublicKey
}

// Roster is the membership of one identity epoch: members sorted by ID
// (the order of facts.EpochInfo.Members) and the threshold M.
type Roster struct {
	Members   []Member
	Threshold int
}

// Validate checks the roster rules:
//
//  1. 1 <= N <= MaxRosterMembers.
//  2. Members are sorted by ID without duplicates, so a roster has one
//     order and BDN coefficients (which hash the key list) agree.
//  3. Every member has a BLS key and no two members share one (a shared
//     key would let one secret sign twice toward M).
//  4. N/2 < M <= N, so two conflicting digests cannot both gather M
//     approvals from honest members.
func (r Roster) Validate() error {
	n := len(r.Members)
	if n == 0 || n > MaxRosterMembers {
		return fmt.Errorf("%w: %d members, want 1 to %d", ErrBadRoster, n, MaxRosterMembers)
	}
	seen := make(map[[PublicKeySize]byte]int, n)
	for i, m := range r.Members {
		if i > 0 && bytes.Compare(r.Members[i-1].ID[:], m.ID[:]) >= 0 {
			return fmt.Errorf("%w: members must be sorted by ID without duplicates (member %d, %s)", ErrBadRoster, i, m.ID)
		}
		if m.Key.IsZero() {
			return fmt.Errorf("%w: member %s has no BLS key", ErrBadRoster, m.ID)
		}
		if j, dup := seen[m.Key.enc]; dup {
			return fmt.Errorf("%w: members %s and %s share BLS key %s", ErrBadRoster, r.Members[j].ID, m.ID, m.Key)
		}
		seen[m.Key.enc] = i
	}
	if r.Threshold <= 0 || r.Threshold > n || 2*r.Threshold <= n {
		return fmt.Errorf("%w: M = %d of N = %d: need N/2 < M <= N", ErrThreshold, r.Threshold, n)
	}
	return nil
}

// Index returns the position of id in the roster.
func (r Roster) Index(id MemberID) (int, bool) {
	return slices.BinarySearchFunc(r.Members, id, func(m Member, id MemberID) int {
		return bytes.Compare(m.ID[:], id[:])
	})
}

// Keys returns the members' BLS keys in roster order, the list Aggregate
// and VerifyAggregate take.
func (r Roster) Keys() []PublicKey {
	keys := make([]PublicKey, len(r.Members))
	for i, m := range r.Members {
		keys[i] = m.Key
	}
	return keys
}

// Equal reports whether r and o have the same members, keys and M.
func (r Roster) Equal(o Roster) bool {
	return r.Threshold == o.Threshold && slices.EqualFunc(r.Members, o.Members, func(a, b Member) bool {
		return a.ID == b.ID && a.Key.Equal(b.Key)
	})
}

// Proposal opens a snapshot round (a SnapshotProposed fact).
type Proposal struct {
	ID       ProposalID
	Proposer MemberID
	// Epoch is the target epoch E: the snapshot covers facts of epochs <= E.
	Epoch uint64
	// Digest is D, the state digest at E according to the proposer.
	Digest Digest
	// Roster is the roster of epoch E with its threshold M.
	Roster Roster
}

// Approval is one member's approval (a SnapshotApproved fact): its BLS
// signature over ApprovalMessage(network, E, Digest, Proposal).
type Approval struct {
	Member    MemberID
	Proposal  ProposalID
	Digest    Digest
	Signature []byte
}

// Completion is a snapshot certificate (a SnapshotCompleted fact) with the
// roster of its epoch. It is self-contained: VerifyCompletion checks it
// with public data only, with or without the proposal at hand.
type Completion struct {
	Proposal ProposalID
	Epoch    uint64
	Digest   Digest
	// Roster is the roster of Epoch; Signers index into it.
	Roster Roster
	// Signers are roster indices, strictly increasing.
	Signers []int
	// Aggregate is the BDN aggregate of the signers' approval signatures.
	Aggregate []byte
}

// VerifyCompletion checks a certificate offline:
//
//  1. The roster is valid (Roster.Validate).
//  2. The signers are a strictly increasing list of roster indices and
//     there are at least M of them.
//  3. The aggregate verifies, with BDN coefficients over the whole roster,
//     against ApprovalMessage(network, Epoch, Digest, Proposal).
func VerifyCompletion(network []byte, c Completion) error {
	if err := c.Roster.Validate(); err != nil {
		return fmt.Errorf("completion of %s: %w", c.Proposal, err)
	}
	if err := checkSigners(len(c.Roster.Members), c.Signers); err != nil {
		return fmt.Errorf("completion of %s: %w", c.Proposal, err)
	}
	if len(c.Signers) < c.Roster.Threshold {
		return fmt.Errorf("%w: completion of %s has %d signers, M = %d", ErrThreshold, c.Proposal, len(c.Signers), c.Roster.Threshold)
	}
	msg := ApprovalMessage(network, c.Epoch, c.Digest, []byte(c.Proposal))
	if err := VerifyAggregate(c.Roster.Keys(), c.Signers, msg, c.Aggregate); err != nil {
		return fmt.Errorf("completion of %s at epoch %d: %w", c.Proposal, c.Epoch, err)
	}
	return nil
}
