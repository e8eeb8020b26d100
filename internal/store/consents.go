package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/obsandbox/sandbox/internal/bank"
)

const consentCols = `id, consent_id, kind, client_id, status, psu, created_at, status_at, expires_at, tx_from, tx_to,
	permissions, accounts, request, deleted, psu_revoked, initiation, scenario, api_version`

func scanConsent(sc interface{ Scan(...any) error }) (bank.Consent, error) {
	var c bank.Consent
	var created, statusAt, expires, from, to int64
	var accounts, request, initiation string
	err := sc.Scan(&c.Ref, &c.ID, &c.Kind, &c.ClientID, &c.Status, &c.PSU, &created, &statusAt, &expires, &from, &to,
		&c.Permissions, &accounts, &request, &c.Deleted, &c.PSURevoked, &initiation, &c.Scenario, &c.Version)
	if err != nil {
		return c, err
	}
	if initiation != "" {
		c.Initiation = new(bank.Initiation)
		if err := json.Unmarshal([]byte(initiation), c.Initiation); err != nil {
			return c, err
		}
	}
	c.CreatedAt, c.StatusAt, c.ExpiresAt = fromUnix(created), fromUnix(statusAt), fromUnix(expires)
	c.TxFrom, c.TxTo = fromUnix(from), fromUnix(to)
	c.Request = []byte(request)
	return c, json.Unmarshal([]byte(accounts), &c.Accounts)
}

// CreateConsent stores a new consent; ErrConflict if its id is taken.
func (s *Store) CreateConsent(ctx context.Context, c *bank.Consent) error {
	return s.write(ctx, func(tx *sql.Tx) error { return insertConsent(ctx, tx, c) })
}

func insertConsent(ctx context.Context, tx *sql.Tx, c *bank.Consent) error {
	accounts, err := json.Marshal(nonNil(c.Accounts))
	if err != nil {
		return err
	}
	req := string(c.Request)
	if req == "" {
		req = "{}"
	}
	var initiation []byte
	if c.Initiation != nil {
		if initiation, err = json.Marshal(c.Initiation); err != nil {
			return err
		}
	}
	version := c.Version
	if version == "" {
		version = bank.VersionUK31
	}
	return tx.QueryRowContext(ctx, `INSERT INTO consents(consent_id, kind, client_id, status, psu, created_at, status_at,
		expires_at, tx_from, tx_to, permissions, accounts, request, deleted, psu_revoked, initiation, scenario, api_version)
		VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id`,
		c.ID, c.Kind, c.ClientID, c.Status, c.PSU, unix(c.CreatedAt), unix(c.StatusAt), unix(c.ExpiresAt), unix(c.TxFrom),
		unix(c.TxTo), c.Permissions, string(accounts), req, c.Deleted, c.PSURevoked, string(initiation), c.Scenario, version).Scan(&c.Ref)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Consent reads a consent by its ConsentId; ErrNotFound if unknown.
// consentWeight is what a remembered consent weighs (see memo: about a row
// each): its request can be up to the body limit.
func consentWeight(c bank.Consent) int { return len(c.Request)/512 + len(c.Accounts) }

func (s *Store) Consent(ctx context.Context, id string) (bank.Consent, error) {
	c, err := remember(s, "consent\x00"+id, consentWeight, func() (bank.Consent, error) {
		c, err := scanConsent(s.rc.QueryRowContext(ctx, "SELECT "+consentCols+" FROM consents WHERE consent_id = ?", id))
		return c, translate(err)
	})
	return c.Clone(), err
}

// UpdateConsent reads a consent, lets f change it, and writes it back, in one
// write transaction: f sees the latest state and nothing else changes it in
// between. If f returns an error nothing is written.
func (s *Store) UpdateConsent(ctx context.Context, id string, f func(*bank.Consent) error) (bank.Consent, error) {
	var c bank.Consent
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		if c, err = scanConsent(tx.QueryRowContext(ctx, "SELECT "+consentCols+" FROM consents WHERE consent_id = ?", id)); err != nil {
			return err
		}
		if err := f(&c); err != nil {
			return err
		}
		return updateConsent(ctx, tx, &c)
	})
	return c, err
}

func updateConsent(ctx context.Context, tx *sql.Tx, c *bank.Consent) error {
	accounts, err := json.Marshal(nonNil(c.Accounts))
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE consents SET status = ?, psu = ?, status_at = ?, accounts = ?, deleted = ?,
		psu_revoked = ? WHERE id = ?`, c.Status, c.PSU, unix(c.StatusAt), string(accounts), c.Deleted, c.PSURevoked, c.Ref)
	return err
}

// ConsentsOfPSU lists the consents a PSU authorised, newest first.
func (s *Store) ConsentsOfPSU(ctx context.Context, psu string) ([]bank.Consent, error) {
	return s.consentsWhere(ctx, "psu", psu)
}

// ConsentsOfClient lists a client's consents, newest first.
func (s *Store) ConsentsOfClient(ctx context.Context, clientID string) ([]bank.Consent, error) {
	return s.consentsWhere(ctx, "client_id", clientID)
}

func (s *Store) consentsWhere(ctx context.Context, col, v string) ([]bank.Consent, error) {
	rows, err := s.rc.QueryContext(ctx, "SELECT "+consentCols+" FROM consents WHERE "+col+" = ? ORDER BY id DESC", v)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []bank.Consent
	for rows.Next() {
		c, err := scanConsent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, translate(rows.Err())
}

// DeleteConsent marks a consent deleted by its TPP and revokes its tokens, in
// one transaction.
func (s *Store) DeleteConsent(ctx context.Context, id string, now time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE consents SET deleted = 1 WHERE consent_id = ? AND deleted = 0", id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return bank.ErrNotFound
		}
		return revokeConsentTokens(ctx, tx, id, now)
	})
}

// CountConsents counts every consent of every kind.
func (s *Store) CountConsents(ctx context.Context) (int, error) {
	var n int
	err := s.rc.QueryRowContext(ctx, "SELECT count(*) FROM consents").Scan(&n)
	return n, translate(err)
}
