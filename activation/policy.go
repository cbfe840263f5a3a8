package activation

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/release"
)

// MaxPolicyLen bounds an encoded policy; it travels inside a
// PolicyPublished fact, whose blob limit it shares.
const MaxPolicyLen = facts.MaxBlobLen

// FullRollout is RolloutBasisPoints for every device (100.00%).
const FullRollout = 10000

// RollbackPreference says what a scope does when an upgrade fails.
type RollbackPreference uint8

// Rollback preferences. Values are part of the wire format.
const (
	// Automatic queues the rollback at once: every device of the scope
	// on the failed release rolls back, and the scope returns to
	// LegacyOnly/Idle.
	Automatic RollbackPreference = 1
	// ManualApproval leaves the scope failed until the owner approves
	// the rollback.
	ManualApproval RollbackPreference = 2
)

// String returns "automatic" or "manual-approval".
func (p RollbackPreference) String() string {
	switch p {
	case Automatic:
		return "automatic"
	case ManualApproval:
		return "manual-approval"
	}
	return fmt.Sprintf("RollbackPreference(%d)", uint8(p))
}

// ParseRollbackPreference accepts "automatic" or "manual-approval".
func ParseRollbackPreference(s string) (RollbackPreference, error) {
	switch s {
	case "automatic":
		return Automatic, nil
	case "manual-approval", "manual":
		return ManualApproval, nil
	}
	return 0, wrapf(ErrInvalidPolicy, "rollback preference %q: want automatic or manual-approval", s)
}

// Window is an absolute activation window on the local clock:
// activation may start at NotBeforeUnixMs and must not start at or after
// NotAfterUnixMs. Zero bounds are open.
type Window struct {
	NotBeforeUnixMs uint64 `cbor:"1,keyasint,omitempty"`
	NotAfterUnixMs  uint64 `cbor:"2,keyasint,omitempty"`
}

// DailyWindow is a recurring maintenance window in UTC: activation may
// start from StartMinute (minutes after midnight) up to, not including,
// EndMinute. A window with StartMinute > EndMinute spans midnight.
type DailyWindow struct {
	StartMinute uint16 `cbor:"1,keyasint"`
	EndMinute   uint16 `cbor:"2,keyasint"`
}

const minutesPerDay = 24 * 60

func (w DailyWindow) contains(minute uint16) bool {
	if w.StartMinute < w.EndMinute {
		return minute >= w.StartMinute && minute < w.EndMinute
	}
	return minute >= w.StartMinute || minute < w.EndMinute
}

func (w DailyWindow) String() string {
	return fmt.Sprintf("%02d:%02d-%02d:%02d UTC", w.StartMinute/60, w.StartMinute%60, w.EndMinute/60, w.EndMinute%60)
}

