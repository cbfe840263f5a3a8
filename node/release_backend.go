package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/aura-node/aura-node/api"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/release"
)

// The release backend: every write is validated with release/ and
// against the catalogue before it is authored, and every refusal says why
// (unknown release, untrusted authority, ID mismatch, bad signature,
// revoked, superseded, not authorised).

// classError is a refusal whose message is the reason alone; errors.Is
// also finds its API class (api.ErrBadRequest, ErrNotFound, ErrConflict),
// which picks the HTTP status but is not repeated in the message.
type classError struct{ class, err error }

func (e *classError) Error() string   { return e.err.Error() }
func (e *classError) Unwrap() []error { return []error{e.class, e.err} }

func refuse(class error, format string, args ...any) error {
	return &classError{class: class, err: fmt.Errorf(format, args...)}
}

// decisionView renders a policy decision.
func decisionView(d release.Decision) api.ReleaseDecision {
	out := api.ReleaseDecision{Actions: actionNames(d.Actions), Reasons: []api.ReleaseReason{}}
	for _, r := range d.Reasons {
		out.Reasons = append(out.Reasons, api.ReleaseReason{Code: r.Code.String(), Text: r.Text, Blocks: actionNames(r.Blocks)})
	}
	return out
}

func actionNames(a release.Action) []string {
	if a == 0 {
		return []string{}
	}
	return strings.Split(a.String(), "+")
}

// detailOf renders everything about one entry. The caller holds
// releases.mu for reading.
func (n *Node) detailOf(e release.Entry) api.ReleaseDetail {
	d, s := n.releaseDecisions(e)
	p := n.releases.policy.Load()
	disc := n.effectiveDiscovery(p)
	out := api.ReleaseDetail{
		Release:          releaseView(e),
		Certificates:     []api.ReleaseCertificate{},
		Revocations:      []api.ReleaseRevocation{},
		Supersessions:    []api.ReleaseSupersession{},
		Availability:     []api.ReleaseAvailability{},
		Recommended:      []api.ReleaseRecommendation{},
		SeriesDeclaredBy: []string{},
		Discovery:        decisionView(d),
		Sharing:          decisionView(s),
	}
	if decl, ok := e.DeclarationBy(d.Author); ok {
		m := decl.Manifest
		// The summary speaks for the same declaration as the decisions.
		out.Series, out.Version, out.Compatibility = m.Series, m.Version, m.Compatibility.Class.String()
		mv := &api.ReleaseManifest{
			Author:                        m.Author.String(),
			SourceRepo:                    m.Provenance.SourceRepo,
			SourceBundleHash:              hex.EncodeToString(m.Provenance.SourceBundleHash[:]),
			BuildRecipeHash:               hex.EncodeToString(m.Provenance.BuildRecipeHash[:]),
			OutputHash:                    hex.EncodeToString(m.Provenance.OutputHash[:]),
			Packaging:                     map[string]string{},
			ThresholdApprovalRequired:     m.Activation.ThresholdApprovalRequired,
			EpochFenceRequired:            m.Activation.EpochFenceRequired,
			HealthGates:                   m.Activation.HealthGates,
			SuggestedActivationTimeUnixMs: m.SuggestedActivationTimeUnixMs,
		}
		for _, a := range m.Artifacts {
			mv.Packaging[a.Name] = a.Packaging
		}
		if mlr := m.Compatibility.MinimumLegacyRelease; mlr != nil {
			mv.MinimumLegacyRelease = mlr.String()
		}
		for _, mg := range m.Migrations {
			mv.Migrations = append(mv.Migrations, api.ReleaseMigration{From: mg.From, To: mg.To, Name: mg.Name})
		}
		out.Manifest = mv
		out.SignedManifest, out.Signature = decl.Signed.Manifest, decl.Signed.Signature
		for a := range n.releases.series[m.Series] {
			out.SeriesDeclaredBy = append(out.SeriesDeclaredBy, a.String())
		}
		slices.Sort(out.SeriesDeclaredBy)
	}
	for _, c := range e.Certificates {
		out.Certificates = append(out.Certificates, api.ReleaseCertificate{
			Builder: c.Certificate.Builder.String(), BuiltAtUnixMs: c.Certificate.BuiltAtUnixMs, Trusted: disc.TrustsBuilder(c.Certificate.Builder),
		})
	}
	for _, r := range e.Revocations {
		out.Revocations = append(out.Revocations, api.ReleaseRevocation{Signer: r.Signer.String(), ByAdmin: r.ByAdmin(), Reason: r.Reason})
	}
	for _, sp := range e.Supersessions {
		out.Supersessions = append(out.Supersessions, api.ReleaseSupersession{Signer: sp.Signer.String(), ByAdmin: sp.ByAdmin(), By: sp.By.String()})
	}
	for _, a := range e.Availability {
		out.Availability = append(out.Availability, api.ReleaseAvailability{Artifact: a.Artifact, Holder: a.Holder.String()})
	}
	for _, r := range e.Recommendations {
		out.Recommended = append(out.Recommended, api.ReleaseRecommendation{Recommender: r.Recommender.String(), ScopeKind: uint8(r.Scope.Kind), ScopeID: r.Scope.ID, Note: r.Note})
	}
	return out
}

