package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/aura-node/aura-node/api"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/storage"
)

// Node implements the admin API.
var _ api.Backend = (*Node)(nil)

// Ready reports whether the node can serve reads and take writes.
//
// Ready means: the journal holds a genesis, the host listens, and the loop
// that owns every write answers within a second (a loop stuck on a journal
// write, for example on a full disk, makes the node unready).
func (n *Node) Ready() bool {
	if n.gov.Load() == nil || n.host == nil || len(n.host.Addrs()) == 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return n.do(ctx, func() {}) == nil
}

// Status implements api.Backend.
func (n *Node) Status(ctx context.Context) (*api.Status, error) {
	gov := n.gov.Load()
	cur := gov.Current()
	digest, err := n.Digest()
	if err != nil {
		return nil, err
	}
	count, err := n.journal.Count()
	if err != nil {
		return nil, err
	}
	snap, err := n.SnapshotStatus(ctx)
	if err != nil {
		return nil, err
	}
	counts, err := facts.ReadKindCounts(n.journal)
	if err != nil {
		return nil, err
	}
	s := &api.Status{
		Version:      Version,
		Protocol:     n.protocol,
		Release:      runningName(n),
		Snapshot:     snap,
		NetworkID:    n.netID.String(),
		NetworkName:  gov.Name,
		PeerID:       n.host.ID().String(),
		Authority:    n.authority.String(),
		IsMember:     cur.IsMember(n.authority),
		IsAdmin:      cur.Admin == n.authority,
		Epoch:        gov.CurrentEpoch(),
		StateDigest:  digest.String(),
		Facts:        count,
		KindCounts:   map[string]uint64{},
		Admin:        cur.Admin.String(),
		Threshold:    cur.Threshold,
		Roster:       rosterOf(cur),
		Pending:      pendingOf(gov),
		HeldFacts:    int(n.stats.held.Load()),
		UptimeSecond: n.now().Sub(n.started).Seconds(),
	}
	for k, c := range counts {
		s.KindCounts[k.String()] = c
	}
	for _, a := range n.host.Addrs() {
		s.ListenAddrs = append(s.ListenAddrs, a.String()+"/p2p/"+n.host.ID().String())
	}
	scores := n.peerScores()
	for _, p := range n.host.Network().Peers() {
		pi := api.PeerInfo{ID: p.String(), Score: scores[p]}
		for _, c := range n.host.Network().ConnsToPeer(p) {
			pi.Addrs = append(pi.Addrs, c.RemoteMultiaddr().String())
		}
		s.Peers = append(s.Peers, pi)
	}
	sort.Slice(s.Peers, func(i, j int) bool { return s.Peers[i].ID < s.Peers[j].ID })
	cs := n.cache.Stats()
	s.Cache = api.CacheStats{Entries: cs.Entries, Hits: cs.Hits, Misses: cs.Misses, Invalidations: cs.Invalidations, HitRate: cs.HitRate()}
	s.Gossip = api.GossipStats{TopicPeers: len(n.topic.ListPeers()), MeshPeers: n.mesh.count(), Accepted: n.stats.gossipAccepted.Load(), Rejected: n.stats.gossipRejected.Load(), Ignored: n.stats.gossipIgnored.Load()}
	s.Sync = api.SyncStats{Sessions: n.stats.syncSessions.Load(), FactsPulled: n.stats.syncPulled.Load(),
		FactsPushed: n.stats.syncPushed.Load(), Failures: n.stats.syncFailures.Load()}
	n.syncPeers.mu.Lock()
	for _, st := range n.syncPeers.peers {
		if st.last.Peer != "" {
			s.Sync.Peers = append(s.Sync.Peers, syncSession(st.last))
		}
	}
	n.syncPeers.mu.Unlock()
	sort.Slice(s.Sync.Peers, func(i, j int) bool { return s.Sync.Peers[i].Peer < s.Sync.Peers[j].Peer })
	if p, ok := n.journal.(interface{ DiskUsage() uint64 }); ok {
		s.DiskBytes = p.DiskUsage()
	}
	return s, nil
}

