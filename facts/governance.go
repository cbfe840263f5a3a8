package facts

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/ipfs/go-cid"

	"github.com/aura-node/aura-node/snapshot"
)

// EpochInfo is the roster, threshold and admin in force during one
// identity epoch, and the fact that opened it.
type EpochInfo struct {
	Epoch     uint64      `cbor:"1,keyasint" json:"epoch"`
	Members   []Member    `cbor:"2,keyasint" json:"members"`
	Threshold uint32      `cbor:"3,keyasint" json:"threshold"`
	Admin     AuthorityID `cbor:"4,keyasint" json:"admin"`
	// Cause is the CID of the fact that opened the epoch: the genesis for
	// epoch 0, else the winning proposal.
	Cause     []byte `cbor:"5,keyasint" json:"-"`
	CauseKind Kind   `cbor:"6,keyasint" json:"cause_kind"`
}

// IsMember reports whether a is on this epoch's roster.
func (e *EpochInfo) IsMember(a AuthorityID) bool {
	_, ok := slices.BinarySearchFunc(e.Members, a, func(m Member, a AuthorityID) int {
		return bytes.Compare(m.Authority[:], a[:])
	})
	return ok
}

// ProposalRecord is an epoch-advancing proposal held in the governance
// state until it wins, or forever as history.
type ProposalRecord struct {
	ID      []byte      `cbor:"1,keyasint"`
	Kind    Kind        `cbor:"2,keyasint"`
	Epoch   uint64      `cbor:"3,keyasint"`
	Author  AuthorityID `cbor:"4,keyasint"`
	Payload []byte      `cbor:"5,keyasint"`
}

// ApprovalRecord is one member's approval of a proposal.
type ApprovalRecord struct {
	Proposal []byte      `cbor:"1,keyasint"`
	Member   AuthorityID `cbor:"2,keyasint"`
	Epoch    uint64      `cbor:"3,keyasint"`
	ID       []byte      `cbor:"4,keyasint"`
}

// Governance is the replicated record of the network: its genesis
// parameters, the chain of epochs and the proposals and approvals that
// build it. The chain is derived: recompute rebuilds it from the genesis,
// the proposals and the approvals alone, so it is a pure function of the
// set of governance facts.
type Governance struct {
	Network      []byte           `cbor:"1,keyasint"`
	Name         string           `cbor:"2,keyasint"`
	MaxFactBytes uint32           `cbor:"3,keyasint"`
	Epochs       []EpochInfo      `cbor:"4,keyasint"`
	Proposals    []ProposalRecord `cbor:"5,keyasint"`
	Approvals    []ApprovalRecord `cbor:"6,keyasint"`
	// Snapshots are the completed snapshots, one per epoch, by epoch.
	Snapshots []SnapshotRecord `cbor:"7,keyasint,omitempty"`
}

// SnapshotRecord is a completed snapshot: the cut it covers (facts of
// epochs <= Epoch with time <= Cut), the certified digest of the state at
// the cut, and the facts that proposed and completed it.
type SnapshotRecord struct {
	Epoch      uint64    `cbor:"1,keyasint" json:"epoch"`
	Cut        Timestamp `cbor:"2,keyasint" json:"cut"`
	Digest     []byte    `cbor:"3,keyasint" json:"digest"`
	Proposal   []byte    `cbor:"4,keyasint" json:"-"`
	Completion []byte    `cbor:"5,keyasint" json:"-"`
	Blob       []byte    `cbor:"6,keyasint" json:"-"`
}

// ProposalID returns the CID of the proposal the snapshot completed.
func (r *SnapshotRecord) ProposalID() cid.Cid { c, _ := cid.Cast(r.Proposal); return c }

// CompletionID returns the CID of the SnapshotCompleted fact.
func (r *SnapshotRecord) CompletionID() cid.Cid { c, _ := cid.Cast(r.Completion); return c }

// BlobID returns the CID of the snapshot's state blob.
func (r *SnapshotRecord) BlobID() cid.Cid { c, _ := cid.Cast(r.Blob); return c }

// Covers reports whether a fact of epoch e and time t lies below the
// snapshot's cut.
func (r *SnapshotRecord) Covers(e uint64, t Timestamp) bool { return e <= r.Epoch && t <= r.Cut }

// LastSnapshot returns the newest completed snapshot, if any.
func (g *Governance) LastSnapshot() (SnapshotRecord, bool) {
	if len(g.Snapshots) == 0 {
		return SnapshotRecord{}, false
	}
	return g.Snapshots[len(g.Snapshots)-1], true
}

