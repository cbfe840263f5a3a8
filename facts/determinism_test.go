package facts_test

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/aura-node/aura-node/facts"
)

// applyToFixpoint offers facts in one transaction, then re-offers those
// ignored for want of an epoch or the genesis, as anti-entropy would,
// until a round accepts nothing more. It returns each fact's last verdict.
func applyToFixpoint(tb testing.TB, s *memStore, tn *testnet, raws [][]byte) []facts.Verdict {
	tb.Helper()
	final := s.deliver(tb, tn.id, raws...)
	for {
		var retry []int
		for i, v := range final {
			if waiting(v) {
				retry = append(retry, i)
			}
		}
		if len(retry) == 0 {
			return final
		}
		again := make([][]byte, len(retry))
		for j, i := range retry {
			again[j] = raws[i]
		}
		progress := false
		for j, v := range s.deliver(tb, tn.id, again...) {
			final[retry[j]] = v
			progress = progress || v.Result != facts.Ignore
		}
		if !progress {
			return final
		}
	}
}

// waiting reports whether a fact was ignored for now (its epoch or the
// genesis is missing) rather than for good.
func waiting(v facts.Verdict) bool {
	return v.Result == facts.Ignore && !errors.Is(v.Reason, facts.ErrDuplicate)
}

func reversed(raws [][]byte) [][]byte {
	out := slices.Clone(raws)
	slices.Reverse(out)
	return out
}

// journalSet is a fact set exercising every reducer: LWW writes with
// colliding keys and equal timestamps, cache floors, an admin replacement
// with an equivocating member, a roster change, a retired admin and a
// removed member.
type journalSet struct {
	raws     [][]byte
	rejected map[cid.Cid]error // facts that must end rejected; all others accepted
	// approvals[i] must come after proposals[i] in a "natural" order.
	proposals, approvals []cid.Cid
}

func buildJournal(t *testing.T) (*testnet, journalSet) {
	tn := newTestnet(t, 4, 3)
	ts := facts.MakeTimestamp(1_700_000_100_000, 3)
	at := func(i int, epoch uint64, key, value string, ts facts.Timestamp) []byte {
		raw, _ := tn.signAt(tn.keys[i], facts.KindData, epoch, ts, &facts.Data{Namespace: "ns", Key: key, Value: []byte(value)})
		return raw
	}
	js := journalSet{rejected: map[cid.Cid]error{}}
	add := func(raws ...[]byte) { js.raws = append(js.raws, raws...) }
	proposal := func(raw []byte, id cid.Cid, approvals ...[]byte) {
		add(raw)
		add(approvals...)
		for _, a := range approvals {
			js.proposals = append(js.proposals, id)
			js.approvals = append(js.approvals, facts.ComputeID(a))
		}
	}

	// Epoch 0: roster m0..m3, M = 3, admin m0.
	add(tn.genesis,
		at(0, 0, "k1", "a", ts), at(1, 0, "k1", "b", ts), at(2, 0, "k1", "c", ts),
		at(1, 0, "k2", "x", ts), at(2, 0, "k2", "y", ts+1), at(3, 0, "k2", "z", ts),
		at(3, 0, "k2", "z", ts), // the same fact twice
		tn.invalidate(1, 0, 1, "a", "b"), tn.invalidate(2, 0, 0, "b", "c"),
	)
	p, pid := tn.replaceAdmin(1, 0, 0, 3)
	q, qid := tn.replaceAdmin(2, 0, 0, 2)
	proposal(p, pid, tn.approve(0, 0, pid), tn.approve(1, 0, pid), tn.approve(2, 0, pid), tn.approve(3, 0, pid))
	proposal(q, qid, tn.approve(3, 0, qid)) // m3 equivocates; P keeps m0, m1, m2
	stale, _ := tn.changeRoster(0, 0, 3, 0, 1, 2)
	add(stale) // the admin of epoch 0 may still propose at epoch 0

	// Epoch 1: admin m3.
	add(at(0, 1, "k1", "e1", ts), at(3, 1, "k3", "three", ts+5), tn.invalidate(3, 1, 2, "a", "c"))
	r, rid := tn.changeRoster(3, 1, 2, 0, 1, 3)
	proposal(r, rid, tn.approve(0, 1, rid), tn.approve(1, 1, rid), tn.approve(2, 1, rid))
	retired, _ := tn.changeRoster(0, 1, 2, 0, 1, 2)
	add(retired)
	js.rejected[facts.ComputeID(retired)] = facts.ErrRetiredAdmin

	// Epoch 2: roster m0, m1, m3, M = 2.
	removed := at(2, 2, "k3", "removed", ts+50)
	add(at(0, 2, "k1", "old", ts-1), removed, at(3, 2, "k2", "latest", ts+10), tn.invalidate(1, 2, 3, "b"))
	js.rejected[facts.ComputeID(removed)] = facts.ErrNotMember
	return tn, js
}