func rosterOf(e *facts.EpochInfo) []api.RosterMember {
	out := make([]api.RosterMember, 0, len(e.Members))
	for _, m := range e.Members {
		out = append(out, api.RosterMember{Authority: m.Authority.String(), Name: m.Name})
	}
	return out
}

func pendingOf(gov *facts.Governance) []api.Proposal {
	var out []api.Proposal
	for _, p := range gov.Pending() {
		id, _ := cid.Cast(p.Record.ID)
		ap := api.Proposal{
			ID:     id.String(),
			Kind:   p.Record.Kind.String(),
			Epoch:  p.Record.Epoch,
			Author: p.Record.Author.String(),
			Needed: gov.Current().Threshold,
		}
		for _, a := range p.Approvers {
			ap.Approvers = append(ap.Approvers, a.String())
		}
		switch p.Record.Kind {
		case facts.KindAdminReplacement:
			var ar facts.AdminReplacement
			if facts.UnmarshalCanonical(p.Record.Payload, &ar) == nil {
				ap.Summary = fmt.Sprintf("replace admin %s with %s from epoch %d", ar.Previous, ar.New, ar.ActivationEpoch)
			}
		case facts.KindRosterChangeProposed:
			var rc facts.RosterChange
			if facts.UnmarshalCanonical(p.Record.Payload, &rc) == nil {
				ap.Summary = fmt.Sprintf("roster of %d members, threshold %d", len(rc.Members), rc.Threshold)
			}
		}
		out = append(out, ap)
	}
	return out
}

func summary(e storage.Entry) api.FactSummary {
	return api.FactSummary{
		ID:       e.ID.String(),
		Kind:     e.Kind.String(),
		Author:   e.Author.String(),
		Epoch:    e.Epoch,
		Time:     uint64(e.Time),
		TimeText: api.TimeText(e.Time.WallMs()),
	}
}

// ListFacts implements api.Backend.
func (n *Node) ListFacts(ctx context.Context, q api.FactQuery) (*api.FactList, error) {
	sq := storage.Query{Epoch: q.Epoch, Since: facts.Timestamp(q.Since), Limit: q.Limit, Newest: q.Newest}
	if q.Kind != "" {
		k, err := facts.ParseKind(q.Kind)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", api.ErrBadRequest, err)
		}
		sq.Kind = k
	}
	if q.Author != "" {
		a, err := facts.ParseAuthorityID(q.Author)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", api.ErrBadRequest, err)
		}
		sq.Author = &a
	}
	entries, err := n.journal.List(sq)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	out := &api.FactList{Facts: []api.FactSummary{}}
	for _, e := range entries {
		out.Facts = append(out.Facts, summary(e))
	}
	return out, nil
}

// GetFact implements api.Backend.
func (n *Node) GetFact(ctx context.Context, id string) (*api.FactDetail, error) {
	c, err := cid.Decode(id)
	if err != nil {
		return nil, fmt.Errorf("%w: %q is not a fact CID: %v", api.ErrBadRequest, id, err)
	}
	raw, ok, err := n.journal.GetFact(c)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: no fact %s in this journal", api.ErrNotFound, id)
	}
	f, p, err := facts.Decode(raw, 0)
	if err != nil {
		return nil, err
	}
	payload, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	d := &api.FactDetail{
		FactSummary: summary(storage.Entry{ID: c, Kind: f.Kind, Author: f.Author, Epoch: f.Epoch, Time: f.Time}),
		Payload:     payload,
		Size:        len(raw),
		Raw:         raw,
	}
	if nc, err := cid.Cast(f.Network); err == nil {
		d.Network = nc.String()
	}
	return d, nil
}

