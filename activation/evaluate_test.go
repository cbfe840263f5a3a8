package activation_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/aura-node/aura-node/activation"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/release"
)

// now is the evaluation time of the fixtures: 2027-01-15T12:00:00Z.
const now = uint64(1_800_000_000_000)

// fixture is a candidate that every check passes: a device-local scope,
// a release by a trusted authority certified by both trusted builders,
// its linux artifacts staged, its gates configured, the staging recorded.
type fixture struct {
	policy activation.Policy
	cand   activation.Candidate
	ev     activation.Evidence
	now    uint64
	cat    *release.Catalogue
	m      release.Manifest
	id     release.ID
}

type fixtureOpt struct {
	scope    activation.Scope
	manifest func(*release.Manifest)
	policy   func(*activation.Policy)
	builders []string
	// events builds the scope's events (default: the device's staging).
	events func(tb testing.TB, f *fixture) []activation.Event
}

func nodeScope() activation.Scope { return activation.DeviceScope(auth("node"), "dev1") }

func newFixture(tb testing.TB, o fixtureOpt) *fixture {
	tb.Helper()
	if o.scope.Kind == 0 {
		o.scope = nodeScope()
	}
	if o.builders == nil {
		o.builders = []string{"builder1", "builder2"}
	}
	f := &fixture{now: now, cat: release.NewCatalogue()}
	f.m = testManifest("rel", "1.1.0", "b110")
	if o.manifest != nil {
		o.manifest(&f.m)
	}
	decl := declare(tb, "rel", f.m)
	f.id = decl.Release
	mustApply(tb, f.cat, decl)
	for _, b := range o.builders {
		mustApply(tb, f.cat, certify(tb, b, f.id, f.m.Provenance))
	}
	// The running release, 1.0.0, is in the catalogue too.
	r0 := testManifest("rel", "1.0.0", "b100")
	d0 := declare(tb, "rel", r0)
	mustApply(tb, f.cat, d0)

	f.policy = activation.DefaultPolicy(o.scope)
	f.policy.TrustedReleaseAuthorities = auths("rel")
	f.policy.TrustedBuilders = auths("builder1", "builder2")
	f.policy.BuilderThreshold = 2
	f.policy.HonourSuggestedTime = true
	if o.policy != nil {
		o.policy(&f.policy)
	}
	f.policy.Normalize()
	entry, ok := f.cat.Entry(f.id)
	if !ok {
		tb.Fatal("no entry")
	}
	f.cand = activation.Candidate{Scope: o.scope, Release: entry}
	f.ev = activation.Evidence{
		Device:    "dev1",
		Authority: auth("node"),
		Platform:  "linux/amd64",
		Running:   activation.Running{Release: d0.Release, Version: "1.0.0"},
		Artifacts: map[string]activation.ArtifactEvidence{},
		Gates: map[string]activation.GateEvidence{
			"healthz": {State: activation.GatePassed},
			"readyz":  {State: activation.GatePassed},
		},
		Releases: f.cat,
	}
	for _, a := range f.m.Artifacts {
		f.ev.Artifacts[a.Name] = activation.ArtifactEvidence{Root: a.Root, State: activation.ArtifactStaged}
	}
	events := o.events
	if events == nil {
		events = func(tb testing.TB, f *fixture) []activation.Event {
			return []activation.Event{f.staging(tb, "node", "dev1", 1)}
		}
	}
	f.setScope(tb, events(tb, f)...)
	return f
}

// staging is the device's UpgradeStaged of the fixture's release.
func (f *fixture) staging(tb testing.TB, author, device string, ms uint64) activation.Event {
	tb.Helper()
	e, err := signEvent(tb, author, facts.KindUpgradeStaged, 0, facts.MakeTimestamp(ms, 0), &facts.UpgradeEvent{
		Scope: f.cand.Scope, ReleaseID: f.id[:], Device: device, Version: f.m.Version,
		Class: uint8(f.m.Compatibility.Class), Gates: []string{"healthz", "readyz"},
	})
	if err != nil {
		tb.Fatalf("staging event: %v", err)
	}
	return e
}

func (f *fixture) upgrade(tb testing.TB, author string, kind facts.Kind, ms uint64, mod func(*facts.UpgradeEvent)) activation.Event {
	tb.Helper()
	u := &facts.UpgradeEvent{Scope: f.cand.Scope, ReleaseID: f.id[:]}
	mod(u)
	e, err := signEvent(tb, author, kind, 0, facts.MakeTimestamp(ms, 0), u)
	if err != nil {
		tb.Fatalf("%v event: %v", kind, err)
	}
	return e
}

func (f *fixture) setScope(tb testing.TB, events ...activation.Event) {
	tb.Helper()
	r := activation.NewReducer()
	for _, e := range events {
		if _, err := r.Apply(e); err != nil {
			tb.Fatalf("apply: %v", err)
		}
	}
	st := r.Status(f.cand.Scope)
	f.ev.Scope = &st
}

