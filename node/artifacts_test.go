package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aura-node/aura-node/api"
	"github.com/aura-node/aura-node/artifacts"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/release"
	"github.com/aura-node/aura-node/storage"
)

// writeTestFile writes n pseudo-random bytes to a file in dir and returns
// its path and SHA-256.
func writeTestFile(t *testing.T, dir string, seed byte, n int) (string, string) {
	t.Helper()
	var key [32]byte
	key[0] = seed
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	p := filepath.Join(dir, "artifact.bin")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return p, hex.EncodeToString(sum[:])
}

// waitFetch polls a fetch until it is no longer running.
func waitFetch(t *testing.T, n *Node, root string) *api.ArtifactFetch {
	t.Helper()
	var st *api.ArtifactFetch
	eventually(t, 60*time.Second, "the fetch of "+root, func() bool {
		var err error
		st, err = n.ArtifactFetchStatus(context.Background(), root)
		if err != nil {
			t.Fatal(err)
		}
		return st.State != api.FetchRunning
	})
	return st
}

// The artifact API: import on one node, fetch on others (from every
// holder), providers, export with identical bytes, size checks, unpin and
// GC.
func TestArtifactAPI(t *testing.T) {
	tn := newTestNet(t, 3)
	for i := range 3 {
		tn.addNode(i, storage.NewMemory())
	}
	tn.linkAll()
	ctx := context.Background()
	a, b, c := tn.nodes[0], tn.nodes[1], tn.nodes[2]
	dir := t.TempDir()
	size := 3*artifacts.ChunkSize + 4321
	path, sum := writeTestFile(t, dir, 1, size)

	if _, err := a.ImportArtifact(ctx, api.ArtifactImportRequest{Path: "relative/file"}); !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("relative import path: %v", err)
	}
	info, err := a.ImportArtifact(ctx, api.ArtifactImportRequest{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != uint64(size) || info.Blocks != 5 || info.Name != "artifact.bin" {
		t.Fatalf("import: %+v", info)
	}

	st, err := b.FetchArtifact(ctx, api.ArtifactFetchRequest{Root: info.Root, Name: "copy", Size: uint64(size)})
	if err != nil {
		t.Fatal(err)
	}
	if st.State != api.FetchRunning && st.State != api.FetchDone {
		t.Fatalf("fetch started in state %q", st.State)
	}
	if st = waitFetch(t, b, info.Root); st.State != api.FetchDone || st.Blocks != 5 || st.Bytes != st.BytesTotal {
		t.Fatalf("fetch: %+v", st)
	}

	// c sees both holders, and a wrong expected size fails the fetch.
	eventually(t, 10*time.Second, "two providers", func() bool {
		pr, err := c.ArtifactProviders(ctx, info.Root)
		if err != nil {
			t.Fatal(err)
		}
		pinned := 0
		for _, p := range pr.Providers {
			if p.State == "pinned" {
				pinned++
			}
		}
		return pinned == 2
	})
	if _, err := c.FetchArtifact(ctx, api.ArtifactFetchRequest{Root: info.Root, Size: uint64(size) + 1}); err != nil {
		t.Fatal(err)
	}
	if st := waitFetch(t, c, info.Root); st.State != api.FetchFailed || !strings.Contains(st.Error, "manifest says") {
		t.Fatalf("fetch with a wrong size: %+v", st)
	}
	if _, err := c.FetchArtifact(ctx, api.ArtifactFetchRequest{Root: info.Root}); err != nil {
		t.Fatal(err)
	}
	st = waitFetch(t, c, info.Root)
	if st.State != api.FetchDone || st.Had != 5 || st.Fetched != 0 {
		// The failed fetch stored every block before the size check: the
		// second one resumes with nothing left to fetch.
		t.Fatalf("second fetch: %+v", st)
	}
	out := filepath.Join(dir, "out.bin")
	exp, err := c.ExportArtifact(ctx, api.ArtifactExportRequest{Root: info.Root, Path: out})
	if err != nil {
		t.Fatal(err)
	}
	if exp.SHA256 != sum || exp.Size != uint64(size) {
		t.Fatalf("export %+v, want sha256 %s", exp, sum)
	}
	if _, err := c.ExportArtifact(ctx, api.ArtifactExportRequest{Root: info.Root, Path: out}); !errors.Is(err, api.ErrConflict) {
		t.Fatalf("export over an existing file: %v", err)
	}
	list, err := c.ListArtifacts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Artifacts) != 1 || list.Artifacts[0].Root != info.Root || len(list.Fetches) != 1 {
		t.Fatalf("list: %+v", list)
	}
	un, err := c.UnpinArtifact(ctx, api.ArtifactUnpinRequest{Root: info.Root})
	if err != nil {
		t.Fatal(err)
	}
	if un.GC == nil || un.GC.Blocks != 5 {
		t.Fatalf("unpin: %+v", un)
	}
	if _, err := c.UnpinArtifact(ctx, api.ArtifactUnpinRequest{Root: info.Root}); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("second unpin: %v", err)
	}
	if _, err := c.ExportArtifact(ctx, api.ArtifactExportRequest{Root: info.Root, Path: filepath.Join(dir, "gone.bin")}); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("export after unpin and GC: %v", err)
	}
	if _, err := c.FetchArtifact(ctx, api.ArtifactFetchRequest{Root: "not-a-cid"}); !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("bad root: %v", err)
	}
}

