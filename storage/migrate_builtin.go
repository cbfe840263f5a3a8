//go:build !aura_testmigration

package storage

// builtinSteps is the production storage format history: none yet, so
// this build writes and reads format 1 (FormatVersion). A new format adds
// its step here, raises FormatVersion, and lists the step in the release
// manifest's migrations.
func builtinSteps() []Migration { return nil }
