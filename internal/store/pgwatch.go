package store

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/obsandbox/sandbox/internal/bank"
)

// Replicas learn of each other's writes through LISTEN/NOTIFY. Every write
// transaction of the bank's state notifies its schema's channel as it
// commits (pg_notify is delivered at commit, and not at all on rollback);
// each store listens (on its process's connection to the server, a hub)
// and, for a write another replica made, moves its version on: what it
// remembered (see memo) is stale at once. A change of a setting names the
// key, and what the sandbox keeps of it in memory (the clock offset, the
// scenarios) is read again by the callbacks OnSetting registered. While
// the listening connection is down nothing is remembered at all, and when
// it is back everything is read afresh, settings included.

type watcher struct {
	live  atomic.Bool
	hub   *hub
	ready chan struct{} // closed once the hub first tried to listen for it
	once  sync.Once
	// told is held while the hub tells the store anything; stopped, set
	// under it, ends the telling: nothing reaches a store once its Close
	// has begun.
	told    sync.Mutex
	stopped bool

	// The setting callbacks run on the store's own goroutine (work), not
	// the hub's: a slow one holds up no other store. pending is the keys
	// to tell it of (all: every key registered).
	mu        sync.Mutex
	onSetting map[string][]func(string)
	pending   map[string]bool
	all       bool
	wake      chan struct{}
	quit      context.CancelFunc
	gone      chan struct{}
}

func (s *Store) channel() string { return "sandbox_" + s.pg.schema }

// notifySQL is what a write transaction runs first on PostgreSQL: the
// schema's write lock, and the notice of the commit to come.
const notifySQL = "SELECT pg_advisory_xact_lock(?), pg_notify(?, ?)"

// One listening connection per server serves every store of this process
// on it — the root and each tenant open — as a hub: a server has few
// connections to give (max_connections), and a connection per open tenant
// spent one on each.
type hub struct {
	key    string
	cfg    *pgx.ConnConfig
	refs   int // under hubs.mu
	cancel context.CancelFunc
	done   chan struct{}
	kick   chan struct{} // the stores changed: listen again

	mu     sync.Mutex
	stores map[*Store]*watcher
}

type listener struct {
	s *Store
	w *watcher
}

var hubs = struct {
	mu sync.Mutex
	m  map[string]*hub
}{m: map[string]*hub{}}

func (s *Store) startWatch() *watcher {
	c := s.pg.cfg
	key := serverKey(s.pg.dsn) // the same server, user, password and options: one listener serves them
	hubs.mu.Lock()
	h := hubs.m[key]
	if h == nil {
		ctx, cancel := context.WithCancel(context.Background())
		h = &hub{key: key, cfg: c, cancel: cancel, done: make(chan struct{}), kick: make(chan struct{}, 1), stores: map[*Store]*watcher{}}
		hubs.m[key] = h
		go h.run(ctx)
	}
	h.refs++
	hubs.mu.Unlock()
	wctx, quit := context.WithCancel(context.Background())
	w := &watcher{hub: h, ready: make(chan struct{}), onSetting: map[string][]func(string){}, pending: map[string]bool{},
		wake: make(chan struct{}, 1), quit: quit, gone: make(chan struct{})}
	go w.work(wctx, s)
	s.pg.watch = w
	h.mu.Lock()
	h.stores[s] = w
	h.mu.Unlock()
	h.poke()
	select {
	case <-w.ready:
	case <-time.After(5 * time.Second):
	}
	return w
}

// stop takes s off its hub, and ends the hub when it was the last.
func (w *watcher) stop(s *Store) {
	w.told.Lock()
	w.stopped = true
	w.told.Unlock()
	w.quit()
	<-w.gone
	h := w.hub
	h.mu.Lock()
	delete(h.stores, s)
	h.mu.Unlock()
	w.live.Store(false)
	hubs.mu.Lock()
	h.refs--
	last := h.refs == 0
	if last {
		delete(hubs.m, h.key)
	}
	hubs.mu.Unlock()
	if last {
		h.cancel()
		<-h.done
	} else {
		h.poke()
	}
}

func (h *hub) poke() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

