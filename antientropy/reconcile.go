package antientropy

import (
	"fmt"
)

// ProtocolVersion is Negentropy protocol v1.
const ProtocolVersion = 0x61

// Modes of a range.
const (
	ModeSkip        = 0
	ModeFingerprint = 1
	ModeIDList      = 2
)

// Options tune a Reconciler. The zero value gives Negentropy's defaults.
type Options struct {
	// FrameSizeLimit bounds every message this side produces; 0 means
	// no limit. When set it must be at least 4096. A responder also
	// refuses queries longer than this.
	FrameSizeLimit int
	// Buckets is how many sub-ranges a mismatched range splits into;
	// default 16.
	Buckets int
	// IDListBelow sends a range as an ID list when it holds fewer items;
	// default 2 * Buckets.
	IDListBelow int
}

// ErrFrameLimit reports a frame-size limit below the protocol minimum.
var ErrFrameLimit = fmt.Errorf("antientropy: frame size limit must be 0 or at least 4096")

// Reconciler runs one side of one reconciliation session. It is not safe
// for concurrent use.
type Reconciler struct {
	st        Storage
	opt       Options
	initiator bool
	lastIn    uint64
	lastOut   uint64
}

// NewReconciler returns a reconciler over st.
func NewReconciler(st Storage, opt Options) (*Reconciler, error) {
	if opt.FrameSizeLimit != 0 && opt.FrameSizeLimit < 4096 {
		return nil, ErrFrameLimit
	}
	if opt.Buckets < 2 {
		opt.Buckets = 16
	}
	if opt.IDListBelow <= 0 {
		opt.IDListBelow = 2 * opt.Buckets
	}
	return &Reconciler{st: st, opt: opt}, nil
}

// Initiate starts a session as the initiator and returns the first message.
func (r *Reconciler) Initiate() []byte {
	r.initiator = true
	r.lastOut = 0
	out := []byte{ProtocolVersion}
	return r.splitRange(out, 0, r.st.Size(), infinity)
}

// Reconcile processes the responder's reply. It returns the next message
// to send (nil when the sets are reconciled), the IDs only this side holds
// (have) and the IDs only the peer holds (need) found in this round.
func (r *Reconciler) Reconcile(reply []byte) (next []byte, have, need []ID, err error) {
	if !r.initiator {
		return nil, nil, nil, fmt.Errorf("antientropy: Reconcile called before Initiate")
	}
	out, have, need, err := r.reconcile(reply)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(out) == 1 {
		return nil, have, need, nil
	}
	return out, have, need, nil
}

// Respond processes a message from the initiator and returns the reply.
// A query in another protocol version gets a reply holding only the
// version byte this side speaks, as Negentropy specifies.
func (r *Reconciler) Respond(query []byte) ([]byte, error) {
	if r.initiator {
		return nil, fmt.Errorf("antientropy: Respond called on an initiator")
	}
	if r.opt.FrameSizeLimit != 0 && len(query) > r.opt.FrameSizeLimit {
		return nil, malformed("query of %d bytes exceeds the frame size limit %d", len(query), r.opt.FrameSizeLimit)
	}
	if len(query) > 0 && query[0] != ProtocolVersion && query[0] >= 0x60 && query[0] <= 0x6f {
		return []byte{ProtocolVersion}, nil
	}
	out, _, _, err := r.reconcile(query)
	return out, err
}

func (r *Reconciler) exceeded(n int) bool {
	return r.opt.FrameSizeLimit != 0 && n > r.opt.FrameSizeLimit-200
}

