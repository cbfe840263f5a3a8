package node

import (
	"context"
	"errors"
	"fmt"
	"sync"

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

func isReleaseKind(k facts.Kind) bool {
	for _, r := range releaseKinds {
		if k == r {
			return true
		}
	}
	return false
}

// ErrBadRelease marks release facts that fail release/'s checks.
var ErrBadRelease = errors.New("node: invalid release fact")

// releaseCatalogue is the node's view of the release catalogue, reduced
// from the release facts of the journal (release.Catalogue is order
// independent, so every node with the same facts has the same catalogue).
// The loop applies; API readers take the lock.
type releaseCatalogue struct {
	mu  sync.RWMutex
	cat *release.Catalogue
}

// checkRelease runs release/'s checks on a release fact before it may be
// stored or forwarded: a declaration's manifest must verify (canonical,
// ID recomputed from series and provenance, signed by its author), and
// every other record must decode. Records that depend on a declaration
// not yet seen are held by the catalogue, not refused.
func checkRelease(c facts.Checked, gov *facts.Governance) facts.Verdict {
	f := c.Fact()
	if !isReleaseKind(f.Kind) {
		return facts.Verdict{Result: facts.Accept}
	}
	admin := facts.AuthorityID{}
	if info, ok := gov.At(f.Epoch); ok {
		admin = info.Admin
	}
	rec, err := release.RecordFromFact(c.Payload(), f.Author, admin)
	if err != nil {
		return facts.Verdict{Result: facts.Reject, Reason: fmt.Errorf("%w: %v", ErrBadRelease, err)}
	}
	if d, ok := rec.(release.Declared); ok {
		if _, _, err := release.VerifyManifest(d.Manifest, d.Signature, d.Release); err != nil {
			return facts.Verdict{Result: facts.Reject, Reason: fmt.Errorf("%w: %v", ErrBadRelease, err)}
		}
	}
	return facts.Verdict{Result: facts.Accept}
}

// apply adds a committed release fact to the catalogue. The caller holds
// mu for writing.
func (r *releaseCatalogue) apply(gov *facts.Governance, f *facts.Fact, p facts.Payload) {
	if !isReleaseKind(f.Kind) {
		return
	}
	admin := facts.AuthorityID{}
	if info, ok := gov.At(f.Epoch); ok {
		admin = info.Admin
	}
	rec, err := release.RecordFromFact(p, f.Author, admin)
	if err != nil {
		return // checkRelease refused these before they were stored
	}
	r.cat.Apply(rec) // an unauthorised revocation is held, not heeded
}

// loadReleases rebuilds the catalogue from the journal's release facts.
func (n *Node) loadReleases() error {
	n.releases.cat = release.NewCatalogue()
	gov := n.gov.Load()
	for _, k := range releaseKinds {
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
