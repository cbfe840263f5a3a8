package facts

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
)

// This file holds the wire types of scoped activation: activation scopes,
// policy publications, the UpgradeExecution payload and the enumerations
// it carries. Their meaning (legal transitions, authorisation, the
// reduction into per-scope state) belongs to activation/; the checks here
// are the ones that need nothing but the payload.

// Bounds of activation payloads. Part of the protocol, like every bound.
const (
	// MaxScopeIDLen bounds a device ID or a context ID of a scope.
	MaxScopeIDLen = 128
	// MaxUpgradeGates bounds the health gates a device declares when it
	// stages a release (the manifest's, at most 32, and the policy's).
	MaxUpgradeGates = 64
	// maxVersionLen bounds a version string (release.MaxVersionLen).
	maxVersionLen = 128
	// maxCompatibilityClass is the highest release.CompatibilityClass
	// (IncompatibleWithoutPartition); facts cannot import release.
	maxCompatibilityClass = 4
)

// ScopeKind says what an activation scope covers.
type ScopeKind uint8

// Activation scope kinds. Values are part of the wire format.
const (
	// ScopeDevice is one device (one node): its owner is the authority
	// the device belongs to, its ID the device ID (the node's peer ID).
	ScopeDevice ScopeKind = 1
	// ScopeAuthority is every device of one authority: the owner; the ID
	// is empty.
	ScopeAuthority ScopeKind = 2
	// ScopeContext is a relational context, named by its ID and governed
	// by its owner; any device may enter it.
	ScopeContext ScopeKind = 3
	// ScopeManagedQuorum is a context with an explicit participant set:
	// only participants' devices take part, and every participant must
	// approve a cutover.
	ScopeManagedQuorum ScopeKind = 4
)

var scopeKindNames = []string{"", "device", "authority", "context", "quorum"}

// String returns "device", "authority", "context" or "quorum".
func (k ScopeKind) String() string {
	if k >= ScopeDevice && k <= ScopeManagedQuorum {
		return scopeKindNames[k]
	}
	return fmt.Sprintf("ScopeKind(%d)", uint8(k))
}

// Scope names an activation scope. Two scopes are the same scope exactly
// when their Keys are equal: a managed quorum with another participant
// set is another scope.
type Scope struct {
	Kind ScopeKind `cbor:"1,keyasint"`
	// ID is the device ID (ScopeDevice) or the context ID (ScopeContext,
	// ScopeManagedQuorum); empty for ScopeAuthority.
	ID string `cbor:"2,keyasint"`
	// Participants is the participant set of a managed quorum, sorted
	// and unique; empty for every other kind.
	Participants []AuthorityID `cbor:"3,keyasint,omitempty"`
	// Owner is the authority that owns the scope: it publishes the
	// scope's activation policy and gives the scope's orders (cancel,
	// rollback approval, epoch fence). Activation scopes must name one;
	// recommendation scopes may leave it zero.
	Owner AuthorityID `cbor:"4,keyasint,omitzero"`
}

// check runs the rules every scope obeys, activation or recommendation.
func (s *Scope) check() error {
	if s.Kind < ScopeDevice || s.Kind > ScopeManagedQuorum {
		return badPayload("unknown scope kind %d", s.Kind)
	}
	if (s.Kind == ScopeManagedQuorum) != (len(s.Participants) > 0) {
		return badPayload("participants are required for, and only for, managed quorum scopes")
	}
	if len(s.Participants) > MaxRosterMembers {
		return badPayload("scope has %d participants, limit %d", len(s.Participants), MaxRosterMembers)
	}
	for i, p := range s.Participants {
		if p.IsZero() {
			return badPayload("scope participant %d is the zero authority", i)
		}
		// Rule: participants sorted and unique, so one participant set
		// has one encoding and one key.
		if i > 0 && bytes.Compare(s.Participants[i-1][:], p[:]) >= 0 {
			return badPayload("scope participants must be sorted without duplicates")
		}
	}
	return checkText("scope id", s.ID, MaxNameLen)
}

