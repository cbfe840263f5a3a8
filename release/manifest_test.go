package release_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/release"
)

func TestSignVerifyManifest(t *testing.T) {
	m := testManifest("alice", "aura-node", "1.2.3-rc.1+build.7", "b1")
	signed, id, err := release.SignManifest(testKey("alice"), m)
	if err != nil {
		t.Fatal(err)
	}
	if id != release.ComputeID(m.Series, m.Provenance) {
		t.Fatalf("SignManifest returned %s, ComputeID gives %s", id, release.ComputeID(m.Series, m.Provenance))
	}
	got, gotID, err := release.VerifyManifest(signed.Manifest, signed.Signature, id)
	if err != nil {
		t.Fatal(err)
	}
	if gotID != id || got.Version != m.Version || got.Author != auth("alice") {
		t.Fatalf("verified %+v %s", got, gotID)
	}
	again, err := release.EncodeManifest(*got)
	if err != nil || !bytes.Equal(again, signed.Manifest) {
		t.Fatalf("decode then encode differs: %v", err)
	}

	// The author is filled from the key when zero.
	m.Author = facts.AuthorityID{}
	if s2, _, err := release.SignManifest(testKey("alice"), m); err != nil || !bytes.Equal(s2.Manifest, signed.Manifest) {
		t.Fatalf("zero author not filled from key: %v", err)
	}
}

func TestSignManifestRefusesAnotherAuthorsKey(t *testing.T) {
	m := testManifest("alice", "aura-node", "1.0.0", "b1")
	if _, _, err := release.SignManifest(testKey("mallory"), m); !errors.Is(err, release.ErrWrongKey) {
		t.Fatalf("err = %v, want ErrWrongKey", err)
	}
}

func TestComputeIDCoversSeriesAndProvenance(t *testing.T) {
	arts := testArtifacts("b1")
	p := testProvenance("b1", arts)
	base := release.ComputeID("aura-node", p)
	other := p
	other.BuildRecipeHash[0] ^= 1
	for name, id := range map[string]release.ID{
		"series":     release.ComputeID("aura-node/edge", p),
		"provenance": release.ComputeID("aura-node", other),
	} {
		if id == base {
			t.Errorf("changing the %s kept the ID", name)
		}
	}
	if release.ComputeID("aura-node", p) != base {
		t.Error("ComputeID is not deterministic")
	}
	parsed, err := release.ParseID(base.String())
	if err != nil || parsed != base {
		t.Fatalf("ParseID(String) = %v, %v", parsed, err)
	}
}

