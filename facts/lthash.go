package facts

import (
	"encoding/binary"
	"encoding/hex"

	"lukechampine.com/blake3"
)

// The state digest is a lattice hash (LtHash16): each state entry hashes to
// 1024 16-bit lanes and the digest accumulator is their lane-wise sum mod
// 2^16. Adding and removing entries commute, so the digest is updated
// incrementally in O(changed entries) and is the same whatever order the
// facts arrived in; its security rests on the short-vector problem in the
// lattice, not on the 16-bit width of one lane.
const (
	ltLanes = 1024
	ltBytes = 2 * ltLanes
)

type ltHash [ltLanes]uint16

func entryHash(key, value []byte) *ltHash {
	h := blake3.New(32, nil)
	var n [binary.MaxVarintLen64]byte
	h.Write([]byte("aura-node/state-entry/v1"))
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(key)))])
	h.Write(key)
	h.Write(value)
	var buf [ltBytes]byte
	h.XOF().Read(buf[:])
	var out ltHash
	for i := range out {
		out[i] = binary.LittleEndian.Uint16(buf[2*i:])
	}
	return &out
}

func (a *ltHash) add(b *ltHash) {
	for i := range a {
		a[i] += b[i]
	}
}

func (a *ltHash) sub(b *ltHash) {
	for i := range a {
		a[i] -= b[i]
	}
}

func (a *ltHash) bytes() []byte {
	out := make([]byte, ltBytes)
	for i, v := range a {
		binary.LittleEndian.PutUint16(out[2*i:], v)
	}
	return out
}

func ltHashFrom(b []byte) ltHash {
	var a ltHash
	if len(b) == ltBytes {
		for i := range a {
			a[i] = binary.LittleEndian.Uint16(b[2*i:])
		}
	}
	return a
}

// Digest is the 32-byte state digest.
type Digest [32]byte

func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// MarshalText implements encoding.TextMarshaler.
func (d Digest) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

func (a *ltHash) digest() Digest {
	return Digest(blake3.Sum256(append([]byte("aura-node/state-digest/v1"), a.bytes()...)))
}
