package release

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"fmt"
	"maps"
	"slices"

	"github.com/aura-node/aura-node/facts"
)

// Catalogue is the release state reduced from records: releases by ID with
// their declarations, certificates, revocations, supersessions, artifact
// holders and recommendations.
//
// It is a pure function of the set of records applied: the same records in
// any order, any number of times, give a catalogue with the same Marshal
// bytes and the same answers. Records that arrive before the manifest they
// need (a certificate, a revocation by the release authority, an
// availability) are held and settled when a declaration arrives, exactly
// as if they had come after it. Invalid records are refused with an error
// and never stored.
//
// A Catalogue is not safe for concurrent use; the node's state owner holds
// it.
type Catalogue struct {
	entries map[ID]*entry
}

// entry is the internal form of one release. Everything is a set keyed so
// that the order of arrival cannot matter.
type entry struct {
	decls   map[facts.AuthorityID]declaration // one per author, rule in betterDeclaration
	certs   map[facts.AuthorityID]certificate // one per builder, rule in betterCertificate
	revs    map[string]Revoked                // by canonical record bytes
	sups    map[string]Superseded
	avail   map[string]Available
	recs    map[string]Recommended
	pending map[string]Record // records waiting for a declaration
}

type declaration struct {
	rec  Declared
	m    *Manifest
	hash [32]byte // sha2-256 of manifest bytes then signature
}

type certificate struct {
	rec  Certified
	c    *BuildCertificate
	hash [32]byte // sha2-256 of certificate bytes then signature
}

// Outcome says what Apply did with a valid record.
type Outcome uint8

const (
	// Unchanged: the record was already there, or lost its rule to a
	// record the catalogue keeps (see betterDeclaration and
	// betterCertificate).
	Unchanged Outcome = iota
	// Stored: the record is now part of the catalogue.
	Stored
	// Held: the record is valid so far but needs a declaration of its
	// release (to check provenance, artifact or signer); it is kept and
	// settled when one arrives.
	Held
)

