package facts

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/aura-node/aura-node/snapshot"
)

// Payload is the kind-specific body of a fact. Each kind decodes into one
// payload type; CheckPayload runs the checks that need no state.
type Payload interface {
	// CheckPayload validates the payload in isolation for the given kind.
	CheckPayload(k Kind) error
}

// ErrBadPayload marks payloads that fail their kind's checks.
var ErrBadPayload = errors.New("facts: invalid payload")

func badPayload(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadPayload, fmt.Sprintf(format, args...))
}

// Bounds on payload fields. They are part of the protocol: every node must
// apply the same ones or reducers could diverge.
const (
	MaxNameLen        = 256
	MaxNamespaceLen   = 128
	MaxDataKeyLen     = 1024
	MaxCacheKeys      = 1024
	MaxCacheKeyLen    = 512
	MaxRosterMembers  = 256
	MaxTextLen        = 4096
	MaxBlobLen        = 48 << 10
	DefaultMaxFactLen = 64 << 10
)

func checkText(field, s string, max int) error {
	if len(s) > max {
		return badPayload("%s is %d bytes, limit %d", field, len(s), max)
	}
	if !utf8.ValidString(s) {
		return badPayload("%s is not valid UTF-8", field)
	}
	return nil
}

// Member is one roster entry: an authority and its keys.
type Member struct {
	// Authority is the member's Ed25519 signing key.
	Authority AuthorityID `cbor:"1,keyasint"`
	// Name is a human label, not used for authorisation.
	Name string `cbor:"2,keyasint,omitempty"`
	// BLSKey is the member's BLS public key for snapshot certificates
	// (empty until the snapshot issue assigns keys).
	BLSKey []byte `cbor:"3,keyasint,omitempty"`
}

func checkRoster(members []Member, threshold uint32) error {
	if len(members) == 0 {
		return badPayload("roster is empty")
	}
	if len(members) > MaxRosterMembers {
		return badPayload("roster has %d members, limit %d", len(members), MaxRosterMembers)
	}
	for i, m := range members {
		if m.Authority.IsZero() {
			return badPayload("roster member %d has no authority key", i)
		}
		if err := checkText("member name", m.Name, MaxNameLen); err != nil {
			return err
		}
		if len(m.BLSKey) > 0 {
			if _, err := snapshot.ParsePublicKey(m.BLSKey); err != nil {
				return badPayload("roster member %d (%s) BLS key: %v", i, m.Authority, err)
			}
			// A shared key would let one secret sign twice toward M.
			for _, o := range members[:i] {
				if string(o.BLSKey) == string(m.BLSKey) {
					return badPayload("roster members %s and %s share a BLS key", o.Authority, m.Authority)
				}
			}
		}
		// Rule: roster members are sorted by authority and unique, so
		// the same roster has one encoding.
		if i > 0 && string(members[i-1].Authority[:]) >= string(m.Authority[:]) {
			return badPayload("roster must be sorted by authority without duplicates")
		}
	}
	n := uint32(len(members))
	// M > N/2 so that two conflicting threshold decisions cannot both pass.
	if threshold == 0 || threshold > n || 2*threshold <= n {
		return badPayload("threshold %d of %d members: need N/2 < M <= N", threshold, n)
	}
	return nil
}

// Genesis starts a network. Its fact CID is the network ID.
type Genesis struct {
	// Name is a human label for the network.
	Name string `cbor:"1,keyasint"`
	// Members is the initial roster, sorted by authority.
	Members []Member `cbor:"2,keyasint"`
	// Threshold is M of the M-of-N threshold decisions.
	Threshold uint32 `cbor:"3,keyasint"`
	// Admin is the initial admin authority.
	Admin AuthorityID `cbor:"4,keyasint"`
	// MaxFactBytes bounds an encoded fact anywhere in this network.
	MaxFactBytes uint32 `cbor:"5,keyasint"`
	// Nonce makes two networks with the same roster distinct.
	Nonce []byte `cbor:"6,keyasint,omitempty"`
}

