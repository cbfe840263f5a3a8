package antientropy

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// sortedItems returns n random unique items in order.
func sortedItems(r *rand.Rand, n int, tsRange uint64) []Item {
	items := makeItems(r, n, tsRange)
	slices.SortFunc(items, Item.Compare)
	return slices.Compact(items)
}

// treeOf inserts items one at a time in a random order.
func treeOf(r *rand.Rand, items []Item) *Tree {
	tr := NewTree()
	for _, i := range r.Perm(len(items)) {
		tr.Insert(items[i])
	}
	return tr
}

// checkTree verifies the tree's structure: every leaf at the same depth,
// node sizes within capacity, every cached count, sum and greatest item
// equal to its subtree, items strictly increasing, the leaf chain linking
// the leaves in order both ways, and unused child slots cleared.
func checkTree(t testing.TB, tr *Tree) {
	t.Helper()
	var leaves []*leaf
	var walk func(n *inner, level int) entry
	walk = func(n *inner, level int) entry {
		if n.n < 1 || n.n > innerCap {
			t.Fatalf("inner node at level %d has %d children", level, n.n)
		}
		for i := n.n; i < innerCap; i++ {
			if n.inners[i] != nil || n.leaves[i] != nil {
				t.Fatalf("inner node at level %d keeps a pointer in unused slot %d", level, i)
			}
		}
		var e entry
		for i := range n.n {
			var c entry
			if level == 1 {
				l := n.leaves[i]
				if l == nil || n.inners[i] != nil {
					t.Fatalf("level 1 child %d is not a leaf", i)
				}
				if l.n < 1 || l.n > leafCap {
					t.Fatalf("leaf with %d items", l.n)
				}
				leaves = append(leaves, l)
				c = l.entry()
			} else {
				if n.inners[i] == nil || n.leaves[i] != nil {
					t.Fatalf("level %d child %d is not an inner node", level, i)
				}
				c = walk(n.inners[i], level-1)
			}
			if c.count != n.counts[i] || c.sum != n.sums[i] || c.max != n.maxes[i] {
				t.Fatalf("level %d child %d: cached count %d, max %v; subtree has %d, %v (sums equal: %v)",
					level, i, n.counts[i], n.maxes[i], c.count, c.max, c.sum == n.sums[i])
			}
			e.count += c.count
			e.sum.add(&c.sum)
			e.max = c.max
		}
		return e
	}
	if tr.height < 1 {
		t.Fatalf("height %d", tr.height)
	}
	if tr.root.n == 0 {
		if tr.count != 0 || tr.sum != (sum256{}) || tr.height != 1 {
			t.Fatalf("empty root but count %d, height %d", tr.count, tr.height)
		}
		return
	}
	if tr.height > 1 && tr.root.n < 2 {
		t.Fatalf("root of height %d with %d children", tr.height, tr.root.n)
	}
	e := walk(tr.root, tr.height)
	if e.count != tr.count || e.sum != tr.sum {
		t.Fatalf("tree count %d, subtree count %d (sums equal: %v)", tr.count, e.count, e.sum == tr.sum)
	}
	for k, l := range leaves {
		var prev, next *leaf
		if k > 0 {
			prev = leaves[k-1]
		}
		if k+1 < len(leaves) {
			next = leaves[k+1]
		}
		if l.prev != prev || l.next != next {
			t.Fatalf("leaf %d of %d is mislinked", k, len(leaves))
		}
	}
	var last *Item
	for _, l := range leaves {
		for j := range l.n {
			if last != nil && last.Compare(l.items[j]) >= 0 {
				t.Fatalf("items out of order")
			}
			last = &l.items[j]
		}
	}
}

// randomBound returns a bound near the items: an item's own, one cut to a
// random prefix, a neighbouring timestamp, the ends, or random bytes.
func randomBound(r *rand.Rand, items []Item) Bound {
	k := r.IntN(8)
	if len(items) == 0 {
		k = 5 + r.IntN(3)
	}
	switch k {
	case 0, 1:
		return BoundOf(items[r.IntN(len(items))])
	case 2, 3:
		it := items[r.IntN(len(items))]
		return Bound{Timestamp: it.Timestamp, Prefix: it.ID[:r.IntN(IDSize+1)]}
	case 4:
		it := items[r.IntN(len(items))]
		return Bound{Timestamp: it.Timestamp + uint64(r.IntN(3)) - 1}
	case 5:
		return infinity
	case 6:
		return Bound{}
	default:
		var p [IDSize]byte
		for i := range p {
			p[i] = byte(r.IntN(256))
		}
		ts := uint64(0)
		if len(items) > 0 {
			ts = items[r.IntN(len(items))].Timestamp
		}
		return Bound{Timestamp: ts, Prefix: p[:r.IntN(4)]}
	}
}