func (n *Node) writeResult(v facts.Checked) *api.WriteResult {
	return &api.WriteResult{ID: v.ID().String(), Kind: v.Fact().Kind.String(), Epoch: v.Fact().Epoch, Time: uint64(v.Fact().Time)}
}

// authorFor authors a fact, classifying payload errors as bad requests.
func (n *Node) authorFor(ctx context.Context, kind facts.Kind, p facts.Payload) (*api.WriteResult, error) {
	if err := p.CheckPayload(kind); err != nil {
		return nil, fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	v, err := n.Author(ctx, kind, p)
	if errors.Is(err, errQueued) {
		return &api.WriteResult{Kind: kind.String(), Epoch: n.gov.Load().CurrentEpoch(), Queued: true}, nil
	}
	if err != nil {
		if errors.Is(err, facts.ErrTooLarge) || errors.Is(err, ErrBadRelease) {
			return nil, fmt.Errorf("%w: %w", api.ErrBadRequest, err)
		}
		if errors.Is(err, facts.ErrNotMember) || errors.Is(err, facts.ErrNotAdmin) || errors.Is(err, facts.ErrRetiredAdmin) ||
			errors.Is(err, facts.ErrBadTransition) || errors.Is(err, facts.ErrBadPayload) {
			return nil, fmt.Errorf("%w: %w", api.ErrConflict, err)
		}
		return nil, err
	}
	return n.writeResult(v), nil
}

// PutData implements api.Backend.
func (n *Node) PutData(ctx context.Context, namespace, key string, value []byte) (*api.WriteResult, error) {
	return n.authorFor(ctx, facts.KindData, &facts.Data{Namespace: namespace, Key: key, Value: value})
}

// GetData implements api.Backend.
func (n *Node) GetData(ctx context.Context, namespace, key string) (*api.DataValue, error) {
	d, ok, err := facts.ReadData(n.journal, namespace, key)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: key %q not found in namespace %q", api.ErrNotFound, key, namespace)
	}
	return &api.DataValue{Namespace: namespace, Key: key, Value: d.Value, Time: uint64(d.Time), Author: d.Author.String(), Fact: d.FactID().String()}, nil
}

func (n *Node) floor(key string) uint64 {
	f, err := facts.ReadCacheFloor(n.journal, key)
	if err != nil {
		n.log.Error("reading cache floor", "key", key, "err", err)
	}
	return f
}

func checkCacheKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: cache key is empty", api.ErrBadRequest)
	}
	if len(key) > facts.MaxCacheKeyLen {
		return fmt.Errorf("%w: cache key is %d bytes, limit %d", api.ErrBadRequest, len(key), facts.MaxCacheKeyLen)
	}
	return nil
}

// CacheSet implements api.Backend.
func (n *Node) CacheSet(ctx context.Context, key string, value []byte) (*api.CacheEntry, error) {
	if err := checkCacheKey(key); err != nil {
		return nil, err
	}
	epoch := n.gov.Load().CurrentEpoch()
	n.cache.Set(key, value, epoch)
	floor := n.floor(key)
	return &api.CacheEntry{Key: key, Value: value, Epoch: epoch, Floor: floor, Valid: epoch >= floor, Present: true}, nil
}

// CacheGet implements api.Backend.
func (n *Node) CacheGet(ctx context.Context, key string) (*api.CacheEntry, error) {
	if err := checkCacheKey(key); err != nil {
		return nil, err
	}
	l := n.cache.Get(key, n.floor(key))
	return &api.CacheEntry{Key: key, Value: l.Value, Epoch: l.Epoch, Floor: l.Floor, Valid: l.Valid, Present: l.Present}, nil
}

// CacheCheck implements api.Backend.
func (n *Node) CacheCheck(ctx context.Context, key string, epoch *uint64) (*api.CacheCheck, error) {
	if err := checkCacheKey(key); err != nil {
		return nil, err
	}
	e := n.gov.Load().CurrentEpoch()
	if epoch != nil {
		e = *epoch
	}
	f := n.floor(key)
	return &api.CacheCheck{Key: key, Epoch: e, Floor: f, Valid: e >= f}, nil
}

