package facts

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// The one canonical codec: RFC 8949 core deterministic encoding (sorted map
// keys, shortest integers, definite lengths) and a strict decoder (no
// duplicate keys, no indefinite lengths, no tags, no unknown fields, valid
// UTF-8, bounded nesting and lengths). Decoding then re-encoding must give
// the input bytes, or the input is rejected.
var (
	encMode = mustEncMode()
	decMode = mustDecMode(1 << 16)
	// bulkDecMode decodes the bulk documents (snapshot blobs, backup
	// journals) whose lists hold one element per state entry or fact;
	// their size is bounded by the byte limits of whoever reads them.
	bulkDecMode = mustDecMode(1<<31 - 1)
)

func mustEncMode() cbor.EncMode {
	m, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err) // static options: cannot fail
	}
	return m
}

func mustDecMode(maxArray int) cbor.DecMode {
	m, err := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   16,
		MaxArrayElements:  maxArray,
		MaxMapPairs:       1 << 10,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err) // static options: cannot fail
	}
	return m
}

// ErrNotCanonical reports bytes that do not re-encode to themselves.
var ErrNotCanonical = errors.New("facts: encoding is not canonical")

// ErrMalformed reports bytes that are not a well-formed value.
var ErrMalformed = errors.New("facts: malformed CBOR")

// Marshal encodes v in the canonical form.
func Marshal(v any) ([]byte, error) { return encMode.Marshal(v) }

// UnmarshalCanonical decodes data into v and rejects it unless re-encoding v
// gives exactly data.
func UnmarshalCanonical(data []byte, v any) error { return unmarshalCanonical(decMode, data, v) }

// UnmarshalBulk is UnmarshalCanonical for the bulk documents (snapshot
// blobs, backup journals): lists may exceed the 65536 elements a fact
// may hold. Callers bound the input's size.
func UnmarshalBulk(data []byte, v any) error { return unmarshalCanonical(bulkDecMode, data, v) }

func unmarshalCanonical(dm cbor.DecMode, data []byte, v any) error {
	if err := dm.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	again, err := encMode.Marshal(v)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if !bytes.Equal(again, data) {
		return ErrNotCanonical
	}
	return nil
}

// cidPrefix is the CID of a fact: CIDv1, dag-cbor, sha2-256.
var cidPrefix = cid.Prefix{Version: 1, Codec: cid.DagCBOR, MhType: mh.SHA2_256, MhLength: 32}

// ComputeID returns the CID of canonical bytes.
func ComputeID(raw []byte) cid.Cid {
	c, err := cidPrefix.Sum(raw)
	if err != nil {
		panic(fmt.Sprintf("facts: sha2-256 CID: %v", err)) // sha2-256 never fails
	}
	return c
}

func parseCIDBytes(b []byte) (cid.Cid, error) {
	if len(b) == 0 {
		return cid.Undef, errors.New("empty")
	}
	n, c, err := cid.CidFromBytes(b)
	if err != nil {
		return cid.Undef, err
	}
	if n != len(b) {
		return cid.Undef, errors.New("trailing bytes after CID")
	}
	return c, nil
}
