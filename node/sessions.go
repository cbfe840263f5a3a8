package node

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/aura-node/aura-node/activation"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/release"
)

// In-flight sessions across a cutover.
//
// The node keeps a table of its running anti-entropy sessions, served
// and started. Before it asks the launcher to cut over, it closes the
// table (new sessions are answered busy, and none is started) and
// handles the sessions still running by the cutover's session plan
// (activation.PlanCutover): the first disposition that works, in order.
//
//   - drain: wait, at most drainTimeout, until every session ends by
//     itself; it falls through when sessions are still running then;
//   - delegate: end each served session with a 'G' frame naming
//     connected peers that speak this node's current protocol and do
//     not take part in the cutover, so the client resumes there at
//     once; sessions this node started end (the new process syncs
//     again); it falls through when no such peer exists;
//   - abort: end each served session with an 'X' frame that says why,
//     and cancel those this node started.
//
// Only then is the launcher asked to cut over. What happened (the
// disposition used, how many sessions, to whom they were delegated) is
// logged, goes into the launcher request's reason and shows in `upgrade
// status`. If the cutover does not happen (the launcher refused it, or
// it failed before stopping this process), the table opens again.

// drainTimeout is the default bound of a drain (activation.drain_timeout
// sets it); endTimeout bounds waiting for sessions to end once told to.
// Variables for tests.
var (
	drainTimeout = 30 * time.Second
	endTimeout   = 5 * time.Second
)

// maxDelegates bounds the peers named in a 'G' frame, maxEndReason its
// reason.
const (
	maxDelegates      = 8
	maxDelegateAddrs  = 8
	maxEndReason      = 512
	frameAbort        = 'X'
	frameDelegate     = 'G'
	delegatedTTL      = 10 * time.Minute
	sessionsClosedFor = "the node is cutting over"
)

type sessionRole uint8

const (
	sessionServed sessionRole = iota
	sessionStarted
)

// activeSession is one running anti-entropy session.
type activeSession struct {
	peer   peer.ID
	role   sessionRole
	cancel context.CancelFunc // started sessions
	stream network.Stream     // nil until opened
	// end, once set, says why the session must end and to whom the
	// client should go instead; ended is closed then.
	end   atomic.Pointer[sessionEnd]
	ended chan struct{}
}

// sessionEnd is how the node ends a session early.
type sessionEnd struct {
	reason    string
	delegates []peer.AddrInfo
}

// sessionTable is the table of running sessions.
type sessionTable struct {
	mu     sync.Mutex
	next   uint64
	active map[uint64]*activeSession
	// closed, when not empty, is why no session is admitted.
	closed string
	// idle is closed whenever no session runs.
	idle chan struct{}
}

func newSessionTable() *sessionTable {
	idle := make(chan struct{})
	close(idle)
	return &sessionTable{active: map[uint64]*activeSession{}, idle: idle}
}

// errSessionsClosed refuses a session while the node is cutting over.
var errSessionsClosed = errors.New("node: not starting sessions")

// begin admits a session, unless the table is closed.
func (t *sessionTable) begin(p peer.ID, role sessionRole, cancel context.CancelFunc) (uint64, *activeSession, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed != "" {
		return 0, nil, fmt.Errorf("%w: %s", errSessionsClosed, t.closed)
	}
	if len(t.active) == 0 {
		t.idle = make(chan struct{})
	}
	t.next++
	s := &activeSession{peer: p, role: role, cancel: cancel, ended: make(chan struct{})}
	t.active[t.next] = s
	return t.next, s, nil
}

// attach records the stream of a session, or returns the end already
// set for it.
func (t *sessionTable) attach(s *activeSession, st network.Stream) *sessionEnd {
	t.mu.Lock()
	defer t.mu.Unlock()
	s.stream = st
	return s.end.Load()
}

func (t *sessionTable) finish(id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.active[id]; !ok {
		return
	}
	delete(t.active, id)
	if len(t.active) == 0 {
		close(t.idle)
	}
}