// CacheQuery implements api.Backend.
func (n *Node) CacheQuery(ctx context.Context, prefix string) (*api.CacheQuery, error) {
	out := &api.CacheQuery{Entries: []api.CacheEntry{}}
	for _, l := range n.cache.Query(prefix, n.floor) {
		out.Entries = append(out.Entries, api.CacheEntry{Key: l.Key, Value: l.Value, Epoch: l.Epoch, Floor: l.Floor, Valid: l.Valid, Present: true})
	}
	return out, nil
}

// Invalidate implements api.Backend.
func (n *Node) Invalidate(ctx context.Context, req api.InvalidateRequest) (*api.WriteResult, error) {
	floor := n.gov.Load().CurrentEpoch() + 1
	if req.Floor != nil {
		floor = *req.Floor
	}
	keys := append([]string(nil), req.Keys...)
	sort.Strings(keys)
	uniq := keys[:0]
	for i, k := range keys {
		if i == 0 || k != keys[i-1] {
			uniq = append(uniq, k)
		}
	}
	return n.authorFor(ctx, facts.KindCacheInvalidated, &facts.CacheInvalidated{Keys: uniq, EpochFloor: floor})
}

// ReplaceAdmin implements api.Backend: it proposes the replacement and
// approves it as this member.
func (n *Node) ReplaceAdmin(ctx context.Context, req api.ReplaceAdminRequest) (*api.WriteResult, error) {
	newAdmin, err := facts.ParseAuthorityID(req.NewAdmin)
	if err != nil {
		return nil, fmt.Errorf("%w: new admin: %v", api.ErrBadRequest, err)
	}
	gov := n.gov.Load()
	res, err := n.authorFor(ctx, facts.KindAdminReplacement, &facts.AdminReplacement{
		Previous:        gov.Current().Admin,
		New:             newAdmin,
		ActivationEpoch: gov.CurrentEpoch() + 1,
		Reason:          req.Reason,
	})
	if err != nil {
		return nil, err
	}
	if _, err := n.Approve(ctx, api.ApproveRequest{Proposal: res.ID}); err != nil {
		return nil, fmt.Errorf("proposal %s written, but approving it failed: %w", res.ID, err)
	}
	return res, nil
}

// ProposeRoster implements api.Backend: the admin proposes a new roster
// and approves it as a member; it takes effect, advancing the epoch, once
// M members of the current roster approve.
func (n *Node) ProposeRoster(ctx context.Context, req api.RosterRequest) (*api.WriteResult, error) {
	var members []facts.Member
	seen := map[facts.AuthorityID]bool{}
	for _, s := range req.Members {
		m, err := ParseMemberSpec(s)
		if err != nil {
			return nil, fmt.Errorf("%w: member %q: %v", api.ErrBadRequest, s, err)
		}
		if seen[m.Authority] {
			return nil, fmt.Errorf("%w: member %s listed twice", api.ErrBadRequest, m.Authority)
		}
		seen[m.Authority] = true
		members = append(members, m)
	}
	sortMembers(members)
	threshold := req.Threshold
	if threshold == 0 {
		threshold = uint32(len(members))/2 + 1
	}
	res, err := n.authorFor(ctx, facts.KindRosterChangeProposed, &facts.RosterChange{Members: members, Threshold: threshold, Reason: req.Reason})
	if err != nil {
		return nil, err
	}
	if n.gov.Load().Current().IsMember(n.authority) {
		if _, err := n.Approve(ctx, api.ApproveRequest{Proposal: res.ID}); err != nil {
			return nil, fmt.Errorf("proposal %s written, but approving it failed: %w", res.ID, err)
		}
	}
	return res, nil
}

