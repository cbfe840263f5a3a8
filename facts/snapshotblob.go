package facts

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/ipfs/go-cid"
)

// SnapshotBlob is the content-addressed body of a snapshot: the hashed
// state at the cut and the kept facts the state already reflects, so that
// a node can start from it without the pruned journal.
//
// It is a deterministic function of the snapshot's fact set: every node
// whose state digest equals the certified digest builds the same bytes,
// so any of them can serve the blob by its CID.
type SnapshotBlob struct {
	Network []byte    `cbor:"1,keyasint"`
	Epoch   uint64    `cbor:"2,keyasint"`
	Cut     Timestamp `cbor:"3,keyasint"`
	Digest  []byte    `cbor:"4,keyasint"`
	// State is every hashed state entry, sorted by key.
	State []StateWrite `cbor:"5,keyasint"`
	// Facts are the kept facts (not Prunable) covered by the snapshot,
	// with the proposal and completion of every earlier snapshot, sorted
	// by CID bytes. A joining node replays the governance among them from
	// the genesis to learn the roster that certified the snapshot.
	Facts [][]byte `cbor:"6,keyasint"`
}

// ErrBadBlob marks a snapshot blob that does not verify.
var ErrBadBlob = errors.New("facts: invalid snapshot blob")

// EncodeBlob returns the canonical encoding of b and its CID. State must
// be sorted by key and Facts by CID bytes (SortBlob does both).
func EncodeBlob(b *SnapshotBlob) ([]byte, cid.Cid, error) {
	raw, err := Marshal(b)
	if err != nil {
		return nil, cid.Undef, err
	}
	return raw, ComputeID(raw), nil
}

// SortBlob puts State and Facts in their canonical orders.
func SortBlob(b *SnapshotBlob) {
	sort.Slice(b.State, func(i, j int) bool { return bytes.Compare(b.State[i].Key, b.State[j].Key) < 0 })
	slices.SortFunc(b.Facts, func(x, y []byte) int { return bytes.Compare(ComputeID(x).Bytes(), ComputeID(y).Bytes()) })
}

// BlobDigest returns the state digest of a list of state entries: the
// LtHash of the hashed entries, as Txn.Commit maintains it incrementally.
func BlobDigest(entries []StateWrite) Digest {
	var acc ltHash
	for _, e := range entries {
		if Hashed(e.Key) {
			acc.addEntry(e.Key, e.Value, false)
		}
	}
	return acc.digest()
}

// AccumulatorEntry returns the state entry holding the digest accumulator
// of entries, which a node writes with them when it hydrates a blob.
func AccumulatorEntry(entries []StateWrite) StateWrite {
	var acc ltHash
	for _, e := range entries {
		if Hashed(e.Key) {
			acc.addEntry(e.Key, e.Value, false)
		}
	}
	return StateWrite{Key: accumKey(), Value: acc.bytes()}
}

// VerifiedBlob is a blob that passed VerifyBlob.
type VerifiedBlob struct {
	Blob *SnapshotBlob
	// Kept are the blob's facts, verified, to store without reducing
	// (the state already reflects them).
	Kept []Verified
	// Governance is the chain replayed from the genesis and the kept
	// facts; it equals the blob's stored governance.
	Governance *Governance
	// Accumulator is the digest accumulator entry of the blob's state,
	// to store with it (computed once, while verifying).
	Accumulator StateWrite
}

