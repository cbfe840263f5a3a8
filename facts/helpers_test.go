package facts_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/snapshot"
)

// memStore is an in-memory facts.StateReader: the state entries and the
// journal in two maps. commit applies a Batch the way storage/ does.
type memStore struct {
	state   map[string][]byte
	journal map[cid.Cid][]byte
}

var _ facts.StateReader = (*memStore)(nil)

func newMemStore() *memStore {
	return &memStore{state: map[string][]byte{}, journal: map[cid.Cid][]byte{}}
}

func (s *memStore) GetState(key []byte) ([]byte, bool, error) {
	v, ok := s.state[string(key)]
	return bytes.Clone(v), ok, nil
}

func (s *memStore) HasFact(id cid.Cid) (bool, error) {
	_, ok := s.journal[id]
	return ok, nil
}

// commit stores a batch atomically and checks that the digest the batch
// announced is the one the store now reports.
func (s *memStore) commit(tb testing.TB, b *facts.Batch) {
	tb.Helper()
	for _, v := range b.Facts {
		s.journal[v.ID()] = bytes.Clone(v.Raw())
	}
	for _, w := range b.Writes {
		s.state[string(w.Key)] = bytes.Clone(w.Value)
	}
	if d := s.digest(tb); d != b.Digest {
		tb.Fatalf("batch digest %s, store digest %s", b.Digest, d)
	}
}

func (s *memStore) digest(tb testing.TB) facts.Digest {
	tb.Helper()
	d, err := facts.ReadDigest(s)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func (s *memStore) governance(tb testing.TB) *facts.Governance {
	tb.Helper()
	g, err := facts.ReadGovernance(s)
	if err != nil {
		tb.Fatal(err)
	}
	return g
}

// deliver runs raws through CheckStateless and one Txn, commits the batch
// and returns each fact's verdict (the stateless one when it failed there).
func (s *memStore) deliver(tb testing.TB, network cid.Cid, raws ...[]byte) []facts.Verdict {
	tb.Helper()
	txn := facts.NewTxn(s)
	out := make([]facts.Verdict, len(raws))
	for i, raw := range raws {
		c, v := facts.CheckStateless(network, raw, facts.Limits{})
		if v.Result == facts.Accept {
			var err error
			if v, err = txn.Apply(c); err != nil {
				tb.Fatal(err)
			}
		}
		out[i] = v
	}
	b, err := txn.Commit()
	if err != nil {
		tb.Fatal(err)
	}
	s.commit(tb, b)
	return out
}

// deliverOne delivers one fact in its own transaction.
func (s *memStore) deliverOne(tb testing.TB, network cid.Cid, raw []byte) facts.Verdict {
	tb.Helper()
	return s.deliver(tb, network, raw)[0]
}

// equalState reports whether two stores hold byte-identical state entries
// and journals.
func equalState(a, b *memStore) bool {
	return maps.EqualFunc(a.state, b.state, bytes.Equal) && maps.EqualFunc(a.journal, b.journal, bytes.Equal)
}

// testKey derives a deterministic Ed25519 key from a label.
func testKey(label string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("aura-node facts test key: " + label))
	return ed25519.NewKeyFromSeed(seed[:])
}

func authority(k ed25519.PrivateKey) facts.AuthorityID {
	return facts.AuthorityFromKey(k.Public().(ed25519.PublicKey))
}

// testnet is the builder DSL: a network of n deterministic member keys,
// indexed in roster order (sorted by authority), member 0 the admin, and a
// signed genesis. Facts get increasing timestamps unless one is given.
type testnet struct {
	tb        testing.TB
	keys      []ed25519.PrivateKey
	threshold uint32
	genesis   []byte
	id        cid.Cid
	ms        uint64
	// bls gives roster members BLS keys (snapshot approvals need them).
	bls []snapshot.PrivateKey
}

func newTestnet(tb testing.TB, n int, threshold uint32) *testnet {
	return newTestnetNamed(tb, "testnet", n, threshold)
}

// newTestnetNamed builds a network whose genesis differs by name, so two
// networks with the same keys have different IDs.
func newTestnetNamed(tb testing.TB, name string, n int, threshold uint32) *testnet {
	tb.Helper()
	return buildTestnet(tb, name, n, threshold, facts.DefaultMaxFactLen)
}

func buildTestnet(tb testing.TB, name string, n int, threshold, maxFactBytes uint32) *testnet {
	return buildTestnetBLS(tb, name, n, threshold, maxFactBytes, false)
}

func buildTestnetBLS(tb testing.TB, name string, n int, threshold, maxFactBytes uint32, withBLS bool) *testnet {
	tb.Helper()
	tn := &testnet{tb: tb, threshold: threshold, ms: 1_700_000_000_000}
	if withBLS {
		for i := range n {
			tn.bls = append(tn.bls, func() snapshot.PrivateKey {
				k, _ := snapshot.GenerateKey(sha256.Sum256([]byte(fmt.Sprintf("bls member %d", i))))
				return k
			}())
		}
	}
	for i := range n {
		tn.keys = append(tn.keys, testKey(fmt.Sprintf("member %d", i)))
	}
	slices.SortFunc(tn.keys, func(a, b ed25519.PrivateKey) int {
		return bytes.Compare(a.Public().(ed25519.PublicKey), b.Public().(ed25519.PublicKey))
	})
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	gen := &facts.Genesis{
		Name:         name,
		Members:      tn.members(all...),
		Threshold:    threshold,
		Admin:        tn.auth(0),
		MaxFactBytes: maxFactBytes,
	}
	tn.genesis, tn.id = tn.signAt(tn.keys[0], facts.KindGenesis, 0, tn.tick(), gen)
	return tn
}

