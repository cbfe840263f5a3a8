package artifacts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	mh "github.com/multiformats/go-multihash"

	"github.com/aura-node/aura-node/storage"
)

// MaxBlockSize bounds one block, as the bitswap specification does (2 MiB).
// Put refuses larger blocks, and the fetch protocol never carries one.
const MaxBlockSize = 2 << 20

// Errors.
var (
	// ErrHashMismatch reports a block whose bytes do not hash to its CID.
	ErrHashMismatch = errors.New("artifacts: block does not match its CID")
	// ErrBadCID reports a CID this store does not accept (hash function,
	// digest length, codec).
	ErrBadCID = errors.New("artifacts: unsupported CID")
	// ErrBlockTooLarge reports a block over MaxBlockSize.
	ErrBlockTooLarge = errors.New("artifacts: block too large")
	// ErrIncomplete reports a DAG with blocks missing from the store.
	ErrIncomplete = errors.New("artifacts: artifact incomplete")
	// ErrNotPinned reports an unpin of a root that is not pinned.
	ErrNotPinned = errors.New("artifacts: not pinned")
	// ErrGCBusy reports a GC that gave up waiting for the imports and
	// fetches in progress (its context ended).
	ErrGCBusy = errors.New("artifacts: garbage collection waits for imports and fetches in progress")
	// ErrClosed reports use of a closed store.
	ErrClosed = errors.New("artifacts: store closed")
)

// Key layout: 'b' + multihash -> block bytes; 'p' + root CID bytes -> pin
// record (JSON). Blocks are keyed by multihash, as IPFS blockstores do, so
// CIDv0 and CIDv1 names of the same dag-pb bytes share one entry; Get
// returns the block under the CID it was asked for.
const (
	prefixBlock = 'b'
	prefixPin   = 'p'
)

// Options configure Open.
type Options struct {
	// Logger receives Pebble's log lines and background errors. Nil
	// discards them.
	Logger *slog.Logger
	// InMemory keeps the database in memory (tests and benchmarks); dir
	// is then only a name.
	InMemory bool
}

// Store is a content-addressed block store in its own Pebble database. It
// implements boxo's blockstore.Blockstore, so boxo's importer, DAG reader
// and bitswap server use it directly. Every write verifies the block
// against its CID. Pins name the roots to keep; GC deletes every block no
// pinned root reaches.
//
// A Store is safe for concurrent use.
type Store struct {
	db  *pebble.DB
	dir string
	log *slog.Logger

	// gc excludes a garbage collection from imports and fetches in
	// progress (HoldGC). Holds nest: a hold never waits while another
	// is held, so a caller may hold across Import or Fetch (which hold
	// too) and Pin.
	gc struct {
		mu         sync.Mutex
		holders    int
		collecting bool
		// changed is closed (and replaced) whenever holders or
		// collecting change, waking the waiters.
		changed chan struct{}
	}

	mu     sync.Mutex
	closed bool
}

var _ blockstore.Blockstore = (*Store)(nil)

// Open opens (or creates) the block store in dir.
func Open(dir string, opts Options) (*Store, error) {
	if dir == "" {
		return nil, errors.New("artifacts: open: empty directory name")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With(slog.String("component", "blocks"), slog.String("dir", dir))
	// Pebble's info lines (flushes, compactions) at debug: the block
	// store flushes often.
	pl, events := storage.PebbleLogging(log, slog.LevelDebug)
	po := &pebble.Options{
		Logger:             pl,
		EventListener:      events,
		FormatMajorVersion: pebble.FormatNewest,
		// Blocks are large (up to 2 MiB) and usually already compressed
		// (release archives): a big memtable, and no compression. Values
		// stay in the sstables: Pebble's blob-file value separation
		// (which spares compactions from rewriting values) made the
		// write path slower in the transfer benchmark (one more copy per
		// flushed byte), and artifacts are written once.
		MemTableSize: 64 << 20,
		// No write-ahead log: a block is written once (memtable, then
		// an sstable), not twice. A crash loses the blocks written
		// since the last flush, which a fetch simply requests again;
		// pins, unpins and GC flush before they return, so a durable
		// pin always finds its blocks durable (memtables flush in
		// order).
		DisableWAL:                  true,
		MemTableStopWritesThreshold: 4,
		L0CompactionThreshold:       8,
		L0StopWritesThreshold:       32,
	}
	for i := range po.Levels {
		po.Levels[i].Compression = func() *sstable.CompressionProfile { return sstable.NoCompression }
	}
	if opts.InMemory {
		po.FS = vfs.NewMem()
	} else if err := os.MkdirAll(filepath.Clean(dir), 0o700); err != nil {
		return nil, fmt.Errorf("artifacts: open %s: %w", dir, err)
	}
	db, err := pebble.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("artifacts: open %s: %w", dir, err)
	}
	s := &Store{db: db, dir: dir, log: log}
	s.gc.changed = make(chan struct{})
	return s, nil
}

