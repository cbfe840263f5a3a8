package bench

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/aura-node/aura-node/api"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/node"
	"github.com/aura-node/aura-node/snapshot"
	"github.com/aura-node/aura-node/storage"
)

// SnapshotOptions configure Snapshot.
type SnapshotOptions struct {
	// Facts is the number of Data facts (distinct keys, small values)
	// the network holds when the snapshot is proposed; default 1,000,000.
	Facts int
	// Nodes is the number of roster members, each with a BLS key;
	// default 3. The threshold M is the majority.
	Nodes int
	// Dir is where the scratch directory (journals, blobs) is created;
	// default the system temporary directory. The scratch directory is
	// removed afterwards.
	Dir string
	// Log receives one line per phase and progress lines during long
	// phases; nil discards them.
	Log io.Writer
	// Logger receives the nodes' logs; default discarded.
	Logger *slog.Logger
	// PhaseTimeout bounds each phase that waits on the network (the
	// full replay, the commit); default 30 minutes. The snapshot join,
	// which runs last, is bounded by twice the full replay's time (at
	// least a minute) within it: a join from the snapshot slower than
	// that has missed the goal by far, and is reported as failed.
	PhaseTimeout time.Duration
}

// SnapshotResult is what `aura-node bench snapshot --json` prints.
type SnapshotResult struct {
	Facts     int `json:"facts"`
	Nodes     int `json:"nodes"`
	Threshold int `json:"threshold"`
	// SetupS is the time to sign and load the facts into member 0's
	// journal, compact it and give every other journal a checkpoint.
	SetupS float64 `json:"setup_s"`

	// CommitS is from ProposeSnapshot on member 0 to the last member
	// having committed the snapshot and garbage-collected its journal.
	CommitS float64 `json:"commit_s"`
	// GCS is member 0's garbage collection alone (its GC report).
	GCS float64 `json:"gc_s"`
	// Pruned is the number of facts member 0 pruned.
	Pruned             int    `json:"pruned"`
	JournalFactsBefore uint64 `json:"journal_facts_before"`
	JournalFactsAfter  uint64 `json:"journal_facts_after"`
	// MembersPruned and MembersAdopted count the members that reached
	// the snapshot by garbage-collecting their own journal, or by
	// adopting a peer's blob (their state differed).
	MembersPruned  int `json:"members_pruned"`
	MembersAdopted int `json:"members_adopted"`

	// BytesBeforeGC is member 0's Pebble disk usage just before the
	// proposal (the loaded journal, compacted); BytesAfterGC is the one
	// its GC report gives after pruning and compacting.
	BytesBeforeGC uint64 `json:"bytes_before_gc"`
	BytesAfterGC  uint64 `json:"bytes_after_gc"`
	// LiveStateBytes is the encoded size of the live state, measured as
	// LiveStateMeasure says.
	LiveStateBytes   int64  `json:"live_state_bytes"`
	LiveStateMeasure string `json:"live_state_measure"`
	// StateKVBytes is the other measure of the live state: the sum of
	// key and value sizes of every hashed state entry in member 0's
	// journal after GC; StateEntries is their number.
	StateKVBytes int64 `json:"state_kv_bytes"`
	StateEntries int   `json:"state_entries"`
	// BlobBytes is the size of the snapshot's state blob, which each
	// node also keeps on disk beside its journal.
	BlobBytes int64 `json:"blob_bytes"`
	// GCRatio is BytesAfterGC / LiveStateBytes; GCRatioKV is
	// BytesAfterGC / StateKVBytes.
	GCRatio     float64 `json:"gc_ratio"`
	GCRatioKV   float64 `json:"gc_ratio_kv"`
	GCRatioGoal float64 `json:"gc_ratio_goal"`
	GCRatioMet  bool    `json:"gc_ratio_met"`
	// GCRatioWithBlob is (BytesAfterGC + BlobBytes) / LiveStateBytes:
	// the node's whole snapshot storage, journal and the blob it keeps
	// to serve joiners (not part of the goal).
	GCRatioWithBlob float64 `json:"gc_ratio_with_blob"`

	// SnapshotJoinS: a fresh non-member node with an empty journal
	// starts, connects to the members, adopts the snapshot (fetches the
	// blob, verifies it, hydrates) and reconciles the tail, until its
	// state digest is member 0's.
	SnapshotJoinS float64 `json:"snapshot_join_s"`
	// SnapshotJoinFacts is the number of facts the snapshot joiner's
	// journal holds at the end.
	SnapshotJoinFacts uint64 `json:"snapshot_join_facts"`
	// FullReplayS: a fresh node with an empty journal starts and
	// connects to one node started on the pre-snapshot checkpoint of
	// member 0's journal (all facts, no snapshot), and pulls every fact
	// through the pipeline by anti-entropy until the digests match.
	FullReplayS float64 `json:"full_replay_s"`
	// FullReplayFacts is the number of facts the replaying node's journal
	// holds at the end.
	FullReplayFacts uint64 `json:"full_replay_facts"`
	// FullReplaySessions counts the anti-entropy sessions the replaying
	// node ran (completed or not).
	FullReplaySessions uint64 `json:"full_replay_sessions"`
	// FullReplaySyncFailures counts those that failed (for example past
	// the session time limit); what they pulled before failing stays.
	FullReplaySyncFailures uint64 `json:"full_replay_sync_failures"`
	// SnapshotJoinError says why the snapshot join did not finish (then
	// snapshot_join_s and join_speedup are 0), with the joiner's last
	// logged error.
	SnapshotJoinError string `json:"snapshot_join_error,omitempty"`
	// JoinSpeedup is FullReplayS / SnapshotJoinS.
	JoinSpeedup     float64 `json:"join_speedup"`
	JoinSpeedupGoal float64 `json:"join_speedup_goal"`
	JoinSpeedupMet  bool    `json:"join_speedup_met"`

	// CertifiedDigest is the snapshot's digest (member 0's state before
	// the proposal, which the full replay reaches); StateDigest is member
	// 0's after the snapshot, which the snapshot joiner reaches.
	CertifiedDigest string `json:"certified_digest"`
	StateDigest     string `json:"state_digest"`
}

