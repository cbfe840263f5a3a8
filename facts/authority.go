package facts

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/mr-tron/base58"
)

// AuthorityID is the Ed25519 public key of an authority. Its text form is
// the libp2p peer ID of that key (identity multihash of the protobuf public
// key, base58btc), so operators see the familiar "12D3KooW..." shape.
type AuthorityID [ed25519.PublicKeySize]byte

// peerIDPrefix is the identity multihash header (code 0x00, length 36)
// followed by the protobuf header of an Ed25519 libp2p public key
// (field 1 KeyType = 1, field 2 bytes of length 32).
var peerIDPrefix = []byte{0x00, 0x24, 0x08, 0x01, 0x12, 0x20}

// ErrBadAuthorityID reports text that is not an Ed25519 authority ID.
var ErrBadAuthorityID = errors.New("facts: not an Ed25519 authority ID")

// AuthorityFromKey returns the authority ID of an Ed25519 public key.
func AuthorityFromKey(pub ed25519.PublicKey) AuthorityID {
	var a AuthorityID
	copy(a[:], pub)
	return a
}

// String returns the peer-ID form of the authority.
func (a AuthorityID) String() string {
	b := make([]byte, 0, len(peerIDPrefix)+len(a))
	b = append(b, peerIDPrefix...)
	b = append(b, a[:]...)
	return base58.Encode(b)
}

// Short returns the last eight characters of the text form, for tables
// and logs (the prefix is the same "12D3KooW" for every Ed25519 key).
func (a AuthorityID) Short() string {
	s := a.String()
	if len(s) > 14 {
		return s[len(s)-8:]
	}
	return s
}

// IsZero reports whether a is the zero ID.
func (a AuthorityID) IsZero() bool { return a == AuthorityID{} }

// PublicKey returns a as an Ed25519 public key.
func (a AuthorityID) PublicKey() ed25519.PublicKey { return ed25519.PublicKey(a[:]) }

// ParseAuthorityID parses the text form produced by String.
func ParseAuthorityID(s string) (AuthorityID, error) {
	var a AuthorityID
	b, err := base58.Decode(s)
	if err != nil {
		return a, fmt.Errorf("%w: %q: %v", ErrBadAuthorityID, s, err)
	}
	if len(b) != len(peerIDPrefix)+len(a) || string(b[:len(peerIDPrefix)]) != string(peerIDPrefix) {
		return a, fmt.Errorf("%w: %q", ErrBadAuthorityID, s)
	}
	copy(a[:], b[len(peerIDPrefix):])
	return a, nil
}

// MarshalText implements encoding.TextMarshaler (used by JSON output).
func (a AuthorityID) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *AuthorityID) UnmarshalText(b []byte) error {
	p, err := ParseAuthorityID(string(b))
	if err != nil {
		return err
	}
	*a = p
	return nil
}
