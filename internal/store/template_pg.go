package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// copyBankPG is copyBank on PostgreSQL: the template is the same SQLite
// file, its bank tables copied row by row with COPY into this schema's
// (emptied; the rows keep the template's ids) in one transaction with
// also's changes. Both schemas come from the same migrations: the columns are the
// same, BIGINT and TEXT here.
func (s *Store) copyBankPG(ctx context.Context, src, op string, also func(*sql.Tx) error) error {
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
	var rec []*AuditEntry
	err = s.commitPG(ctx, logWrite, func(conn *sql.Conn, tx *sql.Tx) error {
		return s.recordingChanges(ctx, op, func(tx *sql.Tx) error {
			if also != nil {
				if err := also(tx); err != nil {
					return err
				}
			}
			// DELETE, not TRUNCATE: TRUNCATE's exclusive table locks
			// deadlock with a reader holding one of the tables and waiting
			// for another; rows deleted wait for no one (readers keep
			// their snapshot). The template's rows bring their ids, and
			// syncSequences moves the sequences past them.
			for _, t := range bankTables { // children first
				if _, err := tx.ExecContext(ctx, "DELETE FROM "+t); err != nil {
					return err
				}
			}
			// The PSUs added at run time went with the old bank (as in Load).
			if _, err := tx.ExecContext(ctx, "DELETE FROM runtime_psus"); err != nil {
				return err
			}
			cols, err := columnsOf(ctx, tx, bankTables)
			if err != nil {
				return err
			}
			for _, t := range slices.Backward(bankTables) { // parents first
				if err := copyTable(ctx, conn, tpl, t, cols[t]); err != nil {
					return fmt.Errorf("copy %s: %w", t, err)
				}
			}
			if err := syncSequences(ctx, tx); err != nil {
				return err
			}
			if op == "ResetTo" {
				return nil // the same bank as before: the planner's statistics still hold (two thirds of a reset's time otherwise)
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

// copyTable copies table t's rows from the SQLite template into this
// schema's, each value as the PostgreSQL column's type asks.
func copyTable(ctx context.Context, conn *sql.Conn, tpl *sql.DB, t string, cols []pgColumn) error {
	if len(cols) == 0 {
		return fmt.Errorf("no table %s in this schema", t)
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	rows, err := tpl.QueryContext(ctx, `SELECT "`+strings.Join(names, `", "`)+`" FROM `+t)
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
