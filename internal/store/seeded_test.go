package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/obsandbox/sandbox/fixtures"
	"github.com/obsandbox/sandbox/internal/store"
	"github.com/obsandbox/sandbox/seed"
)

// seeded opens a store in a temporary file and builds the fixture personas
// plus psus generated PSUs into it from seedN; closed when the test ends.
func seeded(tb testing.TB, seedN uint64, psus int) (*store.Store, *fixtures.Fixtures) {
	tb.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, filepath.Join(tb.TempDir(), "bank.db"), store.Options{Sync: store.SyncNormal})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	fx, err := fixtures.Load()
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := seed.Run(ctx, s, fx, seed.Options{Seed: seedN, PSUs: psus}); err != nil {
		tb.Fatal(err)
	}
	return s, fx
}
