// Package cache is the node-local cache whose validity follows the
// replicated invalidation floors of the journal.
//
// An entry stored at identity epoch e for key k is valid iff e >= floor(k),
// where floor(k) is the highest EpochFloor of every CacheInvalidated fact
// naming k (facts.ReadCacheFloor). Floors only rise, so once an entry is
// invalid it stays invalid and is dropped on the next lookup.
//
// The cache never decides floors itself: the node passes the floor of the
// key on every lookup and calls Invalidated when it reduces a
// CacheInvalidated fact. It counts hits, misses and invalidations for the
// node's metrics.
//
//	c := cache.New(100_000)
//	c.Set("user:1", value, epoch)
//	l := c.Get("user:1", floor)   // l.Valid, l.Value
//	c.Invalidated([]string{"user:1"}, newFloor)
package cache