// compareStorage checks that tr answers every Storage call as v does, for
// the whole range and for queries random ranges and bounds.
func compareStorage(t *testing.T, r *rand.Rand, tr *Tree, v *Vector, queries int) {
	t.Helper()
	n := v.Size()
	if tr.Size() != n {
		t.Fatalf("Size %d, want %d", tr.Size(), n)
	}
	want := v.Items()
	var got []Item
	tr.Iterate(0, n, func(i int, it Item) bool {
		if i != len(got) {
			t.Fatalf("Iterate passed position %d, want %d", i, len(got))
		}
		got = append(got, it)
		return true
	})
	if !slices.Equal(got, want) {
		t.Fatalf("Iterate(0, %d) differs from the vector", n)
	}
	for q := range queries {
		begin := r.IntN(n + 1)
		end := begin + r.IntN(n-begin+1)
		if q%4 == 0 { // short ranges, where the two prefixes share a leaf
			end = min(n, begin+r.IntN(80))
		}
		if got, want := tr.Fingerprint(begin, end), v.Fingerprint(begin, end); got != want {
			t.Fatalf("Fingerprint(%d, %d) of %d items differs from the vector", begin, end, n)
		}
		// Stop early, at the range's end, or (fn never refusing) not at
		// all; long walks are covered by the whole range above.
		stop := r.IntN(min(end-begin, 100) + 2)
		got = got[:0]
		tr.Iterate(begin, end, func(i int, it Item) bool {
			if i != begin+len(got) {
				t.Fatalf("Iterate(%d, %d) passed position %d, want %d", begin, end, i, begin+len(got))
			}
			got = append(got, it)
			return len(got) < stop
		})
		if w := want[begin:min(end, begin+max(stop, 1))]; !slices.Equal(got, w) {
			t.Fatalf("Iterate(%d, %d) stopping after %d gave %d items, want %d", begin, end, stop, len(got), len(w))
		}
		b := randomBound(r, want)
		if got, want := tr.LowerBound(begin, end, b), v.LowerBound(begin, end, b); got != want {
			t.Fatalf("LowerBound(%d, %d, %d/%x) = %d, want %d", begin, end, b.Timestamp, b.Prefix, got, want)
		}
		if got, want := tr.LowerBound(0, n, b), v.LowerBound(0, n, b); got != want {
			t.Fatalf("LowerBound(0, %d, %d/%x) = %d, want %d", n, b.Timestamp, b.Prefix, got, want)
		}
	}
	for _, k := range []int{0, n} {
		if tr.Fingerprint(k, k) != v.Fingerprint(k, k) || tr.Fingerprint(0, k) != v.Fingerprint(0, k) {
			t.Fatalf("Fingerprint at the ends differs from the vector")
		}
	}
}