// ReleaseDetails implements api.ReleaseBackend.
func (n *Node) ReleaseDetails(ctx context.Context) (*api.ReleaseDetailList, error) {
	n.releases.mu.RLock()
	defer n.releases.mu.RUnlock()
	out := &api.ReleaseDetailList{Releases: []api.ReleaseDetail{}}
	for _, id := range n.releases.cat.IDs() {
		if e, ok := n.releases.cat.Entry(id); ok {
			out.Releases = append(out.Releases, n.detailOf(e))
		}
	}
	return out, nil
}

// ReleaseDetail implements api.ReleaseBackend.
func (n *Node) ReleaseDetail(ctx context.Context, id string) (*api.ReleaseDetail, error) {
	rid, err := parseReleaseID(id)
	if err != nil {
		return nil, err
	}
	n.releases.mu.RLock()
	defer n.releases.mu.RUnlock()
	e, ok := n.releases.cat.Entry(rid)
	if !ok {
		return nil, unknownRelease(rid)
	}
	d := n.detailOf(e)
	return &d, nil
}

func parseReleaseID(s string) (release.ID, error) {
	id, err := release.ParseID(s)
	if err != nil {
		return id, refuse(api.ErrBadRequest, "%q is not a release ID (64 hex digits, see `aura-node release list --json`): %v", s, err)
	}
	return id, nil
}

func unknownRelease(id release.ID) error {
	return refuse(api.ErrNotFound, "no release %s in this node's catalogue (see `aura-node release list`; publish it first, or wait for it to arrive)", id)
}

// declaredEntry returns a release that has a verified manifest, or why
// not.
func (n *Node) declaredEntry(id release.ID) (release.Entry, error) {
	e, ok := n.releaseEntry(id)
	if !ok {
		return e, unknownRelease(id)
	}
	if !e.Declared() {
		return e, refuse(api.ErrNotFound, "release %s has %d records waiting but no verified manifest yet", id.Short(), e.Pending)
	}
	return e, nil
}