func (f *fixture) evaluate() activation.Decision {
	return activation.Evaluate(f.policy, f.cand, f.ev, f.now)
}

func TestEvaluateBaselineActivates(t *testing.T) {
	f := newFixture(t, fixtureOpt{})
	d := f.evaluate()
	if d.Verdict != activation.Activate {
		t.Fatalf("verdict %v, want activate; failed: %v", d.Verdict, d.Failed())
	}
	if d.Manifest == nil || d.Manifest.Version != "1.1.0" || d.Release != f.id {
		t.Fatalf("decision speaks for %+v", d.Manifest)
	}
	if !slices.Equal(d.Gates, []string{"healthz", "readyz"}) {
		t.Fatalf("gates %v", d.Gates)
	}
	if len(d.Plan.InFlight) == 0 || d.Plan.RefuseIncompatibleNew {
		t.Fatalf("soft fork plan %+v", d.Plan)
	}
	// Every check runs, in the documented order, every time.
	var ids []activation.CheckID
	for _, c := range d.Checks {
		if len(ids) == 0 || ids[len(ids)-1] != c.ID {
			ids = append(ids, c.ID)
		}
	}
	want := []activation.CheckID{
		activation.CheckScope, activation.CheckPolicy, activation.CheckAuthority, activation.CheckManifest,
		activation.CheckBuilders, activation.CheckClass, activation.CheckHardFork, activation.CheckPartition,
		activation.CheckRevocation, activation.CheckSupersession, activation.CheckVersion, activation.CheckMinimumLegacy,
		activation.CheckScopeState, activation.CheckCohort, activation.CheckGate, activation.CheckArtifact,
		activation.CheckStaging, activation.CheckApprovals, activation.CheckEpochFence, activation.CheckWindow,
		activation.CheckNotBefore, activation.CheckCanary,
	}
	if !slices.Equal(ids, want) {
		t.Fatalf("checks ran in order\n%v\nwant\n%v", ids, want)
	}
	for _, c := range d.Checks {
		if c.Result == activation.Fail || c.Text == "" {
			t.Errorf("baseline check %v", c)
		}
	}
	// The darwin artifact is not this platform's: not checked.
	for _, c := range d.Checks {
		if c.ID == activation.CheckArtifact && strings.Contains(c.Subject, "darwin") {
			t.Errorf("darwin artifact checked on linux: %v", c)
		}
	}
}

// evalCase changes the baseline and names the check that must fail.
type evalCase struct {
	name    string
	opt     fixtureOpt
	mod     func(t *testing.T, f *fixture)
	verdict activation.Verdict
	check   activation.CheckID
	subject string
	result  activation.CheckResult // default Fail
	blocks  activation.Verdict     // default verdict
	text    string
}

func runEvalCases(t *testing.T, cases []evalCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.opt)
			if tc.mod != nil {
				tc.mod(t, f)
			}
			d := f.evaluate()
			if d.Verdict != tc.verdict {
				t.Errorf("verdict %v, want %v; checks:\n%s", d.Verdict, tc.verdict, checkList(d))
			}
			want := tc.result
			if want == 0 {
				want = activation.Fail
			}
			blocks := tc.blocks
			if blocks == 0 && want == activation.Fail {
				blocks = tc.verdict
			}
			for _, c := range d.Checks {
				if c.ID == tc.check && (tc.subject == "" || c.Subject == tc.subject) && c.Result == want && c.Blocks == blocks && strings.Contains(c.Text, tc.text) {
					return
				}
			}
			t.Errorf("no %v(%v) %s[%s] mentioning %q; checks:\n%s", want, blocks, tc.check, tc.subject, tc.text, checkList(d))
		})
	}
}

func checkList(d activation.Decision) string {
	var b strings.Builder
	for _, c := range d.Checks {
		b.WriteString("  " + c.String() + "\n")
	}
	return b.String()
}

