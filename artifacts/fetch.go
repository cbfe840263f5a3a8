package artifacts

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// FetchOptions configure one Fetch. Zero values take the defaults.
type FetchOptions struct {
	// Peers are asked (HAS) whether they hold the root; those that do
	// become sources.
	Peers []peer.ID
	// FindPeers, if set, is called at start and every Refresh for more
	// candidates (the node passes its connected peers), so peers that
	// obtain the artifact while the fetch runs become sources too.
	FindPeers func() []peer.ID
	// Progress, if set, is called after every stored batch (and once at
	// the start and end), never concurrently. It must be fast.
	Progress func(Progress)
	// Penalize, if set, is called once for a peer that sent a block that
	// does not match its CID or broke the protocol; the fetch stops using
	// that peer. The node lowers the peer's score or disconnects it.
	Penalize func(peer.ID, error)
	// MaxBytes bounds the DAG's total bytes; a bigger DAG (claimed or
	// received) fails the fetch. Default MaxDAGBytes.
	MaxBytes uint64
	// MaxBlocks bounds the DAG's blocks. Default 1<<22.
	MaxBlocks uint64
	// StreamsPerPeer is the number of concurrent WANT streams per source.
	// Default 2.
	StreamsPerPeer int
	// BatchBlocks is the CIDs per WANT, 1 to MaxWantBatch. Default 4.
	BatchBlocks int
	// MaxInFlight bounds the blocks requested and not yet received, over
	// all sources (bounds memory). Default 64.
	MaxInFlight int
	// Refresh is how often candidates and partial sources are asked
	// again what they hold. Default 250ms.
	Refresh time.Duration
	// StallTimeout fails the fetch when no block arrived for this long.
	// Default 60s.
	StallTimeout time.Duration
	// RequestTimeout bounds one WANT's answer. Default 60s.
	RequestTimeout time.Duration
}

// MaxDAGBytes is the default bound on an artifact's DAG: the release
// manifest's 1 TiB file limit plus room for the internal nodes.
const MaxDAGBytes = 1<<40 + 1<<32

func (o *FetchOptions) fill() {
	if o.MaxBytes == 0 {
		o.MaxBytes = MaxDAGBytes
	}
	if o.MaxBlocks == 0 {
		o.MaxBlocks = 1 << 22
	}
	if o.StreamsPerPeer <= 0 {
		o.StreamsPerPeer = 2
	}
	if o.BatchBlocks <= 0 {
		o.BatchBlocks = 4
	}
	o.BatchBlocks = min(o.BatchBlocks, MaxWantBatch)
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 64
	}
	if o.Refresh <= 0 {
		o.Refresh = 250 * time.Millisecond
	}
	if o.StallTimeout <= 0 {
		o.StallTimeout = 60 * time.Second
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 60 * time.Second
	}
}

// Progress is a fetch's progress.
type Progress struct {
	// Blocks are the blocks in the store (fetched or already there) of
	// BlocksKnown discovered so far (the DAG is discovered as it arrives).
	Blocks      uint64 `json:"blocks"`
	BlocksKnown uint64 `json:"blocks_known"`
	// Bytes are the DAG bytes in the store; BytesTotal is the DAG's size
	// as the root's links claim it (0 until the root is in the store).
	Bytes      uint64 `json:"bytes"`
	BytesTotal uint64 `json:"bytes_total"`
	// Fetched and FetchedBytes count what this fetch received.
	Fetched      uint64 `json:"fetched"`
	FetchedBytes uint64 `json:"fetched_bytes"`
	// Sources is the number of peers blocks are requested from.
	Sources int `json:"sources"`
}

// FetchStats report a finished (or failed) fetch.
type FetchStats struct {
	Progress
	// FileSize is the UnixFS file size (0 until the root arrived).
	FileSize uint64 `json:"file_size"`
	// Had counts blocks already in the store at the start (resumption).
	Had uint64 `json:"had"`
	// Requested counts the CIDs sent in WANT requests.
	Requested uint64 `json:"requested"`
	// Duplicates counts blocks received twice (end-game requests).
	Duplicates uint64 `json:"duplicates"`
	// Corrupt counts received blocks that did not match their CID.
	Corrupt uint64 `json:"corrupt"`
	// PerPeer counts blocks stored per sending peer.
	PerPeer map[peer.ID]uint64 `json:"per_peer"`
	// Penalized lists the peers reported through Penalize.
	Penalized []peer.ID `json:"penalized,omitempty"`
	// Elapsed is the fetch's wall time.
	Elapsed time.Duration `json:"elapsed"`
}

