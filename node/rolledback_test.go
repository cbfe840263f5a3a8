package node

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/aura-node/aura-node/storage"
)

// TestRolledBackJournalIsImported: after a launcher rollback restores an
// older data checkpoint, the facts of the journal it set aside come back
// through the pipeline, so nothing written since the cutover is lost.
func TestRolledBackJournalIsImported(t *testing.T) {
	ctx := context.Background()
	tn := newTestNet(t, 2)
	home := Home{Dir: t.TempDir()}
	aside, err := storage.OpenPebble(filepath.Join(home.Dir, RolledBackDir), storage.PebbleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	writer := tn.addNode(1, aside)
	if _, err := writer.PutData(ctx, "app", "after-cutover", []byte("kept")); err != nil {
		t.Fatal(err)
	}
	writer.Close()
	aside.Close()

	restored := tn.addNode(0, storage.NewMemory())
	if _, err := restored.GetData(ctx, "app", "after-cutover"); err == nil {
		t.Fatal("the restored node already has the fact")
	}
	restored.importRolledBack(ctx, home, quietLogger())
	if v, err := restored.GetData(ctx, "app", "after-cutover"); err != nil || string(v.Value) != "kept" {
		t.Fatalf("after import: %v %v", v, err)
	}
	if _, err := os.Stat(filepath.Join(home.Dir, RolledBackDir+".imported")); err != nil {
		t.Fatalf("the imported journal was not renamed: %v", err)
	}
}
