package testnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aura-node/aura-node/api"
)

// DemoOptions configure Demo.
type DemoOptions struct {
	// Dir is the testnet directory; empty means a new temporary one,
	// removed afterwards unless Keep is set or the demo fails.
	Dir string
	// N is the number of nodes; default 3, at least 2.
	N int
	// Keep leaves the testnet running and prints commands to explore it.
	Keep bool
	// Binary is the aura-node executable; default os.Executable().
	Binary string
	// Out receives the story; default io.Discard.
	Out io.Writer
	// ConvergeTimeout bounds each wait for agreement; default 20s.
	ConvergeTimeout time.Duration
}

// demoData is what the demo writes on node 1.
var demoData = []struct{ key, value string }{
	{"greeting", "hello from node-1"},
	{"color", "blue"},
	{"answer", "42"},
	{"motto", "gossip spreads it, anti-entropy repairs it"},
}

const (
	demoNamespace = "default"
	demoCacheKey  = "user:42"
)

// Demo starts a testnet, writes data on node 1, waits until every node
// holds the same values and state digest, shows a cache invalidation made
// on node 2 taking effect on the last node, and stops the testnet (unless
// Keep). It fails with ErrNoConvergence if the nodes do not agree in time.
func Demo(ctx context.Context, opts DemoOptions) (err error) {
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	if opts.N == 0 {
		opts.N = 3
	}
	if opts.N < 2 {
		return fmt.Errorf("testnet: the demo needs at least 2 nodes, got -n %d", opts.N)
	}
	if opts.ConvergeTimeout <= 0 {
		opts.ConvergeTimeout = 20 * time.Second
	}
	temp := opts.Dir == ""
	dir := opts.Dir
	if temp {
		if dir, err = os.MkdirTemp("", "aura-demo-"); err != nil {
			return fmt.Errorf("testnet: %w", err)
		}
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	binary, err := resolveBinary(opts.Binary, "")
	if err != nil {
		return err
	}

	fmt.Fprintf(out, "== 1. start a %d-node testnet\n", opts.N)
	m, err := Up(ctx, UpOptions{Dir: dir, N: opts.N, Binary: binary, Log: out})
	if err != nil {
		return err
	}
	defer func() {
		if opts.Keep && err == nil {
			printExplore(out, dir, binary, m)
			return
		}
		fmt.Fprintf(out, "\n== stopping the testnet\n")
		purge := temp && err == nil
		if derr := Down(context.WithoutCancel(ctx), DownOptions{Dir: dir, Purge: purge, Log: out}); derr != nil && err == nil {
			err = derr
		}
	}()

	clients := make([]*api.Client, m.N)
	for i, n := range m.Nodes {
		if clients[i], _, err = Client(n.Home); err != nil {
			return err
		}
	}

	// Up waits for one peer per node; gossip reaches everyone at once
	// only when every node is connected to every other one.
	if err := waitMesh(ctx, clients, opts.ConvergeTimeout); err != nil {
		return err
	}

	fmt.Fprintf(out, "\n== 2. write %d keys on node-1\n", len(demoData))
	for _, d := range demoData {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		res, err := clients[0].PutData(wctx, demoNamespace, d.key, []byte(d.value))
		cancel()
		if err != nil {
			return fmt.Errorf("testnet: node-1: data put %s: %w", d.key, err)
		}
		fmt.Fprintf(out, "node-1: data put %s %q -> fact %s\n", d.key, d.value, res.ID)
	}

	fmt.Fprintf(out, "\n== 3. wait until every node holds the same data (timeout %s)\n", opts.ConvergeTimeout)
	start := time.Now()
	rows, ok := converge(ctx, m, clients, opts.ConvergeTimeout)
	printConvergence(out, rows)
	if !ok {
		if err := ctx.Err(); err != nil {
			return err
		}
		return fmt.Errorf("%w within %s: see the table above; logs in %s", ErrNoConvergence, opts.ConvergeTimeout, filepath.Join(dir, "node-*", LogFile))
	}
	fmt.Fprintf(out, "all %d nodes agree on %d keys and state digest %s (%.1fs)\n",
		m.N, len(demoData), Short(rows[0].digest, 16), time.Since(start).Seconds())

	inv, chk := 2, m.N
	fmt.Fprintf(out, "\n== 4. invalidate a cache key on node-%d, check it on node-%d\n", inv, chk)
	if err := demoCache(ctx, out, clients[inv-1], clients[chk-1], inv, chk, opts.ConvergeTimeout); err != nil {
		return err
	}
	return nil
}

// waitMesh polls until every node has every other node as a peer.
func waitMesh(ctx context.Context, clients []*api.Client, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		var missing []string
		for i, c := range clients {
			st, err := c.Status(ctx)
			switch {
			case err != nil:
				missing = append(missing, fmt.Sprintf("node-%d: %v", i+1, err))
			case len(st.Peers) < len(clients)-1:
				missing = append(missing, fmt.Sprintf("node-%d has %d of %d peers", i+1, len(st.Peers), len(clients)-1))
			}
		}
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: nodes not fully connected within %s: %s", ErrNoConvergence, timeout, strings.Join(missing, "; "))
		case <-tick.C:
		}
	}
}

