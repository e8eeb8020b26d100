package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/obsandbox/sandbox/internal/bank"
)

// idempotent runs create inside tx unless the key was used in the last 24
// hours of sandbox time: then it returns the resource the first request
// made (replay) or ErrIdempotencyMismatch. The key's row is written in the
// same transaction as the resource, and its primary key makes a second
// writer fail: concurrent replays create one resource.
func idempotent(ctx context.Context, tx *sql.Tx, id bank.Idem, now time.Time, create func() (string, error)) (string, bool, error) {
	var hash, res string
	var at int64
	err := tx.QueryRowContext(ctx, "SELECT body_hash, resource_id, created_at FROM idempotency WHERE client_id = ? AND operation = ? AND key = ?",
		id.ClientID, id.Operation, id.Key).Scan(&hash, &res, &at)
	switch {
	case err == nil && now.Sub(fromUnix(at)) < bank.IdempotencyWindow:
		if hash != id.BodyHash {
			return "", false, bank.ErrIdempotencyMismatch
		}
		return res, true, nil
	case err == nil:
		if _, err := tx.ExecContext(ctx, "DELETE FROM idempotency WHERE client_id = ? AND operation = ? AND key = ?", id.ClientID, id.Operation, id.Key); err != nil {
			return "", false, err
		}
	case !errors.Is(err, sql.ErrNoRows):
		return "", false, err
	}
	res, err = create()
	if err != nil {
		return "", false, err
	}
	_, err = tx.ExecContext(ctx, "INSERT INTO idempotency(client_id, operation, key, body_hash, resource_id, created_at) VALUES(?,?,?,?,?,?)",
		id.ClientID, id.Operation, id.Key, id.BodyHash, res, now.Unix())
	return res, false, err
}

