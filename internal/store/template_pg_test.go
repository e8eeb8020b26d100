package store_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/obsandbox/sandbox/internal/store"
	"github.com/obsandbox/sandbox/internal/store/storetest"
	"github.com/obsandbox/sandbox/seed"
)

// copiedBank is a store on a fresh schema (its URL beside it) holding a
// copy of the suite's template (its path), and that bank's dump.
func copiedBank(t *testing.T) (s *store.Store, dsn, tpl, want string) {
	t.Helper()
	tpl = storetest.Template(t)
	s, dsn = storetest.OpenFresh(t, store.Options{})
	if err := s.CopyBank(context.Background(), tpl); err != nil {
		t.Fatal(err)
	}
	return s, dsn, tpl, storetest.Dump(t, s)
}

// TestResetRewritesOnlyChangedRows: on PostgreSQL a reset to the template
// the bank was copied from writes back only the rows that differ from it —
// changed, deleted or added, in a table keyed by id or not — and copies the
// whole bank again when it cannot tell which rows are the template's (a
// record of another template, another server's, too long, out of range, or
// none it can read). The bank is the template's after each.
func TestResetRewritesOnlyChangedRows(t *testing.T) {
	t.Parallel()
	storetest.Postgres(t)
	ctx := context.Background()
	s, dsn, tpl, want := copiedBank(t)
	conn := storetest.Connect(t, dsn)
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

// TestResetToAnotherBankOfTheSameName: a template is known by its bank,
// not its file's name — a newer binary may generate another bank from the
// same seed into a file of the same name. A reset to it gives its bank.
func TestResetToAnotherBankOfTheSameName(t *testing.T) {
	t.Parallel()
	storetest.Postgres(t)
	ctx := context.Background()
	dir := t.TempDir()
	made := func(sub string, seedNo uint64) string {
		t.Helper()
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
		return storetest.TemplateAt(t, filepath.Join(dir, sub, "bank.db"), seed.Options{Seed: seedNo, PSUs: 2, TxPerPSU: 300})
	}
	a, b := made("old", 7), made("new", 8)
	ref, _ := storetest.OpenFresh(t, store.Options{})
	if err := ref.CopyBank(ctx, b); err != nil {
		t.Fatal(err)
	}
	want := storetest.Dump(t, ref)
	s, _ := storetest.OpenFresh(t, store.Options{})
	if err := s.CopyBank(ctx, a); err != nil {
		t.Fatal(err)
	}
	if storetest.Dump(t, s) == want {
		t.Fatal("the two templates hold the same bank: the test proves nothing")
	}
	if err := s.ResetTo(ctx, b, nil); err != nil {
		t.Fatal(err)
	}
	if got := storetest.Dump(t, s); got != want {
		t.Fatalf("after a reset to the other template the bank is not its (%d bytes against %d)", len(got), len(want))
	}
}

// TestResetWaitsForAnOutsideWriter: a change in flight by a writer that
// does not take the schema's write lock (an operator's psql) is waited
// for and undone, as it was when the reset deleted every row.
func TestResetWaitsForAnOutsideWriter(t *testing.T) {
	t.Parallel()
	storetest.Postgres(t)
	ctx := context.Background()
	s, dsn, tpl, want := copiedBank(t)
	writer, watcher := storetest.Connect(t, dsn), storetest.Connect(t, dsn)
	tx, err := writer.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "UPDATE accounts SET nickname = 'in flight' WHERE id = (SELECT min(id) FROM accounts)"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.ResetTo(ctx, tpl, nil) }()
	// The reset must wait for the writer's lock; finishing first is the failure.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		var waiting int
		if err := watcher.QueryRow(ctx, "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'accounts'::regclass").Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the reset finished (%v) while a writer's change was in flight", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the reset neither waited nor finished within a minute")
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := storetest.Dump(t, s); got != want {
		t.Fatal("the writer's change survived the reset")
	}
}

// TestBankTablesRestorable checks what a reset's putting back of changed
// rows relies on in the schema: foreign keys among the bank's tables are
// checked at commit and do nothing on delete (a cascade or SET NULL would
// change rows the reset has counted as the template's), no table outside
// the bank refers to one inside, no trigger fires on the reset's inserts
// and deletes, and an id column is the table's primary key.
func TestBankTablesRestorable(t *testing.T) {
	t.Parallel()
	_, dsn := storetest.OpenFresh(t, store.Options{})
	conn := storetest.Connect(t, dsn)
	ctx := context.Background()
	rows, err := conn.Query(ctx, `SELECT conrelid::regclass::text, confrelid::regclass::text, conname, condeferrable, condeferred, confdeltype::text
		FROM pg_constraint WHERE contype = 'f' AND connamespace = current_schema()::regnamespace`)
	if err != nil {
		t.Fatal(err)
	}
	type fk struct {
		From, To, Name       string
		Deferrable, Deferred bool
		OnDelete             string
	}
	fks, err := pgx.CollectRows(rows, pgx.RowToStructByPos[fk])
	if err != nil {
		t.Fatal(err)
	}
	bank := map[string]bool{}
	for _, tb := range store.BankTables {
		bank[tb] = true
	}
	inside := 0
	for _, f := range fks {
		switch {
		case bank[f.To] && !bank[f.From]:
			t.Errorf("%s: %s, outside the bank, refers to %s", f.Name, f.From, f.To)
		case bank[f.From]:
			inside++
			if !f.Deferrable || !f.Deferred || f.OnDelete != "a" {
				t.Errorf("%s on %s: deferrable %v, initially deferred %v, on delete %q; want deferred, NO ACTION ('a')", f.Name, f.From, f.Deferrable, f.Deferred, f.OnDelete)
			}
		}
	}
	if inside == 0 {
		t.Fatal("no foreign key among the bank's tables: the query reads nothing")
	}
	for _, tb := range store.BankTables {
		var triggers int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal
			AND (tgtype::int & (4 | 8 | 32)) <> 0`, tb).Scan(&triggers); err != nil { // INSERT, DELETE, TRUNCATE
			t.Fatal(err)
		}
		if triggers > 0 {
			t.Errorf("%s has %d triggers on insert, delete or truncate", tb, triggers)
		}
		var hasID, idIsKey bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'id' AND NOT attisdropped),
			EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
				WHERE i.indrelid = $1::regclass AND i.indisprimary AND i.indnatts = 1 AND a.attname = 'id')`, tb).Scan(&hasID, &idIsKey); err != nil {
			t.Fatal(err)
		}
		if hasID && !idIsKey {
			t.Errorf("%s: its id column is not its primary key", tb)
		}
	}
}
