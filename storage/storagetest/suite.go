// Package storagetest is the conformance suite every storage.Journal
// implementation must pass, and a Network helper that builds real signed
// facts for tests of packages that use a journal.
//
// An implementation's test calls Run with a function that opens a fresh,
// empty journal:
//
//	func TestMemory(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storage.Journal { return storage.NewMemory() })
//	}
package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/storage"
	"github.com/ipfs/go-cid"
)

// Run runs the conformance suite. open must return a new, empty journal;
// Run closes it when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) storage.Journal) {
	tests := []struct {
		name string
		fn   func(t *testing.T, j storage.Journal)
	}{
		{"Empty", testEmpty},
		{"CommitReadBack", testCommitReadBack},
		{"RecommitIdempotent", testRecommitIdempotent},
		{"ConcurrentRecommit", testConcurrentRecommit},
		{"StateOverwrite", testStateOverwrite},
		{"List", testList},
		{"ListLimits", testListLimits},
		{"ScanTime", testScanTime},
		{"Atomicity", testAtomicity},
		{"BadBatch", testBadBatch},
		{"Closed", testClosed},
		{"Prune", testPrune},
		{"ScanStateAndHydrate", testScanStateAndHydrate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := open(t)
			t.Cleanup(func() {
				if err := j.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			tc.fn(t, j)
		})
	}
}

func wantCount(t *testing.T, j storage.Journal, want uint64) {
	t.Helper()
	n, err := j.Count()
	if err != nil {
		t.Fatalf("Count: %v", err)
	}
	if n != want {
		t.Fatalf("Count = %d, want %d", n, want)
	}
}

func wantFact(t *testing.T, j storage.Journal, v facts.Verified) {
	t.Helper()
	has, err := j.HasFact(v.ID())
	if err != nil || !has {
		t.Fatalf("HasFact(%s) = %v, %v; want true", v.ID(), has, err)
	}
	raw, ok, err := j.GetFact(v.ID())
	if err != nil || !ok {
		t.Fatalf("GetFact(%s) = ok %v, %v", v.ID(), ok, err)
	}
	if !bytes.Equal(raw, v.Raw()) {
		t.Fatalf("GetFact(%s) returned different bytes", v.ID())
	}
}

func testEmpty(t *testing.T, j storage.Journal) {
	wantCount(t, j, 0)
	id := facts.ComputeID([]byte("nothing"))
	if has, err := j.HasFact(id); err != nil || has {
		t.Errorf("HasFact = %v, %v; want false", has, err)
	}
	if raw, ok, err := j.GetFact(id); err != nil || ok || raw != nil {
		t.Errorf("GetFact = %x, %v, %v; want absent", raw, ok, err)
	}
	if v, ok, err := j.GetState([]byte("g")); err != nil || ok || v != nil {
		t.Errorf("GetState = %x, %v, %v; want absent", v, ok, err)
	}
	if es, err := j.List(storage.Query{}); err != nil || len(es) != 0 {
		t.Errorf("List = %v, %v; want empty", es, err)
	}
	if its, err := j.ScanTime(storage.TimeKey{}, 0); err != nil || len(its) != 0 {
		t.Errorf("ScanTime = %v, %v; want empty", its, err)
	}
	if g, err := facts.ReadGovernance(j); err != nil || g != nil {
		t.Errorf("ReadGovernance = %v, %v; want nil", g, err)
	}
	if _, err := facts.ReadDigest(j); err != nil {
		t.Errorf("ReadDigest: %v", err)
	}
}

func testCommitReadBack(t *testing.T, j storage.Journal) {
	n := NewNetwork(t, j)
	gen, _, _ := j.GetFact(n.ID())
	if gen == nil {
		t.Fatal("genesis not stored")
	}
	b := n.Commit(n.Data(0, 0, 2000, "k", "v"))
	if len(b.Facts) != 1 || len(b.Writes) == 0 {
		t.Fatalf("batch has %d facts, %d writes", len(b.Facts), len(b.Writes))
	}
	wantFact(t, j, b.Facts[0])
	wantCount(t, j, 2)
	for _, w := range b.Writes {
		v, ok, err := j.GetState(w.Key)
		if err != nil || !ok || !bytes.Equal(v, w.Value) {
			t.Errorf("GetState(%q) = %x, %v, %v; want %x", w.Key, v, ok, err, w.Value)
		}
	}
	d, err := facts.ReadDigest(j)
	if err != nil || d != b.Digest {
		t.Errorf("ReadDigest = %s, %v; want %s", d, err, b.Digest)
	}
	g, err := facts.ReadGovernance(j)
	if err != nil || g == nil || !g.NetworkID().Equals(n.ID()) {
		t.Errorf("ReadGovernance = %+v, %v", g, err)
	}
	e, ok, err := facts.ReadData(j, "ns", "k")
	if err != nil || !ok || string(e.Value) != "v" || !e.FactID().Equals(b.Facts[0].ID()) {
		t.Errorf("ReadData = %+v, %v, %v", e, ok, err)
	}
	counts, err := facts.ReadKindCounts(j)
	if err != nil || counts[facts.KindGenesis] != 1 || counts[facts.KindData] != 1 {
		t.Errorf("ReadKindCounts = %v, %v", counts, err)
	}
	// Returned slices belong to the caller.
	raw, _, _ := j.GetFact(b.Facts[0].ID())
	raw[0] ^= 0xff
	wantFact(t, j, b.Facts[0])
}

