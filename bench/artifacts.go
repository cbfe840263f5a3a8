package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	mh "github.com/multiformats/go-multihash"

	"github.com/aura-node/aura-node/artifacts"
	"github.com/aura-node/aura-node/artifacts/kubo"
)

// ArtifactsOptions configure Artifacts.
type ArtifactsOptions struct {
	// SizeMiB is the artifact size; default 256.
	SizeMiB int
	// Fanout is the number of nodes that fetch the artifact at once;
	// default 16.
	Fanout int
	// LinkMiBs is each node's upload cap in the fan-out phase, in MiB/s.
	// Default: the measured two-node transfer rate / (2 x Fanout), so that
	// the links, not the machine's CPUs, bound the fan-out (see Artifacts).
	LinkMiBs float64
	// SkipUncapped skips the uncapped fan-out run.
	SkipUncapped bool
	// Kubo is a kubo binary for the bitswap baseline; default $AURA_KUBO;
	// none: no kubo figures.
	Kubo string
	// Dir holds the nodes' block stores; default a temporary directory,
	// removed afterwards.
	Dir string
	// Logger receives the services' logs; default: discarded.
	Logger *slog.Logger
	// Progress, if set, is called with a phase name and bytes done of
	// total as the run goes.
	Progress func(phase string, done, total int)
}

// ArtifactsResult is what `aura-node bench artifacts --json` prints.
type ArtifactsResult struct {
	SizeMiB int `json:"size_mib"`
	Fanout  int `json:"fanout"`
	Blocks  int `json:"blocks"`
	// RawStreamMiBs is one libp2p stream between the two hosts (TCP,
	// the node's security and muxer), bytes written and discarded: the
	// mean of a run before and a run after the transfer (RawRunsMiBs),
	// as the machine's load drifts.
	RawStreamMiBs float64   `json:"raw_stream_mib_s"`
	RawRunsMiBs   []float64 `json:"raw_runs_mib_s"`
	// TransferMiBs is the artifact fetched by the second node from the
	// first over the block protocol: requested, received, verified
	// against its CIDs and stored in Pebble.
	TransferMiBs  float64 `json:"transfer_mib_s"`
	TransferS     float64 `json:"transfer_s"`
	TransferRatio float64 `json:"transfer_ratio"`
	// PinS is the time to pin the fetched artifact after the transfer
	// (the block store flushes it to disk: durability, not counted in
	// TransferS).
	PinS float64 `json:"pin_s"`
	// LinkMiBs is the per-node upload cap of the capped fan-out phase.
	LinkMiBs float64 `json:"link_mib_s"`
	// SingleS is one node fetching from the seed, every node's upload
	// capped at LinkMiBs; FanoutS is Fanout nodes fetching at once from
	// the seed and from each other under the same caps.
	SingleS     float64 `json:"single_s"`
	FanoutS     float64 `json:"fanout_s"`
	FanoutRatio float64 `json:"fanout_ratio"`
	// SeedShare is the fraction of the fan-out's blocks the seed sent.
	SeedShare float64 `json:"seed_share"`
	// FanoutUncappedS is the fan-out without caps, where the machine's
	// CPUs are the bottleneck (every node's receive, verify and store
	// competes for them), and its ratio to TransferS.
	FanoutUncappedS     float64 `json:"fanout_uncapped_s,omitempty"`
	FanoutUncappedRatio float64 `json:"fanout_uncapped_ratio,omitempty"`
	// KuboMiBs is a kubo node fetching the artifact from the first node
	// over bitswap (`ipfs cat ROOT`), when a kubo binary is available;
	// KuboCIDMatch says whether `ipfs add` (unixfs-v1-2025) computed the
	// same root CID.
	KuboMiBs     float64 `json:"kubo_mib_s,omitempty"`
	KuboS        float64 `json:"kubo_s,omitempty"`
	KuboCIDMatch *bool   `json:"kubo_cid_match,omitempty"`
	KuboSkipped  string  `json:"kubo_skipped,omitempty"`
	Goal         string  `json:"goal"`
	MeetsGoal    bool    `json:"meets_goal"`
}

