package release

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hdevalence/ed25519consensus"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"github.com/aura-node/aura-node/facts"
)

// Bounds on manifests. They are part of the protocol: every node must
// apply the same ones, or one would accept a release another refuses.
const (
	// MaxManifestLen bounds an encoded manifest; it travels inside a
	// ReleaseDeclared fact, whose blob limit it shares.
	MaxManifestLen = facts.MaxBlobLen
	// MaxArtifacts bounds the artifacts of one release.
	MaxArtifacts = 256
	// MaxArtifactSize bounds one artifact (1 TiB).
	MaxArtifactSize = 1 << 40
	// MaxHealthGates bounds the declared health gates.
	MaxHealthGates = 32
	// MaxMigrations bounds the migrations of one release.
	MaxMigrations = 256
	// MaxURLLen bounds the source repository URL.
	MaxURLLen = 1024
	// maxToken bounds series, artifact, gate, migration and context names.
	maxToken = facts.MaxNameLen
	// maxShortToken bounds kinds, platforms and packagings.
	maxShortToken = 64
)

// Provenance says what a release was built from and what the build gave.
// It is hashed into the release ID, and builders certify it.
type Provenance struct {
	// SourceRepo is the URL of the source repository (https, http, ssh or
	// git scheme, with a host).
	SourceRepo string `cbor:"1,keyasint"`
	// SourceBundleHash is the sha2-256 of the source bundle built (for
	// example a git archive of the tagged commit).
	SourceBundleHash [32]byte `cbor:"2,keyasint"`
	// BuildRecipeHash is the sha2-256 of the build recipe (the script,
	// toolchain pins and flags that turn the bundle into the artifacts).
	BuildRecipeHash [32]byte `cbor:"3,keyasint"`
	// OutputHash commits to the build outputs: it must equal
	// OutputHashOf(manifest.Artifacts), so a release ID, and every
	// certificate over its provenance, also fixes the artifacts' names,
	// sizes and content addresses.
	OutputHash [32]byte `cbor:"4,keyasint"`
}

// Artifact is one file of a release, stored as IPFS UnixFS content.
type Artifact struct {
	// Name is a file name: [A-Za-z0-9._-], not "." or "..", no path
	// separators, so a launcher can use it as a file name as is.
	Name string `cbor:"1,keyasint"`
	// Kind says what the file is ("binary", "archive", "config",
	// "document", ...): [a-z0-9-], at most 64 bytes.
	Kind string `cbor:"2,keyasint"`
	// Platform is the GOOS/GOARCH pair the file runs on ("linux/amd64"),
	// or empty when it is platform-independent.
	Platform string `cbor:"3,keyasint,omitempty"`
	// Packaging says how the file is packed ("raw", "tar.gz", "zip",
	// ...): [a-z0-9.+-], at most 64 bytes.
	Packaging string `cbor:"4,keyasint"`
	// Size is the file size in bytes, 1 .. MaxArtifactSize.
	Size uint64 `cbor:"5,keyasint"`
	// Root is the binary CID of the file's UnixFS root: CIDv0 or CIDv1,
	// codec raw (a single block) or dag-pb, hashed with sha2-256,
	// sha2-512, blake2b-256 or blake3.
	Root []byte `cbor:"6,keyasint"`
}

// CompatibilityClass says how a release coexists with the one before it.
type CompatibilityClass uint8

// Compatibility classes. Values are part of the wire format.
const (
	// BackwardCompatible: old and new nodes interoperate fully (soft fork).
	BackwardCompatible CompatibilityClass = 1
	// MixedCoexistenceAllowed: a scope may run both for a while (soft
	// fork with a coexistence phase).
	MixedCoexistenceAllowed CompatibilityClass = 2
	// ScopedHardFork: incompatible, cut over inside one scope that owns
	// the agreement (threshold approval or an epoch fence).
	ScopedHardFork CompatibilityClass = 3
	// IncompatibleWithoutPartition: incompatible, and peers are expected
	// to separate (partition handling required).
	IncompatibleWithoutPartition CompatibilityClass = 4
)

