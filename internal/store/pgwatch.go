package store

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Replicas learn of each other's writes through LISTEN/NOTIFY. Every write
// transaction of the bank's state notifies its schema's channel as it
// commits (pg_notify is delivered at commit, and not at all on rollback);
// each store listens on a connection of its own and, for a write another
// replica made, moves its version on: what it remembered (see memo) is
// stale at once. A change of a setting names the key, and what the
// sandbox keeps of it in memory (the clock offset, the scenarios) is read
// again by the callbacks OnSetting registered. While the listening
// connection is down nothing is remembered at all, and when it is back
// everything is read afresh, settings included.

type watcher struct {
	live   atomic.Bool
	cancel context.CancelFunc
	done   chan struct{}

	mu        sync.Mutex
	onSetting map[string][]func(string)
}

func (s *Store) channel() string { return "sandbox_" + s.pg.schema }

// notifySQL is what a write transaction runs first on PostgreSQL: the
// schema's write lock, and the notice of the commit to come.
const notifySQL = "SELECT pg_advisory_xact_lock(?), pg_notify(?, ?)"

func (s *Store) startWatch() *watcher {
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{cancel: cancel, done: make(chan struct{}), onSetting: map[string][]func(string){}}
	ready := make(chan struct{})
	go func() {
		defer close(w.done)
		var once sync.Once
		for ctx.Err() == nil {
			s.listen(ctx, w, func() { once.Do(func() { close(ready) }) })
			once.Do(func() { close(ready) })
			select {
			case <-ctx.Done():
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
	}
	return w
}

// listen holds one listening connection until it fails or ctx ends.
func (s *Store) listen(ctx context.Context, w *watcher, ready func()) {
	conn, err := pgx.ConnectConfig(ctx, s.pg.cfg)
	if err != nil {
		return
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `LISTEN "`+s.channel()+`"`); err != nil {
		return
	}
	w.live.Store(true)
	defer w.live.Store(false)
	// Whatever changed while nobody listened is read afresh.
	s.version.Add(1)
	w.fireAll(ctx, s)
	ready()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return
		}
		origin, what, _ := strings.Cut(n.Payload, " ")
		if origin == s.pg.origin() {
			continue
		}
		s.version.Add(1)
		if key, ok := strings.CutPrefix(what, "setting:"); ok {
			w.fire(ctx, s, key)
		}
	}
}

func (w *watcher) fire(ctx context.Context, s *Store, key string) {
	w.mu.Lock()
	fs := w.onSetting[key]
	w.mu.Unlock()
	if len(fs) == 0 {
		return
	}
	v, err := s.Setting(ctx, key)
	if err != nil {
		v = ""
	}
	for _, f := range fs {
		f(v)
	}
}

func (w *watcher) fireAll(ctx context.Context, s *Store) {
	w.mu.Lock()
	keys := make([]string, 0, len(w.onSetting))
	for k := range w.onSetting {
		keys = append(keys, k)
	}
	w.mu.Unlock()
	for _, k := range keys {
		w.fire(ctx, s, k)
	}
}

func (w *watcher) stop() {
	w.cancel()
	<-w.done
}

// OnSetting registers f to be called with a setting's new value when
// another process sharing the database changes it ("" when it was
// removed), and when the store reconnects after losing touch. SQLite has
// one process per database: f is never called.
func (s *Store) OnSetting(key string, f func(value string)) {
	if s.pg == nil || s.pg.watch == nil {
		return
	}
	w := s.pg.watch
	w.mu.Lock()
	w.onSetting[key] = append(w.onSetting[key], f)
	w.mu.Unlock()
}

// Shared reports whether other processes may share the database (a
// PostgreSQL store).
func (s *Store) Shared() bool { return s.pg != nil }

// watching reports whether what the store remembers can be trusted: always
// on SQLite, while the listener is up on PostgreSQL.
func (s *Store) watching() bool {
	return s.pg == nil || (s.pg.watch != nil && s.pg.watch.live.Load())
}
