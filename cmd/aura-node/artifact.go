package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/aura-node/aura-node/api"
	"github.com/aura-node/aura-node/bench"
)

func (a *app) artifactCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "artifact",
		Short: "Store, fetch, pin and export content-addressed artifacts",
		Long: `Artifacts are files stored as IPFS UnixFS content in the node's block
store (blocks/ in the home): 1 MiB chunks as raw leaves under a balanced
DAG, named by the root's CIDv1 (the unixfs-v1-2025 profile, so ` + "`ipfs add`" + `
with that profile gives the same CID). Every block is checked against its
CID before it is stored.

A node fetches an artifact from every connected peer that holds it, in
parallel, and resumes an interrupted fetch from what it stored. It serves
its blocks to aura peers and, over bitswap, to IPFS nodes (kubo)
connected to it. Pinned artifacts are kept; gc deletes the rest.

Paths are resolved here and handed to the node as absolute paths (the
admin API is loopback-only: the node runs on this machine).`,
		Example: `  aura-node artifact import ./dist/aura-node-linux-amd64
  aura-node artifact fetch bafybei...
  aura-node artifact export bafybei... --out ./aura-node
  aura-node artifact list`,
		Args: noArgs,
	}
	cmd.AddCommand(a.artifactImportCmd(), a.artifactExportCmd(), a.artifactFetchCmd(), a.artifactStatusCmd(),
		a.artifactCancelCmd(), a.artifactPinCmd(), a.artifactUnpinCmd(), a.artifactListCmd(),
		a.artifactProvidersCmd(), a.artifactGCCmd())
	return cmd
}

// rootArg checks a root CID argument before it goes to the node.
func rootArg(s string) (string, error) {
	c, err := cid.Decode(s)
	if err != nil {
		return "", fmt.Errorf("%q is not a CID (want the artifact's root, as `aura-node artifact list` or `release show` print it): %v", s, err)
	}
	return c.String(), nil
}

// absPath resolves a path for the node.
func absPath(p string) (string, error) {
	if p == "" {
		return "", errors.New("empty path")
	}
	return filepath.Abs(p)
}

func (a *app) artifactImportCmd() *cobra.Command {
	var name string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Chunk a file into the block store and pin it",
		Long: `Import a file: the node chunks it into blocks, stores them, pins the root
and prints it. Import the files of a release on the node that publishes
it, so that it announces and serves them.`,
		Example: `  aura-node artifact import ./dist/aura-node-linux-amd64 --name aura-node-linux-amd64`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := absPath(args[0])
			if err != nil {
				return err
			}
			if st, err := os.Stat(path); err != nil {
				return err
			} else if !st.Mode().IsRegular() {
				return fmt.Errorf("%s is not a regular file", path)
			}
			return a.withNode(func(c *conn) error {
				info, err := c.ImportArtifact(cmd.Context(), api.ArtifactImportRequest{Path: path, Name: name})
				if err != nil {
					return err
				}
				return output(cmd.OutOrStdout(), asJSON, info, func(w io.Writer, info *api.ArtifactInfo) {
					fmt.Fprintf(w, "%s  %s  %s, %d blocks\n", info.Root, info.Name, humanBytes(info.Size), info.Blocks)
				})
			})
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "label for the pin (default: the file's base name)")
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (a *app) artifactExportCmd() *cobra.Command {
	var out string
	var force, asJSON bool
	cmd := &cobra.Command{
		Use:     "export ROOT --out FILE",
		Short:   "Write a stored artifact to a file",
		Long:    "Write the file under ROOT, which must be complete in the block store (fetch it first), to --out, and print its size and SHA-256. An existing file is refused unless --force.",
		Example: `  aura-node artifact export bafybei... --out ./aura-node && sha256sum ./aura-node`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			root, err := rootArg(args[0])
			if err != nil {
				return err
			}
			if out == "" {
				return errors.New("--out FILE is required")
			}
			path, err := absPath(out)
			if err != nil {
				return err
			}
			return a.withNode(func(c *conn) error {
				exp, err := c.ExportArtifact(cmd.Context(), api.ArtifactExportRequest{Root: root, Path: path, Overwrite: force})
				if err != nil {
					return err
				}
				return output(cmd.OutOrStdout(), asJSON, exp, func(w io.Writer, exp *api.ArtifactExport) {
					fmt.Fprintf(w, "%s  %s  (%s)\n", exp.SHA256, exp.Path, humanBytes(exp.Size))
				})
			})
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "file to write")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing file")
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (a *app) artifactFetchCmd() *cobra.Command {
	var req api.ArtifactFetchRequest
	var detach, asJSON bool
	cmd := &cobra.Command{
		Use:   "fetch ROOT",
		Short: "Fetch an artifact from the peers that hold it, with progress",
		Long: `Fetch the artifact under ROOT from every connected peer that holds it, in
parallel, verifying each block against its CID, and pin it when complete.
A progress bar shows on stderr when it is a terminal.

Interrupting (Ctrl-C) stops the fetch; what was stored stays, and the next
fetch of the same root resumes from it. --detach starts the fetch and
returns (follow it with ` + "`artifact status`" + `).`,
		Example: `  aura-node artifact fetch bafybei...
  aura-node artifact fetch bafybei... --detach && aura-node artifact status bafybei...`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			root, err := rootArg(args[0])
			if err != nil {
				return err
			}
			req.Root = root
			c, err := a.connect()
			if err != nil {
				return err
			}
			st, err := c.FetchArtifact(cmd.Context(), req)
			if err != nil {
				return c.wrap(err)
			}
			if !detach {
				st, err = c.followFetch(cmd.Context(), root, "fetch "+shortRoot(root))
				if err != nil {
					return err
				}
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), st)
			}
			printFetch(cmd.OutOrStdout(), st)
			if st.State == api.FetchFailed {
				return fmt.Errorf("fetch of %s failed: %s", root, st.Error)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&req.Name, "name", "", "label for the pin")
	cmd.Flags().Uint64Var(&req.Size, "size", 0, "expected file size in bytes (a DAG claiming more is refused)")
	cmd.Flags().BoolVar(&req.NoPin, "no-pin", false, "do not pin when complete (a later gc removes it)")
	cmd.Flags().BoolVar(&detach, "detach", false, "start the fetch and return")
	jsonFlag(cmd, &asJSON)
	return cmd
}

