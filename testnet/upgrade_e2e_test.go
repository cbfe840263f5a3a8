package testnet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aura-node/aura-node/api"
)

// buildVersion compiles cmd/aura-node with a version string and node
// protocol version.
func buildVersion(t *testing.T, version, protocol string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "aura-node-"+version)
	ld := "-X github.com/aura-node/aura-node/node.Version=" + version + " -X github.com/aura-node/aura-node/node.ProtocolVersion=" + protocol
	out, err := exec.Command("go", "build", "-ldflags", ld, "-o", bin, "github.com/aura-node/aura-node/cmd/aura-node").CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", version, err, out)
	}
	return bin
}

// TestProcessTestnetUpgrade runs three nodes under their launchers:
//
//  1. a second build (1.1.0) becomes active on every node of a context
//     scope, LegacyOnly -> Coexisting -> TargetOnly;
//  2. a build whose health gate fails (1.2.0) is rolled back by itself,
//     every node still running 1.1.0;
//  3. in a scope whose rollback preference is manual-approval, a build
//     (1.2.1) failing on node-3 leaves the scope failed until the owner
//     approves the rollback, then every node runs 1.1.0 again (not 1.2.0:
//     a release that failed in one scope is held in every other scope of
//     the device);
//  4. a hard fork (1.3.0, protocol 2) in the managed quorum of every node
//     becomes active once all approved, and the nodes then run it as a
//     hard fork.
func TestProcessTestnetUpgrade(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	ctx := context.Background()
	v1 := buildVersion(t, "1.0.0", "1")
	v2 := buildVersion(t, "1.1.0", "1")
	v3 := buildVersion(t, "1.2.0", "1")
	v3b := buildVersion(t, "1.2.1", "1")
	v4 := buildVersion(t, "1.3.0", "2")
	dir := filepath.Join(t.TempDir(), "tn")
	m, err := Up(ctx, UpOptions{Dir: dir, N: 3, Binary: v1, Launcher: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Down(context.Background(), DownOptions{Dir: dir}) })
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range m.Nodes {
				b, _ := os.ReadFile(filepath.Join(n.Home, LogFile))
				lines := strings.Split(string(b), "\n")
				if len(lines) > 30 {
					lines = lines[len(lines)-30:]
				}
				t.Logf("node-%d log tail:\n%s", n.Index, strings.Join(lines, "\n"))
			}
		}
	})
	var log strings.Builder
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("upgrade progress:\n%s", log.String())
		}
	})
	everyNodeRuns := func(version string) {
		t.Helper()
		for _, n := range m.Nodes {
			c, _, err := Client(n.Home)
			if err != nil {
				t.Fatal(err)
			}
			st, err := c.UpgradeStatus(ctx, api.UpgradeStatusRequest{})
			if err != nil {
				t.Fatalf("node-%d: %v", n.Index, err)
			}
			if st.Version != version || !st.Launcher {
				t.Fatalf("node-%d runs %s (%s), want %s", n.Index, st.Version, st.RunningName, version)
			}
		}
	}

	// 1. A second build becomes active everywhere.
	res, err := Upgrade(ctx, UpgradeOptions{Dir: dir, Binary: v2, Log: &log, Timeout: 3 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != "active" || res.Residencies[len(res.Residencies)-1] != "TargetOnly" || res.Residencies[0] != "LegacyOnly" {
		t.Fatalf("upgrade to 1.1.0: %+v", res)
	}
	everyNodeRuns("1.1.0")

	// 2. A build whose gate fails rolls back by itself.
	bad := `smoke=test "$AURA_VERSION" != 1.2.0`
	res, err = Upgrade(ctx, UpgradeOptions{Dir: dir, Binary: v3, Gates: []string{bad}, Log: &log, Timeout: 3 * time.Minute})
	if !errors.Is(err, ErrUpgradeFailed) || res.Outcome != "rolled-back" || !strings.Contains(res.LastFailure, "HealthGateFailed") || !strings.Contains(res.LastFailure, "smoke") {
		t.Fatalf("bad build: %v, %+v", err, res)
	}
	everyNodeRuns("1.1.0")

	// 3. Under manual-approval the scope stays failed until approved.
	manual := "context:" + m.Nodes[0].Authority + "/manual"
	onlyNode3 := `smoke=test "$AURA_VERSION" != 1.2.1 || test "$(basename "$AURA_HOME")" != node-3`
	res, err = Upgrade(ctx, UpgradeOptions{Dir: dir, Binary: v3b, Scope: manual, Rollback: "manual-approval", Gates: []string{onlyNode3}, Log: &log, Timeout: 3 * time.Minute})
	if !errors.Is(err, ErrUpgradeFailed) || res.Outcome != "failed" || !strings.Contains(err.Error(), "approve-rollback") {
		t.Fatalf("manual scope: %v, %+v", err, res)
	}
	// scopeOf reads the manual scope from node-1. Client reads the API
	// address again each time: a node restarted by its launcher (a
	// cutover or rollback) listens on a new port.
	scopeOf := func() (api.UpgradeScope, error) {
		c, _, err := Client(m.Nodes[0].Home)
		if err != nil {
			return api.UpgradeScope{}, err
		}
		st, err := c.UpgradeStatus(ctx, api.UpgradeStatusRequest{Scope: manual})
		if err != nil {
			return api.UpgradeScope{}, err
		}
		return st.Scopes[0], nil
	}
	versions := func() ([]string, error) {
		var vs []string
		for _, n := range m.Nodes {
			c, _, err := Client(n.Home)
			if err != nil {
				return nil, fmt.Errorf("node-%d: %w", n.Index, err)
			}
			st, err := c.UpgradeStatus(ctx, api.UpgradeStatusRequest{})
			if err != nil {
				return nil, fmt.Errorf("node-%d: %w", n.Index, err)
			}
			vs = append(vs, st.Version)
		}
		return vs, nil
	}
	// What each node runs once the scope failed: 1.1.0 on node-3 (its
	// launcher rolled back by itself), 1.2.1 on each node that cut over
	// (the canary wave decides which), never anything else.
	var held []string
	waitUntil(t, 30*time.Second, "every node reachable after the failure", func() (bool, string) {
		vs, err := versions()
		if err != nil {
			return false, err.Error()
		}
		held = vs
		return true, ""
	})
	if held[2] != "1.1.0" {
		t.Fatalf("node-3 runs %s after its gate failed, want 1.1.0", held[2])
	}
	// It stays failed, and every node keeps what it runs: the testnet
	// scope (automatic, same target) orders the rollback, the manual scope
	// holds it until its owner approves. Several upgrade ticks of every
	// node change nothing, and no node restarts.
	tick := time.NewTicker(500 * time.Millisecond)
	for deadline := time.Now().Add(4 * time.Second); time.Now().Before(deadline); <-tick.C {
		s, err := scopeOf()
		if err != nil {
			t.Fatalf("node-1 unreachable while the manual scope holds the rollback (did it restart?): %v", err)
		}
		if s.Target == nil || s.Target.State != "failed" || s.Target.Rollback != "awaiting-approval" {
			t.Fatalf("manual scope moved without approval: %+v", s.Target)
		}
		vs, err := versions()
		if err != nil {
			t.Fatalf("a node is unreachable while the manual scope holds the rollback (did it restart?): %v", err)
		}
		if !slices.Equal(vs, held) {
			t.Fatalf("the nodes ran %v when the scope failed and run %v before the rollback was approved", held, vs)
		}
	}
	tick.Stop()
	c1, _, err := Client(m.Nodes[0].Home)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c1.UpgradeAction(ctx, api.UpgradeActionRequest{Action: api.UpgradeApproveRollback, Scope: manual, Reason: "smoke fails on node-3"}); err != nil {
		t.Fatal(err)
	}
	// Once approved, each node on 1.2.1 rolls back: its launcher restarts
	// it, so it is unreachable for a moment (node-1 too, whose view is
	// read here).
	waitUntil(t, 2*time.Minute, "the manual scope rolled back", func() (bool, string) {
		s, err := scopeOf()
		if err != nil {
			return false, err.Error()
		}
		return s.Target != nil && s.Target.State == "rolled-back" && s.Residency == "LegacyOnly" && s.Transition == "Idle", s.Summary
	})
	waitUntil(t, time.Minute, "every node back on 1.1.0", func() (bool, string) {
		vs, err := versions()
		if err != nil {
			return false, err.Error()
		}
		return slices.Equal(vs, []string{"1.1.0", "1.1.0", "1.1.0"}), strings.Join(vs, " ")
	})

	// 4. A hard fork in the managed quorum of every node.
	res, err = Upgrade(ctx, UpgradeOptions{Dir: dir, Binary: v4, Class: "hard", Log: &log, Timeout: 3 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != "active" || !strings.HasPrefix(res.Scope, "quorum:") {
		t.Fatalf("hard fork: %+v", res)
	}
	everyNodeRuns("1.3.0")
	for _, n := range m.Nodes {
		c, _, _ := Client(n.Home)
		st, err := c.UpgradeStatus(ctx, api.UpgradeStatusRequest{})
		if err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 10*time.Second, "the node to know it runs a hard fork", func() (bool, string) {
			st, err = c.UpgradeStatus(ctx, api.UpgradeStatusRequest{})
			return err == nil && st.HardFork == res.Release && st.Protocol == 2, st.HardFork
		})
		// Before asking its launcher, each node handled its in-flight
		// sessions by the plan (the log of the build it ran then).
		b, err := os.ReadFile(filepath.Join(n.Home, LogFile))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "handled in-flight sessions for the cutover") {
			t.Fatalf("node-%d: no record of its in-flight sessions before the hard-fork cutover", n.Index)
		}
	}
}
