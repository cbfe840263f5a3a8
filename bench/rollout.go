package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aura-node/aura-node/api"
	"github.com/aura-node/aura-node/testnet"
)

// RolloutOptions configure Rollout.
type RolloutOptions struct {
	// Nodes is the testnet size; default 10.
	Nodes int
	// Dir is where the scratch directory (the two builds, the testnet,
	// the fan-out file) is created; default the system temporary
	// directory. The scratch directory is removed afterwards.
	Dir string
	// Source is a directory inside the aura-node module, where `go build`
	// runs; default the current directory.
	Source string
	// V1 and V2 are prebuilt aura-node binaries printing different
	// versions (`BINARY version`), V2 the newer; when empty, Rollout
	// builds them from Source as RolloutV1 and RolloutV2.
	V1, V2 string
	// Timeout bounds the rollout (publish to every node TargetOnly and
	// healthy); default 10 minutes.
	Timeout time.Duration
	// PhaseTimeout bounds every other wait (testnet up, the fan-out, the
	// restart); default 3 minutes.
	PhaseTimeout time.Duration
	// Log receives one line per phase and the upgrade driver's progress;
	// nil discards them.
	Log io.Writer
}

// The versions Rollout builds.
const (
	RolloutV1 = "1.0.0"
	RolloutV2 = "1.1.0"
)

// RolloutResult is what `aura-node bench rollout --json` prints.
type RolloutResult struct {
	Nodes int `json:"nodes"`
	// BinaryBytes is the size of the v2 build, the release's artifact;
	// the fan-out moves a file of the same size.
	BinaryBytes int64  `json:"binary_bytes"`
	FromVersion string `json:"from_version"`
	ToVersion   string `json:"to_version"`
	Release     string `json:"release,omitempty"`
	Scope       string `json:"scope,omitempty"`
	// RolloutS is the soft-fork release of v2 through testnet.Upgrade
	// (scope joined by every node, scope policy and release published
	// from node-1 after importing the build into its block store; every
	// node fetches, stages, cuts over through its launcher and passes
	// its health gates) until node-1 sees the scope TargetOnly with the
	// target complete, every node reports running v2 and answers
	// /healthz and /readyz with 200. RolloutPublishS is the part before
	// the release was published (scope join, policy, import, signing),
	// RolloutWaitS the driver's wait after it (without the final health
	// check).
	RolloutS        float64  `json:"rollout_s"`
	RolloutPublishS float64  `json:"rollout_publish_s"`
	RolloutWaitS    float64  `json:"rollout_wait_s"`
	Residencies     []string `json:"residencies,omitempty"`
	// FanoutS is the artifact fan-out baseline: a file of BinaryBytes
	// random bytes imported into node-1's block store (FanoutImportS),
	// then fetched at once by every other node through the node API
	// (each fetch verified against its CIDs and pinned, as the rollout's
	// fetches are) until the last is done (FanoutFetchS).
	FanoutS       float64 `json:"fanout_s"`
	FanoutImportS float64 `json:"fanout_import_s"`
	FanoutFetchS  float64 `json:"fanout_fetch_s"`
	// RestartS is one node restart: SIGKILL of its launcher (which takes
	// the node with it) until the process is gone (RestartStopS), then
	// its launcher started again until the node answers /readyz and has
	// a peer (RestartStartS) — testnet.Stop then testnet.Start.
	RestartS      float64 `json:"restart_s"`
	RestartStopS  float64 `json:"restart_stop_s"`
	RestartStartS float64 `json:"restart_start_s"`
	RestartNode   int     `json:"restart_node"`
	RestartMethod string  `json:"restart_method"`
	// Ratio is RolloutS / (FanoutS + RestartS); the goal is at most Goal.
	Ratio     float64 `json:"ratio"`
	Goal      float64 `json:"goal"`
	MeetsGoal bool    `json:"meets_goal"`
	// BuildS and UpS are the setup: the two builds, the testnet up.
	BuildS float64 `json:"build_s"`
	UpS    float64 `json:"up_s"`
}

// rolloutGoal is the goal on RolloutResult.Ratio (issue 6, item 9).
const rolloutGoal = 2.0