// followFetch polls a fetch until it ends, drawing a progress bar on
// stderr. An interrupt cancels the fetch on the node (it resumes later).
func (c *conn) followFetch(ctx context.Context, root, desc string) (*api.ArtifactFetch, error) {
	bar := newBytesProgress(os.Stderr, desc)
	defer bar.finish()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := c.ArtifactFetchStatus(context.WithoutCancel(ctx), root)
		if err != nil {
			return nil, c.wrap(err)
		}
		bar.update(st.Bytes, st.BytesTotal, st.Sources)
		if st.State != api.FetchRunning {
			return st, nil
		}
		select {
		case <-ctx.Done():
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			st, err := c.CancelArtifactFetch(cctx, root)
			if err != nil {
				return nil, c.wrap(err)
			}
			bar.finish()
			return nil, fmt.Errorf("interrupted: fetch of %s stopped at %s of %s; fetch again to resume", root, humanBytes(st.Bytes), humanBytes(st.BytesTotal))
		case <-tick.C:
		}
	}
}

// bytesProgress is a byte-count progress bar on a terminal, nothing
// elsewhere (see progress.go).
type bytesProgress struct {
	bar *progressbar.ProgressBar
}

func newBytesProgress(w *os.File, desc string) *bytesProgress {
	if !isTerminal(w) {
		return &bytesProgress{}
	}
	return &bytesProgress{bar: progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionClearOnFinish(),
	)}
}

func (p *bytesProgress) update(done, total uint64, sources int) {
	if p.bar == nil {
		return
	}
	if total > 0 && int64(total) != p.bar.GetMax64() {
		p.bar.ChangeMax64(int64(total))
	}
	p.bar.Describe(fmt.Sprintf("%s (%d peers)", strings.SplitN(p.bar.State().Description, " (", 2)[0], sources))
	p.bar.Set64(int64(done))
}

func (p *bytesProgress) finish() {
	if p.bar != nil {
		p.bar.Finish()
		p.bar = nil
	}
}

func printFetch(w io.Writer, st *api.ArtifactFetch) {
	fmt.Fprintf(w, "%s  %s  %s of %s, %d/%d blocks (%d fetched, %d already stored) from %d peers in %.1fs\n",
		st.Root, st.State, humanBytes(st.Bytes), humanBytes(st.BytesTotal), st.Blocks, st.BlocksKnown, st.Fetched, st.Had,
		len(st.PerPeer), float64(st.ElapsedMs)/1000)
	if st.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", st.Error)
	}
	for _, p := range st.Penalized {
		fmt.Fprintf(w, "  penalised %s: sent blocks that did not match their CIDs\n", p)
	}
}