// auth returns the authority of member i.
func (tn *testnet) auth(i int) facts.AuthorityID { return authority(tn.keys[i]) }

// members returns the roster of the given member indexes (ascending, so
// the roster is sorted by authority).
func (tn *testnet) members(idx ...int) []facts.Member {
	out := make([]facts.Member, len(idx))
	for j, i := range idx {
		out[j] = facts.Member{Authority: tn.auth(i), Name: fmt.Sprintf("m%d", i)}
		if tn.bls != nil {
			out[j].BLSKey, _ = tn.bls[i].Public().MarshalBinary()
		}
	}
	return out
}

func (tn *testnet) tick() facts.Timestamp {
	tn.ms++
	return facts.MakeTimestamp(tn.ms, 0)
}

// signAt signs a fact of this network (a genesis when kind is
// KindGenesis) with any key at an explicit time.
func (tn *testnet) signAt(key ed25519.PrivateKey, kind facts.Kind, epoch uint64, ts facts.Timestamp, p facts.Payload) ([]byte, cid.Cid) {
	tn.tb.Helper()
	d := facts.Draft{Network: tn.id, Kind: kind, Payload: p, Epoch: epoch, Time: ts}
	if kind == facts.KindGenesis {
		d.Network = cid.Undef
	}
	raw, id, err := facts.Sign(key, d)
	if err != nil {
		tn.tb.Fatalf("sign %v: %v", kind, err)
	}
	return raw, id
}

// sign signs a fact by member i at the next timestamp.
func (tn *testnet) sign(i int, kind facts.Kind, epoch uint64, p facts.Payload) ([]byte, cid.Cid) {
	tn.tb.Helper()
	return tn.signAt(tn.keys[i], kind, epoch, tn.tick(), p)
}

func (tn *testnet) data(i int, epoch uint64, key, value string) []byte {
	tn.tb.Helper()
	raw, _ := tn.sign(i, facts.KindData, epoch, &facts.Data{Namespace: "ns", Key: key, Value: []byte(value)})
	return raw
}

func (tn *testnet) approve(i int, epoch uint64, proposal cid.Cid) []byte {
	tn.tb.Helper()
	raw, _ := tn.sign(i, facts.KindTransitionApproved, epoch, &facts.TransitionApproval{Proposal: proposal.Bytes()})
	return raw
}

// replaceAdmin proposes, as member i at epoch, replacing admin prev by next.
func (tn *testnet) replaceAdmin(i int, epoch uint64, prev, next int) ([]byte, cid.Cid) {
	tn.tb.Helper()
	return tn.sign(i, facts.KindAdminReplacement, epoch, &facts.AdminReplacement{
		Previous: tn.auth(prev), New: tn.auth(next), ActivationEpoch: epoch + 1,
	})
}

// changeRoster proposes, as member i at epoch, a new roster.
func (tn *testnet) changeRoster(i int, epoch uint64, threshold uint32, members ...int) ([]byte, cid.Cid) {
	tn.tb.Helper()
	return tn.sign(i, facts.KindRosterChangeProposed, epoch, &facts.RosterChange{
		Members: tn.members(members...), Threshold: threshold,
	})
}

func (tn *testnet) invalidate(i int, epoch, floor uint64, keys ...string) []byte {
	tn.tb.Helper()
	raw, _ := tn.sign(i, facts.KindCacheInvalidated, epoch, &facts.CacheInvalidated{Keys: keys, EpochFloor: floor})
	return raw
}

// signEnvelope signs a hand-built envelope (any kind, any payload bytes,
// bypassing facts.Sign's checks) and returns its canonical bytes.
func signEnvelope(tb testing.TB, key ed25519.PrivateKey, f *facts.Fact) []byte {
	tb.Helper()
	f.Author = authority(key)
	f.Sig = nil
	msg, err := f.SigningBytes()
	if err != nil {
		tb.Fatal(err)
	}
	f.Sig = ed25519.Sign(key, msg)
	raw, err := facts.Marshal(f)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// rawFact signs an envelope of this network carrying payload p encoded
// as is, whatever the kind.
func (tn *testnet) rawFact(i int, kind facts.Kind, epoch uint64, p any) []byte {
	tn.tb.Helper()
	payload, err := facts.Marshal(p)
	if err != nil {
		tn.tb.Fatal(err)
	}
	return signEnvelope(tn.tb, tn.keys[i], &facts.Fact{
		Network: tn.id.Bytes(), Kind: kind, Payload: payload, Epoch: epoch, Time: tn.tick(),
	})
}

// decodeFact decodes canonical bytes the test made itself.
func decodeFact(tb testing.TB, raw []byte) *facts.Fact {
	tb.Helper()
	f, _, err := facts.Decode(raw, 0)
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

func mustMarshal(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := facts.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
