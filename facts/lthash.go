package facts

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// The state digest is a lattice hash (LtHash16): each state entry hashes to
// 1024 16-bit lanes and the digest accumulator is their lane-wise sum mod
// 2^16. Adding and removing entries commute, so the digest is updated
// incrementally in O(changed entries) and is the same whatever order the
// facts arrived in; its security rests on the short-vector problem in the
// lattice, not on the 16-bit width of one lane.
//
// The lanes are stored four to a uint64 (lane j of word w is bits
// 16j..16j+15), which is also their little-endian byte order, and added
// four at a time (SWAR).
const (
	ltLanes = 1024
	ltWords = ltLanes / 4
	ltBytes = 2 * ltLanes
)

type ltHash [ltWords]uint64

// laneHigh has the top bit of each 16-bit lane of a word.
const laneHigh = 0x8000_8000_8000_8000

// addLanes returns x + y lane-wise mod 2^16: the low 15 bits of each lane
// are summed without carrying into the next lane, then the top bits are
// fixed up with XOR. TestLtHashLanes checks it against plain arithmetic.
func addLanes(x, y uint64) uint64 {
	return ((x &^ laneHigh) + (y &^ laneHigh)) ^ ((x ^ y) & laneHigh)
}

// subLanes returns x - y lane-wise mod 2^16.
func subLanes(x, y uint64) uint64 {
	return ((x | laneHigh) - (y &^ laneHigh)) ^ ((x ^ ^y) & laneHigh)
}

// entryStream expands one state entry to 2 KiB: SHA-256 of the
// domain-separated entry keys an AES-256-CTR keystream, a pseudorandom
// generator that runs at memory speed with AES-NI (a BLAKE3 or SHAKE XOF
// over 2 KiB costs several times more, and this runs for every state
// write).
func entryStream(key, value []byte, out *[ltBytes]byte) {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	h.Write([]byte("aura-node/state-entry/v1"))
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(key)))])
	h.Write(key)
	h.Write(value)
	var seed [32]byte
	h.Sum(seed[:0])
	block, err := aes.NewCipher(seed[:])
	if err != nil {
		panic(err) // a 32-byte key is always valid
	}
	var iv [aes.BlockSize]byte
	clear(out[:])
	cipher.NewCTR(block, iv[:]).XORKeyStream(out[:], out[:])
}

// addEntry adds the entry's hash to the accumulator, or removes it.
func (a *ltHash) addEntry(key, value []byte, remove bool) {
	var buf [ltBytes]byte
	entryStream(key, value, &buf)
	for i := range a {
		y := binary.LittleEndian.Uint64(buf[8*i:])
		if remove {
			a[i] = subLanes(a[i], y)
		} else {
			a[i] = addLanes(a[i], y)
		}
	}
}

func (a *ltHash) bytes() []byte {
	out := make([]byte, ltBytes)
	for i, v := range a {
		binary.LittleEndian.PutUint64(out[8*i:], v)
	}
	return out
}

func ltHashFrom(b []byte) ltHash {
	var a ltHash
	if len(b) == ltBytes {
		for i := range a {
			a[i] = binary.LittleEndian.Uint64(b[8*i:])
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
	return Digest(sha256.Sum256(append([]byte("aura-node/state-digest/v1"), a.bytes()...)))
}
