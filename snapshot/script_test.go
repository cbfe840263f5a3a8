package snapshot_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/aura-node/aura-node/snapshot"
)

// TestScripts drives the Machine with the datadriven scripts in
// testdata/machine. Commands:
//
//	roster n=N m=M                       roster m0..m(N-1) with threshold M
//	machine [self=mI|x] [epoch=E] [approval-timeout=T] [proposal-timeout=T] [max-open=K]
//	                                     new machine (defaults: self=m0, epoch=4)
//	propose id=P epoch=E digest=D [proposer=mI]
//	local-digest proposal=P digest=D
//	approve member=mI proposal=P digest=D [signed-digest=D2] [signed-by=mJ] [signed-proposal=P2]
//	                                     member signs (and claims) digest D; the signed-*
//	                                     options make the signature cover something else
//	complete proposal=P [signers=(mI,...)] [digest=D] [signed-digest=D2]
//	                                     without signers: the certificate of the last Assemble
//	                                     of P; with signers: built here from their signatures
//	tick [n=N]
//	advance-epoch epoch=E
//	status
//
// Members named mI sort in index order; x is never on a roster. Digest
// names map to sha256(name). Errors print as "error (ErrName): message"
// with member IDs and digests replaced by their names.
//
// Rewrite expected output with go test ./snapshot -run TestScripts -rewrite.
func TestScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/machine", func(t *testing.T, path string) {
		h := &harness{network: []byte("test-network")}
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			return h.run(t, td)
		})
	})
}

type tmember struct {
	name string
	id   snapshot.MemberID
	priv snapshot.PrivateKey
	pub  snapshot.PublicKey
}

// memberCache holds test keys across scripts: key generation costs a G2
// scalar multiplication.
var memberCache sync.Map

func member(t *testing.T, name string) *tmember {
	t.Helper()
	if v, ok := memberCache.Load(name); ok {
		return v.(*tmember)
	}
	var id snapshot.MemberID
	switch {
	case name == "x":
		id[0] = 0xf0
	case strings.HasPrefix(name, "m"):
		i, err := strconv.Atoi(name[1:])
		if err != nil || i < 0 || i > 0xdf {
			t.Fatalf("bad member name %q", name)
		}
		id[0] = 0x10 + byte(i)
	default:
		t.Fatalf("bad member name %q (want mI or x)", name)
	}
	priv, pub := snapshot.GenerateKey(sha256.Sum256([]byte("aura-node test member " + name)))
	m := &tmember{name: name, id: id, priv: priv, pub: pub}
	v, _ := memberCache.LoadOrStore(name, m)
	return v.(*tmember)
}

type harness struct {
	network   []byte
	m         *snapshot.Machine
	roster    snapshot.Roster
	proposals map[string]snapshot.Proposal
	assembled map[string]snapshot.Assemble
	names     map[string]string // hex form -> name, for messages
}

func (h *harness) digest(name string) snapshot.Digest {
	d := snapshot.Digest(sha256.Sum256([]byte(name)))
	h.names[d.String()] = name
	return d
}

func (h *harness) member(t *testing.T, name string) *tmember {
	m := member(t, name)
	h.names[m.id.String()] = name
	return m
}

func (h *harness) proposal(t *testing.T, td *datadriven.TestData, key string) snapshot.Proposal {
	var name string
	td.ScanArgs(t, key, &name)
	p, ok := h.proposals[name]
	if !ok {
		// An unknown proposal: its ID is still meaningful to the machine.
		p = snapshot.Proposal{ID: snapshot.ProposalID(name), Roster: h.roster}
	}
	return p
}