// Approve implements api.Backend.
func (n *Node) Approve(ctx context.Context, req api.ApproveRequest) (*api.WriteResult, error) {
	id, err := cid.Decode(req.Proposal)
	if err != nil {
		return nil, fmt.Errorf("%w: proposal %q is not a CID: %v", api.ErrBadRequest, req.Proposal, err)
	}
	gov := n.gov.Load()
	found := false
	for _, p := range gov.Pending() {
		if string(p.Record.ID) == string(id.Bytes()) {
			found = true
		}
	}
	if !found {
		return nil, fmt.Errorf("%w: %s is not a pending proposal of epoch %d (see `aura-node admin status`)", api.ErrNotFound, id, gov.CurrentEpoch())
	}
	return n.authorFor(ctx, facts.KindTransitionApproved, &facts.TransitionApproval{Proposal: id.Bytes()})
}

// AdminStatus implements api.Backend.
func (n *Node) AdminStatus(ctx context.Context) (*api.AdminStatus, error) {
	gov := n.gov.Load()
	s := &api.AdminStatus{Admin: gov.Current().Admin.String(), Epoch: gov.CurrentEpoch(), Pending: pendingOf(gov), Roster: rosterOf(gov.Current())}
	for _, e := range gov.Epochs {
		c, _ := cid.Cast(e.Cause)
		s.History = append(s.History, api.AdminEpoch{
			Epoch: e.Epoch, Admin: e.Admin.String(), Threshold: e.Threshold, Members: len(e.Members),
			Cause: c.String(), CauseKind: e.CauseKind.String(),
		})
	}
	return s, nil
}

func syncSession(r SyncResult) api.SyncSession {
	return api.SyncSession{
		Peer: r.Peer.String(), InSync: r.InSync, Rounds: r.Rounds, BytesOut: r.BytesOut, BytesIn: r.BytesIn,
		Pulled: r.Pulled, Pushed: r.Pushed, DurationMs: float64(r.Duration.Microseconds()) / 1000, Error: r.Err,
	}
}

// SyncNow implements api.Backend.
func (n *Node) SyncNow(ctx context.Context, req api.SyncRequest) (*api.SyncReport, error) {
	var p peer.ID
	if req.Peer != "" {
		id, err := peer.Decode(req.Peer)
		if err != nil {
			return nil, fmt.Errorf("%w: peer %q: %v", api.ErrBadRequest, req.Peer, err)
		}
		if n.host.Network().Connectedness(id) != network.Connected {
			return nil, fmt.Errorf("%w: not connected to peer %s (see `aura-node status` for peers)", api.ErrNotFound, id)
		}
		p = id
	}
	out := &api.SyncReport{Sessions: []api.SyncSession{}}
	for _, r := range n.syncOnDemand(ctx, p) {
		out.Sessions = append(out.Sessions, syncSession(r))
	}
	return out, nil
}

// BlockPeers implements api.Backend: blocked peers are disconnected and
// refused by the connection gater until unblocked.
func (n *Node) BlockPeers(ctx context.Context, req api.BlockRequest) (*api.BlockList, error) {
	var ps []peer.ID
	for _, s := range req.Peers {
		id, err := peer.Decode(s)
		if err != nil {
			return nil, fmt.Errorf("%w: peer %q: %v", api.ErrBadRequest, s, err)
		}
		if id == n.host.ID() {
			return nil, fmt.Errorf("%w: a node cannot block itself", api.ErrBadRequest)
		}
		ps = append(ps, id)
	}
	if req.Clear {
		n.blocked.clear()
	}
	n.blocked.set(ps, req.Block)
	if req.Block {
		for _, p := range ps {
			n.host.Network().ClosePeer(p)
		}
	}
	out := &api.BlockList{Blocked: []string{}}
	for _, p := range n.blocked.list() {
		out.Blocked = append(out.Blocked, p.String())
	}
	return out, nil
}

// runningName is the release the launcher runs this node as (empty
// without a launcher).
func runningName(n *Node) string {
	_, name := n.running()
	return name
}