// Close closes the database. Calls after Close return ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	// Without a WAL, unflushed blocks would be lost on Close.
	ferr := s.db.Flush()
	if err := s.db.Close(); err != nil {
		return err
	}
	return ferr
}

// Dir returns the directory the store was opened in.
func (s *Store) Dir() string { return s.dir }

func (s *Store) check() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return nil
}

// CheckCID refuses a CID this store will not hold: the hash must be a
// cryptographic one (sha2-256, sha2-512, blake2b-256 or blake3) with a
// digest of 32 to 64 bytes, and the codec raw or dag-pb (UnixFS).
func CheckCID(c cid.Cid) error {
	if !c.Defined() {
		return fmt.Errorf("%w: undefined CID", ErrBadCID)
	}
	p := c.Prefix()
	if p.Codec != cid.Raw && p.Codec != cid.DagProtobuf {
		return fmt.Errorf("%w: %s: codec %#x is neither raw nor dag-pb", ErrBadCID, c, p.Codec)
	}
	switch p.MhType {
	case mh.SHA2_256, mh.SHA2_512, mh.BLAKE2B_MIN + 31, mh.BLAKE3:
	default:
		return fmt.Errorf("%w: %s: hash %#x is not sha2-256, sha2-512, blake2b-256 or blake3", ErrBadCID, c, p.MhType)
	}
	if p.MhLength < 32 || p.MhLength > 64 {
		return fmt.Errorf("%w: %s: digest is %d bytes, want 32 to 64", ErrBadCID, c, p.MhLength)
	}
	return nil
}

// Verify checks that data is a block this store accepts under c: an
// accepted CID, at most MaxBlockSize bytes, hashing to c. Errors name c.
func Verify(c cid.Cid, data []byte) error {
	if err := CheckCID(c); err != nil {
		return err
	}
	if len(data) > MaxBlockSize {
		return fmt.Errorf("%w: %s: %d bytes, limit %d", ErrBlockTooLarge, c, len(data), MaxBlockSize)
	}
	got, err := c.Prefix().Sum(data)
	if err != nil {
		return fmt.Errorf("%w: %s: hashing: %w", ErrHashMismatch, c, err)
	}
	if string(got.Hash()) != string(c.Hash()) {
		return fmt.Errorf("%w: %s: the bytes hash to %s", ErrHashMismatch, c, got)
	}
	return nil
}

func blockKey(c cid.Cid) []byte {
	h := c.Hash()
	k := make([]byte, 1+len(h))
	k[0] = prefixBlock
	copy(k[1:], h)
	return k
}

func pinKey(c cid.Cid) []byte {
	b := c.Bytes()
	k := make([]byte, 1+len(b))
	k[0] = prefixPin
	copy(k[1:], b)
	return k
}

// Put verifies b against its CID and stores it. A block that does not
// match is refused with an error naming the CID (ErrHashMismatch).
func (s *Store) Put(ctx context.Context, b blocks.Block) error {
	return s.PutMany(ctx, []blocks.Block{b})
}

// PutMany verifies every block and stores them in one batch; one bad block
// refuses the whole batch.
func (s *Store) PutMany(ctx context.Context, bs []blocks.Block) error {
	if err := s.check(); err != nil {
		return err
	}
	for _, b := range bs {
		if err := Verify(b.Cid(), b.RawData()); err != nil {
			return err
		}
	}
	return s.putVerified(bs)
}