// reconcile is Negentropy's reconcileAux: it walks the ranges of the
// incoming message, answers each and returns the outgoing message.
func (r *Reconciler) reconcile(msg []byte) (out []byte, have, need []ID, err error) {
	q := reader{b: msg}
	r.lastIn, r.lastOut = 0, 0
	out = []byte{ProtocolVersion}
	v, err := q.bytes(1)
	if err != nil {
		return nil, nil, nil, err
	}
	if v[0] != ProtocolVersion {
		if v[0] >= 0x60 && v[0] <= 0x6f {
			return nil, nil, nil, fmt.Errorf("antientropy: peer speaks Negentropy protocol version %d, not 1", v[0]-0x60)
		}
		return nil, nil, nil, malformed("bad protocol version byte %#x", v[0])
	}
	size := r.st.Size()
	prevBound := Bound{}
	prevIndex := 0
	skip := false
	var o []byte
	for !q.empty() {
		o = o[:0]
		doSkip := func() {
			if skip {
				skip = false
				o = r.appendBound(o, prevBound)
				o = appendVarint(o, ModeSkip)
			}
		}
		currBound, err := r.readBound(&q)
		if err != nil {
			return nil, nil, nil, err
		}
		if compareBounds(currBound, prevBound) < 0 {
			return nil, nil, nil, malformed("range bounds out of order")
		}
		mode, err := q.varint()
		if err != nil {
			return nil, nil, nil, err
		}
		lower := prevIndex
		upper := r.st.LowerBound(prevIndex, size, currBound)
		switch mode {
		case ModeSkip:
			skip = true
		case ModeFingerprint:
			theirs, err := q.bytes(FingerprintSize)
			if err != nil {
				return nil, nil, nil, err
			}
			ours := r.st.Fingerprint(lower, upper)
			if string(theirs) != string(ours[:]) {
				doSkip()
				o = r.splitRange(o, lower, upper, currBound)
			} else {
				skip = true
			}
		case ModeIDList:
			n, err := q.varint()
			if err != nil {
				return nil, nil, nil, err
			}
			if n > uint64(len(q.b)/IDSize) {
				return nil, nil, nil, malformed("ID list of %d IDs in %d bytes", n, len(q.b))
			}
			theirs := make(map[ID]bool, n)
			for i := uint64(0); i < n; i++ {
				b, _ := q.bytes(IDSize)
				theirs[ID(b)] = true
			}
			r.st.Iterate(lower, upper, func(_ int, it Item) bool {
				if theirs[it.ID] {
					delete(theirs, it.ID)
				} else if r.initiator {
					have = append(have, it.ID)
				}
				return true
			})
			if r.initiator {
				skip = true
				for id := range theirs {
					need = append(need, id)
				}
				break
			}
			doSkip()
			var ids []byte
			count := 0
			endBound := currBound
			r.st.Iterate(lower, upper, func(i int, it Item) bool {
				if r.exceeded(len(out) + len(o) + len(ids)) {
					endBound = BoundOf(it)
					upper = i // the rest gets a fingerprint below
					return false
				}
				ids = append(ids, it.ID[:]...)
				count++
				return true
			})
			o = r.appendBound(o, endBound)
			o = appendVarint(o, ModeIDList)
			o = appendVarint(o, uint64(count))
			o = append(o, ids...)
			// The list is already cut to fit: it goes out whole, and a
			// truncated remainder [upper, size) gets the fingerprint
			// below.
			out = append(out, o...)
			o = o[:0]
		default:
			return nil, nil, nil, malformed("unknown mode %d", mode)
		}
		if r.exceeded(len(out) + len(o)) {
			// Stop here and send one fingerprint for everything not yet
			// described: the peer splits it in the next round. When this
			// range's own answer is dropped, the fingerprint starts at
			// the range's lower end, which is also where the peer's
			// range starts (Negentropy starts it at upper, so a range
			// holding only our extra items could be skipped for the
			// session; both are valid v1 messages).
			from := upper
			if len(o) > 0 {
				from = lower
			}
			fp := r.st.Fingerprint(from, size)
			out = r.appendBound(out, infinity)
			out = appendVarint(out, ModeFingerprint)
			out = append(out, fp[:]...)
			break
		}
		out = append(out, o...)
		prevIndex, prevBound = upper, currBound
	}
	return out, have, need, nil
}

// splitRange appends the description of [lower, upper): an ID list when it
// is small, else Buckets fingerprinted sub-ranges.
func (r *Reconciler) splitRange(o []byte, lower, upper int, upperBound Bound) []byte {
	n := upper - lower
	buckets := r.opt.Buckets
	if n < r.opt.IDListBelow || n < buckets {
		o = r.appendBound(o, upperBound)
		o = appendVarint(o, ModeIDList)
		o = appendVarint(o, uint64(n))
		r.st.Iterate(lower, upper, func(_ int, it Item) bool {
			o = append(o, it.ID[:]...)
			return true
		})
		return o
	}
	per, extra := n/buckets, n%buckets
	curr := lower
	for i := 0; i < buckets; i++ {
		size := per
		if i < extra {
			size++
		}
		fp := r.st.Fingerprint(curr, curr+size)
		curr += size
		next := upperBound
		if curr != upper {
			var prev, cur Item
			r.st.Iterate(curr-1, curr+1, func(j int, it Item) bool {
				if j == curr-1 {
					prev = it
				} else {
					cur = it
				}
				return true
			})
			next = minimalBound(prev, cur)
		}
		o = r.appendBound(o, next)
		o = appendVarint(o, ModeFingerprint)
		o = append(o, fp[:]...)
	}
	return o
}

func (r *Reconciler) appendBound(o []byte, b Bound) []byte {
	if b.Timestamp == MaxTimestamp {
		r.lastOut = MaxTimestamp
		o = appendVarint(o, 0)
	} else {
		delta := b.Timestamp - r.lastOut
		r.lastOut = b.Timestamp
		o = appendVarint(o, delta+1)
	}
	o = appendVarint(o, uint64(len(b.Prefix)))
	return append(o, b.Prefix...)
}

func (r *Reconciler) readBound(q *reader) (Bound, error) {
	enc, err := q.varint()
	if err != nil {
		return Bound{}, err
	}
	var ts uint64
	switch {
	case enc == 0 || r.lastIn == MaxTimestamp:
		ts = MaxTimestamp
	default:
		delta := enc - 1
		if delta > MaxTimestamp-1-r.lastIn {
			return Bound{}, malformed("timestamp overflows")
		}
		ts = r.lastIn + delta
	}
	r.lastIn = ts
	n, err := q.varint()
	if err != nil {
		return Bound{}, err
	}
	if n > IDSize {
		return Bound{}, malformed("bound ID prefix of %d bytes", n)
	}
	p, err := q.bytes(int(n))
	if err != nil {
		return Bound{}, err
	}
	return Bound{Timestamp: ts, Prefix: p}, nil
}
