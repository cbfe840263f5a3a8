package storagetest

import (
	"bytes"
	"crypto/ed25519"
	"slices"
	"testing"

	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/storage"
	"github.com/ipfs/go-cid"
)

// Network builds real, signed facts for a test journal and commits them
// through facts.Txn, the way the node does. It remembers an Entry for
// every fact it committed, which the suite uses as its model.
//
// Author 0 is the admin and only genesis member; AdvanceEpoch admits
// author 1 at epoch 1.
type Network struct {
	t       testing.TB
	j       storage.Journal
	id      cid.Cid
	keys    []ed25519.PrivateKey
	entries []storage.Entry
}

// testKey returns a deterministic Ed25519 key.
func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

// NewNetwork signs a genesis with author 0 as admin and sole member,
// commits it to j at wall time 1000 ms and returns the network.
func NewNetwork(t testing.TB, j storage.Journal) *Network {
	t.Helper()
	n := &Network{t: t, j: j, keys: []ed25519.PrivateKey{testKey(1), testKey(2)}}
	a := n.Author(0)
	raw, id, err := facts.Sign(n.keys[0], facts.Draft{
		Kind: facts.KindGenesis,
		Payload: &facts.Genesis{
			Name:         "t",
			Members:      []facts.Member{{Authority: a}},
			Threshold:    1,
			Admin:        a,
			MaxFactBytes: 65536,
		},
		Time: facts.MakeTimestamp(1000, 0),
	})
	if err != nil {
		t.Fatalf("sign genesis: %v", err)
	}
	n.id = id
	n.Commit(raw)
	return n
}

// SetJournal points n at j, for example the same database reopened.
func (n *Network) SetJournal(j storage.Journal) { n.j = j }

// ID returns the network ID, the genesis CID.
func (n *Network) ID() cid.Cid { return n.id }

// Author returns the authority of author i.
func (n *Network) Author(i int) facts.AuthorityID {
	return facts.AuthorityFromKey(n.keys[i].Public().(ed25519.PublicKey))
}

// Sign signs a fact of this network by author i.
func (n *Network) Sign(author int, kind facts.Kind, p facts.Payload, epoch uint64, t facts.Timestamp) []byte {
	n.t.Helper()
	raw, _, err := facts.Sign(n.keys[author], facts.Draft{Network: n.id, Kind: kind, Payload: p, Epoch: epoch, Time: t})
	if err != nil {
		n.t.Fatalf("sign %v: %v", kind, err)
	}
	return raw
}

// Data signs a data write of ns "ns" by author i at wall time ms.
func (n *Network) Data(author int, epoch, ms uint64, key, value string) []byte {
	n.t.Helper()
	return n.Sign(author, facts.KindData, &facts.Data{Namespace: "ns", Key: key, Value: []byte(value)},
		epoch, facts.MakeTimestamp(ms, 0))
}

// AdvanceEpoch commits a roster change adding author 1 (threshold 2) and
// author 0's approval of it, at wall times 1001 and 1002 and epoch 0,
// which moves the network to epoch 1.
func (n *Network) AdvanceEpoch() {
	n.t.Helper()
	members := []facts.Member{{Authority: n.Author(0)}, {Authority: n.Author(1)}}
	slices.SortFunc(members, func(x, y facts.Member) int { return bytes.Compare(x.Authority[:], y.Authority[:]) })
	rc := n.Sign(0, facts.KindRosterChangeProposed, &facts.RosterChange{Members: members, Threshold: 2},
		0, facts.MakeTimestamp(1001, 0))
	n.Commit(rc)
	ap := n.Sign(0, facts.KindTransitionApproved, &facts.TransitionApproval{Proposal: facts.ComputeID(rc).Bytes()},
		0, facts.MakeTimestamp(1002, 0))
	n.Commit(ap)
	g, err := facts.ReadGovernance(n.j)
	if err != nil || g == nil || g.CurrentEpoch() != 1 {
		n.t.Fatalf("advance epoch: governance %+v, err %v", g, err)
	}
}

// Build checks and applies raw facts in one facts.Txn over the journal and
// returns the batch, without committing it. Every fact must be accepted.
func (n *Network) Build(raws ...[]byte) *facts.Batch {
	n.t.Helper()
	txn := facts.NewTxn(n.j)
	for i, raw := range raws {
		c, v := facts.CheckStateless(n.id, raw, facts.Limits{})
		if v.Result != facts.Accept {
			n.t.Fatalf("fact %d: stateless check: %v", i, v)
		}
		v, err := txn.Apply(c)
		if err != nil {
			n.t.Fatalf("fact %d: apply: %v", i, err)
		}
		if v.Result != facts.Accept {
			n.t.Fatalf("fact %d: apply: %v", i, v)
		}
	}
	b, err := txn.Commit()
	if err != nil {
		n.t.Fatalf("txn commit: %v", err)
	}
	return b
}

// Commit builds a batch of raw facts, commits it and records its entries.
func (n *Network) Commit(raws ...[]byte) *facts.Batch {
	n.t.Helper()
	b := n.Build(raws...)
	if err := n.j.Commit(b); err != nil {
		n.t.Fatalf("commit: %v", err)
	}
	n.Record(b)
	return b
}

// Record adds the facts of a batch committed by other means to the model.
func (n *Network) Record(b *facts.Batch) {
	for _, v := range b.Facts {
		f := v.Fact()
		e := storage.Entry{ID: v.ID(), Kind: f.Kind, Author: f.Author, Epoch: f.Epoch, Time: f.Time}
		if !slices.ContainsFunc(n.entries, func(x storage.Entry) bool { return x.ID.Equals(e.ID) }) {
			n.entries = append(n.entries, e)
		}
	}
}

// Entries returns every fact committed through n, in (Time, ID) order.
func (n *Network) Entries() []storage.Entry {
	out := slices.Clone(n.entries)
	slices.SortFunc(out, compareEntries)
	return out
}

// compareEntries orders by time, then CID bytes. Every fact CID has the
// same prefix, so CID order is digest order.
func compareEntries(x, y storage.Entry) int {
	if x.Time != y.Time {
		if x.Time < y.Time {
			return -1
		}
		return 1
	}
	return bytes.Compare(x.ID.Bytes(), y.ID.Bytes())
}