// Goals of the artifacts benchmark (SPEC section 10).
const (
	artifactsMinTransferRatio = 0.5
	artifactsMaxFanoutRatio   = 2.0
	artifactsGoal             = "transfer_ratio >= 0.5 and fanout_ratio <= 2"
	rawProtocol               = protocol.ID("/aura-bench/raw/1")
)

// benchNetwork names the benchmark's block protocol.
var benchNetwork = func() cid.Cid {
	h, _ := mh.Sum([]byte("aura-node bench artifacts"), mh.SHA2_256, -1)
	return cid.NewCidV1(cid.DagCBOR, h)
}()

// Artifacts measures artifact distribution on 127.0.0.1 TCP libp2p hosts
// built like the node's (TCP transport, default security and muxer):
//
//  1. raw: one stream from host A to host B carrying SizeMiB, the
//     baseline;
//  2. transfer: B fetches the artifact (imported into A beforehand) over
//     the block protocol, verifying and storing every block;
//  3. capped fan-out: every node's upload is capped at LinkMiBs (each
//     node its own link, as on a real network, so the run measures how
//     the distribution spreads load rather than how many CPUs the machine
//     has); one node fetches from the seed (single), then Fanout fresh
//     nodes fetch at once from the seed and from each other (fan-out);
//  4. uncapped fan-out (unless SkipUncapped): the same without caps, for
//     reference;
//  5. kubo, when a binary is given: a kubo daemon connected to A runs
//     `ipfs cat ROOT` over bitswap.
//
// Every fetched copy is checked (SHA-256 of the export against the
// source).
func Artifacts(ctx context.Context, o ArtifactsOptions) (*ArtifactsResult, error) {
	if o.SizeMiB <= 0 {
		o.SizeMiB = 256
	}
	if o.Fanout <= 0 {
		o.Fanout = 16
	}
	if o.Kubo == "" {
		o.Kubo = kubo.Binary()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Progress == nil {
		o.Progress = func(string, int, int) {}
	}
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "aura-bench-artifacts-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		o.Dir = d
	}
	b := &artifactsBench{o: o, size: int64(o.SizeMiB) << 20}
	defer b.close()
	res := &ArtifactsResult{SizeMiB: o.SizeMiB, Fanout: o.Fanout, Goal: artifactsGoal}

	// The artifact, imported into A.
	a, err := b.newNode("a", 0)
	if err != nil {
		return nil, err
	}
	o.Progress("import", 0, int(b.size))
	src := &hashingReader{r: io.LimitReader(newChaChaReader(1), b.size), h: sha256.New()}
	root, n, err := artifacts.Import(ctx, a.store, src)
	if err != nil {
		return nil, err
	}
	if n != uint64(b.size) {
		return nil, fmt.Errorf("bench: imported %d bytes, want %d", n, b.size)
	}
	if _, err := a.store.Pin(ctx, root, "bench"); err != nil {
		return nil, err
	}
	b.root, b.sum = root, src.h.Sum(nil)

	// 1 and 2: raw stream and transfer between A and B.
	bn, err := b.newNode("b", 0)
	if err != nil {
		return nil, err
	}
	if err := connectHosts(ctx, bn.host, a.host); err != nil {
		return nil, err
	}
	a.host.SetStreamHandler(rawProtocol, func(st network.Stream) { serveRaw(st, b.size) })
	raw := func() error {
		o.Progress("raw stream", 0, int(b.size))
		d, err := rawStream(ctx, bn.host, a.host.ID(), b.size)
		if err != nil {
			return err
		}
		res.RawRunsMiBs = append(res.RawRunsMiBs, float64(o.SizeMiB)/d.Seconds())
		return nil
	}
	if err := raw(); err != nil {
		return nil, err
	}
	single, st, err := b.fetch(ctx, bn, "transfer", []*benchNode{a}, nil)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if _, err := bn.store.Pin(ctx, b.root, "bench"); err != nil {
		return nil, err
	}
	res.PinS = time.Since(start).Seconds()
	if err := raw(); err != nil {
		return nil, err
	}
	res.RawStreamMiBs = (res.RawRunsMiBs[0] + res.RawRunsMiBs[1]) / 2
	res.Blocks = int(st.Blocks)
	res.TransferS = single.Seconds()
	res.TransferMiBs = float64(o.SizeMiB) / single.Seconds()
	res.TransferRatio = res.TransferMiBs / res.RawStreamMiBs

	// 5 (while A and the transfer are fresh): kubo over bitswap.
	if o.Kubo != "" {
		if err := b.kubo(ctx, a, res); err != nil {
			res.KuboSkipped = err.Error()
		}
	} else {
		res.KuboSkipped = "no kubo binary (set " + kubo.EnvVar + ")"
	}

	// 3: capped fan-out.
	link := o.LinkMiBs
	if link <= 0 {
		link = res.TransferMiBs / float64(2*o.Fanout)
	}
	res.LinkMiBs = link
	capBytes := link * (1 << 20)
	seed, err := b.newNodeWithStore("seed", a.store, capBytes)
	if err != nil {
		return nil, err
	}
	one, err := b.newNode("single", capBytes)
	if err != nil {
		return nil, err
	}
	if err := connectHosts(ctx, one.host, seed.host); err != nil {
		return nil, err
	}
	d, _, err := b.fetch(ctx, one, "single (capped)", []*benchNode{seed}, nil)
	if err != nil {
		return nil, err
	}
	res.SingleS = d.Seconds()
	fd, seedBlocks, err := b.fanout(ctx, "fan-out (capped)", capBytes)
	if err != nil {
		return nil, err
	}
	res.FanoutS = fd.Seconds()
	res.FanoutRatio = res.FanoutS / res.SingleS
	res.SeedShare = seedBlocks

	// 4: uncapped fan-out.
	if !o.SkipUncapped {
		fd, _, err := b.fanout(ctx, "fan-out (uncapped)", 0)
		if err != nil {
			return nil, err
		}
		res.FanoutUncappedS = fd.Seconds()
		res.FanoutUncappedRatio = res.FanoutUncappedS / res.TransferS
	}
	res.MeetsGoal = res.TransferRatio >= artifactsMinTransferRatio && res.FanoutRatio <= artifactsMaxFanoutRatio
	return res, nil
}

