package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// CIBARequest is a backchannel authentication request (OpenID CIBA Core
// 1.0 §7) as the bank keeps it.
type CIBARequest struct {
	ID                string // auth_req_id
	Handle            string // its name in the PSU's pages
	ClientID          string
	ConsentID         string
	PSU               string
	Scope             string
	BindingMessage    string
	Mode              string // poll | ping
	NotificationToken string
	Status            string // pending | deciding | approved | denied | issued
	Reason            string // why it was denied
	Interval          time.Duration
	CreatedAt         time.Time
	ExpiresAt         time.Time
	PolledAt          time.Time
	DecidedAt         time.Time
	AuthTime          time.Time // when the PSU approved (real time)
}

const cibaCols = `auth_req_id, handle, client_id, consent_id, psu, scope, binding_message, mode, notification_token, status, reason,
	interval_s, created_at, expires_at, polled_at, decided_at, auth_time`

func scanCIBA(sc interface{ Scan(...any) error }) (CIBARequest, error) {
	var r CIBARequest
	var interval, c, e, p, d, a int64
	err := sc.Scan(&r.ID, &r.Handle, &r.ClientID, &r.ConsentID, &r.PSU, &r.Scope, &r.BindingMessage, &r.Mode, &r.NotificationToken,
		&r.Status, &r.Reason, &interval, &c, &e, &p, &d, &a)
	r.Interval = time.Duration(interval) * time.Second
	r.CreatedAt, r.ExpiresAt, r.PolledAt, r.DecidedAt, r.AuthTime = fromUnix(c), fromUnix(e), fromUnix(p), fromUnix(d), fromUnix(a)
	return r, err
}

// SaveCIBA records a new backchannel authentication request.
func (s *Store) SaveCIBA(ctx context.Context, r CIBARequest) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		token := ""
		if r.NotificationToken != "" {
			var err error
			if token, err = s.sealIn(ctx, tx, column("ciba_requests", "notification_token"), r.ID, []byte(r.NotificationToken)); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO ciba_requests("+cibaCols+") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
			r.ID, r.Handle, r.ClientID, r.ConsentID, r.PSU, r.Scope, r.BindingMessage, r.Mode, token, r.Status, r.Reason,
			int64(r.Interval/time.Second), unix(r.CreatedAt), unix(r.ExpiresAt), unix(r.PolledAt), unix(r.DecidedAt), unix(r.AuthTime))
		return err
	})
}

// CIBA reads a request by its auth_req_id; ErrNotFound if unknown.
func (s *Store) CIBA(ctx context.Context, id string) (CIBARequest, error) {
	r, err := scanCIBA(s.w.QueryRowContext(ctx, "SELECT "+cibaCols+" FROM ciba_requests WHERE auth_req_id = ?", id))
	if err != nil {
		return r, translate(err)
	}
	return r, s.openCIBA(ctx, s.w, &r)
}

// openCIBA opens a request's notification token as read from q.
func (s *Store) openCIBA(ctx context.Context, q rowQuerier, r *CIBARequest) error {
	tok, err := s.openFrom(ctx, q, column("ciba_requests", "notification_token"), r.ID, r.NotificationToken)
	r.NotificationToken = string(tok)
	return err
}

// CIBAByHandle reads a request by its handle; ErrNotFound if unknown.
func (s *Store) CIBAByHandle(ctx context.Context, handle string) (CIBARequest, error) {
	r, err := scanCIBA(s.w.QueryRowContext(ctx, "SELECT "+cibaCols+" FROM ciba_requests WHERE handle = ?", handle))
	if err != nil {
		return r, translate(err)
	}
	return r, s.openCIBA(ctx, s.w, &r)
}

// PendingCIBA lists the PSU's requests still waiting for a decision at now,
// oldest first.
func (s *Store) PendingCIBA(ctx context.Context, psu string, now time.Time) ([]CIBARequest, error) {
	rows, err := s.w.QueryContext(ctx, "SELECT "+cibaCols+" FROM ciba_requests WHERE psu = ? AND status = 'pending' AND expires_at > ? ORDER BY created_at, auth_req_id",
		psu, now.Unix())
	if err != nil {
		return nil, translate(err)
	}
	var out []CIBARequest
	for rows.Next() {
		r, err := scanCIBA(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, translate(err)
	}
	for i := range out { // the rows closed: the one writer connection is free again
		if err := s.openCIBA(ctx, s.w, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// UpdateCIBA changes a request in one transaction: update sees it as
// stored and changes it; an error from update leaves it as it was and is
// returned. ErrNotFound if unknown.
func (s *Store) UpdateCIBA(ctx context.Context, id string, update func(*CIBARequest) error) (CIBARequest, error) {
	var r CIBARequest
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		if r, err = scanCIBA(tx.QueryRowContext(ctx, "SELECT "+cibaCols+" FROM ciba_requests WHERE auth_req_id = ?", id)); err != nil {
			return err
		}
		if err := s.openCIBA(ctx, tx, &r); err != nil {
			return err
		}
		if err := update(&r); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE ciba_requests SET status = ?, reason = ?, interval_s = ?, polled_at = ?, decided_at = ?,
			auth_time = ? WHERE auth_req_id = ?`, r.Status, r.Reason, int64(r.Interval/time.Second), unix(r.PolledAt), unix(r.DecidedAt),
			unix(r.AuthTime), id)
		return err
	})
	return r, err
}

// PSUExists reports whether a username is a PSU of the bank.
func (s *Store) PSUExists(ctx context.Context, username string) (bool, error) {
	var one int
	err := s.rc.QueryRowContext(ctx, "SELECT 1 FROM psus WHERE username = ?", username).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, translate(err)
}
