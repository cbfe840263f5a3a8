package bench

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/aura-node/aura-node/antientropy"
)

// TestAntiEntropySmall runs every case at n = 20000: each must find exactly
// the planted differences (AntiEntropy fails otherwise) and report the JSON
// fields with consistent figures.
func TestAntiEntropySmall(t *testing.T) {
	const n = 20000
	var calls int
	r, err := AntiEntropy(context.Background(), AntiEntropyOptions{N: n, Progress: func(done, total int) {
		calls++
		if done > total {
			t.Errorf("progress %d of %d", done, total)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if calls == 0 {
		t.Error("no progress reported")
	}
	if len(r.Cases) != 4 {
		t.Fatalf("%d cases, want 4", len(r.Cases))
	}
	for i, d := range []int{1, 100, 1000, 10000} {
		c := r.Cases[i]
		if c.N != n || c.D != d {
			t.Fatalf("case %d: n=%d d=%d", i, c.N, c.D)
		}
		if c.RoundTrips < 1 || c.BytesOut <= 0 || c.BytesIn <= 0 || c.MissingBytes < 100*d {
			t.Errorf("d=%d: %+v", d, c)
		}
		if want := c.BytesOut + c.BytesIn + c.MissingBytes + 4*d; c.BytesTotal != want {
			t.Errorf("d=%d: bytes_total %d, want %d", d, c.BytesTotal, want)
		}
		if want := 32*n + c.MissingBytes + 4*d; c.NaiveBytes != want || c.NaiveRoundTrips != 1 {
			t.Errorf("d=%d: naive %d bytes in %d round trips, want %d in 1", d, c.NaiveBytes, c.NaiveRoundTrips, want)
		}
		if c.InitiatorCPUMs <= 0 || c.ResponderCPUMs <= 0 || math.Abs(c.CPUMs-c.InitiatorCPUMs-c.ResponderCPUMs) > 0.0011 {
			t.Errorf("d=%d: cpu %v = %v + %v?", d, c.CPUMs, c.InitiatorCPUMs, c.ResponderCPUMs)
		}
		wantSplit := "half each way"
		if d == 1 {
			wantSplit = "one-way"
		}
		if !strings.HasPrefix(c.Split, wantSplit) {
			t.Errorf("d=%d: split %q", d, c.Split)
		}
		if d == 1 {
			meets := c.RoundTrips <= 3 && c.BytesOut+c.BytesIn <= 1536
			if !strings.Contains(c.Goal, "excluding the fact") || c.MeetsGoal != meets {
				t.Errorf("d=1: goal %q meets %v", c.Goal, c.MeetsGoal)
			}
		} else {
			meets := float64(c.BytesTotal) <= 1.3*float64(c.MissingBytes)+16384
			if c.Goal != "bytes_total <= 1.3 x missing_bytes + 16384" || c.MeetsGoal != meets {
				t.Errorf("d=%d: goal %q meets %v", d, c.Goal, c.MeetsGoal)
			}
		}
	}

	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string][]map[string]any
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	want := []string{"n", "d", "split", "round_trips", "bytes_out", "bytes_in", "bytes_total", "missing_bytes",
		"naive_bytes", "naive_round_trips", "cpu_ms", "initiator_cpu_ms", "responder_cpu_ms", "goal", "meets_goal"}
	slices.Sort(want)
	if len(top) != 1 || len(top["cases"]) != 4 {
		t.Fatalf("JSON %s", b)
	}
	for _, c := range top["cases"] {
		var keys []string
		for k := range c {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, want) {
			t.Fatalf("JSON keys %v, want %v", keys, want)
		}
	}
}

// TestAntiEntropySessionMatchesCore checks that the timed session loop
// counts what antientropy.Reconcile counts.
func TestAntiEntropySessionMatchesCore(t *testing.T) {
	const n = 20000
	rng := rand.New(rand.NewPCG(7, 7))
	pool := aeItems(rng, n+50, nil)
	for _, d := range []int{1, 100} {
		s, err := buildSides(rng, pool, n, planCase(d), nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := runSession(s.initiator, s.responder)
		if err != nil {
			t.Fatal(err)
		}
		want, err := antientropy.Reconcile(s.initiator, s.responder, antientropy.Options{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got.roundTrips != want.RoundTrips || got.bytesOut != want.BytesOut || got.bytesIn != want.BytesIn ||
			len(got.have) != len(want.Have) || len(got.need) != len(want.Need) {
			t.Fatalf("d=%d: session %+v, core %+v", d, got, want)
		}
		if err := checkFound("have", got.have, s.have); err != nil {
			t.Fatal(err)
		}
		if err := checkFound("need", got.need, s.need); err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkAntiEntropy1Diff is the `go test -bench` twin of the d = 1 case
// of `aura-node bench antientropy`, at n = 100000: ns/op is one whole
// session, both sides.
func BenchmarkAntiEntropy1Diff(b *testing.B) {
	const n = 100000
	rng := rand.New(rand.NewPCG(1, 1))
	s, err := buildSides(rng, aeItems(rng, n, nil), n, planCase(1), nil)
	if err != nil {
		b.Fatal(err)
	}
	var last *aeSession
	for b.Loop() {
		if last, err = runSession(s.initiator, s.responder); err != nil {
			b.Fatal(err)
		}
	}
	if err := checkFound("need", last.need, s.need); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(last.roundTrips), "round_trips")
	b.ReportMetric(float64(last.bytesOut+last.bytesIn), "bytes")
}
