package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aura-node/aura-node/api"
	"github.com/aura-node/aura-node/artifacts"
	"github.com/aura-node/aura-node/release"
)

// BlocksDir is the block store's directory in a home.
const BlocksDir = "blocks"

// artifactLayer is the node's artifact layer: the block store (its own
// Pebble database in blocks/), the block protocol on the node's host, a
// bitswap server for IPFS peers, and the fetch jobs. Fetches run in their
// own goroutines (they only touch the store and the network); the
// release view is read through its hooks (release_policy.go).
type artifactLayer struct {
	store   *artifacts.Store
	svc     *artifacts.Service
	bitswap *artifacts.Bitswap
	log     *slog.Logger
	seed    bool

	mu   sync.Mutex
	jobs map[string]*fetchJob // by root CID string
	wg   sync.WaitGroup
	// wake nudges the release loop (an import, a finished fetch).
	wake chan struct{}
}

// fetchJob is one fetch of a root, started by the API, a release the
// node's policy fetches or pins, or seeding.
type fetchJob struct {
	root    cid.Cid
	name    string
	why     string
	size    uint64 // expected file size, 0 if unknown
	pin     bool
	attempt int // 1 for the first fetch of a root, +1 for each retry
	started time.Time
	cancel  context.CancelFunc
	done    chan struct{}

	mu       sync.Mutex
	state    string
	err      string
	progress artifacts.Progress
	stats    artifacts.FetchStats
	ended    time.Time
}

// Retry backoff for fetches the node starts by itself.
const (
	artifactRetryMin = 30 * time.Second
	artifactRetryMax = 10 * time.Minute
	// artifactRescan re-evaluates the releases to fetch even without a
	// catalogue change (peers that hold an artifact may have connected).
	artifactRescan = 30 * time.Second
	// unpinGCWait bounds how long an unpin waits to collect garbage.
	unpinGCWait = 5 * time.Second
)

// openArtifacts opens the block store: in dir, or in memory when dir is
// empty (tests, benchmarks).
func (n *Node) openArtifacts(dir string) error {
	log := n.log.With("component", "artifacts")
	opts := artifacts.Options{Logger: log}
	if dir == "" {
		dir, opts.InMemory = "blocks (in memory)", true
	}
	st, err := artifacts.Open(dir, opts)
	if err != nil {
		return fmt.Errorf("node: opening the block store: %w", err)
	}
	n.art = &artifactLayer{store: st, log: log, seed: n.cfg.Seed, jobs: map[string]*fetchJob{}, wake: make(chan struct{}, 1)}
	return nil
}

// startArtifacts serves the block protocol and bitswap on the host, tells
// the release view what the store holds, and starts the release loop.
func (n *Node) startArtifacts() {
	a := n.art
	a.svc = artifacts.NewService(n.host, a.store, n.netID, artifacts.ServiceOptions{
		Logger:             a.log,
		PeerBytesPerSecond: n.cfg.ArtifactPeerBytesPerSecond,
		BytesPerSecond:     n.cfg.ArtifactUploadBytesPerSecond,
	})
	a.bitswap = artifacts.StartBitswap(n.host, a.store)
	n.setArtifactHolder(func(_ context.Context, root cid.Cid) (bool, error) { return a.store.IsPinned(root) })
	n.registerArtifactMetrics()
	a.wg.Add(1)
	go n.artifactLoop()
}

// closeArtifacts stops the fetches (n.ctx is cancelled), the protocols
// and the store. Safe when openArtifacts failed or was not called.
func (n *Node) closeArtifacts() {
	a := n.art
	if a == nil {
		return
	}
	a.mu.Lock()
	for _, j := range a.jobs {
		if j.cancel != nil {
			j.cancel()
		}
	}
	a.mu.Unlock()
	a.wg.Wait()
	if a.svc != nil {
		a.svc.Close()
	}
	if a.bitswap != nil {
		a.bitswap.Close()
	}
	if err := a.store.Close(); err != nil {
		a.log.Error("closing the block store failed", "err", err)
	}
}

