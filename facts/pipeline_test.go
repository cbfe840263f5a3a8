package facts_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"

	"github.com/aura-node/aura-node/facts"
)

// cborPair is one key/value of a hand-built CBOR map; keys are small
// unsigned integers (< 24) as in every fact structure.
type cborPair struct {
	key   byte
	value []byte
}

// mapPairs splits canonical map bytes into their pairs in key order.
func mapPairs(tb testing.TB, raw []byte) []cborPair {
	tb.Helper()
	var m map[uint64]cbor.RawMessage
	if err := cbor.Unmarshal(raw, &m); err != nil {
		tb.Fatal(err)
	}
	var out []cborPair
	for k, v := range m {
		out = append(out, cborPair{byte(k), v})
	}
	slices.SortFunc(out, func(a, b cborPair) int { return int(a.key) - int(b.key) })
	return out
}

// encodePairs writes a definite-length map of the pairs, in the order
// given, without any canonical checks.
func encodePairs(pairs []cborPair) []byte {
	out := []byte{0xa0 | byte(len(pairs))}
	for _, p := range pairs {
		out = append(out, p.key)
		out = append(out, p.value...)
	}
	return out
}

// withPair returns pairs with key's value replaced.
func withPair(pairs []cborPair, key byte, value []byte) []cborPair {
	out := slices.Clone(pairs)
	for i := range out {
		if out[i].key == key {
			out[i].value = value
		}
	}
	return out
}

// badFact is a fact the stateless stage must reject with want.
type badFact struct {
	name string
	raw  []byte
	want error
}