func (a *app) artifactStatusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "status ROOT",
		Short:   "Show the progress of a fetch",
		Long:    "Show the state of the last fetch of ROOT since the node started: running, done, failed (with the reason) or cancelled; blocks and bytes stored, blocks fetched and already stored, and the blocks received from each peer.",
		Example: `  aura-node artifact status bafybei... --json`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			root, err := rootArg(args[0])
			if err != nil {
				return err
			}
			return a.withNode(func(c *conn) error {
				st, err := c.ArtifactFetchStatus(cmd.Context(), root)
				if err != nil {
					return err
				}
				return output(cmd.OutOrStdout(), asJSON, st, printFetch)
			})
		},
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (a *app) artifactCancelCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "cancel ROOT",
		Short:   "Stop a running fetch (a later fetch resumes it)",
		Long:    "Stop the running fetch of ROOT. The blocks already stored stay; the next fetch of ROOT requests only the missing ones.",
		Example: `  aura-node artifact cancel bafybei...`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			root, err := rootArg(args[0])
			if err != nil {
				return err
			}
			return a.withNode(func(c *conn) error {
				st, err := c.CancelArtifactFetch(cmd.Context(), root)
				if err == nil {
					printFetch(cmd.OutOrStdout(), st)
				}
				return err
			})
		},
	}
}

func (a *app) artifactPinCmd() *cobra.Command {
	var name string
	return &cobra.Command{
		Use:     "pin ROOT",
		Short:   "Keep an artifact whose blocks are all stored",
		Long:    "Pin ROOT so gc keeps it. Refused when a block is missing (fetch it first).",
		Example: `  aura-node artifact pin bafybei... --name tool-1.0`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			root, err := rootArg(args[0])
			if err != nil {
				return err
			}
			return a.withNode(func(c *conn) error {
				info, err := c.PinArtifact(cmd.Context(), api.ArtifactPinRequest{Root: root, Name: name})
				if err == nil {
					fmt.Fprintf(cmd.OutOrStdout(), "pinned %s  %s  %s\n", info.Root, info.Name, humanBytes(info.Size))
				}
				return err
			})
		},
	}
}

func (a *app) artifactUnpinCmd() *cobra.Command {
	var keep bool
	cmd := &cobra.Command{
		Use:     "unpin ROOT",
		Short:   "Stop keeping an artifact and delete the blocks nothing else needs",
		Long:    "Unpin ROOT, then collect garbage (unless --keep-blocks): blocks no other pinned artifact uses are deleted.",
		Example: `  aura-node artifact unpin bafybei...`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			root, err := rootArg(args[0])
			if err != nil {
				return err
			}
			return a.withNode(func(c *conn) error {
				res, err := c.UnpinArtifact(cmd.Context(), api.ArtifactUnpinRequest{Root: root, KeepBlocks: keep})
				if err != nil {
					return err
				}
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "unpinned %s", res.Root)
				if res.GC != nil {
					fmt.Fprintf(w, "; deleted %d blocks (%s)", res.GC.Blocks, humanBytes(res.GC.Bytes))
				}
				if res.GCDeferred != "" {
					fmt.Fprintf(w, "; %s", res.GCDeferred)
				}
				fmt.Fprintln(w)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&keep, "keep-blocks", false, "keep the blocks until the next gc")
	return cmd
}

func (a *app) artifactListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List pinned artifacts and fetches",
		Long:    "List the pinned artifacts (root, name, size, blocks, and the releases whose manifests name the root), the fetches since the node started, the block store's size on disk, and the blocks served to aura peers and over bitswap.",
		Example: `  aura-node artifact list --json`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withNode(func(c *conn) error {
				l, err := c.ListArtifacts(cmd.Context())
				if err != nil {
					return err
				}
				return output(cmd.OutOrStdout(), asJSON, l, printArtifactList)
			})
		},
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

