package storage_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/storage"
	"github.com/aura-node/aura-node/storage/storagetest"
	"github.com/cockroachdb/pebble/v2"
)

func openPebble(t testing.TB, dir string) *storage.Pebble {
	t.Helper()
	p, err := storage.OpenPebble(dir, storage.PebbleOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("OpenPebble: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func TestPebble(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Journal { return openPebble(t, t.TempDir()) })
}

func TestPebbleRestart(t *testing.T) {
	dir := t.TempDir()
	p := openPebble(t, dir)
	n := storagetest.NewNetwork(t, p)
	n.AdvanceEpoch()
	b := n.Commit(n.Data(0, 0, 2000, "k", "v"), n.Data(1, 1, 2001, "k2", "v2"))
	wantDigest, err := facts.ReadDigest(p)
	if err != nil || wantDigest != b.Digest {
		t.Fatalf("ReadDigest = %s, %v; want %s", wantDigest, err, b.Digest)
	}
	wantList, err := p.List(storage.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	p = openPebble(t, dir)
	if d, err := facts.ReadDigest(p); err != nil || d != wantDigest {
		t.Errorf("after reopen ReadDigest = %s, %v; want %s", d, err, wantDigest)
	}
	if c, err := p.Count(); err != nil || c != 5 {
		t.Errorf("after reopen Count = %d, %v; want 5", c, err)
	}
	for _, v := range b.Facts {
		raw, ok, err := p.GetFact(v.ID())
		if err != nil || !ok || !bytes.Equal(raw, v.Raw()) {
			t.Errorf("after reopen GetFact(%s) = ok %v, %v", v.ID(), ok, err)
		}
	}
	if e, ok, err := facts.ReadData(p, "ns", "k2"); err != nil || !ok || string(e.Value) != "v2" {
		t.Errorf("after reopen ReadData = %+v, %v, %v", e, ok, err)
	}
	if g, err := facts.ReadGovernance(p); err != nil || g == nil || g.CurrentEpoch() != 1 {
		t.Errorf("after reopen ReadGovernance = %+v, %v", g, err)
	}
	gotList, err := p.List(storage.Query{})
	if err != nil || fmt.Sprint(gotList) != fmt.Sprint(wantList) {
		t.Errorf("after reopen List = %v, %v; want %v", gotList, err, wantList)
	}
	// The reopened journal keeps working.
	n.SetJournal(p)
	n.Commit(n.Data(1, 1, 2002, "k3", "v3"))
	if c, err := p.Count(); err != nil || c != 6 {
		t.Errorf("after reopen and commit Count = %d, %v; want 6", c, err)
	}
}

func TestPebbleCheckpoint(t *testing.T) {
	p := openPebble(t, t.TempDir())
	n := storagetest.NewNetwork(t, p)
	b := n.Commit(n.Data(0, 0, 2000, "k", "v"))
	if p.DiskUsage() == 0 {
		t.Errorf("DiskUsage = 0")
	}
	dst := filepath.Join(t.TempDir(), "cp")
	if err := p.Checkpoint(dst); err != nil {
		t.Fatalf("Checkpoint: %v", err)
	}
	if err := p.Checkpoint(dst); err == nil {
		t.Errorf("Checkpoint into an existing directory succeeded")
	}
	cp := openPebble(t, dst)
	if d, err := facts.ReadDigest(cp); err != nil || d != b.Digest {
		t.Errorf("checkpoint ReadDigest = %s, %v; want %s", d, err, b.Digest)
	}
	if c, err := cp.Count(); err != nil || c != 2 {
		t.Errorf("checkpoint Count = %d, %v; want 2", c, err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Checkpoint(filepath.Join(t.TempDir(), "cp2")); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Checkpoint after Close = %v, want ErrClosed", err)
	}
	if p.DiskUsage() != 0 {
		t.Errorf("DiskUsage after Close != 0")
	}
}

func TestPebbleOpenErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) string // returns the path to open
		is    error                     // nil: any error
	}{
		{"regular file", func(t *testing.T) string {
			path := filepath.Join(t.TempDir(), "file")
			writeFile(t, path, "not a database")
			return path
		}, storage.ErrNotJournal},
		{"foreign files", func(t *testing.T) string {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "notes.txt"), "hello")
			return dir
		}, storage.ErrNotJournal},
		{"garbage CURRENT", func(t *testing.T) string {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "CURRENT"), "MANIFEST-000001\n")
			writeFile(t, filepath.Join(dir, "MANIFEST-000001"), strings.Repeat("\xde\xad\xbe\xef", 64))
			return dir
		}, nil},
		{"garbage marker and manifest", func(t *testing.T) string {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "marker.manifest.000001.MANIFEST-000001"), "")
			writeFile(t, filepath.Join(dir, "MANIFEST-000001"), strings.Repeat("\xde\xad\xbe\xef", 64))
			return dir
		}, nil},
		{"empty manifest", func(t *testing.T) string {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "marker.manifest.000001.MANIFEST-000001"), "")
			writeFile(t, filepath.Join(dir, "MANIFEST-000001"), "")
			return dir
		}, nil},
		{"missing manifest", func(t *testing.T) string {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "marker.manifest.000001.MANIFEST-000001"), "")
			return dir
		}, nil},
		{"corrupt manifest", func(t *testing.T) string {
			dir := t.TempDir()
			p, err := storage.OpenPebble(dir, storage.PebbleOptions{})
			if err != nil {
				t.Fatal(err)
			}
			storagetest.NewNetwork(t, p)
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			ms, _ := filepath.Glob(filepath.Join(dir, "MANIFEST-*"))
			if len(ms) == 0 {
				t.Fatal("no MANIFEST")
			}
			for _, m := range ms {
				writeFile(t, m, strings.Repeat("\x00garbage", 100))
			}
			return dir
		}, nil},
		{"foreign Pebble database", func(t *testing.T) string {
			dir := t.TempDir()
			db, err := pebble.Open(dir, &pebble.Options{Logger: quiet{}})
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Set([]byte("x"), []byte("y"), pebble.Sync); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			return dir
		}, storage.ErrNotJournal},
		{"newer format", func(t *testing.T) string {
			dir := t.TempDir()
			p, err := storage.OpenPebble(dir, storage.PebbleOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			db, err := pebble.Open(dir, &pebble.Options{Logger: quiet{}})
			if err != nil {
				t.Fatal(err)
			}
			v := binary.BigEndian.AppendUint64(nil, storage.FormatVersion+1)
			if err := db.Set(storage.FormatKeyForTest, v, pebble.Sync); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			return dir
		}, storage.ErrFormatTooNew},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.setup(t)
			p, err := storage.OpenPebble(path, storage.PebbleOptions{})
			if err == nil {
				_ = p.Close()
				t.Fatalf("OpenPebble(%s) succeeded", path)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("OpenPebble error %q, want %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("OpenPebble error %q does not name %s", err, path)
			}
			t.Logf("error: %v", err)
			if !strings.HasPrefix(err.Error(), "storage: ") {
				t.Errorf("OpenPebble error %q lacks the storage: prefix", err)
			}
		})
	}
}

