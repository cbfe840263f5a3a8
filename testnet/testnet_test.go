package testnet

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/aura-node/aura-node/api"
)

func sampleManifest(dir string) *Manifest {
	m := &Manifest{Version: manifestVersion, Name: networkName, NetworkID: "bafyreitest", N: 2, Binary: "/usr/local/bin/aura-node"}
	for i := 1; i <= 2; i++ {
		m.Nodes = append(m.Nodes, NodeInfo{
			Index:     i,
			Home:      filepath.Join(dir, "node-"+strconv.Itoa(i)),
			PeerID:    "12D3KooWBoutagqNpw8Ttbx6mdFAg24myEuveheDj9woUkrKHHgm",
			Authority: "12D3KooWETjhD74ykKRPvuWxi1ojd3pF1q6mvpxqmXMB3mkgL79J",
			TCPPort:   40000 + i,
			QUICPort:  50000 + i,
		})
	}
	return m
}

func TestManifestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	want := sampleManifest(dir)
	if err := WriteManifest(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, ManifestFile+".tmp")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary manifest left behind: %v", err)
	}
}

func TestReadManifestMissing(t *testing.T) {
	if _, err := ReadManifest(t.TempDir()); !errors.Is(err, ErrNoTestnet) {
		t.Fatalf("err = %v, want ErrNoTestnet", err)
	}
}

func TestManifestRejectsInconsistency(t *testing.T) {
	dir := t.TempDir()
	for name, mutate := range map[string]func(m *Manifest){
		"version":       func(m *Manifest) { m.Version = 99 },
		"n mismatch":    func(m *Manifest) { m.N = 3 },
		"no nodes":      func(m *Manifest) { m.N, m.Nodes = 0, nil },
		"bad index":     func(m *Manifest) { m.Nodes[1].Index = 5 },
		"relative home": func(m *Manifest) { m.Nodes[0].Home = "node-1" },
	} {
		t.Run(name, func(t *testing.T) {
			m := sampleManifest(dir)
			mutate(m)
			if err := WriteManifest(dir, m); !errors.Is(err, ErrBadManifest) {
				t.Fatalf("WriteManifest: err = %v, want ErrBadManifest", err)
			}
		})
	}
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadManifest(dir); !errors.Is(err, ErrBadManifest) {
		t.Fatalf("ReadManifest of junk: err = %v, want ErrBadManifest", err)
	}
}

func TestManifestNode(t *testing.T) {
	m := sampleManifest("/tmp/tn")
	n, err := m.Node(2)
	if err != nil || n.Index != 2 {
		t.Fatalf("Node(2) = %+v, %v", n, err)
	}
	for _, i := range []int{0, 3, -1} {
		if _, err := m.Node(i); !errors.Is(err, ErrNoNode) {
			t.Errorf("Node(%d): err = %v, want ErrNoNode", i, err)
		}
	}
}

func TestNodeAddrsAreMultiaddrs(t *testing.T) {
	n := sampleManifest("/tmp/tn").Nodes[0]
	for _, s := range append(n.ListenAddrs(), n.P2PAddr()) {
		if _, err := ma.NewMultiaddr(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	if got, want := n.P2PAddr(), "/ip4/127.0.0.1/tcp/40001/p2p/"+n.PeerID; got != want {
		t.Errorf("P2PAddr = %q, want %q", got, want)
	}
}

func TestPickPorts(t *testing.T) {
	for _, network := range []string{"tcp", "udp"} {
		ports, err := PickPorts(network, 8)
		if err != nil {
			t.Fatal(err)
		}
		if len(ports) != 8 {
			t.Fatalf("%s: got %d ports, want 8", network, len(ports))
		}
		seen := map[int]bool{}
		for _, p := range ports {
			if p <= 0 || p > 65535 || seen[p] {
				t.Fatalf("%s: bad or repeated port %d in %v", network, p, ports)
			}
			seen[p] = true
		}
		// The ports were released: binding one again works.
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
		if network == "tcp" {
			l, err := net.Listen("tcp", addr)
			if err != nil {
				t.Fatalf("port %d not released: %v", ports[0], err)
			}
			l.Close()
		} else {
			c, err := net.ListenPacket("udp", addr)
			if err != nil {
				t.Fatalf("port %d not released: %v", ports[0], err)
			}
			c.Close()
		}
	}
	if _, err := PickPorts("sctp", 1); err == nil {
		t.Fatal("PickPorts(sctp) succeeded")
	}
}

func TestCheckFreeDir(t *testing.T) {
	root := t.TempDir()
	if err := checkFreeDir(filepath.Join(root, "new")); err != nil {
		t.Errorf("missing dir: %v", err)
	}
	if err := checkFreeDir(root); err != nil {
		t.Errorf("empty dir: %v", err)
	}
	if err := os.WriteFile(filepath.Join(root, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := checkFreeDir(root); err == nil {
		t.Error("non-empty dir without a testnet accepted")
	}
	// A stopped testnet (no pid files) is refused too, with a hint.
	tn := filepath.Join(root, "tn")
	os.Mkdir(tn, 0o755)
	if err := WriteManifest(tn, sampleManifest(tn)); err != nil {
		t.Fatal(err)
	}
	if err := checkFreeDir(tn); err == nil || errors.Is(err, ErrRunning) {
		t.Errorf("stopped testnet: err = %v, want a non-ErrRunning refusal", err)
	}
}

func TestRendering(t *testing.T) {
	for _, c := range []struct {
		s    string
		n    int
		want string
	}{
		{"abcdef", 3, "abc…"},
		{"abcdef", -3, "…def"},
		{"abc", 3, "abc"},
		{"abc", -5, "abc"},
	} {
		if got := Short(c.s, c.n); got != c.want {
			t.Errorf("Short(%q, %d) = %q, want %q", c.s, c.n, got, c.want)
		}
	}
	if got, want := CheckLine(&api.CacheCheck{Key: "k", Floor: 1, Epoch: 0}), "key=k floor=1 epoch=0 valid=false"; got != want {
		t.Errorf("CheckLine = %q, want %q", got, want)
	}
	for _, c := range []struct {
		e    api.CacheEntry
		want string
	}{
		{api.CacheEntry{}, "miss (no entry)"},
		{api.CacheEntry{Present: true, Epoch: 0, Floor: 2}, "miss (invalidated: stored at epoch 0, floor 2)"},
		{api.CacheEntry{Present: true, Valid: true, Value: []byte("v")}, "v"},
	} {
		if got := CacheGetText(&c.e); got != c.want {
			t.Errorf("CacheGetText(%+v) = %q, want %q", c.e, got, c.want)
		}
	}
}