// SnapshotAt returns the completed snapshot of epoch e, if any.
func (g *Governance) SnapshotAt(e uint64) (SnapshotRecord, bool) {
	i, ok := slices.BinarySearchFunc(g.Snapshots, e, func(r SnapshotRecord, e uint64) int { return cmpUint64(r.Epoch, e) })
	if !ok {
		return SnapshotRecord{}, false
	}
	return g.Snapshots[i], true
}

func cmpUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// recordSnapshot adds a completed snapshot. Rules:
//
//  1. One snapshot per epoch: a second completion of the same epoch and
//     digest (another assembler's signer set) keeps the record with the
//     lowest completion CID, so the record is the same in any order.
//  2. A completion of the same epoch with another digest is refused by
//     the caller before this point (ErrBadSnapshot).
func (g *Governance) recordSnapshot(rec SnapshotRecord) bool {
	i, found := slices.BinarySearchFunc(g.Snapshots, rec.Epoch, func(r SnapshotRecord, e uint64) int { return cmpUint64(r.Epoch, e) })
	if found {
		if bytes.Compare(rec.Completion, g.Snapshots[i].Completion) >= 0 {
			return false
		}
		g.Snapshots[i] = rec
		g.recompute()
		return true
	}
	g.Snapshots = slices.Insert(g.Snapshots, i, rec)
	g.recompute()
	return true
}

// NetworkID returns the genesis CID.
func (g *Governance) NetworkID() cid.Cid {
	c, err := cid.Cast(g.Network)
	if err != nil {
		return cid.Undef
	}
	return c
}

// CurrentEpoch returns the newest identity epoch the chain has reached.
func (g *Governance) CurrentEpoch() uint64 { return uint64(len(g.Epochs) - 1) }

// Current returns the newest epoch's info.
func (g *Governance) Current() *EpochInfo { return &g.Epochs[len(g.Epochs)-1] }

// At returns the info of epoch e, if the chain has reached it.
func (g *Governance) At(e uint64) (*EpochInfo, bool) {
	if e >= uint64(len(g.Epochs)) {
		return nil, false
	}
	return &g.Epochs[e], true
}

// Limits returns the stateless limits this network's genesis sets.
func (g *Governance) Limits() Limits { return Limits{MaxFactBytes: int(g.MaxFactBytes)} }

// ReplacedAt returns the epoch from which a was replaced as admin, if it
// ever was.
func (g *Governance) ReplacedAt(a AuthorityID) (uint64, bool) {
	for i := 1; i < len(g.Epochs); i++ {
		if g.Epochs[i-1].Admin == a && g.Epochs[i].Admin != a {
			return uint64(i), true
		}
	}
	return 0, false
}

// Pending returns the proposals of the current epoch with the members that
// approved each, in CID order.
func (g *Governance) Pending() []PendingProposal {
	cur := g.CurrentEpoch()
	var out []PendingProposal
	for _, p := range g.Proposals {
		if p.Epoch != cur {
			continue
		}
		pp := PendingProposal{Record: p}
		for _, a := range g.Approvals {
			if bytes.Equal(a.Proposal, p.ID) && a.Epoch == cur {
				if n := len(pp.Approvers); n > 0 && pp.Approvers[n-1] == a.Member {
					continue
				}
				pp.Approvers = append(pp.Approvers, a.Member)
			}
		}
		out = append(out, pp)
	}
	return out
}

// PendingProposal is a proposal of the current epoch and its approvers.
type PendingProposal struct {
	Record    ProposalRecord
	Approvers []AuthorityID
}

func newGovernance(c Checked) *Governance {
	gen := c.payload.(*Genesis)
	g := &Governance{
		Network:      c.id.Bytes(),
		Name:         gen.Name,
		MaxFactBytes: gen.MaxFactBytes,
	}
	g.Epochs = []EpochInfo{{
		Epoch:     0,
		Members:   slices.Clone(gen.Members),
		Threshold: gen.Threshold,
		Admin:     gen.Admin,
		Cause:     c.id.Bytes(),
		CauseKind: KindGenesis,
	}}
	return g
}

