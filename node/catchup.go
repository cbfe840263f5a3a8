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
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/storage"
)

// The catch-up protocol repairs what gossip missed. It is deliberately
// simple (the anti-entropy issue replaces it with range-based set
// reconciliation and keeps it as the naive baseline):
//
//	client -> server  {count, digest}
//	server -> client  {count, digest}          equal digests: done
//	server -> client  {ids, more}...           every fact ID, in (time, id) order
//	client -> server  {want}                   up to catchupWantBatch missing IDs
//	server -> client  {facts}                  the requested facts
//	...
//	client -> server  {done}
//
// Frames are a uvarint length then canonical CBOR, at most maxCatchupFrame
// bytes. Every fact received goes through the full pipeline; a peer that
// sends a malformed frame, a fact it was not asked for, or an invalid fact
// is disconnected.
const (
	maxCatchupFrame   = 8 << 20
	catchupIDChunk    = 4096
	catchupWantBatch  = 512
	catchupSessionMax = 5 * time.Minute
)

func catchupProtocol(network cid.Cid) protocol.ID {
	return protocol.ID("/aura/" + network.String() + "/catchup/1")
}

type catchupMsg struct {
	Count  uint64   `cbor:"1,keyasint,omitempty"`
	Digest []byte   `cbor:"2,keyasint,omitempty"`
	IDs    [][]byte `cbor:"3,keyasint,omitempty"`
	More   bool     `cbor:"4,keyasint,omitempty"`
	Want   [][]byte `cbor:"5,keyasint,omitempty"`
	Facts  [][]byte `cbor:"6,keyasint,omitempty"`
	Done   bool     `cbor:"7,keyasint,omitempty"`
}

// ErrBadFrame reports a catch-up frame that breaks the protocol.
var ErrBadFrame = errors.New("node: bad catch-up frame")

func writeFrame(w *bufio.Writer, m *catchupMsg) error {
	b, err := facts.Marshal(m)
	if err != nil {
		return err
	}
	var hdr [binary.MaxVarintLen64]byte
	if _, err := w.Write(hdr[:binary.PutUvarint(hdr[:], uint64(len(b)))]); err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return err
	}
	return w.Flush()
}

func readFrame(r *bufio.Reader) (*catchupMsg, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, err
	}
	if n > maxCatchupFrame {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrBadFrame, n, maxCatchupFrame)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	m := new(catchupMsg)
	if err := facts.UnmarshalCanonical(b, m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadFrame, err)
	}
	return m, nil
}

func (n *Node) helloMsg() (*catchupMsg, error) {
	count, err := n.journal.Count()
	if err != nil {
		return nil, err
	}
	d, err := n.Digest()
	if err != nil {
		return nil, err
	}
	return &catchupMsg{Count: count, Digest: d[:]}, nil
}

// serveCatchup answers one catch-up session.
func (n *Node) serveCatchup(s network.Stream) {
	defer s.Close()
	s.SetDeadline(time.Now().Add(catchupSessionMax))
	r, w := bufio.NewReader(s), bufio.NewWriter(s)
	if err := n.serveCatchupSession(r, w); err != nil && !errors.Is(err, io.EOF) {
		n.log.Debug("catch-up serve failed", "peer", s.Conn().RemotePeer(), "err", err)
		if errors.Is(err, ErrBadFrame) {
			s.Reset()
		}
	}
}

func (n *Node) serveCatchupSession(r *bufio.Reader, w *bufio.Writer) error {
	hello, err := readFrame(r)
	if err != nil {
		return err
	}
	mine, err := n.helloMsg()
	if err != nil {
		return err
	}
	if err := writeFrame(w, mine); err != nil {
		return err
	}
	if bytes.Equal(hello.Digest, mine.Digest) {
		return nil
	}
	var after storage.TimeKey
	for {
		items, err := n.journal.ScanTime(after, catchupIDChunk)
		if err != nil {
			return err
		}
		m := &catchupMsg{More: len(items) == catchupIDChunk}
		for _, it := range items {
			m.IDs = append(m.IDs, it.CID.Bytes())
		}
		if err := writeFrame(w, m); err != nil {
			return err
		}
		if !m.More {
			break
		}
		after = items[len(items)-1].Key()
	}
	for {
		req, err := readFrame(r)
		if err != nil {
			return err
		}
		if req.Done {
			return nil
		}
		if len(req.Want) == 0 || len(req.Want) > catchupWantBatch {
			return fmt.Errorf("%w: want of %d IDs", ErrBadFrame, len(req.Want))
		}
		resp := &catchupMsg{}
		size := 0
		for _, idb := range req.Want {
			id, err := cid.Cast(idb)
			if err != nil {
				return fmt.Errorf("%w: want: %v", ErrBadFrame, err)
			}
			raw, ok, err := n.journal.GetFact(id)
			if err != nil {
				return err
			}
			if !ok || size+len(raw) > maxCatchupFrame-4096 {
				continue
			}
			size += len(raw)
			resp.Facts = append(resp.Facts, raw)
		}
		if err := writeFrame(w, resp); err != nil {
			return err
		}
	}
}

// SyncResult reports one catch-up session.
type SyncResult struct {
	Peer    peer.ID
	InSync  bool
	Offered int
	Pulled  int
}

