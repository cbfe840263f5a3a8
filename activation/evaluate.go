package activation

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/release"
)

// Verdict is what an evaluation lets a device do with a release in a
// scope. Lower verdicts are stronger: the decision is the lowest verdict
// any failed check forces.
type Verdict uint8

// Verdicts.
const (
	// Deny: the release must be neither staged nor activated in this
	// scope as things stand (trust, verification, policy, revocation...).
	Deny Verdict = iota + 1
	// Defer: nothing to do yet; evidence may still arrive (certificates,
	// artifacts, a wider rollout, another target finishing).
	Defer
	// Stage: stage the release (or keep it staged) but do not cut over:
	// something only activation waits for is pending (approvals, the
	// window, the not-before hint, the fence, staging itself, a gate
	// failing on the running release).
	Stage
	// Activate: every check passes; cut over.
	Activate
)

var verdictNames = []string{"", "deny", "defer", "stage", "activate"}

// String returns "deny", "defer", "stage" or "activate".
func (v Verdict) String() string {
	if v > 0 && int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return fmt.Sprintf("Verdict(%d)", uint8(v))
}

// CheckID names a check of the evaluator.
type CheckID string

// The checks, in the order Evaluate runs them (see Evaluate).
const (
	CheckScope         CheckID = "scope"
	CheckPolicy        CheckID = "policy"
	CheckAuthority     CheckID = "release-authority"
	CheckManifest      CheckID = "manifest-signature"
	CheckBuilders      CheckID = "builders"
	CheckClass         CheckID = "compatibility-class"
	CheckHardFork      CheckID = "hard-fork-agreement"
	CheckPartition     CheckID = "partition-handling"
	CheckRevocation    CheckID = "revocation"
	CheckSupersession  CheckID = "supersession"
	CheckVersion       CheckID = "version"
	CheckMinimumLegacy CheckID = "minimum-legacy-release"
	CheckScopeState    CheckID = "scope-state"
	CheckCohort        CheckID = "rollout-cohort"
	CheckGate          CheckID = "health-gate"
	CheckArtifact      CheckID = "artifact"
	CheckStaging       CheckID = "staging"
	CheckApprovals     CheckID = "approvals"
	CheckEpochFence    CheckID = "epoch-fence"
	CheckWindow        CheckID = "activation-window"
	CheckNotBefore     CheckID = "not-before-hint"
	CheckCanary        CheckID = "canary-wave"
)

// CheckResult is the result of one check.
type CheckResult uint8

// Check results.
const (
	// Pass: the check holds.
	Pass CheckResult = iota + 1
	// Fail: the check does not hold; Blocks says what that forces.
	Fail
	// Skip: the check does not apply (a soft fork has no agreement to
	// check) or could not run (no verified manifest, already a Deny).
	Skip
)

var checkResultNames = []string{"", "pass", "fail", "skip"}

// String returns "pass", "fail" or "skip".
func (r CheckResult) String() string {
	if r > 0 && int(r) < len(checkResultNames) {
		return checkResultNames[r]
	}
	return fmt.Sprintf("CheckResult(%d)", uint8(r))
}

// Check is one finding of an evaluation.
type Check struct {
	ID CheckID
	// Subject names what the check is about when the check runs once per
	// thing (a gate, an artifact, a builder, a window), else "".
	Subject string
	Result  CheckResult
	// Blocks is the verdict a failed check forces (Deny, Defer or Stage);
	// zero for passed and skipped checks.
	Blocks Verdict
	// Text says it for people.
	Text string
}

// String renders the check as "fail(defer) builders: 1 of 2 ...".
func (c Check) String() string {
	var b strings.Builder
	b.WriteString(c.Result.String())
	if c.Result == Fail {
		b.WriteString("(" + c.Blocks.String() + ")")
	}
	b.WriteString(" " + string(c.ID))
	if c.Subject != "" {
		b.WriteString("[" + c.Subject + "]")
	}
	b.WriteString(": " + c.Text)
	return b.String()
}

// Decision is the outcome of Evaluate with every finding.
type Decision struct {
	Verdict Verdict
	Release release.ID
	Scope   Scope
	// Manifest is the verified manifest the decision speaks for (the
	// first trusted declaration that verifies), or nil.
	Manifest *release.Manifest
	// Gates are the declared health gates: the release's and the
	// policy's, sorted. A device records them in its UpgradeStaged and
	// runs them after cutover.
	Gates []string
	// Plan is the session plan of the cutover (set with Manifest).
	Plan SessionPlan
	// Wave is the scope's canary wave for the release, or nil when none
	// applies (canary 0, a hard fork, no verified manifest).
	Wave *Wave
	// Checks lists every check in evaluation order.
	Checks []Check
}

// Blocking returns the failed checks that force the verdict.
func (d Decision) Blocking() []Check {
	var out []Check
	for _, c := range d.Checks {
		if c.Result == Fail && c.Blocks == d.Verdict {
			out = append(out, c)
		}
	}
	return out
}

// Failed returns every failed check.
func (d Decision) Failed() []Check {
	var out []Check
	for _, c := range d.Checks {
		if c.Result == Fail {
			out = append(out, c)
		}
	}
	return out
}

// Candidate is a release considered for activation in a scope.
type Candidate struct {
	Scope Scope
	// Release is the catalogue's view of the release. Its signed
	// documents are verified again: an Entry is not trusted as given.
	Release release.Entry
}

