package api

import (
	"context"
	"encoding/json"
	"net/http"
)

// UpgradeBackend is what the API needs from a node for scoped
// activation: the state of the scopes the node knows, the operator's
// actions, and activation policies.
type UpgradeBackend interface {
	UpgradeStatus(ctx context.Context, req UpgradeStatusRequest) (*UpgradeStatus, error)
	UpgradeAction(ctx context.Context, req UpgradeActionRequest) (*UpgradeActionResult, error)
	SetActivationPolicy(ctx context.Context, req SetActivationPolicyRequest) (*UpgradeActionResult, error)
}

// Upgrade actions (UpgradeActionRequest.Action).
const (
	UpgradeStage           = "stage"
	UpgradeCutover         = "cutover"
	UpgradeApprove         = "approve"
	UpgradeRollback        = "rollback"
	UpgradeApproveRollback = "approve-rollback"
	UpgradeCancel          = "cancel"
)

// UpgradeStatusRequest selects scopes: one (Scope: a key, "device" or
// "authority"), the ones this device takes part in (default), or every
// scope the node has reduced (All).
type UpgradeStatusRequest struct {
	Scope string `json:"scope,omitempty"`
	All   bool   `json:"all,omitempty"`
}

// UpgradeStatus is the activation view of one node.
type UpgradeStatus struct {
	Device    string `json:"device"`
	Authority string `json:"authority"`
	// RunningName is what the launcher runs this node as (a release ID
	// or a local name such as "initial"; empty without a launcher);
	// RunningRelease is it as a release ID, if it is one.
	RunningName    string `json:"running_name,omitempty"`
	RunningRelease string `json:"running_release,omitempty"`
	Version        string `json:"version"`
	Platform       string `json:"platform"`
	Series         string `json:"series"`
	// Protocol is this build's node protocol version; HardFork names the
	// hard-fork release this node runs, if any, after which sessions with
	// other versions are refused (RefusedSessions so far).
	Protocol        uint64 `json:"protocol_version"`
	HardFork        string `json:"hard_fork,omitempty"`
	RefusedSessions uint64 `json:"refused_sessions"`
	// Sessions says what this process's last cutover did with its
	// in-flight anti-entropy sessions, or that one is handling them now.
	Sessions string `json:"sessions,omitempty"`
	// Launcher says whether the node runs under a launcher (its home),
	// and LauncherPending how many requests it has not answered.
	Launcher        bool   `json:"launcher"`
	LauncherHome    string `json:"launcher_home,omitempty"`
	LauncherPending int    `json:"launcher_pending"`
	// Configured: config.json has an activation section (the node acts);
	// Manual: it stages and cuts over only when told.
	Configured bool           `json:"configured"`
	Manual     bool           `json:"manual"`
	Scopes     []UpgradeScope `json:"scopes"`
}

// UpgradeScope is one scope's state and this device's next step in it.
type UpgradeScope struct {
	Scope         string   `json:"scope"`
	Short         string   `json:"short"`
	Kind          string   `json:"kind"`
	Owner         string   `json:"owner"`
	Participants  []string `json:"participants,omitempty"`
	Participating bool     `json:"participating"`
	// PolicySource is "config" (the device policy), "published" or
	// "none"; Policy is its JSON form and PolicyCBOR its canonical
	// encoding (what `policy set activation` starts from).
	PolicySource string          `json:"policy_source"`
	Policy       json.RawMessage `json:"policy,omitempty"`
	PolicyCBOR   []byte          `json:"policy_cbor,omitempty"`
	Residency    string          `json:"residency"`
	Transition   string          `json:"transition"`
	Target       *UpgradeTarget  `json:"target,omitempty"`
	History      []UpgradeTarget `json:"history,omitempty"`
	// Ready counts devices that staged or run the target out of Total;
	// Threshold is how many approvals a cutover needs (managed quorum).
	Ready       int              `json:"ready"`
	Total       int              `json:"total"`
	Threshold   int              `json:"threshold"`
	LastFailure *UpgradeFailure  `json:"last_failure,omitempty"`
	Devices     []UpgradeDevice  `json:"devices"`
	Decision    *UpgradeDecision `json:"decision,omitempty"`
	Next        *UpgradeStep     `json:"next,omitempty"`
	LastError   string           `json:"last_error,omitempty"`
	Refused     []UpgradeRefusal `json:"refused,omitempty"`
	Notes       []UpgradeRefusal `json:"notes,omitempty"`
	Summary     string           `json:"summary"`
}

// UpgradeTarget is a release a scope moves (or moved) to.
type UpgradeTarget struct {
	Release   string          `json:"release"`
	Version   string          `json:"version"`
	Class     string          `json:"class"`
	State     string          `json:"state"`
	Cancelled string          `json:"cancelled,omitempty"`
	Failure   *UpgradeFailure `json:"failure,omitempty"`
	Rollback  string          `json:"rollback"`
	Approved  []string        `json:"approved,omitempty"`
	Missing   []string        `json:"missing,omitempty"`
	Fence     *uint64         `json:"fence_epoch,omitempty"`
}