// putVerified stores blocks whose bytes were already checked against
// their CIDs. The store has no WAL (see Open): blocks become durable at
// the next flush, and a pin flushes.
func (s *Store) putVerified(bs []blocks.Block) error {
	size := 0
	for _, b := range bs {
		size += len(b.RawData()) + 80
	}
	batch := s.db.NewBatchWithSize(size) // no regrowth copies
	defer batch.Close()
	for _, b := range bs {
		if err := batch.Set(blockKey(b.Cid()), b.RawData(), nil); err != nil {
			return fmt.Errorf("artifacts: storing %s: %w", b.Cid(), err)
		}
	}
	if err := batch.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("artifacts: storing %d blocks: %w", len(bs), err)
	}
	return nil
}

// Has reports whether the block is stored.
func (s *Store) Has(ctx context.Context, c cid.Cid) (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	v, closer, err := s.db.Get(blockKey(c))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("artifacts: reading %s: %w", c, err)
	}
	_ = v
	closer.Close()
	return true, nil
}

// Get returns the block, or an ipld.ErrNotFound error naming c.
func (s *Store) Get(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	data, err := s.getData(c)
	if err != nil {
		return nil, err
	}
	return blocks.NewBlockWithCid(data, c)
}

func (s *Store) getData(c cid.Cid) ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if !c.Defined() {
		return nil, ipld.ErrNotFound{Cid: c}
	}
	v, closer, err := s.db.Get(blockKey(c))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ipld.ErrNotFound{Cid: c}
	}
	if err != nil {
		return nil, fmt.Errorf("artifacts: reading %s: %w", c, err)
	}
	data := append([]byte(nil), v...)
	closer.Close()
	return data, nil
}

// viewBlock calls f with the block's bytes, valid only during the call
// (Pebble's buffer, not a copy). It reports whether the block exists.
func (s *Store) viewBlock(c cid.Cid, f func([]byte) error) (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	v, closer, err := s.db.Get(blockKey(c))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("artifacts: reading %s: %w", c, err)
	}
	defer closer.Close()
	return true, f(v)
}

// GetSize returns the block's size in bytes, or ipld.ErrNotFound.
func (s *Store) GetSize(ctx context.Context, c cid.Cid) (int, error) {
	if err := s.check(); err != nil {
		return -1, err
	}
	v, closer, err := s.db.Get(blockKey(c))
	if errors.Is(err, pebble.ErrNotFound) {
		return -1, ipld.ErrNotFound{Cid: c}
	}
	if err != nil {
		return -1, fmt.Errorf("artifacts: reading %s: %w", c, err)
	}
	n := len(v)
	closer.Close()
	return n, nil
}

// DeleteBlock removes a block. Pins do not protect it: GC is the way to
// drop unpinned content.
func (s *Store) DeleteBlock(ctx context.Context, c cid.Cid) error {
	if err := s.check(); err != nil {
		return err
	}
	return s.db.Delete(blockKey(c), pebble.NoSync)
}

