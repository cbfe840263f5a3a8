package api

import (
	"context"
	"encoding/json"
	"net/http"
)

// ReleaseBackend is what the API needs from a node for releases and
// release policies.
type ReleaseBackend interface {
	// ReleaseDetails lists every release of the catalogue with this
	// node's decisions.
	ReleaseDetails(ctx context.Context) (*ReleaseDetailList, error)
	// ReleaseDetail returns one release with everything the node knows
	// and decides about it.
	ReleaseDetail(ctx context.Context, id string) (*ReleaseDetail, error)
	// PublishRelease verifies a signed manifest and authors its
	// declaration (and the series declaration, and the availability of
	// artifacts the node holds).
	PublishRelease(ctx context.Context, req PublishReleaseRequest) (*PublishReleaseResult, error)
	// CertifyRelease signs a build certificate as this node's authority.
	CertifyRelease(ctx context.Context, id string, req CertifyReleaseRequest) (*WriteResult, error)
	// RevokeRelease revokes a release as this node's authority.
	RevokeRelease(ctx context.Context, id string, req RevokeReleaseRequest) (*WriteResult, error)
	// SupersedeRelease marks a release superseded by another.
	SupersedeRelease(ctx context.Context, id string, req SupersedeReleaseRequest) (*WriteResult, error)
	// ReleasePolicy returns the node's discovery and sharing policies and
	// the policies published in the journal.
	ReleasePolicy(ctx context.Context) (*ReleasePolicyView, error)
	// SetReleasePolicy replaces the running node's policies (and
	// optionally publishes them).
	SetReleasePolicy(ctx context.Context, req SetReleasePolicyRequest) (*ReleasePolicyView, error)
}

// releaseRoutes registers this family's routes:
//
//	GET  /v1/releases/detail              ReleaseDetailList (catalogue + decisions)
//	GET  /v1/releases/{id}/detail         ReleaseDetail
//	POST /v1/releases/publish             PublishReleaseRequest -> PublishReleaseResult
//	POST /v1/releases/{id}/certify        CertifyReleaseRequest -> WriteResult
//	POST /v1/releases/{id}/revoke         RevokeReleaseRequest -> WriteResult
//	POST /v1/releases/{id}/supersede      SupersedeReleaseRequest -> WriteResult
//	GET  /v1/policy                       ReleasePolicyView
//	POST /v1/policy                       SetReleasePolicyRequest -> ReleasePolicyView
func (s *server) releaseRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/releases/detail", s.auth(func(w http.ResponseWriter, r *http.Request) (any, error) {
		return s.b.ReleaseDetails(r.Context())
	}))
	mux.HandleFunc("GET /v1/releases/{id}/detail", s.auth(func(w http.ResponseWriter, r *http.Request) (any, error) {
		return s.b.ReleaseDetail(r.Context(), r.PathValue("id"))
	}))
	mux.HandleFunc("POST /v1/releases/publish", s.auth(func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req PublishReleaseRequest
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		return s.b.PublishRelease(r.Context(), req)
	}))
	mux.HandleFunc("POST /v1/releases/{id}/certify", s.auth(func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req CertifyReleaseRequest
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		return s.b.CertifyRelease(r.Context(), r.PathValue("id"), req)
	}))
	mux.HandleFunc("POST /v1/releases/{id}/revoke", s.auth(func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req RevokeReleaseRequest
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		return s.b.RevokeRelease(r.Context(), r.PathValue("id"), req)
	}))
	mux.HandleFunc("POST /v1/releases/{id}/supersede", s.auth(func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req SupersedeReleaseRequest
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		return s.b.SupersedeRelease(r.Context(), r.PathValue("id"), req)
	}))
	mux.HandleFunc("GET /v1/policy", s.auth(func(w http.ResponseWriter, r *http.Request) (any, error) {
		return s.b.ReleasePolicy(r.Context())
	}))
	mux.HandleFunc("POST /v1/policy", s.auth(func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req SetReleasePolicyRequest
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		return s.b.SetReleasePolicy(r.Context(), req)
	}))
}

