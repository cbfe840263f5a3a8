package antientropy

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"
)

func makeItems(r *rand.Rand, n int, tsRange uint64) []Item {
	out := make([]Item, n)
	for i := range out {
		out[i].Timestamp = r.Uint64N(tsRange)
		binary.LittleEndian.PutUint64(out[i].ID[:], r.Uint64())
		binary.LittleEndian.PutUint64(out[i].ID[8:], r.Uint64())
		binary.LittleEndian.PutUint64(out[i].ID[16:], r.Uint64())
		binary.LittleEndian.PutUint64(out[i].ID[24:], r.Uint64())
	}
	return out
}

func mustVector(t testing.TB, items []Item) *Vector {
	t.Helper()
	v, err := NewVector(slices.Clone(items))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func toSet(ids []ID) map[ID]bool {
	m := map[ID]bool{}
	for _, id := range ids {
		m[id] = true
	}
	return m
}

// checkOutcome verifies have = a \ b and need = b \ a exactly.
func checkOutcome(t *testing.T, a, b []Item, o Outcome) {
	t.Helper()
	inA, inB := map[ID]bool{}, map[ID]bool{}
	for _, it := range a {
		inA[it.ID] = true
	}
	for _, it := range b {
		inB[it.ID] = true
	}
	have, need := toSet(o.Have), toSet(o.Need)
	if len(have) != len(o.Have) || len(need) != len(o.Need) {
		t.Fatalf("duplicate IDs reported")
	}
	for id := range inA {
		if !inB[id] && !have[id] {
			t.Fatalf("missed an ID only the initiator has")
		}
	}
	for id := range inB {
		if !inA[id] && !need[id] {
			t.Fatalf("missed an ID only the responder has")
		}
	}
	for id := range have {
		if !inA[id] || inB[id] {
			t.Fatalf("have holds an ID that is not a \\ b")
		}
	}
	for id := range need {
		if !inB[id] || inA[id] {
			t.Fatalf("need holds an ID that is not b \\ a")
		}
	}
}

func TestReconcileCases(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	common := makeItems(r, 5000, 1_000_000)
	extraA := makeItems(r, 40, 1_000_000)
	extraB := makeItems(r, 60, 1_000_000)
	sameTS := makeItems(r, 300, 1) // every item at timestamp 0: bounds need ID prefixes
	sorted := mustVector(t, slices.Clone(common)).Items()
	for _, tc := range []struct {
		name string
		a, b []Item
	}{
		{"both empty", nil, nil},
		{"equal", common, common},
		{"empty against full", nil, common},
		{"full against empty", common, nil},
		{"disjoint", common[:2500], common[2500:]},
		{"one difference", common, common[1:]},
		{"one difference the other way", common[1:], common},
		{"many differences both ways", append(slices.Clone(common), extraA...), append(slices.Clone(common), extraB...)},
		{"difference at the lowest item", sorted, sorted[1:]},
		{"difference at the highest item", sorted, sorted[:len(sorted)-1]},
		{"same timestamp everywhere", sameTS, sameTS[:250]},
		{"small sets", common[:3], common[1:5]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, opt := range []Options{{}, {FrameSizeLimit: 4096}, {Buckets: 4, IDListBelow: 4}} {
				o, err := Reconcile(mustVector(t, tc.a), mustVector(t, tc.b), opt, 0)
				if err != nil {
					t.Fatalf("%+v: %v", opt, err)
				}
				checkOutcome(t, tc.a, tc.b, o)
			}
		})
	}
}