// CheckPayload implements Payload.
func (g *Genesis) CheckPayload(Kind) error {
	if err := checkText("network name", g.Name, MaxNameLen); err != nil {
		return err
	}
	if g.Admin.IsZero() {
		return badPayload("genesis has no admin")
	}
	if g.MaxFactBytes < 1024 || g.MaxFactBytes > 1<<20 {
		return badPayload("max fact bytes %d outside [1024, 1 MiB]", g.MaxFactBytes)
	}
	if len(g.Nonce) > 64 {
		return badPayload("genesis nonce too long")
	}
	return checkRoster(g.Members, g.Threshold)
}

// RosterChange proposes a new roster and threshold. It is admin-only and
// takes effect, advancing the identity epoch, once M members of the current
// roster approve it.
type RosterChange struct {
	Members   []Member `cbor:"1,keyasint"`
	Threshold uint32   `cbor:"2,keyasint"`
	Reason    string   `cbor:"3,keyasint,omitempty"`
}

// CheckPayload implements Payload.
func (r *RosterChange) CheckPayload(Kind) error {
	if err := checkText("reason", r.Reason, MaxTextLen); err != nil {
		return err
	}
	return checkRoster(r.Members, r.Threshold)
}

// AdminReplacement proposes replacing the admin. Any roster member may
// propose it; it takes effect once M roster members approve it, so members
// can fork away from a malicious admin without the admin's consent.
type AdminReplacement struct {
	// Previous is the admin being replaced; it must be the admin of the
	// proposal's epoch.
	Previous AuthorityID `cbor:"1,keyasint"`
	// New is the replacement admin.
	New AuthorityID `cbor:"2,keyasint"`
	// ActivationEpoch is the epoch from which the replacement holds; it
	// must be the proposal's epoch plus one.
	ActivationEpoch uint64 `cbor:"3,keyasint"`
	Reason          string `cbor:"4,keyasint,omitempty"`
}

// CheckPayload implements Payload.
func (a *AdminReplacement) CheckPayload(Kind) error {
	if a.Previous.IsZero() || a.New.IsZero() {
		return badPayload("admin replacement needs previous and new admin")
	}
	if a.Previous == a.New {
		return badPayload("admin replacement names the same admin twice")
	}
	return checkText("reason", a.Reason, MaxTextLen)
}

// TransitionApproval is a roster member's approval of an epoch-advancing
// proposal (a roster change or an admin replacement). An honest member
// approves at most one proposal per epoch; one that approves two is an
// equivocator, reported by Governance.Equivocators (its approvals still
// count: see the fault model above Governance.recompute).
type TransitionApproval struct {
	// Proposal is the CID of the proposal fact.
	Proposal []byte `cbor:"1,keyasint"`
}

// CheckPayload implements Payload.
func (t *TransitionApproval) CheckPayload(Kind) error {
	if _, err := parseCIDBytes(t.Proposal); err != nil {
		return badPayload("approval names no valid proposal CID: %v", err)
	}
	return nil
}

// Data is an application write: last writer wins by HLC timestamp, then
// by fact CID.
type Data struct {
	Namespace string `cbor:"1,keyasint"`
	Key       string `cbor:"2,keyasint"`
	Value     []byte `cbor:"3,keyasint"`
}

// CheckPayload implements Payload.
func (d *Data) CheckPayload(Kind) error {
	if err := checkText("namespace", d.Namespace, MaxNamespaceLen); err != nil {
		return err
	}
	// The state key joins namespace and key with a NUL byte.
	if strings.IndexByte(d.Namespace, 0) >= 0 {
		return badPayload("namespace contains a NUL byte")
	}
	if d.Key == "" {
		return badPayload("data key is empty")
	}
	return checkText("data key", d.Key, MaxDataKeyLen)
}

// CacheInvalidated raises the epoch floor of cache keys: an entry cached at
// epoch e for key k stays valid iff e >= floor(k).
type CacheInvalidated struct {
	Keys []string `cbor:"1,keyasint"`
	// EpochFloor is the earliest epoch whose cache entries remain valid.
	EpochFloor uint64 `cbor:"2,keyasint"`
}

