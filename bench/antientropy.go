package bench

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/aura-node/aura-node/antientropy"
	"github.com/aura-node/aura-node/facts"
)

// AntiEntropyOptions configure AntiEntropy.
type AntiEntropyOptions struct {
	// N is the number of items the responder holds; default 1,000,000.
	N int
	// Diffs are the numbers of differences, one case each; default
	// 1, 100, 1000, 10000.
	Diffs []int
	// Seed seeds the item IDs, timestamps and the choice of differences;
	// default 1.
	Seed uint64
	// Progress, if set, is called as the sets are built.
	Progress func(done, total int)
}

// AntiEntropyCase is one reconciliation measured against the naive
// exchange of every ID.
type AntiEntropyCase struct {
	N     int    `json:"n"`
	D     int    `json:"d"`
	Split string `json:"split"`
	// RoundTrips, BytesOut and BytesIn are the reconciliation itself,
	// seen from the initiator.
	RoundTrips int `json:"round_trips"`
	BytesOut   int `json:"bytes_out"`
	BytesIn    int `json:"bytes_in"`
	// BytesTotal is BytesOut + BytesIn + MissingBytes + a 4-byte length
	// prefix per missing fact: the whole transfer that brings both sides
	// to the union.
	BytesTotal int `json:"bytes_total"`
	// MissingBytes is the encoded size of the d missing facts.
	MissingBytes int `json:"missing_bytes"`
	// NaiveBytes is the baseline: 32 bytes per item for all n IDs sent one
	// way in one round trip, plus the missing facts with the same length
	// prefixes as BytesTotal.
	NaiveBytes      int     `json:"naive_bytes"`
	NaiveRoundTrips int     `json:"naive_round_trips"`
	CPUMs           float64 `json:"cpu_ms"`
	InitiatorCPUMs  float64 `json:"initiator_cpu_ms"`
	ResponderCPUMs  float64 `json:"responder_cpu_ms"`
	Goal            string  `json:"goal"`
	MeetsGoal       bool    `json:"meets_goal"`
}

// AntiEntropyResult is what `aura-node bench antientropy --json` prints.
type AntiEntropyResult struct {
	Cases []AntiEntropyCase `json:"cases"`
}

// Goals of the anti-entropy benchmark.
const (
	oneDiffMaxRoundTrips = 3
	oneDiffMaxBytes      = 1536
	manyDiffFactor       = 1.3
	manyDiffSlack        = 16384
	// factPrefix is the length prefix of each fact sent after
	// reconciling.
	factPrefix = 4
	// aeBaseMs is the wall-clock millisecond of the first item.
	aeBaseMs = 1_700_000_000_000
)

// aeCase is one planted difference: `have` items only the initiator
// holds, `need` items only the responder holds.
type aeCase struct {
	d, have, need int
}

func planCase(d int) aeCase {
	if d == 1 {
		return aeCase{d: 1, need: 1}
	}
	return aeCase{d: d, have: d / 2, need: d - d/2}
}

func (c aeCase) split() string {
	if c.have == 0 {
		return fmt.Sprintf("one-way: the responder holds n, the initiator n-%d; the initiator needs %d", c.need, c.need)
	}
	return fmt.Sprintf("half each way: %d only at the initiator (have), %d only at the responder (need)", c.have, c.need)
}

// aeItems generates the item pool: timestamps 10 ms apart with up to 30 ms
// of jitter (so neighbours can share a millisecond, as real HLC wall
// clocks do) and random 32-byte IDs.
func aeItems(rng *rand.Rand, n int, progress func(int)) []antientropy.Item {
	items := make([]antientropy.Item, n)
	for i := range items {
		items[i].Timestamp = aeBaseMs + 10*uint64(i) + rng.Uint64N(30)
		for j := 0; j < antientropy.IDSize; j += 8 {
			binary.LittleEndian.PutUint64(items[i].ID[j:], rng.Uint64())
		}
		if progress != nil && i&0xffff == 0 {
			progress(i)
		}
	}
	return items
}

// aeSides is one case ready to run: both storages and the planted
// differences.
type aeSides struct {
	initiator, responder *antientropy.Vector
	have, need           map[antientropy.ID]bool
}