// CreateConsentIdempotent stores a new consent unless the key replays: then
// it returns the consent the first request made.
func (s *Store) CreateConsentIdempotent(ctx context.Context, c *bank.Consent, id bank.Idem, now time.Time) (bank.Consent, bool, error) {
	var out bank.Consent
	var replay bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		cid, rep, err := idempotent(ctx, tx, id, now, func() (string, error) {
			return c.ID, insertConsent(ctx, tx, c)
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

// Submit records a payment order, once per idempotency key: in one write
// transaction it re-reads the consent (Check), for a recurring payment
// reads the consent's earlier payments (Limits), decides on the debtor's
// available balance (bank.Accept), posts a pending debit when accepted,
// stores the payment, marks a single-payment consent Consumed and records
// the key. A replay returns the first payment as it is now.
func (s *Store) Submit(ctx context.Context, o bank.Order, id bank.Idem, now time.Time) (bank.Payment, bool, error) {
	var out bank.Payment
	var replay bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		pid, rep, err := idempotent(ctx, tx, id, now, func() (string, error) { return o.Payment.ID, submit(ctx, tx, &o, now) })
		if err != nil {
			return err
		}
		replay = rep
		out, err = scanPayment(tx.QueryRowContext(ctx, paymentSelect+" WHERE p.payment_id = ?", pid))
		return err
	})
	return out, replay, err
}

func submit(ctx context.Context, tx *sql.Tx, o *bank.Order, now time.Time) error {
	c, err := scanConsent(tx.QueryRowContext(ctx, "SELECT "+consentCols+" FROM consents WHERE consent_id = ?", o.Payment.ConsentID))
	if err != nil {
		return err
	}
	if err := o.Check(&c); err != nil {
		return err
	}
	if o.Limits != nil {
		made, err := consentPayments(ctx, tx, c.ID)
		if err != nil {
			return err
		}
		if err := o.Limits(&c, made); err != nil {
			return err
		}
	}
	accts, err := queryAccounts(ctx, tx, "a.account_id = ?", o.Debtor)
	if err != nil {
		return err
	}
	if len(accts) == 0 {
		return bank.Errorf(bank.KindNotFound, "", "the debtor account is gone")
	}
	a := accts[0]
	var st bank.LedgerState
	if err := tx.QueryRowContext(ctx, "SELECT booked, pending_debits, pending_credits FROM accounts WHERE id = ?", a.Ref).
		Scan(&st.Booked, &st.PendingDebits, &st.PendingCredits); err != nil {
		return err
	}
	p := &o.Payment
	p.CreatedAt, p.StatusAt, p.Status = now, now, bank.PaymentPending
	p.History = []bank.StatusChange{{Status: bank.PaymentPending, At: now}}
	var txID int64
	if o.Schedule != nil {
		if err := schedule(ctx, tx, o, a); err != nil {
			return err
		}
	} else if p.Kind == bank.OrderFile {
		// Each instruction decides on its own (executeFile, below).
		p.Status, p.ProcessAt, p.SettleAt = bank.OrderInitiationPending, now, now
		p.History = []bank.StatusChange{{Status: p.Status, At: now}}
	} else if ok, reason := bank.Accept(a, st, p.Amount); !ok || o.Outcome == bank.OutcomeInsufficientFunds {
		if ok {
			reason = bank.RejectInsufficientFunds
		}
		p.Status, p.Reason = bank.PaymentRejected, reason
		p.History = append(p.History, bank.StatusChange{Status: bank.PaymentRejected, At: now, Reason: reason})
		p.ProcessAt, p.SettleAt = time.Time{}, time.Time{}
	} else {
		if txID, err = post(ctx, tx, a.Ref, -p.Amount, now, debitKind(p.Kind), o.Creditor, o.Reference, false, credit{}); err != nil {
			return err
		}
	}
	hist, err := json.Marshal(p.History)
	if err != nil {
		return err
	}
	fx, err := fxText(p.FX)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO payments(payment_id, kind, consent_id, client_id, status, created_at, status_at,
		account, amount, currency, tx, process_at, settle_at, reason, request, history, outcome, credit_amount, credit_currency, fx)
		VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		p.ID, p.Kind, p.ConsentID, p.ClientID, p.Status, ms(now), ms(now), a.Ref, p.Amount, p.Currency, txID,
		dueMS(p.ProcessAt), dueMS(p.SettleAt), p.Reason, string(p.Request), string(hist), o.Outcome, p.CreditAmount, p.CreditCurrency, fx); err != nil {
		return err
	}
	if p.Kind == bank.OrderFile && o.Schedule == nil {
		var id int64
		if err := tx.QueryRowContext(ctx, "SELECT id FROM payments WHERE payment_id = ?", p.ID).Scan(&id); err != nil {
			return err
		}
		if err := executeFile(ctx, tx, id, now); err != nil {
			return err
		}
	}
	if o.Limits != nil {
		return nil // a recurring consent stays Authorised
	}
	c.Status, c.StatusAt = bank.StatusConsumed, now
	return updateConsent(ctx, tx, &c)
}

// Kinds of the entries payments post.
var (
	kindFPO = [3]string{"IssuedCreditTransfers", "DomesticCreditTransfer", "FPO"}
	kindSO  = [3]string{"IssuedCreditTransfers", "StandingOrder", "SO"}
	kindFPI = [3]string{"ReceivedCreditTransfers", "DomesticCreditTransfer", "FPI"}
	kindXBO = [3]string{"IssuedCreditTransfers", "CrossBorderCreditTransfer", "XBO"}
	kindXBI = [3]string{"ReceivedCreditTransfers", "CrossBorderCreditTransfer", "XBI"}
)

// debitKind is the entry a payment order of a kind posts.
func debitKind(kind string) [3]string {
	if bank.IsInternationalKind(kind) {
		return kindXBO
	}
	return kindFPO
}

// credit is what the creditor of a payment receives when it holds its
// account here: the zero value is the debit's amount in the debtor's
// currency; an international payment names its amount in the currency of
// transfer.
type credit struct {
	amount   int64
	currency string
}

