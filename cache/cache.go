package cache

import (
	"sort"
	"strings"
	"sync"
)

// Valid is the validity rule: an entry stored at epoch e is valid iff
// e >= floor.
func Valid(entryEpoch, floor uint64) bool { return entryEpoch >= floor }

// Lookup is the result of a cache read.
type Lookup struct {
	Key     string
	Value   []byte
	Epoch   uint64
	Floor   uint64
	Present bool
	Valid   bool
}

// Stats are the cache counters.
type Stats struct {
	Entries       int
	Hits          uint64
	Misses        uint64
	Invalidations uint64
}

// HitRate returns hits / (hits + misses), or 0 before any lookup.
func (s Stats) HitRate() float64 {
	if s.Hits+s.Misses == 0 {
		return 0
	}
	return float64(s.Hits) / float64(s.Hits+s.Misses)
}

type entry struct {
	value []byte
	epoch uint64
}

// Cache is a bounded key-value cache. It is safe for concurrent use.
type Cache struct {
	max int
	mu  struct {
		sync.Mutex
		entries                     map[string]entry
		hits, misses, invalidations uint64
	}
}

// New returns a cache holding at most max entries (minimum 1).
func New(max int) *Cache {
	if max < 1 {
		max = 1
	}
	c := &Cache{max: max}
	c.mu.entries = map[string]entry{}
	return c
}

// Set stores value for key as of epoch. When the cache is full an
// arbitrary other entry is evicted.
func (c *Cache) Set(key string, value []byte, epoch uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.mu.entries[key]; !ok && len(c.mu.entries) >= c.max {
		for k := range c.mu.entries {
			delete(c.mu.entries, k)
			break
		}
	}
	c.mu.entries[key] = entry{value: append([]byte(nil), value...), epoch: epoch}
}

// Get looks key up given its current floor. A present but invalid entry is
// dropped and counted as an invalidation and a miss.
func (c *Cache) Get(key string, floor uint64) Lookup {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := Lookup{Key: key, Floor: floor}
	e, ok := c.mu.entries[key]
	if !ok {
		c.mu.misses++
		return l
	}
	l.Present, l.Epoch = true, e.epoch
	if !Valid(e.epoch, floor) {
		delete(c.mu.entries, key)
		c.mu.invalidations++
		c.mu.misses++
		return l
	}
	c.mu.hits++
	l.Valid, l.Value = true, append([]byte(nil), e.value...)
	return l
}

// Invalidated applies a replicated invalidation: entries of keys stored
// below floor are dropped. It returns how many were dropped.
func (c *Cache) Invalidated(keys []string, floor uint64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, k := range keys {
		if e, ok := c.mu.entries[k]; ok && !Valid(e.epoch, floor) {
			delete(c.mu.entries, k)
			n++
		}
	}
	c.mu.invalidations += uint64(n)
	return n
}

// Query lists the entries whose key has prefix, sorted by key, with their
// validity under floorOf. It does not count hits or misses.
func (c *Cache) Query(prefix string, floorOf func(key string) uint64) []Lookup {
	c.mu.Lock()
	var out []Lookup
	for k, e := range c.mu.entries {
		if strings.HasPrefix(k, prefix) {
			out = append(out, Lookup{Key: k, Value: append([]byte(nil), e.value...), Epoch: e.epoch, Present: true})
		}
	}
	c.mu.Unlock()
	for i := range out {
		out[i].Floor = floorOf(out[i].Key)
		out[i].Valid = Valid(out[i].Epoch, out[i].Floor)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{Entries: len(c.mu.entries), Hits: c.mu.hits, Misses: c.mu.misses, Invalidations: c.mu.invalidations}
}
