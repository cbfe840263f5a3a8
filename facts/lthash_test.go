package facts

import (
	"math/rand/v2"
	"testing"
)

// TestLtHashLanes checks the four-lanes-per-word add and sub against plain
// lane-wise arithmetic mod 2^16, including the carry and borrow edges.
func TestLtHashLanes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	edges := []uint16{0, 1, 0x7fff, 0x8000, 0x8001, 0xfffe, 0xffff}
	lane := func(i int) uint16 {
		if i < 20000 {
			return edges[r.IntN(len(edges))]
		}
		return uint16(r.Uint32())
	}
	for i := 0; i < 40000; i++ {
		var xs, ys [4]uint16
		var x, y uint64
		for j := range 4 {
			xs[j], ys[j] = lane(i), lane(i)
			x |= uint64(xs[j]) << (16 * j)
			y |= uint64(ys[j]) << (16 * j)
		}
		sum, diff := addLanes(x, y), subLanes(x, y)
		for j := range 4 {
			if got, want := uint16(sum>>(16*j)), xs[j]+ys[j]; got != want {
				t.Fatalf("add lane %d: %#x + %#x = %#x, want %#x", j, xs[j], ys[j], got, want)
			}
			if got, want := uint16(diff>>(16*j)), xs[j]-ys[j]; got != want {
				t.Fatalf("sub lane %d: %#x - %#x = %#x, want %#x", j, xs[j], ys[j], got, want)
			}
		}
	}
}

// Adding then removing an entry restores the accumulator; the digest does
// not depend on the order entries are added.
func TestLtHashAddRemoveCommute(t *testing.T) {
	var a, b ltHash
	a.addEntry([]byte("k1"), []byte("v1"), false)
	a.addEntry([]byte("k2"), []byte("v2"), false)
	b.addEntry([]byte("k2"), []byte("v2"), false)
	b.addEntry([]byte("k1"), []byte("v1"), false)
	if a.digest() != b.digest() {
		t.Fatal("digest depends on order")
	}
	a.addEntry([]byte("k3"), []byte("v3"), false)
	a.addEntry([]byte("k3"), []byte("v3"), true)
	if a.digest() != b.digest() {
		t.Fatal("add then remove does not restore the digest")
	}
	var empty ltHash
	a.addEntry([]byte("k1"), []byte("v1"), true)
	a.addEntry([]byte("k2"), []byte("v2"), true)
	if a != empty {
		t.Fatal("removing every entry does not give zero")
	}
}

func BenchmarkLtHashEntry(b *testing.B) {
	key, value := []byte("dns\x00key"), make([]byte, 128)
	var acc ltHash
	for b.Loop() {
		acc.addEntry(key, value, false)
	}
}