// TestReconcileProperty: random pairs of sets always reconcile to exactly
// their differences, under random options.
func TestReconcileProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 99))
	iters := 200
	if testing.Short() {
		iters = 40
	}
	for i := 0; i < iters; i++ {
		n := r.IntN(3000)
		base := makeItems(r, n, 1+r.Uint64N(10_000))
		var a, b []Item
		for _, it := range base {
			switch r.IntN(10) {
			case 0:
				a = append(a, it)
			case 1:
				b = append(b, it)
			default:
				a, b = append(a, it), append(b, it)
			}
		}
		opt := Options{}
		if r.IntN(2) == 0 {
			opt.FrameSizeLimit = 4096 + r.IntN(20000)
		}
		if r.IntN(2) == 0 {
			opt.Buckets = 2 + r.IntN(30)
		}
		o, err := Reconcile(mustVector(t, a), mustVector(t, b), opt, 200)
		if err != nil {
			t.Fatalf("iteration %d (%d items, %+v): %v", i, n, opt, err)
		}
		checkOutcome(t, a, b, o)
	}
}

func TestOneDifferenceCost(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	items := makeItems(r, 100_000, 1<<40)
	o, err := Reconcile(mustVector(t, items), mustVector(t, items[1:]), Options{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("100k vs 100k, 1 difference: %d round trips, %d bytes", o.RoundTrips, o.BytesOut+o.BytesIn)
	if len(o.Have) != 1 {
		t.Fatalf("have %d", len(o.Have))
	}
}

func TestMalformedMessages(t *testing.T) {
	v := mustVector(t, makeItems(rand.New(rand.NewPCG(5, 5)), 100, 1000))
	for _, tc := range []struct {
		name string
		msg  []byte
	}{
		{"empty", nil},
		{"bad version", []byte{0x01}},
		{"truncated varint", []byte{0x61, 0x81}},
		{"overlong varint", []byte{0x61, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"prefix too long", []byte{0x61, 0x00, 33}},
		{"truncated prefix", []byte{0x61, 0x00, 5, 1, 2}},
		{"unknown mode", []byte{0x61, 0x00, 0x00, 0x07}},
		{"truncated fingerprint", []byte{0x61, 0x00, 0x00, 0x01, 1, 2, 3}},
		{"id list longer than message", []byte{0x61, 0x00, 0x00, 0x02, 0x05, 1, 2, 3}},
		{"bounds out of order", []byte{0x61, 0x06, 0x01, 0x10, 0x00, 0x01, 0x01, 0x05, 0x00}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := NewReconciler(v, Options{})
			if _, err := r.Respond(tc.msg); err == nil {
				t.Fatalf("no error for %x", tc.msg)
			}
		})
	}
	// Another protocol version gets the version this side speaks.
	r, _ := NewReconciler(v, Options{})
	if out, err := r.Respond([]byte{0x62, 0x00}); err != nil || len(out) != 1 || out[0] != ProtocolVersion {
		t.Fatalf("version negotiation: %x %v", out, err)
	}
}

func TestVarint(t *testing.T) {
	for _, n := range []uint64{0, 1, 127, 128, 300, 1 << 32, 1<<64 - 1} {
		b := appendVarint(nil, n)
		r := reader{b: b}
		got, err := r.varint()
		if err != nil || got != n || !r.empty() {
			t.Fatalf("%d -> %x -> %d %v", n, b, got, err)
		}
	}
	if b := appendVarint(nil, 300); b[0] != 0x82 || b[1] != 0x2c {
		t.Fatalf("300 encodes as %x, want 822c (big-endian base 128)", b)
	}
}

func FuzzRespond(f *testing.F) {
	v, _ := NewVector(makeItems(rand.New(rand.NewPCG(9, 9)), 500, 100))
	ini, _ := NewReconciler(v, Options{})
	f.Add(ini.Initiate())
	f.Add([]byte{0x61, 0x00, 0x00, 0x02, 0x00})
	f.Fuzz(func(t *testing.T, msg []byte) {
		r, _ := NewReconciler(v, Options{FrameSizeLimit: 8192})
		out, err := r.Respond(msg)
		if err == nil && len(out) > 8192 {
			t.Fatalf("reply of %d bytes exceeds the frame limit", len(out))
		}
	})
}
