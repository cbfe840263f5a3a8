package launcher

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Every change the launcher makes to a home is one of three crash-safe
// moves, each followed by an fsync of the directory that changed:
//
//   - writeFileAtomic: write a temporary file, fsync, rename over the
//     target;
//   - switchLink: create a temporary symlink, rename over the link;
//   - renames of whole directories built and fsynced beside their target.
//
// So after a crash a path holds its old content or its new one.

// tmpName returns a unique temporary name beside path, starting with '.'
// so listings skip it.
func tmpName(path string) string {
	var b [6]byte
	rand.Read(b[:])
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-"+hex.EncodeToString(b[:]))
}

// syncDir fsyncs a directory, making renames and creations in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("launcher: sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("launcher: sync %s: %w", dir, err)
	}
	return nil
}

// writeTemp writes data into a new fsynced temporary file beside path and
// returns its name.
func writeTemp(path string, data []byte, mode fs.FileMode) (string, error) {
	tmp := tmpName(path)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return "", fmt.Errorf("launcher: writing %s: %w", path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("launcher: writing %s: %w", path, err)
	}
	return tmp, nil
}

// writeFileAtomic replaces path with data: temporary file, fsync, rename,
// fsync of the directory.
func writeFileAtomic(path string, data []byte, mode fs.FileMode) error {
	tmp, err := writeTemp(path, data, mode)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("launcher: writing %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

// switchLink points the symlink dir/name at target (relative to dir)
// atomically: a temporary symlink renamed over the old one.
func switchLink(dir, name, target string) error {
	link := filepath.Join(dir, name)
	if cur, err := os.Readlink(link); err == nil && cur == target {
		return nil
	}
	tmp := tmpName(link)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("launcher: switching %s to %s: %w", link, target, err)
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("launcher: switching %s to %s: %w", link, target, err)
	}
	return syncDir(dir)
}

// removeLink removes the symlink dir/name if it exists.
func removeLink(dir, name string) error {
	err := os.Remove(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("launcher: %w", err)
	}
	return syncDir(dir)
}

// readLink returns the release ID a link in releases/ points at, "" if
// the link does not exist.
func readLink(path string) (string, error) {
	t, err := os.Readlink(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("launcher: %w", err)
	}
	id := filepath.Base(t)
	if t != id || CheckReleaseID(id) != nil {
		return "", fmt.Errorf("launcher: %s points at %q, not a release folder in %s", path, t, filepath.Dir(path))
	}
	return id, nil
}

// removeAll removes path and fsyncs its parent.
func removeAll(path string) error {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := os.RemoveAll(path); err != nil {
		return fmt.Errorf("launcher: removing %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

// renameDir renames a directory and fsyncs both parents.
func renameDir(from, to string) error {
	if err := os.Rename(from, to); err != nil {
		return fmt.Errorf("launcher: %w", err)
	}
	if err := syncDir(filepath.Dir(to)); err != nil {
		return err
	}
	if filepath.Dir(from) != filepath.Dir(to) {
		return syncDir(filepath.Dir(from))
	}
	return nil
}

// copyFile copies src into the new file dst with mode, fsyncs it, and
// returns the sha256 of what it copied. At most max bytes are accepted.
func copyFile(src, dst string, mode fs.FileMode, max int64) (sum [32]byte, n int64, err error) {
	in, err := os.Open(src)
	if err != nil {
		return sum, 0, fmt.Errorf("launcher: %w", err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return sum, 0, fmt.Errorf("launcher: %w", err)
	}
	if !st.Mode().IsRegular() {
		return sum, 0, fmt.Errorf("launcher: %s is not a regular file", src)
	}
	if max > 0 && st.Size() > max {
		return sum, 0, fmt.Errorf("launcher: %s is %d bytes, limit %d", src, st.Size(), max)
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return sum, 0, fmt.Errorf("launcher: %w", err)
	}
	h := sha256.New()
	var r io.Reader = in
	if max > 0 {
		r = io.LimitReader(in, max+1)
	}
	n, err = io.Copy(io.MultiWriter(out, h), r)
	if err == nil && max > 0 && n > max {
		err = fmt.Errorf("%s grew past %d bytes while copying", src, max)
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst)
		return sum, 0, fmt.Errorf("launcher: copying %s: %w", src, err)
	}
	copy(sum[:], h.Sum(nil))
	return sum, n, nil
}

// hashFile returns the sha256 of a file.
func hashFile(path string) ([32]byte, error) {
	var sum [32]byte
	f, err := os.Open(path)
	if err != nil {
		return sum, fmt.Errorf("launcher: %w", err)
	}
	defer f.Close()
	var h hash.Hash = sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, fmt.Errorf("launcher: hashing %s: %w", path, err)
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// immutableFile reports files Pebble never changes once written (tables
// and blob files), which a copy may hard-link. Everything else (MANIFEST,
// WAL, OPTIONS, markers) is copied, because Pebble appends to or recycles
// those files in place.
func immutableFile(name string) bool {
	return strings.HasSuffix(name, ".sst") || strings.HasSuffix(name, ".blob")
}

// copyTree copies the directory src into the new directory dst:
// immutable files hard-linked where possible, others copied, everything
// fsynced.
func copyTree(src, dst string) error {
	st, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("launcher: %w", err)
	}
	if err := os.Mkdir(dst, st.Mode().Perm()|0o700); err != nil {
		return fmt.Errorf("launcher: %w", err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("launcher: %w", err)
	}
	for _, e := range ents {
		s, d := filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())
		switch {
		case e.IsDir():
			if err := copyTree(s, d); err != nil {
				return err
			}
		case e.Type().IsRegular():
			if immutableFile(e.Name()) && os.Link(s, d) == nil {
				continue
			}
			info, err := e.Info()
			if err != nil {
				return fmt.Errorf("launcher: %w", err)
			}
			if _, _, err := copyFile(s, d, info.Mode().Perm(), 0); err != nil {
				return err
			}
		default:
			return fmt.Errorf("launcher: %s: unexpected file type %v in a checkpoint", s, e.Type())
		}
	}
	return syncDir(dst)
}