// close stops admitting sessions and returns how many run.
func (t *sessionTable) close(why string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = why
	return len(t.active)
}

// reopen admits sessions again; it reports whether the table was closed.
func (t *sessionTable) reopen() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	was := t.closed != ""
	t.closed = ""
	return was
}

func (t *sessionTable) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed != ""
}

// running returns the number of running sessions.
func (t *sessionTable) running() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.active)
}

// waitIdle waits until no session runs, at most d.
func (t *sessionTable) waitIdle(ctx context.Context, d time.Duration) bool {
	t.mu.Lock()
	idle := t.idle
	t.mu.Unlock()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-idle:
		return true
	case <-timer.C:
	case <-ctx.Done():
	}
	return false
}

// endAll tells every running session to end: served ones send the peer
// e instead of waiting for its next frame, started ones are cancelled and
// their streams reset. It returns the served and started sessions told.
func (t *sessionTable) endAll(e *sessionEnd) (served, started int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.active {
		if !s.end.CompareAndSwap(nil, e) {
			continue
		}
		close(s.ended)
		if s.role == sessionStarted {
			started++
			s.cancel()
			if s.stream != nil {
				s.stream.Reset()
			}
			continue
		}
		served++
	}
	return served, started
}

// sessionsEndedError is what a client gets when the server ended the
// session early ('X' or 'G' frame).
type sessionsEndedError struct {
	reason    string
	delegates []peer.AddrInfo
}

func (e *sessionsEndedError) Error() string {
	if len(e.delegates) == 0 {
		return "node: the peer ended the session: " + e.reason
	}
	ids := make([]string, len(e.delegates))
	for i, d := range e.delegates {
		ids[i] = d.ID.String()
	}
	return fmt.Sprintf("node: the peer ended the session (%s) and delegated it to %s", e.reason, strings.Join(ids, ", "))
}

// endMsg is the payload of 'X' and 'G' frames.
type endMsg struct {
	Reason    string        `cbor:"1,keyasint"`
	Delegates []delegateMsg `cbor:"2,keyasint,omitempty"`
}

type delegateMsg struct {
	Peer  []byte   `cbor:"1,keyasint"`
	Addrs [][]byte `cbor:"2,keyasint,omitempty"`
}

func encodeEnd(e *sessionEnd) *endMsg {
	m := &endMsg{Reason: clip(e.reason, maxEndReason)}
	for _, d := range e.delegates {
		dm := delegateMsg{Peer: []byte(d.ID)}
		for _, a := range d.Addrs {
			if len(dm.Addrs) == maxDelegateAddrs {
				break
			}
			dm.Addrs = append(dm.Addrs, a.Bytes())
		}
		m.Delegates = append(m.Delegates, dm)
	}
	return m
}

// decodeEnd checks an 'X' or 'G' payload from a peer.
func decodeEnd(typ byte, payload []byte) (*sessionsEndedError, error) {
	var m endMsg
	if err := facts.UnmarshalCanonical(payload, &m); err != nil {
		return nil, fmt.Errorf("%w: end frame: %v", ErrBadFrame, err)
	}
	if len(m.Reason) > maxEndReason {
		return nil, fmt.Errorf("%w: end reason of %d bytes", ErrBadFrame, len(m.Reason))
	}
	if typ == frameAbort && len(m.Delegates) > 0 || typ == frameDelegate && len(m.Delegates) == 0 {
		return nil, fmt.Errorf("%w: frame %q with %d delegates", ErrBadFrame, typ, len(m.Delegates))
	}
	if len(m.Delegates) > maxDelegates {
		return nil, fmt.Errorf("%w: %d delegates, limit %d", ErrBadFrame, len(m.Delegates), maxDelegates)
	}
	out := &sessionsEndedError{reason: m.Reason}
	for _, d := range m.Delegates {
		id, err := peer.IDFromBytes(d.Peer)
		if err != nil {
			return nil, fmt.Errorf("%w: delegate: %v", ErrBadFrame, err)
		}
		if len(d.Addrs) > maxDelegateAddrs {
			return nil, fmt.Errorf("%w: delegate with %d addresses", ErrBadFrame, len(d.Addrs))
		}
		ai := peer.AddrInfo{ID: id}
		for _, b := range d.Addrs {
			a, err := ma.NewMultiaddrBytes(b)
			if err != nil {
				return nil, fmt.Errorf("%w: delegate address: %v", ErrBadFrame, err)
			}
			ai.Addrs = append(ai.Addrs, a)
		}
		out.delegates = append(out.delegates, ai)
	}
	return out, nil
}

