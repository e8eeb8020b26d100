package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// copyBankPG is copyBank on PostgreSQL: the template is the same SQLite
// file, its bank tables copied row by row with COPY into this schema's
// (the rows keep the template's ids) in one transaction with also's
// changes. Both schemas come from the same migrations: the columns are the
// same, BIGINT and TEXT here. A bank copied from the same template before
// has only its changed rows put back (restoreChanged).
func (s *Store) copyBankPG(ctx context.Context, src, op, notice string, also func(*sql.Tx) error) error {
	tpl, err := sql.Open("sqlite", dsn(src, true))
	if err != nil {
		return err
	}
	defer tpl.Close()
	var version int
	if err := tpl.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	if version != LatestVersion() {
		return fmt.Errorf("template %s has schema version %d, this binary %d", src, version, LatestVersion())
	}
	digest, err := templateDigest(ctx, tpl, src) // before the write lock: the first time it reads the whole template
	if err != nil {
		return err
	}
	var rec []*AuditEntry
	err = s.commitPG(ctx, notice, func(conn *sql.Conn, tx *sql.Tx) error {
		return s.recordingChanges(ctx, op, func(tx *sql.Tx) error {
			if also != nil {
				if err := also(tx); err != nil {
					return err
				}
			}
			cols, err := columnsOf(ctx, tx, bankTables)
			if err != nil {
				return err
			}
			b := &bankCopier{conn: conn, tx: tx, tpl: tpl, cols: cols}
			if err := b.copy(ctx, digest); err != nil {
				return err
			}
			// The PSUs added at run time went with the old bank (as in Load).
			if _, err := tx.ExecContext(ctx, "DELETE FROM runtime_psus"); err != nil {
				return err
			}
			if err := syncSequences(ctx, tx); err != nil {
				return err
			}
			if op == "ResetTo" {
				return nil // the same bank as before: the planner's statistics still hold (two thirds of a reset's time otherwise)
			}
			// The planner's statistics of a new bank, from a tenth of
			// the default sample (3,000 rows a table): an index or a scan
			// is chosen as well on this bank's shape, in a tenth of the
			// time (the default's was ~80 ms of a PostgreSQL tenant's
			// making). For this transaction only.
			if _, err := tx.ExecContext(ctx, "SET LOCAL default_statistics_target = 10"); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, "ANALYZE "+strings.Join(bankTables, ", "))
			return err
		}, &rec)(tx)
	})
	s.version.Add(1)
	if err == nil {
		s.committed(rec, nil)
	}
	return err
}

// settingBankCopy is the setting that says which of the bank's rows are
// the template's as copied (bankCopy).
const settingBankCopy = "bank_copy"

// bankCopy says which rows of a schema's bank are a template's, unchanged
// since they were copied: those whose xmin — the transaction that wrote
// the row version (PostgreSQL, "System Columns"; an UPDATE writes a new
// version) — is one of Xids, the transactions that copied rows of the
// template whose bank has the digest Template. Transaction ids are a
// server's own and 32-bit in xmin, so the record holds only while the
// server that ran the copies (its start time: a restore elsewhere or a
// restart starts afresh) is up and fewer than 2^31 transactions have
// passed since the first of them.
type bankCopy struct {
	Template string   `json:"template"` // templateDigest
	Server   string   `json:"server"`
	Xids     []uint64 `json:"xids"` // pg_current_xact_id: 64-bit, never reused
}

// templateDigests remembers the digest of each template file read, by its
// path, size and time of change (a template is written once).
var templateDigests = struct {
	sync.Mutex
	m map[templateFile]string
}{m: map[templateFile]string{}}

type templateFile struct {
	path    string
	size    int64
	changed time.Time
}

// templateDigest names the bank the template file src at tpl holds: a
// SHA-256 of its dump (DumpBank). Not the file's name, which says which
// seed made it but not which generator: a newer binary may make another
// bank of the same seed.
func templateDigest(ctx context.Context, tpl *sql.DB, src string) (string, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return "", err
	}
	k := templateFile{src, fi.Size(), fi.ModTime()}
	templateDigests.Lock()
	d, ok := templateDigests.m[k]
	templateDigests.Unlock()
	if ok {
		return d, nil
	}
	h := sha256.New()
	if err := dumpBank(ctx, tpl, h); err != nil {
		return "", err
	}
	d = hex.EncodeToString(h.Sum(nil))
	templateDigests.Lock()
	if len(templateDigests.m) >= 64 {
		clear(templateDigests.m)
	}
	templateDigests.m[k] = d
	templateDigests.Unlock()
	return d, nil
}

// maxCopyXids bounds a bankCopy's transactions: the next copy is whole.
const maxCopyXids = 32

// holds reports whether rows marked by c are still the template's for
// next, a copy of the same template on the same server.
func (c bankCopy) holds(next bankCopy) bool {
	return c.Template == next.Template && c.Server == next.Server && len(c.Xids) > 0 &&
		len(c.Xids) < maxCopyXids && next.Xids[0]-c.Xids[0] < 1<<31
}