// CheckActivation checks the scope as an activation scope: the common
// rules, an owner, and an ID of the kind's form (a device or context ID
// of [A-Za-z0-9._-], at most MaxScopeIDLen bytes; none for an authority
// scope). The error wraps ErrBadPayload.
func (s *Scope) CheckActivation() error {
	if err := s.check(); err != nil {
		return err
	}
	if s.Owner.IsZero() {
		return badPayload("%s scope has no owner", s.Kind)
	}
	if s.Kind == ScopeAuthority {
		if s.ID != "" {
			return badPayload("authority scope takes no ID (the owner is the authority)")
		}
		return nil
	}
	field := "device ID"
	if s.Kind != ScopeDevice {
		field = "context ID"
	}
	return checkToken(field, s.ID, MaxScopeIDLen)
}

// checkToken: non-empty [A-Za-z0-9._-], at most max bytes, not "." or
// "..": safe as a file name and free of the separators Scope.Key uses.
func checkToken(field, s string, max int) error {
	if s == "" {
		return badPayload("%s is empty", field)
	}
	if len(s) > max {
		return badPayload("%s is %d bytes, limit %d", field, len(s), max)
	}
	if s == "." || s == ".." {
		return badPayload("%s %q is not a name", field, s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return badPayload("%s %q: character %q not allowed (want [A-Za-z0-9._-])", field, s, c)
		}
	}
	return nil
}

// Key returns the scope's canonical text, which ParseScope reads back:
//
//	device:OWNER/DEVICE
//	authority:OWNER
//	context:OWNER/CONTEXT
//	quorum:OWNER/CONTEXT/PARTICIPANT,PARTICIPANT,...
//
// OWNER and PARTICIPANT are authority IDs (12D3KooW...). For a valid
// activation scope (CheckActivation) two scopes are equal exactly when
// their keys are.
func (s Scope) Key() string {
	var b strings.Builder
	b.WriteString(s.Kind.String())
	b.WriteByte(':')
	b.WriteString(s.Owner.String())
	if s.Kind != ScopeAuthority {
		b.WriteByte('/')
		b.WriteString(s.ID)
	}
	if s.Kind == ScopeManagedQuorum {
		b.WriteByte('/')
		for i, p := range s.Participants {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(p.String())
		}
	}
	return b.String()
}

// String returns the Key.
func (s Scope) String() string { return s.Key() }

// Short returns a compact label for tables: owners and participants by
// their Short form, a quorum by its participant count.
func (s Scope) Short() string {
	switch s.Kind {
	case ScopeAuthority:
		return "authority:" + s.Owner.Short()
	case ScopeManagedQuorum:
		return fmt.Sprintf("quorum:%s/%s(%d)", s.Owner.Short(), s.ID, len(s.Participants))
	}
	return s.Kind.String() + ":" + s.Owner.Short() + "/" + s.ID
}

// HasParticipant reports whether a is a participant of a managed quorum.
func (s Scope) HasParticipant(a AuthorityID) bool {
	_, ok := slices.BinarySearchFunc(s.Participants, a, func(x, y AuthorityID) int { return bytes.Compare(x[:], y[:]) })
	return ok
}

// ParseScope parses the Key form and checks it with CheckActivation.
// Participants may be given in any order; they are sorted.
func ParseScope(text string) (Scope, error) {
	kind, rest, ok := strings.Cut(text, ":")
	if !ok {
		return Scope{}, fmt.Errorf("%w: scope %q: want KIND:OWNER[/ID[/PARTICIPANTS]]", ErrBadPayload, text)
	}
	var s Scope
	for k := ScopeDevice; k <= ScopeManagedQuorum; k++ {
		if kind == k.String() {
			s.Kind = k
		}
	}
	if s.Kind == 0 {
		return Scope{}, fmt.Errorf("%w: scope %q: kind %q is not device, authority, context or quorum", ErrBadPayload, text, kind)
	}
	parts := strings.Split(rest, "/")
	want := map[ScopeKind]int{ScopeDevice: 2, ScopeAuthority: 1, ScopeContext: 2, ScopeManagedQuorum: 3}[s.Kind]
	if len(parts) != want {
		return Scope{}, fmt.Errorf("%w: scope %q: a %s scope has %d /-separated parts after the kind", ErrBadPayload, text, s.Kind, want)
	}
	owner, err := ParseAuthorityID(parts[0])
	if err != nil {
		return Scope{}, fmt.Errorf("%w: scope owner: %w", ErrBadPayload, err)
	}
	s.Owner = owner
	if len(parts) > 1 {
		s.ID = parts[1]
	}
	if len(parts) > 2 {
		for _, p := range strings.Split(parts[2], ",") {
			a, err := ParseAuthorityID(p)
			if err != nil {
				return Scope{}, fmt.Errorf("%w: scope participant: %w", ErrBadPayload, err)
			}
			s.Participants = append(s.Participants, a)
		}
		slices.SortFunc(s.Participants, func(x, y AuthorityID) int { return bytes.Compare(x[:], y[:]) })
	}
	if err := s.CheckActivation(); err != nil {
		return Scope{}, err
	}
	return s, nil
}

