// Package activation is the pure core of scoped activation: when a
// release that has been distributed may run, where, and what happens
// when it fails. Release distribution is eventual (release/); activation
// is local or scope-bound, decided by each node from policy and evidence,
// and carried out by a launcher, so the running node never replaces
// itself in place.
//
// It owns:
//
//   - Scopes (device-local, authority-local, relational context, managed
//     quorum) with their canonical key; the wire types are in facts
//     (facts.Scope and the UpgradeExecution payload) and aliased here.
//   - The Policy of a scope (trusted release authorities and builders,
//     builder threshold, allowed compatibility classes, rollout cohort,
//     activation windows, the suggested time as a not-before hint, required
//     health gates, rollback preference, epoch fence ownership, in-flight
//     preference) and its one canonical encoding: the document of an
//     ActivationPolicyPublished fact, or the node's own device policy.
//   - Evaluate: a pure function of (policy, candidate, evidence, local
//     clock) that returns Deny, Defer, Stage or Activate with every check
//     it ran, each passed, failed or skipped, with its reason.
//   - The Reducer: the per-scope state machine reduced from
//     ActivationPolicyPublished and UpgradeExecution facts. Residency
//     (LegacyOnly, Coexisting, TargetOnly), transition (Idle,
//     AwaitingCutover, CuttingOver, RollingBack), the target release, the
//     failure with its class and detail, managed-quorum approvals, epoch
//     fences, and every device with what it runs and its health gates.
//   - PlanCutover: the session plan of a cutover by compatibility class
//     (refuse incompatible new sessions, in-flight drain / abort /
//     delegate with fallbacks, partition_required).
//   - Next: the one thing a node does next for its device in a scope.
//
// It never does I/O, never starts goroutines and never reads the clock
// (internal/archtest enforces this): the node passes the time in, reads
// artifacts and gates through its launcher, and records facts.
//
// # The loop a node runs
//
// For each scope its device belongs to, whenever a relevant fact arrives
// (a release, a certificate, an activation fact), a launcher report
// comes back, or a timer fires:
//
//	// 1. Reduce: every verified activation fact, in any order.
//	ev, err := activation.EventFromFact(fact, id, payload)
//	if err != nil { /* refuse the fact: invalid whatever the state */ }
//	reducer.Apply(ev)
//
//	// 2. Evaluate the candidate (the newest trusted release, say).
//	status := reducer.Status(scope)
//	entry, _ := catalogue.Entry(candidateID)
//	d := activation.Evaluate(policy, activation.Candidate{Scope: scope, Release: entry},
//		activation.Evidence{Device: self, Authority: me, Platform: "linux/amd64",
//			Running: running, Artifacts: launcherArtifacts, Gates: launcherGates,
//			PartitionHandling: true, Epoch: epoch, Scope: &status, Releases: catalogue},
//		nowUnixMs)
//	for _, c := range d.Checks { log(c) } // "fail(defer) builders: 1 of 2 required trusted builders ..."
//
//	// 3. Act on the one next step.
//	switch step := activation.Next(&status, me, self, d); step.Action {
//	case activation.StageRelease:
//		// launcher: stage d.Manifest's artifacts; then author UpgradeStaged
//		// {Device: self, Version, Class, Gates: d.Gates}
//	case activation.Cutover:
//		// author TransitionChanged{Device: self, Transition: CuttingOver,
//		// InFlight: step.Plan.InFlight[0]}; launcher: cut over; when it
//		// reports, author CutoverCompleted and one HealthGateResult per gate
//	case activation.Rollback:
//		// author TransitionChanged{Device: self, Transition: RollingBack};
//		// launcher: roll back; author RollbackExecuted
//	case activation.Wait:
//		// nothing; step.Reason says why
//	}
//
// Before authoring a decision (a staging, a cutover, an approval, an
// order) the node asks reducer.Check with the signed event: only an
// Applied result may be published; a Refused one is shown to the
// operator with its reason (Result.Err). Reports of what a device
// physically did (CutoverCompleted, HealthGateResult, RollbackExecuted,
// ResidencyChanged, PartitionObserved) are always published: the state
// must not lie about what runs.
//
// # Refusing facts
//
// EventFromFact (ValidateEvent) refuses what is invalid whatever the
// state: malformed payloads, policies not by the scope's owner, approvals
// from non-participants, orders not by the owner, device events from
// outside the scope. The node rejects such facts at ingestion. Whether an
// event is legal in the scope's state depends on the other events, which
// nodes receive in different orders; such events are stored and
// forwarded, and the reduction refuses them at their place in the order,
// identically on every node (Status.Refused). Refusing them at ingestion
// would make journals diverge.
//
// # Determinism
//
// A scope's state is a fold of its events sorted by HLC timestamp, then
// fact CID (compareEvents). The same set of events gives the same Status
// on every node, whatever the arrival order; Apply is incremental when
// events arrive in order and refolds the scope when one arrives late.
package activation