// TestTreeModel runs random inserts and deletes, duplicates and absent
// items included, against a map, and at checkpoints compares every
// Storage answer with a Vector of the same items. The phases grow the set
// (splits), shrink it (merges and refills, the root collapsing) and grow
// it again; one case appends mostly in order, as new facts arrive.
func TestTreeModel(t *testing.T) {
	for _, tc := range []struct {
		name     string
		seed     uint64
		pool     int    // distinct items the operations draw from
		ops      int    // operations per phase
		tsRange  uint64 // timestamps drawn from [0, tsRange)
		inOrder  bool   // most inserts take the next item in order
		checkAll bool   // check the structure every 25 operations
	}{
		{"checked every 25 operations", 1, 5_000, 4_000, 1 << 40, false, true},
		{"wide timestamps", 2, 30_000, 40_000, 1 << 40, false, false},
		{"few timestamps", 3, 30_000, 40_000, 8, false, false},
		{"one timestamp", 4, 8_000, 10_000, 1, false, false},
		{"appends in order", 5, 40_000, 40_000, 1 << 40, true, false},
		{"large", 6, 100_000, 80_000, 1 << 40, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if testing.Short() && tc.pool > 50_000 {
				t.Skip("large")
			}
			r := rand.New(rand.NewPCG(tc.seed, 42))
			pool := sortedItems(r, tc.pool, tc.tsRange)
			tr := NewTree()
			model := map[Item]bool{}
			next := 0
			maxHeight := 0
			for phase, insertP := range []float64{0.85, 0.1, 0.9, 0.5} {
				for op := range tc.ops {
					it := pool[r.IntN(len(pool))]
					if tc.inOrder && r.IntN(10) < 7 {
						it = pool[next%len(pool)]
						next++
					}
					if r.Float64() < insertP {
						if got := tr.Insert(it); got == model[it] {
							t.Fatalf("phase %d op %d: Insert returned %v for an item present=%v", phase, op, got, model[it])
						}
						model[it] = true
					} else {
						if got := tr.Delete(it); got != model[it] {
							t.Fatalf("phase %d op %d: Delete returned %v for an item present=%v", phase, op, got, model[it])
						}
						delete(model, it)
					}
					if tr.Size() != len(model) {
						t.Fatalf("phase %d op %d: Size %d, want %d", phase, op, tr.Size(), len(model))
					}
					if tc.checkAll && op%25 == 0 {
						checkTree(t, tr)
					}
					if !tc.checkAll && op%(tc.ops/2) == tc.ops/2-1 || tc.checkAll && op%500 == 499 {
						checkTree(t, tr)
						compareStorage(t, r, tr, mustVector(t, slices.Collect(maps.Keys(model))), 300)
						for range 300 {
							it := pool[r.IntN(len(pool))]
							if tr.Has(it) != model[it] {
								t.Fatalf("Has differs from the model")
							}
						}
					}
					maxHeight = max(maxHeight, tr.height)
				}
			}
			t.Logf("%d items at the end, height up to %d", tr.Size(), maxHeight)
			// Delete everything: the tree returns to empty.
			for it := range model {
				if !tr.Delete(it) {
					t.Fatal("Delete of a present item returned false")
				}
			}
			checkTree(t, tr)
			compareStorage(t, r, tr, mustVector(t, nil), 10)
			if tr.Insert(pool[0]) != true || tr.Size() != 1 {
				t.Fatal("the emptied tree takes no insert")
			}
			checkTree(t, tr)
		})
	}
}

// TestTreeDeepShrinkAndGrow starts from a bulk-built tree of three inner
// levels, deletes almost everything in random order (merges and refills
// at every level, the root collapsing) and inserts it all back (splits up
// to a new root), comparing with a Vector along the way.
func TestTreeDeepShrinkAndGrow(t *testing.T) {
	if testing.Short() {
		t.Skip("large")
	}
	r := rand.New(rand.NewPCG(51, 52))
	items := sortedItems(r, leafCap*innerCap*innerCap+5_000, 1<<40)
	tr := TreeFromSorted(items)
	if tr.height != 3 {
		t.Fatalf("bulk-built height %d, want 3", tr.height)
	}
	present := make([]bool, len(items))
	for i := range present {
		present[i] = true
	}
	compare := func() {
		t.Helper()
		checkTree(t, tr)
		var want []Item
		for i, ok := range present {
			if ok {
				want = append(want, items[i])
			}
		}
		compareStorage(t, r, tr, mustVector(t, want), 100)
	}
	order := r.Perm(len(items))
	heights := []int{tr.height}
	for k, i := range order[:len(items)-1_000] {
		if !tr.Delete(items[i]) {
			t.Fatal("Delete of a present item returned false")
		}
		present[i] = false
		if k == len(items)/2 {
			compare()
		}
		if tr.height != heights[len(heights)-1] {
			heights = append(heights, tr.height)
		}
	}
	compare()
	for k, i := range r.Perm(len(items)) {
		if tr.Insert(items[i]) == present[i] {
			t.Fatal("Insert misreported presence")
		}
		present[i] = true
		if k == len(items)/2 {
			compare()
		}
		if tr.height != heights[len(heights)-1] {
			heights = append(heights, tr.height)
		}
	}
	compare()
	t.Logf("heights along the way: %v", heights)
	if !slices.Contains(heights, 1) && !slices.Contains(heights, 2) || heights[len(heights)-1] != 3 {
		t.Fatalf("heights %v: the tree did not shrink and grow back to 3 levels", heights)
	}
}

