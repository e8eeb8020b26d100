package store

import (
	"context"
	"database/sql/driver"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// The store's SQL is written once, in the dialect SQLite and PostgreSQL
// share, with SQLite's `?` placeholders. On PostgreSQL every connection goes
// through pgConn, which rewrites a query the first time it sees it:
//
//   - `?` becomes `$1`, `$2`, ... (outside quoted text);
//   - `INDEXED BY name` goes (a planner hint PostgreSQL has no need of);
//   - `INSERT OR IGNORE INTO ...` becomes `INSERT INTO ... ON CONFLICT DO
//     NOTHING`.
//
// and converts Go bools to 0 and 1: the schema keeps SQLite's integer flags.

// pgConnector dials cfg, or takes a connection dialled ahead (warm) and
// sets it to cfg's schema.
type pgConnector struct {
	c    driver.Connector
	cfg  *pgx.ConnConfig
	warm *warmConns
}

func (p pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	if p.warm != nil {
		if c := p.warm.take(ctx, p.cfg); c != nil {
			return &pgConn{c.(*stdlib.Conn)}, nil
		}
	}
	c, err := p.c.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &pgConn{c.(*stdlib.Conn)}, nil
}

func (p pgConnector) Driver() driver.Driver { return p.c.Driver() }

type pgConn struct{ *stdlib.Conn }

var pgQueries sync.Map // SQLite-flavoured query -> PostgreSQL's

var (
	indexedBy      = regexp.MustCompile(`(?i)\s+INDEXED\s+BY\s+\w+`)
	insertOrIgnore = regexp.MustCompile(`(?i)^\s*INSERT\s+OR\s+IGNORE\s+INTO`)
)

// pgQuery is query as PostgreSQL takes it.
func pgQuery(query string) string {
	if q, ok := pgQueries.Load(query); ok {
		return q.(string)
	}
	q := indexedBy.ReplaceAllString(query, "")
	if insertOrIgnore.MatchString(q) {
		q = insertOrIgnore.ReplaceAllString(q, "INSERT INTO") + " ON CONFLICT DO NOTHING"
	}
	q = rebind(q)
	pgQueries.Store(query, q)
	return q
}

// rebind numbers the `?` placeholders outside quotes and comments.
func rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var sb strings.Builder
	n := 0
	var quote byte
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				j = len(q) - i
			}
			sb.WriteString(q[i : i+j])
			i += j - 1
			continue
		case c == '?':
			n++
			sb.WriteString("$" + strconv.Itoa(n))
			continue
		}
		sb.WriteByte(c)
	}
	return sb.String()
}

func (c *pgConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, pgQuery(query))
}

func (c *pgConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *pgConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, pgQuery(query), args)
}

func (c *pgConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, pgQuery(query), args)
}

// CheckNamedValue passes every value to pgx as it is, but a bool (the
// schema's flags are integers, as SQLite's) and text PostgreSQL cannot hold
// (see pgText).
func (c *pgConn) CheckNamedValue(v *driver.NamedValue) error {
	switch x := v.Value.(type) {
	case bool:
		v.Value = int64(0)
		if x {
			v.Value = int64(1)
		}
	case string:
		v.Value = pgText(x)
	}
	return nil
}

// pgText is s as PostgreSQL's text can hold it: valid UTF-8 without NUL
// (SQLite keeps any bytes). What a client sent that PostgreSQL cannot hold
// (an id with a NUL in it) becomes U+FFFD: it matches nothing the bank made,
// and the audit trail records it as such (appendAudit chains the same text
// it stores).
func pgText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", "\uFFFD"), "\uFFFD")
}

var (
	_ driver.ExecerContext      = (*pgConn)(nil)
	_ driver.QueryerContext     = (*pgConn)(nil)
	_ driver.ConnPrepareContext = (*pgConn)(nil)
	_ driver.ConnBeginTx        = (*pgConn)(nil)
	_ driver.Pinger             = (*pgConn)(nil)
	_ driver.SessionResetter    = (*pgConn)(nil)
	_ driver.NamedValueChecker  = (*pgConn)(nil)
)