// Authorize checks a stateless-checked fact against the chain: the epoch
// is reached, the author holds the role the kind needs at that epoch, and
// the kind's state-dependent rules hold.
func (g *Governance) Authorize(c Checked) Verdict {
	f := c.fact
	if f.Kind == KindGenesis {
		return reject(fmt.Errorf("%w: a second genesis", ErrBadGenesis))
	}
	if g.MaxFactBytes > 0 && len(c.raw) > int(g.MaxFactBytes) {
		return reject(fmt.Errorf("%w: %d bytes, network limit %d", ErrTooLarge, len(c.raw), g.MaxFactBytes))
	}
	info, ok := g.At(f.Epoch)
	if !ok {
		return ignore(fmt.Errorf("%w: fact epoch %d, journal epoch %d", ErrFutureEpoch, f.Epoch, g.CurrentEpoch()))
	}
	if last, ok := g.LastSnapshot(); ok && last.Covers(f.Epoch, f.Time) && !f.Kind.IsSnapshot() {
		return ignore(fmt.Errorf("%w: %v at epoch %d time %s, snapshot of epoch %d cut %s",
			ErrBelowSnapshot, f.Kind, f.Epoch, f.Time, last.Epoch, last.Cut))
	}
	if f.Kind.AdminOnly() {
		if f.Author != info.Admin {
			if at, replaced := g.ReplacedAt(f.Author); replaced && f.Epoch >= at {
				return reject(fmt.Errorf("%w: %s was replaced at epoch %d; %v at epoch %d refused",
					ErrRetiredAdmin, f.Author, at, f.Kind, f.Epoch))
			}
			return reject(fmt.Errorf("%w: %v by %s at epoch %d", ErrNotAdmin, f.Kind, f.Author, f.Epoch))
		}
	} else if !info.IsMember(f.Author) {
		return reject(fmt.Errorf("%w: %v by %s at epoch %d", ErrNotMember, f.Kind, f.Author, f.Epoch))
	}
	switch p := c.payload.(type) {
	case *AdminReplacement:
		if p.Previous != info.Admin {
			return reject(fmt.Errorf("%w: replaces %s but the admin at epoch %d is %s",
				ErrBadTransition, p.Previous, f.Epoch, info.Admin))
		}
		if p.ActivationEpoch != f.Epoch+1 {
			return reject(fmt.Errorf("%w: activation epoch %d, proposal epoch %d: want %d",
				ErrBadTransition, p.ActivationEpoch, f.Epoch, f.Epoch+1))
		}
	case *SnapshotProposed:
		if p.TargetEpoch != f.Epoch {
			return reject(fmt.Errorf("%w: proposal targets epoch %d but was made at epoch %d", ErrBadSnapshot, p.TargetEpoch, f.Epoch))
		}
	case *SnapshotApproved:
		return g.authorizeApproval(f, info, p)
	case *SnapshotCompleted:
		return g.authorizeCompletion(f, p)
	case *CacheInvalidated:
		if p.EpochFloor > f.Epoch+1 {
			return reject(fmt.Errorf("%w: epoch floor %d beyond the next epoch %d",
				ErrBadPayload, p.EpochFloor, f.Epoch+1))
		}
	}
	return accepted
}

// record adds a governance fact (proposal or approval) and rebuilds the
// chain. It reports whether the governance state changed.
func (g *Governance) record(c Checked) bool {
	f := c.fact
	switch p := c.payload.(type) {
	case *RosterChange, *AdminReplacement:
		rec := ProposalRecord{ID: c.id.Bytes(), Kind: f.Kind, Epoch: f.Epoch, Author: f.Author, Payload: f.Payload}
		i, found := slices.BinarySearchFunc(g.Proposals, rec.ID, func(r ProposalRecord, id []byte) int {
			return bytes.Compare(r.ID, id)
		})
		if found {
			return false
		}
		g.Proposals = slices.Insert(g.Proposals, i, rec)
	case *TransitionApproval:
		rec := ApprovalRecord{Proposal: p.Proposal, Member: f.Author, Epoch: f.Epoch, ID: c.id.Bytes()}
		i, found := slices.BinarySearchFunc(g.Approvals, rec, compareApprovals)
		if found {
			return false
		}
		g.Approvals = slices.Insert(g.Approvals, i, rec)
	default:
		return false
	}
	g.recompute()
	return true
}

func compareApprovals(a, b ApprovalRecord) int {
	if c := bytes.Compare(a.Proposal, b.Proposal); c != 0 {
		return c
	}
	if c := bytes.Compare(a.Member[:], b.Member[:]); c != 0 {
		return c
	}
	return bytes.Compare(a.ID, b.ID)
}

