package facts

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"sort"

	"github.com/ipfs/go-cid"
)

// StateReader is what the reducer needs from storage: point reads of state
// entries and whether a fact is already in the journal. A transaction keeps
// the slices GetState returns, so implementations must return copies they
// will not reuse.
type StateReader interface {
	// GetState returns the value of a state entry; ok is false if absent.
	GetState(key []byte) (value []byte, ok bool, err error)
	// HasFact reports whether the journal holds the fact.
	HasFact(id cid.Cid) (bool, error)
}

// State entry keys. The first byte names the table.
const (
	keyGovernance = 'g' // g -> Governance
	keyData       = 'd' // d namespace 0x00 key -> DataEntry
	keyCacheFloor = 'c' // c key -> big-endian uint64 floor
	keyKindCount  = 'n' // n kind(be16) -> big-endian uint64 count
	keyAccum      = 'h' // h -> LtHash accumulator, not itself hashed
	keyJournalSum = 'j' // j -> sum of every fact's 32-byte ID mod 2^256

	// Snapshot round bookkeeping: not hashed (see Hashed).
	keySnapProposal = 'p' // p proposal-CID -> SnapshotProposalRecord
)

// Hashed reports whether a state entry is covered by the state digest and
// belongs in a snapshot's state blob. The LtHash accumulator itself and
// the snapshot round bookkeeping are not: a round's own proposal and
// approvals must not change the digest it certifies.
func Hashed(key []byte) bool {
	return len(key) > 0 && key[0] != keyAccum && key[0] != keySnapProposal
}

// JournalSum is the sum, as 256-bit little-endian integers mod 2^256, of
// the 32-byte IDs (the sha2-256 digests in the CIDs) of every fact the
// state has reduced. Being in the state, it makes the state digest cover
// the set of facts, not only their effects (two journals that differ by
// facts without visible effect, such as a losing write, have different
// digests); it is also the Negentropy accumulator of the whole journal.
type JournalSum [32]byte

// Add adds a 32-byte ID.
func (s *JournalSum) Add(id [32]byte) {
	var carry uint64
	for i := 0; i < 32; i += 8 {
		a := binary.LittleEndian.Uint64(s[i:])
		b := binary.LittleEndian.Uint64(id[i:])
		sum, c1 := bits.Add64(a, b, carry)
		binary.LittleEndian.PutUint64(s[i:], sum)
		carry = c1
	}
}

// FactDigest returns the 32-byte ID of a fact CID: its sha2-256 digest.
func FactDigest(id cid.Cid) [32]byte {
	var d [32]byte
	h := id.Hash()
	copy(d[:], h[len(h)-32:])
	return d
}

func (t *Txn) addJournalID(id cid.Cid) error {
	key := []byte{keyJournalSum}
	v, err := t.get(key)
	if err != nil {
		return err
	}
	var s JournalSum
	copy(s[:], v)
	s.Add(FactDigest(id))
	return t.put(key, s[:])
}

// ReadJournalSum returns the journal sum.
func ReadJournalSum(r StateReader) (JournalSum, error) {
	var s JournalSum
	v, _, err := r.GetState([]byte{keyJournalSum})
	copy(s[:], v)
	return s, err
}

func governanceKey() []byte { return []byte{keyGovernance} }

// DataKey returns the state key of a data entry.
func DataKey(namespace, key string) []byte {
	b := make([]byte, 0, 2+len(namespace)+len(key))
	b = append(b, keyData)
	b = append(b, namespace...)
	b = append(b, 0)
	return append(b, key...)
}

func cacheFloorKey(key string) []byte { return append([]byte{keyCacheFloor}, key...) }

func kindCountKey(k Kind) []byte { return []byte{keyKindCount, byte(k >> 8), byte(k)} }

func accumKey() []byte { return []byte{keyAccum} }

// DataEntry is the winning write of one data key.
type DataEntry struct {
	Value  []byte      `cbor:"1,keyasint" json:"value"`
	Time   Timestamp   `cbor:"2,keyasint" json:"time"`
	Fact   []byte      `cbor:"3,keyasint" json:"-"`
	Author AuthorityID `cbor:"4,keyasint" json:"author"`
}

// FactID returns the CID of the fact that wrote the entry.
func (d *DataEntry) FactID() cid.Cid {
	c, _ := cid.Cast(d.Fact)
	return c
}

// StateWrite is one state entry to store.
type StateWrite struct {
	Key   []byte
	Value []byte
}

// Batch is everything one transaction produced: the facts to add to the
// journal and the state writes they caused, to be stored atomically.
type Batch struct {
	Facts  []Verified
	Writes []StateWrite
	// Digest is the state digest after the batch.
	Digest Digest
}