// String returns the outcome's name.
func (o Outcome) String() string {
	switch o {
	case Unchanged:
		return "unchanged"
	case Stored:
		return "stored"
	case Held:
		return "held"
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// NewCatalogue returns an empty catalogue.
func NewCatalogue() *Catalogue { return &Catalogue{entries: map[ID]*entry{}} }

func newEntry() *entry {
	return &entry{
		decls:   map[facts.AuthorityID]declaration{},
		certs:   map[facts.AuthorityID]certificate{},
		revs:    map[string]Revoked{},
		sups:    map[string]Superseded{},
		avail:   map[string]Available{},
		recs:    map[string]Recommended{},
		pending: map[string]Record{},
	}
}

func (e *entry) empty() bool {
	return len(e.decls)+len(e.certs)+len(e.revs)+len(e.sups)+len(e.avail)+len(e.recs)+len(e.pending) == 0
}

// anyDecl returns one declaration of the release. All declarations of one
// ID share series and provenance (the ID hashes them) and therefore
// artifacts (the output hash commits to them), which is all that settling
// other records needs, so which one is returned does not matter.
func (e *entry) anyDecl() (declaration, bool) {
	for _, d := range e.decls {
		return d, true
	}
	return declaration{}, false
}

// normalise turns pointer records into values and zeroes the Admin of a
// revocation or supersession whose signer is not the admin, so that one
// statement has one stored form.
func normalise(r Record) (Record, error) {
	switch v := r.(type) {
	case *Declared:
		return deref(v)
	case *Certified:
		return deref(v)
	case *Revoked:
		return deref(v)
	case *Superseded:
		return deref(v)
	case *Available:
		return deref(v)
	case *Recommended:
		return deref(v)
	case Revoked:
		if v.Admin != v.Signer {
			v.Admin = facts.AuthorityID{}
		}
		return v, nil
	case Superseded:
		if v.Admin != v.Signer {
			v.Admin = facts.AuthorityID{}
		}
		return v, nil
	case Declared, Certified, Available, Recommended:
		return v, nil
	}
	return nil, wrapf(ErrInvalidRecord, "unknown record type %T", r)
}

func deref[T Record](p *T) (Record, error) {
	if p == nil {
		return nil, wrapf(ErrInvalidRecord, "nil %T", p)
	}
	return normalise(*p)
}

// recordKey is the canonical encoding of a record behind a one-byte type
// tag: the identity of a record in the sets above.
func recordKey(r Record) string {
	var tag byte
	switch r.(type) {
	case Declared:
		tag = 1
	case Certified:
		tag = 2
	case Revoked:
		tag = 3
	case Superseded:
		tag = 4
	case Available:
		tag = 5
	case Recommended:
		tag = 6
	}
	return string(append([]byte{tag}, mustMarshal(r)...))
}

// Apply adds one record. It returns an error wrapping a sentinel of this
// package (or facts.ErrMalformed / facts.ErrNotCanonical) when the record
// is invalid, and then stores nothing. A nil error comes with Stored,
// Held or Unchanged.
func (c *Catalogue) Apply(r Record) (Outcome, error) {
	if r == nil {
		return Unchanged, wrapf(ErrInvalidRecord, "nil record")
	}
	r, err := normalise(r)
	if err != nil {
		return Unchanged, err
	}
	id := r.ReleaseID()
	e, ok := c.entries[id]
	if !ok {
		e = newEntry()
	}
	out, err := e.place(r)
	if err != nil {
		return Unchanged, err
	}
	if out == Held {
		key := recordKey(r)
		if _, dup := e.pending[key]; dup {
			out = Unchanged
		}
		e.pending[key] = r
	}
	if !ok && !e.empty() {
		c.entries[id] = e
	}
	return out, nil
}

// place verifies r against the entry and stores it, or reports that it
// must be held. It never stores an invalid record.
func (e *entry) place(r Record) (Outcome, error) {
	switch r := r.(type) {
	case Declared:
		m, _, err := VerifyManifest(r.Manifest, r.Signature, r.Release)
		if err != nil {
			return Unchanged, err
		}
		d := declaration{rec: r, m: m, hash: pairHash(r.Manifest, r.Signature)}
		if old, ok := e.decls[m.Author]; ok && !betterDeclaration(d, old) {
			return Unchanged, nil
		}
		e.decls[m.Author] = d
		e.settle()
		return Stored, nil

	case Certified:
		cert, err := checkCertificate(r.Certificate, r.Signature, r.Release)
		if err != nil {
			return Unchanged, err
		}
		d, ok := e.anyDecl()
		if !ok {
			return Held, nil
		}
		if err := cert.matchManifest(d.m); err != nil {
			return Unchanged, err
		}
		ct := certificate{rec: r, c: cert, hash: pairHash(r.Certificate, r.Signature)}
		if old, ok := e.certs[cert.Builder]; ok && !betterCertificate(ct, old) {
			return Unchanged, nil
		}
		e.certs[cert.Builder] = ct
		return Stored, nil

	case Revoked:
		if err := r.check(); err != nil {
			return Unchanged, err
		}
		if !e.maySign(r.Signer, r.Admin) {
			return Held, nil
		}
		return storeIn(e.revs, r), nil

	case Superseded:
		if err := r.check(); err != nil {
			return Unchanged, err
		}
		if !e.maySign(r.Signer, r.Admin) {
			return Held, nil
		}
		return storeIn(e.sups, r), nil

	case Available:
		if err := r.check(); err != nil {
			return Unchanged, err
		}
		d, ok := e.anyDecl()
		if !ok {
			return Held, nil
		}
		a, ok := d.m.Artifact(r.Artifact)
		if !ok {
			return Unchanged, wrapf(ErrUnknownArtifact, "release %s has no artifact %q", r.Release.Short(), r.Artifact)
		}
		if !bytes.Equal(a.Root, r.Root) {
			return Unchanged, wrapf(ErrUnknownArtifact, "artifact %q of release %s has another root", r.Artifact, r.Release.Short())
		}
		return storeIn(e.avail, r), nil

	case Recommended:
		if err := r.check(); err != nil {
			return Unchanged, err
		}
		return storeIn(e.recs, r), nil
	}
	return Unchanged, wrapf(ErrInvalidRecord, "unknown record type %T", r)
}

// maySign applies MaySign against every declaration: a signer that is the
// admin, or the author of a declaration of this release, may revoke or
// supersede it. Until such a declaration arrives the record is held, since
// one may still come.
func (e *entry) maySign(signer, admin facts.AuthorityID) bool {
	if !signer.IsZero() && signer == admin {
		return true
	}
	_, ok := e.decls[signer]
	return ok
}

func storeIn[R Record](set map[string]R, r R) Outcome {
	key := recordKey(r)
	if _, ok := set[key]; ok {
		return Unchanged
	}
	set[key] = r
	return Stored
}

// settle re-offers held records after a declaration arrived. Each held
// record is judged against the declarations alone, never against other
// held records, so the order in which they are visited does not matter:
// one that now verifies is stored, one that now fails is dropped (exactly
// as if it had been refused on arrival), one that still needs a
// declaration stays held.
func (e *entry) settle() {
	for key, r := range e.pending {
		out, err := e.place(r)
		if err == nil && out == Held {
			continue
		}
		delete(e.pending, key)
	}
}

func pairHash(doc, sig []byte) [32]byte {
	h := sha256.New()
	h.Write(doc)
	h.Write(sig)
	return [32]byte(h.Sum(nil))
}

// betterDeclaration decides between two valid declarations of one release
// by one author (the author signed two different manifests for the same
// series and provenance, or one manifest with two signature encodings):
//  1. The lower sha2-256 of (manifest bytes, signature bytes) wins.
//
// Keeping the minimum of a set makes the result independent of arrival
// order. Artifacts cannot differ (the output hash commits to them).
func betterDeclaration(a, b declaration) bool {
	return bytes.Compare(a.hash[:], b.hash[:]) < 0
}

// betterCertificate decides between two valid certificates of one release
// by one builder:
//  1. The earlier BuiltAtUnixMs wins (the first build the builder vouched
//     for).
//  2. Then the lower sha2-256 of (certificate bytes, signature bytes).
func betterCertificate(a, b certificate) bool {
	if a.c.BuiltAtUnixMs != b.c.BuiltAtUnixMs {
		return a.c.BuiltAtUnixMs < b.c.BuiltAtUnixMs
	}
	return bytes.Compare(a.hash[:], b.hash[:]) < 0
}

// Entry is a read-only view of one release, sorted and copied out of the
// catalogue: changing it changes nothing in the catalogue.
type Entry struct {
	ID ID
	// Declarations are the verified manifests of the release, one per
	// release authority, sorted by author. Usually there is one; several
	// authorities may declare the same build, and discovery policy picks
	// a trusted one. Empty when only other records have arrived.
	Declarations []Declaration
	// Certificates are the verified build certificates, one per builder,
	// sorted by builder.
	Certificates []Certificate
	// Revocations are the authorised revocations, sorted by rules:
	//  1. by the admin first;
	//  2. then by signer;
	//  3. then by reason.
	Revocations []Revoked
	// Supersessions are the authorised supersessions, sorted by the same
	// rules with the successor ID in place of the reason.
	Supersessions []Superseded
	// Availability lists who holds which artifact, sorted by artifact
	// name, then holder.
	Availability []Available
	// Recommendations are sorted by recommender, then scope kind, then
	// scope ID, then canonical bytes.
	Recommendations []Recommended
	// Pending counts held records (certificates, revocations,
	// supersessions, availabilities) waiting for a declaration.
	Pending int
}

// Declaration is one verified manifest of a release with its signed form.
type Declaration struct {
	Manifest Manifest
	Signed   Declared
}

// Certificate is one verified build certificate with its signed form.
type Certificate struct {
	Certificate BuildCertificate
	Signed      Certified
}

// Declared reports whether a manifest of the release has been verified.
func (e Entry) Declared() bool { return len(e.Declarations) > 0 }

// DeclarationBy returns the declaration of the given release authority.
func (e Entry) DeclarationBy(author facts.AuthorityID) (Declaration, bool) {
	for _, d := range e.Declarations {
		if d.Manifest.Author == author {
			return d, true
		}
	}
	return Declaration{}, false
}

// Revoked reports whether any authorised revocation exists, with the
// reason of the first (admin revocations first). Policy evaluation heeds
// only trusted revocations: see Revocation.
func (e Entry) Revoked() (bool, string) {
	if len(e.Revocations) == 0 {
		return false, ""
	}
	return true, e.Revocations[0].Reason
}

// ByAdmin reports whether the revocation was signed as the network admin.
func (r Revoked) ByAdmin() bool { return !r.Signer.IsZero() && r.Signer == r.Admin }

// ByAdmin reports whether the supersession was signed as the network admin.
func (r Superseded) ByAdmin() bool { return !r.Signer.IsZero() && r.Signer == r.Admin }

// Revocation returns the first revocation signed by the admin or by a
// signer that trusted admits (nil admits every authorised signer).
func (e Entry) Revocation(trusted func(facts.AuthorityID) bool) (Revoked, bool) {
	for _, r := range e.Revocations {
		if r.ByAdmin() || trusted == nil || trusted(r.Signer) {
			return r, true
		}
	}
	return Revoked{}, false
}

// SupersededBy returns the successors named by the admin or by signers
// that trusted admits (nil admits every authorised signer), sorted and
// unique.
func (e Entry) SupersededBy(trusted func(facts.AuthorityID) bool) []ID {
	var out []ID
	for _, s := range e.Supersessions {
		if s.ByAdmin() || trusted == nil || trusted(s.Signer) {
			out = append(out, s.By)
		}
	}
	slices.SortFunc(out, compareIDs)
	return slices.Compact(out)
}

// CertifiedBy returns the builders that trusted admits (nil admits all)
// among those that certified the release, sorted.
func (e Entry) CertifiedBy(trusted func(facts.AuthorityID) bool) []facts.AuthorityID {
	var out []facts.AuthorityID
	for _, c := range e.Certificates {
		if trusted == nil || trusted(c.Certificate.Builder) {
			out = append(out, c.Certificate.Builder)
		}
	}
	return out
}

// Holders returns the authorities that announced the named artifact.
func (e Entry) Holders(artifact string) []facts.AuthorityID {
	var out []facts.AuthorityID
	for _, a := range e.Availability {
		if a.Artifact == artifact {
			out = append(out, a.Holder)
		}
	}
	return out
}

// Entry returns the view of one release; ok is false if no record names
// it.
func (c *Catalogue) Entry(id ID) (Entry, bool) {
	e, ok := c.entries[id]
	if !ok {
		return Entry{}, false
	}
	return e.view(id), true
}

func compareAuthorities(a, b facts.AuthorityID) int { return bytes.Compare(a[:], b[:]) }

func (e *entry) view(id ID) Entry {
	v := Entry{ID: id, Pending: len(e.pending)}
	for _, author := range slices.SortedFunc(maps.Keys(e.decls), compareAuthorities) {
		d := e.decls[author]
		v.Declarations = append(v.Declarations, Declaration{Manifest: cloneManifest(d.m), Signed: cloneDeclared(d.rec)})
	}
	for _, builder := range slices.SortedFunc(maps.Keys(e.certs), compareAuthorities) {
		ct := e.certs[builder]
		v.Certificates = append(v.Certificates, Certificate{
			Certificate: *ct.c,
			Signed:      Certified{Release: ct.rec.Release, Certificate: bytes.Clone(ct.rec.Certificate), Signature: bytes.Clone(ct.rec.Signature)},
		})
	}
	v.Revocations = slices.SortedFunc(maps.Values(e.revs), func(a, b Revoked) int {
		return cmp.Or(
			-boolCompare(a.ByAdmin(), b.ByAdmin()), // 1. admin first
			compareAuthorities(a.Signer, b.Signer), // 2. signer
			cmp.Compare(a.Reason, b.Reason),        // 3. reason
		)
	})
	v.Supersessions = slices.SortedFunc(maps.Values(e.sups), func(a, b Superseded) int {
		return cmp.Or(
			-boolCompare(a.ByAdmin(), b.ByAdmin()),
			compareAuthorities(a.Signer, b.Signer),
			compareIDs(a.By, b.By),
		)
	})
	v.Availability = slices.SortedFunc(maps.Values(e.avail), func(a, b Available) int {
		return cmp.Or(cmp.Compare(a.Artifact, b.Artifact), compareAuthorities(a.Holder, b.Holder))
	})
	for i := range v.Availability {
		v.Availability[i].Root = bytes.Clone(v.Availability[i].Root)
	}
	keys := slices.Sorted(maps.Keys(e.recs))
	for _, k := range keys {
		r := e.recs[k]
		r.Scope.Participants = slices.Clone(r.Scope.Participants)
		v.Recommendations = append(v.Recommendations, r)
	}
	slices.SortStableFunc(v.Recommendations, func(a, b Recommended) int {
		return cmp.Or(
			compareAuthorities(a.Recommender, b.Recommender),
			cmp.Compare(a.Scope.Kind, b.Scope.Kind),
			cmp.Compare(a.Scope.ID, b.Scope.ID),
		) // ties keep canonical byte order from keys
	})
	return v
}

func boolCompare(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

func cloneDeclared(d Declared) Declared {
	return Declared{Release: d.Release, Manifest: bytes.Clone(d.Manifest), Signature: bytes.Clone(d.Signature)}
}

func cloneManifest(m *Manifest) Manifest {
	out := *m
	out.Artifacts = slices.Clone(m.Artifacts)
	for i := range out.Artifacts {
		out.Artifacts[i].Root = bytes.Clone(out.Artifacts[i].Root)
	}
	if m.Compatibility.MinimumLegacyRelease != nil {
		id := *m.Compatibility.MinimumLegacyRelease
		out.Compatibility.MinimumLegacyRelease = &id
	}
	out.Activation.HealthGates = slices.Clone(m.Activation.HealthGates)
	out.Migrations = slices.Clone(m.Migrations)
	if m.SuggestedActivationTimeUnixMs != nil {
		t := *m.SuggestedActivationTimeUnixMs
		out.SuggestedActivationTimeUnixMs = &t
	}
	return out
}

// IDs returns every release ID any record names, sorted.
func (c *Catalogue) IDs() []ID { return slices.SortedFunc(maps.Keys(c.entries), compareIDs) }

// Releases returns the IDs of declared releases, sorted.
func (c *Catalogue) Releases() []ID {
	var out []ID
	for _, id := range c.IDs() {
		if len(c.entries[id].decls) > 0 {
			out = append(out, id)
		}
	}
	return out
}

// Series returns the series names of declared releases, sorted.
func (c *Catalogue) Series() []string {
	set := map[string]bool{}
	for _, e := range c.entries {
		for _, d := range e.decls {
			set[d.m.Series] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// Latest returns the newest release of a series among the declarations
// whose author trusted admits (nil admits all). The rules, in order:
//  1. Only declarations of the series by admitted authors are candidates.
//  2. A release revoked or superseded by the admin or by an admitted
//     signer is not a candidate.
//  3. Higher SemVer precedence wins (Version.Compare; build metadata does
//     not count).
//  4. Equal precedence: the lower release ID wins.
//  5. Same release declared by several admitted authors: the lower author
//     wins.
func (c *Catalogue) Latest(series string, trusted func(facts.AuthorityID) bool) (Declaration, bool) {
	type cand struct {
		id ID
		v  Version
		d  declaration
	}
	var best *cand
	for id, e := range c.entries {
		view := Entry{} // only revocations and supersessions are needed
		for _, r := range e.revs {
			view.Revocations = append(view.Revocations, r)
		}
		for _, s := range e.sups {
			view.Supersessions = append(view.Supersessions, s)
		}
		if _, revoked := view.Revocation(trusted); revoked || len(view.SupersededBy(trusted)) > 0 {
			continue // rule 2
		}
		for author, d := range e.decls {
			if d.m.Series != series || (trusted != nil && !trusted(author)) {
				continue // rule 1
			}
			v, err := ParseVersion(d.m.Version)
			if err != nil {
				continue // unreachable: VerifyManifest checked it
			}
			cd := cand{id: id, v: v, d: d}
			if best == nil || cmp.Or(
				-cd.v.Compare(best.v),                       // 3. higher version
				compareIDs(cd.id, best.id),                  // 4. lower ID
				compareAuthorities(author, best.d.m.Author), // 5. lower author
			) < 0 {
				best = &cd
			}
		}
	}
	if best == nil {
		return Declaration{}, false
	}
	return Declaration{Manifest: cloneManifest(best.d.m), Signed: cloneDeclared(best.d.rec)}, true
}

// catalogueWire is the canonical encoding of a catalogue: every record it
// retains (stored or held), grouped by type, each list sorted by the
// record's canonical bytes. The same record set gives the same bytes.
type catalogueWire struct {
	Declared    []Declared    `cbor:"1,keyasint,omitempty"`
	Certified   []Certified   `cbor:"2,keyasint,omitempty"`
	Revoked     []Revoked     `cbor:"3,keyasint,omitempty"`
	Superseded  []Superseded  `cbor:"4,keyasint,omitempty"`
	Available   []Available   `cbor:"5,keyasint,omitempty"`
	Recommended []Recommended `cbor:"6,keyasint,omitempty"`
}

// Marshal returns the canonical encoding of the catalogue: byte-identical
// for any two catalogues that retain the same records, whatever order
// they were applied in. It is what a state digest or a snapshot covers.
func (c *Catalogue) Marshal() ([]byte, error) {
	all := map[string]Record{}
	for _, e := range c.entries {
		for _, d := range e.decls {
			all[recordKey(d.rec)] = d.rec
		}
		for _, ct := range e.certs {
			all[recordKey(ct.rec)] = ct.rec
		}
		for k, r := range e.revs {
			all[k] = r
		}
		for k, r := range e.sups {
			all[k] = r
		}
		for k, r := range e.avail {
			all[k] = r
		}
		for k, r := range e.recs {
			all[k] = r
		}
		for k, r := range e.pending {
			all[k] = r
		}
	}
	var w catalogueWire
	for _, k := range slices.Sorted(maps.Keys(all)) {
		switch r := all[k].(type) {
		case Declared:
			w.Declared = append(w.Declared, r)
		case Certified:
			w.Certified = append(w.Certified, r)
		case Revoked:
			w.Revoked = append(w.Revoked, r)
		case Superseded:
			w.Superseded = append(w.Superseded, r)
		case Available:
			w.Available = append(w.Available, r)
		case Recommended:
			w.Recommended = append(w.Recommended, r)
		}
	}
	return facts.Marshal(&w)
}

// UnmarshalCatalogue rebuilds a catalogue from Marshal bytes, verifying
// every record again. Bytes that are not exactly what Marshal gives for
// the rebuilt catalogue (unsorted, a record it would not retain) are
// refused with facts.ErrNotCanonical.
func UnmarshalCatalogue(raw []byte) (*Catalogue, error) {
	var w catalogueWire
	if err := facts.UnmarshalCanonical(raw, &w); err != nil {
		return nil, fmt.Errorf("release: catalogue: %w", err)
	}
	c := NewCatalogue()
	var recs []Record
	for _, r := range w.Declared {
		recs = append(recs, r)
	}
	for _, r := range w.Certified {
		recs = append(recs, r)
	}
	for _, r := range w.Revoked {
		recs = append(recs, r)
	}
	for _, r := range w.Superseded {
		recs = append(recs, r)
	}
	for _, r := range w.Available {
		recs = append(recs, r)
	}
	for _, r := range w.Recommended {
		recs = append(recs, r)
	}
	for _, r := range recs {
		if _, err := c.Apply(r); err != nil {
			return nil, fmt.Errorf("release: catalogue record for %s: %w", r.ReleaseID().Short(), err)
		}
	}
	again, err := c.Marshal()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(again, raw) {
		return nil, fmt.Errorf("release: catalogue: %w", facts.ErrNotCanonical)
	}
	return c, nil
}
