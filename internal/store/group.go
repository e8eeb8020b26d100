package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
)

// Group commit (SQLite). Every write is a transaction on the one writer
// connection, and with synchronous=FULL each commit waits for the disk.
// Writes that arrive while a commit is under way queue; the next leader
// runs all of them in one transaction, each inside a savepoint of its own —
// a write that fails (or panics) is rolled back alone and told so, the
// others go on — and commits once: one sync for the group. A write is
// committed when its call returns nil, exactly as before; only its
// neighbours in the transaction changed.
//
// A write, once queued, runs to its end even if its caller's context is
// cancelled meanwhile (the writer connection does not interrupt statements:
// in SQLite an interrupted write inside a transaction rolls the whole
// transaction back, its neighbours' work too). A cancelled caller's next
// statement fails instead, and its savepoint is rolled back.

// maxGroup bounds the writes of one transaction (its latency).
const maxGroup = 64

type groupWrite struct {
	ctx      context.Context
	sync     string
	f        func(*sql.Tx) error
	err      error
	panicked any
	done     chan struct{}
}

type committer struct {
	mu      sync.Mutex
	queue   []*groupWrite
	leading bool
	commits atomic.Int64 // transactions run for groups
}

// queued is how many writes wait for the next group.
func (s *Store) queued() int {
	s.group.mu.Lock()
	defer s.group.mu.Unlock()
	return len(s.group.queue)
}

// leadingNow reports whether a group is being run.
func (s *Store) leadingNow() bool {
	s.group.mu.Lock()
	defer s.group.mu.Unlock()
	return s.group.leading
}

// commitGrouped runs f in a write transaction shared with the writes queued
// beside it, and returns once that transaction has committed (nil) or f's
// work was rolled back (its error).
func (s *Store) commitGrouped(ctx context.Context, sync string, f func(*sql.Tx) error) error {
	w := &groupWrite{ctx: ctx, sync: sync, f: f, done: make(chan struct{})}
	g := &s.group
	g.mu.Lock()
	g.queue = append(g.queue, w)
	lead := !g.leading
	g.leading = true
	g.mu.Unlock()
	if lead {
		s.lead()
	}
	<-w.done
	if w.panicked != nil {
		panic(w.panicked)
	}
	return w.err
}

// lead commits the next group, then hands the lead on if writes are
// waiting (to a new goroutine: the leader's own caller is answered now).
func (s *Store) lead() {
	g := &s.group
	g.mu.Lock()
	n := min(len(g.queue), maxGroup)
	batch := g.queue[:n:n]
	g.queue = g.queue[n:]
	g.mu.Unlock()
	s.runGroup(batch)
	g.mu.Lock()
	more := len(g.queue) > 0
	g.leading = more
	g.mu.Unlock()
	if more {
		go s.lead()
	}
}

// runGroup runs the writes of batch in one transaction and tells each how
// it ended.
func (s *Store) runGroup(batch []*groupWrite) {
	defer func() {
		for _, w := range batch {
			close(w.done)
		}
	}()
	fail := func(err error) {
		for _, w := range batch {
			if w.err == nil && w.panicked == nil {
				w.err = err
			}
		}
	}
	sync := SyncNormal
	for _, w := range batch {
		if w.sync == SyncFull {
			sync = SyncFull // the strongest asked for
		}
	}
	s.group.commits.Add(1)
	ctx := context.Background() // the group's, not one caller's
	conn, err := s.w.Conn(ctx)
	if err != nil {
		fail(translate(err))
		return
	}
	defer conn.Close()
	err = s.commitOn(ctx, conn, sync, func(_ *sql.Conn, tx *sql.Tx) error {
		if len(batch) == 1 { // alone: no savepoint needed
			w := batch[0]
			w.panicked, w.err = runWrite(w, tx)
			if w.panicked != nil {
				return fmt.Errorf("panic: %v", w.panicked)
			}
			return w.err
		}
		for _, w := range batch {
			if _, err := tx.ExecContext(ctx, "SAVEPOINT grouped"); err != nil {
				return err
			}
			w.panicked, w.err = runWrite(w, tx)
			if w.err != nil || w.panicked != nil {
				if _, err := tx.ExecContext(ctx, "ROLLBACK TO grouped"); err != nil {
					return err
				}
			}
			// Also tells whether the transaction is still whole: a
			// statement SQLite had to abort rolls it all back, and then
			// there is no savepoint to release.
			if _, err := tx.ExecContext(ctx, "RELEASE grouped"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		fail(err)
	}
}

// runWrite runs one write's work, turning its panic into a value.
func runWrite(w *groupWrite, tx *sql.Tx) (panicked any, err error) {
	defer func() {
		if p := recover(); p != nil {
			panicked = p
		}
	}()
	return nil, translate(w.f(tx))
}
