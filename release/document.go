package release

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/aura-node/aura-node/facts"
)

// ManifestDocument is the readable JSON form of a Manifest: what
// `release create` writes for a person to review before signing. Hashes
// are hex, roots are CID strings, the class is its name. It is only a
// document: SignManifest signs the canonical CBOR of the Manifest it
// converts to, and every node verifies those bytes.
type ManifestDocument struct {
	Series        string                `json:"series"`
	Version       string                `json:"version"`
	Provenance    ProvenanceDocument    `json:"provenance"`
	Artifacts     []ArtifactDocument    `json:"artifacts"`
	Compatibility CompatibilityDocument `json:"compatibility"`
	Activation    ActivationDocument    `json:"activation"`
	Migrations    []Migration           `json:"migrations,omitempty"`
	// SuggestedActivationTimeUnixMs is a hint only (see Manifest).
	SuggestedActivationTimeUnixMs *uint64 `json:"suggested_activation_time_unix_ms,omitempty"`
	// Author is the release authority; empty in an unsigned document
	// (signing fills it in from the key).
	Author string `json:"author,omitempty"`
}

// ProvenanceDocument is Provenance with hex hashes.
type ProvenanceDocument struct {
	SourceRepo       string `json:"source_repo"`
	SourceBundleHash string `json:"source_bundle_hash"`
	BuildRecipeHash  string `json:"build_recipe_hash"`
	OutputHash       string `json:"output_hash"`
}

// ArtifactDocument is Artifact with its root as a CID string.
type ArtifactDocument struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	Platform  string `json:"platform,omitempty"`
	Packaging string `json:"packaging"`
	Size      uint64 `json:"size"`
	Root      string `json:"root"`
}

// CompatibilityDocument is Compatibility with the class by name.
type CompatibilityDocument struct {
	Class                string `json:"class"`
	MinimumLegacyRelease string `json:"minimum_legacy_release,omitempty"`
}

// ActivationDocument is the ActivationProfile.
type ActivationDocument struct {
	ThresholdApprovalRequired bool     `json:"threshold_approval_required"`
	EpochFenceRequired        bool     `json:"epoch_fence_required"`
	HealthGates               []string `json:"health_gates,omitempty"`
}

// Document returns the readable form of m.
func (m *Manifest) Document() ManifestDocument {
	d := ManifestDocument{
		Series:  m.Series,
		Version: m.Version,
		Provenance: ProvenanceDocument{
			SourceRepo:       m.Provenance.SourceRepo,
			SourceBundleHash: hex.EncodeToString(m.Provenance.SourceBundleHash[:]),
			BuildRecipeHash:  hex.EncodeToString(m.Provenance.BuildRecipeHash[:]),
			OutputHash:       hex.EncodeToString(m.Provenance.OutputHash[:]),
		},
		Artifacts:     []ArtifactDocument{},
		Compatibility: CompatibilityDocument{Class: m.Compatibility.Class.String()},
		Activation: ActivationDocument{
			ThresholdApprovalRequired: m.Activation.ThresholdApprovalRequired,
			EpochFenceRequired:        m.Activation.EpochFenceRequired,
			HealthGates:               append([]string(nil), m.Activation.HealthGates...),
		},
		Migrations: append([]Migration(nil), m.Migrations...),
	}
	for _, a := range m.Artifacts {
		d.Artifacts = append(d.Artifacts, ArtifactDocument{Name: a.Name, Kind: a.Kind, Platform: a.Platform, Packaging: a.Packaging, Size: a.Size, Root: rootText(a.Root)})
	}
	if mlr := m.Compatibility.MinimumLegacyRelease; mlr != nil {
		d.Compatibility.MinimumLegacyRelease = mlr.String()
	}
	if t := m.SuggestedActivationTimeUnixMs; t != nil {
		v := *t
		d.SuggestedActivationTimeUnixMs = &v
	}
	if !m.Author.IsZero() {
		d.Author = m.Author.String()
	}
	return d
}

