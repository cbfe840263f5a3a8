package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aura-node/aura-node/api"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/node"
	"github.com/aura-node/aura-node/release"
)

func (a *app) policyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Set and show this node's release discovery and sharing policies",
		Long: `Two local policies decide what a node does with the releases it learns
about. Both live in the home's config.json, apply at once to a running
node, and can be published as facts for others to read (--publish).

Discovery: which release authorities and builders the node trusts, which
relational contexts it learns recommendations from, whether it fetches
release metadata and artifacts by itself, and how many trusted builders
must have certified a release before its artifacts are fetched. The
node's own authority is always a trusted release authority. A release by
an untrusted authority is still valid journal data and listed, but not
tracked or fetched.

Sharing: which releases' facts the node relays to peers (forward), whose
artifacts it keeps and serves (pin, which is also what it announces as
available), and which it recommends. Each is a selector: none, trusted
(declared by a trusted release authority), all, or series:NAME[,NAME...]
(trusted releases of those series). Default: forward all, pin trusted,
recommend none.

Discovering a release does not imply forwarding it; forwarding does not
imply activating it.`,
		Example: `  aura-node policy set discovery --trust-authority 12D3KooW... --trust-builder 12D3KooW... --required-builders 1 --auto-fetch-artifacts
  aura-node policy set sharing --pin series:aura-node --publish
  aura-node policy show`,
		Args: noArgs,
	}
	cmd.AddCommand(a.policySetCmd(), a.policyShowCmd())
	return cmd
}

type policyFlags struct {
	file                                    string
	trust, distrust, builders, dropBuilders []string
	contexts, dropContexts                  []string
	required                                int
	autoMeta, autoArtifacts                 bool
	forward, pin, recommend                 string
	reset, publish, asJSON                  bool
	act                                     activationFlags // upgrade.go
}

