package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/obsandbox/sandbox/internal/bank"
)

// AuthCode is an authorization code's record (the code itself is only
// hashed).
type AuthCode struct {
	Hash          string
	ClientID      string
	ConsentID     string
	PSU           string
	RedirectURI   string
	Scope         string
	Nonce         string
	CodeChallenge string
	IssuedAt      time.Time
	ExpiresAt     time.Time
	UsedAt        time.Time
	AuthTime      time.Time // when the PSU authenticated (real time)
}

// SaveCode records a new authorization code.
func (s *Store) SaveCode(ctx context.Context, c AuthCode) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO auth_codes(code_hash, client_id, consent_id, psu, redirect_uri, scope, nonce,
			code_challenge, issued_at, expires_at, auth_time) VALUES(?,?,?,?,?,?,?,?,?,?,?)`, c.Hash, c.ClientID, c.ConsentID, c.PSU,
			c.RedirectURI, c.Scope, c.Nonce, c.CodeChallenge, unix(c.IssuedAt), unix(c.ExpiresAt), unix(c.AuthTime))
		return err
	})
}

// ErrCodeReused is returned by UseCode for a code that was already used;
// the tokens issued from its first use have been revoked.
var ErrCodeReused = errors.New("authorization code reused")

// ErrWrongClient is returned by UseCode when another client presents a
// code: it is left as it was.
var ErrWrongClient = errors.New("authorization code of another client")

// UseCode marks a code used and returns it, atomically: of two concurrent
// uses exactly one succeeds. A second use by its client revokes every token
// the first issued (RFC 6749 §4.1.2, "SHOULD revoke"), remembers the reuse
// (CodeReused then revokes tokens saved later) and returns ErrCodeReused. A
// code presented by another client is not touched.
func (s *Store) UseCode(ctx context.Context, hash, clientID string, now time.Time) (AuthCode, error) {
	var c AuthCode
	var outcome error
	err := s.write(ctx, func(tx *sql.Tx) error {
		var iat, exp, used, auth int64
		err := tx.QueryRowContext(ctx, `SELECT code_hash, client_id, consent_id, psu, redirect_uri, scope, nonce, code_challenge,
			issued_at, expires_at, used_at, auth_time FROM auth_codes WHERE code_hash = ?`, hash).Scan(&c.Hash, &c.ClientID, &c.ConsentID,
			&c.PSU, &c.RedirectURI, &c.Scope, &c.Nonce, &c.CodeChallenge, &iat, &exp, &used, &auth)
		if err != nil {
			return err
		}
		c.IssuedAt, c.ExpiresAt, c.UsedAt, c.AuthTime = fromUnix(iat), fromUnix(exp), fromUnix(used), fromUnix(auth)
		switch {
		case c.ClientID != clientID:
			outcome = ErrWrongClient
			return nil
		case used != 0:
			outcome = ErrCodeReused
			if _, err := tx.ExecContext(ctx, "UPDATE auth_codes SET reused_at = ? WHERE code_hash = ?", now.Unix(), hash); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, "UPDATE tokens SET revoked_at = ? WHERE code = ? AND revoked_at = 0", now.Unix(), hash)
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE auth_codes SET used_at = ? WHERE code_hash = ?", now.Unix(), hash)
		return err
	})
	if err == nil {
		err = outcome
	}
	return c, err
}

// SettleCode is called after the tokens of a code's first use are saved:
// if a reuse was detected meanwhile, those tokens are revoked too. It
// reports whether they were.
func (s *Store) SettleCode(ctx context.Context, hash string, now time.Time) (bool, error) {
	var reused bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		var at int64
		if err := tx.QueryRowContext(ctx, "SELECT reused_at FROM auth_codes WHERE code_hash = ?", hash).Scan(&at); err != nil {
			return err
		}
		if at == 0 {
			return nil
		}
		reused = true
		_, err := tx.ExecContext(ctx, "UPDATE tokens SET revoked_at = ? WHERE code = ? AND revoked_at = 0", now.Unix(), hash)
		return err
	})
	return reused, err
}

// UseJTI records a client assertion's jti until exp; ErrConflict if the
// client already used it (RFC 7523 §3: single use).
func (s *Store) UseJTI(ctx context.Context, clientID, jti string, exp, now time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM used_jtis WHERE expires_at < ?", now.Unix()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO used_jtis(client_id, jti, expires_at) VALUES(?,?,?)", clientID, jti, exp.Unix())
		return err
	})
}

// PAR is a pushed authorization request.
type PAR struct {
	RequestURI string
	ClientID   string
	Params     []byte // JSON
	ExpiresAt  time.Time
}

// SavePAR records a pushed authorization request.
func (s *Store) SavePAR(ctx context.Context, p PAR) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO par_requests(request_uri, client_id, params, expires_at) VALUES(?,?,?,?)",
			p.RequestURI, p.ClientID, string(p.Params), unix(p.ExpiresAt))
		return err
	})
}

// PeekPAR returns a pushed request without using it; ErrNotFound if
// unknown, used or expired at now.
func (s *Store) PeekPAR(ctx context.Context, uri string, now time.Time) (PAR, error) {
	var p PAR
	var exp, used int64
	var params string
	err := s.w.QueryRowContext(ctx, "SELECT request_uri, client_id, params, expires_at, used_at FROM par_requests WHERE request_uri = ?", uri).
		Scan(&p.RequestURI, &p.ClientID, &params, &exp, &used)
	if err != nil {
		return p, translate(err)
	}
	p.Params, p.ExpiresAt = []byte(params), fromUnix(exp)
	if used != 0 || !now.Before(p.ExpiresAt) {
		return p, bank.ErrNotFound
	}
	return p, nil
}

// PARForConsent returns the newest pushed request for the consent (its
// openbanking_intent_id) not yet used nor expired at now; ErrNotFound when
// there is none. Test helpers approve a consent by it, as the PSU would.
func (s *Store) PARForConsent(ctx context.Context, consentID string, now time.Time) (PAR, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT request_uri, client_id, params, expires_at FROM par_requests
		WHERE used_at = 0 AND expires_at > ? AND params LIKE ? ORDER BY expires_at DESC`, now.Unix(), "%"+consentID+"%")
	if err != nil {
		return PAR{}, translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		var p PAR
		var exp int64
		var params string
		if err := rows.Scan(&p.RequestURI, &p.ClientID, &params, &exp); err != nil {
			return PAR{}, translate(err)
		}
		var v struct {
			Intent string `json:"openbanking_intent_id"`
		}
		if json.Unmarshal([]byte(params), &v) == nil && v.Intent == consentID {
			p.Params, p.ExpiresAt = []byte(params), fromUnix(exp)
			return p, nil
		}
	}
	if err := rows.Err(); err != nil {
		return PAR{}, translate(err)
	}
	return PAR{}, bank.ErrNotFound
}

