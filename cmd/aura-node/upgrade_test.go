package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aura-node/aura-node/api"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/node"
)

// The status text shows, per scope, residency, transition, target release
// and version, ready devices out of total, approvals with the threshold
// and who is missing, the last failure and this device's next step.
func TestPrintUpgradeStatus(t *testing.T) {
	a1 := "12D3KooWCuKVLTY8Zvg5vR8r4BNr6g5WeHdGSCDGMM5eqZYq443c"
	a2 := "12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo"
	st := &api.UpgradeStatus{
		Device: "12D3KooWAQcd", Authority: a1, RunningName: "initial", Version: "1.0.0", Platform: "linux/amd64", Protocol: 2,
		HardFork: "9c0d0000000000000000", RefusedSessions: 3,
		Launcher: true, LauncherHome: "/h", Configured: true, Series: "aura-node",
		Scopes: []api.UpgradeScope{
			{
				Scope: "quorum:" + a1 + "/ops/" + a1 + "," + a2, Kind: "quorum", Owner: a1, Participating: true, PolicySource: "published",
				Residency: "LegacyOnly", Transition: "AwaitingCutover", Ready: 2, Total: 2, Threshold: 2,
				Target: &api.UpgradeTarget{Release: "3f5a0000000000000000", Version: "1.1.0", Class: "BackwardCompatible", State: "active", Rollback: "none", Approved: []string{a1}, Missing: []string{a2}},
				Next:   &api.UpgradeStep{Action: "wait", Reason: "staged; activation waits: approvals: 1 of 2 participants approved"},
				Devices: []api.UpgradeDevice{
					{Authority: a1, Device: "12D3KooWAQcdXYZ", RunningVersion: "1.0.0", Doing: "Idle", Ready: true},
					{Authority: a2, Device: "12D3KooWBBBBXYZ", RunningVersion: "1.0.0", Doing: "CuttingOver", DoingRelease: "3f5a0000000000000000", InFlight: "delegate", Ready: true},
					{Authority: a2, Device: "12D3KooWCCCCXYZ", Running: "3f5a0000000000000000", RunningVersion: "1.1.0", Doing: "Idle", Ready: true, OnTarget: true, Partitions: 2},
				},
			},
			{
				Scope: "context:" + a1 + "/fleet", Kind: "context", Owner: a1, Participating: true, PolicySource: "published",
				Residency: "Coexisting", Transition: "Idle", Ready: 1, Total: 2,
				Target:      &api.UpgradeTarget{Release: "77aa0000000000000000", Version: "2.0.0", Class: "BackwardCompatible", State: "failed", Rollback: "awaiting-approval", Failure: &api.UpgradeFailure{Class: "HealthGateFailed", Detail: "gate smoke on device X: exit status 3"}},
				LastFailure: &api.UpgradeFailure{Class: "HealthGateFailed", Detail: "gate smoke on device X: exit status 3"},
				Next:        &api.UpgradeStep{Action: "wait", Reason: "the rollback awaits the owner's approval"},
				Decision:    &api.UpgradeDecision{Release: "77aa0000000000000000", Verdict: "deny", Checks: []api.UpgradeCheck{{ID: "scope-state", Result: "fail", Blocks: "deny", Text: "77aa failed in this scope"}}},
			},
		},
	}
	var out bytes.Buffer
	printUpgradeStatus(&out, st, true)
	text := out.String()
	for _, want := range []string{
		"running     release initial, version 1.0.0 on linux/amd64, protocol 2",
		"hard fork   9c0d00000000: sessions with other protocol versions refused (3 so far)",
		"cuttingover,ready  in-flight=delegate",
		"idle,ready         partitions=2",
		"launcher    /h (0 pending)",
		"residency     LegacyOnly", "transition    AwaitingCutover",
		"target        3f5a00000000 version 1.1.0 (BackwardCompatible), active",
		"ready         2/2 devices",
		"approvals     1/2 (threshold 2), missing kSCVe2Xo",
		"next here     wait: staged; activation waits: approvals",
		"residency     Coexisting",
		"last failure  HealthGateFailed: gate smoke on device X: exit status 3, rollback awaiting-approval",
		"fail(deny)   scope-state: 77aa failed in this scope",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("status lacks %q:\n%s", want, text)
		}
	}
}

