package storage_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aura-node/aura-node/storage"
)

// stateKey is the raw key of state entry k ('s' table), so test
// migrations write entries GetState reads back.
func stateKey(k string) []byte { return append([]byte{'s'}, k...) }

// setStep is a migration from -> from+1 that writes state entry key=value.
func setStep(from uint32, key, value string) storage.Migration {
	return storage.Migration{
		From: from, To: from + 1, Name: fmt.Sprintf("set %s", key),
		Execute: func(w *storage.MigrationWriter) error {
			return w.Set(stateKey(key), []byte(value))
		},
		Rollback: func(w *storage.MigrationWriter) error {
			return w.Delete(stateKey(key))
		},
	}
}

func mustRegistry(t *testing.T, base uint32, steps ...storage.Migration) *storage.Migrations {
	t.Helper()
	m, err := storage.NewMigrations(base, steps...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func open(t *testing.T, dir string, reg *storage.Migrations) *storage.Pebble {
	t.Helper()
	p, err := storage.OpenPebble(dir, storage.PebbleOptions{Migrations: reg})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func format(t *testing.T, p *storage.Pebble) uint32 {
	t.Helper()
	f, err := p.Format()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func state(t *testing.T, p *storage.Pebble, key string) string {
	t.Helper()
	v, ok, err := p.GetState([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return "<none>"
	}
	return string(v)
}

func TestNewMigrationsRejects(t *testing.T) {
	exec := func(*storage.MigrationWriter) error { return nil }
	for name, c := range map[string]struct {
		base  uint32
		steps []storage.Migration
		want  string
	}{
		"base zero":    {0, nil, "base format 0"},
		"gap":          {1, []storage.Migration{{From: 2, To: 3, Name: "x", Execute: exec}}, "from 2, want 1"},
		"two steps":    {1, []storage.Migration{{From: 1, To: 3, Name: "x", Execute: exec}}, "1 -> 3"},
		"no execute":   {1, []storage.Migration{{From: 1, To: 2, Name: "x"}}, "no Execute"},
		"empty name":   {1, []storage.Migration{{From: 1, To: 2, Execute: exec}}, "name of 0 bytes"},
		"bad name":     {1, []storage.Migration{{From: 1, To: 2, Name: "Add/Index", Execute: exec}}, "[a-z0-9 ._-]"},
		"out of order": {1, []storage.Migration{{From: 1, To: 2, Name: "a", Execute: exec}, {From: 3, To: 4, Name: "b", Execute: exec}}, "from 3, want 2"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := storage.NewMigrations(c.base, c.steps...)
			if !errors.Is(err, storage.ErrBadMigrations) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want ErrBadMigrations mentioning %q", err, c.want)
			}
		})
	}
}

func TestNewJournalIsStampedWithTarget(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	p := open(t, dir, mustRegistry(t, 1, setStep(1, "a", "1"), setStep(2, "b", "2")))
	defer p.Close()
	if f := format(t, p); f != 3 {
		t.Fatalf("format = %d, want 3", f)
	}
	if m := p.Migrated(); len(m) != 0 {
		t.Fatalf("a new journal ran migrations %v", m)
	}
	if got := state(t, p, "a"); got != "<none>" {
		t.Fatalf("a new journal ran step 1: a = %s", got)
	}
}

func TestMigrationsRunOnceInOrder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	p := open(t, dir, mustRegistry(t, 1))
	p.Close()

	var order []string
	step := func(from uint32, key string) storage.Migration {
		s := setStep(from, key, "v"+key)
		exec := s.Execute
		s.Validate = func(r *storage.MigrationReader) error {
			order = append(order, "validate "+key)
			return nil
		}
		s.Execute = func(w *storage.MigrationWriter) error {
			order = append(order, "execute "+key)
			return exec(w)
		}
		return s
	}
	reg := mustRegistry(t, 1, step(1, "a"), step(2, "b"))
	p = open(t, dir, reg)
	want := []storage.AppliedMigration{{From: 1, To: 2, Name: "set a"}, {From: 2, To: 3, Name: "set b"}}
	if got := p.Migrated(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Migrated = %v, want %v", got, want)
	}
	if !reflect.DeepEqual(order, []string{"validate a", "execute a", "validate b", "execute b"}) {
		t.Fatalf("order = %v", order)
	}
	if f := format(t, p); f != 3 {
		t.Fatalf("format = %d, want 3", f)
	}
	if a, b := state(t, p, "a"), state(t, p, "b"); a != "va" || b != "vb" {
		t.Fatalf("a = %s, b = %s", a, b)
	}
	p.Close()

	order = nil
	p = open(t, dir, reg)
	defer p.Close()
	if len(p.Migrated()) != 0 || len(order) != 0 {
		t.Fatalf("second open ran %v (%v)", p.Migrated(), order)
	}
	h, err := p.MigrationHistory()
	if err != nil || !reflect.DeepEqual(h, want) {
		t.Fatalf("MigrationHistory = %v, %v; want %v", h, err, want)
	}
}

func TestMigrationFailureLeavesFormat(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	open(t, dir, mustRegistry(t, 1)).Close()

	boom := errors.New("boom")
	// Step 2 writes, then fails: its writes must not land; step 1 stays.
	bad := storage.Migration{From: 2, To: 3, Name: "half",
		Execute: func(w *storage.MigrationWriter) error {
			if err := w.Set(stateKey("half"), []byte("x")); err != nil {
				return err
			}
			// Reads see the step's own writes.
			if v, ok, err := w.Get(stateKey("half")); err != nil || !ok || string(v) != "x" {
				return fmt.Errorf("read own write: %q %v %v", v, ok, err)
			}
			return boom
		}}
	_, err := storage.OpenPebble(dir, storage.PebbleOptions{Migrations: mustRegistry(t, 1, setStep(1, "a", "1"), bad)})
	if !errors.Is(err, storage.ErrMigrationFailed) || !errors.Is(err, boom) {
		t.Fatalf("err = %v, want ErrMigrationFailed wrapping boom", err)
	}

	// A failing Validate writes nothing either.
	invalid := setStep(2, "b", "2")
	invalid.Validate = func(*storage.MigrationReader) error { return boom }
	invalid.Execute = func(*storage.MigrationWriter) error { t.Fatal("Execute after failed Validate"); return nil }
	if _, err := storage.OpenPebble(dir, storage.PebbleOptions{Migrations: mustRegistry(t, 1, setStep(1, "a", "1"), invalid)}); !errors.Is(err, storage.ErrMigrationFailed) {
		t.Fatalf("err = %v, want ErrMigrationFailed", err)
	}

	// The journal is at format 2: a build of format 2 opens it.
	p := open(t, dir, mustRegistry(t, 1, setStep(1, "a", "1")))
	if f := format(t, p); f != 2 {
		t.Fatalf("format = %d, want 2", f)
	}
	if got := state(t, p, "half"); got != "<none>" {
		t.Fatalf("failed step's write landed: %s", got)
	}
	p.Close()

	// A fixed step 2 runs, once, and only it.
	p = open(t, dir, mustRegistry(t, 1, setStep(1, "a", "1"), setStep(2, "b", "2")))
	defer p.Close()
	if got := p.Migrated(); !reflect.DeepEqual(got, []storage.AppliedMigration{{From: 2, To: 3, Name: "set b"}}) {
		t.Fatalf("Migrated = %v", got)
	}
}

func TestMigrationFormatBounds(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	open(t, dir, mustRegistry(t, 1, setStep(1, "a", "1"), setStep(2, "b", "2"))).Close()
	// A build of format 2 refuses format 3.
	if _, err := storage.OpenPebble(dir, storage.PebbleOptions{Migrations: mustRegistry(t, 1, setStep(1, "a", "1"))}); !errors.Is(err, storage.ErrFormatTooNew) {
		t.Fatalf("err = %v, want ErrFormatTooNew", err)
	}

	old := filepath.Join(t.TempDir(), "old")
	open(t, old, mustRegistry(t, 1)).Close()
	// A build that migrates only from format 2 refuses format 1.
	if _, err := storage.OpenPebble(old, storage.PebbleOptions{Migrations: mustRegistry(t, 2, setStep(2, "b", "2"))}); !errors.Is(err, storage.ErrFormatTooOld) {
		t.Fatalf("err = %v, want ErrFormatTooOld", err)
	}
}

func TestMigrationMayNotWriteFramework(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	open(t, dir, mustRegistry(t, 1)).Close()
	sneaky := storage.Migration{From: 1, To: 2, Name: "sneaky",
		Execute: func(w *storage.MigrationWriter) error {
			return w.Set(storage.FormatKeyForTest, []byte{0, 0, 0, 0, 0, 0, 0, 9})
		}}
	if _, err := storage.OpenPebble(dir, storage.PebbleOptions{Migrations: mustRegistry(t, 1, sneaky)}); !errors.Is(err, storage.ErrMigrationFailed) {
		t.Fatalf("err = %v, want ErrMigrationFailed", err)
	}
}

func TestMigrateDown(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	open(t, dir, mustRegistry(t, 1)).Close()
	reg := mustRegistry(t, 1, setStep(1, "a", "1"), setStep(2, "b", "2"))
	open(t, dir, reg).Close()

	done, err := storage.MigrateDown(dir, 1, storage.PebbleOptions{Migrations: reg})
	want := []storage.AppliedMigration{{From: 2, To: 3, Name: "set b"}, {From: 1, To: 2, Name: "set a"}}
	if err != nil || !reflect.DeepEqual(done, want) {
		t.Fatalf("MigrateDown = %v, %v; want %v", done, err, want)
	}
	p := open(t, dir, mustRegistry(t, 1))
	if f := format(t, p); f != 1 {
		t.Fatalf("format = %d, want 1", f)
	}
	if a := state(t, p, "a"); a != "<none>" {
		t.Fatalf("a = %s after rollback", a)
	}
	if h, _ := p.MigrationHistory(); len(h) != 0 {
		t.Fatalf("history after rollback: %v", h)
	}
	p.Close()

	// Without a Rollback on the way, nothing is undone.
	noRollback := setStep(2, "b", "2")
	noRollback.Rollback = nil
	reg = mustRegistry(t, 1, setStep(1, "a", "1"), noRollback)
	open(t, dir, reg).Close()
	if _, err := storage.MigrateDown(dir, 1, storage.PebbleOptions{Migrations: reg}); !errors.Is(err, storage.ErrNoRollback) {
		t.Fatalf("err = %v, want ErrNoRollback", err)
	}
	p = open(t, dir, reg)
	defer p.Close()
	if f := format(t, p); f != 3 {
		t.Fatalf("format = %d after refused rollback, want 3", f)
	}
}
