package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// SnapshotBackend is what the API needs from a node for snapshots.
type SnapshotBackend interface {
	ProposeSnapshot(ctx context.Context) (*WriteResult, error)
	ApproveSnapshot(ctx context.Context, req SnapshotApproveRequest) (*SnapshotApproveResult, error)
	SnapshotStatus(ctx context.Context) (*SnapshotStatus, error)
	Snapshots(ctx context.Context) (*SnapshotList, error)
	// Backup writes an unencrypted backup archive (a tar: the latest
	// snapshot's proposal, completion and blob, and the journal tail) to
	// w. It returns an error before writing anything if it cannot.
	Backup(ctx context.Context, w io.Writer, started func()) error
}

// SnapshotApproveRequest names the proposal to approve; empty means every
// open round.
type SnapshotApproveRequest struct {
	Proposal string `json:"proposal,omitempty"`
}

// SnapshotApproveResult says, per open round, whether this member
// approved and why not.
type SnapshotApproveResult struct {
	Rounds []SnapshotApproveOutcome `json:"rounds"`
}

// SnapshotApproveOutcome is one round's outcome.
type SnapshotApproveOutcome struct {
	Proposal string `json:"proposal"`
	Approved bool   `json:"approved"`
	Reason   string `json:"reason,omitempty"`
}

// SnapshotStatus is the snapshot view of one node.
type SnapshotStatus struct {
	Epoch         uint64            `json:"epoch"`
	HasSnapshot   bool              `json:"has_snapshot"`
	LastEpoch     uint64            `json:"last_snapshot_epoch"`
	LastDigest    string            `json:"last_snapshot_digest,omitempty"`
	LastBlob      string            `json:"last_snapshot_blob,omitempty"`
	LastBlobBytes int64             `json:"last_snapshot_blob_bytes,omitempty"`
	FenceActive   bool              `json:"fence_active"`
	QueuedWrites  int               `json:"queued_writes"`
	HeldFacts     int               `json:"held_facts"`
	Pending       []SnapshotPending `json:"pending"`
	LastGC        *GCReport         `json:"last_gc,omitempty"`
	Adopting      bool              `json:"adopting"`
	LastError     string            `json:"last_error,omitempty"`
	JournalFacts  uint64            `json:"journal_facts"`
	StateDigest   string            `json:"state_digest"`
}

// SnapshotPending is an open round.
type SnapshotPending struct {
	Proposal  string   `json:"proposal"`
	Proposer  string   `json:"proposer"`
	Epoch     uint64   `json:"epoch"`
	Digest    string   `json:"digest"`
	Threshold int      `json:"threshold"`
	Approvers []string `json:"approvers"`
	Missing   []string `json:"missing"`
	AgeSec    uint64   `json:"age_s"`
	Quorum    bool     `json:"quorum"`
}

// GCReport describes the last garbage collection or snapshot adoption.
type GCReport struct {
	Epoch       uint64  `json:"epoch"`
	FactsBefore uint64  `json:"facts_before"`
	FactsAfter  uint64  `json:"facts_after"`
	BytesBefore uint64  `json:"bytes_before"`
	BytesAfter  uint64  `json:"bytes_after"`
	Pruned      int     `json:"pruned"`
	Adopted     bool    `json:"adopted"`
	Reissued    int     `json:"reissued"`
	Seconds     float64 `json:"seconds"`
}

// SnapshotList lists the completed snapshots.
type SnapshotList struct {
	Snapshots []SnapshotInfo `json:"snapshots"`
}

// SnapshotInfo is one completed snapshot.
type SnapshotInfo struct {
	Epoch      uint64 `json:"epoch"`
	Cut        string `json:"cut"`
	Digest     string `json:"digest"`
	Proposal   string `json:"proposal"`
	Completion string `json:"completion"`
	Blob       string `json:"blob"`
	BlobLocal  bool   `json:"blob_local"`
	BlobBytes  int64  `json:"blob_bytes,omitempty"`
}

// snapshotRoutes registers this family's routes.
func (s *server) snapshotRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/snapshots/propose", s.auth(func(w http.ResponseWriter, r *http.Request) (any, error) {
		return s.b.ProposeSnapshot(r.Context())
	}))
	mux.HandleFunc("POST /v1/snapshots/approve", s.auth(func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req SnapshotApproveRequest
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		return s.b.ApproveSnapshot(r.Context(), req)
	}))
	mux.HandleFunc("GET /v1/snapshots/status", s.auth(func(w http.ResponseWriter, r *http.Request) (any, error) {
		return s.b.SnapshotStatus(r.Context())
	}))
	mux.HandleFunc("GET /v1/snapshots", s.auth(func(w http.ResponseWriter, r *http.Request) (any, error) {
		return s.b.Snapshots(r.Context())
	}))
	mux.HandleFunc("GET /v1/snapshots/backup", s.auth(func(w http.ResponseWriter, r *http.Request) (any, error) {
		err := s.b.Backup(r.Context(), w, func() {
			w.Header().Set("Content-Type", "application/x-tar")
			w.WriteHeader(http.StatusOK)
		})
		if err != nil {
			return nil, err
		}
		return alreadyWritten{}, nil
	}))
}

// ProposeSnapshot asks the node to propose a snapshot of its current state.
func (c *Client) ProposeSnapshot(ctx context.Context) (*WriteResult, error) {
	var out WriteResult
	return &out, c.postJSON(ctx, "/v1/snapshots/propose", struct{}{}, &out)
}

// ApproveSnapshot asks the node to approve open rounds now.
func (c *Client) ApproveSnapshot(ctx context.Context, req SnapshotApproveRequest) (*SnapshotApproveResult, error) {
	var out SnapshotApproveResult
	return &out, c.postJSON(ctx, "/v1/snapshots/approve", req, &out)
}

// SnapshotStatus returns the node's snapshot view.
func (c *Client) SnapshotStatus(ctx context.Context) (*SnapshotStatus, error) {
	var out SnapshotStatus
	return &out, c.do(ctx, http.MethodGet, "/v1/snapshots/status", nil, &out)
}

// Snapshots lists the completed snapshots.
func (c *Client) Snapshots(ctx context.Context) (*SnapshotList, error) {
	var out SnapshotList
	return &out, c.do(ctx, http.MethodGet, "/v1/snapshots", nil, &out)
}

// Backup streams the node's backup archive (unencrypted tar) into w.
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/snapshots/backup", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	hc := *c.http
	hc.Timeout = 0 // a large archive takes as long as it takes
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return 0, errorFrom(resp.StatusCode, data)
	}
	return io.Copy(w, resp.Body)
}
