package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/obsandbox/sandbox/internal/bank"
)

var _ bank.VRPStore = (*Store)(nil)

// consentPayments reads the payments a consent made, oldest first, inside
// a write transaction: what a variable recurring payment is counted with.
func consentPayments(ctx context.Context, tx *sql.Tx, consentID string) ([]bank.Payment, error) {
	rows, err := tx.QueryContext(ctx, paymentSelect+" WHERE p.consent_id = ? ORDER BY p.id", consentID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []bank.Payment
	for rows.Next() {
		p, err := scanPayment(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// AmendConsent changes a consent's request, its reading (initiation) and
// the version it belongs to, once per idempotency key: in one write
// transaction f sees the consent as it is and changes it (an error writes
// nothing), and the key is recorded. A replay returns the consent as it is
// now.
func (s *Store) AmendConsent(ctx context.Context, consentID string, id bank.Idem, now time.Time, f func(*bank.Consent) error) (bank.Consent, bool, error) {
	var out bank.Consent
	var replay bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		cid, rep, err := idempotent(ctx, tx, id, now, func() (string, error) {
			c, err := scanConsent(tx.QueryRowContext(ctx, "SELECT "+consentCols+" FROM consents WHERE consent_id = ?", consentID))
			if err != nil {
				return "", err
			}
			if err := f(&c); err != nil {
				return "", err
			}
			in, err := json.Marshal(c.Initiation)
			if err != nil {
				return "", err
			}
			_, err = tx.ExecContext(ctx, "UPDATE consents SET request = ?, initiation = ?, api_version = ? WHERE id = ?",
				string(c.Request), string(in), c.Version, c.Ref)
			return c.ID, err
		})
		if err != nil {
			return err
		}
		replay = rep
		out, err = scanConsent(tx.QueryRowContext(ctx, "SELECT "+consentCols+" FROM consents WHERE consent_id = ?", cid))
		return err
	})
	return out, replay, err
}
