package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"time"

	"github.com/obsandbox/sandbox/internal/bank"
)

// What the Berlin Group use cases keep (bank.BerlinStore): authorisation
// sub-resources and the access counts of a consent's frequencyPerDay.

var _ bank.BerlinStore = (*Store)(nil)

func init() {
	// A reset forgets them with the consents they belong to.
	stateTables = append(stateTables, "bg_authorisations", "bg_access")
}

const bgAuthCols = `authorisation_id, kind, resource_id, client_id, approach, sca_status, psu, method, failures, handle, redirect_uri,
	nok_redirect_uri, session, csrf, created_at, status_at, expires_at`

func scanAuthorisation(sc interface{ Scan(...any) error }) (bank.Authorisation, error) {
	var a bank.Authorisation
	var created, statusAt, expires int64
	err := sc.Scan(&a.ID, &a.Kind, &a.Resource, &a.ClientID, &a.Approach, &a.Status, &a.PSU, &a.Method, &a.Failures, &a.Handle,
		&a.RedirectURI, &a.NokRedirectURI, &a.Session, &a.CSRF, &created, &statusAt, &expires)
	a.CreatedAt, a.StatusAt, a.ExpiresAt = fromMS(created), fromMS(statusAt), fromMS(expires)
	return a, err
}

// CreateAuthorisation keeps a new authorisation sub-resource.
func (s *Store) CreateAuthorisation(ctx context.Context, a bank.Authorisation) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO bg_authorisations("+bgAuthCols+") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
			a.ID, a.Kind, a.Resource, a.ClientID, a.Approach, a.Status, a.PSU, a.Method, a.Failures, a.Handle, a.RedirectURI,
			a.NokRedirectURI, a.Session, a.CSRF, ms(a.CreatedAt), ms(a.StatusAt), ms(a.ExpiresAt))
		return err
	})
}

// Authorisation reads one by its authorisationId; ErrNotFound if unknown.
func (s *Store) Authorisation(ctx context.Context, id string) (bank.Authorisation, error) {
	a, err := scanAuthorisation(s.w.QueryRowContext(ctx, "SELECT "+bgAuthCols+" FROM bg_authorisations WHERE authorisation_id = ?", id))
	return a, translate(err)
}

// AuthorisationByHandle reads one by the handle the PSU's pages name it by.
func (s *Store) AuthorisationByHandle(ctx context.Context, handle string) (bank.Authorisation, error) {
	a, err := scanAuthorisation(s.w.QueryRowContext(ctx, "SELECT "+bgAuthCols+" FROM bg_authorisations WHERE handle = ?", handle))
	return a, translate(err)
}

