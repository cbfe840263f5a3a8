package artifacts_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"

	"github.com/aura-node/aura-node/artifacts"
	"github.com/aura-node/aura-node/release"
)

func openStore(t testing.TB) *artifacts.Store {
	t.Helper()
	s, err := artifacts.Open(t.TempDir(), artifacts.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// randomBytes returns n deterministic pseudo-random bytes.
func randomBytes(seed uint64, n int) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

func TestPutRefusesWrongBytes(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	good := blocks.NewBlock([]byte("hello artifacts"))
	c := cid.NewCidV1(cid.Raw, good.Cid().Hash())
	bad, err := blocks.NewBlockWithCid([]byte("tampered bytes"), c)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Put(ctx, bad)
	if !errors.Is(err, artifacts.ErrHashMismatch) {
		t.Fatalf("Put of a tampered block: %v, want ErrHashMismatch", err)
	}
	if !bytes.Contains([]byte(err.Error()), []byte(c.String())) {
		t.Fatalf("error %q does not name the CID %s", err, c)
	}
	if ok, _ := s.Has(ctx, c); ok {
		t.Fatal("the tampered block was stored")
	}
	// One bad block refuses the whole batch.
	if err := s.PutMany(ctx, []blocks.Block{good, bad}); !errors.Is(err, artifacts.ErrHashMismatch) {
		t.Fatalf("PutMany: %v", err)
	}
	if ok, _ := s.Has(ctx, good.Cid()); ok {
		t.Fatal("a batch with a bad block was partly stored")
	}
	// Identity hashes and oversized blocks are refused.
	idc, _ := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: 0x00, MhLength: -1}.Sum([]byte("x"))
	idb, _ := blocks.NewBlockWithCid([]byte("x"), idc)
	if err := s.Put(ctx, idb); !errors.Is(err, artifacts.ErrBadCID) {
		t.Fatalf("identity CID: %v", err)
	}
	big := blocks.NewBlock(make([]byte, artifacts.MaxBlockSize+1))
	if err := s.Put(ctx, big); !errors.Is(err, artifacts.ErrBlockTooLarge) {
		t.Fatalf("oversized block: %v", err)
	}
	if err := s.Put(ctx, good); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, good.Cid())
	if err != nil || !bytes.Equal(got.RawData(), good.RawData()) {
		t.Fatalf("Get: %v", err)
	}
}

func TestImportExportRoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, size := range []int{1, 1000, artifacts.ChunkSize, artifacts.ChunkSize + 1, 5*artifacts.ChunkSize + 12345} {
		s := openStore(t)
		data := randomBytes(uint64(size), size)
		root, n, err := artifacts.Import(ctx, s, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if n != uint64(size) {
			t.Fatalf("size %d: Import reports %d bytes", size, n)
		}
		// The root fits a release manifest.
		if _, err := release.ParseRoot(root.Bytes()); err != nil {
			t.Fatalf("size %d: root %s: %v", size, root, err)
		}
		if root.Version() != 1 {
			t.Fatalf("root %s is not CIDv1", root)
		}
		if size <= artifacts.ChunkSize && root.Prefix().Codec != cid.Raw {
			t.Fatalf("a one-chunk file's root is %s, want a raw leaf", root)
		}
		r2, n2, err := artifacts.Root(ctx, bytes.NewReader(data))
		if err != nil || !r2.Equals(root) || n2 != n {
			t.Fatalf("Root = %s %d %v, Import = %s %d", r2, n2, err, root, n)
		}
		var out bytes.Buffer
		m, err := artifacts.Export(ctx, s, root, &out)
		if err != nil {
			t.Fatal(err)
		}
		if m != n || !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("size %d: export differs (%d bytes)", size, m)
		}
	}
}

func TestImportEmptyRefused(t *testing.T) {
	if _, _, err := artifacts.Import(context.Background(), openStore(t), bytes.NewReader(nil)); err == nil {
		t.Fatal("empty file imported")
	}
}

func TestPinUnpinGC(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	a := randomBytes(1, 3*artifacts.ChunkSize+7)
	b := randomBytes(2, 2*artifacts.ChunkSize)
	ra, _, err := artifacts.Import(ctx, s, bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	rb, _, err := artifacts.Import(ctx, s, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	pa, err := s.Pin(ctx, ra, "a.bin")
	if err != nil {
		t.Fatal(err)
	}
	if pa.Size != uint64(len(a)) || pa.Blocks != 5 {
		t.Fatalf("pin %+v", pa)
	}
	if _, err := s.Pin(ctx, rb, "b.bin"); err != nil {
		t.Fatal(err)
	}
	if res, err := s.GC(ctx); err != nil || res.Blocks != 0 {
		t.Fatalf("GC with everything pinned: %+v %v", res, err)
	}
	if err := s.Unpin(ctx, rb); err != nil {
		t.Fatal(err)
	}
	if err := s.Unpin(ctx, rb); !errors.Is(err, artifacts.ErrNotPinned) {
		t.Fatalf("second unpin: %v", err)
	}
	res, err := s.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Blocks != 3 || res.Bytes < uint64(len(b)) {
		t.Fatalf("GC removed %+v, want b's 3 blocks", res)
	}
	if ok, _ := s.Has(ctx, rb); ok {
		t.Fatal("unpinned root survived GC")
	}
	if _, err := artifacts.Export(ctx, s, rb, io.Discard); !errors.Is(err, artifacts.ErrIncomplete) {
		t.Fatalf("export after GC: %v", err)
	}
	var out bytes.Buffer
	if _, err := artifacts.Export(ctx, s, ra, &out); err != nil || !bytes.Equal(out.Bytes(), a) {
		t.Fatalf("pinned artifact damaged by GC: %v", err)
	}
	// An incomplete DAG cannot be pinned.
	if _, err := s.Pin(ctx, rb, "b.bin"); !errors.Is(err, artifacts.ErrIncomplete) {
		t.Fatalf("pin of a missing root: %v", err)
	}
	pins, err := s.Pins(ctx)
	if err != nil || len(pins) != 1 || !pins[0].Root.Equals(ra) || pins[0].Name != "a.bin" {
		t.Fatalf("pins %+v %v", pins, err)
	}
}

// GC waits for holds (imports and fetches in progress) up to its context,
// and runs once they are released; holds nest.
func TestGCWaitsForHolds(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	root, _, err := artifacts.Import(ctx, s, bytes.NewReader(randomBytes(3, 3000)))
	if err != nil {
		t.Fatal(err)
	}
	release := s.HoldGC()
	inner := s.HoldGC() // nested: must not wait
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := s.GC(short); !errors.Is(err, artifacts.ErrGCBusy) {
		t.Fatalf("GC during a hold: %v, want ErrGCBusy", err)
	}
	if ok, _ := s.Has(ctx, root); !ok {
		t.Fatal("a held, unpinned block was collected")
	}
	inner()
	done := make(chan error, 1)
	go func() {
		_, err := s.GC(ctx)
		done <- err
	}()
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Has(ctx, root); ok {
		t.Fatal("the unpinned block survived GC after the holds ended")
	}
}