// A release published with a real artifact: a node whose discovery policy
// trusts the publisher and auto-fetches artifacts, and whose sharing
// policy pins them, fetches, pins and announces it; a seeding node with no
// policy fetches and pins it too.
func TestReleaseArtifactsFetchedPinnedAnnounced(t *testing.T) {
	tn := newTestNet(t, 3)
	pub := tn.addNode(0, storage.NewMemory())
	cfg := DefaultConfig()
	cfg.SyncInterval = Duration(time.Second)
	cfg.ReleaseDiscovery = &release.DiscoveryPolicy{
		TrustedReleaseAuthorities: []facts.AuthorityID{tn.keys[0].AuthorityID()}, AutoFetchMetadata: true, AutoFetchArtifacts: true,
	}
	cfg.ReleaseSharing = &release.SharingPolicy{Forward: release.SelectorAll, Pin: release.SelectorAll}
	fetcher := tn.addNodeWith(1, cfg)
	seedCfg := DefaultConfig()
	seedCfg.SyncInterval = Duration(time.Second)
	seedCfg.Seed = true
	seeder := tn.addNodeWith(2, seedCfg)
	tn.linkAll()
	ctx := context.Background()

	size := 2*artifacts.ChunkSize + 99
	path, sum := writeTestFile(t, t.TempDir(), 2, size)
	info, err := pub.ImportArtifact(ctx, api.ArtifactImportRequest{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	root, err := parseRootArg(info.Root)
	if err != nil {
		t.Fatal(err)
	}
	arts := []release.Artifact{{Name: "tool", Kind: "binary", Packaging: "raw", Size: uint64(size), Root: root.Bytes()}}
	m := release.Manifest{
		Series: "tool", Version: "1.0.0",
		Provenance: release.Provenance{
			SourceRepo:       "https://example.org/tool",
			SourceBundleHash: sha256.Sum256([]byte("tool source")),
			BuildRecipeHash:  sha256.Sum256([]byte("tool recipe")),
			OutputHash:       release.OutputHashOf(arts),
		},
		Artifacts:     arts,
		Compatibility: release.Compatibility{Class: release.BackwardCompatible},
		Author:        tn.keys[0].AuthorityID(),
	}
	signed, id, err := release.SignManifest(tn.keys[0].Authority, m)
	if err != nil {
		t.Fatal(err)
	}
	publish(t, pub, signed, id)
	// The publisher holds the artifact and its default sharing policy
	// pins its own releases: it announces it (publish or the artifact
	// loop, whichever runs first).
	holds := func(n *Node, member int) func() bool {
		return func() bool {
			e, _ := n.releaseEntry(id)
			for _, h := range e.Holders("tool") {
				if h == tn.keys[member].AuthorityID() {
					return true
				}
			}
			return false
		}
	}
	eventually(t, 10*time.Second, "the publisher's ArtifactAvailable", holds(pub, 0))
	for _, n := range []*Node{fetcher, seeder} {
		eventually(t, 60*time.Second, "the artifact pinned", func() bool {
			ok, err := n.Artifacts().IsPinned(root)
			return err == nil && ok
		})
		exp, err := n.ExportArtifact(ctx, api.ArtifactExportRequest{Root: info.Root, Path: filepath.Join(t.TempDir(), "tool")})
		if err != nil || exp.SHA256 != sum {
			t.Fatalf("export: %+v %v", exp, err)
		}
	}
	// The fetcher's sharing policy pins the release: it announces it, and
	// the announcement reaches the publisher's catalogue.
	eventually(t, 30*time.Second, "the fetcher's ArtifactAvailable at the publisher", holds(pub, 1))
	list, err := fetcher.ListArtifacts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Artifacts) != 1 || len(list.Artifacts[0].Releases) != 1 || !strings.HasSuffix(list.Artifacts[0].Releases[0], "/tool") {
		t.Fatalf("list: %+v", list)
	}
}
