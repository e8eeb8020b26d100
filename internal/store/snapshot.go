package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/obsandbox/sandbox/internal/bank"
)

// Snapshots (SPEC §4.5, isolation): a snapshot is a consistent copy of the
// whole database file, made online with VACUUM INTO while requests go on; a
// restore copies every table back in one write transaction — readers see
// the old state or the new, never a mix — except the audit trail, which is
// append-only and keeps recording what happened, restores included.

// keptOnRestore are the tables a restore leaves as they are.
var keptOnRestore = []string{"audit_log", "security_events", "audit_anchors", "refused_traffic"}

// Snapshot writes a consistent copy of the database to path, which must not
// exist.
func (s *Store) Snapshot(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s exists: %w", path, bank.ErrConflict)
	}
	// Its own connection: VACUUM INTO reads a snapshot of the database (it
	// writes only the new file) and needs a connection that may write, but
	// must not hold the one writer while it copies.
	db, err := sql.Open("sqlite", dsn(s.path, false))
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, "VACUUM INTO ?", path)
	return translate(err)
}

// SnapshotSetting reads a key of a snapshot's settings.
func SnapshotSetting(ctx context.Context, path, key string) (string, error) {
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("snapshot %s: %w", path, bank.ErrNotFound)
	}
	db, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		return "", err
	}
	defer db.Close()
	var v string
	err = db.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", key).Scan(&v)
	return v, translate(err)
}

// Restore replaces every table but the audit trail with the snapshot's.
// The snapshot must come from the same schema version.
func (s *Store) Restore(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("snapshot %s: %w", path, bank.ErrNotFound)
	}
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "ATTACH DATABASE ? AS snap", "file:"+path+"?mode=ro"); err != nil {
		return translate(err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "DETACH DATABASE snap")
	var version int
	if err := conn.QueryRowContext(ctx, "PRAGMA snap.user_version").Scan(&version); err != nil {
		return err
	}
	if version != s.Version {
		return fmt.Errorf("the snapshot has schema version %d, this sandbox %d: %w", version, s.Version, bank.ErrConflict)
	}
	// Tables are emptied and refilled in any order: foreign keys are checked
	// once, at the end (the pragma only takes effect outside a transaction).
	if _, err := conn.ExecContext(ctx, "PRAGMA foreign_keys = OFF"); err != nil {
		return err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA foreign_keys = ON")
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return translate(err)
	}
	defer tx.Rollback()
	tables, err := snapshotTables(ctx, tx)
	if err != nil {
		return err
	}
	for _, t := range tables {
		if _, err := tx.ExecContext(ctx, `DELETE FROM main."`+t+`"`); err != nil {
			return fmt.Errorf("restore %s: %w", t, err)
		}
		cols, err := storedColumns(ctx, tx, t)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO main."`+t+`"(`+cols+`) SELECT `+cols+` FROM snap."`+t+`"`); err != nil {
			return fmt.Errorf("restore %s: %w", t, err)
		}
	}
	// The snapshot was consistent; check that the copy is before it counts.
	var orphan string
	switch err := tx.QueryRowContext(ctx, "SELECT \"table\" FROM pragma_foreign_key_check").Scan(&orphan); {
	case err == nil:
		return fmt.Errorf("restore: %s breaks a foreign key", orphan)
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	err = translate(tx.Commit())
	s.version.Add(1)
	return err
}

// storedColumns lists a table's columns that hold values (generated
// columns are computed, not copied), quoted and comma-separated.
func storedColumns(ctx context.Context, tx *sql.Tx, table string) (string, error) {
	rows, err := tx.QueryContext(ctx, "SELECT name FROM pragma_table_info(?)", table)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return "", err
		}
		cols = append(cols, `"`+c+`"`)
	}
	if len(cols) == 0 {
		return "", fmt.Errorf("restore: table %s has no columns", table)
	}
	return strings.Join(cols, ", "), rows.Err()
}

// snapshotTables lists the tables a restore copies.
func snapshotTables(ctx context.Context, tx *sql.Tx) ([]string, error) {
	rows, err := tx.QueryContext(ctx, "SELECT name FROM snap.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		if !slices.Contains(keptOnRestore, name) {
			out = append(out, name)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("the snapshot holds no tables")
	}
	return triggerOrder(ctx, tx, out)
}

var insertInto = regexp.MustCompile(`(?i)INSERT\s+(?:OR\s+\w+\s+)?INTO\s+"?(\w+)"?`)

// triggerOrder orders tables so that a table whose triggers insert into
// another is refilled before it: what the triggers add while one table is
// refilled is then wiped when the other is (an event outbox, say, is not
// filled twice).
func triggerOrder(ctx context.Context, tx *sql.Tx, tables []string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, "SELECT tbl_name, sql FROM main.sqlite_master WHERE type = 'trigger'")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	after := map[string][]string{} // table -> tables its triggers insert into
	indeg := map[string]int{}
	for rows.Next() {
		var src, body string
		if err := rows.Scan(&src, &body); err != nil {
			return nil, err
		}
		for _, m := range insertInto.FindAllStringSubmatch(body, -1) {
			if m[1] != src && slices.Contains(tables, m[1]) && !slices.Contains(after[src], m[1]) {
				after[src] = append(after[src], m[1])
				indeg[m[1]]++
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out, ready []string
	for _, t := range tables {
		if indeg[t] == 0 {
			ready = append(ready, t)
		}
	}
	for len(ready) > 0 {
		t := ready[0]
		ready = ready[1:]
		out = append(out, t)
		for _, u := range after[t] {
			if indeg[u]--; indeg[u] == 0 {
				ready = append(ready, u)
			}
		}
	}
	if len(out) != len(tables) {
		return nil, errors.New("restore: the triggers insert in a cycle")
	}
	return out, nil
}
