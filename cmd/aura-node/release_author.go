package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/spf13/cobra"

	"github.com/aura-node/aura-node/api"
	"github.com/aura-node/aura-node/artifacts"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/node"
	"github.com/aura-node/aura-node/release"
)

// Release authoring: create (a manifest from files), sign (offline, with
// an authority key), publish (through the running node). Every step
// checks what it reads with release/ and says why it refuses.

type createFlags struct {
	series, version, sourceURL, sourceHash, recipeHash string
	artifacts, packaging, gates, migrations            []string
	class, minLegacy, suggested, out                   string
	thresholdApproval, epochFence, asJSON, offline     bool
}

func (a *app) releaseCreateCmd() *cobra.Command {
	var f createFlags
	cmd := &cobra.Command{
		Use:   "create --series S --version V --source-url URL --source-hash H --recipe-hash H --artifact NAME=PATH[:KIND[:PLATFORM]]... --out manifest.json",
		Short: "Write an unsigned release manifest from built files and their provenance",
		Long: `Build a release manifest from the files a build produced and the provenance
of that build, and write it as a readable JSON document for review and
signing (` + "`aura-node release sign`" + `).

Each --artifact NAME=PATH[:KIND[:PLATFORM]] names a file of the release:
NAME is the file name the launcher will use, KIND defaults to "binary",
PLATFORM is GOOS/GOARCH (omit it for platform-independent files). The
packaging is taken from the name (.tar.gz, .tgz, .zip, .tar, else raw)
unless --packaging NAME=PKG says otherwise. Each file is chunked as IPFS
UnixFS (CIDv1, raw leaves, 1 MiB chunks) to compute its root CID, so the
manifest commits to exactly these bytes; the output hash of the provenance
commits to every artifact's name, kind, platform, packaging, size and
root. When this home's node is running, the files are imported into its
block store and pinned, so it can serve them once the release is
published; otherwise (or with --offline) the roots are computed without
storing anything, and the files must be imported before the node can
serve them.

--source-hash and --recipe-hash take a sha2-256 digest in hex, or the path
of a file to hash (the source bundle, the build recipe).

The release ID is the hash of the series and the provenance, so it is
known before signing and printed here.`,
		Example: `  aura-node release create --series aura-node --version 1.4.0 \
    --source-url https://github.com/aura-node/aura-node \
    --source-hash ./aura-node-1.4.0.tar.gz --recipe-hash ./build.sh \
    --artifact aura-node-linux-amd64=./dist/aura-node-linux-amd64:binary:linux/amd64 \
    --artifact aura-node-linux-arm64=./dist/aura-node-linux-arm64:binary:linux/arm64 \
    --class backward-compatible --health-gate readyz --out manifest.json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return a.runCreate(cmd, &f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.series, "series", "", "release series, e.g. aura-node (required)")
	fl.StringVar(&f.version, "version", "", "semantic version, e.g. 1.4.0 (required)")
	fl.StringVar(&f.sourceURL, "source-url", "", "source repository URL (https, http, ssh or git; required)")
	fl.StringVar(&f.sourceHash, "source-hash", "", "sha2-256 of the source bundle: 64 hex digits or a file to hash (required)")
	fl.StringVar(&f.recipeHash, "recipe-hash", "", "sha2-256 of the build recipe: 64 hex digits or a file to hash (required)")
	fl.StringArrayVar(&f.artifacts, "artifact", nil, "NAME=PATH[:KIND[:PLATFORM]], repeatable (at least one)")
	fl.StringArrayVar(&f.packaging, "packaging", nil, "NAME=PACKAGING to override the packaging taken from the name, repeatable")
	fl.StringVar(&f.class, "class", "backward-compatible", "compatibility class: backward-compatible, mixed-coexistence-allowed, scoped-hard-fork or incompatible-without-partition")
	fl.StringVar(&f.minLegacy, "minimum-legacy-release", "", "oldest release ID a node may move to this one from")
	fl.StringArrayVar(&f.gates, "health-gate", nil, "health gate that must pass after cutover, repeatable")
	fl.BoolVar(&f.thresholdApproval, "threshold-approval", false, "activation requires threshold approval in scopes that have one")
	fl.BoolVar(&f.epochFence, "epoch-fence", false, "activation requires an epoch fence in scopes that own one")
	fl.StringArrayVar(&f.migrations, "migration", nil, "FROM:TO:NAME storage migration, repeatable, in order")
	fl.StringVar(&f.suggested, "suggested-activation", "", "suggested activation time (RFC 3339 or Unix milliseconds); a hint only")
	fl.StringVar(&f.out, "out", "", `file to write the manifest to, "-" for stdout (required)`)
	fl.BoolVar(&f.offline, "offline", false, "compute the roots without importing the files into the running node")
	jsonFlag(cmd, &f.asJSON)
	return cmd
}

// hashArg reads a sha2-256 digest in hex, or hashes the named file.
func hashArg(flag, v string) ([32]byte, error) {
	if v == "" {
		return [32]byte{}, fmt.Errorf("--%s is required: a sha2-256 digest in hex, or a file to hash", flag)
	}
	if h, err := release.ParseHash(v); err == nil {
		return h, nil
	}
	file, err := os.Open(v)
	if err != nil {
		return [32]byte{}, fmt.Errorf("--%s %q is neither 64 hex digits nor a readable file: %v", flag, v, err)
	}
	defer file.Close()
	h := sha256.New()
	if _, err := io.Copy(h, file); err != nil {
		return [32]byte{}, fmt.Errorf("--%s: reading %s: %v", flag, v, err)
	}
	return [32]byte(h.Sum(nil)), nil
}

// packagingOf guesses the packaging from a file name.
func packagingOf(name string) string {
	switch n := strings.ToLower(name); {
	case strings.HasSuffix(n, ".tar.gz"), strings.HasSuffix(n, ".tgz"):
		return "tar.gz"
	case strings.HasSuffix(n, ".tar.zst"):
		return "tar.zst"
	case strings.HasSuffix(n, ".tar"):
		return "tar"
	case strings.HasSuffix(n, ".zip"):
		return "zip"
	}
	return "raw"
}

// parseClass reads --class: backward-compatible as well as
// BackwardCompatible (release.ParseCompatibilityClass).
func parseClass(s string) (release.CompatibilityClass, error) {
	c, err := release.ParseCompatibilityClass(s)
	if err != nil {
		return 0, fmt.Errorf("--class: %w", err)
	}
	return c, nil
}

// fileRoot computes the UnixFS root and size of a file, as the artifact
// store would import it.
func fileRoot(cmd *cobra.Command, path string) ([]byte, uint64, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer file.Close()
	root, size, err := artifacts.Root(cmd.Context(), file)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	return root.Bytes(), size, nil
}

// artifactSource computes artifact roots: through the running node,
// which imports and pins the file, or offline.
type artifactSource struct {
	node *conn // nil: offline
}

func (src *artifactSource) root(cmd *cobra.Command, name, path string) ([]byte, uint64, error) {
	if src.node != nil {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, 0, err
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, 0, err
		}
		info, err := src.node.ImportArtifact(cmd.Context(), api.ArtifactImportRequest{Path: abs, Name: name})
		switch {
		case err == nil:
			c, err := cid.Decode(info.Root)
			if err != nil {
				return nil, 0, fmt.Errorf("the node returned root %q: %v", info.Root, err)
			}
			return c.Bytes(), info.Size, nil
		case errors.Is(err, api.ErrUnreachable):
			src.node = nil // not running: compute offline
		default:
			return nil, 0, fmt.Errorf("importing %s into the node: %w", path, src.node.wrap(err))
		}
	}
	return fileRoot(cmd, path)
}

func (a *app) runCreate(cmd *cobra.Command, f *createFlags) error {
	for _, req := range []struct{ flag, v string }{{"series", f.series}, {"version", f.version}, {"source-url", f.sourceURL}, {"out", f.out}} {
		if req.v == "" {
			return fmt.Errorf("--%s is required (see `%s --help`)", req.flag, cmd.CommandPath())
		}
	}
	if len(f.artifacts) == 0 {
		return fmt.Errorf("at least one --artifact NAME=PATH[:KIND[:PLATFORM]] is required (see `%s --help`)", cmd.CommandPath())
	}
	m := release.Manifest{Series: f.series, Version: strings.TrimPrefix(f.version, "v")}
	m.Provenance.SourceRepo = f.sourceURL
	var err error
	if m.Provenance.SourceBundleHash, err = hashArg("source-hash", f.sourceHash); err != nil {
		return err
	}
	if m.Provenance.BuildRecipeHash, err = hashArg("recipe-hash", f.recipeHash); err != nil {
		return err
	}
	if m.Compatibility.Class, err = parseClass(f.class); err != nil {
		return err
	}
	if f.minLegacy != "" {
		id, err := release.ParseID(f.minLegacy)
		if err != nil {
			return fmt.Errorf("--minimum-legacy-release: %w", err)
		}
		m.Compatibility.MinimumLegacyRelease = &id
	}
	m.Activation = release.ActivationProfile{ThresholdApprovalRequired: f.thresholdApproval, EpochFenceRequired: f.epochFence}
	m.Activation.HealthGates = slices.Compact(slices.Sorted(slices.Values(f.gates)))
	for _, s := range f.migrations {
		parts := strings.SplitN(s, ":", 3)
		if len(parts) != 3 {
			return fmt.Errorf("--migration %q: want FROM:TO:NAME, e.g. 3:4:split-index", s)
		}
		from, err1 := strconv.ParseUint(parts[0], 10, 32)
		to, err2 := strconv.ParseUint(parts[1], 10, 32)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("--migration %q: FROM and TO must be storage format numbers", s)
		}
		m.Migrations = append(m.Migrations, release.Migration{From: uint32(from), To: uint32(to), Name: parts[2]})
	}
	if f.suggested != "" {
		ms, err := parseWhen(f.suggested)
		if err != nil {
			return err
		}
		m.SuggestedActivationTimeUnixMs = &ms
	}
	src := &artifactSource{}
	if !f.offline {
		if c, err := a.connect(); err == nil {
			src.node = c
		}
	}
	packaging := map[string]string{}
	for _, s := range f.packaging {
		name, pkg, ok := strings.Cut(s, "=")
		if !ok || name == "" || pkg == "" {
			return fmt.Errorf("--packaging %q: want NAME=PACKAGING, e.g. app.bin=raw", s)
		}
		packaging[name] = pkg
	}
	for _, s := range f.artifacts {
		name, rest, ok := strings.Cut(s, "=")
		if !ok || name == "" || rest == "" {
			return fmt.Errorf("--artifact %q: want NAME=PATH[:KIND[:PLATFORM]]", s)
		}
		parts := strings.SplitN(rest, ":", 3)
		art := release.Artifact{Name: name, Kind: "binary", Packaging: packagingOf(name)}
		if len(parts) > 1 && parts[1] != "" {
			art.Kind = parts[1]
		}
		if len(parts) > 2 {
			art.Platform = parts[2]
		}
		if p, ok := packaging[name]; ok {
			art.Packaging = p
			delete(packaging, name)
		}
		art.Root, art.Size, err = src.root(cmd, name, parts[0])
		if err != nil {
			return fmt.Errorf("--artifact %s: %w", name, err)
		}
		m.Artifacts = append(m.Artifacts, art)
	}
	if extra := slices.Sorted(maps.Keys(packaging)); len(extra) > 0 {
		return fmt.Errorf("--packaging %s: no --artifact of that name", extra[0])
	}
	slices.SortFunc(m.Artifacts, func(x, y release.Artifact) int { return strings.Compare(x.Name, y.Name) })
	m.Provenance.OutputHash = release.OutputHashOf(m.Artifacts)
	if err := m.ValidateUnsigned(); err != nil {
		return fmt.Errorf("the manifest would be refused: %w", err)
	}
	doc := m.Document()
	raw, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	if err := writeOut(cmd, f.out, append(raw, '\n')); err != nil {
		return err
	}
	id := m.ID()
	out := cmd.OutOrStdout()
	if f.out == "-" {
		out = cmd.ErrOrStderr()
	}
	if f.asJSON && f.out != "-" {
		return printJSON(out, struct {
			ReleaseID string                   `json:"release_id"`
			File      string                   `json:"file"`
			Imported  bool                     `json:"imported"`
			Manifest  release.ManifestDocument `json:"manifest"`
		}{id.String(), f.out, src.node != nil, doc})
	}
	fmt.Fprintf(out, "release %s: %s %s, %s\n", id, m.Series, m.Version, plural(len(m.Artifacts), "artifact"))
	for _, art := range doc.Artifacts {
		fmt.Fprintf(out, "  %s  %s  %s\n", art.Root, humanBytes(art.Size), art.Name)
	}
	if src.node != nil {
		fmt.Fprintf(out, "imported and pinned in the node of %s\n", a.home)
	} else {
		fmt.Fprintf(out, "roots computed offline: the node does not hold these files yet (import them before publishing, so it can serve them)\n")
	}
	if f.out != "-" {
		fmt.Fprintf(out, "wrote %s; review it, then sign it: aura-node release sign %s --out signed.json\n", f.out, f.out)
	}
	return nil
}

// parseWhen reads RFC 3339 or Unix milliseconds.
func parseWhen(s string) (uint64, error) {
	if ms, err := strconv.ParseUint(s, 10, 64); err == nil && ms > 0 {
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil || t.UnixMilli() <= 0 {
		return 0, fmt.Errorf("--suggested-activation %q: want RFC 3339 (2026-05-01T12:00:00Z) or Unix milliseconds", s)
	}
	return uint64(t.UnixMilli()), nil
}

// writeOut writes data to path, or to stdout for "-". Files are written
// whole or not at all.
func writeOut(cmd *cobra.Command, path string, data []byte) error {
	if path == "-" {
		_, err := cmd.OutOrStdout().Write(data)
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// readInput reads a file argument, bounded.
func readInput(path string, limit int64) ([]byte, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes: not a release document", path, limit)
	}
	return data, nil
}

// loadAuthorityKey reads an authority key file (hex Ed25519 seed, mode
// 0600, as `aura-node init` writes authority.key).
func loadAuthorityKey(path string) (ed25519.PrivateKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("authority key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s has mode %v; a signing key must be 0600 (chmod 600 %s)", path, st.Mode().Perm(), path)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("authority key: %w", err)
	}
	seed, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%s is not an authority key (want a hex Ed25519 seed, as authority.key holds)", path)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

func (a *app) releaseSignCmd() *cobra.Command {
	var keyFile, out string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "sign MANIFEST.json --out SIGNED.json [--key authority.key]",
		Short: "Sign a release manifest offline with a release authority key",
		Long: `Sign the manifest written by ` + "`aura-node release create`" + ` with a release
authority's Ed25519 key. No node is needed. The key defaults to this
home's authority.key; --key names another key file (hex seed, mode 0600).

The manifest's author becomes the key's authority; a manifest that already
names another author is refused. The manifest is checked first (version,
artifacts, output hash, ...), and the output holds the canonical manifest
bytes, the signature, the release ID and a readable copy, for
` + "`aura-node release publish`" + `.`,
		Example: `  aura-node release sign manifest.json --out signed.json
  aura-node release sign manifest.json --key /secure/release-authority.key --out signed.json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return fmt.Errorf("--out SIGNED.json is required (see `%s --help`)", cmd.CommandPath())
			}
			raw, err := readInput(args[0], 4*release.MaxManifestLen)
			if err != nil {
				return err
			}
			m, err := release.DecodeManifestDocument(raw)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if keyFile == "" {
				keyFile = node.Home{Dir: a.home}.Path(node.AuthorityFile)
			}
			key, err := loadAuthorityKey(keyFile)
			if err != nil {
				return err
			}
			signed, id, err := release.SignManifest(key, m)
			if err != nil {
				if errors.Is(err, release.ErrWrongKey) {
					return fmt.Errorf("refusing to sign: %w (the manifest names its author; sign with that authority's key or remove \"author\")", err)
				}
				return fmt.Errorf("refusing to sign: %w", err)
			}
			sd, err := release.NewSignedDocument(signed, id)
			if err != nil {
				return err
			}
			data, err := json.MarshalIndent(sd, "", "  ")
			if err != nil {
				return err
			}
			if err := writeOut(cmd, out, append(data, '\n')); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if out == "-" {
				w = cmd.ErrOrStderr()
			}
			author := facts.AuthorityFromKey(key.Public().(ed25519.PublicKey))
			if asJSON && out != "-" {
				return printJSON(w, struct {
					ReleaseID string `json:"release_id"`
					Author    string `json:"author"`
					File      string `json:"file"`
				}{id.String(), author.String(), out})
			}
			fmt.Fprintf(w, "signed release %s (%s %s) as %s\n", id, m.Series, m.Version, author)
			if out != "-" {
				fmt.Fprintf(w, "publish it: aura-node release publish %s\n", out)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "authority key file (default: the home's authority.key)")
	cmd.Flags().StringVar(&out, "out", "", `file to write the signed manifest to, "-" for stdout (required)`)
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (a *app) releasePublishCmd() *cobra.Command {
	var allowUntrusted, asJSON bool
	cmd := &cobra.Command{
		Use:   "publish SIGNED.json [--allow-untrusted]",
		Short: "Publish a signed release through the running node",
		Long: `Verify a signed manifest (canonical bytes, release ID recomputed from
series and provenance, signature by its author, readable copy unchanged)
and hand it to the running node, which verifies it again and writes the
release declaration (and, the first time this authority publishes in the
series, a series declaration). The facts spread to every node; each node
checks them and lists the release in its catalogue, and its own discovery
policy decides whether it tracks and fetches it.

The node refuses a release that is revoked, and one whose authority is
neither the node's own nor trusted by its discovery policy, unless
--allow-untrusted. When the node holds the artifacts (imported) and its
sharing policy pins the release, it also announces them (ArtifactAvailable)
so that other nodes know where to fetch them.`,
		Example: `  aura-node release publish signed.json`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := readInput(args[0], 8*release.MaxManifestLen)
			if err != nil {
				return err
			}
			m, sd, err := release.DecodeSignedDocument(raw)
			if err != nil {
				return fmt.Errorf("refusing to publish %s: %w", args[0], err)
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			res, err := c.PublishRelease(cmd.Context(), api.PublishReleaseRequest{
				ReleaseID: sd.ReleaseID.String(), Manifest: sd.Manifest, Signature: sd.Signature, AllowUntrusted: allowUntrusted,
			})
			if err != nil {
				return c.wrap(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, res)
			}
			if res.AlreadyPublished {
				fmt.Fprintf(out, "release %s (%s %s) was already published by %s\n", res.ReleaseID, m.Series, m.Version, res.Author)
			} else {
				fmt.Fprintf(out, "published release %s (%s %s) by %s: fact %s\n", res.ReleaseID, m.Series, m.Version, res.Author, res.Declared.ID)
			}
			if res.SeriesDeclared != nil {
				fmt.Fprintf(out, "declared series %s: fact %s\n", m.Series, res.SeriesDeclared.ID)
			}
			if len(res.Available) > 0 {
				fmt.Fprintf(out, "announced %s this node holds\n", plural(len(res.Available), "artifact"))
			} else if res.NotAnnounced != "" {
				fmt.Fprintf(out, "artifacts not announced: %s\n", res.NotAnnounced)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&allowUntrusted, "allow-untrusted", false, "publish even if this node's discovery policy does not trust the release authority")
	jsonFlag(cmd, &asJSON)
	return cmd
}

// rebuiltOutputs computes name, size and root of rebuilt files given as
// NAME=PATH or PATH (named by its base name).
func rebuiltOutputs(cmd *cobra.Command, specs []string) ([]release.Artifact, []api.ReleaseArtifact, error) {
	var arts []release.Artifact
	var views []api.ReleaseArtifact
	for _, s := range specs {
		name, path, ok := strings.Cut(s, "=")
		if !ok {
			name, path = filepath.Base(s), s
		}
		root, size, err := fileRoot(cmd, path)
		if err != nil {
			return nil, nil, fmt.Errorf("--verify-output %s: %w", s, err)
		}
		c, _ := release.ParseRoot(root)
		arts = append(arts, release.Artifact{Name: name, Size: size, Root: root})
		views = append(views, api.ReleaseArtifact{Name: name, Size: size, Root: c.String()})
	}
	return arts, views, nil
}
