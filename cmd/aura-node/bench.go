package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/aura-node/aura-node/bench"
)

func (a *app) benchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure performance against baselines taken in the same run",
		Long: `Benchmarks that report ratios against a baseline measured beside them on
the same machine in the same run, so the figures mean something on a noisy
shared machine.`,
		Example: `  aura-node bench ingest
  aura-node bench ingest --n 100000 --json
  aura-node bench antientropy --json
  aura-node bench gossip --json
  aura-node bench snapshot --json
  aura-node bench rollout --json`,
		Args: noArgs,
	}
	cmd.AddCommand(benchIngestCmd(), benchAntiEntropyCmd(), benchGossipCmd(), benchArtifactsCmd(), benchSnapshotCmd(), benchRolloutCmd())
	return cmd
}

func benchIngestCmd() *cobra.Command {
	var opts bench.IngestOptions
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Fact ingest rate versus raw batch Ed25519 verification",
		Long: `Sign N data facts, then ingest them into a fresh Pebble journal (decode,
canonical check, batch signature verification, authorisation, reduction,
atomic commit) and compare the rate with raw batch Ed25519 verification of
the same signatures. The goal is a ratio of at least 0.8.

A progress bar shows on stderr when stderr is a terminal.`,
		Example: `  aura-node bench ingest
  aura-node bench ingest --n 200000 --batch 4096 --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.N < 0 || opts.Batch < 0 {
				return fmt.Errorf("--n and --batch must be positive")
			}
			bar := newProgress(os.Stderr, "ingest")
			opts.Progress = bar.update
			res, err := bench.Ingest(cmd.Context(), opts)
			bar.finish()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, res)
			}
			// Render every field the result carries, by its JSON name,
			// so new figures show up without changes here.
			b, err := json.Marshal(res)
			if err != nil {
				return err
			}
			var fields map[string]any
			if err := json.Unmarshal(b, &fields); err != nil {
				return err
			}
			// Known figures first, in reading order; any others after.
			order := []string{"n", "batch", "facts_per_s", "verify_per_s", "ratio", "goal", "ingest_s", "verify_s"}
			rank := func(k string) int {
				for i, o := range order {
					if o == k {
						return i
					}
				}
				return len(order)
			}
			keys := make([]string, 0, len(fields))
			for k := range fields {
				keys = append(keys, k)
			}
			sort.Slice(keys, func(i, j int) bool {
				if ri, rj := rank(keys[i]), rank(keys[j]); ri != rj {
					return ri < rj
				}
				return keys[i] < keys[j]
			})
			tw := newTable(out)
			for _, k := range keys {
				switch v := fields[k].(type) {
				case float64:
					if v == float64(int64(v)) && v < 1e15 {
						fmt.Fprintf(tw, "%s\t%d\n", k, int64(v))
					} else {
						fmt.Fprintf(tw, "%s\t%.3f\n", k, v)
					}
				default:
					fmt.Fprintf(tw, "%s\t%v\n", k, v)
				}
			}
			tw.Flush()
			ratio, _ := fields["ratio"].(float64)
			goal, ok := fields["goal"].(float64)
			if !ok {
				goal = 0.8
			}
			verdict := "meets"
			if ratio < goal {
				verdict = "misses"
			}
			fmt.Fprintf(out, "ingest runs at %.2f x batch verify; %s the goal of >= %.2f\n", ratio, verdict, goal)
			return nil
		},
	}
	cmd.Flags().IntVar(&opts.N, "n", 20000, "number of facts")
	cmd.Flags().IntVar(&opts.Batch, "batch", 0, "ingest batch size (default 1024)")
	cmd.Flags().StringVar(&opts.Dir, "dir", "", "directory for the scratch journal (default: a temporary one, removed afterwards)")
	jsonFlag(cmd, &asJSON)
	return cmd
}

func benchAntiEntropyCmd() *cobra.Command {
	var opts bench.AntiEntropyOptions
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "antientropy",
		Short: "Negentropy set reconciliation versus sending every ID",
		Long: `Build two sets of N items (HLC wall-clock millisecond, random 32-byte ID)
that differ by d = 1, 100, 1000 and 10000 items, reconcile each pair with
Negentropy v1 in memory, and compare round trips and bytes with the naive
exchange of every ID (32 x N bytes in one round trip). d = 1 is one-way (the
initiator lacks one item); larger d split half each way. Each case checks
that reconciliation found exactly the planted differences.

bytes_total adds the missing facts (d real signed data facts) and a 4-byte
length prefix each to the reconciliation bytes. The goals: for d = 1, at
most 3 round trips and 1536 bytes of reconciliation (without the fact); for
larger d, bytes_total <= 1.3 x missing_bytes + 16384.

A progress bar shows on stderr while the sets are built, when stderr is a
terminal.`,
		Example: `  aura-node bench antientropy
  aura-node bench antientropy --n 100000 --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.N < 0 {
				return fmt.Errorf("--n must be positive")
			}
			bar := newProgress(os.Stderr, "building sets")
			opts.Progress = bar.update
			res, err := bench.AntiEntropy(cmd.Context(), opts)
			bar.finish()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, res)
			}
			tw := newTable(out)
			fmt.Fprintln(tw, "n\td\tround_trips\tbytes_out\tbytes_in\tbytes_total\tmissing_bytes\tnaive_bytes\tnaive_round_trips\tcpu_ms\tinitiator_cpu_ms\tresponder_cpu_ms\tmeets_goal")
			for _, c := range res.Cases {
				fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.3f\t%.3f\t%.3f\t%v\n",
					c.N, c.D, c.RoundTrips, c.BytesOut, c.BytesIn, c.BytesTotal, c.MissingBytes, c.NaiveBytes,
					c.NaiveRoundTrips, c.CPUMs, c.InitiatorCPUMs, c.ResponderCPUMs, c.MeetsGoal)
			}
			tw.Flush()
			fmt.Fprintln(out)
			tw = newTable(out)
			fmt.Fprintln(tw, "d\tsplit\tgoal")
			for _, c := range res.Cases {
				fmt.Fprintf(tw, "%d\t%s\t%s\n", c.D, c.Split, c.Goal)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().IntVar(&opts.N, "n", 1_000_000, "number of items the responder holds")
	jsonFlag(cmd, &asJSON)
	return cmd
}

