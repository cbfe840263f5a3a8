package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/aura-node/aura-node/api"
	"github.com/aura-node/aura-node/release"
)

// Release management through the running node: certify (as a builder),
// revoke, supersede. The node checks each against its catalogue and
// refuses with the reason.

func (a *app) releaseCertifyCmd() *cobra.Command {
	var verify []string
	var allowSuperseded, asJSON bool
	cmd := &cobra.Command{
		Use:   "certify RELEASE_ID [--verify-output NAME=PATH]...",
		Short: "Certify a release's build as this node's authority (a builder)",
		Long: `Sign a build certificate over the release's provenance with this node's
authority key and publish it. Nodes whose discovery policy trusts this
authority as a builder count the certificate towards the builders they
require before fetching artifacts.

With --verify-output, give the files your own build produced (NAME=PATH,
or PATH named by its base name), one per artifact: their UnixFS roots and
sizes are recomputed and the certificate is refused unless they match the
manifest exactly (the output hash of the provenance). Certify only builds
you reproduced.

Refused for a release that is unknown, revoked, superseded (unless
--allow-superseded), or already certified by this authority.`,
		Example: `  aura-node release certify 3f5a... --verify-output ./dist/aura-node-linux-amd64 --verify-output ./dist/aura-node-linux-arm64`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := release.ParseID(args[0]); err != nil {
				return fmt.Errorf("%w (see `aura-node release list --json` for IDs)", err)
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			req := api.CertifyReleaseRequest{AllowSuperseded: allowSuperseded}
			if len(verify) > 0 {
				d, err := c.ReleaseDetail(cmd.Context(), args[0])
				if err != nil {
					return c.wrap(err)
				}
				if len(d.SignedManifest) == 0 {
					return fmt.Errorf("release %s has no verified manifest on this node yet", shortHex(args[0]))
				}
				id, _ := release.ParseID(args[0])
				m, _, err := release.VerifyManifest(d.SignedManifest, d.Signature, id)
				if err != nil {
					return fmt.Errorf("refusing to certify: the node's copy of the manifest does not verify: %w", err)
				}
				arts, views, err := rebuiltOutputs(cmd, verify)
				if err != nil {
					return err
				}
				if err := release.CompareOutputs(m, arts); err != nil {
					return fmt.Errorf("refusing to certify release %s: %w", shortHex(args[0]), err)
				}
				req.Rebuilt = views
			}
			res, err := c.CertifyRelease(cmd.Context(), args[0], req)
			if err != nil {
				return c.wrap(err)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), res)
			}
			verified := ""
			if len(verify) > 0 {
				verified = fmt.Sprintf(" (%s verified)", plural(len(verify), "rebuilt output"))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "certified release %s%s: fact %s\n", args[0], verified, res.ID)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&verify, "verify-output", nil, "a rebuilt file, NAME=PATH or PATH; repeatable, one per artifact")
	cmd.Flags().BoolVar(&allowSuperseded, "allow-superseded", false, "certify a release that has been superseded")
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (a *app) releaseRevokeCmd() *cobra.Command {
	var reason string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "revoke RELEASE_ID --reason TEXT",
		Short: "Revoke a release (as its release authority or the network admin)",
		Long: `Publish a revocation of the release, signed by this node's authority. Only
the release's own authority or the network admin may revoke it; any other
node refuses before writing anything. Every node marks the release
revoked: it stops fetching, pinning and recommending its artifacts (the
facts are still forwarded, so peers learn of the release and its
revocation together). Activation refuses a revoked release: a scope whose
target is only staged cancels it, and one that runs it rolls back by its
rollback preference (see docs/runbooks/revoked-release.md).`,
		Example: `  aura-node release revoke 3f5a... --reason "CVE-2026-1234: crash on malformed frames"`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if reason == "" {
				return fmt.Errorf("--reason is required: every node shows it next to the revoked release")
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			res, err := c.RevokeRelease(cmd.Context(), args[0], api.RevokeReleaseRequest{Reason: reason})
			if err != nil {
				return c.wrap(err)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked release %s: fact %s\n", args[0], res.ID)
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why the release is revoked (required)")
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (a *app) releaseSupersedeCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "supersede OLD_ID NEW_ID",
		Short: "Mark a release superseded by a newer one of its series",
		Long: `Publish that release OLD_ID is superseded by NEW_ID, signed by this node's
authority (OLD_ID's release authority or the network admin). NEW_ID must
be published, of the same series, of a higher version and not revoked.
Nodes stop fetching a superseded release's artifacts and stop
recommending it; it stays listed.`,
		Example: `  aura-node release supersede 3f5a... 9c21...`,
		Args:    exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			res, err := c.SupersedeRelease(cmd.Context(), args[0], api.SupersedeReleaseRequest{By: args[1]})
			if err != nil {
				return c.wrap(err)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "release %s is superseded by %s: fact %s\n", args[0], args[1], res.ID)
			return nil
		},
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}
