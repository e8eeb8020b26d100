package oauth

import (
	"context"
	"crypto/subtle"
	"errors"
	"time"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/secret"
	"github.com/obsandbox/sandbox/internal/store"
)

// ErrLogin is the one answer to a failed PSU login, whether the username is
// unknown, the password wrong or the username locked (SPEC §8).
var ErrLogin = &bank.Error{Kind: bank.KindUnauthenticated, Message: "the username or password is wrong, or the account is locked for a while"}

// LoginPSU checks a PSU's credentials under the lockout rule (5 failures
// lock the username for 15 minutes of sandbox time): against the stored
// argon2id hash, or the fixture credential of a PSU that has none.
func (s *Server) LoginPSU(ctx context.Context, username, password string) error {
	ok, err := s.Store.CheckPSULogin(ctx, username, func(stored string) bool {
		if stored == "" {
			want, ok := s.TestPassword(username, stored)
			return ok && subtle.ConstantTimeCompare([]byte(want), []byte(password)) == 1
		}
		ok, err := secret.CheckPassword(stored, password)
		if err != nil {
			s.Log.ErrorContext(ctx, "a PSU's stored password hash", "username", username, "error", err)
		}
		return ok
	}, s.Clock.Now())
	if err != nil {
		return err
	}
	if !ok {
		s.Log.InfoContext(ctx, "PSU login refused", "username", username)
		return ErrLogin
	}
	return nil
}

// TestPassword is a PSU's password as GET /sandbox/psus lists it: the
// fixture credential of a PSU whose stored hash is ” (none otherwise: the
// bank keeps only hashes).
func (s *Server) TestPassword(username, storedHash string) (string, bool) {
	if storedHash != "" || s.Seeded == nil {
		return "", false
	}
	return s.Seeded(username)
}

// PSU sessions at the bank's pages.
const PSUSessionLifetime = 30 * time.Minute

// NewPSUSession logs a PSU in at the pages and returns the cookie value and
// the session's CSRF token.
func (s *Server) NewPSUSession(ctx context.Context, username string) (cookie, csrf string, err error) {
	cookie, csrf = randomToken(), randomToken()
	err = s.Store.SavePSUSession(ctx, store.PSUSession{IDHash: hash(cookie), Username: username, CSRF: csrf,
		ExpiresAt: s.Clock.Now().Add(PSUSessionLifetime)})
	return cookie, csrf, err
}

// PSUSession returns the session a cookie names; ErrNotFound if none or
// expired.
func (s *Server) PSUSession(ctx context.Context, cookie string) (store.PSUSession, error) {
	if cookie == "" {
		return store.PSUSession{}, bank.ErrNotFound
	}
	sess, err := s.Store.GetPSUSession(ctx, hash(cookie))
	if err == nil && !s.Clock.Now().Before(sess.ExpiresAt) {
		return sess, bank.ErrNotFound
	}
	return sess, err
}

// EndPSUSession logs the PSU out.
func (s *Server) EndPSUSession(ctx context.Context, cookie string) error {
	return s.Store.DeletePSUSession(ctx, hash(cookie))
}

// CookieHash is how a session cookie is kept.
func CookieHash(cookie string) string { return hash(cookie) }

// NewToken is a fresh random token (CSRF tokens, ids).
func NewToken() string { return randomToken() }

// RevokeByPSU is the PSU revoking a TPP's access at the bank: the consent's
// tokens stop working at once, its status stays. Only the PSU's own consents.
//
// Payment consents cannot be revoked (PIS profile): once authorised they
// are for one payment, or an order the TPP made.
func (s *Server) RevokeByPSU(ctx context.Context, psu, consentID string) error {
	if c, err := s.Store.Consent(ctx, consentID); err == nil && c.IsPayment() {
		return bank.Errorf(bank.KindForbidden, "consent_id", "payment consents cannot be revoked")
	}
	err := s.Store.RevokeByPSU(ctx, psu, consentID, s.Clock.Now())
	if errors.Is(err, bank.ErrNotFound) {
		return bank.Errorf(bank.KindForbidden, "consent_id", "consent %s is not one of yours", consentID)
	}
	return err
}
