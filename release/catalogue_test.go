package release_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/release"
)

var admin = auth("admin")

func trusts(labels ...string) func(facts.AuthorityID) bool {
	return func(a facts.AuthorityID) bool {
		for _, l := range labels {
			if auth(l) == a {
				return true
			}
		}
		return false
	}
}

func TestCatalogueRefusesInvalidRecords(t *testing.T) {
	m := testManifest("alice", "aura-node", "1.0.0", "b1")
	decl := declare(t, "alice", m)
	other := testManifest("alice", "aura-node", "1.0.1", "b2")
	otherDecl := declare(t, "alice", other)
	drifted := m.Provenance
	drifted.SourceBundleHash[3] ^= 1
	unknown := release.ID{9}

	for _, tc := range []struct {
		name string
		rec  release.Record
		want error
	}{
		{"declaration under another ID", release.Declared{Release: otherDecl.Release, Manifest: decl.Manifest, Signature: decl.Signature}, release.ErrIDMismatch},
		{"declaration with another signature", release.Declared{Release: decl.Release, Manifest: decl.Manifest, Signature: otherDecl.Signature}, release.ErrBadSignature},
		{"certificate presented for another release", release.Certified{Release: otherDecl.Release, Certificate: certify(t, "builder1", decl.Release, m.Provenance, 1).Certificate, Signature: certify(t, "builder1", decl.Release, m.Provenance, 1).Signature}, release.ErrWrongRelease},
		{"certificate over different provenance", certify(t, "builder1", decl.Release, drifted, 1), release.ErrProvenanceMismatch},
		{"availability of an unlisted artifact", release.Available{Release: decl.Release, Artifact: "aura-node-plan9-386", Root: testRoot("x"), Holder: auth("bob")}, release.ErrUnknownArtifact},
		{"availability with another root", release.Available{Release: decl.Release, Artifact: "aura-node-linux-amd64", Root: testRoot("x"), Holder: auth("bob")}, release.ErrUnknownArtifact},
		{"availability with a bad root", release.Available{Release: unknown, Artifact: "a", Root: []byte{1, 2}, Holder: auth("bob")}, release.ErrInvalidRecord},
		{"revocation without signer", release.Revoked{Release: unknown, Reason: "x"}, release.ErrInvalidRecord},
		{"self supersession", release.Superseded{Release: unknown, By: unknown, Signer: admin, Admin: admin}, release.ErrInvalidRecord},
		{"recommendation in a quorum without participants", release.Recommended{Release: unknown, Scope: facts.Scope{Kind: facts.ScopeManagedQuorum, ID: "q"}, Recommender: auth("alice")}, release.ErrInvalidRecord},
		{"nil record", nil, release.ErrInvalidRecord},
		{"nil record pointer", (*release.Revoked)(nil), release.ErrInvalidRecord},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := release.NewCatalogue()
			mustApply(t, c, decl)
			before, _ := c.Marshal()
			out, err := c.Apply(tc.rec)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if out != release.Unchanged {
				t.Fatalf("outcome %v for a refused record", out)
			}
			after, _ := c.Marshal()
			if !bytes.Equal(before, after) || len(c.IDs()) != 1 {
				t.Fatal("a refused record changed the catalogue")
			}
		})
	}
}

func TestCatalogueOutcomes(t *testing.T) {
	m := testManifest("alice", "aura-node", "1.0.0", "b1")
	decl := declare(t, "alice", m)
	cert := certify(t, "builder1", decl.Release, m.Provenance, 5)
	c := release.NewCatalogue()
	for i, step := range []struct {
		rec  release.Record
		want release.Outcome
	}{
		{cert, release.Held},
		{cert, release.Unchanged},
		{release.Revoked{Release: decl.Release, Reason: "cve", Signer: auth("alice"), Admin: admin}, release.Held},
		{decl, release.Stored},
		{decl, release.Unchanged},
		{&decl, release.Unchanged},
		{cert, release.Unchanged},
		{certify(t, "builder1", decl.Release, m.Provenance, 9), release.Unchanged}, // later build loses
		{certify(t, "builder1", decl.Release, m.Provenance, 1), release.Stored},    // earlier build wins
	} {
		out, err := c.Apply(step.rec)
		if err != nil || out != step.want {
			t.Fatalf("step %d (%T): %v, %v; want %v", i, step.rec, out, err, step.want)
		}
	}
	e := mustEntry(t, c, decl.Release)
	if e.Pending != 0 || len(e.Certificates) != 1 || e.Certificates[0].Certificate.BuiltAtUnixMs != 1 {
		t.Fatalf("entry %+v", e)
	}
	if revoked, reason := e.Revoked(); !revoked || reason != "cve" {
		t.Fatalf("Revoked() = %v %q", revoked, reason)
	}
}