// Manifest converts the document back. It parses every field (hex
// hashes, CIDs, class name, author) and reports the first one that does
// not parse, wrapping ErrInvalidDocument; it does not apply the manifest
// rules (call Validate or ValidateUnsigned).
func (d *ManifestDocument) Manifest() (Manifest, error) {
	m := Manifest{
		Series:     d.Series,
		Version:    d.Version,
		Migrations: append([]Migration(nil), d.Migrations...),
		Activation: ActivationProfile{
			ThresholdApprovalRequired: d.Activation.ThresholdApprovalRequired,
			EpochFenceRequired:        d.Activation.EpochFenceRequired,
			HealthGates:               append([]string(nil), d.Activation.HealthGates...),
		},
	}
	m.Provenance.SourceRepo = d.Provenance.SourceRepo
	for _, h := range []struct {
		field string
		text  string
		out   *[32]byte
	}{
		{"provenance.source_bundle_hash", d.Provenance.SourceBundleHash, &m.Provenance.SourceBundleHash},
		{"provenance.build_recipe_hash", d.Provenance.BuildRecipeHash, &m.Provenance.BuildRecipeHash},
		{"provenance.output_hash", d.Provenance.OutputHash, &m.Provenance.OutputHash},
	} {
		b, err := ParseHash(h.text)
		if err != nil {
			return Manifest{}, fmt.Errorf("%w: %s: %w", ErrInvalidDocument, h.field, err)
		}
		*h.out = b
	}
	for _, a := range d.Artifacts {
		c, err := cid.Decode(a.Root)
		if err != nil {
			return Manifest{}, fmt.Errorf("%w: artifact %q: root %q is not a CID: %v", ErrInvalidDocument, a.Name, a.Root, err)
		}
		m.Artifacts = append(m.Artifacts, Artifact{Name: a.Name, Kind: a.Kind, Platform: a.Platform, Packaging: a.Packaging, Size: a.Size, Root: c.Bytes()})
	}
	class, err := ParseCompatibilityClass(d.Compatibility.Class)
	if err != nil {
		return Manifest{}, fmt.Errorf("%w: compatibility.class: %w", ErrInvalidDocument, err)
	}
	m.Compatibility.Class = class
	if s := d.Compatibility.MinimumLegacyRelease; s != "" {
		id, err := ParseID(s)
		if err != nil {
			return Manifest{}, fmt.Errorf("%w: compatibility.minimum_legacy_release: %w", ErrInvalidDocument, err)
		}
		m.Compatibility.MinimumLegacyRelease = &id
	}
	if t := d.SuggestedActivationTimeUnixMs; t != nil {
		v := *t
		m.SuggestedActivationTimeUnixMs = &v
	}
	if d.Author != "" {
		a, err := facts.ParseAuthorityID(d.Author)
		if err != nil {
			return Manifest{}, fmt.Errorf("%w: author: %w", ErrInvalidDocument, err)
		}
		m.Author = a
	}
	return m, nil
}

// ParseHash parses 64 hex digits (a sha2-256 digest), as `release create
// --source-hash` and the documents write them.
func ParseHash(s string) ([32]byte, error) {
	var h [32]byte
	s = strings.TrimSpace(s)
	if len(s) != 64 {
		return h, fmt.Errorf("%q is %d characters, want 64 hex digits (a sha2-256 digest, as sha256sum prints it)", s, len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return [32]byte{}, fmt.Errorf("%q is not hex: %w", s, err)
	}
	return h, nil
}

// DecodeManifestDocument reads a JSON manifest document strictly (unknown
// fields refused) and converts it.
func DecodeManifestDocument(raw []byte) (Manifest, error) {
	if len(raw) > 4*MaxManifestLen {
		return Manifest{}, wrapf(ErrTooLarge, "manifest document is %d bytes, limit %d", len(raw), 4*MaxManifestLen)
	}
	var d ManifestDocument
	if err := strictJSON(raw, &d); err != nil {
		return Manifest{}, fmt.Errorf("%w: %w", ErrInvalidDocument, err)
	}
	return d.Manifest()
}

func strictJSON(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the JSON document")
	}
	return nil
}

// SignedDocument is what `release sign` writes and `release publish`
// reads: the canonical manifest bytes and the signature that travel in a
// ReleaseDeclared fact, the release ID they claim, and a readable copy of
// the manifest for people. Verification uses the bytes; a readable copy
// that differs from them is refused, so the file cannot say one thing and
// sign another.
type SignedDocument struct {
	ReleaseID ID     `json:"release_id"`
	Manifest  []byte `json:"manifest"`
	Signature []byte `json:"signature"`
	// Document is the readable copy of Manifest (optional).
	Document *ManifestDocument `json:"document,omitempty"`
}

// NewSignedDocument makes the file form of a signed manifest.
func NewSignedDocument(s SignedManifest, id ID) (SignedDocument, error) {
	m, err := DecodeManifest(s.Manifest)
	if err != nil {
		return SignedDocument{}, err
	}
	d := m.Document()
	return SignedDocument{ReleaseID: id, Manifest: s.Manifest, Signature: s.Signature, Document: &d}, nil
}

// DecodeSignedDocument reads a signed-manifest file and verifies it:
// VerifyManifest on the bytes (canonical, valid, release ID, author's
// signature), then the readable copy, if present, must be exactly the
// signed manifest's.
func DecodeSignedDocument(raw []byte) (*Manifest, SignedDocument, error) {
	var sd SignedDocument
	if len(raw) > 8*MaxManifestLen {
		return nil, sd, wrapf(ErrTooLarge, "signed manifest file is %d bytes, limit %d", len(raw), 8*MaxManifestLen)
	}
	if err := strictJSON(raw, &sd); err != nil {
		return nil, sd, fmt.Errorf("%w: %w", ErrInvalidDocument, err)
	}
	m, _, err := VerifyManifest(sd.Manifest, sd.Signature, sd.ReleaseID)
	if err != nil {
		return nil, sd, err
	}
	if sd.Document != nil {
		want, _ := json.Marshal(m.Document())
		got, err := json.Marshal(sd.Document)
		if err != nil || !bytes.Equal(want, got) {
			return nil, sd, wrapf(ErrInvalidDocument, "the readable copy (\"document\") differs from the signed manifest bytes: the file was edited after signing")
		}
	}
	return m, sd, nil
}