func TestEvaluateScopeAndTrust(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "policy for another scope", mod: func(t *testing.T, f *fixture) { f.policy.Scope = activation.DeviceScope(auth("node"), "dev2") },
			verdict: activation.Deny, check: activation.CheckScope, text: "the policy governs"},
		{name: "not this device", mod: func(t *testing.T, f *fixture) { f.ev.Device = "dev2" },
			verdict: activation.Deny, check: activation.CheckScope, text: "is not this device"},
		{name: "not this authority", opt: fixtureOpt{scope: activation.AuthorityScope(auth("other")), events: noEvents},
			verdict: activation.Deny, check: activation.CheckScope, text: "is not this node's authority"},
		{name: "not a participant", opt: fixtureOpt{scope: activation.QuorumScope(auth("o"), "q", auths("p1", "p2")...), events: noEvents},
			verdict: activation.Deny, check: activation.CheckScope, text: "is not a participant"},
		{name: "relational context", opt: fixtureOpt{scope: activation.ContextScope(auth("o"), "ops"), events: noEvents},
			verdict: activation.Stage, check: activation.CheckScope, result: activation.Pass, text: "takes part by its configuration"},
		{name: "no device in the evidence", mod: func(t *testing.T, f *fixture) { f.ev.Device = "" },
			verdict: activation.Deny, check: activation.CheckScope, text: "names no device"},
		{name: "invalid policy", mod: func(t *testing.T, f *fixture) { f.policy.BuilderThreshold = 3 },
			verdict: activation.Deny, check: activation.CheckPolicy, text: "could never be met"},
		{name: "manual rollback policy is valid", mod: func(t *testing.T, f *fixture) { f.policy.Rollback = activation.ManualApproval },
			verdict: activation.Activate, check: activation.CheckPolicy, result: activation.Pass, text: "manual-approval"},
		{name: "not declared yet", mod: func(t *testing.T, f *fixture) { f.cand.Release = release.Entry{ID: f.id} },
			verdict: activation.Defer, check: activation.CheckAuthority, text: "no verified manifest"},
		{name: "untrusted authority", mod: func(t *testing.T, f *fixture) { f.policy.TrustedReleaseAuthorities = auths("someone") },
			verdict: activation.Deny, check: activation.CheckAuthority, text: "declared only by untrusted release authorities"},
		{name: "tampered manifest signature", mod: func(t *testing.T, f *fixture) {
			sig := slices.Clone(f.cand.Release.Declarations[0].Signed.Signature)
			sig[0] ^= 1
			f.cand.Release.Declarations[0].Signed.Signature = sig
		}, verdict: activation.Deny, check: activation.CheckManifest, text: "does not verify"},
		{name: "manifest of another release", mod: func(t *testing.T, f *fixture) {
			other := declare(t, "rel", testManifest("rel", "9.9.9", "other"))
			f.cand.Release.Declarations[0].Signed = other
		}, verdict: activation.Deny, check: activation.CheckManifest, text: "presented as"},
		{name: "manifest re-attributed", mod: func(t *testing.T, f *fixture) {
			f.policy.TrustedReleaseAuthorities = auths("rel", "mallory")
			f.policy.Normalize()
			f.cand.Release.Declarations[0].Manifest.Author = auth("mallory")
			f.cand.Release.Declarations = append(f.cand.Release.Declarations[:0:0], f.cand.Release.Declarations[0])
		}, verdict: activation.Deny, check: activation.CheckManifest, text: "is signed by"},
		{name: "one builder short", opt: fixtureOpt{builders: []string{"builder1"}},
			verdict: activation.Defer, check: activation.CheckBuilders, text: "1 of 2 required trusted builders"},
		{name: "untrusted builder does not count", opt: fixtureOpt{builders: []string{"builder1", "stranger"}},
			verdict: activation.Defer, check: activation.CheckBuilders, text: "certificates by untrusted builders do not count"},
		{name: "no builders required", opt: fixtureOpt{builders: []string{}}, mod: func(t *testing.T, f *fixture) { f.policy.BuilderThreshold = 0 },
			verdict: activation.Activate, check: activation.CheckBuilders, result: activation.Pass, text: "no builder certificates required"},
		{name: "tampered certificate", mod: func(t *testing.T, f *fixture) {
			sig := slices.Clone(f.cand.Release.Certificates[0].Signed.Signature)
			sig[5] ^= 1
			f.cand.Release.Certificates[0].Signed.Signature = sig
		}, verdict: activation.Deny, check: activation.CheckBuilders, text: "does not verify"},
		{name: "certificate presented for another release", mod: func(t *testing.T, f *fixture) {
			f.cand.Release.Certificates[0].Signed.Release = release.ID{1}
		}, verdict: activation.Deny, check: activation.CheckBuilders, text: "presented as"},
	})
}

func noEvents(testing.TB, *fixture) []activation.Event { return nil }