// PolicyPublished publishes a discovery, sharing or activation policy for
// a scope the author owns. The policy document is interpreted by release/
// (discovery, sharing) and activation/ (activation), which also check that
// the author owns the scope and that the document names the same scope.
type PolicyPublished struct {
	Scope  Scope  `cbor:"1,keyasint"`
	Policy []byte `cbor:"2,keyasint"`
}

// CheckPayload implements Payload. An activation policy's scope must be a
// valid activation scope (CheckActivation).
func (p *PolicyPublished) CheckPayload(k Kind) error {
	if len(p.Policy) == 0 || len(p.Policy) > MaxBlobLen {
		return badPayload("policy is %d bytes", len(p.Policy))
	}
	if k == KindActivationPolicyPublished {
		return p.Scope.CheckActivation()
	}
	return p.Scope.check()
}

// Residency says which releases run in a scope (or on a device).
type Residency uint8

// Residencies. Values are part of the wire format.
const (
	// ResidencyLegacyOnly: only the legacy release runs.
	ResidencyLegacyOnly Residency = 1
	// ResidencyCoexisting: some devices run the target, some the legacy.
	ResidencyCoexisting Residency = 2
	// ResidencyTargetOnly: only the target release runs.
	ResidencyTargetOnly Residency = 3
)

// Transition says what a scope is doing.
type Transition uint8

// Transitions. Values are part of the wire format.
const (
	// TransitionIdle: nothing in progress.
	TransitionIdle Transition = 1
	// TransitionAwaitingCutover: a target is staged; no device is
	// cutting over yet (approvals, evidence or the window are pending).
	TransitionAwaitingCutover Transition = 2
	// TransitionCuttingOver: devices are switching to the target or
	// running its health gates.
	TransitionCuttingOver Transition = 3
	// TransitionRollingBack: devices are returning to the legacy release.
	TransitionRollingBack Transition = 4
)

// FailureClass classifies an upgrade failure.
type FailureClass uint8

// Failure classes. Values are part of the wire format.
const (
	// FailureHealthGateFailed: the new release started and failed a
	// health gate.
	FailureHealthGateFailed FailureClass = 1
	// FailureLauncherActivationFailed: the launcher handoff failed before
	// a healthy activation (the launcher restored the legacy release).
	FailureLauncherActivationFailed FailureClass = 2
	// FailureReleaseRevoked: the release was revoked by a trusted signer.
	FailureReleaseRevoked FailureClass = 3
	// FailurePartitionRequired: incompatible peers separated although
	// the release did not plan for a partition.
	FailurePartitionRequired FailureClass = 4
	// FailureManualRollbackRequested: an operator asked for a rollback.
	FailureManualRollbackRequested FailureClass = 5
)

// InFlightAction says what happens to in-flight sessions with peers that
// are incompatible with the release a device cuts over to.
type InFlightAction uint8

// In-flight dispositions. Values are part of the wire format.
const (
	// InFlightDrain lets in-flight sessions finish before the switch.
	InFlightDrain InFlightAction = 1
	// InFlightAbort ends them at once.
	InFlightAbort InFlightAction = 2
	// InFlightDelegate hands them to a peer of the scope still running
	// the legacy release.
	InFlightDelegate InFlightAction = 3
)

var (
	residencyNames  = []string{"", "LegacyOnly", "Coexisting", "TargetOnly"}
	transitionNames = []string{"", "Idle", "AwaitingCutover", "CuttingOver", "RollingBack"}
	failureNames    = []string{"", "HealthGateFailed", "LauncherActivationFailed", "ReleaseRevoked", "PartitionRequired", "ManualRollbackRequested"}
	inFlightNames   = []string{"", "drain", "abort", "delegate"}
)

