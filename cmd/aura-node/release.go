package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aura-node/aura-node/api"
)

func (a *app) releaseCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "release",
		Short: "Create, sign, publish, certify, revoke and inspect releases",
		Long: `A release is a signed manifest: series, version, provenance (source
repository, source bundle hash, build recipe hash, output hash), artifacts
addressed by their IPFS UnixFS root CIDs, compatibility and activation
profile. Its ID is the hash of the series and the provenance; every node
recomputes it and checks the release authority's signature before it
stores or forwards the declaration.

The life of a release:

  create     write an unsigned manifest from built files (offline)
  sign       sign it with a release authority key (offline)
  publish    hand it to the running node, which spreads it
  certify    builders vouch for the build, optionally after rebuilding it
  revoke     the release authority or the admin withdraws it
  supersede  a newer release of the series replaces it

Every node lists every valid release (list, show); its discovery policy
decides which it tracks and fetches, its sharing policy which it forwards,
pins and recommends (see ` + "`aura-node policy`" + `). Refusals say why: bad
signature, ID mismatch, tampered file, untrusted authority, revoked,
superseded, not authorised.`,
		Example: `  aura-node release create --series aura-node --version 1.4.0 --source-url https://github.com/aura-node/aura-node \
    --source-hash ./src.tar.gz --recipe-hash ./build.sh --artifact aura-node-linux-amd64=./dist/aura-node:binary:linux/amd64 --out manifest.json
  aura-node release sign manifest.json --out signed.json
  aura-node release publish signed.json
  aura-node release list
  aura-node release show 3f5a...`,
		Args: noArgs,
	}
	cmd.AddCommand(
		a.releaseCreateCmd(), a.releaseSignCmd(), a.releasePublishCmd(),
		a.releaseCertifyCmd(), a.releaseRevokeCmd(), a.releaseSupersedeCmd(),
		a.releaseListCmd(), a.releaseShowCmd(), a.releaseFetchCmd(),
	)
	return cmd
}

// releaseState is one word (and the reason) for a release's state.
func releaseState(r *api.ReleaseDetail) string {
	switch {
	case r.Revoked:
		return "revoked: " + r.RevokedReason
	case len(r.SupersededBy) > 0:
		return "superseded"
	case r.Series == "":
		return fmt.Sprintf("pending (%d records wait for a manifest)", r.Pending)
	}
	return "ok"
}

// tracking summarises this node's discovery decision: "fetch" (tracked
// and its artifacts fetched by itself), "tracked", or "ignored".
func tracking(r *api.ReleaseDetail) string {
	switch {
	case r.Discovery.Allows("fetch-artifacts"):
		return "fetch"
	case r.Discovery.Allows("discover"):
		return "tracked"
	}
	return "ignored"
}