// TestOrderIndependence applies one fact set in many random orders and
// batch splits and requires byte-identical state and digests.
func TestOrderIndependence(t *testing.T) {
	tn, js := buildJournal(t)
	ref := newMemStore()
	refVerdicts := applyToFixpoint(t, ref, tn, js.raws)
	for i, v := range refVerdicts {
		id := facts.ComputeID(js.raws[i])
		if want, ok := js.rejected[id]; ok {
			checkVerdict(t, "reference "+id.String(), v, facts.Reject, want)
		} else if v.Result != facts.Accept && !errors.Is(v.Reason, facts.ErrDuplicate) {
			t.Errorf("reference: fact %d: %v, want accept", i, v)
		}
	}
	if g := ref.governance(t); g.CurrentEpoch() != 2 || g.Current().Admin != tn.auth(3) {
		t.Fatalf("reference ends at epoch %d admin %s, want epoch 2 admin m3", g.CurrentEpoch(), g.Current().Admin.Short())
	}
	if d := ref.digest(t); d != facts.DigestOfEntries(ref.state) {
		t.Fatalf("incremental digest %s, recomputed %s", d, facts.DigestOfEntries(ref.state))
	}
	wantLWW := map[string]string{"k2": "latest", "k3": "three"}
	for key, want := range wantLWW {
		e, ok, err := facts.ReadData(ref, "ns", key)
		if err != nil || !ok || string(e.Value) != want {
			t.Errorf("reference %s = %+v, %v, %v; want %q", key, e, ok, err, want)
		}
	}

	iterations := 300
	if testing.Short() || raceEnabled {
		iterations = 50
	}
	approvalFirst := 0
	for seed := range uint64(iterations) {
		rng := rand.New(rand.NewPCG(seed, 0x5eed))
		order := slices.Clone(js.raws)
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		if approvalBeforeProposal(order, js) {
			approvalFirst++
		}
		s := newMemStore()
		var pending [][]byte // facts still ignored, re-offered with the next batch
		for len(order) > 0 {
			n := 1 + rng.IntN(min(len(order), 8))
			batch := append(pending, order[:n]...)
			order = order[n:]
			pending = nil
			for i, v := range applyToFixpoint(t, s, tn, batch) {
				if waiting(v) {
					pending = append(pending, batch[i])
				}
			}
		}
		if !equalState(ref, s) || ref.digest(t) != s.digest(t) {
			t.Fatalf("seed %d: state differs from the reference (journal %d vs %d facts)", seed, len(s.journal), len(ref.journal))
		}
	}
	if approvalFirst == 0 {
		t.Fatal("no order delivered an approval before its proposal")
	}
}

func approvalBeforeProposal(order [][]byte, js journalSet) bool {
	pos := map[cid.Cid]int{}
	for i, raw := range order {
		pos[facts.ComputeID(raw)] = i
	}
	for i := range js.approvals {
		if pos[js.approvals[i]] < pos[js.proposals[i]] {
			return true
		}
	}
	return false
}
