package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/aura-node/aura-node/facts"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/ipfs/go-cid"
)

// blockCacheBytes is the Pebble block cache size.
const blockCacheBytes = 128 << 20

// PebbleOptions configures OpenPebble. The zero value is ready to use.
type PebbleOptions struct {
	// Logger receives Pebble's own log lines and background errors. Nil
	// discards them; the package never writes to stderr.
	Logger *slog.Logger
	// Migrations is the storage format history; nil means
	// BuiltinMigrations(). OpenPebble stamps a new journal with its
	// Target and migrates an older one up to it (migrate.go).
	Migrations *Migrations

	noMigrate bool // MigrateDown: open without migrating up first
}

// Pebble is the on-disk journal, a Pebble database in one directory.
type Pebble struct {
	dir string
	db  *pebble.DB
	log *slog.Logger

	// format is the storage format this open writes (the migration
	// registry's target); migrated lists the steps the open ran.
	format   uint64
	migrated []AppliedMigration

	// commitMu serialises Commit, so that checking which facts are new and
	// bumping the fact count is one read-modify-write.
	commitMu sync.Mutex

	mu struct {
		// RWMutex is read-held by every operation and write-held by
		// Close, so no operation reaches a closed *pebble.DB (which
		// panics).
		sync.RWMutex
		closed bool
	}
}

// OpenPebble opens the journal in dir, creating it if dir does not exist
// or is empty. It refuses a directory that holds other files, a Pebble
// database not written by this package (ErrNotJournal) and a journal
// written in a newer storage format (ErrFormatTooNew). Every error names
// dir.
func OpenPebble(dir string, opts PebbleOptions) (*Pebble, error) {
	if dir == "" {
		return nil, errors.New("storage: open: empty directory name")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With(slog.String("component", "storage"), slog.String("dir", dir))
	if err := checkDir(dir); err != nil {
		return nil, err
	}
	pl := pebbleLogger{l: logger, info: slog.LevelInfo}
	// FormatNewest: a new database starts at the newest stable Pebble
	// format, and an existing one is ratcheted up to it on open, so a
	// Pebble upgrade in go.mod is one-way for the data directory.
	po := &pebble.Options{
		Logger:             pl,
		EventListener:      pl.eventListener(),
		FormatMajorVersion: pebble.FormatNewest,
		// Most reads on the ingest path are misses (is this fact new? is
		// this key new?): bloom filters answer them without reading
		// blocks, and a block cache keeps hot index blocks in memory.
		Cache:        pebble.NewCache(blockCacheBytes),
		MemTableSize: 32 << 20,
	}
	defer po.Cache.Unref()
	for i := range po.Levels {
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	db, err := pebble.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", dir, err)
	}
	reg := opts.Migrations
	if reg == nil {
		reg = BuiltinMigrations()
	}
	p := &Pebble{dir: dir, db: db, log: logger, format: uint64(reg.Target())}
	if err := p.checkFormat(); err != nil {
		_ = db.Close()
		return nil, err
	}
	if !opts.noMigrate {
		if err := p.migrate(reg); err != nil {
			_ = db.Close()
			return nil, err
		}
	}
	return p, nil
}

// checkDir refuses a path that is not a directory, or a non-empty
// directory without a Pebble database. Pebble itself creates LOCK and
// marker.* files before its manifest, so those alone are what a first Open
// that was interrupted leaves behind, and do not count.
func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("storage: open %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", ErrNotJournal, dir)
	}
	desc, err := pebble.Peek(dir, vfs.Default)
	if err != nil {
		return fmt.Errorf("storage: open %s: %w", dir, err)
	}
	if desc.Exists {
		return nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("storage: open %s: %w", dir, err)
	}
	for _, e := range ents {
		if e.Name() == "LOCK" || strings.HasPrefix(e.Name(), "marker.") {
			continue
		}
		return fmt.Errorf("%w: %s holds %q but no database; use an empty or new directory",
			ErrNotJournal, dir, e.Name())
	}
	return nil
}

// checkFormat reads the storage format version, writing it into a new,
// empty database.
func (p *Pebble) checkFormat() error {
	v, ok, err := p.get(metaKey(metaFormat))
	if err != nil {
		return err
	}
	if ok {
		if len(v) != 8 {
			return fmt.Errorf("%w: %s: format version of %d bytes", ErrCorrupt, p.dir, len(v))
		}
		if n := binary.BigEndian.Uint64(v); n > p.format {
			return fmt.Errorf("%w: %s has storage format %d, this build reads up to %d; upgrade aura-node",
				ErrFormatTooNew, p.dir, n, p.format)
		}
		return nil
	}
	iter, err := p.db.NewIter(nil)
	if err != nil {
		return fmt.Errorf("storage: open %s: %w", p.dir, err)
	}
	nonEmpty := iter.First()
	if err := iter.Close(); err != nil {
		return fmt.Errorf("storage: open %s: %w", p.dir, err)
	}
	if nonEmpty {
		return fmt.Errorf("%w: %s holds a Pebble database without a storage format version", ErrNotJournal, p.dir)
	}
	enc := binary.BigEndian.AppendUint64(nil, p.format)
	if err := p.db.Set(metaKey(metaFormat), enc, pebble.Sync); err != nil {
		return fmt.Errorf("storage: open %s: write format version: %w", p.dir, err)
	}
	p.log.Info("created journal", slog.Uint64("format", p.format))
	return nil
}

