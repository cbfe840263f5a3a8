// Package kubo runs a kubo (go-ipfs) daemon from a binary, for the bitswap
// interop test and the artifacts benchmark: an ordinary IPFS node that
// fetches from an aura-node by root CID.
//
// The daemon is confined: its own IPFS_PATH, kubo's "test" profile
// (loopback listen addresses, no bootstrap peers, no mDNS, AutoConf and
// AutoTLS off), routing "none" (no DHT; bitswap asks the peers it is
// connected to), telemetry off. It imports with IPIP-499's unixfs-v1-2025
// profile, the layout of artifacts.Import, so `ipfs add` computes the same
// root CIDs as aura-node.
//
// The binary comes from the AURA_KUBO environment variable (see .ci/run,
// which builds kubo v0.43.0 into a cache directory); tests skip when it is
// unset.
package kubo

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// EnvVar names the environment variable holding the kubo binary's path.
const EnvVar = "AURA_KUBO"

// Binary returns the kubo binary from AURA_KUBO, or "" when unset.
func Binary() string { return os.Getenv(EnvVar) }

// Node is a running kubo daemon.
type Node struct {
	bin  string
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
	// waitErr is the daemon's exit status, set before done closes.
	waitErr error

	mu     sync.Mutex
	output bytes.Buffer // the daemon's output, for error messages
}

// Start initialises an IPFS repository in dir (which must be empty or
// absent) and starts the daemon. It returns once the daemon is ready.
func Start(ctx context.Context, bin, dir string) (*Node, error) {
	if bin == "" {
		return nil, errors.New("kubo: no binary (set " + EnvVar + ")")
	}
	n := &Node{bin: bin, dir: dir, done: make(chan struct{})}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	for _, args := range [][]string{
		{"init", "--empty-repo", "--profile", "test,unixfs-v1-2025"},
		{"config", "Routing.Type", "none"},
		{"config", "--json", "Swarm.Transports.Network.QUIC", "false"},
		{"config", "--json", "Swarm.Transports.Network.WebTransport", "false"},
		{"config", "--json", "Swarm.Transports.Network.WebRTCDirect", "false"},
		{"config", "--json", "Swarm.Transports.Network.Websocket", "false"},
	} {
		if _, err := n.Run(ctx, args...); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(bin, "daemon", "--enable-gc=false")
	cmd.Env = n.env()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = &lockedWriter{n: n}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("kubo: starting the daemon: %w", err)
	}
	n.cmd = cmd
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			n.mu.Lock()
			n.output.WriteString(line + "\n")
			n.mu.Unlock()
			if !signalled && strings.Contains(line, "Daemon is ready") {
				signalled = true
				close(ready)
			}
		}
		io.Copy(io.Discard, stdout)
		n.waitErr = cmd.Wait()
		close(n.done)
	}()
	select {
	case <-ready:
		return n, nil
	case <-n.done:
		return nil, fmt.Errorf("kubo: the daemon exited before it was ready (%v): %s", n.waitErr, n.Output())
	case <-ctx.Done():
		n.Close()
		return nil, fmt.Errorf("kubo: waiting for the daemon: %w", ctx.Err())
	case <-time.After(2 * time.Minute):
		n.Close()
		return nil, fmt.Errorf("kubo: the daemon was not ready after 2 minutes: %s", n.Output())
	}
}

type lockedWriter struct{ n *Node }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.n.mu.Lock()
	defer w.n.mu.Unlock()
	return w.n.output.Write(p)
}

// Output returns what the daemon printed so far.
func (n *Node) Output() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.output.String()
}

func (n *Node) env() []string {
	env := os.Environ()
	return append(env, "IPFS_PATH="+n.dir, "IPFS_TELEMETRY=off", "GOLOG_LOG_LEVEL=error", "IPFS_LOGGING=error")
}

// Run runs an ipfs command against the repository (and the daemon, when
// it runs) and returns its standard output.
func (n *Node) Run(ctx context.Context, args ...string) ([]byte, error) {
	return n.RunTo(ctx, nil, args...)
}

// RunTo runs an ipfs command writing its standard output to w (or
// returning it when w is nil).
func (n *Node) RunTo(ctx context.Context, w io.Writer, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, n.bin, args...)
	cmd.Env = n.env()
	var out, errb bytes.Buffer
	cmd.Stdout = &out
	if w != nil {
		cmd.Stdout = w
	}
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("kubo: ipfs %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

// Connect connects the daemon to a peer (a multiaddr ending in /p2p/ID).
func (n *Node) Connect(ctx context.Context, addr string) error {
	_, err := n.Run(ctx, "swarm", "connect", addr)
	return err
}

// Cat writes the file under a root CID to w, fetching it over bitswap.
func (n *Node) Cat(ctx context.Context, root string, w io.Writer) error {
	_, err := n.RunTo(ctx, w, "cat", root)
	return err
}

// AddOnlyHash returns the root CID `ipfs add` computes for a file, without
// storing it.
func (n *Node) AddOnlyHash(ctx context.Context, path string) (string, error) {
	out, err := n.Run(ctx, "add", "--only-hash", "--quieter", path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// Close stops the daemon and waits for it.
func (n *Node) Close() error {
	if n.cmd == nil || n.cmd.Process == nil {
		return nil
	}
	n.cmd.Process.Signal(os.Interrupt)
	select {
	case <-n.done:
	case <-time.After(15 * time.Second):
		n.cmd.Process.Kill()
		<-n.done
	}
	return nil
}
