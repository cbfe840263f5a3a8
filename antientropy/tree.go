package antientropy

import (
	"encoding/binary"
	"fmt"
	"math/bits"
)

// Node capacities. A leaf keeps its items in one flat array; an inner node
// keeps, for each child, the child's item count, ID sum and greatest item
// in flat parallel arrays, so a descent reads a few contiguous arrays of
// one node per level and never touches a sibling.
const (
	leafCap  = 64
	innerCap = 64
	// After a delete, a node under a quarter full is merged with a
	// neighbour or refilled from it. The looser bound (not half) keeps a
	// node that sits near the threshold from merging and splitting on
	// alternate operations.
	leafMin  = leafCap / 4
	innerMin = innerCap / 4
)

// Tree is a Storage over a dynamic ordered set: a B+ tree whose inner
// nodes cache the item count and the ID sum (Accumulator) of every child
// subtree. With n items:
//
//   - Insert, Delete, Has and LowerBound cost O(log n);
//   - Fingerprint(begin, end) costs O(log n): it is the difference of two
//     prefix sums, each found by one descent that adds the cached sums of
//     the children to its left (or subtracts those to its right, whichever
//     side is shorter), never by visiting the items of the range;
//   - Iterate costs O(log n + k) for k items, following leaf links;
//   - Size costs O(1).
//
// TreeFromSorted builds one in O(n). The zero value is not usable; call
// NewTree.
//
// A Tree is not safe for concurrent use: the caller serialises every call,
// reads included. As Storage requires, it must not change while a
// Reconciler is answering a message; between messages it may.
type Tree struct {
	root *inner
	// height counts the levels of inner nodes, at least 1: the root's
	// children are leaves when it is 1.
	height int
	count  int
	sum    sum256
}

var _ Storage = (*Tree)(nil)

// leaf holds 1..leafCap items in order. Deletes keep a leaf at leafMin or
// more, except the root's only leaf and a leaf split off at the right edge
// (see leaf.insert), which may hold fewer.
type leaf struct {
	n     int
	items [leafCap]Item
	// The chain of leaves in order, for Iterate; nil at the ends.
	prev, next *leaf
}

// inner holds 1..innerCap children with their cached summaries. Children
// are leaves at level 1 and inner nodes above; the other array stays nil.
type inner struct {
	n      int
	counts [innerCap]int    // items in child i's subtree
	sums   [innerCap]sum256 // ID sum of child i's subtree
	maxes  [innerCap]Item   // greatest item of child i's subtree
	inners [innerCap]*inner
	leaves [innerCap]*leaf
}

// entry is one child with its summary, as it moves between nodes.
type entry struct {
	inner *inner
	leaf  *leaf
	count int
	sum   sum256
	max   Item
}

// NewTree returns an empty tree.
func NewTree() *Tree { return &Tree{root: &inner{}, height: 1} }

// TreeFromSorted builds a tree from items in strictly increasing order in
// O(n), packing leaves and inner nodes full (evenly spread, so none is
// less than half full); appends at the right edge then keep leaves full.
// The leaves share one allocation, which stays alive while any of them is
// in the tree. items is not retained. It panics if items are not sorted
// and unique: that is a caller's broken invariant.
func TreeFromSorted(items []Item) *Tree {
	for i := 1; i < len(items); i++ {
		if items[i-1].Compare(items[i]) >= 0 {
			panic(fmt.Sprintf("antientropy: TreeFromSorted: items %d and %d are not in strictly increasing order", i-1, i))
		}
	}
	t := NewTree()
	if len(items) == 0 {
		return t
	}
	nl := (len(items) + leafCap - 1) / leafCap
	slab := make([]leaf, nl)
	level := make([]entry, nl)
	for j := range slab {
		l := &slab[j]
		l.n = copy(l.items[:], items[j*len(items)/nl:(j+1)*len(items)/nl])
		if j > 0 {
			l.prev = &slab[j-1]
		}
		if j+1 < nl {
			l.next = &slab[j+1]
		}
		level[j] = l.entry()
	}
	for height := 1; ; height++ {
		m := (len(level) + innerCap - 1) / innerCap
		up := make([]entry, m)
		for j := range up {
			in := &inner{}
			for _, e := range level[j*len(level)/m : (j+1)*len(level)/m] {
				in.set(in.n, e)
				in.n++
			}
			up[j] = in.entry()
		}
		if m == 1 {
			t.root, t.height = up[0].inner, height
			t.count, t.sum = up[0].count, up[0].sum
			return t
		}
		level = up
	}
}

