package snapshot

import (
	"fmt"
	"strings"
)

// Action is an output of the Machine: something the caller must do.
type Action interface {
	action()
	String() string
}

// FenceOn: stop authoring facts in Epoch; queue local writes, do not
// refuse them.
type FenceOn struct{ Epoch uint64 }

// FenceOff: the fence on Epoch lifts. Author the queued writes in
// WriteEpoch: Epoch+1 after a commit, Epoch after an abort or timeout,
// the new identity epoch after AdvanceEpoch.
type FenceOff struct {
	Epoch      uint64
	Committed  bool
	WriteEpoch uint64
}

// ApproveNow: this node is a member whose digest matches; sign Message
// (Sign(key, Message)), publish a SnapshotApproved fact and feed it back
// through Approve.
type ApproveNow struct {
	Proposal ProposalID
	Epoch    uint64
	Digest   Digest
	Message  []byte
}

// Assemble: M valid approvals are held. Publish a SnapshotCompleted fact
// with Signers (roster indices; SignerIDs are the same members) and
// Aggregate, then feed it back through Complete.
type Assemble struct {
	Proposal  ProposalID
	Epoch     uint64
	Digest    Digest
	Signers   []int
	SignerIDs []MemberID
	Aggregate []byte
}

// Aborted: the round is over without a commit here.
type Aborted struct {
	Proposal ProposalID
	Epoch    uint64
	Reason   AbortReason
}

// Committed: a verified certificate commits (Epoch, Digest). Store the
// state blob, prune facts of epochs <= Epoch, re-issue own facts the
// snapshot does not cover.
type Committed struct {
	Proposal ProposalID
	Epoch    uint64
	Digest   Digest
	Signers  []MemberID
}

// AbortReason says why a round aborted.
type AbortReason int

// Abort reasons.
const (
	// AbortApprovalTimeout: fewer than M approvals within
	// ApprovalTimeoutTicks.
	AbortApprovalTimeout AbortReason = iota + 1
	// AbortProposalTimeout: no commit within ProposalTimeoutTicks.
	AbortProposalTimeout
	// AbortSuperseded: another proposal of the same epoch committed.
	AbortSuperseded
	// AbortEpochAdvanced: the identity epoch moved past the target epoch.
	AbortEpochAdvanced
)

func (r AbortReason) String() string {
	switch r {
	case AbortApprovalTimeout:
		return "approval-timeout"
	case AbortProposalTimeout:
		return "proposal-timeout"
	case AbortSuperseded:
		return "superseded"
	case AbortEpochAdvanced:
		return "epoch-advanced"
	}
	return fmt.Sprintf("AbortReason(%d)", int(r))
}

func (FenceOn) action()    {}
func (FenceOff) action()   {}
func (ApproveNow) action() {}
func (Assemble) action()   {}
func (Aborted) action()    {}
func (Committed) action()  {}

func (a FenceOn) String() string { return fmt.Sprintf("fence-on epoch=%d", a.Epoch) }
func (a FenceOff) String() string {
	return fmt.Sprintf("fence-off epoch=%d committed=%t write-epoch=%d", a.Epoch, a.Committed, a.WriteEpoch)
}
func (a ApproveNow) String() string {
	return fmt.Sprintf("approve-now %s epoch=%d digest=%s", a.Proposal, a.Epoch, a.Digest)
}
func (a Assemble) String() string {
	return fmt.Sprintf("assemble %s epoch=%d digest=%s signers=%s", a.Proposal, a.Epoch, a.Digest, joinIDs(a.SignerIDs))
}
func (a Aborted) String() string {
	return fmt.Sprintf("aborted %s epoch=%d reason=%s", a.Proposal, a.Epoch, a.Reason)
}
func (a Committed) String() string {
	return fmt.Sprintf("committed %s epoch=%d digest=%s signers=%s", a.Proposal, a.Epoch, a.Digest, joinIDs(a.Signers))
}

func joinIDs(ids []MemberID) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = id.String()
	}
	return "(" + strings.Join(s, ",") + ")"
}

// Status is what `aura-node snapshot status` shows.
type Status struct {
	Tick         uint64
	Epoch        uint64
	HasSnapshot  bool
	LastSnapshot uint64
	LastDigest   Digest
	FenceActive  bool
	// FenceEpoch is the fenced epoch while FenceActive.
	FenceEpoch uint64
	// Pending are the open proposals in ID order.
	Pending []Pending
}

// Pending is one open proposal.
type Pending struct {
	ID        ProposalID
	Proposer  MemberID
	Epoch     uint64
	Digest    Digest
	Threshold int
	// Approvers and Missing partition the roster, each in roster order.
	Approvers []MemberID
	Missing   []MemberID
	AgeTicks  uint64
	// Quorum reports that M valid approvals are held (Assemble was
	// emitted).
	Quorum bool
}
