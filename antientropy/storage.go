package antientropy

import (
	"errors"
	"slices"
)

// Storage is the sorted item set a Reconciler reads. Indices are positions
// in (timestamp, ID) order. Implementations must not change while a
// Reconciler uses them (take a snapshot or hold a lock per message).
type Storage interface {
	// Size returns the number of items.
	Size() int
	// Iterate calls fn for the items at positions [begin, end) in order,
	// until fn returns false.
	Iterate(begin, end int, fn func(i int, it Item) bool)
	// LowerBound returns the first position in [begin, end) whose item
	// is not below b, or end.
	LowerBound(begin, end int, b Bound) int
	// Fingerprint returns the fingerprint of positions [begin, end).
	Fingerprint(begin, end int) Fingerprint
}

// ErrDuplicate reports an item inserted twice.
var ErrDuplicate = errors.New("antientropy: duplicate item")

// Vector is a Storage over a sorted slice with prefix sums: fingerprints
// cost O(1), building it O(n log n). Use it for sets that do not change
// (a snapshot, a benchmark, a test); use Tree for a growing set.
type Vector struct {
	items  []Item
	prefix []Accumulator // prefix[i] = sum of items[:i]
}

// NewVector sorts items (in place) and builds the prefix sums.
func NewVector(items []Item) (*Vector, error) {
	slices.SortFunc(items, Item.Compare)
	for i := 1; i < len(items); i++ {
		if items[i-1] == items[i] {
			return nil, ErrDuplicate
		}
	}
	v := &Vector{items: items, prefix: make([]Accumulator, len(items)+1)}
	for i := range items {
		v.prefix[i+1] = v.prefix[i]
		v.prefix[i+1].Add(&items[i].ID)
	}
	return v, nil
}

// Size implements Storage.
func (v *Vector) Size() int { return len(v.items) }

// Iterate implements Storage.
func (v *Vector) Iterate(begin, end int, fn func(int, Item) bool) {
	for i := begin; i < end; i++ {
		if !fn(i, v.items[i]) {
			return
		}
	}
}

// LowerBound implements Storage.
func (v *Vector) LowerBound(begin, end int, b Bound) int {
	i, _ := slices.BinarySearchFunc(v.items[begin:end], b, func(it Item, b Bound) int {
		if it.Less(b) {
			return -1
		}
		return 1
	})
	return begin + i
}

// Fingerprint implements Storage.
func (v *Vector) Fingerprint(begin, end int) Fingerprint {
	acc := v.prefix[end]
	acc.SubAcc(&v.prefix[begin])
	return acc.Fingerprint(end - begin)
}

// Items returns the sorted items. Do not modify them.
func (v *Vector) Items() []Item { return v.items }
