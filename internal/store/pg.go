package store

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL (SPEC §9.3): several sandbox processes share one database and
// act as one sandbox. The store is the same code on both backends; what
// differs is here and in pgdriver.go:
//
//   - Writes are serialised as SQLite serialises them: every write
//     transaction first takes a transaction-level advisory lock on its
//     schema (pg_advisory_xact_lock), so read-then-write use cases (a funds
//     check and the debit, an idempotency key and its payment, a lockout
//     count, the audit chain's next link) hold across replicas exactly as
//     they hold in one process. Reads never wait for it.
//   - Migrations run under a session advisory lock: replicas starting
//     together apply them once.
//   - Read transactions are REPEATABLE READ: one snapshot, as SQLite's.
//   - A tenant is a schema of the same database.

//go:embed migrations_pg/*.sql
var pgMigrations embed.FS

// IsPostgres reports whether db names a PostgreSQL database rather than a
// SQLite file.
func IsPostgres(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

type pgBackend struct {
	dsn    string
	schema string
	lock   int64 // the schema's advisory lock: its writes
	cfg    *pgx.ConnConfig
	// watch learns what other replicas changed (see pgwatch.go).
	watch *watcher
	id    string // this store's id in the notices, to skip its own
	// aside is the pool of a request's rate limit (TakeToken), which must
	// not wait behind writes queued on the schema's write lock (they can
	// hold every connection of the writers' pool); catalog is the schemas'
	// (Catalog: tenants being made, spares), opened at its first use.
	aside, catalog *sql.DB
	// changes counts the rows the transaction has changed (pgChanges).
	changes string
}

func (b *pgBackend) origin() string { return b.id }

// Redacted is a database name fit for logs and errors: a PostgreSQL URL
// without its password.
func Redacted(db string) string {
	if !IsPostgres(db) {
		return db
	}
	u, err := url.Parse(db)
	if err != nil {
		return "postgres://(unparsable)"
	}
	return u.Redacted()
}

func timeNow() time.Time { return time.Now() }

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// SchemaOf is the schema a dsn names in its search_path (public when none).
func SchemaOf(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "public"
	}
	if sp := u.Query().Get("search_path"); sp != "" {
		return strings.TrimSpace(strings.Split(sp, ",")[0])
	}
	return "public"
}

// WithSchema is dsn set to the schema (a tenant's).
func WithSchema(dsn, schema string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("obsandbox:" + name))
	return int64(h.Sum64())
}

// openPG opens the schema the dsn names, creating and migrating it.
func (s *Store) openPG(ctx context.Context, dsn string, o Options) error {
	schema := SchemaOf(dsn)
	if !schemaName.MatchString(schema) {
		return fmt.Errorf("schema %q: a schema name is lower-case letters, digits and _", schema)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return err
	}
	cfg.RuntimeParams["search_path"] = schema
	cfg.RuntimeParams["application_name"] = "obsandbox"
	id := make([]byte, 8)
	rand.Read(id)
	s.pg = &pgBackend{dsn: dsn, schema: schema, lock: lockKey(schema), cfg: cfg, id: hex.EncodeToString(id)}
	conns, aside := cmp.Or(max(o.MaxConns, 0), 8), 4
	if o.Small { // one of many tenants open at once, each its own pools on one server
		conns, aside = min(conns, 2), 1
	}
	var warm *warmConns
	if !o.Cold {
		warm = warmFor(dsn)
	}
	s.w = pgPool(cfg, conns, warm)
	s.pg.aside, s.pg.catalog = pgPool(cfg, aside, warm), pgPool(cfg, 2, warm)
	if o.Inspect {
		s.Version, err = s.pgVersion(ctx)
	} else if err = s.migratePG(ctx); err == nil {
		err = s.initChains(ctx, timeNow())
	}
	if err == nil {
		s.pg.changes, err = s.pgChanges(ctx)
	}
	if err != nil {
		return err
	}
	rcfg := cfg.Copy()
	rcfg.RuntimeParams["default_transaction_read_only"] = "on"
	s.r = pgPool(rcfg, conns, warm)
	s.rc = newCached(s.r, s.system())
	if !o.Inspect {
		s.startWatch()
	}
	return nil
}

