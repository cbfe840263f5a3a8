package testnet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
)

// ManifestFile is the name of the manifest inside a testnet directory.
const ManifestFile = "testnet.json"

// manifestVersion is the manifest format this package writes and reads.
const manifestVersion = 1

// Sentinel errors.
var (
	// ErrNoTestnet reports a directory without a testnet manifest.
	ErrNoTestnet = errors.New("testnet: no testnet here")
	// ErrRunning reports an Up over a directory whose testnet still runs.
	ErrRunning = errors.New("testnet: a testnet is already running")
	// ErrBadManifest reports a manifest that cannot be used.
	ErrBadManifest = errors.New("testnet: bad manifest")
	// ErrNoNode reports a node index outside the testnet.
	ErrNoNode = errors.New("testnet: no such node")
	// ErrNotReady reports nodes that did not become ready in time.
	ErrNotReady = errors.New("testnet: nodes not ready")
	// ErrNoConvergence reports a demo whose nodes did not agree in time.
	ErrNoConvergence = errors.New("testnet: nodes did not converge")
)

// Manifest describes a testnet; it is saved as DIR/testnet.json.
type Manifest struct {
	// Version is the manifest format version.
	Version int `json:"version"`
	// Name is the network name in the genesis.
	Name string `json:"name"`
	// NetworkID is the genesis CID.
	NetworkID string `json:"network_id"`
	// N is the number of nodes.
	N int `json:"n"`
	// Binary is the aura-node executable the nodes run.
	Binary string `json:"binary"`
	// Launcher: each node runs under `aura-node launcher` (which runs the
	// node from the home's current release and can switch releases);
	// the recorded pid is the launcher's.
	Launcher bool `json:"launcher,omitempty"`
	// Nodes are the nodes, node 1 first.
	Nodes []NodeInfo `json:"nodes"`
}

// NodeInfo is one node of a testnet.
type NodeInfo struct {
	// Index is the node's number, from 1.
	Index int `json:"index"`
	// Home is the node's home directory (absolute).
	Home string `json:"home"`
	// PeerID is the node's libp2p peer ID.
	PeerID string `json:"peer_id"`
	// Authority is the node's authority ID.
	Authority string `json:"authority"`
	// TCPPort and QUICPort are the libp2p listen ports on 127.0.0.1.
	TCPPort  int `json:"tcp_port"`
	QUICPort int `json:"quic_port"`
}

// P2PAddr is the node's TCP multiaddr with its peer ID, as other nodes dial it.
func (n NodeInfo) P2PAddr() string {
	return fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", n.TCPPort, n.PeerID)
}

// ListenAddrs are the node's libp2p listen multiaddrs.
func (n NodeInfo) ListenAddrs() []string {
	return []string{
		fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", n.TCPPort),
		fmt.Sprintf("/ip4/127.0.0.1/udp/%d/quic-v1", n.QUICPort),
	}
}

// Node returns node i (from 1).
func (m *Manifest) Node(i int) (NodeInfo, error) {
	if i < 1 || i > len(m.Nodes) {
		return NodeInfo{}, fmt.Errorf("%w: node-%d (this testnet has nodes 1 to %d)", ErrNoNode, i, len(m.Nodes))
	}
	return m.Nodes[i-1], nil
}

// validate checks the manifest's internal consistency.
func (m *Manifest) validate() error {
	if m.Version != manifestVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrBadManifest, m.Version, manifestVersion)
	}
	if m.N < 1 || m.N != len(m.Nodes) {
		return fmt.Errorf("%w: n is %d but %d nodes are listed", ErrBadManifest, m.N, len(m.Nodes))
	}
	for i, n := range m.Nodes {
		if n.Index != i+1 {
			return fmt.Errorf("%w: node %d has index %d", ErrBadManifest, i+1, n.Index)
		}
		if n.Home == "" || !filepath.IsAbs(n.Home) {
			return fmt.Errorf("%w: node %d home %q is not an absolute path", ErrBadManifest, n.Index, n.Home)
		}
	}
	return nil
}

// WriteManifest saves m as DIR/testnet.json, atomically.
func WriteManifest(dir string, m *Manifest) error {
	if err := m.validate(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(dir, ManifestFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("testnet: writing manifest: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("testnet: writing manifest: %w", err)
	}
	return nil
}

// ReadManifest loads DIR/testnet.json.
func ReadManifest(dir string) (*Manifest, error) {
	path := filepath.Join(dir, ManifestFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s has no %s (create one with `aura-node testnet up --dir %s`)", ErrNoTestnet, dir, ManifestFile, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("testnet: reading manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadManifest, path, err)
	}
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &m, nil
}

// PickPorts returns n distinct free ports on 127.0.0.1 for network "tcp"
// or "udp". It binds all n sockets at once, so the ports are distinct, and
// closes them before returning; another process could take one before the
// node binds it, which on a test machine is rare and shows as a node that
// fails to start.
func PickPorts(network string, n int) ([]int, error) {
	var closers []func() error
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		var addr net.Addr
		switch network {
		case "tcp":
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return nil, fmt.Errorf("testnet: picking a free TCP port: %w", err)
			}
			closers = append(closers, l.Close)
			addr = l.Addr()
		case "udp":
			c, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				return nil, fmt.Errorf("testnet: picking a free UDP port: %w", err)
			}
			closers = append(closers, c.Close)
			addr = c.LocalAddr()
		default:
			return nil, fmt.Errorf("testnet: PickPorts: unknown network %q", network)
		}
		_, p, err := net.SplitHostPort(addr.String())
		if err != nil {
			return nil, err
		}
		port, err := strconv.Atoi(p)
		if err != nil {
			return nil, err
		}
		ports = append(ports, port)
	}
	return ports, nil
}
