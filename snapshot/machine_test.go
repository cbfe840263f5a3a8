package snapshot_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"

	"github.com/aura-node/aura-node/snapshot"
)

func TestConfigValidate(t *testing.T) {
	var c snapshot.Config
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c != snapshot.DefaultConfig() {
		t.Fatalf("zero config filled to %+v, want the defaults %+v", c, snapshot.DefaultConfig())
	}
	c = snapshot.Config{ProposalTimeoutTicks: 50}
	if err := c.Validate(); err != nil || c.ApprovalTimeoutTicks != 50 {
		t.Fatalf("approval timeout should default to at most the proposal timeout: %+v, %v", c, err)
	}
	for _, bad := range []snapshot.Config{
		{ProposalTimeoutTicks: 10, ApprovalTimeoutTicks: 11},
		{MaxOpenProposals: -1},
	} {
		if err := bad.Validate(); !errors.Is(err, snapshot.ErrBadConfig) {
			t.Fatalf("%+v: Validate = %v, want ErrBadConfig", bad, err)
		}
	}
	if _, err := snapshot.New(snapshot.Config{}, snapshot.Start{}); !errors.Is(err, snapshot.ErrBadConfig) {
		t.Fatalf("New without a network = %v, want ErrBadConfig", err)
	}
}

// TestAssembleCanonical: nodes that hold the same approvals publish
// byte-identical certificates whatever order the approvals arrived in,
// and the certificate is the first M approvers in roster order.
func TestAssembleCanonical(t *testing.T) {
	const n, m = 7, 4
	network := []byte("net")
	privs := make([]snapshot.PrivateKey, n)
	roster := snapshot.Roster{Threshold: m}
	for i := range n {
		var pub snapshot.PublicKey
		privs[i], pub = snapshot.GenerateKey(sha256.Sum256(fmt.Appendf(nil, "canonical %d", i)))
		roster.Members = append(roster.Members, snapshot.Member{ID: snapshot.MemberID{byte(i + 1)}, Key: pub})
	}
	p := snapshot.Proposal{ID: "p", Proposer: roster.Members[0].ID, Epoch: 2, Digest: snapshot.Digest{0xd1}, Roster: roster}
	msg := snapshot.ApprovalMessage(network, p.Epoch, p.Digest, []byte(p.ID))
	approval := func(i int) snapshot.Approval {
		return snapshot.Approval{Member: roster.Members[i].ID, Proposal: p.ID, Digest: p.Digest, Signature: snapshot.Sign(privs[i], msg)}
	}
	var first *snapshot.Assemble
	for _, order := range [][]int{{6, 1, 3, 5}, {5, 3, 1, 6}, {1, 3, 5, 6}, {3, 6, 5, 1}} {
		mach, err := snapshot.New(snapshot.Config{}, snapshot.Start{Network: network, Self: snapshot.MemberID{0xff}, Epoch: 2})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := mach.Propose(p); err != nil {
			t.Fatal(err)
		}
		var got []snapshot.Action
		for _, i := range order {
			acts, err := mach.Approve(approval(i))
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, acts...)
		}
		if len(got) != 1 {
			t.Fatalf("order %v: actions %v, want one Assemble", order, got)
		}
		a := got[0].(snapshot.Assemble)
		if fmt.Sprint(a.Signers) != "[1 3 5 6]" {
			t.Fatalf("order %v: signers %v, want [1 3 5 6]", order, a.Signers)
		}
		if first == nil {
			first = &a
			continue
		}
		if !bytes.Equal(a.Aggregate, first.Aggregate) {
			t.Fatalf("order %v: aggregate %x differs from %x", order, a.Aggregate, first.Aggregate)
		}
	}
	c := snapshot.Completion{Proposal: p.ID, Epoch: p.Epoch, Digest: p.Digest, Roster: roster, Signers: first.Signers, Aggregate: first.Aggregate}
	if err := snapshot.VerifyCompletion(network, c); err != nil {
		t.Fatal(err)
	}
	if err := snapshot.VerifyCompletion([]byte("another network"), c); !errors.Is(err, snapshot.ErrBadSignature) {
		t.Fatalf("certificate verified for another network: %v", err)
	}
}

// TestRosterValidate covers the roster rules not reachable from scripts.
func TestRosterValidate(t *testing.T) {
	_, k1 := snapshot.GenerateKey([32]byte{1})
	_, k2 := snapshot.GenerateKey([32]byte{2})
	a, b := snapshot.MemberID{1}, snapshot.MemberID{2}
	for _, tc := range []struct {
		name string
		r    snapshot.Roster
		want error
	}{
		{"valid", snapshot.Roster{Members: []snapshot.Member{{a, k1}, {b, k2}}, Threshold: 2}, nil},
		{"empty", snapshot.Roster{Threshold: 1}, snapshot.ErrBadRoster},
		{"unsorted", snapshot.Roster{Members: []snapshot.Member{{b, k2}, {a, k1}}, Threshold: 2}, snapshot.ErrBadRoster},
		{"duplicate member", snapshot.Roster{Members: []snapshot.Member{{a, k1}, {a, k2}}, Threshold: 2}, snapshot.ErrBadRoster},
		{"shared key", snapshot.Roster{Members: []snapshot.Member{{a, k1}, {b, k1}}, Threshold: 2}, snapshot.ErrBadRoster},
		{"missing key", snapshot.Roster{Members: []snapshot.Member{{a, k1}, {ID: b}}, Threshold: 2}, snapshot.ErrBadRoster},
		{"M = N/2", snapshot.Roster{Members: []snapshot.Member{{a, k1}, {b, k2}}, Threshold: 1}, snapshot.ErrThreshold},
		{"M = 0", snapshot.Roster{Members: []snapshot.Member{{a, k1}}, Threshold: 0}, snapshot.ErrThreshold},
	} {
		err := tc.r.Validate()
		if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: Validate = %v, want %v", tc.name, err, tc.want)
		}
	}
}
