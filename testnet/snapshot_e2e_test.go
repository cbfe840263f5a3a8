package testnet

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aura-node/aura-node/api"
)

// TestProcessTestnetSnapshot runs five real node processes (M = 3): a
// snapshot proposed on node 1 completes while node 4 is killed with
// SIGKILL mid-round; every node prunes; node 4 restarts consistent; a
// fresh process joins from the snapshot; an encrypted backup restores in
// another home to the same digest, and a tampered backup is refused.
func TestProcessTestnetSnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	ctx := context.Background()
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "tn")
	m, err := Up(ctx, UpOptions{Dir: dir, N: 5, Binary: bin})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Down(context.Background(), DownOptions{Dir: dir}) })
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range m.Nodes {
				b, _ := os.ReadFile(filepath.Join(n.Home, LogFile))
				lines := strings.Split(string(b), "\n")
				if len(lines) > 25 {
					lines = lines[len(lines)-25:]
				}
				t.Logf("node-%d log tail:\n%s", n.Index, strings.Join(lines, "\n"))
			}
		}
	})
	client := func(i int) *api.Client {
		t.Helper()
		c, _, err := Client(m.Nodes[i-1].Home)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for k := 0; k < 30; k++ {
		if _, err := client(1+k%5).PutData(ctx, "default", fmt.Sprintf("k%d", k), []byte(fmt.Sprint(k))); err != nil {
			t.Fatal(err)
		}
	}
	sameDigest := func(nodes ...int) func() (bool, string) {
		return func() (bool, string) {
			var ds []string
			for _, i := range nodes {
				st, err := client(i).Status(ctx)
				if err != nil {
					return false, err.Error()
				}
				ds = append(ds, fmt.Sprintf("node-%d facts=%d digest=%.12s snap=%v", i, st.Facts, st.StateDigest, st.Snapshot.HasSnapshot))
			}
			for _, d := range ds[1:] {
				if d[strings.Index(d, "digest"):] != ds[0][strings.Index(ds[0], "digest"):] {
					return false, strings.Join(ds, "; ")
				}
			}
			return true, ""
		}
	}
	waitUntil(t, 30*time.Second, "convergence before the snapshot", sameDigest(1, 2, 3, 4, 5))

	if _, err := client(1).ProposeSnapshot(ctx); err != nil {
		t.Fatal(err)
	}
	if err := Stop(ctx, dir, 4, nil); err != nil { // SIGKILL during the round
		t.Fatal(err)
	}
	committed := func(nodes ...int) func() (bool, string) {
		return func() (bool, string) {
			var state []string
			ok := true
			for _, i := range nodes {
				st, err := client(i).SnapshotStatus(ctx)
				if err != nil {
					return false, err.Error()
				}
				state = append(state, fmt.Sprintf("node-%d snap=%v epoch=%d facts=%d adopting=%v err=%s", i, st.HasSnapshot, st.Epoch, st.JournalFacts, st.Adopting, st.LastError))
				ok = ok && st.HasSnapshot && st.Epoch == 1 && st.JournalFacts < 30 && !st.Adopting
			}
			return ok, strings.Join(state, "; ")
		}
	}
	waitUntil(t, 60*time.Second, "the snapshot to commit and every running node to prune", committed(1, 2, 3, 5))

	if err := Start(ctx, StartOptions{Dir: dir, Nodes: []int{4}, Binary: bin}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 60*time.Second, "node 4, killed mid-round, to end consistent", committed(4))
	waitUntil(t, 30*time.Second, "all five to agree", sameDigest(1, 2, 3, 4, 5))

	// A fresh process joins from the snapshot.
	joinHome := filepath.Join(t.TempDir(), "joiner")
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("aura-node %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("--home", joinHome, "init", "--genesis", filepath.Join(m.Nodes[0].Home, "genesis.cbor"), "--static-peer", m.Nodes[0].P2PAddr())
	joiner := exec.Command(bin, "--home", joinHome, "run")
	if err := joiner.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { joiner.Process.Kill(); joiner.Wait() })
	waitUntil(t, 60*time.Second, "the fresh node to join from the snapshot", func() (bool, string) {
		c, _, err := Client(joinHome)
		if err != nil {
			return false, err.Error()
		}
		st, err := c.Status(ctx)
		if err != nil {
			return false, err.Error()
		}
		ref, err := client(1).Status(ctx)
		if err != nil {
			return false, err.Error()
		}
		return st.StateDigest == ref.StateDigest && st.Snapshot.HasSnapshot, fmt.Sprintf("joiner facts=%d snap=%v digest=%.12s want %.12s", st.Facts, st.Snapshot.HasSnapshot, st.StateDigest, ref.StateDigest)
	})

	// Encrypted backup of node 2, restored into another home.
	pass := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(pass, []byte("correct horse battery staple\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "node2.age")
	run("--home", m.Nodes[1].Home, "backup", "--out", backup, "--passphrase-file", pass)
	ref, err := client(2).Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	run("--home", restored, "init", "--keys-only")
	out := run("--home", restored, "restore", backup, "--passphrase-file", pass)
	if !strings.Contains(out, "state digest "+ref.StateDigest) {
		t.Fatalf("restore output does not show digest %s:\n%s", ref.StateDigest, out)
	}
	raw, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-100] ^= 0x40
	tampered := filepath.Join(t.TempDir(), "tampered.age")
	if err := os.WriteFile(tampered, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "other")
	run("--home", other, "init", "--keys-only")
	bad, err := exec.Command(bin, "--home", other, "restore", tampered, "--passphrase-file", pass).CombinedOutput()
	if err == nil || !strings.Contains(string(bad), "refused") {
		t.Fatalf("a tampered backup was not refused: %v\n%s", err, bad)
	}
	t.Logf("tampered backup: %s", strings.TrimSpace(string(bad)))
}
