package store

import (
	"sync"
)

// memo keeps the results of the hot reads (a token's access, a consent's
// accounts, balances, transaction pages) until the next write: every write
// transaction but the audit trail's and the event outbox's moves the store's
// version on after it commits, and an entry is used only while the version
// it was read at is still the current one. The version is taken before the
// read, so an entry can only ever be older than it says, never newer: a
// write that lands during the read makes it stale at once. Nothing is
// served that a fresh read would not return.
type memo struct {
	mu      sync.Mutex
	m       map[string]memoEntry
	weight  int    // of the entries kept: about one per row
	version uint64 // of every entry kept: older ones can never be used again
}

type memoEntry struct {
	version uint64
	val     any
}

// maxMemoWeight bounds what is kept (about a row each: a page of 50
// transactions weighs 51), some 20 MB at most.
const maxMemoWeight = 50000

// remember returns the value of key read at the current version, reading
// it with load when there is none; weight tells how much it holds.
func remember[T any](s *Store, key string, weight func(T) int, load func() (T, error)) (T, error) {
	if !s.watching() {
		return load() // another process may write unseen: nothing is remembered
	}
	v := s.version.Load()
	s.memo.mu.Lock()
	e, ok := s.memo.m[key]
	s.memo.mu.Unlock()
	if ok && e.version == v {
		return e.val.(T), nil
	}
	val, err := load()
	if err != nil {
		return val, err
	}
	w := 1
	if weight != nil {
		w += weight(val)
	}
	s.memo.mu.Lock()
	defer s.memo.mu.Unlock()
	switch {
	case v < s.memo.version: // a write landed during the read: stale already
		return val, nil
	case v > s.memo.version || s.memo.m == nil || s.memo.weight+w > maxMemoWeight:
		// Start again: cheap, and the entries of older versions, which no
		// read can use any more, go with it — under a stream of writes they
		// were megabytes of garbage kept live, and the collector's work.
		s.memo.m, s.memo.weight, s.memo.version = make(map[string]memoEntry), 0, v
	}
	s.memo.m[key] = memoEntry{v, val}
	s.memo.weight += w
	return val, nil
}
