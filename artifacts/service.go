package artifacts

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"golang.org/x/time/rate"
)

// ServiceOptions configure a Service. Zero values take the defaults.
type ServiceOptions struct {
	// Logger defaults to a discarding logger.
	Logger *slog.Logger
	// MaxStreamsPerPeer bounds the block streams one peer may have open
	// to this node at once; more are refused with an ERROR frame.
	// Default 8.
	MaxStreamsPerPeer int
	// MaxStreams bounds the block streams of all peers. Default 256.
	MaxStreams int
	// PeerBytesPerSecond bounds the block bytes served to one peer per
	// second (token bucket, burst one second or one block). Zero: no
	// per-peer rate bound.
	PeerBytesPerSecond float64
	// BytesPerSecond bounds the block bytes served to all peers together
	// per second (an upload cap for seeding nodes; the benchmark uses it
	// to give every node its own link). Zero: no bound.
	BytesPerSecond float64
	// IdleTimeout closes a stream that sends no request for this long,
	// and bounds the time to write one answer. Default 60s.
	IdleTimeout time.Duration
	// OnServe, if set, is called for every CID a peer asks for in a
	// WANT, with whether it was served (tests and metrics). It must be
	// fast and must not call the Service.
	OnServe func(from peer.ID, c cid.Cid, served bool)
}

func (o *ServiceOptions) fill() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxStreamsPerPeer <= 0 {
		o.MaxStreamsPerPeer = 8
	}
	if o.MaxStreams <= 0 {
		o.MaxStreams = 256
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 60 * time.Second
	}
}

// Service serves the block protocol on a libp2p host and fetches from
// peers that serve it. It serves any block in its store (see doc.go).
type Service struct {
	store *Store
	host  host.Host
	proto protocol.ID
	opts  ServiceOptions
	log   *slog.Logger

	upload *rate.Limiter // BytesPerSecond, or nil

	mu      sync.Mutex
	peers   map[peer.ID]*servedPeer
	streams int
	closed  bool
	wg      sync.WaitGroup

	stats struct {
		blocksServed, bytesServed, refusedStreams atomic.Uint64
		blocksFetched, bytesFetched, corrupt      atomic.Uint64
	}
}

type servedPeer struct {
	streams int
	limit   *rate.Limiter
}

// NewService registers the block protocol of network on h, serving from
// store. Close removes it.
func NewService(h host.Host, store *Store, network cid.Cid, opts ServiceOptions) *Service {
	opts.fill()
	s := &Service{
		store: store,
		host:  h,
		proto: ProtocolID(network),
		opts:  opts,
		log:   opts.Logger,
		peers: map[peer.ID]*servedPeer{},
	}
	if r := opts.BytesPerSecond; r > 0 {
		s.upload = rate.NewLimiter(rate.Limit(r), MaxBlockSize)
	}
	h.SetStreamHandler(s.proto, s.handle)
	return s
}

// Store returns the service's block store.
func (s *Service) Store() *Store { return s.store }

// Protocol returns the block protocol ID.
func (s *Service) Protocol() protocol.ID { return s.proto }

// Close stops serving and waits for the streams being served.
func (s *Service) Close() {
	s.host.RemoveStreamHandler(s.proto)
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.wg.Wait()
}

// Stats are the service's counters since it started.
type Stats struct {
	BlocksServed   uint64 `json:"blocks_served"`
	BytesServed    uint64 `json:"bytes_served"`
	RefusedStreams uint64 `json:"refused_streams"`
	BlocksFetched  uint64 `json:"blocks_fetched"`
	BytesFetched   uint64 `json:"bytes_fetched"`
	// Corrupt counts received blocks that did not match their CID.
	Corrupt uint64 `json:"corrupt_blocks"`
}

