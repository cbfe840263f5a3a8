package storage_test

import (
	"testing"

	"github.com/aura-node/aura-node/storage"
	"github.com/aura-node/aura-node/storage/storagetest"
)

func TestMemory(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Journal { return storage.NewMemory() })
}