// CheckPayload implements Payload.
func (c *CacheInvalidated) CheckPayload(Kind) error {
	if len(c.Keys) == 0 {
		return badPayload("cache invalidation names no keys")
	}
	if len(c.Keys) > MaxCacheKeys {
		return badPayload("cache invalidation names %d keys, limit %d", len(c.Keys), MaxCacheKeys)
	}
	for i, k := range c.Keys {
		if k == "" {
			return badPayload("cache key %d is empty", i)
		}
		if err := checkText("cache key", k, MaxCacheKeyLen); err != nil {
			return err
		}
		// Rule: keys sorted and unique, one encoding per key set.
		if i > 0 && c.Keys[i-1] >= k {
			return badPayload("cache keys must be sorted without duplicates")
		}
	}
	return nil
}

// SnapshotProposed opens a snapshot round at TargetEpoch with the digest of
// the state after all facts of epochs <= TargetEpoch.
type SnapshotProposed struct {
	TargetEpoch uint64 `cbor:"1,keyasint"`
	StateDigest []byte `cbor:"2,keyasint"`
}

// CheckPayload implements Payload.
func (s *SnapshotProposed) CheckPayload(Kind) error {
	if len(s.StateDigest) != 32 {
		return badPayload("state digest is %d bytes, want 32", len(s.StateDigest))
	}
	return nil
}

// SnapshotApproved is a member's BLS signature over (network, epoch,
// digest, proposal).
type SnapshotApproved struct {
	Proposal    []byte `cbor:"1,keyasint"`
	TargetEpoch uint64 `cbor:"2,keyasint"`
	StateDigest []byte `cbor:"3,keyasint"`
	BLSSig      []byte `cbor:"4,keyasint"`
}

// CheckPayload implements Payload.
func (s *SnapshotApproved) CheckPayload(Kind) error {
	if _, err := parseCIDBytes(s.Proposal); err != nil {
		return badPayload("approval names no valid proposal CID: %v", err)
	}
	if len(s.StateDigest) != 32 {
		return badPayload("state digest is %d bytes, want 32", len(s.StateDigest))
	}
	if len(s.BLSSig) == 0 || len(s.BLSSig) > 256 {
		return badPayload("BLS signature length %d", len(s.BLSSig))
	}
	return nil
}

// SnapshotCompleted commits a snapshot: one aggregate BLS signature by the
// signer set over the approved digest, and the CID of the state blob.
type SnapshotCompleted struct {
	Proposal     []byte        `cbor:"1,keyasint"`
	TargetEpoch  uint64        `cbor:"2,keyasint"`
	StateDigest  []byte        `cbor:"3,keyasint"`
	StateBlob    []byte        `cbor:"4,keyasint"`
	Signers      []AuthorityID `cbor:"5,keyasint"`
	AggregateSig []byte        `cbor:"6,keyasint"`
}

// CheckPayload implements Payload.
func (s *SnapshotCompleted) CheckPayload(Kind) error {
	if _, err := parseCIDBytes(s.Proposal); err != nil {
		return badPayload("completion names no valid proposal CID: %v", err)
	}
	if _, err := parseCIDBytes(s.StateBlob); err != nil {
		return badPayload("completion names no valid state blob CID: %v", err)
	}
	if len(s.StateDigest) != 32 {
		return badPayload("state digest is %d bytes, want 32", len(s.StateDigest))
	}
	if len(s.Signers) == 0 || len(s.Signers) > MaxRosterMembers {
		return badPayload("completion has %d signers", len(s.Signers))
	}
	if len(s.AggregateSig) == 0 || len(s.AggregateSig) > 256 {
		return badPayload("aggregate signature length %d", len(s.AggregateSig))
	}
	return nil
}

// SeriesDeclared declares a release series owned by its author.
type SeriesDeclared struct {
	Series      string `cbor:"1,keyasint"`
	Description string `cbor:"2,keyasint,omitempty"`
}

// CheckPayload implements Payload.
func (s *SeriesDeclared) CheckPayload(Kind) error {
	if s.Series == "" {
		return badPayload("series name is empty")
	}
	if err := checkText("series", s.Series, MaxNameLen); err != nil {
		return err
	}
	return checkText("description", s.Description, MaxTextLen)
}