// Catalogue resolves releases by ID (*release.Catalogue implements it).
type Catalogue interface {
	Entry(id release.ID) (release.Entry, bool)
}

// ArtifactState is how far one artifact of the candidate has come.
type ArtifactState uint8

// Artifact states.
const (
	// ArtifactMissing: not (fully) in the node's block store.
	ArtifactMissing ArtifactState = iota
	// ArtifactFetched: in the block store, its UnixFS root verified.
	ArtifactFetched
	// ArtifactStaged: the launcher wrote it to the release's folder and
	// re-verified it against its root.
	ArtifactStaged
	// ArtifactCorrupt: the staged file does not match its root.
	ArtifactCorrupt
)

// ArtifactEvidence is what the node knows of one artifact.
type ArtifactEvidence struct {
	// Root is the root CID the evidence is about; it must be the
	// manifest's, so evidence cannot be moved between releases.
	Root   []byte
	State  ArtifactState
	Detail string
}

// GateEvidence is a health gate the launcher has configured, with its
// last result on the running release (GatePending: not run yet).
type GateEvidence struct {
	State  GateState
	Detail string
}

// Running is the release a device runs.
type Running struct {
	// Release is zero for an unreleased build.
	Release release.ID
	// Version is the running SemVer version ("" or unparseable when
	// unknown).
	Version string
}

// Evidence is what the node knows locally when it evaluates.
type Evidence struct {
	// Device is this device's ID (its peer ID) and Authority its
	// authority.
	Device    string
	Authority facts.AuthorityID
	// Platform is this device's GOOS/GOARCH.
	Platform string
	// Running is what this device runs.
	Running Running
	// Artifacts describes the candidate's artifacts, by name.
	Artifacts map[string]ArtifactEvidence
	// Gates are the health gates the launcher can run, by name.
	Gates map[string]GateEvidence
	// PartitionHandling: this node refuses incompatible sessions and
	// records PartitionObserved, as IncompatibleWithoutPartition needs.
	PartitionHandling bool
	// Epoch is the current identity epoch (for epoch fences).
	Epoch uint64
	// Scope is the scope's reduced state, or nil when it has none.
	Scope *Status
	// Releases resolves the minimum legacy release, or nil.
	Releases Catalogue
}

type evaluation struct {
	d   Decision
	p   *Policy
	c   *Candidate
	ev  *Evidence
	now uint64
	m   *release.Manifest
}

func (x *evaluation) add(id CheckID, subject string, r CheckResult, blocks Verdict, format string, args ...any) {
	x.d.Checks = append(x.d.Checks, Check{ID: id, Subject: subject, Result: r, Blocks: blocks, Text: fmt.Sprintf(format, args...)})
}

func (x *evaluation) pass(id CheckID, subject, format string, args ...any) {
	x.add(id, subject, Pass, 0, format, args...)
}

func (x *evaluation) fail(id CheckID, subject string, blocks Verdict, format string, args ...any) {
	x.add(id, subject, Fail, blocks, format, args...)
}

func (x *evaluation) skip(id CheckID, subject, format string, args ...any) {
	x.add(id, subject, Skip, 0, format, args...)
}

// Evaluate decides what this device may do with a candidate release in a
// scope, under the scope's policy, given the local evidence and the local
// clock (Unix milliseconds). It runs every check, in this order, each
// adding its findings, and never stops early:
//
//  1. scope: the policy governs the candidate's scope and this device
//     belongs to it (its device, its authority, a participant).
//  2. policy: the policy is valid.
//  3. release-authority: a trusted release authority declared it.
//  4. manifest-signature: that manifest verifies (release.VerifyManifest:
//     canonical, valid, hashes to this release ID, signed by its author),
//     and its record is bound to this release.
//  5. builders: trusted builders' certificates verify against this
//     release and manifest (release.VerifyCertificate), and reach the
//     threshold.
//  6. compatibility-class: the policy allows the class.
//  7. hard-fork-agreement: a hard fork has an agreement mechanism the
//     scope owns (single owner, participant approvals, epoch fence).
//  8. partition-handling: IncompatibleWithoutPartition needs a node that
//     handles partitions.
//  9. revocation: no revocation by the admin or a trusted authority.
//  10. supersession: no supersession by the admin or a trusted authority.
//  11. version: newer than the running version (no downgrades), and not
//     the running release itself.
//  12. minimum-legacy-release: the running version is at least the
//     manifest's minimum legacy release.
//  13. scope-state: the release is not cancelled, revoked or failed in
//     the scope, and no other target is failed, or in progress with a
//     version this release does not exceed.
//  14. rollout-cohort: the device's bucket is inside the rollout.
//  15. health-gate (each): every gate the release or the policy declares
//     is configured in the launcher and not failing on the running
//     release.
//  16. artifact (each) and staging: every artifact for this platform is
//     fetched, staged and verified, there is a binary, and the staging is
//     recorded in the scope.
//  17. approvals: every participant of a managed quorum approved (and a
//     release that asks for threshold approval has a scope that can
//     give it).
//  18. epoch-fence: in a scope that owns a fence, a hard fork (or a
//     release asking for a fence) waits for the fence epoch.
//  19. activation-window: inside the absolute and daily windows.
//  20. not-before-hint: after the suggested activation time, when the
//     policy honours it (a local hint, never a fence).
//  21. canary-wave: for a soft fork under a policy with a canary wave,
//     this device is one of the wave's canaries, or the wave has passed
//     (CanaryWave). Hard forks have no wave.
//
// The verdict follows from the failed checks by these rules:
//
//  1. Deny if any failed check forces Deny.
//  2. Else Defer if any forces Defer.
//  3. Else Stage if any forces Stage.
//  4. Else Activate.
//
// Evaluate is pure: the same inputs give the same decision.
func Evaluate(policy Policy, cand Candidate, ev Evidence, nowUnixMs uint64) Decision {
	x := &evaluation{d: Decision{Release: cand.Release.ID, Scope: cloneScope(cand.Scope)}, p: &policy, c: &cand, ev: &ev, now: nowUnixMs}
	x.checkScope()
	x.checkPolicy()
	x.checkDeclaration()
	x.checkBuilders()
	x.checkClass()
	x.checkRevocation()
	x.checkVersion()
	x.checkMinimumLegacy()
	x.checkScopeState()
	x.checkCohort()
	x.checkGates()
	x.checkArtifacts()
	x.checkApprovals()
	x.checkFence()
	x.checkWindow()
	x.checkNotBefore()
	if x.m != nil {
		x.d.Plan = PlanCutover(x.m.Compatibility.Class, x.m.Activation, x.p.InFlight)
		if x.p.Canary > 0 && !softFork(x.m.Compatibility.Class) {
			x.d.Plan.Notes = append(x.d.Plan.Notes, noCanaryNote)
		}
	}
	x.checkCanary()
	x.d.Verdict = Activate
	for _, c := range x.d.Checks {
		if c.Result == Fail && c.Blocks < x.d.Verdict {
			x.d.Verdict = c.Blocks
		}
	}
	return x.d
}

