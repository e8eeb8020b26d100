package store_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/obsandbox/sandbox/internal/store"
	"github.com/obsandbox/sandbox/internal/store/storetest"
)

// TestResetRewritesOnlyChangedRows: on PostgreSQL a reset to the template
// the bank was copied from writes back only the rows that differ from it —
// changed, deleted or added, in a table keyed by id or not — and copies the
// whole bank again when it cannot tell which rows are the template's (a
// record of another template, another server's, too long, out of range, or
// none it can read). The
// bank is the template's after each.
func TestResetRewritesOnlyChangedRows(t *testing.T) {
	t.Parallel()
	storetest.Postgres(t)
	ctx := context.Background()
	tpl := storetest.Template(t)
	s, dsn := storetest.OpenFresh(t, store.Options{})
	conn := storetest.Connect(t, dsn)
	if err := s.CopyBank(ctx, tpl); err != nil {
		t.Fatal(err)
	}
	want := storetest.Dump(t, s)
	var total int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM transactions").Scan(&total); err != nil {
		t.Fatal(err)
	}
	exec := func(sql string) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	record := func() (r struct {
		Template string
		Server   string
		Xids     []uint64
	}) {
		t.Helper()
		var raw string
		if err := conn.QueryRow(ctx, "SELECT value FROM settings WHERE key = 'bank_copy'").Scan(&raw); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(raw), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	// reset resets and returns how many transactions rows the reset wrote.
	reset := func(what string) int {
		t.Helper()
		if err := s.ResetTo(ctx, tpl, nil); err != nil {
			t.Fatal(err)
		}
		if got := storetest.Dump(t, s); got != want {
			t.Fatalf("%s: the bank after the reset differs from the template's (%d bytes against %d)", what, len(got), len(want))
		}
		var wrote int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM transactions WHERE xmin = (SELECT xmin FROM settings WHERE key = 'bank_copy')").Scan(&wrote); err != nil {
			t.Fatal(err)
		}
		return wrote
	}
	if n := len(record().Xids); n != 1 {
		t.Fatalf("the first copy recorded %d transactions, want 1", n)
	}

	// Changed, deleted and added rows; a keyless table's row changed, another's deleted.
	exec("UPDATE transactions SET amount = amount + 1 WHERE id = (SELECT min(id) FROM transactions)")
	exec("DELETE FROM transactions WHERE id = (SELECT max(id) FROM transactions)")
	exec("INSERT INTO transactions SELECT id + 1000000, account, booked_at, value_at, status, amount, balance, kind, counterparty, card_auth, reference, info FROM transactions WHERE id = (SELECT min(id) FROM transactions)")
	exec("UPDATE accounts SET nickname = 'changed' WHERE id = (SELECT min(id) FROM accounts)")
	exec("UPDATE products SET name = 'changed' WHERE account = (SELECT min(account) FROM products)")
	exec("DELETE FROM account_parties WHERE ctid = (SELECT min(ctid) FROM account_parties)")
	if storetest.Dump(t, s) == want {
		t.Fatal("nothing changed the bank: the test proves nothing")
	}
	if n := reset("changed, deleted and added"); n != 2 {
		t.Fatalf("the reset wrote %d transactions, want the 2 changed or deleted (of %d)", n, total)
	}
	// Changed only: the rows deleted account for all that is missing.
	exec("UPDATE transactions SET info = 'changed' WHERE id IN (SELECT id FROM transactions ORDER BY id LIMIT 3)")
	if n := reset("changed only"); n != 3 {
		t.Fatalf("the reset wrote %d transactions, want the 3 changed", n)
	}
	if n := len(record().Xids); n != 3 {
		t.Fatalf("after two resets that wrote rows, %d transactions recorded, want 3", n)
	}
	// Nothing changed: nothing written, nothing recorded.
	if err := s.ResetTo(ctx, tpl, nil); err != nil {
		t.Fatal(err)
	}
	if n := len(record().Xids); n != 3 {
		t.Fatalf("a reset that wrote nothing: %d transactions recorded, want 3", n)
	}
	// Every row changed: every row written back.
	exec("UPDATE transactions SET info = info || ''")
	if n := reset("every row changed"); n != total {
		t.Fatalf("the reset wrote %d transactions, want all %d", n, total)
	}

	// A record it cannot rely on: the whole bank is copied again.
	for _, tc := range []struct{ name, sql string }{
		{"another template", `UPDATE settings SET value = jsonb_set(value::jsonb, '{template}', '"other.db"')::text WHERE key = 'bank_copy'`},
		{"another server", `UPDATE settings SET value = jsonb_set(value::jsonb, '{server}', '"elsewhere"')::text WHERE key = 'bank_copy'`},
		{"too many transactions", `UPDATE settings SET value = jsonb_set(value::jsonb, '{xids}', (value::jsonb->'xids') || (SELECT jsonb_agg(g) FROM generate_series(1, 31) g))::text WHERE key = 'bank_copy'`},
		{"transaction ids out of range", `UPDATE settings SET value = jsonb_set(value::jsonb, '{xids}', '[1099511627776]')::text WHERE key = 'bank_copy'`},
		{"unreadable", `UPDATE settings SET value = 'not json' WHERE key = 'bank_copy'`},
		{"none", `DELETE FROM settings WHERE key = 'bank_copy'`},
	} {
		exec("UPDATE transactions SET info = 'changed' WHERE id = (SELECT min(id) FROM transactions)")
		exec(tc.sql)
		if n := reset(tc.name); n != total {
			t.Fatalf("%s: the reset wrote %d transactions, want all %d", tc.name, n, total)
		}
		if n := len(record().Xids); n != 1 {
			t.Fatalf("%s: %d transactions recorded after a whole copy, want 1", tc.name, n)
		}
	}
}