func TestEvaluateClassAndRevocation(t *testing.T) {
	hard := func(m *release.Manifest) { m.Compatibility.Class = release.ScopedHardFork }
	allowHard := func(p *activation.Policy) {
		p.AllowedClasses = append(p.AllowedClasses, release.ScopedHardFork, release.IncompatibleWithoutPartition)
	}
	ctx := activation.ContextScope(auth("o"), "ops")
	runEvalCases(t, []evalCase{
		{name: "class not allowed", opt: fixtureOpt{manifest: hard},
			verdict: activation.Deny, check: activation.CheckClass, text: "ScopedHardFork is not allowed"},
		{name: "soft fork needs no agreement", verdict: activation.Activate, check: activation.CheckHardFork, result: activation.Skip, text: "soft fork"},
		{name: "hard fork in a device scope", opt: fixtureOpt{manifest: hard, policy: allowHard},
			verdict: activation.Activate, check: activation.CheckHardFork, result: activation.Pass, text: "single-owner"},
		{name: "hard fork in a context without agreement", opt: fixtureOpt{scope: ctx, manifest: hard, policy: allowHard, events: noEvents},
			verdict: activation.Deny, check: activation.CheckHardFork, text: "owns neither"},
		{name: "hard fork in a context owning a fence", opt: fixtureOpt{scope: ctx, manifest: hard, events: noEvents,
			policy: func(p *activation.Policy) { allowHard(p); p.EpochFence = true }},
			verdict: activation.Stage, check: activation.CheckHardFork, result: activation.Pass, text: "owns an epoch fence"},
		{name: "partition without handling", opt: fixtureOpt{policy: allowHard,
			manifest: func(m *release.Manifest) { m.Compatibility.Class = release.IncompatibleWithoutPartition }},
			verdict: activation.Deny, check: activation.CheckPartition, text: "needs partition handling"},
		{name: "partition with handling", opt: fixtureOpt{policy: allowHard,
			manifest: func(m *release.Manifest) { m.Compatibility.Class = release.IncompatibleWithoutPartition }},
			mod:     func(t *testing.T, f *fixture) { f.ev.PartitionHandling = true },
			verdict: activation.Activate, check: activation.CheckPartition, result: activation.Pass, text: "incompatible peers will separate"},
		{name: "revoked by its trusted author", mod: func(t *testing.T, f *fixture) {
			f.revoke(t, "rel", facts.AuthorityID{}, "CVE-1")
		}, verdict: activation.Deny, check: activation.CheckRevocation, text: "revoked by trusted release authority"},
		{name: "revoked by the admin", mod: func(t *testing.T, f *fixture) {
			f.revoke(t, "admin", auth("admin"), "key leak")
		}, verdict: activation.Deny, check: activation.CheckRevocation, text: "revoked by network admin"},
		{name: "revocation by an untrusted signer ignored", mod: func(t *testing.T, f *fixture) {
			f.cand.Release.Revocations = append(f.cand.Release.Revocations, release.Revoked{Release: f.id, Signer: auth("troll")})
		}, verdict: activation.Activate, check: activation.CheckRevocation, result: activation.Pass, text: "1 untrusted revocations ignored"},
		{name: "superseded", mod: func(t *testing.T, f *fixture) {
			mustApply(t, f.cat, release.Superseded{Release: f.id, By: release.ID{9}, Signer: auth("rel")})
			f.cand.Release, _ = f.cat.Entry(f.id)
		}, verdict: activation.Deny, check: activation.CheckSupersession, text: "activate the successor"},
		{name: "supersession by an untrusted signer ignored", mod: func(t *testing.T, f *fixture) {
			f.cand.Release.Supersessions = append(f.cand.Release.Supersessions, release.Superseded{Release: f.id, By: release.ID{9}, Signer: auth("troll")})
		}, verdict: activation.Activate, check: activation.CheckSupersession, result: activation.Pass, text: "ignored"},
	})
}

func (f *fixture) revoke(tb testing.TB, signer string, admin facts.AuthorityID, reason string) {
	tb.Helper()
	mustApply(tb, f.cat, release.Revoked{Release: f.id, Reason: reason, Signer: auth(signer), Admin: admin})
	f.cand.Release, _ = f.cat.Entry(f.id)
}