// ErrNoSource reports that no peer can supply a block.
var ErrNoSource = errors.New("artifacts: no peer has the block")

// ErrTooLarge reports a DAG over FetchOptions.MaxBytes or MaxBlocks.
var ErrTooLarge = errors.New("artifacts: artifact too large")

// Fetch makes the DAG under root complete in the store, fetching missing
// blocks from every peer that has them, in parallel. Blocks already in
// the store are not requested again, so a Fetch after an interrupted one
// continues where it stopped. Every received block is verified against
// its CID before it is stored; a mismatching block is discarded, its
// sender penalised and dropped, and the block requested elsewhere. Fetch
// does not pin: pin the root afterwards (holding HoldGC across both).
func (s *Service) Fetch(ctx context.Context, root cid.Cid, opts FetchOptions) (FetchStats, error) {
	if err := CheckCID(root); err != nil {
		return FetchStats{}, err
	}
	opts.fill()
	release := s.store.HoldGC()
	defer release()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f := &fetch{
		s:       s,
		ctx:     ctx,
		root:    root,
		opts:    opts,
		start:   time.Now(),
		wants:   map[string]*want{},
		seen:    map[string]bool{},
		sources: map[peer.ID]*source{},
		banned:  map[peer.ID]bool{},
		polling: map[peer.ID]bool{},
		noRoot:  map[peer.ID]time.Time{},
		rng:     rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
	f.stats.PerPeer = map[peer.ID]uint64{}
	f.cond = sync.NewCond(&f.mu)
	f.lastBlock = f.start
	if err := f.discover([]cid.Cid{root}); err != nil {
		return f.finish(err)
	}
	f.report()
	if f.complete() {
		return f.finish(nil)
	}
	stop := context.AfterFunc(ctx, func() {
		f.mu.Lock()
		f.cond.Broadcast()
		f.mu.Unlock()
	})
	defer stop()
	f.wg.Add(1)
	go f.refresher()
	err := f.wait()
	cancel()
	f.wg.Wait()
	return f.finish(err)
}

// fetch is one Fetch's state, shared by its workers under mu.
type fetch struct {
	s     *Service
	ctx   context.Context
	root  cid.Cid
	opts  FetchOptions
	start time.Time
	rng   *rand.Rand
	wg    sync.WaitGroup

	progressMu sync.Mutex

	mu       sync.Mutex
	cond     *sync.Cond
	err      error
	done     bool
	wants    map[string]*want // discovered, not yet stored, by multihash
	queue    []*want          // wants waiting for a worker (may hold stale entries)
	inflight int
	seen     map[string]bool // every discovered CID, by multihash
	sources  map[peer.ID]*source
	banned   map[peer.ID]bool // penalised: never a source again
	polling  map[peer.ID]bool
	noRoot   map[peer.ID]time.Time // candidates that answered they lack the root (or failed), and when
	nQueued  int                   // wants with queued set
	// discovering counts stored blocks whose children are being
	// discovered: the fetch is not done while it is above zero.
	discovering int
	lastBlock   time.Time
	stats       FetchStats
}

// want is a block to fetch.
type want struct {
	c       cid.Cid
	key     string
	queued  bool
	holders int              // workers with it in flight
	refused map[peer.ID]bool // complete sources that answered DONT
}

// source is a peer blocks are requested from.
type source struct {
	id peer.ID
	// complete: the peer pinned the root, so it has every block.
	// Otherwise it is fetching it too and has only the blocks in has.
	complete bool
	has      map[string]bool
	held     map[*want]int // wants this source's workers have in flight
	// batch is the CIDs per WANT to this source, 1 to BatchBlocks:
	// doubled while answers come quickly, halved when they are slow, so
	// a slow or shared source (a seed many fetch from) is not sent
	// requests that tie blocks up for long.
	batch    int
	lastPoll time.Time
	failures int // consecutive request failures
	dropped  bool
}

func (f *fetch) fail(err error) {
	if f.err == nil {
		f.err = err
	}
	f.cond.Broadcast()
}

// wait blocks until every want is stored or the fetch fails.
func (f *fetch) wait() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		if f.err != nil {
			return f.err
		}
		if err := f.ctx.Err(); err != nil {
			return err
		}
		if f.done {
			return nil
		}
		f.cond.Wait()
	}
}

