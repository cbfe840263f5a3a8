package facts_test

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/ipfs/go-cid"

	"github.com/aura-node/aura-node/facts"
)

// TestScripts runs the datadriven scripts in testdata/script. Commands:
//
//	network members=N threshold=M      new network, genesis delivered
//	fact name=F author=mI|x epoch=E kind=K [args]   sign a fact, x = outsider
//	    AdminReplacement     previous=mI new=mJ [activation=E]
//	    RosterChangeProposed members=(m0,m1) threshold=M
//	    TransitionApproved   proposal=F
//	    Data                 key=K value=V [ms=T]
//	    CacheInvalidated     keys=(a,b) floor=E
//	deliver F...                       one transaction; prints verdicts
//	settle F...                        deliver, re-offering ignored facts
//	governance                         epoch chain and pending proposals
//	data key=K                         winning write of a key
//	floor key=K                        cache floor of a key
//
// Rewrite expected output with go test ./facts -run TestScripts -rewrite.
func TestScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/script", func(t *testing.T, path string) {
		var sc script
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			return sc.run(t, td)
		})
	})
}

type script struct {
	tn    *testnet
	s     *memStore
	named map[string][]byte
	ids   map[string]cid.Cid
}

func (sc *script) run(t *testing.T, td *datadriven.TestData) string {
	switch td.Cmd {
	case "network":
		var n int
		var m uint64
		td.ScanArgs(t, "members", &n)
		td.ScanArgs(t, "threshold", &m)
		sc.tn = newTestnet(t, n, uint32(m))
		sc.s = started(t, sc.tn)
		sc.named, sc.ids = map[string][]byte{}, map[string]cid.Cid{}
		return sc.governance(t)
	case "fact":
		return sc.fact(t, td)
	case "deliver", "settle":
		var raws [][]byte
		for _, a := range td.CmdArgs {
			raw, ok := sc.named[a.Key]
			if !ok {
				t.Fatalf("unknown fact %q", a.Key)
			}
			raws = append(raws, raw)
		}
		var vs []facts.Verdict
		if td.Cmd == "deliver" {
			vs = sc.s.deliver(t, sc.tn.id, raws...)
		} else {
			vs = applyToFixpoint(t, sc.s, sc.tn, raws)
		}
		var b strings.Builder
		for i, v := range vs {
			fmt.Fprintf(&b, "%s: %s\n", td.CmdArgs[i].Key, verdictName(v))
		}
		return b.String()
	case "governance":
		return sc.governance(t)
	case "data":
		var key string
		td.ScanArgs(t, "key", &key)
		e, ok, err := facts.ReadData(sc.s, "ns", key)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return "absent\n"
		}
		return fmt.Sprintf("%q by %s at %s\n", e.Value, sc.member(e.Author), e.Time)
	case "floor":
		var key string
		td.ScanArgs(t, "key", &key)
		f, err := facts.ReadCacheFloor(sc.s, key)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%d\n", f)
	}
	t.Fatalf("unknown command %q", td.Cmd)
	return ""
}