func printArtifactList(out io.Writer, l *api.ArtifactList) {
	mode := ""
	if l.Seed {
		mode = ", seeding"
	}
	fmt.Fprintf(out, "block store: %s on disk%s; served %d blocks (%s) to aura peers, %d (%s) over bitswap; %d corrupt blocks refused\n\n",
		humanBytes(l.DiskBytes), mode, l.BlocksServed, humanBytes(l.BytesServed), l.BitswapBlocksServed, humanBytes(l.BitswapBytesServed), l.CorruptBlocks)
	if len(l.Artifacts) == 0 {
		fmt.Fprintln(out, "no pinned artifacts")
	} else {
		tw := newTable(out)
		fmt.Fprintln(tw, "ROOT\tNAME\tSIZE\tBLOCKS\tRELEASES")
		for _, x := range l.Artifacts {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", x.Root, dash(x.Name), humanBytes(x.Size), x.Blocks, dash(strings.Join(shortReleases(x.Releases), ",")))
		}
		tw.Flush()
	}
	if len(l.Fetches) > 0 {
		fmt.Fprintln(out)
		tw := newTable(out)
		fmt.Fprintln(tw, "FETCH\tSTATE\tPROGRESS\tPEERS\tWHY")
		for _, f := range l.Fetches {
			state := f.State
			if f.Error != "" {
				state += ": " + f.Error
			}
			fmt.Fprintf(tw, "%s\t%s\t%s/%s\t%d\t%s\n", f.Root, state, humanBytes(f.Bytes), humanBytes(f.BytesTotal), len(f.PerPeer), dash(f.Why))
		}
		tw.Flush()
	}
}

func shortReleases(rs []string) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		id, name, _ := strings.Cut(r, "/")
		out[i] = shortHex(id) + "/" + name
	}
	return out
}

func (a *app) artifactProvidersCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "providers ROOT",
		Short:   "Ask the connected peers which of them hold an artifact",
		Long:    "Ask every connected peer (block protocol HAS) whether it holds ROOT: pinned (the whole artifact), block (the root block: it may be fetching), none.",
		Example: `  aura-node artifact providers bafybei...`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			root, err := rootArg(args[0])
			if err != nil {
				return err
			}
			return a.withNode(func(c *conn) error {
				p, err := c.ArtifactProviders(cmd.Context(), root)
				if err != nil {
					return err
				}
				return output(cmd.OutOrStdout(), asJSON, p, func(w io.Writer, p *api.ArtifactProviders) {
					tw := newTable(w)
					fmt.Fprintln(tw, "PEER\tHOLDS")
					for _, x := range p.Providers {
						s := x.State
						if x.Error != "" {
							s += ": " + x.Error
						}
						fmt.Fprintf(tw, "%s\t%s\n", x.Peer, s)
					}
					tw.Flush()
				})
			})
		},
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (a *app) artifactGCCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "gc",
		Short:   "Delete the blocks no pinned artifact needs",
		Long:    "Delete every block no pinned artifact reaches. Waits for running fetches and imports.",
		Example: `  aura-node artifact gc`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withNode(func(c *conn) error {
				res, err := c.ArtifactGC(cmd.Context())
				if err == nil {
					fmt.Fprintf(cmd.OutOrStdout(), "deleted %d blocks (%s)\n", res.Blocks, humanBytes(res.Bytes))
				}
				return err
			})
		},
	}
}