// lock read-locks p for one operation; it fails once p is closed.
func (p *Pebble) lock() error {
	p.mu.RLock()
	if p.mu.closed {
		p.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

// get reads one key, returning a copy of its value. The caller holds the
// read lock.
func (p *Pebble) get(key []byte) ([]byte, bool, error) {
	v, closer, err := p.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("storage: %s: read: %w", p.dir, err)
	}
	out := clone(v)
	if err := closer.Close(); err != nil {
		return nil, false, fmt.Errorf("storage: %s: read: %w", p.dir, err)
	}
	return out, true, nil
}

// GetState implements facts.StateReader.
func (p *Pebble) GetState(key []byte) ([]byte, bool, error) {
	if err := p.lock(); err != nil {
		return nil, false, err
	}
	defer p.mu.RUnlock()
	return p.get(stateKey(key))
}

// HasFact implements facts.StateReader.
func (p *Pebble) HasFact(id cid.Cid) (bool, error) {
	if err := p.lock(); err != nil {
		return false, err
	}
	defer p.mu.RUnlock()
	_, ok, err := p.get(factKey(id))
	return ok, err
}

// GetFact implements Journal.
func (p *Pebble) GetFact(id cid.Cid) ([]byte, bool, error) {
	if err := p.lock(); err != nil {
		return nil, false, err
	}
	defer p.mu.RUnlock()
	return p.get(factKey(id))
}

// Commit implements Journal with one synced Pebble batch.
func (p *Pebble) Commit(b *facts.Batch) error {
	recs, err := prepare(b)
	if err != nil {
		return err
	}
	if err := p.lock(); err != nil {
		return err
	}
	defer p.mu.RUnlock()
	p.commitMu.Lock()
	defer p.commitMu.Unlock()

	wb := p.db.NewBatch()
	defer wb.Close()
	var added uint64
	for i := range recs {
		r := &recs[i]
		fk := factKey(r.entry.ID)
		if _, ok, err := p.get(fk); err != nil {
			return err
		} else if ok {
			continue
		}
		if err := wb.Set(fk, r.raw, nil); err != nil {
			return fmt.Errorf("storage: %s: commit: %w", p.dir, err)
		}
		iv := r.indexValue()
		for _, k := range r.indexKeys() {
			if err := wb.Set(k, iv, nil); err != nil {
				return fmt.Errorf("storage: %s: commit: %w", p.dir, err)
			}
		}
		added++
	}
	for _, w := range b.Writes {
		var err error
		if w.Value == nil {
			err = wb.Delete(stateKey(w.Key), nil)
		} else {
			err = wb.Set(stateKey(w.Key), w.Value, nil)
		}
		if err != nil {
			return fmt.Errorf("storage: %s: commit: %w", p.dir, err)
		}
	}
	if added > 0 {
		n, err := p.count()
		if err != nil {
			return err
		}
		if err := wb.Set(metaKey(metaCount), binary.BigEndian.AppendUint64(nil, n+added), nil); err != nil {
			return fmt.Errorf("storage: %s: commit: %w", p.dir, err)
		}
	}
	if wb.Empty() {
		return nil
	}
	if err := wb.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("storage: %s: commit: %w", p.dir, err)
	}
	return nil
}