func benchGossipCmd() *cobra.Command {
	var opts bench.GossipOptions
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "gossip",
		Short: "Fact delivery over gossip versus raw gossipsub",
		Long: `Start N plain libp2p hosts on 127.0.0.1 TCP running plain gossipsub (the
node's queue sizes and flood publishing, no validator, no peer scoring),
each dialling 4 random others (fixed seed, connected); once the meshes have
formed and a warm-up message reached every host, host 1 publishes F
messages the size of a Data fact, one every 5 ms, and every other host
records when each arrives. Then the same with N aura nodes (in-memory
journals, hosts built the same way, same topology, periodic anti-entropy
off): node 1 writes F Data facts at the same pace and every node records
when each commits. Latency is the receiver's receive (commit) time minus
the publish (author's commit) time, over every (message, receiver) pair.
Finally every node runs an anti-entropy session with its neighbour towards
node 1, and no fact may be missing anywhere.

The goal: aura's p99 at most 1.5 x raw gossipsub's p99 in the same run, and
nothing lost after anti-entropy.`,
		Example: `  aura-node bench gossip
  aura-node bench gossip --nodes 20 --facts 200 --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Nodes < 2 || opts.Facts < 1 {
				return fmt.Errorf("--nodes must be at least 2 and --facts at least 1")
			}
			res, err := bench.Gossip(cmd.Context(), opts)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, res)
			}
			fmt.Fprintf(out, "%d nodes, %d facts of %d bytes, one every %.0f ms\n\n", res.Nodes, res.Facts, res.MsgBytes, res.IntervalMs)
			tw := newTable(out)
			fmt.Fprintln(tw, "\tp50_ms\tp99_ms\tmax_ms\tlost\tlost_after_antientropy")
			fmt.Fprintf(tw, "raw gossipsub\t%.3f\t%.3f\t%.3f\t%d\t-\n", res.Raw.P50Ms, res.Raw.P99Ms, res.Raw.MaxMs, res.Raw.Lost)
			fmt.Fprintf(tw, "aura\t%.3f\t%.3f\t%.3f\t%d\t%d\n", res.Aura.P50Ms, res.Aura.P99Ms, res.Aura.MaxMs,
				res.Aura.LostAfterGossip, res.Aura.LostAfterAntiEntropy)
			tw.Flush()
			verdict := "meets"
			if !res.MeetsGoal {
				verdict = "misses"
			}
			fmt.Fprintf(out, "\np99_ratio %.3f; %s the goal: %s\n", res.P99Ratio, verdict, res.Goal)
			return nil
		},
	}
	cmd.Flags().IntVar(&opts.Nodes, "nodes", 20, "number of nodes (and of raw hosts)")
	cmd.Flags().IntVar(&opts.Facts, "facts", 200, "number of facts (and of raw messages) node 1 publishes")
	jsonFlag(cmd, &asJSON)
	return cmd
}

func benchSnapshotCmd() *cobra.Command {
	var opts bench.SnapshotOptions
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "snapshot",
		Short: "Snapshot commit and GC, and joining from a snapshot versus full replay",
		Long: `Start --nodes roster members (BLS keys in the genesis, M = majority) as
in-process nodes on 127.0.0.1 TCP with Pebble journals holding --facts
Data facts (loaded into member 0's journal, then checkpointed for the
others), and measure in one run:

  commit_s         member 0 proposes a snapshot; the time until every
                   member has committed it and garbage-collected
  gc_ratio         member 0's Pebble bytes after GC over the live state's
                   encoded size (live_state_measure says which); goal <= 1.2
  join_speedup     full replay time over snapshot join time; goal >= 10:
                   a fresh node joining the members from the snapshot
                   (fetch the blob, verify, hydrate, reconcile the tail)
                   against a fresh node joining, alone, a node started on
                   the pre-snapshot checkpoint (every fact pulled by
                   anti-entropy through the validation pipeline)

The full replay runs first, before the members start; the snapshot join
runs last and may take at most twice as long as the full replay (at least
a minute): past that it is reported as not finished (snapshot_join_error),
the other figures are printed, and the command fails. Each join ends when
the joiner's state digest equals its target's. Phase lines go to stderr.
With the default 1,000,000 facts the run takes several minutes and a few
GB of scratch disk (removed afterwards).`,
		Example: `  aura-node bench snapshot --json
  aura-node bench snapshot --facts 100000 --nodes 5`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Facts < 1 || opts.Nodes < 1 {
				return fmt.Errorf("--facts and --nodes must be at least 1")
			}
			opts.Log = os.Stderr
			res, err := bench.Snapshot(cmd.Context(), opts)
			if res == nil {
				return err
			}
			// A snapshot join that did not finish still leaves the other
			// figures: print them, then fail.
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSONThen(out, res, err)
			}
			fmt.Fprintf(out, "%d members (M = %d), %d data facts\n\n", res.Nodes, res.Threshold, res.Facts)
			tw := newTable(out)
			fmt.Fprintf(tw, "setup\t%.3f s\n", res.SetupS)
			fmt.Fprintf(tw, "commit (propose to last member collected)\t%.3f s\n", res.CommitS)
			fmt.Fprintf(tw, "member 0 GC\t%.3f s, %d facts pruned, journal %d -> %d facts\n", res.GCS, res.Pruned, res.JournalFactsBefore, res.JournalFactsAfter)
			fmt.Fprintf(tw, "members pruned / adopted\t%d / %d\n", res.MembersPruned, res.MembersAdopted)
			fmt.Fprintf(tw, "bytes before GC\t%d\n", res.BytesBeforeGC)
			fmt.Fprintf(tw, "bytes after GC\t%d\n", res.BytesAfterGC)
			fmt.Fprintf(tw, "live state (blob)\t%d\n", res.LiveStateBytes)
			fmt.Fprintf(tw, "live state (key+value)\t%d in %d entries\n", res.StateKVBytes, res.StateEntries)
			if res.SnapshotJoinError != "" {
				fmt.Fprintf(tw, "snapshot join\tdid not finish\n")
			} else {
				fmt.Fprintf(tw, "snapshot join\t%.3f s (%d facts in its journal)\n", res.SnapshotJoinS, res.SnapshotJoinFacts)
			}
			fmt.Fprintf(tw, "full replay\t%.3f s (%d facts, %d sync sessions, %d failed)\n", res.FullReplayS, res.FullReplayFacts, res.FullReplaySessions, res.FullReplaySyncFailures)
			tw.Flush()
			verdict := func(met bool) string {
				if met {
					return "meets"
				}
				return "misses"
			}
			fmt.Fprintf(out, "\ngc_ratio %.3f (key+value: %.3f; with the blob kept beside the journal: %.3f); %s the goal of <= %.1f\n",
				res.GCRatio, res.GCRatioKV, res.GCRatioWithBlob, verdict(res.GCRatioMet), res.GCRatioGoal)
			fmt.Fprintf(out, "join_speedup %.3f; %s the goal of >= %.0f\n", res.JoinSpeedup, verdict(res.JoinSpeedupMet), res.JoinSpeedupGoal)
			return err
		},
	}
	cmd.Flags().IntVar(&opts.Facts, "facts", 1_000_000, "number of data facts the network holds before the snapshot")
	cmd.Flags().IntVar(&opts.Nodes, "nodes", 3, "number of roster members")
	cmd.Flags().StringVar(&opts.Dir, "dir", "", "where to create the scratch directory (default: the system temporary directory)")
	cmd.Flags().DurationVar(&opts.PhaseTimeout, "phase-timeout", 30*time.Minute, "bound on each phase that waits on the network (the snapshot join: also twice the full replay's time, at least 1m)")
	jsonFlag(cmd, &asJSON)
	return cmd
}

func benchRolloutCmd() *cobra.Command {
	var opts bench.RolloutOptions
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "rollout",
		Short: "A soft-fork release through a testnet versus artifact fan-out plus one restart",
		Long: `Build aura-node twice (versions ` + bench.RolloutV1 + ` and ` + bench.RolloutV2 + `, with go build from the
current directory, which must be in the aura-node source tree, unless --v1
and --v2 are given), bring up a --nodes testnet of real processes on
127.0.0.1 running the first under their launchers, and measure in one run:

  fanout_s    a file of the second build's size (binary_bytes, random
              bytes) imported into node-1, then fetched at once by every
              other node through its API (verified, pinned) until the last
              is done; then unpinned everywhere
  restart_s   node N's launcher killed (SIGKILL, testnet stop) and started
              again (testnet start) until the node answers /readyz with a
              peer
  rollout_s   testnet upgrade of the second build as a soft-fork release:
              from the driver's start (scope, policy, import, publish) to
              node-1 seeing the scope TargetOnly and every node running the
              new version and answering /healthz and /readyz
  ratio       rollout_s / (fanout_s + restart_s); goal <= 2