// Policy is the activation policy of one scope: published by the scope's
// owner as the document of an ActivationPolicyPublished fact, or, for the
// node's own device scope, read from the node's configuration. Lists are
// sets: Normalize sorts and deduplicates them and Validate insists on it,
// so one policy has one encoding.
type Policy struct {
	// Scope is the scope the policy governs, with its participant set for
	// a managed quorum. It must equal the publishing fact's scope.
	Scope Scope `cbor:"1,keyasint"`
	// TrustedReleaseAuthorities are the authorities whose release
	// declarations may be activated, and whose revocations and
	// supersessions are heeded (the network admin's always are).
	TrustedReleaseAuthorities []facts.AuthorityID `cbor:"2,keyasint,omitempty"`
	// TrustedBuilders are the builders whose certificates count.
	TrustedBuilders []facts.AuthorityID `cbor:"3,keyasint,omitempty"`
	// BuilderThreshold is how many distinct trusted builders must have
	// certified a release; 0 .. len(TrustedBuilders).
	BuilderThreshold uint32 `cbor:"4,keyasint"`
	// AllowedClasses are the compatibility classes this scope accepts,
	// sorted; empty accepts none.
	AllowedClasses []release.CompatibilityClass `cbor:"5,keyasint,omitempty"`
	// RolloutBasisPoints is the share of devices in the rollout cohort,
	// in hundredths of a percent (0 .. FullRollout). A device is in the
	// cohort of a release when CohortBucket(device, release) is below it,
	// so raising it only ever adds devices. A managed quorum must use
	// FullRollout: every participant moves.
	RolloutBasisPoints uint16 `cbor:"6,keyasint"`
	// Window is an absolute activation window, or nil.
	Window *Window `cbor:"7,keyasint,omitempty"`
	// Daily is a recurring daily window, or nil.
	Daily *DailyWindow `cbor:"8,keyasint,omitempty"`
	// HonourSuggestedTime makes a manifest's suggested activation time a
	// local "not before" hint; otherwise it is ignored. Never a fence.
	HonourSuggestedTime bool `cbor:"9,keyasint"`
	// RequiredHealthGates are gates this scope requires in addition to
	// the release's own, sorted and unique.
	RequiredHealthGates []string `cbor:"10,keyasint,omitempty"`
	// Rollback is what the scope does when an upgrade fails.
	Rollback RollbackPreference `cbor:"11,keyasint"`
	// EpochFence says the scope owns an epoch fence: a hard fork cuts
	// over only from the identity epoch its owner sets (CutoverApproved
	// with FenceEpoch). A device-local scope owns none. A fence set in a
	// scope whose policy does not own one is not honoured.
	EpochFence bool `cbor:"12,keyasint"`
	// InFlight is the preferred disposition of in-flight incompatible
	// sessions at a hard-fork cutover (PlanCutover adds the fallbacks).
	InFlight InFlightAction `cbor:"13,keyasint"`
	// Canary is the size of the canary wave of a soft fork: how many of
	// the scope's devices cut over first. Every other device waits until
	// that many devices run the release with every gate passed (see
	// CanaryWave and check 21 of Evaluate). 0 disables the wave: every
	// device cuts over when its own checks pass. Hard forks have no wave
	// (their canaries could not be heard across the fork). A device-local
	// scope has one device and must use 0; at most MaxCanary.
	//
	// The key is omitted when 0, so policies published before the field
	// existed decode unchanged, meaning no wave.
	Canary uint32 `cbor:"14,keyasint,omitempty"`
}

// MaxCanary bounds Policy.Canary.
const MaxCanary = 1000

// DefaultCanary is the canary wave DefaultPolicy sets for scopes that can
// hold more than one device: one device cuts over first.
const DefaultCanary = 1

// DefaultPolicy returns the starting point of a scope's policy: full
// rollout, soft forks only, the suggested time honoured as a hint,
// automatic rollback, drain, and a canary wave of DefaultCanary device
// (none in a device-local scope, which has one device). It trusts
// nobody: add release authorities and builders before anything can
// activate.
func DefaultPolicy(scope Scope) Policy {
	p := Policy{
		Scope:               scope,
		AllowedClasses:      []release.CompatibilityClass{release.BackwardCompatible, release.MixedCoexistenceAllowed},
		RolloutBasisPoints:  FullRollout,
		HonourSuggestedTime: true,
		Rollback:            Automatic,
		InFlight:            Drain,
	}
	if scope.Kind != DeviceLocal {
		p.Canary = DefaultCanary
	}
	return p
}

// Normalize sorts and deduplicates the policy's lists in place.
func (p *Policy) Normalize() {
	p.TrustedReleaseAuthorities = sortedAuthorities(p.TrustedReleaseAuthorities)
	p.TrustedBuilders = sortedAuthorities(p.TrustedBuilders)
	slices.Sort(p.AllowedClasses)
	p.AllowedClasses = emptyNil(slices.Compact(p.AllowedClasses))
	slices.Sort(p.RequiredHealthGates)
	p.RequiredHealthGates = emptyNil(slices.Compact(p.RequiredHealthGates))
	if p.Scope.Kind == ManagedQuorum {
		p.Scope = QuorumScope(p.Scope.Owner, p.Scope.ID, p.Scope.Participants...)
	}
}

func sortedAuthorities(a []facts.AuthorityID) []facts.AuthorityID {
	slices.SortFunc(a, compareAuthorities)
	return emptyNil(slices.Compact(a))
}

