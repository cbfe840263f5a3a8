package api

import (
	"encoding/json"
	"time"
)

// Status is the node's overview.
type Status struct {
	Version string `json:"version"`
	// Release is the release the node's launcher runs it as (a release
	// ID, or a local name such as "initial"); empty without a launcher.
	Release string `json:"release,omitempty"`
	// Protocol is the node protocol version it speaks.
	Protocol     uint64            `json:"protocol"`
	NetworkID    string            `json:"network_id"`
	NetworkName  string            `json:"network_name"`
	PeerID       string            `json:"peer_id"`
	Authority    string            `json:"authority"`
	IsMember     bool              `json:"is_member"`
	IsAdmin      bool              `json:"is_admin"`
	Epoch        uint64            `json:"epoch"`
	StateDigest  string            `json:"state_digest"`
	Facts        uint64            `json:"facts"`
	KindCounts   map[string]uint64 `json:"kind_counts"`
	ListenAddrs  []string          `json:"listen_addrs"`
	Peers        []PeerInfo        `json:"peers"`
	Admin        string            `json:"admin"`
	Threshold    uint32            `json:"threshold"`
	Roster       []RosterMember    `json:"roster"`
	Pending      []Proposal        `json:"pending_proposals"`
	Cache        CacheStats        `json:"cache"`
	Gossip       GossipStats       `json:"gossip"`
	Sync         SyncStats         `json:"sync"`
	HeldFacts    int               `json:"held_facts"`
	Snapshot     *SnapshotStatus   `json:"snapshot,omitempty"`
	DiskBytes    uint64            `json:"disk_bytes"`
	UptimeSecond float64           `json:"uptime_s"`
}

// PeerInfo is one connected peer.
type PeerInfo struct {
	ID    string   `json:"id"`
	Addrs []string `json:"addrs"`
	Score float64  `json:"score"`
}

// RosterMember is a roster entry.
type RosterMember struct {
	Authority string `json:"authority"`
	Name      string `json:"name,omitempty"`
}

// Proposal is an epoch-advancing proposal and who has approved it.
type Proposal struct {
	ID        string   `json:"id"`
	Kind      string   `json:"kind"`
	Epoch     uint64   `json:"epoch"`
	Author    string   `json:"author"`
	Approvers []string `json:"approvers"`
	Needed    uint32   `json:"needed"`
	Summary   string   `json:"summary"`
}

// CacheStats are the local cache counters.
type CacheStats struct {
	Entries       int     `json:"entries"`
	Hits          uint64  `json:"hits"`
	Misses        uint64  `json:"misses"`
	Invalidations uint64  `json:"invalidations"`
	HitRate       float64 `json:"hit_rate"`
}

// GossipStats count what the gossip validator decided.
type GossipStats struct {
	// TopicPeers are the peers subscribed to the network's topic;
	// MeshPeers those gossipsub forwards facts to.
	TopicPeers int    `json:"topic_peers"`
	MeshPeers  int    `json:"mesh_peers"`
	Accepted   uint64 `json:"accepted"`
	Rejected   uint64 `json:"rejected"`
	Ignored    uint64 `json:"ignored"`
}

// SyncStats count the anti-entropy sessions this node initiated.
type SyncStats struct {
	Sessions    uint64 `json:"sessions"`
	FactsPulled uint64 `json:"facts_pulled"`
	FactsPushed uint64 `json:"facts_pushed"`
	Failures    uint64 `json:"failures"`
	// Peers is the last session with each peer.
	Peers []SyncSession `json:"peers,omitempty"`
}

// SyncSession reports one anti-entropy session.
type SyncSession struct {
	Peer       string  `json:"peer"`
	InSync     bool    `json:"in_sync"`
	Rounds     int     `json:"rounds"`
	BytesOut   int     `json:"bytes_out"`
	BytesIn    int     `json:"bytes_in"`
	Pulled     int     `json:"pulled"`
	Pushed     int     `json:"pushed"`
	DurationMs float64 `json:"duration_ms"`
	Error      string  `json:"error,omitempty"`
}

// SyncRequest runs anti-entropy now, with one peer or every connected one.
type SyncRequest struct {
	Peer string `json:"peer,omitempty"`
}

// SyncReport is what SyncRequest did.
type SyncReport struct {
	Sessions []SyncSession `json:"sessions"`
}

// FactSummary is one journal entry in a listing.
type FactSummary struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"`
	Author string `json:"author"`
	Epoch  uint64 `json:"epoch"`
	Time   uint64 `json:"time"`
	// TimeText is the HLC wall time in RFC 3339.
	TimeText string `json:"time_text"`
}

// FactList is the answer to a fact query.
type FactList struct {
	Facts []FactSummary `json:"facts"`
}

// FactDetail is one fact with its decoded payload.
type FactDetail struct {
	FactSummary
	Network string          `json:"network"`
	Payload json.RawMessage `json:"payload"`
	Size    int             `json:"size"`
	// Raw is the canonical CBOR encoding (base64 in JSON).
	Raw []byte `json:"raw"`
}