// 1.
func (x *evaluation) checkScope() {
	s, ev := x.c.Scope, x.ev
	switch {
	case s.CheckActivation() != nil:
		x.fail(CheckScope, "", Deny, "candidate scope: %v", s.CheckActivation())
	case x.p.Scope.Key() != s.Key():
		x.fail(CheckScope, "", Deny, "the policy governs %s, not %s", x.p.Scope.Short(), s.Short())
	case ev.Device == "" || ev.Authority.IsZero():
		x.fail(CheckScope, "", Deny, "the evidence names no device or authority")
	case s.Kind == DeviceLocal && (s.ID != ev.Device || s.Owner != ev.Authority):
		x.fail(CheckScope, "", Deny, "device scope %s is not this device (%s of %s)", s.Short(), ev.Device, ev.Authority.Short())
	case s.Kind == AuthorityLocal && s.Owner != ev.Authority:
		x.fail(CheckScope, "", Deny, "authority scope %s is not this node's authority %s", s.Short(), ev.Authority.Short())
	case s.Kind == ManagedQuorum && !s.HasParticipant(ev.Authority):
		x.fail(CheckScope, "", Deny, "%s is not a participant of %s", ev.Authority.Short(), s.Short())
	case s.Kind == Context:
		x.pass(CheckScope, "", "relational context %s: this node takes part by its configuration", s.Short())
	default:
		x.pass(CheckScope, "", "device %s belongs to %s", ev.Device, s.Short())
	}
}

// 2.
func (x *evaluation) checkPolicy() {
	if err := x.p.Validate(); err != nil {
		x.fail(CheckPolicy, "", Deny, "%v", err)
		return
	}
	x.pass(CheckPolicy, "", "policy valid (rollback %v)", x.p.Rollback)
}

// 3 and 4.
func (x *evaluation) checkDeclaration() {
	e := x.c.Release
	if !e.Declared() {
		x.fail(CheckAuthority, "", Defer, "no verified manifest of %s yet", e.ID.Short())
		x.skip(CheckManifest, "", "no manifest to verify")
		return
	}
	var untrusted []facts.AuthorityID
	var badSigs []string
	for _, d := range e.Declarations {
		claimed := d.Manifest.Author
		if !x.p.TrustsAuthority(claimed) {
			untrusted = append(untrusted, claimed)
			continue
		}
		if d.Signed.Release != e.ID {
			badSigs = append(badSigs, fmt.Sprintf("the declaration by %s is for release %s, presented as %s", claimed.Short(), d.Signed.Release.Short(), e.ID.Short()))
			continue
		}
		m, _, err := release.VerifyManifest(d.Signed.Manifest, d.Signed.Signature, e.ID)
		if err != nil {
			badSigs = append(badSigs, fmt.Sprintf("the manifest by %s does not verify: %v", claimed.Short(), err))
			continue
		}
		if m.Author != claimed {
			badSigs = append(badSigs, fmt.Sprintf("the manifest presented as by %s is signed by %s", claimed.Short(), m.Author.Short()))
			continue
		}
		if x.m == nil {
			x.m = m
		}
	}
	for _, b := range badSigs {
		x.fail(CheckManifest, "", Deny, "%s", b)
	}
	switch {
	case x.m != nil:
		x.d.Manifest = x.m
		x.pass(CheckAuthority, "", "declared by trusted release authority %s", x.m.Author)
		x.pass(CheckManifest, "", "manifest of %s %s verifies under %s and hashes to release %s", x.m.Series, x.m.Version, x.m.Author.Short(), e.ID.Short())
	case len(badSigs) > 0:
		x.fail(CheckAuthority, "", Deny, "no manifest by a trusted release authority verifies")
	default:
		x.fail(CheckAuthority, "", Deny, "declared only by untrusted release authorities: %s", authorityList(untrusted))
		x.skip(CheckManifest, "", "no manifest by a trusted release authority to verify")
	}
}