func TestEvaluateVersions(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "already running it", mod: func(t *testing.T, f *fixture) { f.ev.Running = activation.Running{Release: f.id, Version: "1.1.0"} },
			verdict: activation.Defer, check: activation.CheckVersion, text: "already runs"},
		{name: "downgrade", mod: func(t *testing.T, f *fixture) { f.ev.Running.Version = "1.2.0" },
			verdict: activation.Deny, check: activation.CheckVersion, text: "no downgrades"},
		{name: "same version, another build", mod: func(t *testing.T, f *fixture) { f.ev.Running.Version = "1.1.0" },
			verdict: activation.Deny, check: activation.CheckVersion, text: "not newer"},
		{name: "unknown running version", mod: func(t *testing.T, f *fixture) { f.ev.Running = activation.Running{Version: "dev"} },
			verdict: activation.Activate, check: activation.CheckVersion, result: activation.Pass, text: "no downgrade check"},
		{name: "no minimum", verdict: activation.Activate, check: activation.CheckMinimumLegacy, result: activation.Skip, text: "sets no minimum"},
		{name: "running the minimum itself", opt: fixtureOpt{manifest: minimumOf("1.0.0", "b100")},
			verdict: activation.Activate, check: activation.CheckMinimumLegacy, result: activation.Pass, text: "runs the minimum legacy release"},
		{name: "newer than the minimum", opt: fixtureOpt{manifest: minimumOf("0.9.0", "b090")},
			mod:     func(t *testing.T, f *fixture) { f.declareMinimum(t, "0.9.0", "b090") },
			verdict: activation.Activate, check: activation.CheckMinimumLegacy, result: activation.Pass, text: "at least the minimum legacy release 0.9.0"},
		{name: "older than the minimum", opt: fixtureOpt{manifest: minimumOf("1.0.5", "b105")},
			mod:     func(t *testing.T, f *fixture) { f.declareMinimum(t, "1.0.5", "b105") },
			verdict: activation.Deny, check: activation.CheckMinimumLegacy, text: "older than the minimum legacy release 1.0.5"},
		{name: "minimum unknown", opt: fixtureOpt{manifest: minimumOf("1.0.5", "b105")},
			verdict: activation.Defer, check: activation.CheckMinimumLegacy, text: "not known from a trusted release authority"},
		{name: "no catalogue", opt: fixtureOpt{manifest: minimumOf("1.0.5", "b105")},
			mod:     func(t *testing.T, f *fixture) { f.ev.Releases = nil },
			verdict: activation.Defer, check: activation.CheckMinimumLegacy, text: "no catalogue"},
		{name: "running version unknown with a minimum", opt: fixtureOpt{manifest: minimumOf("1.0.5", "b105")},
			mod: func(t *testing.T, f *fixture) {
				f.declareMinimum(t, "1.0.5", "b105")
				f.ev.Running = activation.Running{Version: "dev"}
			},
			verdict: activation.Deny, check: activation.CheckMinimumLegacy, text: "not a semantic version"},
	})
}

// minimumOf sets the manifest's minimum legacy release to the build of
// testManifest("rel", version, build).
func minimumOf(version, build string) func(*release.Manifest) {
	return func(m *release.Manifest) {
		mm := testManifest("rel", version, build)
		id := mm.ID()
		m.Compatibility.MinimumLegacyRelease = &id
	}
}

func (f *fixture) declareMinimum(tb testing.TB, version, build string) {
	tb.Helper()
	mustApply(tb, f.cat, declare(tb, "rel", testManifest("rel", version, build)))
}

func TestEvaluateScopeState(t *testing.T) {
	otherAt := func(version string) func(tb testing.TB, f *fixture) activation.Event {
		return func(tb testing.TB, f *fixture) activation.Event {
			return f.upgrade(tb, "node", facts.KindUpgradeStaged, 1, func(u *facts.UpgradeEvent) {
				id := release.ID{7}
				u.ReleaseID, u.Device, u.Version, u.Class = id[:], "dev1", version, 1
			})
		}
	}
	other, newer := otherAt("1.0.9"), otherAt("1.2.0")
	runEvalCases(t, []evalCase{
		{name: "no scope state", mod: func(t *testing.T, f *fixture) { f.ev.Scope = nil },
			verdict: activation.Stage, check: activation.CheckStaging, text: "not yet recorded"},
		{name: "staging not recorded", opt: fixtureOpt{events: noEvents},
			verdict: activation.Stage, check: activation.CheckStaging, text: "record UpgradeStaged"},
		{name: "a newer target in progress", opt: fixtureOpt{events: func(tb testing.TB, f *fixture) []activation.Event {
			return []activation.Event{newer(tb, f)}
		}}, verdict: activation.Defer, check: activation.CheckScopeState, text: "the scope is moving to"},
		{name: "an older target in progress is replaced", opt: fixtureOpt{events: func(tb testing.TB, f *fixture) []activation.Event {
			return []activation.Event{other(tb, f)}
		}}, verdict: activation.Stage, check: activation.CheckScopeState, result: activation.Pass, text: "replaces it"},
		{name: "another target failed", opt: fixtureOpt{
			policy: func(p *activation.Policy) { p.Rollback = activation.ManualApproval },
			events: func(tb testing.TB, f *fixture) []activation.Event {
				id := release.ID{7}
				pol, err := policyEvent(tb, "node", facts.MakeTimestamp(0, 1), f.policy)
				if err != nil {
					tb.Fatal(err)
				}
				return []activation.Event{pol, other(tb, f),
					f.upgrade(tb, "node", facts.KindTransitionChanged, 2, func(u *facts.UpgradeEvent) {
						u.ReleaseID, u.Device, u.Transition = id[:], "dev1", activation.CuttingOver
					}),
					f.upgrade(tb, "node", facts.KindCutoverCompleted, 3, func(u *facts.UpgradeEvent) {
						u.ReleaseID, u.Device, u.OK = id[:], "dev1", true
					}),
					f.upgrade(tb, "node", facts.KindPartitionObserved, 4, func(u *facts.UpgradeEvent) { u.ReleaseID, u.Device = id[:], "dev1" }),
				}
			}}, verdict: activation.Defer, check: activation.CheckScopeState, text: "the scope failed on"},
		{name: "revoked in the scope", opt: fixtureOpt{events: func(tb testing.TB, f *fixture) []activation.Event {
			return []activation.Event{f.staging(tb, "node", "dev1", 1),
				f.upgrade(tb, "node", facts.KindTransitionChanged, 2, func(u *facts.UpgradeEvent) {
					u.Transition, u.Failure, u.Detail = activation.RollingBack, activation.ReleaseRevoked, "CVE-7"
				})}
		}}, verdict: activation.Deny, check: activation.CheckScopeState, text: "was revoked (CVE-7) in this scope"},
		{name: "the scope's target", verdict: activation.Activate, check: activation.CheckScopeState, result: activation.Pass, text: "is the scope's target (active)"},
		{name: "outside the cohort", mod: func(t *testing.T, f *fixture) {
			f.policy.RolloutBasisPoints = activation.CohortBucket("dev1", f.id)
		}, verdict: activation.Defer, check: activation.CheckCohort, text: "outside the rollout"},
		{name: "just inside the cohort", mod: func(t *testing.T, f *fixture) {
			f.policy.RolloutBasisPoints = activation.CohortBucket("dev1", f.id) + 1
		}, verdict: activation.Activate, check: activation.CheckCohort, result: activation.Pass, text: "inside the rollout"},
		{name: "nobody in the rollout", mod: func(t *testing.T, f *fixture) { f.policy.RolloutBasisPoints = 0 },
			verdict: activation.Defer, check: activation.CheckCohort, text: "outside the rollout of 0.00%"},
	})
}

