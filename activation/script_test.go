package activation_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/aura-node/aura-node/activation"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/release"
)

// TestScripts drives the Reducer with the datadriven scripts in
// testdata/machine. Every event is a signed fact turned into an Event by
// EventFromFact, as the node does. Commands:
//
//	scope kind=device|authority|context|quorum owner=A [id=ID] [participants=(A,...)]
//	                           the scope of the following commands
//	policy [author=A] [rollback=automatic|manual] [fence] [classes=(soft,mixed,hard,partition)] [t=MS]
//	                           publish DefaultPolicy(scope) with changes (author: the owner)
//	VERB author=A [device=D] [release=R] [args] [t=MS] [epoch=E] [name=N]
//	                           sign and apply one upgrade event; prints its outcome
//	check VERB ...             the same, through Reducer.Check (nothing applied)
//	redeliver name=N           apply a named event again
//	status                     the scope's state
//	replay [n=K]               re-apply every event so far in K random orders (default 24)
//	                           to fresh reducers; fails unless every status is identical
//
// Verbs and their arguments (device events need device=, the rest not):
//
//	enter [version=V]                         ScopeEntered (release optional: running release)
//	stage version=V [class=C] [gates=(G,...)] UpgradeStaged (class default soft)
//	cutover [inflight=drain|abort|delegate]   TransitionChanged CuttingOver
//	complete [fail]                           CutoverCompleted
//	gate gate=G [fail]                        HealthGateResult
//	rollback-begin                            TransitionChanged RollingBack (device)
//	rolled-back                               RollbackExecuted
//	residency to=legacy|target                ResidencyChanged
//	partition                                 PartitionObserved
//	approve [fence=E]                         CutoverApproved
//	cancel                                    TransitionChanged Idle
//	revoke                                    TransitionChanged RollingBack + ReleaseRevoked
//	request-rollback                          TransitionChanged RollingBack + ManualRollbackRequested
//	approve-rollback                          TransitionChanged RollingBack
//
// Authorities, devices and releases are names; release R's ID is
// sha256("release R"). Output replaces IDs by their names. Timestamps
// increase by one millisecond per event unless t= is given (equal
// timestamps are ordered by fact CID).
//
// Rewrite expected output with go test ./activation -run TestScripts -rewrite.
func TestScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/machine", func(t *testing.T, path string) {
		h := &harness{r: activation.NewReducer(), names: map[string]string{}, byName: map[string]activation.Event{}, clock: 1000}
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			return h.run(t, td)
		})
	})
}

type harness struct {
	r      *activation.Reducer
	scope  facts.Scope
	events []activation.Event
	byName map[string]activation.Event
	names  map[string]string // printed form -> name
	clock  uint64
	n      int
}

func (h *harness) auth(name string) facts.AuthorityID {
	a := auth(name)
	h.names[a.String()] = name
	h.names[a.Short()] = name
	return a
}

func (h *harness) release(name string) release.ID {
	id := release.ID(sha256.Sum256([]byte("release " + name)))
	h.names[id.Short()] = name
	h.names[id.String()] = name
	return id
}

// clean replaces IDs by names, longest first so that a full ID is
// replaced before its short form.
func (h *harness) clean(s string) string {
	keys := make([]string, 0, len(h.names))
	for k := range h.names {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return len(keys[i]) > len(keys[j]) || (len(keys[i]) == len(keys[j]) && keys[i] < keys[j])
	})
	pairs := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		pairs = append(pairs, k, h.names[k])
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

