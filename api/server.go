package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Backend is what the API needs from a node.
type Backend interface {
	Status(ctx context.Context) (*Status, error)
	Ready() bool
	ListFacts(ctx context.Context, q FactQuery) (*FactList, error)
	GetFact(ctx context.Context, id string) (*FactDetail, error)
	PutData(ctx context.Context, namespace, key string, value []byte) (*WriteResult, error)
	GetData(ctx context.Context, namespace, key string) (*DataValue, error)
	CacheSet(ctx context.Context, key string, value []byte) (*CacheEntry, error)
	CacheGet(ctx context.Context, key string) (*CacheEntry, error)
	CacheCheck(ctx context.Context, key string, epoch *uint64) (*CacheCheck, error)
	CacheQuery(ctx context.Context, prefix string) (*CacheQuery, error)
	Invalidate(ctx context.Context, req InvalidateRequest) (*WriteResult, error)
	ReplaceAdmin(ctx context.Context, req ReplaceAdminRequest) (*WriteResult, error)
	ProposeRoster(ctx context.Context, req RosterRequest) (*WriteResult, error)
	Approve(ctx context.Context, req ApproveRequest) (*WriteResult, error)
	AdminStatus(ctx context.Context) (*AdminStatus, error)
	SyncNow(ctx context.Context, req SyncRequest) (*SyncReport, error)
	BlockPeers(ctx context.Context, req BlockRequest) (*BlockList, error)
	Releases(ctx context.Context) (*ReleaseList, error)
	Release(ctx context.Context, id string) (*Release, error)

	// Each maintenance family declares its own methods and routes in its
	// own file (snapshots.go, releasesapi.go, upgrades.go, artifacts.go).
	SnapshotBackend
	ReleaseBackend
	UpgradeBackend
	ArtifactBackend
}

// FactQuery filters a fact listing. Zero values mean "any".
type FactQuery struct {
	Kind   string
	Author string
	Epoch  *uint64
	Since  uint64
	Limit  int
	Newest bool
}

