package activation_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/aura-node/aura-node/activation"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/release"
)

// TestWaveScripts drives canary waves end to end in the pure core: the
// Reducer folds signed facts, and every device of the scope evaluates
// the release (Evaluate) and asks Next what to do, as a node does each
// tick. Scripts are in testdata/wave. Commands:
//
//	setup devices=(A/D,...) [scope=context|quorum] [class=soft|mixed|hard|partition]
//	      [canary=N] [rollback=automatic|manual]
//	                   a scope owned by o (a quorum of the devices'
//	                   authorities), its policy (DefaultPolicy with canary
//	                   N, default DefaultPolicy's) published, release R
//	                   (1.1.0 of the class, by trusted authority rel);
//	                   every device runs R0 (1.0.0)
//	enter|stage|cutover|complete [fail]|gate gate=G [fail]|healthy|rolled-back device=D
//	                   the device's fact (healthy: both its gates pass)
//	approve author=A   a participant's approval of R
//	next [device=D]    each device's (or one device's) next step
//	wave               the canary wave as the scope state shows it
//	status             the scope's summary line
//	shuffle [n=K]      fold every fact so far in K random orders (default
//	                   16): every device's next step must be the same
//
// Rewrite expected output with go test ./activation -run TestWaveScripts -rewrite.
func TestWaveScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/wave", func(t *testing.T, path string) {
		w := &waveHarness{harness: &harness{names: map[string]string{}}}
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			return w.run(t, td)
		})
	})
}

type waveDevice struct {
	author, name string
}

type waveHarness struct {
	*harness
	devices []waveDevice
	policy  activation.Policy
	cat     *release.Catalogue
	m       release.Manifest
	id, r0  release.ID
	events  []activation.Event
	clock   uint64
}