// ReleaseDeclared carries a signed release manifest (its encoding and
// checks belong to release/).
type ReleaseDeclared struct {
	ReleaseID []byte `cbor:"1,keyasint"`
	Manifest  []byte `cbor:"2,keyasint"`
	Signature []byte `cbor:"3,keyasint"`
}

// CheckPayload implements Payload.
func (r *ReleaseDeclared) CheckPayload(Kind) error {
	if len(r.ReleaseID) != 32 {
		return badPayload("release ID is %d bytes, want 32", len(r.ReleaseID))
	}
	if len(r.Manifest) == 0 || len(r.Manifest) > MaxBlobLen {
		return badPayload("manifest is %d bytes", len(r.Manifest))
	}
	if len(r.Signature) != 64 {
		return badPayload("manifest signature is %d bytes, want 64", len(r.Signature))
	}
	return nil
}

// BuildCertified is a builder authority's certificate over a release's
// provenance.
type BuildCertified struct {
	ReleaseID   []byte `cbor:"1,keyasint"`
	Certificate []byte `cbor:"2,keyasint"`
	Signature   []byte `cbor:"3,keyasint"`
}

// CheckPayload implements Payload.
func (b *BuildCertified) CheckPayload(Kind) error {
	if len(b.ReleaseID) != 32 {
		return badPayload("release ID is %d bytes, want 32", len(b.ReleaseID))
	}
	if len(b.Certificate) == 0 || len(b.Certificate) > MaxBlobLen {
		return badPayload("certificate is %d bytes", len(b.Certificate))
	}
	if len(b.Signature) != 64 {
		return badPayload("certificate signature is %d bytes, want 64", len(b.Signature))
	}
	return nil
}

// ArtifactAvailable announces that the author's node holds an artifact.
type ArtifactAvailable struct {
	ReleaseID []byte `cbor:"1,keyasint"`
	Artifact  string `cbor:"2,keyasint"`
	Root      []byte `cbor:"3,keyasint"`
}

// CheckPayload implements Payload.
func (a *ArtifactAvailable) CheckPayload(Kind) error {
	if len(a.ReleaseID) != 32 {
		return badPayload("release ID is %d bytes, want 32", len(a.ReleaseID))
	}
	if _, err := parseCIDBytes(a.Root); err != nil {
		return badPayload("artifact root is not a CID: %v", err)
	}
	return checkText("artifact name", a.Artifact, MaxNameLen)
}

// ReleaseRevoked revokes a release.
type ReleaseRevoked struct {
	ReleaseID []byte `cbor:"1,keyasint"`
	Reason    string `cbor:"2,keyasint,omitempty"`
}

// CheckPayload implements Payload.
func (r *ReleaseRevoked) CheckPayload(Kind) error {
	if len(r.ReleaseID) != 32 {
		return badPayload("release ID is %d bytes, want 32", len(r.ReleaseID))
	}
	return checkText("reason", r.Reason, MaxTextLen)
}

// ReleaseSuperseded marks a release superseded by another.
type ReleaseSuperseded struct {
	ReleaseID    []byte `cbor:"1,keyasint"`
	SupersededBy []byte `cbor:"2,keyasint"`
}

// CheckPayload implements Payload.
func (r *ReleaseSuperseded) CheckPayload(Kind) error {
	if len(r.ReleaseID) != 32 || len(r.SupersededBy) != 32 {
		return badPayload("release IDs must be 32 bytes")
	}
	return nil
}

// RecommendationPublished recommends a release for a scope.
type RecommendationPublished struct {
	Scope     Scope  `cbor:"1,keyasint"`
	ReleaseID []byte `cbor:"2,keyasint"`
	Note      string `cbor:"3,keyasint,omitempty"`
}

// CheckPayload implements Payload.
func (r *RecommendationPublished) CheckPayload(Kind) error {
	if len(r.ReleaseID) != 32 {
		return badPayload("release ID is %d bytes, want 32", len(r.ReleaseID))
	}
	if err := checkText("note", r.Note, MaxTextLen); err != nil {
		return err
	}
	return r.Scope.check()
}