func TestRevokedWhateverOrder(t *testing.T) {
	m := testManifest("alice", "aura-node", "1.0.0", "b1")
	decl := declare(t, "alice", m)
	recs := []release.Record{
		decl,
		certify(t, "builder1", decl.Release, m.Provenance, 1),
		release.Revoked{Release: decl.Release, Reason: "CVE-2031-1", Signer: auth("alice"), Admin: admin},
		release.Available{Release: decl.Release, Artifact: "aura-node-linux-amd64", Root: m.Artifacts[1].Root, Holder: auth("bob")},
	}
	for _, perm := range permutations(len(recs)) {
		c := release.NewCatalogue()
		for _, i := range perm {
			mustApply(t, c, recs[i])
		}
		e := mustEntry(t, c, decl.Release)
		revoked, reason := e.Revoked()
		if !revoked || reason != "CVE-2031-1" || e.Pending != 0 {
			t.Fatalf("order %v: revoked=%v reason=%q pending=%d", perm, revoked, reason, e.Pending)
		}
		if r, ok := e.Revocation(trusts("alice")); !ok || r.Signer != auth("alice") {
			t.Fatalf("order %v: trusted revocation %v %v", perm, r, ok)
		}
	}

	// The admin may revoke before anybody has seen the manifest.
	c := release.NewCatalogue()
	out, err := c.Apply(release.Revoked{Release: decl.Release, Reason: "compromised key", Signer: admin, Admin: admin})
	if err != nil || out != release.Stored {
		t.Fatalf("admin revocation: %v %v", out, err)
	}
	mustApply(t, c, decl)
	if r, ok := mustEntry(t, c, decl.Release).Revocation(trusts()); !ok || !r.ByAdmin() {
		t.Fatalf("admin revocation not heeded: %+v %v", r, ok)
	}
}

func TestUnauthorisedRevocationHeldNotHeeded(t *testing.T) {
	m := testManifest("alice", "aura-node", "1.0.0", "b1")
	decl := declare(t, "alice", m)
	c := release.NewCatalogue()
	mustApply(t, c, decl)
	rev := release.Revoked{Release: decl.Release, Reason: "mine now", Signer: auth("mallory"), Admin: admin}
	if out, err := c.Apply(rev); err != nil || out != release.Held {
		t.Fatalf("mallory's revocation: %v %v, want held", out, err)
	}
	e := mustEntry(t, c, decl.Release)
	if revoked, _ := e.Revoked(); revoked || e.Pending != 1 {
		t.Fatalf("held revocation counted: %+v", e)
	}
	// Mallory declares a copy of the same build: her revocation now
	// concerns her declaration and is authorised, but only those who
	// trust her heed it.
	copycat := m
	copycat.Author = auth("mallory")
	copycat.Version = "9.0.0"
	mustApply(t, c, declare(t, "mallory", copycat))
	e = mustEntry(t, c, decl.Release)
	if len(e.Declarations) != 2 || e.Pending != 0 {
		t.Fatalf("declarations %d pending %d", len(e.Declarations), e.Pending)
	}
	if _, ok := e.Revocation(trusts("alice")); ok {
		t.Fatal("alice's followers heed mallory's revocation")
	}
	if _, ok := e.Revocation(trusts("mallory")); !ok {
		t.Fatal("mallory's followers ignore her revocation")
	}
	if err := release.MaySign(auth("mallory"), admin, &m); !errors.Is(err, release.ErrNotAuthorised) {
		t.Fatalf("MaySign(mallory, alice's manifest) = %v", err)
	}
	if release.MaySign(auth("alice"), admin, &m) != nil || release.MaySign(admin, admin, &m) != nil {
		t.Fatal("the release authority and the admin may sign")
	}
}