// reencode decodes a signed manifest without checks, lets f change it and
// encodes it again, keeping the original signature.
func reencode(t *testing.T, raw []byte, f func(*release.Manifest)) []byte {
	t.Helper()
	var m release.Manifest
	if err := facts.UnmarshalCanonical(raw, &m); err != nil {
		t.Fatal(err)
	}
	f(&m)
	out, err := facts.Marshal(&m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVerifyManifestRefuses(t *testing.T) {
	m := testManifest("alice", "aura-node", "1.0.0", "b1")
	signed, id, err := release.SignManifest(testKey("alice"), m)
	if err != nil {
		t.Fatal(err)
	}
	// A validly signed manifest of a different release, for swapping.
	otherSigned, otherID, err := release.SignManifest(testKey("alice"), testManifest("alice", "aura-node", "1.0.1", "b2"))
	if err != nil {
		t.Fatal(err)
	}
	// Mallory signs alice's exact manifest bytes with her own key.
	mallorySig := ed25519.Sign(testKey("mallory"), signed.Manifest)

	// invalid changes one field of a valid manifest (re-deriving the
	// output hash) and encodes it unsigned, for the rule table below:
	// rules are checked before the signature.
	invalid := func(f func(*release.Manifest)) []byte {
		mm := testManifest("alice", "aura-node", "1.0.0", "b1")
		f(&mm)
		mm.Provenance.OutputHash = release.OutputHashOf(mm.Artifacts)
		raw, err := facts.Marshal(&mm)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	cidV1DagCBOR := func() []byte {
		c, _ := cid.Prefix{Version: 1, Codec: cid.DagCBOR, MhType: mh.SHA2_256, MhLength: -1}.Sum([]byte("x"))
		return c.Bytes()
	}()
	identityCID := func() []byte {
		c, _ := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: mh.IDENTITY, MhLength: -1}.Sum(bytes.Repeat([]byte("x"), 40))
		return c.Bytes()
	}()

	for _, tc := range []struct {
		name    string
		raw     []byte
		sig     []byte
		claimed release.ID
		want    error
	}{
		{"tampered version, original signature", reencode(t, signed.Manifest, func(m *release.Manifest) { m.Version = "9.9.9" }), signed.Signature, id, release.ErrBadSignature},
		{"tampered compatibility, original signature", reencode(t, signed.Manifest, func(m *release.Manifest) { m.Compatibility.Class = release.ScopedHardFork }), signed.Signature, id, release.ErrBadSignature},
		{"tampered artifact size and output hash", reencode(t, signed.Manifest, func(m *release.Manifest) {
			m.Artifacts[0].Size++
			m.Provenance.OutputHash = release.OutputHashOf(m.Artifacts)
		}), signed.Signature, id, release.ErrIDMismatch},
		{"author swapped to mallory", reencode(t, signed.Manifest, func(m *release.Manifest) { m.Author = auth("mallory") }), signed.Signature, id, release.ErrBadSignature},
		{"signature by another key", signed.Manifest, mallorySig, id, release.ErrBadSignature},
		{"short signature", signed.Manifest, signed.Signature[:63], id, release.ErrBadSignature},
		{"ID of another release", signed.Manifest, signed.Signature, otherID, release.ErrIDMismatch},
		{"manifest of another release under this ID", otherSigned.Manifest, otherSigned.Signature, id, release.ErrIDMismatch},
		{"trailing byte", append(bytes.Clone(signed.Manifest), 0), signed.Signature, id, facts.ErrMalformed},
		{"too large", make([]byte, release.MaxManifestLen+1), signed.Signature, id, release.ErrTooLarge},
		{"not semver", invalid(func(m *release.Manifest) { m.Version = "v1.0.0" }), nil, id, release.ErrInvalidManifest},
		{"semver leading zero", invalid(func(m *release.Manifest) { m.Version = "1.02.0" }), nil, id, release.ErrInvalidManifest},
		{"no artifacts", invalid(func(m *release.Manifest) { m.Artifacts = nil }), nil, id, release.ErrInvalidManifest},
		{"zero size", invalid(func(m *release.Manifest) { m.Artifacts[1].Size = 0 }), nil, id, release.ErrInvalidManifest},
		{"root not a CID", invalid(func(m *release.Manifest) { m.Artifacts[0].Root = []byte("not a cid") }), nil, id, release.ErrInvalidManifest},
		{"root dag-cbor", invalid(func(m *release.Manifest) { m.Artifacts[0].Root = cidV1DagCBOR }), nil, id, release.ErrInvalidManifest},
		{"root identity hash", invalid(func(m *release.Manifest) { m.Artifacts[0].Root = identityCID }), nil, id, release.ErrInvalidManifest},
		{"artifacts unsorted", invalid(func(m *release.Manifest) { m.Artifacts[0], m.Artifacts[1] = m.Artifacts[1], m.Artifacts[0] }), nil, id, release.ErrInvalidManifest},
		{"artifact name with slash", invalid(func(m *release.Manifest) { m.Artifacts[0].Name = "../aura-node" }), nil, id, release.ErrInvalidManifest},
		{"output hash not over artifacts", reencode(t, signed.Manifest, func(m *release.Manifest) { m.Provenance.OutputHash[0] ^= 1 }), signed.Signature, id, release.ErrInvalidManifest},
		{"unknown class", invalid(func(m *release.Manifest) { m.Compatibility.Class = 9 }), nil, id, release.ErrInvalidManifest},
		{"gates unsorted", invalid(func(m *release.Manifest) { m.Activation.HealthGates = []string{"readyz", "healthz"} }), nil, id, release.ErrInvalidManifest},
		{"migration chain broken", invalid(func(m *release.Manifest) { m.Migrations[1].From = 5; m.Migrations[1].To = 6 }), nil, id, release.ErrInvalidManifest},
		{"migration backwards", invalid(func(m *release.Manifest) { m.Migrations = []release.Migration{{From: 2, To: 1, Name: "x"}} }), nil, id, release.ErrInvalidManifest},
		{"source URL scheme", invalid(func(m *release.Manifest) { m.Provenance.SourceRepo = "file:///src" }), nil, id, release.ErrInvalidManifest},
		{"no author", invalid(func(m *release.Manifest) { m.Author = facts.AuthorityID{} }), nil, id, release.ErrInvalidManifest},
		{"series with dot-dot", invalid(func(m *release.Manifest) { m.Series = "aura/../x" }), nil, id, release.ErrInvalidManifest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _, err := release.VerifyManifest(tc.raw, tc.sig, tc.claimed)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if m != nil {
				t.Fatal("a refused manifest was returned")
			}
		})
	}
}

func TestNonCanonicalManifestRefused(t *testing.T) {
	// A map with the same content but keys out of order (2 before 1)
	// decodes to the same value and must still be refused.
	signed, id, err := release.SignManifest(testKey("alice"), testManifest("alice", "aura-node", "1.0.0", "b1"))
	if err != nil {
		t.Fatal(err)
	}
	raw := signed.Manifest
	if raw[0] != 0xa9 { // map of 9 pairs
		t.Fatalf("unexpected header %x", raw[0])
	}
	// Swap the series pair (01 ...) with the version pair (02 ...).
	seriesEnd := bytes.Index(raw, []byte{0x02, 0x65, '1', '.', '0', '.', '0'})
	versionEnd := seriesEnd + 7
	swapped := append([]byte{raw[0]}, raw[seriesEnd:versionEnd]...)
	swapped = append(swapped, raw[1:seriesEnd]...)
	swapped = append(swapped, raw[versionEnd:]...)
	if _, _, err := release.VerifyManifest(swapped, signed.Signature, id); !errors.Is(err, facts.ErrNotCanonical) {
		t.Fatalf("err = %v, want ErrNotCanonical", err)
	}
}

func TestParseRoot(t *testing.T) {
	v0, _ := cid.Prefix{Version: 0, Codec: cid.DagProtobuf, MhType: mh.SHA2_256, MhLength: -1}.Sum([]byte("x"))
	b3, _ := cid.Prefix{Version: 1, Codec: cid.DagProtobuf, MhType: mh.BLAKE3, MhLength: 32}.Sum([]byte("x"))
	for _, ok := range [][]byte{testRoot("a"), v0.Bytes(), b3.Bytes()} {
		if _, err := release.ParseRoot(ok); err != nil {
			t.Errorf("ParseRoot(%x): %v", ok, err)
		}
	}
	short, _ := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: mh.SHA2_256, MhLength: 16}.Sum([]byte("x"))
	for _, bad := range [][]byte{nil, {0x01}, append(testRoot("a"), 0), short.Bytes()} {
		if _, err := release.ParseRoot(bad); err == nil {
			t.Errorf("ParseRoot(%x) accepted", bad)
		}
	}
}

