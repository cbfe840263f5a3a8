package testnet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/aura-node/aura-node/activation"
	"github.com/aura-node/aura-node/api"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/node"
	"github.com/aura-node/aura-node/release"
)

// DefaultUpgradeTimeout bounds Upgrade's wait for the scope to settle.
const DefaultUpgradeTimeout = 5 * time.Minute

// ErrUpgradeFailed reports a release the scope did not accept: it failed
// and rolled back, or waits for the owner's rollback approval.
var ErrUpgradeFailed = errors.New("testnet: the upgrade failed")

// UpgradeOptions configure Upgrade.
type UpgradeOptions struct {
	Dir string
	// Binary is the new aura-node build; `BINARY version` gives the
	// release's version.
	Binary string
	// Class is "soft" (BackwardCompatible, default), "hard"
	// (ScopedHardFork) or "partition" (IncompatibleWithoutPartition); a
	// hard or partition build is built with a higher
	// node.ProtocolVersion.
	Class string
	// Scope is the scope the nodes upgrade in: "context" (default for a
	// soft fork: context:ADMIN/testnet), "quorum" (default for a hard
	// fork or partition: quorum:ADMIN/testnet/EVERY-NODE, every
	// participant approves)
	// or a scope key owned by node-1's authority.
	Scope string
	// Rollback is the scope's rollback preference: automatic (default)
	// or manual-approval.
	Rollback string
	// Gates are gate commands NAME=COMMAND configured on every node (run
	// with sh -c by each node's launcher after its cutover); the release
	// declares them, so each must pass.
	Gates []string
	// NoApprove leaves a quorum's approvals to the operators.
	NoApprove bool
	// Timeout bounds the wait; default DefaultUpgradeTimeout.
	Timeout time.Duration
	// Log receives progress lines; default io.Discard.
	Log io.Writer
}

// UpgradeResult says how an upgrade ended.
type UpgradeResult struct {
	Release string `json:"release"`
	Version string `json:"version"`
	Class   string `json:"class"`
	Scope   string `json:"scope"`
	// Outcome is "active" (every node runs it), "rolled-back" or
	// "failed" (awaiting the owner's rollback approval).
	Outcome     string `json:"outcome"`
	Residency   string `json:"residency"`
	Transition  string `json:"transition"`
	LastFailure string `json:"last_failure,omitempty"`
	// Residencies are the residencies the scope went through, in order.
	Residencies []string      `json:"residencies"`
	Nodes       []UpgradeNode `json:"nodes"`
	Seconds     float64       `json:"seconds"`
}

// UpgradeNode is what one node runs at the end.
type UpgradeNode struct {
	Index   int    `json:"index"`
	Running string `json:"running"`
	Version string `json:"version"`
}

