package node

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/release"
)

// releasePolicy is this node's discovery and sharing policy as configured
// (Config.ReleaseDiscovery, Config.ReleaseSharing, or `aura-node policy
// set` at run time).
type releasePolicy struct {
	discovery release.DiscoveryPolicy
	sharing   release.SharingPolicy
	// discoverySet and sharingSet say whether the operator set them (else
	// they are the defaults).
	discoverySet, sharingSet bool
}

// policyFromConfig reads the policies of a validated config.
func policyFromConfig(c Config) *releasePolicy {
	p := &releasePolicy{sharing: release.DefaultSharingPolicy()}
	if c.ReleaseDiscovery != nil {
		p.discovery, p.discoverySet = *c.ReleaseDiscovery, true
	}
	if c.ReleaseSharing != nil {
		p.sharing, p.sharingSet = *c.ReleaseSharing, true
	}
	return p
}

// validateReleasePolicies normalises and checks the release policies of a
// config (Config.Validate calls it).
func (c *Config) validateReleasePolicies() error {
	if p := c.ReleaseDiscovery; p != nil {
		p.Normalize()
		if err := p.Validate(); err != nil {
			return fmt.Errorf("%w: release_discovery: %w", ErrBadConfig, err)
		}
	}
	if p := c.ReleaseSharing; p != nil {
		if err := p.Validate(); err != nil {
			return fmt.Errorf("%w: release_sharing: %w", ErrBadConfig, err)
		}
	}
	return nil
}

// effectiveDiscovery is the discovery policy decisions use: the
// configured one, with this node's own authority always a trusted release
// authority (it is the authority that publishes releases from this node).
// It adds no builder: certificates count only from builders the operator
// trusts.
func (n *Node) effectiveDiscovery(p *releasePolicy) release.DiscoveryPolicy {
	d := p.discovery
	d.TrustedReleaseAuthorities = append(slices.Clone(d.TrustedReleaseAuthorities), n.authority)
	d.TrustedBuilders = slices.Clone(d.TrustedBuilders)
	d.Contexts = slices.Clone(d.Contexts)
	d.Normalize()
	return d
}

// setReleasePolicy replaces the node's policies at run time (nil keeps
// the current one) and wakes releasesChanged waiters. It does not write
// config.json: the CLI does, so the policy survives a restart.
func (n *Node) setReleasePolicy(d *release.DiscoveryPolicy, s *release.SharingPolicy) error {
	cur := n.releases.policy.Load()
	next := *cur
	if d != nil {
		dd := *d
		dd.Normalize()
		if err := dd.Validate(); err != nil {
			return err
		}
		next.discovery, next.discoverySet = dd, true
	}
	if s != nil {
		if err := s.Validate(); err != nil {
			return err
		}
		next.sharing, next.sharingSet = *s, true
	}
	n.releases.mu.Lock()
	n.releases.policy.Store(&next)
	n.releases.notify()
	n.releases.mu.Unlock()
	return nil
}

// releaseDecisions evaluates both policies for one catalogue entry.
func (n *Node) releaseDecisions(e release.Entry) (discovery, sharing release.Decision) {
	p := n.releases.policy.Load()
	d := n.effectiveDiscovery(p)
	return release.EvaluateDiscovery(d, e), release.EvaluateSharing(p.sharing, d, e)
}

// entry returns the catalogue entry of a release.
func (n *Node) releaseEntry(id release.ID) (release.Entry, bool) {
	n.releases.mu.RLock()
	defer n.releases.mu.RUnlock()
	return n.releases.cat.Entry(id)
}

// Hooks for the artifact store and fetcher (node/artifacts*.go). They read
// the catalogue and the node's policies; none of them fetches, pins or
// writes anything.

// releaseFetchDecision is the discovery decision for a release: fetch its
// artifacts by itself only if d.Allows(release.FetchArtifacts); d.Reasons
// say why not. An unknown release gives a decision with no actions.
func (n *Node) releaseFetchDecision(id release.ID) release.Decision {
	e, _ := n.releaseEntry(id)
	e.ID = id
	d, _ := n.releaseDecisions(e)
	return d
}

// releasePinDecision is the sharing decision for a release: keep and
// serve its artifacts only if d.Allows(release.Pin).
func (n *Node) releasePinDecision(id release.ID) release.Decision {
	e, _ := n.releaseEntry(id)
	e.ID = id
	_, s := n.releaseDecisions(e)
	return s
}

// releaseWork is a declared release and its artifacts.
type releaseWork struct {
	ID        release.ID
	Series    string
	Version   string
	Artifacts []release.Artifact
}

// releasesWhere returns the declared releases whose decision allows
// action (one of the discovery or sharing actions), sorted by ID.
func (n *Node) releasesWhere(action release.Action) []releaseWork {
	n.releases.mu.RLock()
	defer n.releases.mu.RUnlock()
	var out []releaseWork
	for _, id := range n.releases.cat.Releases() {
		e, _ := n.releases.cat.Entry(id)
		d, s := n.releaseDecisions(e)
		if !d.Allows(action&(release.Discover|release.FetchMetadata|release.FetchArtifacts)) ||
			!s.Allows(action&(release.Forward|release.Pin|release.Recommend)) {
			continue
		}
		m := e.Declarations[0].Manifest
		for _, decl := range e.Declarations {
			if decl.Manifest.Author == d.Author {
				m = decl.Manifest
			}
		}
		out = append(out, releaseWork{ID: id, Series: m.Series, Version: m.Version, Artifacts: m.Artifacts})
	}
	return out
}

