package activation_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"testing"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"github.com/aura-node/aura-node/activation"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/release"
)

// testKey derives a deterministic Ed25519 key from a label.
func testKey(label string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("aura-node activation test key: " + label))
	return ed25519.NewKeyFromSeed(seed[:])
}

func auth(label string) facts.AuthorityID {
	return facts.AuthorityFromKey(testKey(label).Public().(ed25519.PublicKey))
}

func auths(labels ...string) []facts.AuthorityID {
	var out []facts.AuthorityID
	for _, l := range labels {
		out = append(out, auth(l))
	}
	return out
}

// testNetwork is the network every test fact belongs to.
var testNetwork = func() cid.Cid {
	c, _ := cid.Prefix{Version: 1, Codec: cid.DagCBOR, MhType: mh.SHA2_256, MhLength: -1}.Sum([]byte("activation test network"))
	return c
}()

// signEvent signs a fact of kind with author's key and turns it into an
// Event the way the node does (decode, then EventFromFact).
func signEvent(tb testing.TB, author string, kind facts.Kind, epoch uint64, ts facts.Timestamp, p facts.Payload) (activation.Event, error) {
	tb.Helper()
	raw, id, err := facts.Sign(testKey(author), facts.Draft{Network: testNetwork, Payload: p, Kind: kind, Epoch: epoch, Time: ts})
	if err != nil {
		return activation.Event{}, err
	}
	f, payload, err := facts.Decode(raw, 0)
	if err != nil {
		tb.Fatalf("decode signed fact: %v", err)
	}
	return activation.EventFromFact(f, id, payload)
}

func policyEvent(tb testing.TB, author string, ts facts.Timestamp, p activation.Policy) (activation.Event, error) {
	tb.Helper()
	raw, err := p.Marshal()
	if err != nil {
		return activation.Event{}, err
	}
	return signEvent(tb, author, facts.KindActivationPolicyPublished, 0, ts, &facts.PolicyPublished{Scope: p.Scope, Policy: raw})
}

// testRoot returns a CIDv1 raw sha2-256 root for a label.
func testRoot(label string) []byte {
	c, err := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: mh.SHA2_256, MhLength: -1}.Sum([]byte(label))
	if err != nil {
		panic(err)
	}
	return c.Bytes()
}

func testArtifacts(build string) []release.Artifact {
	return []release.Artifact{
		{Name: "aura-node-darwin-arm64", Kind: "binary", Platform: "darwin/arm64", Packaging: "raw", Size: 4096, Root: testRoot(build + "/darwin")},
		{Name: "aura-node-linux-amd64", Kind: "binary", Platform: "linux/amd64", Packaging: "raw", Size: 8192, Root: testRoot(build + "/linux")},
		{Name: "notes.txt", Kind: "document", Packaging: "raw", Size: 100, Root: testRoot(build + "/notes")},
	}
}

// testManifest returns a valid manifest of a build by author.
func testManifest(author, version, build string) release.Manifest {
	arts := testArtifacts(build)
	return release.Manifest{
		Series:  "aura-node",
		Version: version,
		Provenance: release.Provenance{
			SourceRepo:       "https://github.com/aura-node/aura-node",
			SourceBundleHash: sha256.Sum256([]byte("bundle " + build)),
			BuildRecipeHash:  sha256.Sum256([]byte("recipe " + build)),
			OutputHash:       release.OutputHashOf(arts),
		},
		Artifacts:     arts,
		Compatibility: release.Compatibility{Class: release.BackwardCompatible},
		Activation:    release.ActivationProfile{HealthGates: []string{"healthz", "readyz"}},
		Author:        auth(author),
	}
}

func declare(tb testing.TB, label string, m release.Manifest) release.Declared {
	tb.Helper()
	signed, id, err := release.SignManifest(testKey(label), m)
	if err != nil {
		tb.Fatalf("sign manifest: %v", err)
	}
	return release.Declared{Release: id, Manifest: signed.Manifest, Signature: signed.Signature}
}

func certify(tb testing.TB, builder string, id release.ID, prov release.Provenance) release.Certified {
	tb.Helper()
	signed, err := release.SignCertificate(testKey(builder), release.BuildCertificate{Release: id, Provenance: prov, BuiltAtUnixMs: 1})
	if err != nil {
		tb.Fatalf("sign certificate: %v", err)
	}
	return release.Certified{Release: id, Certificate: signed.Certificate, Signature: signed.Signature}
}

func mustApply(tb testing.TB, c *release.Catalogue, recs ...release.Record) {
	tb.Helper()
	for _, r := range recs {
		if _, err := c.Apply(r); err != nil {
			tb.Fatalf("apply %T: %v", r, err)
		}
	}
}
