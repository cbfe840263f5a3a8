package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/aura-node/aura-node/facts"
)

// errPastCut holds a remote fact past an open snapshot round's cut until
// the round commits or aborts.
var errPastCut = errors.New("node: fact is past an open snapshot round's cut; held until the round ends")

// holdable reports whether a refused fact should be held and retried.
func holdable(reason error) bool {
	return errors.Is(reason, facts.ErrFutureEpoch) || errors.Is(reason, facts.ErrMissingProposal) || errors.Is(reason, errPastCut)
}

// heldMayApply reports whether a batch accepted something held facts may
// have waited for: a snapshot proposal.
func (n *Node) heldMayApply(batch []inbound, verdicts []facts.Verdict) bool {
	for i, in := range batch {
		if verdicts[i].Result == facts.Accept && in.fact.Fact().Kind == facts.KindSnapshotProposed {
			return true
		}
	}
	return false
}

// applyCompletion applies a snapshot completion in a transaction of its
// own. When the state just before it is the certified state, it first
// builds and stores the blob (the state after the completion differs by
// the governance change).
func (n *Node) applyCompletion(c facts.Checked) facts.Verdict {
	p, ok := c.Payload().(*facts.SnapshotCompleted)
	if !ok {
		return facts.Verdict{Result: facts.Reject, Reason: facts.ErrBadSnapshot}
	}
	pre, err := n.Digest()
	if err != nil {
		return facts.Verdict{Result: facts.Ignore, Reason: err}
	}
	txn := facts.NewTxn(n.journal)
	v, err := txn.Apply(c)
	if err != nil {
		return facts.Verdict{Result: facts.Ignore, Reason: err}
	}
	if v.Result != facts.Accept {
		return v
	}
	if blobID, err := cid.Cast(p.StateBlob); err == nil && bytes.Equal(pre[:], p.StateDigest) && !n.blobs.has(blobID) {
		if pid, err := cid.Cast(p.Proposal); err == nil {
			if prop, ok, _ := facts.ReadSnapshotProposal(n.journal, pid); ok {
				if _, built, err := n.buildBlob(p.TargetEpoch, prop.Cut, p.StateDigest); err != nil {
					n.log.Error("building the snapshot state blob failed", "err", err)
				} else if !built.Equals(blobID) {
					n.log.Error("the state blob built here differs from the certified one", "built", built, "certified", blobID)
				}
			}
		}
	}
	n.preDigest = pre
	err = n.commit(txn)
	n.preDigest = facts.Digest{}
	if err != nil {
		n.log.Error("journal commit failed", "err", err)
		return facts.Verdict{Result: facts.Ignore, Reason: err}
	}
	return v
}

// triggerSync asks for an anti-entropy session with every connected peer.
func (n *Node) triggerSync() {
	if n.host == nil {
		return
	}
	for _, p := range n.host.Network().Peers() {
		select {
		case n.syncNow <- p:
		default:
		}
	}
}

// blobStore keeps snapshot state blobs by CID, in a directory or in
// memory.
type blobStore struct {
	dir string
	mu  sync.Mutex
	mem map[cid.Cid][]byte
}

func newBlobStore(dir string) *blobStore { return &blobStore{dir: dir, mem: map[cid.Cid][]byte{}} }

func (s *blobStore) path(id cid.Cid) string { return filepath.Join(s.dir, id.String()+".blob") }

func (s *blobStore) has(id cid.Cid) bool {
	if s.dir == "" {
		s.mu.Lock()
		defer s.mu.Unlock()
		_, ok := s.mem[id]
		return ok
	}
	_, err := os.Stat(s.path(id))
	return err == nil
}

// put stores a blob atomically (temp file, fsync, rename).
func (s *blobStore) put(id cid.Cid, raw []byte) error {
	if s.dir == "" {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.mem[id] = raw
		return nil
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(s.dir, ".blob-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), s.path(id))
}

func (s *blobStore) get(id cid.Cid) ([]byte, bool, error) {
	if s.dir == "" {
		s.mu.Lock()
		defer s.mu.Unlock()
		raw, ok := s.mem[id]
		return raw, ok, nil
	}
	raw, err := os.ReadFile(s.path(id))
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	return raw, err == nil, err
}

// size returns the stored size of a blob, or 0.
func (s *blobStore) size(id cid.Cid) int64 {
	if s.dir == "" {
		s.mu.Lock()
		defer s.mu.Unlock()
		return int64(len(s.mem[id]))
	}
	fi, err := os.Stat(s.path(id))
	if err != nil {
		return 0
	}
	return fi.Size()
}

// blobProtocol serves snapshot state blobs by CID.
func blobProtocol(network cid.Cid) protocol.ID {
	return protocol.ID("/aura/" + network.String() + "/snapshot-blob/1")
}

// Blob protocol: the client writes uvarint(len) CID; the server answers
// one status byte (0 found, 1 not found) and, when found, a big-endian
// uint64 length and the blob.
const (
	blobFound    = 0
	blobNotFound = 1
	maxCIDBytes  = 128
)

func (n *Node) serveBlob(s network.Stream) {
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(10 * time.Minute))
	r := bufio.NewReader(s)
	l, err := binary.ReadUvarint(r)
	if err != nil || l == 0 || l > maxCIDBytes {
		s.Reset()
		return
	}
	b := make([]byte, l)
	if _, err := io.ReadFull(r, b); err != nil {
		s.Reset()
		return
	}
	id, err := cid.Cast(b)
	if err != nil {
		s.Reset()
		return
	}
	raw, ok, err := n.blobs.get(id)
	if err != nil || !ok {
		_, _ = s.Write([]byte{blobNotFound})
		return
	}
	w := bufio.NewWriterSize(s, 1<<20)
	_ = w.WriteByte(blobFound)
	_ = binary.Write(w, binary.BigEndian, uint64(len(raw)))
	_, _ = w.Write(raw)
	_ = w.Flush()
}

// fetchBlob asks one peer for a blob and checks it hashes to its CID.
func (n *Node) fetchBlob(ctx context.Context, p peer.ID, id cid.Cid) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	s, err := n.host.NewStream(ctx, p, blobProtocol(n.netID))
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	req := binary.AppendUvarint(nil, uint64(id.ByteLen()))
	req = append(req, id.Bytes()...)
	if _, err := s.Write(req); err != nil {
		return nil, err
	}
	_ = s.CloseWrite()
	r := bufio.NewReaderSize(s, 1<<20)
	status, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	if status != blobFound {
		return nil, fmt.Errorf("peer %s does not have blob %s", p, id)
	}
	var size uint64
	if err := binary.Read(r, binary.BigEndian, &size); err != nil {
		return nil, err
	}
	if size > uint64(n.cfg.Snapshot.MaxBlobBytes) {
		s.Reset()
		return nil, fmt.Errorf("peer %s offers a %d-byte blob, limit %d (snapshot.max_blob_bytes)", p, size, n.cfg.Snapshot.MaxBlobBytes)
	}
	raw := make([]byte, size)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, fmt.Errorf("blob %s from %s truncated: %w", id, p, err)
	}
	if got := facts.ComputeID(raw); !got.Equals(id) {
		return nil, fmt.Errorf("blob from %s hashes to %s, want %s", p, got, id)
	}
	return raw, nil
}

