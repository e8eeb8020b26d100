package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/obsandbox/sandbox/internal/bank"
)

// Templates: a bank generated once and copied, instead of generated again,
// into every database that wants the same bank — a tenant, a reset, each
// test's sandbox. Copying rows (or a whole file) is a small fraction of
// generating them, and the copy is the same bank byte for byte.

// SealTemplate makes s, a freshly seeded SQLite database, a template and
// closes it: what belongs to the database rather than to its bank — what
// its own key wrapped or keyed: the data keys, the audit chains' anchors —
// is removed (a copy starts its own under its own key), and the
// write-ahead log is folded into the file, which is then whole.
func (s *Store) SealTemplate(ctx context.Context) error {
	if s.pg != nil {
		return errors.New("templates are SQLite files")
	}
	for _, t := range keyedTables {
		if _, err := s.w.ExecContext(ctx, "DELETE FROM "+t); err != nil {
			return errors.Join(err, s.Close())
		}
	}
	return s.Close()
}

// keyedTables hold what a database's key wrapped or keyed.
var keyedTables = []string{"audit_anchors", "data_keys"}

// CloneTemplate copies the template file src to dst, which must not exist:
// a new database holding the template's bank and no anchors, which Open
// starts under its own key. The copy is written beside dst and renamed
// into place once synced, so a crash leaves no half database.
func CloneTemplate(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("%s exists: %w", dst, bank.ErrConflict)
	}
	out, err := os.CreateTemp(filepath.Dir(dst), filepath.Base(dst)+".clone-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			out.Close()
			os.Remove(out.Name())
		}
	}()
	if _, err := io.Copy(out, in); err != nil {
		return err
	}
	if err := out.Sync(); err != nil {
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	// Linked, not renamed: a file that appeared meanwhile is not replaced.
	if err := os.Link(out.Name(), dst); err != nil {
		os.Remove(out.Name())
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s exists: %w", dst, bank.ErrConflict)
		}
		return err
	}
	return os.Remove(out.Name())
}

// CopyBank replaces the bank — the tables Load writes — with the bank of
// the template at src (a file SealTemplate made, of this schema version),
// in one write transaction: readers see the old bank or the new one.
func (s *Store) CopyBank(ctx context.Context, src string) error {
	return s.copyBank(ctx, src, "CopyBank", "", nil)
}

// ResetTo is a reset (ResetState) and CopyBank and the settings given, in
// one write transaction: the sandbox is back at the template's bank with
// nothing done on it, or — on any failure — as it was. Other processes
// sharing the database are told of each setting given (OnSetting).
func (s *Store) ResetTo(ctx context.Context, src string, settings map[string]string) error {
	notice := "setting:" + strings.Join(slices.Sorted(maps.Keys(settings)), ",")
	return s.copyBank(ctx, src, "ResetTo", notice, func(tx *sql.Tx) error {
		tables, prefix := stateTables, "main." // the template is attached beside main on SQLite
		if s.pg != nil {
			tables, prefix = append(slices.Clone(tables), "rate_buckets"), ""
		}
		for _, t := range tables {
			if _, err := tx.ExecContext(ctx, "DELETE FROM "+prefix+t); err != nil {
				return err
			}
		}
		for k, v := range settings {
			if _, err := tx.ExecContext(ctx, "INSERT INTO settings(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", k, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// copyBank is CopyBank with also's changes in the same transaction; on
// PostgreSQL the other processes get notice (see commit).
func (s *Store) copyBank(ctx context.Context, src, op, notice string, also func(*sql.Tx) error) error {
	if s.pg != nil {
		return s.copyBankPG(ctx, src, op, notice, also)
	}
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return translate(err)
	}
	defer conn.Close()
	// Attached outside the transaction (SQLite refuses it inside one).
	if _, err := conn.ExecContext(ctx, "ATTACH DATABASE ? AS tpl", "file:"+src+"?mode=ro"); err != nil {
		return translate(err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "DETACH DATABASE tpl")
	// The template is read once, in order: a few pages of cache are enough
	// (a whole cache would be allocated, then freed at DETACH).
	if _, err := conn.ExecContext(ctx, "PRAGMA tpl.cache_size = 16"); err != nil {
		return err
	}
	var version int
	if err := conn.QueryRowContext(ctx, "PRAGMA tpl.user_version").Scan(&version); err != nil {
		return err
	}
	if version != s.Version {
		return fmt.Errorf("template %s has schema version %d, this database %d", src, version, s.Version)
	}
	// Foreign keys off (outside the transaction, where the pragma takes
	// effect): the template is a whole bank, and SQLite then empties each
	// table at once and copies its rows as they are stored (the "transfer
	// optimisation"), indexes included.
	if _, err := conn.ExecContext(ctx, "PRAGMA foreign_keys = OFF"); err != nil {
		return err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA foreign_keys = ON")
	var rec []*AuditEntry
	f := s.recordingChanges(ctx, op, func(tx *sql.Tx) error {
		if also != nil {
			if err := also(tx); err != nil {
				return err
			}
		}
		for _, t := range bankTables {
			if _, err := tx.ExecContext(ctx, "DELETE FROM main."+t); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO main."+t+" SELECT * FROM tpl."+t); err != nil {
				return fmt.Errorf("copy %s: %w", t, err)
			}
		}
		// The PSUs added at run time went with the old bank (as in Load).
		_, err := tx.ExecContext(ctx, "DELETE FROM main.runtime_psus")
		return err
	}, &rec)
	err = s.commitOn(ctx, conn, s.sync, func(_ *sql.Conn, tx *sql.Tx) error { return f(tx) })
	s.version.Add(1)
	if err == nil {
		s.committed(rec, nil)
	}
	return err
}
