package store

import (
	"context"
	"database/sql"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// TestPaymentTimesMigration: 020 turns the seconds a database already holds
// for its payment orders into milliseconds; the due time follows, and an
// unset time stays unset.
func TestPaymentTimesMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "migrate.db"), Options{Sync: SyncNormal})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	body, err := migrations.ReadFile("migrations/020_payment_times_ms.sql")
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ created, status, process, settle, due int64 }
	got := map[string]row{}
	err = s.write(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{
			`INSERT INTO payments(payment_id, kind, consent_id, client_id, status, created_at, status_at, account, amount, currency,
				process_at, settle_at, request) VALUES('dp-1', 'domestic', 'pdc-1', 'c', 'Pending', 1790000000, 1790000000, 1, 100, 'GBP',
				1790000001, 1790000002, '{}')`,
			`INSERT INTO payments(payment_id, kind, consent_id, client_id, status, created_at, status_at, account, amount, currency,
				request) VALUES('dp-2', 'domestic', 'pdc-2', 'c', 'Rejected', 1790000000, 1790000000, 1, 100, 'GBP', '{}')`,
			string(body),
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		rows, err := tx.QueryContext(ctx, "SELECT payment_id, created_at, status_at, process_at, settle_at, coalesce(due_at, -1) FROM payments")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var r row
			if err := rows.Scan(&id, &r.created, &r.status, &r.process, &r.settle, &r.due); err != nil {
				return err
			}
			got[id] = r
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]row{
		"dp-1": {1790000000_000, 1790000000_000, 1790000001_000, 1790000002_000, 1790000001_000},
		"dp-2": {1790000000_000, 1790000000_000, 0, 0, -1},
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: got %+v, want %+v", id, got[id], w)
		}
	}
}

// TestPostgresSchemaKeepsPace: the PostgreSQL migrations reach the schema
// version of the SQLite ones (a PostgreSQL migration carries the number of
// the SQLite migration whose schema it matches), so a new SQLite migration
// without its PostgreSQL twin fails here, not on a replica.
func TestPostgresSchemaKeepsPace(t *testing.T) {
	t.Parallel()
	names, err := fs.Glob(os.DirFS("migrations_pg"), "*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("no PostgreSQL migrations: %v", err)
	}
	sort.Strings(names)
	last, _ := strconv.Atoi(strings.SplitN(names[len(names)-1], "_", 2)[0])
	if want := LatestVersion(); last != want {
		t.Fatalf("the last PostgreSQL migration is %d, the SQLite schema is at %d: add migrations_pg/%03d_*.sql", last, want, want)
	}
}
