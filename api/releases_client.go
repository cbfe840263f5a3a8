package api

import (
	"context"
	"net/http"
	"net/url"
)

// ReleaseDetails lists the catalogue with this node's decisions.
func (c *Client) ReleaseDetails(ctx context.Context) (*ReleaseDetailList, error) {
	var out ReleaseDetailList
	return &out, c.do(ctx, http.MethodGet, "/v1/releases/detail", nil, &out)
}

// ReleaseDetail returns one release with this node's decisions.
func (c *Client) ReleaseDetail(ctx context.Context, id string) (*ReleaseDetail, error) {
	var out ReleaseDetail
	return &out, c.do(ctx, http.MethodGet, "/v1/releases/"+url.PathEscape(id)+"/detail", nil, &out)
}

// PublishRelease publishes a signed manifest.
func (c *Client) PublishRelease(ctx context.Context, req PublishReleaseRequest) (*PublishReleaseResult, error) {
	var out PublishReleaseResult
	return &out, c.postJSON(ctx, "/v1/releases/publish", req, &out)
}

// CertifyRelease certifies a build as the node's authority.
func (c *Client) CertifyRelease(ctx context.Context, id string, req CertifyReleaseRequest) (*WriteResult, error) {
	var out WriteResult
	return &out, c.postJSON(ctx, "/v1/releases/"+url.PathEscape(id)+"/certify", req, &out)
}

// RevokeRelease revokes a release as the node's authority.
func (c *Client) RevokeRelease(ctx context.Context, id string, req RevokeReleaseRequest) (*WriteResult, error) {
	var out WriteResult
	return &out, c.postJSON(ctx, "/v1/releases/"+url.PathEscape(id)+"/revoke", req, &out)
}

// SupersedeRelease supersedes a release as the node's authority.
func (c *Client) SupersedeRelease(ctx context.Context, id string, req SupersedeReleaseRequest) (*WriteResult, error) {
	var out WriteResult
	return &out, c.postJSON(ctx, "/v1/releases/"+url.PathEscape(id)+"/supersede", req, &out)
}

// ReleasePolicy returns the node's release policies.
func (c *Client) ReleasePolicy(ctx context.Context) (*ReleasePolicyView, error) {
	var out ReleasePolicyView
	return &out, c.do(ctx, http.MethodGet, "/v1/policy", nil, &out)
}

// SetReleasePolicy replaces the running node's release policies.
func (c *Client) SetReleasePolicy(ctx context.Context, req SetReleasePolicyRequest) (*ReleasePolicyView, error) {
	var out ReleasePolicyView
	return &out, c.postJSON(ctx, "/v1/policy", req, &out)
}