// PublishRelease implements api.ReleaseBackend. The checks, in order:
//
//  1. The manifest verifies (release.VerifyManifest: canonical, valid,
//     release ID recomputed, signature by its author).
//  2. The release is not revoked by anyone this node heeds.
//  3. The author is this node's authority or a trusted release authority
//     (unless AllowUntrusted).
//
// Then it authors SeriesDeclared (if this authority has not declared the
// series), ReleaseDeclared (unless this declaration is already in the
// journal) and ArtifactAvailable for the artifacts this node holds, if
// its sharing policy pins the release.
func (n *Node) PublishRelease(ctx context.Context, req api.PublishReleaseRequest) (*api.PublishReleaseResult, error) {
	id, err := parseReleaseID(req.ReleaseID)
	if err != nil {
		return nil, err
	}
	m, _, err := release.VerifyManifest(req.Manifest, req.Signature, id)
	if err != nil {
		return nil, refuse(api.ErrBadRequest, "refusing to publish: %w", err)
	}
	res := &api.PublishReleaseResult{ReleaseID: id.String(), Series: m.Series, Version: m.Version, Author: m.Author.String(), Available: []api.WriteResult{}}
	e, known := n.releaseEntry(id)
	e.ID = id
	if known {
		d, _ := n.releaseDecisions(e)
		for _, r := range d.Reasons {
			if r.Code == release.ReasonRevoked && r.Blocks != 0 {
				return nil, refuse(api.ErrConflict, "refusing to publish release %s: it is %s", id.Short(), r.Text)
			}
		}
	}
	p := n.releases.policy.Load()
	if m.Author != n.authority && !p.discovery.TrustsAuthority(m.Author) && !req.AllowUntrusted {
		return nil, refuse(api.ErrConflict, "refusing to publish: release authority %s is not trusted by this node's discovery policy (trust it with `aura-node policy set discovery --trust-authority %s`, or publish with --allow-untrusted)", m.Author, m.Author)
	}

	n.releases.mu.RLock()
	_, seriesDeclared := n.releases.series[m.Series][n.authority]
	n.releases.mu.RUnlock()
	if !seriesDeclared && m.Author == n.authority {
		w, err := n.authorFor(ctx, facts.KindSeriesDeclared, &facts.SeriesDeclared{Series: m.Series})
		if err != nil {
			return nil, fmt.Errorf("declaring series %q: %w", m.Series, err)
		}
		res.SeriesDeclared = w
	}
	if prev, ok := e.DeclarationBy(m.Author); ok && bytes.Equal(prev.Signed.Manifest, req.Manifest) && bytes.Equal(prev.Signed.Signature, req.Signature) {
		res.AlreadyPublished = true
	} else {
		w, err := n.authorFor(ctx, facts.KindReleaseDeclared, &facts.ReleaseDeclared{ReleaseID: id[:], Manifest: req.Manifest, Signature: req.Signature})
		if err != nil {
			return nil, err
		}
		res.Declared = w
	}
	written, why, err := n.announceArtifacts(ctx, id)
	if err != nil {
		return res, fmt.Errorf("release %s published, but announcing its artifacts failed: %w", id.Short(), err)
	}
	for _, c := range written {
		res.Available = append(res.Available, *n.writeResult(c))
	}
	res.NotAnnounced = why
	return res, nil
}

// heededBlock returns the first reason of a decision with the given code
// that blocks something: a revocation or supersession this node heeds.
func heededBlock(d release.Decision, code release.ReasonCode) (release.Reason, bool) {
	for _, r := range d.Reasons {
		if r.Code == code && r.Blocks != 0 {
			return r, true
		}
	}
	return release.Reason{}, false
}

// CertifyRelease implements api.ReleaseBackend: this node's authority,
// as a builder, signs a certificate over the release's provenance. It is
// refused for an undeclared, revoked or (unless AllowSuperseded)
// superseded release, when rebuilt outputs are given and differ from the
// manifest, and when this builder already certified it.
func (n *Node) CertifyRelease(ctx context.Context, sid string, req api.CertifyReleaseRequest) (*api.WriteResult, error) {
	id, err := parseReleaseID(sid)
	if err != nil {
		return nil, err
	}
	e, err := n.declaredEntry(id)
	if err != nil {
		return nil, err
	}
	d, _ := n.releaseDecisions(e)
	if r, ok := heededBlock(d, release.ReasonRevoked); ok {
		return nil, refuse(api.ErrConflict, "refusing to certify release %s: it is %s", id.Short(), r.Text)
	}
	if r, ok := heededBlock(d, release.ReasonSuperseded); ok && !req.AllowSuperseded {
		return nil, refuse(api.ErrConflict, "refusing to certify release %s: it is %s (certify anyway with --allow-superseded)", id.Short(), r.Text)
	}
	decl, _ := e.DeclarationBy(d.Author)
	m := decl.Manifest
	if len(req.Rebuilt) > 0 {
		var rebuilt []release.Artifact
		for _, a := range req.Rebuilt {
			c, err := cid.Decode(a.Root)
			if err != nil {
				return nil, refuse(api.ErrBadRequest, "rebuilt artifact %q: root %q is not a CID: %v", a.Name, a.Root, err)
			}
			rebuilt = append(rebuilt, release.Artifact{Name: a.Name, Size: a.Size, Root: c.Bytes()})
		}
		if err := release.CompareOutputs(&m, rebuilt); err != nil {
			return nil, refuse(api.ErrConflict, "refusing to certify release %s: %w", id.Short(), err)
		}
	}
	for _, c := range e.Certificates {
		if c.Certificate.Builder == n.authority {
			return nil, refuse(api.ErrConflict, "this node's authority %s already certified release %s", n.authority, id.Short())
		}
	}
	signed, err := release.SignCertificate(n.keys.Authority, release.BuildCertificate{
		Release: id, Provenance: m.Provenance, Builder: n.authority, BuiltAtUnixMs: uint64(n.now().UnixMilli()),
	})
	if err != nil {
		return nil, refuse(api.ErrBadRequest, "%w", err)
	}
	return n.authorFor(ctx, facts.KindBuildCertified, &facts.BuildCertified{ReleaseID: id[:], Certificate: signed.Certificate, Signature: signed.Signature})
}

