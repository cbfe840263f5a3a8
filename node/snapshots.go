package node

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/snapshot"
	"github.com/aura-node/aura-node/storage"
)

// Snapshot rounds in the shell (see docs/design/snapshots.md).
//
// The loop goroutine owns snapshotState. The pure snapshot.Machine decides;
// this file carries out its actions: it raises and lowers the writer
// fence, queues local writes while the fence is up, holds remote facts
// past the round's cut, signs approvals with the member's BLS key,
// assembles and publishes the certificate, builds the state blob and
// prunes the journal below the cut, or adopts a peer's blob when this
// node's state at the cut differs from the certified one.

// snapshotState is the loop-owned snapshot bookkeeping.
type snapshotState struct {
	m *snapshot.Machine
	// rounds are the open rounds' cuts by proposal.
	rounds map[snapshot.ProposalID]facts.Timestamp
	fence  bool
	// queue holds local writes made while the fence is up.
	queue []queuedWrite
	// pending are committed snapshot facts the machine has not seen yet.
	pending []pendingSnapshotFact
	busy    bool
	// adopt is set when the journal holds a completed snapshot this node
	// must adopt from a peer's blob.
	adopt *facts.SnapshotRecord
	// lastGC describes the last garbage collection.
	lastGC GCReport
	// lastErr is the last error of a round step, for status.
	lastErr string
	// lastAuto is when the auto trigger last proposed.
	lastAuto time.Time
	// handled are the snapshot epochs already pruned or adopted.
	handled map[uint64]bool
	// adoptNext and adoptBackoff space out failed adoption attempts
	// (each one downloads the whole blob).
	adoptNext    time.Time
	adoptBackoff time.Duration
}

// queuedWrite is a local write made while the fence was up.
type queuedWrite struct {
	kind    facts.Kind
	payload facts.Payload
	queued  time.Time
}

// pendingSnapshotFact is a committed snapshot fact for the machine, with
// the state digest just before it committed (completions only).
type pendingSnapshotFact struct {
	v         facts.Verified
	preDigest facts.Digest
}

// GCReport describes one garbage collection.
type GCReport struct {
	Epoch       uint64
	FactsBefore uint64
	FactsAfter  uint64
	BytesBefore uint64
	BytesAfter  uint64
	Pruned      int
	Adopted     bool
	Reissued    int
	Duration    time.Duration
}

// ErrFenced is never returned to callers: writes under the fence are
// queued. It marks a queued write's result.
var errQueued = errors.New("node: write queued behind the snapshot fence")

func (n *Node) snapshotConfig() snapshot.Config {
	return snapshot.Config{
		ProposalTimeoutTicks: uint64(time.Duration(n.cfg.Snapshot.ProposalTimeout) / time.Second),
		ApprovalTimeoutTicks: uint64(time.Duration(n.cfg.Snapshot.ApprovalTimeout) / time.Second),
		MaxOpenProposals:     n.cfg.Snapshot.MaxOpenProposals,
	}
}