// Goals of the snapshot benchmark (issue 4, item 8).
const (
	snapshotGCRatioGoal     = 1.2
	snapshotJoinSpeedupGoal = 10.0
	// liveStateMeasure says what live_state_bytes is.
	liveStateMeasure = "snapshot_blob: size of the canonical CBOR state blob (every hashed state entry, plus the kept governance facts); state_kv_bytes is the bare key+value sum"
)

const (
	snapshotNamespace  = "bench"
	snapshotValueBytes = 16
	// snapshotChunk is the number of facts signed, checked and committed
	// together while loading.
	snapshotChunk = 4096
	// snapshotReport is how often a waiting phase logs its progress.
	snapshotReport = 15 * time.Second
	// Key seeds of the nodes that are not members.
	seedSnapshotJoiner = 201
	seedReplaySource   = 202
	seedReplayJoiner   = 203
)

// snapshotBench is one run's state: what Close must release.
type snapshotBench struct {
	o        SnapshotOptions
	dir      string
	genesis  []byte
	netID    cid.Cid
	keys     []*node.Keys
	journals []*storage.Pebble
	nodes    []*node.Node
}

// Snapshot measures, in one run on real libp2p TCP hosts on 127.0.0.1
// with Pebble journals: the time for a network of Nodes members holding
// Facts data facts to commit a snapshot and garbage-collect; member 0's
// storage before and after GC against the encoded live state; and a new
// node joining from the snapshot against one joining by full replay of
// the same facts.
//
// If the snapshot join does not finish in time, Snapshot returns the
// figures measured so far (SnapshotJoinError set) with the error.
func Snapshot(ctx context.Context, opts SnapshotOptions) (res *SnapshotResult, err error) {
	if opts.Facts == 0 {
		opts.Facts = 1_000_000
	}
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.PhaseTimeout == 0 {
		opts.PhaseTimeout = 30 * time.Minute
	}
	if opts.Facts < 1 || opts.Nodes < 1 || opts.PhaseTimeout < 0 {
		return nil, fmt.Errorf("bench: snapshot needs at least 1 fact and 1 node")
	}
	dir, err := os.MkdirTemp(opts.Dir, "aura-bench-snapshot-")
	if err != nil {
		return nil, err
	}
	b := &snapshotBench{o: opts, dir: dir}
	defer func() {
		if cerr := b.close(); err == nil && cerr != nil {
			err = cerr
		}
		if rerr := os.RemoveAll(dir); err == nil && rerr != nil {
			err = rerr
		}
	}()
	res = &SnapshotResult{
		Facts:            opts.Facts,
		Nodes:            opts.Nodes,
		GCRatioGoal:      snapshotGCRatioGoal,
		JoinSpeedupGoal:  snapshotJoinSpeedupGoal,
		LiveStateMeasure: liveStateMeasure,
	}
	if err := b.setup(ctx, res); err != nil {
		return nil, err
	}
	// The full replay first, while no other node runs: it needs only the
	// pre-snapshot checkpoint, and its time bounds the snapshot join's.
	if err := b.fullReplay(ctx, res); err != nil {
		return nil, err
	}
	if err := b.close(); err != nil {
		return nil, err
	}
	if err := b.commit(ctx, res); err != nil {
		return nil, err
	}
	if err := b.snapshotJoin(ctx, res); err != nil {
		if !errors.Is(err, errJoinTimeout) {
			return nil, err
		}
		// The figures measured so far stand; the caller prints them
		// with the error.
		res.SnapshotJoinError = err.Error()
		return res, err
	}
	res.JoinSpeedup = round3(res.FullReplayS / res.SnapshotJoinS)
	res.JoinSpeedupMet = res.JoinSpeedup >= snapshotJoinSpeedupGoal
	return res, nil
}

