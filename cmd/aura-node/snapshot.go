package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aura-node/aura-node/api"
)

func (a *app) snapshotCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snapshot",
		Short: "Threshold-approved snapshots: propose, approve, watch, list",
		Long: `A snapshot lets every node garbage-collect the journal. A member proposes
the digest of its state at the current identity epoch E (the proposal's
timestamp is the cut). Every node that sees the proposal raises the writer
fence: local writes are queued, not refused, and facts past the cut are
held. Each member approves, with a BLS signature over (network, E, digest,
proposal), once its own state has the same digest; any node holding M
approvals publishes the certificate (one BDN aggregate signature). The
identity epoch advances to E+1, queued writes are written in E+1, and every
node prunes the data facts below the cut. The state at the cut is stored as
a content-addressed blob that new nodes join from.

If a round does not reach M approvals in time it aborts; the fence lifts
and queued writes are written in E.`,
		Example: `  aura-node snapshot propose
  aura-node snapshot status
  aura-node snapshot list`,
		Args: noArgs,
	}
	cmd.AddCommand(a.snapshotProposeCmd(), a.snapshotApproveCmd(), a.snapshotStatusCmd(), a.snapshotListCmd())
	return cmd
}

func (a *app) snapshotProposeCmd() *cobra.Command {
	var wait bool
	var timeout time.Duration
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "propose [--wait]",
		Short: "Propose a snapshot of this member's current state",
		Long: `Propose a snapshot of this node's current state at the current identity
epoch. The node must be a roster member with a BLS key. With --wait the
command follows the round until it commits or aborts.`,
		Example: `  aura-node snapshot propose --wait`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			res, err := c.ProposeSnapshot(cmd.Context())
			if err != nil {
				return c.wrap(err)
			}
			out := cmd.OutOrStdout()
			if !wait {
				if asJSON {
					return printJSON(out, res)
				}
				fmt.Fprintf(out, "proposed snapshot of epoch %d: %s\nfollow it with `aura-node snapshot status`\n", res.Epoch, res.ID)
				return nil
			}
			fmt.Fprintf(out, "proposed snapshot of epoch %d: %s\n", res.Epoch, res.ID)
			deadline := time.Now().Add(timeout)
			tick := time.NewTicker(200 * time.Millisecond)
			defer tick.Stop()
			last := ""
			for {
				st, err := c.SnapshotStatus(cmd.Context())
				if err != nil {
					return c.wrap(err)
				}
				if st.HasSnapshot && st.LastEpoch >= res.Epoch {
					fmt.Fprintf(out, "committed: epoch %d, blob %s; now at epoch %d\n", st.LastEpoch, st.LastBlob, st.Epoch)
					if st.LastGC != nil {
						fmt.Fprintf(out, "garbage collection: %d facts pruned (%d -> %d facts, %s -> %s)\n",
							st.LastGC.Pruned, st.LastGC.FactsBefore, st.LastGC.FactsAfter, humanBytes(st.LastGC.BytesBefore), humanBytes(st.LastGC.BytesAfter))
					}
					return nil
				}
				open := false
				for _, p := range st.Pending {
					if p.Proposal == res.ID {
						open = true
						line := fmt.Sprintf("approvals %d/%d", len(p.Approvers), p.Threshold)
						if line != last {
							fmt.Fprintf(out, "%s (missing: %s)\n", line, strings.Join(shortIDs(p.Missing), ", "))
							last = line
						}
					}
				}
				if !open && !st.HasSnapshot || (!open && st.LastEpoch < res.Epoch) {
					return fmt.Errorf("the round ended without committing: %s", st.LastError)
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("still open after %v (see `aura-node snapshot status`)", timeout)
				}
				select {
				case <-cmd.Context().Done():
					return cmd.Context().Err()
				case <-tick.C:
				}
			}
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the round until it commits or aborts")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "with --wait, give up after this long")
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (a *app) snapshotApproveCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "approve [PROPOSAL_CID]",
		Short: "Approve open snapshot rounds now, or say why this member cannot",
		Long: `Members approve automatically as soon as their state has the proposed
digest. This command offers the current state to one round (or every open
round) now and prints, per round, whether this member approved and, if
not, why (typically: its state at the epoch differs, so it is still
reconciling; or it already approved another digest in this epoch).`,
		Example: `  aura-node snapshot approve
  aura-node snapshot approve bafyrei...`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			var req api.SnapshotApproveRequest
			if len(args) == 1 {
				req.Proposal = args[0]
			}
			res, err := c.ApproveSnapshot(cmd.Context(), req)
			if err != nil {
				return c.wrap(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, res)
			}
			if len(res.Rounds) == 0 {
				fmt.Fprintln(out, "no open snapshot round")
				return nil
			}
			for _, r := range res.Rounds {
				if r.Approved {
					fmt.Fprintf(out, "%s: approved\n", r.Proposal)
				} else {
					fmt.Fprintf(out, "%s: not approved: %s\n", r.Proposal, r.Reason)
				}
			}
			return nil
		},
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (a *app) snapshotStatusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the last snapshot, open rounds, the fence and the last garbage collection",
		Long: `Show this node's snapshot view: the identity epoch, the last completed
snapshot (epoch, digest, state blob and its size), whether the writer fence
is up and how many local writes are queued behind it, each open round with
the members that have not approved yet, and the journal size before and
after the last garbage collection.`,
		Example: `  aura-node snapshot status
  aura-node snapshot status --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			st, err := c.SnapshotStatus(cmd.Context())
			if err != nil {
				return c.wrap(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, st)
			}
			printSnapshotStatus(out, st)
			return nil
		},
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

func printSnapshotStatus(out interface{ Write([]byte) (int, error) }, st *api.SnapshotStatus) {
	fmt.Fprintf(out, "identity epoch:   %d\n", st.Epoch)
	if st.HasSnapshot {
		fmt.Fprintf(out, "last snapshot:    epoch %d, digest %.16s…, blob %s (%s)\n", st.LastEpoch, st.LastDigest, st.LastBlob, humanBytes(uint64(st.LastBlobBytes)))
	} else {
		fmt.Fprintln(out, "last snapshot:    none")
	}
	fence := "down"
	if st.FenceActive {
		fence = fmt.Sprintf("UP (%d local writes queued, %d remote facts held)", st.QueuedWrites, st.HeldFacts)
	}
	fmt.Fprintf(out, "writer fence:     %s\n", fence)
	fmt.Fprintf(out, "journal:          %d facts, state digest %.16s…\n", st.JournalFacts, st.StateDigest)
	if st.LastGC != nil {
		g := st.LastGC
		how := "pruned"
		if g.Adopted {
			how = "adopted a peer's blob"
		}
		fmt.Fprintf(out, "last GC:          epoch %d, %s: %d -> %d facts, %s -> %s, %d pruned, %d re-issued, %.2fs\n",
			g.Epoch, how, g.FactsBefore, g.FactsAfter, humanBytes(g.BytesBefore), humanBytes(g.BytesAfter), g.Pruned, g.Reissued, g.Seconds)
	}
	if st.Adopting {
		fmt.Fprintln(out, "adopting:         fetching and verifying the latest snapshot's blob from peers")
	}
	if len(st.Pending) == 0 {
		fmt.Fprintln(out, "open rounds:      none")
	}
	for _, p := range st.Pending {
		fmt.Fprintf(out, "open round:       %s epoch %d digest %.16s… approvals %d/%d age %ds\n", p.Proposal, p.Epoch, p.Digest, len(p.Approvers), p.Threshold, p.AgeSec)
		if len(p.Missing) > 0 {
			fmt.Fprintf(out, "                  not approved yet: %s\n", strings.Join(shortIDs(p.Missing), ", "))
		}
	}
	if st.LastError != "" {
		fmt.Fprintf(out, "last round error: %s\n", st.LastError)
	}
}

func (a *app) snapshotListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the completed snapshots",
		Long: `List every completed snapshot of the network: its epoch, cut (HLC),
certified digest, state blob CID, and whether this node holds the blob.`,
		Example: `  aura-node snapshot list --json`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			l, err := c.Snapshots(cmd.Context())
			if err != nil {
				return c.wrap(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, l)
			}
			if len(l.Snapshots) == 0 {
				fmt.Fprintln(out, "no completed snapshot")
				return nil
			}
			tw := newTable(out)
			fmt.Fprintln(tw, "EPOCH\tCUT\tDIGEST\tBLOB\tLOCAL\tSIZE")
			for _, s := range l.Snapshots {
				fmt.Fprintf(tw, "%d\t%s\t%.16s…\t%s\t%v\t%s\n", s.Epoch, s.Cut, s.Digest, s.Blob, s.BlobLocal, humanBytes(uint64(s.BlobBytes)))
			}
			return tw.Flush()
		},
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

func shortIDs(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		if len(id) > 16 {
			id = id[:16] + "…"
		}
		out[i] = id
	}
	return out
}
