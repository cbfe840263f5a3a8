package testnet

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/aura-node/aura-node/api"
)

// ParseGroups parses partition groups written as "1,2 3,4,5": every node
// of the testnet must be in exactly one group, and there must be at least
// two groups.
func ParseGroups(args []string, n int) ([][]int, error) {
	seen := map[int]bool{}
	var groups [][]int
	for _, a := range args {
		var g []int
		for _, f := range strings.Split(a, ",") {
			i, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || i < 1 || i > n {
				return nil, fmt.Errorf("testnet: group %q: %q is not a node number from 1 to %d", a, f, n)
			}
			if seen[i] {
				return nil, fmt.Errorf("testnet: node %d is in two groups", i)
			}
			seen[i] = true
			g = append(g, i)
		}
		groups = append(groups, g)
	}
	if len(groups) < 2 {
		return nil, fmt.Errorf("testnet: a partition needs at least two groups, like `1,2 3,4,5`")
	}
	var missing []string
	for i := 1; i <= n; i++ {
		if !seen[i] {
			missing = append(missing, strconv.Itoa(i))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("testnet: nodes %s are in no group; put every node in one group", strings.Join(missing, ","))
	}
	return groups, nil
}

// Partition cuts the testnet into groups: every node blocks (disconnects
// and refuses) the nodes of the other groups, through its admin API. Nodes
// keep running and writing; Heal reconnects them.
func Partition(ctx context.Context, dir string, groups [][]int, log io.Writer) error {
	if log == nil {
		log = io.Discard
	}
	m, err := ReadManifest(dir)
	if err != nil {
		return err
	}
	groupOf := map[int]int{}
	for g, members := range groups {
		for _, i := range members {
			groupOf[i] = g
		}
	}
	for _, n := range m.Nodes {
		var others []string
		for _, o := range m.Nodes {
			if groupOf[o.Index] != groupOf[n.Index] {
				others = append(others, o.PeerID)
			}
		}
		c, _, err := Client(n.Home)
		if err != nil {
			return fmt.Errorf("testnet: node-%d: %w", n.Index, err)
		}
		if _, err := c.BlockPeers(ctx, api.BlockRequest{Peers: others, Block: true, Clear: true}); err != nil {
			return fmt.Errorf("testnet: node-%d: %w", n.Index, err)
		}
	}
	var parts []string
	for _, g := range groups {
		sort.Ints(g)
		var s []string
		for _, i := range g {
			s = append(s, strconv.Itoa(i))
		}
		parts = append(parts, "{"+strings.Join(s, ",")+"}")
	}
	fmt.Fprintf(log, "partitioned: %s (heal with `aura-node testnet heal`)\n", strings.Join(parts, " | "))
	return nil
}

// Heal lifts every block; nodes redial their static peers and run
// anti-entropy on each new connection.
func Heal(ctx context.Context, dir string, log io.Writer) error {
	if log == nil {
		log = io.Discard
	}
	m, err := ReadManifest(dir)
	if err != nil {
		return err
	}
	for _, n := range m.Nodes {
		c, _, err := Client(n.Home)
		if err != nil {
			return fmt.Errorf("testnet: node-%d: %w", n.Index, err)
		}
		if _, err := c.BlockPeers(ctx, api.BlockRequest{Clear: true}); err != nil {
			return fmt.Errorf("testnet: node-%d: %w", n.Index, err)
		}
	}
	fmt.Fprintln(log, "healed: every node may reconnect; anti-entropy runs on each new connection")
	return nil
}