// initSnapshots builds the machine from the journal: the last completed
// snapshot, then the open round facts of the current epoch.
func (n *Node) initSnapshots() error {
	gov := n.gov.Load()
	st := snapshot.Start{Network: gov.Network, Self: snapshot.MemberID(n.authority), Epoch: gov.CurrentEpoch()}
	if last, ok := gov.LastSnapshot(); ok {
		st.HasSnapshot, st.LastSnapshot, st.LastDigest = true, last.Epoch, snapshot.Digest(last.Digest)
	}
	m, err := snapshot.New(n.snapshotConfig(), st)
	if err != nil {
		return err
	}
	handled := map[uint64]bool{}
	for _, s := range gov.Snapshots {
		handled[s.Epoch] = true
	}
	n.snap = snapshotState{m: m, rounds: map[snapshot.ProposalID]facts.Timestamp{}, handled: handled, lastGC: n.snap.lastGC, lastAuto: n.snap.lastAuto,
		adoptNext: n.snap.adoptNext, adoptBackoff: n.snap.adoptBackoff}
	cur := gov.CurrentEpoch()
	for _, k := range []facts.Kind{facts.KindSnapshotProposed, facts.KindSnapshotApproved} {
		entries, err := n.journal.List(storage.Query{Kind: k, Epoch: &cur, Limit: storage.MaxLimit})
		if err != nil {
			return err
		}
		for _, e := range entries {
			raw, ok, err := n.journal.GetFact(e.ID)
			if err != nil || !ok {
				return fmt.Errorf("node: stored snapshot fact %s: %v", e.ID, err)
			}
			c, v := facts.CheckStateless(n.netID, raw, gov.Limits())
			if v.Result != facts.Accept {
				return fmt.Errorf("node: stored snapshot fact %s: %v", e.ID, v)
			}
			n.snapshotFeed(c, facts.Digest{})
		}
	}
	if last, ok := gov.LastSnapshot(); ok {
		n.checkGC(last)
	}
	return nil
}

// snapshotTick advances the machine's clock by one tick (a second).
func (n *Node) snapshotTick() {
	n.snapshotActions(n.snap.m.Tick())
	if n.snap.adopt != nil && !n.now().Before(n.snap.adoptNext) {
		n.startAdopt()
	}
	n.maybeAutoSnapshot()
}

// queueSnapshotFacts is called by commit with the facts it stored.
func (n *Node) queueSnapshotFacts(vs []facts.Verified, preDigest facts.Digest) {
	for _, v := range vs {
		if v.Fact().Kind.IsSnapshot() {
			n.snap.pending = append(n.snap.pending, pendingSnapshotFact{v: v, preDigest: preDigest})
		}
	}
}

// runSnapshots feeds committed snapshot facts to the machine and, while
// rounds are open, offers the live digest. Actions may author facts,
// which commit and queue more; the busy flag keeps that iterative.
func (n *Node) runSnapshots() {
	if n.snap.busy || n.snap.m == nil {
		return
	}
	n.snap.busy = true
	defer func() { n.snap.busy = false }()
	for len(n.snap.pending) > 0 {
		p := n.snap.pending[0]
		n.snap.pending = n.snap.pending[1:]
		c, _ := facts.CheckStateless(n.netID, p.v.Raw(), n.gov.Load().Limits())
		n.snapshotFeed(c, p.preDigest)
	}
	if len(n.snap.rounds) > 0 {
		d, err := n.Digest()
		if err != nil {
			return
		}
		for _, pid := range n.openRoundIDs() {
			acts, err := n.snap.m.LocalDigest(pid, snapshot.Digest(d))
			if err != nil {
				if !errors.Is(err, snapshot.ErrUnknownProposal) {
					n.snap.lastErr = err.Error()
				}
				continue
			}
			n.snapshotActions(acts)
		}
	}
}