// CrossingReport says how the in-flight sessions of a cutover were
// handled.
type CrossingReport struct {
	Release release.ID
	// Planned is the plan's dispositions, in order; Used the one that
	// worked (zero when no session was in flight).
	Planned []activation.InFlightAction
	Used    activation.InFlightAction
	// InFlight counts the sessions running when the node stopped
	// admitting new ones; Drained, Delegated and Aborted how they ended.
	InFlight, Drained, Delegated, Aborted int
	DelegatedTo                           []peer.ID
	// Notes say why a disposition fell through.
	Notes []string
	Took  time.Duration
}

// Summary is one line for logs, the launcher request and status.
func (r *CrossingReport) Summary() string {
	if r.InFlight == 0 {
		return "in-flight sessions: none"
	}
	s := fmt.Sprintf("in-flight sessions: %d, %v", r.InFlight, r.Used)
	switch r.Used {
	case activation.Drain:
		s += fmt.Sprintf(" (%d drained)", r.Drained)
	case activation.Delegate:
		s += fmt.Sprintf(" (%d delegated to %d peers, %d drained)", r.Delegated, len(r.DelegatedTo), r.Drained)
	case activation.Abort:
		s += fmt.Sprintf(" (%d aborted, %d drained)", r.Aborted, r.Drained)
	}
	if len(r.Notes) > 0 {
		s += "; " + strings.Join(r.Notes, "; ")
	}
	return s
}

// crossSessions stops admitting sessions and handles the running ones by
// plan (see the comment at the top of this file). exclude holds the
// peers that take part in the cutover: they are not delegated to.
func (n *Node) crossSessions(ctx context.Context, R release.ID, plan []activation.InFlightAction, exclude map[peer.ID]bool, drain time.Duration) *CrossingReport {
	start := time.Now()
	t := n.sessions
	rep := &CrossingReport{Release: R, Planned: plan}
	defer func() { rep.Took = time.Since(start) }()
	why := fmt.Sprintf("%s to release %s", sessionsClosedFor, R.Short())
	rep.InFlight = t.close(why)
	if rep.InFlight == 0 {
		return rep
	}
	if len(plan) == 0 {
		plan = []activation.InFlightAction{activation.Drain, activation.Abort}
	}
	for _, a := range plan {
		switch a {
		case activation.Drain:
			if t.waitIdle(ctx, drain) {
				rep.Used, rep.Drained = activation.Drain, rep.InFlight-rep.Delegated-rep.Aborted
				return rep
			}
			rep.Notes = append(rep.Notes, fmt.Sprintf("drain: %d sessions still running after %s", t.running(), drain))
		case activation.Delegate:
			to := n.delegateTargets(exclude)
			if len(to) == 0 {
				rep.Notes = append(rep.Notes, "delegate: no connected peer of this protocol version outside the cutover")
				continue
			}
			served, started := t.endAll(&sessionEnd{reason: why, delegates: to})
			rep.Delegated += served
			rep.Aborted += started
			for _, d := range to {
				rep.DelegatedTo = append(rep.DelegatedTo, d.ID)
			}
			t.waitIdle(ctx, endTimeout)
			rep.Used = activation.Delegate
			rep.Drained = rep.InFlight - rep.Delegated - rep.Aborted
			return rep
		case activation.Abort:
			served, started := t.endAll(&sessionEnd{reason: why})
			rep.Aborted += served + started
			t.waitIdle(ctx, endTimeout)
			rep.Used = activation.Abort
			rep.Drained = rep.InFlight - rep.Delegated - rep.Aborted
			return rep
		}
	}
	return rep
}