func TestLatest(t *testing.T) {
	c := release.NewCatalogue()
	ids := map[string]release.ID{}
	for i, v := range []string{"1.0.0", "1.2.0", "1.10.0", "2.0.0-rc.1", "1.10.0+other-build"} {
		d := declare(t, "alice", testManifest("alice", "aura-node", v, fmt.Sprint("b", i)))
		ids[v] = d.Release
		mustApply(t, c, d)
	}
	mustApply(t, c, declare(t, "alice", testManifest("alice", "aura-node/edge", "7.0.0", "edge")))
	latest := func(trusted func(facts.AuthorityID) bool) string {
		d, ok := c.Latest("aura-node", trusted)
		if !ok {
			return "none"
		}
		return d.Manifest.Version
	}
	if got := latest(nil); got != "2.0.0-rc.1" {
		t.Fatalf("latest = %s", got)
	}
	mustApply(t, c, release.Revoked{Release: ids["2.0.0-rc.1"], Signer: auth("alice"), Admin: admin})
	// 1.10.0 and 1.10.0+other-build have equal precedence: the lower ID wins.
	want := "1.10.0"
	if a, b := ids["1.10.0+other-build"], ids["1.10.0"]; bytes.Compare(a[:], b[:]) < 0 {
		want = "1.10.0+other-build"
	}
	if got := latest(nil); got != want {
		t.Fatalf("latest after revocation = %s, want %s", got, want)
	}
	copycat := testManifest("mallory", "aura-node", "99.0.0", "mallory")
	mustApply(t, c, declare(t, "mallory", copycat))
	if got := latest(trusts("alice")); got != want {
		t.Fatalf("latest trusting alice = %s, want %s", got, want)
	}
	if got := latest(nil); got != "99.0.0" {
		t.Fatalf("latest trusting all = %s", got)
	}
	if got := latest(trusts("nobody")); got != "none" {
		t.Fatalf("latest trusting nobody = %s", got)
	}
	if s := c.Series(); !slices.Equal(s, []string{"aura-node", "aura-node/edge"}) {
		t.Fatalf("series %q", s)
	}
}

// recordSet is a mixed set of records over three releases: valid ones,
// invalid ones, records that must be held, a copycat declaration,
// equivocations by an author and by a builder, and duplicates.
func recordSet(t *testing.T) []release.Record {
	m1 := testManifest("alice", "aura-node", "1.0.0", "b1")
	m2 := testManifest("alice", "aura-node", "1.1.0", "b2")
	m3 := testManifest("carol", "tools", "0.1.0", "b3")
	d1, d2, d3 := declare(t, "alice", m1), declare(t, "alice", m2), declare(t, "carol", m3)
	equivocation := m1
	equivocation.Version = "1.0.0-also"
	copycat := m2
	copycat.Author = auth("mallory")
	copycat.Version = "5.0.0"
	drifted := m1.Provenance
	drifted.BuildRecipeHash[0] ^= 0xff
	recs := []release.Record{
		d1, d2, d3,
		declare(t, "alice", equivocation),
		declare(t, "mallory", copycat),
		certify(t, "builder1", d1.Release, m1.Provenance, 10),
		certify(t, "builder1", d1.Release, m1.Provenance, 5),
		certify(t, "builder2", d1.Release, m1.Provenance, 7),
		certify(t, "builder2", d2.Release, m2.Provenance, 7),
		certify(t, "builder3", d1.Release, drifted, 7), // refused or dropped
		release.Revoked{Release: d1.Release, Reason: "bad build", Signer: auth("alice"), Admin: admin},
		release.Revoked{Release: d2.Release, Reason: "copycat says", Signer: auth("mallory"), Admin: admin},
		release.Revoked{Release: d3.Release, Reason: "stranger", Signer: auth("stranger"), Admin: admin}, // stays held
		release.Revoked{Release: d3.Release, Reason: "admin says", Signer: admin, Admin: admin},
		release.Superseded{Release: d1.Release, By: d2.Release, Signer: auth("alice"), Admin: admin},
		release.Superseded{Release: d2.Release, By: d1.Release, Signer: auth("mallory"), Admin: auth("alice")},
		release.Available{Release: d1.Release, Artifact: "aura-node-linux-amd64", Root: m1.Artifacts[1].Root, Holder: auth("bob")},
		release.Available{Release: d1.Release, Artifact: "aura-node-linux-amd64", Root: m1.Artifacts[1].Root, Holder: auth("dave")},
		release.Available{Release: d1.Release, Artifact: "aura-node-linux-amd64", Root: m1.Artifacts[0].Root, Holder: auth("eve")}, // wrong root
		release.Available{Release: d2.Release, Artifact: "aura-node-darwin-arm64", Root: m2.Artifacts[0].Root, Holder: auth("bob")},
		release.Recommended{Release: d2.Release, Scope: facts.Scope{Kind: facts.ScopeContext, ID: "ops"}, Note: "go", Recommender: auth("alice")},
		release.Recommended{Release: d3.Release, Scope: facts.Scope{Kind: facts.ScopeManagedQuorum, ID: "q", Participants: []facts.AuthorityID{auth("bob")}}, Recommender: auth("bob")},
		release.Recommended{Release: release.ID{7}, Scope: facts.Scope{Kind: facts.ScopeDevice, ID: "dev1"}, Recommender: auth("bob")},
		release.Declared{Release: d1.Release, Manifest: d2.Manifest, Signature: d2.Signature}, // refused: ID mismatch
	}
	// Duplicates.
	return append(recs, recs[0], recs[6], recs[10], recs[12])
}

