package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/aura-node/aura-node/api"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/release"
	"github.com/aura-node/aura-node/storage"
)

// addNodeWith starts a node for member i with its own config (policies,
// sync interval) on the test network.
func (tn *testNet) addNodeWith(i int, cfg Config) *Node {
	tn.t.Helper()
	addr := ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", 40000+len(tn.nodes)))
	h, err := tn.mn.AddPeer(tn.keys[i].Node, addr)
	if err != nil {
		tn.t.Fatal(err)
	}
	n, err := New(Params{Config: cfg, Keys: tn.keys[i], Genesis: tn.genesis, Journal: storage.NewMemory(), Logger: quietLogger(), Host: h})
	if err != nil {
		tn.t.Fatal(err)
	}
	tn.nodes = append(tn.nodes, n)
	tn.t.Cleanup(func() { n.Close() })
	return n
}

func publish(t *testing.T, n *Node, signed release.SignedManifest, id release.ID) *api.PublishReleaseResult {
	t.Helper()
	res, err := n.PublishRelease(context.Background(), api.PublishReleaseRequest{ReleaseID: id.String(), Manifest: signed.Manifest, Signature: signed.Signature})
	if err != nil {
		t.Fatalf("publish %s: %v", id.Short(), err)
	}
	return res
}

func wantRefusal(t *testing.T, err, class error, words ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted, want a refusal mentioning %q", words)
	}
	if class != nil && !errors.Is(err, class) {
		t.Fatalf("refusal %q is not %v", err, class)
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("refusal %q does not say %q", err, w)
		}
	}
}

