package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/obsandbox/sandbox/internal/bank"
)

// Kinds of payment order.
const (
	OrderDomestic  = "domestic"
	OrderScheduled = "domestic-scheduled"
	OrderStanding  = "domestic-standing-order"
)

// schedule records what a scheduled payment or standing order will do, as
// the debtor's bank shows it in AIS (scheduled payments, standing orders),
// and sets the order's first status.
func schedule(ctx context.Context, tx *sql.Tx, o *Order, a bank.Account) error {
	in, p := o.Schedule, &o.Payment
	switch p.Kind {
	case OrderScheduled:
		p.Status = bank.OrderInitiationPending
		p.History = []bank.StatusChange{{Status: p.Status, At: p.CreatedAt}}
		p.ProcessAt, p.SettleAt = in.RequestedAt, in.RequestedAt
		_, err := tx.ExecContext(ctx, `INSERT INTO scheduled_payments(scheduled_payment_id, account, at, type, reference, amount,
			scheme, identification, name, payment_id) VALUES(?,?,?,?,?,?,?,?,?,?)`, p.ID, a.Ref, in.RequestedAt.Unix(), "Execution",
			in.Reference, p.Amount, in.Creditor.Scheme, in.Creditor.Identification, in.Creditor.Name, p.ID)
		return err
	case OrderStanding:
		p.Status = bank.OrderInitiationCompleted
		p.History = []bank.StatusChange{{Status: p.Status, At: p.CreatedAt}}
		remaining := int64(-1)
		if in.Count > 0 {
			remaining = int64(in.Count)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO standing_orders(standing_order_id, account, frequency, reference, status, amount,
			first_at, next_at, last_at, final_at, scheme, identification, name, payment_id, first_amount, final_amount, remaining)
			VALUES(?,?,?,?,'Active',?,?,?,0,?,?,?,?,?,?,?,?)`, p.ID, a.Ref, in.Frequency, in.Reference, in.Recurring,
			in.FirstAt.Unix(), in.FirstAt.Unix(), unix(in.FinalAt), in.Creditor.Scheme, in.Creditor.Identification, in.Creditor.Name,
			p.ID, p.Amount, in.Final, remaining)
		return err
	}
	return bank.Errorf(bank.KindInternal, "", "unknown order kind %s", p.Kind)
}

// Execute runs every scheduled payment and standing-order payment made
// through PIS that is due by now, in time order: each due occurrence once,
// booked at its own time if the debtor can pay (else the scheduled payment
// fails, the standing order's occurrence is skipped). It returns how many
// payments it made.
func (s *Store) Execute(ctx context.Context, now time.Time) (int, error) {
	made := 0
	err := s.write(ctx, func(tx *sql.Tx) error {
		n, err := executeScheduled(ctx, tx, now)
		if err != nil {
			return err
		}
		m, err := executeStanding(ctx, tx, now)
		made = n + m
		return err
	})
	return made, err
}

// canPay reads an account and decides on an amount.
func canPay(ctx context.Context, tx *sql.Tx, account, amount int64) (bool, string, error) {
	var st bank.LedgerState
	var a bank.Account
	if err := tx.QueryRowContext(ctx, "SELECT booked, pending_debits, pending_credits, credit_limit, sub_type FROM accounts WHERE id = ?", account).
		Scan(&st.Booked, &st.PendingDebits, &st.PendingCredits, &a.CreditLimit, &a.SubType); err != nil {
		return false, "", err
	}
	ok, reason := bank.Accept(a, st, amount)
	return ok, reason, nil
}

func executeScheduled(ctx context.Context, tx *sql.Tx, now time.Time) (int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT p.id, p.payment_id, p.account, p.amount, p.settle_at, p.history, s.scheme, s.identification, s.name, s.reference
		FROM payments p JOIN scheduled_payments s ON s.payment_id = p.payment_id
		WHERE p.kind = ? AND p.status = ? AND p.settle_at <= ? ORDER BY p.settle_at, p.id`, OrderScheduled, bank.OrderInitiationPending, now.Unix())
	if err != nil {
		return 0, err
	}
	type due struct {
		id, account, amount, at int64
		pid, history, ref       string
		cp                      bank.AccountRef
	}
	var list []due
	for rows.Next() {
		var d due
		if err := rows.Scan(&d.id, &d.pid, &d.account, &d.amount, &d.at, &d.history, &d.cp.Scheme, &d.cp.Identification, &d.cp.Name, &d.ref); err != nil {
			rows.Close()
			return 0, err
		}
		list = append(list, d)
	}
	rows.Close()
	made := 0
	for _, d := range list {
		at := fromUnix(d.at)
		ok, reason, err := canPay(ctx, tx, d.account, d.amount)
		if err != nil {
			return made, err
		}
		status, txID := bank.OrderInitiationFailed, int64(0)
		if ok {
			if txID, err = post(ctx, tx, d.account, -d.amount, at, kindFPO, d.cp, d.ref, true); err != nil {
				return made, err
			}
			status, reason = bank.OrderInitiationCompleted, ""
			made++
		}
		if err := advanceOrder(ctx, tx, d.id, d.history, status, reason, at, txID); err != nil {
			return made, err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM scheduled_payments WHERE payment_id = ?", d.pid); err != nil {
			return made, err
		}
	}
	return made, nil
}

// advanceOrder records an order's new status (and its ledger entry).
func advanceOrder(ctx context.Context, tx *sql.Tx, id int64, history, status, reason string, at time.Time, txID int64) error {
	var hist []bank.StatusChange
	if err := json.Unmarshal([]byte(history), &hist); err != nil {
		return err
	}
	hist = append(hist, bank.StatusChange{Status: status, At: at, Reason: reason})
	h, err := json.Marshal(hist)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, "UPDATE payments SET status = ?, status_at = ?, history = ?, reason = ?, tx = CASE WHEN ? <> 0 THEN ? ELSE tx END WHERE id = ?",
		status, at.Unix(), string(h), reason, txID, txID, id)
	return err
}