func (n *Node) openRoundIDs() []snapshot.ProposalID {
	ids := make([]snapshot.ProposalID, 0, len(n.snap.rounds))
	for id := range n.snap.rounds {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// rosterOf returns the snapshot roster of an epoch.
func rosterAt(gov *facts.Governance, e uint64) (snapshot.Roster, error) {
	info, ok := gov.At(e)
	if !ok {
		return snapshot.Roster{}, fmt.Errorf("node: epoch %d not reached", e)
	}
	r := snapshot.Roster{Threshold: int(info.Threshold)}
	for _, m := range info.Members {
		pk, err := snapshot.ParsePublicKey(m.BLSKey)
		if err != nil {
			return snapshot.Roster{}, fmt.Errorf("node: member %s of epoch %d has no usable BLS key: %v", m.Authority, e, err)
		}
		r.Members = append(r.Members, snapshot.Member{ID: snapshot.MemberID(m.Authority), Key: pk})
	}
	return r, nil
}

// snapshotFeed gives one snapshot fact to the machine.
func (n *Node) snapshotFeed(c facts.Checked, preDigest facts.Digest) {
	f := c.Fact()
	gov := n.gov.Load()
	var acts []snapshot.Action
	var err error
	switch p := c.Payload().(type) {
	case *facts.SnapshotProposed:
		roster, rerr := rosterAt(gov, p.TargetEpoch)
		if rerr != nil {
			err = rerr
			break
		}
		pid := snapshot.ProposalID(c.ID().Bytes())
		acts, err = n.snap.m.Propose(snapshot.Proposal{
			ID: pid, Proposer: snapshot.MemberID(f.Author), Epoch: p.TargetEpoch,
			Digest: snapshot.Digest(p.StateDigest), Roster: roster,
		})
		if err == nil {
			n.snap.rounds[pid] = f.Time
			n.log.Info("snapshot proposed", "epoch", p.TargetEpoch, "digest", fmt.Sprintf("%x", p.StateDigest[:8]), "proposer", f.Author, "cut", f.Time)
			n.triggerSync()
		}
	case *facts.SnapshotApproved:
		acts, err = n.snap.m.Approve(snapshot.Approval{
			Member: snapshot.MemberID(f.Author), Proposal: snapshot.ProposalID(p.Proposal),
			Digest: snapshot.Digest(p.StateDigest), Signature: p.BLSSig,
		})
	case *facts.SnapshotCompleted:
		roster, rerr := rosterAt(gov, p.TargetEpoch)
		if rerr != nil {
			err = rerr
			break
		}
		signers := make([]int, 0, len(p.Signers))
		for _, a := range p.Signers {
			if i, ok := roster.Index(snapshot.MemberID(a)); ok {
				signers = append(signers, i)
			}
		}
		acts, err = n.snap.m.Complete(snapshot.Completion{
			Proposal: snapshot.ProposalID(p.Proposal), Epoch: p.TargetEpoch, Digest: snapshot.Digest(p.StateDigest),
			Roster: roster, Signers: signers, Aggregate: p.AggregateSig,
		})
		// The journal recorded it (the governance chain is the
		// authority): garbage-collect or adopt, once per snapshot. Later
		// completions of the same snapshot by other assemblers only
		// change which certificate the record keeps.
		if rec, ok := n.gov.Load().SnapshotAt(p.TargetEpoch); ok && !n.snap.handled[rec.Epoch] {
			n.snap.handled[rec.Epoch] = true
			n.onSnapshotCommitted(rec, preDigest)
		}
	}
	if err != nil {
		n.log.Debug("snapshot machine refused a fact", "kind", f.Kind, "id", c.ID(), "err", err)
		n.metrics.snapshotRefused.Inc()
		if !errors.Is(err, snapshot.ErrUnknownProposal) && !errors.Is(err, snapshot.ErrStaleEpoch) {
			n.snap.lastErr = err.Error()
		}
	}
	n.snapshotActions(acts)
}

// snapshotActions carries out the machine's actions in order.
func (n *Node) snapshotActions(acts []snapshot.Action) {
	for _, a := range acts {
		n.log.Debug("snapshot action", "action", a.String())
		switch a := a.(type) {
		case snapshot.FenceOn:
			n.snap.fence = true
			n.metrics.fence.Set(1)
			n.log.Info("writer fence up: local writes are queued until the snapshot commits or aborts", "epoch", a.Epoch)
		case snapshot.FenceOff:
			n.snap.fence = false
			n.metrics.fence.Set(0)
			n.log.Info("writer fence down", "epoch", a.Epoch, "committed", a.Committed, "queued_writes", len(n.snap.queue))
			n.releaseQueue()
			n.retryHeld()
		case snapshot.Aborted:
			delete(n.snap.rounds, a.Proposal)
			n.metrics.snapshotRounds.WithLabelValues("aborted").Inc()
			n.log.Info("snapshot round aborted", "epoch", a.Epoch, "reason", a.Reason.String())
			n.snap.lastErr = "round aborted: " + a.Reason.String()
		case snapshot.Committed:
			delete(n.snap.rounds, a.Proposal)
			n.metrics.snapshotRounds.WithLabelValues("committed").Inc()
		case snapshot.ApproveNow:
			n.approveSnapshot(a)
		case snapshot.Assemble:
			n.assembleSnapshot(a)
		}
	}
}

// approveSnapshot signs and publishes this member's approval.
func (n *Node) approveSnapshot(a snapshot.ApproveNow) {
	if n.keys.BLS.Public().IsZero() {
		n.snap.lastErr = "this member has no BLS key: cannot approve snapshots"
		return
	}
	sig := snapshot.Sign(n.keys.BLS, a.Message)
	if _, err := n.author(facts.KindSnapshotApproved, &facts.SnapshotApproved{
		Proposal: []byte(a.Proposal), TargetEpoch: a.Epoch, StateDigest: a.Digest[:], BLSSig: sig,
	}); err != nil {
		n.snap.lastErr = "approving: " + err.Error()
		n.log.Warn("snapshot approval failed", "err", err)
		return
	}
	n.log.Info("snapshot approved", "epoch", a.Epoch, "digest", a.Digest.String())
}

// assembleSnapshot publishes the certificate, with the CID of the state
// blob this node builds from its own state. A node whose state is not at
// the certified digest cannot name the blob and leaves assembling to the
// members that can.
func (n *Node) assembleSnapshot(a snapshot.Assemble) {
	d, err := n.Digest()
	if err != nil || snapshot.Digest(d) != a.Digest {
		n.log.Info("holding M approvals but this node's state is not at the certified digest; another member assembles")
		return
	}
	cut, ok := n.snap.rounds[a.Proposal]
	if !ok {
		return
	}
	_, blobID, err := n.buildBlob(a.Epoch, cut, a.Digest[:])
	if err != nil {
		n.snap.lastErr = "building the state blob: " + err.Error()
		n.log.Error("building the snapshot state blob failed", "err", err)
		return
	}
	signers := make([]facts.AuthorityID, len(a.SignerIDs))
	for i, id := range a.SignerIDs {
		signers[i] = facts.AuthorityID(id)
	}
	if _, err := n.author(facts.KindSnapshotCompleted, &facts.SnapshotCompleted{
		Proposal: []byte(a.Proposal), TargetEpoch: a.Epoch, StateDigest: a.Digest[:],
		StateBlob: blobID.Bytes(), Signers: signers, AggregateSig: a.Aggregate,
	}); err != nil {
		n.snap.lastErr = "publishing the completion: " + err.Error()
		n.log.Warn("publishing the snapshot completion failed", "err", err)
	}
}

// buildBlob builds the snapshot blob from the current state and stores
// it, unless the blob store already has it.
func (n *Node) buildBlob(epoch uint64, cut facts.Timestamp, digest []byte) ([]byte, cid.Cid, error) {
	b := &facts.SnapshotBlob{Network: n.netID.Bytes(), Epoch: epoch, Cut: cut, Digest: digest}
	err := n.journal.ScanState(func(k, v []byte) error {
		if facts.Hashed(k) {
			b.State = append(b.State, facts.StateWrite{Key: k, Value: v})
		}
		return nil
	})
	if err != nil {
		return nil, cid.Undef, err
	}
	kept, err := n.keptFacts(epoch, cut)
	if err != nil {
		return nil, cid.Undef, err
	}
	b.Facts = kept
	facts.SortBlob(b)
	raw, id, err := facts.EncodeBlob(b)
	if err != nil {
		return nil, cid.Undef, err
	}
	if err := n.blobs.put(id, raw); err != nil {
		return nil, cid.Undef, err
	}
	return raw, id, nil
}

// keptFacts returns the kept facts a blob of (epoch, cut) carries: every
// non-prunable, non-snapshot fact below the cut, and the proposal and
// completion of every earlier snapshot.
func (n *Node) keptFacts(epoch uint64, cut facts.Timestamp) ([][]byte, error) {
	var out [][]byte
	for _, k := range facts.AllKinds() {
		if k.Prunable() || k.IsSnapshot() || k == facts.KindGenesis {
			continue
		}
		err := n.listAll(storage.Query{Kind: k, Until: cut + 1}, func(e storage.Entry) error {
			if e.Epoch > epoch {
				return nil
			}
			raw, ok, err := n.journal.GetFact(e.ID)
			if err != nil || !ok {
				return fmt.Errorf("node: kept fact %s: %v", e.ID, err)
			}
			out = append(out, raw)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	for _, s := range n.gov.Load().Snapshots {
		if s.Epoch >= epoch {
			continue
		}
		for _, id := range []cid.Cid{s.ProposalID(), s.CompletionID()} {
			raw, ok, err := n.journal.GetFact(id)
			if err != nil || !ok {
				return nil, fmt.Errorf("node: snapshot fact %s of epoch %d is not in the journal: %v", id, s.Epoch, err)
			}
			out = append(out, raw)
		}
	}
	return out, nil
}

// listAll pages through a query in time order.
func (n *Node) listAll(q storage.Query, fn func(storage.Entry) error) error {
	q.Limit = storage.MaxLimit
	seen := map[cid.Cid]bool{}
	for {
		page, err := n.journal.List(q)
		if err != nil {
			return err
		}
		fresh := 0
		for _, e := range page {
			if seen[e.ID] {
				continue
			}
			seen[e.ID] = true
			fresh++
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(page) < q.Limit || fresh == 0 {
			return nil
		}
		q.Since = page[len(page)-1].Time
	}
}

// onSnapshotCommitted runs when the journal records a completed snapshot.
// If this node's state just before the completion was the certified
// state, it builds (or reuses) the blob and prunes; otherwise it adopts a
// peer's blob.
func (n *Node) onSnapshotCommitted(rec facts.SnapshotRecord, preDigest facts.Digest) {
	n.log.Info("snapshot committed", "epoch", rec.Epoch, "digest", fmt.Sprintf("%x", rec.Digest[:8]), "blob", rec.BlobID())
	if bytes.Equal(preDigest[:], rec.Digest) && n.blobs.has(rec.BlobID()) {
		n.prune(rec)
		return
	}
	n.log.Info("this node's state at the cut differs from the certified state: adopting the snapshot from a peer", "epoch", rec.Epoch)
	r := rec
	n.snap.adopt = &r
}

// checkGC runs at start: a snapshot whose prunable facts are still in the
// journal was interrupted (crash) between commit and pruning. With the
// blob stored locally this node's state matched and pruning resumes;
// without it, the node adopts a peer's blob.
func (n *Node) checkGC(rec facts.SnapshotRecord) {
	left := false
	for _, k := range []facts.Kind{facts.KindData, facts.KindCacheInvalidated} {
		page, err := n.journal.List(storage.Query{Kind: k, Until: rec.Cut + 1, Limit: 1})
		if err == nil && len(page) > 0 {
			left = true
		}
	}
	if !left {
		return
	}
	if n.blobs.has(rec.BlobID()) {
		n.prune(rec)
		return
	}
	r := rec
	n.snap.adopt = &r
}

// prune deletes the prunable facts the snapshot covers.
func (n *Node) prune(rec facts.SnapshotRecord) {
	start := n.now()
	rep := GCReport{Epoch: rec.Epoch}
	rep.FactsBefore, _ = n.journal.Count()
	rep.BytesBefore = n.diskUsage()
	for _, k := range []facts.Kind{facts.KindData, facts.KindCacheInvalidated} {
		// Page with a cursor: listing from the start again after each
		// delete would walk every tombstone so far (quadratic).
		var since facts.Timestamp
		for {
			page, err := n.journal.List(storage.Query{Kind: k, Since: since, Until: rec.Cut + 1, Limit: storage.MaxLimit})
			if err != nil {
				n.log.Error("garbage collection: listing failed", "err", err)
				return
			}
			if len(page) == 0 {
				break
			}
			covered := make([]storage.Entry, 0, len(page))
			for _, e := range page {
				if rec.Covers(e.Epoch, e.Time) {
					covered = append(covered, e)
				}
			}
			removed, err := n.journal.PruneEntries(covered)
			if err != nil {
				n.log.Error("garbage collection: prune failed", "err", err)
				return
			}
			rep.Pruned += removed
			n.set.mu.Lock()
			for _, e := range covered {
				n.set.tree.Delete(itemOf(e.ID, e.Time))
			}
			n.set.mu.Unlock()
			if len(page) < storage.MaxLimit || (removed == 0 && since == page[len(page)-1].Time) {
				break
			}
			// Entries of the last timestamp may continue on the next
			// page; those already deleted are gone from the index.
			since = page[len(page)-1].Time
		}
	}
	if c, ok := n.journal.(interface{ Compact() error }); ok {
		if err := c.Compact(); err != nil {
			n.log.Warn("compaction after garbage collection failed", "err", err)
		}
	}
	rep.FactsAfter, _ = n.journal.Count()
	rep.BytesAfter = n.diskUsage()
	rep.Duration = n.now().Sub(start)
	n.snap.lastGC = rep
	n.metrics.gcPruned.Add(float64(rep.Pruned))
	n.recordGauges()
	n.log.Info("garbage collection done", "epoch", rec.Epoch, "pruned", rep.Pruned, "facts_before", rep.FactsBefore, "facts_after", rep.FactsAfter, "bytes_before", rep.BytesBefore, "bytes_after", rep.BytesAfter)
}

func (n *Node) diskUsage() uint64 {
	if d, ok := n.journal.(interface{ DiskUsage() uint64 }); ok {
		return d.DiskUsage()
	}
	return 0
}

// releaseQueue authors the writes queued behind the fence, in order, in
// the current epoch.
func (n *Node) releaseQueue() {
	q := n.snap.queue
	n.snap.queue = nil
	for _, w := range q {
		if _, err := n.author(w.kind, w.payload); err != nil {
			n.log.Error("queued write failed after the fence lifted", "kind", w.kind, "err", err)
		}
	}
	n.metrics.queued.Set(0)
}

// fenced reports whether a local write of kind must be queued.
func (n *Node) fenced(kind facts.Kind) bool {
	return n.snap.fence && !kind.IsSnapshot() && !kind.AdminOnly() && kind != facts.KindTransitionApproved
}

// pastCut reports whether a remote fact must be held until the open
// rounds end: it is past the earliest open round's cut.
func (n *Node) pastCut(f *facts.Fact) bool {
	if !n.snap.fence || f.Kind.IsSnapshot() {
		return false
	}
	for _, cut := range n.snap.rounds {
		if f.Time > cut {
			return true
		}
	}
	return false
}

// adoptState is the state of a blob being adopted: the blob's entries
// (sorted by key, as VerifyBlob checked) under an overlay of the changes
// the tail makes, as a StateReader in which no fact is known yet, so
// every tail fact reduces again. A million entries are neither copied
// into a map nor sorted again.
type adoptState struct {
	base []facts.StateWrite
	// over holds changed entries; a nil value deletes.
	over map[string][]byte
}

func newAdoptState(base []facts.StateWrite) *adoptState {
	return &adoptState{base: base, over: map[string][]byte{}}
}

func (s *adoptState) GetState(key []byte) ([]byte, bool, error) {
	if v, ok := s.over[string(key)]; ok {
		return v, v != nil, nil
	}
	i, ok := slices.BinarySearchFunc(s.base, key, func(e facts.StateWrite, k []byte) int { return bytes.Compare(e.Key, k) })
	if !ok {
		return nil, false, nil
	}
	return s.base[i].Value, true, nil
}

func (s *adoptState) HasFact(cid.Cid) (bool, error) { return false, nil }

// set changes an entry; a nil value deletes it.
func (s *adoptState) set(key, value []byte) { s.over[string(key)] = value }

// entries merges the blob's entries and the overlay, sorted by key.
func (s *adoptState) entries() []facts.StateWrite {
	keys := make([]string, 0, len(s.over))
	for k := range s.over {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]facts.StateWrite, 0, len(s.base)+len(keys))
	i := 0
	for _, k := range keys {
		kb := []byte(k)
		for i < len(s.base) && bytes.Compare(s.base[i].Key, kb) < 0 {
			out = append(out, s.base[i])
			i++
		}
		if i < len(s.base) && bytes.Equal(s.base[i].Key, kb) {
			i++
		}
		if v := s.over[k]; v != nil {
			out = append(out, facts.StateWrite{Key: kb, Value: v})
		}
	}
	return append(out, s.base[i:]...)
}

// adopt replaces this node's state with a verified blob and re-reduces
// the journal's tail on top of it, in one atomic write. Own facts below
// the cut that the snapshot does not cover are re-issued in the same
// write. It runs on the loop.
func (n *Node) adopt(vb *facts.VerifiedBlob, rec facts.SnapshotRecord) error {
	start := n.now()
	rep := GCReport{Epoch: rec.Epoch, Adopted: true}
	rep.FactsBefore, _ = n.journal.Count()
	rep.BytesBefore = n.diskUsage()
	st := newAdoptState(vb.Blob.State)
	st.set(vb.Accumulator.Key, vb.Accumulator.Value)
	kept := map[cid.Cid]bool{}
	for _, v := range vb.Kept {
		kept[v.ID()] = true
	}
	gov := n.gov.Load()
	// Walk the journal: tail facts re-reduce; facts below the cut are
	// covered or dropped; own uncovered ones are re-issued.
	var tail []facts.Checked
	var prune []cid.Cid
	var reissue []facts.Checked
	var after storage.TimeKey
	for {
		page, err := n.journal.ScanTime(after, storage.MaxLimit)
		if err != nil {
			return err
		}
		for _, it := range page {
			raw, ok, err := n.journal.GetFact(it.CID)
			if err != nil || !ok {
				return fmt.Errorf("node: journal fact %s: %v", it.CID, err)
			}
			c, v := facts.CheckStateless(n.netID, raw, gov.Limits())
			if v.Result != facts.Accept {
				return fmt.Errorf("node: journal fact %s: %v", it.CID, v)
			}
			f := c.Fact()
			switch {
			case f.Kind == facts.KindGenesis:
			case f.Kind.IsSnapshot() || !rec.Covers(f.Epoch, f.Time):
				tail = append(tail, c)
			case kept[c.ID()]:
			default:
				prune = append(prune, c.ID())
				if f.Author == n.authority && !f.Kind.AdminOnly() && f.Kind != facts.KindTransitionApproved && !coveredByState(st, c) {
					reissue = append(reissue, c)
				}
			}
		}
		if len(page) < storage.MaxLimit {
			break
		}
		after = page[len(page)-1].Key()
	}
	for _, c := range tail {
		prune = append(prune, c.ID())
	}
	txn := facts.NewTxn(st)
	pendingTail := tail
	for len(pendingTail) > 0 {
		var next []facts.Checked
		for _, c := range pendingTail {
			v, err := txn.Apply(c)
			if err != nil {
				return err
			}
			if v.Result != facts.Accept && (errors.Is(v.Reason, facts.ErrFutureEpoch) || errors.Is(v.Reason, facts.ErrMissingProposal)) {
				next = append(next, c)
			} else if v.Result != facts.Accept {
				n.log.Info("dropping a journal fact the snapshot does not admit", "id", c.ID(), "verdict", v)
			}
		}
		if len(next) == len(pendingTail) {
			break
		}
		pendingTail = next
	}
	// Re-issue own uncovered facts in the epoch after the snapshot.
	g, err := txn.Governance()
	if err != nil {
		return err
	}
	var published [][]byte
	for _, c := range reissue {
		raw, _, err := facts.Sign(n.keys.Authority, facts.Draft{
			Network: n.netID, Kind: c.Fact().Kind, Payload: c.Payload(),
			Epoch: g.CurrentEpoch(), Time: n.clock.Next(uint64(n.now().UnixMilli())),
		})
		if err != nil {
			return err
		}
		nc, v := facts.CheckStateless(n.netID, raw, g.Limits())
		if v.Result != facts.Accept {
			return fmt.Errorf("node: re-issuing %s: %v", c.ID(), v)
		}
		if v, err := txn.Apply(nc); err != nil {
			return err
		} else if v.Result == facts.Accept {
			published = append(published, raw)
			rep.Reissued++
		}
	}
	b, err := txn.Commit()
	if err != nil {
		return err
	}
	for _, w := range b.Writes {
		st.set(w.Key, w.Value)
	}
	state := st.entries()
	add := append(slices.Clone(vb.Kept), b.Facts...)
	if err := n.journal.Hydrate(state, add, prune); err != nil {
		return err
	}
	// Reload everything derived from the journal.
	gnew, err := facts.ReadGovernance(n.journal)
	if err != nil {
		return err
	}
	n.gov.Store(gnew)
	if err := n.loadFactSet(); err != nil {
		return err
	}
	if err := n.loadReleases(); err != nil {
		return err
	}
	if err := n.loadUpgrades(); err != nil {
		return err
	}
	if err := n.initSnapshots(); err != nil {
		return err
	}
	for _, raw := range published {
		if err := n.topic.Publish(n.ctx, raw); err != nil {
			n.log.Warn("publishing a re-issued fact failed; anti-entropy will spread it", "err", err)
		}
	}
	rep.FactsAfter, _ = n.journal.Count()
	rep.BytesAfter = n.diskUsage()
	rep.Duration = n.now().Sub(start)
	n.snap.lastGC = rep
	n.recordGauges()
	n.log.Info("adopted snapshot", "epoch", rec.Epoch, "state_entries", len(vb.Blob.State), "tail", len(tail), "reissued", rep.Reissued, "facts_after", rep.FactsAfter)
	return nil
}

// coveredByState reports whether a snapshot state already reflects the
// effect of a prunable fact, so re-issuing it would change nothing the
// snapshot lost. Rules:
//
//  1. Data: the snapshot's entry for the key is this write, or a write
//     that wins over it (later HLC, or equal HLC and greater CID): the
//     write lost or won; either way its effect is accounted for.
//  2. CacheInvalidated: every key's floor is at least the fact's floor.
//  3. Any other kind: not covered (the caller re-issues only prunable
//     kinds and kept kinds missing from the blob).
func coveredByState(st *adoptState, c facts.Checked) bool {
	switch p := c.Payload().(type) {
	case *facts.Data:
		e, ok, err := facts.ReadData(st, p.Namespace, p.Key)
		if err != nil || !ok {
			return false
		}
		f := c.Fact()
		return e.Time > f.Time || (e.Time == f.Time && string(e.Fact) >= string(c.ID().Bytes()))
	case *facts.CacheInvalidated:
		for _, k := range p.Keys {
			if fl, err := facts.ReadCacheFloor(st, k); err != nil || fl < p.EpochFloor {
				return false
			}
		}
		return true
	}
	return false
}
