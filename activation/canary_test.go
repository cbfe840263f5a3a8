package activation_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/aura-node/aura-node/activation"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/release"
)

func fleetScope() activation.Scope { return activation.ContextScope(auth("o"), "fleet") }

// otherDevice returns the events of device dev0 of authority "other"
// in the fixture's scope: its staging, then as far as upto says
// ("cutover", "complete", "healthy").
func otherDevice(tb testing.TB, f *fixture, upto string) []activation.Event {
	dev := func(kind facts.Kind, ms uint64, mod func(u *facts.UpgradeEvent)) activation.Event {
		return f.upgrade(tb, "other", kind, ms, func(u *facts.UpgradeEvent) { u.Device = "dev0"; mod(u) })
	}
	evs := []activation.Event{f.staging(tb, "other", "dev0", 1)}
	steps := []activation.Event{
		dev(facts.KindTransitionChanged, 2, func(u *facts.UpgradeEvent) { u.Transition, u.InFlight = activation.CuttingOver, activation.Drain }),
		dev(facts.KindCutoverCompleted, 3, func(u *facts.UpgradeEvent) { u.OK = true }),
		dev(facts.KindHealthGateResult, 4, func(u *facts.UpgradeEvent) { u.Gate, u.OK = "healthz", true }),
		dev(facts.KindHealthGateResult, 5, func(u *facts.UpgradeEvent) { u.Gate, u.OK = "readyz", true }),
	}
	n := map[string]int{"": 0, "cutover": 1, "complete": 2, "healthy": 4}[upto]
	return append(evs, steps[:n]...)
}

func TestEvaluateCanaryWave(t *testing.T) {
	fleet := func(upto string, mine bool) fixtureOpt {
		return fixtureOpt{scope: fleetScope(), events: func(tb testing.TB, f *fixture) []activation.Event {
			evs := otherDevice(tb, f, upto)
			if mine {
				evs = append(evs, f.staging(tb, "node", "dev1", 10))
			}
			return evs
		}}
	}
	runEvalCases(t, []evalCase{
		{name: "the only ready device is the canary", opt: fixtureOpt{scope: fleetScope()},
			verdict: activation.Activate, check: activation.CheckCanary, result: activation.Pass, text: "this device is canary 1 of 1 for 1.1.0"},
		{name: "another device began: wait for it", opt: fleet("cutover", true),
			verdict: activation.Stage, check: activation.CheckCanary, text: "waits for the canary wave: needs 1 devices healthy on 1.1.0 (every gate passed), has 0; canaries: dev0 (cutting over)"},
		{name: "the canary runs it, gates pending", opt: fleet("complete", true),
			verdict: activation.Stage, check: activation.CheckCanary, text: "canaries: dev0 (running)"},
		{name: "the canary runs it healthy: the wave passed", opt: fleet("healthy", true),
			verdict: activation.Activate, check: activation.CheckCanary, result: activation.Pass, text: "the canary wave passed: 1 devices healthy on 1.1.0 (wave of 1)"},
		{name: "a wave of two takes both", opt: fleet("cutover", true), mod: func(t *testing.T, f *fixture) { f.policy.Canary = 2 },
			verdict: activation.Activate, check: activation.CheckCanary, result: activation.Pass, text: "this device is canary 2 of 2"},
		{name: "not staged, no place left", opt: fleet("", false),
			verdict: activation.Stage, check: activation.CheckCanary, text: "has 0; canaries: dev0 (ready)"},
		{name: "not staged while a place is free", opt: fleet("", false), mod: func(t *testing.T, f *fixture) { f.policy.Canary = 2 },
			verdict: activation.Stage, check: activation.CheckCanary, text: "the canary wave of 2 forms from the devices that staged 1.1.0, and this device has not (canaries so far: dev0 (ready))"},
		{name: "canary 0: no wave", opt: fleet("cutover", true), mod: func(t *testing.T, f *fixture) { f.policy.Canary = 0 },
			verdict: activation.Activate, check: activation.CheckCanary, result: activation.Skip, text: "no canary wave (canary 0)"},
		{name: "device scope: no wave", verdict: activation.Activate, check: activation.CheckCanary, result: activation.Skip, text: "canary 0"},
		{name: "no manifest", opt: fleet("cutover", true), mod: func(t *testing.T, f *fixture) { f.cand.Release = release.Entry{ID: f.id} },
			verdict: activation.Defer, check: activation.CheckCanary, result: activation.Skip, text: "no verified manifest"},
		{name: "hard fork: no wave", opt: fixtureOpt{
			scope:    activation.AuthorityScope(auth("node")),
			manifest: func(m *release.Manifest) { m.Compatibility.Class = release.ScopedHardFork },
			policy: func(p *activation.Policy) {
				p.AllowedClasses = []release.CompatibilityClass{release.ScopedHardFork}
			},
			events: func(tb testing.TB, f *fixture) []activation.Event {
				// Another device of the authority began its cutover.
				e := f.upgrade(tb, "node", facts.KindTransitionChanged, 2, func(u *facts.UpgradeEvent) {
					u.Device, u.Transition, u.InFlight = "dev0", activation.CuttingOver, activation.Drain
				})
				return []activation.Event{f.staging(tb, "node", "dev0", 1), e, f.staging(tb, "node", "dev1", 3)}
			}},
			verdict: activation.Activate, check: activation.CheckCanary, result: activation.Skip, text: "ScopedHardFork: no canary wave for a hard fork"},
	})
}

