package store

import "context"

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
