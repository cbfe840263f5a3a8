package bench

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/hdevalence/ed25519consensus"
	"github.com/ipfs/go-cid"

	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/storage"
)

// IngestOptions configure Ingest.
type IngestOptions struct {
	// N is the number of facts; default 20000.
	N int
	// Dir is where the Pebble journal is created; default a temporary
	// directory that is removed afterwards.
	Dir string
	// Batch is the ingest batch size; default 1024.
	Batch int
	// Progress, if set, is called as facts are prepared and ingested.
	Progress func(done, total int)
}

// IngestResult is what `aura-node bench ingest --json` prints.
type IngestResult struct {
	N            int     `json:"n"`
	Batch        int     `json:"batch"`
	FactsPerS    float64 `json:"facts_per_s"`
	VerifyPerS   float64 `json:"verify_per_s"`
	Ratio        float64 `json:"ratio"`
	Goal         float64 `json:"goal"`
	IngestS      float64 `json:"ingest_s"`
	VerifyS      float64 `json:"verify_s"`
	AvgFactBytes int     `json:"avg_fact_bytes"`
	StateDigest  string  `json:"state_digest"`
}

// corpus is a genesis and N signed data facts by several members.
type corpus struct {
	network cid.Cid
	genesis []byte
	raws    [][]byte
	msgs    [][]byte
	pubs    []ed25519.PublicKey
	sigs    [][]byte
}

func makeCorpus(n int, progress func(int, int)) (*corpus, error) {
	const members = 4
	keys := make([]ed25519.PrivateKey, members)
	ms := make([]facts.Member, members)
	for i := range keys {
		seed := make([]byte, ed25519.SeedSize)
		binary.BigEndian.PutUint64(seed, uint64(i+1))
		keys[i] = ed25519.NewKeyFromSeed(seed)
		ms[i] = facts.Member{Authority: facts.AuthorityFromKey(keys[i].Public().(ed25519.PublicKey))}
	}
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && string(ms[j].Authority[:]) < string(ms[j-1].Authority[:]); j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
	genesis, network, err := facts.Sign(keys[0], facts.Draft{
		Kind: facts.KindGenesis,
		Payload: &facts.Genesis{Name: "bench", Members: ms, Threshold: 3, Admin: ms[0].Authority,
			MaxFactBytes: facts.DefaultMaxFactLen},
		Time: facts.MakeTimestamp(1, 0),
	})
	if err != nil {
		return nil, err
	}
	c := &corpus{network: network, genesis: genesis}
	value := make([]byte, 64)
	for i := 0; i < n; i++ {
		k := keys[i%members]
		binary.BigEndian.PutUint64(value, uint64(i))
		raw, _, err := facts.Sign(k, facts.Draft{
			Network: network,
			Kind:    facts.KindData,
			Payload: &facts.Data{Namespace: "bench", Key: fmt.Sprintf("key-%d", i%(n/4+1)), Value: append([]byte(nil), value...)},
			Time:    facts.MakeTimestamp(1_700_000_000_000+uint64(i), 0),
		})
		if err != nil {
			return nil, err
		}
		f, _, err := facts.Decode(raw, 0)
		if err != nil {
			return nil, err
		}
		msg, err := f.SigningBytes()
		if err != nil {
			return nil, err
		}
		c.raws = append(c.raws, raw)
		c.msgs = append(c.msgs, msg)
		c.pubs = append(c.pubs, f.Author.PublicKey())
		c.sigs = append(c.sigs, f.Sig)
		if progress != nil && i%1000 == 0 {
			progress(i, 2*n)
		}
	}
	return c, nil
}

// verifyAll is the baseline: batch-verify every signature, in batches of
// the same size the ingest uses.
func (c *corpus) verifyAll(batch int) (time.Duration, error) {
	start := time.Now()
	for lo := 0; lo < len(c.raws); lo += batch {
		hi := min(lo+batch, len(c.raws))
		bv := ed25519consensus.NewPreallocatedBatchVerifier(hi - lo)
		for i := lo; i < hi; i++ {
			bv.Add(c.pubs[i], c.msgs[i], c.sigs[i])
		}
		if !bv.Verify() {
			return 0, fmt.Errorf("bench: baseline batch verification failed")
		}
	}
	return time.Since(start), nil
}

// ingestAll runs the full pipeline into a journal.
func (c *corpus) ingestAll(j storage.Journal, batch int, progress func(int, int)) (time.Duration, error) {
	gc, v := facts.CheckStateless(c.network, c.genesis, facts.Limits{})
	if v.Result != facts.Accept {
		return 0, fmt.Errorf("bench: genesis: %v", v)
	}
	txn := facts.NewTxn(j)
	if v, err := txn.Apply(gc); err != nil || v.Result != facts.Accept {
		return 0, fmt.Errorf("bench: genesis: %v %v", v, err)
	}
	b, err := txn.Commit()
	if err != nil {
		return 0, err
	}
	if err := j.Commit(b); err != nil {
		return 0, err
	}
	lim := facts.Limits{}
	start := time.Now()
	for lo := 0; lo < len(c.raws); lo += batch {
		hi := min(lo+batch, len(c.raws))
		checked, verdicts := facts.CheckBatch(c.network, c.raws[lo:hi], lim)
		txn := facts.NewTxn(j)
		for i := range checked {
			if verdicts[i].Result != facts.Accept {
				return 0, fmt.Errorf("bench: fact %d: %v", lo+i, verdicts[i])
			}
			v, err := txn.Apply(checked[i])
			if err != nil {
				return 0, err
			}
			if v.Result != facts.Accept {
				return 0, fmt.Errorf("bench: fact %d: %v", lo+i, v)
			}
		}
		b, err := txn.Commit()
		if err != nil {
			return 0, err
		}
		if err := j.Commit(b); err != nil {
			return 0, err
		}
		if progress != nil {
			progress(len(c.raws)+hi, 2*len(c.raws))
		}
	}
	return time.Since(start), nil
}

// Ingest measures fact ingest against raw batch verification of the same
// signatures. The baseline runs before and after the ingest and the two
// are averaged, so a change in machine load mid-run biases neither side.
func Ingest(ctx context.Context, opts IngestOptions) (*IngestResult, error) {
	if opts.N <= 0 {
		opts.N = 20000
	}
	if opts.Batch <= 0 {
		opts.Batch = 1024
	}
	dir := opts.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "aura-bench-ingest-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	c, err := makeCorpus(opts.N, opts.Progress)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	j, err := storage.OpenPebble(dir, storage.PebbleOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, err
	}
	defer j.Close()
	v1, err := c.verifyAll(opts.Batch)
	if err != nil {
		return nil, err
	}
	ing, err := c.ingestAll(j, opts.Batch, opts.Progress)
	if err != nil {
		return nil, err
	}
	v2, err := c.verifyAll(opts.Batch)
	if err != nil {
		return nil, err
	}
	verify := (v1 + v2) / 2
	digest, err := facts.ReadDigest(j)
	if err != nil {
		return nil, err
	}
	total := 0
	for _, r := range c.raws {
		total += len(r)
	}
	r := &IngestResult{
		N:            opts.N,
		Batch:        opts.Batch,
		FactsPerS:    float64(opts.N) / ing.Seconds(),
		VerifyPerS:   float64(opts.N) / verify.Seconds(),
		Goal:         0.8,
		IngestS:      ing.Seconds(),
		VerifyS:      verify.Seconds(),
		AvgFactBytes: total / opts.N,
		StateDigest:  digest.String(),
	}
	r.Ratio = r.FactsPerS / r.VerifyPerS
	return r, nil
}