// maySign refuses a revocation or supersession this node's authority may
// not sign: the catalogue would hold it forever and nobody would heed it.
func (n *Node) maySign(e release.Entry, verb string) error {
	admin := n.gov.Load().Current().Admin
	if n.authority == admin {
		return nil
	}
	var authors []string
	for _, d := range e.Declarations {
		if d.Manifest.Author == n.authority {
			return nil
		}
		authors = append(authors, d.Manifest.Author.String())
	}
	if len(authors) == 0 {
		return refuse(api.ErrConflict, "release %s has no verified manifest yet; only the network admin %s may %s it before one arrives", e.ID.Short(), admin, verb)
	}
	return refuse(api.ErrConflict, "this node's authority %s may not %s release %s: only its release authority (%s) or the network admin %s may (%w)", n.authority, verb, e.ID.Short(), strings.Join(authors, ", "), admin, release.ErrNotAuthorised)
}

// RevokeRelease implements api.ReleaseBackend.
func (n *Node) RevokeRelease(ctx context.Context, sid string, req api.RevokeReleaseRequest) (*api.WriteResult, error) {
	id, err := parseReleaseID(sid)
	if err != nil {
		return nil, err
	}
	e, _ := n.releaseEntry(id)
	e.ID = id
	if err := n.maySign(e, "revoke"); err != nil {
		return nil, err
	}
	for _, r := range e.Revocations {
		if r.Signer == n.authority {
			return nil, refuse(api.ErrConflict, "this node's authority already revoked release %s (reason: %q)", id.Short(), r.Reason)
		}
	}
	return n.authorFor(ctx, facts.KindReleaseRevoked, &facts.ReleaseRevoked{ReleaseID: id[:], Reason: req.Reason})
}

// SupersedeRelease implements api.ReleaseBackend. The successor must be
// declared, of the same series, of a higher version, and not revoked.
func (n *Node) SupersedeRelease(ctx context.Context, sid string, req api.SupersedeReleaseRequest) (*api.WriteResult, error) {
	id, err := parseReleaseID(sid)
	if err != nil {
		return nil, err
	}
	by, err := parseReleaseID(req.By)
	if err != nil {
		return nil, err
	}
	if by == id {
		return nil, refuse(api.ErrBadRequest, "release %s cannot supersede itself", id.Short())
	}
	old, err := n.declaredEntry(id)
	if err != nil {
		return nil, err
	}
	next, err := n.declaredEntry(by)
	if err != nil {
		return nil, fmt.Errorf("the successor: %w", err)
	}
	if err := n.maySign(old, "supersede"); err != nil {
		return nil, err
	}
	om, nm := old.Declarations[0].Manifest, next.Declarations[0].Manifest
	if om.Series != nm.Series {
		return nil, refuse(api.ErrConflict, "release %s is series %q but %s is series %q: a release is superseded within its series", id.Short(), om.Series, by.Short(), nm.Series)
	}
	ov, _ := om.ParsedVersion()
	nv, _ := nm.ParsedVersion()
	if nv.Compare(ov) <= 0 {
		return nil, refuse(api.ErrConflict, "%s (version %s) is not newer than %s (version %s)", by.Short(), nm.Version, id.Short(), om.Version)
	}
	dn, _ := n.releaseDecisions(next)
	if r, ok := heededBlock(dn, release.ReasonRevoked); ok {
		return nil, refuse(api.ErrConflict, "the successor %s is %s", by.Short(), r.Text)
	}
	for _, s := range old.Supersessions {
		if s.Signer == n.authority && s.By == by {
			return nil, refuse(api.ErrConflict, "this node's authority already superseded %s by %s", id.Short(), by.Short())
		}
	}
	return n.authorFor(ctx, facts.KindReleaseSuperseded, &facts.ReleaseSuperseded{ReleaseID: id[:], SupersededBy: by[:]})
}

