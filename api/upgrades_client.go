package api

import (
	"context"
	"net/http"
	"net/url"
)

// UpgradeStatus returns the activation view of the node.
func (c *Client) UpgradeStatus(ctx context.Context, req UpgradeStatusRequest) (*UpgradeStatus, error) {
	q := url.Values{}
	if req.Scope != "" {
		q.Set("scope", req.Scope)
	}
	if req.All {
		q.Set("all", "1")
	}
	path := "/v1/upgrades"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out UpgradeStatus
	return &out, c.do(ctx, http.MethodGet, path, nil, &out)
}

// UpgradeAction runs one upgrade action (stage, cutover, approve,
// rollback, approve-rollback, cancel) in a scope.
func (c *Client) UpgradeAction(ctx context.Context, req UpgradeActionRequest) (*UpgradeActionResult, error) {
	var out UpgradeActionResult
	return &out, c.postJSON(ctx, "/v1/upgrades/"+url.PathEscape(req.Action), req, &out)
}

// SetActivationPolicy sets the device policy or publishes a scope's
// activation policy.
func (c *Client) SetActivationPolicy(ctx context.Context, req SetActivationPolicyRequest) (*UpgradeActionResult, error) {
	var out UpgradeActionResult
	return &out, c.postJSON(ctx, "/v1/upgrades/policy", req, &out)
}