// TakePAR returns a pushed request and marks it used (single use, RFC 9126
// §4); ErrNotFound if unknown, used or expired at now.
func (s *Store) TakePAR(ctx context.Context, uri string, now time.Time) (PAR, error) {
	var p PAR
	err := s.write(ctx, func(tx *sql.Tx) error {
		var exp, used int64
		var params string
		if err := tx.QueryRowContext(ctx, "SELECT request_uri, client_id, params, expires_at, used_at FROM par_requests WHERE request_uri = ?", uri).
			Scan(&p.RequestURI, &p.ClientID, &params, &exp, &used); err != nil {
			return err
		}
		p.Params, p.ExpiresAt = []byte(params), fromUnix(exp)
		if used != 0 || !now.Before(p.ExpiresAt) {
			return bank.ErrNotFound
		}
		_, err := tx.ExecContext(ctx, "UPDATE par_requests SET used_at = ? WHERE request_uri = ?", now.Unix(), uri)
		return err
	})
	return p, err
}

// Lockout rules for PSU logins (SPEC §8).
const (
	MaxLoginFailures = 5
	LockoutDuration  = 15 * time.Minute
)

// CheckPSULogin verifies a PSU's password under the lockout rule: a locked
// username is refused whatever the password and the attempt does not extend
// the lock; a wrong password counts a failure and the fifth locks the
// username; success clears the count. check is given the stored hash (” for
// a fixture credential) and runs outside any transaction (a slow hash must
// not hold the writer); the count and the lock are then settled in one write
// transaction, which refuses a login the lock caught meanwhile. It reports
// only whether the login succeeded, so callers cannot tell an unknown user,
// a wrong password and a locked account apart.
func (s *Store) CheckPSULogin(ctx context.Context, username string, check func(stored string) bool, now time.Time) (bool, error) {
	var locked int64
	err := s.rc.QueryRowContext(ctx, "SELECT locked_until FROM psu_logins WHERE username = ?", username).Scan(&locked)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, translate(err)
	}
	if locked > now.Unix() {
		return false, nil
	}
	var stored string
	err = s.rc.QueryRowContext(ctx, "SELECT password_hash FROM psus WHERE username = ?", username).Scan(&stored)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, translate(err)
	}
	known := err == nil
	if !known {
		return false, nil // nothing to lock; the answer is the same
	}
	ok := check(stored)
	err = s.write(ctx, func(tx *sql.Tx) error {
		var failures int64
		locked = 0
		err := tx.QueryRowContext(ctx, "SELECT failures, locked_until FROM psu_logins WHERE username = ?", username).Scan(&failures, &locked)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if locked > now.Unix() {
			ok = false
			return nil
		}
		if locked != 0 {
			failures, locked = 0, 0 // the lock has run out
		}
		if ok {
			if failures == 0 && errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			_, err := tx.ExecContext(ctx, "DELETE FROM psu_logins WHERE username = ?", username)
			return err
		}
		failures++
		if failures >= MaxLoginFailures {
			locked = now.Add(LockoutDuration).Unix()
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO psu_logins(username, failures, locked_until) VALUES(?,?,?)
			ON CONFLICT(username) DO UPDATE SET failures = excluded.failures, locked_until = excluded.locked_until`, username, failures, locked)
		return err
	})
	return ok, err
}

// AuthRequest is an authorization request waiting for the PSU.
type AuthRequest struct {
	ID        string
	ClientID  string
	Params    []byte
	CSRF      string
	PSU       string
	Session   string
	CreatedAt time.Time
	ExpiresAt time.Time
	DoneAt    time.Time
}

// SaveAuthRequest records an authorization request.
func (s *Store) SaveAuthRequest(ctx context.Context, r AuthRequest) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO auth_requests(id, client_id, params, csrf, psu, session, created_at, expires_at)
			VALUES(?,?,?,?,?,?,?,?)`, r.ID, r.ClientID, string(r.Params), r.CSRF, r.PSU, r.Session, unix(r.CreatedAt), unix(r.ExpiresAt))
		return err
	})
}