func testRecommitIdempotent(t *testing.T, j storage.Journal) {
	n := NewNetwork(t, j)
	b := n.Commit(n.Data(0, 0, 2000, "k", "v"), n.Data(0, 0, 2001, "k2", "v"))
	wantCount(t, j, 3)
	before, err := j.List(storage.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Commit(b); err != nil {
		t.Fatalf("recommit: %v", err)
	}
	wantCount(t, j, 3)
	// The same fact twice in one batch, next to a new one, counts once.
	nb := n.Build(n.Data(0, 0, 2002, "k3", "v"))
	dup := &facts.Batch{Facts: []facts.Verified{nb.Facts[0], nb.Facts[0], b.Facts[0]}, Writes: nb.Writes}
	if err := j.Commit(dup); err != nil {
		t.Fatalf("commit with duplicates: %v", err)
	}
	n.Record(nb)
	wantCount(t, j, 4)
	after, err := j.List(storage.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before)+1 {
		t.Fatalf("List after recommits has %d entries, want %d", len(after), len(before)+1)
	}
	if !equalEntries(after, n.Entries()) {
		t.Fatalf("List = %v, want %v", after, n.Entries())
	}
}

func testConcurrentRecommit(t *testing.T, j storage.Journal) {
	n := NewNetwork(t, j)
	b := n.Build(n.Data(0, 0, 2000, "k", "v"))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() { errs <- j.Commit(b) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	wantCount(t, j, 2)
}

func testStateOverwrite(t *testing.T, j storage.Journal) {
	n := NewNetwork(t, j)
	n.Commit(n.Data(0, 0, 2000, "k", "v1"))
	b2 := n.Commit(n.Data(0, 0, 2001, "k", "v2"))
	e, ok, err := facts.ReadData(j, "ns", "k")
	if err != nil || !ok || string(e.Value) != "v2" || !e.FactID().Equals(b2.Facts[0].ID()) {
		t.Fatalf("ReadData = %+v, %v, %v; want v2", e, ok, err)
	}
	if d, err := facts.ReadDigest(j); err != nil || d != b2.Digest {
		t.Fatalf("ReadDigest = %s, %v; want %s", d, err, b2.Digest)
	}

	key := []byte("zz-storagetest")
	steps := []struct {
		name  string
		value []byte
		want  []byte // nil: absent
	}{
		{"set", []byte("1"), []byte("1")},
		{"overwrite", []byte("22"), []byte("22")},
		{"empty value is present", []byte{}, []byte{}},
		{"nil value deletes", nil, nil},
		{"set again", []byte("3"), []byte("3")},
	}
	for _, s := range steps {
		if err := j.Commit(&facts.Batch{Writes: []facts.StateWrite{{Key: key, Value: s.value}}}); err != nil {
			t.Fatalf("%s: commit: %v", s.name, err)
		}
		v, ok, err := j.GetState(key)
		if err != nil || ok != (s.want != nil) || !bytes.Equal(v, s.want) || (ok && v == nil) {
			t.Fatalf("%s: GetState = %q (nil %v), %v, %v; want %q", s.name, v, v == nil, ok, err, s.want)
		}
	}
	wantCount(t, j, 3)
}

// populate commits a journal with three kinds, two authors, two epochs,
// and two facts at the same timestamp:
//
//	1000..1002   genesis, roster change, approval    author 0, epoch 0
//	2000..2009   data                                author 0, epoch 0
//	2005..2014   data                                author 1, epoch 1
//	2010..2012   data                                author 0, epoch 1
//	3000 (x2)    data                                authors 0, 1, epoch 1
func populate(t *testing.T, j storage.Journal) *Network {
	n := NewNetwork(t, j)
	n.AdvanceEpoch()
	var raws [][]byte
	for i := range uint64(10) {
		raws = append(raws, n.Data(0, 0, 2000+i, fmt.Sprintf("a%d", i), "v"))
		raws = append(raws, n.Data(1, 1, 2005+i, fmt.Sprintf("b%d", i), "v"))
	}
	for i := range uint64(3) {
		raws = append(raws, n.Data(0, 1, 2010+i, fmt.Sprintf("c%d", i), "v"))
	}
	n.Commit(raws[:7]...)
	n.Commit(raws[7:]...)
	n.Commit(n.Data(0, 1, 3000, "tie", "x"), n.Data(1, 1, 3000, "tie", "y"))
	return n
}

func ms(m uint64) facts.Timestamp { return facts.MakeTimestamp(m, 0) }

// model answers a query from the Network's record of what it committed.
func model(all []storage.Entry, q storage.Query) []storage.Entry {
	limit := q.Limit
	switch {
	case limit == 0:
		limit = storage.DefaultLimit
	case limit > storage.MaxLimit:
		limit = storage.MaxLimit
	}
	out := []storage.Entry{}
	for _, e := range all {
		if (q.Kind == 0 || e.Kind == q.Kind) &&
			(q.Author == nil || e.Author == *q.Author) &&
			(q.Epoch == nil || e.Epoch == *q.Epoch) &&
			e.Time >= q.Since && (q.Until == 0 || e.Time < q.Until) {
			out = append(out, e)
		}
	}
	if q.Newest {
		slices.Reverse(out)
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

func equalEntries(a, b []storage.Entry) bool {
	return slices.EqualFunc(a, b, func(x, y storage.Entry) bool {
		return x.ID.Equals(y.ID) && x.Kind == y.Kind && x.Author == y.Author && x.Epoch == y.Epoch && x.Time == y.Time
	})
}

func testList(t *testing.T, j storage.Journal) {
	n := populate(t, j)
	all := n.Entries()
	a0, a1 := n.Author(0), n.Author(1)
	e0, e1, e2 := uint64(0), uint64(1), uint64(2)
	tests := []struct {
		name string
		q    storage.Query
		want int // expected length, checked besides the model
	}{
		{"all", storage.Query{}, 28},
		{"all newest", storage.Query{Newest: true}, 28},
		{"kind data", storage.Query{Kind: facts.KindData}, 25},
		{"kind data newest limit 3", storage.Query{Kind: facts.KindData, Newest: true, Limit: 3}, 3},
		{"kind genesis", storage.Query{Kind: facts.KindGenesis}, 1},
		{"kind roster change", storage.Query{Kind: facts.KindRosterChangeProposed}, 1},
		{"kind unused", storage.Query{Kind: facts.KindCacheInvalidated}, 0},
		{"kind unknown", storage.Query{Kind: 999}, 0},
		{"author 0", storage.Query{Author: &a0}, 3 + 10 + 3 + 1},
		{"author 1", storage.Query{Author: &a1}, 10 + 1},
		{"author 1 newest limit 2", storage.Query{Author: &a1, Newest: true, Limit: 2}, 2},
		{"author 0 epoch 1", storage.Query{Author: &a0, Epoch: &e1}, 3 + 1},
		{"epoch 0", storage.Query{Epoch: &e0}, 3 + 10},
		{"epoch 1", storage.Query{Epoch: &e1}, 10 + 3 + 2},
		{"epoch 2", storage.Query{Epoch: &e2}, 0},
		{"epoch 1 since until", storage.Query{Epoch: &e1, Since: ms(2010), Until: ms(2012)}, 4},
		{"since", storage.Query{Since: ms(2010)}, 5 + 3 + 2},
		{"until", storage.Query{Until: ms(2000)}, 3},
		{"since until", storage.Query{Since: ms(2003), Until: ms(2007)}, 4 + 2},
		{"since until newest limit", storage.Query{Since: ms(2003), Until: ms(2007), Newest: true, Limit: 3}, 3},
		{"since equals until", storage.Query{Since: ms(2003), Until: ms(2003)}, 0},
		{"until before since", storage.Query{Since: ms(2005), Until: ms(2003)}, 0},
		{"same timestamp", storage.Query{Since: ms(3000), Until: ms(3001)}, 2},
		{"same timestamp newest", storage.Query{Since: ms(3000), Newest: true}, 2},
		{"kind data author 1 epoch 1 since", storage.Query{Kind: facts.KindData, Author: &a1, Epoch: &e1, Since: ms(2010)}, 5 + 1},
		{"kind data epoch 0", storage.Query{Kind: facts.KindData, Epoch: &e0}, 10},
		{"kind approval author 1", storage.Query{Kind: facts.KindTransitionApproved, Author: &a1}, 0},
		{"limit 1", storage.Query{Limit: 1}, 1},
		{"limit 1 newest", storage.Query{Limit: 1, Newest: true}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := j.List(tc.q)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if got == nil {
				t.Errorf("List returned nil, want a non-nil slice")
			}
			if len(got) != tc.want {
				t.Errorf("List returned %d entries, want %d", len(got), tc.want)
			}
			if want := model(all, tc.q); !equalEntries(got, want) {
				t.Errorf("List =\n%v\nwant\n%v", got, want)
			}
			for i := 1; i < len(got); i++ {
				c := compareEntries(got[i-1], got[i])
				if (tc.q.Newest && c <= 0) || (!tc.q.Newest && c >= 0) {
					t.Errorf("entries %d and %d out of order", i-1, i)
				}
			}
		})
	}
}

func testListLimits(t *testing.T, j storage.Journal) {
	n := NewNetwork(t, j)
	var raws [][]byte
	for i := range uint64(150) {
		raws = append(raws, n.Data(0, 0, 2000+i, fmt.Sprintf("k%d", i), "v"))
	}
	n.Commit(raws...)
	all := n.Entries()
	tests := []struct {
		name  string
		q     storage.Query
		first int // index into all of the first entry
		want  int
	}{
		{"default limit", storage.Query{}, 0, storage.DefaultLimit},
		{"default limit newest", storage.Query{Newest: true}, len(all) - 1, storage.DefaultLimit},
		{"exact", storage.Query{Limit: len(all)}, 0, len(all)},
		{"above max", storage.Query{Limit: storage.MaxLimit + 1}, 0, len(all)},
		{"kind data default", storage.Query{Kind: facts.KindData}, 1, storage.DefaultLimit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := j.List(tc.q)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if len(got) != tc.want || !got[0].ID.Equals(all[tc.first].ID) {
				t.Fatalf("List returned %d entries starting %v; want %d starting %v", len(got), got[0], tc.want, all[tc.first])
			}
		})
	}
	if _, err := j.List(storage.Query{Limit: -1}); !errors.Is(err, storage.ErrBadQuery) {
		t.Errorf("List with negative limit: %v, want ErrBadQuery", err)
	}
	if _, err := j.ScanTime(storage.TimeKey{}, -1); !errors.Is(err, storage.ErrBadQuery) {
		t.Errorf("ScanTime with negative limit: %v, want ErrBadQuery", err)
	}
	if its, err := j.ScanTime(storage.TimeKey{}, 0); err != nil || len(its) != storage.DefaultLimit {
		t.Errorf("ScanTime with limit 0 returned %d items, %v; want %d", len(its), err, storage.DefaultLimit)
	}
}

func itemFor(t *testing.T, e storage.Entry) storage.TimeItem {
	t.Helper()
	d, err := storage.FactDigest(e.ID)
	if err != nil {
		t.Fatal(err)
	}
	return storage.TimeItem{Time: e.Time, ID: d, CID: e.ID}
}

func equalItems(a, b []storage.TimeItem) bool {
	return slices.EqualFunc(a, b, func(x, y storage.TimeItem) bool {
		return x.Time == y.Time && x.ID == y.ID && x.CID.Equals(y.CID)
	})
}

func testScanTime(t *testing.T, j storage.Journal) {
	n := populate(t, j)
	var want []storage.TimeItem
	for _, e := range n.Entries() {
		want = append(want, itemFor(t, e))
	}
	slices.SortFunc(want, func(x, y storage.TimeItem) int { return x.Key().Compare(y.Key()) })

	full, err := j.ScanTime(storage.TimeKey{}, storage.MaxLimit)
	if err != nil {
		t.Fatal(err)
	}
	if !equalItems(full, want) {
		t.Fatalf("ScanTime from start =\n%v\nwant\n%v", full, want)
	}

	var paged []storage.TimeItem
	var cur storage.TimeKey
	for range len(want) + 1 {
		its, err := j.ScanTime(cur, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(its) == 0 {
			break
		}
		if len(its) > 7 {
			t.Fatalf("ScanTime returned %d items, limit 7", len(its))
		}
		paged = append(paged, its...)
		cur = its[len(its)-1].Key()
	}
	if !equalItems(paged, want) {
		t.Fatalf("paged ScanTime =\n%v\nwant\n%v", paged, want)
	}

	mid := want[len(want)/2]
	between := storage.TimeKey{Time: ms(2500)}
	var afterBetween int
	for afterBetween < len(want) && want[afterBetween].Time < between.Time {
		afterBetween++
	}
	cursors := []struct {
		name  string
		after storage.TimeKey
		want  []storage.TimeItem
	}{
		{"after last", want[len(want)-1].Key(), nil},
		{"after middle", mid.Key(), want[len(want)/2+1:]},
		{"after absent key", between, want[afterBetween:]},
		{"after first of tie", want[len(want)-2].Key(), want[len(want)-1:]},
		{"after max", storage.TimeKey{Time: ^facts.Timestamp(0), ID: [32]byte{0: 0xff}}, nil},
	}
	for _, c := range cursors {
		got, err := j.ScanTime(c.after, storage.MaxLimit)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got == nil || !equalItems(got, c.want) {
			t.Errorf("%s: ScanTime =\n%v\nwant\n%v", c.name, got, c.want)
		}
	}
	if want[len(want)-1].Time != want[len(want)-2].Time {
		t.Fatalf("populate lost its timestamp tie")
	}
}

// testAtomicity commits facts one batch at a time while readers poll: a
// reader that sees a fact must also see the state entry and the count
// committed with it.
func testAtomicity(t *testing.T, j storage.Journal) {
	n := NewNetwork(t, j)
	const rounds = 30
	raws := make([][]byte, rounds)
	ids := make([]cid.Cid, rounds)
	for i := range raws {
		raws[i] = n.Data(0, 0, 2000+uint64(i), fmt.Sprintf("k%d", i), "v")
		ids[i] = facts.ComputeID(raws[i])
	}

	var mu sync.Mutex
	var failures []string
	fail := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, s)
	}
	check := func(i int) {
		has, err := j.HasFact(ids[i])
		if err != nil {
			fail(err.Error())
			return
		}
		if !has {
			return
		}
		e, ok, err := facts.ReadData(j, "ns", fmt.Sprintf("k%d", i))
		if err != nil || !ok || !e.FactID().Equals(ids[i]) {
			fail(fmt.Sprintf("fact %d visible without its state entry (%v, %v)", i, ok, err))
		}
		if c, err := j.Count(); err != nil || c < uint64(i+2) {
			fail(fmt.Sprintf("fact %d visible with count %d (%v)", i, c, err))
		}
	}

	done := make(chan struct{})
	var wg sync.WaitGroup
	var once sync.Once
	stop := func() { once.Do(func() { close(done); wg.Wait() }) }
	defer stop() // also when a commit fails the test
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				for i := range rounds {
					check(i)
				}
			}
		})
	}
	for _, raw := range raws {
		n.Commit(raw)
	}
	stop()
	for i := range rounds {
		check(i)
	}
	if len(failures) > 0 {
		t.Fatalf("commit not atomic (%d failures), first: %s", len(failures), failures[0])
	}
	wantCount(t, j, 1+rounds)
}