func TestCanaryWaveDecision(t *testing.T) {
	f := newFixture(t, fixtureOpt{scope: fleetScope(), events: func(tb testing.TB, f *fixture) []activation.Event {
		return append(otherDevice(tb, f, "cutover"), f.staging(tb, "node", "dev1", 10))
	}})
	d := f.evaluate()
	w := d.Wave
	if w == nil || w.Size != 1 || w.Healthy != 0 || w.Open() || len(w.Canaries) != 1 || w.Canaries[0].Device != "dev0" || w.Canaries[0].State != "cutting over" {
		t.Fatalf("wave %+v", w)
	}
	if !w.IsCanary(auth("other"), "dev0") || w.IsCanary(auth("node"), "dev1") {
		t.Fatal("IsCanary")
	}
	// Next waits, naming the canary.
	step := activation.Next(f.ev.Scope, auth("node"), "dev1", d)
	if step.Action != activation.Wait || !strings.Contains(step.Reason, "canary-wave") || !strings.Contains(step.Reason, "dev0 (cutting over)") {
		t.Fatalf("step %v %q", step.Action, step.Reason)
	}
	// Canary 0 and hard forks leave Wave nil.
	f.policy.Canary = 0
	if d := f.evaluate(); d.Wave != nil {
		t.Fatalf("canary 0: wave %+v", d.Wave)
	}
	// No state: an empty wave that has not passed.
	if w := activation.CanaryWave(nil, f.id, 2); w.Open() || len(w.Canaries) != 0 {
		t.Fatalf("nil state: %+v", w)
	}
	if w := activation.CanaryWave(nil, f.id, 0); !w.Open() {
		t.Fatal("a wave of 0 is open")
	}
}

// A hard fork's plan says why the policy's canary does not apply; a soft
// fork's and a hard fork's under canary 0 say nothing of it.
func TestHardForkPlanNotesNoCanary(t *testing.T) {
	hard := fixtureOpt{
		scope:    activation.AuthorityScope(auth("node")),
		manifest: func(m *release.Manifest) { m.Compatibility.Class = release.ScopedHardFork },
		policy:   func(p *activation.Policy) { p.AllowedClasses = []release.CompatibilityClass{release.ScopedHardFork} },
	}
	noted := func(d activation.Decision) bool {
		return slices.ContainsFunc(d.Plan.Notes, func(n string) bool { return strings.Contains(n, "no canary wave for a hard fork") })
	}
	f := newFixture(t, hard)
	if d := f.evaluate(); !noted(d) || d.Wave != nil || d.Verdict != activation.Activate {
		t.Fatalf("hard fork: %v notes %q wave %+v", d.Verdict, d.Plan.Notes, d.Wave)
	}
	f.policy.Canary = 0
	if d := f.evaluate(); noted(d) {
		t.Fatalf("hard fork, canary 0: notes %q", d.Plan.Notes)
	}
	if d := newFixture(t, fixtureOpt{scope: fleetScope()}).evaluate(); noted(d) {
		t.Fatalf("soft fork: notes %q", d.Plan.Notes)
	}
}
