package release

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	"github.com/aura-node/aura-node/facts"
)

// Record is one input to a Catalogue: the release content of one
// ReleaseDistribution or RecommendationPublished fact, built by
// RecordFromFact. The set of record types is closed: Declared, Certified,
// Revoked, Superseded, Available and Recommended.
type Record interface {
	// ReleaseID is the release the record is about.
	ReleaseID() ID
	// check runs the checks that need no other record.
	check() error
}

// Declared is a ReleaseDeclared fact: a signed manifest and the release ID
// it claims. Catalogue.Apply verifies it with VerifyManifest.
type Declared struct {
	Release   ID     `cbor:"1,keyasint"`
	Manifest  []byte `cbor:"2,keyasint"`
	Signature []byte `cbor:"3,keyasint"`
}

// Certified is a BuildCertified fact: a signed build certificate presented
// for a release. Catalogue.Apply verifies it with VerifyCertificate once
// the release's manifest is known.
type Certified struct {
	Release     ID     `cbor:"1,keyasint"`
	Certificate []byte `cbor:"2,keyasint"`
	Signature   []byte `cbor:"3,keyasint"`
}

// Revoked is a ReleaseRevoked fact. It carries no signature of its own:
// Signer is the fact's author, authenticated by the fact envelope, and
// Admin is the network admin at the fact's epoch, which the caller reads
// from its governance state. See MaySign for who may revoke.
type Revoked struct {
	Release ID                `cbor:"1,keyasint"`
	Reason  string            `cbor:"2,keyasint,omitempty"`
	Signer  facts.AuthorityID `cbor:"3,keyasint"`
	// Admin is kept only when it is the signer (the catalogue zeroes it
	// otherwise), so it reads "signed as the network admin".
	Admin facts.AuthorityID `cbor:"4,keyasint"`
}

// Superseded is a ReleaseSuperseded fact: Release is replaced by By.
// Signer and Admin are as for Revoked.
type Superseded struct {
	Release ID                `cbor:"1,keyasint"`
	By      ID                `cbor:"2,keyasint"`
	Signer  facts.AuthorityID `cbor:"3,keyasint"`
	Admin   facts.AuthorityID `cbor:"4,keyasint"`
}

// Available is an ArtifactAvailable fact: Holder (the fact's author) has
// the named artifact of the release and serves it.
type Available struct {
	Release  ID                `cbor:"1,keyasint"`
	Artifact string            `cbor:"2,keyasint"`
	Root     []byte            `cbor:"3,keyasint"`
	Holder   facts.AuthorityID `cbor:"4,keyasint"`
}

// Recommended is a RecommendationPublished fact: Recommender (the fact's
// author) recommends the release within a scope. Discovery policy may
// learn releases recommended in its contexts by trusted authorities.
type Recommended struct {
	Release     ID                `cbor:"1,keyasint"`
	Scope       facts.Scope       `cbor:"2,keyasint"`
	Note        string            `cbor:"3,keyasint,omitempty"`
	Recommender facts.AuthorityID `cbor:"4,keyasint"`
}

// ReleaseID implements Record.
func (r Declared) ReleaseID() ID { return r.Release }

// ReleaseID implements Record.
func (r Certified) ReleaseID() ID { return r.Release }

// ReleaseID implements Record.
func (r Revoked) ReleaseID() ID { return r.Release }

// ReleaseID implements Record.
func (r Superseded) ReleaseID() ID { return r.Release }

// ReleaseID implements Record.
func (r Available) ReleaseID() ID { return r.Release }

// ReleaseID implements Record.
func (r Recommended) ReleaseID() ID { return r.Release }

func (r Declared) check() error {
	_, _, err := VerifyManifest(r.Manifest, r.Signature, r.Release)
	return err
}

func (r Certified) check() error {
	_, err := checkCertificate(r.Certificate, r.Signature, r.Release)
	return err
}

func (r Revoked) check() error {
	if r.Release.IsZero() || r.Signer.IsZero() {
		return wrapf(ErrInvalidRecord, "revocation needs a release and a signer")
	}
	return checkText("revocation reason", r.Reason, facts.MaxTextLen)
}

func (r Superseded) check() error {
	if r.Release.IsZero() || r.By.IsZero() || r.Signer.IsZero() {
		return wrapf(ErrInvalidRecord, "supersession needs a release, a successor and a signer")
	}
	if r.Release == r.By {
		return wrapf(ErrInvalidRecord, "release %s cannot supersede itself", r.Release.Short())
	}
	return nil
}

func (r Available) check() error {
	if r.Release.IsZero() || r.Holder.IsZero() {
		return wrapf(ErrInvalidRecord, "availability needs a release and a holder")
	}
	if err := checkName("artifact name", r.Artifact, maxToken); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidRecord, err)
	}
	if _, err := ParseRoot(r.Root); err != nil {
		return fmt.Errorf("%w: artifact %q: %w", ErrInvalidRecord, r.Artifact, err)
	}
	return nil
}