func testBadBatch(t *testing.T, j storage.Journal) {
	n := NewNetwork(t, j)
	good := n.Build(n.Data(0, 0, 2000, "k", "v"))
	bad := []struct {
		name string
		b    *facts.Batch
	}{
		{"nil", nil},
		{"zero fact", &facts.Batch{Facts: []facts.Verified{good.Facts[0], {}}, Writes: good.Writes}},
	}
	for _, tc := range bad {
		if err := j.Commit(tc.b); !errors.Is(err, storage.ErrBadBatch) {
			t.Errorf("%s: Commit = %v, want ErrBadBatch", tc.name, err)
		}
	}
	if has, err := j.HasFact(good.Facts[0].ID()); err != nil || has {
		t.Errorf("refused batch left its fact behind (%v, %v)", has, err)
	}
	if _, ok, err := facts.ReadData(j, "ns", "k"); err != nil || ok {
		t.Errorf("refused batch left its state behind (%v, %v)", ok, err)
	}
	wantCount(t, j, 1)
	if err := j.Commit(&facts.Batch{}); err != nil {
		t.Errorf("empty batch: %v", err)
	}
	wantCount(t, j, 1)
}

func testClosed(t *testing.T, j storage.Journal) {
	n := NewNetwork(t, j)
	b := n.Build(n.Data(0, 0, 2000, "k", "v"))
	if err := j.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := j.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	calls := map[string]func() error{
		"GetState": func() error { _, _, err := j.GetState([]byte("g")); return err },
		"HasFact":  func() error { _, err := j.HasFact(n.ID()); return err },
		"GetFact":  func() error { _, _, err := j.GetFact(n.ID()); return err },
		"Commit":   func() error { return j.Commit(b) },
		"List":     func() error { _, err := j.List(storage.Query{}); return err },
		"ScanTime": func() error { _, err := j.ScanTime(storage.TimeKey{}, 0); return err },
		"Count":    func() error { _, err := j.Count(); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, storage.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}