func (n *Node) registerArtifactMetrics() {
	a := n.art
	counter := func(name, help string, f func() uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f()) })
	}
	for _, c := range []prometheus.Collector{
		counter("aura_artifact_blocks_served_total", "Blocks served over the block protocol.", func() uint64 { return a.svc.Stats().BlocksServed }),
		counter("aura_artifact_bytes_served_total", "Block bytes served over the block protocol.", func() uint64 { return a.svc.Stats().BytesServed }),
		counter("aura_artifact_blocks_fetched_total", "Blocks fetched from peers, verified and stored.", func() uint64 { return a.svc.Stats().BlocksFetched }),
		counter("aura_artifact_bytes_fetched_total", "Block bytes fetched from peers.", func() uint64 { return a.svc.Stats().BytesFetched }),
		counter("aura_artifact_corrupt_blocks_total", "Received blocks that did not match their CID (discarded, sender penalised).", func() uint64 { return a.svc.Stats().Corrupt }),
		counter("aura_artifact_refused_streams_total", "Block streams refused by the per-peer and global bounds.", func() uint64 { return a.svc.Stats().RefusedStreams }),
		counter("aura_artifact_bitswap_blocks_sent_total", "Blocks sent to bitswap (IPFS) peers.", func() uint64 { return a.bitswap.Stats().BlocksSent }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aura_artifact_fetches_running", Help: "Artifact fetches in progress."}, func() float64 {
			return float64(n.runningFetches())
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aura_artifact_store_bytes", Help: "Block store size on disk."}, func() float64 {
			return float64(a.store.DiskUsage())
		}),
	} {
		if err := n.registry.Register(c); err != nil {
			a.log.Warn("registering an artifact metric failed", "err", err)
		}
	}
}

func (n *Node) runningFetches() int {
	n.art.mu.Lock()
	defer n.art.mu.Unlock()
	k := 0
	for _, j := range n.art.jobs {
		if j.status().State == api.FetchRunning {
			k++
		}
	}
	return k
}

// Artifacts returns the node's block store (benchmarks and tests).
func (n *Node) Artifacts() *artifacts.Store { return n.art.store }

// ArtifactService returns the node's block protocol service.
func (n *Node) ArtifactService() *artifacts.Service { return n.art.svc }

// nudge wakes the release loop.
func (a *artifactLayer) nudge() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// connectedPeers are the fetch candidates: every connected peer is asked
// whether it holds the root (release facts name holders by authority,
// not by peer, so they cannot pick peers; they tell operators who holds
// what).
func (n *Node) connectedPeers() []peer.ID { return n.host.Network().Peers() }

// startFetch starts a fetch of root unless one is running, and returns
// the job. pin pins the root under name once the DAG is complete.
func (n *Node) startFetch(root cid.Cid, name, why string, size uint64, pin bool) *fetchJob {
	a := n.art
	a.mu.Lock()
	defer a.mu.Unlock()
	key := root.String()
	attempt := 1
	if j := a.jobs[key]; j != nil {
		if j.status().State == api.FetchRunning {
			return j
		}
		attempt = j.attempt + 1
	}
	ctx, cancel := context.WithCancel(n.ctx)
	j := &fetchJob{root: root, name: name, why: why, size: size, pin: pin, attempt: attempt, started: time.Now(), cancel: cancel, done: make(chan struct{}), state: api.FetchRunning}
	a.jobs[key] = j
	a.wg.Add(1)
	go n.runFetch(ctx, j)
	return j
}

