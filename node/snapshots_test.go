package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/aura-node/aura-node/api"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/snapshot"
	"github.com/aura-node/aura-node/storage"
	ma "github.com/multiformats/go-multiaddr"
)

// newSnapshotTestNet is newTestNet with BLS keys in the roster and
// threshold M (0: majority). Only the first n keys are members.
func newSnapshotTestNet(t *testing.T, n int, m uint32) *testNet {
	t.Helper()
	tn := newTestNet(t, n)
	var members []facts.Member
	for i, k := range tn.keys {
		members = append(members, k.Member(fmt.Sprintf("m%d", i)))
	}
	raw, id, err := NewGenesis(tn.keys[0].Authority, "snaptest", members, m, 1_700_000_000_000)
	if err != nil {
		t.Fatal(err)
	}
	tn.genesis, tn.netID = raw, id
	return tn
}

// startWith starts a node for keys k with a config tweak.
func (tn *testNet) startWith(k *Keys, j storage.Journal, tweak func(*Config)) *Node {
	tn.t.Helper()
	addr := ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", 41000+len(tn.nodes)))
	h, err := tn.mn.AddPeer(k.Node, addr)
	if err != nil {
		tn.t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.SyncInterval = Duration(time.Second)
	if tweak != nil {
		tweak(&cfg)
	}
	n, err := New(Params{Config: cfg, Keys: k, Genesis: tn.genesis, Journal: j, Logger: quietLogger(), Host: h})
	if err != nil {
		tn.t.Fatal(err)
	}
	tn.nodes = append(tn.nodes, n)
	tn.t.Cleanup(func() { n.Close() })
	return n
}

func snapStatus(t *testing.T, n *Node) *api.SnapshotStatus {
	t.Helper()
	s, err := n.SnapshotStatus(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func countKind(t *testing.T, n *Node, k facts.Kind) int {
	t.Helper()
	es, err := n.journal.List(storage.Query{Kind: k, Limit: storage.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// TestSnapshotCompletesPrunesAndANewNodeJoins: 5 members, M = 3. A
// proposal completes with M approvals, every node prunes the data below
// the cut, digests agree, a write made during the round is not lost, and
// a fresh node joins from the snapshot and reaches the same digest.
func TestSnapshotCompletesPrunesAndANewNodeJoins(t *testing.T) {
	ctx := context.Background()
	tn := newSnapshotTestNet(t, 5, 3)
	// Only members 0 and 1 run at first, so the round cannot reach M = 3:
	// node 1's fence is up and a write there is queued. Members 2-4 join
	// later, catch up, approve, and the round commits.
	for i := range 2 {
		tn.startWith(tn.keys[i], storage.NewMemory(), nil)
	}
	tn.linkAll()
	const writes = 40
	for i := range writes {
		if _, err := tn.nodes[i%2].PutData(ctx, "app", fmt.Sprintf("k%02d", i), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 20*time.Second, "convergence before the snapshot", converged(t, tn.nodes, writes+1))
	before := digestOf(t, tn.nodes[0])

	res, err := tn.nodes[0].ProposeSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "node 1 raised its fence and approved", func() bool {
		s := snapStatus(t, tn.nodes[1])
		return s.FenceActive && len(s.Pending) == 1 && len(s.Pending[0].Approvers) == 2
	})
	w, err := tn.nodes[1].PutData(ctx, "app", "during", []byte("fenced"))
	if err != nil || !w.Queued {
		t.Fatalf("write under the fence: %+v %v, want queued", w, err)
	}
	t.Logf("proposal %s; write during the round queued", res.ID)
	for i := 2; i < 5; i++ {
		tn.startWith(tn.keys[i], storage.NewMemory(), nil)
	}
	tn.linkAll()

	eventually(t, 30*time.Second, "every node committed and pruned", func() bool {
		for _, n := range tn.nodes {
			s := snapStatus(t, n)
			if !s.HasSnapshot || s.LastEpoch != 0 || countKind(t, n, facts.KindData) > 1 {
				return false
			}
		}
		return true
	})
	for i, n := range tn.nodes {
		gov := n.Governance()
		last, _ := gov.LastSnapshot()
		if fmt.Sprintf("%x", last.Digest) != fmt.Sprintf("%x", before[:]) {
			t.Fatalf("node %d: certified digest %x, state before the proposal %s", i, last.Digest, before)
		}
		if gov.CurrentEpoch() != 1 {
			t.Fatalf("node %d: epoch %d after the snapshot, want 1", i, gov.CurrentEpoch())
		}
		if !n.blobs.has(last.BlobID()) {
			t.Fatalf("node %d does not hold the state blob", i)
		}
		raw, _, _ := n.blobs.get(last.BlobID())
		var b facts.SnapshotBlob
		if err := facts.UnmarshalBulk(raw, &b); err != nil {
			t.Fatal(err)
		}
		if d := facts.BlobDigest(b.State); d != before {
			t.Fatalf("node %d: blob hashes to %s, want %s", i, d, before)
		}
	}
	// The write made during the round is everywhere, in epoch 1.
	eventually(t, 20*time.Second, "the fenced write reached every node", func() bool {
		for _, n := range tn.nodes {
			if v, err := n.GetData(ctx, "app", "during"); err != nil || string(v.Value) != "fenced" {
				return false
			}
		}
		return true
	})
	eventually(t, 20*time.Second, "digests agree after pruning", func() bool {
		d := digestOf(t, tn.nodes[0])
		for _, n := range tn.nodes[1:] {
			if digestOf(t, n) != d {
				return false
			}
		}
		return true
	})
	// Data written before the snapshot is still readable: it lives in the
	// state, not in the pruned journal.
	if v, err := tn.nodes[4].GetData(ctx, "app", "k00"); err != nil || string(v.Value) != "0" {
		t.Fatalf("k00 after pruning: %v %v", v, err)
	}

	// A backup of node 0 restores into a fresh home with the same digest;
	// a tampered or truncated archive is refused.
	var archive bytes.Buffer
	if err := tn.nodes[0].Backup(ctx, &archive, func() {}); err != nil {
		t.Fatal(err)
	}
	want := digestOf(t, tn.nodes[0])
	restoreInto := func(b []byte) (*RestoreReport, error) {
		home, _, err := CreateHome(t.TempDir()+"/home", DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		return Restore(home, bytes.NewReader(b), quietLogger())
	}
	rep, err := restoreInto(archive.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Digest != want || rep.SnapshotEpoch == nil || *rep.SnapshotEpoch != 0 {
		t.Fatalf("restored: %+v, want digest %s", rep, want)
	}
	tampered := bytes.Clone(archive.Bytes())
	at := bytes.Index(tampered, []byte(`"sha256": "`)) + len(`"sha256": "`)
	tampered[at] ^= 0x01 // one hex digit of a manifest checksum
	if _, err := restoreInto(tampered); !errors.Is(err, ErrBadBackup) {
		t.Fatalf("tampered archive: %v, want ErrBadBackup", err)
	}
	if _, err := restoreInto(archive.Bytes()[:archive.Len()*2/3]); !errors.Is(err, ErrBadBackup) {
		t.Fatalf("truncated archive: %v, want ErrBadBackup", err)
	}

	// A fresh node (not a member) joins from the snapshot.
	joiner := tn.startWith(testKeys(t, 9), storage.NewMemory(), nil)
	tn.linkAll()
	eventually(t, 30*time.Second, "the new node adopted the snapshot and caught up", func() bool {
		s := snapStatus(t, joiner)
		return s.HasSnapshot && !s.Adopting && digestOf(t, joiner) == digestOf(t, tn.nodes[0])
	})
	if n := countKind(t, joiner, facts.KindData); n > 1 {
		t.Fatalf("joiner holds %d data facts; the snapshot covers all but the tail", n)
	}
	if v, err := joiner.GetData(ctx, "app", "k07"); err != nil || string(v.Value) != "7" {
		t.Fatalf("joiner k07: %v %v", v, err)
	}
}

// TestSnapshotTimeoutReleasesTheFence: with too few members online the
// round times out; the fence lifts and the queued write is authored in
// the same epoch.
func TestSnapshotTimeoutReleasesTheFence(t *testing.T) {
	ctx := context.Background()
	tn := newSnapshotTestNet(t, 5, 3)
	n := tn.startWith(tn.keys[0], storage.NewMemory(), func(c *Config) {
		c.Snapshot.ApprovalTimeout = Duration(2 * time.Second)
		c.Snapshot.ProposalTimeout = Duration(3 * time.Second)
	})
	if _, err := n.PutData(ctx, "app", "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if _, err := n.ProposeSnapshot(ctx); err != nil {
		t.Fatal(err)
	}
	if s := snapStatus(t, n); !s.FenceActive || len(s.Pending) != 1 {
		t.Fatalf("after proposing: %+v", s)
	}
	if _, err := n.ProposeSnapshot(ctx); !errors.Is(err, ErrRoundOpen) {
		t.Fatalf("second proposal: %v, want ErrRoundOpen", err)
	}
	w, err := n.PutData(ctx, "app", "b", []byte("2"))
	if err != nil || !w.Queued {
		t.Fatalf("write under the fence: %+v %v, want queued", w, err)
	}
	if _, err := n.GetData(ctx, "app", "b"); err == nil {
		t.Fatal("a queued write is visible before the fence lifts")
	}
	eventually(t, 15*time.Second, "the round to time out and the queue to drain", func() bool {
		s := snapStatus(t, n)
		v, err := n.GetData(ctx, "app", "b")
		return !s.FenceActive && s.QueuedWrites == 0 && err == nil && string(v.Value) == "2"
	})
	if e := n.Governance().CurrentEpoch(); e != 0 {
		t.Fatalf("epoch %d after an aborted round, want 0", e)
	}
	if s := snapStatus(t, n); s.HasSnapshot {
		t.Fatal("an aborted round left a snapshot")
	}
}

// TestSnapshotApprovalRefusals: approvals from a non-member and over
// another digest are refused by the pipeline; a duplicate is refused by
// the snapshot machine (counted once); a member whose state differs does
// not approve.
func TestSnapshotApprovalRefusals(t *testing.T) {
	ctx := context.Background()
	tn := newSnapshotTestNet(t, 5, 3)
	n := tn.startWith(tn.keys[0], storage.NewMemory(), nil)
	other := tn.startWith(tn.keys[1], storage.NewMemory(), nil) // not linked
	if _, err := other.PutData(ctx, "app", "only-here", []byte("x")); err != nil {
		t.Fatal(err)
	}
	res, err := n.ProposeSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	propRaw, _, _ := n.journal.GetFact(mustCID(t, res.ID))
	prop, v := facts.CheckStateless(tn.netID, propRaw, facts.Limits{})
	if v.Result != facts.Accept {
		t.Fatal(v)
	}
	pp := prop.Payload().(*facts.SnapshotProposed)

	sign := func(k *Keys, digest []byte, epoch uint64) facts.Checked {
		msg := snapshot.ApprovalMessage(tn.netID.Bytes(), epoch, [32]byte(digest), prop.ID().Bytes())
		raw, _, err := facts.Sign(k.Authority, facts.Draft{
			Network: tn.netID, Kind: facts.KindSnapshotApproved, Epoch: epoch, Time: facts.Timestamp(uint64(time.Now().UnixMilli()) << 16),
			Payload: &facts.SnapshotApproved{Proposal: prop.ID().Bytes(), TargetEpoch: epoch, StateDigest: digest, BLSSig: snapshot.Sign(k.BLS, msg)},
		})
		if err != nil {
			t.Fatal(err)
		}
		c, v := facts.CheckStateless(tn.netID, raw, facts.Limits{})
		if v.Result != facts.Accept {
			t.Fatal(v)
		}
		return c
	}
	offer := func(c facts.Checked) facts.Verdict {
		vs, err := n.offer(ctx, []facts.Checked{c}, sourceSync)
		if err != nil {
			t.Fatal(err)
		}
		return vs[0]
	}
	// A member's valid approval.
	if v := offer(sign(tn.keys[2], pp.StateDigest, 0)); v.Result != facts.Accept {
		t.Fatalf("valid approval: %v", v)
	}
	// Non-member.
	if v := offer(sign(testKeys(t, 7), pp.StateDigest, 0)); v.Result != facts.Reject || !errors.Is(v.Reason, facts.ErrNotMember) {
		t.Fatalf("non-member approval: %v, want reject not-member", v)
	}
	// Another digest.
	wrong := make([]byte, 32)
	wrong[0] = 1
	if v := offer(sign(tn.keys[3], wrong, 0)); v.Result != facts.Reject || !errors.Is(v.Reason, facts.ErrBadSnapshot) {
		t.Fatalf("approval over another digest: %v, want reject bad-snapshot", v)
	}
	// Duplicate: a second approval fact by the same member.
	refusedBefore := counterValue(t, n, "aura_snapshot_refused_total", nil)
	dup := sign(tn.keys[2], pp.StateDigest, 0)
	eventually(t, 5*time.Second, "a distinct duplicate approval fact", func() bool {
		dup = sign(tn.keys[2], pp.StateDigest, 0)
		has, _ := n.journal.HasFact(dup.ID())
		return !has
	})
	offer(dup)
	eventually(t, 5*time.Second, "the machine refused the duplicate", func() bool {
		return counterValue(t, n, "aura_snapshot_refused_total", nil) > refusedBefore
	})
	s := snapStatus(t, n)
	if len(s.Pending) != 1 || len(s.Pending[0].Approvers) != 2 {
		t.Fatalf("pending after refusals: %+v (want approvers: proposer and member 2)", s.Pending)
	}

	// A member whose state differs does not approve.
	if vs, err := other.offer(ctx, []facts.Checked{prop}, sourceSync); err != nil || vs[0].Result != facts.Accept {
		t.Fatalf("proposal at the other member: %v %v", vs, err)
	}
	ar, err := other.ApproveSnapshot(ctx, api.SnapshotApproveRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ar.Rounds) != 1 || ar.Rounds[0].Approved || !contains(ar.Rounds[0].Reason, "digest") {
		t.Fatalf("approve at a member with another state: %+v, want refused for its digest", ar)
	}
	if c := countKind(t, other, facts.KindSnapshotApproved); c != 0 {
		t.Fatalf("the member with another state wrote %d approvals", c)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func mustCID(t *testing.T, s string) cid.Cid {
	t.Helper()
	c, err := cid.Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSnapshotOfflineMemberAdoptsOnRestart: a member that was down while
// the others snapshotted holds facts below the cut; on restart it adopts
// the snapshot from a peer, prunes, and re-issues nothing it need not.
func TestSnapshotOfflineMemberAdoptsOnRestart(t *testing.T) {
	ctx := context.Background()
	tn := newSnapshotTestNet(t, 5, 3)
	journals := make([]*storage.Memory, 5)
	for i := range 5 {
		journals[i] = storage.NewMemory()
		tn.startWith(tn.keys[i], journals[i], nil)
	}
	tn.linkAll()
	for i := range 20 {
		if _, err := tn.nodes[i%5].PutData(ctx, "app", fmt.Sprintf("k%02d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 20*time.Second, "convergence", converged(t, tn.nodes, 21))
	tn.nodes[4].Close()
	live := tn.nodes[:4]
	if _, err := live[0].ProposeSnapshot(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "commit on the live nodes", func() bool {
		for _, n := range live {
			if s := snapStatus(t, n); !s.HasSnapshot || s.Adopting {
				return false
			}
		}
		return true
	})
	if _, err := live[1].PutData(ctx, "app", "after", []byte("x")); err != nil {
		t.Fatal(err)
	}
	back := tn.startWith(tn.keys[4], journals[4], nil)
	tn.linkAll()
	eventually(t, 30*time.Second, "the returning member adopted the snapshot", func() bool {
		s := snapStatus(t, back)
		return s.HasSnapshot && !s.Adopting && digestOf(t, back) == digestOf(t, live[0])
	})
	if n := countKind(t, back, facts.KindData); n > 1 {
		t.Fatalf("returning member holds %d data facts after adopting", n)
	}
}

// The adopted state is the blob's entries under the tail's changes:
// overrides, deletions and new keys, merged in key order.
func TestAdoptStateMergesOverlay(t *testing.T) {
	w := func(k, v string) facts.StateWrite { return facts.StateWrite{Key: []byte(k), Value: []byte(v)} }
	st := newAdoptState([]facts.StateWrite{w("b", "1"), w("d", "2"), w("f", "3")})
	st.set([]byte("a"), []byte("new"))
	st.set([]byte("d"), nil)
	st.set([]byte("f"), []byte("changed"))
	st.set([]byte("g"), []byte("last"))
	st.set([]byte("c"), nil) // deleting an absent key
	if v, ok, _ := st.GetState([]byte("d")); ok || v != nil {
		t.Fatalf("deleted key reads %q, %v", v, ok)
	}
	if v, ok, _ := st.GetState([]byte("b")); !ok || string(v) != "1" {
		t.Fatalf("base key reads %q, %v", v, ok)
	}
	var got []string
	for _, e := range st.entries() {
		got = append(got, string(e.Key)+"="+string(e.Value))
	}
	if want := []string{"a=new", "b=1", "f=changed", "g=last"}; !slices.Equal(got, want) {
		t.Fatalf("entries %v, want %v", got, want)
	}
}
