package activation_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/aura-node/aura-node/activation"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/release"
)

func fullPolicy() activation.Policy {
	p := activation.DefaultPolicy(activation.QuorumScope(auth("o"), "core", auths("p2", "p1")...))
	p.TrustedReleaseAuthorities = auths("rel2", "rel1")
	p.TrustedBuilders = auths("b1", "b2", "b3")
	p.BuilderThreshold = 2
	p.AllowedClasses = []release.CompatibilityClass{release.ScopedHardFork, release.BackwardCompatible}
	p.Window = &activation.Window{NotBeforeUnixMs: 10, NotAfterUnixMs: 20}
	p.Daily = &activation.DailyWindow{StartMinute: 1380, EndMinute: 60}
	p.RequiredHealthGates = []string{"readyz", "disk"}
	p.Rollback = activation.ManualApproval
	p.EpochFence = true
	p.InFlight = activation.Delegate
	p.Normalize()
	return p
}

func TestPolicyRoundTrip(t *testing.T) {
	for _, p := range []activation.Policy{activation.DefaultPolicy(nodeScope()), fullPolicy()} {
		raw, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := activation.DecodePolicy(raw)
		if err != nil {
			t.Fatal(err)
		}
		again, err := back.Marshal()
		if err != nil || !bytes.Equal(raw, again) {
			t.Fatalf("decode then encode differs: %v", err)
		}
	}
}

func TestPolicyValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*activation.Policy)
		want string
	}{
		{"unsorted authorities", func(p *activation.Policy) {
			p.TrustedReleaseAuthorities = []facts.AuthorityID{p.TrustedReleaseAuthorities[1], p.TrustedReleaseAuthorities[0]}
		}, "sorted"},
		{"zero builder", func(p *activation.Policy) { p.TrustedBuilders = append([]facts.AuthorityID{{}}, p.TrustedBuilders...) }, "zero authority"},
		{"threshold too high", func(p *activation.Policy) { p.BuilderThreshold = 4 }, "could never be met"},
		{"unknown class", func(p *activation.Policy) { p.AllowedClasses = []release.CompatibilityClass{9} }, "unknown compatibility class"},
		{"duplicate classes", func(p *activation.Policy) {
			p.AllowedClasses = []release.CompatibilityClass{release.ScopedHardFork, release.ScopedHardFork}
		}, "sorted"},
		{"rollout over 100%", func(p *activation.Policy) { p.RolloutBasisPoints = 10001 }, "limit 10000"},
		{"partial rollout in a quorum", func(p *activation.Policy) { p.RolloutBasisPoints = 5000 }, "moves all its participants"},
		{"empty window", func(p *activation.Policy) { p.Window = &activation.Window{} }, "no bounds"},
		{"backwards window", func(p *activation.Policy) { p.Window = &activation.Window{NotBeforeUnixMs: 20, NotAfterUnixMs: 20} }, "ends"},
		{"daily window of nothing", func(p *activation.Policy) { p.Daily = &activation.DailyWindow{StartMinute: 5, EndMinute: 5} }, "two different minutes"},
		{"daily window past midnight", func(p *activation.Policy) { p.Daily = &activation.DailyWindow{StartMinute: 1440, EndMinute: 5} }, "two different minutes"},
		{"bad gate name", func(p *activation.Policy) { p.RequiredHealthGates = []string{"a/b"} }, "health gate"},
		{"no rollback preference", func(p *activation.Policy) { p.Rollback = 0 }, "rollback preference"},
		{"no in-flight action", func(p *activation.Policy) { p.InFlight = 0 }, "in-flight action"},
		{"fence in a device scope", func(p *activation.Policy) { p.Scope = nodeScope(); p.RolloutBasisPoints = 1 }, "owns no epoch fence"},
		{"scope without owner", func(p *activation.Policy) { p.Scope.Owner = facts.AuthorityID{} }, "no owner"},
	} {
		p := fullPolicy()
		tc.mod(&p)
		err := p.Validate()
		if !errors.Is(err, activation.ErrInvalidPolicy) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrInvalidPolicy mentioning %q", tc.name, err, tc.want)
		}
		if _, err := p.Marshal(); err == nil {
			t.Errorf("%s: marshalled an invalid policy", tc.name)
		}
	}
}

func TestDecodePolicyRefuses(t *testing.T) {
	if _, err := activation.DecodePolicy(make([]byte, activation.MaxPolicyLen+1)); !errors.Is(err, activation.ErrTooLarge) {
		t.Errorf("oversized: %v", err)
	}
	if _, err := activation.DecodePolicy([]byte{0xa1, 0x01}); !errors.Is(err, facts.ErrMalformed) {
		t.Errorf("truncated: %v", err)
	}
	// Valid CBOR of an invalid policy (zero value: no scope).
	raw, _ := facts.Marshal(&activation.Policy{})
	if _, err := activation.DecodePolicy(raw); !errors.Is(err, activation.ErrInvalidPolicy) {
		t.Errorf("zero policy: %v", err)
	}
}

func TestCohortBucket(t *testing.T) {
	id := release.ID{1}
	if activation.CohortBucket("dev1", id) != activation.CohortBucket("dev1", id) {
		t.Fatal("bucket not stable")
	}
	// Buckets spread: 2000 devices fill all ten deciles, each within
	// a loose bound of its expected 200.
	var deciles [10]int
	for i := range 2000 {
		b := activation.CohortBucket("dev"+string(rune('a'+i%26))+string(rune('a'+i/26)), id)
		if b >= activation.FullRollout {
			t.Fatalf("bucket %d out of range", b)
		}
		deciles[b/1000]++
	}
	for i, n := range deciles {
		if n < 120 || n > 280 {
			t.Errorf("decile %d has %d devices of 2000: %v", i, n, deciles)
		}
	}
	// Another release draws another cohort.
	same := 0
	for i := range 100 {
		d := "dev" + string(rune('a'+i))
		if activation.CohortBucket(d, id)/5000 == activation.CohortBucket(d, release.ID{2})/5000 {
			same++
		}
	}
	if same == 100 {
		t.Error("two releases put every device in the same half")
	}
}

func TestParseRollbackPreference(t *testing.T) {
	for s, want := range map[string]activation.RollbackPreference{"automatic": activation.Automatic, "manual-approval": activation.ManualApproval, "manual": activation.ManualApproval} {
		if got, err := activation.ParseRollbackPreference(s); err != nil || got != want {
			t.Errorf("%q: %v %v", s, got, err)
		}
	}
	if _, err := activation.ParseRollbackPreference("sometimes"); err == nil {
		t.Error("accepted nonsense")
	}
	if activation.ManualApproval.String() != "manual-approval" {
		t.Error(activation.ManualApproval.String())
	}
}

// FuzzDecodePolicy holds the policy codec to its contract: bytes either
// fail to decode or re-encode to themselves.
func FuzzDecodePolicy(f *testing.F) {
	for _, p := range []activation.Policy{activation.DefaultPolicy(nodeScope()), fullPolicy()} {
		raw, err := p.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := activation.DecodePolicy(raw)
		if err != nil {
			return
		}
		again, err := p.Marshal()
		if err != nil || !bytes.Equal(again, raw) {
			t.Fatalf("decode then encode: %x, %v; input %x", again, err, raw)
		}
	})
}
