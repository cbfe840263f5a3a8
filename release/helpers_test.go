package release_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"testing"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/release"
)

// testKey derives a deterministic Ed25519 key from a label.
func testKey(label string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("aura-node release test key: " + label))
	return ed25519.NewKeyFromSeed(seed[:])
}

func auth(label string) facts.AuthorityID {
	return facts.AuthorityFromKey(testKey(label).Public().(ed25519.PublicKey))
}

// testRoot returns a CIDv1 raw sha2-256 root for a label.
func testRoot(label string) []byte {
	c, err := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: mh.SHA2_256, MhLength: -1}.Sum([]byte(label))
	if err != nil {
		panic(err)
	}
	return c.Bytes()
}

// testProvenance returns a provenance for a build label, its output hash
// committing to arts.
func testProvenance(build string, arts []release.Artifact) release.Provenance {
	return release.Provenance{
		SourceRepo:       "https://github.com/aura-node/aura-node",
		SourceBundleHash: sha256.Sum256([]byte("bundle " + build)),
		BuildRecipeHash:  sha256.Sum256([]byte("recipe " + build)),
		OutputHash:       release.OutputHashOf(arts),
	}
}

func testArtifacts(build string) []release.Artifact {
	return []release.Artifact{
		{Name: "aura-node-darwin-arm64", Kind: "binary", Platform: "darwin/arm64", Packaging: "raw", Size: 4096, Root: testRoot(build + "/darwin")},
		{Name: "aura-node-linux-amd64", Kind: "binary", Platform: "linux/amd64", Packaging: "raw", Size: 8192, Root: testRoot(build + "/linux")},
	}
}

// testManifest returns a valid manifest of a build, authored by author.
func testManifest(author, series, version, build string) release.Manifest {
	arts := testArtifacts(build)
	t := uint64(1_800_000_000_000)
	return release.Manifest{
		Series:                        series,
		Version:                       version,
		Provenance:                    testProvenance(build, arts),
		Artifacts:                     arts,
		Compatibility:                 release.Compatibility{Class: release.BackwardCompatible},
		Activation:                    release.ActivationProfile{HealthGates: []string{"healthz", "readyz"}},
		Migrations:                    []release.Migration{{From: 1, To: 2, Name: "split-index"}, {From: 2, To: 3, Name: "drop-legacy"}},
		SuggestedActivationTimeUnixMs: &t,
		Author:                        auth(author),
	}
}

// declare signs m with the key of label and returns its record.
func declare(tb testing.TB, label string, m release.Manifest) release.Declared {
	tb.Helper()
	signed, id, err := release.SignManifest(testKey(label), m)
	if err != nil {
		tb.Fatalf("sign manifest: %v", err)
	}
	return release.Declared{Release: id, Manifest: signed.Manifest, Signature: signed.Signature}
}

// certify has builder certify prov as release id.
func certify(tb testing.TB, builder string, id release.ID, prov release.Provenance, ms uint64) release.Certified {
	tb.Helper()
	signed, err := release.SignCertificate(testKey(builder), release.BuildCertificate{Release: id, Provenance: prov, BuiltAtUnixMs: ms})
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

func mustEntry(tb testing.TB, c *release.Catalogue, id release.ID) release.Entry {
	tb.Helper()
	e, ok := c.Entry(id)
	if !ok {
		tb.Fatalf("no entry for %s", id.Short())
	}
	return e
}
