package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/aura-node/aura-node/api"
)

func (a *app) syncCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Run anti-entropy (set reconciliation) with peers",
		Long: `Nodes repair whatever gossip missed with anti-entropy sessions: Negentropy
v1 range-based set reconciliation over a libp2p stream, then the missing
facts are pulled and pushed through the normal validation pipeline. Sessions
run on connect and periodically; ` + "`sync now`" + ` runs them on demand.`,
		Example: `  aura-node sync now
  aura-node sync now --peer 12D3KooW...`,
		Args: noArgs,
	}
	cmd.AddCommand(a.syncNowCmd())
	return cmd
}

func (a *app) syncNowCmd() *cobra.Command {
	var req api.SyncRequest
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "now [--peer PEER_ID]",
		Short: "Reconcile with one peer, or every connected peer, and report what moved",
		Long: `Run one anti-entropy session with --peer, or with every connected peer, and
print for each: whether the journals were already in sync, the round
trips, the bytes each way, and how many facts were pulled and pushed.`,
		Example: `  aura-node sync now
  aura-node sync now --peer 12D3KooW... --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			rep, err := c.SyncNow(cmd.Context(), req)
			if err != nil {
				return c.wrap(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, rep)
			}
			if len(rep.Sessions) == 0 {
				fmt.Fprintln(out, "no connected peers")
				return nil
			}
			tw := newTable(out)
			fmt.Fprintln(tw, "PEER\tRESULT\tROUNDS\tBYTES OUT\tBYTES IN\tPULLED\tPUSHED\tTIME")
			failed := 0
			for _, s := range rep.Sessions {
				result := "repaired"
				switch {
				case s.Error != "":
					result, failed = "failed: "+s.Error, failed+1
				case s.InSync:
					result = "in sync"
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%.1fms\n", s.Peer, result, s.Rounds, s.BytesOut, s.BytesIn, s.Pulled, s.Pushed, s.DurationMs)
			}
			tw.Flush()
			if failed == len(rep.Sessions) {
				return fmt.Errorf("every session failed")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&req.Peer, "peer", "", "peer ID to reconcile with (default: every connected peer)")
	jsonFlag(cmd, &asJSON)
	return cmd
}
