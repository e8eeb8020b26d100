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
	t.Parallel()
	storetest.Run(t, func(t *testing.T) *store.Store {
		s, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "bank.db"), store.Options{Sync: store.SyncNormal})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestConformancePostgres runs the store's conformance suite on
// PostgreSQL, a fresh schema for each test, when SANDBOX_TEST_POSTGRES
// names a server.
func TestConformancePostgres(t *testing.T) {
	t.Parallel()
	storetest.Postgres(t)
	storetest.Run(t, func(t *testing.T) *store.Store {
		s, err := store.Open(context.Background(), storetest.FreshSchema(t), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