// UpgradeFailure is a failure with the event that reported it.
type UpgradeFailure struct {
	Class   string `json:"class"`
	Detail  string `json:"detail"`
	Release string `json:"release"`
	Fact    string `json:"fact,omitempty"`
	Author  string `json:"author,omitempty"`
	Device  string `json:"device,omitempty"`
}

// UpgradeDevice is one device of a scope.
type UpgradeDevice struct {
	Authority      string          `json:"authority"`
	Device         string          `json:"device"`
	Running        string          `json:"running,omitempty"`
	RunningVersion string          `json:"running_version,omitempty"`
	Previous       string          `json:"previous,omitempty"`
	Doing          string          `json:"doing"`
	DoingRelease   string          `json:"doing_release,omitempty"`
	InFlight       string          `json:"in_flight,omitempty"`
	Staged         []string        `json:"staged,omitempty"`
	Ready          bool            `json:"ready"`
	OnTarget       bool            `json:"on_target"`
	Healthy        bool            `json:"healthy"`
	MustRollBack   bool            `json:"must_roll_back"`
	Gates          []UpgradeGate   `json:"gates,omitempty"`
	Failure        *UpgradeFailure `json:"failure,omitempty"`
	Partitions     int             `json:"partitions,omitempty"`
}

// UpgradeGate is a health gate's state on a device.
type UpgradeGate struct {
	Name   string `json:"name"`
	State  string `json:"state"`
	Detail string `json:"detail,omitempty"`
}

// UpgradeDecision is this device's evaluation of a candidate.
type UpgradeDecision struct {
	Release string         `json:"release,omitempty"`
	Version string         `json:"version,omitempty"`
	Verdict string         `json:"verdict"`
	Checks  []UpgradeCheck `json:"checks"`
}

// UpgradeCheck is one check of an evaluation.
type UpgradeCheck struct {
	ID      string `json:"id"`
	Subject string `json:"subject,omitempty"`
	Result  string `json:"result"`
	Blocks  string `json:"blocks,omitempty"`
	Text    string `json:"text"`
}

// UpgradeStep is this device's next step in a scope.
type UpgradeStep struct {
	Action  string `json:"action"`
	Release string `json:"release,omitempty"`
	Reason  string `json:"reason"`
}

// UpgradeRefusal is an event the reduction refused or noted.
type UpgradeRefusal struct {
	Fact    string `json:"fact"`
	Kind    string `json:"kind"`
	Author  string `json:"author"`
	Device  string `json:"device,omitempty"`
	Release string `json:"release,omitempty"`
	Reason  string `json:"reason"`
}

// UpgradeActionRequest asks for one action in a scope. Scope is a key,
// "device", "authority" or empty (the node's default scope); Release
// defaults to the scope's candidate (stage) or target (approve, rollback,
// approve-rollback, cancel).
type UpgradeActionRequest struct {
	Action     string `json:"action"`
	Scope      string `json:"scope,omitempty"`
	Release    string `json:"release,omitempty"`
	FenceEpoch uint64 `json:"fence_epoch,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// UpgradeActionResult says what an action did.
type UpgradeActionResult struct {
	Action  string        `json:"action"`
	Scope   string        `json:"scope"`
	Release string        `json:"release,omitempty"`
	Facts   []WriteResult `json:"facts"`
	// Launcher says what the launcher was asked, if anything.
	Launcher string `json:"launcher,omitempty"`
	Message  string `json:"message"`
}

// SetActivationPolicyRequest sets a policy: the device policy and the
// node's activation settings (Config, the activation section of
// config.json, for Scope "" or "device"), or, for a scope this node's
// authority owns, publishes Policy (the canonical policy document,
// activation.Policy.Marshal).
type SetActivationPolicyRequest struct {
	Scope  string          `json:"scope,omitempty"`
	Config json.RawMessage `json:"config,omitempty"`
	Policy []byte          `json:"policy,omitempty"`
}

// upgradeRoutes registers this family's routes.
func (s *server) upgradeRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/upgrades", s.auth(func(w http.ResponseWriter, r *http.Request) (any, error) {
		q := r.URL.Query()
		return s.b.UpgradeStatus(r.Context(), UpgradeStatusRequest{Scope: q.Get("scope"), All: q.Get("all") == "1" || q.Get("all") == "true"})
	}))
	mux.HandleFunc("POST /v1/upgrades/policy", s.auth(func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req SetActivationPolicyRequest
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		return s.b.SetActivationPolicy(r.Context(), req)
	}))
	mux.HandleFunc("POST /v1/upgrades/{action}", s.auth(func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req UpgradeActionRequest
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		req.Action = r.PathValue("action")
		return s.b.UpgradeAction(r.Context(), req)
	}))
}