// `policy set activation` without a running node saves the device
// settings in config.json; refusals are one line with the reason.
func TestPolicySetActivation(t *testing.T) {
	home := filepath.Join(t.TempDir(), "h")
	if _, stderr, code := cli(t, "--home", home, "init", "--new-network"); code != 0 {
		t.Fatalf("init: %s", stderr)
	}
	me, _, _ := cli(t, "--home", home, "keys", "show", "--authority")
	me = strings.TrimSpace(me)
	ctx := "context:" + me + "/fleet"
	out, stderr, code := cli(t, "--home", home, "policy", "set", "activation", "--trust-authority", me, "--join", ctx,
		"--gate", "smoke=true", "--rollback", "manual-approval", "--rollout-percent", "50", "--daily-window", "22:00-02:00",
		"--allow-class", "scoped-hard-fork", "--allow-class", "BackwardCompatible", "--allow-class", "backward-compatible", "--json")
	if code != 0 {
		t.Fatalf("policy set activation: %s", stderr)
	}
	var res struct {
		Running bool `json:"applied_to_running_node"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Running {
		t.Fatalf("output %q: %v", out, err)
	}
	raw, err := os.ReadFile(filepath.Join(home, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg node.Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	a := cfg.Activation
	if a == nil || len(a.Scopes) != 1 || a.Scopes[0] != ctx || len(a.Gates) != 1 || a.Gates[0].Name != "smoke" ||
		a.Policy.Rollback != "manual-approval" || *a.Policy.RolloutBasisPoints != 5000 || a.Policy.DailyWindow != "22:00-02:00" {
		t.Fatalf("saved activation %+v", a)
	}
	// --allow-class takes the kebab case of `release create --class` and
	// the type's names; config.json keeps the type's names, once each.
	if got := strings.Join(a.Policy.AllowedClasses, ","); got != "ScopedHardFork,BackwardCompatible" {
		t.Fatalf("saved allowed classes %q", got)
	}
	// Flags change what is there.
	if _, stderr, code := cli(t, "--home", home, "policy", "set", "activation", "--drop-gate", "smoke", "--leave", ctx, "--manual"); code != 0 {
		t.Fatalf("policy set activation: %s", stderr)
	}
	raw, _ = os.ReadFile(filepath.Join(home, "config.json"))
	cfg = node.Config{}
	json.Unmarshal(raw, &cfg)
	if a := cfg.Activation; len(a.Gates) != 0 || len(a.Scopes) != 0 || !a.Manual || a.Policy.Rollback != "manual-approval" {
		t.Fatalf("after the second change %+v", a)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--rollback", "sometimes"}, "automatic or manual-approval"},
		{[]string{"--gate", "smoke"}, "want NAME=COMMAND"},
		{[]string{"--join", "device:" + me + "/x"}, "a device scope"},
		{[]string{"--epoch-fence"}, "owns no epoch fence"},
		{[]string{"--allow-class", "Sideways"}, `--allow-class: release: unknown compatibility class "Sideways": want backward-compatible, mixed-coexistence-allowed, scoped-hard-fork, incompatible-without-partition (or BackwardCompatible,`},
		{[]string{"--rollout-percent", "120"}, "want 0 to 100"},
		{[]string{"--forward", "all"}, "does not apply to the activation policy"},
		{[]string{"--scope", ctx, "--manual"}, "a setting of this node"},
		{[]string{"--scope", ctx, "--trust-authority", me}, "running node"},
	} {
		_, stderr, code := cli(t, append([]string{"--home", home, "policy", "set", "activation"}, c.args...)...)
		wantOneLineError(t, stderr, code, c.want)
	}
	_, stderr, code = cli(t, "--home", home, "policy", "set", "discovery", "--rollback", "automatic")
	wantOneLineError(t, stderr, code, "does not apply to the discovery policy")
	_, stderr, code = cli(t, "--home", home, "upgrade", "status")
	wantOneLineError(t, stderr, code, "aura-node run --home")
}

// --trust-* adds authorities and --distrust-* removes them, in both
// lists; a bad ID names its flag.
func TestPolicyFlagsApplyTrust(t *testing.T) {
	a1 := "12D3KooWCuKVLTY8Zvg5vR8r4BNr6g5WeHdGSCDGMM5eqZYq443c"
	a2 := "12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo"
	id := func(s string) facts.AuthorityID {
		x, err := facts.ParseAuthorityID(s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	auths, builders := []facts.AuthorityID{id(a1)}, []facts.AuthorityID{id(a1)}
	f := &policyFlags{trust: []string{a2}, distrust: []string{a1}, builders: []string{a2}}
	if err := f.applyTrust(&auths, &builders); err != nil {
		t.Fatal(err)
	}
	if len(auths) != 1 || auths[0] != id(a2) || len(builders) != 2 {
		t.Fatalf("authorities %v, builders %v", auths, builders)
	}
	f = &policyFlags{dropBuilders: []string{"nonsense"}}
	if err := f.applyTrust(&auths, &builders); err == nil || !strings.Contains(err.Error(), "--distrust-builder") {
		t.Fatalf("bad ID: %v", err)
	}
}
