package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// Migration is one step of the storage format: it rewrites a journal in
// format From into format To = From+1. Steps run in order, each once, when
// OpenPebble finds a journal older than the build's format; each step's
// writes, the new format version and the step's history record are one
// synced Pebble batch, so a crash leaves the journal in format From or To,
// never between.
type Migration struct {
	// From and To are the formats before and after; To must be From+1.
	From, To uint32
	// Name says what the step does ("add author index", ...):
	// [a-z0-9 ._-], 1 to MaxMigrationName bytes. It is recorded in the
	// journal and in MigrationApplied facts.
	Name string
	// Validate, if set, checks that the journal can be migrated before
	// anything is written; an error leaves the journal untouched and
	// OpenPebble fails with ErrMigrationFailed.
	Validate func(r *MigrationReader) error
	// Execute makes the step's changes. Its writes are buffered and
	// committed together with the format bump; an error discards them.
	Execute func(w *MigrationWriter) error
	// Rollback, if set, undoes Execute in place (format To back to From),
	// for MigrateDown. Without it, going back across the step means
	// restoring a checkpoint taken before it (the launcher does this on
	// every rollback).
	Rollback func(w *MigrationWriter) error
}

// MaxMigrationName bounds a migration's name.
const MaxMigrationName = 128

// AppliedMigration records a migration step that ran on this journal.
type AppliedMigration struct {
	From, To uint32
	Name     string
}

// Migration errors.
var (
	// ErrMigrationFailed reports a migration step whose Validate or
	// Execute failed; the journal stays in the step's From format.
	ErrMigrationFailed = errors.New("storage: migration failed")
	// ErrFormatTooOld reports a journal older than the oldest format this
	// build can migrate from.
	ErrFormatTooOld = errors.New("storage: database format is older than this build can migrate")
	// ErrNoRollback reports a MigrateDown across a step without Rollback.
	ErrNoRollback = errors.New("storage: migration has no rollback")
	// ErrBadMigrations reports an invalid migration registry.
	ErrBadMigrations = errors.New("storage: invalid migration registry")
)

// Migrations is an ordered registry of migration steps: a base format and
// the steps that lead from it, one version at a time, to Target.
type Migrations struct {
	base  uint32
	steps []Migration
}

// NewMigrations checks and builds a registry: base >= 1, steps contiguous
// from base (steps[0].From == base, each To == From+1 and the next From),
// names valid, Execute set.
func NewMigrations(base uint32, steps ...Migration) (*Migrations, error) {
	if base < 1 {
		return nil, fmt.Errorf("%w: base format %d, want >= 1", ErrBadMigrations, base)
	}
	at := base
	for i, s := range steps {
		switch {
		case s.From != at:
			return nil, fmt.Errorf("%w: step %d (%q) migrates from %d, want %d", ErrBadMigrations, i, s.Name, s.From, at)
		case s.To != s.From+1:
			return nil, fmt.Errorf("%w: step %d (%q) migrates %d -> %d, want one version", ErrBadMigrations, i, s.Name, s.From, s.To)
		case s.Execute == nil:
			return nil, fmt.Errorf("%w: step %d (%q) has no Execute", ErrBadMigrations, i, s.Name)
		}
		if err := checkMigrationName(s.Name); err != nil {
			return nil, fmt.Errorf("%w: step %d: %w", ErrBadMigrations, i, err)
		}
		at = s.To
	}
	return &Migrations{base: base, steps: append([]Migration(nil), steps...)}, nil
}

func checkMigrationName(name string) error {
	if name == "" || len(name) > MaxMigrationName {
		return fmt.Errorf("migration name of %d bytes, want 1 to %d", len(name), MaxMigrationName)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune(" ._-", r)) {
			return fmt.Errorf("migration name %q: want [a-z0-9 ._-]", name)
		}
	}
	return nil
}

// Base returns the oldest format the registry migrates from.
func (m *Migrations) Base() uint32 { return m.base }

// Target returns the format the registry migrates to: the format this
// build writes.
func (m *Migrations) Target() uint32 {
	if len(m.steps) == 0 {
		return m.base
	}
	return m.steps[len(m.steps)-1].To
}

// Steps returns the steps in order.
func (m *Migrations) Steps() []Migration { return append([]Migration(nil), m.steps...) }

