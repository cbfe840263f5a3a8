package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client talks to one node's admin API.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// NewClient returns a client for the API at addr ("127.0.0.1:port").
func NewClient(addr, token string) *Client {
	return &Client{base: "http://" + addr, token: token, http: &http.Client{Timeout: 30 * time.Second}}
}

// ErrUnreachable reports that no node answered at the API address.
var ErrUnreachable = errors.New("api: node is not reachable (is `aura-node run` running for this --home?)")

// APIError is an error response from the node.
type APIError struct {
	Code    int
	Message string
}

func (e *APIError) Error() string { return e.Message }

func (c *Client) do(ctx context.Context, method, path string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("api: reading response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return errorFrom(resp.StatusCode, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("api: decoding response: %w", err)
	}
	return nil
}

func (c *Client) postJSON(ctx context.Context, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, path, bytes.NewReader(b), out)
}

// Status returns the node's status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var s Status
	return &s, c.do(ctx, http.MethodGet, "/v1/status", nil, &s)
}

// ListFacts lists journal facts.
func (c *Client) ListFacts(ctx context.Context, q FactQuery) (*FactList, error) {
	v := url.Values{}
	if q.Kind != "" {
		v.Set("kind", q.Kind)
	}
	if q.Author != "" {
		v.Set("author", q.Author)
	}
	if q.Epoch != nil {
		v.Set("epoch", strconv.FormatUint(*q.Epoch, 10))
	}
	if q.Since != 0 {
		v.Set("since", strconv.FormatUint(q.Since, 10))
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Newest {
		v.Set("newest", "true")
	}
	var out FactList
	return &out, c.do(ctx, http.MethodGet, "/v1/facts?"+v.Encode(), nil, &out)
}

// GetFact returns one fact.
func (c *Client) GetFact(ctx context.Context, id string) (*FactDetail, error) {
	var out FactDetail
	return &out, c.do(ctx, http.MethodGet, "/v1/facts/"+url.PathEscape(id), nil, &out)
}

// PutData writes a data key.
func (c *Client) PutData(ctx context.Context, namespace, key string, value []byte) (*WriteResult, error) {
	var out WriteResult
	return &out, c.do(ctx, http.MethodPut, "/v1/data/"+url.PathEscape(namespace)+"/"+url.PathEscape(key), bytes.NewReader(value), &out)
}

// GetData reads a data key.
func (c *Client) GetData(ctx context.Context, namespace, key string) (*DataValue, error) {
	var out DataValue
	return &out, c.do(ctx, http.MethodGet, "/v1/data/"+url.PathEscape(namespace)+"/"+url.PathEscape(key), nil, &out)
}

// CacheSet stores a local cache entry.
func (c *Client) CacheSet(ctx context.Context, key string, value []byte) (*CacheEntry, error) {
	var out CacheEntry
	return &out, c.postJSON(ctx, "/v1/cache/set", CacheSetRequest{Key: key, Value: value}, &out)
}

// CacheGet reads a local cache entry.
func (c *Client) CacheGet(ctx context.Context, key string) (*CacheEntry, error) {
	var out CacheEntry
	return &out, c.do(ctx, http.MethodGet, "/v1/cache/get?key="+url.QueryEscape(key), nil, &out)
}

// CacheCheck asks whether an entry stored at epoch (nil: current) is valid.
func (c *Client) CacheCheck(ctx context.Context, key string, epoch *uint64) (*CacheCheck, error) {
	p := "/v1/cache/check?key=" + url.QueryEscape(key)
	if epoch != nil {
		p += "&epoch=" + strconv.FormatUint(*epoch, 10)
	}
	var out CacheCheck
	return &out, c.do(ctx, http.MethodGet, p, nil, &out)
}

// CacheQuery lists local cache entries with a key prefix.
func (c *Client) CacheQuery(ctx context.Context, prefix string) (*CacheQuery, error) {
	var out CacheQuery
	return &out, c.do(ctx, http.MethodGet, "/v1/cache/query?prefix="+url.QueryEscape(prefix), nil, &out)
}

// Invalidate publishes a cache invalidation.
func (c *Client) Invalidate(ctx context.Context, req InvalidateRequest) (*WriteResult, error) {
	var out WriteResult
	return &out, c.postJSON(ctx, "/v1/cache/invalidate", req, &out)
}

// ReplaceAdmin proposes an admin replacement.
func (c *Client) ReplaceAdmin(ctx context.Context, req ReplaceAdminRequest) (*WriteResult, error) {
	var out WriteResult
	return &out, c.postJSON(ctx, "/v1/admin/replace", req, &out)
}

// ProposeRoster proposes a roster change.
func (c *Client) ProposeRoster(ctx context.Context, req RosterRequest) (*WriteResult, error) {
	var out WriteResult
	return &out, c.postJSON(ctx, "/v1/admin/roster", req, &out)
}

// Approve approves a proposal.
func (c *Client) Approve(ctx context.Context, req ApproveRequest) (*WriteResult, error) {
	var out WriteResult
	return &out, c.postJSON(ctx, "/v1/admin/approve", req, &out)
}

// Releases lists the release catalogue.
func (c *Client) Releases(ctx context.Context) (*ReleaseList, error) {
	var out ReleaseList
	return &out, c.do(ctx, http.MethodGet, "/v1/releases", nil, &out)
}

// Release returns one release.
func (c *Client) Release(ctx context.Context, id string) (*Release, error) {
	var out Release
	return &out, c.do(ctx, http.MethodGet, "/v1/releases/"+url.PathEscape(id), nil, &out)
}

// BlockPeers blocks or unblocks peers.
func (c *Client) BlockPeers(ctx context.Context, req BlockRequest) (*BlockList, error) {
	var out BlockList
	return &out, c.postJSON(ctx, "/v1/peers/block", req, &out)
}

// SyncNow runs anti-entropy sessions now.
func (c *Client) SyncNow(ctx context.Context, req SyncRequest) (*SyncReport, error) {
	var out SyncReport
	return &out, c.postJSON(ctx, "/v1/sync", req, &out)
}

// AdminStatus returns the admin chain.
func (c *Client) AdminStatus(ctx context.Context) (*AdminStatus, error) {
	var out AdminStatus
	return &out, c.do(ctx, http.MethodGet, "/v1/admin/status", nil, &out)
}

// errorFrom turns an error response into an *APIError.
func errorFrom(code int, data []byte) error {
	var eb ErrorBody
	if json.Unmarshal(data, &eb) == nil && eb.Error != "" {
		return &APIError{Code: code, Message: eb.Error}
	}
	return &APIError{Code: code, Message: strings.TrimSpace(string(data))}
}