// Upgrade publishes Binary as a release of series aura-node from node-1
// (the admin) and drives it through the nodes: it makes every node take
// part in the scope (config.json and the running node), publishes the
// scope's policy from node-1 (trusting node-1's authority as release
// authority), imports the binary into node-1's block store and publishes
// the release; the other nodes fetch it, and every node's upgrade manager
// stages it, cuts over through its launcher and runs the health gates.
// For a managed quorum every node approves (unless NoApprove). It returns
// when every node runs the release (Outcome "active"), or the scope
// failed (ErrUpgradeFailed with the result), or at the timeout.
func Upgrade(ctx context.Context, opts UpgradeOptions) (*UpgradeResult, error) {
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultUpgradeTimeout
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	if !m.Launcher {
		return nil, fmt.Errorf("testnet: the nodes in %s run without launchers (testnet up --launcher=false): recreate it with `aura-node testnet up` to upgrade", dir)
	}
	binary, err := filepath.Abs(opts.Binary)
	if err != nil || opts.Binary == "" {
		return nil, fmt.Errorf("testnet: --binary: the new aura-node build is required")
	}
	if opts.Class == "" {
		opts.Class = "soft"
	}
	class, classes, err := upgradeClass(opts.Class)
	if err != nil {
		return nil, err
	}
	version, err := probeVersion(ctx, binary)
	if err != nil {
		return nil, err
	}
	adminHome := node.Home{Dir: m.Nodes[0].Home}
	keys, err := adminHome.LoadKeys()
	if err != nil {
		return nil, err
	}
	admin := keys.AuthorityID()
	scope, err := upgradeScope(opts.Scope, opts.Class, admin, m)
	if err != nil {
		return nil, err
	}
	if class.HardFork() && scope.Kind == activation.Context {
		return nil, fmt.Errorf("testnet: a hard fork in relational context %s needs an epoch fence; use --scope quorum (every node approves)", scope.Short())
	}
	if scope.Owner != admin {
		return nil, fmt.Errorf("testnet: scope %s is owned by %s, not node-1's authority %s", scope.Short(), scope.Owner, admin)
	}
	var gateNames []string
	var gates []node.GateConfig
	for _, g := range opts.Gates {
		name, command, ok := strings.Cut(g, "=")
		if !ok || name == "" || command == "" {
			return nil, fmt.Errorf("testnet: --gate %q: want NAME=COMMAND", g)
		}
		gateNames = append(gateNames, name)
		gates = append(gates, node.GateConfig{Name: name, Command: []string{"/bin/sh", "-c", command}})
	}
	fmt.Fprintf(log, "upgrading %d nodes in %s to %s (%s) in %s\n", m.N, dir, version, class, scope.Key())

	// 1. Every node takes part in the scope, with the gate commands.
	for _, n := range m.Nodes {
		if err := joinScope(ctx, n, scope, gates); err != nil {
			return nil, fmt.Errorf("testnet: node-%d: %w", n.Index, err)
		}
	}
	// 2. node-1 publishes the scope's policy.
	c1, _, err := Client(m.Nodes[0].Home)
	if err != nil {
		return nil, err
	}
	doc := node.ActivationPolicyDoc{TrustedReleaseAuthorities: []facts.AuthorityID{admin}, AllowedClasses: classes, Rollback: opts.Rollback}
	pol, err := doc.Policy(scope)
	if err != nil {
		return nil, fmt.Errorf("testnet: the scope's policy: %w", err)
	}
	raw, err := pol.Marshal()
	if err != nil {
		return nil, err
	}
	if st, err := c1.UpgradeStatus(ctx, api.UpgradeStatusRequest{Scope: scope.Key()}); err != nil {
		return nil, fmt.Errorf("testnet: node-1: %w", err)
	} else if !bytes.Equal(st.Scopes[0].PolicyCBOR, raw) {
		if _, err := c1.SetActivationPolicy(ctx, api.SetActivationPolicyRequest{Scope: scope.Key(), Policy: raw}); err != nil {
			return nil, fmt.Errorf("testnet: node-1 publishing the policy of %s: %w", scope.Short(), err)
		}
		fmt.Fprintf(log, "node-1 published the policy of %s (rollback %v)\n", scope.Short(), pol.Rollback)
	}
	// 3. The release, from node-1.
	id, err := publishBuild(ctx, c1, keys, binary, version, class, gateNames)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "node-1 published release %s (aura-node %s)\n", id, version)
	// 4. A quorum's participants approve.
	if scope.Kind == activation.ManagedQuorum && !opts.NoApprove {
		for _, n := range m.Nodes {
			c, _, err := Client(n.Home)
			if err != nil {
				return nil, err
			}
			if _, err := c.UpgradeAction(ctx, api.UpgradeActionRequest{Action: api.UpgradeApprove, Scope: scope.Key(), Release: id.String(), Reason: "testnet upgrade"}); err != nil {
				return nil, fmt.Errorf("testnet: node-%d approving: %w", n.Index, err)
			}
		}
		fmt.Fprintf(log, "every participant approved the cutover\n")
	}
	return waitUpgrade(ctx, m, scope, id, version, class, opts.Timeout, log)
}

// upgradeClass reads the class option: soft (BackwardCompatible, in a
// policy that allows the soft classes), hard (ScopedHardFork) or
// partition (IncompatibleWithoutPartition: a hard fork whose nodes
// separate from legacy peers, PartitionObserved expected), each hard one
// in a policy that allows only it.
func upgradeClass(name string) (release.CompatibilityClass, []string, error) {
	switch name {
	case "soft":
		return release.BackwardCompatible, []string{"BackwardCompatible", "MixedCoexistenceAllowed"}, nil
	case "hard":
		return release.ScopedHardFork, []string{"ScopedHardFork"}, nil
	case "partition":
		return release.IncompatibleWithoutPartition, []string{"IncompatibleWithoutPartition"}, nil
	}
	return 0, nil, fmt.Errorf("testnet: --class %q: want soft (BackwardCompatible), hard (ScopedHardFork) or partition (IncompatibleWithoutPartition)", name)
}

