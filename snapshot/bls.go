package snapshot

import (
	"bytes"
	"crypto/sha3"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"

	"go.dedis.ch/kyber/v4"
	"go.dedis.ch/kyber/v4/pairing/bn256"
	"go.dedis.ch/kyber/v4/sign/bdn"
)

// Sizes of the canonical encodings.
const (
	// PrivateKeySize is a scalar mod the group order, big-endian.
	PrivateKeySize = 32
	// PublicKeySize is an affine G2 point: x.i, x.r, y.i, y.r, each a
	// 32-byte big-endian element of GF(p).
	PublicKeySize = 128
	// SignatureSize is an affine G1 point: x, y, each 32 bytes big-endian.
	SignatureSize = 64
)

// Domain-separation tags. Changing one changes every key or message, so
// they are part of the protocol.
const (
	keygenDomain   = "aura-node/snapshot/bls-keygen/v1"
	approvalDomain = "aura-node/snapshot/approval/v1"
)

// The suite and the scheme are stateless values built from constants (no
// randomness, no side effects), shared for reading only.
var (
	suite  = bn256.NewSuite()
	scheme = bdn.NewSchemeOnG1(suite)

	// fieldP is the BN256 base-field modulus p, big-endian (kyber does
	// not export it); every encoded coordinate must be below it.
	fieldP = func() []byte {
		p, ok := new(big.Int).SetString("65000549695646603732796438742359905742825358107623003571877145026864184071783", 10)
		if !ok {
			panic("snapshot: bad field modulus constant")
		}
		return p.FillBytes(make([]byte, 32))
	}()
)

// PrivateKey is a member's BLS signing key: a non-zero scalar mod the
// BN256 group order. The zero value is not a key.
type PrivateKey struct {
	s kyber.Scalar
}

// PublicKey is a member's BLS verification key: a point of G2, neither
// the identity nor outside the prime-order subgroup. The zero value is not
// a key.
type PublicKey struct {
	p   kyber.Point
	enc [PublicKeySize]byte
}

// GenerateKey derives a key pair from a 32-byte seed. The same seed always
// gives the same pair: the scalar is cSHAKE256(seed, S=keygenDomain || i)
// read as a 64-byte big-endian integer reduced mod the group order (the
// bias of reducing 512 bits mod a 254-bit order is below 2^-250), with i
// a counter that only moves past 0 in the negligible case that the result
// is zero. The seed is the secret: keep it as the key's backup form.
func GenerateKey(seed [32]byte) (PrivateKey, PublicKey) {
	for ctr := byte(0); ; ctr++ {
		h := sha3.NewCSHAKE256(nil, append([]byte(keygenDomain), ctr))
		h.Write(seed[:])
		var wide [64]byte
		h.Read(wide[:])
		s := suite.G2().Scalar().SetBytes(wide[:])
		if s.Equal(suite.G2().Scalar().Zero()) {
			continue
		}
		priv := PrivateKey{s: s}
		return priv, priv.Public()
	}
}

// Public returns the public key of k.
func (k PrivateKey) Public() PublicKey {
	if k.s == nil {
		return PublicKey{}
	}
	return newPublicKey(suite.G2().Point().Mul(k.s, nil))
}

func newPublicKey(p kyber.Point) PublicKey {
	pk := PublicKey{p: p}
	b, err := p.MarshalBinary()
	if err != nil || len(b) != PublicKeySize {
		panic(fmt.Sprintf("snapshot: G2 point encodes to %d bytes: %v", len(b), err))
	}
	copy(pk.enc[:], b)
	return pk
}

// MarshalBinary returns the 32-byte big-endian scalar. It implements
// encoding.BinaryMarshaler.
func (k PrivateKey) MarshalBinary() ([]byte, error) {
	if k.s == nil {
		return nil, fmt.Errorf("%w: zero PrivateKey", ErrBadKey)
	}
	return k.s.MarshalBinary()
}

// ParsePrivateKey decodes MarshalBinary's output. It refuses a wrong
// length, a value not below the group order, and zero.
func ParsePrivateKey(b []byte) (PrivateKey, error) {
	if len(b) != PrivateKeySize {
		return PrivateKey{}, fmt.Errorf("%w: private key is %d bytes, want %d", ErrBadKey, len(b), PrivateKeySize)
	}
	s := suite.G2().Scalar()
	if err := s.UnmarshalBinary(b); err != nil {
		return PrivateKey{}, fmt.Errorf("%w: private key is not below the group order", ErrBadKey)
	}
	if s.Equal(suite.G2().Scalar().Zero()) {
		return PrivateKey{}, fmt.Errorf("%w: private key is zero", ErrBadKey)
	}
	return PrivateKey{s: s}, nil
}

// MarshalBinary returns the 128-byte canonical encoding. It implements
// encoding.BinaryMarshaler.
func (pk PublicKey) MarshalBinary() ([]byte, error) {
	if pk.p == nil {
		return nil, fmt.Errorf("%w: zero PublicKey", ErrBadKey)
	}
	return bytes.Clone(pk.enc[:]), nil
}

