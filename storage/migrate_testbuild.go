//go:build aura_testmigration

package storage

// builtinSteps, in builds tagged aura_testmigration only, adds one real
// step 1 -> 2 so process tests can exercise a release that migrates the
// journal: a build of format 1 refuses the migrated journal
// (ErrFormatTooNew) until the launcher restores the checkpoint taken
// before cutover. Production builds never carry this tag.
func builtinSteps() []Migration {
	return []Migration{{
		From: 1,
		To:   2,
		Name: "test build marker",
		Execute: func(w *MigrationWriter) error {
			return w.Set(metaKey("test-migration"), []byte("format 2 written by a test build"))
		},
		Rollback: func(w *MigrationWriter) error {
			return w.Delete(metaKey("test-migration"))
		},
	}}
}
