package snapshot

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
)

// Config holds the machine's timing and limits. Time is counted in ticks:
// the caller decides how long a tick is (the node ticks once a second).
type Config struct {
	// ProposalTimeoutTicks bounds a whole round: a proposal not committed
	// this many ticks after it opened aborts, and with the last open
	// proposal the fence lifts. Default 300.
	ProposalTimeoutTicks uint64
	// ApprovalTimeoutTicks bounds the approval phase: a proposal still
	// short of M valid approvals this many ticks after it opened aborts.
	// At most ProposalTimeoutTicks. Default 120.
	ApprovalTimeoutTicks uint64
	// MaxOpenProposals caps the proposals open at once; more are refused
	// with ErrTooManyProposals. Default 4.
	MaxOpenProposals int
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{ProposalTimeoutTicks: 300, ApprovalTimeoutTicks: 120, MaxOpenProposals: 4}
}

// Validate fills zero fields with their defaults and refuses bad
// combinations.
func (c *Config) Validate() error {
	d := DefaultConfig()
	if c.ProposalTimeoutTicks == 0 {
		c.ProposalTimeoutTicks = d.ProposalTimeoutTicks
	}
	if c.ApprovalTimeoutTicks == 0 {
		c.ApprovalTimeoutTicks = min(d.ApprovalTimeoutTicks, c.ProposalTimeoutTicks)
	}
	if c.MaxOpenProposals == 0 {
		c.MaxOpenProposals = d.MaxOpenProposals
	}
	if c.ApprovalTimeoutTicks > c.ProposalTimeoutTicks {
		return fmt.Errorf("%w: approval timeout %d ticks exceeds proposal timeout %d ticks", ErrBadConfig, c.ApprovalTimeoutTicks, c.ProposalTimeoutTicks)
	}
	if c.MaxOpenProposals < 0 {
		return fmt.Errorf("%w: MaxOpenProposals %d is negative", ErrBadConfig, c.MaxOpenProposals)
	}
	return nil
}

// Start is where a Machine begins: who this node is and what its journal
// already holds.
type Start struct {
	// Network is the network ID (genesis CID bytes), bound into every
	// approval message.
	Network []byte
	// Self is this node's authority. It need not be a member; a
	// non-member follows rounds and fences but never approves.
	Self MemberID
	// Epoch is the identity epoch the journal has reached.
	Epoch uint64
	// HasSnapshot and LastSnapshot/LastDigest describe the latest
	// completed snapshot, if any.
	HasSnapshot  bool
	LastSnapshot uint64
	LastDigest   Digest
}

// round is one open proposal.
type round struct {
	p      Proposal
	keys   []PublicKey
	opened uint64
	// sigs holds the valid approval signature of each approving member,
	// by roster index.
	sigs   map[int][]byte
	quorum bool
	// selfApproved: ApproveNow was emitted for this round.
	selfApproved bool
}

// Machine is the snapshot round state machine of one node. It does no
// I/O, reads no clock and starts no goroutines: each method takes one
// input and returns the actions the caller must carry out, in order. It
// is not safe for concurrent use; one goroutine owns it.
type Machine struct {
	cfg     Config
	network []byte
	self    MemberID

	tick  uint64
	epoch uint64

	hasSnap    bool
	lastSnap   uint64
	lastDigest Digest

	// open are the open rounds sorted by ID; all target the current epoch.
	open []*round
	// closed are the IDs of rounds of the current epoch that aborted;
	// they cannot reopen. (A commit moves the epoch on, after which
	// Propose rule 3 refuses the committed round and its siblings.)
	closed map[ProposalID]bool
	// votes is the digest each member approved in the current epoch.
	votes map[MemberID]Digest

	fence      bool
	fenceEpoch uint64
}

// New returns a Machine with the given config (Validate is applied to a
// copy) and starting point.
func New(cfg Config, s Start) (*Machine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(s.Network) == 0 {
		return nil, fmt.Errorf("%w: no network ID", ErrBadConfig)
	}
	epoch := s.Epoch
	if s.HasSnapshot && epoch <= s.LastSnapshot {
		epoch = s.LastSnapshot + 1
	}
	return &Machine{
		cfg:        cfg,
		network:    bytes.Clone(s.Network),
		self:       s.Self,
		epoch:      epoch,
		hasSnap:    s.HasSnapshot,
		lastSnap:   s.LastSnapshot,
		lastDigest: s.LastDigest,
		closed:     map[ProposalID]bool{},
		votes:      map[MemberID]Digest{},
	}, nil
}

