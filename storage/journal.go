package storage

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/aura-node/aura-node/facts"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// Journal is the node's fact journal and state store. *Pebble and *Memory
// implement it, and storagetest.Run holds both to the same behaviour.
//
// Every method is safe for concurrent use. After Close, every method but
// Close returns an error wrapping ErrClosed.
type Journal interface {
	facts.StateReader

	// GetFact returns the canonical bytes of a fact; ok is false if the
	// journal does not hold it.
	GetFact(id cid.Cid) (raw []byte, ok bool, err error)
	// Commit stores a batch in one atomic, durable write: its facts, their
	// index entries, its state writes and the new fact count. A fact the
	// journal already holds is neither rewritten nor counted again.
	Commit(b *facts.Batch) error
	// List returns index entries matching q, ordered by (Time, ID)
	// ascending, or descending when q.Newest is set.
	List(q Query) ([]Entry, error)
	// ScanTime returns up to limit facts strictly after the cursor, in
	// (timestamp, 32-byte id) order. The zero TimeKey starts at the
	// beginning.
	ScanTime(after TimeKey, limit int) ([]TimeItem, error)
	// Count returns the number of facts in the journal.
	Count() (uint64, error)
	// Prune deletes facts and their index entries in one atomic write
	// (garbage collection below a snapshot); it never touches state. It
	// returns how many of the facts were present.
	Prune(ids []cid.Cid) (int, error)
	// PruneEntries is Prune for entries just returned by List, which the
	// journal holds: it deletes them without reading them back.
	PruneEntries(entries []Entry) (int, error)
	// ScanState calls fn with every state entry in key order. fn may
	// keep the slices.
	ScanState(fn func(key, value []byte) error) error
	// Hydrate replaces the whole state with the given entries, adds the
	// given facts (without reducing them: the state reflects them) and
	// deletes the pruned ones (a fact both added and pruned is kept), in
	// one atomic write: a node adopting a snapshot. (The in-memory twin
	// is atomic only with respect to its own readers.)
	Hydrate(state []facts.StateWrite, add []facts.Verified, prune []cid.Cid) error
	// Close releases the journal. Closing twice is not an error.
	Close() error
}

var (
	_ Journal = (*Pebble)(nil)
	_ Journal = (*Memory)(nil)
)

// Errors the package reports. Returned errors wrap one of these, or an
// error of the underlying engine, with errors.Is working through %w.
var (
	// ErrClosed reports use of a journal after Close.
	ErrClosed = errors.New("storage: journal is closed")
	// ErrFormatTooNew reports a database written by a newer build, with a
	// storage format this build cannot read.
	ErrFormatTooNew = errors.New("storage: database format is newer than this build supports")
	// ErrNotJournal reports a directory or database that does not hold an
	// aura-node journal.
	ErrNotJournal = errors.New("storage: not an aura-node journal")
	// ErrCorrupt reports a stored entry that does not decode.
	ErrCorrupt = errors.New("storage: corrupt entry")
	// ErrBadQuery reports an invalid List or ScanTime argument.
	ErrBadQuery = errors.New("storage: invalid query")
	// ErrBadBatch reports a batch Commit refuses; nothing is written.
	ErrBadBatch = errors.New("storage: invalid batch")
)

// FormatVersion is the storage format this build writes and the newest it
// reads. Bump it when the key layout or an encoding changes.
const FormatVersion = 1

// Limits of List and ScanTime results.
const (
	// DefaultLimit applies when a limit is zero.
	DefaultLimit = 100
	// MaxLimit caps any larger limit.
	MaxLimit = 10000
)

// Query selects index entries for List. Zero fields do not filter.
type Query struct {
	// Kind selects one fact kind; 0 means any.
	Kind facts.Kind
	// Author selects one author; nil means any.
	Author *facts.AuthorityID
	// Epoch selects one identity epoch; nil means any.
	Epoch *uint64
	// Since is the inclusive lower time bound; 0 means unbounded.
	Since facts.Timestamp
	// Until is the exclusive upper time bound; 0 means unbounded.
	Until facts.Timestamp
	// Limit bounds the number of entries: 0 means DefaultLimit, larger
	// than MaxLimit means MaxLimit, negative is ErrBadQuery.
	Limit int
	// Newest returns the newest entries first.
	Newest bool
}

