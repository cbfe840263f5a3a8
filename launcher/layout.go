package launcher

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Names the launcher shares with the node's home layout (node/home.go).
// The launcher does not import node/ (the node imports the launcher), so
// a test holds these equal to node's constants.
const (
	NodeConfigFile  = "config.json"
	NodeAPIAddrFile = "api.addr"
	NodeDataDir     = "data"
)

// Names the launcher adds to a home.
const (
	ReleasesDir    = "releases"    // releases/<id>/{aura-node,release.json}, current, previous
	CheckpointsDir = "checkpoints" // checkpoints/<release-id>/: Pebble checkpoint of data/
	LauncherDir    = "launcher"    // state.json, requests/, results/, incoming/, pids, lock

	CurrentLink  = "current"
	PreviousLink = "previous"
	BinaryName   = "aura-node"
	ReleaseFile  = "release.json"

	StateFile       = "state.json"
	RequestsDir     = "requests"
	ResultsDir      = "results"
	IncomingDir     = "incoming"
	LockFile        = "lock"
	LauncherPIDFile = "launcher.pid"
	NodePIDFile     = "node.pid"

	// restoreDir is the checkpoint copy being built before it replaces
	// data/; failedDataDir keeps the data/ a rollback replaced, until the
	// next rollback.
	restoreDir    = "data.restore"
	failedDataDir = "data.rolled-back"
)

// Layout names every path of a home the launcher uses.
type Layout struct {
	Home string
}

// Path joins names under the home.
func (l Layout) Path(names ...string) string {
	return filepath.Join(append([]string{l.Home}, names...)...)
}

func (l Layout) releases() string         { return l.Path(ReleasesDir) }
func (l Layout) release(id string) string { return l.Path(ReleasesDir, id) }
func (l Layout) binary(id string) string  { return l.Path(ReleasesDir, id, BinaryName) }
func (l Layout) checkpoints() string      { return l.Path(CheckpointsDir) }
func (l Layout) checkpoint(id string) string {
	return l.Path(CheckpointsDir, id)
}
func (l Layout) dir() string          { return l.Path(LauncherDir) }
func (l Layout) state() string        { return l.Path(LauncherDir, StateFile) }
func (l Layout) requests() string     { return l.Path(LauncherDir, RequestsDir) }
func (l Layout) results() string      { return l.Path(LauncherDir, ResultsDir) }
func (l Layout) data() string         { return l.Path(NodeDataDir) }
func (l Layout) apiAddr() string      { return l.Path(NodeAPIAddrFile) }
func (l Layout) nodePID() string      { return l.Path(LauncherDir, NodePIDFile) }
func (l Layout) launcherPID() string  { return l.Path(LauncherDir, LauncherPIDFile) }
func (l Layout) lock() string         { return l.Path(LauncherDir, LockFile) }
func (l Layout) incoming() string     { return l.Path(LauncherDir, IncomingDir) }
func (l Layout) restoreData() string  { return l.Path(restoreDir) }
func (l Layout) failedData() string   { return l.Path(failedDataDir) }
func (l Layout) currentLink() string  { return l.Path(ReleasesDir, CurrentLink) }
func (l Layout) previousLink() string { return l.Path(ReleasesDir, PreviousLink) }
func (l Layout) dirsToCreate() []string {
	return []string{l.releases(), l.checkpoints(), l.dir(), l.requests(), l.results(), l.incoming()}
}

// IncomingPath is where the node exports a release's artifact before it
// submits a stage request naming it: launcher/incoming/<release-id>. The
// launcher removes the file once the stage request is done.
func IncomingPath(home, releaseID string) string {
	return Layout{Home: home}.Path(LauncherDir, IncomingDir, releaseID)
}

// ErrNotHome reports a directory that is not an initialised node home.
var ErrNotHome = errors.New("launcher: not an initialised aura-node home")

// checkHome refuses a directory without the node's config.json.
func checkHome(home string) (Layout, error) {
	if home == "" {
		return Layout{}, fmt.Errorf("%w: no home directory given", ErrNotHome)
	}
	abs, err := filepath.Abs(home)
	if err != nil {
		return Layout{}, fmt.Errorf("launcher: %w", err)
	}
	if _, err := os.Stat(filepath.Join(abs, NodeConfigFile)); err != nil {
		return Layout{}, fmt.Errorf("%w: %s has no %s (run `aura-node init --home %s` first)", ErrNotHome, abs, NodeConfigFile, abs)
	}
	return Layout{Home: abs}, nil
}

// MaxReleaseID bounds a release ID.
const MaxReleaseID = 128

// CheckReleaseID accepts a release ID that is safe as a directory name:
// 1 to MaxReleaseID bytes of [A-Za-z0-9._-], not starting with '.' or
// '-', and not "current" or "previous". Release IDs from release/ are 64
// hex digits.
func CheckReleaseID(id string) error {
	if id == "" || len(id) > MaxReleaseID {
		return fmt.Errorf("%w: release ID of %d bytes, want 1 to %d", ErrBadRequest, len(id), MaxReleaseID)
	}
	if id[0] == '.' || id[0] == '-' || id == CurrentLink || id == PreviousLink {
		return fmt.Errorf("%w: release ID %q is reserved", ErrBadRequest, id)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-", r)) {
			return fmt.Errorf("%w: release ID %q: want [A-Za-z0-9._-]", ErrBadRequest, id)
		}
	}
	return nil
}
