package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/obsandbox/sandbox/internal/store"
	"github.com/obsandbox/sandbox/internal/store/storetest"
)

// TestTakeTokenBesideQueuedWrites: while another replica holds the
// schema's write lock, writes queue on it holding every connection of the
// writers' pool; a request's rate limit is still taken at once, not after
// them (the replicas would otherwise each fall back to a bucket of their
// own and admit a burst three times over).
func TestTakeTokenBesideQueuedWrites(t *testing.T) {
	t.Parallel()
	root := storetest.Postgres(t)
	ctx := context.Background()
	s, err := store.Open(ctx, storetest.FreshSchema(t), store.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	other, err := pgx.Connect(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	key := store.WriteLockKey(s)
	if _, err := other.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 2 { // as many as the pool has
		wg.Go(func() {
			if err := s.SetSetting(ctx, "queued", string(rune('a'+i))); err != nil {
				t.Error(err)
			}
		})
	}
	for waiting, deadline := 0, time.Now().Add(10*time.Second); waiting < 2; {
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued on the write lock after 10 s, want 2", waiting)
		}
		err := other.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
			AND ((classid::bigint << 32) | objid::bigint) = $1`, key).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	tctx, cancel := context.WithTimeout(ctx, time.Second)
	ok, left, err := s.TakeToken(tctx, "data\x00client", 5, 10, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cancel()
	if _, err := other.Exec(ctx, "SELECT pg_advisory_unlock($1)", key); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err != nil || !ok || left != 9 {
		t.Fatalf("take with every writer queued: ok %v, %v left, %v; want taken at once, 9 left", ok, left, err)
	}
}

// TestPoolsOfATenant: a PostgreSQL server's connections are shared by every
// replica and every tenant open in each; a tenant's store (Small) opens at
// most two a pool and one aside, whatever the root's --db-max-conns.
func TestPoolsOfATenant(t *testing.T) {
	t.Parallel()
	storetest.Postgres(t)
	ctx := context.Background()
	for _, tt := range []struct {
		o                    store.Options
		w, r, aside, catalog int
	}{
		{store.Options{}, 8, 8, 4, 2},
		{store.Options{MaxConns: 20}, 20, 20, 4, 2},
		{store.Options{Small: true, MaxConns: 20}, 2, 2, 1, 2},
		{store.Options{Small: true, MaxConns: 1}, 1, 1, 1, 2},
	} {
		s, err := store.Open(ctx, storetest.FreshSchema(t), tt.o)
		if err != nil {
			t.Fatal(err)
		}
		w, r, aside, catalog := store.PoolLimits(s)
		if got, want := [4]int{w, r, aside, catalog}, [4]int{tt.w, tt.r, tt.aside, tt.catalog}; got != want {
			t.Errorf("%+v: pools of %v connections (writers, readers, rate limits, catalog), want %v", tt.o, got, want)
		}
		s.Close()
	}
}

// TestCatalogCallsAreBounded: a catalog call that cannot finish (a drop
// waiting on a lock another session holds) gives up at its deadline and
// frees its connection, rather than holding up the tenants being made.
func TestCatalogCallsAreBounded(t *testing.T) {
	t.Parallel()
	root := storetest.Postgres(t)
	ctx := context.Background()
	s, dsn := storetest.OpenFresh(t, store.Options{})
	victim := store.SchemaOf(dsn) + "_t_locked"
	if err := s.Catalog().Claim(ctx, victim); err != nil {
		t.Fatal(err)
	}
	holder := storetest.Connect(t, root)
	tx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `CREATE TABLE "`+victim+`".held (x int); LOCK TABLE "`+victim+`".held IN ACCESS SHARE MODE`); err != nil {
		t.Fatal(err)
	}
	cat := store.CatalogWithin(s, 300*time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- cat.Drop(ctx, victim) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the drop went through a lock it needed")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the catalog call outlived its deadline")
	}
	// Its connection is free again: the next calls answer.
	if n := store.CatalogInUse(s); n != 0 {
		t.Errorf("%d catalog connections still in use after the call gave up", n)
	}
	for range 3 {
		if _, err := cat.Exists(ctx, victim); err != nil {
			t.Fatalf("a catalog call after one gave up: %v", err)
		}
	}
}