func (h *harness) run(t *testing.T, td *datadriven.TestData) string {
	switch td.Cmd {
	case "scope":
		var kind, owner, id string
		td.ScanArgs(t, "kind", &kind)
		td.ScanArgs(t, "owner", &owner)
		td.MaybeScanArgs(t, "id", &id)
		o := h.auth(owner)
		switch kind {
		case "device":
			h.scope = activation.DeviceScope(o, id)
		case "authority":
			h.scope = activation.AuthorityScope(o)
		case "context":
			h.scope = activation.ContextScope(o, id)
		case "quorum":
			arg, _ := td.Arg("participants")
			var ps []facts.AuthorityID
			for _, p := range arg.Vals {
				ps = append(ps, h.auth(p))
			}
			h.scope = activation.QuorumScope(o, id, ps...)
		default:
			t.Fatalf("unknown scope kind %q", kind)
		}
		return h.clean(h.scope.Short()) + "\n"

	case "policy":
		p := activation.DefaultPolicy(h.scope)
		author := h.names[h.scope.Owner.String()]
		td.MaybeScanArgs(t, "author", &author)
		var rb string
		if td.MaybeScanArgs(t, "rollback", &rb) {
			pref, err := activation.ParseRollbackPreference(rb)
			if err != nil {
				t.Fatal(err)
			}
			p.Rollback = pref
		}
		p.EpochFence = td.HasArg("fence")
		if arg, ok := td.Arg("classes"); ok {
			p.AllowedClasses = nil
			for _, c := range arg.Vals {
				p.AllowedClasses = append(p.AllowedClasses, parseClass(t, c))
			}
			p.Normalize()
		}
		e, err := policyEvent(t, author, h.timestamp(t, td), p)
		if err != nil {
			return h.errString(err)
		}
		return h.applyNamed(t, td, e)

	case "check":
		e, err := h.upgradeEvent(t, td, td.CmdArgs[0].Key, td.CmdArgs[1:])
		if err != nil {
			return h.errString(err)
		}
		res, err := h.r.Check(e)
		if err != nil {
			return h.errString(err)
		}
		return h.result(res)

	case "redeliver":
		var name string
		td.ScanArgs(t, "name", &name)
		e, ok := h.byName[name]
		if !ok {
			t.Fatalf("no event %q", name)
		}
		res, err := h.r.Apply(e)
		if err != nil {
			return h.errString(err)
		}
		return h.result(res)

	case "status":
		return h.status(h.r)

	case "replay":
		n := 24
		td.MaybeScanArgs(t, "n", &n)
		want := h.r.Status(h.scope)
		rng := rand.New(rand.NewPCG(uint64(len(h.events)), 7))
		for i := range n {
			perm := rng.Perm(len(h.events))
			r := activation.NewReducer()
			for _, j := range perm {
				if _, err := r.Apply(h.events[j]); err != nil {
					t.Fatalf("order %d: %v", i, err)
				}
				// Duplicates change nothing.
				if j%3 == 0 {
					r.Apply(h.events[j])
				}
			}
			if got := r.Status(h.scope); !reflect.DeepEqual(got, want) {
				t.Fatalf("order %d (%v) gives another status:\n%s\nwant:\n%s", i, perm, h.status(r), h.status(h.r))
			}
		}
		return fmt.Sprintf("same status in %d orders of %d events\n", n, len(h.events))
	}
	e, err := h.upgradeEvent(t, td, td.Cmd, td.CmdArgs)
	if err != nil {
		return h.errString(err)
	}
	return h.applyNamed(t, td, e)
}

func (h *harness) applyNamed(t *testing.T, td *datadriven.TestData, e activation.Event) string {
	h.n++
	name := fmt.Sprintf("e%d", h.n)
	td.MaybeScanArgs(t, "name", &name)
	h.names[e.Fact.String()] = name
	h.byName[name] = e
	res, err := h.r.Apply(e)
	if err != nil {
		return h.errString(err)
	}
	h.events = append(h.events, e)
	return h.result(res)
}

func (h *harness) timestamp(t *testing.T, td *datadriven.TestData) facts.Timestamp {
	ms := h.clock + 1
	td.MaybeScanArgs(t, "t", &ms)
	if ms > h.clock {
		h.clock = ms
	}
	return facts.MakeTimestamp(ms, 0)
}

func parseClass(t *testing.T, s string) release.CompatibilityClass {
	switch s {
	case "soft":
		return release.BackwardCompatible
	case "mixed":
		return release.MixedCoexistenceAllowed
	case "hard":
		return release.ScopedHardFork
	case "partition":
		return release.IncompatibleWithoutPartition
	}
	t.Fatalf("unknown class %q", s)
	return 0
}

