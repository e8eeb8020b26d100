package store

import (
	"cmp"
	"context"
	"database/sql/driver"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// A new PostgreSQL connection is a new server process: 17–40 ms before its
// first query on a small machine, and a new tenant's store opens three
// (writes, reads, the first write of its seed check). While KeepWarm runs,
// a few connections to the server are kept dialled ahead; a store's pool
// that needs one takes a warm one and sets it to its schema (search_path,
// and read-only for the readers' pool) in one round trip, and the stash is
// filled again behind it.
//
// A connection's first queries on a schema's tables also load the server
// process's caches of them (several milliseconds a table), so a spare
// schema gets connections of its own (Prewarm): dialled to it, its tables
// touched. Renaming the schema (a tenant taking the spare) keeps what
// they loaded — a table is the same table — and the tenant's pools take
// them first.
//
// The generic ones are dialled with an empty search_path: one whose
// setting were ever lost would reach no schema's tables, not the root's.

// warmConns is the connections kept dialled ahead for one server (and
// user, password and options: the dsn but its search_path).
type warmConns struct {
	key  string
	cfg  *pgx.ConnConfig // search_path empty
	root string          // the schema of the first KeepWarm, whose tables the warm-up reads
	kick chan struct{}
	stop context.CancelFunc
	done chan struct{}

	// taken counts the connections handed to stores' pools, missed the
	// times a pool found none and dialled.
	taken, missed atomic.Int64

	users int // KeepWarm calls running, under warms.mu
	want  int // the most they asked for, under warms.mu

	mu     sync.Mutex
	any    []warmConn            // oldest first
	on     map[string][]warmConn // by the schema they were warmed on, as renamed since
	closed bool
}

// warmConn is a connection kept since at.
type warmConn struct {
	c  *stdlib.Conn
	at time.Time
}

const (
	// refillAfter is how long the generic connections wait after the
	// last one was taken before dialling again (at once, the dialling
	// competed for the CPU with the store being opened).
	refillAfter = 200 * time.Millisecond
	// warmMaxIdle is how long a connection is kept unused: a connection
	// idle for long may have been dropped by the network on the way
	// without a word (some drop after 4 minutes), and a query on it would
	// wait for TCP to give up. Older ones are dialled afresh.
	warmMaxIdle = 2 * time.Minute
	// warmOnMax bounds the connections warmed on schemas (the oldest go
	// first): a spare another replica takes leaves its connections here.
	warmOnMax = 16
	// warmSetTimeout bounds setting a taken connection to its schema.
	warmSetTimeout = 3 * time.Second
	// warmDialTimeout bounds dialling and warming up one connection.
	warmDialTimeout = 10 * time.Second
)

var warms = struct {
	mu sync.Mutex
	m  map[string]*warmConns
}{m: map[string]*warmConns{}}

// serverKey is dsn without the settings a connection may change once
// dialled: the same server, user, password and options.
func serverKey(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn
	}
	q := u.Query()
	q.Del("search_path")
	u.RawQuery = q.Encode()
	return u.String()
}

// warmFor is the warm connections of dsn's server, nil when none are kept.
func warmFor(dsn string) *warmConns {
	warms.mu.Lock()
	defer warms.mu.Unlock()
	return warms.m[serverKey(dsn)]
}

// KeepWarm keeps n connections to dsn's server dialled ahead for the
// stores this process opens on it (tenants), and those Prewarm dials, until
// stop is called; the last stop closes those not taken. Calls for one
// server share the connections (the largest n of those running).
func KeepWarm(dsn string, n int) (stop func(), err error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.RuntimeParams["application_name"] = "obsandbox"
	cfg.RuntimeParams["search_path"] = ""
	key := serverKey(dsn)
	warms.mu.Lock()
	w := warms.m[key]
	if w == nil {
		wctx, cancel := context.WithCancel(context.Background())
		w = &warmConns{key: key, cfg: cfg, root: SchemaOf(dsn), kick: make(chan struct{}, 1), stop: cancel,
			done: make(chan struct{}), on: map[string][]warmConn{}}
		warms.m[key] = w
		go w.fill(wctx)
	}
	w.users++
	w.want = max(w.want, min(n, 64))
	warms.mu.Unlock()
	w.poke()
	var once sync.Once
	return func() {
		once.Do(func() {
			warms.mu.Lock()
			w.users--
			last := w.users == 0
			if last {
				delete(warms.m, key)
			}
			warms.mu.Unlock()
			if last {
				w.stop()
				<-w.done
			}
		})
	}, nil
}

