package facts_test

import (
	"testing"

	"github.com/aura-node/aura-node/facts"
)

// Two journals that differ only by a fact without visible effect (here a
// write that loses last-writer-wins) must not have the same digest,
// otherwise a digest comparison would call them in sync.
func TestDigestCoversFactsWithoutEffect(t *testing.T) {
	tn := newTestnet(t, 3, 2)
	loser1 := tn.data(1, 0, "k", "loses")  // earlier HLC
	loser2 := tn.data(2, 0, "k", "loses")  // earlier HLC
	winner := tn.data(0, 0, "k", "wins")   // latest HLC
	a, b := started(t, tn), started(t, tn) // both hold the genesis
	acceptAll(t, a, tn, winner, loser1)
	acceptAll(t, b, tn, winner, loser2)
	// Same data entry, same kind counts: only the fact sets differ.
	if a.digest(t) == b.digest(t) {
		t.Fatal("different journals, same digest")
	}
	sa, err := facts.ReadJournalSum(a)
	if err != nil {
		t.Fatal(err)
	}
	sb, _ := facts.ReadJournalSum(b)
	if sa == sb {
		t.Fatal("different journals, same journal sum")
	}
}

func TestJournalSumAddCarries(t *testing.T) {
	var s facts.JournalSum
	var ones [32]byte
	for i := range ones {
		ones[i] = 0xff
	}
	s.Add(ones)
	var one [32]byte
	one[0] = 1
	s.Add(one) // 2^256 - 1 + 1 = 0 mod 2^256
	if s != (facts.JournalSum{}) {
		t.Fatalf("sum %x, want zero", s)
	}
}
