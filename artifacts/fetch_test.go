package artifacts

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	mh "github.com/multiformats/go-multihash"
)

var testNetwork = func() cid.Cid {
	h, _ := mh.Sum([]byte("artifacts test network"), mh.SHA2_256, -1)
	return cid.NewCidV1(cid.DagCBOR, h)
}()

// testBytes returns n deterministic pseudo-random bytes.
// testChunk is the chunk size of the fetch tests' artifacts: small, so
// the tests move many blocks quickly.
const testChunk = 16 << 10

func testBytes(seed uint64, n int) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

type testPeer struct {
	host  host.Host
	store *Store
	svc   *Service
}

// newTestPeers starts n connected mocknet hosts, each with a store and a
// block service. opts, if set, configures the service of peer i.
func newTestPeers(t *testing.T, n int, opts func(i int) ServiceOptions) []*testPeer {
	t.Helper()
	mn, err := mocknet.FullMeshConnected(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mn.Close() })
	var out []*testPeer
	for i, h := range mn.Hosts() {
		st, err := Open(t.TempDir(), Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		var o ServiceOptions
		if opts != nil {
			o = opts(i)
		}
		svc := NewService(h, st, testNetwork, o)
		t.Cleanup(func() {
			svc.Close()
			st.Close()
		})
		out = append(out, &testPeer{host: h, store: st, svc: svc})
	}
	return out
}

