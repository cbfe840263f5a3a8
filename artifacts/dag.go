package artifacts

import (
	"fmt"

	mdag "github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	unixpb "github.com/ipfs/boxo/ipld/unixfs/pb"
	"github.com/ipfs/go-cid"
)

// ErrNotFile reports a DAG node that is not part of a UnixFS file.
var ErrNotFile = fmt.Errorf("artifacts: not a UnixFS file")

// node is what the walkers need from one block of a UnixFS file DAG.
type node struct {
	// links are the children, in file order.
	links []cid.Cid
	// linkSizes are the links' Tsize fields (cumulative DAG bytes under
	// each child) as the parent claims them; used for progress only.
	linkSizes []uint64
	// fileSize is the bytes of file content under this node.
	fileSize uint64
}

// decodeNode decodes a verified block of a UnixFS file: a raw leaf, or a
// dag-pb node of type File or Raw whose links are CIDs this store
// accepts. Directories, symlinks and HAMT shards are refused: artifacts
// are single files.
func decodeNode(c cid.Cid, data []byte) (node, error) {
	switch c.Prefix().Codec {
	case cid.Raw:
		return node{fileSize: uint64(len(data))}, nil
	case cid.DagProtobuf:
	default:
		return node{}, fmt.Errorf("%w: %s: codec %#x", ErrNotFile, c, c.Prefix().Codec)
	}
	pn, err := mdag.DecodeProtobuf(data)
	if err != nil {
		return node{}, fmt.Errorf("%w: %s: bad dag-pb: %w", ErrNotFile, c, err)
	}
	fs, err := unixfs.FSNodeFromBytes(pn.Data())
	if err != nil {
		return node{}, fmt.Errorf("%w: %s: bad UnixFS data: %w", ErrNotFile, c, err)
	}
	switch fs.Type() {
	case unixpb.Data_File, unixpb.Data_Raw:
	default:
		return node{}, fmt.Errorf("%w: %s: UnixFS type %v", ErrNotFile, c, fs.Type())
	}
	ls := pn.Links()
	n := node{fileSize: fs.FileSize(), links: make([]cid.Cid, len(ls)), linkSizes: make([]uint64, len(ls))}
	for i, l := range ls {
		if err := CheckCID(l.Cid); err != nil {
			return node{}, fmt.Errorf("%w: %s: link %d: %w", ErrNotFile, c, i, err)
		}
		n.links[i] = l.Cid
		n.linkSizes[i] = l.Size
	}
	return n, nil
}