// upgradeScope resolves the scope option: by default a context for a
// soft fork, the managed quorum of every node for a hard one.
func upgradeScope(s, class string, admin facts.AuthorityID, m *Manifest) (activation.Scope, error) {
	if s == "" {
		s = "context"
		if class == "hard" || class == "partition" {
			s = "quorum"
		}
	}
	switch s {
	case "context":
		return activation.ContextScope(admin, "testnet"), nil
	case "quorum":
		var ps []facts.AuthorityID
		for _, n := range m.Nodes {
			a, err := facts.ParseAuthorityID(n.Authority)
			if err != nil {
				return activation.Scope{}, fmt.Errorf("testnet: node-%d authority: %w", n.Index, err)
			}
			ps = append(ps, a)
		}
		return activation.QuorumScope(admin, "testnet", ps...), nil
	}
	sc, err := facts.ParseScope(s)
	if err != nil {
		return sc, fmt.Errorf("testnet: --scope %q: %w (or context, quorum)", s, err)
	}
	if sc.Kind == activation.DeviceLocal || sc.Kind == activation.AuthorityLocal {
		return sc, fmt.Errorf("testnet: --scope %s: a testnet upgrade drives several nodes: use a context or quorum scope", sc.Short())
	}
	return sc, nil
}

// probeVersion runs `BINARY version`.
func probeVersion(ctx context.Context, binary string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "version").Output()
	if err != nil {
		return "", fmt.Errorf("testnet: `%s version`: %w", binary, err)
	}
	v := strings.TrimSpace(string(out))
	if _, err := release.ParseVersion(v); err != nil {
		return "", fmt.Errorf("testnet: %s prints version %q, not a semantic version (build it with -ldflags \"-X github.com/aura-node/aura-node/node.Version=1.2.3\"): %w", binary, v, err)
	}
	return v, nil
}

// joinScope adds the scope and the gate commands to a node's activation
// settings, in config.json (for the restarts that cutovers make) and in
// the running node.
func joinScope(ctx context.Context, n NodeInfo, scope activation.Scope, gates []node.GateConfig) error {
	h := node.Home{Dir: n.Home}
	cfg, err := h.LoadConfig()
	if err != nil {
		return err
	}
	ac := node.ActivationConfig{}
	if cfg.Activation != nil {
		ac = *cfg.Activation
	}
	if !slices.Contains(ac.Scopes, scope.Key()) {
		ac.Scopes = append(ac.Scopes, scope.Key())
	}
	for _, g := range gates {
		ac.Gates = slices.DeleteFunc(ac.Gates, func(x node.GateConfig) bool { return x.Name == g.Name })
		ac.Gates = append(ac.Gates, g)
	}
	cfg.Activation = &ac
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := h.SaveConfig(cfg); err != nil {
		return err
	}
	doc, err := json.Marshal(cfg.Activation)
	if err != nil {
		return err
	}
	c, _, err := Client(n.Home)
	if err != nil {
		return err
	}
	_, err = c.SetActivationPolicy(ctx, api.SetActivationPolicyRequest{Scope: "device", Config: doc})
	return err
}

// publishBuild imports the binary into node-1's block store and publishes
// a signed release of it.
func publishBuild(ctx context.Context, c *api.Client, keys *node.Keys, binary, version string, class release.CompatibilityClass, gates []string) (release.ID, error) {
	info, err := c.ImportArtifact(ctx, api.ArtifactImportRequest{Path: binary, Name: "aura-node@" + version})
	if err != nil {
		return release.ID{}, fmt.Errorf("testnet: node-1 importing %s: %w", binary, err)
	}
	root, err := cid.Decode(info.Root)
	if err != nil {
		return release.ID{}, err
	}
	sum, err := fileSHA256(binary)
	if err != nil {
		return release.ID{}, err
	}
	arts := []release.Artifact{{Name: "aura-node", Kind: "binary", Platform: runtime.GOOS + "/" + runtime.GOARCH, Packaging: "raw", Size: info.Size, Root: root.Bytes()}}
	slices.Sort(gates)
	m := release.Manifest{
		Series: "aura-node", Version: version,
		Provenance: release.Provenance{
			SourceRepo: "https://github.com/aura-node/aura-node", SourceBundleHash: sum,
			BuildRecipeHash: sha256.Sum256([]byte("aura-node testnet upgrade " + version)), OutputHash: release.OutputHashOf(arts),
		},
		Artifacts: arts, Compatibility: release.Compatibility{Class: class},
		Activation: release.ActivationProfile{HealthGates: gates}, Author: keys.AuthorityID(),
	}
	signed, id, err := release.SignManifest(keys.Authority, m)
	if err != nil {
		return id, fmt.Errorf("testnet: signing the release: %w", err)
	}
	if _, err := c.PublishRelease(ctx, api.PublishReleaseRequest{ReleaseID: id.String(), Manifest: signed.Manifest, Signature: signed.Signature}); err != nil {
		return id, fmt.Errorf("testnet: node-1 publishing the release: %w", err)
	}
	return id, nil
}