// releaseFetchCmd is `aura-node release fetch`.
func (a *app) releaseFetchCmd() *cobra.Command {
	var names []string
	var out string
	var force, allowRevoked, asJSON bool
	cmd := &cobra.Command{
		Use:   "fetch RELEASE_ID [--artifact NAME]... [--out FILE|DIR]",
		Short: "Fetch a release's artifacts from the peers, verify and export them",
		Long: `Look up the release in the node's catalogue, fetch each artifact (or those
named with --artifact) by its root CID from every connected peer that
holds it, with a progress bar, and pin it. Every block is verified against
its CID; the file size must match the manifest.

With --out, the artifacts are exported: to FILE when one artifact is
fetched, else into the directory DIR under their manifest names; the
SHA-256 of each written file is printed. Refused for a revoked release
unless --allow-revoked.`,
		Example: `  aura-node release fetch 3f5a... --out ./dist/
  aura-node release fetch 3f5a... --artifact aura-node-linux-amd64 --out ./aura-node && sha256sum ./aura-node`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			r, err := c.Release(ctx, args[0])
			if err != nil {
				return c.wrap(err)
			}
			if r.Series == "" {
				return fmt.Errorf("release %s has no manifest on this node yet (%d records wait for it)", args[0], r.Pending)
			}
			if r.Revoked && !allowRevoked {
				return fmt.Errorf("release %s@%s is revoked (%s); refusing to fetch it (--allow-revoked to fetch anyway)", r.Series, r.Version, r.RevokedReason)
			}
			var arts []api.ReleaseArtifact
			for _, x := range r.Artifacts {
				if len(names) == 0 || containsString(names, x.Name) {
					arts = append(arts, x)
				}
			}
			for _, n := range names {
				if !slicesContainsArtifact(r.Artifacts, n) {
					return fmt.Errorf("release %s@%s has no artifact %q (it has %s)", r.Series, r.Version, n, artifactNames(r.Artifacts))
				}
			}
			if len(arts) == 0 {
				return fmt.Errorf("release %s@%s lists no artifacts", r.Series, r.Version)
			}
			var outFile, outDir string
			if out != "" {
				p, err := absPath(out)
				if err != nil {
					return err
				}
				st, err := os.Stat(p)
				switch {
				case len(arts) > 1 || (err == nil && st.IsDir()) || strings.HasSuffix(out, string(os.PathSeparator)):
					if err := os.MkdirAll(p, 0o755); err != nil {
						return err
					}
					outDir = p
				default:
					outFile = p
				}
			}
			var results []any
			w := cmd.OutOrStdout()
			for _, x := range arts {
				name := fmt.Sprintf("%s@%s/%s", r.Series, r.Version, x.Name)
				if _, err := c.FetchArtifact(ctx, api.ArtifactFetchRequest{Root: x.Root, Name: name, Size: x.Size}); err != nil {
					return c.wrap(err)
				}
				st, err := c.followFetch(ctx, x.Root, x.Name)
				if err != nil {
					return err
				}
				if st.State != api.FetchDone {
					return fmt.Errorf("fetching %s (%s) failed: %s", x.Name, x.Root, st.Error)
				}
				res := map[string]any{"artifact": x.Name, "root": x.Root, "size": x.Size, "fetch": st}
				if !asJSON {
					fmt.Fprintf(w, "%s  fetched %s from %d peers in %.1fs (%d blocks fetched, %d already stored)\n",
						x.Name, humanBytes(x.Size), len(st.PerPeer), float64(st.ElapsedMs)/1000, st.Fetched, st.Had)
				}
				if outFile != "" || outDir != "" {
					path := outFile
					if path == "" {
						path = filepath.Join(outDir, x.Name)
					}
					exp, err := c.ExportArtifact(ctx, api.ArtifactExportRequest{Root: x.Root, Path: path, Overwrite: force})
					if err != nil {
						return c.wrap(err)
					}
					if exp.Size != x.Size {
						return fmt.Errorf("%s: exported %d bytes, the manifest says %d", x.Name, exp.Size, x.Size)
					}
					res["export"] = exp
					if !asJSON {
						fmt.Fprintf(w, "%s  %s\n", exp.SHA256, exp.Path)
					}
				}
				results = append(results, res)
			}
			if asJSON {
				return printJSON(w, map[string]any{"release": r.ID, "series": r.Series, "version": r.Version, "artifacts": results})
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&names, "artifact", nil, "fetch only this artifact (repeatable; default all)")
	cmd.Flags().StringVar(&out, "out", "", "export to FILE (one artifact) or into DIR")
	cmd.Flags().BoolVar(&force, "force", false, "replace existing files")
	cmd.Flags().BoolVar(&allowRevoked, "allow-revoked", false, "fetch a revoked release anyway")
	jsonFlag(cmd, &asJSON)
	return cmd
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func slicesContainsArtifact(arts []api.ReleaseArtifact, name string) bool {
	for _, x := range arts {
		if x.Name == name {
			return true
		}
	}
	return false
}

func artifactNames(arts []api.ReleaseArtifact) string {
	var out []string
	for _, x := range arts {
		out = append(out, x.Name)
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

func shortRoot(root string) string {
	if len(root) > 16 {
		return root[:8] + "…" + root[len(root)-6:]
	}
	return root
}

// benchArtifactsCmd is `aura-node bench artifacts`.
func benchArtifactsCmd() *cobra.Command {
	var opts bench.ArtifactsOptions
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "artifacts",
		Short: "Artifact transfer and fan-out versus raw libp2p streams",
		Long: `Start libp2p hosts on 127.0.0.1 TCP built like the node's and measure, in
one run:

  raw        one libp2p stream carrying --size MiB between hosts A and B
  transfer   B fetching a --size MiB artifact from A over the block
             protocol: requested, received, verified against its CIDs,
             stored in Pebble (goal: >= 0.5 x raw)
  fan-out    --fanout fresh nodes fetching it at once from a seed and from
             each other, against one node fetching it alone; every node's
             upload is capped at --link-mibs (each node its own link, as on
             a network; default transfer rate / (2 x fanout)) so the links,
             not this machine's CPUs, bound the run (goal: <= 2 x single)
  uncapped   the same fan-out without caps, for reference (CPU-bound here)
  kubo       a kubo node fetching it from A over bitswap (` + "`ipfs cat`" + `), when
             $AURA_KUBO names a kubo binary (.ci/run builds one)

Every copy is checked against the source's SHA-256. A progress bar shows
on stderr when it is a terminal.`,
		Example: `  aura-node bench artifacts --json
  aura-node bench artifacts --size 64 --fanout 8
  AURA_KUBO=~/.cache/aura-node/kubo-v0.43.0/ipfs aura-node bench artifacts --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.SizeMiB < 1 || opts.Fanout < 1 || opts.LinkMiBs < 0 {
				return fmt.Errorf("--size and --fanout must be at least 1, --link-mibs not negative")
			}
			bar := newProgress(os.Stderr, "artifacts")
			phase := ""
			opts.Progress = func(p string, done, total int) {
				if p != phase && bar.bar != nil {
					phase = p
					bar.bar.Describe(p)
				}
				bar.update(done>>20, total>>20)
			}
			res, err := bench.Artifacts(cmd.Context(), opts)
			bar.finish()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, res)
			}
			tw := newTable(out)
			fmt.Fprintf(tw, "artifact\t%d MiB, %d blocks\n", res.SizeMiB, res.Blocks)
			fmt.Fprintf(tw, "raw libp2p stream\t%.1f MiB/s\n", res.RawStreamMiBs)
			fmt.Fprintf(tw, "transfer (2 nodes)\t%.1f MiB/s (%.2f s), ratio %.2f (goal >= 0.5)\n", res.TransferMiBs, res.TransferS, res.TransferRatio)
			fmt.Fprintf(tw, "links capped at\t%.1f MiB/s per node\n", res.LinkMiBs)
			fmt.Fprintf(tw, "single (capped)\t%.2f s\n", res.SingleS)
			fmt.Fprintf(tw, "fan-out to %d (capped)\t%.2f s, ratio %.2f (goal <= 2); the seed sent %.0f%% of the blocks\n", res.Fanout, res.FanoutS, res.FanoutRatio, 100*res.SeedShare)
			if res.FanoutUncappedS > 0 {
				fmt.Fprintf(tw, "fan-out to %d (uncapped)\t%.2f s, %.2f x the transfer\n", res.Fanout, res.FanoutUncappedS, res.FanoutUncappedRatio)
			}
			if res.KuboMiBs > 0 {
				match := "?"
				if res.KuboCIDMatch != nil {
					match = fmt.Sprint(*res.KuboCIDMatch)
				}
				fmt.Fprintf(tw, "kubo over bitswap\t%.1f MiB/s (%.2f s); same root CID from ipfs add: %s\n", res.KuboMiBs, res.KuboS, match)
			} else {
				fmt.Fprintf(tw, "kubo\tskipped: %s\n", res.KuboSkipped)
			}
			tw.Flush()
			verdict := "meets"
			if !res.MeetsGoal {
				verdict = "misses"
			}
			fmt.Fprintf(out, "%s the goal: %s\n", verdict, res.Goal)
			return nil
		},
	}
	cmd.Flags().IntVar(&opts.SizeMiB, "size", 256, "artifact size in MiB")
	cmd.Flags().IntVar(&opts.Fanout, "fanout", 16, "nodes fetching at once in the fan-out")
	cmd.Flags().Float64Var(&opts.LinkMiBs, "link-mibs", 0, "per-node upload cap in the capped fan-out, MiB/s (default: transfer rate / (2 x fanout))")
	cmd.Flags().BoolVar(&opts.SkipUncapped, "skip-uncapped", false, "skip the uncapped fan-out")
	cmd.Flags().StringVar(&opts.Dir, "dir", "", "directory for the nodes' block stores (default: a temporary one, removed afterwards)")
	jsonFlag(cmd, &asJSON)
	return cmd
}
