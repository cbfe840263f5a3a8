package storagetest

import (
	"bytes"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/storage"
)

// testPrune: Prune deletes facts and their index entries, lowers the
// count, ignores absent IDs and leaves the state alone.
func testPrune(t *testing.T, j storage.Journal) {
	n := NewNetwork(t, j)
	b := n.Commit(n.Data(0, 0, 2000, "a", "1"), n.Data(0, 0, 2001, "b", "2"), n.Data(0, 0, 2002, "c", "3"))
	before, _ := facts.ReadDigest(j)
	removed, err := j.Prune([]cid.Cid{b.Facts[0].ID(), b.Facts[1].ID()})
	if err != nil || removed != 2 {
		t.Fatalf("Prune = %d, %v; want 2", removed, err)
	}
	wantCount(t, j, 2)
	for _, v := range b.Facts[:2] {
		if ok, _ := j.HasFact(v.ID()); ok {
			t.Errorf("pruned fact %s still present", v.ID())
		}
	}
	es, err := j.List(storage.Query{Kind: facts.KindData})
	if err != nil || len(es) != 1 || !es[0].ID.Equals(b.Facts[2].ID()) {
		t.Errorf("List after prune = %v, %v; want only the third fact", es, err)
	}
	items, _ := j.ScanTime(storage.TimeKey{}, 0)
	if len(items) != 2 {
		t.Errorf("ScanTime after prune: %d items, want genesis and one fact", len(items))
	}
	if after, _ := facts.ReadDigest(j); after != before {
		t.Errorf("digest changed by pruning: %s -> %s", before, after)
	}
	if removed, err := j.Prune([]cid.Cid{b.Facts[0].ID()}); err != nil || removed != 0 {
		t.Errorf("second Prune = %d, %v; want 0", removed, err)
	}
	// PruneEntries deletes listed facts without reading them back.
	if removed, err := j.PruneEntries(es); err != nil || removed != 1 {
		t.Fatalf("PruneEntries = %d, %v; want 1", removed, err)
	}
	wantCount(t, j, 1)
	if es, _ := j.List(storage.Query{Kind: facts.KindData}); len(es) != 0 {
		t.Errorf("List after PruneEntries = %v, want none", es)
	}
}

// testScanStateAndHydrate: ScanState hands out every entry in key order
// with slices the caller may keep; Hydrate replaces the state, adds
// facts and prunes others atomically.
func testScanStateAndHydrate(t *testing.T, j storage.Journal) {
	n := NewNetwork(t, j)
	b := n.Commit(n.Data(0, 0, 2000, "a", "1"), n.Data(0, 0, 2001, "b", "2"))
	var kept []facts.StateWrite
	if err := j.ScanState(func(k, v []byte) error {
		kept = append(kept, facts.StateWrite{Key: k, Value: v})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(kept); i++ {
		if bytes.Compare(kept[i-1].Key, kept[i].Key) >= 0 {
			t.Fatalf("ScanState keys not in order at %d (or the slices were reused)", i)
		}
	}
	for _, e := range kept {
		v, ok, _ := j.GetState(e.Key)
		if !ok || !bytes.Equal(v, e.Value) {
			t.Fatalf("kept entry %x changed: the implementation reused its buffers", e.Key)
		}
	}
	// Hydrate: a one-entry state, prune the first fact, keep the second.
	state := []facts.StateWrite{{Key: []byte("zz"), Value: []byte("v")}}
	if err := j.Hydrate(state, b.Facts[1:], []cid.Cid{b.Facts[0].ID(), b.Facts[1].ID()}); err != nil {
		t.Fatal(err)
	}
	var got []string
	_ = j.ScanState(func(k, v []byte) error { got = append(got, string(k)); return nil })
	if len(got) != 1 || got[0] != "zz" {
		t.Errorf("state after Hydrate = %q, want [zz]", got)
	}
	if ok, _ := j.HasFact(b.Facts[0].ID()); ok {
		t.Error("Hydrate did not prune")
	}
	if ok, _ := j.HasFact(b.Facts[1].ID()); !ok {
		t.Error("Hydrate pruned a fact it was also given to add")
	}
	wantCount(t, j, 2)
}