// BuiltinMigrations returns the storage format history of this build: the
// registry OpenPebble uses when PebbleOptions.Migrations is nil. Its
// Target is FormatVersion.
func BuiltinMigrations() *Migrations {
	m, err := NewMigrations(1, builtinSteps()...)
	if err != nil {
		panic("storage: builtin migrations: " + err.Error()) // a broken build
	}
	return m
}

// MigrationReader reads the raw keys of a journal being migrated. Keys
// are as doc.go lays them out (first byte the table).
type MigrationReader struct {
	r pebble.Reader
}

// Get returns a copy of key's value.
func (r *MigrationReader) Get(key []byte) ([]byte, bool, error) {
	v, closer, err := r.r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := bytes.Clone(v)
	return out, true, closer.Close()
}

// Scan calls fn with every key in [lower, upper) in order (upper nil: to
// the end) until fn returns an error. key and value are valid only during
// the call.
func (r *MigrationReader) Scan(lower, upper []byte, fn func(key, value []byte) error) (err error) {
	it, err := r.r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := it.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		if err := fn(it.Key(), v); err != nil {
			return err
		}
	}
	return nil
}

// MigrationWriter is a MigrationReader whose reads see its own buffered
// writes, plus Set and Delete. Nothing is written until the step commits.
type MigrationWriter struct {
	MigrationReader
	b *pebble.Batch
}

// Set buffers a write of key. The format version and the migration
// history are the framework's; a step may not write them.
func (w *MigrationWriter) Set(key, value []byte) error {
	if err := checkMigrationKey(key); err != nil {
		return err
	}
	return w.b.Set(key, value, nil)
}

// Delete buffers a deletion of key.
func (w *MigrationWriter) Delete(key []byte) error {
	if err := checkMigrationKey(key); err != nil {
		return err
	}
	return w.b.Delete(key, nil)
}

func checkMigrationKey(key []byte) error {
	if bytes.Equal(key, metaKey(metaFormat)) || bytes.HasPrefix(key, metaKey(metaMigration)) {
		return fmt.Errorf("storage: a migration may not write %q (the framework records formats)", key)
	}
	return nil
}

// metaMigration prefixes the history records: m "migration/" to(be32) ->
// from(be32) name.
const metaMigration = "migration/"

func migrationKey(to uint32) []byte {
	return binary.BigEndian.AppendUint32(metaKey(metaMigration), to)
}

func encodeApplied(a AppliedMigration) []byte {
	v := binary.BigEndian.AppendUint32(nil, a.From)
	return append(v, a.Name...)
}

// readFormat returns the stored format version; checkFormat has stamped
// every journal it accepts.
func (p *Pebble) readFormat() (uint32, error) {
	v, ok, err := p.get(metaKey(metaFormat))
	if err != nil {
		return 0, err
	}
	if !ok || len(v) != 8 {
		return 0, fmt.Errorf("%w: %s: no valid format version", ErrCorrupt, p.dir)
	}
	n := binary.BigEndian.Uint64(v)
	if n > uint64(^uint32(0)) {
		return 0, fmt.Errorf("%w: %s: format version %d", ErrCorrupt, p.dir, n)
	}
	return uint32(n), nil
}

// migrate runs, in order, every step of reg from the journal's format up
// to reg.Target(), each in one synced batch, and records what ran in
// p.migrated.
func (p *Pebble) migrate(reg *Migrations) error {
	cur, err := p.readFormat()
	if err != nil {
		return err
	}
	if cur == reg.Target() {
		return nil
	}
	if cur < reg.Base() {
		return fmt.Errorf("%w: %s has storage format %d, this build migrates from %d; open it with an older aura-node first",
			ErrFormatTooOld, p.dir, cur, reg.Base())
	}
	for _, s := range reg.steps {
		if s.From < cur {
			continue
		}
		if err := p.runStep(s); err != nil {
			return err
		}
		p.migrated = append(p.migrated, AppliedMigration{From: s.From, To: s.To, Name: s.Name})
		p.log.Info("storage migration applied", slog.Int("from", int(s.From)), slog.Int("to", int(s.To)), slog.String("name", s.Name))
	}
	return nil
}