// AllKeysChan lists the stored blocks as CIDv1 raw CIDs (the store keeps
// multihashes, not codecs), as IPFS blockstores do.
func (s *Store) AllKeysChan(ctx context.Context) (<-chan cid.Cid, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixBlock}, UpperBound: []byte{prefixBlock + 1}})
	if err != nil {
		return nil, err
	}
	out := make(chan cid.Cid, 64)
	go func() {
		defer close(out)
		defer iter.Close()
		for iter.First(); iter.Valid(); iter.Next() {
			h, err := mh.Cast(append([]byte(nil), iter.Key()[1:]...))
			if err != nil {
				continue
			}
			select {
			case out <- cid.NewCidV1(cid.Raw, h):
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// HashOnRead is part of the boxo interface; every block is verified when
// it is written, so reads do not rehash.
func (s *Store) HashOnRead(bool) {}

// Pin is a pinned root: an artifact the store keeps.
type Pin struct {
	// Root is the artifact's root CID.
	Root cid.Cid `json:"root"`
	// Name is an optional label (a file or artifact name).
	Name string `json:"name,omitempty"`
	// Size is the file size in bytes (the UnixFS file size).
	Size uint64 `json:"size"`
	// Blocks and DAGBytes count the blocks of the DAG and their bytes.
	Blocks   uint64 `json:"blocks"`
	DAGBytes uint64 `json:"dag_bytes"`
}

type pinRecord struct {
	Name     string `json:"name,omitempty"`
	Size     uint64 `json:"size"`
	Blocks   uint64 `json:"blocks"`
	DAGBytes uint64 `json:"dag_bytes"`
}

// Pin records root as kept. The whole DAG must be in the store: Pin walks
// it and refuses an incomplete one with ErrIncomplete naming the first
// missing block. Pinning a pinned root updates its name.
func (s *Store) Pin(ctx context.Context, root cid.Cid, name string) (Pin, error) {
	if err := CheckCID(root); err != nil {
		return Pin{}, err
	}
	st, err := s.Stat(ctx, root)
	if err != nil {
		return Pin{}, err
	}
	if !st.Complete() {
		return Pin{}, fmt.Errorf("%w: %s: %d blocks missing, first %s", ErrIncomplete, root, len(st.Missing), st.Missing[0])
	}
	rec := pinRecord{Name: name, Size: st.FileSize, Blocks: st.Blocks, DAGBytes: st.DAGBytes}
	v, err := json.Marshal(rec)
	if err != nil {
		return Pin{}, err
	}
	if err := s.check(); err != nil {
		return Pin{}, err
	}
	if err := s.db.Set(pinKey(root), v, pebble.NoSync); err != nil {
		return Pin{}, fmt.Errorf("artifacts: pinning %s: %w", root, err)
	}
	if err := s.db.Flush(); err != nil {
		return Pin{}, fmt.Errorf("artifacts: pinning %s: %w", root, err)
	}
	return Pin{Root: root, Name: name, Size: rec.Size, Blocks: rec.Blocks, DAGBytes: rec.DAGBytes}, nil
}

// Unpin removes a pin (ErrNotPinned if there is none). Its blocks stay
// until GC.
func (s *Store) Unpin(ctx context.Context, root cid.Cid) error {
	if err := s.check(); err != nil {
		return err
	}
	ok, err := s.IsPinned(root)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotPinned, root)
	}
	if err := s.db.Delete(pinKey(root), pebble.NoSync); err != nil {
		return fmt.Errorf("artifacts: unpinning %s: %w", root, err)
	}
	if err := s.db.Flush(); err != nil {
		return fmt.Errorf("artifacts: unpinning %s: %w", root, err)
	}
	return nil
}

// IsPinned reports whether root is pinned.
func (s *Store) IsPinned(root cid.Cid) (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	_, closer, err := s.db.Get(pinKey(root))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	closer.Close()
	return true, nil
}

// Pins lists the pinned roots, sorted by CID string.
func (s *Store) Pins(ctx context.Context) ([]Pin, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixPin}, UpperBound: []byte{prefixPin + 1}})
	if err != nil {
		return nil, err
	}
	defer iter.Close()
	var out []Pin
	for iter.First(); iter.Valid(); iter.Next() {
		c, err := cid.Cast(iter.Key()[1:])
		if err != nil {
			return nil, fmt.Errorf("artifacts: bad pin key %x: %w", iter.Key(), err)
		}
		var rec pinRecord
		if err := json.Unmarshal(iter.Value(), &rec); err != nil {
			return nil, fmt.Errorf("artifacts: bad pin record for %s: %w", c, err)
		}
		out = append(out, Pin{Root: c, Name: rec.Name, Size: rec.Size, Blocks: rec.Blocks, DAGBytes: rec.DAGBytes})
	}
	if err := iter.Error(); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Root.String() < out[j].Root.String() })
	return out, nil
}

// DAGStat describes what the store holds of one DAG.
type DAGStat struct {
	// Blocks and DAGBytes count the blocks present and their bytes.
	Blocks   uint64
	DAGBytes uint64
	// FileSize is the UnixFS file size read from the root, 0 while the
	// root is missing.
	FileSize uint64
	// Missing lists the missing blocks whose parent is present (the
	// frontier: a missing internal node hides its children).
	Missing []cid.Cid
}

// Complete reports whether nothing is missing.
func (d DAGStat) Complete() bool { return len(d.Missing) == 0 }

// Stat walks the DAG under root through the blocks present.
func (s *Store) Stat(ctx context.Context, root cid.Cid) (DAGStat, error) {
	var st DAGStat
	seen := map[string]bool{}
	queue := []cid.Cid{root}
	first := true
	for len(queue) > 0 {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		c := queue[0]
		queue = queue[1:]
		if seen[string(c.Hash())] {
			continue
		}
		seen[string(c.Hash())] = true
		data, err := s.getData(c)
		if ipld.IsNotFound(err) {
			st.Missing = append(st.Missing, c)
			first = false
			continue
		}
		if err != nil {
			return st, err
		}
		n, err := decodeNode(c, data)
		if err != nil {
			return st, err
		}
		if first {
			st.FileSize = n.fileSize
			first = false
		}
		st.Blocks++
		st.DAGBytes += uint64(len(data))
		queue = append(queue, n.links...)
	}
	return st, nil
}