func (f *fetch) complete() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.wants) == 0
}

func (f *fetch) finish(err error) (FetchStats, error) {
	f.mu.Lock()
	st := f.stats
	st.PerPeer = make(map[peer.ID]uint64, len(f.stats.PerPeer))
	for p, n := range f.stats.PerPeer {
		st.PerPeer[p] = n
	}
	st.Penalized = slices.Clone(f.stats.Penalized)
	if err == nil {
		// Duplicate links (a file of repeated chunks) make the claimed
		// total larger than the distinct blocks stored.
		st.BytesTotal = st.Bytes
	}
	f.stats.BytesTotal = st.BytesTotal
	st.Elapsed = time.Since(f.start)
	f.mu.Unlock()
	f.report()
	if err != nil {
		return st, fmt.Errorf("artifacts: fetch %s: %w", f.root, err)
	}
	return st, nil
}

// report calls the progress callback with the current figures.
func (f *fetch) report() {
	if f.opts.Progress == nil {
		return
	}
	f.progressMu.Lock()
	defer f.progressMu.Unlock()
	f.mu.Lock()
	p := f.stats.Progress
	p.Sources = 0
	for _, s := range f.sources {
		if !s.dropped {
			p.Sources++
		}
	}
	f.mu.Unlock()
	f.opts.Progress(p)
}

// discover takes the children of stored blocks (or the root): those in
// the store already are walked locally (resumption), the others become
// wants.
func (f *fetch) discover(cids []cid.Cid) error {
	var fresh []cid.Cid
	for len(cids) > 0 {
		c := cids[0]
		cids = cids[1:]
		key := string(c.Hash())
		f.mu.Lock()
		dup := f.seen[key]
		f.seen[key] = true
		if !dup {
			f.stats.BlocksKnown++
		}
		tooMany := f.stats.BlocksKnown > f.opts.MaxBlocks
		f.mu.Unlock()
		if dup {
			continue
		}
		if tooMany {
			return fmt.Errorf("%w: more than %d blocks", ErrTooLarge, f.opts.MaxBlocks)
		}
		data, err := f.s.store.getData(c)
		if ipld.IsNotFound(err) {
			fresh = append(fresh, c)
			continue
		}
		if err != nil {
			return err
		}
		n, err := decodeNode(c, data)
		if err != nil {
			return err
		}
		f.mu.Lock()
		f.stats.Had++
		f.stats.Blocks++
		f.stats.Bytes += uint64(len(data))
		if c.Equals(f.root) {
			f.rootArrived(n, len(data))
		}
		over := f.stats.Bytes > f.opts.MaxBytes
		f.mu.Unlock()
		if over {
			return fmt.Errorf("%w: more than %d bytes", ErrTooLarge, f.opts.MaxBytes)
		}
		cids = append(cids, n.links...)
	}
	if len(fresh) == 0 {
		return nil
	}
	// Leaves in random order: peers fetching the same artifact at the
	// same time then hold different blocks and can serve each other.
	f.rng.Shuffle(len(fresh), func(i, j int) { fresh[i], fresh[j] = fresh[j], fresh[i] })
	f.mu.Lock()
	for _, c := range fresh {
		w := &want{c: c, key: string(c.Hash()), queued: true}
		f.wants[w.key] = w
		f.queue = append(f.queue, w)
		f.nQueued++
	}
	f.cond.Broadcast()
	f.mu.Unlock()
	return nil
}

// rootArrived records the file and DAG size from the root. f.mu held.
func (f *fetch) rootArrived(n node, size int) {
	f.stats.FileSize = n.fileSize
	total := uint64(size)
	for _, s := range n.linkSizes {
		total += s
	}
	f.stats.BytesTotal = total
}

// refresher polls candidates and partial sources, starts workers for new
// sources, and watches for stalls and unavailable blocks.
func (f *fetch) refresher() {
	defer f.wg.Done()
	t := time.NewTicker(f.opts.Refresh)
	defer t.Stop()
	for {
		f.poll()
		f.mu.Lock()
		if f.err == nil && !f.done {
			if time.Since(f.lastBlock) > f.opts.StallTimeout {
				f.fail(f.stalled())
			} else if err := f.unavailable(); err != nil {
				f.fail(err)
			}
		}
		f.cond.Broadcast()
		f.mu.Unlock()
		select {
		case <-f.ctx.Done():
			return
		case <-t.C:
		}
		if f.isOver() {
			return
		}
	}
}