func (w *waveHarness) run(t *testing.T, td *datadriven.TestData) string {
	switch td.Cmd {
	case "setup":
		w.setup(t, td)
		return w.clean(fmt.Sprintf("%s canary=%d class=%v\n", w.scope.Short(), w.policy.Canary, w.m.Compatibility.Class))
	case "next":
		var only string
		td.MaybeScanArgs(t, "device", &only)
		return w.clean(w.steps(t, w.reduce(t, w.events), only))
	case "status":
		st := w.reduce(t, w.events).Status(w.scope)
		return w.clean(st.Summary() + "\n")
	case "wave":
		st := w.reduce(t, w.events).Status(w.scope)
		wave := activation.CanaryWave(&st, w.id, int(w.policy.Canary))
		var b strings.Builder
		fmt.Fprintf(&b, "size=%d healthy=%d open=%v\n", wave.Size, wave.Healthy, wave.Open())
		for i, c := range wave.Canaries {
			fmt.Fprintf(&b, "canary %d: %s/%s %s\n", i+1, c.Authority.Short(), c.Device, c.State)
		}
		return w.clean(b.String())
	case "shuffle":
		n := 16
		td.MaybeScanArgs(t, "n", &n)
		want := w.steps(t, w.reduce(t, w.events), "")
		rng := rand.New(rand.NewPCG(uint64(len(w.events)), 11))
		for i := range n {
			perm := rng.Perm(len(w.events))
			shuffled := make([]activation.Event, len(perm))
			for j, k := range perm {
				shuffled[j] = w.events[k]
			}
			if got := w.steps(t, w.reduce(t, shuffled), ""); got != want {
				t.Fatalf("order %d (%v) gives other steps:\n%s\nwant:\n%s", i, perm, w.clean(got), w.clean(want))
			}
		}
		return fmt.Sprintf("same steps in %d orders of %d facts\n", n, len(w.events))
	case "approve":
		var author string
		td.ScanArgs(t, "author", &author)
		return w.apply(t, w.event(t, author, facts.KindCutoverApproved, func(u *facts.UpgradeEvent) {}))
	}
	var name string
	td.ScanArgs(t, "device", &name)
	d := w.device(t, name)
	dev := func(mod func(u *facts.UpgradeEvent)) func(u *facts.UpgradeEvent) {
		return func(u *facts.UpgradeEvent) {
			u.Device = d.name
			mod(u)
		}
	}
	switch td.Cmd {
	case "enter":
		return w.apply(t, w.event(t, d.author, facts.KindScopeEntered, dev(func(u *facts.UpgradeEvent) {
			u.ReleaseID, u.Version = w.r0[:], "1.0.0"
		})))
	case "stage":
		return w.apply(t, w.event(t, d.author, facts.KindUpgradeStaged, dev(func(u *facts.UpgradeEvent) {
			u.Version, u.Class, u.Gates = w.m.Version, uint8(w.m.Compatibility.Class), []string{"healthz", "readyz"}
		})))
	case "cutover":
		return w.apply(t, w.event(t, d.author, facts.KindTransitionChanged, dev(func(u *facts.UpgradeEvent) {
			u.Transition, u.InFlight = activation.CuttingOver, activation.Drain
		})))
	case "complete":
		return w.apply(t, w.event(t, d.author, facts.KindCutoverCompleted, dev(func(u *facts.UpgradeEvent) {
			if td.HasArg("fail") {
				u.Failure, u.Detail = activation.LauncherActivationFailed, "the new build exited at start"
			} else {
				u.OK = true
			}
		})))
	case "gate", "healthy":
		gates := []string{"healthz", "readyz"}
		if td.Cmd == "gate" {
			var g string
			td.ScanArgs(t, "gate", &g)
			gates = []string{g}
		}
		var out strings.Builder
		for _, g := range gates {
			out.WriteString(w.apply(t, w.event(t, d.author, facts.KindHealthGateResult, dev(func(u *facts.UpgradeEvent) {
				u.Gate, u.OK = g, !td.HasArg("fail")
			}))))
		}
		return out.String()
	case "rolled-back":
		return w.apply(t, w.event(t, d.author, facts.KindRollbackExecuted, dev(func(u *facts.UpgradeEvent) {})))
	}
	t.Fatalf("unknown command %q", td.Cmd)
	return ""
}

func (w *waveHarness) setup(t *testing.T, td *datadriven.TestData) {
	arg, ok := td.Arg("devices")
	if !ok {
		t.Fatal("setup needs devices=")
	}
	w.devices, w.events, w.clock = nil, nil, 1000
	var authors []facts.AuthorityID
	for _, v := range arg.Vals {
		a, n, ok := strings.Cut(v, "/")
		if !ok {
			t.Fatalf("device %q: want AUTHOR/DEVICE", v)
		}
		w.devices = append(w.devices, waveDevice{author: a, name: n})
		authors = append(authors, w.auth(a))
	}
	kind, class := "context", "soft"
	td.MaybeScanArgs(t, "scope", &kind)
	td.MaybeScanArgs(t, "class", &class)
	switch kind {
	case "context":
		w.scope = activation.ContextScope(w.auth("o"), "fleet")
	case "quorum":
		w.scope = activation.QuorumScope(w.auth("o"), "fleet", authors...)
	default:
		t.Fatalf("scope %q: want context or quorum", kind)
	}
	w.m = testManifest("rel", "1.1.0", "wave")
	w.m.Compatibility.Class = parseClass(t, class)
	w.cat = release.NewCatalogue()
	decl := declare(t, "rel", w.m)
	w.id = decl.Release
	d0 := declare(t, "rel", testManifest("rel", "1.0.0", "wave0"))
	w.r0 = d0.Release
	mustApply(t, w.cat, decl, d0)
	w.names[w.id.Short()], w.names[w.id.String()] = "R", "R"
	w.names[w.r0.Short()], w.names[w.r0.String()] = "R0", "R0"
	w.auth("rel")

	w.policy = activation.DefaultPolicy(w.scope)
	w.policy.TrustedReleaseAuthorities = auths("rel")
	w.policy.AllowedClasses = []release.CompatibilityClass{release.BackwardCompatible, release.MixedCoexistenceAllowed, release.ScopedHardFork, release.IncompatibleWithoutPartition}
	td.MaybeScanArgs(t, "canary", &w.policy.Canary)
	var rb string
	if td.MaybeScanArgs(t, "rollback", &rb) {
		pref, err := activation.ParseRollbackPreference(rb)
		if err != nil {
			t.Fatal(err)
		}
		w.policy.Rollback = pref
	}
	w.policy.Normalize()
	w.clock++
	e, err := policyEvent(t, "o", facts.MakeTimestamp(w.clock, 0), w.policy)
	if err != nil {
		t.Fatal(err)
	}
	w.events = append(w.events, e)
}

