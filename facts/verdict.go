package facts

import (
	"bytes"
	"crypto/ed25519"
	"fmt"

	"github.com/hdevalence/ed25519consensus"
	"github.com/ipfs/go-cid"
)

// Result is the outcome of a pipeline stage, in the vocabulary of pubsub
// validators.
type Result int

const (
	// Accept: the fact is valid here and now.
	Accept Result = iota
	// Reject: the fact is invalid. Never store or forward it; penalise
	// whoever sent it.
	Reject
	// Ignore: the fact is not usable now (a duplicate, or an epoch this
	// node has not reached). Do not forward it, do not penalise.
	Ignore
)

func (r Result) String() string {
	switch r {
	case Accept:
		return "accept"
	case Reject:
		return "reject"
	case Ignore:
		return "ignore"
	}
	return fmt.Sprintf("Result(%d)", int(r))
}

// Verdict is a Result and, unless it is Accept, the reason.
type Verdict struct {
	Result Result
	Reason error
}

func (v Verdict) String() string {
	if v.Reason == nil {
		return v.Result.String()
	}
	return v.Result.String() + ": " + v.Reason.Error()
}

var accepted = Verdict{Result: Accept}

func reject(err error) Verdict { return Verdict{Result: Reject, Reason: err} }
func ignore(err error) Verdict { return Verdict{Result: Ignore, Reason: err} }

// Checked is a fact that passed the stateless stage: it decoded within
// limits, is canonical, belongs to the network and its signature verifies.
// It still needs authorisation against state (Txn.Apply).
type Checked struct {
	fact    *Fact
	payload Payload
	id      cid.Cid
	raw     []byte
}

// Fact returns the decoded envelope. Do not modify it.
func (c Checked) Fact() *Fact { return c.fact }

// Payload returns the decoded payload. Do not modify it.
func (c Checked) Payload() Payload { return c.payload }

// ID returns the fact's CID.
func (c Checked) ID() cid.Cid { return c.id }

// Raw returns the canonical bytes. Do not modify them.
func (c Checked) Raw() []byte { return c.raw }

// Limits bounds what the stateless stage accepts.
type Limits struct {
	// MaxFactBytes bounds an encoded fact; zero means DefaultMaxFactLen.
	MaxFactBytes int
}

// decodeForNetwork runs every stateless check except the signature.
func decodeForNetwork(network cid.Cid, raw []byte, lim Limits) (Checked, Verdict) {
	f, p, err := Decode(raw, lim.MaxFactBytes)
	if err != nil {
		return Checked{}, reject(err)
	}
	if f.Kind == KindGenesis {
		if len(f.Network) != 0 || f.Epoch != 0 {
			return Checked{}, reject(fmt.Errorf("%w: genesis must have no network and epoch 0", ErrBadGenesis))
		}
	} else if !bytes.Equal(f.Network, network.Bytes()) {
		return Checked{}, reject(fmt.Errorf("%w: want %s", ErrWrongNetwork, network))
	}
	c := Checked{fact: f, payload: p, raw: raw, id: ComputeID(raw)}
	if f.Kind == KindGenesis && !c.id.Equals(network) {
		return Checked{}, reject(fmt.Errorf("%w: genesis %s is not network %s", ErrBadGenesis, c.id, network))
	}
	return c, accepted
}

// CheckStateless runs decode, canonical, network and signature checks on
// one fact. network is the genesis CID.
func CheckStateless(network cid.Cid, raw []byte, lim Limits) (Checked, Verdict) {
	c, v := decodeForNetwork(network, raw, lim)
	if v.Result != Accept {
		return c, v
	}
	msg, err := c.fact.SigningBytes()
	if err != nil {
		return Checked{}, reject(err)
	}
	if !ed25519consensus.Verify(ed25519.PublicKey(c.fact.Author[:]), msg, c.fact.Sig) {
		return Checked{}, reject(fmt.Errorf("%w: by %s", ErrBadSignature, c.fact.Author))
	}
	return c, accepted
}

// CheckBatch runs CheckStateless over many facts, verifying signatures with
// one Ed25519 batch verification. ZIP-215 rules make batch and single
// verification agree, so every node reaches the same verdicts. When the
// batch fails, each signature is checked alone to find the culprits.
func CheckBatch(network cid.Cid, raws [][]byte, lim Limits) ([]Checked, []Verdict) {
	checked := make([]Checked, len(raws))
	verdicts := make([]Verdict, len(raws))
	msgs := make([][]byte, len(raws))
	bv := ed25519consensus.NewPreallocatedBatchVerifier(len(raws))
	n := 0
	for i, raw := range raws {
		checked[i], verdicts[i] = decodeForNetwork(network, raw, lim)
		if verdicts[i].Result != Accept {
			continue
		}
		msg, err := checked[i].fact.SigningBytes()
		if err != nil {
			checked[i], verdicts[i] = Checked{}, reject(err)
			continue
		}
		msgs[i] = msg
		bv.Add(ed25519.PublicKey(checked[i].fact.Author[:]), msg, checked[i].fact.Sig)
		n++
	}
	if n == 0 || bv.Verify() {
		return checked, verdicts
	}
	for i := range raws {
		if msgs[i] == nil {
			continue
		}
		f := checked[i].fact
		if !ed25519consensus.Verify(ed25519.PublicKey(f.Author[:]), msgs[i], f.Sig) {
			checked[i], verdicts[i] = Checked{}, reject(fmt.Errorf("%w: by %s", ErrBadSignature, f.Author))
		}
	}
	return checked, verdicts
}

// Verified is a fact that passed every stage, including authorisation
// against state, and has been reduced. Only Txn.Apply makes one; it is the
// only form in which a fact reaches storage.
type Verified struct {
	c Checked
}

// Fact returns the decoded envelope. Do not modify it.
func (v Verified) Fact() *Fact { return v.c.fact }

// Payload returns the decoded payload. Do not modify it.
func (v Verified) Payload() Payload { return v.c.payload }

// ID returns the fact's CID.
func (v Verified) ID() cid.Cid { return v.c.id }

// Raw returns the canonical bytes. Do not modify them.
func (v Verified) Raw() []byte { return v.c.raw }