type artifactsBench struct {
	o     ArtifactsOptions
	size  int64
	root  cid.Cid
	sum   []byte
	nodes []*benchNode
	seq   int
}

type benchNode struct {
	host     host.Host
	store    *artifacts.Store
	svc      *artifacts.Service
	ownStore bool
}

func (b *artifactsBench) close() {
	for _, n := range b.nodes {
		n.close()
	}
}

func (n *benchNode) close() {
	n.svc.Close()
	n.host.Close()
	if n.ownStore {
		n.store.Close()
	}
}

// newNode starts a host with a fresh store on disk. upload caps the
// block bytes it serves per second (0: none).
func (b *artifactsBench) newNode(name string, upload float64) (*benchNode, error) {
	b.seq++
	dir := filepath.Join(b.o.Dir, fmt.Sprintf("%02d-%s", b.seq, name))
	st, err := artifacts.Open(dir, artifacts.Options{Logger: b.o.Logger})
	if err != nil {
		return nil, err
	}
	n, err := b.newNodeWithStore(name, st, upload)
	if err != nil {
		st.Close()
		return nil, err
	}
	n.ownStore = true
	return n, nil
}

func (b *artifactsBench) newNodeWithStore(name string, st *artifacts.Store, upload float64) (*benchNode, error) {
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		return nil, err
	}
	h, err := libp2p.New(
		libp2p.Identity(key),
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
	)
	if err != nil {
		return nil, fmt.Errorf("bench: host %s: %w", name, err)
	}
	svc := artifacts.NewService(h, st, benchNetwork, artifacts.ServiceOptions{
		Logger:         b.o.Logger.With("node", name),
		BytesPerSecond: upload,
		// Every fan-out node has Fanout peers, each with a few streams.
		MaxStreams: 1024,
	})
	n := &benchNode{host: h, store: st, svc: svc}
	b.nodes = append(b.nodes, n)
	return n, nil
}

