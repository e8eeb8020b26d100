package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/obsandbox/sandbox/internal/store"
	"github.com/obsandbox/sandbox/internal/store/storetest"
)

// TestConformanceSQLite runs the store's conformance suite on SQLite.
func TestConformanceSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *store.Store {
		s, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "bank.db"), store.Options{Sync: store.SyncNormal})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