// pgPool is a pool of at most n connections of cfg, opened at first use
// and closed after a minute unused: a PostgreSQL server has a bounded
// number of connections (max_connections, 100 by default), shared by every
// replica and every tenant open in each.
// Connections are taken from warm (when not nil) before dialling.
func pgPool(cfg *pgx.ConnConfig, n int, warm *warmConns) *sql.DB {
	db := sql.OpenDB(pgConnector{c: stdlib.GetConnector(*cfg), cfg: cfg, warm: warm})
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxIdleTime(time.Minute)
	return db
}

// pgVersion is the schema's migration version (0 when it has none).
func (s *Store) pgVersion(ctx context.Context) (int, error) {
	var v int
	err := s.w.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_version").Scan(&v)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42P01" { // undefined_table
		return 0, nil
	}
	return v, err
}

// pgChanges is the query that counts the rows the transaction has
// inserted, updated and deleted so far in the schema's tables, each named
// and resolved on the search_path as the query runs (to_regclass: a table
// made again is counted still, and a name the schema lacks counts
// nothing). The statistics views would do it in one line, but scan the
// whole catalog: every relation of every tenant's schema, twice a write.
func (s *Store) pgChanges(ctx context.Context) (string, error) {
	if q, ok := pgChangesAt.Load(s.Version); ok { // every schema of a version has the same tables
		return q.(string), nil
	}
	rows, err := s.w.QueryContext(ctx, "SELECT relname FROM pg_class WHERE relnamespace = CAST(current_schema() AS regnamespace) AND relkind IN ('r', 'p') ORDER BY relname")
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return "", err
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	q := changesSQL(names)
	if s.Version == latestPG() {
		pgChangesAt.Store(s.Version, q)
	}
	return q, nil
}

// changesSQL is pgChanges's query over the tables named (the store's own:
// lower-case names, nothing to quote; any other is left out).
func changesSQL(names []string) string {
	names = slices.DeleteFunc(slices.Clone(names), func(n string) bool { return !schemaName.MatchString(n) })
	return "SELECT CAST(coalesce(sum(pg_stat_get_xact_tuples_inserted(t) + pg_stat_get_xact_tuples_updated(t) + " +
		"pg_stat_get_xact_tuples_deleted(t)), 0) AS BIGINT) FROM unnest(CAST('{" + strings.Join(names, ",") + "}' AS text[])) AS n, to_regclass(n) AS t"
}

// pgChangesAt is pgChanges's query by schema version, for this binary's.
var pgChangesAt sync.Map

// rawExec runs a script of statements as it is (no placeholders: a
// migration's $$ bodies stay as written).
func rawExec(ctx context.Context, conn *sql.Conn, script string) error {
	return conn.Raw(func(dc any) error {
		_, err := dc.(*pgConn).Conn.Conn().Exec(ctx, script)
		return err
	})
}

// migratePG creates the schema and applies the embedded migrations newer
// than its version, each in one transaction, under a session advisory lock:
// of several replicas starting together one migrates, the others wait and
// then find nothing to do.
func (s *Store) migratePG(ctx context.Context) error {
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// Most opens find the schema up to date (migrations only add): no
	// lock and no DDL for them.
	var have int
	if err := conn.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_version").Scan(&have); err == nil && have == latestPG() {
		s.Version = have
		return nil
	}
	key := lockKey("migrate:" + s.pg.schema)
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(?)", key); err != nil {
		return err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(?)", key)
	if err := rawExec(ctx, conn, `CREATE SCHEMA IF NOT EXISTS "`+s.pg.schema+`";
		CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		return err
	}
	if err := conn.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_version").Scan(&have); err != nil {
		return err
	}
	names, nums, err := migrationFiles(pgMigrations, "migrations_pg/*.sql")
	if err != nil {
		return err
	}
	for i, name := range names {
		n := nums[i]
		if n <= have {
			continue
		}
		body, err := pgMigrations.ReadFile(name)
		if err != nil {
			return err
		}
		script := "BEGIN;\n" + string(body) + fmt.Sprintf(";\nINSERT INTO schema_version(version) VALUES(%d);\nCOMMIT;", n)
		if err := rawExec(ctx, conn, script); err != nil {
			rawExec(context.WithoutCancel(ctx), conn, "ROLLBACK")
			return fmt.Errorf("migration %s: %w", name, err)
		}
		have = n
	}
	s.Version = have
	return nil
}

// latestPG is the version the embedded migrations bring a schema to.
var latestPG = sync.OnceValue(func() int { return latest(pgMigrations, "migrations_pg/*.sql") })

// syncSequences moves every row-id sequence of the schema past the ids in
// use: a bulk load and a restore write ids themselves. A dropped column
// stays in pg_attribute under a name no function takes: it is skipped.
func syncSequences(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT c.relname, a.attname, pg_get_serial_sequence(quote_ident(c.relname), a.attname)
		FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
		WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
		  AND pg_get_serial_sequence(quote_ident(c.relname), a.attname) IS NOT NULL`)
	if err != nil {
		return err
	}
	type seq struct{ table, col, seq string }
	var seqs []seq
	for rows.Next() {
		var q seq
		if err := rows.Scan(&q.table, &q.col, &q.seq); err != nil {
			rows.Close()
			return err
		}
		seqs = append(seqs, q)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(seqs) == 0 {
		return nil
	}
	// One statement for all of them (a round trip each added up: some
	// forty sequences).
	sets := make([]string, len(seqs))
	for i, q := range seqs {
		sets[i] = `setval('` + q.seq + `', coalesce((SELECT max("` + q.col + `") FROM "` + q.table + `"), 0) + 1, false)`
	}
	_, err = tx.ExecContext(ctx, "SELECT "+strings.Join(sets, ", "))
	return err
}