// VerifyBlob checks a snapshot blob fetched from an untrusted peer
// against the genesis and the snapshot's proposal and completion facts
// (themselves checked with CheckStateless). Rules, in order:
//
//  1. The blob's CID is the completion's StateBlob, and it decodes
//     canonically.
//  2. Network, epoch and digest are the completion's; the cut is the
//     proposal's timestamp, and the completion names the proposal.
//  3. State entries are sorted, unique and hashed, and their LtHash is
//     the certified digest.
//  4. Every kept fact passes the stateless checks, and replaying the
//     governance among them from the genesis accepts each one and yields
//     exactly the governance stored in the blob's state.
//  5. The completion verifies against that chain: its signers are at
//     least M members of roster(E) and their aggregate BLS signature is
//     over (network, E, digest, proposal).
func VerifyBlob(genesis Checked, raw []byte, proposal, completion Checked) (*VerifiedBlob, error) {
	cp, ok := completion.payload.(*SnapshotCompleted)
	if !ok {
		return nil, fmt.Errorf("%w: %v is not a snapshot completion", ErrBadBlob, completion.fact.Kind)
	}
	pp, ok := proposal.payload.(*SnapshotProposed)
	if !ok {
		return nil, fmt.Errorf("%w: %v is not a snapshot proposal", ErrBadBlob, proposal.fact.Kind)
	}
	network := genesis.id
	// Rule 1.
	want, err := cid.Cast(cp.StateBlob)
	if err != nil {
		return nil, fmt.Errorf("%w: completion names no blob CID", ErrBadBlob)
	}
	if got := ComputeID(raw); !got.Equals(want) {
		return nil, fmt.Errorf("%w: blob hashes to %s, the completion names %s (tampered or truncated)", ErrBadBlob, got, want)
	}
	var b SnapshotBlob
	if err := UnmarshalBulk(raw, &b); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadBlob, err)
	}
	// Rule 2.
	switch {
	case !bytes.Equal(b.Network, network.Bytes()):
		return nil, fmt.Errorf("%w: blob of another network", ErrBadBlob)
	case !bytes.Equal(cp.Proposal, proposal.id.Bytes()):
		return nil, fmt.Errorf("%w: completion names proposal %s, not %s", ErrBadBlob, cidString(cp.Proposal), proposal.id)
	case b.Epoch != cp.TargetEpoch || pp.TargetEpoch != cp.TargetEpoch:
		return nil, fmt.Errorf("%w: blob epoch %d, proposal %d, completion %d", ErrBadBlob, b.Epoch, pp.TargetEpoch, cp.TargetEpoch)
	case !bytes.Equal(b.Digest, cp.StateDigest) || !bytes.Equal(pp.StateDigest, cp.StateDigest):
		return nil, fmt.Errorf("%w: digests of blob, proposal and completion differ", ErrBadBlob)
	case b.Cut != proposal.fact.Time:
		return nil, fmt.Errorf("%w: blob cut %s, proposal time %s", ErrBadBlob, b.Cut, proposal.fact.Time)
	}
	// Rule 3.
	for i, e := range b.State {
		if !Hashed(e.Key) || e.Value == nil {
			return nil, fmt.Errorf("%w: state entry %x is not a hashed entry", ErrBadBlob, e.Key)
		}
		if i > 0 && bytes.Compare(b.State[i-1].Key, e.Key) >= 0 {
			return nil, fmt.Errorf("%w: state entries not sorted and unique at %x", ErrBadBlob, e.Key)
		}
	}
	acc := AccumulatorEntry(b.State)
	lt := ltHashFrom(acc.Value)
	if d := lt.digest(); !bytes.Equal(d[:], b.Digest) {
		return nil, fmt.Errorf("%w: state hashes to %s, certified digest is %x", ErrBadBlob, d, b.Digest)
	}
	// Rule 4.
	lim := Limits{MaxFactBytes: DefaultMaxFactLen}
	if gp, ok := genesis.payload.(*Genesis); ok && gp.MaxFactBytes > 0 {
		lim.MaxFactBytes = int(gp.MaxFactBytes)
	}
	checked := make([]Checked, 0, len(b.Facts))
	for i, fr := range b.Facts {
		c, v := CheckStateless(network, fr, lim)
		if v.Result != Accept {
			return nil, fmt.Errorf("%w: kept fact %d: %v", ErrBadBlob, i, v.Reason)
		}
		if c.fact.Kind == KindGenesis || (c.fact.Kind.Prunable()) {
			return nil, fmt.Errorf("%w: kept fact %s is a %v", ErrBadBlob, c.id, c.fact.Kind)
		}
		if i > 0 && bytes.Compare(checked[i-1].id.Bytes(), c.id.Bytes()) >= 0 {
			return nil, fmt.Errorf("%w: kept facts not sorted and unique at %s", ErrBadBlob, c.id)
		}
		checked = append(checked, c)
	}
	replay, kept, err := replayKept(genesis, checked)
	if err != nil {
		return nil, err
	}
	stored, err := ReadGovernance(blobReader(b.State))
	if err != nil || stored == nil {
		return nil, fmt.Errorf("%w: blob holds no governance state", ErrBadBlob)
	}
	rg, _ := Marshal(replay)
	sg, _ := Marshal(stored)
	if !bytes.Equal(rg, sg) {
		return nil, fmt.Errorf("%w: the governance replayed from the kept facts differs from the blob's", ErrBadBlob)
	}
	if replay.CurrentEpoch() != b.Epoch {
		return nil, fmt.Errorf("%w: blob governance is at epoch %d, snapshot of epoch %d", ErrBadBlob, replay.CurrentEpoch(), b.Epoch)
	}
	// Rule 5.
	if v := replay.authorizeCompletion(completion.fact, cp); v.Result != Accept {
		return nil, fmt.Errorf("%w: completion does not verify against the replayed roster: %v", ErrBadBlob, v.Reason)
	}
	return &VerifiedBlob{Blob: &b, Kept: kept, Governance: replay, Accumulator: acc}, nil
}

