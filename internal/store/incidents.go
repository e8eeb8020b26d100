package store

import (
	"context"
	"database/sql"
	"time"
)

// SaveIncident writes an incident drill's record (JSON), new or updated.
func (s *Store) SaveIncident(ctx context.Context, id, scenario string, created time.Time, record []byte) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO incidents(id, scenario, created_at, record) VALUES(?,?,?,?)
			ON CONFLICT(id) DO UPDATE SET record = excluded.record`, id, scenario, created.UnixMilli(), string(record))
		return err
	})
}

// Incident reads a drill's record; ErrNotFound if none.
func (s *Store) Incident(ctx context.Context, id string) ([]byte, error) {
	var r string
	err := s.rc.QueryRowContext(ctx, "SELECT record FROM incidents WHERE id = ?", id).Scan(&r)
	return []byte(r), translate(err)
}

// Incidents lists the drills' records, newest first.
func (s *Store) Incidents(ctx context.Context) ([][]byte, error) {
	rows, err := s.rc.QueryContext(ctx, "SELECT record FROM incidents ORDER BY created_at DESC, id LIMIT 100")
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		out = append(out, []byte(r))
	}
	return out, translate(rows.Err())
}

// AuditBetween lists the audit entries stamped in [from, to], in chain order.
func (s *Store) AuditBetween(ctx context.Context, from, to time.Time) ([]AuditEntry, error) {
	rows, err := s.rc.QueryContext(ctx, "SELECT "+auditCols+" FROM audit_log WHERE at >= ? AND at <= ? ORDER BY seq", from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	out := []AuditEntry{}
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, translate(rows.Err())
}
