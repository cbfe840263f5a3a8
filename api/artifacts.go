package api

import (
	"context"
	"net/http"
)

// ArtifactBackend is what the API needs from a node for artifacts: the
// content-addressed block store, fetches from peers, pins.
type ArtifactBackend interface {
	// ImportArtifact chunks a file on the node's machine into the block
	// store and pins it.
	ImportArtifact(ctx context.Context, req ArtifactImportRequest) (*ArtifactInfo, error)
	// ExportArtifact writes a stored artifact to a file on the node's
	// machine.
	ExportArtifact(ctx context.Context, req ArtifactExportRequest) (*ArtifactExport, error)
	// FetchArtifact starts (or joins) a fetch of a root from peers and
	// returns its state at once.
	FetchArtifact(ctx context.Context, req ArtifactFetchRequest) (*ArtifactFetch, error)
	// ArtifactFetchStatus returns the state of the fetch of a root.
	ArtifactFetchStatus(ctx context.Context, root string) (*ArtifactFetch, error)
	// CancelArtifactFetch stops a running fetch (what it stored stays and
	// a later fetch resumes from it).
	CancelArtifactFetch(ctx context.Context, root string) (*ArtifactFetch, error)
	PinArtifact(ctx context.Context, req ArtifactPinRequest) (*ArtifactInfo, error)
	UnpinArtifact(ctx context.Context, req ArtifactUnpinRequest) (*ArtifactUnpinResult, error)
	// ListArtifacts lists the pinned artifacts and the fetches.
	ListArtifacts(ctx context.Context) (*ArtifactList, error)
	// ArtifactProviders asks the connected peers which of them hold a root.
	ArtifactProviders(ctx context.Context, root string) (*ArtifactProviders, error)
	// ArtifactGC deletes the blocks no pinned artifact needs.
	ArtifactGC(ctx context.Context) (*ArtifactGCResult, error)
}

// ArtifactImportRequest imports a file. Path is read by the node (the API
// is loopback-only, so the file is on the caller's machine); relative
// paths are refused.
type ArtifactImportRequest struct {
	Path string `json:"path"`
	// Name labels the pin (default: the file's base name).
	Name string `json:"name,omitempty"`
}

// ArtifactInfo is a pinned artifact.
type ArtifactInfo struct {
	Root string `json:"root"`
	Name string `json:"name,omitempty"`
	// Size is the file size in bytes.
	Size uint64 `json:"size"`
	// Blocks and DAGBytes describe the stored DAG.
	Blocks   uint64 `json:"blocks"`
	DAGBytes uint64 `json:"dag_bytes"`
	// Releases names the releases (ID/artifact) whose manifest lists this
	// root, as this node's catalogue knows them.
	Releases []string `json:"releases,omitempty"`
}

// ArtifactExportRequest writes an artifact to Path (absolute), which must
// not exist unless Overwrite.
type ArtifactExportRequest struct {
	Root      string `json:"root"`
	Path      string `json:"path"`
	Overwrite bool   `json:"overwrite,omitempty"`
}

// ArtifactExport reports an export.
type ArtifactExport struct {
	Root   string `json:"root"`
	Path   string `json:"path"`
	Size   uint64 `json:"size"`
	SHA256 string `json:"sha256"`
}

// ArtifactFetchRequest fetches a root.
type ArtifactFetchRequest struct {
	Root string `json:"root"`
	// Name labels the pin made when the fetch completes.
	Name string `json:"name,omitempty"`
	// Size, if set, is the expected file size (from a release
	// manifest): a DAG claiming more is refused.
	Size uint64 `json:"size,omitempty"`
	// NoPin leaves the fetched DAG unpinned (a later GC removes it).
	NoPin bool `json:"no_pin,omitempty"`
}

// Fetch states.
const (
	FetchRunning   = "running"
	FetchDone      = "done"
	FetchFailed    = "failed"
	FetchCancelled = "cancelled"
)

// ArtifactFetch is the state of a fetch.
type ArtifactFetch struct {
	Root  string `json:"root"`
	Name  string `json:"name,omitempty"`
	State string `json:"state"`
	Error string `json:"error,omitempty"`
	// Blocks of BlocksKnown and Bytes of BytesTotal are in the store
	// (BytesTotal is 0 until the root arrived).
	Blocks      uint64 `json:"blocks"`
	BlocksKnown uint64 `json:"blocks_known"`
	Bytes       uint64 `json:"bytes"`
	BytesTotal  uint64 `json:"bytes_total"`
	// Fetched counts blocks received by this fetch, Had those already in
	// the store when it started (resumed).
	Fetched uint64 `json:"fetched"`
	Had     uint64 `json:"had"`
	// Sources is the number of peers blocks are requested from now;
	// PerPeer counts blocks received from each.
	Sources int               `json:"sources"`
	PerPeer map[string]uint64 `json:"per_peer,omitempty"`
	// Penalized lists peers that sent blocks not matching their CIDs.
	Penalized []string `json:"penalized,omitempty"`
	StartedMs uint64   `json:"started_ms"`
	ElapsedMs uint64   `json:"elapsed_ms"`
	// Why says what started it ("api", "release <id> <artifact>", "seed").
	Why string `json:"why,omitempty"`
}

