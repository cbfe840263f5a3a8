package release_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/release"
)

// A manifest survives the readable document, and the document of an
// unsigned manifest passes ValidateUnsigned but not Validate.
func TestManifestDocumentRoundTrip(t *testing.T) {
	m := testManifest("alice", "aura-node", "1.0.0", "b1")
	min := declare(t, "alice", testManifest("alice", "aura-node", "0.9.0", "b0")).Release
	m.Compatibility.MinimumLegacyRelease = &min
	raw, err := json.Marshal(m.Document())
	if err != nil {
		t.Fatal(err)
	}
	back, err := release.DecodeManifestDocument(raw)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := release.EncodeManifest(m)
	b, err := release.EncodeManifest(back)
	if err != nil || string(a) != string(b) {
		t.Fatalf("round trip changed the manifest: %v", err)
	}

	unsigned := m
	unsigned.Author = facts.AuthorityID{}
	if err := unsigned.ValidateUnsigned(); err != nil {
		t.Fatal(err)
	}
	if err := unsigned.Validate(); !errors.Is(err, release.ErrInvalidManifest) {
		t.Fatalf("Validate of an unsigned manifest: %v", err)
	}

	for _, bad := range []struct{ edit, want string }{
		{`"output_hash": "zz"`, "provenance.output_hash"},
		{`"class": "Sideways"`, "unknown compatibility class"},
		{`"root": "not-a-cid"`, "is not a CID"},
		{`"unknown_field": 1`, "unknown field"},
	} {
		d := m.Document()
		raw, _ := json.Marshal(d)
		s := string(raw)
		switch {
		case strings.HasPrefix(bad.edit, `"output_hash"`):
			s = strings.Replace(s, `"output_hash":"`+d.Provenance.OutputHash+`"`, `"output_hash":"zz"`, 1)
		case strings.HasPrefix(bad.edit, `"class"`):
			s = strings.Replace(s, `"class":"BackwardCompatible"`, `"class":"Sideways"`, 1)
		case strings.HasPrefix(bad.edit, `"root"`):
			s = strings.Replace(s, `"root":"`+d.Artifacts[0].Root+`"`, `"root":"not-a-cid"`, 1)
		default:
			s = strings.Replace(s, `{`, `{"unknown_field":1,`, 1)
		}
		_, err := release.DecodeManifestDocument([]byte(s))
		if !errors.Is(err, release.ErrInvalidDocument) || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want ErrInvalidDocument mentioning %q", bad.edit, err, bad.want)
		}
	}
}

