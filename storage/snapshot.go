package storage

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"
	"github.com/ipfs/go-cid"

	"github.com/aura-node/aura-node/facts"
)

// recordOf rebuilds the record of a stored fact from its bytes, to find
// its index keys.
func recordOf(id cid.Cid, raw []byte) (record, error) {
	f, _, err := facts.Decode(raw, len(raw))
	if err != nil {
		return record{}, fmt.Errorf("%w: fact %s: %v", ErrCorrupt, id, err)
	}
	d, err := digest(id)
	if err != nil {
		return record{}, err
	}
	return record{raw: raw, digest: d, entry: Entry{ID: id, Kind: f.Kind, Author: f.Author, Epoch: f.Epoch, Time: f.Time}}, nil
}

// Prune implements Journal for Pebble: one atomic batch deletes the facts
// and their index entries and lowers the fact count.
func (p *Pebble) Prune(ids []cid.Cid) (int, error) {
	if err := p.lock(); err != nil {
		return 0, err
	}
	defer p.mu.RUnlock()
	p.commitMu.Lock()
	defer p.commitMu.Unlock()
	wb := p.db.NewBatch()
	defer wb.Close()
	removed := 0
	for _, id := range ids {
		raw, ok, err := p.get(factKey(id))
		if err != nil {
			return 0, err
		}
		if !ok {
			continue
		}
		r, err := recordOf(id, raw)
		if err != nil {
			return 0, err
		}
		if err := wb.Delete(factKey(id), nil); err != nil {
			return 0, err
		}
		for _, k := range r.indexKeys() {
			if err := wb.Delete(k, nil); err != nil {
				return 0, err
			}
		}
		removed++
	}
	if removed == 0 {
		return 0, nil
	}
	n, err := p.count()
	if err != nil {
		return 0, err
	}
	if err := wb.Set(metaKey(metaCount), binary.BigEndian.AppendUint64(nil, n-uint64(removed)), nil); err != nil {
		return 0, err
	}
	if err := wb.Commit(pebble.Sync); err != nil {
		return 0, fmt.Errorf("storage: %s: prune: %w", p.dir, err)
	}
	return removed, nil
}

// PruneEntries implements Journal for Pebble: like Prune, for facts the
// caller just listed, so their index keys are known without reading the
// facts back (garbage collection of a million facts would otherwise pay a
// point read and a decode per fact).
func (p *Pebble) PruneEntries(entries []Entry) (int, error) {
	if err := p.lock(); err != nil {
		return 0, err
	}
	defer p.mu.RUnlock()
	p.commitMu.Lock()
	defer p.commitMu.Unlock()
	wb := p.db.NewBatch()
	defer wb.Close()
	for _, e := range entries {
		d, err := digest(e.ID)
		if err != nil {
			return 0, err
		}
		r := record{digest: d, entry: e}
		if err := wb.Delete(factKey(e.ID), nil); err != nil {
			return 0, err
		}
		for _, k := range r.indexKeys() {
			if err := wb.Delete(k, nil); err != nil {
				return 0, err
			}
		}
	}
	if len(entries) == 0 {
		return 0, nil
	}
	n, err := p.count()
	if err != nil {
		return 0, err
	}
	if err := wb.Set(metaKey(metaCount), binary.BigEndian.AppendUint64(nil, n-min(n, uint64(len(entries)))), nil); err != nil {
		return 0, err
	}
	if err := wb.Commit(pebble.Sync); err != nil {
		return 0, fmt.Errorf("storage: %s: prune: %w", p.dir, err)
	}
	return len(entries), nil
}