func (f *fetch) isOver() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err != nil || f.done
}

// stalled describes a fetch that stopped receiving. f.mu held.
func (f *fetch) stalled() error {
	var first cid.Cid
	for _, w := range f.wants {
		first = w.c
		break
	}
	n := 0
	for _, s := range f.sources {
		if !s.dropped {
			n++
		}
	}
	return fmt.Errorf("%w: no block arrived for %v; %d blocks missing (one is %s), %d sources", ErrNoSource, f.opts.StallTimeout, len(f.wants), first, n)
}

// unavailable reports a block no source can supply, when no other peer
// can turn up: static peers only, all asked, no partial sources, nothing
// in flight. f.mu held.
func (f *fetch) unavailable() error {
	if f.opts.FindPeers != nil || f.inflight > 0 || f.discovering > 0 {
		return nil
	}
	for _, p := range f.opts.Peers {
		if _, ok := f.sources[p]; !ok && !f.banned[p] && f.noRoot[p].IsZero() && p != f.s.host.ID() {
			return nil // not asked yet
		}
	}
	var complete []*source
	for _, s := range f.sources {
		if s.dropped {
			continue
		}
		if !s.complete {
			return nil
		}
		complete = append(complete, s)
	}
	for _, w := range f.wants {
		ok := false
		for _, s := range complete {
			if !w.refused[s.id] {
				ok = true
				break
			}
		}
		if !ok {
			return fmt.Errorf("%w: %s (%d candidate peers, %d usable sources)", ErrNoSource, w.c, len(f.opts.Peers), len(complete))
		}
	}
	return nil
}

// poll asks candidates that are not sources whether they have the root,
// and partial sources which queued blocks they have.
func (f *fetch) poll() {
	cands := slices.Clone(f.opts.Peers)
	if f.opts.FindPeers != nil {
		cands = append(cands, f.opts.FindPeers()...)
	}
	now := time.Now()
	f.mu.Lock()
	type job struct {
		p    peer.ID
		cids []cid.Cid
		src  *source
	}
	var jobs []job
	seen := map[peer.ID]bool{}
	for _, p := range cands {
		if seen[p] || p == f.s.host.ID() || f.banned[p] || f.polling[p] {
			continue
		}
		seen[p] = true
		s, ok := f.sources[p]
		switch {
		case !ok:
			// Ask again now and then: a peer may obtain the artifact.
			if t, no := f.noRoot[p]; !no || now.Sub(t) >= max(4*f.opts.Refresh, time.Second) {
				jobs = append(jobs, job{p: p, cids: []cid.Cid{f.root}})
			}
		case s.dropped || s.complete:
		case now.Sub(s.lastPoll) >= f.opts.Refresh && len(s.has) < 2*f.opts.BatchBlocks*f.opts.StreamsPerPeer:
			var ask []cid.Cid
			for _, w := range f.queue {
				if w.queued && !s.has[w.key] && len(ask) < MaxHasBatch {
					ask = append(ask, w.c)
				}
			}
			if len(ask) > 0 {
				jobs = append(jobs, job{p: p, cids: ask, src: s})
			}
		}
	}
	for _, j := range jobs {
		f.polling[j.p] = true
	}
	f.mu.Unlock()
	for _, j := range jobs {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			ctx, cancel := context.WithTimeout(f.ctx, 10*time.Second)
			states, err := f.s.Has(ctx, j.p, j.cids)
			cancel()
			f.mu.Lock()
			defer f.mu.Unlock()
			delete(f.polling, j.p)
			defer f.cond.Broadcast()
			if err != nil {
				if errors.Is(err, ErrProtocol) {
					f.penalize(j.p, err)
				}
				f.noRoot[j.p] = time.Now()
				return
			}
			if j.src == nil {
				f.addSource(j.p, states[0])
				return
			}
			j.src.lastPoll = time.Now()
			for i, st := range states {
				if st != HaveNone {
					j.src.has[string(j.cids[i].Hash())] = true
				}
			}
		}()
	}
}