// recompute rebuilds the epoch chain from epoch 0. For each epoch e:
//
//  0. A completed snapshot of epoch e closes it: epoch e+1 keeps the
//     roster and admin, and proposals of epoch e are void. (A snapshot
//     completion is self-certifying: M members of roster(e) signed it.
//     Honest members approve one candidate per epoch across snapshots,
//     roster changes and admin replacements, so under the fault model
//     below a snapshot and another transition never both complete.)
//  1. The candidates are the proposals authored at epoch e.
//  2. An approval counts for a candidate iff it was authored at epoch e by
//     a member of roster(e) and names that candidate; each member counts
//     once per candidate.
//  3. A candidate completes when its counted approvals reach threshold(e).
//  4. If several candidates complete, the one with the lowest CID wins; the
//     others are void and must be proposed again.
//  5. The winner's effect on roster(e) and admin(e) gives epoch e+1.
//
// Fault model: honest members approve at most one candidate per epoch.
// Two candidates can then both complete only if at least 2M-N members
// approve both (M > N/2 makes that at least one); below that bound every
// order of arrival yields the same chain, because approvals only ever add
// votes. Members that approve more than one candidate are reported by
// Equivocators so operators can remove them; their votes still count,
// since discarding them would let a single late approval undo an epoch
// that facts have already been accepted under.
func (g *Governance) recompute() {
	g.Epochs = g.Epochs[:1]
	for {
		info := &g.Epochs[len(g.Epochs)-1]
		e := info.Epoch
		if snap, ok := g.SnapshotAt(e); ok {
			next := *info
			next.Epoch, next.Cause, next.CauseKind = e+1, snap.Completion, KindSnapshotCompleted
			g.Epochs = append(g.Epochs, next)
			continue
		}
		// Rule 2: approvals are sorted by (proposal, member), so a
		// member's repeated approvals of one proposal are adjacent.
		votes := map[string]uint32{}
		for i, a := range g.Approvals {
			if a.Epoch != e || !info.IsMember(a.Member) || !g.isCandidate(a.Proposal, e) {
				continue
			}
			if i > 0 && bytes.Equal(g.Approvals[i-1].Proposal, a.Proposal) && g.Approvals[i-1].Member == a.Member {
				continue
			}
			votes[string(a.Proposal)]++
		}
		// Rules 3 and 4: proposals are sorted by CID, so the first to
		// complete is the lowest.
		var next *EpochInfo
		for i := range g.Proposals {
			p := &g.Proposals[i]
			if p.Epoch != e || votes[string(p.ID)] < info.Threshold {
				continue
			}
			if n, ok := applyTransition(info, p); ok {
				next = &n
				break
			}
		}
		if next == nil {
			return
		}
		g.Epochs = append(g.Epochs, *next)
	}
}

// Equivocators returns the members that approved more than one proposal
// of the same epoch, by epoch.
func (g *Governance) Equivocators() map[uint64][]AuthorityID {
	first := map[uint64]map[AuthorityID][]byte{}
	seen := map[uint64]map[AuthorityID]bool{}
	out := map[uint64][]AuthorityID{}
	for _, a := range g.Approvals {
		if first[a.Epoch] == nil {
			first[a.Epoch], seen[a.Epoch] = map[AuthorityID][]byte{}, map[AuthorityID]bool{}
		}
		prev, ok := first[a.Epoch][a.Member]
		if !ok {
			first[a.Epoch][a.Member] = a.Proposal
			continue
		}
		if !bytes.Equal(prev, a.Proposal) && !seen[a.Epoch][a.Member] {
			seen[a.Epoch][a.Member] = true
			out[a.Epoch] = append(out[a.Epoch], a.Member)
		}
	}
	return out
}

func (g *Governance) isCandidate(id []byte, e uint64) bool {
	i, found := slices.BinarySearchFunc(g.Proposals, id, func(r ProposalRecord, id []byte) int {
		return bytes.Compare(r.ID, id)
	})
	return found && g.Proposals[i].Epoch == e
}