// bankCopier copies the template's bank into this schema's, inside the
// write transaction tx on conn.
type bankCopier struct {
	conn *sql.Conn
	tx   *sql.Tx
	tpl  *sql.DB
	cols map[string][]pgColumn
}

// copy makes the bank tables the template's: only the rows changed since
// an earlier copy of the same template, else all of them; and records
// which rows are now the template's (bankCopy).
func (b *bankCopier) copy(ctx context.Context, template string) error {
	next := bankCopy{Template: template, Xids: []uint64{0}}
	if err := b.tx.QueryRowContext(ctx, "SELECT pg_current_xact_id()::text::bigint, extract(epoch FROM pg_postmaster_start_time())::text").
		Scan(&next.Xids[0], &next.Server); err != nil {
		return err
	}
	var last bankCopy
	var raw string
	switch err := b.tx.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", settingBankCopy).Scan(&raw); {
	case err == nil:
		if json.Unmarshal([]byte(raw), &last) != nil {
			last = bankCopy{} // not ours to trust: copied whole
		}
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	if last.holds(next) {
		wrote, err := b.restoreChanged(ctx, last.Xids)
		if err != nil {
			return err
		}
		if !wrote {
			next.Xids = last.Xids
		} else {
			next.Xids = append(last.Xids, next.Xids[0])
		}
	} else {
		// DELETE, not TRUNCATE: TRUNCATE's exclusive table locks deadlock
		// with a reader holding one of the tables and waiting for
		// another; rows deleted wait for no one (readers keep their
		// snapshot).
		for _, t := range bankTables { // children first
			if err := b.replace(ctx, t); err != nil {
				return err
			}
		}
	}
	v, err := json.Marshal(next)
	if err != nil {
		return err
	}
	_, err = b.tx.ExecContext(ctx, "INSERT INTO settings(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", settingBankCopy, string(v))
	return err
}

// replace empties table t and copies the template's rows into it.
func (b *bankCopier) replace(ctx context.Context, t string) error {
	if _, err := b.tx.ExecContext(ctx, "DELETE FROM "+t); err != nil {
		return err
	}
	return b.copyRows(ctx, t, "")
}

// restoreChanged puts back the template's rows where the bank differs from
// it: in one round trip each table's rows not marked as the template's
// (changed or added since) are deleted and its marked rows counted; then
// the template's rows no longer there are copied (a table without an id is
// copied whole). It reports whether it wrote a row. What it relies on in
// the schema (foreign keys checked at commit that do nothing on delete, no
// trigger on inserts or deletes, ids that are keys) TestBankTablesRestorable
// checks.
func (b *bankCopier) restoreChanged(ctx context.Context, xids []uint64) (wrote bool, err error) {
	marks := make([]string, len(xids))
	for i, x := range xids {
		marks[i] = strconv.FormatUint(x&(1<<32-1), 10) // xmin is the id's low 32 bits
	}
	const marked = "xmin = ANY($1::text[]::xid[])"
	type outcome struct {
		kept, changed int64
		gone          []int64
	}
	out := make([]outcome, len(bankTables))
	err = b.conn.Raw(func(dc any) error {
		batch := &pgx.Batch{}
		// First, writers wait: a row version a writer has not committed yet
		// is not the one a DELETE by xmin looks at. The schema's own
		// writers hold its write lock already; this stops any other (an
		// operator's psql). Readers go on (the lock conflicts with writes
		// only, not with reads).
		batch.Queue("LOCK TABLE " + strings.Join(bankTables, ", ") + " IN SHARE ROW EXCLUSIVE MODE")
		for i, t := range bankTables {
			o := &out[i]
			if b.hasID(t) {
				// The count sees the table as the statement began, the
				// rows it deletes included.
				batch.Queue(`WITH gone AS (DELETE FROM `+t+` WHERE NOT (`+marked+`) RETURNING id)
					SELECT (SELECT count(*) FROM `+t+`) - (SELECT count(*) FROM gone), (SELECT coalesce(array_agg(id), '{}') FROM gone)`, marks).
					QueryRow(func(r pgx.Row) error { return r.Scan(&o.kept, &o.gone) })
			} else {
				batch.Queue(`SELECT count(*) FILTER (WHERE `+marked+`), count(*) FILTER (WHERE NOT (`+marked+`)) FROM `+t, marks).
					QueryRow(func(r pgx.Row) error { return r.Scan(&o.kept, &o.changed) })
			}
		}
		return dc.(*pgConn).Conn.Conn().SendBatch(ctx, batch).Close()
	})
	if err != nil {
		return false, err
	}
	for i, t := range bankTables {
		o := out[i]
		var want int64
		if err := b.tpl.QueryRowContext(ctx, "SELECT count(*) FROM "+t).Scan(&want); err != nil {
			return false, err
		}
		if o.kept == want && o.changed == 0 && len(o.gone) == 0 {
			continue // the template's rows, all there
		}
		if !b.hasID(t) {
			if err := b.replace(ctx, t); err != nil {
				return false, err
			}
			wrote = wrote || want > 0
			continue
		}
		missing, err := b.missing(ctx, t, o.kept, want, o.gone)
		if err != nil {
			return false, err
		}
		if len(missing) > 0 {
			ids, _ := json.Marshal(missing)
			if err := b.copyRows(ctx, t, "WHERE id IN (SELECT value FROM json_each(?))", string(ids)); err != nil {
				return false, err
			}
			wrote = true
		}
	}
	return wrote, nil
}

