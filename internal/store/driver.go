package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"strings"
	"sync"

	_ "modernc.org/sqlite" // registers "sqlite"
)

// The store opens its databases through stmtCacheDriver: SQLite's driver
// with a cache of prepared statements on each connection. A query run
// directly (db.Exec, tx.Query: the store's every write) is otherwise parsed
// and planned again every time — a fifth of a payment's time was spent
// preparing statements. Statements the caller prepares itself are not
// cached (it closes them).

const driverName = "sqlite-stmtcache"

// writerDriverName is the same for the writer connection, whose statements
// are never interrupted by their context: SQLite rolls back the whole
// transaction around an interrupted write, and a transaction holds a group
// of writes (group.go). database/sql still refuses a statement whose
// context has ended before it starts.
const writerDriverName = "sqlite-stmtcache-writer"

func init() {
	db, err := sql.Open("sqlite", "") // no connection: only the registered driver
	if err != nil {
		panic(err)
	}
	sql.Register(driverName, stmtCacheDriver{d: db.Driver()})
	sql.Register(writerDriverName, stmtCacheDriver{d: db.Driver(), uninterrupted: true})
	db.Close()
}

type stmtCacheDriver struct {
	d             driver.Driver
	uninterrupted bool
}

func (d stmtCacheDriver) Open(name string) (driver.Conn, error) {
	c, err := d.d.Open(name)
	if err != nil {
		return nil, err
	}
	return &cacheConn{Conn: c, stmts: map[string]*cachedStmt{}, uninterrupted: d.uninterrupted}, nil
}

// maxConnStmts bounds each connection's cache: queries are few and fixed in
// shape; a connection that sees more starts its cache again.
const maxConnStmts = 256

type cacheConn struct {
	driver.Conn
	mu            sync.Mutex // database/sql uses a connection from one goroutine at a time; rows may close later
	stmts         map[string]*cachedStmt
	uninterrupted bool // statements run to their end whatever their context
}

// stmtCtx is the context a statement runs under.
func (c *cacheConn) stmtCtx(ctx context.Context) context.Context {
	if c.uninterrupted {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

type cachedStmt struct {
	s    driver.Stmt
	busy bool // rows of it are open
}

// cacheable: one statement (SQLite prepares a script statement by statement).
func cacheable(query string) bool {
	q := strings.TrimRight(strings.TrimSpace(query), ";")
	return !strings.Contains(q, ";")
}

// stmt returns the connection's statement for query, marked busy, or nil
// when it cannot be used (not cacheable, or in use by open rows).
func (c *cacheConn) stmt(ctx context.Context, query string) (*cachedStmt, error) {
	if !cacheable(query) {
		return nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cs, ok := c.stmts[query]; ok {
		if cs.busy {
			return nil, nil
		}
		cs.busy = true
		return cs, nil
	}
	s, err := c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if len(c.stmts) >= maxConnStmts {
		for q, cs := range c.stmts {
			if !cs.busy {
				cs.s.Close()
				delete(c.stmts, q)
			}
		}
	}
	cs := &cachedStmt{s: s, busy: true}
	c.stmts[query] = cs
	return cs, nil
}

func (c *cacheConn) release(cs *cachedStmt) {
	c.mu.Lock()
	cs.busy = false
	c.mu.Unlock()
}

func (c *cacheConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	ctx = c.stmtCtx(ctx)
	cs, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.Conn.(driver.ExecerContext).ExecContext(ctx, query, args)
	}
	defer c.release(cs)
	return cs.s.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (c *cacheConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	ctx = c.stmtCtx(ctx)
	cs, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.Conn.(driver.QueryerContext).QueryContext(ctx, query, args)
	}
	rows, err := cs.s.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		c.release(cs)
		return nil, err
	}
	return &cachedRows{Rows: rows, release: func() { c.release(cs) }}, nil
}

// cachedRows frees its statement for the next use when closed.
type cachedRows struct {
	driver.Rows
	release func()
	once    sync.Once
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.once.Do(r.release)
	return err
}

func (c *cacheConn) Close() error {
	c.mu.Lock()
	for q, cs := range c.stmts {
		cs.s.Close()
		delete(c.stmts, q)
	}
	c.mu.Unlock()
	return c.Conn.Close()
}

// The rest is the driver's own.

func (c *cacheConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.(driver.ConnPrepareContext).PrepareContext(c.stmtCtx(ctx), query)
}

func (c *cacheConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.Conn.(driver.ConnBeginTx).BeginTx(c.stmtCtx(ctx), opts)
}

func (c *cacheConn) Ping(ctx context.Context) error { return c.Conn.(driver.Pinger).Ping(ctx) }

func (c *cacheConn) ResetSession(ctx context.Context) error {
	return c.Conn.(driver.SessionResetter).ResetSession(ctx)
}

func (c *cacheConn) IsValid() bool { return c.Conn.(driver.Validator).IsValid() }

var (
	_ driver.ExecerContext      = (*cacheConn)(nil)
	_ driver.QueryerContext     = (*cacheConn)(nil)
	_ driver.ConnPrepareContext = (*cacheConn)(nil)
	_ driver.ConnBeginTx        = (*cacheConn)(nil)
	_ driver.Pinger             = (*cacheConn)(nil)
	_ driver.SessionResetter    = (*cacheConn)(nil)
	_ driver.Validator          = (*cacheConn)(nil)
)
