package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// `policy set activation --canary N`: a device's own scope has one
// device, so only 0 is accepted there; the bounds are checked before
// anything is published; the printed policy shows the wave.
func TestPolicySetActivationCanary(t *testing.T) {
	home := filepath.Join(t.TempDir(), "h")
	if _, stderr, code := cli(t, "--home", home, "init", "--new-network"); code != 0 {
		t.Fatalf("init: %s", stderr)
	}
	me, _, _ := cli(t, "--home", home, "keys", "show", "--authority")
	ctx := "context:" + strings.TrimSpace(me) + "/fleet"
	out, stderr, code := cli(t, "--home", home, "policy", "set", "activation", "--canary", "0")
	if code != 0 {
		t.Fatalf("--canary 0 on the device scope: %s", stderr)
	}
	if !strings.Contains(out, "canary wave") || !strings.Contains(out, "- (one device)") {
		t.Fatalf("output does not show the canary wave:\n%s", out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--canary", "2"}, "this device's own scope has one device, so it has no canary wave; give the scope of several devices with --scope KEY"},
		{[]string{"--scope", ctx, "--canary", "-1"}, "--canary -1: want 0 (no canary wave) to 1000 devices"},
		{[]string{"--scope", ctx, "--canary", "1001"}, "--canary 1001: want 0 (no canary wave) to 1000 devices"},
		{[]string{"--scope", ctx, "--canary", "2"}, "running node"},
	} {
		_, stderr, code := cli(t, append([]string{"--home", home, "policy", "set", "activation"}, c.args...)...)
		wantOneLineError(t, stderr, code, c.want)
	}
}