// 5.
func (x *evaluation) checkBuilders() {
	if x.m == nil {
		x.skip(CheckBuilders, "", "no verified manifest to certify")
		return
	}
	e := x.c.Release
	var have, untrusted []facts.AuthorityID
	for _, c := range e.Certificates {
		b := c.Certificate.Builder
		if !x.p.TrustsBuilder(b) {
			untrusted = append(untrusted, b)
			continue
		}
		if c.Signed.Release != e.ID {
			x.fail(CheckBuilders, b.Short(), Deny, "the certificate record by %s is for release %s, presented as %s", b.Short(), c.Signed.Release.Short(), e.ID.Short())
			continue
		}
		vc, err := release.VerifyCertificate(c.Signed.Certificate, c.Signed.Signature, e.ID, x.m)
		if err != nil {
			x.fail(CheckBuilders, b.Short(), Deny, "the certificate presented as by %s does not verify: %v", b.Short(), err)
			continue
		}
		if vc.Builder != b {
			x.fail(CheckBuilders, b.Short(), Deny, "the certificate presented as by %s is signed by %s", b.Short(), vc.Builder.Short())
			continue
		}
		if !slices.Contains(have, b) {
			have = append(have, b)
		}
	}
	note := ""
	if len(untrusted) > 0 {
		note = "; certificates by untrusted builders do not count: " + authorityList(untrusted)
	}
	t := int(x.p.BuilderThreshold)
	switch {
	case t == 0:
		x.pass(CheckBuilders, "", "no builder certificates required (%d trusted)%s", len(have), note)
	case len(have) < t:
		x.fail(CheckBuilders, "", Defer, "%d of %d required trusted builders certified it%s%s", len(have), t, parenList(have), note)
	default:
		x.pass(CheckBuilders, "", "%d of %d required trusted builders certified it%s%s", len(have), t, parenList(have), note)
	}
}

// 6, 7 and 8.
func (x *evaluation) checkClass() {
	if x.m == nil {
		x.skip(CheckClass, "", "no verified manifest")
		x.skip(CheckHardFork, "", "no verified manifest")
		x.skip(CheckPartition, "", "no verified manifest")
		return
	}
	class := x.m.Compatibility.Class
	if x.p.Allows(class) {
		x.pass(CheckClass, "", "class %v allowed", class)
	} else {
		x.fail(CheckClass, "", Deny, "class %v is not allowed by the policy (allowed: %s)", class, classList(x.p.AllowedClasses))
	}
	s := x.c.Scope
	switch {
	case !class.HardFork():
		x.skip(CheckHardFork, "", "soft fork: no agreement needed")
	case s.Kind == DeviceLocal || s.Kind == AuthorityLocal:
		x.pass(CheckHardFork, "", "%v in a single-owner %v scope: the owner's own cutover is the agreement", class, s.Kind)
	case s.Kind == ManagedQuorum:
		x.pass(CheckHardFork, "", "%v in a managed quorum: every participant must approve", class)
	case x.p.EpochFence:
		x.pass(CheckHardFork, "", "%v in a relational context that owns an epoch fence", class)
	default:
		x.fail(CheckHardFork, "", Deny, "%v in relational context %s needs threshold approval or an epoch fence, and the context owns neither: use a managed quorum scope or a policy that owns the fence", class, s.Short())
	}
	if class != release.IncompatibleWithoutPartition {
		x.skip(CheckPartition, "", "class %v expects no partition", class)
	} else if x.ev.PartitionHandling {
		x.pass(CheckPartition, "", "incompatible peers will separate; this node refuses incompatible sessions and records partitions")
	} else {
		x.fail(CheckPartition, "", Deny, "%v needs partition handling, which this node does not have", class)
	}
}

// 9 and 10.
func (x *evaluation) checkRevocation() {
	e := x.c.Release
	trusted := func(a facts.AuthorityID) bool { return x.p.TrustsAuthority(a) }
	if r, ok := e.Revocation(trusted); ok {
		by := "trusted release authority"
		if r.ByAdmin() {
			by = "network admin"
		}
		x.fail(CheckRevocation, "", Deny, "revoked by %s %s: %s", by, r.Signer.Short(), detailOr(r.Reason, "no reason given"))
	} else if len(e.Revocations) > 0 {
		x.pass(CheckRevocation, "", "not revoked by a trusted signer (%d untrusted revocations ignored)", len(e.Revocations))
	} else {
		x.pass(CheckRevocation, "", "not revoked")
	}
	if by := e.SupersededBy(trusted); len(by) > 0 {
		names := make([]string, len(by))
		for i, id := range by {
			names[i] = id.Short()
		}
		x.fail(CheckSupersession, "", Deny, "superseded by %s: activate the successor", strings.Join(names, ", "))
	} else if len(e.Supersessions) > 0 {
		x.pass(CheckSupersession, "", "not superseded by a trusted signer (%d untrusted supersessions ignored)", len(e.Supersessions))
	} else {
		x.pass(CheckSupersession, "", "not superseded")
	}
}