func TestEvaluateGatesAndArtifacts(t *testing.T) {
	linux := "aura-node-linux-amd64"
	runEvalCases(t, []evalCase{
		{name: "release gate not configured", mod: func(t *testing.T, f *fixture) { delete(f.ev.Gates, "readyz") },
			verdict: activation.Deny, check: activation.CheckGate, subject: "readyz", text: "declared by the release but not configured"},
		{name: "policy gate not configured", opt: fixtureOpt{policy: func(p *activation.Policy) { p.RequiredHealthGates = []string{"disk", "readyz"} }},
			verdict: activation.Deny, check: activation.CheckGate, subject: "disk", text: "declared by the policy but not configured"},
		{name: "gate declared by both", opt: fixtureOpt{policy: func(p *activation.Policy) { p.RequiredHealthGates = []string{"readyz"} }},
			mod:     func(t *testing.T, f *fixture) { delete(f.ev.Gates, "readyz") },
			verdict: activation.Deny, check: activation.CheckGate, subject: "readyz", text: "the release and the policy"},
		{name: "gate failing on the running release", mod: func(t *testing.T, f *fixture) {
			f.ev.Gates["healthz"] = activation.GateEvidence{State: activation.GateFailed, Detail: "disk full"}
		}, verdict: activation.Stage, check: activation.CheckGate, subject: "healthz", text: "disk full"},
		{name: "gate not run yet", mod: func(t *testing.T, f *fixture) { f.ev.Gates["healthz"] = activation.GateEvidence{} },
			verdict: activation.Activate, check: activation.CheckGate, subject: "healthz", result: activation.Pass, text: "not run yet"},
		{name: "no gates at all", opt: fixtureOpt{manifest: func(m *release.Manifest) { m.Activation.HealthGates = nil }},
			verdict: activation.Activate, check: activation.CheckGate, result: activation.Skip, text: "no health gates"},
		{name: "artifact missing", mod: func(t *testing.T, f *fixture) { delete(f.ev.Artifacts, linux) },
			verdict: activation.Defer, check: activation.CheckArtifact, subject: linux, text: "not fetched"},
		{name: "artifact fetched, not staged", mod: func(t *testing.T, f *fixture) {
			a := f.ev.Artifacts[linux]
			a.State = activation.ArtifactFetched
			f.ev.Artifacts[linux] = a
		}, verdict: activation.Stage, check: activation.CheckArtifact, subject: linux, text: "not staged yet"},
		{name: "platform-independent artifact counts", mod: func(t *testing.T, f *fixture) { delete(f.ev.Artifacts, "notes.txt") },
			verdict: activation.Defer, check: activation.CheckArtifact, subject: "notes.txt", text: "not fetched"},
		{name: "staged file corrupt", mod: func(t *testing.T, f *fixture) {
			a := f.ev.Artifacts[linux]
			a.State, a.Detail = activation.ArtifactCorrupt, "sha256 mismatch"
			f.ev.Artifacts[linux] = a
		}, verdict: activation.Deny, check: activation.CheckArtifact, subject: linux, text: "sha256 mismatch"},
		{name: "evidence about another root", mod: func(t *testing.T, f *fixture) {
			f.ev.Artifacts[linux] = activation.ArtifactEvidence{Root: testRoot("elsewhere"), State: activation.ArtifactStaged}
		}, verdict: activation.Deny, check: activation.CheckArtifact, subject: linux, text: "another root"},
		{name: "no binary for the platform", mod: func(t *testing.T, f *fixture) { f.ev.Platform = "windows/amd64" },
			verdict: activation.Deny, check: activation.CheckArtifact, text: "no binary artifact for windows/amd64"},
		{name: "no platform", mod: func(t *testing.T, f *fixture) { f.ev.Platform = "" },
			verdict: activation.Deny, check: activation.CheckArtifact, text: "names no platform"},
	})
}