// GCResult reports what a garbage collection removed.
type GCResult struct {
	Blocks uint64 `json:"blocks"`
	Bytes  uint64 `json:"bytes"`
}

// GC deletes every block that no pinned root reaches. It waits for
// imports and fetches in progress (whose DAGs are not pinned yet), up to
// ctx (then ErrGCBusy), and makes new ones wait while it runs.
func (s *Store) GC(ctx context.Context) (GCResult, error) {
	for {
		s.gc.mu.Lock()
		if s.gc.holders == 0 && !s.gc.collecting {
			s.gc.collecting = true
			s.gc.mu.Unlock()
			break
		}
		ch := s.gc.changed
		s.gc.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return GCResult{}, fmt.Errorf("%w: %w", ErrGCBusy, ctx.Err())
		}
	}
	defer s.gcChanged(func() { s.gc.collecting = false })
	var res GCResult
	pins, err := s.Pins(ctx)
	if err != nil {
		return res, err
	}
	live := map[string]bool{}
	for _, p := range pins {
		queue := []cid.Cid{p.Root}
		for len(queue) > 0 {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			c := queue[0]
			queue = queue[1:]
			if live[string(c.Hash())] {
				continue
			}
			live[string(c.Hash())] = true
			data, err := s.getData(c)
			if ipld.IsNotFound(err) {
				continue
			}
			if err != nil {
				return res, err
			}
			n, err := decodeNode(c, data)
			if err != nil {
				return res, err
			}
			queue = append(queue, n.links...)
		}
	}
	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixBlock}, UpperBound: []byte{prefixBlock + 1}})
	if err != nil {
		return res, err
	}
	batch := s.db.NewBatch()
	for iter.First(); iter.Valid(); iter.Next() {
		if live[string(iter.Key()[1:])] {
			continue
		}
		res.Blocks++
		res.Bytes += uint64(len(iter.Value()))
		if err := batch.Delete(append([]byte(nil), iter.Key()...), nil); err != nil {
			iter.Close()
			batch.Close()
			return res, err
		}
	}
	if err := iter.Close(); err != nil {
		batch.Close()
		return res, err
	}
	if err := batch.Commit(pebble.NoSync); err != nil {
		return res, fmt.Errorf("artifacts: gc: %w", err)
	}
	if err := s.db.Flush(); err != nil {
		return res, fmt.Errorf("artifacts: gc: %w", err)
	}
	if res.Blocks > 0 {
		// Reclaim the space now rather than at the next compaction.
		if err := s.db.Compact(ctx, []byte{prefixBlock}, []byte{prefixBlock + 1}, true); err != nil {
			s.log.Warn("compaction after gc failed", "err", err)
		}
	}
	return res, nil
}

// DiskUsage returns the bytes the database uses on disk.
func (s *Store) DiskUsage() uint64 {
	if s.check() != nil {
		return 0
	}
	return s.db.Metrics().DiskSpaceUsage()
}

// HoldGC keeps a garbage collection from running until the returned
// function is called. Import and Fetch hold it while they write; a caller
// that imports or fetches and then pins holds it across both, so the
// blocks cannot be collected before the pin lands. Holds nest; GC waits
// until none is held (do not call GC while holding one).
func (s *Store) HoldGC() (release func()) {
	for {
		s.gc.mu.Lock()
		if !s.gc.collecting {
			s.gc.holders++
			s.gc.mu.Unlock()
			break
		}
		ch := s.gc.changed
		s.gc.mu.Unlock()
		<-ch // a collection is finite
	}
	var once sync.Once
	return func() { once.Do(func() { s.gcChanged(func() { s.gc.holders-- }) }) }
}

// gcChanged applies f to the GC state and wakes the waiters.
func (s *Store) gcChanged(f func()) {
	s.gc.mu.Lock()
	defer s.gc.mu.Unlock()
	f()
	close(s.gc.changed)
	s.gc.changed = make(chan struct{})
}