func (r Recommended) check() error {
	if r.Release.IsZero() || r.Recommender.IsZero() {
		return wrapf(ErrInvalidRecord, "recommendation needs a release and a recommender")
	}
	s := r.Scope
	if s.Kind < facts.ScopeDevice || s.Kind > facts.ScopeManagedQuorum {
		return wrapf(ErrInvalidRecord, "unknown scope kind %d", s.Kind)
	}
	if (s.Kind == facts.ScopeManagedQuorum) != (len(s.Participants) > 0) {
		return wrapf(ErrInvalidRecord, "participants are required for, and only for, managed quorum scopes")
	}
	if len(s.Participants) > facts.MaxRosterMembers {
		return wrapf(ErrInvalidRecord, "scope has %d participants", len(s.Participants))
	}
	if err := checkText("scope id", s.ID, facts.MaxNameLen); err != nil {
		return err
	}
	return checkText("recommendation note", r.Note, facts.MaxTextLen)
}

func checkText(field, s string, max int) error {
	if len(s) > max {
		return wrapf(ErrInvalidRecord, "%s is %d bytes, limit %d", field, len(s), max)
	}
	if !utf8.ValidString(s) {
		return wrapf(ErrInvalidRecord, "%s is not valid UTF-8", field)
	}
	return nil
}

// MaySign says who may revoke or supersede a release: its release
// authority (the manifest's Author) or the network admin at the record's
// epoch, which the caller passes. It returns ErrNotAuthorised otherwise.
// With several declarations of one release (see Entry), the authority of
// any of them may; discovery then only heeds trusted ones.
func MaySign(signer, admin facts.AuthorityID, m *Manifest) error {
	if !signer.IsZero() && signer == admin {
		return nil
	}
	if m != nil && signer == m.Author {
		return nil
	}
	author := "unknown"
	if m != nil {
		author = m.Author.String()
	}
	return wrapf(ErrNotAuthorised, "%s (release authority %s, admin %s)", signer, author, admin)
}

// RecordFromFact turns the payload of a verified fact into a catalogue
// record. author is the fact's author; admin is the network admin at the
// fact's epoch (used by revocations and supersessions). Payloads of other
// kinds return ErrNotRecord. Byte slices are copied.
func RecordFromFact(p facts.Payload, author, admin facts.AuthorityID) (Record, error) {
	switch p := p.(type) {
	case *facts.ReleaseDeclared:
		id, err := IDFromBytes(p.ReleaseID)
		if err != nil {
			return nil, err
		}
		return Declared{Release: id, Manifest: bytes.Clone(p.Manifest), Signature: bytes.Clone(p.Signature)}, nil
	case *facts.BuildCertified:
		id, err := IDFromBytes(p.ReleaseID)
		if err != nil {
			return nil, err
		}
		return Certified{Release: id, Certificate: bytes.Clone(p.Certificate), Signature: bytes.Clone(p.Signature)}, nil
	case *facts.ReleaseRevoked:
		id, err := IDFromBytes(p.ReleaseID)
		if err != nil {
			return nil, err
		}
		return Revoked{Release: id, Reason: p.Reason, Signer: author, Admin: admin}, nil
	case *facts.ReleaseSuperseded:
		id, err := IDFromBytes(p.ReleaseID)
		if err != nil {
			return nil, err
		}
		by, err := IDFromBytes(p.SupersededBy)
		if err != nil {
			return nil, err
		}
		return Superseded{Release: id, By: by, Signer: author, Admin: admin}, nil
	case *facts.ArtifactAvailable:
		id, err := IDFromBytes(p.ReleaseID)
		if err != nil {
			return nil, err
		}
		return Available{Release: id, Artifact: p.Artifact, Root: bytes.Clone(p.Root), Holder: author}, nil
	case *facts.RecommendationPublished:
		id, err := IDFromBytes(p.ReleaseID)
		if err != nil {
			return nil, err
		}
		scope := p.Scope
		scope.Participants = append([]facts.AuthorityID(nil), p.Scope.Participants...)
		return Recommended{Release: id, Scope: scope, Note: p.Note, Recommender: author}, nil
	}
	return nil, wrapf(ErrNotRecord, "%T", p)
}

// CheckRecord runs every check on a record that needs no other record:
// a declaration's manifest verifies (canonical, valid, release ID
// recomputed, signed by its author); a certificate verifies under its
// builder and names the release it is presented for (ErrWrongRelease
// otherwise); revocations, supersessions, availabilities and
// recommendations are well formed. The node runs it on every release fact
// before the fact may enter its journal. Checks that need the release's
// manifest (a certificate's provenance, an availability's artifact, a
// revoker's authority) are Catalogue.Apply's, whatever order records
// arrive in.
func CheckRecord(r Record) error {
	r, err := normalise(r)
	if err != nil {
		return err
	}
	return r.check()
}
