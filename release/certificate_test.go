package release_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/release"
)

func TestVerifyCertificate(t *testing.T) {
	m := testManifest("alice", "aura-node", "1.0.0", "b1")
	decl := declare(t, "alice", m)
	other := testManifest("alice", "aura-node", "1.0.1", "b2")
	otherDecl := declare(t, "alice", other)

	good := certify(t, "builder1", decl.Release, m.Provenance, 1000)
	c, err := release.VerifyCertificate(good.Certificate, good.Signature, decl.Release, &m)
	if err != nil {
		t.Fatal(err)
	}
	if c.Builder != auth("builder1") || c.Release != decl.Release {
		t.Fatalf("certificate %+v", c)
	}
	var decoded release.BuildCertificate
	if err := facts.UnmarshalCanonical(good.Certificate, &decoded); err != nil {
		t.Fatal(err)
	}
	if again, _ := facts.Marshal(&decoded); !bytes.Equal(again, good.Certificate) {
		t.Fatal("decode then encode differs")
	}

	// Provenance differing from the manifest's, but bound to its ID.
	drifted := m.Provenance
	drifted.BuildRecipeHash[0] ^= 1
	overDrifted := certify(t, "builder1", decl.Release, drifted, 1000)
	// A certificate honestly made for the other release.
	forOther := certify(t, "builder1", otherDecl.Release, other.Provenance, 1000)
	// Tampered: re-encode with another timestamp, keep the signature.
	tampered := func() []byte {
		cc := *c
		cc.BuiltAtUnixMs++
		raw, _ := facts.Marshal(&cc)
		return raw
	}()
	// Claims builder1 but signed by mallory.
	forged := func() release.Certified {
		signed, err := release.SignCertificate(testKey("mallory"), release.BuildCertificate{Release: decl.Release, Provenance: m.Provenance})
		if err != nil {
			t.Fatal(err)
		}
		var cc release.BuildCertificate
		if err := facts.UnmarshalCanonical(signed.Certificate, &cc); err != nil {
			t.Fatal(err)
		}
		cc.Builder = auth("builder1")
		raw, _ := facts.Marshal(&cc)
		return release.Certified{Release: decl.Release, Certificate: raw, Signature: signed.Signature}
	}()

	for _, tc := range []struct {
		name     string
		raw, sig []byte
		forID    release.ID
		m        *release.Manifest
		want     error
	}{
		{"over different provenance", overDrifted.Certificate, overDrifted.Signature, decl.Release, &m, release.ErrProvenanceMismatch},
		{"for another release", forOther.Certificate, forOther.Signature, decl.Release, &m, release.ErrWrongRelease},
		{"presented with the other release's manifest", good.Certificate, good.Signature, decl.Release, &other, release.ErrWrongRelease},
		{"no manifest", good.Certificate, good.Signature, decl.Release, nil, release.ErrWrongRelease},
		{"tampered", tampered, good.Signature, decl.Release, &m, release.ErrBadSignature},
		{"forged builder", forged.Certificate, forged.Signature, decl.Release, &m, release.ErrBadSignature},
		{"manifest signature reused as certificate", decl.Manifest, decl.Signature, decl.Release, &m, facts.ErrMalformed},
		{"not canonical", append(bytes.Clone(good.Certificate), 0), good.Signature, decl.Release, &m, facts.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := release.VerifyCertificate(tc.raw, tc.sig, tc.forID, tc.m)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if c != nil {
				t.Fatal("a refused certificate was returned")
			}
		})
	}
}

func TestSignCertificateRefusesAnotherBuildersKey(t *testing.T) {
	m := testManifest("alice", "aura-node", "1.0.0", "b1")
	_, err := release.SignCertificate(testKey("mallory"), release.BuildCertificate{Release: m.ID(), Provenance: m.Provenance, Builder: auth("builder1")})
	if !errors.Is(err, release.ErrWrongKey) {
		t.Fatalf("err = %v, want ErrWrongKey", err)
	}
}