// releasesToFetch lists the releases whose artifacts this node fetches by
// itself (discovery allows FetchArtifacts: discovered, enough trusted
// builders, not revoked or superseded, auto-fetch on).
func (n *Node) releasesToFetch() []releaseWork { return n.releasesWhere(release.FetchArtifacts) }

// releasesToPin lists the releases whose artifacts this node keeps and
// serves (sharing allows Pin).
func (n *Node) releasesToPin() []releaseWork { return n.releasesWhere(release.Pin) }

// releasesChanged returns a channel closed at the next change of the
// catalogue or of the node's policies: wait on it, then re-read
// releasesToFetch / releasesToPin.
func (n *Node) releasesChanged() <-chan struct{} {
	n.releases.mu.RLock()
	defer n.releases.mu.RUnlock()
	return n.releases.changed
}

// artifactHolder reports whether this node holds a whole artifact (every
// block under root) and can serve it.
type artifactHolder func(ctx context.Context, root cid.Cid) (bool, error)

// setArtifactHolder tells the release view how to ask the artifact store
// whether an artifact is held; `release publish` and announceArtifacts
// use it.
func (n *Node) setArtifactHolder(h artifactHolder) { n.releases.holder.Store(&h) }

// holds asks the artifact store, if there is one.
func (n *Node) holds(ctx context.Context, root []byte) (bool, error) {
	h := n.releases.holder.Load()
	if h == nil {
		return false, nil
	}
	c, err := release.ParseRoot(root)
	if err != nil {
		return false, err
	}
	return (*h)(ctx, c)
}

// announceArtifacts publishes ArtifactAvailable for every artifact of a
// release that this node holds and has not announced yet, if its sharing
// policy pins the release (a node announces only what it keeps and
// serves). It returns the facts written and, when nothing may be
// announced, the reason. The artifact fetcher calls it after a fetch
// completes; `release publish` calls it for the publisher's artifacts.
func (n *Node) announceArtifacts(ctx context.Context, id release.ID) ([]facts.Checked, string, error) {
	n.releases.announceMu.Lock()
	defer n.releases.announceMu.Unlock()
	e, ok := n.releaseEntry(id)
	if !ok || !e.Declared() {
		return nil, "the release is not declared", nil
	}
	_, s := n.releaseDecisions(e)
	if !s.Allows(release.Pin) {
		return nil, "sharing policy does not pin it: " + blockingReasons(s, release.Pin), nil
	}
	announced := map[string]bool{}
	for _, a := range e.Availability {
		if a.Holder == n.authority {
			announced[a.Artifact] = true
		}
	}
	var out []facts.Checked
	held := 0
	for _, a := range e.Declarations[0].Manifest.Artifacts {
		ok, err := n.holds(ctx, a.Root)
		if err != nil {
			return out, "", fmt.Errorf("node: asking the artifact store for %s: %w", a.Name, err)
		}
		if !ok {
			continue
		}
		held++
		if announced[a.Name] {
			continue
		}
		c, err := n.Author(ctx, facts.KindArtifactAvailable, &facts.ArtifactAvailable{ReleaseID: id[:], Artifact: a.Name, Root: a.Root})
		if err != nil {
			return out, "", err
		}
		out = append(out, c)
	}
	switch {
	case held == 0:
		return nil, "this node holds none of its artifacts (import or fetch them first)", nil
	case len(out) == 0:
		return nil, "this node already announced the artifacts it holds", nil
	}
	return out, "", nil
}

// blockingReasons joins the reasons that block action.
func blockingReasons(d release.Decision, action release.Action) string {
	var out []string
	for _, r := range d.Reasons {
		if r.Blocks&action != 0 {
			out = append(out, r.Text)
		}
	}
	if len(out) == 0 {
		return "no reason recorded"
	}
	return strings.Join(out, "; ")
}

// forwardsRelease says whether this node relays a verified gossiped fact
// to its peers. Release facts are relayed only when the sharing policy
// forwards their release (a declaration is judged together with the
// release's existing records); every other fact is relayed. A fact that
// is not relayed is still stored: it is valid journal data, and
// anti-entropy serves it to peers that ask for it.
func (n *Node) forwardsRelease(c facts.Checked) bool {
	f := c.Fact()
	if !isReleaseKind(f.Kind) {
		return true
	}
	rec, err := release.RecordFromFact(c.Payload(), f.Author, facts.AuthorityID{})
	if err != nil {
		return false
	}
	id := rec.ReleaseID()
	e, _ := n.releaseEntry(id)
	e.ID = id
	if d, ok := rec.(release.Declared); ok {
		if m, err := release.DecodeManifest(d.Manifest); err == nil {
			if _, dup := e.DeclarationBy(m.Author); !dup {
				e.Declarations = append(e.Declarations, release.Declaration{Manifest: *m, Signed: d})
			}
		}
	}
	_, s := n.releaseDecisions(e)
	return s.Allows(release.Forward)
}