func (h *harness) run(t *testing.T, td *datadriven.TestData) string {
	if h.names == nil {
		h.names = map[string]string{}
		h.proposals = map[string]snapshot.Proposal{}
		h.assembled = map[string]snapshot.Assemble{}
	}
	switch td.Cmd {
	case "roster":
		var n, m int
		td.ScanArgs(t, "n", &n)
		td.ScanArgs(t, "m", &m)
		h.roster = snapshot.Roster{Threshold: m}
		var names []string
		for i := range n {
			mem := h.member(t, fmt.Sprintf("m%d", i))
			h.roster.Members = append(h.roster.Members, snapshot.Member{ID: mem.id, Key: mem.pub})
			names = append(names, mem.name)
		}
		return fmt.Sprintf("roster (%s) M=%d\n", strings.Join(names, ","), m)

	case "machine":
		self, epoch := "m0", uint64(4)
		cfg := snapshot.Config{}
		if td.HasArg("self") {
			td.ScanArgs(t, "self", &self)
		}
		if td.HasArg("epoch") {
			td.ScanArgs(t, "epoch", &epoch)
		}
		if td.HasArg("approval-timeout") {
			td.ScanArgs(t, "approval-timeout", &cfg.ApprovalTimeoutTicks)
		}
		if td.HasArg("proposal-timeout") {
			td.ScanArgs(t, "proposal-timeout", &cfg.ProposalTimeoutTicks)
		}
		if td.HasArg("max-open") {
			td.ScanArgs(t, "max-open", &cfg.MaxOpenProposals)
		}
		m, err := snapshot.New(cfg, snapshot.Start{Network: h.network, Self: h.member(t, self).id, Epoch: epoch})
		if err != nil {
			return h.errString(err)
		}
		h.m = m
		clear(h.proposals)
		clear(h.assembled)
		return h.status()

	case "propose":
		var id, digest string
		var epoch uint64
		proposer := "m0"
		td.ScanArgs(t, "id", &id)
		td.ScanArgs(t, "epoch", &epoch)
		td.ScanArgs(t, "digest", &digest)
		if td.HasArg("proposer") {
			td.ScanArgs(t, "proposer", &proposer)
		}
		p := snapshot.Proposal{
			ID:       snapshot.ProposalID(id),
			Proposer: h.member(t, proposer).id,
			Epoch:    epoch,
			Digest:   h.digest(digest),
			Roster:   h.roster,
		}
		acts, err := h.m.Propose(p)
		if err == nil {
			h.proposals[id] = p
		}
		return h.result(acts, err)

	case "local-digest":
		p := h.proposal(t, td, "proposal")
		var digest string
		td.ScanArgs(t, "digest", &digest)
		acts, err := h.m.LocalDigest(p.ID, h.digest(digest))
		return h.result(acts, err)

	case "approve":
		p := h.proposal(t, td, "proposal")
		var who, digest string
		td.ScanArgs(t, "member", &who)
		td.ScanArgs(t, "digest", &digest)
		signedDigest, signedBy, signedProposal := digest, who, string(p.ID)
		if td.HasArg("signed-digest") {
			td.ScanArgs(t, "signed-digest", &signedDigest)
		}
		if td.HasArg("signed-by") {
			td.ScanArgs(t, "signed-by", &signedBy)
		}
		if td.HasArg("signed-proposal") {
			td.ScanArgs(t, "signed-proposal", &signedProposal)
		}
		msg := snapshot.ApprovalMessage(h.network, p.Epoch, h.digest(signedDigest), []byte(signedProposal))
		acts, err := h.m.Approve(snapshot.Approval{
			Member:    h.member(t, who).id,
			Proposal:  p.ID,
			Digest:    h.digest(digest),
			Signature: snapshot.Sign(h.member(t, signedBy).priv, msg),
		})
		return h.result(acts, err)

	case "complete":
		return h.complete(t, td)

	case "tick":
		n := 1
		if td.HasArg("n") {
			td.ScanArgs(t, "n", &n)
		}
		var acts []snapshot.Action
		for range n {
			acts = append(acts, h.m.Tick()...)
		}
		return h.result(acts, nil)

	case "advance-epoch":
		var e uint64
		td.ScanArgs(t, "epoch", &e)
		return h.result(h.m.AdvanceEpoch(e), nil)

	case "status":
		return h.status()
	}
	t.Fatalf("unknown command %q", td.Cmd)
	return ""
}

func (h *harness) complete(t *testing.T, td *datadriven.TestData) string {
	p := h.proposal(t, td, "proposal")
	c := snapshot.Completion{Proposal: p.ID, Epoch: p.Epoch, Digest: p.Digest, Roster: p.Roster}
	if td.HasArg("digest") {
		var d string
		td.ScanArgs(t, "digest", &d)
		c.Digest = h.digest(d)
	}
	if !td.HasArg("signers") {
		a, ok := h.assembled[string(p.ID)]
		if !ok {
			t.Fatalf("complete %s: no assemble seen and no signers given", p.ID)
		}
		c.Signers, c.Aggregate = a.Signers, a.Aggregate
	} else {
		signedDigest := c.Digest
		if td.HasArg("signed-digest") {
			var d string
			td.ScanArgs(t, "signed-digest", &d)
			signedDigest = h.digest(d)
		}
		msg := snapshot.ApprovalMessage(h.network, c.Epoch, signedDigest, []byte(c.Proposal))
		var sigs [][]byte
		for _, arg := range td.CmdArgs {
			if arg.Key != "signers" {
				continue
			}
			for _, name := range arg.Vals {
				mem := h.member(t, name)
				idx, ok := c.Roster.Index(mem.id)
				if !ok {
					t.Fatalf("signer %s not on the roster", name)
				}
				c.Signers = append(c.Signers, idx)
				sigs = append(sigs, snapshot.Sign(mem.priv, msg))
			}
		}
		agg, err := snapshot.Aggregate(c.Roster.Keys(), c.Signers, sigs)
		if err != nil {
			return h.errString(err)
		}
		c.Aggregate = agg
	}
	acts, err := h.m.Complete(c)
	return h.result(acts, err)
}