// Error classes a Backend returns so the server can pick a status code.
var (
	ErrNotFound   = errors.New("not found")
	ErrBadRequest = errors.New("bad request")
	ErrConflict   = errors.New("conflict")
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 1 << 20

// NewHandler returns the API's HTTP handler. token is the bearer token;
// gatherer serves /metrics.
func NewHandler(b Backend, token string, gatherer prometheus.Gatherer, log *slog.Logger) http.Handler {
	s := &server{b: b, token: token, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !b.Ready() {
			http.Error(w, "not ready\n", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /v1/status", s.auth(s.status))
	mux.HandleFunc("GET /v1/facts", s.auth(s.listFacts))
	mux.HandleFunc("GET /v1/facts/{cid}", s.auth(s.getFact))
	mux.HandleFunc("PUT /v1/data/{ns}/{key...}", s.auth(s.putData))
	mux.HandleFunc("GET /v1/data/{ns}/{key...}", s.auth(s.getData))
	mux.HandleFunc("POST /v1/cache/set", s.auth(s.cacheSet))
	mux.HandleFunc("GET /v1/cache/get", s.auth(s.cacheGet))
	mux.HandleFunc("GET /v1/cache/check", s.auth(s.cacheCheck))
	mux.HandleFunc("GET /v1/cache/query", s.auth(s.cacheQuery))
	mux.HandleFunc("POST /v1/cache/invalidate", s.auth(s.invalidate))
	mux.HandleFunc("POST /v1/admin/replace", s.auth(s.replaceAdmin))
	mux.HandleFunc("POST /v1/admin/approve", s.auth(s.approve))
	mux.HandleFunc("POST /v1/admin/roster", s.auth(func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req RosterRequest
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		return s.b.ProposeRoster(r.Context(), req)
	}))
	mux.HandleFunc("GET /v1/admin/status", s.auth(s.adminStatus))
	mux.HandleFunc("POST /v1/sync", s.auth(s.syncNow))
	mux.HandleFunc("POST /v1/peers/block", s.auth(s.blockPeers))
	mux.HandleFunc("GET /v1/releases", s.auth(func(w http.ResponseWriter, r *http.Request) (any, error) {
		return s.b.Releases(r.Context())
	}))
	mux.HandleFunc("GET /v1/releases/{id}", s.auth(func(w http.ResponseWriter, r *http.Request) (any, error) {
		return s.b.Release(r.Context(), r.PathValue("id"))
	}))
	s.snapshotRoutes(mux)
	s.releaseRoutes(mux)
	s.upgradeRoutes(mux)
	s.artifactRoutes(mux)
	return mux
}

type server struct {
	b     Backend
	token string
	log   *slog.Logger
}

func (s *server) auth(h func(w http.ResponseWriter, r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) != 1 {
			writeJSON(w, http.StatusUnauthorized, ErrorBody{Error: "missing or wrong API token (read it from the node's api.token file)"})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		out, err := h(w, r)
		if err != nil {
			code := http.StatusInternalServerError
			switch {
			case errors.Is(err, ErrNotFound):
				code = http.StatusNotFound
			case errors.Is(err, ErrBadRequest):
				code = http.StatusBadRequest
			case errors.Is(err, ErrConflict):
				code = http.StatusConflict
			case errors.Is(err, context.DeadlineExceeded):
				code = http.StatusGatewayTimeout
			}
			if code == http.StatusInternalServerError {
				s.log.Error("api request failed", "path", r.URL.Path, "err", err)
			}
			writeJSON(w, code, ErrorBody{Error: err.Error()})
			return
		}
		if _, ok := out.(alreadyWritten); ok {
			return
		}
		writeJSON(w, http.StatusOK, out)
	}
}

// alreadyWritten is what a handler returns when it wrote its own response
// body (a stream that is not JSON).
type alreadyWritten struct{}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: request body: %v", ErrBadRequest, err)
	}
	return nil
}

func (s *server) status(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.b.Status(r.Context())
}

func (s *server) listFacts(w http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	fq := FactQuery{Kind: q.Get("kind"), Author: q.Get("author"), Newest: q.Get("newest") == "true"}
	var err error
	if v := q.Get("epoch"); v != "" {
		e, perr := strconv.ParseUint(v, 10, 64)
		if perr != nil {
			return nil, fmt.Errorf("%w: epoch %q is not a number", ErrBadRequest, v)
		}
		fq.Epoch = &e
	}
	if v := q.Get("since"); v != "" {
		if fq.Since, err = strconv.ParseUint(v, 10, 64); err != nil {
			return nil, fmt.Errorf("%w: since %q is not a number", ErrBadRequest, v)
		}
	}
	if v := q.Get("limit"); v != "" {
		if fq.Limit, err = strconv.Atoi(v); err != nil || fq.Limit < 0 {
			return nil, fmt.Errorf("%w: limit %q is not a non-negative number", ErrBadRequest, v)
		}
	}
	return s.b.ListFacts(r.Context(), fq)
}

func (s *server) getFact(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.b.GetFact(r.Context(), r.PathValue("cid"))
}

func (s *server) putData(w http.ResponseWriter, r *http.Request) (any, error) {
	value, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: reading value: %v", ErrBadRequest, err)
	}
	return s.b.PutData(r.Context(), r.PathValue("ns"), r.PathValue("key"), value)
}

func (s *server) getData(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.b.GetData(r.Context(), r.PathValue("ns"), r.PathValue("key"))
}

func (s *server) cacheSet(w http.ResponseWriter, r *http.Request) (any, error) {
	var req CacheSetRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	return s.b.CacheSet(r.Context(), req.Key, req.Value)
}

func (s *server) cacheGet(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.b.CacheGet(r.Context(), r.URL.Query().Get("key"))
}

func (s *server) cacheCheck(w http.ResponseWriter, r *http.Request) (any, error) {
	var epoch *uint64
	if v := r.URL.Query().Get("epoch"); v != "" {
		e, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: epoch %q is not a number", ErrBadRequest, v)
		}
		epoch = &e
	}
	return s.b.CacheCheck(r.Context(), r.URL.Query().Get("key"), epoch)
}

func (s *server) cacheQuery(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.b.CacheQuery(r.Context(), r.URL.Query().Get("prefix"))
}

func (s *server) invalidate(w http.ResponseWriter, r *http.Request) (any, error) {
	var req InvalidateRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	return s.b.Invalidate(r.Context(), req)
}

func (s *server) replaceAdmin(w http.ResponseWriter, r *http.Request) (any, error) {
	var req ReplaceAdminRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	return s.b.ReplaceAdmin(r.Context(), req)
}

func (s *server) approve(w http.ResponseWriter, r *http.Request) (any, error) {
	var req ApproveRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	return s.b.Approve(r.Context(), req)
}

func (s *server) blockPeers(w http.ResponseWriter, r *http.Request) (any, error) {
	var req BlockRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	return s.b.BlockPeers(r.Context(), req)
}

func (s *server) syncNow(w http.ResponseWriter, r *http.Request) (any, error) {
	var req SyncRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	return s.b.SyncNow(r.Context(), req)
}

func (s *server) adminStatus(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.b.AdminStatus(r.Context())
}
