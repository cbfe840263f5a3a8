package activation_test

import (
	"strings"
	"testing"

	"github.com/aura-node/aura-node/activation"
	"github.com/aura-node/aura-node/facts"
)

func TestNext(t *testing.T) {
	cutover := func(tb testing.TB, f *fixture, ms uint64) activation.Event {
		return f.upgrade(tb, "node", facts.KindTransitionChanged, ms, func(u *facts.UpgradeEvent) {
			u.Device, u.Transition, u.InFlight = "dev1", activation.CuttingOver, activation.Drain
		})
	}
	completed := func(tb testing.TB, f *fixture, ms uint64) activation.Event {
		return f.upgrade(tb, "node", facts.KindCutoverCompleted, ms, func(u *facts.UpgradeEvent) { u.Device, u.OK = "dev1", true })
	}
	gateFailed := func(tb testing.TB, f *fixture, ms uint64) activation.Event {
		return f.upgrade(tb, "node", facts.KindHealthGateResult, ms, func(u *facts.UpgradeEvent) { u.Device, u.Gate = "dev1", "readyz" })
	}
	manual := func(tb testing.TB, f *fixture) activation.Event {
		p := f.policy
		p.Rollback = activation.ManualApproval
		e, err := policyEvent(tb, "node", facts.MakeTimestamp(0, 1), p)
		if err != nil {
			tb.Fatal(err)
		}
		return e
	}
	for _, tc := range []struct {
		name   string
		opt    fixtureOpt
		mod    func(t *testing.T, f *fixture)
		action activation.StepAction
		reason string
	}{
		{"activate cuts over", fixtureOpt{}, nil, activation.Cutover, "every check passes"},
		{"staging not recorded", fixtureOpt{events: noEvents}, nil, activation.StageRelease, "record the staging"},
		{"artifacts fetched, not staged", fixtureOpt{}, func(t *testing.T, f *fixture) {
			a := f.ev.Artifacts["aura-node-linux-amd64"]
			a.State = activation.ArtifactFetched
			f.ev.Artifacts["aura-node-linux-amd64"] = a
			f.setScope(t)
		}, activation.StageRelease, "stage"},
		{"staged, waiting for the window", fixtureOpt{}, func(t *testing.T, f *fixture) {
			f.policy.Window = &activation.Window{NotBeforeUnixMs: now + 1}
		}, activation.Wait, "activation waits: activation-window[absolute]: opens at"},
		{"deny waits with the reason", fixtureOpt{}, func(t *testing.T, f *fixture) { f.policy.TrustedReleaseAuthorities = nil },
			activation.Wait, "deny: release-authority: declared only by untrusted"},
		{"busy device waits", fixtureOpt{events: func(tb testing.TB, f *fixture) []activation.Event {
			return []activation.Event{f.staging(tb, "node", "dev1", 1), cutover(tb, f, 2)}
		}}, nil, activation.Wait, "the launcher is cutting over to"},
		{"automatic failure rolls back", fixtureOpt{events: func(tb testing.TB, f *fixture) []activation.Event {
			return []activation.Event{f.staging(tb, "node", "dev1", 1), cutover(tb, f, 2), completed(tb, f, 3), gateFailed(tb, f, 4)}
		}}, nil, activation.Rollback, "no longer accepts"},
		{"manual failure waits for approval", fixtureOpt{events: func(tb testing.TB, f *fixture) []activation.Event {
			return []activation.Event{manual(tb, f), f.staging(tb, "node", "dev1", 1), cutover(tb, f, 2), completed(tb, f, 3), gateFailed(tb, f, 4)}
		}}, nil, activation.Wait, "awaits the owner's approval"},
		{"already running", fixtureOpt{events: func(tb testing.TB, f *fixture) []activation.Event {
			return []activation.Event{f.staging(tb, "node", "dev1", 1), cutover(tb, f, 2), completed(tb, f, 3)}
		}}, func(t *testing.T, f *fixture) { f.ev.Running = activation.Running{Release: f.id, Version: "1.1.0"} },
			activation.Wait, "already runs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.opt)
			if tc.mod != nil {
				tc.mod(t, f)
			}
			d := f.evaluate()
			step := activation.Next(f.ev.Scope, auth("node"), "dev1", d)
			if step.Action != tc.action || !strings.Contains(step.Reason, tc.reason) {
				t.Fatalf("step %v %q, want %v mentioning %q\n%s", step.Action, step.Reason, tc.action, tc.reason, checkList(d))
			}
			if step.Action == activation.Cutover && (len(step.Plan.InFlight) == 0 || step.Release != f.id) {
				t.Fatalf("cutover step without a plan: %+v", step)
			}
			if step.Action == activation.Rollback && step.Release != f.id {
				t.Fatalf("rollback of %s", step.Release.Short())
			}
		})
	}
	// A device the scope does not know yet stages.
	f := newFixture(t, fixtureOpt{})
	empty := activation.NewReducer().Status(f.cand.Scope)
	if s := activation.Next(&empty, auth("node"), "dev1", f.evaluate()); s.Action != activation.StageRelease {
		t.Fatalf("unknown device: %v", s.Action)
	}
}