// Size implements Storage.
func (t *Tree) Size() int { return t.count }

// Has reports whether it is in the tree.
func (t *Tree) Has(it Item) bool {
	n := t.root
	for level := t.height; ; level-- {
		i := n.search(it)
		if i == n.n {
			return false
		}
		if n.maxes[i] == it {
			return true
		}
		if level == 1 {
			l := n.leaves[i]
			j := l.search(it)
			return j < l.n && l.items[j] == it
		}
		n = n.inners[i]
	}
}

// Insert adds it and reports whether it was absent.
func (t *Tree) Insert(it Item) bool {
	if t.root.n == 0 {
		l := &leaf{n: 1}
		l.items[0] = it
		t.root.set(0, l.entry())
		t.root.n = 1
	} else {
		ok, split := t.root.insert(t.height, it, true)
		if !ok {
			return false
		}
		if split != nil {
			// The root split: a new root over the old one and its new
			// right sibling.
			old := t.root
			left := old.entry()
			t.root = &inner{n: 2}
			t.root.set(0, left)
			t.root.set(1, *split)
			t.height++
		}
	}
	t.count++
	t.sum.addID(&it.ID)
	return true
}

// Delete removes it and reports whether it was present.
func (t *Tree) Delete(it Item) bool {
	if !t.root.delete(t.height, it) {
		return false
	}
	t.count--
	t.sum.subID(&it.ID)
	for t.height > 1 && t.root.n == 1 {
		t.root = t.root.inners[0]
		t.height--
	}
	if t.root.n == 0 {
		t.root, t.height = &inner{}, 1
	}
	return true
}

// Iterate implements Storage. fn must not change the tree.
func (t *Tree) Iterate(begin, end int, fn func(i int, it Item) bool) {
	t.checkRange(begin, end)
	if begin == end {
		return
	}
	l, off := t.locate(begin)
	for i := begin; i < end; l, off = l.next, 0 {
		for ; off < l.n && i < end; off++ {
			if !fn(i, l.items[off]) {
				return
			}
			i++
		}
	}
}

// LowerBound implements Storage.
func (t *Tree) LowerBound(begin, end int, b Bound) int {
	t.checkRange(begin, end)
	return min(max(t.position(b), begin), end)
}

// Fingerprint implements Storage.
func (t *Tree) Fingerprint(begin, end int) Fingerprint {
	t.checkRange(begin, end)
	sum := t.prefix(end)
	lo := t.prefix(begin)
	sum.sub(&lo)
	acc := sum.accumulator()
	return acc.Fingerprint(end - begin)
}

func (t *Tree) checkRange(begin, end int) {
	if begin < 0 || begin > end || end > t.count {
		panic(fmt.Sprintf("antientropy: Tree range [%d, %d) is not within its %d items", begin, end, t.count))
	}
}

// position returns the position of the first item not below b, or Size.
func (t *Tree) position(b Bound) int {
	pos := 0
	n := t.root
	for level := t.height; ; level-- {
		// A child's subtree holds an item not below b iff its greatest
		// item is not below b. Below the root the child we came from
		// holds one, so i < n.n.
		i := n.lowerBound(b)
		if i == n.n {
			return t.count
		}
		for _, c := range n.counts[:i] {
			pos += c
		}
		if level == 1 {
			return pos + n.leaves[i].lowerBound(b)
		}
		n = n.inners[i]
	}
}

// locate returns the leaf holding position pos < Size and the offset in it.
func (t *Tree) locate(pos int) (*leaf, int) {
	n := t.root
	for level := t.height; ; level-- {
		i := 0
		for pos >= n.counts[i] {
			pos -= n.counts[i]
			i++
		}
		if level == 1 {
			return n.leaves[i], pos
		}
		n = n.inners[i]
	}
}