func (s *Store) authorisations(ctx context.Context, where string, args ...any) ([]bank.Authorisation, error) {
	rows, err := s.w.QueryContext(ctx, "SELECT "+bgAuthCols+" FROM bg_authorisations WHERE "+where+" ORDER BY created_at, authorisation_id", args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []bank.Authorisation
	for rows.Next() {
		a, err := scanAuthorisation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, translate(rows.Err())
}

// AuthorisationsOf lists a resource's authorisations of a kind, oldest first.
func (s *Store) AuthorisationsOf(ctx context.Context, resourceID, kind string) ([]bank.Authorisation, error) {
	return s.authorisations(ctx, "resource_id = ? AND kind = ?", resourceID, kind)
}

// PendingDecoupled lists the PSU's decoupled routines waiting at now.
func (s *Store) PendingDecoupled(ctx context.Context, psu string, now time.Time) ([]bank.Authorisation, error) {
	return s.authorisations(ctx, "psu = ? AND approach = ? AND sca_status = ? AND expires_at > ?",
		psu, bank.ApproachDecoupled, bank.ScaMethodSelected, ms(now))
}

// UpdateAuthorisation changes one in a write transaction: f sees it as
// stored; an error from f leaves it as it was and is returned.
func (s *Store) UpdateAuthorisation(ctx context.Context, id string, f func(*bank.Authorisation) error) (bank.Authorisation, error) {
	var a bank.Authorisation
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		if a, err = scanAuthorisation(tx.QueryRowContext(ctx, "SELECT "+bgAuthCols+" FROM bg_authorisations WHERE authorisation_id = ?", id)); err != nil {
			return err
		}
		if err := f(&a); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE bg_authorisations SET sca_status = ?, psu = ?, method = ?, failures = ?, session = ?, csrf = ?,
			status_at = ? WHERE authorisation_id = ?`, a.Status, a.PSU, a.Method, a.Failures, a.Session, a.CSRF, ms(a.StatusAt), id)
		return err
	})
	return a, translate(err)
}

// CountAccess counts one access to a consent's resource in a period, unless
// limit accesses were counted already: false then, and nothing counted.
func (s *Store) CountAccess(ctx context.Context, consentID, resource, period string, limit int) (bool, error) {
	var ok bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		var n int
		err := tx.QueryRowContext(ctx, `INSERT INTO bg_access(consent_id, resource, period, n) VALUES(?,?,?,1)
			ON CONFLICT(consent_id, resource, period) DO UPDATE SET n = bg_access.n + 1 WHERE bg_access.n < ? RETURNING n`,
			consentID, resource, period, limit).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		ok = err == nil
		return err
	})
	return ok, err
}

// AccountByIBAN reads the account with an IBAN; ErrNotFound if none.
func (s *Store) AccountByIBAN(ctx context.Context, iban string) (bank.Account, error) {
	accts, err := queryAccounts(ctx, s.rc, "a.iban = ?", iban)
	if err != nil {
		return bank.Account{}, translate(err)
	}
	if len(accts) == 0 {
		return bank.Account{}, bank.ErrNotFound
	}
	return accts[0], nil
}

// txKeyInverse undoes TransactionID's scramble: the inverse of its odd
// multiplier modulo 2^64 (Newton's iteration, each step doubling the bits).
var txKeyInverse = func() uint64 {
	const k = 0x9E3779B97F4A7C15
	x := uint64(k)
	for range 6 {
		x *= 2 - k*x
	}
	return x
}()

// TransactionByID reads one entry of an account by its TransactionId;
// ErrNotFound when the account has none with that id.
func (s *Store) TransactionByID(ctx context.Context, a bank.Account, id string) (bank.Transaction, error) {
	x, err := strconv.ParseUint(id, 16, 64)
	if err != nil || len(id) != 16 {
		return bank.Transaction{}, bank.ErrNotFound
	}
	row := int64(x * txKeyInverse)
	if row <= 0 || TransactionID(row) != id {
		return bank.Transaction{}, bank.ErrNotFound
	}
	rows, err := s.rc.QueryContext(ctx, txSelect+" WHERE t.account = ? AND t.id = ?", a.Ref, row)
	if err != nil {
		return bank.Transaction{}, translate(err)
	}
	defer rows.Close()
	if !rows.Next() {
		return bank.Transaction{}, errors.Join(bank.ErrNotFound, rows.Err())
	}
	return scanTx(rows, map[int64]*bank.Account{a.Ref: &a})
}

// StopOrder ends what a payment order still has to do: a scheduled payment
// waiting for its date is cancelled (and leaves the scheduled payments), a
// standing order makes no more payments. Anything else is a conflict.
func (s *Store) StopOrder(ctx context.Context, paymentID string, now time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var kind, status, history string
		if err := tx.QueryRowContext(ctx, "SELECT kind, status, history FROM payments WHERE payment_id = ?", paymentID).
			Scan(&kind, &status, &history); err != nil {
			return err
		}
		switch {
		case kind == bank.OrderScheduled && status == bank.OrderInitiationPending:
			h, err := appendHistory(history, bank.StatusChange{Status: "Cancelled", At: now})
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "UPDATE payments SET status = 'Cancelled', status_at = ?, history = ? WHERE payment_id = ?",
				ms(now), h, paymentID); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, "DELETE FROM scheduled_payments WHERE payment_id = ?", paymentID)
			return err
		case kind == bank.OrderStanding:
			res, err := tx.ExecContext(ctx, "UPDATE standing_orders SET status = 'Inactive', next_at = 0 WHERE payment_id = ? AND status = 'Active'", paymentID)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return bank.ErrConflict
			}
			return nil
		}
		return bank.ErrConflict
	})
}
