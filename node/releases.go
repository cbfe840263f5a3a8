package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/aura-node/aura-node/api"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/release"
	"github.com/aura-node/aura-node/storage"
)

// releaseKinds are the ReleaseDistribution and recommendation kinds the
// release catalogue reduces.
var releaseKinds = []facts.Kind{
	facts.KindReleaseDeclared, facts.KindBuildCertified, facts.KindArtifactAvailable,
	facts.KindReleaseRevoked, facts.KindReleaseSuperseded, facts.KindRecommendationPublished,
}

// releaseViewKinds are every kind the node's release view reduces: the
// catalogue's, plus declared series and published discovery and sharing
// policies, which the node keeps beside the catalogue.
var releaseViewKinds = append(slices.Clone(releaseKinds),
	facts.KindSeriesDeclared, facts.KindDiscoveryPolicyPublished, facts.KindSharingPolicyPublished)

func isReleaseKind(k facts.Kind) bool { return slices.Contains(releaseKinds, k) }

func isReleaseViewKind(k facts.Kind) bool { return slices.Contains(releaseViewKinds, k) }

// ErrBadRelease marks release facts that fail release/'s checks.
var ErrBadRelease = errors.New("node: invalid release fact")

// releaseCatalogue is the node's release view: the release catalogue
// reduced from the release facts of the journal (release.Catalogue is
// order independent, so every node with the same facts has the same
// catalogue), the declared series, the published policies, and this
// node's own discovery and sharing policies. The loop applies facts; API
// readers and the gossip validator take the read lock.
type releaseCatalogue struct {
	// announceMu serialises announceArtifacts, so two callers (the
	// artifact loop and `release publish`) do not both announce.
	announceMu sync.Mutex
	mu         sync.RWMutex
	cat        *release.Catalogue
	series     map[string]map[facts.AuthorityID]string // series -> declarer -> description
	published  map[publishedKey]publishedPolicy
	// changed is closed, and replaced, whenever the catalogue or the
	// node's policies change (see releasesChanged).
	changed chan struct{}

	// policy is this node's discovery and sharing policy; replaced
	// whole, never mutated.
	policy atomic.Pointer[releasePolicy]
	// holder says whether this node holds an artifact; set by the
	// artifact store (setArtifactHolder), nil until then.
	holder atomic.Pointer[artifactHolder]
}

// checkRelease runs release/'s checks on a release fact before it may be
// stored or forwarded. The checks need no other fact, so every node gives
// every fact the same verdict whatever order facts arrive in:
//
//  1. A declaration's manifest verifies: canonical, valid, its release ID
//     recomputed from series and provenance, signed by its author.
//  2. A build certificate verifies under its builder and names the
//     release it is presented for.
//  3. Revocations, supersessions, availabilities and recommendations are
//     well formed.
//  4. A declared series has a valid name.
//  5. A published discovery or sharing policy decodes and validates, and
//     is for a valid scope that its author owns.
//
// Checks that need the release's manifest (a certificate's provenance, an
// availability's artifact, a revoker's authority) are the catalogue's:
// such records are held until a declaration arrives and then stored or
// dropped, never heeded before.
func checkRelease(c facts.Checked, gov *facts.Governance) facts.Verdict {
	f := c.Fact()
	if !isReleaseViewKind(f.Kind) {
		return facts.Verdict{Result: facts.Accept}
	}
	reject := func(err error) facts.Verdict {
		return facts.Verdict{Result: facts.Reject, Reason: fmt.Errorf("%w: %w", ErrBadRelease, err)}
	}
	switch p := c.Payload().(type) {
	case *facts.SeriesDeclared:
		if err := release.ValidateSeries(p.Series); err != nil {
			return reject(err)
		}
		return facts.Verdict{Result: facts.Accept}
	case *facts.PolicyPublished:
		if _, err := decodePublishedPolicy(f.Kind, p.Policy); err != nil {
			return reject(err)
		}
		if err := p.Scope.CheckActivation(); err != nil {
			return reject(err)
		}
		if p.Scope.Owner != f.Author {
			return reject(fmt.Errorf("policy for scope %s published by %s: an authority publishes policy only for scopes it owns", p.Scope.Key(), f.Author))
		}
		return facts.Verdict{Result: facts.Accept}
	}
	rec, err := release.RecordFromFact(c.Payload(), f.Author, adminAt(gov, f.Epoch))
	if err != nil {
		return reject(err)
	}
	if err := release.CheckRecord(rec); err != nil {
		return reject(err)
	}
	return facts.Verdict{Result: facts.Accept}
}

func adminAt(gov *facts.Governance, epoch uint64) facts.AuthorityID {
	if info, ok := gov.At(epoch); ok {
		return info.Admin
	}
	return facts.AuthorityID{}
}

// decodePublishedPolicy decodes the document of a discovery or sharing
// policy fact.
func decodePublishedPolicy(k facts.Kind, raw []byte) (any, error) {
	switch k {
	case facts.KindDiscoveryPolicyPublished:
		return release.DecodeDiscoveryPolicy(raw)
	case facts.KindSharingPolicyPublished:
		return release.DecodeSharingPolicy(raw)
	}
	return nil, fmt.Errorf("kind %v is not a release policy", k)
}

// publishedKey names one published policy: the latest by (time, bytes)
// per author, scope and kind is kept.
type publishedKey struct {
	author facts.AuthorityID
	kind   facts.Kind
	scope  string // facts.Scope.Key
}

type publishedPolicy struct {
	scope  facts.Scope
	time   facts.Timestamp
	policy []byte
}