// buildSides picks c.d distinct items of pool[:n+c.have] at random, gives
// c.have of them to the initiator only and c.need to the responder only;
// every other item goes to both. pool is not modified.
func buildSides(rng *rand.Rand, pool []antientropy.Item, n int, c aeCase, progress func(int)) (*aeSides, error) {
	u := n + c.have
	if c.need > n || u > len(pool) {
		return nil, fmt.Errorf("bench: %d differences do not fit %d items", c.d, n)
	}
	const (
		both = iota
		iniOnly
		respOnly
	)
	role := make([]uint8, u)
	s := &aeSides{have: map[antientropy.ID]bool{}, need: map[antientropy.ID]bool{}}
	for picked := 0; picked < c.d; {
		i := rng.IntN(u)
		if role[i] != both {
			continue
		}
		if picked < c.have {
			role[i] = iniOnly
			s.have[pool[i].ID] = true
		} else {
			role[i] = respOnly
			s.need[pool[i].ID] = true
		}
		picked++
	}
	ini := make([]antientropy.Item, 0, u-c.need)
	resp := make([]antientropy.Item, 0, u-c.have)
	for i, it := range pool[:u] {
		if role[i] != respOnly {
			ini = append(ini, it)
		}
		if role[i] != iniOnly {
			resp = append(resp, it)
		}
	}
	var err error
	if s.initiator, err = antientropy.NewVector(ini); err != nil {
		return nil, err
	}
	if progress != nil {
		progress(1)
	}
	if s.responder, err = antientropy.NewVector(resp); err != nil {
		return nil, err
	}
	if progress != nil {
		progress(2)
	}
	return s, nil
}

// aeSession is one measured reconciliation.
type aeSession struct {
	roundTrips, bytesOut, bytesIn int
	have, need                    map[antientropy.ID]bool
	initiator, responder          time.Duration
}

// runSession runs a whole session like antientropy.Reconcile, timing each
// side's own calls separately. Both run on this goroutine, one after the
// other, so each duration is that side's CPU time.
func runSession(a, b antientropy.Storage) (*aeSession, error) {
	const maxRounds = 64
	s := &aeSession{have: map[antientropy.ID]bool{}, need: map[antientropy.ID]bool{}}
	t := time.Now()
	ini, err := antientropy.NewReconciler(a, antientropy.Options{})
	if err != nil {
		return nil, err
	}
	msg := ini.Initiate()
	s.initiator += time.Since(t)
	t = time.Now()
	resp, err := antientropy.NewReconciler(b, antientropy.Options{})
	s.responder += time.Since(t)
	if err != nil {
		return nil, err
	}
	for msg != nil {
		if s.roundTrips == maxRounds {
			return nil, fmt.Errorf("bench: no agreement after %d round trips", maxRounds)
		}
		s.roundTrips++
		s.bytesOut += len(msg)
		t = time.Now()
		reply, err := resp.Respond(msg)
		s.responder += time.Since(t)
		if err != nil {
			return nil, err
		}
		s.bytesIn += len(reply)
		var have, need []antientropy.ID
		t = time.Now()
		msg, have, need, err = ini.Reconcile(reply)
		s.initiator += time.Since(t)
		if err != nil {
			return nil, err
		}
		for _, id := range have {
			s.have[id] = true
		}
		for _, id := range need {
			s.need[id] = true
		}
	}
	return s, nil
}

// checkFound reports an error unless found is exactly the planted set.
func checkFound(what string, found, planted map[antientropy.ID]bool) error {
	if len(found) != len(planted) {
		return fmt.Errorf("bench: reconciliation found %d %s IDs, planted %d", len(found), what, len(planted))
	}
	for id := range found {
		if !planted[id] {
			return fmt.Errorf("bench: reconciliation reported %s ID %s that was not planted", what, id)
		}
	}
	return nil
}

// signMissing signs n Data facts (namespace "bench", key "key-<i>", a
// 64-byte value, as the ingest benchmark does) and returns their encoded
// sizes: the facts a node sends once reconciliation has found them.
func signMissing(n int) ([]int, error) {
	seed := make([]byte, ed25519.SeedSize)
	binary.BigEndian.PutUint64(seed, 1)
	key := ed25519.NewKeyFromSeed(seed)
	me := facts.AuthorityFromKey(key.Public().(ed25519.PublicKey))
	_, network, err := facts.Sign(key, facts.Draft{
		Kind: facts.KindGenesis,
		Payload: &facts.Genesis{Name: "bench", Members: []facts.Member{{Authority: me}}, Threshold: 1, Admin: me,
			MaxFactBytes: facts.DefaultMaxFactLen},
		Time: facts.MakeTimestamp(1, 0),
	})
	if err != nil {
		return nil, err
	}
	sizes := make([]int, n)
	value := make([]byte, 64)
	for i := range sizes {
		binary.BigEndian.PutUint64(value, uint64(i))
		raw, _, err := facts.Sign(key, facts.Draft{
			Network: network,
			Kind:    facts.KindData,
			Payload: &facts.Data{Namespace: "bench", Key: fmt.Sprintf("key-%d", i), Value: append([]byte(nil), value...)},
			Time:    facts.MakeTimestamp(aeBaseMs+10*uint64(i), 0),
		})
		if err != nil {
			return nil, err
		}
		sizes[i] = len(raw)
	}
	return sizes, nil
}

