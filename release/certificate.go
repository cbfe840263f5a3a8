package release

import (
	"crypto/ed25519"
	"fmt"
	"maps"
	"slices"

	"github.com/aura-node/aura-node/facts"
)

// MaxCertificateLen bounds an encoded build certificate; it travels inside
// a BuildCertified fact, whose blob limit it shares.
const MaxCertificateLen = facts.MaxBlobLen

// BuildCertificate is a builder authority's statement "I built this
// provenance and got its outputs", bound to one release. Several
// independent builders can be required before a node fetches artifacts.
type BuildCertificate struct {
	// Release is the release the certificate is for; it must be
	// ComputeID(manifest.Series, Provenance).
	Release ID `cbor:"1,keyasint"`
	// Provenance is what the builder built; it must equal the manifest's.
	Provenance Provenance `cbor:"2,keyasint"`
	// Builder is the builder authority that signs the certificate.
	Builder facts.AuthorityID `cbor:"3,keyasint"`
	// BuiltAtUnixMs is when the builder finished, by its own clock
	// (informational; the catalogue keeps each builder's earliest).
	BuiltAtUnixMs uint64 `cbor:"4,keyasint"`
}

// Validate checks the rules that need nothing but the certificate.
func (c *BuildCertificate) Validate() error {
	if c.Release.IsZero() {
		return wrapf(ErrInvalidCertificate, "no release ID")
	}
	if c.Builder.IsZero() {
		return wrapf(ErrInvalidCertificate, "no builder")
	}
	if err := c.Provenance.check(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidCertificate, err)
	}
	return nil
}

// SignedCertificate is a certificate's canonical bytes with the builder's
// signature: what a BuildCertified fact carries.
type SignedCertificate struct {
	Certificate []byte `cbor:"1,keyasint"`
	Signature   []byte `cbor:"2,keyasint"`
}