func (a *app) policySetCmd() *cobra.Command {
	var f policyFlags
	cmd := &cobra.Command{
		Use:   "set discovery|sharing|activation [--file POLICY.json] [flags] [--publish]",
		Short: "Change the discovery or sharing policy (config.json and the running node)",
		Long: `Change one policy. It starts from the current one (config.json), or from
--file (a JSON policy, as ` + "`policy show --json`" + ` prints it), or from nothing
with --reset, then the flags change it. The result is checked, applied to
the running node if there is one, and saved in config.json, so it
survives restarts. --publish also writes it as a policy fact for this
node's authority (needs the running node).

Discovery flags: --trust-authority, --distrust-authority, --trust-builder,
--distrust-builder, --context, --drop-context (repeatable),
--required-builders N, --auto-fetch-metadata[=false],
--auto-fetch-artifacts[=false].

Sharing flags: --forward, --pin, --recommend, each none, trusted, all or
series:NAME[,NAME...].

Activation (see ` + "`aura-node upgrade --help`" + `): without --scope, this device's
own policy and settings (config.json's activation section, applied to the
running node, which publishes the policy for its device scope); with
--scope KEY of a scope this node's authority owns, the policy is published
for that scope from the running node. Policy flags: --trust-authority,
--distrust-authority, --trust-builder, --distrust-builder,
--required-builders N, --allow-class CLASS (backward-compatible,
mixed-coexistence-allowed, scoped-hard-fork, incompatible-without-partition,
or the same as BackwardCompatible ...), --rollout-percent, --not-before,
--not-after, --daily-window, --ignore-suggested-time, --require-gate,
--drop-required-gate, --rollback automatic|manual-approval, --epoch-fence,
--in-flight drain|abort|delegate. Device settings: --join SCOPE, --leave
SCOPE, --gate NAME=COMMAND, --drop-gate NAME, --manual, --series,
--health-timeout.`,
		Example: `  aura-node policy set discovery --trust-authority 12D3KooWA... --auto-fetch-metadata --auto-fetch-artifacts
  aura-node policy set discovery --trust-builder 12D3KooWB... --trust-builder 12D3KooWC... --required-builders 2
  aura-node policy set sharing --forward all --pin series:aura-node --recommend none --publish
  aura-node policy set discovery --file discovery.json
  aura-node policy set activation --trust-authority 12D3KooWA... --join context:12D3KooWA.../fleet --gate smoke='aura-node --home "$AURA_HOME" status'
  aura-node policy set activation --scope context:12D3KooWA.../fleet --trust-authority 12D3KooWA... --rollback manual-approval`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return a.runPolicySet(cmd, args[0], &f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.file, "file", "", "start from this JSON policy instead of the current one")
	fl.BoolVar(&f.reset, "reset", false, "start from the empty policy (trust nobody, share nothing) instead of the current one")
	fl.StringArrayVar(&f.trust, "trust-authority", nil, "trust a release authority (discovery; repeatable)")
	fl.StringArrayVar(&f.distrust, "distrust-authority", nil, "stop trusting a release authority (discovery; repeatable)")
	fl.StringArrayVar(&f.builders, "trust-builder", nil, "trust a builder authority (discovery; repeatable)")
	fl.StringArrayVar(&f.dropBuilders, "distrust-builder", nil, "stop trusting a builder (discovery; repeatable)")
	fl.StringArrayVar(&f.contexts, "context", nil, "learn releases recommended in this context by trusted authorities (discovery; repeatable)")
	fl.StringArrayVar(&f.dropContexts, "drop-context", nil, "stop learning from a context (discovery; repeatable)")
	fl.IntVar(&f.required, "required-builders", 0, "trusted builders that must certify a release before its artifacts are fetched (discovery)")
	fl.BoolVar(&f.autoMeta, "auto-fetch-metadata", false, "fetch manifests and certificates of discovered releases by itself (discovery)")
	fl.BoolVar(&f.autoArtifacts, "auto-fetch-artifacts", false, "fetch artifacts of discovered, certified, unrevoked releases by itself (discovery)")
	fl.StringVar(&f.forward, "forward", "", "releases whose facts this node relays: none, trusted, all, series:A,B (sharing)")
	fl.StringVar(&f.pin, "pin", "", "releases whose artifacts this node keeps, serves and announces (sharing)")
	fl.StringVar(&f.recommend, "recommend", "", "releases this node recommends (sharing)")
	fl.BoolVar(&f.publish, "publish", false, "also publish the policy as a fact (needs the running node)")
	jsonFlag(cmd, &f.asJSON)
	addActivationFlags(cmd, &f.act)
	return cmd
}

var discoveryOnly = []string{"trust-authority", "distrust-authority", "trust-builder", "distrust-builder", "context", "drop-context", "required-builders", "auto-fetch-metadata", "auto-fetch-artifacts"}
var sharingOnly = []string{"forward", "pin", "recommend"}

func parseAuthorities(flag string, list []string) ([]facts.AuthorityID, error) {
	var out []facts.AuthorityID
	for _, s := range list {
		id, err := facts.ParseAuthorityID(s)
		if err != nil {
			return nil, fmt.Errorf("--%s %q is not an authority ID (print one with `aura-node keys show --authority`)", flag, s)
		}
		out = append(out, id)
	}
	return out, nil
}

func (a *app) runPolicySet(cmd *cobra.Command, which string, f *policyFlags) error {
	if which == "activation" {
		return a.runPolicySetActivation(cmd, f)
	}
	if which != "discovery" && which != "sharing" {
		return fmt.Errorf("unknown policy %q: want discovery or sharing, or activation (see `%s --help`)", which, cmd.CommandPath())
	}
	wrong := append(slices.Clone(sharingOnly), activationOnly...)
	if which == "sharing" {
		wrong = append(slices.Clone(discoveryOnly), activationOnly...)
	}
	for _, name := range wrong {
		if cmd.Flags().Changed(name) {
			return fmt.Errorf("--%s does not apply to the %s policy (see `%s --help`)", name, which, cmd.CommandPath())
		}
	}
	home, err := node.OpenHome(a.home)
	if err != nil {
		return err
	}
	cfg, err := home.LoadConfig()
	if err != nil {
		return err
	}
	var fileDoc []byte
	if f.file != "" {
		if fileDoc, err = readInput(f.file, release.MaxPolicyLen*4); err != nil {
			return err
		}
	}
	var doc []byte
	if which == "discovery" {
		p := release.DiscoveryPolicy{}
		if cfg.ReleaseDiscovery != nil && !f.reset {
			p = *cfg.ReleaseDiscovery
		}
		if fileDoc != nil {
			p = release.DiscoveryPolicy{}
			if err := strictJSON(fileDoc, &p); err != nil {
				return fmt.Errorf("%s: not a discovery policy: %w", f.file, err)
			}
		}
		if err := applyDiscoveryFlags(cmd, &p, f); err != nil {
			return err
		}
		p.Normalize()
		if err := p.Validate(); err != nil {
			return fmt.Errorf("refusing the discovery policy: %w", err)
		}
		cfg.ReleaseDiscovery = &p
		doc, _ = json.Marshal(p)
	} else {
		p := release.DefaultSharingPolicy()
		if f.reset {
			p = release.SharingPolicy{}
		} else if cfg.ReleaseSharing != nil {
			p = *cfg.ReleaseSharing
		}
		if fileDoc != nil {
			p = release.SharingPolicy{}
			if err := strictJSON(fileDoc, &p); err != nil {
				return fmt.Errorf("%s: not a sharing policy: %w", f.file, err)
			}
		}
		for _, sel := range []struct {
			flag, v string
			out     *release.Selector
		}{{"forward", f.forward, &p.Forward}, {"pin", f.pin, &p.Pin}, {"recommend", f.recommend, &p.Recommend}} {
			if sel.v == "" {
				continue
			}
			s, err := release.ParseSelector(sel.v)
			if err != nil {
				return fmt.Errorf("--%s: %w", sel.flag, err)
			}
			*sel.out = s
		}
		if err := p.Validate(); err != nil {
			return fmt.Errorf("refusing the sharing policy: %w", err)
		}
		cfg.ReleaseSharing = &p
		doc, _ = json.Marshal(p)
	}

	// Apply to the running node first (it checks again), then save.
	var view *api.ReleasePolicyView
	running := false
	if c, err := a.connect(); err == nil {
		req := api.SetReleasePolicyRequest{Publish: f.publish}
		if which == "discovery" {
			req.Discovery = doc
		} else {
			req.Sharing = doc
		}
		view, err = c.SetReleasePolicy(cmd.Context(), req)
		switch {
		case err == nil:
			running = true
		case errors.Is(err, api.ErrUnreachable):
		default:
			return c.wrap(err)
		}
	}
	if f.publish && !running {
		return fmt.Errorf("--publish needs the running node (start it with `aura-node run --home %s`); nothing was changed", a.home)
	}
	if err := home.SaveConfig(cfg); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if f.asJSON {
		return printJSON(out, struct {
			Policy    string            `json:"policy"`
			Document  json.RawMessage   `json:"document"`
			Running   bool              `json:"applied_to_running_node"`
			Published []api.WriteResult `json:"published,omitempty"`
		}{which, doc, running, factsOf(view)})
	}
	where := "saved in config.json; it applies when the node starts"
	if running {
		where = "applied to the running node and saved in config.json"
	}
	fmt.Fprintf(out, "%s policy %s\n", which, where)
	printPolicyDoc(out, which, doc)
	for _, w := range factsOf(view) {
		fmt.Fprintf(out, "published as fact %s (%s)\n", w.ID, w.Kind)
	}
	return nil
}

func factsOf(v *api.ReleasePolicyView) []api.WriteResult {
	if v == nil {
		return nil
	}
	return v.Facts
}

// applyTrust adds to and removes from the two lists the authorities of
// --trust-authority, --distrust-authority, --trust-builder and
// --distrust-builder (the discovery and activation policies share them).
func (f *policyFlags) applyTrust(authorities, builders *[]facts.AuthorityID) error {
	for _, l := range []struct {
		list              *[]facts.AuthorityID
		addFlag, dropFlag string
		addArgs, dropArgs []string
	}{
		{authorities, "trust-authority", "distrust-authority", f.trust, f.distrust},
		{builders, "trust-builder", "distrust-builder", f.builders, f.dropBuilders},
	} {
		add, err := parseAuthorities(l.addFlag, l.addArgs)
		if err != nil {
			return err
		}
		drop, err := parseAuthorities(l.dropFlag, l.dropArgs)
		if err != nil {
			return err
		}
		*l.list = slices.DeleteFunc(append(*l.list, add...), func(a facts.AuthorityID) bool { return slices.Contains(drop, a) })
	}
	return nil
}

func applyDiscoveryFlags(cmd *cobra.Command, p *release.DiscoveryPolicy, f *policyFlags) error {
	if err := f.applyTrust(&p.TrustedReleaseAuthorities, &p.TrustedBuilders); err != nil {
		return err
	}
	p.Contexts = slices.DeleteFunc(append(p.Contexts, f.contexts...), func(c string) bool { return slices.Contains(f.dropContexts, c) })
	fl := cmd.Flags()
	if fl.Changed("required-builders") {
		p.RequiredBuilders = f.required
	}
	if fl.Changed("auto-fetch-metadata") {
		p.AutoFetchMetadata = f.autoMeta
	}
	if fl.Changed("auto-fetch-artifacts") {
		p.AutoFetchArtifacts = f.autoArtifacts
	}
	return nil
}

// printPolicyDoc prints a policy document for people.
func printPolicyDoc(out io.Writer, which string, doc []byte) {
	tw := newTable(out)
	if which == "discovery" {
		var p release.DiscoveryPolicy
		json.Unmarshal(doc, &p)
		fmt.Fprintf(tw, "  trusted release authorities\t%s\n", authList(p.TrustedReleaseAuthorities))
		fmt.Fprintf(tw, "  trusted builders\t%s\n", authList(p.TrustedBuilders))
		fmt.Fprintf(tw, "  required builders\t%d\n", p.RequiredBuilders)
		fmt.Fprintf(tw, "  contexts\t%s\n", dash(strings.Join(p.Contexts, ", ")))
		fmt.Fprintf(tw, "  auto-fetch metadata\t%v\n", p.AutoFetchMetadata)
		fmt.Fprintf(tw, "  auto-fetch artifacts\t%v\n", p.AutoFetchArtifacts)
	} else {
		var p release.SharingPolicy
		json.Unmarshal(doc, &p)
		fmt.Fprintf(tw, "  forward\t%s\n", p.Forward)
		fmt.Fprintf(tw, "  pin\t%s\n", p.Pin)
		fmt.Fprintf(tw, "  recommend\t%s\n", p.Recommend)
	}
	tw.Flush()
}

func authList(as []facts.AuthorityID) string {
	if len(as) == 0 {
		return "-"
	}
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

func (a *app) policyShowCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Show the discovery and sharing policies (and those published in the journal)",
		Long: `Show this node's discovery and sharing policies: from the running node if
there is one (with the policies other authorities published in the
journal), else from config.json. The node's own authority is always a
trusted release authority, whether listed or not.`,
		Example: `  aura-node policy show
  aura-node policy show --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var view *api.ReleasePolicyView
			if c, err := a.connect(); err == nil {
				v, err := c.ReleasePolicy(cmd.Context())
				if err != nil && !errors.Is(err, api.ErrUnreachable) {
					return c.wrap(err)
				}
				view = v
				if err != nil {
					view = nil
				}
			}
			if view == nil {
				home, err := node.OpenHome(a.home)
				if err != nil {
					return err
				}
				cfg, err := home.LoadConfig()
				if err != nil {
					return err
				}
				keys, err := home.LoadKeys()
				if err != nil {
					return err
				}
				view = &api.ReleasePolicyView{Self: keys.AuthorityID().String(), Published: []api.PublishedPolicy{}}
				d, s := release.DiscoveryPolicy{}, release.DefaultSharingPolicy()
				if cfg.ReleaseDiscovery != nil {
					d, view.DiscoverySet = *cfg.ReleaseDiscovery, true
				}
				if cfg.ReleaseSharing != nil {
					s, view.SharingSet = *cfg.ReleaseSharing, true
				}
				view.Discovery, _ = json.Marshal(d)
				view.Sharing, _ = json.Marshal(s)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, view)
			}
			fmt.Fprintf(out, "discovery policy%s (this node's authority %s is always trusted)\n", defaultMark(view.DiscoverySet), view.Self)
			printPolicyDoc(out, "discovery", view.Discovery)
			fmt.Fprintf(out, "sharing policy%s\n", defaultMark(view.SharingSet))
			printPolicyDoc(out, "sharing", view.Sharing)
			if len(view.Published) > 0 {
				fmt.Fprintln(out, "\npublished in the journal")
				tw := newTable(out)
				for _, p := range view.Published {
					var doc bytes.Buffer
					json.Compact(&doc, p.Policy)
					fmt.Fprintf(tw, "  %s\t%s\t%s\n", p.Scope, p.Kind, doc.String())
				}
				tw.Flush()
			}
			return nil
		},
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

func defaultMark(set bool) string {
	if set {
		return ""
	}
	return " (default)"
}

// strictJSON decodes one JSON document, refusing unknown fields.
func strictJSON(raw []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON document")
	}
	return nil
}
