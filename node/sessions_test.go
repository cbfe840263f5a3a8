package node

import (
	"bufio"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/aura-node/aura-node/activation"
	"github.com/aura-node/aura-node/api"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/launcher"
	"github.com/aura-node/aura-node/release"
	"github.com/aura-node/aura-node/storage"
)

func hasData(n *Node, key string) bool {
	_, err := n.GetData(context.Background(), "ns", key)
	return err == nil
}

// Nodes of different protocol versions do not share anti-entropy or
// gossip: the sync protocol ID and the gossip topic carry the version.
// Sessions between them are refused with a reason naming both versions;
// nodes of the same version replicate as before.
func TestProtocolVersionSeparatesSyncAndGossip(t *testing.T) {
	tn := newTestNet(t, 3)
	a := tn.startVersionedNode(0, nil, nil, 1)
	b := tn.startVersionedNode(1, nil, nil, 2)
	c := tn.startVersionedNode(2, nil, nil, 2)
	tn.linkAll()
	ctx := context.Background()
	if !slices.Contains(a.Host().Mux().Protocols(), syncProtocol(tn.netID, 1)) || !slices.Contains(b.Host().Mux().Protocols(), syncProtocol(tn.netID, 2)) ||
		slices.Contains(b.Host().Mux().Protocols(), syncProtocol(tn.netID, 1)) {
		t.Fatalf("sync protocols: a %v, b %v", a.Host().Mux().Protocols(), b.Host().Mux().Protocols())
	}
	if _, err := b.PutData(ctx, "ns", "from-b", []byte("v")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "c to get b's write", func() bool { return hasData(c, "from-b") })
	eventually(t, 10*time.Second, "b's gossip mesh to list c", func() bool { return slices.Contains(b.topic.ListPeers(), c.Host().ID()) })
	if slices.Contains(b.topic.ListPeers(), a.Host().ID()) || len(a.topic.ListPeers()) != 0 {
		t.Fatalf("gossip crosses versions: b's topic peers %v, a's %v", b.topic.ListPeers(), a.topic.ListPeers())
	}
	for _, x := range []struct{ from, to *Node }{{a, b}, {b, a}} {
		res, err := x.from.SyncWith(ctx, x.to.Host().ID())
		if !errors.Is(err, errIncompatible) || !strings.Contains(err.Error(), "speaks protocol") || res.Err == "" {
			t.Fatalf("session across versions: %v (result error %q), want a refusal", err, res.Err)
		}
	}
	if hasData(a, "from-b") {
		t.Fatal("a got a fact from a peer of another protocol version")
	}
	// sync now reports the refusal as a failure, not as a repair.
	results := a.syncOnDemand(ctx, b.Host().ID())
	if len(results) != 1 || !strings.Contains(results[0].Err, "speaks protocol 2") {
		t.Fatalf("sync now: %+v", results)
	}
	st, err := a.UpgradeStatus(ctx, api.UpgradeStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Protocol != 1 || st.RefusedSessions < 2 {
		t.Fatalf("status: protocol %d, refused %d", st.Protocol, st.RefusedSessions)
	}
}

// A node running a hard fork that plans a partition
// (IncompatibleWithoutPartition) refuses legacy peers and records the
// separation once as PartitionObserved, and the scope does not fail.
func TestHardForkRecordsPlannedPartition(t *testing.T) {
	tn := newTestNet(t, 2)
	k0 := tn.keys[0].AuthorityID()
	f := newFakeLauncher(t)
	a := tn.startVersionedNode(0, &ActivationConfig{Policy: ActivationPolicyDoc{
		TrustedReleaseAuthorities: []facts.AuthorityID{k0}, AllowedClasses: []string{"IncompatibleWithoutPartition"},
	}}, f, 2)
	b := tn.startVersionedNode(1, nil, nil, 1)
	tn.linkAll()
	ctx := context.Background()
	R := upgradeRelease(t, tn.keys[0], a, []*Node{a}, "3.0.0", release.IncompatibleWithoutPartition, nil)
	eventually(t, 30*time.Second, "a on the hard fork", func() bool {
		st := scopeStatus(t, a, a.deviceScope())
		return st.Residency == "TargetOnly" && a.upg.proto.hardFork.Load() != nil
	})
	f.mu.Lock()
	reqs := slices.Clone(f.requests)
	f.mu.Unlock()
	if i := slices.IndexFunc(reqs, func(r launcher.Request) bool { return r.Action == launcher.ActionCutover }); i < 0 || !strings.Contains(reqs[i].Sessions, "in-flight sessions:") || reqs[i].SessionsDisposition == "" {
		t.Fatalf("the cutover request does not say how in-flight sessions were handled: %+v", reqs)
	}
	// The node that records the result keeps it: in the journal (the
	// CutoverCompleted detail) and in aura_cutover_sessions_total.
	eventually(t, 10*time.Second, "the sessions report in the journal", func() bool {
		es, err := a.journal.List(storage.Query{Kind: facts.KindCutoverCompleted})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			raw, ok, err := a.journal.GetFact(e.ID)
			if err != nil || !ok {
				t.Fatal(err)
			}
			if strings.Contains(string(raw), "in-flight sessions:") {
				return true
			}
		}
		return false
	})
	if got := counterValue(t, a, "aura_cutover_sessions_total", map[string]string{"disposition": "none"}); got != 1 {
		t.Fatalf("aura_cutover_sessions_total{disposition=none} = %v, want 1", got)
	}
	if _, err := a.SyncWith(ctx, b.Host().ID()); !errors.Is(err, errIncompatible) || !strings.Contains(err.Error(), "hard fork "+R.Short()) {
		t.Fatalf("outbound session: %v, want a refusal naming the hard fork", err)
	}
	if _, err := b.SyncWith(ctx, a.Host().ID()); !errors.Is(err, errIncompatible) {
		t.Fatalf("inbound session from the legacy peer: %v, want a refusal", err)
	}
	eventually(t, 10*time.Second, "PartitionObserved recorded", func() bool {
		st := scopeStatus(t, a, a.deviceScope())
		return len(st.Devices) == 1 && st.Devices[0].Partitions == 1
	})
	st, err := a.UpgradeStatus(ctx, api.UpgradeStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st.HardFork != R.String() || st.RefusedSessions < 1 || st.Protocol != 2 || !strings.Contains(st.Sessions, "last cutover to "+R.Short()+": in-flight sessions:") {
		t.Fatalf("status %+v", st)
	}
	waitTicks(t, a, 2)
	if s := scopeStatus(t, a, a.deviceScope()); s.Devices[0].Partitions != 1 || s.LastFailure != nil {
		t.Fatalf("partition recorded again or as a failure: %+v", s.Devices[0])
	}
}

// A scoped hard fork expects the scope's peers to follow. A device that
// runs one and, for the grace period, has only peers of other protocol
// versions records the partition, and the reducer fails the scope with
// PartitionRequired; the automatic rollback preference then rolls back.
func TestScopedHardForkCutOffFailsWithPartitionRequired(t *testing.T) {
	old := partitionGrace
	partitionGrace = 0
	t.Cleanup(func() { partitionGrace = old })
	tn := newTestNet(t, 2)
	k0 := tn.keys[0].AuthorityID()
	f := newFakeLauncher(t)
	a := tn.startVersionedNode(0, &ActivationConfig{Policy: ActivationPolicyDoc{
		TrustedReleaseAuthorities: []facts.AuthorityID{k0}, AllowedClasses: []string{"ScopedHardFork"},
	}}, f, 2)
	tn.startVersionedNode(1, nil, nil, 1)
	tn.linkAll()
	R := upgradeRelease(t, tn.keys[0], a, []*Node{a}, "3.0.0", release.ScopedHardFork, nil)
	eventually(t, 30*time.Second, "the scope failed with PartitionRequired", func() bool {
		st := scopeStatus(t, a, a.deviceScope())
		return st.LastFailure != nil && st.LastFailure.Class == "PartitionRequired"
	})
	eventually(t, 30*time.Second, "the automatic rollback", func() bool { return f.running() != R.String() })
}

// rawSession opens a sync session from h to n and exchanges hellos.
func rawSession(t *testing.T, tn *testNet, h host.Host, n *Node) (network.Stream, *frameConn) {
	t.Helper()
	s, err := h.NewStream(context.Background(), n.Host().ID(), syncProtocol(tn.netID, n.protocol))
	if err != nil {
		t.Fatal(err)
	}
	c := &frameConn{r: bufio.NewReader(s), w: bufio.NewWriter(s), client: true}
	if err := c.writeCBOR(frameHello, &helloMsg{}); err != nil {
		t.Fatal(err)
	}
	typ, _, err := c.read()
	if err != nil {
		t.Fatal(err)
	}
	if typ != frameHello {
		t.Fatalf("got frame %q, want hello", typ)
	}
	return s, c
}

// genPeer adds a bare host to the mock network, connected to every node.
func genPeer(t *testing.T, tn *testNet) host.Host {
	t.Helper()
	h, err := tn.mn.GenPeer()
	if err != nil {
		t.Fatal(err)
	}
	tn.linkAll()
	return h
}

func crossAsync(n *Node, plan ...activation.InFlightAction) chan *CrossingReport {
	done := make(chan *CrossingReport, 1)
	go func() { done <- n.crossSessions(context.Background(), release.ID{1}, plan, nil, drainTimeout) }()
	return done
}

// Before a cutover the node stops admitting sessions and, by the plan,
// lets in-flight sessions finish (drain), ends them with a reason
// (abort), or hands them to a compatible peer (delegate); each falls
// through to the next when it cannot be done.
func TestInFlightSessionsFollowThePlan(t *testing.T) {
	t.Run("drain", func(t *testing.T) {
		tn := newTestNet(t, 1)
		n := tn.addNode(0, storage.NewMemory())
		h := genPeer(t, tn)
		_, c := rawSession(t, tn, h, n)
		done := crossAsync(n, activation.Drain, activation.Abort)
		eventually(t, 10*time.Second, "sessions closed", n.sessions.isClosed)
		// A new session is answered busy while the node cuts over.
		_, c2 := func() (network.Stream, *frameConn) {
			s, err := h.NewStream(context.Background(), n.Host().ID(), syncProtocol(tn.netID, n.protocol))
			if err != nil {
				t.Fatal(err)
			}
			return s, &frameConn{r: bufio.NewReader(s), w: bufio.NewWriter(s), client: true}
		}()
		c2.writeCBOR(frameHello, &helloMsg{})
		if typ, _, err := c2.read(); err != nil || typ != frameBusy {
			t.Fatalf("new session during the cutover: frame %q, %v; want busy", typ, err)
		}
		// The in-flight one finishes by itself.
		if err := c.write(frameDone, nil); err != nil {
			t.Fatal(err)
		}
		rep := <-done
		// The node's own sync loop may have had a session with h in
		// flight too (h serves no sync protocol: it ends at once).
		if rep.InFlight < 1 || rep.Used != activation.Drain || rep.Drained != rep.InFlight || len(rep.Notes) != 0 {
			t.Fatalf("report %+v", rep)
		}
		if !strings.Contains(rep.Summary(), "drained") {
			t.Fatalf("summary %q", rep.Summary())
		}
	})
	t.Run("drain times out, then abort", func(t *testing.T) {
		old := drainTimeout
		drainTimeout = 100 * time.Millisecond
		t.Cleanup(func() { drainTimeout = old })
		tn := newTestNet(t, 1)
		n := tn.addNode(0, storage.NewMemory())
		_, c := rawSession(t, tn, genPeer(t, tn), n)
		rep := <-crossAsync(n, activation.Drain, activation.Abort)
		_ = c
		if rep.Used != activation.Abort || rep.Aborted < 1 || len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "sessions still running after") {
			t.Fatalf("report %+v", rep)
		}
		_, _, err := c.read()
		var ended *sessionsEndedError
		if !errors.As(err, &ended) || len(ended.delegates) != 0 || !strings.Contains(ended.reason, "cutting over to release") {
			t.Fatalf("client read %v, want an abort frame with the reason", err)
		}
		if n.sessions.running() != 0 {
			t.Fatal("the aborted session is still in the table")
		}
		// The cutover did not happen: sessions are admitted again.
		n.sessions.reopen()
		rawSession(t, tn, genPeer(t, tn), n)
	})
	t.Run("delegate", func(t *testing.T) {
		tn := newTestNet(t, 2)
		n := tn.addNode(0, storage.NewMemory())
		q := tn.addNode(1, storage.NewMemory())
		h := genPeer(t, tn)
		_, c := rawSession(t, tn, h, n)
		eventually(t, 10*time.Second, "n to know q's protocol", func() bool { v, ok := n.peerProtocol(q.Host().ID()); return ok && v == n.protocol })
		rep := <-crossAsync(n, activation.Delegate, activation.Drain, activation.Abort)
		if rep.Used != activation.Delegate || rep.Delegated < 1 || !slices.Contains(rep.DelegatedTo, q.Host().ID()) || slices.Contains(rep.DelegatedTo, h.ID()) {
			t.Fatalf("report %+v", rep)
		}
		_, _, err := c.read()
		var ended *sessionsEndedError
		if !errors.As(err, &ended) || !slices.ContainsFunc(ended.delegates, func(d peer.AddrInfo) bool { return d.ID == q.Host().ID() }) {
			t.Fatalf("client read %v, want a delegation to q", err)
		}
	})
	t.Run("delegate without a peer falls back to drain", func(t *testing.T) {
		tn := newTestNet(t, 1)
		n := tn.addNode(0, storage.NewMemory())
		_, c := rawSession(t, tn, genPeer(t, tn), n)
		done := crossAsync(n, activation.Delegate, activation.Drain, activation.Abort)
		eventually(t, 10*time.Second, "sessions closed", n.sessions.isClosed)
		// The only other peer is the client itself: nobody to delegate
		// to. Finish the session so the drain succeeds.
		c.write(frameDone, nil)
		rep := <-done
		if rep.Used != activation.Drain || len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "no connected peer") {
			t.Fatalf("report %+v", rep)
		}
	})
	t.Run("started sessions are aborted", func(t *testing.T) {
		tn := newTestNet(t, 1)
		n := tn.addNode(0, storage.NewMemory())
		h := genPeer(t, tn)
		// A server that reads the hello and never answers.
		h.SetStreamHandler(syncProtocol(tn.netID, n.protocol), func(s network.Stream) {
			io.Copy(io.Discard, s) // until the client resets
			s.Reset()
		})
		errc := make(chan error, 1)
		go func() { _, err := n.SyncWith(context.Background(), h.ID()); errc <- err }()
		eventually(t, 10*time.Second, "the session to start", func() bool {
			select {
			case err := <-errc:
				t.Fatalf("the session ended before the cutover: %v", err)
			default:
			}
			return n.sessions.running() >= 1
		})
		rep := <-crossAsync(n, activation.Abort)
		// The node's own sync loop may have started a session with h too.
		if rep.Used != activation.Abort || rep.Aborted < 1 || rep.Aborted != rep.InFlight {
			t.Fatalf("report %+v", rep)
		}
		if err := <-errc; !errors.Is(err, errSessionsClosed) {
			t.Fatalf("started session ended with %v", err)
		}
	})
}

