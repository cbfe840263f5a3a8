package launcher

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// ReleaseInfo is releases/<id>/release.json: what was installed.
type ReleaseInfo struct {
	ID      string `json:"id"`
	Version string `json:"version"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
	// Source is the artifact path it was staged from.
	Source        string `json:"source,omitempty"`
	StagedUnixMs  int64  `json:"staged_unix_ms"`
	ProbedVersion string `json:"probed_version"`
}

// Release errors.
var (
	ErrUnknownRelease = errors.New("launcher: release is not staged")
	ErrArtifact       = errors.New("launcher: artifact rejected")
)

// Stage limits.
const (
	// MaxArtifactBytes bounds a staged binary.
	MaxArtifactBytes = 1 << 30
	// probeTimeout bounds `BINARY version`.
	probeTimeout   = 15 * time.Second
	maxProbeOutput = 4096
)

// readRelease reads releases/<id>/release.json and checks that the
// binary is there.
func readRelease(lay Layout, id string) (ReleaseInfo, error) {
	var ri ReleaseInfo
	if err := CheckReleaseID(id); err != nil {
		return ri, err
	}
	b, err := readBounded(filepath.Join(lay.release(id), ReleaseFile), 64<<10)
	if errors.Is(err, fs.ErrNotExist) {
		return ri, fmt.Errorf("%w: %s (stage it first)", ErrUnknownRelease, id)
	}
	if err != nil {
		return ri, fmt.Errorf("launcher: release %s: %w", id, err)
	}
	if err := json.Unmarshal(b, &ri); err != nil || ri.ID != id {
		return ri, fmt.Errorf("launcher: release %s: corrupt %s", id, ReleaseFile)
	}
	if st, err := os.Stat(lay.binary(id)); err != nil || !st.Mode().IsRegular() {
		return ri, fmt.Errorf("launcher: release %s has no %s binary", id, BinaryName)
	}
	return ri, nil
}

// listReleases lists the installed releases by ID.
func listReleases(lay Layout) ([]ReleaseInfo, error) {
	ents, err := os.ReadDir(lay.releases())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("launcher: %w", err)
	}
	var out []ReleaseInfo
	for _, e := range ents {
		if !e.IsDir() || CheckReleaseID(e.Name()) != nil {
			continue
		}
		if ri, err := readRelease(lay, e.Name()); err == nil {
			out = append(out, ri)
		}
	}
	slices.SortFunc(out, func(a, b ReleaseInfo) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// probeVersion runs `binary version` and returns what it prints.
func probeVersion(ctx context.Context, binary string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, binary, "version")
	cmd.Stdout = &limitedBuffer{b: &out, max: maxProbeOutput}
	cmd.Stderr = &limitedBuffer{b: &errOut, max: maxProbeOutput}
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("`%s version` failed: %w: %s", binary, err, strings.TrimSpace(errOut.String()))
	}
	v := strings.TrimSpace(out.String())
	if v == "" || strings.ContainsAny(v, "\n\r") || len(v) > MaxVersionLen {
		return "", fmt.Errorf("`%s version` printed %q, want one version line", binary, v)
	}
	return v, nil
}

// limitedBuffer keeps the first max bytes written and discards the rest.
type limitedBuffer struct {
	b   *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// installRelease copies src into releases/<id>/ and returns its record:
// the copy is built in a temporary folder (binary fsynced and mode 0755,
// sha256 checked against wantSHA if set, version probed and checked
// against wantVersion if set, release.json written) and renamed into
// place, so releases/<id> is complete or absent. An existing release with
// the same sha256 is kept as is; one with another sha256 is refused.
func installRelease(ctx context.Context, lay Layout, id, src, wantSHA, wantVersion string, now time.Time) (ReleaseInfo, error) {
	if err := CheckReleaseID(id); err != nil {
		return ReleaseInfo{}, err
	}
	if existing, err := readRelease(lay, id); err == nil {
		if wantSHA != "" && !strings.EqualFold(existing.SHA256, wantSHA) {
			return existing, fmt.Errorf("%w: release %s is already staged with sha256 %s, not %s", ErrArtifact, id, existing.SHA256, wantSHA)
		}
		if wantVersion != "" && existing.Version != wantVersion {
			return existing, fmt.Errorf("%w: release %s is already staged as version %s, not %s", ErrArtifact, id, existing.Version, wantVersion)
		}
		return existing, nil
	}
	if err := os.MkdirAll(lay.releases(), 0o755); err != nil {
		return ReleaseInfo{}, fmt.Errorf("launcher: %w", err)
	}
	tmp := tmpName(lay.release(id))
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return ReleaseInfo{}, fmt.Errorf("launcher: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	bin := filepath.Join(tmp, BinaryName)
	sum, n, err := copyFile(src, bin, 0o755, MaxArtifactBytes)
	if err != nil {
		return ReleaseInfo{}, fmt.Errorf("%w: %w", ErrArtifact, err)
	}
	got := hex.EncodeToString(sum[:])
	if wantSHA != "" && !strings.EqualFold(got, wantSHA) {
		return ReleaseInfo{}, fmt.Errorf("%w: %s has sha256 %s, the request says %s", ErrArtifact, src, got, strings.ToLower(wantSHA))
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		return ReleaseInfo{}, fmt.Errorf("launcher: %w", err)
	}
	probed, err := probeVersion(ctx, bin)
	if err != nil {
		return ReleaseInfo{}, fmt.Errorf("%w: %w", ErrArtifact, err)
	}
	if wantVersion != "" && probed != wantVersion {
		return ReleaseInfo{}, fmt.Errorf("%w: the binary reports version %q, the request says %q", ErrArtifact, probed, wantVersion)
	}
	ri := ReleaseInfo{ID: id, Version: probed, SHA256: got, Size: n, Source: src, StagedUnixMs: now.UnixMilli(), ProbedVersion: probed}
	b, _ := json.MarshalIndent(ri, "", "  ")
	if err := writeFileAtomic(filepath.Join(tmp, ReleaseFile), append(b, '\n'), 0o644); err != nil {
		return ReleaseInfo{}, err
	}
	if err := renameDir(tmp, lay.release(id)); err != nil {
		return ReleaseInfo{}, err
	}
	return ri, nil
}