// prefix returns the ID sum of the first k items. At each level it needs
// the sum of the children left of the one holding position k: it adds
// those sums, or, when position k lies in the right half of the node, it
// takes the node's sum and subtracts the child's sum and those to its
// right. So a level costs at most about half the fanout in additions.
func (t *Tree) prefix(k int) sum256 {
	if k == t.count {
		return t.sum
	}
	var acc sum256
	if k == 0 {
		return acc
	}
	n := t.root
	total, sum := t.count, &t.sum // of the subtree under n; 0 < k < total
	for level := t.height; ; level-- {
		var i int
		if k <= total/2 {
			for k >= n.counts[i] {
				k -= n.counts[i]
				acc.add(&n.sums[i])
				i++
			}
		} else {
			acc.add(sum)
			rest := total - k // items at or after position k
			for i = n.n - 1; rest > n.counts[i]; i-- {
				rest -= n.counts[i]
				acc.sub(&n.sums[i])
			}
			acc.sub(&n.sums[i])
			k = n.counts[i] - rest
		}
		if k == 0 {
			return acc
		}
		total, sum = n.counts[i], &n.sums[i]
		if level == 1 {
			l := n.leaves[i]
			if k <= total/2 {
				for j := range k {
					acc.addID(&l.items[j].ID)
				}
			} else {
				acc.add(sum)
				for j := k; j < l.n; j++ {
					acc.subID(&l.items[j].ID)
				}
			}
			return acc
		}
		n = n.inners[i]
	}
}

