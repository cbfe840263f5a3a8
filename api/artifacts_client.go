package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
)

// Artifact imports, exports and GC can take longer than the client's
// 30 s timeout on big files: these calls are bounded by their context
// only.
func (c *Client) doLong(ctx context.Context, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	long := *c
	hc := *c.http
	hc.Timeout = 0
	long.http = &hc
	return long.do(ctx, http.MethodPost, path, bytes.NewReader(b), out)
}

// ImportArtifact imports a file on this machine into the node's block
// store and pins it.
func (c *Client) ImportArtifact(ctx context.Context, req ArtifactImportRequest) (*ArtifactInfo, error) {
	var out ArtifactInfo
	return &out, c.doLong(ctx, "/v1/artifacts/import", req, &out)
}

// ExportArtifact writes a stored artifact to a file on this machine.
func (c *Client) ExportArtifact(ctx context.Context, req ArtifactExportRequest) (*ArtifactExport, error) {
	var out ArtifactExport
	return &out, c.doLong(ctx, "/v1/artifacts/export", req, &out)
}

// FetchArtifact starts (or joins) a fetch and returns its state.
func (c *Client) FetchArtifact(ctx context.Context, req ArtifactFetchRequest) (*ArtifactFetch, error) {
	var out ArtifactFetch
	return &out, c.postJSON(ctx, "/v1/artifacts/fetch", req, &out)
}

// ArtifactFetchStatus returns the state of the fetch of root.
func (c *Client) ArtifactFetchStatus(ctx context.Context, root string) (*ArtifactFetch, error) {
	var out ArtifactFetch
	return &out, c.do(ctx, http.MethodGet, "/v1/artifacts/fetch/"+url.PathEscape(root), nil, &out)
}

// CancelArtifactFetch stops the fetch of root.
func (c *Client) CancelArtifactFetch(ctx context.Context, root string) (*ArtifactFetch, error) {
	var out ArtifactFetch
	return &out, c.do(ctx, http.MethodDelete, "/v1/artifacts/fetch/"+url.PathEscape(root), nil, &out)
}

// PinArtifact pins a root whose DAG is complete in the store.
func (c *Client) PinArtifact(ctx context.Context, req ArtifactPinRequest) (*ArtifactInfo, error) {
	var out ArtifactInfo
	return &out, c.doLong(ctx, "/v1/artifacts/pin", req, &out)
}

// UnpinArtifact unpins a root (and collects garbage unless KeepBlocks).
func (c *Client) UnpinArtifact(ctx context.Context, req ArtifactUnpinRequest) (*ArtifactUnpinResult, error) {
	var out ArtifactUnpinResult
	return &out, c.doLong(ctx, "/v1/artifacts/unpin", req, &out)
}

// ListArtifacts lists the pinned artifacts and the fetches.
func (c *Client) ListArtifacts(ctx context.Context) (*ArtifactList, error) {
	var out ArtifactList
	return &out, c.do(ctx, http.MethodGet, "/v1/artifacts", nil, &out)
}

// ArtifactProviders asks the node which connected peers hold root.
func (c *Client) ArtifactProviders(ctx context.Context, root string) (*ArtifactProviders, error) {
	var out ArtifactProviders
	return &out, c.do(ctx, http.MethodGet, "/v1/artifacts/providers/"+url.PathEscape(root), nil, &out)
}

// ArtifactGC deletes the blocks no pinned artifact needs.
func (c *Client) ArtifactGC(ctx context.Context) (*ArtifactGCResult, error) {
	var out ArtifactGCResult
	return &out, c.doLong(ctx, "/v1/artifacts/gc", struct{}{}, &out)
}
