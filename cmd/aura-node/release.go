package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func (a *app) releaseCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "release",
		Short: "Show the release catalogue",
		Long: `Release facts (declarations with signed manifests, build certificates,
revocations, supersessions, artifact availability) replicate through the
journal like every fact; each node checks them (manifest signature, release
ID recomputed from series and provenance) and reduces them into the same
release catalogue. Creating, signing and publishing releases and fetching
artifacts come with the releases issue; today the catalogue can be read.`,
		Example: `  aura-node release list
  aura-node release show 3f5a...`,
		Args: noArgs,
	}
	cmd.AddCommand(a.releaseListCmd(), a.releaseShowCmd())
	return cmd
}

func (a *app) releaseListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List the releases this node knows",
		Long:    "List every release of the catalogue: ID, series, version, release authorities, builders, and whether it is revoked or superseded.",
		Example: `  aura-node release list --json`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			rl, err := c.Releases(cmd.Context())
			if err != nil {
				return c.wrap(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, rl)
			}
			if len(rl.Releases) == 0 {
				fmt.Fprintln(out, "no releases")
				return nil
			}
			tw := newTable(out)
			fmt.Fprintln(tw, "ID\tSERIES\tVERSION\tAUTHORITIES\tBUILDERS\tSTATE")
			for _, r := range rl.Releases {
				state := "ok"
				switch {
				case r.Revoked:
					state = "revoked: " + r.RevokedReason
				case len(r.SupersededBy) > 0:
					state = "superseded"
				case r.Series == "":
					state = fmt.Sprintf("pending (%d records wait for a manifest)", r.Pending)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", shortHex(r.ID), dash(r.Series), dash(r.Version), len(r.Authorities), len(r.Builders), state)
			}
			return tw.Flush()
		},
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (a *app) releaseShowCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "show RELEASE_ID",
		Short:   "Show one release: manifest summary, artifacts, certificates, state",
		Long:    "Show one release of the catalogue by its 64-hex-digit ID (see `aura-node release list --json`).",
		Example: `  aura-node release show 3f5a...`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			r, err := c.Release(cmd.Context(), args[0])
			if err != nil {
				return c.wrap(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, r)
			}
			tw := newTable(out)
			fmt.Fprintf(tw, "release\t%s\n", r.ID)
			fmt.Fprintf(tw, "series\t%s %s\n", dash(r.Series), r.Version)
			fmt.Fprintf(tw, "compatibility\t%s\n", dash(r.Compatibility))
			fmt.Fprintf(tw, "authorities\t%s\n", dash(strings.Join(r.Authorities, ", ")))
			fmt.Fprintf(tw, "builders\t%s\n", dash(strings.Join(r.Builders, ", ")))
			state := "ok"
			if r.Revoked {
				state = "revoked: " + r.RevokedReason
			} else if len(r.SupersededBy) > 0 {
				state = "superseded by " + strings.Join(r.SupersededBy, ", ")
			}
			fmt.Fprintf(tw, "state\t%s\n", state)
			tw.Flush()
			if len(r.Artifacts) > 0 {
				fmt.Fprintln(out, "\nartifacts")
				tw = newTable(out)
				fmt.Fprintln(tw, "  NAME\tKIND\tPLATFORM\tSIZE\tROOT")
				for _, art := range r.Artifacts {
					fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%s\n", art.Name, art.Kind, dash(art.Platform), art.Size, art.Root)
				}
				tw.Flush()
			}
			return nil
		},
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

// shortHex abbreviates a long hex ID.
func shortHex(s string) string {
	if len(s) > 16 {
		return s[:16] + "…"
	}
	return s
}