// dump renders everything a catalogue answers, for comparison.
func dump(t *testing.T, c *release.Catalogue) string {
	var b strings.Builder
	for _, id := range c.IDs() {
		e := mustEntry(t, c, id)
		j, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %s\n", id, j)
	}
	for _, s := range c.Series() {
		for _, tr := range [][]string{nil, {"alice"}, {"mallory"}} {
			var f func(facts.AuthorityID) bool
			if tr != nil {
				f = trusts(tr...)
			}
			d, ok := c.Latest(s, f)
			fmt.Fprintf(&b, "latest %s %v: %v %s %s\n", s, tr, ok, d.Signed.Release, d.Manifest.Version)
		}
	}
	return b.String()
}

// TestCatalogueOrderIndependence is a property test: the same records in
// any order give the same catalogue bytes and the same answers.
func TestCatalogueOrderIndependence(t *testing.T) {
	recs := recordSet(t)
	build := func(order []int) *release.Catalogue {
		c := release.NewCatalogue()
		for _, i := range order {
			c.Apply(recs[i]) // errors are expected for the invalid records
		}
		return c
	}
	identity := make([]int, len(recs))
	for i := range identity {
		identity[i] = i
	}
	ref := build(identity)
	refBytes, err := ref.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	refDump := dump(t, ref)

	// Sanity: the reference holds what the rules say.
	if n := len(ref.Releases()); n != 3 {
		t.Fatalf("%d declared releases, want 3", n)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 300 {
		order := slices.Clone(identity)
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		c := build(order)
		got, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, refBytes) {
			t.Fatalf("trial %d order %v: catalogue bytes differ", trial, order)
		}
		if d := dump(t, c); d != refDump {
			t.Fatalf("trial %d order %v: answers differ:\n%s\nwant\n%s", trial, order, d, refDump)
		}
	}

	// The encoding round-trips, re-verifying every record.
	back, err := release.UnmarshalCatalogue(refBytes)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := back.Marshal(); !bytes.Equal(again, refBytes) || dump(t, back) != refDump {
		t.Fatal("UnmarshalCatalogue does not give back the catalogue")
	}
}