// TestTreeReconcile: a Tree reconciles against a Vector (and a Tree) of
// the same items with nothing to report, and against different sets
// reports exactly the differences, on either side of the session.
func TestTreeReconcile(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	common := makeItems(r, 6_000, 1<<30)
	extraA := makeItems(r, 150, 1<<30)
	extraB := makeItems(r, 90, 1<<30)
	sameTS := makeItems(r, 1_000, 1)
	a := append(slices.Clone(common), extraA...)
	b := append(slices.Clone(common), extraB...)

	// A tree that got to its items through deletions as well, so its
	// shape is not what inserting alone gives.
	junk := makeItems(r, 5_000, 1<<30)
	churned := treeOf(r, append(slices.Clone(a), junk...))
	for _, it := range junk {
		churned.Delete(it)
	}
	checkTree(t, churned)

	opts := []Options{{}, {FrameSizeLimit: 4096}, {Buckets: 4, IDListBelow: 4}}
	t.Run("same items", func(t *testing.T) {
		for _, items := range [][]Item{nil, common[:1], common[:100], common, sameTS} {
			for _, opt := range opts {
				tr, v := treeOf(r, items), mustVector(t, items)
				for _, pair := range [][2]Storage{{tr, v}, {v, tr}, {tr, TreeFromSorted(v.Items())}} {
					o, err := Reconcile(pair[0], pair[1], opt, 0)
					if err != nil {
						t.Fatal(err)
					}
					if len(o.Have) != 0 || len(o.Need) != 0 || o.RoundTrips != 1 {
						t.Fatalf("%d equal items, %+v: have %d, need %d after %d round trips",
							len(items), opt, len(o.Have), len(o.Need), o.RoundTrips)
					}
				}
			}
		}
	})
	t.Run("differences", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			a, b []Item
			ta   *Tree // a as a tree, when not built from a
		}{
			{"extras both ways", a, b, nil},
			{"extras both ways, churned tree", a, b, churned},
			{"one missing", common, common[1:], nil},
			{"empty against full", nil, common, nil},
			{"disjoint", common[:3_000], common[3_000:], nil},
			{"same timestamp everywhere", sameTS, sameTS[:850], nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ta := tc.ta
				if ta == nil {
					ta = treeOf(r, tc.a)
				}
				va, vb, tb := mustVector(t, tc.a), mustVector(t, tc.b), treeOf(r, tc.b)
				for _, opt := range opts {
					for _, pair := range [][2]Storage{{ta, vb}, {va, tb}, {ta, tb}} {
						// 6k IDs in 4 KiB frames take more than the
						// default 64 round trips.
						o, err := Reconcile(pair[0], pair[1], opt, 500)
						if err != nil {
							t.Fatalf("%+v: %v", opt, err)
						}
						checkOutcome(t, tc.a, tc.b, o)
					}
				}
			})
		}
	})
}

// TestTreeFromSorted: a bulk-built tree equals one built by inserting the
// items one at a time, around every capacity boundary, and keeps working
// under inserts and deletes.
func TestTreeFromSorted(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	sizes := []int{0, 1, 2, leafCap - 1, leafCap, leafCap + 1, 2*leafCap + 1, leafCap * innerCap,
		leafCap*innerCap + 1, 3*leafCap*innerCap + 7, leafCap*innerCap*innerCap + 1}
	for _, n := range sizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			if testing.Short() && n > 100_000 {
				t.Skip("large")
			}
			items := sortedItems(r, n, 1<<40)
			for len(items) < n { // a collision of random IDs is not expected
				items = sortedItems(r, n, 1<<40)
			}
			bulk := TreeFromSorted(items)
			one := treeOf(r, items)
			checkTree(t, bulk)
			checkTree(t, one)
			if want := (n + leafCap - 1) / leafCap; n > 0 && countLeaves(bulk) != want {
				t.Fatalf("%d leaves, want %d (full)", countLeaves(bulk), want)
			}
			v := mustVector(t, items)
			compareStorage(t, r, bulk, v, 200)
			compareStorage(t, r, one, v, 200)
			for q := range 200 {
				begin := r.IntN(n + 1)
				end := begin + r.IntN(n-begin+1)
				if bulk.Fingerprint(begin, end) != one.Fingerprint(begin, end) {
					t.Fatalf("query %d: Fingerprint(%d, %d) differs", q, begin, end)
				}
			}
			// items is not retained.
			if n > 0 {
				items[0].Timestamp++
				if !bulk.Has(v.Items()[0]) {
					t.Fatal("the tree changed with its input slice")
				}
			}
			// Inserts and deletes on the bulk-built tree.
			extra := makeItems(r, 3_000, 1<<40)
			for _, it := range extra {
				bulk.Insert(it)
			}
			for i, it := range v.Items() {
				if i%3 == 0 {
					bulk.Delete(it)
				}
			}
			checkTree(t, bulk)
			var want []Item
			for i, it := range v.Items() {
				if i%3 != 0 {
					want = append(want, it)
				}
			}
			compareStorage(t, r, bulk, mustVector(t, append(want, extra...)), 200)
		})
	}
	for _, bad := range [][]Item{
		{{Timestamp: 2}, {Timestamp: 1}},
		{{Timestamp: 1}, {Timestamp: 1}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatalf("TreeFromSorted(%v) did not panic", bad)
				}
			}()
			TreeFromSorted(bad)
		}()
	}
}

