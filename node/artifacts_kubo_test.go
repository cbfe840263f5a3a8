package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aura-node/aura-node/api"
	"github.com/aura-node/aura-node/artifacts"
	"github.com/aura-node/aura-node/artifacts/kubo"
	"github.com/aura-node/aura-node/storage"
)

// A real kubo node (AURA_KUBO, built by .ci/run) connected to an
// aura-node fetches an artifact over bitswap by its root CID alone and
// gets identical bytes; `ipfs add` with the unixfs-v1-2025 profile
// computes the same root.
func TestKuboFetchesArtifact(t *testing.T) {
	bin := kubo.Binary()
	if bin == "" {
		t.Skip("set " + kubo.EnvVar + " to a kubo binary (.ci/run builds one)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tn := newTestNet(t, 1)
	cfg := DefaultConfig()
	n, err := New(Params{Config: cfg, Keys: tn.keys[0], Genesis: tn.genesis, Journal: storage.NewMemory(), Logger: quietLogger(), BlocksDir: filepath.Join(t.TempDir(), BlocksDir)})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	dir := t.TempDir()
	size := 5*artifacts.ChunkSize + 777
	path, sum := writeTestFile(t, dir, 9, size)
	info, err := n.ImportArtifact(ctx, api.ArtifactImportRequest{Path: path})
	if err != nil {
		t.Fatal(err)
	}

	k, err := kubo.Start(ctx, bin, filepath.Join(dir, "ipfs"))
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	var addr string
	for _, a := range n.Host().Addrs() {
		if strings.Contains(a.String(), "/tcp/") {
			addr = fmt.Sprintf("%s/p2p/%s", a, n.Host().ID())
		}
	}
	if err := k.Connect(ctx, addr); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := k.Cat(ctx, info.Root, &out); err != nil {
		t.Fatalf("%v\nkubo output:\n%s", err, k.Output())
	}
	got := sha256.Sum256(out.Bytes())
	if out.Len() != size || hex.EncodeToString(got[:]) != sum {
		t.Fatalf("kubo got %d bytes (sha256 %x), want %d bytes (sha256 %s)", out.Len(), got, size, sum)
	}
	root, err := k.AddOnlyHash(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if root != info.Root {
		t.Fatalf("ipfs add computed root %s, aura-node %s", root, info.Root)
	}
	list, err := n.ListArtifacts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if list.BitswapBlocksServed < 7 {
		t.Fatalf("bitswap served %d blocks, want the artifact's 7", list.BitswapBlocksServed)
	}
}