// replayKept applies the genesis and the kept facts to an empty state,
// retrying facts of epochs not reached yet until nothing changes; every
// kept fact must end up accepted.
func replayKept(genesis Checked, kept []Checked) (*Governance, []Verified, error) {
	st := blobReader(nil)
	txn := NewTxn(st)
	if v, err := txn.Apply(genesis); err != nil || v.Result != Accept {
		return nil, nil, fmt.Errorf("%w: genesis: %v %v", ErrBadBlob, v, err)
	}
	// Time order first: a completion comes after its proposal.
	pending := slices.Clone(kept)
	sort.SliceStable(pending, func(i, j int) bool { return pending[i].fact.Time < pending[j].fact.Time })
	var out []Verified
	for len(pending) > 0 {
		var next []Checked
		var lastErr error
		for _, c := range pending {
			v, err := txn.Apply(c)
			if err != nil {
				return nil, nil, err
			}
			switch {
			case v.Result == Accept:
			case errors.Is(v.Reason, ErrFutureEpoch), errors.Is(v.Reason, ErrMissingProposal):
				next = append(next, c)
				lastErr = v.Reason
			default:
				return nil, nil, fmt.Errorf("%w: kept fact %s: %v", ErrBadBlob, c.id, v)
			}
		}
		if len(next) == len(pending) {
			return nil, nil, fmt.Errorf("%w: %d kept facts never apply: %v", ErrBadBlob, len(next), lastErr)
		}
		pending = next
	}
	out = append(out, txn.facts[1:]...)
	g, err := txn.Governance()
	if err != nil {
		return nil, nil, err
	}
	return g, out, nil
}

// blobReader is a StateReader over a sorted entry list (reads only).
type blobReader []StateWrite

func (r blobReader) GetState(key []byte) ([]byte, bool, error) {
	i, ok := slices.BinarySearchFunc(r, key, func(e StateWrite, k []byte) int { return bytes.Compare(e.Key, k) })
	if !ok {
		return nil, false, nil
	}
	return r[i].Value, true, nil
}

func (r blobReader) HasFact(cid.Cid) (bool, error) { return false, nil }

func cidString(b []byte) string {
	c, err := cid.Cast(b)
	if err != nil {
		return fmt.Sprintf("%x", b)
	}
	return c.String()
}
