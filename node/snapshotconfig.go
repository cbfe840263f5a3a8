package node

import (
	"fmt"
	"time"
)

// SnapshotConfig configures snapshot rounds. Zero values take defaults.
type SnapshotConfig struct {
	// ProposalTimeout bounds a whole round (default 5m): a proposal not
	// committed by then aborts here and the writer fence lifts.
	ProposalTimeout Duration `json:"proposal_timeout"`
	// ApprovalTimeout bounds the approval phase (default 2m): a round
	// still short of M approvals aborts.
	ApprovalTimeout Duration `json:"approval_timeout"`
	// MaxOpenProposals caps the rounds open at once (default 4).
	MaxOpenProposals int `json:"max_open_proposals"`
	// AutoTailFacts, if set, makes a member propose a snapshot when the
	// journal holds at least this many facts above the last snapshot.
	// Off (0) by default; the testnet turns it on.
	AutoTailFacts uint64 `json:"auto_tail_facts,omitempty"`
	// AutoInterval, if set, makes a member propose a snapshot this long
	// after the last one (or after start) when the tail is not empty.
	// Off by default.
	AutoInterval Duration `json:"auto_interval,omitempty"`
	// MaxBlobBytes bounds a state blob fetched from a peer (default 4 GiB).
	MaxBlobBytes int64 `json:"max_blob_bytes,omitempty"`
}

func (c *SnapshotConfig) validate() error {
	if c.ProposalTimeout == 0 {
		c.ProposalTimeout = Duration(5 * time.Minute)
	}
	if c.ApprovalTimeout == 0 {
		c.ApprovalTimeout = min(Duration(2*time.Minute), c.ProposalTimeout)
	}
	if c.MaxOpenProposals == 0 {
		c.MaxOpenProposals = 4
	}
	if c.MaxBlobBytes == 0 {
		c.MaxBlobBytes = 4 << 30
	}
	switch {
	case time.Duration(c.ProposalTimeout) < time.Second || time.Duration(c.ApprovalTimeout) < time.Second:
		return fmt.Errorf("%w: snapshot timeouts must be at least 1s", ErrBadConfig)
	case c.ApprovalTimeout > c.ProposalTimeout:
		return fmt.Errorf("%w: snapshot approval_timeout %s exceeds proposal_timeout %s", ErrBadConfig,
			time.Duration(c.ApprovalTimeout), time.Duration(c.ProposalTimeout))
	case c.MaxOpenProposals < 0:
		return fmt.Errorf("%w: snapshot max_open_proposals is negative", ErrBadConfig)
	case c.AutoInterval != 0 && time.Duration(c.AutoInterval) < 10*time.Second:
		return fmt.Errorf("%w: snapshot auto_interval must be at least 10s", ErrBadConfig)
	}
	return nil
}