func (w *waveHarness) device(t *testing.T, name string) waveDevice {
	for _, d := range w.devices {
		if d.name == name {
			return d
		}
	}
	t.Fatalf("no device %q", name)
	return waveDevice{}
}

func (w *waveHarness) event(t *testing.T, author string, kind facts.Kind, mod func(u *facts.UpgradeEvent)) activation.Event {
	u := &facts.UpgradeEvent{Scope: w.scope, ReleaseID: w.id[:]}
	mod(u)
	w.clock++
	e, err := signEvent(t, author, kind, 0, facts.MakeTimestamp(w.clock, 0), u)
	if err != nil {
		t.Fatalf("%v: %v", kind, err)
	}
	return e
}

// apply checks the event against the state so far, records it, and
// prints what the reduction did with it.
func (w *waveHarness) apply(t *testing.T, e activation.Event) string {
	res, err := w.reduce(t, w.events).Apply(e)
	if err != nil {
		return w.errString(err)
	}
	w.events = append(w.events, e)
	return w.result(res)
}

func (w *waveHarness) reduce(t *testing.T, events []activation.Event) *activation.Reducer {
	r := activation.NewReducer()
	for _, e := range events {
		if _, err := r.Apply(e); err != nil {
			t.Fatalf("apply: %v", err)
		}
	}
	return r
}

// steps evaluates R for every device (or only one) against the scope's
// state and returns each one's next step.
func (w *waveHarness) steps(t *testing.T, r *activation.Reducer, only string) string {
	st := r.Status(w.scope)
	var b strings.Builder
	for _, d := range w.devices {
		if only != "" && d.name != only {
			continue
		}
		a := auth(d.author)
		running := activation.Running{Release: w.r0, Version: "1.0.0"}
		if ds, ok := st.Device(a, d.name); ok && ds.Running.ID == w.id {
			running = activation.Running{Release: w.id, Version: w.m.Version}
		}
		ev := activation.Evidence{
			Device: d.name, Authority: a, Platform: "linux/amd64", Running: running,
			Artifacts: map[string]activation.ArtifactEvidence{},
			Gates: map[string]activation.GateEvidence{
				"healthz": {State: activation.GatePassed}, "readyz": {State: activation.GatePassed},
			},
			PartitionHandling: true, Scope: &st, Releases: w.cat,
		}
		for _, art := range w.m.Artifacts {
			ev.Artifacts[art.Name] = activation.ArtifactEvidence{Root: art.Root, State: activation.ArtifactStaged}
		}
		entry, _ := w.cat.Entry(w.id)
		dec := activation.Evaluate(w.policy, activation.Candidate{Scope: w.scope, Release: entry}, ev, now)
		step := activation.Next(&st, a, d.name, dec)
		fmt.Fprintf(&b, "%s: %v: %s\n", d.name, step.Action, step.Reason)
		for _, n := range step.Plan.Notes {
			fmt.Fprintf(&b, "  note: %s\n", n)
		}
	}
	return b.String()
}