// GetAuthRequest reads an authorization request; ErrNotFound if unknown.
func (s *Store) GetAuthRequest(ctx context.Context, id string) (AuthRequest, error) {
	var r AuthRequest
	var params string
	var c, e, d int64
	err := s.w.QueryRowContext(ctx, `SELECT id, client_id, params, csrf, psu, session, created_at, expires_at, done_at
		FROM auth_requests WHERE id = ?`, id).Scan(&r.ID, &r.ClientID, &params, &r.CSRF, &r.PSU, &r.Session, &c, &e, &d)
	r.Params, r.CreatedAt, r.ExpiresAt, r.DoneAt = []byte(params), fromUnix(c), fromUnix(e), fromUnix(d)
	return r, translate(err)
}

// UpdateAuthRequest records the PSU who logged in (and the session), or
// marks the request done.
func (s *Store) UpdateAuthRequest(ctx context.Context, r AuthRequest) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE auth_requests SET psu = ?, session = ?, done_at = ? WHERE id = ?",
			r.PSU, r.Session, unix(r.DoneAt), r.ID)
		return err
	})
}

// PSUSession is a logged-in PSU at the bank's pages.
type PSUSession struct {
	IDHash    string
	Username  string
	CSRF      string
	ExpiresAt time.Time
}

// SavePSUSession records a session.
func (s *Store) SavePSUSession(ctx context.Context, p PSUSession) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO psu_sessions(id_hash, username, csrf, expires_at) VALUES(?,?,?,?)",
			p.IDHash, p.Username, p.CSRF, unix(p.ExpiresAt))
		return err
	})
}

// GetPSUSession reads a session; ErrNotFound if unknown.
func (s *Store) GetPSUSession(ctx context.Context, idHash string) (PSUSession, error) {
	var p PSUSession
	var e int64
	err := s.w.QueryRowContext(ctx, "SELECT id_hash, username, csrf, expires_at FROM psu_sessions WHERE id_hash = ?", idHash).
		Scan(&p.IDHash, &p.Username, &p.CSRF, &e)
	p.ExpiresAt = fromUnix(e)
	return p, translate(err)
}

// DeletePSUSession ends a session.
func (s *Store) DeletePSUSession(ctx context.Context, idHash string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM psu_sessions WHERE id_hash = ?", idHash)
		return err
	})
}

// RevokeByPSU records that the PSU revoked a consent's access at the bank:
// its tokens stop working at once and its status stays (AIS profile,
// "Access Revocation"). ErrNotFound unless the consent is the PSU's.
func (s *Store) RevokeByPSU(ctx context.Context, psu, consentID string, now time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE consents SET psu_revoked = 1 WHERE consent_id = ? AND psu = ? AND psu <> ''", consentID, psu)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return bank.ErrNotFound
		}
		return revokeConsentTokens(ctx, tx, consentID, now)
	})
}