// missing returns the ids of the template's rows of t not in the table,
// where kept of its rows are the template's and the ids gone were just
// deleted: the template's among those gone when that accounts for all of
// its want rows, else every template id not in the table.
func (b *bankCopier) missing(ctx context.Context, t string, kept, want int64, gone []int64) ([]int64, error) {
	ids := func(db interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	}, q string, args ...any) ([]int64, error) {
		rows, err := db.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return nil, err
			}
			out = append(out, id)
		}
		return out, rows.Err()
	}
	if len(gone) > 0 {
		g, _ := json.Marshal(gone)
		back, err := ids(b.tpl, "SELECT id FROM "+t+" WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id", string(g))
		if err != nil || kept+int64(len(back)) == want {
			return back, err
		}
	}
	all, err := ids(b.tpl, "SELECT id FROM "+t+" ORDER BY id")
	if err != nil {
		return nil, err
	}
	here, err := ids(b.tx, "SELECT id FROM "+t)
	if err != nil {
		return nil, err
	}
	present := make(map[int64]bool, len(here))
	for _, id := range here {
		present[id] = true
	}
	return slices.DeleteFunc(all, func(id int64) bool { return present[id] }), nil
}

// hasID reports whether table t is keyed by an id column.
func (b *bankCopier) hasID(t string) bool {
	return slices.ContainsFunc(b.cols[t], func(c pgColumn) bool { return c.name == "id" })
}

// copyRows copies the template's rows of t (those where selects, when
// given) into this schema's table.
func (b *bankCopier) copyRows(ctx context.Context, t, where string, args ...any) error {
	if err := copyTable(ctx, b.conn, b.tpl, t, b.cols[t], where, args...); err != nil {
		return fmt.Errorf("copy %s: %w", t, err)
	}
	return nil
}

// pgColumn is a column of this schema's, and whether it holds integers.
type pgColumn struct {
	name    string
	integer bool
}

// columnsOf reads the columns of tables in this schema, in their order: one
// catalog query for all of them (one per table was a tenth of a new
// tenant's seeding).
func columnsOf(ctx context.Context, tx *sql.Tx, tables []string) (map[string][]pgColumn, error) {
	rows, err := tx.QueryContext(ctx, `SELECT table_name, column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name IN `+inList(len(tables))+` ORDER BY table_name, ordinal_position`, anys(tables)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]pgColumn{}
	for rows.Next() {
		var table, name, typ string
		if err := rows.Scan(&table, &name, &typ); err != nil {
			return nil, err
		}
		out[table] = append(out[table], pgColumn{name, typ == "bigint" || typ == "integer" || typ == "smallint"})
	}
	return out, rows.Err()
}

// copyTable copies table t's rows (those where selects, with args, when
// given) from the SQLite template into this schema's, each value as the
// PostgreSQL column's type asks.
func copyTable(ctx context.Context, conn *sql.Conn, tpl *sql.DB, t string, cols []pgColumn, where string, args ...any) error {
	if len(cols) == 0 {
		return fmt.Errorf("no table %s in this schema", t)
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	rows, err := tpl.QueryContext(ctx, `SELECT "`+strings.Join(names, `", "`)+`" FROM `+t+" "+where, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var all [][]any
	for rows.Next() {
		vals := make([]any, len(names))
		ptrs := make([]any, len(names))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		for i, v := range vals {
			if vals[i], err = pgValue(v, cols[i].integer); err != nil {
				return fmt.Errorf("%s.%s: %w", t, names[i], err)
			}
		}
		all = append(all, vals)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return conn.Raw(func(dc any) error {
		_, err := dc.(*pgConn).Conn.Conn().CopyFrom(ctx, pgx.Identifier{t}, names, pgx.CopyFromRows(all))
		return err
	})
}

// pgValue is a SQLite value as a BIGINT (integer) or TEXT column takes it.
func pgValue(v any, integer bool) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case int64:
		if integer {
			return x, nil
		}
		return strconv.FormatInt(x, 10), nil
	case float64:
		if integer {
			return int64(x), nil
		}
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case []byte:
		v = string(x)
	}
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("unexpected %T", v)
	}
	if integer {
		return strconv.ParseInt(s, 10, 64)
	}
	return s, nil
}