// Stats returns the counters.
func (s *Service) Stats() Stats {
	return Stats{
		BlocksServed:   s.stats.blocksServed.Load(),
		BytesServed:    s.stats.bytesServed.Load(),
		RefusedStreams: s.stats.refusedStreams.Load(),
		BlocksFetched:  s.stats.blocksFetched.Load(),
		BytesFetched:   s.stats.bytesFetched.Load(),
		Corrupt:        s.stats.corrupt.Load(),
	}
}

// admit counts a new stream of p against the bounds; it returns the
// peer's limiter, or a reason to refuse.
func (s *Service) admit(p peer.ID) (*rate.Limiter, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, "shutting down"
	}
	if s.streams >= s.opts.MaxStreams {
		return nil, fmt.Sprintf("busy: %d block streams open, limit %d", s.streams, s.opts.MaxStreams)
	}
	sp := s.peers[p]
	if sp == nil {
		sp = &servedPeer{limit: rate.NewLimiter(rate.Inf, 0)}
		if r := s.opts.PeerBytesPerSecond; r > 0 {
			sp.limit = rate.NewLimiter(rate.Limit(r), max(int(r), MaxBlockSize))
		}
		s.peers[p] = sp
	}
	if sp.streams >= s.opts.MaxStreamsPerPeer {
		return nil, fmt.Sprintf("busy: %d block streams open from you, limit %d", sp.streams, s.opts.MaxStreamsPerPeer)
	}
	sp.streams++
	s.streams++
	s.wg.Add(1)
	return sp.limit, ""
}

func (s *Service) leave(p peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streams--
	if sp := s.peers[p]; sp != nil {
		sp.streams--
		if sp.streams == 0 {
			delete(s.peers, p)
		}
	}
	s.wg.Done()
}

// handle serves one block stream: HAS and WANT requests, one at a time.
func (s *Service) handle(st network.Stream) {
	p := st.Conn().RemotePeer()
	w := bufio.NewWriterSize(st, 64<<10)
	limit, refusal := s.admit(p)
	if refusal != "" {
		s.stats.refusedStreams.Add(1)
		st.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if writeFrame(w, []byte{msgError}, []byte(refusal)) == nil {
			w.Flush()
		}
		st.Close()
		return
	}
	defer s.leave(p)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := bufio.NewReaderSize(st, 16<<10)
	var buf []byte
	for {
		st.SetReadDeadline(time.Now().Add(s.opts.IdleTimeout))
		frame, err := readFrame(r, maxRequestFrame, buf)
		if err != nil {
			if errors.Is(err, io.EOF) {
				st.Close()
			} else {
				s.log.Debug("block stream read failed", "peer", p, "err", err)
				st.Reset()
			}
			return
		}
		buf = frame
		st.SetWriteDeadline(time.Now().Add(s.opts.IdleTimeout))
		switch frame[0] {
		case msgHas:
			err = s.serveHas(ctx, w, frame[1:], limit)
		case msgWant:
			err = s.serveWant(ctx, p, w, frame[1:], limit)
		default:
			err = protoErrorf("unknown request type %#x", frame[0])
		}
		if err == nil {
			err = w.Flush()
		}
		if err != nil {
			if errors.Is(err, ErrProtocol) {
				if writeFrame(w, []byte{msgError}, []byte(err.Error())) == nil {
					w.Flush()
				}
			}
			s.log.Debug("block stream closed", "peer", p, "err", err)
			st.Reset()
			return
		}
	}
}

func (s *Service) serveHas(ctx context.Context, w *bufio.Writer, body []byte, limit *rate.Limiter) error {
	cids, err := decodeCIDList(body, MaxHasBatch)
	if err != nil {
		return err
	}
	// Each answered CID costs two point reads: charge 64 bytes.
	if err := limit.WaitN(ctx, min(64*len(cids), limit.Burst())); err != nil && limit.Limit() != rate.Inf {
		return err
	}
	out := make([]byte, 0, 1+10+len(cids))
	out = append(out, msgHave)
	out = appendUvarint(out, uint64(len(cids)))
	for _, c := range cids {
		st, err := s.store.haveState(c)
		if err != nil {
			return err
		}
		out = append(out, byte(st))
	}
	return writeFrame(w, out)
}