func TestEvaluateApprovalsFenceTime(t *testing.T) {
	q := activation.QuorumScope(auth("o"), "core", auths("node", "p2")...)
	ctx := activation.ContextScope(auth("o"), "ops")
	askThreshold := func(m *release.Manifest) { m.Activation.ThresholdApprovalRequired = true }
	approve := func(who ...string) func(tb testing.TB, f *fixture) []activation.Event {
		return func(tb testing.TB, f *fixture) []activation.Event {
			evs := []activation.Event{f.staging(tb, "node", "dev1", 1)}
			for i, w := range who {
				evs = append(evs, f.upgrade(tb, w, facts.KindCutoverApproved, uint64(2+i), func(*facts.UpgradeEvent) {}))
			}
			return evs
		}
	}
	hardFenced := fixtureOpt{scope: ctx,
		manifest: func(m *release.Manifest) { m.Compatibility.Class = release.ScopedHardFork },
		policy: func(p *activation.Policy) {
			p.AllowedClasses = append(p.AllowedClasses, release.ScopedHardFork)
			p.EpochFence = true
		}}
	withFence := func(epoch uint64) fixtureOpt {
		o := hardFenced
		o.events = func(tb testing.TB, f *fixture) []activation.Event {
			pol, err := policyEvent(tb, "o", facts.MakeTimestamp(0, 1), f.policy)
			if err != nil {
				tb.Fatal(err)
			}
			return []activation.Event{pol, f.staging(tb, "node", "dev1", 1),
				f.upgrade(tb, "o", facts.KindCutoverApproved, 2, func(u *facts.UpgradeEvent) { u.FenceEpoch = epoch })}
		}
		return o
	}
	runEvalCases(t, []evalCase{
		{name: "quorum approvals missing", opt: fixtureOpt{scope: q, events: approve("node")},
			verdict: activation.Stage, check: activation.CheckApprovals, text: "1 of 2 participants approved; missing: " + auth("p2").String()},
		{name: "quorum without any state", opt: fixtureOpt{scope: q, events: noEvents}, mod: func(t *testing.T, f *fixture) { f.ev.Scope = nil },
			verdict: activation.Stage, check: activation.CheckApprovals, text: "0 of 2 participants approved"},
		{name: "quorum approvals complete", opt: fixtureOpt{scope: q, events: approve("p2", "node")},
			verdict: activation.Activate, check: activation.CheckApprovals, result: activation.Pass, text: "all 2 participants approved"},
		{name: "threshold asked in a context", opt: fixtureOpt{scope: ctx, manifest: askThreshold, events: noEvents},
			verdict: activation.Deny, check: activation.CheckApprovals, text: "has no participant set"},
		{name: "threshold asked in a device scope", opt: fixtureOpt{manifest: askThreshold},
			verdict: activation.Activate, check: activation.CheckApprovals, result: activation.Pass, text: "the owner's own activation is the approval"},
		{name: "fence not set", opt: hardFenced, mod: func(t *testing.T, f *fixture) {
			f.setScope(t, f.staging(t, "node", "dev1", 1))
		}, verdict: activation.Stage, check: activation.CheckEpochFence, text: "waiting for the owner to set the epoch fence"},
		{name: "fence not reached", opt: withFence(5), mod: func(t *testing.T, f *fixture) { f.ev.Epoch = 4 },
			verdict: activation.Stage, check: activation.CheckEpochFence, text: "fence at epoch 5, current epoch 4"},
		{name: "fence reached", opt: withFence(5), mod: func(t *testing.T, f *fixture) { f.ev.Epoch = 5 },
			verdict: activation.Activate, check: activation.CheckEpochFence, result: activation.Pass, text: "fence at epoch 5 reached"},
		{name: "fence asked where none is owned", opt: fixtureOpt{manifest: func(m *release.Manifest) { m.Activation.EpochFenceRequired = true }},
			verdict: activation.Activate, check: activation.CheckEpochFence, result: activation.Skip, text: "does not apply here"},
		{name: "before the window", mod: func(t *testing.T, f *fixture) { f.policy.Window = &activation.Window{NotBeforeUnixMs: now + 1} },
			verdict: activation.Stage, check: activation.CheckWindow, subject: "absolute", text: "opens at"},
		{name: "after the window", mod: func(t *testing.T, f *fixture) { f.policy.Window = &activation.Window{NotAfterUnixMs: now} },
			verdict: activation.Deny, check: activation.CheckWindow, subject: "absolute", text: "closed at"},
		{name: "inside the window", mod: func(t *testing.T, f *fixture) {
			f.policy.Window = &activation.Window{NotBeforeUnixMs: now, NotAfterUnixMs: now + 1}
		}, verdict: activation.Activate, check: activation.CheckWindow, subject: "absolute", result: activation.Pass, text: "open"},
		{name: "outside the daily window", mod: func(t *testing.T, f *fixture) {
			f.policy.Daily = &activation.DailyWindow{StartMinute: 120, EndMinute: 240}
		},
			verdict: activation.Stage, check: activation.CheckWindow, subject: "daily", text: "outside 02:00-04:00 UTC (now 08:00 UTC)"},
		{name: "inside a daily window spanning midnight", mod: func(t *testing.T, f *fixture) {
			f.policy.Daily = &activation.DailyWindow{StartMinute: 22 * 60, EndMinute: 9 * 60}
		}, verdict: activation.Activate, check: activation.CheckWindow, subject: "daily", result: activation.Pass, text: "inside 22:00-09:00 UTC"},
		{name: "suggested time ahead", opt: fixtureOpt{manifest: suggest(now + 60_000)},
			verdict: activation.Stage, check: activation.CheckNotBefore, text: "a local hint"},
		{name: "suggested time ignored", opt: fixtureOpt{manifest: suggest(now + 60_000), policy: func(p *activation.Policy) { p.HonourSuggestedTime = false }},
			verdict: activation.Activate, check: activation.CheckNotBefore, result: activation.Skip, text: "ignored by the policy"},
		{name: "suggested time passed", opt: fixtureOpt{manifest: suggest(now)},
			verdict: activation.Activate, check: activation.CheckNotBefore, result: activation.Pass, text: "past the suggested"},
	})
}