func fileSHA256(path string) ([32]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return [32]byte{}, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return [32]byte{}, err
	}
	return [32]byte(h.Sum(nil)), nil
}

// waitUpgrade follows the scope (as node-1 reduces it) and what every node
// runs until every node runs the release, the scope failed, or timeout.
func waitUpgrade(ctx context.Context, m *Manifest, scope activation.Scope, id release.ID, version string, class release.CompatibilityClass, timeout time.Duration, log io.Writer) (*UpgradeResult, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res := &UpgradeResult{Release: id.String(), Version: version, Class: class.String(), Scope: scope.Key(), Residencies: []string{}}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	last := ""
	for {
		var st *api.UpgradeScope
		res.Nodes = res.Nodes[:0]
		onRelease := 0
		for _, n := range m.Nodes {
			un := UpgradeNode{Index: n.Index}
			if c, _, err := Client(n.Home); err == nil {
				if s, err := c.UpgradeStatus(ctx, api.UpgradeStatusRequest{Scope: scope.Key()}); err == nil {
					un.Running, un.Version = s.RunningName, s.Version
					if n.Index == 1 && len(s.Scopes) == 1 {
						st = &s.Scopes[0]
					}
				}
			}
			if un.Running == id.String() && un.Version == version {
				onRelease++
			}
			res.Nodes = append(res.Nodes, un)
		}
		if st != nil {
			res.Residency, res.Transition = st.Residency, st.Transition
			if len(res.Residencies) == 0 || res.Residencies[len(res.Residencies)-1] != st.Residency {
				res.Residencies = append(res.Residencies, st.Residency)
			}
			if f := st.LastFailure; f != nil && f.Release == id.String() {
				res.LastFailure = f.Class + ": " + f.Detail
			}
			line := fmt.Sprintf("%s/%s, %d of %d nodes run %s", st.Residency, st.Transition, onRelease, m.N, version)
			if st.Target != nil && st.Target.Release == id.String() {
				line = fmt.Sprintf("%s/%s, target %s, ready %d/%d, %d of %d nodes run %s", st.Residency, st.Transition, st.Target.State, st.Ready, st.Total, onRelease, m.N, version)
				if len(st.Target.Missing) > 0 {
					line += fmt.Sprintf(", approvals missing from %d", len(st.Target.Missing))
				}
			}
			if line != last {
				fmt.Fprintf(log, "  %5.1fs  %s\n", time.Since(start).Seconds(), line)
				last = line
			}
			if t := st.Target; t != nil && t.Release == id.String() {
				idle := st.Transition == "Idle" || st.Transition == "AwaitingCutover"
				switch {
				case onRelease == m.N && st.Residency == "TargetOnly" && t.State == "complete":
					res.Outcome, res.Seconds = "active", time.Since(start).Seconds()
					return res, nil
				case t.State == "rolled-back" && idle:
					res.Outcome, res.Seconds = "rolled-back", time.Since(start).Seconds()
					return res, fmt.Errorf("%w: %s rolled back (%s)", ErrUpgradeFailed, version, res.LastFailure)
				case t.State == "failed" && t.Rollback == "awaiting-approval" && st.Transition == "Idle":
					res.Outcome, res.Seconds = "failed", time.Since(start).Seconds()
					return res, fmt.Errorf("%w: %s failed (%s); the rollback awaits the owner's approval: aura-node --home %s upgrade approve-rollback --scope %s",
						ErrUpgradeFailed, version, res.LastFailure, m.Nodes[0].Home, scope.Key())
				}
			}
		}
		select {
		case <-ctx.Done():
			res.Seconds = time.Since(start).Seconds()
			return res, fmt.Errorf("testnet: the upgrade did not settle in %s: last %s", timeout, last)
		case <-tick.C:
		}
	}
}
