package artifacts

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// ProtocolID is the block protocol of a network: /aura/<network-id>/blocks/1.
func ProtocolID(network cid.Cid) protocol.ID {
	return protocol.ID("/aura/" + network.String() + "/blocks/1")
}

// Wire format. Every message is a frame: a uvarint length L, 1 <= L <=
// maxFrame, then L bytes whose first byte is the message type.
//
//	HAS   (client)  0x01 count:uvarint (cidlen:uvarint cid)*count
//	WANT  (client)  0x02 count:uvarint (cidlen:uvarint cid)*count
//	HAVE  (server)  0x81 count:uvarint state:byte*count (one per HAS CID, in order)
//	BLOCK (server)  0x82 cidlen:uvarint cid data      (answers one WANT CID)
//	DONT  (server)  0x83 cidlen:uvarint cid           (answers one WANT CID)
//	ERROR (server)  0x8f reason (UTF-8); the server closes the stream after it
//
// A stream carries any number of requests, one at a time: the client
// writes a request and reads its whole answer before the next. A WANT is
// answered by exactly one BLOCK or DONT per CID, in request order.
const (
	msgHas   = 0x01
	msgWant  = 0x02
	msgHave  = 0x81
	msgBlock = 0x82
	msgDont  = 0x83
	msgError = 0x8f

	// maxCIDLen bounds one CID on the wire.
	maxCIDLen = 128
	// MaxHasBatch bounds the CIDs of one HAS request.
	MaxHasBatch = 1024
	// MaxWantBatch bounds the CIDs of one WANT request.
	MaxWantBatch = 32
	// maxFrame bounds one frame: a block, its CID and the header.
	maxFrame = MaxBlockSize + maxCIDLen + 16
	// maxRequestFrame bounds a request frame.
	maxRequestFrame = 1 + binary.MaxVarintLen64 + MaxHasBatch*(maxCIDLen+2)
)

// HaveState is what a peer holds of a CID, as its HAS answer says.
type HaveState byte

// Have states. Values are part of the wire format.
const (
	// HaveNone: the peer does not have the block.
	HaveNone HaveState = 0
	// HaveBlock: the peer has the block (for a root: maybe not the whole
	// DAG yet; it may be fetching it).
	HaveBlock HaveState = 1
	// HavePinned: the CID is a root the peer has pinned, so it holds the
	// whole DAG.
	HavePinned HaveState = 2
)

func (h HaveState) String() string {
	switch h {
	case HaveNone:
		return "none"
	case HaveBlock:
		return "block"
	case HavePinned:
		return "pinned"
	}
	return fmt.Sprintf("HaveState(%d)", byte(h))
}

// ErrProtocol marks a peer that broke the wire format (the fetcher
// penalises it).
var ErrProtocol = errors.New("artifacts: protocol violation")

func protoErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, args...)...)
}

// writeFrame writes one frame made of parts (header and body, so a block
// is not copied into a frame buffer).
func writeFrame(w *bufio.Writer, parts ...[]byte) error {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	var hdr [binary.MaxVarintLen64]byte
	if _, err := w.Write(hdr[:binary.PutUvarint(hdr[:], uint64(n))]); err != nil {
		return err
	}
	for _, p := range parts {
		if _, err := w.Write(p); err != nil {
			return err
		}
	}
	return nil
}

// readFrame reads one frame of at most limit bytes into buf (grown as
// needed) and returns it.
func readFrame(r *bufio.Reader, limit int, buf []byte) ([]byte, error) {
	var n uint64
	for i := 0; ; i++ {
		b, err := r.ReadByte()
		if err != nil {
			if i > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if i == binary.MaxVarintLen32 {
			return nil, protoErrorf("frame length varint too long")
		}
		n |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			break
		}
	}
	if n == 0 || n > uint64(limit) {
		return nil, protoErrorf("frame of %d bytes, limit %d", n, limit)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// encodeCIDList encodes a HAS or WANT request.
func encodeCIDList(typ byte, cids []cid.Cid) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(cids)*40)
	b = append(b, typ)
	b = binary.AppendUvarint(b, uint64(len(cids)))
	for _, c := range cids {
		cb := c.Bytes()
		b = binary.AppendUvarint(b, uint64(len(cb)))
		b = append(b, cb...)
	}
	return b
}

// decodeCIDList decodes the body (after the type byte) of a HAS or WANT
// request of at most limit CIDs.
func decodeCIDList(b []byte, limit int) ([]cid.Cid, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || k != uvarintLen(n) {
		return nil, protoErrorf("bad CID count")
	}
	if n == 0 || n > uint64(limit) {
		return nil, protoErrorf("%d CIDs in a request, want 1 to %d", n, limit)
	}
	b = b[k:]
	out := make([]cid.Cid, 0, n)
	for i := uint64(0); i < n; i++ {
		c, rest, err := readCID(b)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
		b = rest
	}
	if len(b) != 0 {
		return nil, protoErrorf("%d trailing bytes after the CIDs", len(b))
	}
	return out, nil
}

// readCID reads a length-prefixed CID in canonical form.
func readCID(b []byte) (cid.Cid, []byte, error) {
	l, k := binary.Uvarint(b)
	if k <= 0 || k != uvarintLen(l) || l == 0 || l > maxCIDLen || uint64(len(b)-k) < l {
		return cid.Undef, nil, protoErrorf("bad CID length")
	}
	raw := b[k : k+int(l)]
	n, c, err := cid.CidFromBytes(raw)
	if err != nil || n != len(raw) {
		return cid.Undef, nil, protoErrorf("bad CID: %v", err)
	}
	return c, b[k+int(l):], nil
}

func appendCID(b []byte, c cid.Cid) []byte {
	cb := c.Bytes()
	b = binary.AppendUvarint(b, uint64(len(cb)))
	return append(b, cb...)
}

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func uvarint(b []byte) (uint64, int) { return binary.Uvarint(b) }

// uvarintLen is the length of v's minimal uvarint encoding; the decoders
// refuse longer (non-canonical) encodings.
func uvarintLen(v uint64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], v)
}
