package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/aura-node/aura-node/api"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/snapshot"
)

// Errors of snapshot requests.
var (
	ErrNotSnapshotMember = errors.New("node: this node's authority is not a roster member with a BLS key")
	ErrRoundOpen         = errors.New("node: a snapshot round is already open")
)

// ProposeSnapshot implements api.Backend: this member proposes a snapshot
// of its current state at the current epoch.
func (n *Node) ProposeSnapshot(ctx context.Context) (*api.WriteResult, error) {
	var out *api.WriteResult
	var perr error
	err := n.do(ctx, func() { out, perr = n.proposeSnapshot() })
	if err != nil {
		return nil, err
	}
	return out, perr
}

func (n *Node) proposeSnapshot() (*api.WriteResult, error) {
	gov := n.gov.Load()
	if !gov.Current().IsMember(n.authority) || n.keys.BLS.Public().IsZero() {
		return nil, fmt.Errorf("%w: %w (authority %s)", api.ErrConflict, ErrNotSnapshotMember, n.authority)
	}
	if len(n.snap.rounds) > 0 {
		return nil, fmt.Errorf("%w: %w; see `aura-node snapshot status`", api.ErrConflict, ErrRoundOpen)
	}
	if n.snap.adopt != nil {
		return nil, fmt.Errorf("%w: this node is still adopting the snapshot of epoch %d", api.ErrConflict, n.snap.adopt.Epoch)
	}
	d, err := n.Digest()
	if err != nil {
		return nil, err
	}
	c, err := n.author(facts.KindSnapshotProposed, &facts.SnapshotProposed{TargetEpoch: gov.CurrentEpoch(), StateDigest: d[:]})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", api.ErrConflict, err)
	}
	return n.writeResult(c), nil
}

// ApproveSnapshot implements api.Backend: offer the live digest to open
// rounds now and say, per round, whether this member approved and why
// not.
func (n *Node) ApproveSnapshot(ctx context.Context, req api.SnapshotApproveRequest) (*api.SnapshotApproveResult, error) {
	var want snapshot.ProposalID
	if req.Proposal != "" {
		c, err := cid.Decode(req.Proposal)
		if err != nil {
			return nil, fmt.Errorf("%w: proposal %q is not a CID", api.ErrBadRequest, req.Proposal)
		}
		want = snapshot.ProposalID(c.Bytes())
	}
	out := &api.SnapshotApproveResult{}
	var rerr error
	err := n.do(ctx, func() {
		if !n.gov.Load().Current().IsMember(n.authority) || n.keys.BLS.Public().IsZero() {
			rerr = fmt.Errorf("%w: %w", api.ErrConflict, ErrNotSnapshotMember)
			return
		}
		d, err := n.Digest()
		if err != nil {
			rerr = err
			return
		}
		st := n.snap.m.Status()
		for _, p := range st.Pending {
			if want != "" && p.ID != want {
				continue
			}
			o := api.SnapshotApproveOutcome{Proposal: proposalString(p.ID)}
			for _, a := range p.Approvers {
				if facts.AuthorityID(a) == n.authority {
					o.Approved = true
				}
			}
			if !o.Approved {
				acts, err := n.snap.m.LocalDigest(p.ID, snapshot.Digest(d))
				if err != nil {
					o.Reason = err.Error()
				}
				n.snapshotActions(acts)
				for _, a := range acts {
					if _, ok := a.(snapshot.ApproveNow); ok {
						o.Approved = true
					}
				}
			}
			out.Rounds = append(out.Rounds, o)
		}
		if want != "" && len(out.Rounds) == 0 {
			rerr = fmt.Errorf("%w: no open snapshot round %s", api.ErrNotFound, req.Proposal)
		}
	})
	if err != nil {
		return nil, err
	}
	return out, rerr
}

func proposalString(id snapshot.ProposalID) string {
	c, err := cid.Cast([]byte(id))
	if err != nil {
		return hex.EncodeToString([]byte(id))
	}
	return c.String()
}

