package node

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	mh "github.com/multiformats/go-multihash"

	"github.com/aura-node/aura-node/antientropy"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/storage"
)

// Anti-entropy sessions repair whatever gossip missed. One session, over
// one stream of /aura/<network>/sync/1:
//
//	client -> server  'H' hello {identity epoch}
//	server -> client  'H' hello, or 'B' busy (rate limited) and close
//	client -> server  'N' Negentropy v1 message      } until the client's
//	server -> client  'N' Negentropy v1 reply        } reconciler is done
//	client -> server  'W' want: IDs only the server has (<= maxWant)
//	server -> client  'F' facts: those facts
//	client -> server  'P' push: facts only the client has
//	server -> client  'A' ack: how many the server accepted
//	client -> server  'D' done
//
// At any point the server may end the session early, before a cutover
// (sessions.go): 'X' abort {reason}, or 'G' delegate {reason, peers}
// naming peers the client should resume with.
//
// Frames are a uvarint length, a type byte and a payload, at most
// maxSyncFrame bytes. Items are (HLC wall seconds, 32-byte fact ID);
// the fact ID is the sha2-256 digest inside the fact's CID, so the CID is
// rebuilt from it. Every fact received, pulled or pushed, goes through the
// full validation pipeline; a peer that sends a malformed frame or an
// invalid fact is disconnected and counted as misbehaving. A session
// aborts if this node's identity epoch advances while it runs.
const (
	maxSyncFrame          = 1 << 20
	defaultSyncFrameLimit = 256 << 10 // Negentropy frame-size limit
	defaultSyncRounds     = 128
	maxWant               = 1024
	maxSessionTime        = 2 * time.Minute
	syncPeerRate          = 1.0 // sessions per second a peer may start
	syncPeerBurst         = 4
	syncGlobalRate        = 20.0
	syncGlobalBurst       = 40
	syncBackoffStart      = time.Second
	syncBackoffMax        = time.Minute
)

// syncProtocol is the anti-entropy protocol of nodes of protocol version
// v (upgrade_proto.go).
func syncProtocol(network cid.Cid, v uint64) protocol.ID {
	return protocol.ID("/aura/" + network.String() + "/sync/" + strconv.FormatUint(v, 10))
}

// maxSyncRounds bounds the Negentropy rounds of one session and
// syncFrameLimit the size of one Negentropy message; variables only so
// that tests can make sessions stop early.
var (
	maxSyncRounds  = defaultSyncRounds
	syncFrameLimit = defaultSyncFrameLimit
)

// Frame types.
const (
	frameHello = 'H'
	frameBusy  = 'B'
	frameNeg   = 'N'
	frameWant  = 'W'
	frameFacts = 'F'
	framePush  = 'P'
	frameAck   = 'A'
	frameDone  = 'D'
)

// ErrBadFrame reports a sync frame that breaks the protocol.
var ErrBadFrame = errors.New("node: bad sync frame")

var (
	errPeerMisbehaved = errors.New("node: peer sent facts that failed validation or were not asked for")
	errEpochAdvanced  = errors.New("node: identity epoch advanced during the session")
	errPeerBusy       = errors.New("node: peer is busy (rate limited)")
)

type frameConn struct {
	r *bufio.Reader
	w *bufio.Writer
	// in and out count bytes on the wire.
	in, out int
	// client: the server may end the session with 'X' or 'G'.
	client bool
	// writeFailed: a write failed, the stream is no longer framed.
	writeFailed bool
}

func (c *frameConn) write(typ byte, payload []byte) error {
	var hdr [binary.MaxVarintLen64 + 1]byte
	n := binary.PutUvarint(hdr[:], uint64(len(payload)+1))
	hdr[n] = typ
	if _, err := c.w.Write(hdr[:n+1]); err != nil {
		c.writeFailed = true
		return err
	}
	if _, err := c.w.Write(payload); err != nil {
		c.writeFailed = true
		return err
	}
	c.out += n + 1 + len(payload)
	if err := c.w.Flush(); err != nil {
		c.writeFailed = true
		return err
	}
	return nil
}

