package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aura-node/aura-node/launcher"
)

// TestLauncherRequestsWithoutALauncher checks the launcher subcommands
// that only read and write files: status of a home no launcher ever ran,
// requests submitted with --no-wait, and refusals as one line.
func TestLauncherRequestsWithoutALauncher(t *testing.T) {
	home := filepath.Join(t.TempDir(), "h")
	if _, stderr, code := cli(t, "--home", home, "init", "--new-network"); code != 0 {
		t.Fatalf("init: %s", stderr)
	}
	out, stderr, code := cli(t, "--home", home, "launcher", "status")
	if code != 0 || !strings.Contains(out, "launcher     not running") || !strings.Contains(out, "current      -") {
		t.Fatalf("status: %d %s %s", code, out, stderr)
	}

	bin := filepath.Join(t.TempDir(), "aura-node-v2")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho 2.0.0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, stderr, code = cli(t, "--home", home, "launcher", "stage", "--release-id", "v2", "--artifact", bin, "--no-wait", "--json")
	if code != 0 {
		t.Fatalf("stage: %s", stderr)
	}
	var sub struct{ Seq uint64 }
	if err := json.Unmarshal([]byte(out), &sub); err != nil || sub.Seq != 1 {
		t.Fatalf("stage output %q: %v", out, err)
	}
	if _, stderr, code = cli(t, "--home", home, "launcher", "cutover", "--release-id", "v2", "--gate", "smoke=true", "--no-wait"); code != 0 {
		t.Fatalf("cutover: %s", stderr)
	}
	p, err := launcher.Pending(home)
	if err != nil || len(p) != 2 {
		t.Fatalf("pending = %+v, %v", p, err)
	}
	if p[0].Action != launcher.ActionStage || p[0].SHA256 == "" || p[0].Origin != "cli" || !filepath.IsAbs(p[0].Artifact) {
		t.Fatalf("stage request %+v", p[0])
	}
	if g := p[1].Gates; len(g) != 1 || g[0].Name != "smoke" || strings.Join(g[0].Argv, " ") != "/bin/sh -c true" {
		t.Fatalf("cutover gates %+v", g)
	}
	out, _, _ = cli(t, "--home", home, "launcher", "status")
	if !strings.Contains(out, "pending      1 stage v2") || !strings.Contains(out, "pending      2 cutover v2") {
		t.Fatalf("status does not list the pending requests:\n%s", out)
	}

	for _, args := range [][]string{
		{"launcher", "cutover", "--release-id", "../etc", "--no-wait"},
		{"launcher", "cutover", "--release-id", "v2", "--gate", "nocommand"},
		{"launcher", "stage", "--release-id", "v2"},
		{"launcher", "status", "extra"},
	} {
		_, stderr, code := cli(t, append([]string{"--home", home}, args...)...)
		wantOneLineError(t, stderr, code, "")
	}
	_, stderr, code = cli(t, "--home", filepath.Join(t.TempDir(), "none"), "launcher", "status")
	wantOneLineError(t, stderr, code, "not an initialised")
}