// A client whose session is delegated resumes at once with the named
// peer it is connected to, and gets what that peer has.
func TestDelegatedSessionResumesWithTheDelegate(t *testing.T) {
	tn := newTestNet(t, 2)
	p := tn.addNode(0, storage.NewMemory())
	q := tn.addNode(1, storage.NewMemory())
	h := genPeer(t, tn)
	h.SetStreamHandler(syncProtocol(tn.netID, p.protocol), func(s network.Stream) {
		defer s.Close()
		c := &frameConn{r: bufio.NewReader(s), w: bufio.NewWriter(s)}
		if _, err := c.expect(frameHello); err != nil {
			return
		}
		c.writeCBOR(frameDelegate, encodeEnd(&sessionEnd{reason: "cutting over", delegates: []peer.AddrInfo{{ID: q.Host().ID()}}}))
	})
	// q holds a fact p does not have (written while they were apart).
	tn.mn.DisconnectPeers(p.Host().ID(), q.Host().ID())
	tn.mn.UnlinkPeers(p.Host().ID(), q.Host().ID())
	if _, err := q.PutData(context.Background(), "ns", "only-q", []byte("v")); err != nil {
		t.Fatal(err)
	}
	tn.mn.LinkPeers(p.Host().ID(), q.Host().ID())
	tn.mn.ConnectPeers(p.Host().ID(), q.Host().ID())
	res, err := p.runSync(context.Background(), h.ID())
	if err != nil || res.DelegatedBy != h.ID() || res.Peer != q.Host().ID() {
		t.Fatalf("delegated session: %+v, %v", res, err)
	}
	eventually(t, 10*time.Second, "p to hold q's fact", func() bool { return hasData(p, "only-q") })
}

// Malformed end frames from a server are refused with a reason.
func TestEndFramesAreChecked(t *testing.T) {
	good, err := facts.Marshal(encodeEnd(&sessionEnd{reason: "x"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeEnd(frameAbort, good); err != nil {
		t.Fatal(err)
	}
	if _, err := decodeEnd(frameDelegate, good); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("delegation naming nobody: %v", err)
	}
	many := &sessionEnd{reason: "x"}
	for i := 0; i < maxDelegates+1; i++ {
		many.delegates = append(many.delegates, peer.AddrInfo{ID: peer.ID("12D3KooWxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")})
	}
	b, _ := facts.Marshal(encodeEnd(many))
	if _, err := decodeEnd(frameDelegate, b); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("%d delegates: %v", len(many.delegates), err)
	}
	if _, err := decodeEnd(frameAbort, []byte{0xff}); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("garbage: %v", err)
	}
}