func (c *frameConn) read() (byte, []byte, error) {
	n, err := binary.ReadUvarint(c.r)
	if err != nil {
		return 0, nil, err
	}
	if n == 0 || n > maxSyncFrame {
		return 0, nil, fmt.Errorf("%w: frame of %d bytes, limit %d", ErrBadFrame, n, maxSyncFrame)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(c.r, b); err != nil {
		return 0, nil, err
	}
	c.in += binary.PutUvarint(make([]byte, binary.MaxVarintLen64), n) + int(n)
	if c.client && (b[0] == frameAbort || b[0] == frameDelegate) {
		ended, err := decodeEnd(b[0], b[1:])
		if err != nil {
			return 0, nil, err
		}
		return 0, nil, ended
	}
	return b[0], b[1:], nil
}

func (c *frameConn) expect(typ byte) ([]byte, error) {
	t, p, err := c.read()
	if err != nil {
		return nil, err
	}
	if t != typ {
		return nil, fmt.Errorf("%w: got frame %q, want %q", ErrBadFrame, t, typ)
	}
	return p, nil
}

type helloMsg struct {
	Epoch uint64 `cbor:"1,keyasint"`
}

type listMsg struct {
	Items [][]byte `cbor:"1,keyasint"`
}

type ackMsg struct {
	Accepted uint64 `cbor:"1,keyasint"`
}

func (c *frameConn) writeCBOR(typ byte, v any) error {
	b, err := facts.Marshal(v)
	if err != nil {
		return err
	}
	return c.write(typ, b)
}

func (c *frameConn) expectCBOR(typ byte, v any) error {
	p, err := c.expect(typ)
	if err != nil {
		return err
	}
	if err := facts.UnmarshalCanonical(p, v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadFrame, err)
	}
	return nil
}

// factSet is the node's live set of fact items for reconciliation. The
// loop inserts; sessions read. mu serialises them.
type factSet struct {
	mu   sync.RWMutex
	tree *antientropy.Tree
}

// itemOf is a fact's reconciliation item. The timestamp is the HLC wall
// clock in Unix seconds, as Nostr's Negentropy deployments use: some
// independent implementations (nostr-tools) mishandle timestamps of 2^31
// and above, which milliseconds would exceed.
func itemOf(id cid.Cid, t facts.Timestamp) antientropy.Item {
	return antientropy.Item{Timestamp: t.WallMs() / 1000, ID: antientropy.ID(facts.FactDigest(id))}
}

// cidOf rebuilds a fact CID from its 32-byte ID.
func cidOf(id antientropy.ID) (cid.Cid, error) {
	m, err := mh.Encode(id[:], mh.SHA2_256)
	if err != nil {
		return cid.Undef, err
	}
	return cid.NewCidV1(cid.DagCBOR, m), nil
}

// loadFactSet builds the item set from the journal's time index.
func (n *Node) loadFactSet() error {
	var items []antientropy.Item
	var after storage.TimeKey
	for {
		page, err := n.journal.ScanTime(after, 10000)
		if err != nil {
			return err
		}
		for _, it := range page {
			items = append(items, itemOf(it.CID, it.Time))
		}
		if len(page) < 10000 {
			break
		}
		after = page[len(page)-1].Key()
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Compare(items[j]) < 0 })
	tree := antientropy.TreeFromSorted(items)
	n.set.mu.Lock()
	n.set.tree = tree
	n.set.mu.Unlock()
	return nil
}

// peerSyncState is what the node remembers about syncing with one peer.
type peerSyncState struct {
	successes, failures float64 // decayed counts
	consecutiveFailures int
	nextAttempt         time.Time
	busy                float64 // decayed count of busy answers
	inFlight            int
	tokens              float64 // serving rate limit
	lastRefill          time.Time
	last                SyncResult
}

