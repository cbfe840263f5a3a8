package artifacts

import (
	"bufio"
	"bytes"
	"context"
	"testing"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// Hostile bytes from the network never panic the decoders, and what
// decodes re-encodes to the same bytes.
func FuzzDecodeCIDList(f *testing.F) {
	c1, _ := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: mh.SHA2_256, MhLength: -1}.Sum([]byte("a"))
	c2, _ := cid.Prefix{Version: 0, Codec: cid.DagProtobuf, MhType: mh.SHA2_256, MhLength: -1}.Sum([]byte("b"))
	f.Add(encodeCIDList(msgWant, []cid.Cid{c1, c2})[1:])
	f.Add(encodeCIDList(msgHas, []cid.Cid{c1})[1:])
	f.Add([]byte{0x00})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add(append([]byte{0x81, 0x00}, encodeCIDList(msgHas, []cid.Cid{c1})[2:]...)) // non-minimal count
	f.Fuzz(func(t *testing.T, b []byte) {
		cids, err := decodeCIDList(b, MaxHasBatch)
		if err != nil {
			return
		}
		if got := encodeCIDList(msgHas, cids)[1:]; !bytes.Equal(got, b) {
			t.Fatalf("re-encoding %x gave %x", b, got)
		}
	})
}

func FuzzReadFrame(f *testing.F) {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	writeFrame(w, []byte{msgBlock}, []byte("data"))
	w.Flush()
	f.Add(buf.Bytes())
	f.Add([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x01})
	f.Add([]byte{0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		frame, err := readFrame(bufio.NewReader(bytes.NewReader(b)), 1<<16, nil)
		if err != nil {
			return
		}
		if len(frame) == 0 || len(frame) > 1<<16 {
			t.Fatalf("frame of %d bytes accepted", len(frame))
		}
	})
}

// decodeNode refuses anything but UnixFS file nodes without panicking,
// and never yields a link this store would not accept.
func FuzzDecodeNode(f *testing.F) {
	s, err := Open("fuzz", Options{InMemory: true})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	root, _, err := importChunked(context.Background(), s, bytes.NewReader(testBytes(5, 5000)), 1024)
	if err != nil {
		f.Fatal(err)
	}
	data, _ := s.getData(root)
	f.Add(data)
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x02, 0x08, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := cid.Prefix{Version: 1, Codec: cid.DagProtobuf, MhType: mh.SHA2_256, MhLength: -1}.Sum(b)
		if err != nil {
			t.Fatal(err)
		}
		n, err := decodeNode(c, b)
		if err != nil {
			return
		}
		for _, l := range n.links {
			if CheckCID(l) != nil {
				t.Fatalf("decoded a link the store refuses: %s", l)
			}
		}
	})
}
