package node

import (
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

func TestSyncPeerScoreAndBackoff(t *testing.T) {
	s := syncPeers{peers: map[peer.ID]*peerSyncState{}}
	now := time.Unix(1000, 0)
	good, bad, busy := peer.ID("good"), peer.ID("bad"), peer.ID("busy")
	for i := 0; i < 5; i++ {
		s.record(good, SyncResult{InSync: true}, nil, now) // in sync counts as success
		s.record(busy, SyncResult{}, errPeerBusy, now)
	}
	s.record(bad, SyncResult{}, errors.New("stream reset"), now)

	later := now.Add(10 * time.Minute) // every backoff has expired
	sg, ok := s.score(good, 0, later)
	if !ok {
		t.Fatal("good peer not eligible")
	}
	sb, _ := s.score(bad, 0, later)
	sy, _ := s.score(busy, 0, later)
	if !(sg > sb && sg > sy) {
		t.Fatalf("scores good %.3f bad %.3f busy %.3f: the good peer must rank first", sg, sb, sy)
	}
	// Gossip trust weighs 50%: a peer that sent invalid facts ranks last.
	if st, _ := s.score(good, -1000, later); st >= sb {
		t.Fatalf("untrusted good peer %.3f should rank below bad %.3f", st, sb)
	}
	// Exponential backoff after consecutive failures.
	if _, ok := s.score(bad, 0, now.Add(500*time.Millisecond)); ok {
		t.Fatal("a peer that just failed must wait")
	}
	s.record(bad, SyncResult{}, errors.New("again"), now)
	if _, ok := s.score(bad, 0, now.Add(1500*time.Millisecond)); ok {
		t.Fatal("the second failure must double the wait to 2s")
	}
	if _, ok := s.score(bad, 0, now.Add(2500*time.Millisecond)); !ok {
		t.Fatal("the wait after two failures should be 2s")
	}
}

func TestSyncServeRateLimit(t *testing.T) {
	s := syncPeers{peers: map[peer.ID]*peerSyncState{}}
	now := time.Unix(1000, 0)
	p := peer.ID("p")
	for i := 0; i < syncPeerBurst; i++ {
		if !s.allowServe(p, now) {
			t.Fatalf("session %d within the burst refused", i)
		}
	}
	if s.allowServe(p, now) {
		t.Fatal("session beyond the burst allowed")
	}
	if !s.allowServe(p, now.Add(time.Second)) {
		t.Fatal("the bucket must refill at one session per second")
	}
	// The global bucket caps all peers together.
	allowed := 0
	for i := 0; i < 100; i++ {
		if s.allowServe(peer.ID(rune('a'+i%26))+peer.ID(rune(i)), now.Add(time.Second)) {
			allowed++
		}
	}
	if allowed > syncGlobalBurst {
		t.Fatalf("%d sessions allowed at once, global burst is %d", allowed, syncGlobalBurst)
	}
}