// syncPeers holds per-peer sync state and the global serving bucket.
type syncPeers struct {
	mu           sync.Mutex
	peers        map[peer.ID]*peerSyncState
	globalTokens float64
	globalRefill time.Time
}

func (s *syncPeers) get(p peer.ID) *peerSyncState {
	st := s.peers[p]
	if st == nil {
		st = &peerSyncState{}
		s.peers[p] = st
	}
	return st
}

// allowServe takes a token from the peer's and the global bucket.
func (s *syncPeers) allowServe(p peer.ID, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.get(p)
	refill := func(tokens *float64, last *time.Time, rate, burst float64) {
		if last.IsZero() {
			*tokens = burst // a new bucket starts full
		} else {
			*tokens = math.Min(burst, *tokens+now.Sub(*last).Seconds()*rate)
		}
		*last = now
	}
	refill(&st.tokens, &st.lastRefill, syncPeerRate, syncPeerBurst)
	refill(&s.globalTokens, &s.globalRefill, syncGlobalRate, syncGlobalBurst)
	if st.tokens < 1 || s.globalTokens < 1 {
		return false
	}
	st.tokens--
	s.globalTokens--
	return true
}

// score rates a peer for the next session: trust 50%, success rate 30%,
// load 20%. Trust comes from the gossipsub score (a peer that sent invalid
// facts falls to 0); an in-sync session counts as a success.
func (s *syncPeers) score(p peer.ID, gossipScore float64, now time.Time) (float64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.get(p)
	if now.Before(st.nextAttempt) {
		return 0, false
	}
	trust := 0.5 + math.Atan(gossipScore)/math.Pi // (0, 1), 0.5 for a new peer
	success := (st.successes + 1) / (st.successes + st.failures + 2)
	load := 1 / (1 + st.busy + float64(st.inFlight))
	return 0.5*trust + 0.3*success + 0.2*load, true
}

func (s *syncPeers) record(p peer.ID, res SyncResult, err error, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.get(p)
	st.successes *= 0.9
	st.failures *= 0.9
	st.busy *= 0.9
	st.last = res
	switch {
	case err == nil:
		st.successes++
		st.consecutiveFailures = 0
		st.nextAttempt = time.Time{}
	default:
		if errors.Is(err, errPeerBusy) {
			st.busy++
		} else {
			st.failures++
		}
		st.consecutiveFailures++
		backoff := syncBackoffStart << min(st.consecutiveFailures-1, 10)
		// Never shorten a longer wait (a misbehaving peer waits the
		// maximum, set by penalise).
		if next := now.Add(min(backoff, syncBackoffMax)); next.After(st.nextAttempt) {
			st.nextAttempt = next
		}
	}
}

// SyncResult reports one anti-entropy session.
type SyncResult struct {
	Peer   peer.ID
	InSync bool
	// Incomplete is set when the session hit the round limit: the
	// differences found were transferred and another session follows.
	Incomplete bool
	Rounds     int
	BytesOut   int
	BytesIn    int
	Pulled     int
	Pushed     int
	Duration   time.Duration
	Err        string
	// DelegatedBy is the peer that ended its session with this node
	// before a cutover and delegated it to Peer.
	DelegatedBy peer.ID
}