// WriteResult reports a fact this node authored.
type WriteResult struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"`
	Epoch uint64 `json:"epoch"`
	Time  uint64 `json:"time"`
	// Queued is true when the write is held behind a writer fence.
	Queued bool `json:"queued,omitempty"`
}

// DataValue is the winning value of a data key.
type DataValue struct {
	Namespace string `json:"namespace"`
	Key       string `json:"key"`
	// Value is the raw value (base64 in JSON).
	Value  []byte `json:"value"`
	Time   uint64 `json:"time"`
	Author string `json:"author"`
	Fact   string `json:"fact"`
}

// CacheSetRequest stores a local cache entry at the node's current epoch.
type CacheSetRequest struct {
	Key   string `json:"key"`
	Value []byte `json:"value"`
}

// CacheEntry is a cache lookup result.
type CacheEntry struct {
	Key   string `json:"key"`
	Value []byte `json:"value,omitempty"`
	// Epoch is the epoch the entry was stored at.
	Epoch uint64 `json:"epoch"`
	// Floor is the key's replicated invalidation floor.
	Floor uint64 `json:"floor"`
	Valid bool   `json:"valid"`
	// Present is false when there is no entry at all.
	Present bool `json:"present"`
}

// CacheCheck says whether an entry of a key stored at Epoch is valid.
type CacheCheck struct {
	Key   string `json:"key"`
	Epoch uint64 `json:"epoch"`
	Floor uint64 `json:"floor"`
	Valid bool   `json:"valid"`
}

// CacheQuery lists local cache entries.
type CacheQuery struct {
	Entries []CacheEntry `json:"entries"`
}

// InvalidateRequest publishes a CacheInvalidated fact. A nil Floor means
// the node's current epoch plus one, which invalidates every entry cached
// so far.
type InvalidateRequest struct {
	Keys  []string `json:"keys"`
	Floor *uint64  `json:"floor,omitempty"`
}

// ReplaceAdminRequest proposes a new admin (and approves the proposal as
// the proposing member).
type ReplaceAdminRequest struct {
	NewAdmin string `json:"new_admin"`
	Reason   string `json:"reason,omitempty"`
}

// RosterRequest proposes a new roster (admin only) and approves it as the
// proposing member. Members are "AUTHORITY_ID[:BLS_KEY_HEX]" entries, as
// `aura-node keys show --member` prints them; Threshold 0 means a simple
// majority.
type RosterRequest struct {
	Members   []string `json:"members"`
	Threshold uint32   `json:"threshold,omitempty"`
	Reason    string   `json:"reason,omitempty"`
}

// ApproveRequest approves an epoch-advancing proposal.
type ApproveRequest struct {
	Proposal string `json:"proposal"`
}

// AdminStatus shows the admin chain and the pending proposals.
type AdminStatus struct {
	Admin   string         `json:"admin"`
	Epoch   uint64         `json:"epoch"`
	History []AdminEpoch   `json:"history"`
	Pending []Proposal     `json:"pending"`
	Roster  []RosterMember `json:"roster"`
}

// AdminEpoch is one epoch of the chain.
type AdminEpoch struct {
	Epoch     uint64 `json:"epoch"`
	Admin     string `json:"admin"`
	Threshold uint32 `json:"threshold"`
	Members   int    `json:"members"`
	Cause     string `json:"cause"`
	CauseKind string `json:"cause_kind"`
}

// BlockRequest blocks or unblocks peers: a blocked peer is disconnected
// and refused until unblocked (or the node restarts). Clear unblocks all.
type BlockRequest struct {
	Peers []string `json:"peers,omitempty"`
	Block bool     `json:"block"`
	Clear bool     `json:"clear,omitempty"`
}

// BlockList is the set of blocked peers.
type BlockList struct {
	Blocked []string `json:"blocked"`
}

// Release is one release of the catalogue.
type Release struct {
	ID      string `json:"id"`
	Series  string `json:"series,omitempty"`
	Version string `json:"version,omitempty"`
	// Authorities are the release authorities whose manifests verified.
	Authorities []string `json:"authorities"`
	// Builders certified the build.
	Builders      []string          `json:"builders"`
	Compatibility string            `json:"compatibility,omitempty"`
	Artifacts     []ReleaseArtifact `json:"artifacts"`
	Revoked       bool              `json:"revoked"`
	RevokedReason string            `json:"revoked_reason,omitempty"`
	SupersededBy  []string          `json:"superseded_by,omitempty"`
	// Pending counts records waiting for a manifest of this release.
	Pending int `json:"pending"`
}

// ReleaseArtifact is one artifact of a release manifest.
type ReleaseArtifact struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Platform string `json:"platform,omitempty"`
	Size     uint64 `json:"size"`
	Root     string `json:"root"`
}

// ReleaseList is the catalogue.
type ReleaseList struct {
	Releases []Release `json:"releases"`
}

// ErrorBody is the JSON body of an error response.
type ErrorBody struct {
	Error string `json:"error"`
}

// TimeText renders an HLC wall-clock reading in milliseconds.
func TimeText(ms uint64) string {
	return time.UnixMilli(int64(ms)).UTC().Format(time.RFC3339Nano)
}
