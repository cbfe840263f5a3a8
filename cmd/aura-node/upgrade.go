package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aura-node/aura-node/activation"
	"github.com/aura-node/aura-node/api"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/node"
	"github.com/aura-node/aura-node/release"
)

func (a *app) upgradeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "upgrade",
		Short: "Scoped activation: status of the scopes, stage, approve, cut over, roll back",
		Long: `A release that reached this node is activated per scope, never network
wide. A scope is this device (device:AUTHORITY/PEER), an authority's
devices (authority:OWNER), a relational context (context:OWNER/ID) or a
managed quorum (quorum:OWNER/ID/P1,P2,...). Each scope's owner publishes
its activation policy (` + "`aura-node policy set activation --scope KEY`" + `); the
device scope's policy is config.json's activation section.

Every second the node evaluates, for each scope it takes part in, the
newest release of its series the scope's policy trusts, and does the next
step through its launcher (` + "`aura-node launcher --home DIR`" + `): stage the
release, cut over to it once every check passes (approvals, fences,
windows, gates), roll back when the scope says so. Each step is recorded
as a journal fact, so every node shows the same state of every scope.

The subcommands ask the running node; each refusal says why.`,
		Example: `  aura-node upgrade status
  aura-node upgrade status --scope context:12D3KooW.../fleet --checks
  aura-node upgrade approve --scope quorum:12D3KooWA.../ops/12D3KooWA...,12D3KooWB...
  aura-node upgrade approve-rollback --scope context:12D3KooW.../fleet --reason "gate smoke fails"`,
		Args: noArgs,
	}
	cmd.AddCommand(a.upgradeStatusCmd())
	for _, spec := range []struct{ action, short, long, example string }{
		{api.UpgradeStage, "Stage the scope's candidate release now (the node stages by itself unless activation.manual)",
			"Evaluate the scope's candidate (or --release) and, if the next step is to stage it, export its binary\nfrom the block store to the launcher, which verifies and installs it; the staging is recorded once done.",
			"  aura-node upgrade stage --scope device\n  aura-node upgrade stage --scope context:12D3KooW.../fleet --release 3f5a..."},
		{api.UpgradeCutover, "Cut over to the scope's staged release now, if every check passes",
			"Evaluate the scope and, if the next step is the cutover, record it and ask the launcher to stop this\nnode, checkpoint its data, start the new release and run the health gates. Otherwise the refusal\nnames the checks that block it (approvals, fence, window, gates...).",
			"  aura-node upgrade cutover --scope device"},
		{api.UpgradeApprove, "Approve the cutover of a managed quorum (participants), or set the epoch fence (owner)",
			"Record this authority's approval of the cutover to the scope's target (or --release). In a managed\nquorum every participant must approve before any device cuts over; a non-participant is refused.\nThe owner of a scope that owns an epoch fence sets it with --fence-epoch.",
			"  aura-node upgrade approve --scope quorum:12D3KooWA.../ops/12D3KooWA...,12D3KooWB...\n  aura-node upgrade approve --scope context:12D3KooW.../fleet --fence-epoch 7"},
		{api.UpgradeRollback, "Request the rollback of the scope's target (owner)",
			"The owner fails the scope's target with ManualRollbackRequested and orders every device on it to\nroll back to the release it ran before.",
			"  aura-node upgrade rollback --scope context:12D3KooW.../fleet --reason \"drops peers\""},
		{api.UpgradeApproveRollback, "Approve the rollback of a failed target under ManualApproval (owner)",
			"Under the ManualApproval rollback preference a failed target stays failed until its owner approves\nthe rollback; then every device still on it rolls back.",
			"  aura-node upgrade approve-rollback --scope context:12D3KooW.../fleet"},
		{api.UpgradeCancel, "Cancel the scope's staged target (owner); it never becomes the target again",
			"Cancel a target that no device runs yet. Devices that run it must roll back instead.",
			"  aura-node upgrade cancel --scope context:12D3KooW.../fleet --reason \"wrong build\""},
	} {
		cmd.AddCommand(a.upgradeActionCmd(spec.action, spec.short, spec.long, spec.example))
	}
	return cmd
}