func (n *Node) runFetch(ctx context.Context, j *fetchJob) {
	a := n.art
	defer a.wg.Done()
	defer close(j.done)
	defer j.cancel()
	// Hold GC across the fetch and the pin, so the blocks cannot be
	// collected in between.
	release := a.store.HoldGC()
	defer release()
	opts := artifacts.FetchOptions{
		FindPeers: n.connectedPeers,
		Progress: func(p artifacts.Progress) {
			j.mu.Lock()
			j.progress = p
			j.mu.Unlock()
		},
		Penalize: func(p peer.ID, err error) { go n.penalise(p, err) },
	}
	if j.size > 0 {
		// The DAG of a file of size bytes: the leaves, plus internal
		// nodes (well under 1% for any sane chunking), plus slack.
		opts.MaxBytes = j.size + j.size/32 + 1<<20
	}
	st, err := a.svc.Fetch(ctx, j.root, opts)
	if err == nil && j.size > 0 && st.FileSize != j.size {
		err = fmt.Errorf("the artifact under %s is %d bytes, the manifest says %d", j.root, st.FileSize, j.size)
	}
	if err == nil && j.pin {
		_, err = a.store.Pin(ctx, j.root, j.name)
	}
	j.mu.Lock()
	j.stats, j.progress, j.ended = st, st.Progress, time.Now()
	switch {
	case err == nil:
		j.state = api.FetchDone
	case errors.Is(err, context.Canceled):
		j.state, j.err = api.FetchCancelled, "cancelled (what was stored stays; fetch again to resume)"
	default:
		j.state, j.err = api.FetchFailed, err.Error()
	}
	j.mu.Unlock()
	if err != nil && !errors.Is(err, context.Canceled) {
		a.log.Warn("artifact fetch failed", "root", j.root, "why", j.why, "err", err)
	} else if err == nil {
		a.log.Info("artifact fetched", "root", j.root, "name", j.name, "why", j.why, "blocks", st.Fetched, "had", st.Had,
			"bytes", st.FetchedBytes, "sources", len(st.PerPeer), "elapsed", st.Elapsed)
	}
	a.nudge()
}

func (j *fetchJob) status() api.ArtifactFetch {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := api.ArtifactFetch{
		Root: j.root.String(), Name: j.name, State: j.state, Error: j.err, Why: j.why,
		Blocks: j.progress.Blocks, BlocksKnown: j.progress.BlocksKnown, Bytes: j.progress.Bytes, BytesTotal: j.progress.BytesTotal,
		Fetched: j.progress.Fetched, Had: j.stats.Had, Sources: j.progress.Sources,
		StartedMs: uint64(j.started.UnixMilli()),
	}
	end := j.ended
	if end.IsZero() {
		end = time.Now()
	}
	out.ElapsedMs = uint64(end.Sub(j.started).Milliseconds())
	if len(j.stats.PerPeer) > 0 {
		out.PerPeer = map[string]uint64{}
		for p, c := range j.stats.PerPeer {
			out.PerPeer[p.String()] = c
		}
	}
	for _, p := range j.stats.Penalized {
		out.Penalized = append(out.Penalized, p.String())
	}
	return out
}

// artifactTarget is an artifact the node's releases make it want.
type artifactTarget struct {
	root     cid.Cid
	name     string
	size     uint64
	releases []release.ID
	announce bool // the sharing policy pins the release: announce it once held
}

// artifactLoop fetches and pins the artifacts of the releases the node's
// policies fetch or pin (all declared, unrevoked releases in seeding
// mode), and announces (ArtifactAvailable) those it holds and pins.
func (n *Node) artifactLoop() {
	a := n.art
	defer a.wg.Done()
	t := time.NewTicker(artifactRescan)
	defer t.Stop()
	for {
		changed := n.releasesChanged()
		n.reconcileArtifacts()
		select {
		case <-n.ctx.Done():
			return
		case <-changed:
		case <-a.wake:
		case <-t.C:
		}
	}
}

func (n *Node) artifactTargets() map[string]*artifactTarget {
	out := map[string]*artifactTarget{}
	add := func(id release.ID, arts []release.Artifact, series, version string, announce bool) {
		for _, ra := range arts {
			root, err := release.ParseRoot(ra.Root)
			if err != nil {
				continue
			}
			t := out[root.String()]
			if t == nil {
				t = &artifactTarget{root: root, size: ra.Size, name: fmt.Sprintf("%s@%s/%s", series, version, ra.Name)}
				out[root.String()] = t
			}
			if !slices.Contains(t.releases, id) {
				t.releases = append(t.releases, id)
			}
			t.announce = t.announce || announce
		}
	}
	for _, w := range n.releasesToFetch() {
		add(w.ID, w.Artifacts, w.Series, w.Version, false)
	}
	for _, w := range n.releasesToPin() {
		add(w.ID, w.Artifacts, w.Series, w.Version, true)
	}
	if n.art.seed {
		n.releases.mu.RLock()
		var seeds []release.Entry
		for _, id := range n.releases.cat.Releases() {
			e, _ := n.releases.cat.Entry(id)
			if revoked, _ := e.Revoked(); !e.Declared() || revoked {
				continue
			}
			seeds = append(seeds, e)
		}
		n.releases.mu.RUnlock()
		for _, e := range seeds {
			m := e.Declarations[0].Manifest
			add(e.ID, m.Artifacts, m.Series, m.Version, false)
		}
	}
	return out
}

