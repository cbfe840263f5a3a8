// Package release is the pure core of release distribution: what a release
// is, how a node proves a release document authentic, how the release
// records of the journal reduce into a catalogue, and what a node's
// discovery and sharing policies let it do with each release.
//
// It owns:
//
//   - The Manifest (series, SemVer version, provenance, artifacts with
//     their UnixFS root CIDs, compatibility class, activation profile,
//     migrations, an optional suggested activation time that is only ever
//     a hint) and its one canonical CBOR encoding (facts.Marshal /
//     facts.UnmarshalCanonical).
//   - The release ID: sha2-256 over (domain, series, provenance). It names
//     the build, not the document, and every verify recomputes it.
//   - SignManifest / VerifyManifest: Ed25519 by the release authority named
//     in the manifest, so a signature cannot be moved to another author.
//   - BuildCertificate: a builder authority's signature over the same
//     provenance, bound to one release (VerifyCertificate).
//   - Revocation and supersession records, signed (through their facts) by
//     the release authority or the network admin (MaySign).
//   - The Catalogue, reduced from records in any order.
//   - DiscoveryPolicy / SharingPolicy and their evaluation into a Decision
//     that carries every reason; their JSON forms (selectors as text:
//     "none", "trusted", "all", "series:a,b") for config files.
//   - CheckRecord: every check on a record that needs no other record,
//     which a node runs before a release fact enters its journal (so every
//     node gives every fact the same verdict, whatever the arrival order).
//   - CompareOutputs: a builder's rebuilt files against the manifest.
//   - ManifestDocument / SignedDocument: the readable JSON files of
//     `release create` and `release sign` (a signed file whose readable
//     copy was edited is refused).
//
// It never does I/O, never starts goroutines and never reads the clock
// (internal/archtest enforces this). It does not fetch, store or serve
// artifacts and it does not activate anything: the node fetches, the
// launcher and activation/ activate. Discovering a release does not imply
// forwarding it, and forwarding does not imply activating it.
//
// # Publishing a release
//
//	m := release.Manifest{Series: "aura-node", Version: "1.4.0", Provenance: prov,
//		Artifacts: arts, Compatibility: release.Compatibility{Class: release.BackwardCompatible}}
//	m.Provenance.OutputHash = release.OutputHashOf(m.Artifacts) // commits to the artifacts
//	signed, id, err := release.SignManifest(authorityKey, m)
//	// publish facts.ReleaseDeclared{ReleaseID: id[:], Manifest: signed.Manifest, Signature: signed.Signature}
//
//	cert, err := release.SignCertificate(builderKey, release.BuildCertificate{Release: id, Provenance: m.Provenance, BuiltAtUnixMs: now})
//	// publish facts.BuildCertified{ReleaseID: id[:], Certificate: cert.Certificate, Signature: cert.Signature}
//
// # Reducing facts into the catalogue
//
// The node's state owner feeds every verified release fact, in whatever
// order anti-entropy delivers them:
//
//	rec, err := release.RecordFromFact(payload, fact.Author, adminAtFactEpoch)
//	outcome, err := catalogue.Apply(rec) // err: refuse the fact, with err as the reason
//
// Apply verifies each record (manifest signature and ID, certificate
// signature, binding and provenance, revocation signer, artifact root) and
// stores it, refuses it with an error (storing nothing), or holds it until
// the declaration it needs arrives. The result depends only on the set of
// records: Marshal gives the same bytes on every node holding the same
// records, so the catalogue can go into the state digest and snapshots.
//
// # Deciding
//
//	entry, _ := catalogue.Entry(id)
//	d := release.EvaluateDiscovery(discovery, entry)
//	if d.Allows(release.FetchArtifacts) { /* queue the artifact fetch */ }
//	s := release.EvaluateSharing(sharing, discovery, entry)
//	if s.Allows(release.Pin) { /* pin and serve */ }
//	for _, r := range d.Reasons { fmt.Println(r) } // "2 of 3 required builders [blocks fetch-artifacts]"
//
// A decision's actions are the evaluated actions minus everything its
// reasons block, so the reasons always explain the whole decision.
//
// # Trust
//
// Anybody may declare a release with anybody's provenance, so one ID can
// carry several declarations (one per author); the catalogue keeps them
// all and policy picks a trusted one. Revocations and supersessions count
// for policy only when signed by the network admin or a trusted release
// authority; the others are kept, noted in the reasons and ignored.
package release
