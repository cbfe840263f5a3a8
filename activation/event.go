package activation

import (
	"bytes"
	"fmt"

	"github.com/ipfs/go-cid"

	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/release"
)

// Event is one activation fact as the Reducer sees it: an
// ActivationPolicyPublished (Policy set) or an UpgradeExecution event
// (Upgrade set), with the envelope fields that order and authorise it.
// Build it with EventFromFact.
type Event struct {
	// Fact is the fact's CID: identity and the last ordering key.
	Fact cid.Cid
	Kind facts.Kind
	// Author is the fact's author (authenticated by its signature).
	Author facts.AuthorityID
	// Epoch is the fact's identity epoch (checked against epoch fences).
	Epoch uint64
	// Time is the fact's HLC timestamp: the first ordering key.
	Time facts.Timestamp
	// Scope is the scope the event belongs to.
	Scope Scope
	// Release is the release the event is about (zero for a policy, and
	// for a ScopeEntered from an unreleased build).
	Release release.ID
	// Upgrade is the payload of an UpgradeExecution event.
	Upgrade *facts.UpgradeEvent
	// Policy is the decoded document of an ActivationPolicyPublished.
	Policy *Policy
}

// IsActivationKind reports whether facts of kind k are activation events
// (kinds 52 and 60-68; MigrationApplied, 69, is recorded by the node and
// not reduced here).
func IsActivationKind(k facts.Kind) bool {
	return k == facts.KindActivationPolicyPublished || (k >= facts.KindUpgradeStaged && k <= facts.KindHealthGateResult)
}

// EventFromFact turns a checked fact (its envelope, CID and decoded
// payload) into an Event and validates it (ValidateEvent). Facts of other
// kinds return ErrNotActivation. An error wrapping ErrInvalidEvent,
// ErrUnauthorised or ErrInvalidPolicy means the fact must be refused
// whatever the state, so the node can reject it at ingestion.
func EventFromFact(f *facts.Fact, id cid.Cid, p facts.Payload) (Event, error) {
	if f == nil || !IsActivationKind(f.Kind) {
		var k facts.Kind
		if f != nil {
			k = f.Kind
		}
		return Event{}, wrapf(ErrNotActivation, "%v", k)
	}
	e := Event{Fact: id, Kind: f.Kind, Author: f.Author, Epoch: f.Epoch, Time: f.Time}
	switch p := p.(type) {
	case *facts.PolicyPublished:
		if f.Kind != facts.KindActivationPolicyPublished {
			return Event{}, wrapf(ErrInvalidEvent, "%v carries a policy payload", f.Kind)
		}
		pol, err := DecodePolicy(p.Policy)
		if err != nil {
			return Event{}, err
		}
		e.Scope, e.Policy = cloneScope(p.Scope), &pol
	case *facts.UpgradeEvent:
		if f.Kind == facts.KindActivationPolicyPublished {
			return Event{}, wrapf(ErrInvalidEvent, "%v carries an upgrade payload", f.Kind)
		}
		u := *p
		u.Scope = cloneScope(p.Scope)
		u.ReleaseID = bytes.Clone(p.ReleaseID)
		u.Gates = append([]string(nil), p.Gates...)
		rid, err := release.IDFromBytes(u.ReleaseID)
		if err != nil {
			return Event{}, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
		}
		e.Scope, e.Release, e.Upgrade = u.Scope, rid, &u
	default:
		return Event{}, wrapf(ErrInvalidEvent, "%v with payload %T", f.Kind, p)
	}
	if err := ValidateEvent(e); err != nil {
		return Event{}, err
	}
	return e, nil
}

func cloneScope(s Scope) Scope {
	s.Participants = append([]facts.AuthorityID(nil), s.Participants...)
	return s
}