// List implements Journal from the index indexBounds picks.
func (p *Pebble) List(q Query) ([]Entry, error) {
	q, err := q.normalize()
	if err != nil {
		return nil, err
	}
	if err := p.lock(); err != nil {
		return nil, err
	}
	defer p.mu.RUnlock()
	out := []Entry{}
	if q.emptyRange() {
		return out, nil
	}
	lower, upper := q.indexBounds()
	err = p.scan(lower, upper, q.Newest, func(_, v []byte) (bool, error) {
		e, err := decodeIndexValue(v)
		if err != nil {
			return false, err
		}
		if q.match(&e) {
			out = append(out, e)
		}
		return len(out) < q.Limit, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ScanTime implements Journal.
func (p *Pebble) ScanTime(after TimeKey, limit int) ([]TimeItem, error) {
	limit, err := normalizeLimit(limit)
	if err != nil {
		return nil, err
	}
	if err := p.lock(); err != nil {
		return nil, err
	}
	defer p.mu.RUnlock()
	start := appendTimeKey([]byte{tableTime}, after)
	out := []TimeItem{}
	err = p.scan(start, prefixEnd([]byte{tableTime}), false, func(k, v []byte) (bool, error) {
		if bytes.Equal(k, start) {
			return true, nil
		}
		tk, err := decodeTimeKey(k)
		if err != nil {
			return false, err
		}
		e, err := decodeIndexValue(v)
		if err != nil {
			return false, err
		}
		out = append(out, TimeItem{Time: tk.Time, ID: tk.ID, CID: e.ID})
		return len(out) < limit, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// scan calls fn on each key in [lower, upper), backwards if reverse, until
// fn returns false or an error. The caller holds the read lock; key and
// value are valid only during the call.
func (p *Pebble) scan(lower, upper []byte, reverse bool, fn func(k, v []byte) (bool, error)) (err error) {
	iter, err := p.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return fmt.Errorf("storage: %s: iterate: %w", p.dir, err)
	}
	defer func() {
		if cerr := iter.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("storage: %s: iterate: %w", p.dir, cerr)
		}
	}()
	step := iter.Next
	ok := iter.First()
	if reverse {
		step, ok = iter.Prev, iter.Last()
	}
	for ; ok; ok = step() {
		v, err := iter.ValueAndErr()
		if err != nil {
			return fmt.Errorf("storage: %s: iterate: %w", p.dir, err)
		}
		more, err := fn(iter.Key(), v)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// Count implements Journal.
func (p *Pebble) Count() (uint64, error) {
	if err := p.lock(); err != nil {
		return 0, err
	}
	defer p.mu.RUnlock()
	return p.count()
}

func (p *Pebble) count() (uint64, error) {
	v, ok, err := p.get(metaKey(metaCount))
	if err != nil || !ok {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: %s: fact count of %d bytes", ErrCorrupt, p.dir, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// Checkpoint writes a consistent copy of the database into dir, which
// must not exist. Files are hard-linked where the filesystem allows. The
// copy opens with OpenPebble.
func (p *Pebble) Checkpoint(dir string) error {
	if err := p.lock(); err != nil {
		return err
	}
	defer p.mu.RUnlock()
	if err := p.db.Checkpoint(dir); err != nil {
		return fmt.Errorf("storage: checkpoint %s to %s: %w", p.dir, dir, err)
	}
	return nil
}

// DiskUsage returns the bytes the database occupies on disk, or 0 once
// closed.
func (p *Pebble) DiskUsage() uint64 {
	if p.lock() != nil {
		return 0
	}
	defer p.mu.RUnlock()
	return p.db.Metrics().DiskSpaceUsage()
}

// Dir returns the database directory.
func (p *Pebble) Dir() string { return p.dir }

// Close implements Journal. It waits for operations in flight.
func (p *Pebble) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.closed {
		return nil
	}
	p.mu.closed = true
	if err := p.db.Close(); err != nil {
		return fmt.Errorf("storage: close %s: %w", p.dir, err)
	}
	return nil
}

// PebbleLogging returns the Pebble logger and event listener this
// package uses, for other Pebble databases of a node (the artifact block
// store): Pebble's lines go to l (its info lines at infoLevel), background
// errors and corruption are logged, and a fatal error panics instead of
// exiting the process.
func PebbleLogging(l *slog.Logger, infoLevel slog.Level) (pebble.Logger, *pebble.EventListener) {
	pl := pebbleLogger{l: l, info: infoLevel}
	return pl, pl.eventListener()
}

// pebbleLogger forwards Pebble's log lines to slog.
type pebbleLogger struct {
	l    *slog.Logger
	info slog.Level
}

var _ pebble.Logger = pebbleLogger{}

func (pl pebbleLogger) Infof(format string, args ...any) {
	pl.l.Log(context.Background(), pl.info, "pebble: "+fmt.Sprintf(format, args...))
}

func (pl pebbleLogger) Errorf(format string, args ...any) {
	pl.l.Error("pebble: " + fmt.Sprintf(format, args...))
}

// Fatalf logs and panics. Pebble calls it on broken internal invariants
// and does not expect it to return; a library must not os.Exit, so the
// panic carries the message to the process owner instead.
func (pl pebbleLogger) Fatalf(format string, args ...any) {
	msg := "pebble: " + fmt.Sprintf(format, args...)
	pl.l.Error(msg, slog.Bool("fatal", true))
	panic(msg)
}

// eventListener logs background errors and data corruption. Pebble's
// default for corruption is Fatalf; the read that found it already fails
// with an error, so logging it is enough.
func (pl pebbleLogger) eventListener() *pebble.EventListener {
	return &pebble.EventListener{
		BackgroundError: func(err error) {
			pl.l.Error("pebble: background error", slog.Any("err", err))
		},
		DataCorruption: func(info pebble.DataCorruptionInfo) {
			pl.l.Error("pebble: data corruption", slog.String("info", info.String()))
		},
	}
}