The testnet is torn down and its files removed at the end. Phase lines go
to stderr. With 10 nodes the run needs a few minutes and about 2 GB of
scratch disk.`,
		Example: `  aura-node bench rollout --json
  aura-node bench rollout --nodes 5
  aura-node bench rollout --v1 ./aura-node-v1 --v2 ./aura-node-v2 --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Nodes < 2 {
				return fmt.Errorf("--nodes must be at least 2")
			}
			if (opts.V1 == "") != (opts.V2 == "") {
				return fmt.Errorf("--v1 and --v2 go together")
			}
			opts.Log = os.Stderr
			res, err := bench.Rollout(cmd.Context(), opts)
			if res == nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSONThen(out, res, err)
			}
			fmt.Fprintf(out, "%d nodes, aura-node %s -> %s, binary %d bytes\n\n", res.Nodes, res.FromVersion, res.ToVersion, res.BinaryBytes)
			tw := newTable(out)
			fmt.Fprintf(tw, "rollout\t%.3f s (publish %.3f s, then %.3f s; residencies %v)\n", res.RolloutS, res.RolloutPublishS, res.RolloutWaitS, res.Residencies)
			fmt.Fprintf(tw, "fan-out\t%.3f s (import %.3f s, fetch by %d nodes %.3f s)\n", res.FanoutS, res.FanoutImportS, res.Nodes-1, res.FanoutFetchS)
			fmt.Fprintf(tw, "restart of node-%d\t%.3f s (stop %.3f s, start until ready %.3f s)\n", res.RestartNode, res.RestartS, res.RestartStopS, res.RestartStartS)
			tw.Flush()
			if err != nil {
				return err
			}
			verdict := "meets"
			if !res.MeetsGoal {
				verdict = "misses"
			}
			fmt.Fprintf(out, "\nratio %.3f; %s the goal of <= %.0f\n", res.Ratio, verdict, res.Goal)
			return nil
		},
	}
	cmd.Flags().IntVar(&opts.Nodes, "nodes", 10, "number of testnet nodes")
	cmd.Flags().StringVar(&opts.Dir, "dir", "", "where to create the scratch directory (default: the system temporary directory)")
	cmd.Flags().StringVar(&opts.V1, "v1", "", "prebuilt aura-node the nodes start with (default: built)")
	cmd.Flags().StringVar(&opts.V2, "v2", "", "prebuilt newer aura-node to roll out (default: built)")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 10*time.Minute, "bound on the rollout")
	cmd.Flags().DurationVar(&opts.PhaseTimeout, "phase-timeout", 3*time.Minute, "bound on each other phase (testnet up, fan-out, restart)")
	jsonFlag(cmd, &asJSON)
	return cmd
}
