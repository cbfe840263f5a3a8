package launcher

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

func TestSwitchLink(t *testing.T) {
	dir := t.TempDir()
	for _, id := range []string{"a", "b", "b", "a"} {
		if err := switchLink(dir, CurrentLink, id); err != nil {
			t.Fatal(err)
		}
		got, err := readLink(filepath.Join(dir, CurrentLink))
		if err != nil || got != id {
			t.Fatalf("current = %q, %v; want %q", got, err, id)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temporary links left behind: %v", ents)
	}
	if err := removeLink(dir, CurrentLink); err != nil {
		t.Fatal(err)
	}
	if got, err := readLink(filepath.Join(dir, CurrentLink)); got != "" || err != nil {
		t.Fatalf("after remove: %q, %v", got, err)
	}
	// A link pointing outside releases/ is refused.
	if err := os.Symlink("../etc", filepath.Join(dir, PreviousLink)); err != nil {
		t.Fatal(err)
	}
	if _, err := readLink(filepath.Join(dir, PreviousLink)); err == nil {
		t.Fatal("readLink accepted a link out of the releases folder")
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.json")
	for _, v := range []string{"one", "two"} {
		if err := writeFileAtomic(p, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != v {
			t.Fatalf("content %q, want %q", b, v)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temporary files left behind: %v", ents)
	}
}

func TestCheckReleaseID(t *testing.T) {
	for _, ok := range []string{"initial", "v2", "1.2.3-rc.1", strings.Repeat("ab", 32)} {
		if err := CheckReleaseID(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", ".hidden", "-x", "a/b", "../x", "current", "previous", "a b", "é", strings.Repeat("a", MaxReleaseID+1)} {
		if err := CheckReleaseID(bad); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%q: err = %v, want ErrBadRequest", bad, err)
		}
	}
}

// fillPebble writes n keys "k<i>" with value v into a Pebble database in
// dir and closes it.
func fillPebble(t *testing.T, dir string, n int, v string) {
	t.Helper()
	db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleLogger{testLogger(t)}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := db.Set([]byte("k"+string(rune('a'+i%26))+strings.Repeat("x", i/26)), []byte(v), pebble.Sync); err != nil {
			t.Fatal(err)
		}
		if i == n/2 {
			if err := db.Flush(); err != nil { // some tables, some WAL
				t.Fatal(err)
			}
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// pebbleValues reads every key of the database in dir.
func pebbleValues(t *testing.T, dir string) map[string]string {
	t.Helper()
	db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleLogger{testLogger(t)}, ErrorIfNotExists: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	it, err := db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	out := map[string]string{}
	for ok := it.First(); ok; ok = it.Next() {
		out[string(it.Key())] = string(it.Value())
	}
	return out
}

func TestCheckpointAndRestore(t *testing.T) {
	home := t.TempDir()
	lay := Layout{Home: home}
	fillPebble(t, lay.data(), 100, "before")
	want := pebbleValues(t, lay.data())
	if len(want) != 100 {
		t.Fatalf("%d keys", len(want))
	}
	ckpt := lay.checkpoint("a")
	if err := takeCheckpoint(lay.data(), ckpt, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	// Taking it again replaces it.
	if err := takeCheckpoint(lay.data(), ckpt, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	fillPebble(t, lay.data(), 120, "after") // the new release writes

	// A restore interrupted after moving data/ aside, then run again,
	// gives the checkpoint's data, and leaves the checkpoint intact.
	crashed := func() (panicked bool) {
		defer func() { panicked = recover() != nil }()
		restoreCheckpoint(ckpt, lay.data(), lay.restoreData(), lay.failedData(), func(p string) {
			if p == "data-moved-aside" {
				panic("crash")
			}
		})
		return false
	}()
	if !crashed {
		t.Fatal("crash point not reached")
	}
	if _, err := os.Stat(lay.data()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("data/ after the crash: %v", err)
	}
	for range 2 {
		if err := restoreCheckpoint(ckpt, lay.data(), lay.restoreData(), lay.failedData(), func(string) {}); err != nil {
			t.Fatal(err)
		}
		got := pebbleValues(t, lay.data())
		if len(got) != len(want) || got["ka"] != "before" {
			t.Fatalf("restored %d keys (ka=%q), want %d of \"before\"", len(got), got["ka"], len(want))
		}
		fillPebble(t, lay.data(), 5, "again") // writes to the restored copy
	}
	if got := pebbleValues(t, ckpt); got["ka"] != "before" {
		t.Fatalf("checkpoint changed by the restored copy: ka=%q", got["ka"])
	}
	if _, err := os.Stat(lay.restoreData()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("restore temporary left: %v", err)
	}

	// A data directory without a database checkpoints as empty and
	// restores to an empty directory.
	empty := t.TempDir()
	if err := takeCheckpoint(filepath.Join(empty, "nothing"), filepath.Join(empty, "ck"), testLogger(t)); err != nil {
		t.Fatal(err)
	}
	if err := restoreCheckpoint(filepath.Join(empty, "ck"), filepath.Join(empty, "data"), filepath.Join(empty, "r"), filepath.Join(empty, "f"), func(string) {}); err != nil {
		t.Fatal(err)
	}
	if ents, err := os.ReadDir(filepath.Join(empty, "data")); err != nil || len(ents) != 0 {
		t.Fatalf("restored empty checkpoint: %v, %v", ents, err)
	}
}

func TestCheckpointRefusesOpenDatabase(t *testing.T) {
	home := t.TempDir()
	lay := Layout{Home: home}
	fillPebble(t, lay.data(), 3, "x")
	db, err := pebble.Open(lay.data(), &pebble.Options{Logger: pebbleLogger{testLogger(t)}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := takeCheckpoint(lay.data(), lay.checkpoint("a"), testLogger(t)); err == nil {
		t.Fatal("checkpoint of a database a node holds open succeeded")
	}
}

func TestCopyTreeLinksOnlyImmutableFiles(t *testing.T) {
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "copy")
	for _, n := range []string{"000001.sst", "MANIFEST-000001", "000002.log"} {
		if err := os.WriteFile(filepath.Join(src, n), []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := copyTree(src, dst); err != nil {
		t.Fatal(err)
	}
	for n, linked := range map[string]bool{"000001.sst": true, "MANIFEST-000001": false, "000002.log": false} {
		a, _ := os.Stat(filepath.Join(src, n))
		b, err := os.Stat(filepath.Join(dst, n))
		if err != nil {
			t.Fatal(err)
		}
		if os.SameFile(a, b) != linked {
			t.Errorf("%s: linked = %v, want %v", n, os.SameFile(a, b), linked)
		}
	}
}
