package activation

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/release"
)

// StepAction is what a node does next for its device in a scope.
type StepAction uint8

// Step actions. Each that changes the device is recorded as a fact
// before the launcher is asked, so the journal always knows what the
// device may be doing.
const (
	// Wait: nothing to do now; Reason says why.
	Wait StepAction = iota + 1
	// StageRelease: have the launcher stage the release's artifacts (if
	// not staged yet), then record UpgradeStaged with Decision.Gates.
	StageRelease
	// Cutover: record TransitionChanged(CuttingOver, Plan.InFlight[0]),
	// then have the launcher cut over; record its result
	// (CutoverCompleted, then HealthGateResult per gate).
	Cutover
	// Rollback: record TransitionChanged(RollingBack), then have the
	// launcher roll back; record RollbackExecuted.
	Rollback
)

var stepNames = []string{"", "wait", "stage", "cutover", "rollback"}

// String returns "wait", "stage", "cutover" or "rollback".
func (a StepAction) String() string {
	if a > 0 && int(a) < len(stepNames) {
		return stepNames[a]
	}
	return fmt.Sprintf("StepAction(%d)", uint8(a))
}

// Step is the next thing a node does for its device in one scope.
type Step struct {
	Action StepAction
	// Release is the release to stage, cut over to, or roll back.
	Release release.ID
	// Plan is the session plan of a Cutover.
	Plan SessionPlan
	// Reason says why, for logs and `upgrade status`.
	Reason string
}

// Next combines the scope's state with this device's decision about a
// candidate into the one thing to do next. The rules, in order:
//
//  1. A device switching (cutting over or rolling back) waits for its
//     launcher.
//  2. A device running a release the scope no longer accepts (an ordered
//     rollback, a cutover that lost a race) rolls it back, whatever the
//     decision says.
//  3. A device on a failed target whose rollback awaits the owner's
//     approval waits.
//  4. A Deny or Defer decision waits, with its blocking reasons.
//  5. A device already running the candidate waits.
//  6. A device whose staging of the candidate the scope does not count
//     (not staged, or staged when the candidate could not become the
//     target) stages it and records the staging.
//  7. An Activate decision cuts over.
//  8. Otherwise (Stage) wait, with the reasons activation waits for
//     (approvals, the fence, a window, the canary wave...).
//
// The canary wave is not a rule here: it is check 21 of Evaluate, so an
// Activate decision means "cut over now" for every caller. A device
// outside the wave therefore reaches rule 8 and waits with the check's
// text, which names the canaries.
func Next(s *Status, authority facts.AuthorityID, device string, d Decision) Step {
	ds, known := s.Device(authority, device)
	switch {
	case known && ds.Doing != Idle: // 1.
		doing := "cutting over to"
		if ds.Doing == RollingBack {
			doing = "rolling back"
		}
		return Step{Action: Wait, Release: ds.DoingRelease, Reason: fmt.Sprintf("the launcher is %s %s", doing, ds.DoingRelease.Short())}
	case known && ds.MustRollBack: // 2.
		return Step{Action: Rollback, Release: ds.Running.ID, Reason: fmt.Sprintf("the scope no longer accepts %s", ds.Running.ID.Short())}
	case known && ds.OnTarget && s.Target.Rollback == RollbackAwaitingApproval: // 3.
		return Step{Action: Wait, Release: ds.Running.ID, Reason: fmt.Sprintf("the scope failed (%v: %s); the rollback awaits the owner's approval", s.Target.Failure.Class, s.Target.Failure.Detail)}
	case d.Verdict == Deny || d.Verdict == Defer: // 4.
		return Step{Action: Wait, Release: d.Release, Reason: d.Verdict.String() + ": " + reasons(d.Blocking())}
	case known && ds.Running.ID == d.Release: // 5.
		return Step{Action: Wait, Release: d.Release, Reason: "this device runs " + d.Release.Short()}
	case !known || !ds.StagedTarget || s.Target == nil || s.Target.Release.ID != d.Release || !slices.Contains(ds.Staged, d.Release): // 6.
		return Step{Action: StageRelease, Release: d.Release, Reason: "stage " + d.Release.Short() + " and record the staging"}
	case d.Verdict == Activate: // 7.
		return Step{Action: Cutover, Release: d.Release, Plan: d.Plan, Reason: "every check passes"}
	}
	return Step{Action: Wait, Release: d.Release, Reason: "staged; activation waits: " + reasons(d.Blocking())} // 8.
}

func reasons(cs []Check) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = string(c.ID)
		if c.Subject != "" {
			parts[i] += "[" + c.Subject + "]"
		}
		parts[i] += ": " + c.Text
	}
	return strings.Join(parts, "; ")
}