// ArtifactPinRequest pins a root whose DAG is complete in the store.
type ArtifactPinRequest struct {
	Root string `json:"root"`
	Name string `json:"name,omitempty"`
}

// ArtifactUnpinRequest unpins a root; unless KeepBlocks, a GC follows.
type ArtifactUnpinRequest struct {
	Root       string `json:"root"`
	KeepBlocks bool   `json:"keep_blocks,omitempty"`
}

// ArtifactUnpinResult reports an unpin.
type ArtifactUnpinResult struct {
	Root string            `json:"root"`
	GC   *ArtifactGCResult `json:"gc,omitempty"`
	// GCDeferred says why no GC ran (fetches in progress).
	GCDeferred string `json:"gc_deferred,omitempty"`
}

// ArtifactGCResult reports a garbage collection.
type ArtifactGCResult struct {
	Blocks uint64 `json:"blocks"`
	Bytes  uint64 `json:"bytes"`
}

// ArtifactList lists what the node stores and fetches.
type ArtifactList struct {
	Artifacts []ArtifactInfo  `json:"artifacts"`
	Fetches   []ArtifactFetch `json:"fetches"`
	// DiskBytes is the block store's size on disk.
	DiskBytes uint64 `json:"disk_bytes"`
	// Seed says whether the node runs in seeding mode.
	Seed bool `json:"seed"`
	// Served counters of the block protocol and of bitswap.
	BlocksServed        uint64 `json:"blocks_served"`
	BytesServed         uint64 `json:"bytes_served"`
	BitswapBlocksServed uint64 `json:"bitswap_blocks_served"`
	BitswapBytesServed  uint64 `json:"bitswap_bytes_served"`
	CorruptBlocks       uint64 `json:"corrupt_blocks"`
}

// ArtifactProvider is a connected peer's answer about a root.
type ArtifactProvider struct {
	Peer string `json:"peer"`
	// State is "pinned" (whole artifact), "block" (the root block, maybe
	// fetching), "none", or "error".
	State string `json:"state"`
	Error string `json:"error,omitempty"`
}

// ArtifactProviders lists which connected peers hold a root.
type ArtifactProviders struct {
	Root      string             `json:"root"`
	Providers []ArtifactProvider `json:"providers"`
}

// artifactRoutes registers this family's routes.
func (s *server) artifactRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/artifacts", s.auth(func(w http.ResponseWriter, r *http.Request) (any, error) {
		return s.b.ListArtifacts(r.Context())
	}))
	mux.HandleFunc("POST /v1/artifacts/import", s.auth(func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req ArtifactImportRequest
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		return s.b.ImportArtifact(r.Context(), req)
	}))
	mux.HandleFunc("POST /v1/artifacts/export", s.auth(func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req ArtifactExportRequest
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		return s.b.ExportArtifact(r.Context(), req)
	}))
	mux.HandleFunc("POST /v1/artifacts/fetch", s.auth(func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req ArtifactFetchRequest
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		return s.b.FetchArtifact(r.Context(), req)
	}))
	mux.HandleFunc("GET /v1/artifacts/fetch/{root}", s.auth(func(w http.ResponseWriter, r *http.Request) (any, error) {
		return s.b.ArtifactFetchStatus(r.Context(), r.PathValue("root"))
	}))
	mux.HandleFunc("DELETE /v1/artifacts/fetch/{root}", s.auth(func(w http.ResponseWriter, r *http.Request) (any, error) {
		return s.b.CancelArtifactFetch(r.Context(), r.PathValue("root"))
	}))
	mux.HandleFunc("POST /v1/artifacts/pin", s.auth(func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req ArtifactPinRequest
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		return s.b.PinArtifact(r.Context(), req)
	}))
	mux.HandleFunc("POST /v1/artifacts/unpin", s.auth(func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req ArtifactUnpinRequest
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		return s.b.UnpinArtifact(r.Context(), req)
	}))
	mux.HandleFunc("GET /v1/artifacts/providers/{root}", s.auth(func(w http.ResponseWriter, r *http.Request) (any, error) {
		return s.b.ArtifactProviders(r.Context(), r.PathValue("root"))
	}))
	mux.HandleFunc("POST /v1/artifacts/gc", s.auth(func(w http.ResponseWriter, r *http.Request) (any, error) {
		return s.b.ArtifactGC(r.Context())
	}))
}