// fxText is a rate applied as kept in payments.fx (” for none).
func fxText(q *bank.Quote) (string, error) {
	if q == nil {
		return "", nil
	}
	b, err := json.Marshal(q)
	return string(b), err
}

// post adds an entry to an account: pending (into its pending sums) or
// booked at `at` (into its booked balance, with the running balance, in
// booking order), and for a booked debit the creditor's side when the
// creditor holds its account here.
func post(ctx context.Context, tx *sql.Tx, account, amount int64, at time.Time, k [3]string, cp bank.AccountRef, ref string, booked bool, cr credit) (int64, error) {
	kind, err := kindID(ctx, tx, k[0], k[1], k[2])
	if err != nil {
		return 0, err
	}
	cpID, err := counterpartyID(ctx, tx, cp)
	if err != nil {
		return 0, err
	}
	if !booked {
		var id int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO transactions(account, booked_at, value_at, status, amount, balance, kind, counterparty,
			card_auth, reference, info) VALUES(?,?,NULL,1,?,NULL,?,?,0,?,?) RETURNING id`, account, at.Unix(), amount, kind, cpID, ref,
			infoLine(cp.Name, ref)).Scan(&id); err != nil {
			return 0, err
		}
		col, v := "pending_debits", -amount
		if amount > 0 {
			col, v = "pending_credits", amount
		}
		if _, err := tx.ExecContext(ctx, "UPDATE accounts SET "+col+" = "+col+" + ? WHERE id = ?", v, account); err != nil {
			return 0, err
		}
		return id, nil
	}
	when, err := bookingTime(ctx, tx, account, 1<<62, at.Unix())
	if err != nil {
		return 0, err
	}
	var balance int64
	if err := tx.QueryRowContext(ctx, "UPDATE accounts SET booked = booked + ? WHERE id = ? RETURNING booked", amount, account).Scan(&balance); err != nil {
		return 0, err
	}
	var id int64
	if err := tx.QueryRowContext(ctx, `INSERT INTO transactions(account, booked_at, value_at, status, amount, balance, kind, counterparty,
		card_auth, reference, info) VALUES(?,?,NULL,0,?,?,?,?,0,?,?) RETURNING id`, account, when, amount, balance, kind, cpID, ref,
		infoLine(cp.Name, ref)).Scan(&id); err != nil {
		return 0, err
	}
	return id, creditInternal(ctx, tx, account, id, -amount, when, cr)
}

func infoLine(name, ref string) string {
	if ref == "" {
		return name
	}
	return name + " " + ref
}

func kindID(ctx context.Context, tx *sql.Tx, code, sub, prop string) (int64, error) {
	if _, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO tx_kinds(code, sub_code, proprietary_code) VALUES(?,?,?)", code, sub, prop); err != nil {
		return 0, err
	}
	var id int64
	err := tx.QueryRowContext(ctx, "SELECT id FROM tx_kinds WHERE code = ? AND sub_code = ? AND proprietary_code = ?", code, sub, prop).Scan(&id)
	return id, err
}

func counterpartyID(ctx context.Context, tx *sql.Tx, cp bank.AccountRef) (int64, error) {
	if _, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO counterparties(name, mcc, scheme, identification) VALUES(?,'',?,?)",
		cp.Name, cp.Scheme, cp.Identification); err != nil {
		return 0, err
	}
	var id int64
	err := tx.QueryRowContext(ctx, "SELECT id FROM counterparties WHERE name = ? AND mcc = '' AND scheme = ? AND identification = ?",
		cp.Name, cp.Scheme, cp.Identification).Scan(&id)
	return id, err
}

// A payment order's times (created_at, status_at, process_at, settle_at)
// are unix milliseconds: the sandbox clock's steps happen at the instant
// they are due, not at the whole second. A due time is rounded up to the
// millisecond, so that nothing is ever done before it is due.
func dueMS(t time.Time) int64 {
	v := ms(t)
	if !t.IsZero() && t.After(time.UnixMilli(v)) {
		v++
	}
	return v
}

const paymentSelect = `SELECT p.id, p.payment_id, p.kind, p.consent_id, p.client_id, p.status, p.created_at, p.status_at,
	a.account_id, p.amount, p.currency, p.tx, p.process_at, p.settle_at, p.reason, p.request, p.history,
	p.credit_amount, p.credit_currency, p.fx
	FROM payments p JOIN accounts a ON a.id = p.account`

func scanPayment(sc interface{ Scan(...any) error }) (bank.Payment, error) {
	var p bank.Payment
	var created, statusAt, process, settle, txID int64
	var req, hist, fx string
	err := sc.Scan(&p.Ref, &p.ID, &p.Kind, &p.ConsentID, &p.ClientID, &p.Status, &created, &statusAt, &p.AccountID, &p.Amount,
		&p.Currency, &txID, &process, &settle, &p.Reason, &req, &hist, &p.CreditAmount, &p.CreditCurrency, &fx)
	if err != nil {
		return p, err
	}
	if fx != "" {
		p.FX = new(bank.Quote)
		if err := json.Unmarshal([]byte(fx), p.FX); err != nil {
			return p, err
		}
	}
	p.CreatedAt, p.StatusAt, p.ProcessAt, p.SettleAt = fromMS(created), fromMS(statusAt), fromMS(process), fromMS(settle)
	p.Request = []byte(req)
	if txID != 0 {
		p.Transaction = TransactionID(txID)
	}
	return p, json.Unmarshal([]byte(hist), &p.History)
}

// Payment reads a payment order; ErrNotFound if unknown.
func (s *Store) Payment(ctx context.Context, id string) (bank.Payment, error) {
	p, err := scanPayment(s.rc.QueryRowContext(ctx, paymentSelect+" WHERE p.payment_id = ?", id))
	return p, translate(err)
}

// book turns a pending entry into a booked one at `at`, moves the amount from
// the account's pending sum to its booked balance, and credits the creditor
// when it holds its account here.
func book(ctx context.Context, tx *sql.Tx, account, txID, amount int64, at int64, cr credit) error {
	var booked int64
	if err := tx.QueryRowContext(ctx, "SELECT booked FROM accounts WHERE id = ?", account).Scan(&booked); err != nil {
		return err
	}
	booked += amount
	at, err := bookingTime(ctx, tx, account, txID, at)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE transactions SET status = 0, booked_at = ?, balance = ? WHERE id = ?", at, booked, txID); err != nil {
		return err
	}
	col := "pending_debits"
	if amount > 0 {
		col = "pending_credits"
	}
	if _, err := tx.ExecContext(ctx, "UPDATE accounts SET booked = ?, "+col+" = "+col+" - ? WHERE id = ?", booked, abs(amount), account); err != nil {
		return err
	}
	return creditInternal(ctx, tx, account, txID, -amount, at, cr)
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// bookingTime is when an entry (row id) can be booked on an account at the
// earliest at `at` so that booking order — (booked_at, id), the order
// statements and running balances follow — stays the order in which the
// bank booked: never before the account's last booked entry, and a second
// later when that entry has a higher row id.
func bookingTime(ctx context.Context, tx *sql.Tx, account, id, at int64) (int64, error) {
	var lastAt, lastID int64
	err := tx.QueryRowContext(ctx, "SELECT booked_at, id FROM transactions WHERE account = ? AND status = 0 ORDER BY booked_at DESC, id DESC LIMIT 1", account).
		Scan(&lastAt, &lastID)
	if errors.Is(err, sql.ErrNoRows) {
		return at, nil
	}
	if err != nil {
		return 0, err
	}
	switch {
	case at > lastAt:
		return at, nil
	case id > lastID:
		return lastAt, nil
	}
	return lastAt + 1, nil
}

// creditInternal books the credit side of a payment whose creditor is an
// account of this bank (found by sort code and number, or by IBAN in the
// debtor account's currency: a SEPA payment between two EUR accounts; an
// international payment's in the currency of transfer, cr).
func creditInternal(ctx context.Context, tx *sql.Tx, debtor, txID, amount int64, at int64, cr credit) error {
	if amount <= 0 {
		return nil
	}
	k := kindFPI
	if cr.currency != "" {
		amount, k = cr.amount, kindXBI
	}
	var scheme, ident, ref string
	err := tx.QueryRowContext(ctx, `SELECT c.scheme, c.identification, t.reference FROM transactions t JOIN counterparties c ON c.id = t.counterparty
		WHERE t.id = ?`, txID).Scan(&scheme, &ident, &ref)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	var to int64
	switch scheme {
	case bank.SchemeSortCode:
		if len(ident) != 14 || (cr.currency != "" && cr.currency != "GBP") {
			return nil
		}
		err = tx.QueryRowContext(ctx, "SELECT id FROM accounts WHERE sort_code = ? AND number = ? AND currency = 'GBP'", ident[:6], ident[6:]).Scan(&to)
	case bank.SchemeIBAN:
		// An account in the currency the creditor receives: the debtor's
		// (the bank converts nothing), or an international payment's
		// currency of transfer.
		err = tx.QueryRowContext(ctx, "SELECT id FROM accounts WHERE iban = ? AND currency = CASE WHEN ? <> '' THEN ? ELSE (SELECT currency FROM accounts WHERE id = ?) END",
			ident, cr.currency, cr.currency, debtor).Scan(&to)
	default:
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) || to == debtor {
		return nil
	}
	if err != nil {
		return err
	}
	var name, dscheme, dident string
	if err := tx.QueryRowContext(ctx, `SELECT holder_name, CASE WHEN sort_code <> '' THEN ? ELSE ? END,
		CASE WHEN sort_code <> '' THEN sort_code || number ELSE iban END FROM accounts WHERE id = ?`,
		bank.SchemeSortCode, bank.SchemeIBAN, debtor).Scan(&name, &dscheme, &dident); err != nil {
		return err
	}
	_, err = post(ctx, tx, to, amount, fromUnix(at), k, bank.AccountRef{Name: name, Scheme: dscheme, Identification: dident}, ref, true, credit{})
	return err
}

// PaymentsOfConsent lists the payments a consent made.
func (s *Store) PaymentsOfConsent(ctx context.Context, consentID string) ([]bank.Payment, error) {
	rows, err := s.rc.QueryContext(ctx, paymentSelect+" WHERE p.consent_id = ? ORDER BY p.id", consentID)
	if err != nil {
		return nil, translate(err)
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
	return out, translate(rows.Err())
}

// SaveFundsConfirmation records a funds check; a reference already used
// under the consent is ErrConflict (UK.OBIE.Rules.DuplicateReference).
func (s *Store) SaveFundsConfirmation(ctx context.Context, f bank.FundsConfirmation) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO funds_confirmations(confirmation_id, consent_id, reference, amount, currency, available, created_at)
			VALUES(?,?,?,?,?,?,?)`, f.ID, f.ConsentID, f.Reference, f.Amount, f.Currency, f.Available, f.CreatedAt.Unix())
		return err
	})
}

// Replay looks an idempotency key up before anything else is checked: the
// resource a first request made with it in the last 24 hours (found), or
// ErrIdempotencyMismatch when that request had another body.
func (s *Store) Replay(ctx context.Context, id bank.Idem, now time.Time) (string, bool, error) {
	var hash, res string
	var at int64
	err := s.rc.QueryRowContext(ctx, "SELECT body_hash, resource_id, created_at FROM idempotency WHERE client_id = ? AND operation = ? AND key = ?",
		id.ClientID, id.Operation, id.Key).Scan(&hash, &res, &at)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, err
	case now.Sub(fromUnix(at)) >= bank.IdempotencyWindow:
		return "", false, nil
	case hash != id.BodyHash:
		return "", false, bank.ErrIdempotencyMismatch
	}
	return res, true, nil
}