func (p *Pebble) runStep(s Migration) error {
	fail := func(phase string, err error) error {
		return fmt.Errorf("%w: %s: step %d -> %d (%s): %s: %w", ErrMigrationFailed, p.dir, s.From, s.To, s.Name, phase, err)
	}
	if s.Validate != nil {
		if err := s.Validate(&MigrationReader{r: p.db}); err != nil {
			return fail("validate", err)
		}
	}
	b := p.db.NewIndexedBatch()
	defer b.Close()
	w := &MigrationWriter{MigrationReader: MigrationReader{r: b}, b: b}
	if err := s.Execute(w); err != nil {
		return fail("execute", err)
	}
	if err := b.Set(metaKey(metaFormat), binary.BigEndian.AppendUint64(nil, uint64(s.To)), nil); err != nil {
		return fail("commit", err)
	}
	if err := b.Set(migrationKey(s.To), encodeApplied(AppliedMigration{From: s.From, To: s.To, Name: s.Name}), nil); err != nil {
		return fail("commit", err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fail("commit", err)
	}
	return nil
}

// Format returns the journal's storage format version.
func (p *Pebble) Format() (uint32, error) {
	if err := p.lock(); err != nil {
		return 0, err
	}
	defer p.mu.RUnlock()
	return p.readFormat()
}

// Migrated returns the migration steps this OpenPebble ran, in order. The
// node records each as a MigrationApplied fact.
func (p *Pebble) Migrated() []AppliedMigration {
	return append([]AppliedMigration(nil), p.migrated...)
}

// MigrationHistory returns every migration step recorded in the journal,
// in order, including those run by earlier opens. A node that crashed
// after a migration but before recording its fact finds it here.
func (p *Pebble) MigrationHistory() ([]AppliedMigration, error) {
	if err := p.lock(); err != nil {
		return nil, err
	}
	defer p.mu.RUnlock()
	prefix := metaKey(metaMigration)
	var out []AppliedMigration
	err := p.scan(prefix, prefixEnd(prefix), false, func(k, v []byte) (bool, error) {
		if len(k) != len(prefix)+4 || len(v) < 4 {
			return false, fmt.Errorf("%w: %s: migration record %x", ErrCorrupt, p.dir, k)
		}
		out = append(out, AppliedMigration{
			From: binary.BigEndian.Uint32(v),
			To:   binary.BigEndian.Uint32(k[len(prefix):]),
			Name: string(v[4:]),
		})
		return true, nil
	})
	return out, err
}

// MigrateDown rolls the journal in dir back to format to, undoing steps
// of reg (default BuiltinMigrations) in reverse with their Rollback. It
// refuses, before writing anything, if a step on the way has no Rollback
// (ErrNoRollback: restore a checkpoint taken before the migration
// instead). It does not migrate up first. Each step commits with its format bump, so a crash leaves a
// journal that a build of that format opens. It returns the steps undone.
func MigrateDown(dir string, to uint32, opts PebbleOptions) ([]AppliedMigration, error) {
	reg := opts.Migrations
	if reg == nil {
		reg = BuiltinMigrations()
	}
	if to < reg.Base() {
		return nil, fmt.Errorf("%w: cannot go below format %d", ErrFormatTooOld, reg.Base())
	}
	opts.Migrations, opts.noMigrate = reg, true
	p, err := OpenPebble(dir, opts)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	cur, err := p.Format()
	if err != nil {
		return nil, err
	}
	var undo []Migration
	for i := len(reg.steps) - 1; i >= 0; i-- {
		s := reg.steps[i]
		if s.To > cur || s.From < to {
			continue
		}
		if s.Rollback == nil {
			return nil, fmt.Errorf("%w: step %d -> %d (%s); restore a checkpoint taken before it", ErrNoRollback, s.From, s.To, s.Name)
		}
		undo = append(undo, s)
	}
	var done []AppliedMigration
	for _, s := range undo {
		b := p.db.NewIndexedBatch()
		w := &MigrationWriter{MigrationReader: MigrationReader{r: b}, b: b}
		err := s.Rollback(w)
		if err == nil {
			err = b.Set(metaKey(metaFormat), binary.BigEndian.AppendUint64(nil, uint64(s.From)), nil)
		}
		if err == nil {
			err = b.Delete(migrationKey(s.To), nil)
		}
		if err == nil {
			err = b.Commit(pebble.Sync)
		}
		b.Close()
		if err != nil {
			return done, fmt.Errorf("%w: %s: rollback %d -> %d (%s): %w", ErrMigrationFailed, dir, s.To, s.From, s.Name, err)
		}
		done = append(done, AppliedMigration{From: s.From, To: s.To, Name: s.Name})
		p.log.Info("storage migration rolled back", slog.Int("from", int(s.To)), slog.Int("to", int(s.From)), slog.String("name", s.Name))
	}
	return done, nil
}