// Entry describes one journalled fact without its payload.
type Entry struct {
	ID     cid.Cid
	Kind   facts.Kind
	Author facts.AuthorityID
	Epoch  uint64
	Time   facts.Timestamp
}

// TimeKey is a position in the timestamp index: a fact's time and the
// 32-byte sha2-256 digest of its CID.
type TimeKey struct {
	Time facts.Timestamp
	ID   [32]byte
}

// Compare orders keys by time, then by ID bytes. It returns -1, 0 or +1.
func (k TimeKey) Compare(o TimeKey) int {
	switch {
	case k.Time < o.Time:
		return -1
	case k.Time > o.Time:
		return 1
	}
	return bytes.Compare(k.ID[:], o.ID[:])
}

// TimeItem is one entry of the timestamp index.
type TimeItem struct {
	Time facts.Timestamp
	ID   [32]byte
	CID  cid.Cid
}

// Key returns the item's position, to pass to ScanTime as the next cursor.
func (it TimeItem) Key() TimeKey { return TimeKey{Time: it.Time, ID: it.ID} }

// FactDigest returns the 32-byte sha2-256 digest of a fact CID, the id the
// timestamp index orders by.
func FactDigest(id cid.Cid) ([32]byte, error) {
	d, err := digest(id)
	if err != nil {
		return d, fmt.Errorf("storage: %w", err)
	}
	return d, nil
}

func digest(id cid.Cid) ([32]byte, error) {
	var d [32]byte
	if !id.Defined() {
		return d, errors.New("undefined CID")
	}
	dm, err := mh.Decode(id.Hash())
	if err != nil {
		return d, fmt.Errorf("CID %s: %w", id, err)
	}
	if dm.Code != mh.SHA2_256 || len(dm.Digest) != len(d) {
		return d, fmt.Errorf("CID %s is not a 32-byte sha2-256 hash", id)
	}
	copy(d[:], dm.Digest)
	return d, nil
}

// record is one fact of a batch, prepared for either implementation.
type record struct {
	raw    []byte
	entry  Entry
	digest [32]byte
}

func (r *record) timeKey() TimeKey { return TimeKey{Time: r.entry.Time, ID: r.digest} }

// prepare checks a batch and turns its facts into records, dropping facts
// that appear twice in the batch.
func prepare(b *facts.Batch) ([]record, error) {
	if b == nil {
		return nil, fmt.Errorf("%w: nil batch", ErrBadBatch)
	}
	recs := make([]record, 0, len(b.Facts))
	seen := make(map[cid.Cid]bool, len(b.Facts))
	for i, v := range b.Facts {
		f := v.Fact()
		if f == nil || len(v.Raw()) == 0 {
			return nil, fmt.Errorf("%w: fact %d is empty", ErrBadBatch, i)
		}
		id := v.ID()
		d, err := digest(id)
		if err != nil {
			return nil, fmt.Errorf("%w: fact %d: %w", ErrBadBatch, i, err)
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		recs = append(recs, record{
			raw:    v.Raw(),
			digest: d,
			entry:  Entry{ID: id, Kind: f.Kind, Author: f.Author, Epoch: f.Epoch, Time: f.Time},
		})
	}
	return recs, nil
}

// normalize checks q and fills its default limit.
func (q Query) normalize() (Query, error) {
	var err error
	q.Limit, err = normalizeLimit(q.Limit)
	return q, err
}

func normalizeLimit(n int) (int, error) {
	switch {
	case n < 0:
		return 0, fmt.Errorf("%w: negative limit %d", ErrBadQuery, n)
	case n == 0:
		return DefaultLimit, nil
	case n > MaxLimit:
		return MaxLimit, nil
	}
	return n, nil
}

// emptyRange reports whether the time bounds admit no timestamp.
func (q Query) emptyRange() bool { return q.Until != 0 && q.Until <= q.Since }

// match reports whether e satisfies every filter of q.
func (q Query) match(e *Entry) bool {
	switch {
	case q.Kind != 0 && e.Kind != q.Kind,
		q.Author != nil && e.Author != *q.Author,
		q.Epoch != nil && e.Epoch != *q.Epoch,
		e.Time < q.Since,
		q.Until != 0 && e.Time >= q.Until:
		return false
	}
	return true
}