// Txn reduces facts against a StateReader, buffering the state writes. It
// is not safe for concurrent use. The zero value is not usable: call
// NewTxn.
type Txn struct {
	r       StateReader
	orig    map[string][]byte // value before the txn (nil: absent)
	cur     map[string][]byte // value now
	gov     *Governance
	govRead bool
	seen    map[cid.Cid]bool
	facts   []Verified
}

// NewTxn starts a transaction over r.
func NewTxn(r StateReader) *Txn {
	return &Txn{r: r, orig: map[string][]byte{}, cur: map[string][]byte{}, seen: map[cid.Cid]bool{}}
}

func (t *Txn) get(key []byte) ([]byte, error) {
	if v, ok := t.cur[string(key)]; ok {
		return v, nil
	}
	v, ok, err := t.r.GetState(key)
	if err != nil {
		return nil, err
	}
	if !ok {
		v = nil
	}
	t.orig[string(key)] = v
	t.cur[string(key)] = v
	return v, nil
}

func (t *Txn) put(key, value []byte) error {
	if _, err := t.get(key); err != nil {
		return err
	}
	t.cur[string(key)] = value
	return nil
}

// Governance returns the governance state as of this transaction, or nil
// before the genesis.
func (t *Txn) Governance() (*Governance, error) {
	if t.govRead {
		return t.gov, nil
	}
	v, err := t.get(governanceKey())
	if err != nil {
		return nil, err
	}
	t.govRead = true
	if v == nil {
		return nil, nil
	}
	g := new(Governance)
	if err := UnmarshalCanonical(v, g); err != nil {
		return nil, fmt.Errorf("facts: stored governance state is corrupt: %w", err)
	}
	if len(g.Epochs) == 0 {
		return nil, errors.New("facts: stored governance state is corrupt: no epochs")
	}
	t.gov = g
	return g, nil
}

// Apply authorises a checked fact against the state as of this
// transaction and, if it is accepted, reduces it. The error is for storage
// failures only; the verdict says what happened to the fact.
func (t *Txn) Apply(c Checked) (Verdict, error) {
	if c.fact == nil {
		return reject(errors.New("facts: empty checked fact")), nil
	}
	if t.seen[c.id] {
		return ignore(ErrDuplicate), nil
	}
	if has, err := t.r.HasFact(c.id); err != nil {
		return Verdict{}, err
	} else if has {
		return ignore(ErrDuplicate), nil
	}
	g, err := t.Governance()
	if err != nil {
		return Verdict{}, err
	}
	if c.fact.Kind == KindGenesis {
		if g != nil {
			return reject(fmt.Errorf("%w: a second genesis", ErrBadGenesis)), nil
		}
		t.gov, t.govRead = newGovernance(c), true
		if err := t.saveGovernance(); err != nil {
			return Verdict{}, err
		}
	} else {
		if g == nil {
			return ignore(ErrNoGenesis), nil
		}
		if v := g.Authorize(c); v.Result != Accept {
			return v, nil
		}
		if c.fact.Kind.IsSnapshot() {
			v, err := t.applySnapshot(c)
			if err != nil || v.Result != Accept {
				return v, err
			}
			t.seen[c.id] = true
			t.facts = append(t.facts, Verified{c})
			return accepted, nil
		}
		if err := t.reduce(c); err != nil {
			return Verdict{}, err
		}
	}
	if err := t.bumpKindCount(c.fact.Kind); err != nil {
		return Verdict{}, err
	}
	t.seen[c.id] = true
	if err := t.addJournalID(c.id); err != nil {
		return Verdict{}, err
	}
	t.facts = append(t.facts, Verified{c})
	return accepted, nil
}

func (t *Txn) saveGovernance() error {
	enc, err := Marshal(t.gov)
	if err != nil {
		return err
	}
	return t.put(governanceKey(), enc)
}

func (t *Txn) bumpKindCount(k Kind) error {
	key := kindCountKey(k)
	v, err := t.get(key)
	if err != nil {
		return err
	}
	var n uint64
	if len(v) == 8 {
		n = binary.BigEndian.Uint64(v)
	}
	return t.put(key, binary.BigEndian.AppendUint64(nil, n+1))
}

// reduce applies an authorised fact's effect on state.
func (t *Txn) reduce(c Checked) error {
	switch p := c.payload.(type) {
	case *RosterChange, *AdminReplacement, *TransitionApproval:
		if t.gov.record(c) {
			return t.saveGovernance()
		}
		return nil
	case *Data:
		return t.reduceData(c, p)
	case *CacheInvalidated:
		return t.reduceCacheInvalidated(p)
	}
	// Snapshot, release and upgrade kinds are journalled and counted; their
	// reducers belong to snapshot/, release/ and activation/.
	return nil
}

