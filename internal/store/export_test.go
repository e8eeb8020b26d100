package store

import (
	"context"
	"time"
)

// Forget makes everything remembered stale, as a write does.
func Forget(s *Store) { s.version.Add(1) }

// WriterSync is the writer connection's synchronous setting (0 OFF, 1
// NORMAL, 2 FULL).
func (s *Store) WriterSync(ctx context.Context) (int, error) {
	var n int
	err := s.w.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&n)
	return n, err
}

// Remembered is how many entries the memo keeps.
func Remembered(s *Store) int {
	s.memo.mu.Lock()
	defer s.memo.mu.Unlock()
	return len(s.memo.m)
}

// WriteLockKey is the PostgreSQL advisory lock every write of s takes.
func WriteLockKey(s *Store) int64 { return s.pg.lock }

// PoolLimits is how many connections each PostgreSQL pool of s may open:
// writers, readers, rate limits, catalog.
func PoolLimits(s *Store) (w, r, aside, catalog int) {
	return s.w.Stats().MaxOpenConnections, s.r.Stats().MaxOpenConnections, s.pg.aside.Stats().MaxOpenConnections,
		s.pg.catalog.Stats().MaxOpenConnections
}

// SameHub reports whether a and b listen through one connection.
func SameHub(a, b *Store) bool { return a.pg.watch.hub == b.pg.watch.hub }

// WarmPIDs is the server processes of the connections kept dialled ahead
// for dsn's server (KeepWarm), not taken.
func WarmPIDs(dsn string) []uint32 {
	w := warmFor(dsn)
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return pidsOf(w.any)
}

// WarmCounts is how many connections stores' pools took from the warm
// ones of dsn's server, and how many times they found none and dialled.
func WarmCounts(dsn string) (taken, missed int64) {
	w := warmFor(dsn)
	if w == nil {
		return 0, 0
	}
	return w.taken.Load(), w.missed.Load()
}

func pidsOf(cs []warmConn) []uint32 {
	var pids []uint32
	for _, c := range cs {
		pids = append(pids, c.c.Conn().PgConn().PID())
	}
	return pids
}

// Session is what a connection of s's writers' (or readers') pool says of
// itself: its server process, schema and read-only setting.
func (s *Store) Session(ctx context.Context, readers bool) (pid uint32, schema, readOnly string, err error) {
	db := s.w
	if readers {
		db = s.r
	}
	err = db.QueryRowContext(ctx, "SELECT pg_backend_pid(), current_schema(), current_setting('default_transaction_read_only')").Scan(&pid, &schema, &readOnly)
	return pid, schema, readOnly, err
}

// WarmOnPIDs is the server processes of the connections warmed on schema
// (Prewarm), not taken.
func WarmOnPIDs(dsn, schema string) []uint32 {
	w := warmFor(dsn)
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return pidsOf(w.on[schema])
}

// WarmOnMax bounds the connections warmed on schemas.
const WarmOnMax = warmOnMax

// ChangesSQL is the query that counts a transaction's changed rows in the
// tables named, on PostgreSQL.
func ChangesSQL(names []string) string { return changesSQL(names) }

// CatalogWithin is s.Catalog with each call bounded by d.
func CatalogWithin(s *Store, d time.Duration) Catalog { return s.catalogWithin(d) }

// TakeWarm takes a warm connection of dsn's server for schema, as a
// store's pool does, and closes it; false when none was taken.
func TakeWarm(ctx context.Context, dsn, schema string) bool {
	w := warmFor(dsn)
	if w == nil {
		return false
	}
	cfg := w.cfg.Copy()
	cfg.RuntimeParams["search_path"] = schema
	c := w.take(ctx, cfg)
	if c != nil {
		c.Close()
	}
	return c != nil
}

// CheckWarm checks every warm connection of dsn's server now.
func CheckWarm(dsn string) {
	if w := warmFor(dsn); w != nil {
		w.check(context.Background(), 0)
	}
}

// CatalogInUse is how many of the catalog's connections are in use.
func CatalogInUse(s *Store) int { return s.pg.catalog.Stats().InUse }

// BankTables are the tables a bank template holds.
var BankTables = bankTables