// ReleaseDetail is one release with everything this node knows and
// decides about it. The embedded Release is the catalogue summary.
type ReleaseDetail struct {
	Release
	// Manifest is the manifest of the declaration the discovery decision
	// speaks for (absent while no declaration has verified).
	Manifest *ReleaseManifest `json:"manifest,omitempty"`
	// SignedManifest and Signature are that declaration's canonical
	// manifest bytes and signature (a builder re-verifies them).
	SignedManifest []byte                  `json:"signed_manifest,omitempty"`
	Signature      []byte                  `json:"signature,omitempty"`
	Certificates   []ReleaseCertificate    `json:"certificates"`
	Revocations    []ReleaseRevocation     `json:"revocations"`
	Supersessions  []ReleaseSupersession   `json:"supersessions"`
	Availability   []ReleaseAvailability   `json:"availability"`
	Recommended    []ReleaseRecommendation `json:"recommendations"`
	// SeriesDeclaredBy lists the authorities that declared the series.
	SeriesDeclaredBy []string `json:"series_declared_by"`
	// Discovery is this node's discovery decision (discover, fetch
	// metadata, fetch artifacts) with its reasons.
	Discovery ReleaseDecision `json:"discovery"`
	// Sharing is this node's sharing decision (forward, pin, recommend)
	// with its reasons.
	Sharing ReleaseDecision `json:"sharing"`
}

// ReleaseManifest is the part of a manifest the summary lacks.
type ReleaseManifest struct {
	Author                        string             `json:"author"`
	SourceRepo                    string             `json:"source_repo"`
	SourceBundleHash              string             `json:"source_bundle_hash"`
	BuildRecipeHash               string             `json:"build_recipe_hash"`
	OutputHash                    string             `json:"output_hash"`
	Packaging                     map[string]string  `json:"packaging"`
	MinimumLegacyRelease          string             `json:"minimum_legacy_release,omitempty"`
	ThresholdApprovalRequired     bool               `json:"threshold_approval_required"`
	EpochFenceRequired            bool               `json:"epoch_fence_required"`
	HealthGates                   []string           `json:"health_gates,omitempty"`
	Migrations                    []ReleaseMigration `json:"migrations,omitempty"`
	SuggestedActivationTimeUnixMs *uint64            `json:"suggested_activation_time_unix_ms,omitempty"`
}

// ReleaseMigration is one storage migration of a release.
type ReleaseMigration struct {
	From uint32 `json:"from"`
	To   uint32 `json:"to"`
	Name string `json:"name"`
}

// ReleaseCertificate is one verified build certificate.
type ReleaseCertificate struct {
	Builder       string `json:"builder"`
	BuiltAtUnixMs uint64 `json:"built_at_unix_ms"`
	// Trusted says whether this node's discovery policy trusts the
	// builder (only trusted builders count towards required builders).
	Trusted bool `json:"trusted"`
}

// ReleaseRevocation is one authorised revocation.
type ReleaseRevocation struct {
	Signer  string `json:"signer"`
	ByAdmin bool   `json:"by_admin"`
	Reason  string `json:"reason,omitempty"`
}

// ReleaseSupersession is one authorised supersession.
type ReleaseSupersession struct {
	Signer  string `json:"signer"`
	ByAdmin bool   `json:"by_admin"`
	By      string `json:"by"`
}

// ReleaseAvailability says that a holder announced an artifact.
type ReleaseAvailability struct {
	Artifact string `json:"artifact"`
	Holder   string `json:"holder"`
}

// ReleaseRecommendation is one recommendation of the release.
type ReleaseRecommendation struct {
	Recommender string `json:"recommender"`
	ScopeKind   uint8  `json:"scope_kind"`
	ScopeID     string `json:"scope_id"`
	Note        string `json:"note,omitempty"`
}

// ReleaseDecision is a policy decision: the actions allowed and every
// reason (a reason that blocks actions names them).
type ReleaseDecision struct {
	// Actions are the allowed actions: discover, fetch-metadata,
	// fetch-artifacts (discovery); forward, pin, recommend (sharing).
	Actions []string        `json:"actions"`
	Reasons []ReleaseReason `json:"reasons"`
}

// Allows reports whether the decision allows an action by name.
func (d ReleaseDecision) Allows(action string) bool {
	for _, a := range d.Actions {
		if a == action {
			return true
		}
	}
	return false
}