// applyTransition computes epoch e+1 from epoch e and a winning proposal
// (rule 5).
func applyTransition(info *EpochInfo, p *ProposalRecord) (EpochInfo, bool) {
	next := EpochInfo{
		Epoch:     info.Epoch + 1,
		Members:   info.Members,
		Threshold: info.Threshold,
		Admin:     info.Admin,
		Cause:     p.ID,
		CauseKind: p.Kind,
	}
	switch p.Kind {
	case KindRosterChangeProposed:
		var rc RosterChange
		if UnmarshalCanonical(p.Payload, &rc) != nil {
			return EpochInfo{}, false
		}
		next.Members, next.Threshold = rc.Members, rc.Threshold
	case KindAdminReplacement:
		var ar AdminReplacement
		if UnmarshalCanonical(p.Payload, &ar) != nil || ar.Previous != info.Admin {
			return EpochInfo{}, false
		}
		next.Admin = ar.New
	default:
		return EpochInfo{}, false
	}
	return next, true
}

// authorizeApproval checks a snapshot approval: made at the target epoch
// by a member of that epoch's roster with a BLS key, whose signature over
// (network, epoch, digest, proposal) verifies. Which digest and proposal a
// member approves, and how many approvals complete a round, is the
// snapshot state machine's business (snapshot.Machine).
func (g *Governance) authorizeApproval(f *Fact, info *EpochInfo, p *SnapshotApproved) Verdict {
	if p.TargetEpoch != f.Epoch {
		return reject(fmt.Errorf("%w: approval of epoch %d made at epoch %d", ErrBadSnapshot, p.TargetEpoch, f.Epoch))
	}
	key := info.memberKey(f.Author)
	if len(key) == 0 {
		return reject(fmt.Errorf("%w: member %s has no BLS key in the roster of epoch %d", ErrBadSnapshot, f.Author, f.Epoch))
	}
	pk, err := snapshot.ParsePublicKey(key)
	if err != nil {
		return reject(fmt.Errorf("%w: member %s BLS key: %v", ErrBadSnapshot, f.Author, err))
	}
	msg := snapshot.ApprovalMessage(g.Network, p.TargetEpoch, [32]byte(p.StateDigest), p.Proposal)
	if err := snapshot.Verify(pk, msg, p.BLSSig); err != nil {
		return reject(fmt.Errorf("%w: snapshot approval by %s: %v", ErrBadSignature, f.Author, err))
	}
	return accepted
}

// authorizeCompletion checks a snapshot certificate offline against the
// roster of its target epoch: at least M signers of that roster, their
// BDN aggregate signature over (network, epoch, digest, proposal).
func (g *Governance) authorizeCompletion(f *Fact, p *SnapshotCompleted) Verdict {
	info, ok := g.At(p.TargetEpoch)
	if !ok || p.TargetEpoch > f.Epoch {
		return reject(fmt.Errorf("%w: completion of epoch %d made at epoch %d", ErrBadSnapshot, p.TargetEpoch, f.Epoch))
	}
	roster := snapshot.Roster{Threshold: int(info.Threshold)}
	for _, m := range info.Members {
		pk, err := snapshot.ParsePublicKey(m.BLSKey)
		if err != nil {
			return reject(fmt.Errorf("%w: roster of epoch %d: member %s has no usable BLS key", ErrBadSnapshot, p.TargetEpoch, m.Authority))
		}
		roster.Members = append(roster.Members, snapshot.Member{ID: snapshot.MemberID(m.Authority), Key: pk})
	}
	signers := make([]int, 0, len(p.Signers))
	for _, a := range p.Signers {
		i, found := slices.BinarySearchFunc(info.Members, a, func(m Member, a AuthorityID) int {
			return bytes.Compare(m.Authority[:], a[:])
		})
		if !found {
			return reject(fmt.Errorf("%w: signer %s is not in the roster of epoch %d", ErrBadSnapshot, a, p.TargetEpoch))
		}
		signers = append(signers, i)
	}
	err := snapshot.VerifyCompletion(g.Network, snapshot.Completion{
		Proposal:  snapshot.ProposalID(p.Proposal),
		Epoch:     p.TargetEpoch,
		Digest:    snapshot.Digest(p.StateDigest),
		Roster:    roster,
		Signers:   signers,
		Aggregate: p.AggregateSig,
	})
	if err != nil {
		return reject(fmt.Errorf("%w: %v", ErrBadSnapshot, err))
	}
	return accepted
}

// memberKey returns a member's BLS key, or nil.
func (e *EpochInfo) memberKey(a AuthorityID) []byte {
	i, ok := slices.BinarySearchFunc(e.Members, a, func(m Member, a AuthorityID) int {
		return bytes.Compare(m.Authority[:], a[:])
	})
	if !ok {
		return nil
	}
	return e.Members[i].BLSKey
}