// seed imports data into p and pins it.
func seed(t *testing.T, p *testPeer, data []byte) cid.Cid {
	t.Helper()
	ctx := context.Background()
	root, _, err := importChunked(ctx, p.store, bytes.NewReader(data), testChunk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.store.Pin(ctx, root, "test"); err != nil {
		t.Fatal(err)
	}
	return root
}

func exportBytes(t *testing.T, s *Store, root cid.Cid) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := Export(context.Background(), s, root, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// serveCorrupt makes h answer the block protocol like a peer that pinned
// every root, with every block's bytes flipped.
func serveCorrupt(h host.Host, real *Store) {
	h.SetStreamHandler(ProtocolID(testNetwork), func(st network.Stream) {
		defer st.Close()
		r, w := bufio.NewReader(st), bufio.NewWriter(st)
		for {
			frame, err := readFrame(r, maxRequestFrame, nil)
			if err != nil {
				return
			}
			cids, err := decodeCIDList(frame[1:], MaxHasBatch)
			if err != nil {
				return
			}
			switch frame[0] {
			case msgHas:
				out := appendUvarint([]byte{msgHave}, uint64(len(cids)))
				for range cids {
					out = append(out, byte(HavePinned))
				}
				writeFrame(w, out)
			case msgWant:
				for _, c := range cids {
					data, err := real.getData(c)
					if err != nil {
						writeFrame(w, appendCID([]byte{msgDont}, c))
						continue
					}
					bad := bytes.Clone(data)
					bad[len(bad)/2] ^= 0xff
					writeFrame(w, appendCID([]byte{msgBlock}, c), bad)
				}
			}
			if w.Flush() != nil {
				return
			}
		}
	})
}

func TestFetchFromThreePeersOneCorrupt(t *testing.T) {
	ps := newTestPeers(t, 4, nil)
	data := testBytes(7, 16*testChunk+999)
	var root cid.Cid
	for _, p := range ps[1:] {
		root = seed(t, p, data)
	}
	corrupt := ps[3]
	serveCorrupt(corrupt.host, corrupt.store)

	var mu sync.Mutex
	penalised := map[peer.ID]error{}
	var last Progress
	st, err := ps[0].svc.Fetch(context.Background(), root, FetchOptions{
		Peers:       []peer.ID{ps[1].host.ID(), ps[2].host.ID(), corrupt.host.ID()},
		BatchBlocks: 1,
		Penalize: func(p peer.ID, err error) {
			mu.Lock()
			defer mu.Unlock()
			penalised[p] = err
		},
		Progress: func(p Progress) { last = p },
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := exportBytes(t, ps[0].store, root); !bytes.Equal(got, data) {
		t.Fatal("fetched artifact differs from the original")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(penalised) != 1 || !errors.Is(penalised[corrupt.host.ID()], ErrHashMismatch) {
		t.Fatalf("penalised %v, want only the corrupt peer for a hash mismatch", penalised)
	}
	if st.Corrupt == 0 || st.PerPeer[corrupt.host.ID()] != 0 {
		t.Fatalf("stats %+v: corrupt blocks must be counted and none stored from the corrupt peer", st)
	}
	if st.PerPeer[ps[1].host.ID()] == 0 || st.PerPeer[ps[2].host.ID()] == 0 {
		t.Fatalf("per peer %v: both honest peers should have served blocks", st.PerPeer)
	}
	if st.Fetched != 18 || st.FileSize != uint64(len(data)) {
		t.Fatalf("stats %+v", st)
	}
	if last.Blocks != 18 || last.Bytes != last.BytesTotal || last.BytesTotal < uint64(len(data)) {
		t.Fatalf("last progress %+v", last)
	}
	// Pinning works on the fetched DAG.
	if _, err := ps[0].store.Pin(context.Background(), root, "x"); err != nil {
		t.Fatal(err)
	}
}

func TestFetchResumesWithoutRefetching(t *testing.T) {
	var mu sync.Mutex
	served := map[string]int{}
	ps := newTestPeers(t, 2, func(i int) ServiceOptions {
		return ServiceOptions{OnServe: func(_ peer.ID, c cid.Cid, ok bool) {
			mu.Lock()
			defer mu.Unlock()
			if ok {
				served[c.KeyString()]++
			}
		}}
	})
	data := testBytes(9, 20*testChunk)
	root := seed(t, ps[1], data)
	ctx, cancel := context.WithCancel(context.Background())
	opts := FetchOptions{Peers: []peer.ID{ps[1].host.ID()}, BatchBlocks: 1, StreamsPerPeer: 1}
	opts.Progress = func(p Progress) {
		if p.Fetched >= 6 {
			cancel()
		}
	}
	_, err := ps[0].svc.Fetch(ctx, root, opts)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("first fetch: %v, want it cancelled", err)
	}
	// What the interrupted fetch stored.
	had := map[string]bool{}
	keys, err := ps[0].store.AllKeysChan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for c := range keys {
		had[string(c.Hash())] = true
	}
	if len(had) < 6 || len(had) >= 21 {
		t.Fatalf("the interrupted fetch stored %d blocks", len(had))
	}
	mu.Lock()
	clear(served)
	mu.Unlock()

	opts.Progress = nil
	st, err := ps[0].svc.Fetch(context.Background(), root, opts)
	if err != nil {
		t.Fatal(err)
	}
	if st.Had != uint64(len(had)) || st.Fetched != 21-uint64(len(had)) {
		t.Fatalf("second fetch had %d fetched %d, want %d and %d", st.Had, st.Fetched, len(had), 21-len(had))
	}
	mu.Lock()
	defer mu.Unlock()
	for k := range served {
		c, _ := cid.Cast([]byte(k))
		if had[string(c.Hash())] {
			t.Fatalf("block %s was requested again after the resume", c)
		}
	}
	if len(served) != 21-len(had) {
		t.Fatalf("the resumed fetch requested %d blocks, want %d", len(served), 21-len(had))
	}
	if got := exportBytes(t, ps[0].store, root); !bytes.Equal(got, data) {
		t.Fatal("resumed artifact differs")
	}
}

func TestFetchNoSource(t *testing.T) {
	ps := newTestPeers(t, 3, nil)
	root, _, err := Root(context.Background(), bytes.NewReader(testBytes(3, 3*ChunkSize)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = ps[0].svc.Fetch(ctx, root, FetchOptions{Peers: []peer.ID{ps[1].host.ID(), ps[2].host.ID()}})
	if !errors.Is(err, ErrNoSource) {
		t.Fatalf("fetch with no holder: %v, want ErrNoSource", err)
	}
}

func TestFetchFromPartialPeers(t *testing.T) {
	// A chain: 0 holds the artifact, 1 fetches from 0, 2 fetches from 1
	// only (it never talks to 0), starting while 1 is still fetching.
	ps := newTestPeers(t, 3, nil)
	data := testBytes(11, 12*testChunk)
	root := seed(t, ps[0], data)
	errs := make(chan error, 2)
	go func() {
		_, err := ps[1].svc.Fetch(context.Background(), root, FetchOptions{Peers: []peer.ID{ps[0].host.ID()}, BatchBlocks: 1, StreamsPerPeer: 1})
		errs <- err
	}()
	go func() {
		_, err := ps[2].svc.Fetch(context.Background(), root, FetchOptions{
			FindPeers: func() []peer.ID { return []peer.ID{ps[1].host.ID()} },
			Refresh:   10 * time.Millisecond,
		})
		errs <- err
	}()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := exportBytes(t, ps[2].store, root); !bytes.Equal(got, data) {
		t.Fatal("artifact fetched from a partial peer differs")
	}
}

func TestServiceBounds(t *testing.T) {
	ps := newTestPeers(t, 2, func(int) ServiceOptions { return ServiceOptions{MaxStreamsPerPeer: 1} })
	ctx := context.Background()
	st, err := ps[0].host.NewStream(ctx, ps[1].host.ID(), ProtocolID(testNetwork))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Hold the one allowed stream open with a request.
	w := bufio.NewWriter(st)
	root := seed(t, ps[1], testBytes(1, 100))
	writeFrame(w, encodeCIDList(msgHas, []cid.Cid{root}))
	w.Flush()
	if _, err := readFrame(bufio.NewReader(st), maxFrame, nil); err != nil {
		t.Fatal(err)
	}
	_, err = ps[0].svc.Has(ctx, ps[1].host.ID(), []cid.Cid{root})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("busy")) {
		t.Fatalf("second stream: %v, want a busy refusal", err)
	}
}