func (h *hub) run(ctx context.Context) {
	defer close(h.done)
	for ctx.Err() == nil {
		h.listen(ctx)
		h.mu.Lock()
		for _, w := range h.stores { // nothing remembered is trusted until back
			w.live.Store(false)
			w.once.Do(func() { close(w.ready) })
		}
		h.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// listen holds the listening connection until it fails or ctx ends: it
// listens on each store's channel, and hands each notice to the stores of
// its channel.
func (h *hub) listen(ctx context.Context) {
	conn, err := pgx.ConnectConfig(ctx, h.cfg)
	if err != nil {
		return
	}
	defer conn.Close(context.WithoutCancel(ctx))
	listening := map[string]bool{}
	for {
		h.mu.Lock()
		stores := make(map[string][]listener, len(h.stores))
		for s, w := range h.stores {
			stores[s.channel()] = append(stores[s.channel()], listener{s, w})
		}
		h.mu.Unlock()
		for ch := range listening {
			if stores[ch] == nil {
				if _, err := conn.Exec(ctx, `UNLISTEN "`+ch+`"`); err != nil {
					return
				}
				delete(listening, ch)
			}
		}
		for ch, ls := range stores {
			if !listening[ch] {
				if _, err := conn.Exec(ctx, `LISTEN "`+ch+`"`); err != nil {
					return
				}
				listening[ch] = true
			}
			for _, l := range ls {
				l.w.tell(func() {
					if !l.w.live.Load() {
						// Whatever changed while nobody listened is read
						// afresh: stale before trusted.
						l.s.version.Add(1)
						l.w.live.Store(true)
						l.w.queue("")
					}
				})
				l.w.once.Do(func() { close(l.w.ready) })
			}
		}
		// Wait for a notice, or for the stores to change (a wait cut
		// short by its deadline leaves the connection usable: pgconn).
		wctx, cancel := context.WithCancel(ctx)
		var kicked atomic.Bool
		go func() {
			select {
			case <-h.kick:
				if wctx.Err() != nil { // this wait is over: the kick is the next one's
					h.poke()
					return
				}
				kicked.Store(true)
				cancel()
			case <-wctx.Done():
			}
		}()
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil && kicked.Load() && !conn.IsClosed() {
				continue
			}
			return
		}
		origin, what, _ := strings.Cut(n.Payload, " ")
		for _, l := range stores[n.Channel] {
			if origin == l.s.pg.origin() {
				continue
			}
			l.w.tell(func() {
				l.s.version.Add(1)
				if keys, ok := strings.CutPrefix(what, "setting:"); ok {
					for key := range strings.SplitSeq(keys, ",") { // one notice may name several
						l.w.queue(key)
					}
				}
			})
		}
	}
}

// tell runs f unless the store has begun closing.
func (w *watcher) tell(f func()) {
	w.told.Lock()
	defer w.told.Unlock()
	if !w.stopped {
		f()
	}
}

// queue has the store's goroutine tell its callbacks of key ("": of
// every key).
func (w *watcher) queue(key string) {
	w.mu.Lock()
	if key == "" {
		w.all = true
	} else {
		w.pending[key] = true
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// work tells the store's setting callbacks what queue asked for, each key
// with the value it has when told, until ctx ends.
func (w *watcher) work(ctx context.Context, s *Store) {
	defer close(w.gone)
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		}
		w.mu.Lock()
		keys := w.pending
		if w.all {
			for k := range w.onSetting {
				keys[k] = true
			}
		}
		w.pending, w.all = map[string]bool{}, false
		w.mu.Unlock()
		var retry []string
		for _, key := range toldInOrder(keys) {
			w.mu.Lock()
			fs := w.onSetting[key]
			w.mu.Unlock()
			if len(fs) == 0 {
				continue
			}
			v, err := s.Setting(ctx, key)
			if ctx.Err() != nil {
				return
			}
			if err != nil && !errors.Is(err, bank.ErrNotFound) {
				retry = append(retry, key) // unread is not removed: told once it can be read
				continue
			}
			for _, f := range fs {
				f(v)
			}
		}
		if len(retry) > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
			for _, key := range retry {
				w.queue(key)
			}
		}
	}
}

// toldInOrder is keys in the order their callbacks are told: the sandbox
// clock's offset first — a reset's other settings, and the bank it
// brought, are then used on the clock it set back — then by name.
func toldInOrder(keys map[string]bool) []string {
	return slices.SortedFunc(maps.Keys(keys), func(a, b string) int {
		if (a == "clock_offset") != (b == "clock_offset") {
			if a == "clock_offset" {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
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
