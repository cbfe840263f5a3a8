package bench

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"
)

// TestRolloutSmall runs the rollout benchmark on 3 nodes so that it cannot
// rot: two builds, a testnet of real processes under launchers, the
// fan-out, a restart and the rollout, and every figure consistent.
func TestRolloutSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds aura-node twice and runs a 3-node testnet of real processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var log strings.Builder
	r, err := Rollout(ctx, RolloutOptions{Nodes: 3, Dir: t.TempDir(), Timeout: 3 * time.Minute, PhaseTimeout: time.Minute, Log: &log})
	if err != nil {
		t.Fatalf("%v\nprogress:\n%s", err, log.String())
	}
	t.Logf("%+v", r)
	if r.Nodes != 3 || r.BinaryBytes < 1<<20 || r.FromVersion != RolloutV1 || r.ToVersion != RolloutV2 || r.Goal != 2 || r.RestartNode != 3 {
		t.Fatalf("result %+v", r)
	}
	for name, v := range map[string]float64{
		"rollout_s": r.RolloutS, "rollout_publish_s": r.RolloutPublishS, "rollout_wait_s": r.RolloutWaitS,
		"fanout_s": r.FanoutS, "fanout_import_s": r.FanoutImportS, "fanout_fetch_s": r.FanoutFetchS,
		"restart_s": r.RestartS, "restart_start_s": r.RestartStartS, "ratio": r.Ratio,
	} {
		if !(v > 0) {
			t.Fatalf("%s = %v, want > 0 (%+v)", name, v, r)
		}
	}
	if r.RolloutPublishS+r.RolloutWaitS > r.RolloutS || r.FanoutImportS+r.FanoutFetchS > r.FanoutS || r.RestartStopS+r.RestartStartS > r.RestartS {
		t.Fatalf("parts longer than their whole: %+v", r)
	}
	if want := r.RolloutS / (r.FanoutS + r.RestartS); math.Abs(r.Ratio-want) > 1e-9 || r.MeetsGoal != (r.Ratio <= r.Goal) {
		t.Fatalf("ratio %v meets %v, want %v: %+v", r.Ratio, r.MeetsGoal, want, r)
	}
	if len(r.Residencies) < 2 || r.Residencies[0] != "LegacyOnly" || r.Residencies[len(r.Residencies)-1] != "TargetOnly" {
		t.Fatalf("residencies %v", r.Residencies)
	}
	if !strings.HasPrefix(r.Scope, "context:") || r.Release == "" {
		t.Fatalf("scope %q release %q", r.Scope, r.Release)
	}
}
