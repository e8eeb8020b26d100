package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"net/url"
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
}

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
			stop: stop, done: make(chan struct{})}
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
	var c *stdlib.Conn
	select {
	case c = <-w.conns:
	default:
		return nil
	}
	w.poke()
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