func (h *harness) upgradeEvent(t *testing.T, td *datadriven.TestData, verb string, args []datadriven.CmdArg) (activation.Event, error) {
	get := func(key string) (string, bool) {
		for _, a := range args {
			if a.Key == key {
				if len(a.Vals) == 0 {
					return "", true
				}
				return a.Vals[0], true
			}
		}
		return "", false
	}
	vals := func(key string) []string {
		for _, a := range args {
			if a.Key == key {
				return a.Vals
			}
		}
		return nil
	}
	author, ok := get("author")
	if !ok {
		t.Fatalf("%s needs author=", verb)
	}
	h.auth(author)
	u := &facts.UpgradeEvent{Scope: h.scope, ReleaseID: make([]byte, 32)}
	if r, ok := get("release"); ok {
		id := h.release(r)
		u.ReleaseID = id[:]
	}
	u.Device, _ = get("device")
	u.Detail, _ = get("detail")
	_, fail := get("fail")
	var kind facts.Kind
	switch verb {
	case "enter":
		kind = facts.KindScopeEntered
		u.Version, _ = get("version")
	case "stage":
		kind = facts.KindUpgradeStaged
		u.Version, _ = get("version")
		class := "soft"
		if c, ok := get("class"); ok {
			class = c
		}
		u.Class = uint8(parseClass(t, class))
		u.Gates = vals("gates")
	case "cutover":
		kind, u.Transition = facts.KindTransitionChanged, activation.CuttingOver
		if a, ok := get("inflight"); ok {
			act, err := facts.ParseInFlightAction(a)
			if err != nil {
				t.Fatal(err)
			}
			u.InFlight = act
		}
	case "complete":
		kind = facts.KindCutoverCompleted
		if fail {
			u.Failure = activation.LauncherActivationFailed
		} else {
			u.OK = true
		}
	case "gate":
		kind = facts.KindHealthGateResult
		u.Gate, _ = get("gate")
		u.OK = !fail
	case "rollback-begin":
		kind, u.Transition = facts.KindTransitionChanged, activation.RollingBack
	case "rolled-back":
		kind = facts.KindRollbackExecuted
	case "residency":
		kind = facts.KindResidencyChanged
		to, _ := get("to")
		u.Residency = map[string]facts.Residency{"legacy": activation.LegacyOnly, "target": activation.TargetOnly}[to]
	case "partition":
		kind = facts.KindPartitionObserved
	case "approve":
		kind = facts.KindCutoverApproved
		if f, ok := get("fence"); ok {
			fmt.Sscan(f, &u.FenceEpoch)
		}
	case "cancel":
		kind, u.Transition = facts.KindTransitionChanged, activation.Idle
	case "revoke":
		kind, u.Transition, u.Failure = facts.KindTransitionChanged, activation.RollingBack, activation.ReleaseRevoked
	case "request-rollback":
		kind, u.Transition, u.Failure = facts.KindTransitionChanged, activation.RollingBack, activation.ManualRollbackRequested
	case "approve-rollback":
		kind, u.Transition = facts.KindTransitionChanged, activation.RollingBack
	default:
		t.Fatalf("unknown verb %q", verb)
	}
	var epoch uint64
	if e, ok := get("epoch"); ok {
		fmt.Sscan(e, &epoch)
	}
	ms := h.clock + 1
	if s, ok := get("t"); ok {
		fmt.Sscan(s, &ms)
	}
	if ms > h.clock {
		h.clock = ms
	}
	return signEvent(t, author, kind, epoch, facts.MakeTimestamp(ms, 0), u)
}

func (h *harness) result(r activation.Result) string {
	if r.Reason == "" {
		return r.Outcome.String() + "\n"
	}
	return h.clean(fmt.Sprintf("%s: %s\n", r.Outcome, r.Reason))
}