var classNames = map[CompatibilityClass]string{
	BackwardCompatible:           "BackwardCompatible",
	MixedCoexistenceAllowed:      "MixedCoexistenceAllowed",
	ScopedHardFork:               "ScopedHardFork",
	IncompatibleWithoutPartition: "IncompatibleWithoutPartition",
}

// String returns the class name, or "CompatibilityClass(n)".
func (c CompatibilityClass) String() string {
	if s, ok := classNames[c]; ok {
		return s
	}
	return fmt.Sprintf("CompatibilityClass(%d)", uint8(c))
}

// Valid reports whether c is a defined class.
func (c CompatibilityClass) Valid() bool { _, ok := classNames[c]; return ok }

// HardFork reports whether c breaks interoperation with the release
// before it (ScopedHardFork or IncompatibleWithoutPartition).
func (c CompatibilityClass) HardFork() bool {
	return c == ScopedHardFork || c == IncompatibleWithoutPartition
}

// classOrder lists the classes in wire order, for messages.
var classOrder = []CompatibilityClass{BackwardCompatible, MixedCoexistenceAllowed, ScopedHardFork, IncompatibleWithoutPartition}

// Flag returns the class name in kebab case, as the command line writes
// it: backward-compatible, mixed-coexistence-allowed, scoped-hard-fork,
// incompatible-without-partition.
func (c CompatibilityClass) Flag() string {
	name, ok := classNames[c]
	if !ok {
		return c.String()
	}
	var b strings.Builder
	for i, r := range name {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('-')
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// ParseCompatibilityClass reads a class name as a person or a document
// writes it: the type's name (BackwardCompatible) or its kebab-case form
// (backward-compatible), case-insensitively. It is the one parser of
// class names given by users (release documents, `release create
// --class`, `policy set activation --allow-class`, config.json); the
// error lists the valid names.
func ParseCompatibilityClass(s string) (CompatibilityClass, error) {
	for _, c := range classOrder {
		if strings.EqualFold(classNames[c], s) || strings.EqualFold(c.Flag(), s) {
			return c, nil
		}
	}
	flags := make([]string, len(classOrder))
	names := make([]string, len(classOrder))
	for i, c := range classOrder {
		flags[i], names[i] = c.Flag(), classNames[c]
	}
	return 0, fmt.Errorf("%w %q: want %s (or %s)", ErrUnknownClass, s, strings.Join(flags, ", "), strings.Join(names, ", "))
}

// Compatibility describes how the release relates to earlier ones.
type Compatibility struct {
	Class CompatibilityClass `cbor:"1,keyasint"`
	// MinimumLegacyRelease, when set, is the oldest release a node may
	// run and still move to this one (activation checks it).
	MinimumLegacyRelease *ID `cbor:"2,keyasint,omitempty"`
}

// ActivationProfile is what the release author asks of any activation;
// the activation evaluator (activation/) enforces it per scope.
type ActivationProfile struct {
	// ThresholdApprovalRequired asks for threshold approval before
	// cutover in scopes that have one.
	ThresholdApprovalRequired bool `cbor:"1,keyasint"`
	// EpochFenceRequired asks for an epoch fence in scopes that own one.
	EpochFenceRequired bool `cbor:"2,keyasint"`
	// HealthGates names the gates that must be present and pass after
	// cutover; sorted, unique, [A-Za-z0-9._-] names.
	HealthGates []string `cbor:"3,keyasint,omitempty"`
}

// Migration is one storage format step the release runs, once, in order.
type Migration struct {
	From uint32 `cbor:"1,keyasint" json:"from"`
	To   uint32 `cbor:"2,keyasint" json:"to"`
	Name string `cbor:"3,keyasint" json:"name"`
}

// Manifest describes a release. Its canonical encoding is what the release
// authority signs; its ID is ComputeID(Series, Provenance).
type Manifest struct {
	// Series names the release line ("aura-node", "aura-node/edge"):
	// [A-Za-z0-9._/-], at most 256 bytes.
	Series string `cbor:"1,keyasint"`
	// Version is the SemVer 2.0.0 version, without a leading "v".
	Version    string     `cbor:"2,keyasint"`
	Provenance Provenance `cbor:"3,keyasint"`
	// Artifacts lists the release's files, sorted by name, names unique.
	Artifacts     []Artifact        `cbor:"4,keyasint"`
	Compatibility Compatibility     `cbor:"5,keyasint"`
	Activation    ActivationProfile `cbor:"6,keyasint"`
	// Migrations are the storage migrations in the order they run; each
	// starts where the one before ended.
	Migrations []Migration `cbor:"7,keyasint,omitempty"`
	// SuggestedActivationTimeUnixMs is a hint only: at most a local
	// "not before" against the local clock, never a network-wide instant.
	SuggestedActivationTimeUnixMs *uint64 `cbor:"8,keyasint,omitempty"`
	// Author is the release authority that signs the manifest.
	Author facts.AuthorityID `cbor:"9,keyasint"`
}

// ID returns the manifest's release ID.
func (m *Manifest) ID() ID { return ComputeID(m.Series, m.Provenance) }

// ParsedVersion returns the manifest's version; Validate has checked it.
func (m *Manifest) ParsedVersion() (Version, error) { return ParseVersion(m.Version) }

// Artifact returns the artifact with the given name.
func (m *Manifest) Artifact(name string) (Artifact, bool) {
	for _, a := range m.Artifacts {
		if a.Name == name {
			return a, true
		}
	}
	return Artifact{}, false
}

// outputsDomain separates the output hash from every other hash.
const outputsDomain = "aura-node/release-outputs/v1"

type outputsPreimage struct {
	Domain    string     `cbor:"1,keyasint"`
	Artifacts []Artifact `cbor:"2,keyasint"`
}

// OutputHashOf returns the output hash that commits to a list of
// artifacts (sort them by name first, as the manifest must): sha2-256 of
// the canonical encoding of {1: "aura-node/release-outputs/v1", 2: list}.
// `release create` fills Provenance.OutputHash with it, and a builder that
// reproduces the build compares its own.
func OutputHashOf(artifacts []Artifact) [32]byte {
	if artifacts == nil {
		artifacts = []Artifact{}
	}
	return sha256.Sum256(mustMarshal(outputsPreimage{Domain: outputsDomain, Artifacts: artifacts}))
}

// Validate checks every rule of a manifest that needs nothing but the
// manifest. The first broken rule is reported, wrapping ErrInvalidManifest.
func (m *Manifest) Validate() error {
	if err := m.ValidateUnsigned(); err != nil {
		return err
	}
	if m.Author.IsZero() {
		return wrapf(ErrInvalidManifest, "no author")
	}
	return nil
}

// ValidateUnsigned checks every rule of Validate except the author, which
// SignManifest fills in: `release create` checks a manifest with it before
// anybody signs it.
func (m *Manifest) ValidateUnsigned() error {
	if err := checkSeries(m.Series); err != nil {
		return err
	}
	if _, err := ParseVersion(m.Version); err != nil {
		return fmt.Errorf("%w: version: %w", ErrInvalidManifest, err)
	}
	if err := m.Provenance.check(); err != nil {
		return err
	}
	if len(m.Artifacts) == 0 {
		return wrapf(ErrInvalidManifest, "no artifacts")
	}
	if len(m.Artifacts) > MaxArtifacts {
		return wrapf(ErrInvalidManifest, "%d artifacts, limit %d", len(m.Artifacts), MaxArtifacts)
	}
	for i := range m.Artifacts {
		a := &m.Artifacts[i]
		if err := a.check(); err != nil {
			return fmt.Errorf("artifact %d: %w", i, err)
		}
		// Rule: artifacts sorted by name, names unique, so one set of
		// artifacts has one encoding and names identify artifacts.
		if i > 0 && m.Artifacts[i-1].Name >= a.Name {
			return wrapf(ErrInvalidManifest, "artifacts must be sorted by name without duplicates (%q after %q)", a.Name, m.Artifacts[i-1].Name)
		}
	}
	if m.Provenance.OutputHash != OutputHashOf(m.Artifacts) {
		return wrapf(ErrInvalidManifest, "provenance output hash does not commit to the artifacts (use release.OutputHashOf)")
	}
	if !m.Compatibility.Class.Valid() {
		return wrapf(ErrInvalidManifest, "unknown compatibility class %d", m.Compatibility.Class)
	}
	if mlr := m.Compatibility.MinimumLegacyRelease; mlr != nil && mlr.IsZero() {
		return wrapf(ErrInvalidManifest, "minimum legacy release is the zero ID")
	}
	if err := checkNameSet("health gate", m.Activation.HealthGates, MaxHealthGates); err != nil {
		return err
	}
	if len(m.Migrations) > MaxMigrations {
		return wrapf(ErrInvalidManifest, "%d migrations, limit %d", len(m.Migrations), MaxMigrations)
	}
	for i, mg := range m.Migrations {
		if err := checkName("migration name", mg.Name, maxToken); err != nil {
			return err
		}
		if mg.To <= mg.From {
			return wrapf(ErrInvalidManifest, "migration %q goes from %d to %d: must move to a higher version", mg.Name, mg.From, mg.To)
		}
		// Rule: migrations form one chain, each starting where the one
		// before ended, so "run in order, once" has one meaning.
		if i > 0 && mg.From != m.Migrations[i-1].To {
			return wrapf(ErrInvalidManifest, "migration %q starts at %d but the one before ends at %d", mg.Name, mg.From, m.Migrations[i-1].To)
		}
	}
	if t := m.SuggestedActivationTimeUnixMs; t != nil && *t == 0 {
		return wrapf(ErrInvalidManifest, "suggested activation time is zero (omit it instead)")
	}
	return nil
}

// ValidateSeries checks a series name by the manifest's rule:
// [A-Za-z0-9._/-], at most 256 bytes, no empty, "." or ".." segment.
// SeriesDeclared facts name series by the same rule.
func ValidateSeries(s string) error { return checkSeries(s) }

func (p *Provenance) check() error {
	if err := checkURL(p.SourceRepo); err != nil {
		return err
	}
	var zero [32]byte
	if p.SourceBundleHash == zero || p.BuildRecipeHash == zero {
		return wrapf(ErrInvalidManifest, "provenance needs the source bundle and build recipe hashes")
	}
	return nil
}

func checkURL(s string) error {
	if len(s) > MaxURLLen {
		return wrapf(ErrInvalidManifest, "source repository URL is %d bytes, limit %d", len(s), MaxURLLen)
	}
	u, err := url.Parse(s)
	if err != nil {
		return wrapf(ErrInvalidManifest, "source repository URL %q: %v", s, err)
	}
	switch u.Scheme {
	case "https", "http", "ssh", "git":
	default:
		return wrapf(ErrInvalidManifest, "source repository URL %q: scheme must be https, http, ssh or git", s)
	}
	if u.Host == "" {
		return wrapf(ErrInvalidManifest, "source repository URL %q has no host", s)
	}
	if !utf8.ValidString(s) {
		return wrapf(ErrInvalidManifest, "source repository URL is not valid UTF-8")
	}
	return nil
}

func (a *Artifact) check() error {
	if err := checkName("artifact name", a.Name, maxToken); err != nil {
		return err
	}
	if err := checkToken("artifact kind", a.Kind, maxShortToken, "-"); err != nil {
		return err
	}
	if a.Platform != "" {
		goos, goarch, ok := strings.Cut(a.Platform, "/")
		if !ok || checkToken("platform", goos, maxShortToken, "_") != nil || checkToken("platform", goarch, maxShortToken, "_") != nil {
			return wrapf(ErrInvalidManifest, "platform %q: want GOOS/GOARCH such as linux/amd64, or empty", a.Platform)
		}
	}
	if err := checkToken("packaging", a.Packaging, maxShortToken, ".+-"); err != nil {
		return err
	}
	if a.Size == 0 || a.Size > MaxArtifactSize {
		return wrapf(ErrInvalidManifest, "artifact %q size %d outside 1 .. %d", a.Name, a.Size, uint64(MaxArtifactSize))
	}
	if _, err := ParseRoot(a.Root); err != nil {
		return fmt.Errorf("%w: artifact %q: %w", ErrInvalidManifest, a.Name, err)
	}
	return nil
}

// ParseRoot checks the binary CID of an artifact root: one whole CID in
// its canonical bytes, codec raw or dag-pb (UnixFS), and a cryptographic
// multihash (sha2-256, sha2-512, blake2b-256 or blake3) of 32 to 64 bytes.
func ParseRoot(b []byte) (cid.Cid, error) {
	if len(b) == 0 {
		return cid.Undef, fmt.Errorf("root CID is empty")
	}
	n, c, err := cid.CidFromBytes(b)
	if err != nil {
		return cid.Undef, fmt.Errorf("root is not a CID: %w", err)
	}
	if n != len(b) || string(c.Bytes()) != string(b) {
		return cid.Undef, fmt.Errorf("root CID is not in canonical binary form")
	}
	p := c.Prefix()
	if p.Codec != cid.Raw && p.Codec != cid.DagProtobuf {
		return cid.Undef, fmt.Errorf("root CID codec %#x is neither raw nor dag-pb", p.Codec)
	}
	switch p.MhType {
	case mh.SHA2_256, mh.SHA2_512, mh.BLAKE2B_MIN + 31, mh.BLAKE3:
	default:
		return cid.Undef, fmt.Errorf("root CID hash %#x is not sha2-256, sha2-512, blake2b-256 or blake3", p.MhType)
	}
	if p.MhLength < 32 || p.MhLength > 64 {
		return cid.Undef, fmt.Errorf("root CID digest is %d bytes, want 32 to 64", p.MhLength)
	}
	return c, nil
}

// checkSeries: a non-empty [A-Za-z0-9._/-] name, no empty, "." or ".."
// path segment.
func checkSeries(s string) error {
	if err := checkToken("series", s, maxToken, "._/-"); err != nil {
		return err
	}
	for _, seg := range strings.Split(s, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return wrapf(ErrInvalidManifest, "series %q has an empty, \".\" or \"..\" segment", s)
		}
	}
	return nil
}

// checkName: a [A-Za-z0-9._-] name that is safe as a file name.
func checkName(field, s string, max int) error {
	if err := checkToken(field, s, max, "._-"); err != nil {
		return err
	}
	if s == "." || s == ".." {
		return wrapf(ErrInvalidManifest, "%s %q is not a file name", field, s)
	}
	return nil
}

// checkToken: non-empty, at most max bytes, ASCII letters and digits plus
// the given punctuation. Kinds and packagings are lower case only.
func checkToken(field, s string, max int, punct string) error {
	if s == "" {
		return wrapf(ErrInvalidManifest, "%s is empty", field)
	}
	if len(s) > max {
		return wrapf(ErrInvalidManifest, "%s is %d bytes, limit %d", field, len(s), max)
	}
	lowerOnly := field == "artifact kind" || field == "packaging" || field == "platform"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c >= 'A' && c <= 'Z' && !lowerOnly:
		case strings.IndexByte(punct, c) >= 0:
		default:
			return wrapf(ErrInvalidManifest, "%s %q: character %q not allowed", field, s, c)
		}
	}
	return nil
}