// A signed document verifies; editing its readable copy, its bytes, its
// signature or its release ID is refused with the reason.
func TestSignedDocument(t *testing.T) {
	m := testManifest("alice", "aura-node", "1.0.0", "b1")
	signed, id, err := release.SignManifest(testKey("alice"), m)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := release.NewSignedDocument(signed, id)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := json.Marshal(sd)
	got, back, err := release.DecodeSignedDocument(good)
	if err != nil || got.ID() != id || back.ReleaseID != id {
		t.Fatalf("good document: %v", err)
	}

	edit := func(f func(*release.SignedDocument)) []byte {
		c := sd
		c.Manifest = append([]byte(nil), sd.Manifest...)
		c.Signature = append([]byte(nil), sd.Signature...)
		d := *sd.Document
		c.Document = &d
		f(&c)
		raw, _ := json.Marshal(c)
		return raw
	}
	other := declare(t, "alice", testManifest("alice", "aura-node", "1.1.0", "b2"))
	for _, tc := range []struct {
		name string
		raw  []byte
		want error
	}{
		{"readable copy edited", edit(func(c *release.SignedDocument) { c.Document.Version = "9.9.9" }), release.ErrInvalidDocument},
		{"manifest bytes tampered", edit(func(c *release.SignedDocument) { c.Manifest[len(c.Manifest)-1] ^= 1 }), release.ErrBadSignature},
		{"signature tampered", edit(func(c *release.SignedDocument) { c.Signature[0] ^= 1 }), release.ErrBadSignature},
		{"release ID of another release", edit(func(c *release.SignedDocument) { c.ReleaseID = other.Release }), release.ErrIDMismatch},
		{"not JSON", []byte("{"), release.ErrInvalidDocument},
	} {
		if _, _, err := release.DecodeSignedDocument(tc.raw); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// CheckRecord refuses, with no other record, a certificate presented for
// another release and a tampered manifest, and accepts good records.
func TestCheckRecord(t *testing.T) {
	m := testManifest("alice", "aura-node", "1.0.0", "b1")
	decl := declare(t, "alice", m)
	other := declare(t, "alice", testManifest("alice", "aura-node", "1.1.0", "b2"))
	cert := certify(t, "builder1", decl.Release, m.Provenance, 1)
	if err := release.CheckRecord(decl); err != nil {
		t.Fatal(err)
	}
	if err := release.CheckRecord(cert); err != nil {
		t.Fatal(err)
	}
	moved := cert
	moved.Release = other.Release
	if err := release.CheckRecord(moved); !errors.Is(err, release.ErrWrongRelease) {
		t.Fatalf("certificate for another release: %v", err)
	}
	tampered := decl
	tampered.Manifest = append([]byte(nil), decl.Manifest...)
	tampered.Manifest[len(tampered.Manifest)-1] ^= 1
	if err := release.CheckRecord(tampered); err == nil {
		t.Fatal("tampered manifest accepted")
	}
	mismatch := decl
	mismatch.Release = other.Release
	if err := release.CheckRecord(mismatch); !errors.Is(err, release.ErrIDMismatch) {
		t.Fatalf("ID mismatch: %v", err)
	}
	if err := release.CheckRecord(release.Superseded{Release: decl.Release, By: decl.Release, Signer: auth("alice")}); !errors.Is(err, release.ErrInvalidRecord) {
		t.Fatalf("self-supersession: %v", err)
	}
}

func TestCompareOutputs(t *testing.T) {
	m := testManifest("alice", "aura-node", "1.0.0", "b1")
	rebuilt := func() []release.Artifact {
		var out []release.Artifact
		for _, a := range m.Artifacts {
			out = append(out, release.Artifact{Name: a.Name, Size: a.Size, Root: a.Root})
		}
		return out
	}
	if err := release.CompareOutputs(&m, rebuilt()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func([]release.Artifact) []release.Artifact
		want string
	}{
		{"missing", func(a []release.Artifact) []release.Artifact { return a[:1] }, "was not rebuilt"},
		{"other root", func(a []release.Artifact) []release.Artifact { a[0].Root = testRoot("x"); return a }, "rebuilt root"},
		{"other size", func(a []release.Artifact) []release.Artifact { a[1].Size++; return a }, "bytes"},
		{"extra", func(a []release.Artifact) []release.Artifact { return append(a, release.Artifact{Name: "zz"}) }, "not in the manifest"},
	} {
		err := release.CompareOutputs(&m, tc.edit(rebuilt()))
		if !errors.Is(err, release.ErrOutputMismatch) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrOutputMismatch mentioning %q", tc.name, err, tc.want)
		}
	}
}

// Policies read and write as JSON with text selectors, and the JSON does
// not change their canonical CBOR.
func TestPolicyJSON(t *testing.T) {
	p := discovery([]string{"alice"}, []string{"b1", "b2"}, 1, true, "lab")
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back release.DiscoveryPolicy
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	a, _ := p.Marshal()
	b, err := back.Marshal()
	if err != nil || string(a) != string(b) {
		t.Fatalf("discovery policy JSON round trip: %v", err)
	}
	s := release.SharingPolicy{Forward: release.SelectorAll, Pin: release.SelectorSeries("aura-node"), Recommend: release.SelectorNone}
	raw, err = json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"forward":"all","pin":"series:aura-node","recommend":"none"}`; string(raw) != want {
		t.Fatalf("sharing JSON %s, want %s", raw, want)
	}
	var sb release.SharingPolicy
	if err := json.Unmarshal(raw, &sb); err != nil || sb.Pin.String() != "series:aura-node" {
		t.Fatalf("sharing back: %+v %v", sb, err)
	}
	if err := json.Unmarshal([]byte(`{"forward":"some"}`), &sb); !errors.Is(err, release.ErrInvalidPolicy) {
		t.Fatalf("bad selector: %v", err)
	}
}

// FuzzSignedDocument: any file is refused or verifies, and a verified
// file's manifest is the one its bytes encode, under the ID it claims.
func FuzzSignedDocument(f *testing.F) {
	m := testManifest("alice", "aura-node", "1.0.0", "b1")
	signed, id, err := release.SignManifest(testKey("alice"), m)
	if err != nil {
		f.Fatal(err)
	}
	sd, _ := release.NewSignedDocument(signed, id)
	good, _ := json.Marshal(sd)
	f.Add(good)
	sd.Document = nil
	bare, _ := json.Marshal(sd)
	f.Add(bare)
	f.Add([]byte(`{"release_id":"00"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, doc, err := release.DecodeSignedDocument(raw)
		if err != nil {
			return
		}
		if got.ID() != doc.ReleaseID {
			t.Fatalf("verified under %s, manifest is %s", doc.ReleaseID, got.ID())
		}
		again, err := release.EncodeManifest(*got)
		if err != nil || string(again) != string(doc.Manifest) {
			t.Fatalf("verified manifest does not re-encode to its bytes: %v", err)
		}
	})
}
