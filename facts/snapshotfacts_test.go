package facts_test

import (
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/snapshot"
)

// approval signs member i's snapshot approval of (epoch, digest, proposal).
func (tn *testnet) snapshotApproval(i int, epoch uint64, digest [32]byte, proposal cid.Cid) ([]byte, []byte) {
	sig := snapshot.Sign(tn.bls[i], snapshot.ApprovalMessage(tn.id.Bytes(), epoch, digest, proposal.Bytes()))
	raw, _ := tn.sign(i, facts.KindSnapshotApproved, epoch, &facts.SnapshotApproved{
		Proposal: proposal.Bytes(), TargetEpoch: epoch, StateDigest: digest[:], BLSSig: sig,
	})
	return raw, sig
}

func TestSnapshotFactsAreVerified(t *testing.T) {
	tn := buildTestnetBLS(t, "snap", 5, 3, facts.DefaultMaxFactLen, true)
	s := started(t, tn)
	digest := sha256.Sum256([]byte("state at epoch 0"))
	prop, pid := tn.sign(1, facts.KindSnapshotProposed, 0, &facts.SnapshotProposed{TargetEpoch: 0, StateDigest: digest[:]})
	acceptAll(t, s, tn, prop)

	var sigs [][]byte
	for i := 0; i < 3; i++ {
		raw, sig := tn.snapshotApproval(i, 0, digest, pid)
		acceptAll(t, s, tn, raw)
		sigs = append(sigs, sig)
	}
	// A signature over another digest, or by another member's key, is refused.
	other := sha256.Sum256([]byte("another state"))
	forged := snapshot.Sign(tn.bls[4], snapshot.ApprovalMessage(tn.id.Bytes(), 0, other, pid.Bytes()))
	bad, _ := tn.sign(4, facts.KindSnapshotApproved, 0, &facts.SnapshotApproved{
		Proposal: pid.Bytes(), TargetEpoch: 0, StateDigest: digest[:], BLSSig: forged,
	})
	checkVerdict(t, "approval signed over another digest", s.deliverOne(t, tn.id, bad), facts.Reject, facts.ErrBadSignature)
	stolen, _ := tn.sign(3, facts.KindSnapshotApproved, 0, &facts.SnapshotApproved{
		Proposal: pid.Bytes(), TargetEpoch: 0, StateDigest: digest[:], BLSSig: sigs[0],
	})
	checkVerdict(t, "approval with member 0's signature", s.deliverOne(t, tn.id, stolen), facts.Reject, facts.ErrBadSignature)
	wrongEpoch, _ := tn.sign(3, facts.KindSnapshotProposed, 0, &facts.SnapshotProposed{TargetEpoch: 7, StateDigest: digest[:]})
	checkVerdict(t, "proposal for another epoch", s.deliverOne(t, tn.id, wrongEpoch), facts.Reject, facts.ErrBadSnapshot)

	// The certificate: the aggregate of members 0..2 over the same message.
	roster := make([]snapshot.PublicKey, 5)
	for i := range roster {
		roster[i] = tn.bls[i].Public()
	}
	agg, err := snapshot.Aggregate(roster, []int{0, 1, 2}, sigs)
	if err != nil {
		t.Fatal(err)
	}
	blob, _ := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: 0x12, MhLength: 32}.Sum([]byte("blob"))
	complete := func(signers []int, agg []byte) []byte {
		var ids []facts.AuthorityID
		for _, i := range signers {
			ids = append(ids, tn.auth(i))
		}
		raw, _ := tn.sign(1, facts.KindSnapshotCompleted, 0, &facts.SnapshotCompleted{
			Proposal: pid.Bytes(), TargetEpoch: 0, StateDigest: digest[:], StateBlob: blob.Bytes(),
			Signers: ids, AggregateSig: agg,
		})
		return raw
	}
	checkVerdict(t, "completion with a signer set that did not sign", s.deliverOne(t, tn.id, complete([]int{0, 1, 3}, agg)), facts.Reject, facts.ErrBadSnapshot)
	agg2, err := snapshot.Aggregate(roster, []int{0, 1}, sigs[:2])
	if err != nil {
		t.Fatal(err)
	}
	v := s.deliverOne(t, tn.id, complete([]int{0, 1}, agg2))
	if v.Result != facts.Reject || !errors.Is(v.Reason, facts.ErrBadSnapshot) {
		t.Fatalf("completion below the threshold: %v", v)
	}
	acceptAll(t, s, tn, complete([]int{0, 1, 2}, agg))
}

func TestRosterBLSKeysAreChecked(t *testing.T) {
	tn := buildTestnetBLS(t, "snap", 3, 2, facts.DefaultMaxFactLen, true)
	members := tn.members(0, 1, 2)
	members[2].BLSKey = members[1].BLSKey
	_, _, err := facts.Sign(tn.keys[0], facts.Draft{Kind: facts.KindGenesis, Payload: &facts.Genesis{
		Name: "dup", Members: members, Threshold: 2, Admin: tn.auth(0), MaxFactBytes: 65536,
	}})
	if !errors.Is(err, facts.ErrBadPayload) {
		t.Fatalf("shared BLS key: %v", err)
	}
	members = tn.members(0, 1, 2)
	members[1].BLSKey = []byte("not a key")
	_, _, err = facts.Sign(tn.keys[0], facts.Draft{Kind: facts.KindGenesis, Payload: &facts.Genesis{
		Name: "bad", Members: members, Threshold: 2, Admin: tn.auth(0), MaxFactBytes: 65536,
	}})
	if !errors.Is(err, facts.ErrBadPayload) {
		t.Fatalf("garbage BLS key: %v", err)
	}
}