// reconcileArtifacts starts the fetches the releases call for and
// announces what is held. A failed fetch is retried after a backoff that
// doubles with each attempt (30 s to 10 min).
func (n *Node) reconcileArtifacts() {
	a := n.art
	announce := map[release.ID]bool{}
	for key, t := range n.artifactTargets() {
		pinned, err := a.store.IsPinned(t.root)
		if err != nil {
			a.log.Error("reading the block store failed", "err", err)
			return
		}
		if pinned {
			if t.announce {
				for _, id := range t.releases {
					announce[id] = true
				}
			}
			continue
		}
		a.mu.Lock()
		j := a.jobs[key]
		a.mu.Unlock()
		if j != nil {
			st := j.status()
			if st.State == api.FetchRunning {
				continue
			}
			if st.State == api.FetchFailed {
				backoff := min(artifactRetryMax, artifactRetryMin<<min(j.attempt-1, 5))
				j.mu.Lock()
				ended := j.ended
				j.mu.Unlock()
				if time.Since(ended) < backoff {
					continue
				}
			}
		}
		why := "release " + shortID(t.releases[0])
		if !t.announce && n.art.seed {
			why = "seed " + why
		}
		n.startFetch(t.root, t.name, why, t.size, true)
	}
	ids := make([]release.ID, 0, len(announce))
	for id := range announce {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return string(ids[i][:]) < string(ids[j][:]) })
	for _, id := range ids {
		ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
		written, why, err := n.announceArtifacts(ctx, id)
		cancel()
		switch {
		case err != nil:
			if n.ctx.Err() == nil {
				a.log.Warn("announcing artifacts failed", "release", shortID(id), "err", err)
			}
		case len(written) > 0:
			a.log.Info("announced artifacts", "release", shortID(id), "facts", len(written))
		case why != "":
			a.log.Debug("artifacts not announced", "release", shortID(id), "why", why)
		}
	}
}

func shortID(id release.ID) string { return hex.EncodeToString(id[:])[:12] }

// parseRootArg parses a root CID given to the API.
func parseRootArg(s string) (cid.Cid, error) {
	c, err := cid.Decode(strings.TrimSpace(s))
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: root %q is not a CID: %v", api.ErrBadRequest, s, err)
	}
	if err := artifacts.CheckCID(c); err != nil {
		return cid.Undef, fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	return c, nil
}

// checkLocalPath refuses relative paths: the node's working directory is
// not the caller's.
func checkLocalPath(p string) error {
	if p == "" || !filepath.IsAbs(p) {
		return fmt.Errorf("%w: path %q must be absolute (the node resolves it, not the caller's shell)", api.ErrBadRequest, p)
	}
	return nil
}

// releasesOf names the catalogue's releases whose manifests list root.
func (n *Node) releasesOf(root cid.Cid) []string {
	n.releases.mu.RLock()
	defer n.releases.mu.RUnlock()
	var out []string
	for _, id := range n.releases.cat.Releases() {
		e, _ := n.releases.cat.Entry(id)
		if !e.Declared() {
			continue
		}
		for _, ra := range e.Declarations[0].Manifest.Artifacts {
			if string(ra.Root) == string(root.Bytes()) {
				out = append(out, hex.EncodeToString(id[:])+"/"+ra.Name)
			}
		}
	}
	return out
}

func (n *Node) pinInfo(p artifacts.Pin) api.ArtifactInfo {
	return api.ArtifactInfo{Root: p.Root.String(), Name: p.Name, Size: p.Size, Blocks: p.Blocks, DAGBytes: p.DAGBytes, Releases: n.releasesOf(p.Root)}
}

