package testnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aura-node/aura-node/api"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/node"
)

// File names a testnet adds to each node home.
const (
	LogFile = "node.log"
	PIDFile = "node.pid"
)

// Defaults.
const (
	// DefaultReadyTimeout bounds the wait for nodes to become ready.
	DefaultReadyTimeout = 30 * time.Second
	// MaxNodes bounds N: every node dials every other one.
	MaxNodes = 32
	// pollInterval is how often waits re-check their condition.
	pollInterval = 100 * time.Millisecond
	// stopTimeout bounds the wait for a signalled node to exit.
	stopTimeout = 10 * time.Second
	// networkName is the genesis name of every testnet.
	networkName = "aura-testnet"
)

// UpOptions configure Up.
type UpOptions struct {
	// Dir is the testnet directory; it must not exist or be empty.
	Dir string
	// N is the number of nodes, 1 to MaxNodes.
	N int
	// Binary is the aura-node executable; default os.Executable().
	Binary string
	// Log receives progress lines; default io.Discard.
	Log io.Writer
	// ReadyTimeout bounds the wait for readiness; default DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// Launcher runs every node under `aura-node launcher`, so releases
	// can be staged, cut over and rolled back (testnet upgrade).
	Launcher bool
}

// Up creates an N-node testnet in opts.Dir, starts every node as a
// detached process and waits until each is ready and has a peer. If a node
// fails to come up, Up stops the nodes it started and keeps the files for
// inspection.
func Up(ctx context.Context, opts UpOptions) (*Manifest, error) {
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	if opts.N < 1 || opts.N > MaxNodes {
		return nil, fmt.Errorf("testnet: -n %d: want 1 to %d nodes", opts.N, MaxNodes)
	}
	if opts.Dir == "" {
		return nil, errors.New("testnet: no directory given")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	binary, err := resolveBinary(opts.Binary, "")
	if err != nil {
		return nil, err
	}
	if err := checkFreeDir(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("testnet: creating %s: %w", dir, err)
	}

	m, err := create(dir, opts.N, binary, opts.Launcher, log)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "network %s (%s), threshold %d of %d, admin node-1\n", m.Name, m.NetworkID, opts.N/2+1, opts.N)

	all := make([]int, m.N)
	for i := range all {
		all[i] = i + 1
	}
	if err := startAndWait(ctx, dir, m, all, binary, opts.ReadyTimeout, log); err != nil {
		terminate(dir, m, io.Discard)
		return nil, fmt.Errorf("%w (nodes stopped; files kept in %s)", err, dir)
	}
	fmt.Fprintf(log, "testnet is up: %d nodes in %s\n", m.N, dir)
	return m, nil
}

// checkFreeDir refuses a directory that holds a testnet or anything else.
func checkFreeDir(dir string) error {
	if m, err := ReadManifest(dir); err == nil {
		for _, n := range m.Nodes {
			if pid, _ := readPID(n.Home); alive(pid, n.Home) {
				return fmt.Errorf("%w in %s (see `aura-node testnet status --dir %s`; stop it with `aura-node testnet down --dir %s`)", ErrRunning, dir, dir, dir)
			}
		}
		return fmt.Errorf("testnet: %s already holds a stopped testnet (start it with `aura-node testnet start --dir %s`, or remove it with `aura-node testnet down --purge --dir %s`)", dir, dir, dir)
	} else if !errors.Is(err, ErrNoTestnet) {
		return err
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("testnet: %s is not empty and holds no testnet; choose another --dir", dir)
	}
	return nil
}