func TestPebbleOpenFresh(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) string
	}{
		{"missing directory", func(t *testing.T) string { return filepath.Join(t.TempDir(), "a", "b") }},
		{"empty directory", func(t *testing.T) string { return t.TempDir() }},
		{"interrupted creation", func(t *testing.T) string {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "LOCK"), "")
			return dir
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := openPebble(t, tc.setup(t))
			if c, err := p.Count(); err != nil || c != 0 {
				t.Fatalf("Count = %d, %v", c, err)
			}
		})
	}
}

func TestPebbleLogger(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: &buf}, nil))
	p, err := storage.OpenPebble(t.TempDir(), storage.PebbleOptions{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(buf.String(), "created journal") {
		t.Errorf("log output lacks the creation line:\n%s", buf.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// quiet is a pebble.Logger that drops everything, for tests that open
// Pebble directly.
type quiet struct{}

func (quiet) Infof(string, ...any)  {}
func (quiet) Errorf(string, ...any) {}
func (quiet) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// BenchmarkPebbleCommit measures synced commits of 100 data facts each.
func BenchmarkPebbleCommit(b *testing.B) {
	const perBatch = 100
	p := openPebble(b, b.TempDir())
	n := storagetest.NewNetwork(b, p)
	var ms uint64 = 2000
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		raws := make([][]byte, perBatch)
		for k := range raws {
			ms++
			raws[k] = n.Data(0, 0, ms, fmt.Sprintf("k%d", ms), "value")
		}
		batch := n.Build(raws...)
		b.StartTimer()
		if err := p.Commit(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*perBatch)/b.Elapsed().Seconds(), "facts/s")
}