// row is one node's view during convergence.
type row struct {
	node   int
	peer   string
	values []string
	facts  uint64
	digest string
	err    string
}

// converge polls every node until all return node-1's digest and the
// demo's values, or the timeout passes. It returns the last observation.
func converge(ctx context.Context, m *Manifest, clients []*api.Client, timeout time.Duration) ([]row, bool) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		rows := make([]row, len(clients))
		agree := true
		for i, c := range clients {
			rows[i] = observe(ctx, m.Nodes[i], c)
			r := rows[i]
			if r.err != "" || r.digest == "" || r.digest != rows[0].digest {
				agree = false
			}
			for k, d := range demoData {
				if r.values[k] != d.value {
					agree = false
				}
			}
		}
		if agree {
			return rows, true
		}
		select {
		case <-ctx.Done():
			return rows, false
		case <-tick.C:
		}
	}
}

func observe(ctx context.Context, n NodeInfo, c *api.Client) row {
	r := row{node: n.Index, peer: n.PeerID, values: make([]string, len(demoData))}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		r.err = err.Error()
		return r
	}
	r.facts, r.digest = st.Facts, st.StateDigest
	for k, d := range demoData {
		v, err := c.GetData(ctx, demoNamespace, d.key)
		var ae *api.APIError
		switch {
		case errors.As(err, &ae) && ae.Code == 404:
			r.values[k] = "(missing)"
		case err != nil:
			r.err = err.Error()
			return r
		default:
			r.values[k] = string(v.Value)
		}
	}
	return r
}

func printConvergence(out io.Writer, rows []row) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "NODE\tPEER\t%s\tKEYS OK\tFACTS\tSTATE DIGEST\n", demoData[0].key)
	for _, r := range rows {
		if r.err != "" {
			fmt.Fprintf(tw, "node-%d\t%s\t-\t-\t-\terror: %s\n", r.node, Short(r.peer, -8), r.err)
			continue
		}
		okKeys := 0
		for k, d := range demoData {
			if r.values[k] == d.value {
				okKeys++
			}
		}
		fmt.Fprintf(tw, "node-%d\t%s\t%s\t%d/%d\t%d\t%s\n", r.node, Short(r.peer, -8), strconv.Quote(r.values[0]), okKeys, len(demoData), r.facts, Short(r.digest, 16))
	}
	tw.Flush()
}