func (a *app) upgradeActionCmd(action, short, long, example string) *cobra.Command {
	var req api.UpgradeActionRequest
	var asJSON bool
	cmd := &cobra.Command{
		Use:     action + " [--scope KEY] [flags]",
		Short:   short,
		Long:    long + "\n\n--scope takes a scope key, device, authority, or nothing: the only scope in\nconfig.json's activation.scopes, else this device's scope.",
		Example: example,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			req.Action = action
			res, err := c.UpgradeAction(cmd.Context(), req)
			if err != nil {
				return c.wrap(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, res)
			}
			fmt.Fprintf(out, "%s: %s\n", res.Scope, res.Message)
			for _, w := range res.Facts {
				fmt.Fprintf(out, "  fact %s (%s)\n", w.ID, w.Kind)
			}
			if res.Launcher != "" {
				fmt.Fprintf(out, "  launcher: %s\n", res.Launcher)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&req.Scope, "scope", "", "scope key, device or authority")
	if action != api.UpgradeRollback && action != api.UpgradeApproveRollback {
		fl.StringVar(&req.Release, "release", "", "release ID (default: the scope's candidate or target)")
	}
	if action == api.UpgradeApprove {
		fl.Uint64Var(&req.FenceEpoch, "fence-epoch", 0, "owner: the identity epoch from which a hard fork may cut over")
	}
	if action != api.UpgradeStage && action != api.UpgradeCutover {
		fl.StringVar(&req.Reason, "reason", "", "free text recorded with the fact")
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (a *app) upgradeStatusCmd() *cobra.Command {
	var req api.UpgradeStatusRequest
	var asJSON, checks bool
	cmd := &cobra.Command{
		Use:   "status [--scope KEY] [--all] [--checks]",
		Short: "Show each scope: residency, transition, target, ready devices, approvals, last failure",
		Long: `Show, for each scope this device takes part in (one with --scope, every
scope the node knows with --all): residency (LegacyOnly, Coexisting,
TargetOnly), transition (Idle, AwaitingCutover, CuttingOver, RollingBack),
the target release and version, devices ready out of total, the approval
threshold and who is missing (managed quorum), the last failure, every
device (what it runs, what it is doing, the in-flight disposition of a
cutover in progress, partitions observed, its gates), and this device's
next step with the reason. The header shows this node's protocol version
and, once it runs a hard fork, how many sessions with other versions it
refused; its sessions line says what this process's last cutover did with
its in-flight anti-entropy sessions (drain, delegate, abort), or that a
cutover is handling them now. --checks adds every check of this device's evaluation.`,
		Example: `  aura-node upgrade status
  aura-node upgrade status --all
  aura-node upgrade status --scope device --checks --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			st, err := c.UpgradeStatus(cmd.Context(), req)
			if err != nil {
				return c.wrap(err)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), st)
			}
			printUpgradeStatus(cmd.OutOrStdout(), st, checks)
			return nil
		},
	}
	cmd.Flags().StringVar(&req.Scope, "scope", "", "one scope: a key, device or authority")
	cmd.Flags().BoolVar(&req.All, "all", false, "every scope the node knows, not only those this device takes part in")
	cmd.Flags().BoolVar(&checks, "checks", false, "show every check of this device's evaluation")
	jsonFlag(cmd, &asJSON)
	return cmd
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	if id == "" {
		return "-"
	}
	return id
}

func shortAuthority(s string) string {
	if a, err := facts.ParseAuthorityID(s); err == nil {
		return a.Short()
	}
	return s
}

func shortAuthorities(ss []string) string {
	if len(ss) == 0 {
		return "-"
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = shortAuthority(s)
	}
	return strings.Join(out, ", ")
}

// printUpgradeStatus prints the status for people.
func printUpgradeStatus(out io.Writer, st *api.UpgradeStatus, checks bool) {
	tw := newTable(out)
	fmt.Fprintf(tw, "device\t%s (authority %s)\n", st.Device, shortAuthority(st.Authority))
	if st.RunningName == "" {
		fmt.Fprintf(tw, "running\tversion %s on %s, protocol %d\n", st.Version, st.Platform, st.Protocol)
	} else {
		fmt.Fprintf(tw, "running\trelease %s, version %s on %s, protocol %d\n", short(st.RunningName), st.Version, st.Platform, st.Protocol)
	}
	if st.HardFork != "" {
		fmt.Fprintf(tw, "hard fork\t%s: sessions with other protocol versions refused (%d so far)\n", short(st.HardFork), st.RefusedSessions)
	}
	if st.Sessions != "" {
		fmt.Fprintf(tw, "sessions\t%s\n", st.Sessions)
	}
	switch {
	case st.Launcher:
		fmt.Fprintf(tw, "launcher\t%s (%d pending)\n", st.LauncherHome, st.LauncherPending)
	default:
		fmt.Fprintf(tw, "launcher\tnone: stage, cutover and rollback are refused\n")
	}
	mode := "not configured (config.json has no activation section): the node acts on nothing"
	if st.Configured {
		mode = "automatic (series " + st.Series + ")"
		if st.Manual {
			mode = "manual: stages and cuts over only when told (series " + st.Series + ")"
		}
	}
	fmt.Fprintf(tw, "activation\t%s\n", mode)
	tw.Flush()
	for _, s := range st.Scopes {
		fmt.Fprintln(out)
		part := "this device takes part"
		if !s.Participating {
			part = "this device does not take part"
		}
		fmt.Fprintf(out, "scope %s\n", s.Scope)
		tw := newTable(out)
		fmt.Fprintf(tw, "  kind\t%s, owner %s, policy %s, %s\n", s.Kind, shortAuthority(s.Owner), s.PolicySource, part)
		fmt.Fprintf(tw, "  residency\t%s\n", s.Residency)
		fmt.Fprintf(tw, "  transition\t%s\n", s.Transition)
		if t := s.Target; t != nil {
			fmt.Fprintf(tw, "  target\t%s version %s (%s), %s\n", short(t.Release), t.Version, t.Class, t.State)
			if t.Cancelled != "" {
				fmt.Fprintf(tw, "  cancelled\t%s\n", t.Cancelled)
			}
			if t.Fence != nil {
				fmt.Fprintf(tw, "  epoch fence\t%d\n", *t.Fence)
			}
		} else {
			fmt.Fprintf(tw, "  target\t-\n")
		}
		fmt.Fprintf(tw, "  ready\t%d/%d devices\n", s.Ready, s.Total)
		if s.Kind == "quorum" {
			approved := 0
			if s.Target != nil {
				approved = len(s.Target.Approved)
			}
			missing := "-"
			if s.Target != nil {
				missing = shortAuthorities(s.Target.Missing)
			}
			fmt.Fprintf(tw, "  approvals\t%d/%d (threshold %d), missing %s\n", approved, s.Threshold, s.Threshold, missing)
		}
		if f := s.LastFailure; f != nil {
			rb := ""
			if s.Target != nil && s.Target.Failure != nil {
				rb = ", rollback " + s.Target.Rollback
			}
			fmt.Fprintf(tw, "  last failure\t%s: %s%s\n", f.Class, f.Detail, rb)
		} else {
			fmt.Fprintf(tw, "  last failure\t-\n")
		}
		if s.Next != nil {
			fmt.Fprintf(tw, "  next here\t%s: %s\n", s.Next.Action, s.Next.Reason)
		}
		if s.LastError != "" {
			fmt.Fprintf(tw, "  last error\t%s\n", s.LastError)
		}
		tw.Flush()
		if len(s.Devices) > 0 {
			fmt.Fprintln(out, "  devices")
			tw = newTable(out)
			for _, d := range s.Devices {
				state := []string{strings.ToLower(d.Doing)}
				if d.Ready {
					state = append(state, "ready")
				}
				if d.Healthy {
					state = append(state, "healthy")
				}
				if d.MustRollBack {
					state = append(state, "must-roll-back")
				}
				// A cutover in progress says how it treats in-flight
				// sessions; a hard fork the partitions seen on it.
				var more []string
				if d.InFlight != "" {
					more = append(more, "in-flight="+d.InFlight)
				}
				if d.Partitions > 0 {
					more = append(more, fmt.Sprintf("partitions=%d", d.Partitions))
				}
				var gates []string
				for _, g := range d.Gates {
					gates = append(gates, g.Name+"="+g.State)
				}
				ver := d.RunningVersion
				if ver == "" {
					ver = "?"
				}
				fmt.Fprintf(tw, "    %s\t%s\t%s %s\t%s\t%s\t%s\n", shortAuthority(d.Authority), short(d.Device), short(d.Running), ver, strings.Join(state, ","), strings.Join(more, " "), strings.Join(gates, " "))
			}
			tw.Flush()
		}
		if len(s.Refused) > 0 {
			fmt.Fprintf(out, "  refused events: %d, last: %s %s: %s\n", len(s.Refused), s.Refused[len(s.Refused)-1].Kind, short(s.Refused[len(s.Refused)-1].Fact), s.Refused[len(s.Refused)-1].Reason)
		}
		if checks && s.Decision != nil {
			fmt.Fprintf(out, "  evaluation of %s: %s\n", short(s.Decision.Release), s.Decision.Verdict)
			for _, c := range s.Decision.Checks {
				res := c.Result
				if c.Blocks != "" {
					res += "(" + c.Blocks + ")"
				}
				id := c.ID
				if c.Subject != "" {
					id += "[" + c.Subject + "]"
				}
				fmt.Fprintf(out, "    %-12s %s: %s\n", res, id, c.Text)
			}
		}
	}
}

// activationFlags are the flags of `policy set activation`.
type activationFlags struct {
	scope                        string
	classes                      []string
	rollout                      float64
	notBefore, notAfter          string
	daily                        string
	ignoreHint, epochFence       bool
	requireGates, dropGates      []string
	rollback, inFlight           string
	canary                       int
	join, leave, gates, dropCmds []string
	manual                       bool
	series                       string
	healthTimeout                time.Duration
}

// activationOnly are the flags only `policy set activation` takes.
var activationOnly = []string{"scope", "allow-class", "rollout-percent", "not-before", "not-after", "daily-window",
	"ignore-suggested-time", "epoch-fence", "require-gate", "drop-required-gate", "rollback", "in-flight", "canary",
	"join", "leave", "gate", "drop-gate", "manual", "series", "health-timeout"}

// deviceOnly are the activation flags about this node, not a policy.
var deviceOnly = []string{"join", "leave", "gate", "drop-gate", "manual", "series", "health-timeout"}

func addActivationFlags(cmd *cobra.Command, f *activationFlags) {
	fl := cmd.Flags()
	fl.StringVar(&f.scope, "scope", "", "activation: the scope (default device: this device's own, from config.json); others are published by their owner")
	fl.StringArrayVar(&f.classes, "allow-class", nil, "activation: allowed compatibility class, backward-compatible, mixed-coexistence-allowed, scoped-hard-fork or incompatible-without-partition (or BackwardCompatible ...; repeatable; replaces the list)")
	fl.Float64Var(&f.rollout, "rollout-percent", 100, "activation: share of devices in the rollout cohort")
	fl.StringVar(&f.notBefore, "not-before", "", "activation: window start (RFC 3339, or none)")
	fl.StringVar(&f.notAfter, "not-after", "", "activation: window end (RFC 3339, or none)")
	fl.StringVar(&f.daily, "daily-window", "", "activation: daily UTC window HH:MM-HH:MM (or none)")
	fl.BoolVar(&f.ignoreHint, "ignore-suggested-time", false, "activation: ignore a release's suggested activation time")
	fl.BoolVar(&f.epochFence, "epoch-fence", false, "activation: the scope owns an epoch fence (not a device scope)")
	fl.StringArrayVar(&f.requireGates, "require-gate", nil, "activation: health gate required besides the release's (repeatable)")
	fl.StringArrayVar(&f.dropGates, "drop-required-gate", nil, "activation: stop requiring a gate (repeatable)")
	fl.StringVar(&f.rollback, "rollback", "", "activation: rollback preference, automatic or manual-approval")
	fl.StringVar(&f.inFlight, "in-flight", "", "activation: in-flight sessions at a hard-fork cutover: drain, abort or delegate")
	fl.IntVar(&f.canary, "canary", 0, "activation: devices that cut over to a soft fork first; the others wait until they run it with every gate passed (0: all at once; default 1 in a scope of several devices; hard forks have none)")
	fl.StringArrayVar(&f.join, "join", nil, "activation, device: take part in this scope (context:OWNER/ID, ...; repeatable)")
	fl.StringArrayVar(&f.leave, "leave", nil, "activation, device: stop taking part in a scope (repeatable)")
	fl.StringArrayVar(&f.gates, "gate", nil, "activation, device: health gate command NAME=COMMAND the launcher runs with sh -c (repeatable)")
	fl.StringArrayVar(&f.dropCmds, "drop-gate", nil, "activation, device: remove a gate command (repeatable)")
	fl.BoolVar(&f.manual, "manual", false, "activation, device: stage and cut over only when told (upgrade stage/cutover)")
	fl.StringVar(&f.series, "series", "", "activation, device: the release series this node runs")
	fl.DurationVar(&f.healthTimeout, "health-timeout", 0, "activation, device: wait for /healthz and /readyz after a cutover")
}

// applyActivationDoc applies the policy flags to a policy document.
func applyActivationDoc(cmd *cobra.Command, d *node.ActivationPolicyDoc, pf *policyFlags) error {
	f := &pf.act
	fl := cmd.Flags()
	if err := pf.applyTrust(&d.TrustedReleaseAuthorities, &d.TrustedBuilders); err != nil {
		return err
	}
	if fl.Changed("required-builders") {
		if pf.required < 0 {
			return fmt.Errorf("--required-builders %d: want 0 or more", pf.required)
		}
		d.BuilderThreshold = uint32(pf.required)
	}
	if fl.Changed("allow-class") {
		d.AllowedClasses = nil
		for _, s := range f.classes {
			c, err := release.ParseCompatibilityClass(s)
			if err != nil {
				return fmt.Errorf("--allow-class: %w", err)
			}
			if name := c.String(); !slices.Contains(d.AllowedClasses, name) {
				d.AllowedClasses = append(d.AllowedClasses, name)
			}
		}
	}
	if fl.Changed("rollout-percent") {
		if f.rollout < 0 || f.rollout > 100 {
			return fmt.Errorf("--rollout-percent %v: want 0 to 100", f.rollout)
		}
		bp := uint16(f.rollout*100 + 0.5)
		d.RolloutBasisPoints = &bp
	}
	for _, w := range []struct {
		flag, v string
		out     *uint64
	}{{"not-before", f.notBefore, &d.NotBeforeUnixMs}, {"not-after", f.notAfter, &d.NotAfterUnixMs}} {
		if !fl.Changed(w.flag) {
			continue
		}
		if w.v == "none" || w.v == "" {
			*w.out = 0
			continue
		}
		t, err := time.Parse(time.RFC3339, w.v)
		if err != nil {
			ms, err2 := strconv.ParseUint(w.v, 10, 64)
			if err2 != nil {
				return fmt.Errorf("--%s %q: want RFC 3339 (2026-05-01T22:00:00Z), Unix milliseconds or none", w.flag, w.v)
			}
			*w.out = ms
			continue
		}
		*w.out = uint64(t.UnixMilli())
	}
	if fl.Changed("daily-window") {
		d.DailyWindow = f.daily
		if f.daily == "none" {
			d.DailyWindow = ""
		}
	}
	if fl.Changed("ignore-suggested-time") {
		d.IgnoreSuggestedTime = f.ignoreHint
	}
	if fl.Changed("epoch-fence") {
		d.EpochFence = f.epochFence
	}
	d.RequiredHealthGates = slices.DeleteFunc(append(d.RequiredHealthGates, f.requireGates...), func(g string) bool { return slices.Contains(f.dropGates, g) })
	if f.rollback != "" {
		d.Rollback = f.rollback
	}
	if f.inFlight != "" {
		d.InFlight = f.inFlight
	}
	if fl.Changed("canary") {
		c := uint32(f.canary) // bounded by runPolicySetActivation
		d.Canary = &c
	}
	return nil
}

// runPolicySetActivation sets the device policy (config.json's activation
// section, applied to the running node) or, for another scope, publishes
// its policy from the owner's running node.
func (a *app) runPolicySetActivation(cmd *cobra.Command, pf *policyFlags) error {
	f := &pf.act
	for _, name := range sharingOnly {
		if cmd.Flags().Changed(name) {
			return fmt.Errorf("--%s does not apply to the activation policy (see `%s --help`)", name, cmd.CommandPath())
		}
	}
	for _, name := range []string{"context", "drop-context", "auto-fetch-metadata", "auto-fetch-artifacts"} {
		if cmd.Flags().Changed(name) {
			return fmt.Errorf("--%s does not apply to the activation policy (see `%s --help`)", name, cmd.CommandPath())
		}
	}
	if cmd.Flags().Changed("canary") && (f.canary < 0 || f.canary > activation.MaxCanary) {
		return fmt.Errorf("--canary %d: want 0 (no canary wave) to %d devices", f.canary, activation.MaxCanary)
	}
	home, err := node.OpenHome(a.home)
	if err != nil {
		return err
	}
	keys, err := home.LoadKeys()
	if err != nil {
		return err
	}
	deviceKey := activation.DeviceScope(keys.AuthorityID(), keys.PeerID().String()).Key()
	out := cmd.OutOrStdout()
	if f.scope != "" && f.scope != "device" && f.scope != deviceKey {
		return a.publishActivationPolicy(cmd, pf)
	}

	cfg, err := home.LoadConfig()
	if err != nil {
		return err
	}
	ac := node.ActivationConfig{}
	if cfg.Activation != nil && !pf.reset {
		ac = *cfg.Activation
	}
	if pf.file != "" {
		doc, err := readInput(pf.file, 1<<20)
		if err != nil {
			return err
		}
		ac = node.ActivationConfig{}
		if err := strictJSON(doc, &ac); err != nil {
			return fmt.Errorf("%s: not an activation section (as `upgrade status --json` shows the device policy): %w", pf.file, err)
		}
	}
	if cmd.Flags().Changed("canary") && f.canary != 0 {
		return fmt.Errorf("--canary %d: this device's own scope has one device, so it has no canary wave; give the scope of several devices with --scope KEY", f.canary)
	}
	if err := applyActivationDoc(cmd, &ac.Policy, pf); err != nil {
		return err
	}
	if c := ac.Policy.Canary; c != nil && *c == 0 {
		ac.Policy.Canary = nil // a device scope has no wave: nothing to save
	}
	ac.Scopes = slices.DeleteFunc(append(ac.Scopes, f.join...), func(s string) bool { return slices.Contains(f.leave, s) })
	slices.Sort(ac.Scopes)
	ac.Scopes = slices.Compact(ac.Scopes)
	for _, g := range f.gates {
		name, command, ok := strings.Cut(g, "=")
		if !ok || name == "" || command == "" {
			return fmt.Errorf("--gate %q: want NAME=COMMAND", g)
		}
		ac.Gates = slices.DeleteFunc(ac.Gates, func(x node.GateConfig) bool { return x.Name == name })
		ac.Gates = append(ac.Gates, node.GateConfig{Name: name, Command: []string{"/bin/sh", "-c", command}})
	}
	ac.Gates = slices.DeleteFunc(ac.Gates, func(x node.GateConfig) bool { return slices.Contains(f.dropCmds, x.Name) })
	fl := cmd.Flags()
	if fl.Changed("manual") {
		ac.Manual = f.manual
	}
	if f.series != "" {
		ac.Series = f.series
	}
	if fl.Changed("health-timeout") {
		ac.HealthTimeout = node.Duration(f.healthTimeout)
	}
	cfg.Activation = &ac
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("refusing the activation settings: %w", err)
	}
	doc, _ := json.Marshal(cfg.Activation)
	running := false
	if c, err := a.connect(); err == nil {
		_, err := c.SetActivationPolicy(cmd.Context(), api.SetActivationPolicyRequest{Scope: "device", Config: doc})
		switch {
		case err == nil:
			running = true
		case errors.Is(err, api.ErrUnreachable):
		default:
			return c.wrap(err)
		}
	}
	if err := home.SaveConfig(cfg); err != nil {
		return err
	}
	if pf.asJSON {
		return printJSON(out, struct {
			Scope   string                 `json:"scope"`
			Config  *node.ActivationConfig `json:"activation"`
			Running bool                   `json:"applied_to_running_node"`
		}{deviceKey, cfg.Activation, running})
	}
	where := "saved in config.json; it applies when the node starts"
	if running {
		where = "applied to the running node (which publishes it for its device scope) and saved in config.json"
	}
	fmt.Fprintf(out, "activation settings %s\n", where)
	printActivationDoc(out, ac.Policy)
	tw := newTable(out)
	fmt.Fprintf(tw, "  scopes joined\t%s\n", dash(strings.Join(ac.Scopes, ", ")))
	var gates []string
	for _, g := range ac.Gates {
		gates = append(gates, g.Name)
	}
	fmt.Fprintf(tw, "  gate commands\t%s\n", dash(strings.Join(gates, ", ")))
	fmt.Fprintf(tw, "  manual\t%v\n", ac.Manual)
	fmt.Fprintf(tw, "  series\t%s\n", ac.Series)
	tw.Flush()
	return nil
}

// publishActivationPolicy publishes the policy of a scope this node's
// authority owns, starting from the policy in effect there.
func (a *app) publishActivationPolicy(cmd *cobra.Command, pf *policyFlags) error {
	f := &pf.act
	for _, name := range deviceOnly {
		if cmd.Flags().Changed(name) {
			return fmt.Errorf("--%s is a setting of this node, not of scope %s: use it without --scope", name, f.scope)
		}
	}
	if pf.publish {
		return errors.New("--publish is implied for a scope other than the device's: its owner's node publishes the policy")
	}
	scope, err := facts.ParseScope(f.scope)
	if err != nil {
		return fmt.Errorf("--scope %q: %w", f.scope, err)
	}
	c, err := a.connect()
	if err != nil {
		return err
	}
	st, err := c.UpgradeStatus(cmd.Context(), api.UpgradeStatusRequest{Scope: scope.Key()})
	if err != nil {
		return fmt.Errorf("publishing a scope's policy needs its owner's running node: %w", c.wrap(err))
	}
	p := activation.DefaultPolicy(scope)
	if len(st.Scopes) == 1 && len(st.Scopes[0].PolicyCBOR) > 0 && st.Scopes[0].PolicySource == "published" && !pf.reset {
		if p, err = activation.DecodePolicy(st.Scopes[0].PolicyCBOR); err != nil {
			return err
		}
	}
	d := node.PolicyDoc(p)
	if pf.file != "" {
		raw, err := readInput(pf.file, 1<<20)
		if err != nil {
			return err
		}
		d = node.ActivationPolicyDoc{}
		if err := strictJSON(raw, &d); err != nil {
			return fmt.Errorf("%s: not an activation policy: %w", pf.file, err)
		}
	}
	if err := applyActivationDoc(cmd, &d, pf); err != nil {
		return err
	}
	p, err = d.Policy(scope)
	if err != nil {
		return fmt.Errorf("refusing the activation policy: %w", err)
	}
	raw, err := p.Marshal()
	if err != nil {
		return fmt.Errorf("refusing the activation policy: %w", err)
	}
	res, err := c.SetActivationPolicy(cmd.Context(), api.SetActivationPolicyRequest{Scope: scope.Key(), Policy: raw})
	if err != nil {
		return c.wrap(err)
	}
	out := cmd.OutOrStdout()
	if pf.asJSON {
		return printJSON(out, struct {
			Scope  string                   `json:"scope"`
			Policy node.ActivationPolicyDoc `json:"policy"`
			Result *api.UpgradeActionResult `json:"result"`
		}{scope.Key(), node.PolicyDoc(p), res})
	}
	fmt.Fprintln(out, res.Message)
	printActivationDoc(out, node.PolicyDoc(p))
	for _, w := range res.Facts {
		fmt.Fprintf(out, "published as fact %s (%s)\n", w.ID, w.Kind)
	}
	return nil
}

// printActivationDoc prints an activation policy for people.
func printActivationDoc(out io.Writer, d node.ActivationPolicyDoc) {
	tw := newTable(out)
	fmt.Fprintf(tw, "  trusted release authorities\t%s\n", authList(d.TrustedReleaseAuthorities))
	fmt.Fprintf(tw, "  trusted builders\t%s (threshold %d)\n", authList(d.TrustedBuilders), d.BuilderThreshold)
	classes := strings.Join(d.AllowedClasses, ", ")
	if len(d.AllowedClasses) == 0 {
		classes = "BackwardCompatible, MixedCoexistenceAllowed"
	}
	fmt.Fprintf(tw, "  allowed classes\t%s\n", classes)
	rollout := "100%"
	if d.RolloutBasisPoints != nil {
		rollout = fmt.Sprintf("%d.%02d%%", *d.RolloutBasisPoints/100, *d.RolloutBasisPoints%100)
	}
	fmt.Fprintf(tw, "  rollout\t%s\n", rollout)
	window := "-"
	if d.NotBeforeUnixMs != 0 || d.NotAfterUnixMs != 0 {
		window = fmt.Sprintf("%s to %s", msTime(d.NotBeforeUnixMs), msTime(d.NotAfterUnixMs))
	}
	fmt.Fprintf(tw, "  window\t%s, daily %s\n", window, dash(d.DailyWindow))
	fmt.Fprintf(tw, "  suggested time\t%s\n", map[bool]string{true: "ignored", false: "a local not-before hint"}[d.IgnoreSuggestedTime])
	fmt.Fprintf(tw, "  required gates\t%s\n", dash(strings.Join(d.RequiredHealthGates, ", ")))
	rb := d.Rollback
	if rb == "" {
		rb = "automatic"
	}
	fmt.Fprintf(tw, "  rollback\t%s\n", rb)
	fmt.Fprintf(tw, "  epoch fence\t%v\n", d.EpochFence)
	inf := d.InFlight
	if inf == "" {
		inf = "drain"
	}
	fmt.Fprintf(tw, "  in-flight\t%s\n", inf)
	switch {
	case d.Canary == nil:
		fmt.Fprintf(tw, "  canary wave\t- (one device)\n")
	case *d.Canary == 0:
		fmt.Fprintf(tw, "  canary wave\tnone: every device cuts over when its own checks pass\n")
	default:
		fmt.Fprintf(tw, "  canary wave\t%d first, the others once they run it healthy (soft forks)\n", *d.Canary)
	}
	tw.Flush()
}

func msTime(ms uint64) string {
	if ms == 0 {
		return "open"
	}
	return time.UnixMilli(int64(ms)).UTC().Format(time.RFC3339)
}