func (m *Machine) find(id ProposalID) (int, *round) {
	i, ok := slices.BinarySearchFunc(m.open, id, func(r *round, id ProposalID) int {
		return cmp.Compare(r.p.ID, id)
	})
	if !ok {
		return i, nil
	}
	return i, m.open[i]
}

// Propose opens a round. Rules, in order:
//
//  1. The roster is valid (Roster.Validate): M <= N/2 or M > N is
//     refused with ErrThreshold.
//  2. The proposer is on the roster (ErrNotMember).
//  3. The target epoch is the current identity epoch: below it, or at or
//     below the last completed snapshot, is ErrStaleEpoch; above it is
//     ErrFutureEpoch (hold it until AdvanceEpoch).
//  4. An ID already open is a redelivery: no action if it names the same
//     epoch, digest and roster, else ErrConflict.
//  5. An ID that already aborted in this epoch does not reopen
//     (ErrProposalClosed): a redelivered old fact must not raise the
//     fence again.
//  6. At most MaxOpenProposals are open (ErrTooManyProposals).
//  7. The round opens; if it is the first open round, FenceOn{E}.
func (m *Machine) Propose(p Proposal) ([]Action, error) {
	if err := p.Roster.Validate(); err != nil {
		return nil, fmt.Errorf("proposal %s: %w", p.ID, err)
	}
	if _, ok := p.Roster.Index(p.Proposer); !ok {
		return nil, fmt.Errorf("%w: proposer %s of %s is not on the roster of epoch %d", ErrNotMember, p.Proposer, p.ID, p.Epoch)
	}
	if m.hasSnap && p.Epoch <= m.lastSnap {
		return nil, fmt.Errorf("%w: proposal %s targets epoch %d, last snapshot is at epoch %d", ErrStaleEpoch, p.ID, p.Epoch, m.lastSnap)
	}
	if p.Epoch < m.epoch {
		return nil, fmt.Errorf("%w: proposal %s targets epoch %d, identity epoch is %d", ErrStaleEpoch, p.ID, p.Epoch, m.epoch)
	}
	if p.Epoch > m.epoch {
		return nil, fmt.Errorf("%w: proposal %s targets epoch %d, this node is at epoch %d", ErrFutureEpoch, p.ID, p.Epoch, m.epoch)
	}
	i, r := m.find(p.ID)
	if r != nil {
		if r.p.Epoch == p.Epoch && r.p.Digest == p.Digest && r.p.Roster.Equal(p.Roster) && r.p.Proposer == p.Proposer {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: proposal %s is open with other contents", ErrConflict, p.ID)
	}
	if m.closed[p.ID] {
		return nil, fmt.Errorf("%w: %s already aborted at epoch %d; make a new proposal", ErrProposalClosed, p.ID, p.Epoch)
	}
	if len(m.open) >= m.cfg.MaxOpenProposals {
		return nil, fmt.Errorf("%w: %d open, limit %d; %s refused", ErrTooManyProposals, len(m.open), m.cfg.MaxOpenProposals, p.ID)
	}
	p.Roster.Members = slices.Clone(p.Roster.Members)
	m.open = slices.Insert(m.open, i, &round{
		p:      p,
		keys:   p.Roster.Keys(),
		opened: m.tick,
		sigs:   map[int][]byte{},
	})
	if m.fence {
		return nil, nil
	}
	m.fence, m.fenceEpoch = true, p.Epoch
	return []Action{FenceOn{Epoch: p.Epoch}}, nil
}

// Approve records a member's approval. Rules, in order (cheap checks
// first; nothing is recorded unless all pass):
//
//  1. The proposal is open (ErrUnknownProposal: never seen, committed or
//     aborted; a caller that holds approvals for a proposal it has not
//     seen yet offers them again after Propose).
//  2. The member is on the roster of the proposal's epoch (ErrNotMember).
//  3. The approval names the proposal's digest (ErrDigestMismatch).
//  4. The member has not approved this proposal yet (ErrDuplicateApproval).
//  5. The member has not approved another digest in this epoch
//     (ErrEquivocation): one approved digest per member per epoch. Two
//     proposals of one epoch with the same digest may both be approved.
//  6. The signature verifies under the member's key over
//     ApprovalMessage(network, E, D, proposal) (ErrBadSignature): a
//     signature over another digest, proposal or network fails here.
//  7. The approval is recorded; the first time the round holds M valid
//     approvals it emits Assemble (see assemble).
func (m *Machine) Approve(a Approval) ([]Action, error) {
	_, r := m.find(a.Proposal)
	if r == nil {
		return nil, fmt.Errorf("%w: approval by %s names %s, which is not open", ErrUnknownProposal, a.Member, a.Proposal)
	}
	idx, ok := r.p.Roster.Index(a.Member)
	if !ok {
		return nil, fmt.Errorf("%w: %s approved %s but is not on the roster of epoch %d", ErrNotMember, a.Member, a.Proposal, r.p.Epoch)
	}
	if a.Digest != r.p.Digest {
		return nil, fmt.Errorf("%w: %s approved digest %s for %s, which proposes %s", ErrDigestMismatch, a.Member, a.Digest, a.Proposal, r.p.Digest)
	}
	if _, dup := r.sigs[idx]; dup {
		return nil, fmt.Errorf("%w: %s already approved %s", ErrDuplicateApproval, a.Member, a.Proposal)
	}
	if v, voted := m.votes[a.Member]; voted && v != a.Digest {
		return nil, fmt.Errorf("%w: %s approved digest %s at epoch %d and now %s for %s", ErrEquivocation, a.Member, v, r.p.Epoch, a.Digest, a.Proposal)
	}
	msg := ApprovalMessage(m.network, r.p.Epoch, r.p.Digest, []byte(r.p.ID))
	if err := Verify(r.keys[idx], msg, a.Signature); err != nil {
		return nil, fmt.Errorf("approval of %s by %s: %w", a.Proposal, a.Member, err)
	}
	r.sigs[idx] = bytes.Clone(a.Signature)
	m.votes[a.Member] = a.Digest
	if r.quorum || len(r.sigs) < r.p.Roster.Threshold {
		return nil, nil
	}
	r.quorum = true
	return []Action{r.assemble()}, nil
}

// assemble builds the certificate of a round that holds M valid
// approvals. The rule that makes it the same whoever assembles:
//
//  1. The signer set is the M approvers with the lowest roster indices
//     among the valid approvals held (roster order = sorted by member
//     ID). Approve calls assemble once, when the M-th valid approval
//     arrives, so that is exactly the approvals held then. Using exactly M
//     keeps the certificate minimal and independent of approvals that
//     arrive afterwards.
//  2. The aggregate is Aggregate(roster keys, signers, their signatures):
//     BLS signatures are deterministic and BDN coefficients depend only on
//     the roster, so the bytes depend only on the signer set.
//
// Two nodes holding the same approvals therefore publish byte-identical
// certificates. Nodes that saw different M-subsets publish different but
// equally valid certificates of the same (E, D); Complete accepts the
// first and treats the others as no-ops, and the journal keeps one by its
// own deterministic rule.
func (r *round) assemble() Assemble {
	signers := make([]int, 0, len(r.sigs))
	for idx := range r.sigs {
		signers = append(signers, idx)
	}
	slices.Sort(signers)
	signers = signers[:r.p.Roster.Threshold]
	sigs := make([][]byte, len(signers))
	ids := make([]MemberID, len(signers))
	for i, idx := range signers {
		sigs[i] = r.sigs[idx]
		ids[i] = r.p.Roster.Members[idx].ID
	}
	agg, err := Aggregate(r.keys, signers, sigs)
	if err != nil {
		// The signatures were verified on Approve and the roster on
		// Propose: failing here is a broken invariant.
		panic(fmt.Sprintf("snapshot: aggregating verified approvals of %s: %v", r.p.ID, err))
	}
	return Assemble{Proposal: r.p.ID, Epoch: r.p.Epoch, Digest: r.p.Digest, Signers: signers, SignerIDs: ids, Aggregate: agg}
}

// LocalDigest reports that this node reconciled epochs <= E of proposal
// id and computed digest. Rules, in order:
//
//  1. The proposal is open (ErrUnknownProposal).
//  2. A node that is not on the roster of E never approves: no action.
//  3. The digest equals the proposal's D, else ErrDigestMismatch (this
//     node's state at E differs: it does not approve; log it).
//  4. This node has not approved another digest in E, else
//     ErrEquivocation (it does not approve).
//  5. It has not approved this proposal already: else no action.
//  6. ApproveNow, and the digest is recorded as this node's vote for E at
//     once, so a second proposal of E with another digest is refused
//     even before the signed approval comes back through Approve.
func (m *Machine) LocalDigest(id ProposalID, digest Digest) ([]Action, error) {
	_, r := m.find(id)
	if r == nil {
		return nil, fmt.Errorf("%w: local digest for %s, which is not open", ErrUnknownProposal, id)
	}
	idx, member := r.p.Roster.Index(m.self)
	if !member {
		return nil, nil
	}
	if digest != r.p.Digest {
		return nil, fmt.Errorf("%w: local digest %s at epoch %d, %s proposes %s: not approving", ErrDigestMismatch, digest, r.p.Epoch, id, r.p.Digest)
	}
	if v, voted := m.votes[m.self]; voted && v != digest {
		return nil, fmt.Errorf("%w: %s (this node) approved %s at epoch %d; not approving %s for %s", ErrEquivocation, m.self, v, r.p.Epoch, digest, id)
	}
	if _, done := r.sigs[idx]; done || r.selfApproved {
		return nil, nil
	}
	r.selfApproved = true
	m.votes[m.self] = digest
	return []Action{ApproveNow{
		Proposal: id,
		Epoch:    r.p.Epoch,
		Digest:   digest,
		Message:  ApprovalMessage(m.network, r.p.Epoch, digest, []byte(id)),
	}}, nil
}

// Complete applies a certificate. Rules, in order:
//
//  1. It verifies (VerifyCompletion: valid roster, at least M signers in
//     roster order, aggregate over the approval message).
//  2. If the proposal is open here, the certificate names its epoch
//     (ErrConflict), digest (ErrDigestMismatch) and roster
//     (ErrBadRoster). A certificate for a proposal not open here (aborted
//     by a local timeout, or never seen) still commits: it is the proof.
//  3. An epoch already snapshotted: the same (E, D) again is a no-op (a
//     second assembler's certificate); another digest at the last
//     snapshot epoch is ErrConflict (at least 2M-N members equivocated);
//     an older epoch is ErrStaleEpoch.
//  4. An epoch beyond the identity epoch is ErrFutureEpoch.
//  5. Commit: the last snapshot becomes (E, D); Committed; every open
//     round of an epoch <= E aborts as superseded; if no round remains
//     open the fence lifts with FenceOff{E, committed, write epoch E+1};
//     the identity epoch becomes at least E+1.
func (m *Machine) Complete(c Completion) ([]Action, error) {
	if err := VerifyCompletion(m.network, c); err != nil {
		return nil, err
	}
	if _, r := m.find(c.Proposal); r != nil {
		switch {
		case c.Epoch != r.p.Epoch:
			return nil, fmt.Errorf("%w: completion of %s names epoch %d, the proposal %d", ErrConflict, c.Proposal, c.Epoch, r.p.Epoch)
		case c.Digest != r.p.Digest:
			return nil, fmt.Errorf("%w: completion of %s names digest %s, the proposal %s", ErrDigestMismatch, c.Proposal, c.Digest, r.p.Digest)
		case !c.Roster.Equal(r.p.Roster):
			return nil, fmt.Errorf("%w: completion of %s names another roster than its proposal", ErrBadRoster, c.Proposal)
		}
	}
	if m.hasSnap && c.Epoch <= m.lastSnap {
		switch {
		case c.Epoch == m.lastSnap && c.Digest == m.lastDigest:
			return nil, nil
		case c.Epoch == m.lastSnap:
			return nil, fmt.Errorf("%w: %s certifies digest %s at epoch %d, already certified %s", ErrConflict, c.Proposal, c.Digest, c.Epoch, m.lastDigest)
		default:
			return nil, fmt.Errorf("%w: %s certifies epoch %d, last snapshot is at epoch %d", ErrStaleEpoch, c.Proposal, c.Epoch, m.lastSnap)
		}
	}
	if c.Epoch > m.epoch {
		return nil, fmt.Errorf("%w: %s certifies epoch %d, this node is at epoch %d", ErrFutureEpoch, c.Proposal, c.Epoch, m.epoch)
	}
	m.hasSnap, m.lastSnap, m.lastDigest = true, c.Epoch, c.Digest
	signers := make([]MemberID, len(c.Signers))
	for i, idx := range c.Signers {
		signers[i] = c.Roster.Members[idx].ID
	}
	acts := []Action{Committed{Proposal: c.Proposal, Epoch: c.Epoch, Digest: c.Digest, Signers: signers}}
	keep := m.open[:0]
	for _, r := range m.open {
		switch {
		case r.p.Epoch > c.Epoch:
			keep = append(keep, r)
		case r.p.ID != c.Proposal:
			acts = append(acts, Aborted{Proposal: r.p.ID, Epoch: r.p.Epoch, Reason: AbortSuperseded})
		}
	}
	clear(m.open[len(keep):])
	m.open = keep
	if m.fence && len(m.open) == 0 {
		acts = append(acts, FenceOff{Epoch: m.fenceEpoch, Committed: true, WriteEpoch: c.Epoch + 1})
		m.fence = false
	}
	m.setEpoch(max(m.epoch, c.Epoch+1))
	return acts, nil
}

// Tick advances time by one tick. Rules, for each open round in ID order:
//
//  1. A round without M valid approvals ApprovalTimeoutTicks after it
//     opened aborts (approval-timeout).
//  2. Any round ProposalTimeoutTicks after it opened aborts
//     (proposal-timeout): M approvals were held but no certificate came
//     back.
//  3. If the fence was up and no round remains open, FenceOff{E,
//     committed=false, write epoch E}: queued writes are authored in E.
//
// Aborting is local: another node may still commit the round, and its
// certificate commits here too (Complete rule 2).
func (m *Machine) Tick() []Action {
	m.tick++
	var acts []Action
	keep := m.open[:0]
	for _, r := range m.open {
		age := m.tick - r.opened
		switch {
		case !r.quorum && age >= m.cfg.ApprovalTimeoutTicks:
			acts = append(acts, Aborted{Proposal: r.p.ID, Epoch: r.p.Epoch, Reason: AbortApprovalTimeout})
			m.closed[r.p.ID] = true
		case age >= m.cfg.ProposalTimeoutTicks:
			acts = append(acts, Aborted{Proposal: r.p.ID, Epoch: r.p.Epoch, Reason: AbortProposalTimeout})
			m.closed[r.p.ID] = true
		default:
			keep = append(keep, r)
		}
	}
	clear(m.open[len(keep):])
	m.open = keep
	if m.fence && len(m.open) == 0 {
		acts = append(acts, FenceOff{Epoch: m.fenceEpoch, Committed: false, WriteEpoch: m.fenceEpoch})
		m.fence = false
	}
	return acts
}

// AdvanceEpoch tells the machine the journal reached identity epoch e
// through something other than a snapshot (a roster change, an admin
// replacement). Rules:
//
//  1. An epoch at or below the current one is a no-op.
//  2. Every open round aborts (epoch-advanced): a maintenance session
//     aborts when the identity epoch it started under moves; propose
//     again at the new epoch.
//  3. If the fence was up it lifts: FenceOff{E, committed=false, write
//     epoch e}.
func (m *Machine) AdvanceEpoch(e uint64) []Action {
	if e <= m.epoch {
		return nil
	}
	var acts []Action
	for _, r := range m.open {
		acts = append(acts, Aborted{Proposal: r.p.ID, Epoch: r.p.Epoch, Reason: AbortEpochAdvanced})
	}
	m.open = nil
	if m.fence {
		acts = append(acts, FenceOff{Epoch: m.fenceEpoch, Committed: false, WriteEpoch: e})
		m.fence = false
	}
	m.setEpoch(e)
	return acts
}

// setEpoch moves to a new identity epoch; closed IDs and votes belong to
// the old one (older proposals are stale by Propose rule 3).
func (m *Machine) setEpoch(e uint64) {
	if e == m.epoch {
		return
	}
	m.epoch = e
	clear(m.closed)
	clear(m.votes)
}

// Status reports the machine's state for status displays.
func (m *Machine) Status() Status {
	st := Status{
		Tick:         m.tick,
		Epoch:        m.epoch,
		HasSnapshot:  m.hasSnap,
		LastSnapshot: m.lastSnap,
		LastDigest:   m.lastDigest,
		FenceActive:  m.fence,
	}
	if m.fence {
		st.FenceEpoch = m.fenceEpoch
	}
	for _, r := range m.open {
		p := Pending{
			ID:        r.p.ID,
			Proposer:  r.p.Proposer,
			Epoch:     r.p.Epoch,
			Digest:    r.p.Digest,
			Threshold: r.p.Roster.Threshold,
			AgeTicks:  m.tick - r.opened,
			Quorum:    r.quorum,
		}
		for i, mem := range r.p.Roster.Members {
			if _, ok := r.sigs[i]; ok {
				p.Approvers = append(p.Approvers, mem.ID)
			} else {
				p.Missing = append(p.Missing, mem.ID)
			}
		}
		st.Pending = append(st.Pending, p)
	}
	return st
}
