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
	any    []warmConn            // taken from the end: the most recently dialled or checked
	on     map[string][]warmConn // by the schema they were warmed on, as renamed since
	closed bool
}

// warmConn is a connection kept since at, last known alive at checked.
type warmConn struct {
	c           *stdlib.Conn
	at, checked time.Time
}

const (
	// refillAfter is how long the generic connections wait after the
	// last one was taken before dialling again (at once, the dialling
	// competed for the CPU with the store being opened).
	refillAfter = 200 * time.Millisecond
	// warmCheckAfter is how long a kept connection goes unchecked: one
	// idle for long may have been dropped by the network on the way
	// without a word (some drop after 4 minutes), and a query on it would
	// wait for TCP to give up. A check (a round trip, within
	// warmSetTimeout) keeps it alive on the way too; one that fails it, or
	// whose schema is gone (taken or dropped by another replica), is
	// closed.
	warmCheckAfter = time.Minute
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
	tick := time.NewTicker(warmCheckAfter / 2)
	defer tick.Stop()
	for first := true; ; first = false {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			w.check(ctx, warmCheckAfter)
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
			now := time.Now()
			w.mu.Lock()
			w.any = append(w.any, warmConn{c, now, now})
			w.mu.Unlock()
		}
	}
}

func (w *warmConns) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.any)
}

// check checks the connections unchecked for longer than after: those
// that answer are kept (the generic ones; those warmed on a schema that
// still exists), the others closed, and the generic ones filled again.
func (w *warmConns) check(ctx context.Context, after time.Duration) {
	cutoff := time.Now().Add(-after)
	due := func(c warmConn) bool { return !c.checked.After(cutoff) }
	type onConn struct {
		schema string
		c      warmConn
	}
	var checking []onConn // schema "" for a generic one
	w.mu.Lock()
	for _, c := range w.any {
		if due(c) {
			checking = append(checking, onConn{"", c})
		}
	}
	w.any = slices.DeleteFunc(w.any, due)
	for schema, cs := range w.on {
		for _, c := range cs {
			if due(c) {
				checking = append(checking, onConn{schema, c})
			}
		}
		if cs = slices.DeleteFunc(cs, due); len(cs) == 0 {
			delete(w.on, schema)
		} else {
			w.on[schema] = cs
		}
	}
	w.mu.Unlock()
	var gone []warmConn
	for _, oc := range checking {
		cctx, cancel := context.WithTimeout(ctx, warmSetTimeout)
		var ok bool
		err := oc.c.c.Conn().QueryRow(cctx, "SELECT $1 = '' OR to_regnamespace($1) IS NOT NULL", oc.schema).Scan(&ok)
		cancel()
		if err != nil || !ok {
			gone = append(gone, oc.c)
			continue
		}
		oc.c.checked = time.Now()
		if oc.schema == "" {
			w.mu.Lock()
			w.any = append(w.any, oc.c)
			w.mu.Unlock()
		} else {
			w.keep(oc.schema, oc.c)
		}
	}
	closeAll(gone)
	if len(gone) > 0 {
		w.poke()
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
	// Within warmSetTimeout in all, whatever the caller's context: a
	// caller gone meanwhile must not cost the connections tried.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), warmSetTimeout)
	defer cancel()
	for ctx.Err() == nil && sctx.Err() == nil {
		c, generic := w.next(schema)
		if c.c == nil {
			break
		}
		if generic {
			w.poke()
		}
		_, err := c.c.Conn().Exec(sctx, "SELECT set_config('search_path', $1, false), set_config('default_transaction_read_only', $2, false)", schema, ro)
		if err == nil {
			w.taken.Add(1)
			return c.c
		}
		c.c.Close()
	}
	w.missed.Add(1)
	return nil
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

// Prewarm keeps n connections warmed on the schema dsn names — dialled to
// it, its tables touched — dialling those missing, for the stores opened on
// it (or on the name it is renamed to through a Catalog) to take first.
// Nothing when KeepWarm is not running for the server.
func Prewarm(ctx context.Context, dsn string, n int) error {
	w := warmFor(dsn)
	if w == nil {
		return nil
	}
	schema := SchemaOf(dsn)
	w.mu.Lock()
	n -= len(w.on[schema])
	w.mu.Unlock()
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
		now := time.Now()
		w.keep(schema, warmConn{c, now, now})
	}
	return nil
}

// touchTables is a script that plans a query of each of the schema's
// tables, and resolves their names as a write's row count does; an error
// when the schema is not there.
func touchTables(ctx context.Context, c *pgx.Conn) (string, error) {
	var schema *string
	if err := c.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return "", err
	}
	if schema == nil {
		return "", errors.New("no schema " + c.Config().RuntimeParams["search_path"])
	}
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

// keep keeps c as warmed on schema, within warmOnMax (the oldest go).
func (w *warmConns) keep(schema string, c warmConn) {
	var drop []warmConn
	defer func() { closeAll(drop) }()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		drop = append(drop, c)
		return
	}
	w.on[schema] = append(w.on[schema], c)
	for {
		var n int
		var oldest string
		var at time.Time
		for s, cs := range w.on {
			n += len(cs)
			for _, c := range cs {
				if oldest == "" || c.at.Before(at) {
					oldest, at = s, c.at
				}
			}
		}
		if n <= warmOnMax {
			return
		}
		cs := w.on[oldest]
		i := slices.IndexFunc(cs, func(c warmConn) bool { return c.at.Equal(at) })
		drop = append(drop, cs[i])
		if cs = slices.Delete(cs, i, i+1); len(cs) == 0 {
			delete(w.on, oldest)
		} else {
			w.on[oldest] = cs
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