// pgError maps PostgreSQL's errors to the bank's.
func pgError(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" { // unique_violation
		return fmt.Errorf("%w: %v", errConflict, err)
	}
	return err
}

// TakeToken takes one request from the shared token bucket key, of burst
// size refilled at per requests a second, at now: whether it was allowed,
// and the tokens left. One statement, atomic under the row's lock: the
// replicas together spend one budget. PostgreSQL only.
func (s *Store) TakeToken(ctx context.Context, key string, per float64, burst int, now time.Time) (bool, float64, error) {
	if s.pg == nil {
		return false, 0, errors.New("shared rate limits need PostgreSQL")
	}
	const refill = "least(CAST(? AS DOUBLE PRECISION), b.tokens + greatest(0, CAST(? AS BIGINT) - b.at) * CAST(? AS DOUBLE PRECISION) / 1000.0)"
	var ok bool
	var left float64
	nowMS := now.UnixMilli()
	err := s.pg.aside.QueryRowContext(ctx, `INSERT INTO rate_buckets AS b (key, tokens, at, ok) VALUES (?, CAST(? AS DOUBLE PRECISION), CAST(? AS BIGINT), true)
		ON CONFLICT (key) DO UPDATE SET
		  tokens = `+refill+` - CASE WHEN `+refill+` >= 1 THEN 1 ELSE 0 END,
		  ok = `+refill+` >= 1,
		  at = greatest(b.at, CAST(? AS BIGINT))
		RETURNING ok, tokens`,
		key, float64(burst)-1, nowMS,
		float64(burst), nowMS, per, float64(burst), nowMS, per,
		float64(burst), nowMS, per,
		nowMS).Scan(&ok, &left)
	return ok, left, translate(err)
}

// TakeTokens is TakeToken for a rate limiter (gateway.TakeFunc).
func (s *Store) TakeTokens() func(key string, per float64, burst int, now time.Time) (bool, float64, error) {
	return func(key string, per float64, burst int, now time.Time) (bool, float64, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return s.TakeToken(ctx, key, per, burst, now)
	}
}

// Exclusive runs f while no other process sharing this database runs an
// Exclusive section of its own (on PostgreSQL a session advisory lock of
// the schema; on SQLite the file lock already keeps every other process
// out). What a first start creates once — the bank, its CA, its first
// signing key, the admin token — is checked and created inside one, so
// replicas starting together on an empty database agree on them.
func (s *Store) Exclusive(ctx context.Context, f func() error) error {
	if s.pg == nil {
		return f()
	}
	// A connection of its own, from the readers (the lock is no write):
	// f's writes take the writers' connections.
	conn, err := s.r.Conn(ctx)
	if err != nil {
		return translate(err)
	}
	defer conn.Close()
	key := lockKey("init:" + s.pg.schema)
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(?)", key); err != nil {
		return translate(err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(?)", key)
	return f()
}
