package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aura-node/aura-node/node"
	"github.com/aura-node/aura-node/release"
)

// runningHome initialises a one-member network in a temporary home and
// runs its node in the background until the test ends.
func runningHome(t *testing.T) string {
	t.Helper()
	home := filepath.Join(t.TempDir(), "h")
	if _, stderr, code := cli(t, "--home", home, "init", "--new-network", "--name", "rel"); code != 0 {
		t.Fatalf("init: %s", stderr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- node.RunHome(ctx, node.Home{Dir: home}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("node: %v", err)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, _, code := cli(t, "--home", home, "status"); code == 0 {
			return home
		}
		select {
		case err := <-done:
			t.Fatalf("node stopped: %v", err)
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			t.Fatal("node did not start")
		}
	}
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// mustCLI runs a command that must succeed and returns its stdout.
func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, stderr, code := cli(t, args...)
	if code != 0 {
		t.Fatalf("%v: %s", args, stderr)
	}
	return out
}

// The release commands end to end on one running node, with every
// refusal checked for its reason: bad input to create, a key that is not
// the manifest's author, a tampered or edited signed file, a release ID
// that is not the manifest's, an untrusted authority, rebuilt outputs
// that differ, a superseded or revoked release, a missing reason.
func TestReleaseCommands(t *testing.T) {
	home := runningHome(t)
	dir := t.TempDir()
	linux := writeFile(t, filepath.Join(dir, "app-linux"), strings.Repeat("linux build ", 1000), 0o644)
	darwin := writeFile(t, filepath.Join(dir, "app-darwin"), strings.Repeat("darwin build ", 1000), 0o644)
	recipe := writeFile(t, filepath.Join(dir, "build.sh"), "go build ./cmd/app\n", 0o644)
	// Each version is built from its own source bundle (the release ID
	// hashes the series and the provenance, not the version).
	srcHash := func(version string) string {
		h := sha256.Sum256([]byte("source " + version))
		return hex.EncodeToString(h[:])
	}
	manifest, signed := filepath.Join(dir, "manifest.json"), filepath.Join(dir, "signed.json")
	create := func(version, out string, extra ...string) (string, string, int) {
		args := append([]string{"--home", home, "release", "create", "--series", "app", "--version", version,
			"--source-url", "https://example.org/app.git", "--source-hash", srcHash(version), "--recipe-hash", recipe,
			"--artifact", "app-linux=" + linux + ":binary:linux/amd64", "--artifact", "app-darwin=" + darwin + "::darwin/arm64",
			"--health-gate", "readyz", "--migration", "1:2:split", "--out", out}, extra...)
		return cli(t, args...)
	}

	// create: refusals, then a manifest.
	_, stderr, code := create("1.x", manifest)
	wantOneLineError(t, stderr, code, "not a semantic version")
	_, stderr, code = cli(t, "--home", home, "release", "create", "--series", "app", "--version", "1.0.0", "--source-url", "https://x.org/a", "--out", manifest)
	wantOneLineError(t, stderr, code, "--artifact")
	_, stderr, code = create("1.0.0", manifest, "--class", "sideways")
	wantOneLineError(t, stderr, code, "--class: release: unknown compatibility class \"sideways\": want backward-compatible, mixed-coexistence-allowed, scoped-hard-fork, incompatible-without-partition")
	out, stderr, code := create("1.0.0", manifest, "--json")
	if code != 0 {
		t.Fatalf("create: %s", stderr)
	}
	var created struct {
		ReleaseID string                   `json:"release_id"`
		Imported  bool                     `json:"imported"`
		Manifest  release.ManifestDocument `json:"manifest"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatal(err)
	}
	id := created.ReleaseID
	if len(id) != 64 || !created.Imported || len(created.Manifest.Artifacts) != 2 || created.Manifest.Artifacts[0].Name != "app-darwin" || created.Manifest.Artifacts[0].Kind != "binary" {
		t.Fatalf("create: %s", out)
	}

	// sign: the home's key; another author's manifest is refused.
	out = mustCLI(t, "--home", home, "release", "sign", manifest, "--out", signed)
	if !strings.Contains(out, "signed release "+id) {
		t.Fatalf("sign: %s", out)
	}
	otherKey := writeFile(t, filepath.Join(dir, "other.key"), hex.EncodeToString(ed25519.NewKeyFromSeed(make([]byte, 32)).Seed())+"\n", 0o600)
	doc := readJSON(t, signed)
	named := filepath.Join(dir, "named.json")
	writeJSON(t, named, doc["document"])
	_, stderr, code = cli(t, "--home", home, "release", "sign", named, "--key", otherKey, "--out", filepath.Join(dir, "x.json"))
	wantOneLineError(t, stderr, code, "refusing to sign")
	lax := writeFile(t, filepath.Join(dir, "lax.key"), "00", 0o644)
	_, stderr, code = cli(t, "--home", home, "release", "sign", manifest, "--key", lax, "--out", filepath.Join(dir, "x.json"))
	wantOneLineError(t, stderr, code, "must be 0600")

	// publish: tampered files are refused with the reason.
	for _, tc := range []struct {
		name, want string
		edit       func(map[string]any)
	}{
		{"edited copy", "edited after signing", func(d map[string]any) { d["document"].(map[string]any)["version"] = "9.9.9" }},
		{"tampered bytes", "bad signature", func(d map[string]any) { d["manifest"] = flipBase64(t, d["manifest"].(string)) }},
		{"other ID", "does not match", func(d map[string]any) { d["release_id"] = strings.Repeat("ab", 32) }},
	} {
		d := readJSON(t, signed)
		tc.edit(d)
		bad := filepath.Join(dir, "bad.json")
		writeJSON(t, bad, d)
		_, stderr, code = cli(t, "--home", home, "release", "publish", bad)
		wantOneLineError(t, stderr, code, tc.want)
	}
	out = mustCLI(t, "--home", home, "release", "publish", signed)
	if !strings.Contains(out, "published release "+id) || !strings.Contains(out, "declared series app") {
		t.Fatalf("publish: %s", out)
	}
	// create imported and pinned the files, so the node announces them
	// (its sharing policy pins its own, trusted, releases).
	if !strings.Contains(out, "announced 2 artifacts") && !strings.Contains(out, "already announced") {
		t.Fatalf("publish did not announce the imported artifacts: %s", out)
	}
	if strings.Count(mustCLI(t, "--home", home, "release", "show", id, "--json"), `"holder"`) != 2 {
		t.Fatal("release show lists no holder for the published artifacts")
	}

	// An untrusted authority's release: refused, then allowed explicitly.
	foreignManifest, foreignSigned := filepath.Join(dir, "foreign.json"), filepath.Join(dir, "foreign-signed.json")
	if _, stderr, code := create("0.9.0", foreignManifest, "--offline"); code != 0 {
		t.Fatal(stderr)
	}
	mustCLI(t, "--home", home, "release", "sign", foreignManifest, "--key", otherKey, "--out", foreignSigned)
	_, stderr, code = cli(t, "--home", home, "release", "publish", foreignSigned)
	wantOneLineError(t, stderr, code, "is not trusted by this node's discovery policy")
	mustCLI(t, "--home", home, "release", "publish", foreignSigned, "--allow-untrusted")
	out = mustCLI(t, "--home", home, "release", "list")
	if !strings.Contains(out, "ignored") || !strings.Contains(out, "tracked") {
		t.Fatalf("list should show one tracked and one ignored release:\n%s", out)
	}
	out = mustCLI(t, "--home", home, "release", "list", "--discovered", "--json")
	if strings.Count(out, `"series": "app"`) != 1 {
		t.Fatalf("list --discovered: %s", out)
	}

	// certify: rebuilt outputs must match.
	_, stderr, code = cli(t, "--home", home, "release", "certify", id, "--verify-output", "app-linux="+darwin, "--verify-output", "app-darwin="+darwin)
	wantOneLineError(t, stderr, code, "refusing to certify")
	out = mustCLI(t, "--home", home, "release", "certify", id, "--verify-output", "app-linux="+linux, "--verify-output", darwin)
	if !strings.Contains(out, "2 rebuilt outputs verified") {
		t.Fatalf("certify: %s", out)
	}
	out = mustCLI(t, "--home", home, "release", "show", id)
	for _, want := range []string{"app 1.0.0", "certificates", "discovery: discover", "trusted release authority", "sharing: forward, pin", "1 -> 2 split", "readyz"} {
		if !strings.Contains(out, want) {
			t.Fatalf("show lacks %q:\n%s", want, out)
		}
	}

	// supersede and revoke.
	next, nextSigned := filepath.Join(dir, "next.json"), filepath.Join(dir, "next-signed.json")
	if _, stderr, code := create("1.1.0", next); code != 0 {
		t.Fatal(stderr)
	}
	mustCLI(t, "--home", home, "release", "sign", next, "--out", nextSigned)
	nextID := readJSON(t, nextSigned)["release_id"].(string)
	mustCLI(t, "--home", home, "release", "publish", nextSigned)
	_, stderr, code = cli(t, "--home", home, "release", "supersede", nextID, id)
	wantOneLineError(t, stderr, code, "is not newer than")
	mustCLI(t, "--home", home, "release", "supersede", id, nextID)
	_, stderr, code = cli(t, "--home", home, "release", "certify", id)
	wantOneLineError(t, stderr, code, "superseded by "+nextID)
	_, stderr, code = cli(t, "--home", home, "release", "revoke", nextID)
	wantOneLineError(t, stderr, code, "--reason is required")
	mustCLI(t, "--home", home, "release", "revoke", nextID, "--reason", "bad build")
	_, stderr, code = cli(t, "--home", home, "release", "revoke", nextID, "--reason", "again")
	wantOneLineError(t, stderr, code, "already revoked")
	_, stderr, code = cli(t, "--home", home, "release", "publish", nextSigned)
	wantOneLineError(t, stderr, code, "revoked: bad build")
	_, stderr, code = cli(t, "--home", home, "release", "certify", nextID)
	wantOneLineError(t, stderr, code, "revoked: bad build")
	out = mustCLI(t, "--home", home, "release", "show", nextID)
	if !strings.Contains(out, "state") || !strings.Contains(out, "revoked: bad build") || !strings.Contains(out, "[blocks fetch-artifacts]") {
		t.Fatalf("show of a revoked release:\n%s", out)
	}
	_, stderr, code = cli(t, "--home", home, "release", "show", "nothex")
	wantOneLineError(t, stderr, code, "not a release ID")
}

// Policies: flags and files are checked, applied to the running node,
// saved in config.json, and published on request; refusals say why.
func TestPolicyCommands(t *testing.T) {
	home := runningHome(t)
	dir := t.TempDir()
	self := strings.TrimSpace(mustCLI(t, "--home", home, "keys", "show", "--authority"))

	_, stderr, code := cli(t, "--home", home, "policy", "set", "discovery", "--trust-authority", "nonsense")
	wantOneLineError(t, stderr, code, "not an authority ID")
	_, stderr, code = cli(t, "--home", home, "policy", "set", "discovery", "--required-builders", "2")
	wantOneLineError(t, stderr, code, "could never be met")
	_, stderr, code = cli(t, "--home", home, "policy", "set", "discovery", "--pin", "all")
	wantOneLineError(t, stderr, code, "does not apply to the discovery policy")
	_, stderr, code = cli(t, "--home", home, "policy", "set", "sharing", "--pin", "some")
	wantOneLineError(t, stderr, code, "want none, trusted, all or series")
	_, stderr, code = cli(t, "--home", home, "policy", "set", "everything")
	wantOneLineError(t, stderr, code, "want discovery or sharing")

	out := mustCLI(t, "--home", home, "policy", "set", "discovery", "--trust-builder", self, "--required-builders", "1", "--auto-fetch-artifacts")
	if !strings.Contains(out, "applied to the running node") {
		t.Fatalf("policy set: %s", out)
	}
	out = mustCLI(t, "--home", home, "policy", "set", "sharing", "--pin", "series:app", "--publish")
	if !strings.Contains(out, "published as fact") || !strings.Contains(out, "series:app") {
		t.Fatalf("policy set --publish: %s", out)
	}
	out = mustCLI(t, "--home", home, "policy", "show")
	for _, want := range []string{"auto-fetch artifacts true", "pin series:app", "SharingPolicyPublished", self} {
		if !strings.Contains(squeeze(out), want) {
			t.Fatalf("policy show lacks %q:\n%s", want, out)
		}
	}
	cfg, err := node.Home{Dir: home}.LoadConfig()
	if err != nil || cfg.ReleaseDiscovery == nil || cfg.ReleaseDiscovery.RequiredBuilders != 1 || cfg.ReleaseSharing == nil || cfg.ReleaseSharing.Pin.String() != "series:app" {
		t.Fatalf("config.json: %+v %v", cfg, err)
	}

	file := writeFile(t, filepath.Join(dir, "d.json"), `{"trusted_builders": ["`+self+`"], "required_builders": 1, "unknown": true}`, 0o644)
	_, stderr, code = cli(t, "--home", home, "policy", "set", "discovery", "--file", file)
	wantOneLineError(t, stderr, code, "unknown field")

	// A home whose node is not running: saved, but not published.
	idle := filepath.Join(t.TempDir(), "idle")
	mustCLI(t, "--home", idle, "init", "--new-network")
	out = mustCLI(t, "--home", idle, "policy", "set", "sharing", "--forward", "trusted")
	if !strings.Contains(out, "applies when the node starts") {
		t.Fatalf("offline policy set: %s", out)
	}
	_, stderr, code = cli(t, "--home", idle, "policy", "set", "sharing", "--pin", "none", "--publish")
	wantOneLineError(t, stderr, code, "--publish needs the running node")
	out = mustCLI(t, "--home", idle, "policy", "show")
	if !strings.Contains(squeeze(out), "forward trusted") {
		t.Fatalf("offline policy show:\n%s", out)
	}
}

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, string(raw), 0o644)
}

// flipBase64 flips a bit of the last byte of base64-encoded data.
func flipBase64(t *testing.T, s string) string {
	t.Helper()
	var b []byte
	if err := json.Unmarshal([]byte(`"`+s+`"`), &b); err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 1
	out, _ := json.Marshal(b)
	return strings.Trim(string(out), `"`)
}

// squeeze collapses runs of spaces, so table columns compare as words.
func squeeze(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}