// ValidateEvent runs every check that does not depend on the scope's
// state: the payload's shape for its kind, the scope, semantic versions,
// and who may author what. Its answer is the same on every node and at
// every time, so a fact it refuses can be refused at ingestion without
// the nodes' journals diverging. The rules of authorship:
//
//  1. A policy is published by the scope's owner, and its document names
//     the fact's scope.
//  2. Device events (those naming a Device) come from the device's
//     authority: the owner in a device or authority scope (and, in a
//     device scope, only about the scope's device), a participant in a
//     managed quorum, anyone in a relational context.
//  3. Scope orders (a TransitionChanged without a Device) come from the
//     owner; a ReleaseRevoked report may also come from any author that
//     may send device events in the scope.
//  4. A cutover approval comes from a participant of a managed quorum;
//     the owner may send one carrying an epoch fence (in any scope but a
//     device scope).
func ValidateEvent(e Event) error {
	if !IsActivationKind(e.Kind) {
		return wrapf(ErrNotActivation, "%v", e.Kind)
	}
	if err := e.Scope.CheckActivation(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	if e.Author.IsZero() || !e.Fact.Defined() {
		return wrapf(ErrInvalidEvent, "no author or no fact CID")
	}
	if e.Kind == facts.KindActivationPolicyPublished {
		if e.Policy == nil || e.Upgrade != nil {
			return wrapf(ErrInvalidEvent, "%v without a policy", e.Kind)
		}
		if err := e.Policy.Validate(); err != nil {
			return err
		}
		if e.Policy.Scope.Key() != e.Scope.Key() {
			return wrapf(ErrInvalidEvent, "policy document governs %s but is published for %s", e.Policy.Scope, e.Scope)
		}
		// 1.
		if e.Author != e.Scope.Owner {
			return wrapf(ErrUnauthorised, "%s published a policy for %s, owned by %s", e.Author, e.Scope.Short(), e.Scope.Owner)
		}
		return nil
	}
	u := e.Upgrade
	if u == nil || e.Policy != nil {
		return wrapf(ErrInvalidEvent, "%v without an upgrade event", e.Kind)
	}
	if err := u.CheckPayload(e.Kind); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	if u.Scope.Key() != e.Scope.Key() || !bytes.Equal(u.ReleaseID, e.Release[:]) {
		return wrapf(ErrInvalidEvent, "event scope or release differs from its payload's")
	}
	if e.Kind == facts.KindUpgradeStaged {
		if _, err := release.ParseVersion(u.Version); err != nil {
			return fmt.Errorf("%w: staged version: %w", ErrInvalidEvent, err)
		}
	}
	s := e.Scope
	switch {
	case u.Device != "":
		// 2.
		if err := mayReportDevice(s, e.Author, u.Device); err != nil {
			return err
		}
	case e.Kind == facts.KindTransitionChanged:
		// 3.
		if e.Author == s.Owner {
			return nil
		}
		if u.Failure == ReleaseRevoked && mayReportDevice(s, e.Author, "") == nil {
			return nil
		}
		order := "a cancellation"
		if u.Transition == RollingBack {
			order = "a rollback"
		}
		return wrapf(ErrUnauthorised, "%s is not the owner of %s (%s): only the owner orders %s", e.Author, s.Short(), s.Owner, order)
	case e.Kind == facts.KindCutoverApproved:
		// 4.
		if u.FenceEpoch != 0 {
			if s.Kind == DeviceLocal {
				return wrapf(ErrInvalidEvent, "a device-local scope owns no epoch fence")
			}
			if e.Author != s.Owner && !s.HasParticipant(e.Author) {
				return wrapf(ErrUnauthorised, "%s may not set the epoch fence of %s: only its owner %s", e.Author, s.Short(), s.Owner)
			}
			if e.Author != s.Owner {
				return wrapf(ErrUnauthorised, "participant %s may approve but not set the epoch fence of %s: only its owner %s", e.Author, s.Short(), s.Owner)
			}
			return nil
		}
		if s.Kind != ManagedQuorum {
			return wrapf(ErrInvalidEvent, "%s has no participant set: cutover approvals exist only in managed quorum scopes", s.Short())
		}
		if !s.HasParticipant(e.Author) {
			return wrapf(ErrUnauthorised, "%s is not a participant of %s; participants: %s", e.Author, s.Short(), authorityList(s.Participants))
		}
	}
	return nil
}

// mayReportDevice applies rule 2 of ValidateEvent; device "" skips the
// device-ID comparison.
func mayReportDevice(s Scope, author facts.AuthorityID, device string) error {
	switch s.Kind {
	case DeviceLocal:
		if author != s.Owner {
			return wrapf(ErrUnauthorised, "%s reports on device scope %s, owned by %s", author, s.Short(), s.Owner)
		}
		if device != "" && device != s.ID {
			return wrapf(ErrUnauthorised, "device scope %s is about device %s, not %s", s.Short(), s.ID, device)
		}
	case AuthorityLocal:
		if author != s.Owner {
			return wrapf(ErrUnauthorised, "%s reports in authority scope %s, which only its own devices do", author, s.Short())
		}
	case ManagedQuorum:
		if !s.HasParticipant(author) {
			return wrapf(ErrUnauthorised, "%s is not a participant of %s; participants: %s", author, s.Short(), authorityList(s.Participants))
		}
	}
	return nil
}

func authorityList(as []facts.AuthorityID) string {
	if len(as) == 0 {
		return "none"
	}
	var b bytes.Buffer
	for i, a := range as {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a.String())
	}
	return b.String()
}