// SyncWith runs one catch-up session with a peer.
func (n *Node) SyncWith(ctx context.Context, p peer.ID) (SyncResult, error) {
	res := SyncResult{Peer: p}
	ctx, cancel := context.WithTimeout(ctx, catchupSessionMax)
	defer cancel()
	s, err := n.host.NewStream(ctx, p, catchupProtocol(n.netID))
	if err != nil {
		return res, err
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	r, w := bufio.NewReader(s), bufio.NewWriter(s)
	res, err = n.syncSession(ctx, r, w, res)
	if errors.Is(err, ErrBadFrame) || errors.Is(err, errPeerMisbehaved) {
		s.Reset()
		n.log.Warn("disconnecting peer after a bad catch-up session", "peer", p, "err", err)
		n.host.Network().ClosePeer(p)
	}
	return res, err
}

var errPeerMisbehaved = errors.New("node: peer sent facts that failed validation or were not asked for")

func (n *Node) syncSession(ctx context.Context, r *bufio.Reader, w *bufio.Writer, res SyncResult) (SyncResult, error) {
	mine, err := n.helloMsg()
	if err != nil {
		return res, err
	}
	if err := writeFrame(w, mine); err != nil {
		return res, err
	}
	theirs, err := readFrame(r)
	if err != nil {
		return res, err
	}
	if bytes.Equal(theirs.Digest, mine.Digest) {
		res.InSync = true
		return res, nil
	}
	var missing []cid.Cid
	for {
		m, err := readFrame(r)
		if err != nil {
			return res, err
		}
		if len(m.IDs) > catchupIDChunk {
			return res, fmt.Errorf("%w: %d IDs in one frame", ErrBadFrame, len(m.IDs))
		}
		for _, idb := range m.IDs {
			id, err := cid.Cast(idb)
			if err != nil {
				return res, fmt.Errorf("%w: id: %v", ErrBadFrame, err)
			}
			has, err := n.journal.HasFact(id)
			if err != nil {
				return res, err
			}
			if !has {
				missing = append(missing, id)
			}
		}
		if !m.More {
			break
		}
	}
	res.Offered = len(missing)
	for len(missing) > 0 {
		k := min(len(missing), catchupWantBatch)
		want := &catchupMsg{}
		asked := map[cid.Cid]bool{}
		for _, id := range missing[:k] {
			want.Want = append(want.Want, id.Bytes())
			asked[id] = true
		}
		missing = missing[k:]
		if err := writeFrame(w, want); err != nil {
			return res, err
		}
		resp, err := readFrame(r)
		if err != nil {
			return res, err
		}
		gov := n.gov.Load()
		checked, verdicts := facts.CheckBatch(n.netID, resp.Facts, gov.Limits())
		var ok []facts.Checked
		for i, v := range verdicts {
			if v.Result == facts.Reject {
				n.metrics.refused.WithLabelValues(sourceSync, "reject", reasonLabel(v.Reason)).Inc()
				return res, fmt.Errorf("%w: %v", errPeerMisbehaved, v.Reason)
			}
			if !asked[checked[i].ID()] {
				return res, fmt.Errorf("%w: unrequested fact %s", errPeerMisbehaved, checked[i].ID())
			}
			ok = append(ok, checked[i])
		}
		vs, err := n.offer(ctx, ok, sourceSync)
		if err != nil {
			return res, err
		}
		for _, v := range vs {
			switch {
			case v.Result == facts.Accept:
				res.Pulled++
			case v.Result == facts.Reject:
				return res, fmt.Errorf("%w: %v", errPeerMisbehaved, v.Reason)
			}
		}
	}
	return res, writeFrame(w, &catchupMsg{Done: true})
}

// syncLoop runs catch-up with each newly connected peer and periodically,
// with jitter, with a random peer.
func (n *Node) syncLoop() {
	defer n.wg.Done()
	interval := time.Duration(n.cfg.SyncInterval)
	timer := time.NewTimer(jitter(interval))
	defer timer.Stop()
	for {
		var target peer.ID
		select {
		case <-n.ctx.Done():
			return
		case p := <-n.syncNow:
			target = p
		case <-timer.C:
			timer.Reset(jitter(interval))
			peers := n.host.Network().Peers()
			if len(peers) == 0 {
				continue
			}
			target = peers[rand.IntN(len(peers))]
		}
		n.runSync(target)
	}
}

func (n *Node) runSync(p peer.ID) {
	res, err := n.SyncWith(n.ctx, p)
	n.stats.syncSessions.Add(1)
	switch {
	case err != nil:
		n.stats.syncFailures.Add(1)
		n.metrics.syncs.WithLabelValues("failed").Inc()
		n.log.Debug("catch-up failed", "peer", p, "err", err)
	case res.InSync:
		n.metrics.syncs.WithLabelValues("in_sync").Inc()
	default:
		n.metrics.syncs.WithLabelValues("pulled").Inc()
		n.stats.syncPulled.Add(uint64(res.Pulled))
		n.metrics.syncPulled.Add(float64(res.Pulled))
		if res.Pulled > 0 {
			n.log.Info("catch-up pulled facts", "peer", p, "pulled", res.Pulled)
		}
	}
}

// jitter returns d scaled by a random factor in [0.75, 1.25).
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.75 + rand.Float64()/2))
}