func TestCompatibilityClass(t *testing.T) {
	for _, c := range []release.CompatibilityClass{release.BackwardCompatible, release.MixedCoexistenceAllowed, release.ScopedHardFork, release.IncompatibleWithoutPartition} {
		got, err := release.ParseCompatibilityClass(strings.ToLower(c.String()))
		if err != nil || got != c {
			t.Errorf("ParseCompatibilityClass(%s) = %v, %v", c, got, err)
		}
		if c.HardFork() != (c >= release.ScopedHardFork) {
			t.Errorf("%s.HardFork() = %v", c, c.HardFork())
		}
	}
	if _, err := release.ParseCompatibilityClass("sideways"); err == nil {
		t.Error("unknown class accepted")
	}
}

// Users write a class as the type names it or in kebab case, as
// `release create --class` always took it; one parser reads both, and
// its error lists the valid names.
func TestParseCompatibilityClassForms(t *testing.T) {
	for _, c := range []struct {
		in   string
		want release.CompatibilityClass
	}{
		{"BackwardCompatible", release.BackwardCompatible},
		{"backward-compatible", release.BackwardCompatible},
		{"Mixed-Coexistence-Allowed", release.MixedCoexistenceAllowed},
		{"mixedcoexistenceallowed", release.MixedCoexistenceAllowed},
		{"scoped-hard-fork", release.ScopedHardFork},
		{"ScopedHardFork", release.ScopedHardFork},
		{"incompatible-without-partition", release.IncompatibleWithoutPartition},
		{"INCOMPATIBLEWITHOUTPARTITION", release.IncompatibleWithoutPartition},
	} {
		got, err := release.ParseCompatibilityClass(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseCompatibilityClass(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for c, flag := range map[release.CompatibilityClass]string{
		release.BackwardCompatible: "backward-compatible", release.MixedCoexistenceAllowed: "mixed-coexistence-allowed",
		release.ScopedHardFork: "scoped-hard-fork", release.IncompatibleWithoutPartition: "incompatible-without-partition",
	} {
		if c.Flag() != flag {
			t.Errorf("%v.Flag() = %q, want %q", c, c.Flag(), flag)
		}
	}
	for _, bad := range []string{"", "sideways", "backward_compatible", "backward--compatible", "-backward-compatible", "hard"} {
		_, err := release.ParseCompatibilityClass(bad)
		if !errors.Is(err, release.ErrUnknownClass) {
			t.Errorf("ParseCompatibilityClass(%q) accepted", bad)
			continue
		}
		for _, name := range []string{"backward-compatible", "mixed-coexistence-allowed", "scoped-hard-fork", "incompatible-without-partition", "BackwardCompatible", "IncompatibleWithoutPartition"} {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("ParseCompatibilityClass(%q): error %q does not list %s", bad, err, name)
			}
		}
	}
}
