package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// cli runs the command line in-process and returns stdout, stderr and
// the exit status.
func cli(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := execute(args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// wantOneLineError checks the CLI failed with one "aura-node: " line
// containing want.
func wantOneLineError(t *testing.T, stderr string, code int, want string) {
	t.Helper()
	if code != 1 {
		t.Fatalf("exit status %d, want 1 (stderr %q)", code, stderr)
	}
	if !strings.HasPrefix(stderr, "aura-node: ") || strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
		t.Fatalf("stderr is not one \"aura-node: ...\" line: %q", stderr)
	}
	if !strings.Contains(stderr, want) {
		t.Fatalf("stderr %q does not mention %q", stderr, want)
	}
}

func TestErrorLine(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"node: not an initialised home", "not an initialised home"},
		{"a\n\n  b\n", "a; b"},
		{"unknown command \"stauts\" for \"aura-node\"\n\nDid you mean this?\n\tstatus\n", "unknown command \"stauts\" for \"aura-node\" (did you mean status?)"},
	} {
		if got := errorLine(errors.New(c.in)); got != c.want {
			t.Errorf("errorLine(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestUsageErrorsAreOneLine(t *testing.T) {
	home := filepath.Join(t.TempDir(), "h")
	for _, args := range [][]string{
		{"stauts"},
		{"--home", home, "status"},
		{"--home", home, "data", "put", "onlykey"},
		{"--home", home, "facts", "list", "--limit", "x"},
		{"--home", home, "init"},
		{"--home", home, "init", "--new-network", "--genesis", "g.cbor"},
		{"--home", home, "init", "--new-network", "--member", "nonsense"},
		{"--home", home, "testnet", "stop", "zero", "--dir", home},
	} {
		_, stderr, code := cli(t, args...)
		wantOneLineError(t, stderr, code, "")
	}
}

func TestInitAndKeys(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")

	// b makes keys first so a can list it in the roster.
	out, stderr, code := cli(t, "--home", b, "init", "--keys-only", "--json")
	if code != 0 {
		t.Fatalf("init --keys-only: %s", stderr)
	}
	var bKeys initResult
	if err := json.Unmarshal([]byte(out), &bKeys); err != nil {
		t.Fatal(err)
	}
	out, _, _ = cli(t, "--home", b, "keys", "show", "--authority")
	if strings.TrimSpace(out) != bKeys.Authority {
		t.Fatalf("keys show --authority = %q, want %q", out, bKeys.Authority)
	}

	out, stderr, code = cli(t, "--home", a, "init", "--new-network", "--name", "lab", "--member", bKeys.Authority, "--json")
	if code != 0 {
		t.Fatalf("init --new-network: %s", stderr)
	}
	var aRes initResult
	if err := json.Unmarshal([]byte(out), &aRes); err != nil {
		t.Fatal(err)
	}
	if aRes.NetworkName != "lab" || len(aRes.Members) != 2 || aRes.Threshold != 2 || !aRes.IsMember || aRes.Admin != aRes.Authority {
		t.Fatalf("unexpected init result %+v", aRes)
	}

	// b joins with a's genesis and a static peer added to its config.
	peer := "/ip4/127.0.0.1/tcp/4001/p2p/" + aRes.PeerID
	out, stderr, code = cli(t, "--home", b, "init", "--genesis", aRes.GenesisFile, "--static-peer", peer, "--json")
	if code != 0 {
		t.Fatalf("init --genesis: %s", stderr)
	}
	var bRes initResult
	if err := json.Unmarshal([]byte(out), &bRes); err != nil {
		t.Fatal(err)
	}
	if bRes.NetworkID != aRes.NetworkID || !bRes.IsMember || bRes.Authority != bKeys.Authority {
		t.Fatalf("b joined wrongly: %+v (a: %+v)", bRes, aRes)
	}

	// Both homes are now complete: init again is refused.
	_, stderr, code = cli(t, "--home", a, "init", "--new-network")
	wantOneLineError(t, stderr, code, "already an initialised home")

	// Client commands without a running node say how to start one.
	_, stderr, code = cli(t, "--home", a, "data", "get", "k")
	wantOneLineError(t, stderr, code, "aura-node run --home "+a)
}

func TestInitRejectsBadThresholdWithoutWriting(t *testing.T) {
	home := filepath.Join(t.TempDir(), "h")
	_, stderr, code := cli(t, "--home", home, "init", "--new-network", "--threshold", "2")
	wantOneLineError(t, stderr, code, "--threshold 2 with 1 member")
	_, stderr, code = cli(t, "--home", home, "keys", "show")
	wantOneLineError(t, stderr, code, "not an initialised")
}

func TestEveryCommandHasHelp(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Name() == "help" || c.Name() == "completion" || (c.HasParent() && c.Parent().Name() == "completion") {
			return
		}
		if c.Short == "" || c.Long == "" || c.Example == "" {
			t.Errorf("%q lacks Short, Long or Example help", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	root := newRootCmd()
	root.InitDefaultCompletionCmd()
	walk(root)
}
