package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/aura-node/aura-node/launcher"
)

// launcherLink is how the upgrade manager talks to the launcher that runs
// this node: the launcher's request and result files in the home
// (fileLauncher), or an in-memory stand-in in tests.
type launcherLink interface {
	// Home is the home directory the launcher owns.
	Home() string
	// Running is the release ID the launcher started this node as
	// (AURA_RELEASE_ID: a release ID in hex, or a local name such as
	// "initial") and this build's version.
	Running() (id, version string)
	// Submit queues a request and returns its seq.
	Submit(req launcher.Request) (uint64, error)
	// Pending lists requests without a result yet.
	Pending() ([]launcher.Request, error)
	// Results lists unacknowledged results, in seq order.
	Results() ([]launcher.Result, error)
	// Ack acknowledges a result once its facts are recorded.
	Ack(seq uint64) error
	// Staged returns the release the launcher staged under id, if any.
	Staged(id string) (launcher.ReleaseInfo, bool, error)
	// IncomingPath is where the node exports an artifact before it asks
	// the launcher to stage it.
	IncomingPath(id string) string
}

// errNoLauncher is the refusal of every launcher action of a node that
// does not run under a launcher.
var errNoLauncher = errors.New("this node does not run under a launcher (start it with `aura-node launcher --home DIR` to stage, cut over and roll back releases)")

// launcherFromEnv returns the link to the launcher of home when this
// process was started by one (AURA_LAUNCHER=1), else nil.
func launcherFromEnv(home string) launcherLink {
	if home == "" || os.Getenv(launcher.EnvLauncher) != "1" {
		return nil
	}
	if abs, err := filepath.Abs(home); err == nil {
		home = abs
	}
	return &fileLauncher{home: home, release: os.Getenv(launcher.EnvReleaseID)}
}

// fileLauncher is the launcher's file interface (launcher/doc.go).
type fileLauncher struct {
	home    string
	release string
}

func (f *fileLauncher) Home() string { return f.home }

func (f *fileLauncher) Running() (string, string) { return f.release, Version }

func (f *fileLauncher) Submit(req launcher.Request) (uint64, error) {
	return launcher.Submit(f.home, req)
}

func (f *fileLauncher) Pending() ([]launcher.Request, error) { return launcher.Pending(f.home) }

func (f *fileLauncher) Results() ([]launcher.Result, error) { return launcher.Results(f.home) }

func (f *fileLauncher) Ack(seq uint64) error { return launcher.Ack(f.home, seq) }

func (f *fileLauncher) IncomingPath(id string) string { return launcher.IncomingPath(f.home, id) }

// maxReleaseInfo bounds releases/<id>/release.json.
const maxReleaseInfo = 64 << 10

func (f *fileLauncher) Staged(id string) (launcher.ReleaseInfo, bool, error) {
	var ri launcher.ReleaseInfo
	if err := launcher.CheckReleaseID(id); err != nil {
		return ri, false, err
	}
	lay := launcher.Layout{Home: f.home}
	file, err := os.Open(lay.Path(launcher.ReleasesDir, id, launcher.ReleaseFile))
	if errors.Is(err, fs.ErrNotExist) {
		return ri, false, nil
	}
	if err != nil {
		return ri, false, err
	}
	defer file.Close()
	b, err := io.ReadAll(io.LimitReader(file, maxReleaseInfo+1))
	if err != nil {
		return ri, false, err
	}
	if len(b) > maxReleaseInfo {
		return ri, false, fmt.Errorf("%s: larger than %d bytes", file.Name(), maxReleaseInfo)
	}
	if err := json.Unmarshal(b, &ri); err != nil {
		return ri, false, fmt.Errorf("%s: %w", file.Name(), err)
	}
	if st, err := os.Stat(lay.Path(launcher.ReleasesDir, id, launcher.BinaryName)); err != nil || !st.Mode().IsRegular() {
		return ri, false, nil
	}
	return ri, true, nil
}