// 11.
func (x *evaluation) checkVersion() {
	if x.m == nil {
		x.skip(CheckVersion, "", "no verified manifest")
		return
	}
	run := x.ev.Running
	if run.Release == x.c.Release.ID {
		x.fail(CheckVersion, "", Defer, "this device already runs %s", x.m.Version)
		return
	}
	v, _ := x.m.ParsedVersion() // VerifyManifest validated it
	rv, err := release.ParseVersion(run.Version)
	switch {
	case err != nil:
		x.pass(CheckVersion, "", "running version %q unknown: no downgrade check", run.Version)
	case v.Compare(rv) <= 0:
		x.fail(CheckVersion, "", Deny, "%s is not newer than the running %s: no downgrades", x.m.Version, run.Version)
	default:
		x.pass(CheckVersion, "", "%s is newer than the running %s", x.m.Version, run.Version)
	}
}

// 12.
func (x *evaluation) checkMinimumLegacy() {
	if x.m == nil {
		x.skip(CheckMinimumLegacy, "", "no verified manifest")
		return
	}
	minID := x.m.Compatibility.MinimumLegacyRelease
	run := x.ev.Running
	switch {
	case minID == nil:
		x.skip(CheckMinimumLegacy, "", "the release sets no minimum legacy release")
		return
	case run.Release == *minID:
		x.pass(CheckMinimumLegacy, "", "this device runs the minimum legacy release %s itself", minID.Short())
		return
	case x.ev.Releases == nil:
		x.fail(CheckMinimumLegacy, "", Defer, "minimum legacy release %s cannot be resolved: no catalogue", minID.Short())
		return
	}
	entry, ok := x.ev.Releases.Entry(*minID)
	var minV *release.Manifest
	if ok {
		for _, d := range entry.Declarations {
			if !x.p.TrustsAuthority(d.Manifest.Author) {
				continue
			}
			if m, _, err := release.VerifyManifest(d.Signed.Manifest, d.Signed.Signature, *minID); err == nil && m.Author == d.Manifest.Author {
				minV = m
				break
			}
		}
	}
	if minV == nil {
		x.fail(CheckMinimumLegacy, "", Defer, "minimum legacy release %s is not known from a trusted release authority yet", minID.Short())
		return
	}
	rv, err := release.ParseVersion(run.Version)
	if err != nil {
		x.fail(CheckMinimumLegacy, "", Deny, "running version %q is not a semantic version: cannot show it is at least %s (%s)", run.Version, minV.Version, minID.Short())
		return
	}
	mv, _ := minV.ParsedVersion()
	if rv.Compare(mv) < 0 {
		x.fail(CheckMinimumLegacy, "", Deny, "running %s is older than the minimum legacy release %s (%s): move to it first", run.Version, minV.Version, minID.Short())
		return
	}
	x.pass(CheckMinimumLegacy, "", "running %s is at least the minimum legacy release %s", run.Version, minV.Version)
}

// 13.
func (x *evaluation) checkScopeState() {
	s, R := x.ev.Scope, x.c.Release.ID
	if s == nil {
		x.pass(CheckScopeState, "", "no upgrade recorded in the scope yet")
		return
	}
	if why, ok := s.Blocked(R); ok {
		x.fail(CheckScopeState, "", Deny, "%s %s in this scope", R.Short(), why)
		return
	}
	t := s.Target
	switch {
	case t == nil:
		x.pass(CheckScopeState, "", "no target in the scope yet")
	case t.Release.ID == R:
		x.pass(CheckScopeState, "", "%s is the scope's target (%v)", R.Short(), t.State)
	case t.State == TargetActive && x.newerThan(t.Release.Version):
		x.pass(CheckScopeState, "", "%s (%s) is newer than the scope's target in progress %s (%s) and replaces it", R.Short(), x.m.Version, t.Release.ID.Short(), t.Release.Version)
	case t.State == TargetActive:
		x.fail(CheckScopeState, "", Defer, "the scope is moving to %s (%s); %s can follow once it completes", t.Release.ID.Short(), t.Release.Version, R.Short())
	case t.State == TargetFailed:
		x.fail(CheckScopeState, "", Defer, "the scope failed on %s (%v, rollback %v)", t.Release.ID.Short(), t.Failure.Class, t.Rollback)
	default:
		x.pass(CheckScopeState, "", "the previous target %s is %v", t.Release.ID.Short(), t.State)
	}
}

// newerThan reports whether the candidate's version is higher than v.
func (x *evaluation) newerThan(v string) bool {
	if x.m == nil {
		return false
	}
	mv, err1 := x.m.ParsedVersion()
	tv, err2 := release.ParseVersion(v)
	return err1 == nil && err2 == nil && mv.Compare(tv) > 0
}

// 14.
func (x *evaluation) checkCohort() {
	b := CohortBucket(x.ev.Device, x.c.Release.ID)
	pct := fmt.Sprintf("%d.%02d%%", x.p.RolloutBasisPoints/100, x.p.RolloutBasisPoints%100)
	if b < x.p.RolloutBasisPoints {
		x.pass(CheckCohort, "", "bucket %d is inside the rollout of %s", b, pct)
	} else {
		x.fail(CheckCohort, "", Defer, "bucket %d is outside the rollout of %s", b, pct)
	}
}