// apply adds a committed fact to the release view. The caller holds mu
// for writing.
func (r *releaseCatalogue) apply(gov *facts.Governance, f *facts.Fact, p facts.Payload) {
	if !isReleaseViewKind(f.Kind) {
		return
	}
	switch p := p.(type) {
	case *facts.SeriesDeclared:
		if r.series[p.Series] == nil {
			r.series[p.Series] = map[facts.AuthorityID]string{}
		}
		// One description per declarer: the lexically greatest, so the
		// result does not depend on arrival order.
		if old, ok := r.series[p.Series][f.Author]; !ok || p.Description > old {
			r.series[p.Series][f.Author] = p.Description
		}
		r.notify()
		return
	case *facts.PolicyPublished:
		key := publishedKey{author: f.Author, kind: f.Kind, scope: p.Scope.Key()}
		old, ok := r.published[key]
		// Rules: 1. the later HLC time wins; 2. then the greater bytes.
		if !ok || f.Time > old.time || (f.Time == old.time && string(p.Policy) > string(old.policy)) {
			r.published[key] = publishedPolicy{scope: p.Scope, time: f.Time, policy: slices.Clone(p.Policy)}
		}
		return
	}
	rec, err := release.RecordFromFact(p, f.Author, adminAt(gov, f.Epoch))
	if err != nil {
		return // checkRelease refused these before they were stored
	}
	// A record the catalogue refuses (a certificate over other
	// provenance than the manifest's, an availability of an artifact the
	// manifest lacks) stays in the journal, signed by its author, but is
	// not part of the catalogue; an unauthorised revocation is held, not
	// heeded.
	if out, err := r.cat.Apply(rec); err == nil && out != release.Unchanged {
		r.notify()
	}
}

// notify wakes everything waiting on releasesChanged. The caller holds mu
// for writing.
func (r *releaseCatalogue) notify() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// loadReleases rebuilds the release view from the journal's facts: at
// start, when it also installs the configured policies, and after the
// node adopts a snapshot, when the policies in force (perhaps set at run
// time) stay and releasesChanged waiters are woken.
func (n *Node) loadReleases() error {
	n.releases.mu.Lock()
	n.releases.cat = release.NewCatalogue()
	n.releases.series = map[string]map[facts.AuthorityID]string{}
	n.releases.published = map[publishedKey]publishedPolicy{}
	if n.releases.changed == nil {
		n.releases.changed = make(chan struct{})
	} else {
		n.releases.notify()
	}
	n.releases.mu.Unlock()
	n.releases.policy.CompareAndSwap(nil, policyFromConfig(n.cfg))
	gov := n.gov.Load()
	for _, k := range releaseViewKinds {
		var since facts.Timestamp
		for {
			page, err := n.journal.List(storage.Query{Kind: k, Since: since, Limit: storage.MaxLimit})
			if err != nil {
				return err
			}
			n.releases.mu.Lock()
			for _, e := range page {
				raw, ok, err := n.journal.GetFact(e.ID)
				if err != nil || !ok {
					n.releases.mu.Unlock()
					return fmt.Errorf("node: stored release fact %s: %v", e.ID, err)
				}
				// Verified when it was stored: decode only.
				f, p, err := facts.Decode(raw, 0)
				if err != nil {
					n.releases.mu.Unlock()
					return fmt.Errorf("node: stored release fact %s: %w", e.ID, err)
				}
				n.releases.apply(gov, f, p)
			}
			n.releases.mu.Unlock()
			if len(page) < storage.MaxLimit {
				break
			}
			since = page[len(page)-1].Time + 1
		}
	}
	return nil
}

// releaseView renders a catalogue entry for the API.
func releaseView(e release.Entry) api.Release {
	out := api.Release{ID: e.ID.String(), Authorities: []string{}, Builders: []string{}, Artifacts: []api.ReleaseArtifact{}, Pending: e.Pending}
	for i, d := range e.Declarations {
		out.Authorities = append(out.Authorities, d.Manifest.Author.String())
		if i == 0 {
			out.Series, out.Version = d.Manifest.Series, d.Manifest.Version
			out.Compatibility = d.Manifest.Compatibility.Class.String()
			for _, a := range d.Manifest.Artifacts {
				root, _ := release.ParseRoot(a.Root)
				out.Artifacts = append(out.Artifacts, api.ReleaseArtifact{Name: a.Name, Kind: a.Kind, Platform: a.Platform, Size: a.Size, Root: root.String()})
			}
		}
	}
	for _, c := range e.Certificates {
		out.Builders = append(out.Builders, c.Certificate.Builder.String())
	}
	out.Revoked, out.RevokedReason = e.Revoked()
	for _, id := range e.SupersededBy(nil) {
		out.SupersededBy = append(out.SupersededBy, id.String())
	}
	return out
}

// Releases implements api.Backend.
func (n *Node) Releases(ctx context.Context) (*api.ReleaseList, error) {
	n.releases.mu.RLock()
	defer n.releases.mu.RUnlock()
	out := &api.ReleaseList{Releases: []api.Release{}}
	for _, id := range n.releases.cat.IDs() {
		if e, ok := n.releases.cat.Entry(id); ok {
			out.Releases = append(out.Releases, releaseView(e))
		}
	}
	return out, nil
}

// Release implements api.Backend.
func (n *Node) Release(ctx context.Context, id string) (*api.Release, error) {
	rid, err := release.ParseID(id)
	if err != nil {
		return nil, fmt.Errorf("%w: %q is not a release ID: %v", api.ErrBadRequest, id, err)
	}
	n.releases.mu.RLock()
	defer n.releases.mu.RUnlock()
	e, ok := n.releases.cat.Entry(rid)
	if !ok {
		return nil, fmt.Errorf("%w: no release %s in the catalogue", api.ErrNotFound, id)
	}
	v := releaseView(e)
	return &v, nil
}
