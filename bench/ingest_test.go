package bench

import (
	"context"
	"testing"

	"github.com/aura-node/aura-node/storage"
)

// TestIngestReportsRatio runs the ingest benchmark small: it must ingest
// every fact and report a ratio computed from the two rates it measured.
func TestIngestReportsRatio(t *testing.T) {
	r, err := Ingest(context.Background(), IngestOptions{N: 300, Batch: 64, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if r.N != 300 || r.FactsPerS <= 0 || r.VerifyPerS <= 0 {
		t.Fatalf("result %+v", r)
	}
	if got := r.FactsPerS / r.VerifyPerS; got != r.Ratio {
		t.Fatalf("ratio %v, want facts_per_s / verify_per_s = %v", r.Ratio, got)
	}
	if len(r.StateDigest) != 64 {
		t.Fatalf("state digest %q", r.StateDigest)
	}
}

// BenchmarkIngest and BenchmarkBatchVerify are the `go test -bench` twin of
// `aura-node bench ingest`: compare their ns/op (per fact).
func BenchmarkIngest(b *testing.B) {
	c, err := makeCorpus(b.N, nil)
	if err != nil {
		b.Fatal(err)
	}
	j, err := storage.OpenPebble(b.TempDir(), storage.PebbleOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	b.ResetTimer()
	if _, err := c.ingestAll(j, 1024, nil); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkBatchVerify(b *testing.B) {
	c, err := makeCorpus(b.N, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	if _, err := c.verifyAll(1024); err != nil {
		b.Fatal(err)
	}
}