func enumName(names []string, v uint8, typ string) string {
	if v != 0 && int(v) < len(names) {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", typ, v)
}

func parseEnum(names []string, s, typ string) (uint8, error) {
	for i, n := range names {
		if i > 0 && strings.EqualFold(n, s) {
			return uint8(i), nil
		}
	}
	return 0, fmt.Errorf("facts: unknown %s %q (want one of %s)", typ, s, strings.Join(names[1:], ", "))
}

// String returns the residency's name.
func (r Residency) String() string { return enumName(residencyNames, uint8(r), "Residency") }

// Valid reports whether r is a defined residency.
func (r Residency) Valid() bool { return r >= ResidencyLegacyOnly && r <= ResidencyTargetOnly }

// String returns the transition's name.
func (t Transition) String() string { return enumName(transitionNames, uint8(t), "Transition") }

// Valid reports whether t is a defined transition.
func (t Transition) Valid() bool { return t >= TransitionIdle && t <= TransitionRollingBack }

// String returns the failure class's name.
func (c FailureClass) String() string { return enumName(failureNames, uint8(c), "FailureClass") }

// Valid reports whether c is a defined failure class.
func (c FailureClass) Valid() bool {
	return c >= FailureHealthGateFailed && c <= FailureManualRollbackRequested
}

// String returns "drain", "abort" or "delegate".
func (a InFlightAction) String() string { return enumName(inFlightNames, uint8(a), "InFlightAction") }

// Valid reports whether a is a defined disposition.
func (a InFlightAction) Valid() bool { return a >= InFlightDrain && a <= InFlightDelegate }

// ParseResidency accepts a residency name, case-insensitively.
func ParseResidency(s string) (Residency, error) {
	v, err := parseEnum(residencyNames, s, "residency")
	return Residency(v), err
}

// ParseTransition accepts a transition name, case-insensitively.
func ParseTransition(s string) (Transition, error) {
	v, err := parseEnum(transitionNames, s, "transition")
	return Transition(v), err
}

// ParseFailureClass accepts a failure class name, case-insensitively.
func ParseFailureClass(s string) (FailureClass, error) {
	v, err := parseEnum(failureNames, s, "failure class")
	return FailureClass(v), err
}

// ParseInFlightAction accepts "drain", "abort" or "delegate".
func ParseInFlightAction(s string) (InFlightAction, error) {
	v, err := parseEnum(inFlightNames, s, "in-flight action")
	return InFlightAction(v), err
}

// UpgradeEvent is the payload of every UpgradeExecution kind but
// MigrationApplied. Which fields a kind uses is fixed (CheckPayload
// refuses the others, so one event has one encoding):
//
//	kind               Device  required           optional
//	UpgradeStaged      yes     Version, Class     Gates, Detail
//	ScopeEntered       yes                        Version, Detail   (ReleaseID: the running release, zero if unreleased)
//	ResidencyChanged   yes     Residency          Detail            (LegacyOnly or TargetOnly)
//	TransitionChanged  yes     Transition         InFlight, Detail  (CuttingOver or RollingBack: the device begins it)
//	TransitionChanged  no      Transition         Failure, Detail   (Idle: cancel; RollingBack: order or approve a rollback)
//	CutoverApproved    no                         FenceEpoch, Detail
//	CutoverCompleted   yes                        OK, Failure, Detail  (OK, or Failure LauncherActivationFailed)
//	RollbackExecuted   yes                        Detail
//	PartitionObserved  yes                        Detail
//	HealthGateResult   yes     Gate               OK, Detail
//
// activation/ gives each its meaning, authorises its author and reduces
// the events of a scope into the scope's state.
type UpgradeEvent struct {
	Scope Scope `cbor:"1,keyasint"`
	// ReleaseID is the release the event is about (32 bytes).
	ReleaseID []byte `cbor:"2,keyasint"`
	// Device is the device the event reports on (its peer ID).
	Device string `cbor:"3,keyasint,omitempty"`
	// Version is the release's SemVer version.
	Version string `cbor:"4,keyasint,omitempty"`
	// Detail is free text for people.
	Detail string `cbor:"5,keyasint,omitempty"`
	// Class is the release's compatibility class (release.CompatibilityClass).
	Class uint8 `cbor:"6,keyasint,omitempty"`
	// Gates are the health gates the device runs after cutting over,
	// sorted and unique.
	Gates []string `cbor:"7,keyasint,omitempty"`
	// Residency is what the device runs after a launcher recovery.
	Residency Residency `cbor:"8,keyasint,omitempty"`
	// Transition is the transition begun or ordered.
	Transition Transition `cbor:"9,keyasint,omitempty"`
	// Failure classifies a failure reported or a rollback's cause.
	Failure FailureClass `cbor:"10,keyasint,omitempty"`
	// Gate names the health gate of a HealthGateResult.
	Gate string `cbor:"11,keyasint,omitempty"`
	// OK is the result of a cutover or a health gate.
	OK bool `cbor:"12,keyasint,omitempty"`
	// FenceEpoch is the identity epoch from which a hard fork may cut
	// over in a scope that owns an epoch fence (set by the owner).
	FenceEpoch uint64 `cbor:"13,keyasint,omitempty"`
	// InFlight is the disposition of in-flight incompatible sessions the
	// device follows for this cutover.
	InFlight InFlightAction `cbor:"14,keyasint,omitempty"`
}

// Field sets of UpgradeEvent, for the per-kind table in CheckPayload.
type upgradeField uint16

const (
	fDevice upgradeField = 1 << iota
	fVersion
	fDetail
	fClass
	fGates
	fResidency
	fTransition
	fFailure
	fGate
	fOK
	fFence
	fInFlight
)

var upgradeFieldNames = []string{"device", "version", "detail", "class", "gates", "residency", "transition", "failure", "gate", "ok", "fence epoch", "in-flight action"}

func (u *UpgradeEvent) fields() upgradeField {
	var f upgradeField
	set := func(b bool, bit upgradeField) {
		if b {
			f |= bit
		}
	}
	set(u.Device != "", fDevice)
	set(u.Version != "", fVersion)
	set(u.Detail != "", fDetail)
	set(u.Class != 0, fClass)
	set(len(u.Gates) > 0, fGates)
	set(u.Residency != 0, fResidency)
	set(u.Transition != 0, fTransition)
	set(u.Failure != 0, fFailure)
	set(u.Gate != "", fGate)
	set(u.OK, fOK)
	set(u.FenceEpoch != 0, fFence)
	set(u.InFlight != 0, fInFlight)
	return f
}

// CheckPayload implements Payload: the scope is a valid activation scope,
// the release ID has 32 bytes, the kind's required fields are present and
// no other field is set, and each field is well formed.
func (u *UpgradeEvent) CheckPayload(k Kind) error {
	if err := u.Scope.CheckActivation(); err != nil {
		return err
	}
	if len(u.ReleaseID) != 32 {
		return badPayload("release ID is %d bytes, want 32", len(u.ReleaseID))
	}
	if k != KindScopeEntered && bytes.Equal(u.ReleaseID, make([]byte, 32)) {
		return badPayload("%v names the zero release ID", k)
	}
	var req, opt upgradeField
	switch k {
	case KindUpgradeStaged:
		req, opt = fDevice|fVersion|fClass, fGates|fDetail
	case KindScopeEntered:
		req, opt = fDevice, fVersion|fDetail
	case KindResidencyChanged:
		req, opt = fDevice|fResidency, fDetail
	case KindTransitionChanged:
		req, opt = fTransition, fDevice|fInFlight|fFailure|fDetail
	case KindCutoverApproved:
		opt = fFence | fDetail
	case KindCutoverCompleted:
		req, opt = fDevice, fOK|fFailure|fDetail
	case KindRollbackExecuted, KindPartitionObserved:
		req, opt = fDevice, fDetail
	case KindHealthGateResult:
		req, opt = fDevice|fGate, fOK|fDetail
	default:
		return badPayload("%v does not carry an upgrade event", k)
	}
	have := u.fields()
	for i, name := range upgradeFieldNames {
		bit := upgradeField(1) << i
		if req&bit != 0 && have&bit == 0 {
			return badPayload("%v needs a %s", k, name)
		}
		if have&bit != 0 && (req|opt)&bit == 0 {
			return badPayload("%v takes no %s", k, name)
		}
	}
	if u.Device != "" {
		if err := checkToken("device ID", u.Device, MaxScopeIDLen); err != nil {
			return err
		}
	}
	if err := checkText("version", u.Version, maxVersionLen); err != nil {
		return err
	}
	if err := checkText("detail", u.Detail, MaxTextLen); err != nil {
		return err
	}
	if u.Class > maxCompatibilityClass {
		return badPayload("unknown compatibility class %d", u.Class)
	}
	if len(u.Gates) > MaxUpgradeGates {
		return badPayload("%d health gates, limit %d", len(u.Gates), MaxUpgradeGates)
	}
	for i, g := range u.Gates {
		if err := checkToken("health gate", g, MaxNameLen); err != nil {
			return err
		}
		if i > 0 && u.Gates[i-1] >= g {
			return badPayload("health gates must be sorted without duplicates")
		}
	}
	if u.Gate != "" {
		if err := checkToken("health gate", u.Gate, MaxNameLen); err != nil {
			return err
		}
	}
	if have&fResidency != 0 && u.Residency != ResidencyLegacyOnly && u.Residency != ResidencyTargetOnly {
		return badPayload("a device reports residency LegacyOnly or TargetOnly, not %v", u.Residency)
	}
	if have&fFailure != 0 && !u.Failure.Valid() {
		return badPayload("unknown failure class %d", u.Failure)
	}
	if have&fInFlight != 0 && !u.InFlight.Valid() {
		return badPayload("unknown in-flight action %d", u.InFlight)
	}
	switch k {
	case KindTransitionChanged:
		return u.checkTransition()
	case KindCutoverCompleted:
		if u.OK == (u.Failure != 0) || (!u.OK && u.Failure != FailureLauncherActivationFailed) {
			return badPayload("a cutover completes OK or fails with LauncherActivationFailed")
		}
	}
	return nil
}

// checkTransition: the forms of TransitionChanged.
func (u *UpgradeEvent) checkTransition() error {
	t := u.Transition
	if !t.Valid() {
		return badPayload("unknown transition %d", t)
	}
	if u.Device != "" {
		// A device reports what it begins.
		if t != TransitionCuttingOver && t != TransitionRollingBack {
			return badPayload("a device begins CuttingOver or RollingBack, not %v", t)
		}
		if u.Failure != 0 {
			return badPayload("a device's %v takes no failure class (report failures with their own kinds)", t)
		}
		if u.InFlight != 0 && t != TransitionCuttingOver {
			return badPayload("only a cutover takes an in-flight action")
		}
		return nil
	}
	// A scope order: cancel (Idle) or roll back (RollingBack).
	if u.InFlight != 0 {
		return badPayload("a scope order takes no in-flight action")
	}
	switch t {
	case TransitionIdle:
		if u.Failure != 0 {
			return badPayload("a cancellation takes no failure class")
		}
	case TransitionRollingBack:
		if u.Failure != 0 && u.Failure != FailureReleaseRevoked && u.Failure != FailureManualRollbackRequested {
			return badPayload("a rollback order's cause is ReleaseRevoked or ManualRollbackRequested, not %v", u.Failure)
		}
	default:
		return badPayload("a scope order is Idle (cancel) or RollingBack, not %v", t)
	}
	return nil
}

// MigrationApplied records a storage migration that ran on the author's
// node.
type MigrationApplied struct {
	FromVersion uint32 `cbor:"1,keyasint"`
	ToVersion   uint32 `cbor:"2,keyasint"`
	Name        string `cbor:"3,keyasint"`
	// ReleaseID is the release whose migration ran (32 bytes), or empty.
	ReleaseID []byte `cbor:"4,keyasint,omitempty"`
	// Device is the device that ran it, or empty.
	Device string `cbor:"5,keyasint,omitempty"`
}

// CheckPayload implements Payload.
func (m *MigrationApplied) CheckPayload(Kind) error {
	if m.ToVersion <= m.FromVersion {
		return badPayload("migration must move to a higher version")
	}
	if len(m.ReleaseID) != 0 && len(m.ReleaseID) != 32 {
		return badPayload("release ID is %d bytes, want 32 or none", len(m.ReleaseID))
	}
	if m.Device != "" {
		if err := checkToken("device ID", m.Device, MaxScopeIDLen); err != nil {
			return err
		}
	}
	return checkText("migration name", m.Name, MaxNameLen)
}
