package release

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// ID identifies a release: sha2-256 of the canonical encoding of
// {1: "aura-node/release-id/v1", 2: series, 3: provenance}. It names the
// build (what source, built how, giving which outputs), not the document
// that describes it, so every verify recomputes it from the manifest.
type ID [32]byte

// idDomain separates release IDs from every other hash in the system.
const idDomain = "aura-node/release-id/v1"

// idPreimage is what ComputeID hashes. The domain sits inside the encoded
// map, so no other structure's encoding can collide with it.
type idPreimage struct {
	Domain     string     `cbor:"1,keyasint"`
	Series     string     `cbor:"2,keyasint"`
	Provenance Provenance `cbor:"3,keyasint"`
}

// ComputeID returns the release ID of a series and provenance.
func ComputeID(series string, p Provenance) ID {
	return ID(sha256.Sum256(mustMarshal(idPreimage{Domain: idDomain, Series: series, Provenance: p})))
}

// String returns the ID as 64 lowercase hex digits.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 12 hex digits, for tables and logs.
func (id ID) Short() string { return id.String()[:12] }

// IsZero reports whether id is the zero ID.
func (id ID) IsZero() bool { return id == ID{} }

// MarshalText implements encoding.TextMarshaler (used by JSON output; the
// CBOR encoding stays a 32-byte string).
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *ID) UnmarshalText(b []byte) error {
	p, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = p
	return nil
}

// ParseID parses the 64-hex-digit form produced by String.
func ParseID(s string) (ID, error) {
	var id ID
	s = strings.TrimSpace(s)
	if len(s) != 2*len(id) {
		return id, fmt.Errorf("%w: %q is %d characters, want %d hex digits", ErrBadID, s, len(s), 2*len(id))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return ID{}, fmt.Errorf("%w: %q: %w", ErrBadID, s, err)
	}
	return id, nil
}

// IDFromBytes converts the 32-byte form carried in fact payloads.
func IDFromBytes(b []byte) (ID, error) {
	var id ID
	if len(b) != len(id) {
		return id, fmt.Errorf("%w: %d bytes, want %d", ErrBadID, len(b), len(id))
	}
	copy(id[:], b)
	return id, nil
}

// compareIDs orders IDs bytewise.
func compareIDs(a, b ID) int { return strings.Compare(string(a[:]), string(b[:])) }
