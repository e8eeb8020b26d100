package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/obsandbox/sandbox/internal/bank"
)

// SaveFile keeps an uploaded payment file and its instructions and moves
// its consent from AwaitingUpload to AwaitingAuthorisation, once per
// idempotency key, in one transaction (a second upload racing this one
// finds the consent moved on).
func (s *Store) SaveFile(ctx context.Context, f bank.PaymentFile, id bank.Idem, now time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, _, err := idempotent(ctx, tx, id, now, func() (string, error) {
			c, err := scanConsent(tx.QueryRowContext(ctx, "SELECT "+consentCols+" FROM consents WHERE consent_id = ?", f.ConsentID))
			if err != nil {
				return "", translate(err)
			}
			if c.Status != bank.StatusAwaitingUpload {
				return "", bank.Errorf(bank.KindConsentStatus, "", "the consent is %s: its file was uploaded already", c.Status)
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO payment_files(consent_id, file_type, media_type, content, uploaded_at) VALUES(?,?,?,?,?)",
				f.ConsentID, f.FileType, f.MediaType, string(f.Content), now.Unix()); err != nil {
				return "", err
			}
			for i, in := range f.Instructions {
				raw, err := json.Marshal(in)
				if err != nil {
					return "", err
				}
				if _, err := tx.ExecContext(ctx, "INSERT INTO file_instructions(consent_id, seq, instruction) VALUES(?,?,?)", f.ConsentID, i+1, string(raw)); err != nil {
					return "", err
				}
			}
			c.Status, c.StatusAt = bank.StatusAwaitingAuthorisation, now
			return c.ID, updateConsent(ctx, tx, &c)
		})
		return err
	})
}

// RejectConsent marks a consent Rejected.
func (s *Store) RejectConsent(ctx context.Context, consentID string, now time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		c, err := scanConsent(tx.QueryRowContext(ctx, "SELECT "+consentCols+" FROM consents WHERE consent_id = ?", consentID))
		if err != nil {
			return translate(err)
		}
		c.Status, c.StatusAt = bank.StatusRejected, now
		return updateConsent(ctx, tx, &c)
	})
}

// File reads the file uploaded against a consent; ErrNotFound before.
func (s *Store) File(ctx context.Context, consentID string) (bank.PaymentFile, error) {
	f := bank.PaymentFile{ConsentID: consentID}
	var content string
	err := s.rc.QueryRowContext(ctx, "SELECT file_type, media_type, content FROM payment_files WHERE consent_id = ?", consentID).
		Scan(&f.FileType, &f.MediaType, &content)
	f.Content = []byte(content)
	return f, translate(err)
}

// FileInstructions lists a consent's file instructions in file order, with
// their outcomes.
func (s *Store) FileInstructions(ctx context.Context, consentID string) ([]bank.FileInstruction, error) {
	return fileInstructions(ctx, s.rc, consentID)
}

func fileInstructions(ctx context.Context, q querier, consentID string) ([]bank.FileInstruction, error) {
	rows, err := q.QueryContext(ctx, "SELECT seq, instruction, status, reason, tx FROM file_instructions WHERE consent_id = ? ORDER BY seq", consentID)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []bank.FileInstruction
	for rows.Next() {
		var x bank.FileInstruction
		var raw string
		var txID int64
		if err := rows.Scan(&x.Seq, &raw, &x.Status, &x.Reason, &txID); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(raw), &x.Initiation); err != nil {
			return nil, err
		}
		if txID != 0 {
			x.Transaction = TransactionID(txID)
		}
		out = append(out, x)
	}
	return out, translate(rows.Err())
}

// executeFile makes each instruction of a file payment (row id) at `at`,
// in file order, as its own booked debit of the debtor (the creditor
// credited when held here): one the debtor cannot afford then fails alone.
// The payment is InitiationCompleted when any instruction was made,
// InitiationFailed when none was.
func executeFile(ctx context.Context, tx *sql.Tx, id int64, at time.Time) error {
	var consentID, history string
	var account int64
	if err := tx.QueryRowContext(ctx, "SELECT consent_id, history, account FROM payments WHERE id = ?", id).Scan(&consentID, &history, &account); err != nil {
		return err
	}
	list, err := fileInstructions(ctx, tx, consentID)
	if err != nil {
		return err
	}
	made := 0
	for _, x := range list {
		if x.Status != "" {
			continue
		}
		in := x.Initiation
		status, reason, txID := bank.OrderInitiationFailed, "", int64(0)
		ok, why, err := canPay(ctx, tx, account, in.Amount)
		if err != nil {
			return err
		}
		if ok {
			ref := in.Reference
			if ref == "" {
				ref = in.EndToEndID
			}
			if txID, err = post(ctx, tx, account, -in.Amount, at, kindFPO, in.Creditor, ref, true, credit{}); err != nil {
				return err
			}
			status = bank.OrderInitiationCompleted
			made++
		} else {
			reason = why
		}
		if _, err := tx.ExecContext(ctx, "UPDATE file_instructions SET status = ?, reason = ?, tx = ? WHERE consent_id = ? AND seq = ?",
			status, reason, txID, consentID, x.Seq); err != nil {
			return err
		}
	}
	status, reason := bank.OrderInitiationCompleted, ""
	if made == 0 {
		status, reason = bank.OrderInitiationFailed, "no instruction of the file could be made"
	}
	h, err := appendHistory(history, bank.StatusChange{Status: status, At: at, Reason: reason})
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, "UPDATE payments SET status = ?, status_at = ?, history = ?, reason = ? WHERE id = ?", status, ms(at), h, reason, id)
	return err
}
