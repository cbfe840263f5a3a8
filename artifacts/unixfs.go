package artifacts

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/boxo/blockservice"
	chunker "github.com/ipfs/boxo/chunker"
	mdag "github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	mh "github.com/multiformats/go-multihash"
)

// The import layout is IPIP-499's unixfs-v1-2025 profile: CIDv1, sha2-256,
// fixed 1 MiB chunks stored as raw leaves, balanced DAG with at most 1024
// links per node. `ipfs add` with the same profile (kubo: `ipfs config
// profile apply unixfs-v1-2025`) computes the same root CID for the same
// bytes.
const (
	// ChunkSize is the size of every leaf but the last.
	ChunkSize = 1 << 20
	// MaxLinks is the fan-out of the file DAG's internal nodes.
	MaxLinks = 1024
)

// cidBuilder makes CIDv1 sha2-256 dag-pb CIDs (the raw leaves get the same
// prefix with the raw codec).
var cidBuilder = cid.Prefix{Version: 1, Codec: cid.DagProtobuf, MhType: mh.SHA2_256, MhLength: -1}

// Import chunks r into a UnixFS file DAG and stores its blocks in bs. It
// returns the root CID and the file size in bytes. Import does not pin:
// call Pin (holding HoldGC across both if a GC may run concurrently).
func Import(ctx context.Context, bs *Store, r io.Reader) (cid.Cid, uint64, error) {
	if bs == nil {
		return cid.Undef, 0, errors.New("artifacts: import: nil store")
	}
	return importChunked(ctx, bs, r, ChunkSize)
}

// importChunked is Import with another chunk size (tests use small ones).
func importChunked(ctx context.Context, bs *Store, r io.Reader, chunk int64) (cid.Cid, uint64, error) {
	release := bs.HoldGC()
	defer release()
	return build(ctx, mdag.NewDAGService(blockservice.New(bs, nil)), r, chunk)
}

// Root computes the root CID and the file size Import would return for r,
// without storing anything.
func Root(ctx context.Context, r io.Reader) (cid.Cid, uint64, error) {
	return build(ctx, discardDAG{}, r, ChunkSize)
}

func build(ctx context.Context, ds ipld.DAGService, r io.Reader, chunk int64) (cid.Cid, uint64, error) {
	cr := &ctxReader{ctx: ctx, r: r}
	params := helpers.DagBuilderParams{
		Dagserv:    ds,
		Maxlinks:   MaxLinks,
		RawLeaves:  true,
		CidBuilder: cidBuilder,
	}
	db, err := params.New(chunker.NewSizeSplitter(cr, chunk))
	if err != nil {
		return cid.Undef, 0, fmt.Errorf("artifacts: import: %w", err)
	}
	nd, err := balanced.Layout(db)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return cid.Undef, 0, cerr
		}
		return cid.Undef, 0, fmt.Errorf("artifacts: import: %w", err)
	}
	if cr.n == 0 {
		return cid.Undef, 0, errors.New("artifacts: import: the file is empty")
	}
	return nd.Cid(), cr.n, nil
}

// ctxReader stops a read loop when ctx is done and counts bytes.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
	n   uint64
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	c.n += uint64(n)
	return n, err
}

// discardDAG is a DAGService that keeps nothing (Root).
type discardDAG struct{}

func (discardDAG) Get(_ context.Context, c cid.Cid) (ipld.Node, error) {
	return nil, ipld.ErrNotFound{Cid: c}
}

func (discardDAG) GetMany(context.Context, []cid.Cid) <-chan *ipld.NodeOption {
	ch := make(chan *ipld.NodeOption)
	close(ch)
	return ch
}
func (discardDAG) Add(context.Context, ipld.Node) error        { return nil }
func (discardDAG) AddMany(context.Context, []ipld.Node) error  { return nil }
func (discardDAG) Remove(context.Context, cid.Cid) error       { return nil }
func (discardDAG) RemoveMany(context.Context, []cid.Cid) error { return nil }

// Export writes the file under root to w. Every block must be in the
// store (ErrIncomplete names a missing one); it returns the bytes written,
// which match the UnixFS file size.
func Export(ctx context.Context, bs *Store, root cid.Cid, w io.Writer) (uint64, error) {
	if err := CheckCID(root); err != nil {
		return 0, err
	}
	ds := mdag.NewDAGService(blockservice.New(bs, nil))
	nd, err := ds.Get(ctx, root)
	if err != nil {
		if ipld.IsNotFound(err) {
			return 0, fmt.Errorf("%w: root %s is not in the store", ErrIncomplete, root)
		}
		return 0, fmt.Errorf("artifacts: export %s: %w", root, err)
	}
	if _, err := decodeNode(root, nd.RawData()); err != nil {
		return 0, err
	}
	dr, err := uio.NewDagReader(ctx, nd, ds)
	if err != nil {
		return 0, fmt.Errorf("artifacts: export %s: %w", root, err)
	}
	n, err := io.Copy(w, dr)
	if err != nil {
		var nf ipld.ErrNotFound
		if errors.As(err, &nf) {
			return uint64(n), fmt.Errorf("%w: %s: block %s is missing", ErrIncomplete, root, nf.Cid)
		}
		return uint64(n), fmt.Errorf("artifacts: export %s: %w", root, err)
	}
	if uint64(n) != dr.Size() {
		return uint64(n), fmt.Errorf("artifacts: export %s: wrote %d bytes, the file is %d", root, n, dr.Size())
	}
	return uint64(n), nil
}