// addSource makes p a source after it answered HAS for the root. f.mu held.
func (f *fetch) addSource(p peer.ID, st HaveState) {
	if st == HaveNone {
		f.noRoot[p] = time.Now()
		return
	}
	if f.err != nil || f.done || f.banned[p] || f.ctx.Err() != nil {
		return
	}
	delete(f.noRoot, p)
	s := &source{id: p, complete: st == HavePinned, has: map[string]bool{}, held: map[*want]int{}, batch: 1, lastPoll: time.Now()}
	if !s.complete {
		// It has the root block at least.
		s.has[string(f.root.Hash())] = true
	}
	f.sources[p] = s
	for range f.opts.StreamsPerPeer {
		f.wg.Add(1)
		go f.worker(s)
	}
}

// penalize reports and drops a misbehaving peer. f.mu held.
func (f *fetch) penalize(p peer.ID, err error) {
	if f.banned[p] {
		return
	}
	f.banned[p] = true
	f.stats.Penalized = append(f.stats.Penalized, p)
	if s := f.sources[p]; s != nil {
		s.dropped = true
	}
	if f.opts.Penalize != nil {
		f.opts.Penalize(p, err)
	}
	f.s.log.Warn("peer penalised during artifact fetch", "peer", p, "root", f.root, "err", err)
}

// next returns the next batch for a worker of s, or nil when the worker
// should stop. It blocks while there is nothing s can serve.
func (f *fetch) next(s *source) []*want {
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		if f.err != nil || f.done || s.dropped || f.ctx.Err() != nil {
			return nil
		}
		if f.settled() {
			f.done = true
			f.cond.Broadcast()
			return nil
		}
		if f.inflight < f.opts.MaxInFlight {
			if b := f.pick(s); len(b) > 0 {
				return b
			}
		}
		f.cond.Wait()
	}
}

// adapt sizes the next requests to s from how long the last one took.
// f.mu held.
func (s *source) adapt(n int, took time.Duration, limit int) {
	switch {
	case took < adaptFast && n >= s.batch:
		s.batch = min(2*s.batch, limit)
	case took > adaptSlow:
		s.batch = max(s.batch/2, 1)
	}
}

// Request durations that grow or shrink a source's batch.
const (
	adaptFast = 250 * time.Millisecond
	adaptSlow = time.Second
)

// idlePartialSources lists the partial sources with room for more
// requests. f.mu held.
func (f *fetch) idlePartialSources() []*source {
	var out []*source
	for _, s := range f.sources {
		if !s.dropped && !s.complete && len(s.has) > 0 && len(s.held) < f.opts.StreamsPerPeer*s.batch {
			out = append(out, s)
		}
	}
	return out
}

// heldBy reports whether one of the sources has said it holds w.
func heldBy(sources []*source, w *want) bool {
	for _, s := range sources {
		if s.has[w.key] {
			return true
		}
	}
	return false
}

// settled reports that every want is stored and nothing is pending.
// f.mu held.
func (f *fetch) settled() bool {
	return len(f.wants) == 0 && f.inflight == 0 && f.discovering == 0
}

// pick chooses up to BatchBlocks wants for s. f.mu held.
func (f *fetch) pick(s *source) []*want {
	n := min(s.batch, f.opts.MaxInFlight-f.inflight)
	var batch []*want
	take := func(w *want) {
		if w.queued {
			w.queued = false
			f.nQueued--
		}
		w.holders++
		s.held[w]++
		f.inflight++
		batch = append(batch, w)
	}
	if s.complete {
		// From the queue head; skip (and keep) the few it refused, and
		// those a partial source can send now: a complete source (often
		// the one seed everybody asks) is kept for the blocks nobody
		// else has yet, so its upload is not spent on copies the
		// fetchers could get from each other.
		partial := f.idlePartialSources()
		var kept []*want
		i := 0
		for ; i < len(f.queue) && len(batch) < n; i++ {
			w := f.queue[i]
			switch {
			case !w.queued || f.wants[w.key] != w:
			case w.refused[s.id] || heldBy(partial, w):
				kept = append(kept, w)
			default:
				take(w)
			}
		}
		f.queue = append(kept, f.queue[i:]...)
	} else {
		for key := range s.has {
			if len(batch) >= n {
				break
			}
			w := f.wants[key]
			if w == nil {
				delete(s.has, key)
				continue
			}
			if w.queued {
				delete(s.has, key)
				take(w)
			}
		}
	}
	if len(batch) > 0 || f.nQueued > 0 {
		return batch
	}
	f.queue = f.queue[:0]
	// End game: nothing is queued, some blocks are in flight elsewhere.
	// Ask s for those too (one extra copy each); the first to arrive wins.
	for _, w := range f.wants {
		if len(batch) >= n {
			break
		}
		if w.holders != 1 || s.held[w] > 0 || w.refused[s.id] || !s.complete && !s.has[w.key] {
			continue
		}
		take(w)
	}
	return batch
}

