package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/obsandbox/sandbox/internal/store"
)

// EnvPostgres names the PostgreSQL server the tests may use, as a URL
// (postgres://user@127.0.0.1:5432/db). Unset, or naming a server that does
// not answer, the PostgreSQL tests skip and say why.
const EnvPostgres = "SANDBOX_TEST_POSTGRES"

// Postgres is the server's URL, or skips tb.
func Postgres(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv(EnvPostgres)
	if dsn == "" {
		tb.Skipf("PostgreSQL tests skipped: %s is not set (e.g. %s=postgres://postgres@127.0.0.1:5432/postgres)", EnvPostgres, EnvPostgres)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Skipf("PostgreSQL tests skipped: %s names %s, which does not answer: %v", EnvPostgres, store.Redacted(dsn), err)
	}
	conn.Close(ctx)
	return dsn
}

// FreshSchema is the server's URL set to a new, empty schema of its own,
// dropped when the test ends.
func FreshSchema(tb testing.TB) string {
	tb.Helper()
	dsn := Postgres(tb)
	b := make([]byte, 6)
	rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	tb.Cleanup(func() { DropSchema(tb, dsn, schema) })
	return store.WithSchema(dsn, schema)
}

// OpenFresh is a store opened on a FreshSchema (its URL beside it),
// closed when the test ends.
func OpenFresh(tb testing.TB, o store.Options) (*store.Store, string) {
	tb.Helper()
	dsn := FreshSchema(tb)
	return OpenAt(tb, dsn, o), dsn
}

// OpenAt is a store opened on dsn (another replica of a schema), closed
// when the test ends.
func OpenAt(tb testing.TB, dsn string, o store.Options) *store.Store {
	tb.Helper()
	s, err := store.Open(context.Background(), dsn, o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// Connect is a connection of the test's own to dsn (another replica, an
// operator), closed when the test ends.
func Connect(tb testing.TB, dsn string) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// DropSchema removes a schema and everything in it, and the schemas made
// beside it (its tenants' schema_t_NAME, spare ones): left behind, a suite's
// hundreds of them slow every later schema's DDL and catalog reads.
func DropSchema(tb testing.TB, dsn, schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Errorf("dropping schema %s: %v", schema, err)
		return
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT nspname FROM pg_namespace WHERE nspname = $1 OR starts_with(nspname, $1 || '_')`, schema)
	if err != nil {
		tb.Errorf("dropping schema %s: %v", schema, err)
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		tb.Errorf("dropping schema %s: %v", schema, err)
		return
	}
	for _, n := range names {
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS "`+n+`" CASCADE`); err != nil {
			tb.Errorf("dropping schema %s: %v", n, err)
		}
	}
}
