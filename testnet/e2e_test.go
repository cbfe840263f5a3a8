package testnet

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/aura-node/aura-node/api"
)

// buildBinary compiles cmd/aura-node into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "aura-node")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/aura-node/aura-node/cmd/aura-node").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last state: %s", d, what, state)
		}
		<-tick.C
	}
}

// TestProcessTestnet runs five real node processes: writes on one node
// reach every node, a cache invalidation on one node is seen on another,
// and a node killed with SIGKILL right after acknowledged writes keeps
// them, catches up what it missed and converges.
func TestProcessTestnet(t *testing.T) {
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
	clients := make([]*api.Client, len(m.Nodes)+1)
	for _, n := range m.Nodes {
		c, _, err := Client(n.Home)
		if err != nil {
			t.Fatal(err)
		}
		clients[n.Index] = c
	}
	refresh := func(i int) {
		c, _, err := Client(m.Nodes[i-1].Home)
		if err != nil {
			t.Fatal(err)
		}
		clients[i] = c
	}
	put := func(i int, key, value string) {
		t.Helper()
		if _, err := clients[i].PutData(ctx, "default", key, []byte(value)); err != nil {
			t.Fatalf("node-%d put %s: %v", i, key, err)
		}
	}
	converged := func(wantFacts uint64) func() (bool, string) {
		return func() (bool, string) {
			var digests, state []string
			for i := 1; i <= len(m.Nodes); i++ {
				st, err := clients[i].Status(ctx)
				if err != nil {
					return false, err.Error()
				}
				digests = append(digests, st.StateDigest)
				state = append(state, fmt.Sprintf("node-%d facts=%d", i, st.Facts))
				if st.Facts != wantFacts {
					return false, fmt.Sprint(state)
				}
			}
			for _, d := range digests[1:] {
				if d != digests[0] {
					return false, fmt.Sprint(state, digests)
				}
			}
			return true, ""
		}
	}

	for k := 0; k < 20; k++ {
		put(1, fmt.Sprintf("k%d", k), fmt.Sprintf("v%d", k))
	}
	waitUntil(t, 30*time.Second, "every node to hold node-1's writes", converged(21))
	v, err := clients[4].GetData(ctx, "default", "k7")
	if err != nil || string(v.Value) != "v7" {
		t.Fatalf("node-4 k7 = %v, %v", v, err)
	}

	// Cache invalidation on node 2, checked on node 5.
	if e, err := clients[5].CacheSet(ctx, "user:42", []byte("cached")); err != nil || !e.Valid {
		t.Fatalf("cache set: %+v %v", e, err)
	}
	if _, err := clients[2].Invalidate(ctx, api.InvalidateRequest{Keys: []string{"user:42"}}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "node-5 to see the invalidation", func() (bool, string) {
		c, err := clients[5].CacheCheck(ctx, "user:42", nil)
		if err != nil {
			return false, err.Error()
		}
		return c.Floor == 1 && !c.Valid, CheckLine(c)
	})
	if e, err := clients[5].CacheGet(ctx, "user:42"); err != nil || e.Valid {
		t.Fatalf("node-5 cache get after invalidation: %+v %v", e, err)
	}

	// Acknowledged writes on node 3, then SIGKILL.
	for k := 0; k < 5; k++ {
		put(3, fmt.Sprintf("before-kill-%d", k), "acked")
	}
	if err := Stop(ctx, dir, 3, nil); err != nil {
		t.Fatal(err)
	}
	for k := 0; k < 10; k++ {
		put(1, fmt.Sprintf("while-down-%d", k), "x")
	}
	if err := Start(ctx, StartOptions{Dir: dir, Nodes: []int{3}, Binary: bin}); err != nil {
		t.Fatal(err)
	}
	refresh(3)
	for k := 0; k < 5; k++ {
		v, err := clients[3].GetData(ctx, "default", fmt.Sprintf("before-kill-%d", k))
		if err != nil || string(v.Value) != "acked" {
			t.Fatalf("node-3 lost acknowledged write before-kill-%d: %v %v", k, v, err)
		}
	}
	waitUntil(t, 30*time.Second, "the restarted node to catch up and all to converge", converged(21+1+5+10))

	// Partition {1,2} | {3,4,5}, write on both sides, heal: the union.
	groups, err := ParseGroups([]string{"1,2", "3,4,5"}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if err := Partition(ctx, dir, groups, nil); err != nil {
		t.Fatal(err)
	}
	for k := 0; k < 10; k++ {
		put(1, fmt.Sprintf("side-a-%d", k), "a")
		put(4, fmt.Sprintf("side-b-%d", k), "b")
	}
	// Each side sees only its own writes while partitioned.
	waitUntil(t, 10*time.Second, "node-2 to hold side a", func() (bool, string) {
		st, err := clients[2].Status(ctx)
		if err != nil {
			return false, err.Error()
		}
		return st.Facts == 37+10, fmt.Sprintf("facts=%d", st.Facts)
	})
	if _, err := clients[2].GetData(ctx, "default", "side-b-0"); err == nil {
		t.Fatal("node-2 saw a write from the other side of the partition")
	}
	if err := Heal(ctx, dir, nil); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 60*time.Second, "both sides to converge after the heal", converged(37+20))
}