// errString prints an error with the name of its sentinel.
func (h *harness) errString(err error) string {
	for _, s := range []struct {
		name string
		err  error
	}{
		{"ErrUnauthorised", activation.ErrUnauthorised}, {"ErrInvalidEvent", activation.ErrInvalidEvent},
		{"ErrInvalidPolicy", activation.ErrInvalidPolicy}, {"ErrIllegal", activation.ErrIllegal},
		{"ErrBadPayload", facts.ErrBadPayload},
	} {
		if errors.Is(err, s.err) {
			return h.clean(fmt.Sprintf("error (%s): %v\n", s.name, err))
		}
	}
	return h.clean(fmt.Sprintf("error: %v\n", err))
}

func (h *harness) ref(r activation.ReleaseRef) string {
	if r.ID.IsZero() {
		return "-"
	}
	return r.ID.Short()
}

func (h *harness) status(r *activation.Reducer) string {
	s := r.Status(h.scope)
	var b strings.Builder
	fmt.Fprintf(&b, "%v/%v ready=%d/%d\n", s.Residency, s.Transition, s.Ready, s.Total)
	target := func(label string, t activation.TargetStatus) {
		fmt.Fprintf(&b, "%s %s %s %v state=%v rollback=%v", label, t.Release.ID.Short(), t.Release.Version, t.Release.Class, t.State, t.Rollback)
		if h.scope.Kind == activation.ManagedQuorum {
			fmt.Fprintf(&b, " approvals=%d/%d missing=(%s)", len(t.Approved), s.Threshold(), h.authList(t.Missing))
		}
		if t.Fence != nil {
			fmt.Fprintf(&b, " fence=%d", *t.Fence)
		}
		b.WriteByte('\n')
		if t.Cancelled != "" {
			fmt.Fprintf(&b, "  cancelled: %s\n", t.Cancelled)
		}
		if f := t.Failure; f != nil {
			fmt.Fprintf(&b, "  failure %v: %s (by %s)\n", f.Class, f.Detail, h.names[f.By.Fact])
		}
	}
	for _, t := range s.History {
		target("history", t)
	}
	if s.Target != nil {
		target("target", *s.Target)
	}
	for _, d := range s.Devices {
		fmt.Fprintf(&b, "device %s/%s runs=%s", d.Authority.Short(), d.Device, h.ref(d.Running))
		if !d.Previous.ID.IsZero() {
			fmt.Fprintf(&b, " prev=%s", h.ref(d.Previous))
		}
		if d.Doing != activation.Idle {
			fmt.Fprintf(&b, " doing=%v:%s", d.Doing, d.DoingRelease.Short())
			if d.InFlight != 0 {
				fmt.Fprintf(&b, "/%v", d.InFlight)
			}
		}
		var staged []string
		for _, id := range d.Staged {
			staged = append(staged, id.Short())
		}
		fmt.Fprintf(&b, " staged=(%s)", strings.Join(staged, ","))
		for _, flag := range []struct {
			on   bool
			name string
		}{{d.StagedTarget, "ready"}, {d.OnTarget, "on-target"}, {d.Healthy, "healthy"}, {d.MustRollBack, "MUST-ROLL-BACK"}} {
			if flag.on {
				b.WriteString(" " + flag.name)
			}
		}
		if len(d.Gates) > 0 {
			var gs []string
			for _, g := range d.Gates {
				gs = append(gs, g.Name+":"+g.State.String())
			}
			fmt.Fprintf(&b, " gates=(%s)", strings.Join(gs, ","))
		}
		if d.Partitions > 0 {
			fmt.Fprintf(&b, " partitions=%d", d.Partitions)
		}
		if d.Failure != nil {
			fmt.Fprintf(&b, " failure=%v", d.Failure.Class)
		}
		b.WriteByte('\n')
	}
	for _, rf := range s.Refused {
		fmt.Fprintf(&b, "refused %s: %s\n", h.names[rf.Event.Fact], rf.Reason)
	}
	for _, n := range s.Notes {
		fmt.Fprintf(&b, "noted %s: %s\n", h.names[n.Event.Fact], n.Reason)
	}
	return h.clean(b.String())
}

func (h *harness) authList(as []facts.AuthorityID) string {
	var out []string
	for _, a := range as {
		out = append(out, a.Short())
	}
	return strings.Join(out, ",")
}