// search returns the first item position not less than it, or l.n.
func (l *leaf) search(it Item) int {
	lo, hi := 0, l.n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if l.items[m].Compare(it) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// lowerBound returns the first item position not below b, or l.n.
func (l *leaf) lowerBound(b Bound) int {
	lo, hi := 0, l.n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if l.items[m].Less(b) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

func (l *leaf) entry() entry {
	e := entry{leaf: l, count: l.n, max: l.items[l.n-1]}
	for j := range l.n {
		e.sum.addID(&l.items[j].ID)
	}
	return e
}

// insert adds it to the leaf. When the leaf is full it splits and returns
// the new right leaf's entry. A split normally halves the leaf; at the
// right edge of the tree (rightmost, and it goes last) the leaf stays
// full and it starts the new leaf, so items appended in order (new facts)
// fill leaves completely.
func (l *leaf) insert(it Item, rightmost bool) (bool, *entry) {
	pos := l.search(it)
	if pos < l.n && l.items[pos] == it {
		return false, nil
	}
	if l.n < leafCap {
		l.put(pos, it)
		return true, nil
	}
	mid := leafCap / 2
	if rightmost && pos == l.n {
		mid = leafCap
	}
	r := &leaf{n: l.n - mid, prev: l, next: l.next}
	copy(r.items[:], l.items[mid:l.n])
	if l.next != nil {
		l.next.prev = r
	}
	l.n, l.next = mid, r
	if pos <= mid && mid < leafCap {
		l.put(pos, it)
	} else {
		r.put(pos-mid, it)
	}
	e := r.entry()
	return true, &e
}

func (l *leaf) put(pos int, it Item) {
	copy(l.items[pos+1:l.n+1], l.items[pos:l.n])
	l.items[pos] = it
	l.n++
}

func (l *leaf) delete(it Item) bool {
	pos := l.search(it)
	if pos == l.n || l.items[pos] != it {
		return false
	}
	copy(l.items[pos:], l.items[pos+1:l.n])
	l.n--
	return true
}

// search returns the first child whose greatest item is not less than it,
// or n.n.
func (n *inner) search(it Item) int {
	lo, hi := 0, n.n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if n.maxes[m].Compare(it) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// lowerBound returns the first child whose greatest item is not below b,
// or n.n.
func (n *inner) lowerBound(b Bound) int {
	lo, hi := 0, n.n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if n.maxes[m].Less(b) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

func (n *inner) entry() entry {
	e := entry{inner: n, max: n.maxes[n.n-1]}
	for i := range n.n {
		e.count += n.counts[i]
		e.sum.add(&n.sums[i])
	}
	return e
}

func (n *inner) set(i int, e entry) {
	n.counts[i], n.sums[i], n.maxes[i] = e.count, e.sum, e.max
	n.inners[i], n.leaves[i] = e.inner, e.leaf
}

// childMax returns the greatest item under child i, read from the child.
func (n *inner) childMax(level, i int) Item {
	if level == 1 {
		l := n.leaves[i]
		return l.items[l.n-1]
	}
	c := n.inners[i]
	return c.maxes[c.n-1]
}

func (n *inner) childLen(level, i int) int {
	if level == 1 {
		return n.leaves[i].n
	}
	return n.inners[i].n
}

// copyEntries copies k children with their summaries from src[si:] to
// dst[di:]; the ranges may overlap.
func copyEntries(dst *inner, di int, src *inner, si, k int) {
	copy(dst.counts[di:di+k], src.counts[si:si+k])
	copy(dst.sums[di:di+k], src.sums[si:si+k])
	copy(dst.maxes[di:di+k], src.maxes[si:si+k])
	copy(dst.inners[di:di+k], src.inners[si:si+k])
	copy(dst.leaves[di:di+k], src.leaves[si:si+k])
}

// truncate drops the children from position k on, clearing their
// pointers for the garbage collector.
func (n *inner) truncate(k int) {
	clear(n.inners[k:n.n])
	clear(n.leaves[k:n.n])
	n.n = k
}

// insert adds it under n, a node at the given level. When n is full and
// a child split, n splits too and returns its new right sibling's entry.
func (n *inner) insert(level int, it Item, rightmost bool) (bool, *entry) {
	i := n.search(it)
	if i == n.n {
		i-- // it is the new greatest item under n
	} else if n.maxes[i] == it {
		return false, nil
	}
	rightmost = rightmost && i == n.n-1
	var ok bool
	var split *entry
	if level == 1 {
		ok, split = n.leaves[i].insert(it, rightmost)
	} else {
		ok, split = n.inners[i].insert(level-1, it, rightmost)
	}
	if !ok {
		return false, nil
	}
	n.counts[i]++
	n.sums[i].addID(&it.ID)
	if split == nil {
		if n.maxes[i].Compare(it) < 0 {
			n.maxes[i] = it
		}
		return true, nil
	}
	n.counts[i] -= split.count
	n.sums[i].sub(&split.sum)
	n.maxes[i] = n.childMax(level, i)
	return true, n.insertEntry(i+1, *split, rightmost)
}

// insertEntry puts e at position j, splitting n when it is full (halving
// it, or at the right edge keeping it full, as leaves do).
func (n *inner) insertEntry(j int, e entry, rightmost bool) *entry {
	if n.n < innerCap {
		n.putEntry(j, e)
		return nil
	}
	mid := innerCap / 2
	if rightmost && j == n.n {
		mid = innerCap
	}
	r := &inner{n: n.n - mid}
	copyEntries(r, 0, n, mid, r.n)
	n.truncate(mid)
	if j <= mid && mid < innerCap {
		n.putEntry(j, e)
	} else {
		r.putEntry(j-mid, e)
	}
	re := r.entry()
	return &re
}

func (n *inner) putEntry(j int, e entry) {
	copyEntries(n, j+1, n, j, n.n-j)
	n.set(j, e)
	n.n++
}

func (n *inner) removeEntry(j int) {
	copyEntries(n, j, n, j+1, n.n-j-1)
	n.truncate(n.n - 1)
}

// delete removes it from under n, a node at the given level. A child left
// empty is dropped; one left under a quarter full is merged with or
// refilled from a neighbour.
func (n *inner) delete(level int, it Item) bool {
	i := n.search(it)
	if i == n.n {
		return false
	}
	var ok bool
	if level == 1 {
		ok = n.leaves[i].delete(it)
	} else {
		ok = n.inners[i].delete(level-1, it)
	}
	if !ok {
		return false
	}
	n.counts[i]--
	n.sums[i].subID(&it.ID)
	if n.counts[i] == 0 {
		if level == 1 {
			// Only a leaf that was below leafMin can empty, one
			// split off at the right edge or the root's only leaf.
			n.leaves[i].unlink()
		}
		n.removeEntry(i)
		return true
	}
	n.maxes[i] = n.childMax(level, i)
	minLen := innerMin
	if level == 1 {
		minLen = leafMin
	}
	if n.n > 1 && n.childLen(level, i) < minLen {
		a := max(i-1, 0) // rebalance children a and a+1
		if level == 1 {
			n.rebalanceLeaves(a)
		} else {
			n.rebalanceInners(a)
		}
	}
	return true
}

// unlink takes the leaf out of the leaf chain.
func (l *leaf) unlink() {
	if l.prev != nil {
		l.prev.next = l.next
	}
	if l.next != nil {
		l.next.prev = l.prev
	}
	l.prev, l.next = nil, nil
}

// rebalanceLeaves merges leaves a and a+1 when they fit in one, else
// spreads their items evenly.
func (n *inner) rebalanceLeaves(a int) {
	l, r := n.leaves[a], n.leaves[a+1]
	total := l.n + r.n
	if total <= leafCap {
		copy(l.items[l.n:], r.items[:r.n])
		l.n = total
		r.unlink()
		n.counts[a] += n.counts[a+1]
		n.sums[a].add(&n.sums[a+1])
		n.maxes[a] = n.maxes[a+1]
		n.removeEntry(a + 1)
		return
	}
	var moved sum256
	if k := l.n - total/2; k > 0 { // l's tail moves to r's head
		for j := l.n - k; j < l.n; j++ {
			moved.addID(&l.items[j].ID)
		}
		copy(r.items[k:r.n+k], r.items[:r.n])
		copy(r.items[:k], l.items[l.n-k:l.n])
		l.n -= k
		r.n += k
		n.sums[a].sub(&moved)
		n.sums[a+1].add(&moved)
		n.counts[a] -= k
		n.counts[a+1] += k
	} else { // r's head moves to l's tail
		k = -k
		for j := range k {
			moved.addID(&r.items[j].ID)
		}
		copy(l.items[l.n:l.n+k], r.items[:k])
		copy(r.items[:r.n-k], r.items[k:r.n])
		l.n += k
		r.n -= k
		n.sums[a].add(&moved)
		n.sums[a+1].sub(&moved)
		n.counts[a] += k
		n.counts[a+1] -= k
	}
	n.maxes[a] = l.items[l.n-1]
}

// rebalanceInners merges inner children a and a+1 when they fit in one,
// else spreads their children evenly.
func (n *inner) rebalanceInners(a int) {
	l, r := n.inners[a], n.inners[a+1]
	total := l.n + r.n
	if total <= innerCap {
		copyEntries(l, l.n, r, 0, r.n)
		l.n = total
		n.counts[a] += n.counts[a+1]
		n.sums[a].add(&n.sums[a+1])
		n.maxes[a] = n.maxes[a+1]
		n.removeEntry(a + 1)
		return
	}
	var moved sum256
	count := 0
	if k := l.n - total/2; k > 0 { // l's tail moves to r's head
		for j := l.n - k; j < l.n; j++ {
			count += l.counts[j]
			moved.add(&l.sums[j])
		}
		copyEntries(r, k, r, 0, r.n)
		copyEntries(r, 0, l, l.n-k, k)
		r.n += k
		l.truncate(l.n - k)
		n.sums[a].sub(&moved)
		n.sums[a+1].add(&moved)
		n.counts[a] -= count
		n.counts[a+1] += count
	} else { // r's head moves to l's tail
		k = -k
		for j := range k {
			count += r.counts[j]
			moved.add(&r.sums[j])
		}
		copyEntries(l, l.n, r, 0, k)
		l.n += k
		copyEntries(r, 0, r, k, r.n-k)
		r.truncate(r.n - k)
		n.sums[a].add(&moved)
		n.sums[a+1].sub(&moved)
		n.counts[a] += count
		n.counts[a+1] -= count
	}
	n.maxes[a] = l.maxes[l.n-1]
}

// sum256 is an Accumulator kept as four little-endian 64-bit limbs, so
// the sums a descent adds and subtracts stay in registers instead of
// going through bytes at every step.
type sum256 [4]uint64

func (s *sum256) add(o *sum256) {
	var c uint64
	s[0], c = bits.Add64(s[0], o[0], 0)
	s[1], c = bits.Add64(s[1], o[1], c)
	s[2], c = bits.Add64(s[2], o[2], c)
	s[3], _ = bits.Add64(s[3], o[3], c)
}

func (s *sum256) sub(o *sum256) {
	var b uint64
	s[0], b = bits.Sub64(s[0], o[0], 0)
	s[1], b = bits.Sub64(s[1], o[1], b)
	s[2], b = bits.Sub64(s[2], o[2], b)
	s[3], _ = bits.Sub64(s[3], o[3], b)
}

func (s *sum256) addID(id *ID) {
	o := sum256{
		binary.LittleEndian.Uint64(id[0:8]), binary.LittleEndian.Uint64(id[8:16]),
		binary.LittleEndian.Uint64(id[16:24]), binary.LittleEndian.Uint64(id[24:32]),
	}
	s.add(&o)
}

func (s *sum256) subID(id *ID) {
	o := sum256{
		binary.LittleEndian.Uint64(id[0:8]), binary.LittleEndian.Uint64(id[8:16]),
		binary.LittleEndian.Uint64(id[16:24]), binary.LittleEndian.Uint64(id[24:32]),
	}
	s.sub(&o)
}

func (s *sum256) accumulator() Accumulator {
	var a Accumulator
	for i, limb := range s {
		binary.LittleEndian.PutUint64(a[8*i:], limb)
	}
	return a
}