// startAdopt fetches and verifies the blob of the snapshot the node must
// adopt, off the loop, then adopts it on the loop.
func (n *Node) startAdopt() {
	rec := *n.snap.adopt
	if !n.adopting.CompareAndSwap(false, true) {
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer n.adopting.Store(false)
		vb, raw, err := n.fetchVerifiedBlob(n.ctx, rec)
		if err != nil {
			_ = n.do(n.ctx, func() {
				// Back off 1 s, 2 s, ... 5 min: a failure may be permanent
				// (no peer holds a valid blob) and each try is a download.
				n.snap.adoptBackoff = min(max(2*n.snap.adoptBackoff, time.Second), 5*time.Minute)
				n.snap.adoptNext = n.now().Add(n.snap.adoptBackoff)
				n.snap.lastErr = "adopting: " + err.Error()
				n.log.Info("cannot adopt the snapshot yet", "epoch", rec.Epoch, "retry_in", n.snap.adoptBackoff, "err", err)
			})
			return
		}
		_ = n.do(n.ctx, func() {
			cur := n.snap.adopt
			if cur == nil || cur.Epoch != rec.Epoch {
				return
			}
			if err := n.adopt(vb, rec); err != nil {
				n.log.Error("adopting the snapshot failed", "epoch", rec.Epoch, "err", err)
				n.snap.lastErr = "adopting: " + err.Error()
				return
			}
			_ = n.blobs.put(rec.BlobID(), raw)
			n.snap.adopt = nil
			n.snap.adoptBackoff, n.snap.adoptNext = 0, time.Time{}
		})
	}()
}

// fetchVerifiedBlob gets a snapshot's blob from the local store or a peer
// and verifies it against the genesis and the round's facts.
func (n *Node) fetchVerifiedBlob(ctx context.Context, rec facts.SnapshotRecord) (*facts.VerifiedBlob, []byte, error) {
	lim := n.gov.Load().Limits()
	genesis, v := facts.CheckStateless(n.netID, n.genesis, facts.Limits{})
	if v.Result != facts.Accept {
		return nil, nil, fmt.Errorf("genesis: %v", v)
	}
	load := func(id cid.Cid) (facts.Checked, error) {
		raw, ok, err := n.journal.GetFact(id)
		if err != nil || !ok {
			return facts.Checked{}, fmt.Errorf("snapshot fact %s not in the journal: %v", id, err)
		}
		c, v := facts.CheckStateless(n.netID, raw, lim)
		if v.Result != facts.Accept {
			return facts.Checked{}, fmt.Errorf("snapshot fact %s: %v", id, v)
		}
		return c, nil
	}
	prop, err := load(rec.ProposalID())
	if err != nil {
		return nil, nil, err
	}
	comp, err := load(rec.CompletionID())
	if err != nil {
		return nil, nil, err
	}
	raw, ok, err := n.blobs.get(rec.BlobID())
	if err != nil {
		return nil, nil, err
	}
	if ok {
		if vb, err := facts.VerifyBlob(genesis, raw, prop, comp); err == nil {
			return vb, raw, nil
		}
	}
	peers := n.host.Network().Peers()
	rand.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
	var lastErr error = errors.New("no connected peer")
	for _, p := range peers {
		raw, err := n.fetchBlob(ctx, p, rec.BlobID())
		if err != nil {
			lastErr = err
			continue
		}
		vb, err := facts.VerifyBlob(genesis, raw, prop, comp)
		if err != nil {
			lastErr = fmt.Errorf("blob from %s: %w", p, err)
			n.log.Warn("peer served an invalid snapshot blob", "peer", p, "err", err)
			continue
		}
		return vb, raw, nil
	}
	return nil, nil, fmt.Errorf("no peer served a valid blob %s: %w", rec.BlobID(), lastErr)
}