// invalidFacts builds facts that fail the stateless stage; tn needs at
// least four members.
func invalidFacts(t testing.TB, tn *testnet) []badFact {
	good := tn.data(1, 0, "k", "v")
	pairs := mapPairs(t, good)
	other := newTestnetNamed(t, "other", 3, 2)

	flipped := decodeFact(t, good)
	flipped.Sig[0] ^= 1

	shortSig := decodeFact(t, good)
	shortSig.Sig = shortSig.Sig[:63]

	foreignSig := decodeFact(t, good)
	foreignSig.Sig = decodeFact(t, signEnvelope(t, testKey("outsider"), decodeFact(t, good))).Sig

	badGenesis := decodeFact(t, tn.genesis)
	badGenesis.Epoch = 1

	swapped := slices.Clone(pairs)
	swapped[0], swapped[1] = swapped[1], swapped[0]

	indefinite := []byte{0xbf}
	indefinite = append(indefinite, encodePairs(pairs)[1:]...)
	indefinite = append(indefinite, 0xff)

	nonCanonicalPayload := encodePairs([]cborPair{
		{2, []byte{0x61, 'k'}}, {1, []byte{0x62, 'n', 's'}}, {3, []byte{0x41, 'v'}},
	})

	return []badFact{
		{"flipped signature byte", mustMarshal(t, flipped), facts.ErrBadSignature},
		{"short signature", mustMarshal(t, shortSig), facts.ErrBadSignature},
		{"signed by another key", mustMarshal(t, foreignSig), facts.ErrBadSignature},
		{"wrong network", other.data(0, 0, "k", "v"), facts.ErrWrongNetwork},
		{"genesis of another network", other.genesis, facts.ErrBadGenesis},
		{"genesis at epoch 1", signEnvelope(t, tn.keys[0], badGenesis), facts.ErrBadGenesis},
		{"oversized", tn.data(1, 0, "k", strings.Repeat("x", facts.DefaultMaxFactLen)), facts.ErrTooLarge},
		{"map keys swapped", encodePairs(swapped), facts.ErrNotCanonical},
		{"non-shortest integer", encodePairs(withPair(pairs, 5, []byte{0x18, 0x00})), facts.ErrNotCanonical},
		{"non-shortest map length", append([]byte{0xb8, byte(len(pairs))}, encodePairs(pairs)[1:]...), facts.ErrNotCanonical},
		{"indefinite-length map", indefinite, facts.ErrMalformed},
		{"duplicate map key", encodePairs(append(slices.Clone(pairs), cborPair{5, []byte{0x00}})), facts.ErrMalformed},
		{"unknown field", encodePairs(append(slices.Clone(pairs), cborPair{8, []byte{0x00}})), facts.ErrMalformed},
		{"trailing bytes", append(slices.Clone(good), 0x00), facts.ErrMalformed},
		{"truncated", good[:len(good)-1], facts.ErrMalformed},
		{"empty input", nil, facts.ErrMalformed},
		{"not a map", []byte{0x01}, facts.ErrMalformed},
		{"unknown kind", tn.rawFact(1, facts.Kind(999), 0, &facts.Data{Namespace: "ns", Key: "k"}), facts.ErrUnknownKind},
		{"payload of another kind", tn.rawFact(1, facts.KindData, 0, &facts.TransitionApproval{Proposal: tn.id.Bytes()}), facts.ErrBadPayload},
		{"non-canonical payload", tn.rawFact(1, facts.KindData, 0, cbor.RawMessage(nonCanonicalPayload)), facts.ErrNotCanonical},
		{"unsorted roster", tn.rawFact(0, facts.KindRosterChangeProposed, 0, &facts.RosterChange{
			Members: tn.members(1, 0, 2), Threshold: 2,
		}), facts.ErrBadPayload},
		{"duplicate roster member", tn.rawFact(0, facts.KindRosterChangeProposed, 0, &facts.RosterChange{
			Members: tn.members(0, 0, 1), Threshold: 2,
		}), facts.ErrBadPayload},
		{"threshold M <= N/2", tn.rawFact(0, facts.KindRosterChangeProposed, 0, &facts.RosterChange{
			Members: tn.members(0, 1, 2, 3), Threshold: 2,
		}), facts.ErrBadPayload},
		{"threshold M > N", tn.rawFact(0, facts.KindRosterChangeProposed, 0, &facts.RosterChange{
			Members: tn.members(0, 1), Threshold: 3,
		}), facts.ErrBadPayload},
		{"empty data key", tn.rawFact(1, facts.KindData, 0, &facts.Data{Namespace: "ns", Value: []byte("v")}), facts.ErrBadPayload},
		{"unsorted cache keys", tn.rawFact(1, facts.KindCacheInvalidated, 0, &facts.CacheInvalidated{
			Keys: []string{"b", "a"}, EpochFloor: 1,
		}), facts.ErrBadPayload},
		{"duplicate cache keys", tn.rawFact(1, facts.KindCacheInvalidated, 0, &facts.CacheInvalidated{
			Keys: []string{"a", "a"}, EpochFloor: 1,
		}), facts.ErrBadPayload},
		{"no cache keys", tn.rawFact(1, facts.KindCacheInvalidated, 0, &facts.CacheInvalidated{EpochFloor: 1}), facts.ErrBadPayload},
		{"approval without proposal CID", tn.rawFact(1, facts.KindTransitionApproved, 0, &facts.TransitionApproval{}), facts.ErrBadPayload},
		{"admin replaced by itself", tn.rawFact(1, facts.KindAdminReplacement, 0, &facts.AdminReplacement{
			Previous: tn.auth(0), New: tn.auth(0), ActivationEpoch: 1,
		}), facts.ErrBadPayload},
	}
}

func checkVerdict(t *testing.T, name string, v facts.Verdict, want facts.Result, wantErr error) {
	t.Helper()
	if v.Result != want {
		t.Errorf("%s: verdict %v, want %v", name, v, want)
		return
	}
	if want == facts.Accept {
		if v.Reason != nil {
			t.Errorf("%s: accepted with a reason: %v", name, v.Reason)
		}
		return
	}
	if v.Reason == nil || (wantErr != nil && !errors.Is(v.Reason, wantErr)) {
		t.Errorf("%s: reason %v, want errors.Is %v", name, v.Reason, wantErr)
	}
}