// worker requests batches from one source over one stream until the
// fetch ends or the source is dropped.
func (f *fetch) worker(s *source) {
	defer f.wg.Done()
	var conn *wantStream
	defer func() {
		if conn != nil {
			conn.close()
		}
	}()
	for {
		batch := f.next(s)
		if batch == nil {
			return
		}
		if conn == nil {
			var err error
			conn, err = f.s.openWant(f.ctx, s.id)
			if err != nil {
				f.received(s, batch, nil, err)
				continue
			}
		}
		start := time.Now()
		got, err := conn.want(f.ctx, batch, f.opts.RequestTimeout)
		f.mu.Lock()
		f.stats.Requested += uint64(len(batch))
		if err == nil {
			s.adapt(len(batch), time.Since(start), f.opts.BatchBlocks)
		}
		f.mu.Unlock()
		if err != nil {
			conn.reset()
			conn = nil
		}
		f.received(s, batch, got, err)
	}
}

// wantStream is a client stream of the block protocol.
type wantStream struct {
	st  network.Stream
	r   *bufio.Reader
	w   *bufio.Writer
	buf []byte
}

func (s *Service) openWant(ctx context.Context, p peer.ID) (*wantStream, error) {
	st, err := s.host.NewStream(ctx, p, s.proto)
	if err != nil {
		return nil, fmt.Errorf("opening a block stream to %s: %w", p, err)
	}
	return &wantStream{st: st, r: bufio.NewReaderSize(st, 64<<10), w: bufio.NewWriterSize(st, 4<<10)}, nil
}

func (ws *wantStream) close() { ws.st.Close() }
func (ws *wantStream) reset() { ws.st.Reset() }

// answer is one block (or DONT) of a WANT answer.
type answer struct {
	data  []byte // nil: the peer does not have it
	frame []byte // the pooled buffer holding data
}

// frameBufs recycles block frame buffers: a fetch reads each block into
// one and returns it once the block is stored (fresh memory is slow to
// touch; reused memory is not).
var frameBufs = sync.Pool{New: func() any { b := make([]byte, 0, maxFrame); return &b }}

func getFrameBuf() []byte { return (*frameBufs.Get().(*[]byte))[:0] }

func putFrameBuf(b []byte) {
	if cap(b) >= maxFrame {
		b = b[:0]
		frameBufs.Put(&b)
	}
}

// want sends one WANT and reads its answers. It returns the answers
// received before any error. Answers are not yet verified.
func (ws *wantStream) want(ctx context.Context, batch []*want, timeout time.Duration) ([]answer, error) {
	stop := context.AfterFunc(ctx, func() { ws.st.Reset() })
	defer stop()
	ws.st.SetDeadline(time.Now().Add(timeout))
	cids := make([]cid.Cid, len(batch))
	for i, w := range batch {
		cids[i] = w.c
	}
	if err := writeFrame(ws.w, encodeCIDList(msgWant, cids)); err != nil {
		return nil, err
	}
	if err := ws.w.Flush(); err != nil {
		return nil, err
	}
	out := make([]answer, 0, len(batch))
	for _, w := range batch {
		frame, err := readFrame(ws.r, maxFrame, getFrameBuf())
		if err != nil {
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			return out, err
		}
		switch frame[0] {
		case msgBlock, msgDont:
		case msgError:
			return out, fmt.Errorf("peer refused: %.200q", frame[1:])
		default:
			return out, protoErrorf("message %#x in a WANT answer", frame[0])
		}
		c, rest, err := readCID(frame[1:])
		if err != nil {
			return out, err
		}
		if !c.Equals(w.c) {
			return out, protoErrorf("answered %s, expected %s", c, w.c)
		}
		if frame[0] == msgDont {
			if len(rest) != 0 {
				return out, protoErrorf("DONT with %d trailing bytes", len(rest))
			}
			out = append(out, answer{})
			continue
		}
		if len(rest) == 0 {
			rest = []byte{}
		}
		out = append(out, answer{data: rest, frame: frame})
	}
	return out, nil
}

