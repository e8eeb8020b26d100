package store

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// DumpBank writes the bank's tables (not clients, consents or tokens) as
// canonical text: every table in a fixed order, rows by primary key, one line
// each. Two banks are byte-identical when their dumps are.
func (s *Store) DumpBank(ctx context.Context, w io.Writer) error {
	return s.read(ctx, func(tx *sql.Tx) error { return dumpBank(ctx, tx, w) })
}

// dumpBank is DumpBank of the database q reads.
func dumpBank(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, w io.Writer) error {
	for i := len(bankTables) - 1; i >= 0; i-- {
		t := bankTables[i]
		rows, err := q.QueryContext(ctx, "SELECT * FROM "+t+" ORDER BY 1, 2")
		if err != nil {
			return err
		}
		cols, err := rows.Columns()
		if err != nil {
			rows.Close()
			return err
		}
		fmt.Fprintf(w, "# %s %s\n", t, strings.Join(cols, ","))
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		var scratch [32]byte
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return err
			}
			for i, v := range vals {
				if i > 0 {
					io.WriteString(w, "|")
				}
				switch v := v.(type) {
				case nil:
					io.WriteString(w, "∅")
				case int64: // the common cases without fmt: the dump is a test's fingerprint of the bank
					w.Write(strconv.AppendInt(scratch[:0], v, 10))
				case float64:
					w.Write(strconv.AppendFloat(scratch[:0], v, 'g', -1, 64))
				case string:
					io.WriteString(w, v)
				case []byte:
					fmt.Fprintf(w, "%q", v)
				default:
					fmt.Fprint(w, v)
				}
			}
			io.WriteString(w, "\n")
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}