func TestCheckStatelessAccepts(t *testing.T) {
	tn := newTestnet(t, 4, 3)
	raw, id := tn.sign(1, facts.KindData, 7, &facts.Data{Namespace: "ns", Key: "k", Value: []byte("v")})
	for _, tc := range []struct {
		name string
		raw  []byte
		id   cid.Cid
	}{
		{"genesis", tn.genesis, tn.id},
		{"data at a future epoch", raw, id},
	} {
		c, v := facts.CheckStateless(tn.id, tc.raw, facts.Limits{})
		checkVerdict(t, tc.name, v, facts.Accept, nil)
		if !c.ID().Equals(tc.id) {
			t.Errorf("%s: ID %s, want %s", tc.name, c.ID(), tc.id)
		}
		if c.ID().Prefix().Codec != cid.DagCBOR || c.ID().Version() != 1 {
			t.Errorf("%s: CID %s is not CIDv1 dag-cbor", tc.name, c.ID())
		}
	}
}

func TestCheckStatelessRejects(t *testing.T) {
	tn := newTestnet(t, 4, 3)
	for _, tc := range invalidFacts(t, tn) {
		c, v := facts.CheckStateless(tn.id, tc.raw, facts.Limits{})
		checkVerdict(t, tc.name, v, facts.Reject, tc.want)
		if c.Fact() != nil {
			t.Errorf("%s: rejected fact still returned a Checked value", tc.name)
		}
	}
}

func TestCheckStatelessSizeLimit(t *testing.T) {
	tn := newTestnet(t, 4, 3)
	raw := tn.data(1, 0, "k", strings.Repeat("x", 900))
	lim := facts.Limits{MaxFactBytes: len(raw)}
	_, v := facts.CheckStateless(tn.id, raw, lim)
	checkVerdict(t, "at the limit", v, facts.Accept, nil)
	lim.MaxFactBytes--
	_, v = facts.CheckStateless(tn.id, raw, lim)
	checkVerdict(t, "one byte over", v, facts.Reject, facts.ErrTooLarge)
}

func TestBuilderIsDeterministic(t *testing.T) {
	a, b := newTestnet(t, 4, 3), newTestnet(t, 4, 3)
	if !a.id.Equals(b.id) || !a.auth(3).PublicKey().Equal(b.auth(3).PublicKey()) {
		t.Fatal("two builds of the same testnet differ")
	}
	if newTestnetNamed(t, "other", 4, 3).id.Equals(a.id) {
		t.Fatal("networks with different names share an ID")
	}
}

// TestCheckBatchAgrees offers good and bad facts in one batch and checks
// that CheckBatch gives each the verdict CheckStateless gives it alone.
func TestCheckBatchAgrees(t *testing.T) {
	tn := newTestnet(t, 4, 3)
	var raws [][]byte
	for i := range 4 {
		raws = append(raws, tn.data(i, 0, "k", "v"))
	}
	for _, tc := range invalidFacts(t, tn) {
		raws = append(raws, tc.raw, tn.data(2, 1, tc.name, "v"))
	}
	raws = append(raws, tn.genesis)
	for name, batch := range map[string][][]byte{
		"mixed":    raws,
		"all good": raws[:4],
		"one bad":  {mustMarshal(t, func() *facts.Fact { f := decodeFact(t, raws[0]); f.Sig[5] ^= 0x80; return f }())},
		"empty":    nil,
	} {
		checked, verdicts := facts.CheckBatch(tn.id, batch, facts.Limits{})
		if len(checked) != len(batch) || len(verdicts) != len(batch) {
			t.Fatalf("%s: %d checked, %d verdicts for %d facts", name, len(checked), len(verdicts), len(batch))
		}
		for i, raw := range batch {
			c, v := facts.CheckStateless(tn.id, raw, facts.Limits{})
			if verdicts[i].Result != v.Result || !errors.Is(verdicts[i].Reason, firstSentinel(v.Reason)) {
				t.Errorf("%s[%d]: batch verdict %v, single verdict %v", name, i, verdicts[i], v)
			}
			if v.Result == facts.Accept && !checked[i].ID().Equals(c.ID()) {
				t.Errorf("%s[%d]: batch ID %s, single ID %s", name, i, checked[i].ID(), c.ID())
			}
		}
	}
}

// firstSentinel returns the pipeline sentinel err wraps, or nil.
func firstSentinel(err error) error {
	for _, s := range []error{
		facts.ErrTooLarge, facts.ErrUnknownKind, facts.ErrWrongNetwork, facts.ErrBadSignature,
		facts.ErrBadGenesis, facts.ErrBadPayload, facts.ErrNotCanonical, facts.ErrMalformed,
	} {
		if errors.Is(err, s) {
			return s
		}
	}
	return nil
}