// demoCache stores a cache entry on the checking node, invalidates its key
// on the invalidating node and waits until both report the same floor and
// the entry as invalid.
func demoCache(ctx context.Context, out io.Writer, invC, chkC *api.Client, inv, chk int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	entry, err := chkC.CacheSet(ctx, demoCacheKey, []byte("cached profile of user 42"))
	if err != nil {
		return fmt.Errorf("testnet: node-%d: cache set: %w", chk, err)
	}
	fmt.Fprintf(out, "node-%d: cache set %s (stored at epoch %d, valid=%t)\n", chk, demoCacheKey, entry.Epoch, entry.Valid)
	res, err := invC.Invalidate(ctx, api.InvalidateRequest{Keys: []string{demoCacheKey}})
	if err != nil {
		return fmt.Errorf("testnet: node-%d: cache invalidate: %w", inv, err)
	}
	fmt.Fprintf(out, "node-%d: cache invalidate %s -> fact %s\n", inv, demoCacheKey, res.ID)
	epoch := entry.Epoch
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		a, errA := invC.CacheCheck(ctx, demoCacheKey, &epoch)
		b, errB := chkC.CacheCheck(ctx, demoCacheKey, &epoch)
		if errA == nil && errB == nil && a.Floor > epoch && a.Floor == b.Floor && !a.Valid && !b.Valid {
			fmt.Fprintf(out, "node-%d: cache check %s -> %s\n", inv, demoCacheKey, CheckLine(a))
			fmt.Fprintf(out, "node-%d: cache check %s -> %s\n", chk, demoCacheKey, CheckLine(b))
			if g, err := chkC.CacheGet(ctx, demoCacheKey); err == nil {
				text := CacheGetText(g)
				if !g.Present {
					text = "miss (the invalidation dropped the entry)"
				}
				fmt.Fprintf(out, "node-%d: cache get %s -> %s\n", chk, demoCacheKey, text)
			}
			fmt.Fprintf(out, "node-%d and node-%d agree: the entry cached at epoch %d is invalid below floor %d\n", inv, chk, epoch, a.Floor)
			return nil
		}
		select {
		case <-ctx.Done():
			var last bytes.Buffer
			if errA == nil && errB == nil {
				fmt.Fprintf(&last, "node-%d %s, node-%d %s", inv, CheckLine(a), chk, CheckLine(b))
			} else {
				fmt.Fprintf(&last, "node-%d: %v, node-%d: %v", inv, errA, chk, errB)
			}
			return fmt.Errorf("%w: cache invalidation did not reach node-%d within %s (last: %s)", ErrNoConvergence, chk, timeout, last.String())
		case <-tick.C:
		}
	}
}

// CheckLine renders a cache check the way `aura-node cache check` prints it.
func CheckLine(c *api.CacheCheck) string {
	return fmt.Sprintf("key=%s floor=%d epoch=%d valid=%t", c.Key, c.Floor, c.Epoch, c.Valid)
}

// CacheGetText renders a cache lookup the way `aura-node cache get` prints
// it: the value, or why it is a miss.
func CacheGetText(e *api.CacheEntry) string {
	switch {
	case !e.Present:
		return "miss (no entry)"
	case !e.Valid:
		return fmt.Sprintf("miss (invalidated: stored at epoch %d, floor %d)", e.Epoch, e.Floor)
	default:
		return string(e.Value)
	}
}

// printExplore tells the user how to poke at a kept testnet.
func printExplore(out io.Writer, dir, binary string, m *Manifest) {
	cli := "aura-node"
	if strings.Contains(binary, "go-build") {
		// A `go run` build is deleted when the command exits; the
		// running nodes keep working, but restarting one needs a binary.
		cli = "go run ./cmd/aura-node"
		fmt.Fprintf(out, "\nnote: the nodes run a temporary `go run` build; to restart stopped nodes later, build one (go build -o aura-node ./cmd/aura-node) and pass --binary ./aura-node to `testnet start`\n")
	}
	last := m.N
	fmt.Fprintf(out, "\nThe testnet keeps running in %s. Try:\n", dir)
	for _, c := range []string{
		fmt.Sprintf("%s --home %s data get greeting", cli, filepath.Join(dir, "node-2")),
		fmt.Sprintf("%s --home %s status", cli, filepath.Join(dir, fmt.Sprintf("node-%d", last))),
		fmt.Sprintf("%s --home %s facts list", cli, filepath.Join(dir, "node-1")),
		fmt.Sprintf("%s --home %s cache check %s", cli, filepath.Join(dir, fmt.Sprintf("node-%d", last)), demoCacheKey),
		fmt.Sprintf("%s testnet status --dir %s", cli, dir),
		fmt.Sprintf("%s testnet stop 2 --dir %s        # SIGKILL node-2", cli, dir),
		fmt.Sprintf("%s --home %s data put after-crash yes", cli, filepath.Join(dir, "node-1")),
		fmt.Sprintf("%s testnet start 2 --dir %s       # node-2 catches up", cli, dir),
		fmt.Sprintf("%s testnet down --purge --dir %s", cli, dir),
	} {
		fmt.Fprintf(out, "  %s\n", c)
	}
}

// Short abbreviates s for tables: n leading characters, or -n trailing ones.
func Short(s string, n int) string {
	switch {
	case n > 0 && len(s) > n:
		return s[:n] + "…"
	case n < 0 && len(s) > -n:
		return "…" + s[len(s)+n:]
	}
	return s
}