// 15.
func (x *evaluation) checkGates() {
	var fromRelease []string
	if x.m != nil {
		fromRelease = x.m.Activation.HealthGates
	}
	gates := slices.Concat(fromRelease, x.p.RequiredHealthGates)
	slices.Sort(gates)
	gates = slices.Compact(gates)
	x.d.Gates = gates
	if len(gates) == 0 {
		x.skip(CheckGate, "", "no health gates declared")
		return
	}
	for _, g := range gates {
		var by []string
		if slices.Contains(fromRelease, g) {
			by = append(by, "the release")
		}
		if slices.Contains(x.p.RequiredHealthGates, g) {
			by = append(by, "the policy")
		}
		ge, ok := x.ev.Gates[g]
		switch {
		case !ok:
			x.fail(CheckGate, g, Deny, "declared by %s but not configured in the launcher", strings.Join(by, " and "))
		case ge.State == GateFailed:
			x.fail(CheckGate, g, Stage, "fails on the running release (%s): not cutting over from an unhealthy node", detailOr(ge.Detail, "no detail"))
		case ge.State == GatePassed:
			x.pass(CheckGate, g, "configured, passes on the running release")
		default:
			x.pass(CheckGate, g, "configured, not run yet; runs after cutover")
		}
	}
}

// 16.
func (x *evaluation) checkArtifacts() {
	if x.m == nil {
		x.skip(CheckArtifact, "", "no verified manifest")
		x.skip(CheckStaging, "", "no verified manifest")
		return
	}
	plat := x.ev.Platform
	if plat == "" {
		x.fail(CheckArtifact, "", Deny, "the evidence names no platform")
		x.skip(CheckStaging, "", "no platform")
		return
	}
	binary, allStaged := false, true
	for _, a := range x.m.Artifacts {
		if a.Platform != "" && a.Platform != plat {
			continue
		}
		if a.Kind == "binary" {
			binary = true
		}
		ae, ok := x.ev.Artifacts[a.Name]
		switch {
		case !ok || ae.State == ArtifactMissing:
			x.fail(CheckArtifact, a.Name, Defer, "not fetched yet")
		case !bytes.Equal(ae.Root, a.Root):
			x.fail(CheckArtifact, a.Name, Deny, "the evidence is about another root than the manifest's")
		case ae.State == ArtifactFetched:
			x.fail(CheckArtifact, a.Name, Stage, "fetched and verified against its root; not staged yet")
		case ae.State == ArtifactStaged:
			x.pass(CheckArtifact, a.Name, "staged and verified against its root")
			continue
		default:
			x.fail(CheckArtifact, a.Name, Deny, "the staged file does not match its root: %s", detailOr(ae.Detail, "corrupt"))
		}
		allStaged = false
	}
	if !binary {
		x.fail(CheckArtifact, "", Deny, "no binary artifact for %s (the release has %s)", plat, platformList(x.m.Artifacts))
	}
	if !allStaged || !binary {
		x.skip(CheckStaging, "", "not every artifact is staged")
		return
	}
	if s := x.ev.Scope; s != nil {
		if d, ok := s.Device(x.ev.Authority, x.ev.Device); ok && slices.Contains(d.Staged, x.c.Release.ID) && d.StagedTarget {
			x.pass(CheckStaging, "", "staging recorded in the scope")
			return
		}
	}
	x.fail(CheckStaging, "", Stage, "staged; the staging is not yet recorded in the scope (record UpgradeStaged)")
}

// 17.
func (x *evaluation) checkApprovals() {
	s, R := x.c.Scope, x.c.Release.ID
	asks := x.m != nil && x.m.Activation.ThresholdApprovalRequired
	switch s.Kind {
	case ManagedQuorum:
		var approved, missing []facts.AuthorityID
		if x.ev.Scope != nil {
			approved, missing = x.ev.Scope.Approvals(R)
		} else {
			missing = s.Participants
		}
		if len(missing) == 0 {
			x.pass(CheckApprovals, "", "all %d participants approved the cutover", len(approved))
		} else {
			x.fail(CheckApprovals, "", Stage, "%d of %d participants approved; missing: %s", len(approved), len(s.Participants), authorityList(missing))
		}
	case DeviceLocal, AuthorityLocal:
		if asks {
			x.pass(CheckApprovals, "", "the release asks for threshold approval; in a single-owner %v scope the owner's own activation is the approval", s.Kind)
		} else {
			x.skip(CheckApprovals, "", "no approval set in a %v scope", s.Kind)
		}
	default:
		if asks {
			x.fail(CheckApprovals, "", Deny, "the release asks for threshold approval and relational context %s has no participant set: use a managed quorum scope", s.Short())
		} else {
			x.skip(CheckApprovals, "", "no approval set in a relational context")
		}
	}
}

