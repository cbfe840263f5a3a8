package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aura-node/aura-node/api"
)

// The artifact commands and release fetch on one running node: import,
// list, export with identical bytes, fetch of a held root (nothing to
// transfer), release fetch with export into a directory, and refusals
// with their reasons.
func TestArtifactCommands(t *testing.T) {
	home := runningHome(t)
	dir := t.TempDir()
	var key [32]byte
	data := make([]byte, 2<<20+123)
	rand.NewChaCha8(key).Read(data)
	file := filepath.Join(dir, "tool")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])

	var info api.ArtifactInfo
	if err := json.Unmarshal([]byte(mustCLI(t, "--home", home, "artifact", "import", file, "--json")), &info); err != nil {
		t.Fatal(err)
	}
	if info.Size != uint64(len(data)) || info.Blocks != 4 || !strings.HasPrefix(info.Root, "bafy") {
		t.Fatalf("import: %+v", info)
	}
	if out := mustCLI(t, "--home", home, "artifact", "list"); !strings.Contains(out, info.Root) || !strings.Contains(out, "2.0 MiB") {
		t.Fatalf("list:\n%s", out)
	}
	out := filepath.Join(dir, "out")
	if got := mustCLI(t, "--home", home, "artifact", "export", info.Root, "--out", out); !strings.HasPrefix(got, want) {
		t.Fatalf("export printed %q, want sha256 %s", got, want)
	}
	_, stderr, code := cli(t, "--home", home, "artifact", "export", info.Root, "--out", out)
	wantOneLineError(t, stderr, code, "exists")
	if got := mustCLI(t, "--home", home, "artifact", "fetch", info.Root); !strings.Contains(got, "done") || !strings.Contains(got, "0 fetched, 4 already stored") {
		t.Fatalf("fetch of a held root: %s", got)
	}
	_, stderr, code = cli(t, "--home", home, "artifact", "fetch", "nonsense")
	wantOneLineError(t, stderr, code, "is not a CID")

	// A release of the file (create imports it into the node), fetched
	// and exported by release fetch.
	recipe := writeFile(t, filepath.Join(dir, "build.sh"), "make\n", 0o644)
	manifest, signed := filepath.Join(dir, "m.json"), filepath.Join(dir, "s.json")
	mustCLI(t, "--home", home, "release", "create", "--series", "tool", "--version", "1.0.0",
		"--source-url", "https://example.org/tool.git", "--source-hash", strings.Repeat("ab", 32), "--recipe-hash", recipe,
		"--artifact", "tool="+file+":binary", "--out", manifest)
	mustCLI(t, "--home", home, "release", "sign", manifest, "--out", signed)
	pub := mustCLI(t, "--home", home, "release", "publish", signed)
	id := strings.Fields(pub[strings.Index(pub, "published release ")+len("published release "):])[0]
	id = strings.TrimSuffix(id, ":")
	outDir := filepath.Join(dir, "dist") + string(os.PathSeparator)
	got := mustCLI(t, "--home", home, "release", "fetch", id, "--out", outDir)
	if !strings.Contains(got, want+"  "+filepath.Join(dir, "dist", "tool")) {
		t.Fatalf("release fetch:\n%s", got)
	}
	_, stderr, code = cli(t, "--home", home, "release", "fetch", id, "--artifact", "nope")
	wantOneLineError(t, stderr, code, `has no artifact "nope"`)
	mustCLI(t, "--home", home, "release", "revoke", id, "--reason", "bad build")
	_, stderr, code = cli(t, "--home", home, "release", "fetch", id)
	wantOneLineError(t, stderr, code, "is revoked")

	if got := mustCLI(t, "--home", home, "artifact", "unpin", info.Root); !strings.Contains(got, "unpinned "+info.Root) {
		t.Fatalf("unpin: %s", got)
	}
}