// received verifies and stores what a WANT returned, requeues what it did
// not, and handles the peer's failure or misbehaviour.
func (f *fetch) received(s *source, batch []*want, got []answer, reqErr error) {
	defer func() {
		for _, a := range got {
			if a.frame != nil {
				putFrameBuf(a.frame)
			}
		}
	}()
	var good []blocks.Block
	var nodes []node
	var goodWants []*want
	var bad error
	for i, a := range got {
		w := batch[i]
		if a.data == nil {
			continue
		}
		if err := Verify(w.c, a.data); err != nil {
			bad = err
			f.s.stats.corrupt.Add(1)
			f.mu.Lock()
			f.stats.Corrupt++
			f.mu.Unlock()
			continue
		}
		n, err := decodeNode(w.c, a.data)
		if err != nil {
			// Verified bytes that are not a UnixFS file: the DAG
			// itself is bad, whoever sent it.
			f.mu.Lock()
			f.fail(err)
			f.mu.Unlock()
			continue
		}
		b, _ := blocks.NewBlockWithCid(a.data, w.c)
		good = append(good, b)
		nodes = append(nodes, n)
		goodWants = append(goodWants, w)
	}
	var storeErr error
	if len(good) > 0 {
		storeErr = f.s.store.putVerified(good)
	}
	var children []cid.Cid
	f.mu.Lock()
	if bad != nil {
		f.penalize(s.id, bad)
	} else if reqErr != nil && errors.Is(reqErr, ErrProtocol) {
		f.penalize(s.id, reqErr)
	}
	if storeErr != nil {
		f.fail(storeErr)
	}
	for _, w := range batch {
		if s.held[w]--; s.held[w] <= 0 {
			delete(s.held, w)
		}
	}
	stored := map[*want]bool{}
	for i, w := range goodWants {
		stored[w] = true
		w.holders--
		f.inflight--
		if f.wants[w.key] != w {
			f.stats.Duplicates++
			continue
		}
		delete(f.wants, w.key)
		size := uint64(len(good[i].RawData()))
		f.stats.Blocks++
		f.stats.Bytes += size
		f.stats.Fetched++
		f.stats.FetchedBytes += size
		f.stats.PerPeer[s.id]++
		f.s.stats.blocksFetched.Add(1)
		f.s.stats.bytesFetched.Add(size)
		f.lastBlock = time.Now()
		if w.c.Equals(f.root) {
			f.rootArrived(nodes[i], int(size))
		}
		children = append(children, nodes[i].links...)
	}
	if f.stats.Bytes > f.opts.MaxBytes || f.stats.BytesTotal > f.opts.MaxBytes {
		f.fail(fmt.Errorf("%w: the DAG holds more than %d bytes", ErrTooLarge, f.opts.MaxBytes))
	}
	for i, w := range batch {
		if stored[w] {
			continue
		}
		w.holders--
		f.inflight--
		if f.wants[w.key] != w {
			continue
		}
		if i < len(got) && got[i].data == nil {
			// DONT: a complete source should have had it; a partial
			// one may get it later.
			if s.complete {
				if w.refused == nil {
					w.refused = map[peer.ID]bool{}
				}
				w.refused[s.id] = true
			}
		}
		if w.holders == 0 && !w.queued {
			w.queued = true
			f.nQueued++
			f.queue = append([]*want{w}, f.queue...)
		}
	}
	if reqErr != nil && bad == nil && !errors.Is(reqErr, ErrProtocol) && f.ctx.Err() == nil {
		s.failures++
		if s.failures >= 3 {
			s.dropped = true
			f.s.log.Debug("artifact source dropped after failures", "peer", s.id, "err", reqErr)
		}
	} else if reqErr == nil {
		s.failures = 0
	}
	if len(children) > 0 {
		f.discovering++
	}
	f.cond.Broadcast()
	f.mu.Unlock()
	if len(children) > 0 {
		err := f.discover(children)
		f.mu.Lock()
		f.discovering--
		if err != nil {
			f.fail(err)
		}
		f.mu.Unlock()
	}
	f.mu.Lock()
	if f.settled() {
		f.done = true
	}
	f.cond.Broadcast()
	f.mu.Unlock()
	f.report()
}