func TestCatalogueRuleDetails(t *testing.T) {
	recs := recordSet(t)
	c := release.NewCatalogue()
	for _, r := range recs {
		c.Apply(r)
	}
	d1 := recs[0].ReleaseID()
	e := mustEntry(t, c, d1)
	// One declaration per author: alice's two manifests for d1 kept one.
	if len(e.Declarations) != 1 {
		t.Fatalf("%d declarations of d1", len(e.Declarations))
	}
	// One certificate per builder, the earliest; builder3's refused.
	var builders []string
	for _, ct := range e.Certificates {
		builders = append(builders, fmt.Sprint(ct.Certificate.BuiltAtUnixMs))
	}
	if !slices.Equal(builders, []string{"5", "7"}) && !slices.Equal(builders, []string{"7", "5"}) {
		t.Fatalf("certificates built at %v", builders)
	}
	if h := e.Holders("aura-node-linux-amd64"); len(h) != 2 {
		t.Fatalf("holders %v", h)
	}
	if s := e.SupersededBy(nil); len(s) != 1 || s[0] != recs[1].ReleaseID() {
		t.Fatalf("superseded by %v", s)
	}
	// Release 3: the stranger's revocation stays held; the admin's counts.
	e3 := mustEntry(t, c, recs[2].ReleaseID())
	if e3.Pending != 1 || len(e3.Revocations) != 1 || !e3.Revocations[0].ByAdmin() {
		t.Fatalf("release 3: pending %d revocations %+v", e3.Pending, e3.Revocations)
	}
	// A recommendation alone makes an undeclared entry.
	if e7, ok := c.Entry(release.ID{7}); !ok || e7.Declared() || len(e7.Recommendations) != 1 {
		t.Fatalf("undeclared recommended entry: %+v %v", e7, ok)
	}
}

func TestUnmarshalCatalogueRefusesWhatItWouldNotKeep(t *testing.T) {
	m := testManifest("alice", "aura-node", "1.0.0", "b1")
	decl := declare(t, "alice", m)
	c := release.NewCatalogue()
	mustApply(t, c, decl)
	raw, _ := c.Marshal()
	// Hand-build an encoding that also carries a losing certificate.
	wire := struct {
		Declared  []release.Declared  `cbor:"1,keyasint,omitempty"`
		Certified []release.Certified `cbor:"2,keyasint,omitempty"`
	}{
		Declared: []release.Declared{decl},
		Certified: []release.Certified{
			certify(t, "builder1", decl.Release, m.Provenance, 1),
			certify(t, "builder1", decl.Release, m.Provenance, 2),
		},
	}
	bad, err := facts.Marshal(&wire)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := release.UnmarshalCatalogue(bad); !errors.Is(err, facts.ErrNotCanonical) {
		t.Fatalf("err = %v, want ErrNotCanonical", err)
	}
	if _, err := release.UnmarshalCatalogue(raw); err != nil {
		t.Fatal(err)
	}
}

func TestRecordFromFact(t *testing.T) {
	m := testManifest("alice", "aura-node", "1.0.0", "b1")
	decl := declare(t, "alice", m)
	id := decl.Release[:]
	cert := certify(t, "builder1", decl.Release, m.Provenance, 1)
	c := release.NewCatalogue()
	for _, p := range []facts.Payload{
		&facts.ReleaseDeclared{ReleaseID: id, Manifest: decl.Manifest, Signature: decl.Signature},
		&facts.BuildCertified{ReleaseID: id, Certificate: cert.Certificate, Signature: cert.Signature},
		&facts.ReleaseRevoked{ReleaseID: id, Reason: "r"},
		&facts.ReleaseSuperseded{ReleaseID: id, SupersededBy: bytes.Repeat([]byte{1}, 32)},
		&facts.ArtifactAvailable{ReleaseID: id, Artifact: m.Artifacts[0].Name, Root: m.Artifacts[0].Root},
		&facts.RecommendationPublished{ReleaseID: id, Scope: facts.Scope{Kind: facts.ScopeContext, ID: "ops"}},
	} {
		rec, err := release.RecordFromFact(p, auth("alice"), admin)
		if err != nil {
			t.Fatalf("%T: %v", p, err)
		}
		if out, err := c.Apply(rec); err != nil || out != release.Stored {
			t.Fatalf("%T: %v %v", p, out, err)
		}
	}
	if _, err := release.RecordFromFact(&facts.Data{Namespace: "n", Key: "k"}, auth("alice"), admin); !errors.Is(err, release.ErrNotRecord) {
		t.Fatalf("data payload: %v", err)
	}
	if _, err := release.RecordFromFact(&facts.ReleaseRevoked{ReleaseID: []byte{1}}, auth("alice"), admin); !errors.Is(err, release.ErrBadID) {
		t.Fatalf("short ID: %v", err)
	}
}

// permutations returns every ordering of 0..n-1.
func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(slices.Clone(p[:i]), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}