// 18.
func (x *evaluation) checkFence() {
	if x.m == nil {
		x.skip(CheckEpochFence, "", "no verified manifest")
		return
	}
	hard, asks := x.m.Compatibility.Class.HardFork(), x.m.Activation.EpochFenceRequired
	switch {
	case !x.p.EpochFence && asks:
		x.skip(CheckEpochFence, "", "the release asks for an epoch fence; this scope owns none, so the request does not apply here")
		return
	case !x.p.EpochFence:
		x.skip(CheckEpochFence, "", "the scope owns no epoch fence")
		return
	case !hard && !asks:
		x.skip(CheckEpochFence, "", "soft fork without a fence request")
		return
	}
	var fence uint64
	ok := false
	if x.ev.Scope != nil {
		fence, ok = x.ev.Scope.Fence(x.c.Release.ID)
	}
	switch {
	case !ok:
		x.fail(CheckEpochFence, "", Stage, "waiting for the owner to set the epoch fence")
	case x.ev.Epoch < fence:
		x.fail(CheckEpochFence, "", Stage, "fence at epoch %d, current epoch %d", fence, x.ev.Epoch)
	default:
		x.pass(CheckEpochFence, "", "fence at epoch %d reached (epoch %d)", fence, x.ev.Epoch)
	}
}

// 19.
func (x *evaluation) checkWindow() {
	w, daily := x.p.Window, x.p.Daily
	if w == nil && daily == nil {
		x.skip(CheckWindow, "", "no activation window")
		return
	}
	if w != nil {
		switch {
		case x.now < w.NotBeforeUnixMs:
			x.fail(CheckWindow, "absolute", Stage, "opens at %s (now %s)", fmtMs(w.NotBeforeUnixMs), fmtMs(x.now))
		case w.NotAfterUnixMs != 0 && x.now >= w.NotAfterUnixMs:
			x.fail(CheckWindow, "absolute", Deny, "closed at %s (now %s)", fmtMs(w.NotAfterUnixMs), fmtMs(x.now))
		default:
			x.pass(CheckWindow, "absolute", "open (now %s)", fmtMs(x.now))
		}
	}
	if daily != nil {
		minute := uint16((x.now / 60000) % minutesPerDay)
		if daily.contains(minute) {
			x.pass(CheckWindow, "daily", "inside %s (now %02d:%02d UTC)", daily, minute/60, minute%60)
		} else {
			x.fail(CheckWindow, "daily", Stage, "outside %s (now %02d:%02d UTC)", daily, minute/60, minute%60)
		}
	}
}

// 20.
func (x *evaluation) checkNotBefore() {
	if x.m == nil {
		x.skip(CheckNotBefore, "", "no verified manifest")
		return
	}
	t := x.m.SuggestedActivationTimeUnixMs
	switch {
	case t == nil:
		x.skip(CheckNotBefore, "", "no suggested activation time")
	case !x.p.HonourSuggestedTime:
		x.skip(CheckNotBefore, "", "suggested activation time %s ignored by the policy", fmtMs(*t))
	case x.now < *t:
		x.fail(CheckNotBefore, "", Stage, "not before the suggested %s (a local hint; now %s)", fmtMs(*t), fmtMs(x.now))
	default:
		x.pass(CheckNotBefore, "", "past the suggested %s", fmtMs(*t))
	}
}

// noCanaryNote explains why a hard fork ignores the policy's canary wave.
const noCanaryNote = "no canary wave for a hard fork: after its cutover a canary refuses sessions and gossip with legacy peers, so the devices waiting for it could never see its report; every device cuts over when its own checks pass"

// softFork: the classes whose devices keep talking across the cutover.
func softFork(c release.CompatibilityClass) bool {
	return c == release.BackwardCompatible || c == release.MixedCoexistenceAllowed
}

// 21. The canary wave is a check of the evaluator rather than a rule of
// Next so that Activate keeps its meaning (this device may cut over now)
// for every caller: `upgrade cutover`, a scope holding another's cutover,
// status. It fails with Stage, like the approvals: the device stages and
// waits.
func (x *evaluation) checkCanary() {
	switch {
	case x.p.Canary == 0:
		x.skip(CheckCanary, "", "no canary wave (canary 0): every device cuts over when its own checks pass")
		return
	case x.m == nil:
		x.skip(CheckCanary, "", "no verified manifest")
		return
	case !softFork(x.m.Compatibility.Class):
		x.skip(CheckCanary, "", "%v: %s", x.m.Compatibility.Class, noCanaryNote)
		return
	}
	R, version := x.c.Release.ID, x.m.Version
	w := CanaryWave(x.ev.Scope, R, int(x.p.Canary))
	x.d.Wave = &w
	me, ready := w.device(x.ev.Authority, x.ev.Device)
	switch {
	case w.Open():
		x.pass(CheckCanary, "", "the canary wave passed: %d devices healthy on %s (wave of %d)", w.Healthy, version, w.Size)
	case me >= 0:
		x.pass(CheckCanary, "", "this device is canary %d of %d for %s (canaries: %s)", me+1, w.Size, version, w.names())
	case !ready && len(w.Canaries) < w.Size:
		x.fail(CheckCanary, "", Stage, "the canary wave of %d forms from the devices that staged %s, and this device has not (canaries so far: %s)", w.Size, version, w.names())
	default:
		x.fail(CheckCanary, "", Stage, "waits for the canary wave: needs %d devices healthy on %s (every gate passed), has %d; canaries: %s", w.Size, version, w.Healthy, w.names())
	}
}

// WaveDevice is a device of a canary wave.
type WaveDevice struct {
	Authority facts.AuthorityID
	Device    string
	// State is "healthy" (runs the release, every gate passed),
	// "running" (gates pending or failed), "cutting over" or "ready"
	// (staged, not begun).
	State string
}