func countLeaves(tr *Tree) int {
	if tr.root.n == 0 {
		return 0
	}
	n := tr.root
	for level := tr.height; level > 1; level-- {
		n = n.inners[0]
	}
	k := 0
	for l := n.leaves[0]; l != nil; l = l.next {
		k++
	}
	return k
}

// TestTreeAppendFillsLeaves: items inserted in increasing order, as new
// facts arrive, leave every leaf but the last full; in decreasing order
// the tree stays valid with leaves at least half full.
func TestTreeAppendFillsLeaves(t *testing.T) {
	items := sortedItems(rand.New(rand.NewPCG(31, 32)), 50_000, 1<<40)
	up := NewTree()
	for _, it := range items {
		up.Insert(it)
	}
	checkTree(t, up)
	if got, want := countLeaves(up), (len(items)+leafCap-1)/leafCap; got != want {
		t.Fatalf("ascending inserts: %d leaves, want %d", got, want)
	}
	down := NewTree()
	for _, it := range slices.Backward(items) {
		down.Insert(it)
	}
	checkTree(t, down)
	if got := countLeaves(down); got > 2*len(items)/leafCap+1 {
		t.Fatalf("descending inserts: %d leaves for %d items", got, len(items))
	}
	v := mustVector(t, items)
	r := rand.New(rand.NewPCG(33, 34))
	compareStorage(t, r, up, v, 200)
	compareStorage(t, r, down, v, 200)
}

func TestTreeRangePanics(t *testing.T) {
	tr := TreeFromSorted(sortedItems(rand.New(rand.NewPCG(41, 42)), 10, 100))
	for _, rg := range [][2]int{{-1, 0}, {3, 2}, {0, 11}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatalf("Fingerprint(%d, %d) did not panic", rg[0], rg[1])
				}
			}()
			tr.Fingerprint(rg[0], rg[1])
		}()
	}
}

var benchSizes = []int{10_000, 100_000, 1_000_000}

// BenchmarkTreeInsert inserts new random items (and, in "append", items
// above all others, as new facts arrive) into a tree of n items; every
// n/10 inserts they are deleted again outside the timer, so the tree
// stays between n and 1.1 n.
func BenchmarkTreeInsert(b *testing.B) {
	for _, mode := range []string{"random", "append"} {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%s/n=%d", mode, n), func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, uint64(n)))
				items := sortedItems(r, n, 1<<40)
				tr := TreeFromSorted(items)
				fresh := makeItems(r, n/10, 1<<40)
				if mode == "append" {
					fresh = sortedItems(r, n/10, 1<<40)
					for i := range fresh {
						fresh[i].Timestamp += 1 << 41
					}
				}
				j := 0
				b.ReportAllocs()
				for b.Loop() {
					if j == len(fresh) {
						b.StopTimer()
						for _, it := range fresh {
							tr.Delete(it)
						}
						j = 0
						b.StartTimer()
					}
					tr.Insert(fresh[j])
					j++
				}
			})
		}
	}
}

// BenchmarkTreeFingerprint fingerprints random ranges of a tree built by
// random inserts; "vector" is the O(1) prefix-sum baseline, whose cost is
// the SHA-256 every fingerprint pays.
func BenchmarkTreeFingerprint(b *testing.B) {
	for _, n := range benchSizes {
		r := rand.New(rand.NewPCG(2, uint64(n)))
		items := sortedItems(r, n, 1<<40)
		ranges := make([][2]int, 4096)
		for i := range ranges {
			begin := r.IntN(n + 1)
			ranges[i] = [2]int{begin, begin + r.IntN(n-begin+1)}
		}
		b.Run(fmt.Sprintf("tree/n=%d", n), func(b *testing.B) {
			tr := treeOf(r, items)
			i := 0
			for b.Loop() {
				rg := ranges[i%len(ranges)]
				tr.Fingerprint(rg[0], rg[1])
				i++
			}
		})
		b.Run(fmt.Sprintf("vector/n=%d", n), func(b *testing.B) {
			v := mustVector(b, items)
			i := 0
			for b.Loop() {
				rg := ranges[i%len(ranges)]
				v.Fingerprint(rg[0], rg[1])
				i++
			}
		})
	}
}

func BenchmarkTreeFromSorted(b *testing.B) {
	items := sortedItems(rand.New(rand.NewPCG(3, 3)), 1_000_000, 1<<40)
	b.ReportAllocs()
	for b.Loop() {
		TreeFromSorted(items)
	}
}
