package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"net/url"
	"strings"
	"sync"
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

// warmConns is the connections kept dialled ahead for one server (and
// user, password and options: the dsn but its search_path).
type warmConns struct {
	key   string
	cfg   *pgx.ConnConfig
	conns chan *stdlib.Conn
	kick  chan struct{}
	users int // KeepWarm calls running, under warms.mu
	want  int // the most they asked for, under warms.mu
	stop  context.CancelFunc
	done  chan struct{}

	mu sync.Mutex
	on map[string][]warmOn // by the schema they were warmed on, as renamed since
}

// warmOn is a connection warmed on a schema, since at.
type warmOn struct {
	c  *stdlib.Conn
	at time.Time
}

// warmOnMax bounds the connections warmed on schemas (the oldest go
// first): a spare another replica takes leaves its connections here,
// unused.
const warmOnMax = 16

// refillAfter is how long the warm connections wait after the last one
// was taken before dialling again.
const refillAfter = 200 * time.Millisecond

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
// stores this process opens on it (tenants), until ctx ends; then it closes
// those not taken. Calls for one server share the connections (the largest
// n of those running).
func KeepWarm(ctx context.Context, dsn string, n int) error {
	if n <= 0 {
		return nil
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return err
	}
	cfg.RuntimeParams["application_name"] = "obsandbox"
	key := serverKey(dsn)
	warms.mu.Lock()
	w := warms.m[key]
	if w == nil {
		wctx, stop := context.WithCancel(context.Background())
		w = &warmConns{key: key, cfg: cfg, conns: make(chan *stdlib.Conn, 64), kick: make(chan struct{}, 1),
			stop: stop, done: make(chan struct{}), on: map[string][]warmOn{}}
		warms.m[key] = w
		go w.fill(wctx)
	}
	w.users++
	w.want = max(w.want, min(n, cap(w.conns)))
	warms.mu.Unlock()
	w.poke()
	<-ctx.Done()
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
	return nil
}

func (w *warmConns) poke() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// fill dials until the stash holds what is wanted, whenever poked; at the
// end it closes what the stash holds.
func (w *warmConns) fill(ctx context.Context) {
	defer close(w.done)
	defer func() {
		w.mu.Lock()
		for _, cs := range w.on {
			for _, c := range cs {
				c.c.Close()
			}
		}
		w.on = nil
		w.mu.Unlock()
		for {
			select {
			case c := <-w.conns:
				c.Close()
			default:
				return
			}
		}
	}()
	connector := stdlib.GetConnector(*w.cfg)
	for first := true; ; first = false {
		select {
		case <-ctx.Done():
			return
		case <-w.kick:
		}
		// Taken: dial again once the takers have gone quiet (a new server
		// process costs the machine's CPU, which the store being opened
		// needs now).
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
		for {
			warms.mu.Lock()
			want := w.want
			warms.mu.Unlock()
			if len(w.conns) >= want {
				break
			}
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			c, err := connector.Connect(dctx)
			if err == nil {
				// A new server process loads its catalog caches as its
				// first queries need them: here, not on a tenant's first
				// request (what fails here fails there too, in its place).
				sc := c.(*stdlib.Conn)
				sc.Conn().Exec(dctx, warmUp)
				if sc.Conn().IsClosed() {
					err = errors.New("closed while warming up")
				}
			}
			cancel()
			if err != nil { // the server is away: the stores dial for themselves
				if ctx.Err() == nil {
					select {
					case <-ctx.Done():
					case <-time.After(time.Second):
						w.poke()
					}
				}
				break
			}
			w.conns <- c.(*stdlib.Conn)
		}
	}
}

// warmUp is what a warm connection runs once dialled: queries of the
// kinds a store's opening runs first (a settings row, the schema's
// version, the statistics a write reads), on the schema it was dialled to.
const warmUp = `SELECT value FROM settings WHERE key = 'warm';
SELECT coalesce(max(version), 0) FROM schema_version;
SELECT pg_stat_get_xact_tuples_inserted(CAST('settings' AS regclass))`

// take is a warm connection set to cfg's search_path and read-only
// setting, or nil when none is ready (or the one taken is broken).
func (w *warmConns) take(ctx context.Context, cfg *pgx.ConnConfig) driver.Conn {
	c := w.takeOn(cfg.RuntimeParams["search_path"])
	if c == nil {
		select {
		case c = <-w.conns:
		default:
			return nil
		}
		w.poke()
	}
	ro := "off"
	if cfg.RuntimeParams["default_transaction_read_only"] == "on" {
		ro = "on"
	}
	_, err := c.Conn().Exec(ctx, "SELECT set_config('search_path', $1, false), set_config('default_transaction_read_only', $2, false)",
		cfg.RuntimeParams["search_path"], ro)
	if err != nil {
		c.Close()
		return nil
	}
	return c
}

// takeOn is a connection warmed on schema, nil when there is none.
func (w *warmConns) takeOn(schema string) *stdlib.Conn {
	w.mu.Lock()
	defer w.mu.Unlock()
	cs := w.on[schema]
	if len(cs) == 0 {
		return nil
	}
	c := cs[len(cs)-1]
	if len(cs) == 1 {
		delete(w.on, schema)
	} else {
		w.on[schema] = cs[:len(cs)-1]
	}
	return c.c
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
	schema := SchemaOf(dsn)
	cfg := w.cfg.Copy()
	cfg.RuntimeParams["search_path"] = schema
	connector := stdlib.GetConnector(*cfg)
	var script string
	for range n {
		dc, err := connector.Connect(ctx)
		if err != nil {
			return err
		}
		c := dc.(*stdlib.Conn)
		if script == "" {
			if script, err = touchTables(ctx, c.Conn()); err != nil {
				c.Close()
				return err
			}
		}
		if _, err := c.Conn().Exec(ctx, script); err != nil {
			c.Close()
			return err
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

// keepOn keeps c as warmed on schema, within the bounds.
func (w *warmConns) keepOn(schema string, c *stdlib.Conn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.on == nil { // KeepWarm has ended
		c.Close()
		return
	}
	w.on[schema] = append(w.on[schema], warmOn{c, time.Now()})
	// The oldest beyond the bounds go.
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
		w.on[oldest][0].c.Close()
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
	for _, c := range cs {
		c.c.Close()
	}
}
