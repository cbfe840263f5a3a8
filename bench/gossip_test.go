package bench

import (
	"context"
	"testing"
	"time"
)

// TestGossipSmall runs the gossip benchmark small: nothing may be missing
// after anti-entropy and every figure must be consistent.
func TestGossipSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 10 libp2p hosts")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := Gossip(ctx, GossipOptions{Nodes: 5, Facts: 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", r)
	if r.Nodes != 5 || r.Facts != 20 || r.MsgBytes < 150 || r.MsgBytes > 400 {
		t.Fatalf("result %+v", r)
	}
	if r.Aura.LostAfterAntiEntropy != 0 {
		t.Fatalf("%d lost after anti-entropy", r.Aura.LostAfterAntiEntropy)
	}
	pairs := (r.Nodes - 1) * r.Facts
	if r.Raw.Lost < 0 || r.Raw.Lost >= pairs || r.Aura.LostAfterGossip < 0 || r.Aura.LostAfterGossip > pairs {
		t.Fatalf("loss counts out of range: %+v", r)
	}
	for name, q := range map[string][3]float64{
		"raw":  {r.Raw.P50Ms, r.Raw.P99Ms, r.Raw.MaxMs},
		"aura": {r.Aura.P50Ms, r.Aura.P99Ms, r.Aura.MaxMs},
	} {
		if !(q[0] >= 0 && q[0] <= q[1] && q[1] <= q[2] && q[2] > 0) {
			t.Fatalf("%s quantiles not ordered: p50 %v p99 %v max %v", name, q[0], q[1], q[2])
		}
	}
	if r.Aura.LostAfterGossip < pairs {
		want := r.Aura.P99Ms / r.Raw.P99Ms
		if d := r.P99Ratio - want; d > 1e-3 || d < -1e-3 {
			t.Fatalf("p99_ratio %v, want aura.p99 / raw.p99 = %v", r.P99Ratio, want)
		}
	}
	if r.Goal != gossipGoal || r.MeetsGoal != (r.P99Ratio <= gossipMaxP99Ratio && r.P99Ratio > 0) {
		t.Fatalf("goal %q meets %v with ratio %v", r.Goal, r.MeetsGoal, r.P99Ratio)
	}
}

func TestGossipTopologyIsConnected(t *testing.T) {
	for _, c := range []struct{ n, degree int }{{2, 4}, {5, 4}, {20, 4}, {20, 1}, {50, 1}} {
		edges := gossipTopology(c.n, c.degree, 1)
		order, parent := bfsParents(c.n, edges, 0)
		if len(order) != c.n {
			t.Fatalf("n=%d degree=%d: BFS reached %d hosts", c.n, c.degree, len(order))
		}
		if parent[0] != -1 {
			t.Fatalf("root parent %d", parent[0])
		}
		for _, i := range order[1:] {
			if parent[i] < 0 {
				t.Fatalf("host %d has no parent", i)
			}
		}
		seen := map[[2]int]bool{}
		for _, e := range edges {
			k := [2]int{min(e[0], e[1]), max(e[0], e[1])}
			if e[0] == e[1] || seen[k] {
				t.Fatalf("self or duplicate edge %v", e)
			}
			seen[k] = true
		}
		if again := gossipTopology(c.n, c.degree, 1); len(again) != len(edges) {
			t.Fatalf("topology is not deterministic")
		}
	}
}

func TestQuantiles(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	p50, p99, mx := quantiles(d)
	if p50 != 50*time.Millisecond || p99 != 99*time.Millisecond || mx != 100*time.Millisecond {
		t.Fatalf("p50 %v p99 %v max %v", p50, p99, mx)
	}
	if a, b, c := quantiles(nil); a != 0 || b != 0 || c != 0 {
		t.Fatal("empty input")
	}
}

// TestGossipAntiEntropyRepairs cuts one node off while the facts are
// published: gossip loses them there and anti-entropy must bring them.
func TestGossipAntiEntropyRepairs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 8 libp2p hosts")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := Gossip(ctx, GossipOptions{Nodes: 4, Facts: 10, Settle: 500 * time.Millisecond, isolate: 3})
	if err != nil {
		t.Fatal(err)
	}
	if r.Aura.LostAfterGossip < r.Facts || r.Aura.LostAfterAntiEntropy != 0 {
		t.Fatalf("want >= %d lost after gossip and none after anti-entropy: %+v", r.Facts, r.Aura)
	}
}