func executeStanding(ctx context.Context, tx *sql.Tx, now time.Time) (int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, account, frequency, reference, amount, first_at, next_at, final_at, scheme, identification,
		name, first_amount, final_amount, remaining, made, payment_id FROM standing_orders
		WHERE payment_id <> '' AND next_at <> 0 AND next_at <= ? AND status = 'Active' ORDER BY next_at, id`, now.Unix())
	if err != nil {
		return 0, err
	}
	type so struct {
		id, account, amount, first, next, final, firstAmt, finalAmt, remaining, made int64
		freq, ref, pid                                                               string
		cp                                                                           bank.AccountRef
	}
	var list []so
	for rows.Next() {
		var o so
		if err := rows.Scan(&o.id, &o.account, &o.freq, &o.ref, &o.amount, &o.first, &o.next, &o.final, &o.cp.Scheme, &o.cp.Identification,
			&o.cp.Name, &o.firstAmt, &o.finalAmt, &o.remaining, &o.made, &o.pid); err != nil {
			rows.Close()
			return 0, err
		}
		list = append(list, o)
	}
	rows.Close()
	made := 0
	for _, o := range list {
		f, err := bank.ParseFrequency(o.freq, "Frequency")
		if err != nil {
			return made, err
		}
		next, last := fromUnix(o.next), time.Time{}
		for !next.IsZero() && !next.After(now) && o.remaining != 0 {
			amount := o.amount
			switch {
			case o.made == 0:
				amount = o.firstAmt
			case o.remaining == 1 && o.finalAmt > 0:
				amount = o.finalAmt
			}
			ok, _, err := canPay(ctx, tx, o.account, amount)
			if err != nil {
				return made, err
			}
			if ok {
				if _, err := post(ctx, tx, o.account, -amount, next, kindSO, o.cp, o.ref, true); err != nil {
					return made, err
				}
				made++
				o.made++
				last = next
			}
			if o.remaining > 0 {
				o.remaining--
			}
			next = f.Next(fromUnix(o.first), next)
			if o.remaining == 0 || (o.final != 0 && next.After(fromUnix(o.final))) {
				next = time.Time{}
			}
		}
		status := "Active"
		if next.IsZero() {
			status = "Inactive"
		}
		if _, err := tx.ExecContext(ctx, `UPDATE standing_orders SET next_at = ?, last_at = CASE WHEN ? <> 0 THEN ? ELSE last_at END,
			remaining = ?, made = ?, status = ? WHERE id = ?`, unix(next), unix(last), unix(last), o.remaining, o.made, status, o.id); err != nil {
			return made, err
		}
	}
	return made, nil
}