// errJoinTimeout marks a join that did not reach its target digest in
// time.
var errJoinTimeout = errors.New("bench: join did not finish")

func (b *snapshotBench) logf(format string, args ...any) {
	fmt.Fprintf(b.o.Log, "bench snapshot: "+format+"\n", args...)
}

// snapshotKeys derives deterministic keys from a seed, as the node tests
// do: the libp2p identity is the authority's Ed25519 key, and the BLS key
// comes from the same seed.
func snapshotKeys(seed uint64) (*node.Keys, error) {
	s := make([]byte, ed25519.SeedSize)
	binary.BigEndian.PutUint64(s, seed)
	auth := ed25519.NewKeyFromSeed(s)
	nk, err := crypto.UnmarshalEd25519PrivateKey(auth)
	if err != nil {
		return nil, err
	}
	bls, _ := snapshot.GenerateKey([32]byte(s))
	return &node.Keys{Node: nk, Authority: auth, BLS: bls}, nil
}

// openJournal opens (or creates) a Pebble journal under the scratch
// directory and keeps it for close.
func (b *snapshotBench) openJournal(name string) (*storage.Pebble, error) {
	j, err := storage.OpenPebble(filepath.Join(b.dir, name), storage.PebbleOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	b.journals = append(b.journals, j)
	return j, nil
}

// startNode starts a node on 127.0.0.1 TCP with a journal and keeps it
// for close. If errs is not nil, it records the node's last logged
// error.
func (b *snapshotBench) startNode(name string, k *node.Keys, j storage.Journal, errs *lastError) (*node.Node, error) {
	logger := b.o.Logger.With("node", name)
	if errs != nil {
		errs.next = logger.Handler()
		errs.init()
		logger = slog.New(errs)
	}
	cfg := node.DefaultConfig()
	cfg.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	// Periodic anti-entropy every second, as the node tests use: a join
	// that stalls (a session past its time limit) resumes at once
	// rather than after the production 30 s.
	cfg.SyncInterval = node.Duration(time.Second)
	n, err := node.New(node.Params{
		Config:      cfg,
		Keys:        k,
		Genesis:     b.genesis,
		Journal:     j,
		Logger:      logger,
		SnapshotDir: filepath.Join(b.dir, "blobs-"+name),
	})
	if err != nil {
		return nil, fmt.Errorf("starting node %s: %w", name, err)
	}
	b.nodes = append(b.nodes, n)
	return n, nil
}

// close stops every node, then closes every journal.
func (b *snapshotBench) close() error {
	var errs []error
	for _, n := range b.nodes {
		errs = append(errs, n.Close())
	}
	b.nodes = nil
	for _, j := range b.journals {
		errs = append(errs, j.Close())
	}
	b.journals = nil
	return errors.Join(errs...)
}

// connectTo dials every target from n.
func connectTo(ctx context.Context, n *node.Node, targets ...*node.Node) error {
	for _, t := range targets {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := n.Host().Connect(cctx, peer.AddrInfo{ID: t.Host().ID(), Addrs: t.Host().Addrs()})
		cancel()
		if err != nil {
			return fmt.Errorf("connecting %s to %s: %w", n.Host().ID(), t.Host().ID(), err)
		}
	}
	return nil
}

// setup makes the keys and genesis, loads the facts into member 0's
// journal, compacts it and checkpoints it for the other members and for
// the full-replay source.
func (b *snapshotBench) setup(ctx context.Context, res *SnapshotResult) error {
	start := time.Now()
	var members []facts.Member
	for i := 0; i < b.o.Nodes; i++ {
		k, err := snapshotKeys(uint64(i + 1))
		if err != nil {
			return err
		}
		b.keys = append(b.keys, k)
		members = append(members, k.Member(fmt.Sprintf("m%d", i)))
	}
	// The genesis and the facts lie in the past, so that the proposal's
	// cut (its author's clock reading) is after all of them.
	nowMs := uint64(time.Now().UnixMilli())
	genesis, netID, err := node.NewGenesis(b.keys[0].Authority, "bench-snapshot", members, 0, nowMs-3*3600_000)
	if err != nil {
		return err
	}
	b.genesis, b.netID = genesis, netID
	j0, err := b.openJournal("m0")
	if err != nil {
		return err
	}
	b.logf("loading %d data facts into member 0's journal", b.o.Facts)
	if err := b.load(ctx, j0, nowMs-2*3600_000); err != nil {
		return err
	}
	b.logf("compacting member 0's journal")
	if err := j0.Compact(); err != nil {
		return err
	}
	names := []string{"replay-source"}
	for i := 1; i < b.o.Nodes; i++ {
		names = append(names, fmt.Sprintf("m%d", i))
	}
	for _, name := range names {
		if err := j0.Checkpoint(filepath.Join(b.dir, name)); err != nil {
			return err
		}
	}
	if err := b.close(); err != nil {
		return err
	}
	res.SetupS = round3(time.Since(start).Seconds())
	b.logf("setup done in %.1f s: member 0's journal and %d checkpoints of it ready", res.SetupS, len(names))
	return nil
}

// load applies the genesis and the facts to j, committing in chunks. The
// facts are signed and checked by GOMAXPROCS workers, a few chunks
// ahead, and applied in order on this goroutine.
func (b *snapshotBench) load(ctx context.Context, j *storage.Pebble, baseMs uint64) error {
	g, v := facts.CheckStateless(b.netID, b.genesis, facts.Limits{})
	if v.Result != facts.Accept {
		return fmt.Errorf("genesis: %v", v)
	}
	if err := applyChecked(j, []facts.Checked{g}); err != nil {
		return fmt.Errorf("genesis: %w", err)
	}
	author := b.keys[0].Authority
	type chunkOut struct {
		checked []facts.Checked
		err     error
	}
	prepare := func(c int) chunkOut {
		lo, hi := c*snapshotChunk, min((c+1)*snapshotChunk, b.o.Facts)
		raws := make([][]byte, 0, hi-lo)
		for i := lo; i < hi; i++ {
			value := make([]byte, snapshotValueBytes)
			binary.BigEndian.PutUint64(value, uint64(i))
			raw, _, err := facts.Sign(author, facts.Draft{
				Network: b.netID,
				Kind:    facts.KindData,
				Payload: &facts.Data{Namespace: snapshotNamespace, Key: fmt.Sprintf("key-%08d", i), Value: value},
				// 16 facts per millisecond.
				Time: facts.MakeTimestamp(baseMs+uint64(i/16), uint16(i%16)),
			})
			if err != nil {
				return chunkOut{err: err}
			}
			raws = append(raws, raw)
		}
		checked, verdicts := facts.CheckBatch(b.netID, raws, facts.Limits{})
		for i, v := range verdicts {
			if v.Result != facts.Accept {
				return chunkOut{err: fmt.Errorf("fact %d: %v", lo+i, v)}
			}
		}
		return chunkOut{checked: checked}
	}
	chunks := (b.o.Facts + snapshotChunk - 1) / snapshotChunk
	workers := max(runtime.GOMAXPROCS(0), 1)
	outs := make([]chan chunkOut, chunks)
	next := 0
	// On return, wait for the chunks in flight.
	defer func() {
		for c := range outs {
			if outs[c] != nil {
				<-outs[c]
			}
		}
	}()
	lastReport := time.Now()
	for c := 0; c < chunks; c++ {
		for ; next < chunks && next <= c+workers; next++ {
			ch := make(chan chunkOut, 1)
			outs[next] = ch
			go func(c int) { ch <- prepare(c) }(next)
		}
		out := <-outs[c]
		outs[c] = nil
		if out.err != nil {
			return out.err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := applyChecked(j, out.checked); err != nil {
			return err
		}
		if time.Since(lastReport) >= snapshotReport {
			lastReport = time.Now()
			b.logf("loaded %d/%d facts", min((c+1)*snapshotChunk, b.o.Facts), b.o.Facts)
		}
	}
	return nil
}

// applyChecked reduces facts in one transaction and commits it; every
// fact must be accepted.
func applyChecked(j storage.Journal, cs []facts.Checked) error {
	txn := facts.NewTxn(j)
	for _, c := range cs {
		v, err := txn.Apply(c)
		if err != nil {
			return err
		}
		if v.Result != facts.Accept {
			return fmt.Errorf("fact %s: %v", c.ID(), v)
		}
	}
	batch, err := txn.Commit()
	if err != nil {
		return err
	}
	return j.Commit(batch)
}

// commit starts the members, connects them, proposes a snapshot on
// member 0 and waits until every member committed it and collected its
// garbage.
func (b *snapshotBench) commit(ctx context.Context, res *SnapshotResult) error {
	var members []*node.Node
	for i := 0; i < b.o.Nodes; i++ {
		j, err := b.openJournal(fmt.Sprintf("m%d", i))
		if err != nil {
			return err
		}
		n, err := b.startNode(fmt.Sprintf("m%d", i), b.keys[i], j, nil)
		if err != nil {
			return err
		}
		members = append(members, n)
	}
	for i, n := range members {
		if err := connectTo(ctx, n, members[i+1:]...); err != nil {
			return err
		}
	}
	res.Threshold = int(members[0].Governance().Current().Threshold)
	// The gossip topic: every member sees the others, so the proposal
	// travels by gossip (anti-entropy would bring it too, later).
	ok, err := poll(ctx, time.Now().Add(30*time.Second), func() bool {
		for _, n := range members {
			s, err := n.Status(ctx)
			if err != nil || s.Gossip.TopicPeers < len(members)-1 {
				return false
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("bench: the members' gossip topic did not connect within 30 s")
	}

	j0, m0 := b.journals[0], members[0]
	res.BytesBeforeGC = j0.DiskUsage()
	var err2 error
	if res.JournalFactsBefore, err2 = j0.Count(); err2 != nil {
		return err2
	}
	pre, err := m0.Digest()
	if err != nil {
		return err
	}
	if pre.String() != res.CertifiedDigest {
		return fmt.Errorf("bench: member 0's digest %s differs from the pre-snapshot checkpoint's %s", pre, res.CertifiedDigest)
	}
	b.logf("proposing a snapshot on member 0 (%d members, M = %d; journal %d facts, %d bytes)",
		len(members), res.Threshold, res.JournalFactsBefore, res.BytesBeforeGC)
	start := time.Now()
	if _, err := m0.ProposeSnapshot(ctx); err != nil {
		return fmt.Errorf("proposing: %w", err)
	}
	done := make([]bool, len(members))
	lastReport := time.Now()
	var failure error
	ok, err = poll(ctx, time.Now().Add(b.o.PhaseTimeout), func() bool {
		all := true
		for i, n := range members {
			if done[i] {
				continue
			}
			s, err := n.SnapshotStatus(ctx)
			if err != nil {
				failure = err
				return true
			}
			if s.HasSnapshot && !s.Adopting && s.LastGC != nil && s.LastGC.Epoch == s.LastEpoch {
				done[i] = true
				b.logf("member %d committed and collected in %.1f s (pruned %d, adopted %v)",
					i, time.Since(start).Seconds(), s.LastGC.Pruned, s.LastGC.Adopted)
				continue
			}
			if !s.HasSnapshot && !s.FenceActive && len(s.Pending) == 0 && s.LastError != "" {
				failure = fmt.Errorf("member %d: the snapshot round ended without committing: %s", i, s.LastError)
				return true
			}
			all = false
		}
		if !all && time.Since(lastReport) >= snapshotReport {
			lastReport = time.Now()
			b.logf("waiting for the snapshot to commit everywhere: %d/%d members done", count(done), len(done))
		}
		return all
	})
	if err != nil {
		return err
	}
	if failure != nil {
		return failure
	}
	if !ok {
		return fmt.Errorf("bench: the snapshot did not commit on every member within %v (%d/%d done)", b.o.PhaseTimeout, count(done), len(done))
	}
	res.CommitS = round3(time.Since(start).Seconds())

	for i, n := range members {
		s, err := n.SnapshotStatus(ctx)
		if err != nil {
			return err
		}
		if s.LastDigest != res.CertifiedDigest {
			return fmt.Errorf("member %d certified %s, member 0's state before the proposal was %s", i, s.LastDigest, res.CertifiedDigest)
		}
		if s.LastGC.Adopted {
			res.MembersAdopted++
		} else {
			res.MembersPruned++
		}
		if i != 0 {
			continue
		}
		res.GCS = round3(s.LastGC.Seconds)
		res.Pruned = s.LastGC.Pruned
		res.BytesAfterGC = s.LastGC.BytesAfter
		res.JournalFactsAfter = s.JournalFacts
		res.BlobBytes = s.LastBlobBytes
		res.StateDigest = s.StateDigest
	}
	err = j0.ScanState(func(k, v []byte) error {
		if facts.Hashed(k) {
			res.StateKVBytes += int64(len(k) + len(v))
			res.StateEntries++
		}
		return nil
	})
	if err != nil {
		return err
	}
	res.LiveStateBytes = res.BlobBytes
	if res.LiveStateBytes > 0 {
		res.GCRatio = round3(float64(res.BytesAfterGC) / float64(res.LiveStateBytes))
	}
	if res.StateKVBytes > 0 {
		res.GCRatioKV = round3(float64(res.BytesAfterGC) / float64(res.StateKVBytes))
	}
	res.GCRatioMet = res.GCRatio > 0 && res.GCRatio <= snapshotGCRatioGoal
	if res.LiveStateBytes > 0 {
		res.GCRatioWithBlob = round3(float64(res.BytesAfterGC+uint64(res.BlobBytes)) / float64(res.LiveStateBytes))
	}
	b.logf("snapshot committed everywhere in %.1f s; member 0: %d -> %d bytes, blob %d bytes", res.CommitS, res.BytesBeforeGC, res.BytesAfterGC, res.BlobBytes)
	return nil
}

// snapshotJoin starts a fresh non-member node with an empty journal,
// connects it to the members and waits until its digest is member 0's,
// at most twice as long as the full replay took (at least a minute).
func (b *snapshotBench) snapshotJoin(ctx context.Context, res *SnapshotResult) error {
	members := append([]*node.Node(nil), b.nodes...)
	want, err := members[0].Digest()
	if err != nil {
		return err
	}
	j, err := b.openJournal("join-snapshot")
	if err != nil {
		return err
	}
	k, err := snapshotKeys(seedSnapshotJoiner)
	if err != nil {
		return err
	}
	limit := min(b.o.PhaseTimeout, max(time.Minute, time.Duration(2*res.FullReplayS*float64(time.Second))))
	b.logf("a fresh node joins the members from the snapshot (waiting at most %v)", limit)
	var errs lastError
	start := time.Now()
	n, err := b.startNode("join-snapshot", k, j, &errs)
	if err != nil {
		return err
	}
	if err := connectTo(ctx, n, members...); err != nil {
		return err
	}
	took, err := b.waitDigest(ctx, "snapshot join", n, j, want, start, limit, &errs)
	if err != nil {
		return err
	}
	s, err := n.SnapshotStatus(ctx)
	if err != nil {
		return err
	}
	if !s.HasSnapshot || s.LastGC == nil || !s.LastGC.Adopted {
		return fmt.Errorf("bench: the snapshot joiner reached member 0's digest without adopting the snapshot (%+v)", s)
	}
	res.SnapshotJoinS = round3(took.Seconds())
	res.SnapshotJoinFacts = s.JournalFacts
	b.logf("snapshot join done in %.2f s (%d facts in its journal)", res.SnapshotJoinS, res.SnapshotJoinFacts)
	return nil
}

// fullReplay starts a node on the pre-snapshot checkpoint, then a fresh
// node that joins it alone, and waits until their digests match.
func (b *snapshotBench) fullReplay(ctx context.Context, res *SnapshotResult) error {
	sj, err := b.openJournal("replay-source")
	if err != nil {
		return err
	}
	sk, err := snapshotKeys(seedReplaySource)
	if err != nil {
		return err
	}
	src, err := b.startNode("replay-source", sk, sj, nil)
	if err != nil {
		return err
	}
	want, err := src.Digest()
	if err != nil {
		return err
	}
	res.CertifiedDigest = want.String()
	j, err := b.openJournal("join-replay")
	if err != nil {
		return err
	}
	k, err := snapshotKeys(seedReplayJoiner)
	if err != nil {
		return err
	}
	total, err := sj.Count()
	if err != nil {
		return err
	}
	b.logf("a fresh node joins a node without the snapshot by full replay of %d facts", total)
	start := time.Now()
	var errs lastError
	n, err := b.startNode("join-replay", k, j, &errs)
	if err != nil {
		return err
	}
	if err := connectTo(ctx, n, src); err != nil {
		return err
	}
	took, err := b.waitDigest(ctx, "full replay", n, j, want, start, b.o.PhaseTimeout, &errs)
	if err != nil {
		return err
	}
	res.FullReplayS = round3(took.Seconds())
	if res.FullReplayFacts, err = j.Count(); err != nil {
		return err
	}
	// The session that brought the last facts is counted when it ends,
	// just after they commit.
	var st *api.Status
	if _, err := poll(ctx, time.Now().Add(10*time.Second), func() bool {
		st, err = n.Status(ctx)
		return err != nil || st.Sync.Sessions > 0
	}); err != nil {
		return err
	}
	if err != nil {
		return err
	}
	res.FullReplaySessions, res.FullReplaySyncFailures = st.Sync.Sessions, st.Sync.Failures
	b.logf("full replay done in %.1f s (%d facts, %d sessions, %d failed)", res.FullReplayS, res.FullReplayFacts, res.FullReplaySessions, res.FullReplaySyncFailures)
	return nil
}

// waitDigest polls n's digest until it is want, at most limit; it logs
// the journal's fact count now and then. It returns the time since
// start. On timeout the error (errJoinTimeout) carries the node's last
// logged error.
func (b *snapshotBench) waitDigest(ctx context.Context, what string, n *node.Node, j *storage.Pebble, want facts.Digest, start time.Time, limit time.Duration, errs *lastError) (time.Duration, error) {
	var took time.Duration
	lastReport := time.Now()
	ok, err := poll(ctx, start.Add(limit), func() bool {
		d, err := n.Digest()
		if err == nil && d == want {
			took = time.Since(start)
			return true
		}
		if time.Since(lastReport) >= snapshotReport {
			lastReport = time.Now()
			c, _ := j.Count()
			b.logf("%s: %.0f s, %d facts in the joiner's journal", what, time.Since(start).Seconds(), c)
		}
		return false
	})
	if err != nil {
		return 0, err
	}
	if !ok {
		c, _ := j.Count()
		last := "none"
		if e := errs.get(); e != "" {
			last = e
		}
		return 0, fmt.Errorf("%w: %s: the joiner did not reach the target digest within %v (%d facts in its journal); its last logged error: %s",
			errJoinTimeout, what, limit, c, last)
	}
	return took, nil
}

// lastError is a slog handler that records the last record carrying an
// "err" attribute, and passes every record on.
type lastError struct {
	next  slog.Handler
	attrs []slog.Attr
	mu    *sync.Mutex
	last  *string
}

func (l *lastError) init() {
	if l.mu == nil {
		l.mu, l.last = new(sync.Mutex), new(string)
	}
}

func (l *lastError) get() string {
	l.init()
	l.mu.Lock()
	defer l.mu.Unlock()
	return *l.last
}

func (l *lastError) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= slog.LevelInfo || l.next.Enabled(ctx, level)
}

func (l *lastError) Handle(ctx context.Context, r slog.Record) error {
	l.init()
	var msg string
	find := func(a slog.Attr) bool {
		if a.Key == "err" {
			msg = r.Message + ": " + a.Value.String()
			return false
		}
		return true
	}
	for _, a := range l.attrs {
		find(a)
	}
	r.Attrs(find)
	if msg != "" {
		l.mu.Lock()
		*l.last = msg
		l.mu.Unlock()
	}
	if l.next.Enabled(ctx, r.Level) {
		return l.next.Handle(ctx, r)
	}
	return nil
}

func (l *lastError) WithAttrs(as []slog.Attr) slog.Handler {
	l.init()
	c := *l
	c.next = l.next.WithAttrs(as)
	c.attrs = append(append([]slog.Attr(nil), l.attrs...), as...)
	return &c
}

func (l *lastError) WithGroup(name string) slog.Handler {
	l.init()
	c := *l
	c.next = l.next.WithGroup(name)
	return &c
}

func count(bs []bool) int {
	c := 0
	for _, b := range bs {
		if b {
			c++
		}
	}
	return c
}

func round3(x float64) float64 {
	return float64(int64(x*1e3+0.5)) / 1e3
}