var sentinels = []struct {
	name string
	err  error
}{
	{"ErrNotMember", snapshot.ErrNotMember},
	{"ErrDuplicateApproval", snapshot.ErrDuplicateApproval},
	{"ErrDigestMismatch", snapshot.ErrDigestMismatch},
	{"ErrEquivocation", snapshot.ErrEquivocation},
	{"ErrBadSignature", snapshot.ErrBadSignature},
	{"ErrBadKey", snapshot.ErrBadKey},
	{"ErrTooManyProposals", snapshot.ErrTooManyProposals},
	{"ErrThreshold", snapshot.ErrThreshold},
	{"ErrStaleEpoch", snapshot.ErrStaleEpoch},
	{"ErrFutureEpoch", snapshot.ErrFutureEpoch},
	{"ErrUnknownProposal", snapshot.ErrUnknownProposal},
	{"ErrProposalClosed", snapshot.ErrProposalClosed},
	{"ErrConflict", snapshot.ErrConflict},
	{"ErrBadRoster", snapshot.ErrBadRoster},
	{"ErrBadSignerSet", snapshot.ErrBadSignerSet},
	{"ErrBadConfig", snapshot.ErrBadConfig},
}

func (h *harness) errString(err error) string {
	name := "unclassified"
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			name = s.name
			break
		}
	}
	return fmt.Sprintf("error (%s): %s\n", name, h.rename(err.Error()))
}

func (h *harness) rename(s string) string {
	pairs := make([]string, 0, 2*len(h.names))
	for hexForm, name := range h.names {
		pairs = append(pairs, hexForm, name)
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

func (h *harness) result(acts []snapshot.Action, err error) string {
	if err != nil {
		if len(acts) > 0 {
			return fmt.Sprintf("BUG: actions %v with error %v\n", acts, err)
		}
		return h.errString(err)
	}
	if len(acts) == 0 {
		return "ok\n"
	}
	var b strings.Builder
	for _, a := range acts {
		b.WriteString(h.rename(a.String()))
		if as, ok := a.(snapshot.Assemble); ok {
			h.assembled[string(as.Proposal)] = as
			p := h.proposals[string(as.Proposal)]
			verr := snapshot.VerifyCompletion(h.network, snapshot.Completion{
				Proposal: as.Proposal, Epoch: as.Epoch, Digest: as.Digest,
				Roster: p.Roster, Signers: as.Signers, Aggregate: as.Aggregate,
			})
			if verr != nil {
				fmt.Fprintf(&b, " (certificate does not verify: %v)", verr)
			} else {
				b.WriteString(" (certificate verifies)")
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func (h *harness) status() string {
	st := h.m.Status()
	var b strings.Builder
	last := "none"
	if st.HasSnapshot {
		last = fmt.Sprintf("%d digest=%s", st.LastSnapshot, st.LastDigest)
	}
	fence := "off"
	if st.FenceActive {
		fence = fmt.Sprintf("on epoch=%d", st.FenceEpoch)
	}
	fmt.Fprintf(&b, "tick=%d epoch=%d last-snapshot=%s fence=%s\n", st.Tick, st.Epoch, last, fence)
	ids := func(ms []snapshot.MemberID) string {
		s := make([]string, len(ms))
		for i, m := range ms {
			s[i] = m.String()
		}
		return "(" + strings.Join(s, ",") + ")"
	}
	for _, p := range st.Pending {
		fmt.Fprintf(&b, "pending %s epoch=%d digest=%s proposer=%s M=%d age=%d quorum=%t approvers=%s missing=%s\n",
			p.ID, p.Epoch, p.Digest, p.Proposer, p.Threshold, p.AgeTicks, p.Quorum, ids(p.Approvers), ids(p.Missing))
	}
	return h.rename(b.String())
}