func (a *app) releaseListCmd() *cobra.Command {
	var asJSON, discovered bool
	cmd := &cobra.Command{
		Use:   "list [--discovered]",
		Short: "List the releases this node knows, and which it tracks",
		Long: `List every release of the node's catalogue: ID, series, version, release
authorities, builders, state (ok, revoked, superseded, pending) and what
this node's discovery policy makes of it:

  fetch    tracked, and its artifacts are fetched automatically
  tracked  discovered (trusted authority, or recommended in a policy context)
  ignored  valid journal data, but not discovered (see ` + "`release show`" + ` for why)

--discovered lists only the tracked releases.`,
		Example: `  aura-node release list
  aura-node release list --discovered --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			rl, err := c.ReleaseDetails(cmd.Context())
			if err != nil {
				return c.wrap(err)
			}
			if discovered {
				var keep []api.ReleaseDetail
				for _, r := range rl.Releases {
					if r.Discovery.Allows("discover") {
						keep = append(keep, r)
					}
				}
				rl.Releases = append([]api.ReleaseDetail{}, keep...)
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
			fmt.Fprintln(tw, "ID\tSERIES\tVERSION\tAUTHORITIES\tBUILDERS\tTHIS NODE\tSTATE")
			for i := range rl.Releases {
				r := &rl.Releases[i]
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", shortHex(r.ID), dash(r.Series), dash(r.Version), len(r.Authorities), len(r.Builders), tracking(r), releaseState(r))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&discovered, "discovered", false, "only the releases this node's discovery policy tracks")
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (a *app) releaseShowCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show RELEASE_ID",
		Short: "Show one release: manifest, artifacts, certificates, state, and this node's decisions",
		Long: `Show one release of the catalogue by its 64-hex-digit ID (see
` + "`aura-node release list --json`" + `): the manifest (provenance, artifacts,
compatibility, activation profile, migrations), certificates (marked when
this node trusts the builder), who announced which artifact, revocations
and supersessions, and this node's discovery and sharing decisions with
every reason, e.g. "untrusted release authority ... [blocks discover]".`,
		Example: `  aura-node release show 3f5a...
  aura-node release show 3f5a... --json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			r, err := c.ReleaseDetail(cmd.Context(), args[0])
			if err != nil {
				return c.wrap(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, r)
			}
			printRelease(out, r)
			return nil
		},
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

func printRelease(out io.Writer, r *api.ReleaseDetail) {
	tw := newTable(out)
	fmt.Fprintf(tw, "release\t%s\n", r.ID)
	fmt.Fprintf(tw, "series\t%s %s\n", dash(r.Series), r.Version)
	fmt.Fprintf(tw, "state\t%s\n", releaseState(r))
	fmt.Fprintf(tw, "authorities\t%s\n", dash(strings.Join(r.Authorities, ", ")))
	if m := r.Manifest; m != nil {
		fmt.Fprintf(tw, "source\t%s\n", m.SourceRepo)
		fmt.Fprintf(tw, "source bundle\tsha256:%s\n", m.SourceBundleHash)
		fmt.Fprintf(tw, "build recipe\tsha256:%s\n", m.BuildRecipeHash)
		fmt.Fprintf(tw, "output hash\t%s\n", m.OutputHash)
		fmt.Fprintf(tw, "compatibility\t%s%s\n", r.Compatibility, prefixed(" (minimum legacy release ", m.MinimumLegacyRelease, ")"))
		fmt.Fprintf(tw, "activation\tthreshold approval %s, epoch fence %s, health gates %s\n", yesNo(m.ThresholdApprovalRequired), yesNo(m.EpochFenceRequired), dash(strings.Join(m.HealthGates, ", ")))
		if t := m.SuggestedActivationTimeUnixMs; t != nil {
			fmt.Fprintf(tw, "suggested activation\t%s (a hint only)\n", api.TimeText(*t))
		}
		for _, mg := range m.Migrations {
			fmt.Fprintf(tw, "migration\t%d -> %d %s\n", mg.From, mg.To, mg.Name)
		}
		fmt.Fprintf(tw, "series declared by\t%s\n", dash(strings.Join(r.SeriesDeclaredBy, ", ")))
	}
	for _, s := range r.Supersessions {
		fmt.Fprintf(tw, "superseded by\t%s (signed by %s%s)\n", s.By, s.Signer, adminMark(s.ByAdmin))
	}
	for _, rv := range r.Revocations {
		fmt.Fprintf(tw, "revoked\t%s (signed by %s%s)\n", dash(rv.Reason), rv.Signer, adminMark(rv.ByAdmin))
	}
	tw.Flush()

	if len(r.Artifacts) > 0 {
		fmt.Fprintln(out, "\nartifacts")
		tw = newTable(out)
		fmt.Fprintln(tw, "  NAME\tKIND\tPLATFORM\tPACKAGING\tSIZE\tROOT\tHOLDERS")
		for _, art := range r.Artifacts {
			pkg, holders := "", 0
			if r.Manifest != nil {
				pkg = r.Manifest.Packaging[art.Name]
			}
			for _, av := range r.Availability {
				if av.Artifact == art.Name {
					holders++
				}
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%d\n", art.Name, art.Kind, dash(art.Platform), dash(pkg), humanBytes(art.Size), art.Root, holders)
		}
		tw.Flush()
	}
	if len(r.Certificates) > 0 {
		fmt.Fprintln(out, "\ncertificates")
		tw = newTable(out)
		for _, cert := range r.Certificates {
			trust := "not trusted by this node"
			if cert.Trusted {
				trust = "trusted builder"
			}
			fmt.Fprintf(tw, "  %s\tbuilt %s\t%s\n", cert.Builder, api.TimeText(cert.BuiltAtUnixMs), trust)
		}
		tw.Flush()
	}
	printDecision(out, "discovery", r.Discovery)
	printDecision(out, "sharing", r.Sharing)
}

func printDecision(out io.Writer, name string, d api.ReleaseDecision) {
	allowed := "nothing"
	if len(d.Actions) > 0 {
		allowed = strings.Join(d.Actions, ", ")
	}
	fmt.Fprintf(out, "\n%s: %s\n", name, allowed)
	for _, r := range d.Reasons {
		line := "  - " + r.Text
		if len(r.Blocks) > 0 {
			line += " [blocks " + strings.Join(r.Blocks, ", ") + "]"
		}
		fmt.Fprintln(out, line)
	}
}

func yesNo(b bool) string {
	if b {
		return "required"
	}
	return "not required"
}

func adminMark(byAdmin bool) string {
	if byAdmin {
		return ", the network admin"
	}
	return ""
}

func prefixed(pre, s, post string) string {
	if s == "" {
		return ""
	}
	return pre + s + post
}

// shortHex abbreviates a long hex ID.
func shortHex(s string) string {
	if len(s) > 16 {
		return s[:16] + "…"
	}
	return s
}
