package facts

import (
	"bytes"
	"fmt"

	"github.com/ipfs/go-cid"
)

// SnapshotProposalRecord is what the state keeps of a snapshot proposal:
// enough to check the approvals and the completion that name it.
type SnapshotProposalRecord struct {
	Epoch  uint64      `cbor:"1,keyasint"`
	Digest []byte      `cbor:"2,keyasint"`
	Cut    Timestamp   `cbor:"3,keyasint"`
	Author AuthorityID `cbor:"4,keyasint"`
}

func snapProposalKey(id []byte) []byte { return append([]byte{keySnapProposal}, id...) }

// ReadSnapshotProposal returns the stored record of a snapshot proposal.
func ReadSnapshotProposal(r StateReader, id cid.Cid) (*SnapshotProposalRecord, bool, error) {
	v, ok, err := r.GetState(snapProposalKey(id.Bytes()))
	if err != nil || !ok {
		return nil, false, err
	}
	var rec SnapshotProposalRecord
	if err := UnmarshalCanonical(v, &rec); err != nil {
		return nil, false, fmt.Errorf("facts: stored snapshot proposal is corrupt: %w", err)
	}
	return &rec, true, nil
}

// applySnapshot applies an authorised snapshot round fact. Round facts do
// not touch the hashed state (no kind count, no journal sum) except the
// completion, which closes the epoch in the governance chain. Rules:
//
//  1. A proposal is recorded (unhashed) with its cut: the proposal fact's
//     own timestamp.
//  2. An approval or completion naming a proposal this journal does not
//     hold is ignored with ErrMissingProposal (the node holds it and
//     retries once the proposal arrives).
//  3. An approval or completion must name the proposal's epoch and
//     digest, else it is rejected. (Duplicates and a member approving two
//     digests in one epoch are valid facts and stay in the journal; the
//     snapshot state machine counts each member once and refuses
//     equivocation.)
//  4. A completion of an epoch that already has a completed snapshot with
//     another digest is rejected (it would take at least 2M-N equivocating
//     members to produce); with the same digest it is kept, and the
//     governance record keeps the lowest completion CID.
func (t *Txn) applySnapshot(c Checked) (Verdict, error) {
	switch p := c.payload.(type) {
	case *SnapshotProposed:
		enc, err := Marshal(&SnapshotProposalRecord{Epoch: p.TargetEpoch, Digest: p.StateDigest, Cut: c.fact.Time, Author: c.fact.Author})
		if err != nil {
			return Verdict{}, err
		}
		return accepted, t.put(snapProposalKey(c.id.Bytes()), enc)
	case *SnapshotApproved:
		prop, v, err := t.roundProposal(p.Proposal, p.TargetEpoch, p.StateDigest)
		if err != nil || prop == nil {
			return v, err
		}
		return accepted, nil
	case *SnapshotCompleted:
		prop, v, err := t.roundProposal(p.Proposal, p.TargetEpoch, p.StateDigest)
		if err != nil || prop == nil {
			return v, err
		}
		if prev, ok := t.gov.SnapshotAt(p.TargetEpoch); ok && !bytes.Equal(prev.Digest, p.StateDigest) {
			return reject(fmt.Errorf("%w: epoch %d already has a snapshot with digest %x, this completion certifies %x",
				ErrBadSnapshot, p.TargetEpoch, prev.Digest, p.StateDigest)), nil
		}
		g := t.gov.clone()
		if g.recordSnapshot(SnapshotRecord{
			Epoch: p.TargetEpoch, Cut: prop.Cut, Digest: p.StateDigest,
			Proposal: p.Proposal, Completion: c.id.Bytes(), Blob: p.StateBlob,
		}) {
			t.gov = g
			return accepted, t.saveGovernance()
		}
		return accepted, nil
	}
	return reject(fmt.Errorf("%w: %v is not a snapshot kind", ErrBadSnapshot, c.fact.Kind)), nil
}

// roundProposal looks up the proposal an approval or completion names and
// checks rule 3. A nil record with a zero verdict error means the verdict
// says why.
func (t *Txn) roundProposal(id []byte, epoch uint64, digest []byte) (*SnapshotProposalRecord, Verdict, error) {
	v, err := t.get(snapProposalKey(id))
	if err != nil {
		return nil, Verdict{}, err
	}
	pid, _ := cid.Cast(id)
	if v == nil {
		return nil, ignore(fmt.Errorf("%w: %s", ErrMissingProposal, pid)), nil
	}
	var rec SnapshotProposalRecord
	if err := UnmarshalCanonical(v, &rec); err != nil {
		return nil, Verdict{}, fmt.Errorf("facts: stored snapshot proposal is corrupt: %w", err)
	}
	if rec.Epoch != epoch {
		return nil, reject(fmt.Errorf("%w: names epoch %d, proposal %s targets epoch %d", ErrBadSnapshot, epoch, pid, rec.Epoch)), nil
	}
	if !bytes.Equal(rec.Digest, digest) {
		return nil, reject(fmt.Errorf("%w: names digest %x, proposal %s proposes %x", ErrBadSnapshot, digest, pid, rec.Digest)), nil
	}
	return &rec, accepted, nil
}

// clone returns a deep enough copy of g for a transaction to modify: the
// stored governance may be shared with readers.
func (g *Governance) clone() *Governance {
	c := *g
	c.Epochs = append([]EpochInfo(nil), g.Epochs...)
	c.Proposals = append([]ProposalRecord(nil), g.Proposals...)
	c.Approvals = append([]ApprovalRecord(nil), g.Approvals...)
	c.Snapshots = append([]SnapshotRecord(nil), g.Snapshots...)
	return &c
}