// create makes the node homes, the shared genesis and the manifest.
func create(dir string, n int, binary string, launcher bool, log io.Writer) (*Manifest, error) {
	tcp, err := PickPorts("tcp", n)
	if err != nil {
		return nil, err
	}
	udp, err := PickPorts("udp", n)
	if err != nil {
		return nil, err
	}
	m := &Manifest{Version: manifestVersion, Name: networkName, N: n, Binary: binary, Launcher: launcher}
	homes := make([]node.Home, n)
	cfgs := make([]node.Config, n)
	keys := make([]*node.Keys, n)
	members := make([]facts.Member, n)
	fmt.Fprintf(log, "creating %d node homes in %s\n", n, dir)
	for i := range n {
		info := NodeInfo{Index: i + 1, Home: filepath.Join(dir, fmt.Sprintf("node-%d", i+1)), TCPPort: tcp[i], QUICPort: udp[i]}
		cfg := node.DefaultConfig()
		cfg.ListenAddrs = info.ListenAddrs()
		cfg.APIAddr = "127.0.0.1:0"
		cfg.MDNS = false
		cfg.SyncInterval = node.Duration(5 * time.Second)
		// The testnet snapshots by itself once the journal tail reaches
		// this many facts (off by default elsewhere).
		cfg.Snapshot.AutoTailFacts = 10000
		h, k, err := node.CreateHome(info.Home, cfg)
		if err != nil {
			return nil, err
		}
		info.PeerID = k.PeerID().String()
		info.Authority = k.AuthorityID().String()
		homes[i], cfgs[i], keys[i] = h, cfg, k
		members[i] = k.Member(fmt.Sprintf("node-%d", i+1))
		m.Nodes = append(m.Nodes, info)
		fmt.Fprintf(log, "  node-%d  peer %s  authority %s  tcp %d  quic %d\n", i+1, info.PeerID, info.Authority, info.TCPPort, info.QUICPort)
	}
	raw, id, err := node.NewGenesis(keys[0].Authority, networkName, members, uint32(n/2+1), uint64(time.Now().UnixMilli()))
	if err != nil {
		return nil, fmt.Errorf("testnet: making genesis: %w", err)
	}
	m.NetworkID = id.String()
	for i, h := range homes {
		if _, err := h.WriteGenesis(raw); err != nil {
			return nil, err
		}
		cfg := cfgs[i]
		cfg.StaticPeers = nil
		for j, other := range m.Nodes {
			if j != i {
				cfg.StaticPeers = append(cfg.StaticPeers, other.P2PAddr())
			}
		}
		if err := h.SaveConfig(cfg); err != nil {
			return nil, err
		}
	}
	if err := WriteManifest(dir, m); err != nil {
		return nil, err
	}
	return m, nil
}

