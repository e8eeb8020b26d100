package store

import (
	"context"
	"database/sql"
	"sync"
)

// cached is the read pool behind a statement cache: each distinct query is
// prepared once per connection and kept, where a plain query is parsed and
// planned again every time (a tenth of a data request's time before).
// Queries are few and fixed in shape; past maxCached distinct ones the rest
// go uncached.
type cached struct {
	db     *sql.DB
	system string // db.system.name of its spans
	mu     sync.RWMutex
	m      map[string]*sql.Stmt
}

const maxCached = 512

func newCached(db *sql.DB, system string) *cached {
	return &cached{db: db, system: system, m: map[string]*sql.Stmt{}}
}

func (c *cached) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.RLock()
	st, ok := c.m[query]
	c.mu.RUnlock()
	if ok {
		return st, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok {
		return st, nil
	}
	if len(c.m) >= maxCached {
		return nil, nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.m[query] = st
	return st, nil
}

func (c *cached) QueryContext(ctx context.Context, query string, args ...any) (rows *sql.Rows, err error) {
	ctx, end := traced(ctx, "query", c.system)
	defer func() { end(err) }()
	st, err := c.stmt(ctx, query)
	if err != nil || st == nil {
		return c.db.QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
}

func (c *cached) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	ctx, end := traced(ctx, "query", c.system)
	defer end(nil)
	st, err := c.stmt(ctx, query)
	if err != nil || st == nil {
		return c.db.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

func (c *cached) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.m {
		st.Close()
		delete(c.m, q)
	}
}
