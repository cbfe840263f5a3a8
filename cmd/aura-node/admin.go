package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/aura-node/aura-node/api"
	"github.com/aura-node/aura-node/facts"
)

func (a *app) adminCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Replace the network admin and approve proposals",
		Long: `The admin authority is fixed by the genesis and changes only through an
admin replacement that M of the N roster members approve. The proposing
member's approval is included; other members approve with
` + "`admin approve`" + `. The replacement takes effect at the next identity
epoch, and from then on admin operations by the replaced admin are refused.`,
		Example: `  aura-node admin status
  aura-node admin replace --new 12D3KooW... --reason "key lost"
  aura-node --home ./b admin approve bafyrei...`,
		Args: noArgs,
	}
	cmd.AddCommand(a.adminReplaceCmd(), a.adminRosterCmd(), a.adminApproveCmd(), a.adminStatusCmd())
	return cmd
}

func (a *app) adminReplaceCmd() *cobra.Command {
	var req api.ReplaceAdminRequest
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "replace --new AUTHORITY_ID [--reason TEXT]",
		Short: "Propose a new admin (and approve it as this member)",
		Long: `Propose that AUTHORITY_ID becomes the network admin. This node must be a
roster member; its approval counts towards the threshold. Prints the
proposal ID that the other members pass to ` + "`admin approve`" + `.`,
		Example: `  aura-node admin replace --new "$(aura-node --home ./b keys show --authority)" --reason "rotate admin"`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if req.NewAdmin == "" {
				return fmt.Errorf("--new AUTHORITY_ID is required (see `%s --help`)", cmd.CommandPath())
			}
			if _, err := facts.ParseAuthorityID(req.NewAdmin); err != nil {
				return fmt.Errorf("--new %q is not an authority ID (print one with `aura-node keys show --authority`)", req.NewAdmin)
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			res, err := c.ReplaceAdmin(cmd.Context(), req)
			if err != nil {
				return c.wrap(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, res)
			}
			fmt.Fprintf(out, "proposed admin replacement %s (epoch %d)\n", res.ID, res.Epoch)
			fmt.Fprintf(out, "other members approve with: aura-node admin approve %s\n", res.ID)
			return nil
		},
	}
	cmd.Flags().StringVar(&req.NewAdmin, "new", "", "authority ID of the new admin (required)")
	cmd.Flags().StringVar(&req.Reason, "reason", "", "why, recorded in the proposal")
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (a *app) adminApproveCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "approve PROPOSAL_CID",
		Short: "Approve a pending proposal as this member",
		Long:  "Approve a pending epoch-advancing proposal (see `aura-node admin status`) with this node's authority. Prints the approval fact's ID.",
		Example: `  aura-node admin status
  aura-node admin approve bafyrei...`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			res, err := c.Approve(cmd.Context(), api.ApproveRequest{Proposal: args[0]})
			if err != nil {
				return c.wrap(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, res)
			}
			fmt.Fprintf(out, "approved %s: fact %s\n", args[0], res.ID)
			return nil
		},
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (a *app) adminStatusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the admin chain, roster and pending proposals",
		Long:  "Show the current admin and epoch, how each epoch began (genesis, admin replacement, roster change), the roster and the proposals waiting for approvals.",
		Example: `  aura-node admin status
  aura-node admin status --json | jq .pending`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			st, err := c.AdminStatus(cmd.Context())
			if err != nil {
				return c.wrap(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, st)
			}
			tw := newTable(out)
			fmt.Fprintf(tw, "admin\t%s\n", st.Admin)
			fmt.Fprintf(tw, "epoch\t%d\n", st.Epoch)
			tw.Flush()
			fmt.Fprintf(out, "\nhistory\n")
			tw = newTable(out)
			fmt.Fprintln(tw, "  EPOCH\tADMIN\tTHRESHOLD\tMEMBERS\tCAUSE")
			for _, e := range st.History {
				fmt.Fprintf(tw, "  %d\t%s\t%d\t%d\t%s %s\n", e.Epoch, e.Admin, e.Threshold, e.Members, e.CauseKind, e.Cause)
			}
			tw.Flush()
			fmt.Fprintf(out, "\nroster (%s)\n", plural(len(st.Roster), "member"))
			printRoster(out, st.Roster, st.Admin)
			fmt.Fprintf(out, "\npending proposals (%d)\n", len(st.Pending))
			printProposals(out, st.Pending)
			return nil
		},
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (a *app) adminRosterCmd() *cobra.Command {
	var req api.RosterRequest
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "roster --member ENTRY... [--threshold M] [--reason TEXT]",
		Short: "Propose a new roster (admin only; approved as this member)",
		Long: `Propose the complete new roster: every --member is an entry
"AUTHORITY_ID[:BLS_KEY_HEX]" as ` + "`aura-node keys show --member`" + ` prints it (without a
BLS key a member cannot approve snapshots). Only the admin may propose; the
change takes effect, advancing the identity epoch, once M members of the
current roster approve it with ` + "`admin approve`" + `. --threshold defaults to a
simple majority of the new roster.`,
		Example: `  aura-node admin roster \
      --member "$(aura-node keys show --member)" \
      --member "$(aura-node --home ./b keys show --member)" \
      --member "$(aura-node --home ./d keys show --member)" --reason "d replaces c"`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(req.Members) == 0 {
				return fmt.Errorf("give the whole new roster with --member (see `%s --help`)", cmd.CommandPath())
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			res, err := c.ProposeRoster(cmd.Context(), req)
			if err != nil {
				return c.wrap(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, res)
			}
			fmt.Fprintf(out, "proposed roster change %s (epoch %d)\n", res.ID, res.Epoch)
			fmt.Fprintf(out, "other members approve with: aura-node admin approve %s\n", res.ID)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&req.Members, "member", nil, "a member of the new roster: AUTHORITY_ID[:BLS_KEY_HEX] (repeatable, required)")
	cmd.Flags().Uint32Var(&req.Threshold, "threshold", 0, "M of the new roster (default: a simple majority)")
	cmd.Flags().StringVar(&req.Reason, "reason", "", "why, recorded in the proposal")
	jsonFlag(cmd, &asJSON)
	return cmd
}