func emptyNil[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// Validate checks the policy's rules, wrapping ErrInvalidPolicy.
func (p *Policy) Validate() error {
	if err := p.Scope.CheckActivation(); err != nil {
		return fmt.Errorf("%w: scope: %w", ErrInvalidPolicy, err)
	}
	if err := checkAuthoritySet("trusted release authorities", p.TrustedReleaseAuthorities); err != nil {
		return err
	}
	if err := checkAuthoritySet("trusted builders", p.TrustedBuilders); err != nil {
		return err
	}
	if int(p.BuilderThreshold) > len(p.TrustedBuilders) {
		return wrapf(ErrInvalidPolicy, "builder threshold %d but %d trusted builders: it could never be met", p.BuilderThreshold, len(p.TrustedBuilders))
	}
	for i, c := range p.AllowedClasses {
		if !c.Valid() {
			return wrapf(ErrInvalidPolicy, "unknown compatibility class %d", c)
		}
		if i > 0 && p.AllowedClasses[i-1] >= c {
			return wrapf(ErrInvalidPolicy, "allowed classes must be sorted without duplicates (use Normalize)")
		}
	}
	if p.RolloutBasisPoints > FullRollout {
		return wrapf(ErrInvalidPolicy, "rollout %d basis points, limit %d (100%%)", p.RolloutBasisPoints, FullRollout)
	}
	if p.Scope.Kind == ManagedQuorum && p.RolloutBasisPoints != FullRollout {
		return wrapf(ErrInvalidPolicy, "a managed quorum moves all its participants: rollout must be %d basis points, not %d", FullRollout, p.RolloutBasisPoints)
	}
	if w := p.Window; w != nil {
		if *w == (Window{}) {
			return wrapf(ErrInvalidPolicy, "activation window has no bounds (omit it instead)")
		}
		if w.NotAfterUnixMs != 0 && w.NotAfterUnixMs <= w.NotBeforeUnixMs {
			return wrapf(ErrInvalidPolicy, "activation window ends (%d) before it starts (%d)", w.NotAfterUnixMs, w.NotBeforeUnixMs)
		}
	}
	if d := p.Daily; d != nil {
		if d.StartMinute >= minutesPerDay || d.EndMinute >= minutesPerDay || d.StartMinute == d.EndMinute {
			return wrapf(ErrInvalidPolicy, "daily window %d-%d: want two different minutes of the day, 0 .. %d", d.StartMinute, d.EndMinute, minutesPerDay-1)
		}
	}
	if len(p.RequiredHealthGates) > release.MaxHealthGates {
		return wrapf(ErrInvalidPolicy, "%d required health gates, limit %d", len(p.RequiredHealthGates), release.MaxHealthGates)
	}
	for i, g := range p.RequiredHealthGates {
		if !validName(g) {
			return wrapf(ErrInvalidPolicy, "health gate %q: want [A-Za-z0-9._-], at most %d bytes", g, facts.MaxNameLen)
		}
		if i > 0 && p.RequiredHealthGates[i-1] >= g {
			return wrapf(ErrInvalidPolicy, "required health gates must be sorted without duplicates (use Normalize)")
		}
	}
	if p.Rollback != Automatic && p.Rollback != ManualApproval {
		return wrapf(ErrInvalidPolicy, "rollback preference %d: want automatic (1) or manual-approval (2)", p.Rollback)
	}
	if p.EpochFence && p.Scope.Kind == DeviceLocal {
		return wrapf(ErrInvalidPolicy, "a device-local scope owns no epoch fence")
	}
	if !p.InFlight.Valid() {
		return wrapf(ErrInvalidPolicy, "in-flight action %d: want drain, abort or delegate", p.InFlight)
	}
	if p.Canary > MaxCanary {
		return wrapf(ErrInvalidPolicy, "canary wave of %d devices, limit %d", p.Canary, MaxCanary)
	}
	if p.Canary != 0 && p.Scope.Kind == DeviceLocal {
		return wrapf(ErrInvalidPolicy, "a device-local scope has one device: no canary wave (canary must be 0, not %d)", p.Canary)
	}
	return nil
}

func checkAuthoritySet(field string, set []facts.AuthorityID) error {
	if len(set) > facts.MaxRosterMembers {
		return wrapf(ErrInvalidPolicy, "%d %s, limit %d", len(set), field, facts.MaxRosterMembers)
	}
	for i, a := range set {
		if a.IsZero() {
			return wrapf(ErrInvalidPolicy, "%s include the zero authority", field)
		}
		if i > 0 && compareAuthorities(set[i-1], a) >= 0 {
			return wrapf(ErrInvalidPolicy, "%s must be sorted without duplicates (use Normalize)", field)
		}
	}
	return nil
}

// validName: a [A-Za-z0-9._-] name, not "." or "..", at most MaxNameLen.
func validName(s string) bool {
	if s == "" || len(s) > facts.MaxNameLen || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// TrustsAuthority reports whether a is a trusted release authority.
func (p *Policy) TrustsAuthority(a facts.AuthorityID) bool {
	_, ok := slices.BinarySearchFunc(p.TrustedReleaseAuthorities, a, compareAuthorities)
	return ok
}

// TrustsBuilder reports whether b is a trusted builder.
func (p *Policy) TrustsBuilder(b facts.AuthorityID) bool {
	_, ok := slices.BinarySearchFunc(p.TrustedBuilders, b, compareAuthorities)
	return ok
}

// Allows reports whether the policy accepts a compatibility class.
func (p *Policy) Allows(c release.CompatibilityClass) bool {
	_, ok := slices.BinarySearch(p.AllowedClasses, c)
	return ok
}

// Marshal validates the policy and returns its canonical encoding, the
// document of an ActivationPolicyPublished fact.
func (p Policy) Marshal() ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	raw, err := facts.Marshal(&p)
	if err != nil {
		return nil, fmt.Errorf("activation: encode policy: %w", err)
	}
	if len(raw) > MaxPolicyLen {
		return nil, wrapf(ErrTooLarge, "policy is %d bytes, limit %d", len(raw), MaxPolicyLen)
	}
	return raw, nil
}

// DecodePolicy decodes and validates a canonical policy document.
func DecodePolicy(raw []byte) (Policy, error) {
	if len(raw) > MaxPolicyLen {
		return Policy{}, wrapf(ErrTooLarge, "policy is %d bytes, limit %d", len(raw), MaxPolicyLen)
	}
	var p Policy
	if err := facts.UnmarshalCanonical(raw, &p); err != nil {
		return Policy{}, fmt.Errorf("activation: policy: %w", err)
	}
	if err := p.Validate(); err != nil {
		return Policy{}, err
	}
	return p, nil
}

// cohortDomain separates cohort hashes from every other hash.
const cohortDomain = "aura-node/activation-cohort/v1\x00"

// CohortBucket places a device in one of FullRollout buckets for one
// release: the first 8 bytes of sha2-256(domain, release ID, device ID),
// big-endian, modulo FullRollout. The device is in the rollout cohort of
// a policy when the bucket is below RolloutBasisPoints. Every node
// computes the same bucket, and each release draws a fresh cohort, so the
// same devices do not always go first.
func CohortBucket(device string, id release.ID) uint16 {
	h := sha256.New()
	h.Write([]byte(cohortDomain))
	h.Write(id[:])
	h.Write([]byte(device))
	sum := h.Sum(nil)
	return uint16(binary.BigEndian.Uint64(sum[:8]) % FullRollout)
}

// canaryDomain separates canary ranks from every other hash.
const canaryDomain = "aura-node/activation-canary/v1\x00"

// CanaryRank is a device's place in the canary order of a release: the
// sha2-256 of (domain, release ID, authority, device). Lower ranks cut
// over first (ties, which need a hash collision, fall to the device
// key). Every node computes the same rank from names it learns from the
// replicated scope state, whatever order the facts arrived in, and each
// release draws a fresh order, so the same device is not always the
// canary.
func CanaryRank(id release.ID, authority facts.AuthorityID, device string) [32]byte {
	h := sha256.New()
	h.Write([]byte(canaryDomain))
	h.Write(id[:])
	h.Write(authority[:])
	h.Write([]byte(device))
	return [32]byte(h.Sum(nil))
}