func connectHosts(ctx context.Context, a, b host.Host) error {
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		return fmt.Errorf("bench: connecting hosts: %w", err)
	}
	return nil
}

// fetch fetches the artifact into n from sources (or, with find, from
// whatever find returns), checks the copy, and returns the fetch time.
func (b *artifactsBench) fetch(ctx context.Context, n *benchNode, phase string, sources []*benchNode, find func() []peer.ID) (time.Duration, artifacts.FetchStats, error) {
	var peers []peer.ID
	for _, s := range sources {
		peers = append(peers, s.host.ID())
	}
	total := int(b.size)
	opts := artifacts.FetchOptions{Peers: peers, FindPeers: find}
	if phase != "" {
		opts.Progress = func(p artifacts.Progress) { b.o.Progress(phase, int(min(p.Bytes, uint64(total))), total) }
	}
	start := time.Now()
	st, err := n.svc.Fetch(ctx, b.root, opts)
	d := time.Since(start)
	if err != nil {
		return d, st, err
	}
	if err := b.check(ctx, n.store); err != nil {
		return d, st, err
	}
	return d, st, nil
}

// check exports the artifact from s and compares its hash.
func (b *artifactsBench) check(ctx context.Context, s *artifacts.Store) error {
	h := sha256.New()
	if _, err := artifacts.Export(ctx, s, b.root, h); err != nil {
		return err
	}
	if !bytes.Equal(h.Sum(nil), b.sum) {
		return errors.New("bench: a fetched copy differs from the artifact")
	}
	return nil
}

// fanout starts a seed serving the artifact and Fanout fresh nodes, all
// connected to each other, every upload capped at upload bytes/s (0:
// none); the nodes fetch at once from whoever has blocks. It returns the
// time until the last node is done and the seed's share of the blocks.
func (b *artifactsBench) fanout(ctx context.Context, phase string, upload float64) (time.Duration, float64, error) {
	seed, err := b.newNodeWithStore("fanout-seed", b.nodes[0].store, upload)
	if err != nil {
		return 0, 0, err
	}
	var fetchers []*benchNode
	for i := range b.o.Fanout {
		n, err := b.newNode(fmt.Sprintf("fanout-%d", i+1), upload)
		if err != nil {
			return 0, 0, err
		}
		fetchers = append(fetchers, n)
	}
	all := append([]*benchNode{seed}, fetchers...)
	for i, x := range all {
		for _, y := range all[i+1:] {
			if err := connectHosts(ctx, x.host, y.host); err != nil {
				return 0, 0, err
			}
		}
	}
	ids := make([]peer.ID, len(all))
	for i, x := range all {
		ids[i] = x.host.ID()
	}
	var (
		mu       sync.Mutex
		done     = make([]uint64, len(fetchers))
		errs     = make(chan error, len(fetchers))
		total    = int(b.size) * len(fetchers)
		perSeed  uint64
		perTotal uint64
	)
	start := time.Now()
	for i, n := range fetchers {
		go func() {
			others := func() []peer.ID {
				out := make([]peer.ID, 0, len(ids)-1)
				for _, id := range ids {
					if id != n.host.ID() {
						out = append(out, id)
					}
				}
				return out
			}
			st, err := n.svc.Fetch(ctx, b.root, artifacts.FetchOptions{
				FindPeers: others,
				Progress: func(p artifacts.Progress) {
					mu.Lock()
					done[i] = min(p.Bytes, uint64(b.size))
					var sum uint64
					for _, d := range done {
						sum += d
					}
					mu.Unlock()
					b.o.Progress(phase, int(sum), total)
				},
			})
			if err == nil {
				mu.Lock()
				perSeed += st.PerPeer[seed.host.ID()]
				for _, c := range st.PerPeer {
					perTotal += c
				}
				mu.Unlock()
			}
			errs <- err
		}()
	}
	var firstErr error
	for range fetchers {
		if err := <-errs; err != nil && firstErr == nil {
			firstErr = err
		}
	}
	d := time.Since(start)
	if firstErr != nil {
		return d, 0, firstErr
	}
	for _, n := range fetchers {
		if err := b.check(ctx, n.store); err != nil {
			return d, 0, err
		}
	}
	// Free the disk and the hosts before the next phase.
	for _, n := range all {
		n.close()
		if n.ownStore {
			os.RemoveAll(n.store.Dir())
		}
	}
	kept := b.nodes[:0]
	for _, n := range b.nodes {
		if !contains(all, n) {
			kept = append(kept, n)
		}
	}
	b.nodes = kept
	share := 0.0
	if perTotal > 0 {
		share = float64(perSeed) / float64(perTotal)
	}
	return d, share, nil
}

