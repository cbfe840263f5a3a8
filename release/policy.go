package release

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/aura-node/aura-node/facts"
)

// MaxPolicyLen bounds an encoded policy; it travels inside a
// PolicyPublished fact, whose blob limit it shares.
const MaxPolicyLen = facts.MaxBlobLen

// DiscoveryPolicy says which releases a node learns about and what it
// fetches by itself. The zero policy trusts nobody and fetches nothing.
// Lists are sets: Normalize sorts and deduplicates them, Validate insists
// on it, so one policy has one encoding.
type DiscoveryPolicy struct {
	// TrustedReleaseAuthorities are the authorities whose declarations,
	// revocations and supersessions this node heeds (the network admin's
	// revocations and supersessions are always heeded).
	TrustedReleaseAuthorities []facts.AuthorityID `cbor:"1,keyasint,omitempty" json:"trusted_release_authorities,omitempty"`
	// TrustedBuilders are the builder authorities whose certificates count
	// towards RequiredBuilders.
	TrustedBuilders []facts.AuthorityID `cbor:"2,keyasint,omitempty" json:"trusted_builders,omitempty"`
	// Contexts are relational context IDs this node learns from: a release
	// recommended in one of them (a RecommendationPublished with a context
	// scope) by a trusted release authority is discovered even when its
	// own author is not trusted.
	Contexts []string `cbor:"3,keyasint,omitempty" json:"contexts,omitempty"`
	// AutoFetchMetadata lets the node fetch manifests and certificates of
	// discovered releases without being asked.
	AutoFetchMetadata bool `cbor:"4,keyasint" json:"auto_fetch_metadata"`
	// AutoFetchArtifacts lets the node fetch the artifacts of discovered,
	// sufficiently certified, unrevoked, unsuperseded releases without
	// being asked.
	AutoFetchArtifacts bool `cbor:"5,keyasint" json:"auto_fetch_artifacts"`
	// RequiredBuilders is how many distinct trusted builders must have
	// certified a release before its artifacts are fetched automatically;
	// 0 .. len(TrustedBuilders).
	RequiredBuilders int `cbor:"6,keyasint" json:"required_builders"`
}

// Normalize sorts and deduplicates the policy's lists in place.
func (p *DiscoveryPolicy) Normalize() {
	p.TrustedReleaseAuthorities = sortedAuthorities(p.TrustedReleaseAuthorities)
	p.TrustedBuilders = sortedAuthorities(p.TrustedBuilders)
	slices.Sort(p.Contexts)
	p.Contexts = slices.Compact(p.Contexts)
	if len(p.Contexts) == 0 {
		p.Contexts = nil
	}
}

func sortedAuthorities(a []facts.AuthorityID) []facts.AuthorityID {
	slices.SortFunc(a, compareAuthorities)
	a = slices.Compact(a)
	if len(a) == 0 {
		return nil
	}
	return a
}