// Publishing verifies the manifest and refuses, with the reason, a
// tampered manifest, a release ID that is not the manifest's, a bad
// signature and an untrusted release authority; a certificate presented
// for another release is refused before it reaches the journal.
func TestPublishRefusals(t *testing.T) {
	tn := newTestNet(t, 3)
	n := tn.addNode(0, storage.NewMemory())
	ctx := context.Background()
	signed, id := testRelease(t, tn.keys[0], "1.0.0")

	tampered := append([]byte(nil), signed.Manifest...)
	tampered[len(tampered)-1] ^= 1
	_, err := n.PublishRelease(ctx, api.PublishReleaseRequest{ReleaseID: id.String(), Manifest: tampered, Signature: signed.Signature})
	wantRefusal(t, err, api.ErrBadRequest, "refusing to publish")

	other, otherID := testRelease(t, tn.keys[0], "1.1.0")
	_, err = n.PublishRelease(ctx, api.PublishReleaseRequest{ReleaseID: otherID.String(), Manifest: signed.Manifest, Signature: signed.Signature})
	wantRefusal(t, err, release.ErrIDMismatch, "does not match")

	badSig := append([]byte(nil), signed.Signature...)
	badSig[3] ^= 1
	_, err = n.PublishRelease(ctx, api.PublishReleaseRequest{ReleaseID: id.String(), Manifest: signed.Manifest, Signature: badSig})
	wantRefusal(t, err, release.ErrBadSignature, "bad signature")

	// Member 2's release: not this node's authority, not trusted.
	foreign, foreignID := testRelease(t, tn.keys[2], "2.0.0")
	_, err = n.PublishRelease(ctx, api.PublishReleaseRequest{ReleaseID: foreignID.String(), Manifest: foreign.Manifest, Signature: foreign.Signature})
	wantRefusal(t, err, api.ErrConflict, "not trusted", tn.keys[2].AuthorityID().String(), "--allow-untrusted")
	if _, err := n.PublishRelease(ctx, api.PublishReleaseRequest{ReleaseID: foreignID.String(), Manifest: foreign.Manifest, Signature: foreign.Signature, AllowUntrusted: true}); err != nil {
		t.Fatalf("--allow-untrusted: %v", err)
	}

	res := publish(t, n, signed, id)
	if res.Declared == nil || res.SeriesDeclared == nil || res.AlreadyPublished || res.Version != "1.0.0" {
		t.Fatalf("first publish: %+v", res)
	}
	if !strings.Contains(res.NotAnnounced, "holds none") {
		t.Fatalf("no artifact store, yet not-announced says %q", res.NotAnnounced)
	}
	res = publish(t, n, signed, id)
	if res.Declared != nil || res.SeriesDeclared != nil || !res.AlreadyPublished {
		t.Fatalf("second publish: %+v", res)
	}
	publish(t, n, other, otherID)

	// A certificate bound to release 1.1.0 presented for 1.0.0.
	m, _ := release.DecodeManifest(other.Manifest)
	cert, err := release.SignCertificate(tn.keys[0].Authority, release.BuildCertificate{Release: otherID, Provenance: m.Provenance, BuiltAtUnixMs: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = n.Author(ctx, facts.KindBuildCertified, &facts.BuildCertified{ReleaseID: id[:], Certificate: cert.Certificate, Signature: cert.Signature})
	wantRefusal(t, err, ErrBadRelease, "another release")
	// A tampered certificate.
	bad := append([]byte(nil), cert.Certificate...)
	bad[len(bad)-1] ^= 1
	_, err = n.Author(ctx, facts.KindBuildCertified, &facts.BuildCertified{ReleaseID: otherID[:], Certificate: bad, Signature: cert.Signature})
	wantRefusal(t, err, ErrBadRelease)

	// Certify as a builder: works once, refused twice, refused when the
	// rebuilt outputs differ.
	w, err := n.CertifyRelease(ctx, id.String(), api.CertifyReleaseRequest{})
	if err != nil || w.Kind != "BuildCertified" {
		t.Fatalf("certify: %+v %v", w, err)
	}
	_, err = n.CertifyRelease(ctx, id.String(), api.CertifyReleaseRequest{})
	wantRefusal(t, err, api.ErrConflict, "already certified")
	art := m.Artifacts[0]
	root, _ := release.ParseRoot(art.Root)
	_, err = n.CertifyRelease(ctx, otherID.String(), api.CertifyReleaseRequest{Rebuilt: []api.ReleaseArtifact{{Name: art.Name, Size: art.Size + 1, Root: root.String()}}})
	wantRefusal(t, err, api.ErrConflict, "refusing to certify", "bytes")
	if _, err := n.CertifyRelease(ctx, otherID.String(), api.CertifyReleaseRequest{Rebuilt: []api.ReleaseArtifact{{Name: art.Name, Size: art.Size, Root: root.String()}}}); err != nil {
		t.Fatalf("certify with matching rebuilt outputs: %v", err)
	}
	d, err := n.ReleaseDetail(ctx, id.String())
	if err != nil || len(d.Certificates) != 1 || d.Certificates[0].Builder != n.authority.String() || len(d.SeriesDeclaredBy) != 1 {
		t.Fatalf("detail after certify: %+v %v", d, err)
	}

	// Supersede: the successor must be newer; then certify refuses the
	// superseded release. Revoke: refused twice; certify refuses it.
	_, err = n.SupersedeRelease(ctx, otherID.String(), api.SupersedeReleaseRequest{By: id.String()})
	wantRefusal(t, err, api.ErrConflict, "not newer")
	if _, err := n.SupersedeRelease(ctx, id.String(), api.SupersedeReleaseRequest{By: otherID.String()}); err != nil {
		t.Fatal(err)
	}
	_, err = n.CertifyRelease(ctx, id.String(), api.CertifyReleaseRequest{})
	wantRefusal(t, err, api.ErrConflict, "superseded by "+otherID.String())
	if _, err := n.RevokeRelease(ctx, otherID.String(), api.RevokeReleaseRequest{Reason: "CVE-1"}); err != nil {
		t.Fatal(err)
	}
	_, err = n.RevokeRelease(ctx, otherID.String(), api.RevokeReleaseRequest{Reason: "again"})
	wantRefusal(t, err, api.ErrConflict, "already revoked")
	_, err = n.PublishRelease(ctx, api.PublishReleaseRequest{ReleaseID: otherID.String(), Manifest: other.Manifest, Signature: other.Signature})
	wantRefusal(t, err, api.ErrConflict, "refusing to publish", "revoked: CVE-1")
	d, _ = n.ReleaseDetail(ctx, otherID.String())
	if !d.Revoked || d.Discovery.Allows("fetch-artifacts") || d.Sharing.Allows("pin") {
		t.Fatalf("revoked release detail: %+v", d)
	}

	_, err = n.ReleaseDetail(ctx, "zz")
	wantRefusal(t, err, api.ErrBadRequest, "not a release ID")
}

// Only the release authority or the admin may revoke: a third member's
// node refuses before writing anything.
func TestRevokeNeedsAuthority(t *testing.T) {
	tn := newTestNet(t, 3)
	a := tn.addNode(1, storage.NewMemory()) // not the admin
	b := tn.addNode(2, storage.NewMemory())
	tn.linkAll()
	ctx := context.Background()
	signed, id := testRelease(t, tn.keys[1], "1.0.0")
	publish(t, a, signed, id)
	eventually(t, 20*time.Second, "the release on b", func() bool { _, ok := b.releaseEntry(id); return ok })
	_, err := b.RevokeRelease(ctx, id.String(), api.RevokeReleaseRequest{Reason: "no"})
	wantRefusal(t, err, release.ErrNotAuthorised, "may not revoke", tn.keys[1].AuthorityID().String())
	unknown := release.ComputeID("x", release.Provenance{SourceRepo: "https://x"})
	_, err = b.RevokeRelease(ctx, unknown.String(), api.RevokeReleaseRequest{})
	wantRefusal(t, err, api.ErrConflict, "no verified manifest")
}

// The discovery policy decides what this node tracks: a release by an
// untrusted authority is valid journal data and in every catalogue, but
// the untrusting node neither discovers nor fetches it, and says why; a
// node that trusts the authority and its builder fetches it.
func TestDiscoveryIgnoresUntrustedAuthority(t *testing.T) {
	tn := newTestNet(t, 3)
	author, builder := tn.keys[1].AuthorityID(), tn.keys[0].AuthorityID()
	cfgTrusting := DefaultConfig()
	cfgTrusting.SyncInterval = Duration(time.Second)
	cfgTrusting.ReleaseDiscovery = &release.DiscoveryPolicy{
		TrustedReleaseAuthorities: []facts.AuthorityID{author}, TrustedBuilders: []facts.AuthorityID{builder},
		RequiredBuilders: 1, AutoFetchMetadata: true, AutoFetchArtifacts: true,
	}
	cfgOther := DefaultConfig()
	cfgOther.SyncInterval = Duration(time.Second)
	cfgOther.ReleaseDiscovery = &release.DiscoveryPolicy{AutoFetchMetadata: true, AutoFetchArtifacts: true}
	b := tn.addNodeWith(0, cfgTrusting) // trusts member 1; is the builder
	pub := tn.addNode(1, storage.NewMemory())
	c := tn.addNodeWith(2, cfgOther) // trusts nobody but itself
	tn.linkAll()
	ctx := context.Background()
	changed := c.releasesChanged()

	signed, id := testRelease(t, tn.keys[1], "3.0.0")
	publish(t, pub, signed, id)
	for _, n := range []*Node{b, c} {
		eventually(t, 20*time.Second, "the release in every catalogue", func() bool { _, ok := n.releaseEntry(id); return ok })
	}
	select {
	case <-changed:
	default:
		t.Fatal("releasesChanged did not fire when the release arrived")
	}

	// c: in the catalogue (the journal view), not discovered.
	d, err := c.ReleaseDetail(ctx, id.String())
	if err != nil {
		t.Fatal(err)
	}
	if d.Version != "3.0.0" || d.Discovery.Allows("discover") || d.Discovery.Allows("fetch-artifacts") {
		t.Fatalf("untrusting node discovered the release: %+v", d.Discovery)
	}
	if !hasReason(d.Discovery, "untrusted-authority", author.String()) {
		t.Fatalf("no untrusted-authority reason: %+v", d.Discovery.Reasons)
	}
	if fd := c.releaseFetchDecision(id); fd.Allows(release.FetchArtifacts) || len(c.releasesToFetch()) != 0 {
		t.Fatalf("untrusting node would fetch: %v", fd.Reasons)
	}

	// b: discovered, but waits for its required builder.
	if fd := b.releaseFetchDecision(id); !fd.Allows(release.Discover) || fd.Allows(release.FetchArtifacts) {
		t.Fatalf("trusting node before the certificate: %v %v", fd.Actions, fd.Reasons)
	}
	if _, err := b.CertifyRelease(ctx, id.String(), api.CertifyReleaseRequest{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "b to fetch after its builder certified", func() bool {
		w := b.releasesToFetch()
		return len(w) == 1 && w[0].ID == id && w[0].Version == "3.0.0" && len(w[0].Artifacts) == 1
	})
	// The certificate does not change c's mind.
	eventually(t, 20*time.Second, "the certificate on c", func() bool {
		d, _ := c.ReleaseDetail(ctx, id.String())
		return len(d.Certificates) == 1
	})
	if len(c.releasesToFetch()) != 0 {
		t.Fatal("the certificate made the untrusting node fetch")
	}

	// Trusting the authority at run time changes the decision.
	changed = c.releasesChanged()
	if _, err := c.SetReleasePolicy(ctx, api.SetReleasePolicyRequest{Discovery: []byte(`{"trusted_release_authorities":["` + author.String() + `"],"auto_fetch_artifacts":true}`)}); err != nil {
		t.Fatal(err)
	}
	<-changed
	if w := c.releasesToFetch(); len(w) != 1 {
		t.Fatalf("after trusting the authority: %v", c.releaseFetchDecision(id).Reasons)
	}
}

func hasReason(d api.ReleaseDecision, code, text string) bool {
	for _, r := range d.Reasons {
		if r.Code == code && strings.Contains(r.Text, text) {
			return true
		}
	}
	return false
}

// The sharing policy decides what the node pins and announces: nothing it
// does not pin is announced, and what it pins and holds is announced
// once.
func TestSharingPolicyPinsAndAnnounces(t *testing.T) {
	tn := newTestNet(t, 1)
	cfg := DefaultConfig()
	cfg.ReleaseSharing = &release.SharingPolicy{Forward: release.SelectorAll, Pin: release.SelectorSeries("other-series")}
	n := tn.addNodeWith(0, cfg)
	ctx := context.Background()
	signed, id := testRelease(t, tn.keys[0], "1.0.0")
	m, _ := release.DecodeManifest(signed.Manifest)
	held := map[string]bool{}
	n.setArtifactHolder(func(_ context.Context, root cid.Cid) (bool, error) { return held[root.KeyString()], nil })
	root, _ := release.ParseRoot(m.Artifacts[0].Root)
	held[root.KeyString()] = true

	res := publish(t, n, signed, id)
	if len(res.Available) != 0 || !strings.Contains(res.NotAnnounced, "does not pin") || !strings.Contains(res.NotAnnounced, "other-series") {
		t.Fatalf("announced without pinning: %+v", res)
	}
	if len(n.releasesToPin()) != 0 || n.releasePinDecision(id).Allows(release.Pin) {
		t.Fatal("pins a release its policy does not select")
	}

	if _, err := n.SetReleasePolicy(ctx, api.SetReleasePolicyRequest{Sharing: []byte(`{"forward":"all","pin":"series:aura-node","recommend":"none"}`)}); err != nil {
		t.Fatal(err)
	}
	if w := n.releasesToPin(); len(w) != 1 || w[0].ID != id {
		t.Fatalf("releasesToPin = %+v", w)
	}
	written, why, err := n.announceArtifacts(ctx, id)
	if err != nil || len(written) != 1 || why != "" {
		t.Fatalf("announce: %d facts, %q, %v", len(written), why, err)
	}
	written, why, err = n.announceArtifacts(ctx, id)
	if err != nil || len(written) != 0 || !strings.Contains(why, "already announced") {
		t.Fatalf("announced twice: %d %v", len(written), err)
	}
	d, _ := n.ReleaseDetail(ctx, id.String())
	if len(d.Availability) != 1 || d.Availability[0].Holder != n.authority.String() || !d.Sharing.Allows("pin") {
		t.Fatalf("detail: %+v", d)
	}

	// A revocation stops pinning (and so announcing) but not forwarding.
	if _, err := n.RevokeRelease(ctx, id.String(), api.RevokeReleaseRequest{Reason: "bad"}); err != nil {
		t.Fatal(err)
	}
	s := n.releasePinDecision(id)
	if s.Allows(release.Pin) || !s.Allows(release.Forward) {
		t.Fatalf("after revocation: %v", s.Actions)
	}

	// Publishing the policy writes a checked PolicyPublished fact.
	v, err := n.SetReleasePolicy(ctx, api.SetReleasePolicyRequest{Sharing: []byte(`{"forward":"trusted","pin":"none","recommend":"none"}`), Publish: true})
	if err != nil || len(v.Facts) != 1 || len(v.Published) != 1 || v.Published[0].Kind != "SharingPolicyPublished" || !v.SharingSet {
		t.Fatalf("publish policy: %+v %v", v, err)
	}
	_, err = n.Author(ctx, facts.KindDiscoveryPolicyPublished, &facts.PolicyPublished{Scope: facts.Scope{Kind: facts.ScopeAuthority, Owner: n.authority}, Policy: []byte{0xa0, 0x01}})
	wantRefusal(t, err, ErrBadRelease)
	good, _ := release.DefaultSharingPolicy().Marshal()
	_, err = n.Author(ctx, facts.KindSharingPolicyPublished, &facts.PolicyPublished{Scope: facts.Scope{Kind: facts.ScopeAuthority, Owner: tn.keys[0].AuthorityID()}, Policy: good})
	if err != nil {
		t.Fatalf("own authority scope: %v", err)
	}
	other := testKeys(t, 7).AuthorityID()
	_, err = n.Author(ctx, facts.KindSharingPolicyPublished, &facts.PolicyPublished{Scope: facts.Scope{Kind: facts.ScopeContext, ID: "lab", Owner: other}, Policy: good})
	wantRefusal(t, err, ErrBadRelease, "only for scopes it owns")
	_, err = n.SetReleasePolicy(ctx, api.SetReleasePolicyRequest{Discovery: []byte(`{"required_builders":2}`)})
	wantRefusal(t, err, api.ErrBadRequest, "could never be met")
}

// Forwarding follows the sharing policy: in a line a - b - c, a release
// fact from a reaches c over gossip only if b forwards it; b stores it
// either way.
func TestSharingPolicyControlsForwarding(t *testing.T) {
	for _, forward := range []bool{true, false} {
		t.Run(fmt.Sprintf("forward=%v", forward), func(t *testing.T) {
			tn := newTestNet(t, 3)
			cfg := DefaultConfig()
			cfg.SyncInterval = Duration(time.Hour) // gossip only after the first session
			a, b, c := tn.addNodeWith(0, cfg), tn.addNodeWith(1, cfg), tn.addNodeWith(2, cfg)
			if !forward {
				if err := b.setReleasePolicy(nil, &release.SharingPolicy{Forward: release.SelectorNone}); err != nil {
					t.Fatal(err)
				}
			}
			for _, pair := range [][2]*Node{{a, b}, {b, c}} {
				if _, err := tn.mn.LinkPeers(pair[0].Host().ID(), pair[1].Host().ID()); err != nil {
					t.Fatal(err)
				}
				if _, err := tn.mn.ConnectPeers(pair[0].Host().ID(), pair[1].Host().ID()); err != nil {
					t.Fatal(err)
				}
			}
			ctx := context.Background()
			// Gossipsub relays to mesh peers: wait for the path a - b - c.
			eventually(t, 10*time.Second, "the gossip mesh a - b - c", func() bool {
				return a.mesh.has(b.Host().ID()) && b.mesh.has(a.Host().ID()) && b.mesh.has(c.Host().ID()) && c.mesh.has(b.Host().ID())
			})
			signed, id := testRelease(t, tn.keys[0], "1.0.0")
			publish(t, a, signed, id)
			if _, err := a.PutData(ctx, "ns", "after", []byte("v")); err != nil {
				t.Fatal(err)
			}
			eventually(t, 20*time.Second, "b to store the release and c the data fact after it", func() bool {
				_, onB := b.releaseEntry(id)
				_, err := c.GetData(ctx, "ns", "after")
				return onB && err == nil
			})
			if forward {
				eventually(t, 20*time.Second, "c to get the release over gossip", func() bool { _, ok := c.releaseEntry(id); return ok })
				return
			}
			if _, ok := c.releaseEntry(id); ok {
				t.Fatal("b relayed a release its sharing policy does not forward")
			}
			// Anti-entropy still serves it: it is valid journal data.
			if _, err := c.SyncWith(ctx, b.Host().ID()); err != nil {
				t.Fatal(err)
			}
			if _, ok := c.releaseEntry(id); !ok {
				t.Fatal("anti-entropy did not bring the release")
			}
		})
	}
}

// A revocation by the release authority reaches every node, and every
// node's decisions block fetching and pinning, with the reason.
func TestRevocationMarksEveryNode(t *testing.T) {
	tn := newTestNet(t, 3)
	var nodes []*Node
	for i := 0; i < 3; i++ {
		nodes = append(nodes, tn.addNode(i, storage.NewMemory()))
	}
	tn.linkAll()
	ctx := context.Background()
	signed, id := testRelease(t, tn.keys[2], "4.0.0")
	publish(t, nodes[2], signed, id)
	if _, err := nodes[2].RevokeRelease(ctx, id.String(), api.RevokeReleaseRequest{Reason: "broken migration"}); err != nil {
		t.Fatal(err)
	}
	for i, n := range nodes {
		eventually(t, 20*time.Second, fmt.Sprintf("the revocation on node %d", i), func() bool {
			d, err := n.ReleaseDetail(ctx, id.String())
			return err == nil && d.Revoked && d.RevokedReason == "broken migration" && len(d.Revocations) == 1
		})
		d, _ := n.ReleaseDetail(ctx, id.String())
		if d.Discovery.Allows("fetch-artifacts") || d.Sharing.Allows("pin") {
			t.Fatalf("node %d still fetches or pins a revoked release", i)
		}
		if i == 2 && !hasReason(d.Discovery, "revoked", "broken migration") {
			t.Fatalf("node %d: no revoked reason: %+v", i, d.Discovery.Reasons)
		}
	}
}