// Wave is the canary wave of a release in a scope, as the replicated
// scope state shows it (CanaryWave).
type Wave struct {
	Release release.ID
	// Size is the policy's canary count.
	Size int
	// Canaries are the devices that cut over first, in wave order.
	Canaries []WaveDevice
	// Healthy counts the scope's devices that run the release with every
	// gate passed.
	Healthy int
	// ready are the devices that staged the release or are on it.
	ready []WaveDevice
}

// Open reports whether the wave has passed: Size devices run the release
// with every gate passed, so every device may cut over.
func (w *Wave) Open() bool { return w.Healthy >= w.Size }

// IsCanary reports whether a device is one of the wave's canaries.
func (w *Wave) IsCanary(authority facts.AuthorityID, device string) bool {
	i, _ := w.device(authority, device)
	return i >= 0
}

// device returns the device's index among the canaries (-1 if not one)
// and whether it staged the release or is on it.
func (w *Wave) device(authority facts.AuthorityID, device string) (int, bool) {
	for i, c := range w.Canaries {
		if c.Authority == authority && c.Device == device {
			return i, true
		}
	}
	for _, r := range w.ready {
		if r.Authority == authority && r.Device == device {
			return -1, true
		}
	}
	return -1, false
}

// maxNamed bounds the canaries a reason names.
const maxNamed = 8

func (w *Wave) names() string {
	if len(w.Canaries) == 0 {
		return "none yet"
	}
	var parts []string
	for i, c := range w.Canaries {
		if i == maxNamed {
			parts = append(parts, fmt.Sprintf("and %d more", len(w.Canaries)-maxNamed))
			break
		}
		parts = append(parts, c.Device+" ("+c.State+")")
	}
	return strings.Join(parts, ", ")
}

// CanaryWave computes the canary wave of release id in a scope from its
// replicated state (nil: no state yet), for a policy whose canary count
// is size. Every node computes the same wave from the same state, and
// the state is the same whatever order its facts arrived in. The rules,
// in order:
//
//  1. A device that runs the release or is cutting over to it has begun
//     and keeps its place in the wave, whatever its rank: the wave never
//     calls back a device already switching.
//  2. The remaining places go to the devices that staged the release
//     and have not begun, lowest CanaryRank first. Devices that have
//     not staged it are not ranked, so a device that is offline, outside
//     the rollout cohort or denied by its own checks never holds the
//     wave up.
//  3. The wave has passed (Open) once size devices of the scope run the
//     release with every gate passed; then every device may cut over.
//
// A canary that fails (a gate, the launcher's activation) fails the
// scope's target, and the evaluator then denies the release to every
// other device (check 13), so the rest never cut over.
//
// The wave forms from what the state shows: two devices that stage at
// the same moment and each cut over before the other's staging reaches
// it may both begin (rule 1 then keeps both). The wave bounds how many
// devices a bad build reaches; it is not a lock.
func CanaryWave(s *Status, id release.ID, size int) Wave {
	w := Wave{Release: id, Size: size}
	if s == nil {
		return w
	}
	type ranked struct {
		WaveDevice
		rank  [32]byte
		begun bool
	}
	var rs []ranked
	for _, d := range s.Devices {
		r := ranked{WaveDevice: WaveDevice{Authority: d.Authority, Device: d.Device}}
		switch {
		case d.Running.ID == id && d.Healthy:
			r.State, r.begun = "healthy", true
			w.Healthy++
		case d.Running.ID == id:
			r.State, r.begun = "running", true
		case d.Doing == CuttingOver && d.DoingRelease == id:
			r.State, r.begun = "cutting over", true
		case slices.Contains(d.Staged, id):
			r.State = "ready"
		default:
			continue
		}
		r.rank = CanaryRank(id, d.Authority, d.Device)
		rs = append(rs, r)
	}
	// 1, 2: begun devices first, then by rank, then by device key.
	slices.SortFunc(rs, func(a, b ranked) int {
		if a.begun != b.begun {
			if a.begun {
				return -1
			}
			return 1
		}
		if c := bytes.Compare(a.rank[:], b.rank[:]); c != 0 {
			return c
		}
		if c := compareAuthorities(a.Authority, b.Authority); c != 0 {
			return c
		}
		return strings.Compare(a.Device, b.Device)
	})
	for _, r := range rs {
		if r.begun || len(w.Canaries) < size {
			w.Canaries = append(w.Canaries, r.WaveDevice)
		} else {
			w.ready = append(w.ready, r.WaveDevice)
		}
	}
	return w
}

func fmtMs(ms uint64) string {
	return time.UnixMilli(int64(min(ms, 1<<62))).UTC().Format(time.RFC3339)
}

func parenList(as []facts.AuthorityID) string {
	if len(as) == 0 {
		return ""
	}
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = a.Short()
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func classList(cs []release.CompatibilityClass) string {
	if len(cs) == 0 {
		return "none"
	}
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.String()
	}
	return strings.Join(parts, ", ")
}

func platformList(arts []release.Artifact) string {
	var ps []string
	for _, a := range arts {
		p := a.Platform
		if p == "" {
			p = "any platform"
		}
		ps = append(ps, a.Kind+" for "+p)
	}
	return strings.Join(ps, ", ")
}
