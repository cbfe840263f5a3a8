package node

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/release"
	"github.com/aura-node/aura-node/storage"
)

// testRelease is a manifest of one artifact authored by key, signed.
func testRelease(t *testing.T, k *Keys, version string) (release.SignedManifest, release.ID) {
	t.Helper()
	root, err := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: mh.SHA2_256, MhLength: -1}.Sum([]byte("artifact " + version))
	if err != nil {
		t.Fatal(err)
	}
	arts := []release.Artifact{{Name: "aura-node-linux-amd64", Kind: "binary", Platform: "linux/amd64", Packaging: "raw", Size: 1 << 20, Root: root.Bytes()}}
	m := release.Manifest{
		Series:  "aura-node",
		Version: version,
		Provenance: release.Provenance{
			SourceRepo:       "https://github.com/aura-node/aura-node",
			SourceBundleHash: sha256.Sum256([]byte("bundle " + version)),
			BuildRecipeHash:  sha256.Sum256([]byte("recipe " + version)),
			OutputHash:       release.OutputHashOf(arts),
		},
		Artifacts:     arts,
		Compatibility: release.Compatibility{Class: release.BackwardCompatible},
		Author:        k.AuthorityID(),
	}
	signed, id, err := release.SignManifest(k.Authority, m)
	if err != nil {
		t.Fatal(err)
	}
	return signed, id
}

// A release declared on one node is in every node's catalogue; a tampered
// manifest is refused before it is stored; a revocation by the admin marks
// the release revoked on every node.
func TestReleasesReachEveryCatalogue(t *testing.T) {
	tn := newTestNet(t, 3)
	var nodes []*Node
	for i := 0; i < 3; i++ {
		nodes = append(nodes, tn.addNode(i, storage.NewMemory()))
	}
	tn.linkAll()
	ctx := context.Background()
	signed, id := testRelease(t, tn.keys[1], "1.2.0")
	if _, err := nodes[1].Author(ctx, facts.KindReleaseDeclared, &facts.ReleaseDeclared{
		ReleaseID: id[:], Manifest: signed.Manifest, Signature: signed.Signature,
	}); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		eventually(t, 20*time.Second, "the release in every catalogue", func() bool {
			r, err := n.Release(ctx, id.String())
			return err == nil && r.Version == "1.2.0" && len(r.Artifacts) == 1
		})
	}

	tampered := append([]byte(nil), signed.Manifest...)
	tampered[len(tampered)-1] ^= 1
	_, err := nodes[2].Author(ctx, facts.KindReleaseDeclared, &facts.ReleaseDeclared{
		ReleaseID: id[:], Manifest: tampered, Signature: signed.Signature,
	})
	if !errors.Is(err, ErrBadRelease) {
		t.Fatalf("tampered manifest: %v, want ErrBadRelease", err)
	}
	other, otherID := testRelease(t, tn.keys[1], "1.3.0")
	_, err = nodes[2].Author(ctx, facts.KindReleaseDeclared, &facts.ReleaseDeclared{
		ReleaseID: id[:], Manifest: other.Manifest, Signature: other.Signature,
	})
	if !errors.Is(err, ErrBadRelease) {
		t.Fatalf("manifest under another release's ID: %v, want ErrBadRelease", err)
	}
	_ = otherID

	// Node 0 is the admin (the genesis admin is member 0).
	if _, err := nodes[0].Author(ctx, facts.KindReleaseRevoked, &facts.ReleaseRevoked{ReleaseID: id[:], Reason: "bad build"}); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		eventually(t, 20*time.Second, "the revocation on every node", func() bool {
			r, err := n.Release(ctx, id.String())
			return err == nil && r.Revoked && r.RevokedReason == "bad build"
		})
	}

	// A restarted node rebuilds its catalogue from the journal.
	j := nodes[2].journal
	nodes[2].Close()
	h, err := tn.mn.GenPeer()
	if err != nil {
		t.Fatal(err)
	}
	again := tn.startOn(2, h, j)
	if r, err := again.Release(ctx, id.String()); err != nil || !r.Revoked || r.Version != "1.2.0" {
		t.Fatalf("after restart: %+v %v", r, err)
	}
}