func (sc *script) fact(t *testing.T, td *datadriven.TestData) string {
	var name, author, kindName string
	var epoch uint64
	td.ScanArgs(t, "name", &name)
	td.ScanArgs(t, "author", &author)
	td.ScanArgs(t, "epoch", &epoch)
	td.ScanArgs(t, "kind", &kindName)
	kind, err := facts.ParseKind(kindName)
	if err != nil {
		t.Fatal(err)
	}
	idx := func(s string) int {
		i, err := strconv.Atoi(strings.TrimPrefix(s, "m"))
		if err != nil || !strings.HasPrefix(s, "m") {
			t.Fatalf("bad member %q", s)
		}
		return i
	}
	str := func(key string) string { var s string; td.ScanArgs(t, key, &s); return s }
	var p facts.Payload
	switch kind {
	case facts.KindAdminReplacement:
		act := epoch + 1
		td.MaybeScanArgs(t, "activation", &act)
		p = &facts.AdminReplacement{Previous: sc.tn.auth(idx(str("previous"))), New: sc.tn.auth(idx(str("new"))), ActivationEpoch: act}
	case facts.KindRosterChangeProposed:
		arg, _ := td.Arg("members")
		var ms []int
		for _, v := range arg.Vals {
			ms = append(ms, idx(v))
		}
		var m uint64
		td.ScanArgs(t, "threshold", &m)
		p = &facts.RosterChange{Members: sc.tn.members(ms...), Threshold: uint32(m)}
	case facts.KindTransitionApproved:
		id, ok := sc.ids[str("proposal")]
		if !ok {
			t.Fatalf("unknown proposal %q", str("proposal"))
		}
		p = &facts.TransitionApproval{Proposal: id.Bytes()}
	case facts.KindData:
		p = &facts.Data{Namespace: "ns", Key: str("key"), Value: []byte(str("value"))}
	case facts.KindCacheInvalidated:
		arg, _ := td.Arg("keys")
		var floor uint64
		td.ScanArgs(t, "floor", &floor)
		p = &facts.CacheInvalidated{Keys: arg.Vals, EpochFloor: floor}
	default:
		t.Fatalf("script cannot build %v", kind)
	}
	key := testKey("outsider")
	if author != "x" {
		key = sc.tn.keys[idx(author)]
	}
	ts := sc.tn.tick()
	var ms uint64
	if td.MaybeScanArgs(t, "ms", &ms) {
		ts = facts.MakeTimestamp(ms, 0)
	}
	sc.named[name], sc.ids[name] = sc.tn.signAt(key, kind, epoch, ts, p)
	return "ok\n"
}

// member names an authority by its roster index, or "x".
func (sc *script) member(a facts.AuthorityID) string {
	for i := range sc.tn.keys {
		if sc.tn.auth(i) == a {
			return fmt.Sprintf("m%d", i)
		}
	}
	return "x"
}

func (sc *script) proposal(id []byte) string {
	for name, c := range sc.ids {
		if string(c.Bytes()) == string(id) {
			return name
		}
	}
	return "?"
}

func (sc *script) governance(t testing.TB) string {
	g := sc.s.governance(t)
	var b strings.Builder
	for _, e := range g.Epochs {
		var ms []string
		for _, m := range e.Members {
			ms = append(ms, sc.member(m.Authority))
		}
		cause := "genesis"
		if e.CauseKind != facts.KindGenesis {
			cause = sc.proposal(e.Cause)
		}
		fmt.Fprintf(&b, "epoch %d: admin=%s threshold=%d members=%s cause=%s\n",
			e.Epoch, sc.member(e.Admin), e.Threshold, strings.Join(ms, ","), cause)
	}
	for _, p := range g.Pending() {
		var as []string
		for _, a := range p.Approvers {
			as = append(as, sc.member(a))
		}
		fmt.Fprintf(&b, "pending %s (%v by %s): approvers=%s\n",
			sc.proposal(p.Record.ID), p.Record.Kind, sc.member(p.Record.Author), strings.Join(as, ","))
	}
	return b.String()
}

// verdictName prints a verdict with the name of its sentinel error, so
// scripts do not depend on message wording.
func verdictName(v facts.Verdict) string {
	if v.Result == facts.Accept {
		return "accept"
	}
	for _, s := range []struct {
		name string
		err  error
	}{
		{"ErrDuplicate", facts.ErrDuplicate}, {"ErrFutureEpoch", facts.ErrFutureEpoch},
		{"ErrNoGenesis", facts.ErrNoGenesis}, {"ErrNotMember", facts.ErrNotMember},
		{"ErrRetiredAdmin", facts.ErrRetiredAdmin}, {"ErrNotAdmin", facts.ErrNotAdmin},
		{"ErrBadTransition", facts.ErrBadTransition}, {"ErrBadPayload", facts.ErrBadPayload},
		{"ErrBadSignature", facts.ErrBadSignature}, {"ErrWrongNetwork", facts.ErrWrongNetwork},
	} {
		if errors.Is(v.Reason, s.err) {
			return v.Result.String() + " " + s.name
		}
	}
	return v.String()
}
