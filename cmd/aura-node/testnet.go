package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/aura-node/aura-node/testnet"
)

// defaultTestnetDir is $AURA_TESTNET, else ~/.aura-testnet.
func defaultTestnetDir() string {
	if d := os.Getenv("AURA_TESTNET"); d != "" {
		return d
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".aura-testnet")
	}
	return "aura-testnet"
}

func testnetCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "testnet",
		Short: "Run a local multi-node network of real processes",
		Long: `Run a local network of aura-node processes on 127.0.0.1 in one directory
(--dir, default $AURA_TESTNET or ~/.aura-testnet): DIR/node-<i> is node i's
home, with its log in node.log. Nodes are detached processes: they keep
running after the command exits, until ` + "`testnet down`" + `.

Every node is a roster member; node 1 is the admin; the threshold is a
simple majority. Talk to a node with --home DIR/node-<i>.`,
		Example: `  aura-node testnet demo
  aura-node testnet up -n 5
  aura-node --home ~/.aura-testnet/node-3 data get greeting
  aura-node testnet stop 2 && aura-node testnet start 2
  aura-node testnet down --purge`,
		Args: noArgs,
	}
	cmd.PersistentFlags().StringVar(&dir, "dir", defaultTestnetDir(), "testnet directory (env AURA_TESTNET)")

	var upN int
	var upBinary string
	var upLauncher bool
	up := &cobra.Command{
		Use:   "up",
		Short: "Create and start an N-node testnet",
		Long: `Create N node homes in --dir with one shared genesis, wire them to each
other as static peers, start every node as a detached process and wait
(up to 30s) until each answers /readyz and has a peer. --dir must not
exist or be empty.

Each node runs under its own launcher (` + "`aura-node launcher`" + `), which runs the
node from the home's current release and switches releases safely for
upgrades; --launcher=false runs ` + "`aura-node run`" + ` directly.`,
		Example: `  aura-node testnet up
  aura-node testnet up -n 5 --dir /tmp/tn
  aura-node testnet up --binary ./aura-node`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := testnet.Up(cmd.Context(), testnet.UpOptions{Dir: dir, N: upN, Binary: upBinary, Launcher: upLauncher, Log: cmd.OutOrStdout()})
			if err != nil {
				return err
			}
			abs, _ := filepath.Abs(dir)
			fmt.Fprintf(cmd.OutOrStdout(), "try: aura-node --home %s status\n", filepath.Join(abs, "node-1"))
			return nil
		},
	}
	up.Flags().IntVarP(&upN, "nodes", "n", 3, "number of nodes")
	up.Flags().StringVar(&upBinary, "binary", "", "aura-node executable the nodes run (default: this one)")
	up.Flags().BoolVar(&upLauncher, "launcher", true, "run each node under `aura-node launcher` (needed for testnet upgrade)")

	var statusJSON bool
	status := &cobra.Command{
		Use:   "status",
		Short: "Show every node: process, epoch, facts, peers, state digest",
		Long:  "Show each node of the testnet: whether its process runs, its peer ID, epoch, journal size, peer count and state digest. Nodes that run the same facts show the same digest.",
		Example: `  aura-node testnet status
  aura-node testnet status --json | jq '.nodes[].state_digest'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := testnet.Status(cmd.Context(), dir)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if statusJSON {
				return printJSON(out, rep)
			}
			fmt.Fprintf(out, "testnet %s  network %s\n", rep.Dir, rep.NetworkID)
			tw := newTable(out)
			fmt.Fprintln(tw, "NODE\tPID\tSTATE\tPEER\tEPOCH\tFACTS\tPEERS\tSTATE DIGEST")
			for _, n := range rep.Nodes {
				switch {
				case !n.Running:
					fmt.Fprintf(tw, "node-%d\t-\tdown\t%s\t-\t-\t-\t-\n", n.Index, shortID(n.PeerID))
				case n.Error != "":
					fmt.Fprintf(tw, "node-%d\t%d\terror\t%s\t-\t-\t-\t%s\n", n.Index, n.PID, shortID(n.PeerID), errorLine(fmt.Errorf("%s", n.Error)))
				default:
					fmt.Fprintf(tw, "node-%d\t%d\tup\t%s\t%d\t%d\t%d\t%s\n", n.Index, n.PID, shortID(n.PeerID), n.Epoch, n.Facts, n.Peers, testnet.Short(n.StateDigest, 16))
				}
			}
			return tw.Flush()
		},
	}
	jsonFlag(status, &statusJSON)

	stop := &cobra.Command{
		Use:   "stop NODE",
		Short: "Kill one node with SIGKILL (crash test)",
		Long: `Kill node NODE (1 to N) with SIGKILL, as a crash would, and wait for the
process to exit. Its files stay; ` + "`testnet start NODE`" + ` restarts it and it
catches up with what it missed.`,
		Example: `  aura-node testnet stop 2
  aura-node --home ~/.aura-testnet/node-1 data put while-down yes
  aura-node testnet start 2`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			i, err := nodeIndex(args[0])
			if err != nil {
				return err
			}
			return testnet.Stop(cmd.Context(), dir, i, cmd.OutOrStdout())
		},
	}

	var startBinary string
	start := &cobra.Command{
		Use:   "start [NODE...]",
		Short: "Restart stopped nodes and wait until they are ready",
		Long:  "Restart the given nodes, or every node that is down, the way `testnet up` started them, and wait until each is ready.",
		Example: `  aura-node testnet start 2
  aura-node testnet start            # every node that is down`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var idx []int
			for _, s := range args {
				i, err := nodeIndex(s)
				if err != nil {
					return err
				}
				idx = append(idx, i)
			}
			return testnet.Start(cmd.Context(), testnet.StartOptions{Dir: dir, Nodes: idx, Binary: startBinary, Log: cmd.OutOrStdout()})
		},
	}
	start.Flags().StringVar(&startBinary, "binary", "", "aura-node executable to run (default: the one the testnet was made with, else this one)")

	var purge bool
	down := &cobra.Command{
		Use:   "down",
		Short: "Stop every node (SIGTERM, then SIGKILL after 10s)",
		Long:  "Stop every node of the testnet: SIGTERM, up to 10s to exit cleanly, then SIGKILL. The files stay (homes, journals, logs) unless --purge.",
		Example: `  aura-node testnet down
  aura-node testnet down --purge`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return testnet.Down(cmd.Context(), testnet.DownOptions{Dir: dir, Purge: purge, Log: cmd.OutOrStdout()})
		},
	}
	down.Flags().BoolVar(&purge, "purge", false, "remove the testnet directory after stopping")

	var demoN int
	var demoKeep bool
	var demoDir string
	demo := &cobra.Command{
		Use:   "demo",
		Short: "Start 3 nodes, write on one, watch all converge, stop",
		Long: `Run the whole story in one command: start a 3-node testnet in a temporary
directory (or --dir), write keys on node 1, wait (up to 20s) until every
node returns the same values and state digest, invalidate a cache key on
node 2 and check on node 3 that the invalidation arrived, then stop the
testnet. With --keep the testnet keeps running and the command prints what
to try next. Exits non-zero if the nodes do not converge.`,
		Example: `  go run ./cmd/aura-node testnet demo
  aura-node testnet demo --keep --dir /tmp/demo
  aura-node testnet demo -n 5`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return testnet.Demo(cmd.Context(), testnet.DemoOptions{Dir: demoDir, N: demoN, Keep: demoKeep, Out: cmd.OutOrStdout()})
		},
	}
	demo.Flags().IntVarP(&demoN, "nodes", "n", 3, "number of nodes")
	demo.Flags().BoolVar(&demoKeep, "keep", false, "leave the testnet running and print commands to explore it")
	// The demo's default is a fresh temporary directory, not the shared
	// testnet directory, so it has its own --dir.
	demo.Flags().StringVar(&demoDir, "dir", "", "testnet directory (default: a new temporary directory)")

	partition := &cobra.Command{
		Use:   "partition GROUP GROUP...",
		Short: "Cut the testnet into groups that cannot reach each other",
		Long: `Partition the running testnet: each GROUP is a comma-separated list of node
numbers, every node must be in one group, and nodes block (disconnect and
refuse) every node of the other groups. The nodes keep running and
accepting writes; ` + "`testnet heal`" + ` reconnects them and anti-entropy
repairs the divergence.`,
		Example: `  aura-node testnet partition 1,2 3,4,5
  aura-node --home ~/.aura-testnet/node-1 data put side a
  aura-node --home ~/.aura-testnet/node-4 data put side b
  aura-node testnet heal`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return fmt.Errorf("want at least two groups, like `1,2 3,4,5` (see `%s --help`)", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := testnet.ReadManifest(dir)
			if err != nil {
				return err
			}
			groups, err := testnet.ParseGroups(args, m.N)
			if err != nil {
				return err
			}
			return testnet.Partition(cmd.Context(), dir, groups, cmd.OutOrStdout())
		},
	}
	heal := &cobra.Command{
		Use:     "heal",
		Short:   "Undo a partition: every node may reach every other again",
		Long:    "Lift every block set by `testnet partition`. Nodes redial their static peers, run anti-entropy on each new connection and converge.",
		Example: `  aura-node testnet heal && aura-node testnet status`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return testnet.Heal(cmd.Context(), dir, cmd.OutOrStdout())
		},
	}

	cmd.AddCommand(up, status, stop, start, down, demo, partition, heal, testnetUpgradeCmd(&dir))
	return cmd
}

func nodeIndex(s string) (int, error) {
	i, err := strconv.Atoi(s)
	if err != nil || i < 1 {
		return 0, fmt.Errorf("node %q: want a node number, 1 to N", s)
	}
	return i, nil
}
