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
		{"canary over the limit", func(p *activation.Policy) { p.Canary = activation.MaxCanary + 1 }, "canary wave of 1001 devices, limit 1000"},
		{"canary in a device scope", func(p *activation.Policy) {
			p.Scope, p.EpochFence, p.RolloutBasisPoints = nodeScope(), false, 1
		}, "a device-local scope has one device: no canary wave"},
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

// legacyPolicy is Policy as it was before canary waves (keys 1 to 13).
type legacyPolicy struct {
	Scope                     activation.Scope              `cbor:"1,keyasint"`
	TrustedReleaseAuthorities []facts.AuthorityID           `cbor:"2,keyasint,omitempty"`
	TrustedBuilders           []facts.AuthorityID           `cbor:"3,keyasint,omitempty"`
	BuilderThreshold          uint32                        `cbor:"4,keyasint"`
	AllowedClasses            []release.CompatibilityClass  `cbor:"5,keyasint,omitempty"`
	RolloutBasisPoints        uint16                        `cbor:"6,keyasint"`
	Window                    *activation.Window            `cbor:"7,keyasint,omitempty"`
	Daily                     *activation.DailyWindow       `cbor:"8,keyasint,omitempty"`
	HonourSuggestedTime       bool                          `cbor:"9,keyasint"`
	RequiredHealthGates       []string                      `cbor:"10,keyasint,omitempty"`
	Rollback                  activation.RollbackPreference `cbor:"11,keyasint"`
	EpochFence                bool                          `cbor:"12,keyasint"`
	InFlight                  activation.InFlightAction     `cbor:"13,keyasint"`
}

// The canary is key 14, omitted when 0: a policy published before the
// field existed decodes to canary 0 (no wave, what it meant) and encodes
// back to the same bytes, so its fact stays valid; a policy with a canary
// carries the key.
func TestPolicyCanaryEncoding(t *testing.T) {
	p := fullPolicy()
	old := legacyPolicy{
		Scope: p.Scope, TrustedReleaseAuthorities: p.TrustedReleaseAuthorities, TrustedBuilders: p.TrustedBuilders,
		BuilderThreshold: p.BuilderThreshold, AllowedClasses: p.AllowedClasses, RolloutBasisPoints: p.RolloutBasisPoints,
		Window: p.Window, Daily: p.Daily, HonourSuggestedTime: p.HonourSuggestedTime, RequiredHealthGates: p.RequiredHealthGates,
		Rollback: p.Rollback, EpochFence: p.EpochFence, InFlight: p.InFlight,
	}
	raw, err := facts.Marshal(&old)
	if err != nil {
		t.Fatal(err)
	}
	back, err := activation.DecodePolicy(raw)
	if err != nil {
		t.Fatalf("a policy without the canary key: %v", err)
	}
	if back.Canary != 0 {
		t.Fatalf("canary %d, want 0 (no wave)", back.Canary)
	}
	if again, err := back.Marshal(); err != nil || !bytes.Equal(again, raw) {
		t.Fatalf("re-encoded differently: %v", err)
	}
	// With a canary the encoding grows by the key and its value.
	p.Canary = 3
	with, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if len(with) != len(raw)+2 {
		t.Fatalf("canary 3 adds %d bytes, want 2 (key 14, value 3)", len(with)-len(raw))
	}
	if back, err = activation.DecodePolicy(with); err != nil || back.Canary != 3 {
		t.Fatalf("canary 3 decodes as %d, %v", back.Canary, err)
	}
	// Defaults: one canary where a scope can hold several devices, none
	// in a device-local scope.
	for _, s := range []activation.Scope{activation.AuthorityScope(auth("o")), activation.ContextScope(auth("o"), "c"), activation.QuorumScope(auth("o"), "q", auth("p"))} {
		if c := activation.DefaultPolicy(s).Canary; c != 1 {
			t.Errorf("%s: default canary %d", s.Short(), c)
		}
	}
	if c := activation.DefaultPolicy(nodeScope()).Canary; c != 0 {
		t.Errorf("device scope: default canary %d", c)
	}
}

func TestCanaryRank(t *testing.T) {
	id := release.ID{1}
	if activation.CanaryRank(id, auth("a"), "d") != activation.CanaryRank(id, auth("a"), "d") {
		t.Fatal("rank not stable")
	}
	// Authority and device both count, and another release draws
	// another order.
	if activation.CanaryRank(id, auth("a"), "d") == activation.CanaryRank(id, auth("b"), "d") ||
		activation.CanaryRank(id, auth("a"), "d") == activation.CanaryRank(id, auth("a"), "e") ||
		activation.CanaryRank(id, auth("a"), "d") == activation.CanaryRank(release.ID{2}, auth("a"), "d") {
		t.Fatal("rank ignores an input")
	}
	first := map[string]int{}
	for r := range 64 {
		best, bestDev := [32]byte{}, ""
		for _, d := range []string{"d1", "d2", "d3", "d4"} {
			k := activation.CanaryRank(release.ID{byte(r), 7}, auth("a"), d)
			if bestDev == "" || bytes.Compare(k[:], best[:]) < 0 {
				best, bestDev = k, d
			}
		}
		first[bestDev]++
	}
	if len(first) < 3 {
		t.Errorf("64 releases chose their canary among only %v", first)
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
