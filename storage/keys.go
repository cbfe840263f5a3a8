package storage

import (
	"encoding/binary"
	"fmt"

	"github.com/aura-node/aura-node/facts"
	"github.com/ipfs/go-cid"
)

// Table prefixes: the first byte of every key names its table. doc.go
// documents the layout; never reuse a byte.
const (
	tableFact   = 'f' // f cid -> raw fact
	tableTime   = 't' // t time(be64) id(32) -> indexValue
	tableKind   = 'k' // k kind(be16) time(be64) id(32) -> indexValue
	tableEpoch  = 'e' // e epoch(be64) time(be64) id(32) -> indexValue
	tableAuthor = 'a' // a author(32) time(be64) id(32) -> indexValue
	tableState  = 's' // s statekey -> state value
	tableMeta   = 'm' // m name -> metadata
)

// Metadata names.
const (
	metaFormat = "format" // be64 FormatVersion
	metaCount  = "facts"  // be64 number of facts
)

const timeIDLen = 8 + 32

func factKey(id cid.Cid) []byte { return append([]byte{tableFact}, id.Bytes()...) }

func stateKey(key []byte) []byte { return append([]byte{tableState}, key...) }

func metaKey(name string) []byte { return append([]byte{tableMeta}, name...) }

func kindPrefix(k facts.Kind) []byte {
	return binary.BigEndian.AppendUint16([]byte{tableKind}, uint16(k))
}

func epochPrefix(e uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{tableEpoch}, e)
}

func authorPrefix(a facts.AuthorityID) []byte { return append([]byte{tableAuthor}, a[:]...) }

// appendTime returns a copy of prefix followed by time(be64), with room
// for a 32-byte id.
func appendTime(prefix []byte, t facts.Timestamp) []byte {
	out := make([]byte, len(prefix), len(prefix)+timeIDLen)
	copy(out, prefix)
	return binary.BigEndian.AppendUint64(out, uint64(t))
}

// appendTimeKey returns prefix followed by time(be64) and id(32).
func appendTimeKey(prefix []byte, k TimeKey) []byte {
	return append(appendTime(prefix, k.Time), k.ID[:]...)
}

// indexKeys returns the four index keys of a record.
func (r *record) indexKeys() [4][]byte {
	tk := r.timeKey()
	return [4][]byte{
		appendTimeKey([]byte{tableTime}, tk),
		appendTimeKey(kindPrefix(r.entry.Kind), tk),
		appendTimeKey(epochPrefix(r.entry.Epoch), tk),
		appendTimeKey(authorPrefix(r.entry.Author), tk),
	}
}

// prefixEnd returns the least key greater than every key with prefix p, or
// nil if there is none.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// indexBounds returns the key range of the best index for q: the kind
// index when Kind is set, else the author index, else the epoch index,
// else the time index; narrowed to [Since, Until).
func (q Query) indexBounds() (lower, upper []byte) {
	var p []byte
	switch {
	case q.Kind != 0:
		p = kindPrefix(q.Kind)
	case q.Author != nil:
		p = authorPrefix(*q.Author)
	case q.Epoch != nil:
		p = epochPrefix(*q.Epoch)
	default:
		p = []byte{tableTime}
	}
	lower = appendTime(p, q.Since)
	if q.Until != 0 {
		upper = appendTime(p, q.Until)
	} else {
		upper = prefixEnd(p)
	}
	return lower, upper
}

// The index value holds everything an Entry needs, so List never decodes
// a fact:
//
//	kind(be16) epoch(be64) time(be64) author(32) cid
const indexValueFixed = 2 + 8 + 8 + 32

func (r *record) indexValue() []byte {
	e := &r.entry
	v := make([]byte, 0, indexValueFixed+e.ID.ByteLen())
	v = binary.BigEndian.AppendUint16(v, uint16(e.Kind))
	v = binary.BigEndian.AppendUint64(v, e.Epoch)
	v = binary.BigEndian.AppendUint64(v, uint64(e.Time))
	v = append(v, e.Author[:]...)
	return append(v, e.ID.Bytes()...)
}

func decodeIndexValue(v []byte) (Entry, error) {
	var e Entry
	if len(v) <= indexValueFixed {
		return e, fmt.Errorf("%w: index value of %d bytes", ErrCorrupt, len(v))
	}
	e.Kind = facts.Kind(binary.BigEndian.Uint16(v))
	e.Epoch = binary.BigEndian.Uint64(v[2:])
	e.Time = facts.Timestamp(binary.BigEndian.Uint64(v[10:]))
	copy(e.Author[:], v[18:indexValueFixed])
	id, err := cid.Cast(v[indexValueFixed:])
	if err != nil {
		return e, fmt.Errorf("%w: index value CID: %w", ErrCorrupt, err)
	}
	e.ID = id
	return e, nil
}

// decodeTimeKey reads the trailing time(be64) id(32) of an index key.
func decodeTimeKey(key []byte) (TimeKey, error) {
	var k TimeKey
	if len(key) < timeIDLen {
		return k, fmt.Errorf("%w: index key of %d bytes", ErrCorrupt, len(key))
	}
	tail := key[len(key)-timeIDLen:]
	k.Time = facts.Timestamp(binary.BigEndian.Uint64(tail))
	copy(k.ID[:], tail[8:])
	return k, nil
}