// resolveBinary picks the executable nodes run: the one asked for, else
// the manifest's if it still exists, else this process's own.
func resolveBinary(asked, fromManifest string) (string, error) {
	if asked != "" {
		abs, err := filepath.Abs(asked)
		if err != nil {
			return "", fmt.Errorf("testnet: %w", err)
		}
		if _, err := os.Stat(abs); err != nil {
			return "", fmt.Errorf("testnet: binary %s: %w", abs, err)
		}
		return abs, nil
	}
	if fromManifest != "" {
		if _, err := os.Stat(fromManifest); err == nil {
			return fromManifest, nil
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("testnet: finding the aura-node executable (pass --binary): %w", err)
	}
	return exe, nil
}

// startAndWait spawns the given nodes and waits for them to be ready.
func startAndWait(ctx context.Context, dir string, m *Manifest, idx []int, binary string, timeout time.Duration, log io.Writer) error {
	for _, i := range idx {
		n := m.Nodes[i-1]
		// A node killed hard leaves its api.addr behind; remove it so
		// readiness waits for the new process's address.
		os.Remove(filepath.Join(n.Home, node.APIAddrFile))
		pid, err := spawn(binary, n.Home, filepath.Join(n.Home, LogFile), m.Launcher)
		if err != nil {
			return err
		}
		if err := writePID(n.Home, pid); err != nil {
			return err
		}
		what := "node"
		if m.Launcher {
			what = "launcher"
		}
		fmt.Fprintf(log, "started node-%d (%s pid %d), log %s\n", i, what, pid, filepath.Join(n.Home, LogFile))
	}
	// A node needs a peer to count as ready, unless it has none to find.
	minPeers := 0
	if m.N > 1 {
		minPeers = 1
		if len(idx) < m.N && countRunning(m) == len(idx) {
			minPeers = 0 // every other node is down
		}
	}
	return waitReady(ctx, m, idx, minPeers, timeout, log)
}

func countRunning(m *Manifest) int {
	c := 0
	for _, n := range m.Nodes {
		if pid, _ := readPID(n.Home); alive(pid, n.Home) {
			c++
		}
	}
	return c
}

// waitReady polls the nodes until each answers /readyz with 200 and has at
// least minPeers peers, or the timeout passes.
func waitReady(ctx context.Context, m *Manifest, idx []int, minPeers int, timeout time.Duration, log io.Writer) error {
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	fmt.Fprintf(log, "waiting for %d node(s) to be ready (timeout %s)\n", len(idx), timeout)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	state := make(map[int]string, len(idx))
	for _, i := range idx {
		state[i] = "starting"
	}
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		for _, i := range idx {
			if state[i] == "ready" {
				continue
			}
			n := m.Nodes[i-1]
			st, err := probe(ctx, n, minPeers)
			if err != nil {
				return err
			}
			state[i] = st
			if st == "ready" {
				fmt.Fprintf(log, "  node-%d ready\n", i)
			}
		}
		pending := 0
		for _, st := range state {
			if st != "ready" {
				pending++
			}
		}
		if pending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				var parts []string
				for _, i := range idx {
					if state[i] != "ready" {
						parts = append(parts, fmt.Sprintf("node-%d: %s (log %s)", i, state[i], filepath.Join(m.Nodes[i-1].Home, LogFile)))
					}
				}
				return fmt.Errorf("%w after %s: %s", ErrNotReady, timeout, strings.Join(parts, "; "))
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// probe returns "ready" or what the node is still waiting for. It fails
// only when the node process has died.
func probe(ctx context.Context, n NodeInfo, minPeers int) (string, error) {
	pid, _ := readPID(n.Home)
	if !alive(pid, n.Home) {
		return "", fmt.Errorf("testnet: node-%d exited during startup: %s (full log %s)", n.Index, lastLogLine(n.Home), filepath.Join(n.Home, LogFile))
	}
	h := node.Home{Dir: n.Home}
	addr, err := h.LoadAPIAddr()
	if err != nil {
		return "no api.addr yet", nil
	}
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(pctx, http.MethodGet, "http://"+addr+"/readyz", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "api not answering", nil
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("readyz %d", resp.StatusCode), nil
	}
	if minPeers == 0 {
		return "ready", nil
	}
	token, err := h.LoadToken()
	if err != nil {
		return "", err
	}
	st, err := api.NewClient(addr, token).Status(pctx)
	if err != nil {
		return "status: " + err.Error(), nil
	}
	if len(st.Peers) < minPeers {
		return fmt.Sprintf("%d peers", len(st.Peers)), nil
	}
	return "ready", nil
}

// lastLogLine returns the last non-empty line of a node's log.
func lastLogLine(home string) string {
	b, err := os.ReadFile(filepath.Join(home, LogFile))
	if err != nil {
		return "no log"
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) == 0 || lines[len(lines)-1] == "" {
		return "empty log"
	}
	return strings.TrimSpace(lines[len(lines)-1])
}

func writePID(home string, pid int) error {
	if err := os.WriteFile(filepath.Join(home, PIDFile), []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return fmt.Errorf("testnet: writing pid file: %w", err)
	}
	return nil
}

func readPID(home string) (int, error) {
	b, err := os.ReadFile(filepath.Join(home, PIDFile))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(string(bytes.TrimSpace(b)))
}

// NodeStatus is one row of Status.
type NodeStatus struct {
	Index       int    `json:"index"`
	Home        string `json:"home"`
	PID         int    `json:"pid,omitempty"`
	Running     bool   `json:"running"`
	PeerID      string `json:"peer_id"`
	APIAddr     string `json:"api_addr,omitempty"`
	Epoch       uint64 `json:"epoch"`
	Facts       uint64 `json:"facts"`
	Peers       int    `json:"peers"`
	StateDigest string `json:"state_digest,omitempty"`
	// Error says why a running node's status could not be read.
	Error string `json:"error,omitempty"`
}

// Report is the status of a whole testnet.
type Report struct {
	Dir       string       `json:"dir"`
	NetworkID string       `json:"network_id"`
	Nodes     []NodeStatus `json:"nodes"`
}

// Status asks every running node for its status, in parallel.
func Status(ctx context.Context, dir string) (*Report, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	rep := &Report{Dir: dir, NetworkID: m.NetworkID, Nodes: make([]NodeStatus, m.N)}
	var wg sync.WaitGroup
	for i, n := range m.Nodes {
		wg.Go(func() { rep.Nodes[i] = nodeStatus(ctx, n) })
	}
	wg.Wait()
	return rep, nil
}

func nodeStatus(ctx context.Context, n NodeInfo) NodeStatus {
	ns := NodeStatus{Index: n.Index, Home: n.Home, PeerID: n.PeerID}
	pid, _ := readPID(n.Home)
	if !alive(pid, n.Home) {
		return ns
	}
	ns.PID, ns.Running = pid, true
	c, addr, err := Client(n.Home)
	if err != nil {
		ns.Error = err.Error()
		return ns
	}
	ns.APIAddr = addr
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		ns.Error = err.Error()
		return ns
	}
	ns.Epoch, ns.Facts, ns.Peers, ns.StateDigest = st.Epoch, st.Facts, len(st.Peers), st.StateDigest
	return ns
}

// Client returns an API client for the node running in home, and its
// API address.
func Client(home string) (*api.Client, string, error) {
	h := node.Home{Dir: home}
	token, err := h.LoadToken()
	if err != nil {
		return nil, "", err
	}
	addr, err := h.LoadAPIAddr()
	if err != nil {
		return nil, "", err
	}
	return api.NewClient(addr, token), addr, nil
}

// Stop kills node i with SIGKILL, as a crash test, waits for the process
// to exit and removes the stale api.addr. Stopping a node that is down
// is not an error.
func Stop(ctx context.Context, dir string, i int, log io.Writer) error {
	if log == nil {
		log = io.Discard
	}
	m, err := ReadManifest(dir)
	if err != nil {
		return err
	}
	n, err := m.Node(i)
	if err != nil {
		return err
	}
	pid, _ := readPID(n.Home)
	if !alive(pid, n.Home) {
		fmt.Fprintf(log, "node-%d is already down\n", i)
		cleanup(n.Home)
		return nil
	}
	if err := kill(pid, sigKill); err != nil {
		return err
	}
	if !waitExit(ctx, []NodeInfo{n}, stopTimeout) {
		return fmt.Errorf("testnet: node-%d (pid %d) did not exit after SIGKILL", i, pid)
	}
	cleanup(n.Home)
	fmt.Fprintf(log, "node-%d killed (SIGKILL, pid %d)\n", i, pid)
	return nil
}

// cleanup removes the files a dead node leaves behind.
func cleanup(home string) {
	os.Remove(filepath.Join(home, node.APIAddrFile))
	os.Remove(filepath.Join(home, PIDFile))
}

// waitExit polls until none of the nodes runs, or the timeout passes.
func waitExit(ctx context.Context, nodes []NodeInfo, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		up := false
		for _, n := range nodes {
			if pid, _ := readPID(n.Home); alive(pid, n.Home) {
				up = true
				break
			}
		}
		if !up {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(pollInterval)
	}
}

// StartOptions configure Start.
type StartOptions struct {
	// Dir is the testnet directory.
	Dir string
	// Nodes are the node indices to start; empty means every node that is down.
	Nodes []int
	// Binary overrides the manifest's executable.
	Binary string
	// Log receives progress lines; default io.Discard.
	Log io.Writer
	// ReadyTimeout bounds the wait for readiness; default DefaultReadyTimeout.
	ReadyTimeout time.Duration
}

// Start restarts stopped nodes the way Up started them and waits until
// they are ready. Nodes that already run are left alone.
func Start(ctx context.Context, opts StartOptions) error {
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	m, err := ReadManifest(dir)
	if err != nil {
		return err
	}
	want := opts.Nodes
	if len(want) == 0 {
		for _, n := range m.Nodes {
			want = append(want, n.Index)
		}
	}
	var idx []int
	for _, i := range want {
		n, err := m.Node(i)
		if err != nil {
			return err
		}
		if pid, _ := readPID(n.Home); alive(pid, n.Home) {
			fmt.Fprintf(log, "node-%d is already running (pid %d)\n", i, pid)
			continue
		}
		idx = append(idx, i)
	}
	if len(idx) == 0 {
		return nil
	}
	binary, err := resolveBinary(opts.Binary, m.Binary)
	if err != nil {
		return err
	}
	return startAndWait(ctx, dir, m, idx, binary, opts.ReadyTimeout, log)
}

// DownOptions configure Down.
type DownOptions struct {
	// Dir is the testnet directory.
	Dir string
	// Purge removes the directory once every node has stopped.
	Purge bool
	// Log receives progress lines; default io.Discard.
	Log io.Writer
}

// Down stops every node: SIGTERM, up to 10s for a clean exit, then
// SIGKILL. The files stay unless Purge is set.
func Down(ctx context.Context, opts DownOptions) error {
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	m, err := ReadManifest(dir)
	if err != nil {
		return err
	}
	if err := terminate(dir, m, log); err != nil {
		return err
	}
	if opts.Purge {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("testnet: removing %s: %w", dir, err)
		}
		fmt.Fprintf(log, "testnet stopped and %s removed\n", dir)
		return nil
	}
	fmt.Fprintf(log, "testnet stopped; files kept in %s (logs: %s)\n", dir, filepath.Join(dir, "node-*", LogFile))
	return nil
}

// terminate stops every running node of m: SIGTERM, then SIGKILL.
func terminate(dir string, m *Manifest, log io.Writer) error {
	var running []NodeInfo
	for _, n := range m.Nodes {
		pid, _ := readPID(n.Home)
		if !alive(pid, n.Home) {
			cleanup(n.Home)
			continue
		}
		if err := kill(pid, sigTerm); err != nil {
			return err
		}
		fmt.Fprintf(log, "stopping node-%d (SIGTERM, pid %d)\n", n.Index, pid)
		running = append(running, n)
	}
	// Stopping must finish even if the caller's context is cancelled:
	// the point is to not leave processes behind.
	ctx := context.Background()
	if !waitExit(ctx, running, stopTimeout) {
		for _, n := range running {
			if pid, _ := readPID(n.Home); alive(pid, n.Home) {
				fmt.Fprintf(log, "node-%d did not exit in %s; sending SIGKILL\n", n.Index, stopTimeout)
				kill(pid, sigKill)
			}
		}
		if !waitExit(ctx, running, stopTimeout) {
			return fmt.Errorf("testnet: some nodes in %s did not exit after SIGKILL", dir)
		}
	}
	for _, n := range running {
		cleanup(n.Home)
	}
	return nil
}
