package bench

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"
)

// TestSnapshotSmall runs the snapshot benchmark small: the snapshot
// commits on every member, member 0 prunes every data fact, both joins
// reach their target digests, and the figures are consistent.
func TestSnapshotSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 6 libp2p nodes with Pebble journals")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n = 2000
	r, err := Snapshot(ctx, SnapshotOptions{Facts: n, Nodes: 3, Dir: t.TempDir(), Log: testLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", *r)
	if r.Facts != n || r.Nodes != 3 || r.Threshold != 2 {
		t.Fatalf("facts %d nodes %d threshold %d", r.Facts, r.Nodes, r.Threshold)
	}
	if r.CommitS <= 0 || r.MembersPruned+r.MembersAdopted != 3 {
		t.Fatalf("commit: %v s, %d pruned, %d adopted", r.CommitS, r.MembersPruned, r.MembersAdopted)
	}
	// The genesis is kept; every data fact is pruned.
	if r.Pruned != n || r.JournalFactsBefore != n+1 || r.JournalFactsAfter >= r.JournalFactsBefore {
		t.Fatalf("pruned %d, journal %d -> %d facts", r.Pruned, r.JournalFactsBefore, r.JournalFactsAfter)
	}
	if r.BytesBeforeGC == 0 || r.BytesAfterGC == 0 || r.BlobBytes <= 0 || r.LiveStateBytes != r.BlobBytes || r.StateKVBytes <= 0 || r.StateEntries < n {
		t.Fatalf("sizes: before %d after %d blob %d live %d kv %d entries %d",
			r.BytesBeforeGC, r.BytesAfterGC, r.BlobBytes, r.LiveStateBytes, r.StateKVBytes, r.StateEntries)
	}
	if want := float64(r.BytesAfterGC) / float64(r.LiveStateBytes); r.GCRatio <= 0 || math.Abs(r.GCRatio-want) > 1e-3 {
		t.Fatalf("gc_ratio %v, want %v", r.GCRatio, want)
	}
	if want := float64(r.BytesAfterGC+uint64(r.BlobBytes)) / float64(r.LiveStateBytes); math.Abs(r.GCRatioWithBlob-want) > 1e-3 {
		t.Fatalf("gc_ratio_with_blob %v, want %v", r.GCRatioWithBlob, want)
	}
	if r.GCRatioMet != (r.GCRatio <= r.GCRatioGoal) || r.GCRatioGoal != 1.2 {
		t.Fatalf("gc goal %v met %v at %v", r.GCRatioGoal, r.GCRatioMet, r.GCRatio)
	}
	if r.SnapshotJoinS <= 0 || r.FullReplayS <= 0 {
		t.Fatalf("join times: snapshot %v s, full replay %v s", r.SnapshotJoinS, r.FullReplayS)
	}
	// The snapshot joiner holds only the kept facts; the replaying node
	// every fact of the source.
	if r.SnapshotJoinFacts >= n || r.FullReplayFacts != r.JournalFactsBefore {
		t.Fatalf("joiners hold %d (snapshot) and %d (replay) facts", r.SnapshotJoinFacts, r.FullReplayFacts)
	}
	if want := r.FullReplayS / r.SnapshotJoinS; math.Abs(r.JoinSpeedup-want) > 1e-3*math.Max(1, want) {
		t.Fatalf("join_speedup %v, want %v", r.JoinSpeedup, want)
	}
	if r.JoinSpeedupMet != (r.JoinSpeedup >= r.JoinSpeedupGoal) || r.JoinSpeedupGoal != 10 {
		t.Fatalf("join goal %v met %v at %v", r.JoinSpeedupGoal, r.JoinSpeedupMet, r.JoinSpeedup)
	}
	if len(r.CertifiedDigest) != 64 || len(r.StateDigest) != 64 || r.CertifiedDigest == r.StateDigest {
		t.Fatalf("digests: certified %q, after the snapshot %q", r.CertifiedDigest, r.StateDigest)
	}
}

// testLog writes the benchmark's phase lines to the test log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Helper()
	l.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