func contains(list []*benchNode, n *benchNode) bool {
	for _, x := range list {
		if x == n {
			return true
		}
	}
	return false
}

// kubo starts a kubo daemon, connects it to a and times `ipfs cat ROOT`.
func (b *artifactsBench) kubo(ctx context.Context, a *benchNode, res *ArtifactsResult) error {
	b.o.Progress("kubo", 0, int(b.size))
	k, err := kubo.Start(ctx, b.o.Kubo, filepath.Join(b.o.Dir, "kubo"))
	if err != nil {
		return err
	}
	defer k.Close()
	addr := fmt.Sprintf("%s/p2p/%s", a.host.Addrs()[0], a.host.ID())
	if err := k.Connect(ctx, addr); err != nil {
		return err
	}
	bs := artifacts.StartBitswap(a.host, a.store)
	defer bs.Close()
	h := sha256.New()
	cw := &countingWriter{w: h, progress: func(n int64) { b.o.Progress("kubo", int(n), int(b.size)) }}
	start := time.Now()
	if err := k.Cat(ctx, b.root.String(), cw); err != nil {
		return err
	}
	d := time.Since(start)
	if !bytes.Equal(h.Sum(nil), b.sum) {
		return errors.New("kubo fetched bytes that differ from the artifact")
	}
	res.KuboS = d.Seconds()
	res.KuboMiBs = float64(b.o.SizeMiB) / d.Seconds()
	// The same bytes through `ipfs add --only-hash`.
	f, err := os.CreateTemp(b.o.Dir, "artifact-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := io.Copy(f, io.LimitReader(newChaChaReader(1), b.size)); err != nil {
		f.Close()
		return err
	}
	f.Close()
	got, err := k.AddOnlyHash(ctx, f.Name())
	if err != nil {
		return err
	}
	match := got == b.root.String()
	res.KuboCIDMatch = &match
	return nil
}

type countingWriter struct {
	w        io.Writer
	n        int64
	progress func(int64)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.progress(c.n)
	return n, err
}

type hashingReader struct {
	r io.Reader
	h hash.Hash
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	return n, err
}

// newChaChaReader is an endless deterministic pseudo-random stream.
func newChaChaReader(seed byte) io.Reader {
	var key [32]byte
	key[0] = seed
	return rand.NewChaCha8(key)
}

// serveRaw writes size bytes on a stream, in 1 MiB writes.
func serveRaw(st network.Stream, size int64) {
	defer st.Close()
	buf := make([]byte, 1<<20)
	newChaChaReader(2).Read(buf)
	for left := size; left > 0; {
		n := min(left, int64(len(buf)))
		if _, err := st.Write(buf[:n]); err != nil {
			st.Reset()
			return
		}
		left -= n
	}
}

// rawStream opens the raw protocol to p and reads size bytes.
func rawStream(ctx context.Context, h host.Host, p peer.ID, size int64) (time.Duration, error) {
	start := time.Now()
	st, err := h.NewStream(ctx, p, rawProtocol)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	st.CloseWrite()
	n, err := io.CopyBuffer(io.Discard, st, make([]byte, 1<<20))
	d := time.Since(start)
	if err != nil {
		return d, err
	}
	if n != size {
		return d, fmt.Errorf("bench: raw stream carried %d bytes, want %d", n, size)
	}
	return d, nil
}