// SyncWith runs one anti-entropy session with a peer as the initiator.
func (n *Node) SyncWith(ctx context.Context, p peer.ID) (SyncResult, error) {
	start := n.now()
	res := SyncResult{Peer: p}
	n.syncPeers.mu.Lock()
	n.syncPeers.get(p).inFlight++
	n.syncPeers.mu.Unlock()
	defer func() {
		n.syncPeers.mu.Lock()
		n.syncPeers.get(p).inFlight--
		n.syncPeers.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(ctx, maxSessionTime)
	defer cancel()
	if err := n.sessionRefusal(ctx, p); err != nil {
		res.Err = err.Error()
		return res, err
	}
	id, sess, err := n.sessions.begin(p, sessionStarted, cancel)
	if err != nil {
		res.Err = err.Error()
		return res, err
	}
	defer n.sessions.finish(id)
	// Sessions use existing connections only: a peer this node dropped
	// is not dialled back by its own sync schedule.
	s, err := n.host.NewStream(network.WithNoDial(ctx, "anti-entropy"), p, syncProtocol(n.netID, n.protocol))
	if err != nil {
		if v, ok := n.peerProtocol(p); ok && v != n.protocol {
			err = fmt.Errorf("%w: peer %s speaks protocol %d; this node speaks protocol %d: %v", errIncompatible, p, v, n.protocol, err)
		}
		res.Err = err.Error()
		return res, err
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	if e := n.sessions.attach(sess, s); e != nil {
		res.Err = "ended: " + e.reason
		return res, fmt.Errorf("%w: %s", errSessionsClosed, e.reason)
	}
	c := &frameConn{r: bufio.NewReader(s), w: bufio.NewWriter(s), client: true}
	err = n.clientSession(ctx, c, &res)
	if e := sess.end.Load(); e != nil && err != nil {
		err = fmt.Errorf("%w: %s (%v)", errSessionsClosed, e.reason, err)
	}
	res.BytesOut, res.BytesIn, res.Duration = c.out, c.in, n.now().Sub(start)
	n.metrics.syncBytes.WithLabelValues("out").Add(float64(c.out))
	n.metrics.syncBytes.WithLabelValues("in").Add(float64(c.in))
	n.metrics.syncRounds.Observe(float64(res.Rounds))
	n.metrics.syncDuration.Observe(res.Duration.Seconds())
	if errors.Is(err, ErrBadFrame) || errors.Is(err, errPeerMisbehaved) || errors.Is(err, antientropy.ErrMalformed) {
		s.Reset()
		n.penalise(p, err)
	}
	if err != nil {
		res.Err = err.Error()
	}
	return res, err
}

// penalise disconnects a misbehaving peer and counts it.
func (n *Node) penalise(p peer.ID, err error) {
	n.metrics.misbehaviour.Inc()
	n.log.Warn("disconnecting misbehaving peer", "peer", p, "err", err)
	n.host.Network().ClosePeer(p)
	n.syncPeers.mu.Lock()
	st := n.syncPeers.get(p)
	st.failures += 5
	st.nextAttempt = n.now().Add(syncBackoffMax)
	n.syncPeers.mu.Unlock()
}

func (n *Node) clientSession(ctx context.Context, c *frameConn, res *SyncResult) error {
	epoch := n.gov.Load().CurrentEpoch()
	if err := c.writeCBOR(frameHello, &helloMsg{Epoch: epoch}); err != nil {
		return err
	}
	t, _, err := c.read()
	if err != nil {
		return err
	}
	if t == frameBusy {
		return errPeerBusy
	}
	if t != frameHello {
		return fmt.Errorf("%w: got frame %q, want hello", ErrBadFrame, t)
	}
	rec, err := antientropy.NewReconciler(lockedSet{&n.set}, antientropy.Options{FrameSizeLimit: syncFrameLimit})
	if err != nil {
		return err
	}
	n.set.mu.RLock()
	msg := rec.Initiate()
	n.set.mu.RUnlock()
	var have, need []antientropy.ID
	for msg != nil {
		if res.Rounds == maxSyncRounds {
			// Stop here: what was found so far is exact, so transfer it
			// and schedule the next session at once. Progress per
			// session is bounded by rounds x frame size (each round
			// moves one frame of IDs when one side is far behind, as a
			// joiner is), so a node joining a large network needs
			// several sessions.
			res.Incomplete = true
			break
		}
		if n.gov.Load().CurrentEpoch() != epoch {
			return errEpochAdvanced
		}
		res.Rounds++
		if err := c.write(frameNeg, msg); err != nil {
			return err
		}
		reply, err := c.expect(frameNeg)
		if err != nil {
			return err
		}
		var h, nd []antientropy.ID
		n.set.mu.RLock()
		msg, h, nd, err = rec.Reconcile(reply)
		n.set.mu.RUnlock()
		if err != nil {
			return err
		}
		have, need = append(have, h...), append(need, nd...)
	}
	have, need = uniqueIDs(have), uniqueIDs(need)
	res.InSync = !res.Incomplete && len(have) == 0 && len(need) == 0
	// Pull what only the server has. A reply holds what fits in one
	// frame; the rest is asked for again, as long as replies make progress.
	for len(need) > 0 {
		k := min(len(need), maxWant)
		asked := map[cid.Cid]antientropy.ID{}
		want := &listMsg{}
		for _, id := range need[:k] {
			c, err := cidOf(id)
			if err != nil {
				return err
			}
			asked[c] = id
			want.Items = append(want.Items, id[:])
		}
		need = need[k:]
		if err := c.writeCBOR(frameWant, want); err != nil {
			return err
		}
		var got listMsg
		if err := c.expectCBOR(frameFacts, &got); err != nil {
			return err
		}
		if len(got.Items) == 0 {
			continue // the peer no longer has them
		}
		pulled, received, err := n.ingestFromPeer(ctx, got.Items, asked)
		res.Pulled += pulled
		if err != nil {
			return err
		}
		for c, id := range asked {
			if !received[c] {
				need = append(need, id)
			}
		}
	}
	// Push what only we have, as many facts per frame as fit.
	for len(have) > 0 {
		raws, rest, err := n.loadFacts(have)
		if err != nil {
			return err
		}
		have = rest
		push := &listMsg{Items: raws}
		if err := c.writeCBOR(framePush, push); err != nil {
			return err
		}
		var ack ackMsg
		if err := c.expectCBOR(frameAck, &ack); err != nil {
			return err
		}
		res.Pushed += int(ack.Accepted)
	}
	return c.write(frameDone, nil)
}

func uniqueIDs(ids []antientropy.ID) []antientropy.ID {
	seen := make(map[antientropy.ID]bool, len(ids))
	out := ids[:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// ingestFromPeer runs facts received from a peer through the pipeline.
// asked, if not nil, is the set of CIDs requested: anything else is
// misbehaviour, as is any fact the pipeline rejects.
func (n *Node) ingestFromPeer(ctx context.Context, raws [][]byte, asked map[cid.Cid]antientropy.ID) (int, map[cid.Cid]bool, error) {
	if len(raws) > maxWant {
		return 0, nil, fmt.Errorf("%w: %d facts in one frame", ErrBadFrame, len(raws))
	}
	received := map[cid.Cid]bool{}
	gov := n.gov.Load()
	checked, verdicts := facts.CheckBatch(n.netID, raws, gov.Limits())
	var ok []facts.Checked
	for i, v := range verdicts {
		if v.Result == facts.Reject {
			n.metrics.refused.WithLabelValues(sourceSync, "reject", reasonLabel(v.Reason)).Inc()
			return 0, nil, fmt.Errorf("%w: %v", errPeerMisbehaved, v.Reason)
		}
		if _, ok := asked[checked[i].ID()]; asked != nil && !ok {
			return 0, nil, fmt.Errorf("%w: unrequested fact %s", errPeerMisbehaved, checked[i].ID())
		}
		received[checked[i].ID()] = true
		ok = append(ok, checked[i])
	}
	vs, err := n.offer(ctx, ok, sourceSync)
	if err != nil {
		return 0, nil, err
	}
	accepted := 0
	for _, v := range vs {
		switch v.Result {
		case facts.Accept:
			accepted++
		case facts.Reject:
			return accepted, nil, fmt.Errorf("%w: %v", errPeerMisbehaved, v.Reason)
		}
	}
	return accepted, received, nil
}

// loadFacts reads the facts of ids, in order, until one frame is full. It
// returns the facts read and the IDs left for the next frame; IDs this
// journal does not hold are skipped.
func (n *Node) loadFacts(ids []antientropy.ID) (raws [][]byte, rest []antientropy.ID, err error) {
	size := 0
	for i, id := range ids {
		if i == maxWant {
			return raws, ids[i:], nil
		}
		fc, err := cidOf(id)
		if err != nil {
			return nil, nil, err
		}
		raw, ok, err := n.journal.GetFact(fc)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			continue
		}
		if size+len(raw) > maxSyncFrame-4096 && len(raws) > 0 {
			return raws, ids[i:], nil
		}
		size += len(raw)
		raws = append(raws, raw)
	}
	return raws, nil, nil
}

// serveSync answers one session as the responder. Only a peer of this
// node's protocol version gets here: the stream's protocol ID carries it.
func (n *Node) serveSync(s network.Stream) {
	defer s.Close()
	p := s.Conn().RemotePeer()
	s.SetDeadline(n.now().Add(maxSessionTime))
	c := &frameConn{r: bufio.NewReader(s), w: bufio.NewWriter(s)}
	id, sess, closed := n.sessions.begin(p, sessionServed, nil)
	if closed != nil {
		// Cutting over: answer busy, the client backs off.
		if _, err := c.expect(frameHello); err == nil {
			n.metrics.syncs.WithLabelValues("served_busy").Inc()
			c.write(frameBusy, nil)
		}
		return
	}
	n.sessions.attach(sess, s)
	// A reader goroutine feeds the session its frames, so that the
	// session can stop waiting for the next one when the node ends it
	// before a cutover (not every transport has read deadlines).
	frames := make(chan frameRead)
	stop := make(chan struct{})
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			t, payload, err := c.read()
			select {
			case frames <- frameRead{t, payload, err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	recv := func() (byte, []byte, error) {
		select {
		case f := <-frames:
			return f.typ, f.payload, f.err
		case <-sess.ended:
			return 0, nil, errSessionsClosed
		}
	}
	err := n.serverSession(c, p, recv)
	if e := sess.end.Load(); e != nil && err != nil {
		n.endServed(s, c, p, e)
	}
	n.sessions.finish(id)
	// The client closes its side after its last frame; one that does not
	// is reset.
	close(stop)
	select {
	case <-readerDone:
	case <-time.After(endTimeout):
		s.Reset()
		<-readerDone
	}
	n.metrics.syncBytes.WithLabelValues("out").Add(float64(c.out))
	n.metrics.syncBytes.WithLabelValues("in").Add(float64(c.in))
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, errSessionsClosed) {
		return
	}
	n.log.Debug("sync serve failed", "peer", p, "err", err)
	if errors.Is(err, ErrBadFrame) || errors.Is(err, errPeerMisbehaved) || errors.Is(err, antientropy.ErrMalformed) {
		s.Reset()
		n.penalise(p, err)
	}
}

// endServed tells the client of a served session that it ends, and, for
// a delegation, where to resume. A session whose write failed midway is
// no longer framed: it is reset instead.
func (n *Node) endServed(s network.Stream, c *frameConn, p peer.ID, e *sessionEnd) {
	if c.writeFailed {
		s.Reset()
		return
	}
	s.SetWriteDeadline(time.Now().Add(endTimeout))
	typ := byte(frameAbort)
	if len(e.delegates) > 0 {
		typ = frameDelegate
	}
	if err := c.writeCBOR(typ, encodeEnd(e)); err != nil {
		s.Reset()
		return
	}
	n.metrics.syncs.WithLabelValues("served_ended").Inc()
	n.log.Info("ended a served anti-entropy session for the cutover", "peer", p, "delegates", len(e.delegates))
}

// frameRead is one frame read by a served session's reader goroutine.
type frameRead struct {
	typ     byte
	payload []byte
	err     error
}

// serverSession runs a served session; recv returns the client's next
// frame.
func (n *Node) serverSession(c *frameConn, p peer.ID, recv func() (byte, []byte, error)) error {
	t, payload, err := recv()
	if err != nil {
		return err
	}
	var hello helloMsg
	if t != frameHello {
		return fmt.Errorf("%w: got frame %q, want %q", ErrBadFrame, t, frameHello)
	}
	if err := facts.UnmarshalCanonical(payload, &hello); err != nil {
		return fmt.Errorf("%w: %v", ErrBadFrame, err)
	}
	if !n.syncPeers.allowServe(p, n.now()) {
		n.metrics.syncs.WithLabelValues("served_busy").Inc()
		return c.write(frameBusy, nil)
	}
	if err := c.writeCBOR(frameHello, &helloMsg{Epoch: n.gov.Load().CurrentEpoch()}); err != nil {
		return err
	}
	rec, err := antientropy.NewReconciler(lockedSet{&n.set}, antientropy.Options{FrameSizeLimit: syncFrameLimit})
	if err != nil {
		return err
	}
	rounds := 0
	for {
		t, payload, err := recv()
		if err != nil {
			return err
		}
		switch t {
		case frameNeg:
			rounds++
			if rounds > maxSyncRounds {
				return fmt.Errorf("%w: more than %d rounds", ErrBadFrame, maxSyncRounds)
			}
			n.set.mu.RLock()
			reply, err := rec.Respond(payload)
			n.set.mu.RUnlock()
			if err != nil {
				return err
			}
			if err := c.write(frameNeg, reply); err != nil {
				return err
			}
		case frameWant:
			var want listMsg
			if err := facts.UnmarshalCanonical(payload, &want); err != nil {
				return fmt.Errorf("%w: %v", ErrBadFrame, err)
			}
			if len(want.Items) > maxWant {
				return fmt.Errorf("%w: want of %d IDs", ErrBadFrame, len(want.Items))
			}
			ids := make([]antientropy.ID, 0, len(want.Items))
			for _, b := range want.Items {
				if len(b) != antientropy.IDSize {
					return fmt.Errorf("%w: want ID of %d bytes", ErrBadFrame, len(b))
				}
				ids = append(ids, antientropy.ID(b))
			}
			// What does not fit in one frame the client asks for again.
			raws, _, err := n.loadFacts(ids)
			if err != nil {
				return err
			}
			resp := &listMsg{Items: raws}
			if err := c.writeCBOR(frameFacts, resp); err != nil {
				return err
			}
		case framePush:
			var push listMsg
			if err := facts.UnmarshalCanonical(payload, &push); err != nil {
				return fmt.Errorf("%w: %v", ErrBadFrame, err)
			}
			ctx, cancel := context.WithTimeout(n.ctx, time.Minute)
			accepted, _, err := n.ingestFromPeer(ctx, push.Items, nil)
			cancel()
			if err != nil {
				return err
			}
			if err := c.writeCBOR(frameAck, &ackMsg{Accepted: uint64(accepted)}); err != nil {
				return err
			}
		case frameDone:
			n.metrics.syncs.WithLabelValues("served").Inc()
			return nil
		default:
			return fmt.Errorf("%w: unexpected frame %q", ErrBadFrame, t)
		}
	}
}

// lockedSet adapts the fact set to antientropy.Storage; callers hold
// set.mu for reading around each Reconciler call.
type lockedSet struct{ s *factSet }

func (l lockedSet) Size() int { return l.s.tree.Size() }
func (l lockedSet) Iterate(b, e int, fn func(int, antientropy.Item) bool) {
	l.s.tree.Iterate(b, e, fn)
}
func (l lockedSet) LowerBound(b, e int, bd antientropy.Bound) int {
	return l.s.tree.LowerBound(b, e, bd)
}
func (l lockedSet) Fingerprint(b, e int) antientropy.Fingerprint { return l.s.tree.Fingerprint(b, e) }

// syncLoop runs a session with each newly connected peer and, every
// SyncInterval with jitter, with the best-scored peer.
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
			if _, ok := n.syncPeers.score(p, 0, n.now()); !ok {
				continue // backing off, or dropped for misbehaving
			}
			target = p
		case <-timer.C:
			timer.Reset(jitter(interval))
			var ok bool
			if target, ok = n.pickSyncPeer(); !ok {
				continue
			}
		}
		n.runSync(n.ctx, target)
	}
}

// pickSyncPeer returns the connected peer with the best sync score.
func (n *Node) pickSyncPeer() (peer.ID, bool) {
	scores := n.peerScores()
	now := n.now()
	var best peer.ID
	bestScore := -1.0
	for _, p := range n.host.Network().Peers() {
		if v, known := n.peerProtocol(p); known && v != n.protocol {
			continue // another protocol version: refused anyway
		}
		s, ok := n.syncPeers.score(p, scores[p], now)
		if !ok {
			continue
		}
		s += rand.Float64() * 1e-3 // break ties at random
		if s > bestScore {
			best, bestScore = p, s
		}
	}
	return best, bestScore >= 0
}

func (n *Node) runSync(ctx context.Context, p peer.ID) (SyncResult, error) {
	res, err := n.SyncWith(ctx, p)
	if errors.Is(err, errEpochAdvanced) {
		// The session's view is stale: start over under the new epoch.
		res, err = n.SyncWith(ctx, p)
	}
	var ended *sessionsEndedError
	if errors.As(err, &ended) {
		// The peer is cutting over: not its fault, wait as for busy.
		n.syncPeers.record(p, res, errPeerBusy, n.now())
		n.log.Info("the peer ended the anti-entropy session", "peer", p, "reason", ended.reason, "delegates", len(ended.delegates))
		if dres, derr, ok := n.followDelegation(ctx, p, ended); ok {
			dres.DelegatedBy = p
			res, err, p = dres, derr, dres.Peer
		}
	} else {
		n.syncPeers.record(p, res, err, n.now())
	}
	n.stats.syncSessions.Add(1)
	switch {
	case err != nil:
		n.stats.syncFailures.Add(1)
		n.metrics.syncs.WithLabelValues("failed").Inc()
		n.log.Debug("sync failed", "peer", p, "err", err)
	case res.InSync:
		n.metrics.syncs.WithLabelValues("in_sync").Inc()
	default:
		if res.Incomplete {
			n.stats.syncIncomplete.Add(1)
			select {
			case n.syncNow <- p: // go on where this session stopped
			default:
			}
		}
		n.metrics.syncs.WithLabelValues("repaired").Inc()
		n.stats.syncPulled.Add(uint64(res.Pulled))
		n.stats.syncPushed.Add(uint64(res.Pushed))
		n.metrics.syncFacts.WithLabelValues("pulled").Add(float64(res.Pulled))
		n.metrics.syncFacts.WithLabelValues("pushed").Add(float64(res.Pushed))
		n.log.Info("anti-entropy repaired", "peer", p, "pulled", res.Pulled, "pushed", res.Pushed, "rounds", res.Rounds)
	}
	return res, err
}

// syncOnDemand runs a session with one peer, or with every connected peer.
func (n *Node) syncOnDemand(ctx context.Context, p peer.ID) []SyncResult {
	targets := []peer.ID{p}
	if p == "" {
		targets = n.host.Network().Peers()
	}
	var out []SyncResult
	for _, t := range targets {
		res, _ := n.runSync(ctx, t)
		out = append(out, res)
	}
	return out
}

// jitter returns d scaled by a random factor in [0.75, 1.25).
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.75 + rand.Float64()/2))
}
