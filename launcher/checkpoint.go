package launcher

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// takeCheckpoint writes a Pebble checkpoint of the stopped node's data
// directory into dst, replacing any older one: Pebble checkpoints into a
// temporary folder beside dst (tables hard-linked, the rest copied, all
// synced), which is then renamed to dst. A data directory without a
// database gives an empty checkpoint, which restores to no data.
//
// Opening the database takes Pebble's lock, so it fails if a node still
// runs on it.
func takeCheckpoint(dataDir, dst string, log *slog.Logger) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("launcher: %w", err)
	}
	tmp := tmpName(dst)
	defer os.RemoveAll(tmp)
	desc, err := pebble.Peek(dataDir, vfs.Default)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("launcher: checkpoint of %s: %w", dataDir, err)
	}
	if err != nil || !desc.Exists {
		if err := os.Mkdir(tmp, 0o700); err != nil {
			return fmt.Errorf("launcher: %w", err)
		}
	} else {
		pl := pebbleLogger{log}
		db, err := pebble.Open(dataDir, &pebble.Options{
			Logger:           pl,
			ErrorIfNotExists: true,
			EventListener: &pebble.EventListener{
				BackgroundError: func(err error) { log.Error("pebble: background error", "err", err) },
			},
		})
		if err != nil {
			return fmt.Errorf("launcher: checkpoint: opening %s (is a node still running on it?): %w", dataDir, err)
		}
		err = db.Checkpoint(tmp, pebble.WithFlushedWAL())
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("launcher: checkpoint of %s: %w", dataDir, err)
		}
	}
	if err := removeAll(dst); err != nil {
		return err
	}
	return renameDir(tmp, dst)
}

// restoreCheckpoint replaces dataDir with a copy of the checkpoint src,
// keeping the checkpoint intact so a crash at any point can restore
// again: the copy is built in restoreTmp (removed first if a crash left
// it), the current dataDir is moved to failedDir (replacing the one a
// previous rollback kept), and the copy is renamed into place. Running it
// again after a crash anywhere in between gives the same result.
func restoreCheckpoint(src, dataDir, restoreTmp, failedDir string, crash func(string)) error {
	if st, err := os.Stat(src); err != nil || !st.IsDir() {
		return fmt.Errorf("launcher: no checkpoint at %s to restore", src)
	}
	if err := removeAll(restoreTmp); err != nil {
		return err
	}
	if err := copyTree(src, restoreTmp); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(restoreTmp)); err != nil {
		return err
	}
	if _, err := os.Lstat(dataDir); err == nil {
		if err := removeAll(failedDir); err != nil {
			return err
		}
		if err := renameDir(dataDir, failedDir); err != nil {
			return err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("launcher: %w", err)
	}
	crash("data-moved-aside")
	return renameDir(restoreTmp, dataDir)
}

// pebbleLogger forwards Pebble's log lines to slog.
type pebbleLogger struct{ l *slog.Logger }

func (pl pebbleLogger) Infof(format string, args ...any) {
	pl.l.Debug("pebble: " + fmt.Sprintf(format, args...))
}

func (pl pebbleLogger) Errorf(format string, args ...any) {
	pl.l.Error("pebble: " + fmt.Sprintf(format, args...))
}

// Fatalf logs and panics: Pebble calls it on broken invariants and does
// not expect it to return.
func (pl pebbleLogger) Fatalf(format string, args ...any) {
	msg := "pebble: " + fmt.Sprintf(format, args...)
	pl.l.Error(msg)
	panic("launcher: " + msg)
}