// ReleaseReason is one finding of a decision.
type ReleaseReason struct {
	Code   string   `json:"code"`
	Text   string   `json:"text"`
	Blocks []string `json:"blocks,omitempty"`
}

// ReleaseDetailList is the catalogue with decisions.
type ReleaseDetailList struct {
	Releases []ReleaseDetail `json:"releases"`
}

// PublishReleaseRequest is a signed manifest to publish (the content of
// a `release sign` file).
type PublishReleaseRequest struct {
	ReleaseID string `json:"release_id"`
	Manifest  []byte `json:"manifest"`
	Signature []byte `json:"signature"`
	// AllowUntrusted publishes a release whose authority this node's
	// discovery policy does not trust (otherwise refused).
	AllowUntrusted bool `json:"allow_untrusted,omitempty"`
}

// PublishReleaseResult says what publishing wrote.
type PublishReleaseResult struct {
	ReleaseID string `json:"release_id"`
	Series    string `json:"series"`
	Version   string `json:"version"`
	Author    string `json:"author"`
	// Declared is the ReleaseDeclared fact; absent when this exact
	// declaration was already in the journal (AlreadyPublished).
	Declared         *WriteResult `json:"declared,omitempty"`
	AlreadyPublished bool         `json:"already_published"`
	// Series is the SeriesDeclared fact, when this authority had not
	// declared the series yet.
	SeriesDeclared *WriteResult `json:"series_declared,omitempty"`
	// Available are the ArtifactAvailable facts for artifacts this node
	// holds and pins; NotAnnounced says why none were written.
	Available    []WriteResult `json:"available"`
	NotAnnounced string        `json:"not_announced,omitempty"`
}

// CertifyReleaseRequest asks the node's authority to certify a build.
type CertifyReleaseRequest struct {
	// Rebuilt, when set, are the builder's own outputs (name, size,
	// root); the node refuses to certify unless they match the manifest.
	Rebuilt []ReleaseArtifact `json:"rebuilt,omitempty"`
	// AllowSuperseded certifies a superseded release (refused otherwise).
	AllowSuperseded bool `json:"allow_superseded,omitempty"`
}

// RevokeReleaseRequest revokes a release.
type RevokeReleaseRequest struct {
	Reason string `json:"reason"`
}

// SupersedeReleaseRequest supersedes a release by another.
type SupersedeReleaseRequest struct {
	By string `json:"by"`
}

// ReleasePolicyView is the node's release policies. Discovery and
// Sharing are the policy documents (release.DiscoveryPolicy and
// release.SharingPolicy in JSON, the same as config.json and
// `policy set --file` hold).
type ReleasePolicyView struct {
	Discovery json.RawMessage `json:"discovery"`
	Sharing   json.RawMessage `json:"sharing"`
	// DiscoverySet and SharingSet say whether the operator set them
	// (otherwise they are the defaults).
	DiscoverySet bool `json:"discovery_set"`
	SharingSet   bool `json:"sharing_set"`
	// Self is this node's authority, always a trusted release authority.
	Self string `json:"self"`
	// Published are the discovery and sharing policies in the journal,
	// the latest per author, kind and scope.
	Published []PublishedPolicy `json:"published"`
	// Facts are the PolicyPublished facts written by this request.
	Facts []WriteResult `json:"facts,omitempty"`
}

// PublishedPolicy is one policy published in the journal.
type PublishedPolicy struct {
	Author string `json:"author"`
	Kind   string `json:"kind"`
	// Scope is the scope's canonical text (facts.Scope.Key), e.g.
	// "authority:12D3KooW...".
	Scope  string          `json:"scope"`
	Time   uint64          `json:"time"`
	Policy json.RawMessage `json:"policy"`
}

// SetReleasePolicyRequest replaces one or both policies (absent: keep).
type SetReleasePolicyRequest struct {
	Discovery json.RawMessage `json:"discovery,omitempty"`
	Sharing   json.RawMessage `json:"sharing,omitempty"`
	// Publish also writes the policies set as PolicyPublished facts for
	// this node's authority scope.
	Publish bool `json:"publish,omitempty"`
}