// delegateTargets returns connected peers that speak this node's
// protocol version and are not in exclude, best sync score first.
func (n *Node) delegateTargets(exclude map[peer.ID]bool) []peer.AddrInfo {
	scores := n.peerScores()
	now := n.now()
	type cand struct {
		id    peer.ID
		score float64
	}
	var cs []cand
	for _, p := range n.host.Network().Peers() {
		if exclude[p] || p == n.host.ID() {
			continue
		}
		if v, ok := n.peerProtocol(p); !ok || v != n.protocol {
			continue
		}
		s, _ := n.syncPeers.score(p, scores[p], now)
		cs = append(cs, cand{p, s})
	}
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].score != cs[j].score {
			return cs[i].score > cs[j].score
		}
		return cs[i].id < cs[j].id
	})
	var out []peer.AddrInfo
	for _, c := range cs {
		if len(out) == maxDelegates {
			break
		}
		out = append(out, n.host.Peerstore().PeerInfo(c.id))
	}
	return out
}

// followDelegation runs, at once, the session a peer delegated: with the
// first delegate this node is connected to (a peer's word is not a
// reason to dial anyone).
func (n *Node) followDelegation(ctx context.Context, from peer.ID, e *sessionsEndedError) (SyncResult, error, bool) {
	for _, d := range e.delegates {
		if d.ID == n.host.ID() || d.ID == from || n.host.Network().Connectedness(d.ID) != network.Connected {
			continue
		}
		n.log.Info("resuming a delegated anti-entropy session", "from", from, "to", d.ID)
		res, err := n.SyncWith(ctx, d.ID)
		n.syncPeers.record(d.ID, res, err, n.now())
		n.metrics.syncs.WithLabelValues("delegated").Inc()
		return res, err, true
	}
	return SyncResult{}, nil, false
}

// crossingState is the cutover crossing in progress and the last one's
// report.
type crossingState struct {
	busy atomic.Bool
	last atomic.Pointer[CrossingReport]
}

// startCrossing handles the in-flight sessions by plan off the loop, then
// submits the launcher request req; the upgrade manager waits (busy)
// meanwhile. exclude lists the peers taking part in the cutover.
func (n *Node) startCrossing(R release.ID, plan []activation.InFlightAction, exclude map[peer.ID]bool, drain time.Duration, submit func(rep *CrossingReport) (uint64, error)) {
	c := &n.upg.crossing
	c.busy.Store(true)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer c.busy.Store(false)
		rep := n.crossSessions(n.ctx, R, plan, exclude, drain)
		c.last.Store(rep)
		if n.ctx.Err() != nil {
			return // closing: the next start reports what runs
		}
		n.log.Info("handled in-flight sessions for the cutover", "release", R.Short(), "summary", rep.Summary(), "took", rep.Took)
		seq, err := submit(rep)
		if err != nil {
			n.sessions.reopen()
			n.log.Warn("asking the launcher to cut over failed; sessions admitted again", "release", R.Short(), "err", err)
			return
		}
		n.log.Info("asked the launcher to cut over", "release", R.Short(), "launcher_seq", seq)
	}()
}

// Disposition names how the sessions ended: none, drain, delegate or
// abort (the launcher request carries it; the metric's label).
func (r *CrossingReport) Disposition() string {
	if r.InFlight == 0 || r.Used == 0 {
		return "none"
	}
	return r.Used.String()
}

// peerSet builds a set of peer IDs from device names (the upgrade
// manager's devices are peer IDs); names that are not peer IDs are
// skipped.
func peerSet(devices []string) map[peer.ID]bool {
	out := map[peer.ID]bool{}
	for _, d := range devices {
		if id, err := peer.Decode(d); err == nil {
			out[id] = true
		}
	}
	return out
}
