package release_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/release"
)

func authorities(labels ...string) []facts.AuthorityID {
	out := make([]facts.AuthorityID, len(labels))
	for i, l := range labels {
		out[i] = auth(l)
	}
	return out
}

func discovery(trusted, builders []string, required int, fetch bool, contexts ...string) release.DiscoveryPolicy {
	p := release.DiscoveryPolicy{
		TrustedReleaseAuthorities: authorities(trusted...),
		TrustedBuilders:           authorities(builders...),
		Contexts:                  contexts,
		AutoFetchMetadata:         fetch,
		AutoFetchArtifacts:        fetch,
		RequiredBuilders:          required,
	}
	p.Normalize()
	return p
}

// world is one release by alice (plus a later one that can supersede it)
// and the records a test case adds.
type world struct {
	t      *testing.T
	m      release.Manifest
	decl   release.Declared
	next   release.Declared
	recs   []release.Record
	undecl bool
}

func newWorld(t *testing.T) *world {
	m := testManifest("alice", "aura-node", "1.0.0", "b1")
	return &world{t: t, m: m, decl: declare(t, "alice", m), next: declare(t, "alice", testManifest("alice", "aura-node", "1.1.0", "b2"))}
}

func (w *world) cert(builders ...string) *world {
	for _, b := range builders {
		w.recs = append(w.recs, certify(w.t, b, w.decl.Release, w.m.Provenance, 1))
	}
	return w
}

func (w *world) revoke(by, reason string) *world {
	w.recs = append(w.recs, release.Revoked{Release: w.decl.Release, Reason: reason, Signer: auth(by), Admin: admin})
	return w
}

func (w *world) supersede(by string) *world {
	w.recs = append(w.recs, release.Superseded{Release: w.decl.Release, By: w.next.Release, Signer: auth(by), Admin: admin})
	return w
}

func (w *world) copycat(author string) *world {
	m := w.m
	m.Author = auth(author)
	w.recs = append(w.recs, declare(w.t, author, m))
	return w
}

func (w *world) recommend(by, context string) *world {
	w.recs = append(w.recs, release.Recommended{Release: w.decl.Release, Scope: facts.Scope{Kind: facts.ScopeContext, ID: context}, Recommender: auth(by)})
	return w
}

func (w *world) undeclared() *world { w.undecl = true; return w }

func (w *world) entry() release.Entry {
	c := release.NewCatalogue()
	if !w.undecl {
		mustApply(w.t, c, w.decl)
	}
	for _, r := range w.recs {
		if _, err := c.Apply(r); err != nil {
			w.t.Fatalf("apply %T: %v", r, err)
		}
	}
	e, ok := c.Entry(w.decl.Release)
	if !ok {
		return release.Entry{ID: w.decl.Release}
	}
	return e
}

// wantReason asserts that some reason has the code, mentions text and
// blocks exactly blocks.
func wantReason(t *testing.T, d release.Decision, code release.ReasonCode, text string, blocks release.Action) {
	t.Helper()
	for _, r := range d.Reasons {
		if r.Code == code && strings.Contains(r.Text, text) && r.Blocks == blocks {
			return
		}
	}
	t.Errorf("no %v reason %q blocking %v in:\n%s", code, text, blocks, reasons(d))
}

func reasons(d release.Decision) string {
	var b strings.Builder
	for _, r := range d.Reasons {
		b.WriteString("  " + r.Code.String() + ": " + r.String() + "\n")
	}
	return b.String()
}

const all = release.Discover | release.FetchMetadata | release.FetchArtifacts

