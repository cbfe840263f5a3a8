package facts

import "fmt"

// Timestamp is a hybrid logical clock reading: milliseconds since the Unix
// epoch in the high 48 bits and a logical counter in the low 16 bits. Its
// natural integer order is the HLC order, which anti-entropy also uses.
type Timestamp uint64

const logicalBits = 16

// MakeTimestamp builds a timestamp from its two parts.
func MakeTimestamp(wallMs uint64, logical uint16) Timestamp {
	return Timestamp(wallMs<<logicalBits | uint64(logical))
}

// WallMs returns the physical part in milliseconds since the Unix epoch.
func (t Timestamp) WallMs() uint64 { return uint64(t) >> logicalBits }

// Logical returns the logical counter.
func (t Timestamp) Logical() uint16 { return uint16(t) }

func (t Timestamp) String() string { return fmt.Sprintf("%d.%d", t.WallMs(), t.Logical()) }

// Clock is a hybrid logical clock. It never reads the wall clock itself:
// the caller passes the current reading in, which keeps it deterministic
// under test. The zero value is ready to use. Not safe for concurrent use.
type Clock struct {
	last Timestamp
}

// Next returns a timestamp strictly greater than every timestamp this clock
// has issued or observed, and not less than wallMs.
func (c *Clock) Next(wallMs uint64) Timestamp {
	// Wall readings beyond 2^48 ms (year 10889) saturate rather than wrap.
	wallMs = min(wallMs, 1<<48-1)
	ts := MakeTimestamp(wallMs, 0)
	if ts <= c.last {
		ts = c.last + 1
	}
	c.last = ts
	return ts
}

// Observe advances the clock past a timestamp seen on a received fact.
func (c *Clock) Observe(ts Timestamp) {
	if ts > c.last {
		c.last = ts
	}
}

// Last returns the greatest timestamp issued or observed.
func (c *Clock) Last() Timestamp { return c.last }
