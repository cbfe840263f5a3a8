//go:build !aura_testmigration

package storage_test

import (
	"testing"

	"github.com/aura-node/aura-node/storage"
)

func TestBuiltinMigrationsTargetFormatVersion(t *testing.T) {
	if got := storage.BuiltinMigrations().Target(); got != storage.FormatVersion {
		t.Fatalf("BuiltinMigrations().Target() = %d, FormatVersion = %d", got, storage.FormatVersion)
	}
}