func TestEvaluateDiscovery(t *testing.T) {
	type reason struct {
		code   release.ReasonCode
		text   string
		blocks release.Action
	}
	next := newWorld(t).next.Release
	for _, tc := range []struct {
		name    string
		policy  release.DiscoveryPolicy
		world   func(*world) *world
		actions release.Action
		author  string
		reasons []reason
	}{
		{
			name:    "untrusted release authority is ignored",
			policy:  discovery([]string{"bob"}, nil, 0, true),
			world:   func(w *world) *world { return w },
			actions: 0,
			author:  "alice",
			reasons: []reason{{release.ReasonUntrustedAuthority, "untrusted release authority " + auth("alice").String(), all}},
		},
		{
			name:    "zero policy trusts nobody and fetches nothing",
			policy:  release.DiscoveryPolicy{},
			world:   func(w *world) *world { return w },
			actions: 0,
			author:  "alice",
			reasons: []reason{{release.ReasonUntrustedAuthority, "untrusted", all}, {release.ReasonPolicy, "artifact auto-fetch disabled", release.FetchArtifacts}},
		},
		{
			name:    "trusted and certified by every required builder",
			policy:  discovery([]string{"alice"}, []string{"builder1", "builder2"}, 2, true),
			world:   func(w *world) *world { return w.cert("builder1", "builder2") },
			actions: all,
			author:  "alice",
			reasons: []reason{{release.ReasonTrustedAuthority, "trusted release authority " + auth("alice").String(), 0}, {release.ReasonBuilders, "2 of 2 required builders", 0}},
		},
		{
			name:    "builder threshold not met",
			policy:  discovery([]string{"alice"}, []string{"builder1", "builder2", "builder3"}, 3, true),
			world:   func(w *world) *world { return w.cert("builder1", "builder2") },
			actions: release.Discover | release.FetchMetadata,
			author:  "alice",
			reasons: []reason{{release.ReasonBuilders, "2 of 3 required builders", release.FetchArtifacts}},
		},
		{
			name:    "untrusted builder does not count",
			policy:  discovery([]string{"alice"}, []string{"builder1", "builder2"}, 2, true),
			world:   func(w *world) *world { return w.cert("builder1", "rogue") },
			actions: release.Discover | release.FetchMetadata,
			author:  "alice",
			reasons: []reason{
				{release.ReasonUntrustedBuilder, "untrusted builder " + auth("rogue").String(), 0},
				{release.ReasonBuilders, "1 of 2 required builders", release.FetchArtifacts},
			},
		},
		{
			name:    "no builders required",
			policy:  discovery([]string{"alice"}, nil, 0, true),
			world:   func(w *world) *world { return w },
			actions: all,
			author:  "alice",
			reasons: []reason{{release.ReasonBuilders, "no builder certificates required", 0}},
		},
		{
			name:    "revoked by its authority: discovered, not fetched",
			policy:  discovery([]string{"alice"}, nil, 0, true),
			world:   func(w *world) *world { return w.revoke("alice", "CVE-2031-7") },
			actions: release.Discover | release.FetchMetadata,
			author:  "alice",
			reasons: []reason{{release.ReasonRevoked, "revoked: CVE-2031-7", release.FetchArtifacts}},
		},
		{
			name:    "revoked by the admin, who need not be trusted",
			policy:  discovery([]string{"alice"}, nil, 0, true),
			world:   func(w *world) *world { return w.revoke("admin", "") },
			actions: release.Discover | release.FetchMetadata,
			author:  "alice",
			reasons: []reason{{release.ReasonRevoked, "revoked: no reason given (by network admin", release.FetchArtifacts}},
		},
		{
			name:    "revocation by an untrusted copycat is ignored",
			policy:  discovery([]string{"alice"}, nil, 0, true),
			world:   func(w *world) *world { return w.copycat("mallory").revoke("mallory", "mine") },
			actions: all,
			author:  "alice",
			reasons: []reason{
				{release.ReasonUntrustedAuthority, "untrusted release authority " + auth("mallory").String(), 0},
				{release.ReasonRevoked, "revocation by untrusted authority " + auth("mallory").String() + " ignored", 0},
			},
		},
		{
			name:    "superseded",
			policy:  discovery([]string{"alice"}, nil, 0, true),
			world:   func(w *world) *world { return w.supersede("alice") },
			actions: release.Discover | release.FetchMetadata,
			author:  "alice",
			reasons: []reason{{release.ReasonSuperseded, "superseded by " + next.String(), release.FetchArtifacts}},
		},
		{
			name:    "auto-fetch disabled",
			policy:  discovery([]string{"alice"}, nil, 0, false),
			world:   func(w *world) *world { return w },
			actions: release.Discover,
			author:  "alice",
			reasons: []reason{
				{release.ReasonPolicy, "metadata auto-fetch disabled by policy", release.FetchMetadata},
				{release.ReasonPolicy, "artifact auto-fetch disabled by policy", release.FetchArtifacts},
			},
		},
		{
			name:    "not declared yet",
			policy:  discovery([]string{"alice"}, nil, 0, true),
			world:   func(w *world) *world { return w.undeclared() },
			actions: 0,
			reasons: []reason{{release.ReasonNotDeclared, "no verified manifest yet", all}},
		},
		{
			name:    "recommended in a followed context by a trusted authority",
			policy:  discovery([]string{"bob"}, nil, 0, true, "ops"),
			world:   func(w *world) *world { return w.recommend("bob", "ops") },
			actions: all,
			author:  "alice",
			reasons: []reason{
				{release.ReasonContext, `recommended in context "ops" by trusted authority ` + auth("bob").String(), 0},
				{release.ReasonUntrustedAuthority, "untrusted release authority " + auth("alice").String(), 0},
			},
		},
		{
			name:    "discovered through a context: its own author's revocation counts",
			policy:  discovery([]string{"bob"}, nil, 0, true, "ops"),
			world:   func(w *world) *world { return w.recommend("bob", "ops").revoke("alice", "pulled") },
			actions: release.Discover | release.FetchMetadata,
			author:  "alice",
			reasons: []reason{{release.ReasonRevoked, "revoked: pulled (by release authority " + auth("alice").String(), release.FetchArtifacts}},
		},
		{
			name:    "recommended but not declared: metadata only",
			policy:  discovery([]string{"bob"}, nil, 0, true, "ops"),
			world:   func(w *world) *world { return w.recommend("bob", "ops").undeclared() },
			actions: release.FetchMetadata,
			reasons: []reason{{release.ReasonNotDeclared, "no verified manifest yet", release.Discover | release.FetchArtifacts}},
		},
		{
			name:    "recommendation by an untrusted authority or in another context is ignored",
			policy:  discovery([]string{"bob"}, nil, 0, true, "ops"),
			world:   func(w *world) *world { return w.recommend("mallory", "ops").recommend("bob", "dev") },
			actions: 0,
			author:  "alice",
			reasons: []reason{
				{release.ReasonContext, `recommendation in context "ops" by untrusted authority ` + auth("mallory").String() + " ignored", 0},
				{release.ReasonUntrustedAuthority, "untrusted release authority " + auth("alice").String(), all},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.policy.Validate(); err != nil {
				t.Fatal(err)
			}
			w := tc.world(newWorld(t))
			d := release.EvaluateDiscovery(tc.policy, w.entry())
			if d.Actions != tc.actions {
				t.Errorf("actions %v, want %v; reasons:\n%s", d.Actions, tc.actions, reasons(d))
			}
			if d.Release != w.decl.Release {
				t.Errorf("decision for %s", d.Release.Short())
			}
			if (tc.author == "") != d.Author.IsZero() || (tc.author != "" && d.Author != auth(tc.author)) {
				t.Errorf("decision speaks for %s, want %q", d.Author, tc.author)
			}
			for _, r := range tc.reasons {
				wantReason(t, d, r.code, r.text, r.blocks)
			}
		})
	}
}

