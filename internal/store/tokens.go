package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/obsandbox/sandbox/internal/bank"
)

// Token is the bank's record of an access or refresh token. The token itself
// is a signed JWT (access) or an opaque string (refresh); the record is what
// revocation and expiry act on.
type Token struct {
	JTI       string
	Kind      string // access | refresh
	ClientID  string
	ConsentID string
	PSU       string
	Scope     string
	GrantType string
	IssuedAt  time.Time
	ExpiresAt time.Time // zero: never
	RevokedAt time.Time
	// RotatedAt is when a refresh token was used up by rotation (RevokedAt
	// too); zero when it was revoked any other way or is live.
	RotatedAt time.Time
	Code      string // hash of the authorization code it came from
	CNF       string // x5t#S256 of the certificate it is bound to
	JKT       string // thumbprint of the DPoP key it is bound to (RFC 9449)
	// AuthTime is when the PSU authenticated for the grant (real time).
	AuthTime time.Time
}

// SaveToken records an issued token.
func (s *Store) SaveToken(ctx context.Context, t Token) error {
	return s.write(ctx, func(tx *sql.Tx) error { return insertToken(ctx, tx, t) })
}

func insertToken(ctx context.Context, tx *sql.Tx, t Token) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO tokens(jti, kind, client_id, consent_id, psu, scope, grant_type, issued_at,
		expires_at, revoked_at, code, cnf, auth_time, jkt) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)`, t.JTI, t.Kind, t.ClientID, t.ConsentID, t.PSU,
		t.Scope, t.GrantType, unix(t.IssuedAt), unix(t.ExpiresAt), unix(t.RevokedAt), t.Code, t.CNF, unix(t.AuthTime), t.JKT)
	return err
}

const tokenCols = "jti, kind, client_id, consent_id, psu, scope, grant_type, issued_at, expires_at, revoked_at, rotated_at, code, cnf, auth_time, jkt"

func scanToken(sc interface{ Scan(...any) error }) (Token, error) {
	var t Token
	var iat, exp, rev, rot, auth int64
	err := sc.Scan(&t.JTI, &t.Kind, &t.ClientID, &t.ConsentID, &t.PSU, &t.Scope, &t.GrantType, &iat, &exp, &rev, &rot, &t.Code, &t.CNF, &auth, &t.JKT)
	t.IssuedAt, t.ExpiresAt, t.RevokedAt, t.RotatedAt, t.AuthTime = fromUnix(iat), fromUnix(exp), fromUnix(rev), fromUnix(rot), fromUnix(auth)
	return t, err
}

// TokenRecord reads a token record; ErrNotFound if unknown.
func (s *Store) TokenRecord(ctx context.Context, jti string) (Token, error) {
	t, err := scanToken(s.rc.QueryRowContext(ctx, "SELECT "+tokenCols+" FROM tokens WHERE jti = ?", jti))
	return t, translate(err)
}

// Access is what the resource server checks on every call: the token record,
// the consent it is bound to (if any) and whether the client is suspended.
type Access struct {
	Token     Token
	Consent   *bank.Consent
	Suspended string // the client's suspension reason, '' when active
}

// AccessOf reads the token with its consent and client state (remembered
// until the next write: see memo). The consent is the caller's own copy.
func (s *Store) AccessOf(ctx context.Context, jti string) (Access, error) {
	a, err := remember(s, "access\x00"+jti, func(a Access) int {
		if a.Consent == nil {
			return 0
		}
		return consentWeight(*a.Consent)
	}, func() (Access, error) { return s.accessOf(ctx, jti) })
	if err == nil && a.Consent != nil {
		c := a.Consent.Clone()
		a.Consent = &c
	}
	return a, err
}

func (s *Store) accessOf(ctx context.Context, jti string) (Access, error) {
	var a Access
	err := s.readEach(ctx, func(tx querier) error {
		var err error
		if a.Token, err = scanToken(tx.QueryRowContext(ctx, "SELECT "+tokenCols+" FROM tokens WHERE jti = ?", jti)); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, "SELECT suspended FROM clients WHERE client_id = ?", a.Token.ClientID).Scan(&a.Suspended); err != nil {
			return err
		}
		if a.Token.ConsentID == "" {
			return nil
		}
		c, err := scanConsent(tx.QueryRowContext(ctx, "SELECT "+consentCols+" FROM consents WHERE consent_id = ?", a.Token.ConsentID))
		if err != nil {
			return err
		}
		a.Consent = &c
		return nil
	})
	return a, err
}

// RevokeToken marks one token revoked at now.
func (s *Store) RevokeToken(ctx context.Context, jti string, now time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE tokens SET revoked_at = ? WHERE jti = ? AND revoked_at = 0", now.Unix(), jti)
		return err
	})
}

// Outcomes of RotateRefresh other than success.
var (
	// ErrRefreshRotated: the refresh token was already used up by rotation;
	// presenting it again is reuse (RFC 9700 §4.14.2).
	ErrRefreshRotated = errors.New("refresh token already rotated")
	// ErrRefreshRevoked: the refresh token was revoked otherwise (by the PSU,
	// a consent deletion, RFC 7009, a detected reuse): not reuse.
	ErrRefreshRevoked = errors.New("refresh token revoked")
)

// RotateRefresh uses up a refresh token for its one permitted use, in one
// conditional update, so that of two concurrent refreshes exactly one wins.
// It returns ErrRefreshRotated when the token was already rotated out and
// ErrRefreshRevoked when it was revoked any other way.
func (s *Store) RotateRefresh(ctx context.Context, jti string, now time.Time) error {
	var outcome error
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE tokens SET revoked_at = ?, rotated_at = ? WHERE jti = ? AND kind = 'refresh' AND revoked_at = 0",
			now.Unix(), now.Unix(), jti)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		var rotated int64
		if err := tx.QueryRowContext(ctx, "SELECT rotated_at FROM tokens WHERE jti = ?", jti).Scan(&rotated); err != nil {
			return err
		}
		outcome = ErrRefreshRevoked
		if rotated != 0 {
			outcome = ErrRefreshRotated
		}
		return nil
	})
	if err == nil {
		err = outcome
	}
	return err
}

// RevokeConsentTokens revokes every token bound to a consent.
func (s *Store) RevokeConsentTokens(ctx context.Context, consentID string, now time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error { return revokeConsentTokens(ctx, tx, consentID, now) })
}

func revokeConsentTokens(ctx context.Context, tx *sql.Tx, consentID string, now time.Time) error {
	_, err := tx.ExecContext(ctx, "UPDATE tokens SET revoked_at = ? WHERE consent_id = ? AND revoked_at = 0", now.Unix(), consentID)
	return err
}

// SigningKey is a bank signing key as stored.
type SigningKey struct {
	KID        string
	Alg        string
	PrivateDER []byte
	CreatedAt  time.Time
	RetiredAt  time.Time
}

// SigningKeys lists the bank's keys, newest first.
func (s *Store) SigningKeys(ctx context.Context) ([]SigningKey, error) {
	rows, err := s.rc.QueryContext(ctx, "SELECT kid, alg, private_der, created_at, retired_at FROM signing_keys ORDER BY created_at DESC, kid")
	if err != nil {
		return nil, translate(err)
	}
	var out []SigningKey
	for rows.Next() {
		var k SigningKey
		var c, r int64
		if err := rows.Scan(&k.KID, &k.Alg, &k.PrivateDER, &c, &r); err != nil {
			rows.Close()
			return nil, err
		}
		k.CreatedAt, k.RetiredAt = fromUnix(c), fromUnix(r)
		out = append(out, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, translate(err)
	}
	for i := range out {
		if out[i].PrivateDER, err = s.open(ctx, column("signing_keys", "private_der"), out[i].KID, string(out[i].PrivateDER)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// AddSigningKey stores a new current key and retires the previous one at now.
func (s *Store) AddSigningKey(ctx context.Context, k SigningKey, now time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE signing_keys SET retired_at = ? WHERE retired_at = 0", now.Unix()); err != nil {
			return err
		}
		sealed, err := s.sealIn(ctx, tx, column("signing_keys", "private_der"), k.KID, k.PrivateDER)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO signing_keys(kid, alg, private_der, created_at) VALUES(?,?,?,?)",
			k.KID, k.Alg, []byte(sealed), unix(k.CreatedAt))
		return err
	})
}

// RevokeClientTokens revokes every live token of a client (its credentials
// were compromised) and reports how many.
func (s *Store) RevokeClientTokens(ctx context.Context, clientID string, now time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE tokens SET revoked_at = ? WHERE client_id = ? AND revoked_at = 0", now.Unix(), clientID)
		if err == nil {
			n, _ = res.RowsAffected()
		}
		return err
	})
	return n, err
}

// DropSigningKey deletes one key at once, whatever its age: a compromised
// key must stop verifying (ErrNotFound if there is none, or it is the
// current key: rotate first).
func (s *Store) DropSigningKey(ctx context.Context, kid string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM signing_keys WHERE kid = ? AND retired_at <> 0", kid)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return sql.ErrNoRows
		}
		return nil
	})
}

// DropSigningKeys deletes keys retired before cutoff.
func (s *Store) DropSigningKeys(ctx context.Context, cutoff time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM signing_keys WHERE retired_at <> 0 AND retired_at < ?", cutoff.Unix())
		return err
	})
}
