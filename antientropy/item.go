package antientropy

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/bits"
)

// Sizes fixed by Negentropy v1.
const (
	IDSize          = 32
	FingerprintSize = 16
)

// MaxTimestamp is the "infinity" timestamp of the last bound.
const MaxTimestamp = math.MaxUint64

// ID is a 32-byte item ID. For aura-node facts it is the sha2-256 digest
// inside the fact's CID.
type ID [IDSize]byte

func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Item is one element of a reconciled set.
type Item struct {
	Timestamp uint64
	ID        ID
}

// Compare orders items by timestamp, then ID bytes.
func (a Item) Compare(b Item) int {
	if c := cmp.Compare(a.Timestamp, b.Timestamp); c != 0 {
		return c
	}
	return bytes.Compare(a.ID[:], b.ID[:])
}

// Bound separates ranges: a timestamp and a prefix of an ID (at most 32
// bytes). An item is below the bound iff its timestamp is smaller, or equal
// and its ID sorts before the prefix.
type Bound struct {
	Timestamp uint64
	Prefix    []byte
}

// infinity is the bound above every item.
var infinity = Bound{Timestamp: MaxTimestamp}

// BoundOf returns the bound equal to an item.
func BoundOf(it Item) Bound { return Bound{Timestamp: it.Timestamp, Prefix: it.ID[:]} }

// Less reports whether the item sorts below the bound.
func (it Item) Less(b Bound) bool {
	if it.Timestamp != b.Timestamp {
		return it.Timestamp < b.Timestamp
	}
	return bytes.Compare(it.ID[:], b.Prefix) < 0
}

func compareBounds(a, b Bound) int {
	if c := cmp.Compare(a.Timestamp, b.Timestamp); c != 0 {
		return c
	}
	return bytes.Compare(a.Prefix, b.Prefix)
}

// minimalBound returns the shortest bound that separates prev from curr
// (prev < curr): the timestamp alone when they differ, else the shared ID
// prefix plus one byte.
func minimalBound(prev, curr Item) Bound {
	if prev.Timestamp != curr.Timestamp {
		return Bound{Timestamp: curr.Timestamp}
	}
	shared := 0
	for shared < IDSize && prev.ID[shared] == curr.ID[shared] {
		shared++
	}
	return Bound{Timestamp: curr.Timestamp, Prefix: curr.ID[:min(shared+1, IDSize)]}
}

// Accumulator is the sum of IDs as 256-bit little-endian integers mod
// 2^256.
type Accumulator [IDSize]byte

// Add adds an ID.
func (a *Accumulator) Add(id *ID) { a.addBytes((*[IDSize]byte)(id)) }

// AddAcc adds another accumulator.
func (a *Accumulator) AddAcc(b *Accumulator) { a.addBytes((*[IDSize]byte)(b)) }

// SubAcc subtracts another accumulator.
func (a *Accumulator) SubAcc(b *Accumulator) {
	var borrow uint64
	for i := 0; i < IDSize; i += 8 {
		x := binary.LittleEndian.Uint64(a[i:])
		y := binary.LittleEndian.Uint64(b[i:])
		d, bo := bits.Sub64(x, y, borrow)
		binary.LittleEndian.PutUint64(a[i:], d)
		borrow = bo
	}
}

func (a *Accumulator) addBytes(b *[IDSize]byte) {
	var carry uint64
	for i := 0; i < IDSize; i += 8 {
		x := binary.LittleEndian.Uint64(a[i:])
		y := binary.LittleEndian.Uint64(b[i:])
		s, c := bits.Add64(x, y, carry)
		binary.LittleEndian.PutUint64(a[i:], s)
		carry = c
	}
}

// Fingerprint is the Negentropy v1 range fingerprint.
type Fingerprint [FingerprintSize]byte

// Fingerprint returns SHA-256(sum || varint(count)), truncated to 16 bytes.
func (a *Accumulator) Fingerprint(count int) Fingerprint {
	buf := make([]byte, 0, IDSize+10)
	buf = append(buf, a[:]...)
	buf = appendVarint(buf, uint64(count))
	sum := sha256.Sum256(buf)
	var fp Fingerprint
	copy(fp[:], sum[:FingerprintSize])
	return fp
}