func TestEvaluateSharing(t *testing.T) {
	trustAlice := discovery([]string{"alice"}, nil, 0, true)
	trustNobody := discovery(nil, nil, 0, true)
	const share = release.Forward | release.Pin | release.Recommend
	for _, tc := range []struct {
		name      string
		sharing   release.SharingPolicy
		discovery release.DiscoveryPolicy
		world     func(*world) *world
		actions   release.Action
		reason    string
		blocks    release.Action
	}{
		{"zero policy shares nothing", release.SharingPolicy{}, trustAlice, func(w *world) *world { return w }, 0, "forward: policy selects none", release.Forward},
		{"forward all, pin none: untrusted release relayed, not pinned", release.SharingPolicy{Forward: release.SelectorAll}, trustNobody, func(w *world) *world { return w }, release.Forward, "pin: policy selects none", release.Pin},
		{"trusted selectors, trusted release", release.SharingPolicy{Forward: release.SelectorTrusted, Pin: release.SelectorTrusted, Recommend: release.SelectorTrusted}, trustAlice, func(w *world) *world { return w }, share, "pin: policy selects trusted releases", 0},
		{"trusted selectors, untrusted release", release.SharingPolicy{Forward: release.SelectorTrusted, Pin: release.SelectorTrusted}, trustNobody, func(w *world) *world { return w }, 0, "forward: policy selects trusted releases only", release.Forward},
		{"pin by series, matching", release.SharingPolicy{Pin: release.SelectorSeries("aura-node", "tools")}, trustAlice, func(w *world) *world { return w }, release.Pin, `pin: policy selects trusted releases of series "aura-node"`, 0},
		{"pin by series, other series", release.SharingPolicy{Pin: release.SelectorSeries("tools")}, trustAlice, func(w *world) *world { return w }, 0, `pin: policy selects series tools, not "aura-node"`, release.Pin},
		{"revoked: still forwarded, not pinned or recommended", release.SharingPolicy{Forward: release.SelectorAll, Pin: release.SelectorAll, Recommend: release.SelectorAll}, trustAlice, func(w *world) *world { return w.revoke("alice", "bad") }, release.Forward, "revoked: bad", release.Pin | release.Recommend},
		{"superseded: not recommended", release.SharingPolicy{Forward: release.SelectorAll, Pin: release.SelectorAll, Recommend: release.SelectorAll}, trustAlice, func(w *world) *world { return w.supersede("alice") }, release.Forward | release.Pin, "superseded by", release.Recommend},
		{"not declared: nothing to share", release.SharingPolicy{Forward: release.SelectorAll, Pin: release.SelectorAll}, trustAlice, func(w *world) *world { return w.undeclared() }, 0, "no verified manifest yet", share},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.sharing.Validate(); err != nil {
				t.Fatal(err)
			}
			d := release.EvaluateSharing(tc.sharing, tc.discovery, tc.world(newWorld(t)).entry())
			if d.Actions != tc.actions {
				t.Errorf("actions %v, want %v; reasons:\n%s", d.Actions, tc.actions, reasons(d))
			}
			found := false
			for _, r := range d.Reasons {
				if strings.Contains(r.Text, tc.reason) && r.Blocks == tc.blocks {
					found = true
				}
			}
			if !found {
				t.Errorf("no reason %q blocking %v in:\n%s", tc.reason, tc.blocks, reasons(d))
			}
		})
	}
}