// Validate checks the policy's rules, wrapping ErrInvalidPolicy.
func (p *DiscoveryPolicy) Validate() error {
	if err := checkAuthoritySet("trusted release authorities", p.TrustedReleaseAuthorities); err != nil {
		return err
	}
	if err := checkAuthoritySet("trusted builders", p.TrustedBuilders); err != nil {
		return err
	}
	if len(p.Contexts) > facts.MaxRosterMembers {
		return wrapf(ErrInvalidPolicy, "%d contexts, limit %d", len(p.Contexts), facts.MaxRosterMembers)
	}
	for i, c := range p.Contexts {
		if c == "" || checkText("context", c, facts.MaxNameLen) != nil {
			return wrapf(ErrInvalidPolicy, "context %q: want non-empty UTF-8 of at most %d bytes", c, facts.MaxNameLen)
		}
		if i > 0 && p.Contexts[i-1] >= c {
			return wrapf(ErrInvalidPolicy, "contexts must be sorted without duplicates (use Normalize)")
		}
	}
	if p.RequiredBuilders < 0 || p.RequiredBuilders > len(p.TrustedBuilders) {
		return wrapf(ErrInvalidPolicy, "%d required builders but %d trusted builders: the threshold could never be met", p.RequiredBuilders, len(p.TrustedBuilders))
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

// TrustsAuthority reports whether a is a trusted release authority.
func (p *DiscoveryPolicy) TrustsAuthority(a facts.AuthorityID) bool {
	return slices.Contains(p.TrustedReleaseAuthorities, a)
}

// TrustsBuilder reports whether b is a trusted builder.
func (p *DiscoveryPolicy) TrustsBuilder(b facts.AuthorityID) bool {
	return slices.Contains(p.TrustedBuilders, b)
}

// Marshal validates the policy and returns its canonical encoding, the
// document a DiscoveryPolicyPublished fact carries.
func (p DiscoveryPolicy) Marshal() ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return facts.Marshal(&p)
}

// DecodeDiscoveryPolicy decodes and validates a canonical policy document.
func DecodeDiscoveryPolicy(raw []byte) (DiscoveryPolicy, error) {
	var p DiscoveryPolicy
	if err := decodePolicy(raw, &p); err != nil {
		return DiscoveryPolicy{}, err
	}
	if err := p.Validate(); err != nil {
		return DiscoveryPolicy{}, err
	}
	return p, nil
}

func decodePolicy(raw []byte, v any) error {
	if len(raw) > MaxPolicyLen {
		return wrapf(ErrTooLarge, "policy is %d bytes, limit %d", len(raw), MaxPolicyLen)
	}
	if err := facts.UnmarshalCanonical(raw, v); err != nil {
		return fmt.Errorf("release: policy: %w", err)
	}
	return nil
}

// SelectMode says which releases a Selector admits.
type SelectMode uint8

// Selector modes. Values are part of the wire format.
const (
	// SelectNone admits nothing (the zero value).
	SelectNone SelectMode = 0
	// SelectTrusted admits releases declared by a trusted release
	// authority of the discovery policy.
	SelectTrusted SelectMode = 1
	// SelectAll admits every verified release, trusted or not.
	SelectAll SelectMode = 2
	// SelectSeries admits trusted releases of the listed series only.
	SelectSeries SelectMode = 3
)

// Selector picks releases for one sharing action.
type Selector struct {
	Mode SelectMode `cbor:"1,keyasint"`
	// Series lists the series of SelectSeries, sorted and unique; empty
	// for the other modes.
	Series []string `cbor:"2,keyasint,omitempty"`
}

// SelectorNone, SelectorTrusted and SelectorAll are the list-free
// selectors.
var (
	SelectorNone    = Selector{Mode: SelectNone}
	SelectorTrusted = Selector{Mode: SelectTrusted}
	SelectorAll     = Selector{Mode: SelectAll}
)

// SelectorSeries returns a selector of trusted releases of the given
// series.
func SelectorSeries(series ...string) Selector {
	s := slices.Clone(series)
	slices.Sort(s)
	return Selector{Mode: SelectSeries, Series: slices.Compact(s)}
}

// ParseSelector parses the text form: "none", "trusted", "all" or
// "series:NAME[,NAME...]".
func ParseSelector(s string) (Selector, error) {
	switch s {
	case "none":
		return SelectorNone, nil
	case "trusted":
		return SelectorTrusted, nil
	case "all":
		return SelectorAll, nil
	}
	if list, ok := strings.CutPrefix(s, "series:"); ok && list != "" {
		sel := SelectorSeries(strings.Split(list, ",")...)
		if err := sel.validate(); err != nil {
			return Selector{}, err
		}
		return sel, nil
	}
	return Selector{}, wrapf(ErrInvalidPolicy, "selector %q: want none, trusted, all or series:NAME[,NAME...]", s)
}

// String returns the text form ParseSelector reads.
func (s Selector) String() string {
	switch s.Mode {
	case SelectNone:
		return "none"
	case SelectTrusted:
		return "trusted"
	case SelectAll:
		return "all"
	case SelectSeries:
		return "series:" + strings.Join(s.Series, ",")
	}
	return fmt.Sprintf("SelectMode(%d)", uint8(s.Mode))
}

// MarshalJSON writes the text form ("all", "series:a,b"), which is what
// policy files and config.json hold. The CBOR encoding is unaffected.
func (s Selector) MarshalJSON() ([]byte, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	return json.Marshal(s.String())
}

// UnmarshalJSON reads the text form (see ParseSelector).
func (s *Selector) UnmarshalJSON(b []byte) error {
	var text string
	if err := json.Unmarshal(b, &text); err != nil {
		return wrapf(ErrInvalidPolicy, "selector must be a string: none, trusted, all or series:NAME[,NAME...]")
	}
	sel, err := ParseSelector(text)
	if err != nil {
		return err
	}
	*s = sel
	return nil
}

func (s Selector) validate() error {
	switch s.Mode {
	case SelectNone, SelectTrusted, SelectAll:
		if len(s.Series) > 0 {
			return wrapf(ErrInvalidPolicy, "selector %s takes no series list", s)
		}
		return nil
	case SelectSeries:
		if len(s.Series) == 0 {
			return wrapf(ErrInvalidPolicy, "series selector lists no series")
		}
		if len(s.Series) > facts.MaxRosterMembers {
			return wrapf(ErrInvalidPolicy, "series selector lists %d series, limit %d", len(s.Series), facts.MaxRosterMembers)
		}
		for i, name := range s.Series {
			if err := checkSeries(name); err != nil {
				return fmt.Errorf("%w: %w", ErrInvalidPolicy, err)
			}
			if i > 0 && s.Series[i-1] >= name {
				return wrapf(ErrInvalidPolicy, "selector series must be sorted without duplicates")
			}
		}
		return nil
	}
	return wrapf(ErrInvalidPolicy, "unknown selector mode %d", s.Mode)
}

// admits reports whether the selector picks a release, and why, as a
// phrase completing "policy ...".
func (s Selector) admits(trusted bool, series string) (bool, string) {
	switch s.Mode {
	case SelectAll:
		return true, "selects all releases"
	case SelectTrusted:
		if trusted {
			return true, "selects trusted releases"
		}
		return false, "selects trusted releases only and no trusted release authority declared it"
	case SelectSeries:
		if !slices.Contains(s.Series, series) {
			return false, fmt.Sprintf("selects series %s, not %q", strings.Join(s.Series, ","), series)
		}
		if !trusted {
			return false, fmt.Sprintf("selects trusted releases of series %q and no trusted release authority declared it", series)
		}
		return true, fmt.Sprintf("selects trusted releases of series %q", series)
	}
	return false, "selects none"
}

// SharingPolicy says what a node does for releases on behalf of others.
// It is independent of discovery: a node may forward what it would not
// fetch, and discover what it does not forward. The zero policy shares
// nothing.
type SharingPolicy struct {
	// Forward selects the releases whose facts the node relays to peers.
	Forward Selector `cbor:"1,keyasint" json:"forward"`
	// Pin selects the releases whose artifacts the node keeps and serves
	// (a seeding node pins with SelectorAll or SelectorTrusted).
	Pin Selector `cbor:"2,keyasint" json:"pin"`
	// Recommend selects the releases the node's authority recommends.
	Recommend Selector `cbor:"3,keyasint" json:"recommend"`
}

// Validate checks the policy's rules, wrapping ErrInvalidPolicy.
func (p *SharingPolicy) Validate() error {
	for _, f := range []struct {
		name string
		s    Selector
	}{{"forward", p.Forward}, {"pin", p.Pin}, {"recommend", p.Recommend}} {
		if err := f.s.validate(); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	return nil
}

// Marshal validates the policy and returns its canonical encoding, the
// document a SharingPolicyPublished fact carries.
func (p SharingPolicy) Marshal() ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return facts.Marshal(&p)
}

// DecodeSharingPolicy decodes and validates a canonical policy document.
func DecodeSharingPolicy(raw []byte) (SharingPolicy, error) {
	var p SharingPolicy
	if err := decodePolicy(raw, &p); err != nil {
		return SharingPolicy{}, err
	}
	if err := p.Validate(); err != nil {
		return SharingPolicy{}, err
	}
	return p, nil
}

// Action is something a node may do with a release. Discovery decides the
// first three, sharing the last three. None of them is activation:
// activation/ decides that from its own policy and evidence.
type Action uint8

// Actions.
const (
	// Discover: keep the release in this node's view of available
	// releases (listed, and a candidate for activation later).
	Discover Action = 1 << iota
	// FetchMetadata: fetch the release's manifest and certificates
	// without being asked.
	FetchMetadata
	// FetchArtifacts: fetch the release's artifacts without being asked.
	FetchArtifacts
	// Forward: relay the release's facts to peers.
	Forward
	// Pin: keep and serve the release's artifacts.
	Pin
	// Recommend: publish a recommendation of the release.
	Recommend
)

const (
	discoveryActions = Discover | FetchMetadata | FetchArtifacts
	sharingActions   = Forward | Pin | Recommend
)

var actionNames = []string{"discover", "fetch-metadata", "fetch-artifacts", "forward", "pin", "recommend"}

// String returns the names of the actions in a, joined by "+", or "none".
func (a Action) String() string {
	var names []string
	for i, n := range actionNames {
		if a&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, "+")
}

// ReasonCode classifies a Reason.
type ReasonCode uint8

// Reason codes.
const (
	// ReasonNotDeclared: no verified manifest of the release yet.
	ReasonNotDeclared ReasonCode = iota + 1
	// ReasonTrustedAuthority: a trusted release authority declared it.
	ReasonTrustedAuthority
	// ReasonUntrustedAuthority: an untrusted release authority declared it.
	ReasonUntrustedAuthority
	// ReasonContext: a trusted authority recommended it in a context of
	// the policy (or an untrusted one did, which is ignored).
	ReasonContext
	// ReasonBuilders: how many required trusted builders certified it.
	ReasonBuilders
	// ReasonUntrustedBuilder: a certificate by an untrusted builder,
	// which does not count.
	ReasonUntrustedBuilder
	// ReasonRevoked: a trusted revocation (or an untrusted one, ignored).
	ReasonRevoked
	// ReasonSuperseded: a trusted supersession (or an untrusted one,
	// ignored).
	ReasonSuperseded
	// ReasonPolicy: a policy switch or selector decided an action.
	ReasonPolicy
)

var reasonNames = []string{"", "not-declared", "trusted-authority", "untrusted-authority", "context", "builders", "untrusted-builder", "revoked", "superseded", "policy"}

// String returns the code's name.
func (c ReasonCode) String() string {
	if int(c) < len(reasonNames) && c != 0 {
		return reasonNames[c]
	}
	return fmt.Sprintf("ReasonCode(%d)", uint8(c))
}

// Reason is one step of a decision: what was found and which actions it
// withholds. A decision's actions are exactly those evaluated minus every
// reason's Blocks, so the reasons explain the whole decision.
type Reason struct {
	Code ReasonCode
	// Blocks is the set of actions this reason withholds (none for a
	// reason that only informs or supports).
	Blocks Action
	// Text says it for people, e.g. "2 of 3 required builders".
	Text string
}

// String returns the text, marked with the actions it blocks.
func (r Reason) String() string {
	if r.Blocks == 0 {
		return r.Text
	}
	return r.Text + " [blocks " + r.Blocks.String() + "]"
}

// Decision is the outcome of a policy evaluation for one release.
type Decision struct {
	Release ID
	// Author is the release authority whose declaration the decision
	// speaks for: the first trusted one, else the first one; zero when the
	// release is not declared. Its own revocations and supersessions are
	// heeded along with the admin's and trusted authorities'.
	Author facts.AuthorityID
	// Actions is what the node may do.
	Actions Action
	// Reasons lists every finding, in evaluation order.
	Reasons []Reason
}

// Allows reports whether every action in a is allowed.
func (d Decision) Allows(a Action) bool { return d.Actions&a == a }

func (d *Decision) add(code ReasonCode, blocks Action, format string, args ...any) {
	d.Reasons = append(d.Reasons, Reason{Code: code, Blocks: blocks, Text: fmt.Sprintf(format, args...)})
}

func (d *Decision) finish(evaluated Action) Decision {
	var blocked Action
	for _, r := range d.Reasons {
		blocked |= r.Blocks
	}
	d.Actions = evaluated &^ blocked
	return *d
}

// speaksFor returns the author of the declaration a decision speaks for
// (the first trusted one, else the first one, else zero) and whether it is
// trusted.
func speaksFor(p *DiscoveryPolicy, e Entry) (facts.AuthorityID, bool) {
	for _, d := range e.Declarations {
		if p.TrustsAuthority(d.Manifest.Author) {
			return d.Manifest.Author, true
		}
	}
	if e.Declared() {
		return e.Declarations[0].Manifest.Author, false
	}
	return facts.AuthorityID{}, false
}

// heeds reports whether a revocation or supersession signer counts for
// decision d under p: a trusted release authority, or the author the
// decision speaks for (the admin always counts; see the callers).
func heeds(p *DiscoveryPolicy, d *Decision, signer facts.AuthorityID) bool {
	return p.TrustsAuthority(signer) || (!d.Author.IsZero() && signer == d.Author)
}

// EvaluateDiscovery decides what a node with policy p does about release
// e: discover it, fetch its metadata, fetch its artifacts. The checks, all
// run, each adding its reasons:
//
//  1. Declared: a verified manifest exists (else nothing but, when a
//     trusted recommendation in a policy context names it, metadata).
//  2. Authority: each declaration's author, trusted or not. A release
//     with no trusted declaration is discovered only through check 3.
//  3. Contexts: recommendations in a policy context by trusted
//     authorities; others are noted and ignored.
//  4. Builders: distinct trusted builders that certified it against
//     RequiredBuilders; untrusted builders are noted and do not count.
//  5. Revocation by the admin, a trusted authority or the author the
//     decision speaks for blocks artifact fetching; other revocations are
//     noted and ignored.
//  6. Supersession likewise blocks artifact fetching.
//  7. Policy switches: AutoFetchMetadata, AutoFetchArtifacts.
//
// Discovering a release does not mean forwarding it (EvaluateSharing) or
// activating it (activation/).
func EvaluateDiscovery(p DiscoveryPolicy, e Entry) Decision {
	d := Decision{Release: e.ID}

	// 3 first: it decides what an untrusted declaration blocks.
	viaContext := false
	for _, r := range e.Recommendations {
		if r.Scope.Kind != facts.ScopeContext || !slices.Contains(p.Contexts, r.Scope.ID) {
			continue
		}
		if p.TrustsAuthority(r.Recommender) {
			viaContext = true
			d.add(ReasonContext, 0, "recommended in context %q by trusted authority %s", r.Scope.ID, r.Recommender)
		} else {
			d.add(ReasonContext, 0, "recommendation in context %q by untrusted authority %s ignored", r.Scope.ID, r.Recommender)
		}
	}

	// 1.
	if !e.Declared() {
		blocks := discoveryActions
		if viaContext {
			blocks = Discover | FetchArtifacts
		}
		d.add(ReasonNotDeclared, blocks, "no verified manifest yet")
	}

	// 2.
	var trusted bool
	d.Author, trusted = speaksFor(&p, e)
	for _, decl := range e.Declarations {
		a := decl.Manifest.Author
		if p.TrustsAuthority(a) {
			d.add(ReasonTrustedAuthority, 0, "trusted release authority %s", a)
			continue
		}
		var blocks Action
		if !trusted && !viaContext {
			blocks = discoveryActions
		}
		d.add(ReasonUntrustedAuthority, blocks, "untrusted release authority %s", a)
	}

	if e.Declared() {
		// 4.
		have := e.CertifiedBy(p.TrustsBuilder)
		for _, c := range e.Certificates {
			if b := c.Certificate.Builder; !p.TrustsBuilder(b) {
				d.add(ReasonUntrustedBuilder, 0, "certificate by untrusted builder %s does not count", b)
			}
		}
		switch {
		case p.RequiredBuilders == 0:
			d.add(ReasonBuilders, 0, "no builder certificates required (%d trusted)", len(have))
		case len(have) < p.RequiredBuilders:
			d.add(ReasonBuilders, FetchArtifacts, "%d of %d required builders%s", len(have), p.RequiredBuilders, authorityList(have))
		default:
			d.add(ReasonBuilders, 0, "%d of %d required builders%s", len(have), p.RequiredBuilders, authorityList(have))
		}
	}

	// 5.
	revocationReasons(&d, &p, &e, FetchArtifacts)

	// 6.
	supersessionReasons(&d, &p, &e, FetchArtifacts)

	// 7.
	if !p.AutoFetchMetadata {
		d.add(ReasonPolicy, FetchMetadata, "metadata auto-fetch disabled by policy")
	}
	if !p.AutoFetchArtifacts {
		d.add(ReasonPolicy, FetchArtifacts, "artifact auto-fetch disabled by policy")
	}
	return d.finish(discoveryActions)
}

func revocationReasons(d *Decision, p *DiscoveryPolicy, e *Entry, blocks Action) {
	for _, r := range e.Revocations {
		switch {
		case r.ByAdmin():
			d.add(ReasonRevoked, blocks, "revoked: %s (by network admin %s)", reasonOrNone(r.Reason), r.Signer)
		case heeds(p, d, r.Signer):
			d.add(ReasonRevoked, blocks, "revoked: %s (by release authority %s)", reasonOrNone(r.Reason), r.Signer)
		default:
			d.add(ReasonRevoked, 0, "revocation by untrusted authority %s ignored", r.Signer)
		}
	}
}

func supersessionReasons(d *Decision, p *DiscoveryPolicy, e *Entry, blocks Action) {
	heeded := e.SupersededBy(func(a facts.AuthorityID) bool { return heeds(p, d, a) })
	for _, by := range heeded {
		d.add(ReasonSuperseded, blocks, "superseded by %s", by)
	}
	for _, s := range e.Supersessions {
		if !s.ByAdmin() && !heeds(p, d, s.Signer) {
			d.add(ReasonSuperseded, 0, "supersession by %s from untrusted authority %s ignored", s.By.Short(), s.Signer)
		}
	}
}

func reasonOrNone(s string) string {
	if s == "" {
		return "no reason given"
	}
	return s
}

func authorityList(as []facts.AuthorityID) string {
	if len(as) == 0 {
		return ""
	}
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = a.String()
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// EvaluateSharing decides what a node with sharing policy s does for
// release e on behalf of others: forward its facts, pin its artifacts,
// recommend it. Trust is read from the discovery policy p. The checks, all
// run:
//
//  1. Declared: a verified manifest exists (else nothing is shared).
//  2. Each selector (Forward, Pin, Recommend) admits the release or not.
//  3. A revocation by the admin, a trusted authority or the release's
//     own author blocks Pin and Recommend (the facts are still forwarded, so peers learn of the
//     release and its revocation together).
//  4. A supersession heeded likewise blocks Recommend.
//
// Forwarding does not imply activating.
func EvaluateSharing(s SharingPolicy, p DiscoveryPolicy, e Entry) Decision {
	d := Decision{Release: e.ID}
	if !e.Declared() {
		d.add(ReasonNotDeclared, sharingActions, "no verified manifest yet")
		return d.finish(sharingActions)
	}
	var trusted bool
	d.Author, trusted = speaksFor(&p, e)
	series := e.Declarations[0].Manifest.Series // one series per ID
	for _, f := range []struct {
		action Action
		verb   string
		sel    Selector
	}{{Forward, "forward", s.Forward}, {Pin, "pin", s.Pin}, {Recommend, "recommend", s.Recommend}} {
		if ok, why := f.sel.admits(trusted, series); ok {
			d.add(ReasonPolicy, 0, "%s: policy %s", f.verb, why)
		} else {
			d.add(ReasonPolicy, f.action, "%s: policy %s", f.verb, why)
		}
	}
	revocationReasons(&d, &p, &e, Pin|Recommend)
	supersessionReasons(&d, &p, &e, Recommend)
	return d.finish(sharingActions)
}

// DefaultSharingPolicy is a node's sharing policy until its operator sets
// one: relay the facts of every verified release, so the network keeps
// spreading what it learns; pin (keep and serve) the artifacts of trusted
// releases; recommend nothing.
func DefaultSharingPolicy() SharingPolicy {
	return SharingPolicy{Forward: SelectorAll, Pin: SelectorTrusted}
}