func suggest(ms uint64) func(*release.Manifest) {
	return func(m *release.Manifest) { m.SuggestedActivationTimeUnixMs = &ms }
}

// TestEvaluatePrecedence: the verdict is the strongest that any failed
// check forces, and every failure is reported, not only the first.
func TestEvaluatePrecedence(t *testing.T) {
	f := newFixture(t, fixtureOpt{})
	f.policy.Window = &activation.Window{NotBeforeUnixMs: now + 1}                          // Stage
	delete(f.ev.Artifacts, "aura-node-linux-amd64")                                         // Defer
	f.policy.AllowedClasses = []release.CompatibilityClass{release.MixedCoexistenceAllowed} // Deny
	d := f.evaluate()
	if d.Verdict != activation.Deny {
		t.Fatalf("verdict %v, want deny", d.Verdict)
	}
	var forces []activation.Verdict
	for _, c := range d.Failed() {
		forces = append(forces, c.Blocks)
	}
	for _, v := range []activation.Verdict{activation.Deny, activation.Defer, activation.Stage} {
		if !slices.Contains(forces, v) {
			t.Errorf("no failed check forcing %v: %s", v, checkList(d))
		}
	}
	if b := d.Blocking(); len(b) != 1 || b[0].ID != activation.CheckClass {
		t.Errorf("blocking checks %v", b)
	}
	f.policy.AllowedClasses = []release.CompatibilityClass{release.BackwardCompatible}
	if d := f.evaluate(); d.Verdict != activation.Defer {
		t.Errorf("without the deny: %v, want defer", d.Verdict)
	}
	f.ev.Artifacts["aura-node-linux-amd64"] = activation.ArtifactEvidence{Root: f.m.Artifacts[1].Root, State: activation.ArtifactStaged}
	if d := f.evaluate(); d.Verdict != activation.Stage {
		t.Errorf("without the defer: %v, want stage", d.Verdict)
	}
	f.now = now + 1
	if d := f.evaluate(); d.Verdict != activation.Activate {
		t.Errorf("in the window: %v, want activate: %s", d.Verdict, checkList(d))
	}
}

// TestEvaluatePure: the same inputs give the same decision, and
// evaluating changes none of them.
func TestEvaluatePure(t *testing.T) {
	f := newFixture(t, fixtureOpt{})
	before := *f.ev.Scope
	a, b := f.evaluate(), f.evaluate()
	if a.Verdict != b.Verdict || len(a.Checks) != len(b.Checks) {
		t.Fatal("two evaluations differ")
	}
	for i := range a.Checks {
		if a.Checks[i] != b.Checks[i] {
			t.Fatalf("check %d differs: %v / %v", i, a.Checks[i], b.Checks[i])
		}
	}
	if f.ev.Scope.Summary() != before.Summary() {
		t.Fatal("evaluation changed the scope status")
	}
}
