package snapshot

import (
	"bytes"
	"testing"
)

// The decoders accept exactly the canonical encodings: whatever parses
// re-encodes to the same bytes, and nothing panics.

func FuzzParsePublicKey(f *testing.F) {
	_, pubs := testKeys(2)
	for _, pk := range pubs {
		b, _ := pk.MarshalBinary()
		f.Add(b)
	}
	f.Add(make([]byte, PublicKeySize))
	f.Add(bytes.Repeat([]byte{0xff}, PublicKeySize))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		pk, err := ParsePublicKey(b)
		if err != nil {
			return
		}
		enc, err := pk.MarshalBinary()
		if err != nil || !bytes.Equal(enc, b) {
			t.Fatalf("parsed %x re-encodes to %x (%v)", b, enc, err)
		}
	})
}

func FuzzParseSignature(f *testing.F) {
	privs, _ := testKeys(2)
	for _, k := range privs {
		f.Add(Sign(k, []byte("fuzz")))
	}
	f.Add(make([]byte, SignatureSize))
	f.Add(bytes.Repeat([]byte{0xff}, SignatureSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseSignature(b)
		if (err == nil) != (CheckSignature(b) == nil) {
			t.Fatal("parseSignature and CheckSignature disagree")
		}
		if err != nil {
			return
		}
		enc, err := p.MarshalBinary()
		if err != nil || !bytes.Equal(enc, b) {
			t.Fatalf("parsed %x re-encodes to %x (%v)", b, enc, err)
		}
	})
}

func FuzzParsePrivateKey(f *testing.F) {
	privs, _ := testKeys(1)
	b, _ := privs[0].MarshalBinary()
	f.Add(b)
	f.Add(make([]byte, PrivateKeySize))
	f.Add(bytes.Repeat([]byte{0xff}, PrivateKeySize))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParsePrivateKey(b)
		if err != nil {
			return
		}
		enc, err := k.MarshalBinary()
		if err != nil || !bytes.Equal(enc, b) {
			t.Fatalf("parsed %x re-encodes to %x (%v)", b, enc, err)
		}
	})
}