// DecodeCertificate decodes canonical certificate bytes and validates
// them. It checks no signature and no binding: VerifyCertificate does.
func DecodeCertificate(raw []byte) (*BuildCertificate, error) {
	if len(raw) > MaxCertificateLen {
		return nil, wrapf(ErrTooLarge, "certificate is %d bytes, limit %d", len(raw), MaxCertificateLen)
	}
	c := new(BuildCertificate)
	if err := facts.UnmarshalCanonical(raw, c); err != nil {
		return nil, fmt.Errorf("release: certificate: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// SignCertificate signs c with the builder's key. c.Builder is set from
// the key when zero and must otherwise be the key's authority
// (ErrWrongKey).
func SignCertificate(key ed25519.PrivateKey, c BuildCertificate) (SignedCertificate, error) {
	if len(key) != ed25519.PrivateKeySize {
		return SignedCertificate{}, wrapf(ErrWrongKey, "private key is %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	signer := facts.AuthorityFromKey(key.Public().(ed25519.PublicKey))
	if c.Builder.IsZero() {
		c.Builder = signer
	}
	if c.Builder != signer {
		return SignedCertificate{}, wrapf(ErrWrongKey, "certificate builder %s, key %s", c.Builder, signer)
	}
	if err := c.Validate(); err != nil {
		return SignedCertificate{}, err
	}
	raw, err := facts.Marshal(&c)
	if err != nil {
		return SignedCertificate{}, fmt.Errorf("release: encode certificate: %w", err)
	}
	return SignedCertificate{Certificate: raw, Signature: ed25519.Sign(key, signingBytes(certificateSigDomain, raw))}, nil
}

// checkCertificate runs the checks that need no manifest: canonical
// bytes, rules, the builder's signature, and the binding to forRelease.
func checkCertificate(raw, sig []byte, forRelease ID) (*BuildCertificate, error) {
	c, err := DecodeCertificate(raw)
	if err != nil {
		return nil, err
	}
	if !verifySig(c.Builder, certificateSigDomain, raw, sig) {
		return nil, wrapf(ErrBadSignature, "certificate does not verify under its builder %s", c.Builder)
	}
	if c.Release != forRelease {
		return nil, wrapf(ErrWrongRelease, "certificate by %s is for release %s, presented for %s", c.Builder, c.Release.Short(), forRelease.Short())
	}
	return c, nil
}

// matchManifest checks a certificate against the release's manifest.
func (c *BuildCertificate) matchManifest(m *Manifest) error {
	if id := m.ID(); id != c.Release {
		return wrapf(ErrWrongRelease, "certificate is for release %s, manifest is release %s", c.Release.Short(), id.Short())
	}
	if c.Provenance != m.Provenance {
		return wrapf(ErrProvenanceMismatch, "certificate by %s for release %s", c.Builder, c.Release.Short())
	}
	return nil
}

// VerifyCertificate is the one check every node runs on a build
// certificate presented for release forRelease, whose manifest is m:
//
//  1. the bytes are within MaxCertificateLen, canonical and valid;
//  2. the signature verifies under the certificate's own Builder
//     (ErrBadSignature);
//  3. the certificate names forRelease, and m is that release
//     (ErrWrongRelease);
//  4. the certificate's provenance is the manifest's (ErrProvenanceMismatch).
func VerifyCertificate(raw, sig []byte, forRelease ID, m *Manifest) (*BuildCertificate, error) {
	if m == nil {
		return nil, wrapf(ErrWrongRelease, "no manifest for release %s", forRelease.Short())
	}
	c, err := checkCertificate(raw, sig, forRelease)
	if err != nil {
		return nil, err
	}
	if err := c.matchManifest(m); err != nil {
		return nil, err
	}
	return c, nil
}

// CompareOutputs checks a builder's rebuilt outputs against the artifacts
// a manifest commits to, before the builder certifies it. rebuilt lists
// the files the builder produced, each with the name it has in the
// manifest, its size and its UnixFS root; every manifest artifact must be
// there with the same size and root, and no other. On success the output
// hash of the manifest's artifacts with the rebuilt roots and sizes equals
// the provenance's. Mismatches wrap ErrOutputMismatch and name the
// artifact.
func CompareOutputs(m *Manifest, rebuilt []Artifact) error {
	got := map[string]Artifact{}
	for _, a := range rebuilt {
		if _, dup := got[a.Name]; dup {
			return wrapf(ErrOutputMismatch, "artifact %q rebuilt twice", a.Name)
		}
		got[a.Name] = a
	}
	outs := make([]Artifact, 0, len(m.Artifacts))
	for _, want := range m.Artifacts {
		a, ok := got[want.Name]
		if !ok {
			return wrapf(ErrOutputMismatch, "artifact %q of the manifest was not rebuilt", want.Name)
		}
		delete(got, want.Name)
		if a.Size != want.Size {
			return wrapf(ErrOutputMismatch, "artifact %q: rebuilt file is %d bytes, the manifest says %d", want.Name, a.Size, want.Size)
		}
		if string(a.Root) != string(want.Root) {
			return wrapf(ErrOutputMismatch, "artifact %q: rebuilt root %s, the manifest says %s", want.Name, rootText(a.Root), rootText(want.Root))
		}
		out := want
		out.Size, out.Root = a.Size, a.Root
		outs = append(outs, out)
	}
	if extra := slices.Sorted(maps.Keys(got)); len(extra) > 0 {
		return wrapf(ErrOutputMismatch, "rebuilt artifact %q is not in the manifest", extra[0])
	}
	if OutputHashOf(outs) != m.Provenance.OutputHash {
		return wrapf(ErrOutputMismatch, "output hash of the rebuilt artifacts differs from the provenance's")
	}
	return nil
}

func rootText(b []byte) string {
	if c, err := ParseRoot(b); err == nil {
		return c.String()
	}
	return fmt.Sprintf("%x", b)
}