// reduceData applies last-writer-wins. The new write replaces the stored
// one iff:
//
//  1. its HLC timestamp is greater, or
//  2. the timestamps are equal and its fact CID is byte-wise greater.
func (t *Txn) reduceData(c Checked, p *Data) error {
	key := DataKey(p.Namespace, p.Key)
	old, err := t.get(key)
	if err != nil {
		return err
	}
	id := c.id.Bytes()
	if old != nil {
		var cur DataEntry
		if err := UnmarshalCanonical(old, &cur); err != nil {
			return fmt.Errorf("facts: stored data entry is corrupt: %w", err)
		}
		if c.fact.Time < cur.Time || (c.fact.Time == cur.Time && string(id) <= string(cur.Fact)) {
			return nil
		}
	}
	enc, err := Marshal(&DataEntry{Value: p.Value, Time: c.fact.Time, Fact: id, Author: c.fact.Author})
	if err != nil {
		return err
	}
	return t.put(key, enc)
}

// reduceCacheInvalidated raises each key's floor; floors only rise.
func (t *Txn) reduceCacheInvalidated(p *CacheInvalidated) error {
	for _, k := range p.Keys {
		key := cacheFloorKey(k)
		old, err := t.get(key)
		if err != nil {
			return err
		}
		if len(old) == 8 && binary.BigEndian.Uint64(old) >= p.EpochFloor {
			continue
		}
		if err := t.put(key, binary.BigEndian.AppendUint64(nil, p.EpochFloor)); err != nil {
			return err
		}
	}
	return nil
}

// Len returns the number of facts accepted so far.
func (t *Txn) Len() int { return len(t.facts) }

// Commit finishes the transaction: it returns the accepted facts, the
// changed state entries (sorted by key) and the new state digest. The Txn
// must not be used afterwards.
func (t *Txn) Commit() (*Batch, error) {
	accRaw, _, err := t.r.GetState(accumKey())
	if err != nil {
		return nil, err
	}
	acc := ltHashFrom(accRaw)
	b := &Batch{Facts: t.facts}
	for k, v := range t.cur {
		o := t.orig[k]
		if string(o) == string(v) && (o == nil) == (v == nil) {
			continue
		}
		if Hashed([]byte(k)) {
			if o != nil {
				acc.addEntry([]byte(k), o, true)
			}
			if v != nil {
				acc.addEntry([]byte(k), v, false)
			}
		}
		b.Writes = append(b.Writes, StateWrite{Key: []byte(k), Value: v})
	}
	sort.Slice(b.Writes, func(i, j int) bool { return string(b.Writes[i].Key) < string(b.Writes[j].Key) })
	if len(b.Writes) > 0 {
		b.Writes = append(b.Writes, StateWrite{Key: accumKey(), Value: acc.bytes()})
	}
	b.Digest = acc.digest()
	return b, nil
}

// ReadGovernance returns the stored governance state, or nil before the
// genesis.
func ReadGovernance(r StateReader) (*Governance, error) {
	return NewTxn(r).Governance()
}

// ReadDigest returns the state digest.
func ReadDigest(r StateReader) (Digest, error) {
	v, _, err := r.GetState(accumKey())
	if err != nil {
		return Digest{}, err
	}
	acc := ltHashFrom(v)
	return acc.digest(), nil
}

// ReadData returns the winning entry of a data key.
func ReadData(r StateReader, namespace, key string) (*DataEntry, bool, error) {
	v, ok, err := r.GetState(DataKey(namespace, key))
	if err != nil || !ok {
		return nil, false, err
	}
	var d DataEntry
	if err := UnmarshalCanonical(v, &d); err != nil {
		return nil, false, fmt.Errorf("facts: stored data entry is corrupt: %w", err)
	}
	return &d, true, nil
}

// ReadCacheFloor returns the epoch floor of a cache key (0 if never
// invalidated).
func ReadCacheFloor(r StateReader, key string) (uint64, error) {
	v, ok, err := r.GetState(cacheFloorKey(key))
	if err != nil || !ok || len(v) != 8 {
		return 0, err
	}
	return binary.BigEndian.Uint64(v), nil
}

// ReadKindCounts returns how many facts of each kind the state has
// reduced.
func ReadKindCounts(r StateReader) (map[Kind]uint64, error) {
	out := map[Kind]uint64{}
	for _, k := range AllKinds() {
		v, ok, err := r.GetState(kindCountKey(k))
		if err != nil {
			return nil, err
		}
		if ok && len(v) == 8 {
			out[k] = binary.BigEndian.Uint64(v)
		}
	}
	return out, nil
}
