package store_test

import (
	"context"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/obsandbox/sandbox/internal/store"
	"github.com/obsandbox/sandbox/internal/store/storetest"
)

// TestWarmConnections: while KeepWarm runs, a store opened on the server
// takes connections dialled ahead, each set to the store's schema, the
// readers' read-only; the stash fills again behind it; a warm connection
// that broke meanwhile costs a store nothing but a dial; when KeepWarm
// ends, what it held is closed.
func TestWarmConnections(t *testing.T) {
	t.Parallel()
	root := storetest.Postgres(t)
	ctx := context.Background()
	// A server key of its own (the stash is shared by every store of the
	// process on one server): the other tests' stores take none of it.
	own := func(dsn string) string {
		u, _ := url.Parse(dsn)
		q := u.Query()
		q.Set("connect_timeout", "17")
		u.RawQuery = q.Encode()
		return u.String()
	}
	const n = 6
	kctx, stop := context.WithCancel(ctx)
	kept := make(chan error, 1)
	go func() { kept <- store.KeepWarm(kctx, own(root), n) }()
	defer func() { stop(); <-kept }()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 20 s", what)
			}
		}
	}
	waitFor("the stash filled", func() bool { return len(store.WarmPIDs(own(root))) == n })
	warm := store.WarmPIDs(own(root))

	dsn := own(storetest.FreshSchema(t))
	s, err := store.Open(ctx, dsn, store.Options{Small: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, readers := range []bool{false, true} {
		pid, schema, ro, err := s.Session(ctx, readers)
		if err != nil {
			t.Fatal(err)
		}
		wantRO := map[bool]string{false: "off", true: "on"}[readers]
		if !slices.Contains(warm, pid) || schema != store.SchemaOf(dsn) || ro != wantRO {
			t.Errorf("readers %v: process %d (warm: %v), schema %s, read-only %s; want a warm one, %s, %s",
				readers, pid, warm, schema, ro, store.SchemaOf(dsn), wantRO)
		}
	}
	if err := s.SetSetting(ctx, "k", "v"); err != nil {
		t.Fatalf("a write through a warm connection: %v", err)
	}
	if v, err := s.Setting(ctx, "k"); err != nil || v != "v" {
		t.Fatalf("read back through a warm connection: %q, %v", v, err)
	}
	waitFor("the stash filled again", func() bool { return len(store.WarmPIDs(own(root))) == n })

	// Every warm connection broken (the server restarted them): a store
	// opens as without them.
	admin, err := pgx.Connect(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	broken := store.WarmPIDs(own(root))
	for _, pid := range broken {
		if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend($1)", int64(pid)); err != nil {
			t.Fatal(err)
		}
	}
	s2, err := store.Open(ctx, own(storetest.FreshSchema(t)), store.Options{Small: true})
	if err != nil {
		t.Fatalf("open beside broken warm connections: %v", err)
	}
	if _, _, _, err := s2.Session(ctx, true); err != nil {
		t.Fatal(err)
	}
	s2.Close()

	// Stopped: what the stash holds is closed.
	waitFor("the stash filled again", func() bool { return len(store.WarmPIDs(own(root))) == n })
	left := store.WarmPIDs(own(root))
	stop()
	if err := <-kept; err != nil {
		t.Fatal(err)
	}
	kept <- nil
	waitFor("the warm connections closed", func() bool {
		var alive int
		err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)", left).Scan(&alive)
		return err == nil && alive == 0
	})
}
