package bench

import (
	"context"
	"testing"
	"time"
)

// TestArtifactsSmall runs the artifacts benchmark small (8 MiB, 3 nodes,
// kubo only if AURA_KUBO is set) so that it cannot rot: every copy is
// checked and every figure must be consistent.
func TestArtifactsSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 8 MiB between libp2p hosts several times")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r, err := Artifacts(ctx, ArtifactsOptions{SizeMiB: 8, Fanout: 3, LinkMiBs: 16, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", r)
	if r.SizeMiB != 8 || r.Fanout != 3 || r.Blocks != 9 {
		t.Fatalf("result %+v", r)
	}
	for name, v := range map[string]float64{
		"raw_stream_mib_s": r.RawStreamMiBs, "transfer_mib_s": r.TransferMiBs, "transfer_ratio": r.TransferRatio,
		"single_s": r.SingleS, "fanout_s": r.FanoutS, "fanout_ratio": r.FanoutRatio, "fanout_uncapped_s": r.FanoutUncappedS,
	} {
		if !(v > 0) {
			t.Fatalf("%s = %v, want > 0 (%+v)", name, v, r)
		}
	}
	// The capped single transfer cannot beat its cap.
	if min := 8 / r.LinkMiBs * 0.9; r.SingleS < min {
		t.Fatalf("single_s %.3f below the cap's minimum %.3f", r.SingleS, min)
	}
	if r.SeedShare <= 0 || r.SeedShare > 1 {
		t.Fatalf("seed_share %v", r.SeedShare)
	}
	if r.KuboMiBs == 0 && r.KuboSkipped == "" {
		t.Fatalf("no kubo figure and no reason: %+v", r)
	}
	if r.KuboCIDMatch != nil && !*r.KuboCIDMatch {
		t.Fatalf("kubo computed another root CID for the same bytes: %+v", r)
	}
}