func (w *warmConns) poke() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// fill dials the generic connections until there are as many as wanted —
// at the start, after takes (once the takers have gone quiet) — and
// replaces those kept too long; at the end it closes what is kept.
func (w *warmConns) fill(ctx context.Context) {
	defer close(w.done)
	defer func() {
		w.mu.Lock()
		all := w.any
		for _, cs := range w.on {
			all = append(all, cs...)
		}
		w.any, w.on, w.closed = nil, nil, true
		w.mu.Unlock()
		closeAll(all)
	}()
	tick := time.NewTicker(warmMaxIdle / 4)
	defer tick.Stop()
	for first := true; ; first = false {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			w.refresh(ctx)
		case <-w.kick:
			for quiet := time.NewTimer(refillAfter); !first; {
				select {
				case <-ctx.Done():
					quiet.Stop()
					return
				case <-w.kick:
					quiet.Reset(refillAfter)
					continue
				case <-quiet.C:
				}
				break
			}
		}
		warms.mu.Lock()
		want := w.want
		warms.mu.Unlock()
		for w.count() < want && ctx.Err() == nil {
			c, err := w.dial(ctx, w.cfg, w.warmUp())
			if err != nil { // the server is away: the stores dial for themselves meanwhile
				break
			}
			w.mu.Lock()
			w.any = append(w.any, warmConn{c, time.Now()})
			w.mu.Unlock()
		}
	}
}

func (w *warmConns) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.any)
}

// refresh closes the connections kept longer than warmMaxIdle and dials
// their replacements (those warmed on a schema warmed on it again).
func (w *warmConns) refresh(ctx context.Context) {
	cutoff := time.Now().Add(-warmMaxIdle)
	stale := func(c warmConn) bool { return c.at.Before(cutoff) }
	var old []warmConn
	again := map[string]int{}
	w.mu.Lock()
	for _, c := range w.any {
		if stale(c) {
			old = append(old, c)
		}
	}
	w.any = slices.DeleteFunc(w.any, stale)
	for schema, cs := range w.on {
		for _, c := range cs {
			if stale(c) {
				old = append(old, c)
				again[schema]++
			}
		}
		if cs = slices.DeleteFunc(cs, stale); len(cs) == 0 {
			delete(w.on, schema)
		} else {
			w.on[schema] = cs
		}
	}
	w.mu.Unlock()
	closeAll(old)
	for schema, n := range again {
		w.prewarm(ctx, schema, n)
	}
}

// warmUp is what a generic connection runs once dialled: queries of the
// kinds a store's opening runs first (a settings row, the schema's version,
// the statistics a write reads), on the root's tables ("" when its name
// cannot be written as it is).
func (w *warmConns) warmUp() string {
	if !schemaName.MatchString(w.root) {
		return ""
	}
	return `SELECT value FROM "` + w.root + `".settings WHERE key = 'warm';
SELECT coalesce(max(version), 0) FROM "` + w.root + `".schema_version;
SELECT pg_stat_get_xact_tuples_inserted(to_regclass('"` + w.root + `".settings'))`
}

// dial dials cfg and runs script on the new connection (what fails there
// is only not warmed up: it fails again, in its place, when a store needs
// it).
func (w *warmConns) dial(ctx context.Context, cfg *pgx.ConnConfig, script string) (*stdlib.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, warmDialTimeout)
	defer cancel()
	dc, err := stdlib.GetConnector(*cfg).Connect(ctx)
	if err != nil {
		return nil, err
	}
	c := dc.(*stdlib.Conn)
	if script != "" {
		c.Conn().Exec(ctx, script)
	}
	if c.Conn().IsClosed() {
		return nil, errors.New("the connection closed as it was warmed up")
	}
	return c, nil
}

// take is a connection set to cfg's search_path and read-only setting —
// one warmed on that schema first, else a generic one — or nil when none is
// ready. One that fails to take the settings is closed and the next tried.
func (w *warmConns) take(ctx context.Context, cfg *pgx.ConnConfig) driver.Conn {
	schema := cfg.RuntimeParams["search_path"]
	ro := "off"
	if cfg.RuntimeParams["default_transaction_read_only"] == "on" {
		ro = "on"
	}
	for {
		c, generic := w.next(schema)
		if c.c == nil {
			w.missed.Add(1)
			return nil
		}
		if generic {
			w.poke()
		}
		if time.Since(c.at) < warmMaxIdle {
			sctx, cancel := context.WithTimeout(ctx, warmSetTimeout)
			_, err := c.c.Conn().Exec(sctx, "SELECT set_config('search_path', $1, false), set_config('default_transaction_read_only', $2, false)", schema, ro)
			cancel()
			if err == nil {
				w.taken.Add(1)
				return c.c
			}
		}
		c.c.Close()
	}
}