// Discovering does not imply forwarding, and forwarding does not imply
// discovering.
func TestDiscoveryAndSharingAreIndependent(t *testing.T) {
	e := newWorld(t).entry()
	p := discovery([]string{"alice"}, nil, 0, true)
	if d := release.EvaluateDiscovery(p, e); !d.Allows(release.Discover | release.FetchArtifacts) {
		t.Fatalf("not discovered: %s", reasons(d))
	}
	if s := release.EvaluateSharing(release.SharingPolicy{}, p, e); s.Actions != 0 {
		t.Fatalf("discovered release shared without a sharing policy: %v", s.Actions)
	}
	untrusting := discovery(nil, nil, 0, true)
	if d := release.EvaluateDiscovery(untrusting, e); d.Actions != 0 {
		t.Fatalf("untrusted release discovered: %v", d.Actions)
	}
	if s := release.EvaluateSharing(release.SharingPolicy{Forward: release.SelectorAll}, untrusting, e); !s.Allows(release.Forward) || s.Allows(release.Pin) {
		t.Fatalf("relay of an undiscovered release: %v", s.Actions)
	}
}

func TestPolicyCodec(t *testing.T) {
	p := discovery([]string{"bob", "alice", "alice"}, []string{"builder2", "builder1"}, 2, true, "ops", "dev", "ops")
	if len(p.TrustedReleaseAuthorities) != 2 || len(p.Contexts) != 2 {
		t.Fatalf("Normalize left %+v", p)
	}
	raw, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := release.DecodeDiscoveryPolicy(raw)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := back.Marshal(); !bytes.Equal(again, raw) {
		t.Fatal("discovery policy does not round-trip")
	}

	for name, bad := range map[string]release.DiscoveryPolicy{
		"threshold above trusted builders": {TrustedBuilders: authorities("builder1"), RequiredBuilders: 2},
		"negative threshold":               {RequiredBuilders: -1},
		"unsorted authorities":             {TrustedReleaseAuthorities: []facts.AuthorityID{{2}, {1}}},
		"zero authority":                   {TrustedBuilders: []facts.AuthorityID{{}}},
		"empty context":                    {Contexts: []string{""}},
	} {
		if _, err := bad.Marshal(); !errors.Is(err, release.ErrInvalidPolicy) {
			t.Errorf("%s: err = %v, want ErrInvalidPolicy", name, err)
		}
	}

	s := release.SharingPolicy{Forward: release.SelectorAll, Pin: release.SelectorSeries("tools", "aura-node"), Recommend: release.SelectorTrusted}
	raw, err = s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	sback, err := release.DecodeSharingPolicy(raw)
	if err != nil || sback.Pin.String() != "series:aura-node,tools" {
		t.Fatalf("sharing policy round trip: %+v %v", sback, err)
	}
	for _, text := range []string{"none", "trusted", "all", "series:a,b/c"} {
		sel, err := release.ParseSelector(text)
		if err != nil || sel.String() != text {
			t.Errorf("ParseSelector(%q) = %v, %v", text, sel, err)
		}
	}
	for _, text := range []string{"", "some", "series:", "series:a,,b", "series:../x"} {
		if _, err := release.ParseSelector(text); !errors.Is(err, release.ErrInvalidPolicy) {
			t.Errorf("ParseSelector(%q) err = %v", text, err)
		}
	}
	if _, err := (release.SharingPolicy{Forward: release.Selector{Mode: release.SelectAll, Series: []string{"x"}}}).Marshal(); !errors.Is(err, release.ErrInvalidPolicy) {
		t.Errorf("series list on an all selector: %v", err)
	}
}