// IsZero reports whether pk is the zero value (no key).
func (pk PublicKey) IsZero() bool { return pk.p == nil }

// Equal reports whether pk and o are the same key.
func (pk PublicKey) Equal(o PublicKey) bool { return pk.p != nil && o.p != nil && pk.enc == o.enc }

// String returns the first 8 bytes of the encoding in hex, for logs.
func (pk PublicKey) String() string {
	if pk.p == nil {
		return "bls:none"
	}
	return "bls:" + hex.EncodeToString(pk.enc[:8])
}

// ParsePublicKey decodes a 128-byte public key. It refuses, each with its
// own message: a wrong length; a coordinate not reduced mod p (so each
// point has one encoding); a point not on the twist curve; the identity;
// and a point outside the prime-order subgroup G2 (the twist has a large
// cofactor and kyber's decoder does not check it).
func ParsePublicKey(b []byte) (PublicKey, error) {
	if len(b) != PublicKeySize {
		return PublicKey{}, fmt.Errorf("%w: public key is %d bytes, want %d", ErrBadKey, len(b), PublicKeySize)
	}
	if err := checkReduced(b); err != nil {
		return PublicKey{}, fmt.Errorf("%w: public key: %w", ErrBadKey, err)
	}
	p := suite.G2().Point()
	if err := p.UnmarshalBinary(b); err != nil {
		return PublicKey{}, fmt.Errorf("%w: public key is not a point of the BN256 twist: %v", ErrBadKey, err)
	}
	if p.Equal(suite.G2().Point().Null()) {
		return PublicKey{}, fmt.Errorf("%w: public key is the identity", ErrBadKey)
	}
	if !inPrimeOrderSubgroup(suite.G2(), p) {
		return PublicKey{}, fmt.Errorf("%w: public key is not in the G2 subgroup", ErrBadKey)
	}
	pk := newPublicKey(p)
	if !bytes.Equal(pk.enc[:], b) {
		return PublicKey{}, fmt.Errorf("%w: public key encoding is not canonical", ErrBadKey)
	}
	return pk, nil
}

// parseSignature decodes a 64-byte G1 point with the same care as
// ParsePublicKey. G1 of BN256 has cofactor 1, so a point on the curve is
// in the group.
func parseSignature(b []byte) (kyber.Point, error) {
	if len(b) != SignatureSize {
		return nil, fmt.Errorf("signature is %d bytes, want %d", len(b), SignatureSize)
	}
	if err := checkReduced(b); err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	p := suite.G1().Point()
	if err := p.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("signature is not a point of BN256 G1: %v", err)
	}
	if p.Equal(suite.G1().Point().Null()) {
		return nil, errors.New("signature is the identity")
	}
	enc, err := p.MarshalBinary()
	if err != nil || !bytes.Equal(enc, b) {
		return nil, errors.New("signature encoding is not canonical")
	}
	return p, nil
}

// CheckSignature reports whether b is a well-formed signature encoding
// (a canonical non-identity G1 point); it does not verify anything.
func CheckSignature(b []byte) error {
	if _, err := parseSignature(b); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	return nil
}

// checkReduced checks that every 32-byte big-endian coordinate of b is
// below the field modulus.
func checkReduced(b []byte) error {
	for i := 0; i+32 <= len(b); i += 32 {
		if bytes.Compare(b[i:i+32], fieldP) >= 0 {
			return fmt.Errorf("coordinate %d is not reduced mod p", i/32)
		}
	}
	return nil
}

// inPrimeOrderSubgroup reports whether r*p is the identity, computed as
// (r-1)*p + p because a scalar cannot hold r itself.
func inPrimeOrderSubgroup(g kyber.Group, p kyber.Point) bool {
	rMinus1 := g.Scalar().SetInt64(-1)
	q := g.Point().Mul(rMinus1, p)
	q.Add(q, p)
	return q.Equal(g.Point().Null())
}

// Sign returns k's signature over msg: x * H(msg) in G1, 64 bytes. BLS
// signing is deterministic, so the same key and message always give the
// same bytes. Sign panics on the zero PrivateKey (a broken invariant:
// keys come from GenerateKey or ParsePrivateKey).
func Sign(k PrivateKey, msg []byte) []byte {
	if k.s == nil {
		panic("snapshot: Sign with the zero PrivateKey")
	}
	sig, err := scheme.Sign(k.s, msg)
	if err != nil {
		panic(fmt.Sprintf("snapshot: BLS sign: %v", err))
	}
	return sig
}

// Verify checks one signature. Every failure wraps ErrBadSignature.
func Verify(pub PublicKey, msg, sig []byte) error {
	if pub.p == nil {
		return fmt.Errorf("%w: no public key", ErrBadSignature)
	}
	if _, err := parseSignature(sig); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	if err := scheme.Verify(pub.p, msg, sig); err != nil {
		return fmt.Errorf("%w: does not verify under %s", ErrBadSignature, pub)
	}
	return nil
}