// Rollout measures, in one run on one testnet of real processes under
// launchers (127.0.0.1):
//
//  1. setup: build V1 and V2 (unless given), bring up Nodes nodes
//     running V1 under their launchers;
//  2. fan-out: import a file the size of V2 into node-1, every other node
//     fetches it at once; then it is unpinned and collected everywhere;
//  3. restart: SIGKILL the last node's launcher and start it again until
//     the node is ready with a peer;
//  4. rollout: testnet.Upgrade publishes V2 as a soft-fork release from
//     node-1 and drives it through every node (LegacyOnly -> Coexisting
//     -> TargetOnly), then every node must be healthy and run V2.
//
// The testnet is torn down (and its files removed) at the end, also on
// failure. When a phase fails the result holds the figures measured so
// far, with the error.
func Rollout(ctx context.Context, o RolloutOptions) (res *RolloutResult, err error) {
	if o.Nodes == 0 {
		o.Nodes = 10
	}
	if o.Nodes < 2 || o.Nodes > testnet.MaxNodes {
		return nil, fmt.Errorf("bench: --nodes %d: want 2 to %d", o.Nodes, testnet.MaxNodes)
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.PhaseTimeout <= 0 {
		o.PhaseTimeout = 3 * time.Minute
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Source == "" {
		o.Source = "."
	}
	scratch, err := os.MkdirTemp(o.Dir, "aura-bench-rollout-")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(scratch)
	res = &RolloutResult{Nodes: o.Nodes, Goal: rolloutGoal, RestartNode: o.Nodes,
		RestartMethod: "testnet.Stop (SIGKILL of the node's launcher) + testnet.Start (launcher started again) until /readyz 200 and a peer"}

	// 1. Setup.
	start := time.Now()
	if o.V1 == "" || o.V2 == "" {
		fmt.Fprintf(o.Log, "building aura-node %s and %s\n", RolloutV1, RolloutV2)
		if o.V1, err = buildAuraNode(ctx, o.Source, scratch, RolloutV1); err != nil {
			return nil, err
		}
		if o.V2, err = buildAuraNode(ctx, o.Source, scratch, RolloutV2); err != nil {
			return nil, err
		}
	}
	res.BuildS = time.Since(start).Seconds()
	if res.FromVersion, err = binaryVersion(ctx, o.V1); err != nil {
		return nil, err
	}
	if res.ToVersion, err = binaryVersion(ctx, o.V2); err != nil {
		return nil, err
	}
	if res.FromVersion == res.ToVersion {
		return nil, fmt.Errorf("bench: %s and %s both print version %s: the rollout needs a different build", o.V1, o.V2, res.ToVersion)
	}
	fi, err := os.Stat(o.V2)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	res.BinaryBytes = fi.Size()

	dir := filepath.Join(scratch, "testnet")
	fmt.Fprintf(o.Log, "bringing up %d nodes running %s under launchers in %s\n", o.Nodes, res.FromVersion, dir)
	start = time.Now()
	m, err := testnet.Up(ctx, testnet.UpOptions{Dir: dir, N: o.Nodes, Binary: o.V1, Launcher: true, ReadyTimeout: o.PhaseTimeout})
	if err != nil {
		// Up stopped what it started; the scratch directory goes.
		return nil, err
	}
	defer func() {
		fmt.Fprintf(o.Log, "tearing the testnet down\n")
		if derr := testnet.Down(context.Background(), testnet.DownOptions{Dir: dir, Purge: true}); derr != nil && err == nil {
			err = derr
		}
	}()
	res.UpS = time.Since(start).Seconds()
	clients := make([]*api.Client, o.Nodes)
	for i, n := range m.Nodes {
		if clients[i], _, err = testnet.Client(n.Home); err != nil {
			return nil, err
		}
	}

	// 2. Fan-out of a file of the build's size.
	if err := rolloutFanout(ctx, o, scratch, clients, res); err != nil {
		return res, err
	}

	// 3. One node restart.
	fmt.Fprintf(o.Log, "restarting node-%d\n", o.Nodes)
	start = time.Now()
	if err := testnet.Stop(ctx, dir, o.Nodes, o.Log); err != nil {
		return res, err
	}
	res.RestartStopS = time.Since(start).Seconds()
	mid := time.Now()
	if err := testnet.Start(ctx, testnet.StartOptions{Dir: dir, Nodes: []int{o.Nodes}, Log: o.Log, ReadyTimeout: o.PhaseTimeout}); err != nil {
		return res, err
	}
	res.RestartStartS = time.Since(mid).Seconds()
	res.RestartS = time.Since(start).Seconds()
	fmt.Fprintf(o.Log, "restart: %.3f s (stop %.3f s, start until ready %.3f s)\n", res.RestartS, res.RestartStopS, res.RestartStartS)

	// 4. The rollout.
	fmt.Fprintf(o.Log, "rolling out %s to %d nodes\n", res.ToVersion, o.Nodes)
	marks := &publishMark{w: o.Log}
	start = time.Now()
	up, err := testnet.Upgrade(ctx, testnet.UpgradeOptions{Dir: dir, Binary: o.V2, Class: "soft", Timeout: o.Timeout, Log: marks})
	if up != nil {
		res.Release, res.Scope, res.Residencies, res.RolloutWaitS = up.Release, up.Scope, up.Residencies, up.Seconds
	}
	if err != nil {
		res.RolloutS = time.Since(start).Seconds()
		return res, err
	}
	left := o.Timeout - time.Since(start)
	if err := waitHealthy(ctx, m, res.ToVersion, left); err != nil {
		res.RolloutS = time.Since(start).Seconds()
		return res, err
	}
	res.RolloutS = time.Since(start).Seconds()
	if t, ok := marks.at(); ok {
		res.RolloutPublishS = t.Sub(start).Seconds()
	}
	res.Ratio = res.RolloutS / (res.FanoutS + res.RestartS)
	res.MeetsGoal = res.Ratio <= rolloutGoal
	fmt.Fprintf(o.Log, "rollout: %.3f s; ratio %.3f\n", res.RolloutS, res.Ratio)
	return res, nil
}

// buildAuraNode builds cmd/aura-node with the given version into dir.
func buildAuraNode(ctx context.Context, source, dir, version string) (string, error) {
	bin := filepath.Join(dir, "aura-node-"+version)
	cmd := exec.CommandContext(ctx, "go", "build", "-ldflags", "-X github.com/aura-node/aura-node/node.Version="+version,
		"-o", bin, "github.com/aura-node/aura-node/cmd/aura-node")
	cmd.Dir = source
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("bench: go build of aura-node %s in %s (run from the aura-node source tree, or give prebuilt --v1 and --v2): %w\n%s", version, source, err, out)
	}
	return bin, nil
}

// binaryVersion runs `BINARY version`.
func binaryVersion(ctx context.Context, bin string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "version").Output()
	if err != nil {
		return "", fmt.Errorf("bench: `%s version`: %w", bin, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// rolloutFanout measures the fan-out baseline, then unpins the file on
// every node (with a GC) so the rollout starts from the same stores.
func rolloutFanout(ctx context.Context, o RolloutOptions, scratch string, clients []*api.Client, res *RolloutResult) error {
	file := filepath.Join(scratch, "fanout.bin")
	if err := writeRandomFile(file, res.BinaryBytes); err != nil {
		return err
	}
	defer os.Remove(file)
	fmt.Fprintf(o.Log, "fan-out: %d bytes from node-1 to %d nodes\n", res.BinaryBytes, len(clients)-1)
	ctx, cancel := context.WithTimeout(ctx, o.PhaseTimeout)
	defer cancel()
	start := time.Now()
	info, err := clients[0].ImportArtifact(ctx, api.ArtifactImportRequest{Path: file, Name: "bench-rollout-fanout"})
	if err != nil {
		return fmt.Errorf("bench: node-1 importing the fan-out file: %w", err)
	}
	if info.Size != uint64(res.BinaryBytes) {
		return fmt.Errorf("bench: node-1 imported %d bytes, want %d", info.Size, res.BinaryBytes)
	}
	res.FanoutImportS = time.Since(start).Seconds()
	mid := time.Now()
	for i, c := range clients[1:] {
		if _, err := c.FetchArtifact(ctx, api.ArtifactFetchRequest{Root: info.Root, Name: "bench-rollout-fanout", Size: info.Size}); err != nil {
			return fmt.Errorf("bench: node-%d starting the fetch: %w", i+2, err)
		}
	}
	done := make([]bool, len(clients))
	done[0] = true
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for pending := len(clients) - 1; pending > 0; {
		for i, c := range clients {
			if done[i] {
				continue
			}
			st, err := c.ArtifactFetchStatus(ctx, info.Root)
			if err != nil {
				return fmt.Errorf("bench: node-%d fetch status: %w", i+1, err)
			}
			switch st.State {
			case api.FetchDone:
				if st.BytesTotal == 0 || st.Bytes != st.BytesTotal {
					return fmt.Errorf("bench: node-%d fetch done with %d of %d bytes", i+1, st.Bytes, st.BytesTotal)
				}
				done[i] = true
				pending--
			case api.FetchFailed, api.FetchCancelled:
				return fmt.Errorf("bench: node-%d fetch %s: %s", i+1, st.State, st.Error)
			}
		}
		if pending == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: the fan-out did not finish in %s: %w", o.PhaseTimeout, ctx.Err())
		case <-tick.C:
		}
	}
	res.FanoutFetchS = time.Since(mid).Seconds()
	res.FanoutS = time.Since(start).Seconds()
	fmt.Fprintf(o.Log, "fan-out: %.3f s (import %.3f s, fetch by every node %.3f s)\n", res.FanoutS, res.FanoutImportS, res.FanoutFetchS)
	for i, c := range clients {
		if _, err := c.UnpinArtifact(ctx, api.ArtifactUnpinRequest{Root: info.Root}); err != nil {
			return fmt.Errorf("bench: node-%d unpinning the fan-out file: %w", i+1, err)
		}
	}
	return nil
}

// writeRandomFile writes size pseudo-random bytes to path.
func writeRandomFile(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if _, err := io.CopyN(w, newChaChaReader(3), size); err != nil {
		f.Close()
		return fmt.Errorf("bench: writing %s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("bench: writing %s: %w", path, err)
	}
	return f.Close()
}

// waitHealthy waits until every node reports running version (under its
// launcher) and answers /healthz and /readyz with 200.
func waitHealthy(ctx context.Context, m *testnet.Manifest, version string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, max(timeout, time.Second))
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	ok := make([]bool, m.N)
	for {
		last := ""
		for i, n := range m.Nodes {
			if ok[i] {
				continue
			}
			if why := nodeHealth(ctx, n, version); why != "" {
				last = fmt.Sprintf("node-%d: %s", n.Index, why)
				continue
			}
			ok[i] = true
		}
		if last == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: after the rollout, not every node is healthy on %s: %s", version, last)
		case <-tick.C:
		}
	}
}

// nodeHealth returns "" when the node runs version under its launcher and
// is healthy and ready, else what is missing.
func nodeHealth(ctx context.Context, n testnet.NodeInfo, version string) string {
	c, addr, err := testnet.Client(n.Home)
	if err != nil {
		return err.Error()
	}
	st, err := c.UpgradeStatus(ctx, api.UpgradeStatusRequest{})
	if err != nil {
		return err.Error()
	}
	if st.Version != version || !st.Launcher {
		return fmt.Sprintf("runs %s (launcher %v)", st.Version, st.Launcher)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
		if err != nil {
			return err.Error()
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err.Error()
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Sprintf("%s %d", path, resp.StatusCode)
		}
	}
	return ""
}

// publishMark passes the upgrade driver's progress lines on and notes
// when the release was published (its "published release" line).
type publishMark struct {
	w  io.Writer
	mu sync.Mutex
	t  time.Time
}

func (p *publishMark) Write(b []byte) (int, error) {
	p.mu.Lock()
	if p.t.IsZero() && strings.Contains(string(b), "published release") {
		p.t = time.Now()
	}
	p.mu.Unlock()
	if _, err := p.w.Write(b); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (p *publishMark) at() (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.t, !p.t.IsZero()
}
