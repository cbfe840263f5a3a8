package artifacts

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/ipfs/boxo/bitswap"
	bsnet "github.com/ipfs/boxo/bitswap/network/bsnet"
	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	mdag "github.com/ipfs/boxo/ipld/merkledag"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
)

// A boxo bitswap client on another host fetches an artifact from the
// store's bitswap server by its root CID alone.
func TestBitswapServesArtifact(t *testing.T) {
	ps := newTestPeers(t, 2, nil)
	data := testBytes(21, 10*testChunk+5)
	root := seed(t, ps[0], data)
	srv := StartBitswap(ps[0].host, ps[0].store)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	clientStore := blockstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore()))
	client := bitswap.New(ctx, bsnet.NewFromIpfsHost(ps[1].host), nil, clientStore, bitswap.WithServerEnabled(false))
	defer client.Close()
	dag := mdag.NewDAGService(blockservice.New(clientStore, client))
	nd, err := dag.Get(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	r, err := uio.NewDagReader(ctx, nd, dag)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("bitswap fetched %d bytes that differ from the %d imported", len(got), len(data))
	}
	if st := srv.Stats(); st.BlocksSent < 11 {
		t.Fatalf("server stats %+v: want the 11 blocks sent", st)
	}
}