// The signer set of an aggregate is a list of indices into the roster, in
// roster order (for the node: facts.EpochInfo.Members, sorted by
// authority), strictly increasing, non-empty. Bitmask and index list are
// the same information; the list is the API because it maps one to one
// onto SnapshotCompleted.Signers (the members' authorities, which are
// sorted exactly when the indices are).
//
// BDN binds the aggregate to the whole roster, not only to the signers:
// each key's coefficient is a hash of the entire key list in roster order.
// So the roster must be the same list, in the same order, for whoever
// assembles and whoever verifies; a reordered roster gives other
// coefficients and the aggregate does not verify.

// checkSigners validates a signer index list against a roster size.
func checkSigners(n int, signers []int) error {
	if len(signers) == 0 {
		return fmt.Errorf("%w: no signers", ErrBadSignerSet)
	}
	for i, s := range signers {
		if s < 0 || s >= n {
			return fmt.Errorf("%w: signer index %d outside a roster of %d", ErrBadSignerSet, s, n)
		}
		if i > 0 && signers[i-1] >= s {
			return fmt.Errorf("%w: signer indices must be strictly increasing (roster order), got %v", ErrBadSignerSet, signers)
		}
	}
	return nil
}

// newMask builds the BDN mask of a roster with the given signers enabled.
func newMask(roster []PublicKey, signers []int) (*bdn.Mask, error) {
	if len(roster) == 0 {
		return nil, fmt.Errorf("%w: empty roster", ErrBadRoster)
	}
	if err := checkSigners(len(roster), signers); err != nil {
		return nil, err
	}
	pubs := make([]kyber.Point, len(roster))
	for i, pk := range roster {
		if pk.p == nil {
			return nil, fmt.Errorf("%w: roster member %d has no BLS key", ErrBadRoster, i)
		}
		pubs[i] = pk.p
	}
	mask, err := bdn.NewMask(suite.G2(), pubs, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRoster, err)
	}
	for _, s := range signers {
		if err := mask.SetBit(s, true); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadSignerSet, err)
		}
	}
	return mask, nil
}

// Aggregate combines the signatures of the signers (indices into roster,
// strictly increasing; sigs[i] is the signature of roster[signers[i]])
// into one 64-byte BDN aggregate: sum over signers of (c_i + 1) * sig_i,
// where c_i is derived from the whole roster. The result depends only on
// (roster, signers, sigs), so two nodes holding the same approvals build
// the same bytes. Aggregate does not verify the individual signatures;
// the Machine does that on Approve, and a bad one makes the aggregate
// fail VerifyAggregate.
func Aggregate(roster []PublicKey, signers []int, sigs [][]byte) ([]byte, error) {
	if len(sigs) != len(signers) {
		return nil, fmt.Errorf("%w: %d signatures for %d signers", ErrBadSignerSet, len(sigs), len(signers))
	}
	mask, err := newMask(roster, signers)
	if err != nil {
		return nil, err
	}
	for i, sig := range sigs {
		if _, err := parseSignature(sig); err != nil {
			return nil, fmt.Errorf("%w: signer %d: %w", ErrBadSignature, signers[i], err)
		}
	}
	agg, err := scheme.AggregateSignatures(sigs, mask)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	return agg.MarshalBinary()
}

// VerifyAggregate checks an aggregate signature by the signers (indices
// into roster, strictly increasing) over msg. It needs only public data,
// so a certificate can be checked offline against the roster of its
// epoch. It does not check a threshold: callers compare len(signers) with
// M (the Machine and VerifyCompletion do).
func VerifyAggregate(roster []PublicKey, signers []int, msg, agg []byte) error {
	mask, err := newMask(roster, signers)
	if err != nil {
		return err
	}
	if _, err := parseSignature(agg); err != nil {
		return fmt.Errorf("%w: aggregate: %w", ErrBadSignature, err)
	}
	aggKey, err := scheme.AggregatePublicKeys(mask)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadRoster, err)
	}
	if err := scheme.Verify(aggKey, msg, agg); err != nil {
		return fmt.Errorf("%w: aggregate by signers %v does not verify", ErrBadSignature, signers)
	}
	return nil
}

// ApprovalMessage is the one encoding of what a member signs to approve a
// snapshot: the state digest of the network at the target epoch, for one
// proposal.
//
//	"aura-node/snapshot/approval/v1" 0x00
//	u64be(len(network)) network        the genesis CID bytes
//	u64be(epoch)                       the target epoch E
//	digest                             32 bytes, the state digest D at E
//	u64be(len(proposal)) proposal      the proposal fact's CID bytes
//
// Every variable-length field is length-prefixed, so no two different
// tuples encode to the same bytes, and the tag keeps these messages apart
// from anything else signed with the same key.
func ApprovalMessage(network []byte, epoch uint64, digest [32]byte, proposal []byte) []byte {
	b := make([]byte, 0, len(approvalDomain)+1+8+len(network)+8+32+8+len(proposal))
	b = append(b, approvalDomain...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(len(network)))
	b = append(b, network...)
	b = binary.BigEndian.AppendUint64(b, epoch)
	b = append(b, digest[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(len(proposal)))
	b = append(b, proposal...)
	return b
}
