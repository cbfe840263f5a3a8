package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/aura-node/aura-node/testnet"
)

// testnetUpgradeCmd is `aura-node testnet upgrade`.
func testnetUpgradeCmd(dir *string) *cobra.Command {
	var opts testnet.UpgradeOptions
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "upgrade --binary PATH [--class soft|hard|partition] [--scope context|quorum|KEY] [--gate NAME=COMMAND]...",
		Short: "Publish a new aura-node build as a release and drive it through the nodes",
		Long: `Publish --binary (another build of aura-node; ` + "`BINARY version`" + ` gives the
release's version) as a release of series aura-node from node-1, the admin,
and follow it until every node runs it or the scope fails:

  1. every node takes part in the scope (config.json and the running node),
     with the --gate commands its launcher runs after a cutover;
  2. node-1 publishes the scope's policy: trust node-1's authority,
     the class's compatibility, --rollback automatic|manual-approval;
  3. node-1 imports the binary into its block store and publishes the
     signed release; the other nodes fetch it from their peers;
  4. in a managed quorum every node approves (unless --no-approve);
  5. each node stages the release through its launcher, cuts over,
     passes its health gates (healthz, readyz, the --gate commands, which
     the release declares), and records every step as a fact.

--class soft publishes a BackwardCompatible release; hard a ScopedHardFork;
partition an IncompatibleWithoutPartition release, a hard fork whose nodes
refuse sessions with legacy peers and record PartitionObserved (expected
for this class). Build a hard or partition binary with a higher node
protocol version (-X github.com/aura-node/aura-node/node.ProtocolVersion=N).
The scope is context:NODE1/testnet for a soft fork, and, for hard and
partition, the managed quorum of every node. Progress lines show
the scope going LegacyOnly -> Coexisting -> TargetOnly. A release whose
gate fails is rolled back (automatically, or after ` + "`upgrade approve-rollback`" + `
under manual-approval), and the command fails saying so. The testnet must
run its nodes under launchers (the default of ` + "`testnet up`" + `).`,
		Example: `  go build -ldflags "-X github.com/aura-node/aura-node/node.Version=0.2.0" -o aura-node-v2 ./cmd/aura-node
  aura-node testnet up -n 5
  aura-node testnet upgrade --binary ./aura-node-v2
  aura-node testnet upgrade --binary ./aura-node-v3 --gate 'smoke=aura-node --home "$AURA_HOME" status'
  aura-node testnet upgrade --binary ./aura-node-v4 --class hard --no-approve
  go build -ldflags "-X github.com/aura-node/aura-node/node.Version=0.5.0 -X github.com/aura-node/aura-node/node.ProtocolVersion=3" -o aura-node-v5 ./cmd/aura-node
  aura-node testnet upgrade --binary ./aura-node-v5 --class partition`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Dir = *dir
			if !asJSON {
				opts.Log = cmd.OutOrStdout()
			}
			res, err := testnet.Upgrade(cmd.Context(), opts)
			if asJSON && res != nil {
				if perr := printJSON(cmd.OutOrStdout(), res); perr != nil {
					return perr
				}
			}
			if err != nil {
				return err
			}
			if !asJSON {
				fmt.Fprintf(cmd.OutOrStdout(), "every node runs aura-node %s (release %s) in %s after %.1fs; residencies %v\n", res.Version, res.Release[:12], res.Scope, res.Seconds, res.Residencies)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Binary, "binary", "", "the new aura-node build (required)")
	fl.StringVar(&opts.Class, "class", "soft", "soft (BackwardCompatible), hard (ScopedHardFork) or partition (IncompatibleWithoutPartition); build hard and partition with a higher node.ProtocolVersion")
	fl.StringVar(&opts.Scope, "scope", "", "context, quorum, or a scope key owned by node-1 (default: context for soft, quorum for hard and partition)")
	fl.StringVar(&opts.Rollback, "rollback", "automatic", "the scope's rollback preference: automatic or manual-approval")
	fl.StringArrayVar(&opts.Gates, "gate", nil, "health gate NAME=COMMAND every node runs after its cutover (repeatable)")
	fl.BoolVar(&opts.NoApprove, "no-approve", false, "managed quorum: leave the approvals to the operators")
	fl.DurationVar(&opts.Timeout, "timeout", 5*time.Minute, "how long to follow the upgrade")
	jsonFlag(cmd, &asJSON)
	return cmd
}