func ms(d time.Duration) float64 {
	return math.Round(float64(d.Nanoseconds())/1e3) / 1e3
}

// AntiEntropy measures Negentropy reconciliation of two sets of N items
// that differ by d items, for each d, against the naive baseline of sending
// every ID. Each case checks that the session found exactly the planted
// differences and fails otherwise.
func AntiEntropy(ctx context.Context, opts AntiEntropyOptions) (*AntiEntropyResult, error) {
	if opts.N <= 0 {
		opts.N = 1_000_000
	}
	if len(opts.Diffs) == 0 {
		opts.Diffs = []int{1, 100, 1000, 10000}
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	n := opts.N
	cases := make([]aeCase, len(opts.Diffs))
	maxHave, maxD := 0, 0
	for i, d := range opts.Diffs {
		if d <= 0 || d > n {
			return nil, fmt.Errorf("bench: %d differences for %d items", d, n)
		}
		cases[i] = planCase(d)
		maxHave = max(maxHave, cases[i].have)
		maxD = max(maxD, d)
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x6e6567656e74726f)) // "negentro"
	total := n + maxHave + maxD + 2*n*len(cases)
	report := func(done int) {
		if opts.Progress != nil {
			opts.Progress(done, total)
		}
	}
	pool := aeItems(rng, n+maxHave, report)
	done := n + maxHave
	report(done)
	sizes, err := signMissing(maxD)
	if err != nil {
		return nil, err
	}
	done += maxD
	report(done)

	res := &AntiEntropyResult{}
	for _, c := range cases {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		base := done
		sides, err := buildSides(rng, pool, n, c, func(k int) { report(base + k*n) })
		if err != nil {
			return nil, err
		}
		done += 2 * n
		s, err := runSession(sides.initiator, sides.responder)
		if err != nil {
			return nil, fmt.Errorf("bench: d=%d: %w", c.d, err)
		}
		if err := checkFound("have", s.have, sides.have); err != nil {
			return nil, fmt.Errorf("d=%d: %w", c.d, err)
		}
		if err := checkFound("need", s.need, sides.need); err != nil {
			return nil, fmt.Errorf("d=%d: %w", c.d, err)
		}
		missing := 0
		for _, sz := range sizes[:c.d] {
			missing += sz
		}
		transfer := missing + factPrefix*c.d
		r := AntiEntropyCase{
			N:               n,
			D:               c.d,
			Split:           c.split(),
			RoundTrips:      s.roundTrips,
			BytesOut:        s.bytesOut,
			BytesIn:         s.bytesIn,
			BytesTotal:      s.bytesOut + s.bytesIn + transfer,
			MissingBytes:    missing,
			NaiveBytes:      antientropy.IDSize*n + transfer,
			NaiveRoundTrips: 1,
			InitiatorCPUMs:  ms(s.initiator),
			ResponderCPUMs:  ms(s.responder),
		}
		r.CPUMs = math.Round((r.InitiatorCPUMs+r.ResponderCPUMs)*1e3) / 1e3
		if c.d == 1 {
			r.Goal = fmt.Sprintf("<= %d round trips and <= %d bytes of reconciliation (bytes_out + bytes_in, excluding the fact itself)",
				oneDiffMaxRoundTrips, oneDiffMaxBytes)
			r.MeetsGoal = r.RoundTrips <= oneDiffMaxRoundTrips && r.BytesOut+r.BytesIn <= oneDiffMaxBytes
		} else {
			r.Goal = fmt.Sprintf("bytes_total <= %.1f x missing_bytes + %d", manyDiffFactor, manyDiffSlack)
			r.MeetsGoal = float64(r.BytesTotal) <= manyDiffFactor*float64(r.MissingBytes)+manyDiffSlack
		}
		res.Cases = append(res.Cases, r)
	}
	report(total)
	return res, nil
}