// PruneEntries implements Journal for Memory.
func (m *Memory) PruneEntries(entries []Entry) (int, error) {
	ids := make([]cid.Cid, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	return m.Prune(ids)
}

// ScanState implements Journal for Pebble.
func (p *Pebble) ScanState(fn func(key, value []byte) error) error {
	if err := p.lock(); err != nil {
		return err
	}
	defer p.mu.RUnlock()
	return p.scan([]byte{tableState}, prefixEnd([]byte{tableState}), false, func(k, v []byte) (bool, error) {
		// Pebble reuses the iterator's buffers: hand out copies.
		return true, fn(clone(k[1:]), clone(v))
	})
}

// Hydrate implements Journal for Pebble in one atomic batch.
func (p *Pebble) Hydrate(state []facts.StateWrite, kept []facts.Verified, prune []cid.Cid) error {
	recs, err := prepare(&facts.Batch{Facts: kept})
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
	if err := wb.DeleteRange([]byte{tableState}, prefixEnd([]byte{tableState}), nil); err != nil {
		return err
	}
	keep := make(map[cid.Cid]bool, len(recs))
	for i := range recs {
		keep[recs[i].entry.ID] = true
	}
	var removed uint64
	for _, id := range prune {
		if keep[id] {
			continue
		}
		raw, ok, err := p.get(factKey(id))
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		r, err := recordOf(id, raw)
		if err != nil {
			return err
		}
		if err := wb.Delete(factKey(id), nil); err != nil {
			return err
		}
		for _, k := range r.indexKeys() {
			if err := wb.Delete(k, nil); err != nil {
				return err
			}
		}
		removed++
	}
	for _, w := range state {
		if w.Value == nil {
			continue
		}
		if err := wb.Set(stateKey(w.Key), w.Value, nil); err != nil {
			return err
		}
	}
	var added uint64
	for i := range recs {
		r := &recs[i]
		if _, ok, err := p.get(factKey(r.entry.ID)); err != nil {
			return err
		} else if ok {
			continue
		}
		if err := wb.Set(factKey(r.entry.ID), r.raw, nil); err != nil {
			return err
		}
		iv := r.indexValue()
		for _, k := range r.indexKeys() {
			if err := wb.Set(k, iv, nil); err != nil {
				return err
			}
		}
		added++
	}
	n, err := p.count()
	if err != nil {
		return err
	}
	if err := wb.Set(metaKey(metaCount), binary.BigEndian.AppendUint64(nil, n+added-removed), nil); err != nil {
		return err
	}
	if err := wb.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("storage: %s: hydrate: %w", p.dir, err)
	}
	return nil
}

// Compact compacts the whole database, so that deleted facts stop taking
// disk space (used after garbage collection and to measure it).
func (p *Pebble) Compact() error {
	if err := p.lock(); err != nil {
		return err
	}
	defer p.mu.RUnlock()
	if err := p.db.Compact(context.Background(), []byte{0}, []byte{0xff, 0xff}, true); err != nil {
		return fmt.Errorf("storage: %s: compact: %w", p.dir, err)
	}
	return nil
}

// Prune implements Journal for Memory.
func (m *Memory) Prune(ids []cid.Cid) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return 0, ErrClosed
	}
	removed := 0
	for _, id := range ids {
		raw, ok := m.mu.facts[id]
		if !ok {
			continue
		}
		r, err := recordOf(id, raw)
		if err != nil {
			return removed, err
		}
		delete(m.mu.facts, id)
		if at, found := slices.BinarySearchFunc(m.mu.byTime, r.timeKey(), compareMemEntry); found {
			m.mu.byTime = slices.Delete(m.mu.byTime, at, at+1)
		}
		removed++
	}
	return removed, nil
}

// ScanState implements Journal for Memory, in key order.
func (m *Memory) ScanState(fn func(key, value []byte) error) error {
	m.mu.RLock()
	if m.mu.closed {
		m.mu.RUnlock()
		return ErrClosed
	}
	keys := make([]string, 0, len(m.mu.state))
	for k := range m.mu.state {
		keys = append(keys, k)
	}
	vals := make(map[string][]byte, len(keys))
	for _, k := range keys {
		vals[k] = clone(m.mu.state[k])
	}
	m.mu.RUnlock()
	slices.Sort(keys)
	for _, k := range keys {
		if err := fn([]byte(k), vals[k]); err != nil {
			return err
		}
	}
	return nil
}

// Hydrate implements Journal for Memory.
func (m *Memory) Hydrate(state []facts.StateWrite, kept []facts.Verified, prune []cid.Cid) error {
	recs, err := prepare(&facts.Batch{Facts: kept})
	if err != nil {
		return err
	}
	keep := make(map[cid.Cid]bool, len(recs))
	for i := range recs {
		keep[recs[i].entry.ID] = true
	}
	var drop []cid.Cid
	for _, id := range prune {
		if !keep[id] {
			drop = append(drop, id)
		}
	}
	if _, err := m.Prune(drop); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return ErrClosed
	}
	m.mu.state = make(map[string][]byte, len(state))
	for _, w := range state {
		if w.Value != nil {
			m.mu.state[string(w.Key)] = clone(w.Value)
		}
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
	return nil
}