// SnapshotStatus implements api.Backend.
func (n *Node) SnapshotStatus(ctx context.Context) (*api.SnapshotStatus, error) {
	out := &api.SnapshotStatus{}
	err := n.do(ctx, func() {
		gov := n.gov.Load()
		st := n.snap.m.Status()
		out.Epoch = gov.CurrentEpoch()
		out.FenceActive = n.snap.fence
		out.QueuedWrites = len(n.snap.queue)
		out.HeldFacts = len(n.held)
		out.Adopting = n.snap.adopt != nil
		out.LastError = n.snap.lastErr
		if last, ok := gov.LastSnapshot(); ok {
			out.HasSnapshot, out.LastEpoch = true, last.Epoch
			out.LastDigest = hex.EncodeToString(last.Digest)
			out.LastBlob = last.BlobID().String()
			out.LastBlobBytes = n.blobs.size(last.BlobID())
		}
		for _, p := range st.Pending {
			sp := api.SnapshotPending{
				Proposal: proposalString(p.ID), Proposer: facts.AuthorityID(p.Proposer).String(),
				Epoch: p.Epoch, Digest: hex.EncodeToString(p.Digest[:]), Threshold: p.Threshold,
				AgeSec: p.AgeTicks, Quorum: p.Quorum,
			}
			for _, a := range p.Approvers {
				sp.Approvers = append(sp.Approvers, facts.AuthorityID(a).String())
			}
			for _, a := range p.Missing {
				sp.Missing = append(sp.Missing, facts.AuthorityID(a).String())
			}
			out.Pending = append(out.Pending, sp)
		}
		if g := n.snap.lastGC; g.Epoch != 0 || g.Pruned != 0 || g.Adopted {
			out.LastGC = &api.GCReport{
				Epoch: g.Epoch, FactsBefore: g.FactsBefore, FactsAfter: g.FactsAfter,
				BytesBefore: g.BytesBefore, BytesAfter: g.BytesAfter, Pruned: g.Pruned,
				Adopted: g.Adopted, Reissued: g.Reissued, Seconds: g.Duration.Seconds(),
			}
		}
		out.JournalFacts, _ = n.journal.Count()
		if d, err := n.Digest(); err == nil {
			out.StateDigest = d.String()
		}
	})
	return out, err
}

// Snapshots implements api.Backend.
func (n *Node) Snapshots(ctx context.Context) (*api.SnapshotList, error) {
	gov := n.gov.Load()
	out := &api.SnapshotList{Snapshots: []api.SnapshotInfo{}}
	for _, s := range gov.Snapshots {
		out.Snapshots = append(out.Snapshots, api.SnapshotInfo{
			Epoch: s.Epoch, Cut: s.Cut.String(), Digest: hex.EncodeToString(s.Digest),
			Proposal: s.ProposalID().String(), Completion: s.CompletionID().String(),
			Blob: s.BlobID().String(), BlobLocal: n.blobs.has(s.BlobID()), BlobBytes: n.blobs.size(s.BlobID()),
		})
	}
	return out, nil
}

// maybeAutoSnapshot proposes a snapshot when the auto trigger is on, this
// node is the epoch's designated proposer (roster index epoch mod N, so
// members do not race), no round is open and the tail is large or old
// enough.
func (n *Node) maybeAutoSnapshot() {
	sc := n.cfg.Snapshot
	if (sc.AutoTailFacts == 0 && sc.AutoInterval == 0) || len(n.snap.rounds) > 0 || n.snap.adopt != nil {
		return
	}
	gov := n.gov.Load()
	cur := gov.Current()
	if len(cur.Members) == 0 || cur.Members[gov.CurrentEpoch()%uint64(len(cur.Members))].Authority != n.authority {
		return
	}
	if n.keys.BLS.Public().IsZero() {
		return
	}
	count, err := n.journal.Count()
	if err != nil {
		return
	}
	base := n.snap.lastGC.FactsAfter
	if base == 0 {
		base = 1
	}
	tail := count - min(count, base)
	due := sc.AutoTailFacts > 0 && tail >= sc.AutoTailFacts
	if sc.AutoInterval > 0 && tail > 0 {
		since := n.started
		if n.snap.lastAuto.After(since) {
			since = n.snap.lastAuto
		}
		due = due || n.now().Sub(since) >= time.Duration(sc.AutoInterval)
	}
	if !due || n.now().Sub(n.snap.lastAuto) < 10*time.Second {
		return
	}
	n.snap.lastAuto = n.now()
	if _, err := n.proposeSnapshot(); err != nil {
		n.log.Info("auto-snapshot not proposed", "err", err)
		return
	}
	n.log.Info("auto-snapshot proposed", "tail_facts", tail)
}