// ImportArtifact implements api.ArtifactBackend.
func (n *Node) ImportArtifact(ctx context.Context, req api.ArtifactImportRequest) (*api.ArtifactInfo, error) {
	if err := checkLocalPath(req.Path); err != nil {
		return nil, err
	}
	f, err := os.Open(req.Path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", api.ErrBadRequest, req.Path)
	}
	name := req.Name
	if name == "" {
		name = filepath.Base(req.Path)
	}
	a := n.art
	release := a.store.HoldGC()
	defer release()
	root, _, err := artifacts.Import(ctx, a.store, f)
	if err != nil {
		return nil, fmt.Errorf("node: importing %s: %w", req.Path, err)
	}
	p, err := a.store.Pin(ctx, root, name)
	if err != nil {
		return nil, err
	}
	a.log.Info("artifact imported", "root", root, "name", name, "size", p.Size, "blocks", p.Blocks)
	a.nudge()
	info := n.pinInfo(p)
	return &info, nil
}

// ExportArtifact implements api.ArtifactBackend.
func (n *Node) ExportArtifact(ctx context.Context, req api.ArtifactExportRequest) (*api.ArtifactExport, error) {
	root, err := parseRootArg(req.Root)
	if err != nil {
		return nil, err
	}
	if err := checkLocalPath(req.Path); err != nil {
		return nil, err
	}
	if _, err := os.Lstat(req.Path); err == nil && !req.Overwrite {
		return nil, fmt.Errorf("%w: %s exists (pass overwrite to replace it)", api.ErrConflict, req.Path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(req.Path), "."+filepath.Base(req.Path)+".part-*")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	size, err := artifacts.Export(ctx, n.art.store, root, io.MultiWriter(tmp, h))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if errors.Is(err, artifacts.ErrIncomplete) {
			return nil, fmt.Errorf("%w: %v (fetch it first)", api.ErrNotFound, err)
		}
		return nil, err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp.Name(), req.Path); err != nil {
		return nil, err
	}
	return &api.ArtifactExport{Root: root.String(), Path: req.Path, Size: size, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// FetchArtifact implements api.ArtifactBackend.
func (n *Node) FetchArtifact(ctx context.Context, req api.ArtifactFetchRequest) (*api.ArtifactFetch, error) {
	root, err := parseRootArg(req.Root)
	if err != nil {
		return nil, err
	}
	if req.Size > release.MaxArtifactSize {
		return nil, fmt.Errorf("%w: size %d over the %d limit", api.ErrBadRequest, req.Size, uint64(release.MaxArtifactSize))
	}
	st := n.startFetch(root, req.Name, "api", req.Size, !req.NoPin).status()
	return &st, nil
}

// fetchJob returns the fetch of the root named by s since the node
// started.
func (n *Node) fetchJob(s string) (*fetchJob, error) {
	root, err := parseRootArg(s)
	if err != nil {
		return nil, err
	}
	n.art.mu.Lock()
	j := n.art.jobs[root.String()]
	n.art.mu.Unlock()
	if j == nil {
		return nil, fmt.Errorf("%w: no fetch of %s since the node started", api.ErrNotFound, root)
	}
	return j, nil
}

// ArtifactFetchStatus implements api.ArtifactBackend.
func (n *Node) ArtifactFetchStatus(ctx context.Context, s string) (*api.ArtifactFetch, error) {
	j, err := n.fetchJob(s)
	if err != nil {
		return nil, err
	}
	st := j.status()
	return &st, nil
}

// CancelArtifactFetch implements api.ArtifactBackend.
func (n *Node) CancelArtifactFetch(ctx context.Context, s string) (*api.ArtifactFetch, error) {
	j, err := n.fetchJob(s)
	if err != nil {
		return nil, err
	}
	j.cancel()
	select {
	case <-j.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	st := j.status()
	return &st, nil
}

// PinArtifact implements api.ArtifactBackend.
func (n *Node) PinArtifact(ctx context.Context, req api.ArtifactPinRequest) (*api.ArtifactInfo, error) {
	root, err := parseRootArg(req.Root)
	if err != nil {
		return nil, err
	}
	p, err := n.art.store.Pin(ctx, root, req.Name)
	if err != nil {
		if errors.Is(err, artifacts.ErrIncomplete) || errors.Is(err, artifacts.ErrNotFile) {
			return nil, fmt.Errorf("%w: %v (fetch it first)", api.ErrConflict, err)
		}
		return nil, err
	}
	n.art.nudge()
	info := n.pinInfo(p)
	return &info, nil
}

// UnpinArtifact implements api.ArtifactBackend.
func (n *Node) UnpinArtifact(ctx context.Context, req api.ArtifactUnpinRequest) (*api.ArtifactUnpinResult, error) {
	root, err := parseRootArg(req.Root)
	if err != nil {
		return nil, err
	}
	if err := n.art.store.Unpin(ctx, root); err != nil {
		if errors.Is(err, artifacts.ErrNotPinned) {
			return nil, fmt.Errorf("%w: %v", api.ErrNotFound, err)
		}
		return nil, err
	}
	out := &api.ArtifactUnpinResult{Root: root.String()}
	if !req.KeepBlocks {
		// GC waits for fetches in progress; do not hold the caller for
		// long: the blocks go at the next GC instead.
		gctx, cancel := context.WithTimeout(ctx, unpinGCWait)
		defer cancel()
		gc, err := n.ArtifactGC(gctx)
		switch {
		case errors.Is(err, artifacts.ErrGCBusy):
			out.GCDeferred = "fetches or imports are running: the blocks stay until `artifact gc` (which waits for them)"
		case err != nil:
			return nil, err
		default:
			out.GC = gc
		}
	}
	return out, nil
}

// ArtifactGC implements api.ArtifactBackend. It waits for running
// fetches and imports.
func (n *Node) ArtifactGC(ctx context.Context) (*api.ArtifactGCResult, error) {
	res, err := n.art.store.GC(ctx)
	if err != nil {
		return nil, err
	}
	n.art.log.Info("block store garbage collected", "blocks", res.Blocks, "bytes", res.Bytes)
	return &api.ArtifactGCResult{Blocks: res.Blocks, Bytes: res.Bytes}, nil
}

// ListArtifacts implements api.ArtifactBackend.
func (n *Node) ListArtifacts(ctx context.Context) (*api.ArtifactList, error) {
	a := n.art
	pins, err := a.store.Pins(ctx)
	if err != nil {
		return nil, err
	}
	st, bs := a.svc.Stats(), a.bitswap.Stats()
	out := &api.ArtifactList{
		Artifacts: []api.ArtifactInfo{}, Fetches: []api.ArtifactFetch{},
		DiskBytes: a.store.DiskUsage(), Seed: a.seed,
		BlocksServed: st.BlocksServed, BytesServed: st.BytesServed, CorruptBlocks: st.Corrupt,
		BitswapBlocksServed: bs.BlocksSent, BitswapBytesServed: bs.DataSent,
	}
	for _, p := range pins {
		out.Artifacts = append(out.Artifacts, n.pinInfo(p))
	}
	a.mu.Lock()
	for _, j := range a.jobs {
		out.Fetches = append(out.Fetches, j.status())
	}
	a.mu.Unlock()
	sort.Slice(out.Fetches, func(i, j int) bool { return out.Fetches[i].StartedMs > out.Fetches[j].StartedMs })
	return out, nil
}

// ArtifactProviders implements api.ArtifactBackend: it asks every
// connected peer (at most 64, 16 at a time) whether it holds root.
func (n *Node) ArtifactProviders(ctx context.Context, s string) (*api.ArtifactProviders, error) {
	root, err := parseRootArg(s)
	if err != nil {
		return nil, err
	}
	peers := n.connectedPeers()
	sort.Slice(peers, func(i, j int) bool { return peers[i] < peers[j] })
	if len(peers) > 64 {
		peers = peers[:64]
	}
	out := &api.ArtifactProviders{Root: root.String(), Providers: make([]api.ArtifactProvider, len(peers))}
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			pr := api.ArtifactProvider{Peer: p.String()}
			st, err := n.art.svc.Has(qctx, p, []cid.Cid{root})
			if err != nil {
				pr.State, pr.Error = "error", err.Error()
			} else {
				pr.State = st[0].String()
			}
			out.Providers[i] = pr
		}()
	}
	wg.Wait()
	return out, nil
}
