package storage

import (
	"slices"
	"sync"

	"github.com/aura-node/aura-node/facts"
	"github.com/ipfs/go-cid"
)

// Memory is the in-memory twin of Pebble, for tests. It keeps the same
// observable behaviour (storagetest.Run checks both) but nothing survives
// Close. The zero value is not usable: call NewMemory.
type Memory struct {
	mu struct {
		sync.RWMutex
		closed bool
		facts  map[cid.Cid][]byte
		state  map[string][]byte
		// byTime holds every fact's entry sorted by (time, digest): the
		// timestamp index, from which List filters.
		byTime []memEntry
	}
}

type memEntry struct {
	key   TimeKey
	entry Entry
}

func compareMemEntry(a memEntry, k TimeKey) int { return a.key.Compare(k) }

// NewMemory returns an empty in-memory journal.
func NewMemory() *Memory {
	m := new(Memory)
	m.mu.facts = map[cid.Cid][]byte{}
	m.mu.state = map[string][]byte{}
	return m
}

// GetState implements facts.StateReader.
func (m *Memory) GetState(key []byte) ([]byte, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.mu.closed {
		return nil, false, ErrClosed
	}
	v, ok := m.mu.state[string(key)]
	if !ok {
		return nil, false, nil
	}
	return clone(v), true, nil
}

// HasFact implements facts.StateReader.
func (m *Memory) HasFact(id cid.Cid) (bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.mu.closed {
		return false, ErrClosed
	}
	_, ok := m.mu.facts[id]
	return ok, nil
}

// GetFact implements Journal.
func (m *Memory) GetFact(id cid.Cid) ([]byte, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.mu.closed {
		return nil, false, ErrClosed
	}
	raw, ok := m.mu.facts[id]
	if !ok {
		return nil, false, nil
	}
	return clone(raw), true, nil
}

// Commit implements Journal. Holding the write lock makes it atomic.
func (m *Memory) Commit(b *facts.Batch) error {
	recs, err := prepare(b)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return ErrClosed
	}
	for i := range recs {
		r := &recs[i]
		if _, ok := m.mu.facts[r.entry.ID]; ok {
			continue
		}
		m.mu.facts[r.entry.ID] = clone(r.raw)
		k := r.timeKey()
		at, _ := slices.BinarySearchFunc(m.mu.byTime, k, compareMemEntry)
		m.mu.byTime = slices.Insert(m.mu.byTime, at, memEntry{key: k, entry: r.entry})
	}
	for _, w := range b.Writes {
		if w.Value == nil {
			delete(m.mu.state, string(w.Key))
			continue
		}
		m.mu.state[string(w.Key)] = clone(w.Value)
	}
	return nil
}

// List implements Journal by filtering the timestamp order.
func (m *Memory) List(q Query) ([]Entry, error) {
	q, err := q.normalize()
	if err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.mu.closed {
		return nil, ErrClosed
	}
	out := []Entry{}
	if q.emptyRange() {
		return out, nil
	}
	n := len(m.mu.byTime)
	for i := range n {
		if q.Newest {
			i = n - 1 - i
		}
		if e := &m.mu.byTime[i].entry; q.match(e) {
			out = append(out, *e)
			if len(out) == q.Limit {
				break
			}
		}
	}
	return out, nil
}

// ScanTime implements Journal.
func (m *Memory) ScanTime(after TimeKey, limit int) ([]TimeItem, error) {
	limit, err := normalizeLimit(limit)
	if err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.mu.closed {
		return nil, ErrClosed
	}
	at, found := slices.BinarySearchFunc(m.mu.byTime, after, compareMemEntry)
	if found {
		at++
	}
	out := []TimeItem{}
	for _, me := range m.mu.byTime[at:] {
		if len(out) == limit {
			break
		}
		out = append(out, TimeItem{Time: me.key.Time, ID: me.key.ID, CID: me.entry.ID})
	}
	return out, nil
}

// Count implements Journal.
func (m *Memory) Count() (uint64, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.mu.closed {
		return 0, ErrClosed
	}
	return uint64(len(m.mu.facts)), nil
}

// Close implements Journal. It drops everything the journal held.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mu.closed = true
	m.mu.facts, m.mu.state, m.mu.byTime = nil, nil, nil
	return nil
}

// clone returns a copy of b that is never nil, so a present empty value
// stays distinguishable from an absent one.
func clone(b []byte) []byte {
	out := make([]byte, len(b))
	copy(out, b)
	return out
}
