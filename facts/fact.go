package facts

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"reflect"

	"github.com/ipfs/go-cid"
)

// Fact is the journal envelope. It is immutable once signed.
type Fact struct {
	// Network is the network ID (the genesis CID) in binary form; empty
	// only on the genesis fact itself.
	Network []byte `cbor:"1,keyasint,omitempty"`
	// Kind selects the payload type.
	Kind Kind `cbor:"2,keyasint"`
	// Payload is the canonical CBOR encoding of the kind's payload.
	Payload []byte `cbor:"3,keyasint"`
	// Author is the authority that signed the fact.
	Author AuthorityID `cbor:"4,keyasint"`
	// Epoch is the identity epoch the author was in.
	Epoch uint64 `cbor:"5,keyasint"`
	// Time is the author's hybrid logical clock reading.
	Time Timestamp `cbor:"6,keyasint"`
	// Sig is the Ed25519 signature over SigningBytes.
	Sig []byte `cbor:"7,keyasint,omitempty"`
}

// signingDomain separates fact signatures from any other use of the key.
const signingDomain = "aura-node/fact/v1\x00"

// SigningBytes returns the bytes the author signs: a domain string then the
// canonical encoding of the envelope without its signature.
func (f *Fact) SigningBytes() ([]byte, error) {
	unsigned := *f
	unsigned.Sig = nil
	enc, err := Marshal(&unsigned)
	if err != nil {
		return nil, err
	}
	return append([]byte(signingDomain), enc...), nil
}

// Draft is what an author fills in to create a fact.
type Draft struct {
	Network cid.Cid // cid.Undef for a genesis fact
	Payload Payload
	Kind    Kind
	Epoch   uint64
	Time    Timestamp
}

// Sign encodes and signs a draft with the author's key and returns the
// canonical fact bytes and their CID.
func Sign(key ed25519.PrivateKey, d Draft) ([]byte, cid.Cid, error) {
	ki, ok := kinds[d.Kind]
	if !ok {
		return nil, cid.Undef, fmt.Errorf("%w: %v", ErrUnknownKind, d.Kind)
	}
	if reflect.TypeOf(d.Payload) != reflect.TypeOf(ki.new()) {
		return nil, cid.Undef, fmt.Errorf("facts: payload %T does not belong to kind %v", d.Payload, d.Kind)
	}
	if err := d.Payload.CheckPayload(d.Kind); err != nil {
		return nil, cid.Undef, err
	}
	payload, err := Marshal(d.Payload)
	if err != nil {
		return nil, cid.Undef, err
	}
	f := &Fact{
		Kind:    d.Kind,
		Payload: payload,
		Author:  AuthorityFromKey(key.Public().(ed25519.PublicKey)),
		Epoch:   d.Epoch,
		Time:    d.Time,
	}
	if d.Network.Defined() {
		f.Network = d.Network.Bytes()
	}
	msg, err := f.SigningBytes()
	if err != nil {
		return nil, cid.Undef, err
	}
	f.Sig = ed25519.Sign(key, msg)
	raw, err := Marshal(f)
	if err != nil {
		return nil, cid.Undef, err
	}
	return raw, ComputeID(raw), nil
}

// DecodePayload decodes and checks the payload of f for its kind.
func (f *Fact) DecodePayload() (Payload, error) {
	ki, ok := kinds[f.Kind]
	if !ok {
		return nil, fmt.Errorf("%w: %v", ErrUnknownKind, f.Kind)
	}
	p := ki.new()
	if err := UnmarshalCanonical(f.Payload, p); err != nil {
		return nil, fmt.Errorf("%w: %v payload: %w", ErrBadPayload, f.Kind, err)
	}
	if err := p.CheckPayload(f.Kind); err != nil {
		return nil, err
	}
	return p, nil
}

// Decode decodes canonical fact bytes, refusing anything longer than
// maxLen, non-canonical, of an unknown kind or with a bad payload. It does
// not verify the signature.
func Decode(raw []byte, maxLen int) (*Fact, Payload, error) {
	if maxLen <= 0 {
		maxLen = DefaultMaxFactLen
	}
	if len(raw) > maxLen {
		return nil, nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(raw), maxLen)
	}
	f := new(Fact)
	if err := UnmarshalCanonical(raw, f); err != nil {
		return nil, nil, err
	}
	if len(f.Sig) != ed25519.SignatureSize {
		return nil, nil, fmt.Errorf("%w: signature is %d bytes", ErrBadSignature, len(f.Sig))
	}
	p, err := f.DecodePayload()
	if err != nil {
		return nil, nil, err
	}
	return f, p, nil
}

// Errors the pipeline reports. Each verdict wraps one of them.
var (
	ErrTooLarge      = errors.New("facts: fact too large")
	ErrUnknownKind   = errors.New("facts: unknown fact kind")
	ErrWrongNetwork  = errors.New("facts: fact belongs to another network")
	ErrBadSignature  = errors.New("facts: bad signature")
	ErrFutureEpoch   = errors.New("facts: fact claims an epoch this journal has not reached")
	ErrNotMember     = errors.New("facts: author is not a roster member at the fact's epoch")
	ErrNotAdmin      = errors.New("facts: author is not the admin at the fact's epoch")
	ErrRetiredAdmin  = errors.New("facts: author is a replaced admin")
	ErrDuplicate     = errors.New("facts: fact already in the journal")
	ErrNoGenesis     = errors.New("facts: journal has no genesis")
	ErrBadGenesis    = errors.New("facts: genesis does not match this network")
	ErrBadTransition = errors.New("facts: invalid epoch transition")
	ErrBadSnapshot   = errors.New("facts: invalid snapshot fact")
	// ErrBelowSnapshot: the fact lies below the latest completed snapshot
	// (epoch <= E and time <= the snapshot's cut) and is not in the
	// journal: either the snapshot covers it (it was pruned) or it came
	// too late to be covered, in which case its author re-issues it.
	ErrBelowSnapshot = errors.New("facts: fact is below the latest snapshot")
	// ErrMissingProposal: a snapshot approval or completion names a
	// proposal this journal does not hold yet; hold it and retry.
	ErrMissingProposal = errors.New("facts: snapshot proposal not in the journal yet")
)