func (s *Service) serveWant(ctx context.Context, p peer.ID, w *bufio.Writer, body []byte, limit *rate.Limiter) error {
	cids, err := decodeCIDList(body, MaxWantBatch)
	if err != nil {
		return err
	}
	hdr := make([]byte, 0, 1+10+maxCIDLen)
	for _, c := range cids {
		found, err := s.store.viewBlock(c, func(data []byte) error {
			if s.opts.OnServe != nil {
				s.opts.OnServe(p, c, true)
			}
			if limit.Limit() != rate.Inf {
				if err := limit.WaitN(ctx, len(data)); err != nil {
					return err
				}
			}
			if s.upload != nil {
				if err := s.upload.WaitN(ctx, len(data)); err != nil {
					return err
				}
			}
			// Written straight from Pebble's buffer: no copy.
			if err := writeFrame(w, appendCID(append(hdr[:0], msgBlock), c), data); err != nil {
				return err
			}
			s.stats.blocksServed.Add(1)
			s.stats.bytesServed.Add(uint64(len(data)))
			return nil
		})
		if err != nil {
			return err
		}
		if !found {
			if s.opts.OnServe != nil {
				s.opts.OnServe(p, c, false)
			}
			if err := writeFrame(w, appendCID(append(hdr[:0], msgDont), c)); err != nil {
				return err
			}
		}
	}
	return nil
}

// haveState answers a HAS for one CID.
func (s *Store) haveState(c cid.Cid) (HaveState, error) {
	if CheckCID(c) != nil {
		return HaveNone, nil
	}
	ok, err := s.Has(context.Background(), c)
	if err != nil || !ok {
		return HaveNone, err
	}
	pinned, err := s.IsPinned(c)
	if err != nil {
		return HaveNone, err
	}
	if pinned {
		return HavePinned, nil
	}
	return HaveBlock, nil
}

// Has asks peer p what it holds of cids (at most MaxHasBatch). A peer
// that does not speak the block protocol holds nothing.
func (s *Service) Has(ctx context.Context, p peer.ID, cids []cid.Cid) ([]HaveState, error) {
	if len(cids) == 0 || len(cids) > MaxHasBatch {
		return nil, fmt.Errorf("artifacts: has: %d CIDs, want 1 to %d", len(cids), MaxHasBatch)
	}
	st, err := s.host.NewStream(ctx, p, s.proto)
	if err != nil {
		return nil, fmt.Errorf("artifacts: has: opening a block stream to %s: %w", p, err)
	}
	defer st.Close()
	stop := context.AfterFunc(ctx, func() { st.Reset() })
	defer stop()
	st.SetDeadline(time.Now().Add(30 * time.Second))
	w := bufio.NewWriter(st)
	if err := writeFrame(w, encodeCIDList(msgHas, cids)); err != nil {
		return nil, fmt.Errorf("artifacts: has: %s: %w", p, err)
	}
	if err := w.Flush(); err != nil {
		return nil, fmt.Errorf("artifacts: has: %s: %w", p, err)
	}
	frame, err := readFrame(bufio.NewReader(st), maxFrame, nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("artifacts: has: %s: %w", p, err)
	}
	switch frame[0] {
	case msgError:
		return nil, fmt.Errorf("artifacts: has: %s refused: %.200q", p, frame[1:])
	case msgHave:
	default:
		return nil, protoErrorf("has: %s answered with message %#x", p, frame[0])
	}
	n, k := uvarint(frame[1:])
	if k <= 0 || n != uint64(len(cids)) || len(frame) != 1+k+len(cids) {
		return nil, protoErrorf("has: %s answered %d states for %d CIDs", p, n, len(cids))
	}
	out := make([]HaveState, len(cids))
	for i, b := range frame[1+k:] {
		if b > byte(HavePinned) {
			return nil, protoErrorf("has: %s answered state %d", p, b)
		}
		out[i] = HaveState(b)
	}
	return out, nil
}