// TestApplyVerdicts drives one store through the stateful stage, one fact
// per transaction, in the order listed.
func TestApplyVerdicts(t *testing.T) {
	tn := newTestnet(t, 4, 3)
	data := tn.data(1, 0, "k", "v")
	outsider := testKey("outsider")
	outsiderData, _ := tn.signAt(outsider, facts.KindData, 0, tn.tick(), &facts.Data{Namespace: "ns", Key: "k"})
	outsiderRoster, _ := tn.signAt(outsider, facts.KindRosterChangeProposed, 0, tn.tick(),
		&facts.RosterChange{Members: tn.members(0, 1, 2), Threshold: 2})
	nonAdminRoster, _ := tn.changeRoster(1, 0, 2, 0, 1, 2)
	wrongPrevious, _ := tn.replaceAdmin(1, 0, 2, 3)
	wrongActivation, _ := tn.sign(1, facts.KindAdminReplacement, 0, &facts.AdminReplacement{
		Previous: tn.auth(0), New: tn.auth(3), ActivationEpoch: 2,
	})
	floorTooHigh := tn.invalidate(1, 0, 2, "a")
	floorNext := tn.invalidate(1, 0, 1, "a")
	adminRoster, _ := tn.changeRoster(0, 0, 2, 0, 1, 2)

	s := newMemStore()
	for _, step := range []struct {
		name string
		raw  []byte
		want facts.Result
		err  error
	}{
		{"data before the genesis", tn.data(1, 0, "early", "v"), facts.Ignore, facts.ErrNoGenesis},
		{"genesis", tn.genesis, facts.Accept, nil},
		{"genesis again", tn.genesis, facts.Ignore, facts.ErrDuplicate},
		{"member data", data, facts.Accept, nil},
		{"duplicate in a later txn", data, facts.Ignore, facts.ErrDuplicate},
		{"future epoch", tn.data(1, 1, "k", "v"), facts.Ignore, facts.ErrFutureEpoch},
		{"non-member data", outsiderData, facts.Reject, facts.ErrNotMember},
		{"non-member admin kind", outsiderRoster, facts.Reject, facts.ErrNotAdmin},
		{"member not admin", nonAdminRoster, facts.Reject, facts.ErrNotAdmin},
		{"admin roster change", adminRoster, facts.Accept, nil},
		{"replacing a non-admin", wrongPrevious, facts.Reject, facts.ErrBadTransition},
		{"activation not epoch+1", wrongActivation, facts.Reject, facts.ErrBadTransition},
		{"cache floor beyond epoch+1", floorTooHigh, facts.Reject, facts.ErrBadPayload},
		{"cache floor at epoch+1", floorNext, facts.Accept, nil},
	} {
		checkVerdict(t, step.name, s.deliverOne(t, tn.id, step.raw), step.want, step.err)
	}

	again := tn.data(2, 0, "k", "w")
	vs := s.deliver(t, tn.id, again, again)
	checkVerdict(t, "first in a txn", vs[0], facts.Accept, nil)
	checkVerdict(t, "duplicate in the same txn", vs[1], facts.Ignore, facts.ErrDuplicate)
}

// TestNetworkSizeLimit: the genesis bounds every fact of the network, so a
// fact over that bound must be refused however the caller set Limits, or
// nodes that pass different Limits reach different states. This test
// FAILS against the current Txn.Apply: see the report on governance.go
// authorize.
func TestNetworkSizeLimit(t *testing.T) {
	tn := buildTestnet(t, "small", 3, 2, 1024)
	s := started(t, tn)
	if lim := s.governance(t).Limits(); lim.MaxFactBytes != 1024 {
		t.Fatalf("governance limits %+v, want 1024 bytes", lim)
	}
	big := tn.data(0, 0, "k", strings.Repeat("x", 1100))
	_, v := facts.CheckStateless(tn.id, big, s.governance(t).Limits())
	checkVerdict(t, "stateless with the network's limits", v, facts.Reject, facts.ErrTooLarge)
	checkVerdict(t, "stateless with default limits, then apply", s.deliverOne(t, tn.id, big), facts.Reject, facts.ErrTooLarge)
}