// checkNameSet: names sorted, unique, at most max of them.
func checkNameSet(field string, names []string, max int) error {
	if len(names) > max {
		return wrapf(ErrInvalidManifest, "%d %ss, limit %d", len(names), field, max)
	}
	for i, n := range names {
		if err := checkName(field, n, maxToken); err != nil {
			return err
		}
		if i > 0 && names[i-1] >= n {
			return wrapf(ErrInvalidManifest, "%ss must be sorted without duplicates (%q after %q)", field, n, names[i-1])
		}
	}
	return nil
}

// DecodeManifest decodes canonical manifest bytes and validates them. It
// does not check a signature or an ID: VerifyManifest does.
func DecodeManifest(raw []byte) (*Manifest, error) {
	if len(raw) > MaxManifestLen {
		return nil, wrapf(ErrTooLarge, "manifest is %d bytes, limit %d", len(raw), MaxManifestLen)
	}
	m := new(Manifest)
	if err := facts.UnmarshalCanonical(raw, m); err != nil {
		return nil, fmt.Errorf("release: manifest: %w", err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// EncodeManifest validates m and returns its canonical encoding.
func EncodeManifest(m Manifest) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	raw, err := facts.Marshal(&m)
	if err != nil {
		return nil, fmt.Errorf("release: encode manifest: %w", err)
	}
	if len(raw) > MaxManifestLen {
		return nil, wrapf(ErrTooLarge, "manifest is %d bytes, limit %d", len(raw), MaxManifestLen)
	}
	return raw, nil
}

// SignedManifest is a manifest's canonical bytes with its author's
// signature: what a ReleaseDeclared fact carries, and what
// `release sign` writes to a file.
type SignedManifest struct {
	Manifest  []byte `cbor:"1,keyasint"`
	Signature []byte `cbor:"2,keyasint"`
}

// Signing domains: a manifest signature can never be replayed as a
// certificate signature, a fact signature, or anything else.
const (
	manifestSigDomain    = "aura-node/release-manifest-signature/v1\x00"
	certificateSigDomain = "aura-node/build-certificate-signature/v1\x00"
)

func signingBytes(domain string, raw []byte) []byte {
	msg := make([]byte, 0, len(domain)+len(raw))
	return append(append(msg, domain...), raw...)
}

// SignManifest signs m with the release authority's key. m.Author is set
// from the key when zero and must otherwise be the key's authority
// (ErrWrongKey): the signature is bound to the author it names.
func SignManifest(key ed25519.PrivateKey, m Manifest) (SignedManifest, ID, error) {
	if len(key) != ed25519.PrivateKeySize {
		return SignedManifest{}, ID{}, wrapf(ErrWrongKey, "private key is %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	signer := facts.AuthorityFromKey(key.Public().(ed25519.PublicKey))
	if m.Author.IsZero() {
		m.Author = signer
	}
	if m.Author != signer {
		return SignedManifest{}, ID{}, wrapf(ErrWrongKey, "manifest author %s, key %s", m.Author, signer)
	}
	raw, err := EncodeManifest(m)
	if err != nil {
		return SignedManifest{}, ID{}, err
	}
	sig := ed25519.Sign(key, signingBytes(manifestSigDomain, raw))
	return SignedManifest{Manifest: raw, Signature: sig}, m.ID(), nil
}

// VerifyManifest is the one check every node runs on a release manifest:
//
//  1. the bytes are within MaxManifestLen and canonical (decoding then
//     re-encoding gives them back);
//  2. the manifest is valid (Validate: semantic version, non-empty sorted
//     artifacts with valid root CIDs and sizes, output hash, ...);
//  3. the release ID recomputed from series and provenance equals the
//     claimed one (ErrIDMismatch);
//  4. the signature verifies under the manifest's own Author
//     (ErrBadSignature), so it cannot be re-attributed.
//
// It returns the manifest and its ID.
func VerifyManifest(raw, sig []byte, claimed ID) (*Manifest, ID, error) {
	m, err := DecodeManifest(raw)
	if err != nil {
		return nil, ID{}, err
	}
	id := m.ID()
	if id != claimed {
		return nil, ID{}, wrapf(ErrIDMismatch, "claimed %s, manifest hashes to %s", claimed, id)
	}
	if !verifySig(m.Author, manifestSigDomain, raw, sig) {
		return nil, ID{}, wrapf(ErrBadSignature, "manifest of release %s does not verify under its author %s", id.Short(), m.Author)
	}
	return m, id, nil
}

func verifySig(signer facts.AuthorityID, domain string, raw, sig []byte) bool {
	// ed25519consensus (ZIP-215) is what the fact pipeline uses: every
	// node agrees on edge-case signatures.
	return len(sig) == ed25519.SignatureSize && ed25519consensus.Verify(signer.PublicKey(), signingBytes(domain, raw), sig)
}

func mustMarshal(v any) []byte {
	b, err := facts.Marshal(v)
	if err != nil {
		// Only fixed structs of strings, integers and byte strings are
		// passed here; encoding them cannot fail.
		panic(fmt.Sprintf("release: canonical encoding of %T: %v", v, err))
	}
	return b
}
