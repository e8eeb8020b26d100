package store

// Forget makes everything remembered stale, as a write does.
func Forget(s *Store) { s.version.Add(1) }
