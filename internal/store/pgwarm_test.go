package store_test

import (
	"context"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/keyring"
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
	stop, err := store.KeepWarm(own(root), n)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 20 s", what)
			}
		}
	}
	waitFor("the stash filled", func() bool { return len(store.WarmPIDs(own(root))) == n })

	// (The stash is filled again while the store opens: which connection
	// a pool took is told by the counts, not by the processes.)
	dsn := own(storetest.FreshSchema(t))
	s, err := store.Open(ctx, dsn, store.Options{Small: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, readers := range []bool{false, true} {
		_, schema, ro, err := s.Session(ctx, readers)
		if err != nil {
			t.Fatal(err)
		}
		wantRO := map[bool]string{false: "off", true: "on"}[readers]
		if schema != store.SchemaOf(dsn) || ro != wantRO {
			t.Errorf("readers %v: schema %s, read-only %s; want %s, %s", readers, schema, ro, store.SchemaOf(dsn), wantRO)
		}
	}
	if taken, missed := store.WarmCounts(own(root)); taken < 2 || missed != 0 {
		t.Errorf("the store's pools took %d warm connections and dialled %d times; want its writers' and readers' taken, none dialled", taken, missed)
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
	admin := storetest.Connect(t, root)
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
	// The broken ones taken (each tried, closed, the next tried) and live
	// ones dialled in their place.
	waitFor("live connections in the stash again", func() bool {
		pids := store.WarmPIDs(own(root))
		var alive int
		err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)", pids).Scan(&alive)
		return err == nil && alive == n && len(pids) == n && !slices.ContainsFunc(pids, func(p uint32) bool { return slices.Contains(broken, p) })
	})

	// Connections warmed on a schema follow it through a rename (a spare
	// taken) and serve the store opened on it first; a dropped schema's
	// are closed.
	spare := own(storetest.FreshSchema(t))
	key := keyring.New()
	s3, err := store.Open(ctx, spare, store.Options{Small: true, Key: key}) // migrated, as a spare is
	if err != nil {
		t.Fatal(err)
	}
	s3.Close()
	if err := store.Prewarm(ctx, spare, 2); err != nil {
		t.Fatal(err)
	}
	on := store.WarmOnPIDs(own(root), store.SchemaOf(spare))
	taken := store.SchemaOf(spare) + "_t_x" // dropped with it by the test's cleanup
	if err := s.Catalog().Rename(ctx, store.SchemaOf(spare), taken); err != nil {
		t.Fatal(err)
	}
	if len(on) != 2 || len(store.WarmOnPIDs(own(root), store.SchemaOf(spare))) != 0 || !slices.Equal(store.WarmOnPIDs(own(root), taken), on) {
		t.Fatalf("warmed on the spare %v; after its rename on it %v, on the new name %v", on,
			store.WarmOnPIDs(own(root), store.SchemaOf(spare)), store.WarmOnPIDs(own(root), taken))
	}
	s4, err := store.Open(ctx, store.WithSchema(spare, taken), store.Options{Small: true, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	for _, readers := range []bool{false, true} {
		wantRO := map[bool]string{false: "off", true: "on"}[readers]
		if pid, schema, ro, err := s4.Session(ctx, readers); err != nil || !slices.Contains(on, pid) || schema != taken || ro != wantRO {
			t.Errorf("readers %v of the store on the renamed schema: process %d in schema %s, read-only %s (%v); want one of %v, in %s, %s",
				readers, pid, schema, ro, err, on, taken, wantRO)
		}
	}
	s4.Close()
	if err := store.Prewarm(ctx, store.WithSchema(spare, taken), 1); err != nil {
		t.Fatal(err)
	}
	gone := store.WarmOnPIDs(own(root), taken)
	if err := s.Catalog().Drop(ctx, taken); err != nil {
		t.Fatal(err)
	}
	waitFor("the dropped schema's connections closed", func() bool {
		var alive int
		err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)", gone).Scan(&alive)
		return err == nil && alive == 0 && len(gone) == 1
	})

	// A take prefers a spare this process warmed; the connections on
	// spares no longer there are forgotten (another replica took them).
	base := store.SchemaOf(own(storetest.FreshSchema(t)))
	cat := s.Catalog()
	for _, sp := range []string{base + "_s_a", base + "_s_b", base + "_s_c"} {
		if err := cat.Claim(ctx, sp); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Prewarm(ctx, store.WithSchema(own(root), base+"_s_b"), 1); err != nil {
		t.Fatal(err)
	}
	if err := store.Prewarm(ctx, store.WithSchema(own(root), base+"_s_c"), 1); err != nil {
		t.Fatal(err)
	}
	// Prewarm tops up: one more on _s_c, the first kept.
	first := store.WarmOnPIDs(own(root), base+"_s_c")
	if err := store.Prewarm(ctx, store.WithSchema(own(root), base+"_s_c"), 2); err != nil {
		t.Fatal(err)
	}
	if got := store.WarmOnPIDs(own(root), base+"_s_c"); len(got) != 2 || got[0] != first[0] {
		t.Fatalf("topped up to two: %v (before %v)", got, first)
	}
	var oidC, oidTaken uint32
	if err := admin.QueryRow(ctx, "SELECT oid FROM pg_namespace WHERE nspname = $1", base+"_s_c").Scan(&oidC); err != nil {
		t.Fatal(err)
	}
	if took, err := cat.Take(ctx, base+"_s_", base+"_t_one"); err != nil || !took {
		t.Fatalf("take: %v, %v", took, err)
	}
	if err := admin.QueryRow(ctx, "SELECT oid FROM pg_namespace WHERE nspname = $1", base+"_t_one").Scan(&oidTaken); err != nil || oidTaken != oidC {
		t.Errorf("took the schema %d (%v); want the one with the most warm connections first, %d", oidTaken, err, oidC)
	}
	bpids := store.WarmOnPIDs(own(root), base+"_s_b")
	store.ForgetWarm(own(root), base+"_s_", []string{base + "_s_a"})
	if len(bpids) != 1 || len(store.WarmOnPIDs(own(root), base+"_s_b")) != 0 || len(store.WarmOnPIDs(own(root), base+"_t_one")) != 2 {
		t.Errorf("forgetting the spares but _s_a: on _s_b %v (before %v), on the tenant %v; want none, and the tenant's kept",
			store.WarmOnPIDs(own(root), base+"_s_b"), bpids, store.WarmOnPIDs(own(root), base+"_t_one"))
	}

	// The check keeps what answers and closes the rest: a connection on a
	// schema dropped behind the process's back (another replica), a
	// generic one the server ended; the generic ones are filled again.
	if _, err := admin.Exec(ctx, `DROP SCHEMA "`+base+`_t_one" CASCADE`); err != nil {
		t.Fatal(err)
	}
	if err := store.Prewarm(ctx, store.WithSchema(own(root), base+"_s_a"), 1); err != nil {
		t.Fatal(err)
	}
	onA := store.WarmOnPIDs(own(root), base+"_s_a")
	generic := store.WarmPIDs(own(root))
	if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend($1)", int64(generic[0])); err != nil {
		t.Fatal(err)
	}
	store.CheckWarm(own(root))
	if got := store.WarmOnPIDs(own(root), base+"_t_one"); len(got) != 0 {
		t.Errorf("connections on a dropped schema kept: %v", got)
	}
	if got := store.WarmOnPIDs(own(root), base+"_s_a"); !slices.Equal(got, onA) {
		t.Errorf("connections on a live schema: %v, want %v kept", got, onA)
	}
	if got := store.WarmPIDs(own(root)); slices.Contains(got, generic[0]) {
		t.Errorf("an ended generic connection kept: %v", got)
	}
	waitFor("the stash filled again after the check", func() bool { return len(store.WarmPIDs(own(root))) == n })
	store.ForgetWarm(own(root), base+"_s_", nil)

	// A take whose caller has gone closes nothing it did not try.
	quit, cancel := context.WithCancel(ctx)
	cancel()
	before := store.WarmPIDs(own(root))
	if store.TakeWarm(quit, own(root), store.SchemaOf(dsn)) {
		t.Error("a take for a caller gone handed a connection out")
	}
	if got := store.WarmPIDs(own(root)); !slices.Equal(got, before) {
		t.Errorf("a take for a caller gone: stash %v, want %v untouched", got, before)
	}

	// A cold store (a spare being made) takes none of them.
	waitFor("the stash filled again", func() bool { return len(store.WarmPIDs(own(root))) == n })
	stash := store.WarmPIDs(own(root))
	tk, ms := store.WarmCounts(own(root))
	cold, err := store.Open(ctx, own(storetest.FreshSchema(t)), store.Options{Small: true, Cold: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, readers := range []bool{false, true} {
		if pid, _, _, err := cold.Session(ctx, readers); err != nil || slices.Contains(stash, pid) {
			t.Errorf("a cold store's connection: process %d (%v), one of the stash %v", pid, err, stash)
		}
	}
	if t2, m2 := store.WarmCounts(own(root)); t2 != tk || m2 != ms {
		t.Errorf("a cold store took %d warm connections and missed %d", t2-tk, m2-ms)
	}
	cold.Close()

	// Bounded: the oldest go first.
	a, b := own(storetest.FreshSchema(t)), own(storetest.FreshSchema(t))
	for _, sc := range []string{a, b} {
		if err := cat.Claim(ctx, store.SchemaOf(sc)); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Prewarm(ctx, a, 2); err != nil {
		t.Fatal(err)
	}
	old := store.WarmOnPIDs(own(root), store.SchemaOf(a))
	if err := store.Prewarm(ctx, b, store.WarmOnMax); err != nil {
		t.Fatal(err)
	}
	if n, m := len(store.WarmOnPIDs(own(root), store.SchemaOf(a))), len(store.WarmOnPIDs(own(root), store.SchemaOf(b))); n != 0 || m != store.WarmOnMax {
		t.Fatalf("beyond the bound: %d warmed on the older schema, %d on the newer; want 0 and %d", n, m, store.WarmOnMax)
	}
	waitFor("the oldest closed", func() bool {
		var alive int
		err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)", old).Scan(&alive)
		return err == nil && alive == 0 && len(old) == 2
	})
	// Stopped: what the stash holds is closed.
	waitFor("the stash filled again", func() bool { return len(store.WarmPIDs(own(root))) == n })
	left := append(store.WarmPIDs(own(root)), store.WarmOnPIDs(own(root), store.SchemaOf(b))...)
	stop()
	waitFor("the warm connections closed", func() bool {
		var alive int
		err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)", left).Scan(&alive)
		return err == nil && alive == 0
	})
}