// ReleasePolicy implements api.ReleaseBackend.
func (n *Node) ReleasePolicy(ctx context.Context) (*api.ReleasePolicyView, error) {
	p := n.releases.policy.Load()
	out := &api.ReleasePolicyView{DiscoverySet: p.discoverySet, SharingSet: p.sharingSet, Self: n.authority.String(), Published: []api.PublishedPolicy{}}
	var err error
	if out.Discovery, err = json.Marshal(p.discovery); err != nil {
		return nil, err
	}
	if out.Sharing, err = json.Marshal(p.sharing); err != nil {
		return nil, err
	}
	n.releases.mu.RLock()
	defer n.releases.mu.RUnlock()
	for k, pp := range n.releases.published {
		doc, err := decodePublishedPolicy(k.kind, pp.policy)
		if err != nil {
			continue // checked before it was stored
		}
		raw, _ := json.Marshal(doc)
		out.Published = append(out.Published, api.PublishedPolicy{
			Author: k.author.String(), Kind: k.kind.String(), Scope: k.scope, Time: uint64(pp.time), Policy: raw,
		})
	}
	slices.SortFunc(out.Published, func(a, b api.PublishedPolicy) int {
		return strings.Compare(a.Author+" "+a.Kind+" "+a.Scope, b.Author+" "+b.Kind+" "+b.Scope)
	})
	return out, nil
}

// SetReleasePolicy implements api.ReleaseBackend: it replaces the running
// node's policies (config.json is the CLI's to write) and, with Publish,
// writes them as PolicyPublished facts for this node's authority scope.
func (n *Node) SetReleasePolicy(ctx context.Context, req api.SetReleasePolicyRequest) (*api.ReleasePolicyView, error) {
	var d *release.DiscoveryPolicy
	var s *release.SharingPolicy
	if len(req.Discovery) > 0 {
		d = new(release.DiscoveryPolicy)
		if err := strictUnmarshal(req.Discovery, d); err != nil {
			return nil, refuse(api.ErrBadRequest, "discovery policy: %w", err)
		}
	}
	if len(req.Sharing) > 0 {
		s = new(release.SharingPolicy)
		if err := strictUnmarshal(req.Sharing, s); err != nil {
			return nil, refuse(api.ErrBadRequest, "sharing policy: %w", err)
		}
	}
	if d == nil && s == nil {
		return nil, refuse(api.ErrBadRequest, "no policy given (set discovery, sharing or both)")
	}
	if err := n.setReleasePolicy(d, s); err != nil {
		return nil, refuse(api.ErrBadRequest, "%w", err)
	}
	var written []api.WriteResult
	if req.Publish {
		p := n.releases.policy.Load()
		scope := facts.Scope{Kind: facts.ScopeAuthority, Owner: n.authority}
		for _, pub := range []struct {
			set  bool
			kind facts.Kind
			doc  interface{ Marshal() ([]byte, error) }
		}{{d != nil, facts.KindDiscoveryPolicyPublished, p.discovery}, {s != nil, facts.KindSharingPolicyPublished, p.sharing}} {
			if !pub.set {
				continue
			}
			raw, err := pub.doc.Marshal()
			if err != nil {
				return nil, refuse(api.ErrBadRequest, "%w", err)
			}
			w, err := n.authorFor(ctx, pub.kind, &facts.PolicyPublished{Scope: scope, Policy: raw})
			if err != nil {
				return nil, fmt.Errorf("policy applied, but publishing it failed: %w", err)
			}
			written = append(written, *w)
		}
	}
	view, err := n.ReleasePolicy(ctx)
	if err != nil {
		return nil, err
	}
	view.Facts = written
	return view, nil
}

func strictUnmarshal(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON document")
	}
	return nil
}
