package release

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error this package returns wraps one of them (or
// facts.ErrMalformed / facts.ErrNotCanonical for undecodable bytes), so
// callers test with errors.Is and show the message, which says what was
// wrong.
var (
	// ErrBadID reports text or bytes that are not a 32-byte release ID.
	ErrBadID = errors.New("release: not a release ID")
	// ErrBadVersion reports a version that is not SemVer 2.0.0.
	ErrBadVersion = errors.New("release: not a semantic version")
	// ErrTooLarge reports an encoded document over its size limit.
	ErrTooLarge = errors.New("release: document too large")
	// ErrInvalidManifest reports a manifest that decodes but breaks a rule.
	ErrInvalidManifest = errors.New("release: invalid manifest")
	// ErrIDMismatch reports a release ID that is not the hash of the
	// manifest's series and provenance.
	ErrIDMismatch = errors.New("release: release ID does not match the manifest")
	// ErrBadSignature reports a signature that does not verify under the
	// manifest's author or the certificate's builder.
	ErrBadSignature = errors.New("release: bad signature")
	// ErrWrongKey reports signing with a key that is not the document's
	// author (manifest) or builder (certificate).
	ErrWrongKey = errors.New("release: signing key is not the document's author")
	// ErrInvalidCertificate reports a build certificate that decodes but
	// breaks a rule.
	ErrInvalidCertificate = errors.New("release: invalid build certificate")
	// ErrWrongRelease reports a certificate bound to another release than
	// the one it is presented for.
	ErrWrongRelease = errors.New("release: certificate is for another release")
	// ErrProvenanceMismatch reports a certificate over other provenance
	// than the release manifest's.
	ErrProvenanceMismatch = errors.New("release: certificate provenance differs from the manifest")
	// ErrNotAuthorised reports a revocation or supersession signed by
	// neither the release authority nor the network admin.
	ErrNotAuthorised = errors.New("release: signer is neither the release authority nor the admin")
	// ErrInvalidRecord reports a catalogue record that breaks a rule.
	ErrInvalidRecord = errors.New("release: invalid record")
	// ErrUnknownArtifact reports an availability record for an artifact
	// the manifest does not list, or with another root.
	ErrUnknownArtifact = errors.New("release: artifact not in the manifest")
	// ErrNotRecord reports a fact payload that is not a catalogue record.
	ErrNotRecord = errors.New("release: payload is not a release record")
	// ErrInvalidPolicy reports a discovery or sharing policy that breaks a
	// rule.
	ErrInvalidPolicy = errors.New("release: invalid policy")
	// ErrOutputMismatch reports rebuilt outputs that differ from the
	// artifacts a manifest commits to.
	ErrOutputMismatch = errors.New("release: rebuilt outputs differ from the manifest")
	// ErrUnknownClass reports a compatibility class name that is none of
	// the four (ParseCompatibilityClass lists them).
	ErrUnknownClass = errors.New("release: unknown compatibility class")
	// ErrInvalidDocument reports a JSON manifest or signed-manifest file
	// that cannot be read, or whose readable copy differs from what was
	// signed.
	ErrInvalidDocument = errors.New("release: invalid manifest document")
)

func wrapf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}