// next takes the newest connection warmed on schema, else the newest
// generic one (generic reports which).
func (w *warmConns) next(schema string) (c warmConn, generic bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if cs := w.on[schema]; len(cs) > 0 {
		c = cs[len(cs)-1]
		if len(cs) == 1 {
			delete(w.on, schema)
		} else {
			w.on[schema] = cs[:len(cs)-1]
		}
		return c, false
	}
	if len(w.any) > 0 {
		c = w.any[len(w.any)-1]
		w.any = w.any[:len(w.any)-1]
	}
	return c, true
}

// Prewarm dials n connections to the schema dsn names and touches its
// tables, for the stores opened on it (or on the name it is renamed to
// through a Catalog) to take first. Nothing when KeepWarm is not running
// for the server.
func Prewarm(ctx context.Context, dsn string, n int) error {
	w := warmFor(dsn)
	if w == nil || n <= 0 {
		return nil
	}
	return w.prewarm(ctx, SchemaOf(dsn), n)
}

func (w *warmConns) prewarm(ctx context.Context, schema string, n int) error {
	cfg := w.cfg.Copy()
	cfg.RuntimeParams["search_path"] = schema
	var script string
	for range n {
		c, err := w.dial(ctx, cfg, script)
		if err != nil {
			return err
		}
		if script == "" { // the first: the schema's tables, read on it
			tctx, cancel := context.WithTimeout(ctx, warmDialTimeout)
			script, err = touchTables(tctx, c.Conn())
			if err == nil {
				_, err = c.Conn().Exec(tctx, script)
			}
			cancel()
			if err != nil {
				c.Close()
				return err
			}
		}
		w.keepOn(schema, c)
	}
	return nil
}

// touchTables is a script that plans a query of each of the schema's
// tables, and resolves their names as a write's row count does.
func touchTables(ctx context.Context, c *pgx.Conn) (string, error) {
	rows, err := c.Query(ctx, "SELECT relname FROM pg_class WHERE relnamespace = CAST(current_schema() AS regnamespace) AND relkind IN ('r', 'p') ORDER BY relname")
	if err != nil {
		return "", err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, n := range names {
		if schemaName.MatchString(n) {
			b.WriteString("SELECT * FROM " + n + " LIMIT 0;\n")
		}
	}
	b.WriteString(changesSQL(names))
	return b.String(), nil
}

// keepOn keeps c as warmed on schema, within warmOnMax (the oldest go).
func (w *warmConns) keepOn(schema string, c *stdlib.Conn) {
	var drop []warmConn
	defer func() { closeAll(drop) }()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		drop = append(drop, warmConn{c: c})
		return
	}
	w.on[schema] = append(w.on[schema], warmConn{c, time.Now()})
	for {
		var n int
		var oldest string
		for s, cs := range w.on {
			n += len(cs)
			if oldest == "" || cs[0].at.Before(w.on[oldest][0].at) {
				oldest = s
			}
		}
		if n <= warmOnMax {
			return
		}
		drop = append(drop, w.on[oldest][0])
		if w.on[oldest] = w.on[oldest][1:]; len(w.on[oldest]) == 0 {
			delete(w.on, oldest)
		}
	}
}

// renamed moves the connections warmed on schema from to its new name.
func renamed(dsn, from, to string) {
	w := warmFor(dsn)
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if cs := w.on[from]; cs != nil {
		delete(w.on, from)
		w.on[to] = append(w.on[to], cs...)
	}
}

// dropped closes the connections warmed on schema.
func dropped(dsn, schema string) {
	w := warmFor(dsn)
	if w == nil {
		return
	}
	w.mu.Lock()
	cs := w.on[schema]
	delete(w.on, schema)
	w.mu.Unlock()
	closeAll(cs)
}

// ForgetWarm closes the connections warmed on the schemas whose names
// start with prefix, but those named in keep (the spares that are still
// there: another replica took or dropped the others).
func ForgetWarm(dsn, prefix string, keep []string) {
	w := warmFor(dsn)
	if w == nil {
		return
	}
	var drop []warmConn
	w.mu.Lock()
	for schema, cs := range w.on {
		if strings.HasPrefix(schema, prefix) && !slices.Contains(keep, schema) {
			drop = append(drop, cs...)
			delete(w.on, schema)
		}
	}
	w.mu.Unlock()
	closeAll(drop)
}

// warmedFirst orders names (schemas) with those this process warmed
// connections on first, each group in its order.
func warmedFirst(dsn string, names []string) []string {
	w := warmFor(dsn)
	if w == nil {
		return names
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	out := slices.Clone(names)
	slices.SortStableFunc(out, func(a, b string) int { return cmp.Compare(len(w.on[b]), len(w.on[a])) })
	return out
}

func closeAll(cs []warmConn) {
	for _, c := range cs {
		c.c.Close()
	}
}
