package store

import (
	"context"
	"database/sql"

	"github.com/obsandbox/sandbox/internal/bank"
)

// schedule records what a scheduled payment or standing order will do, as
// the debtor's bank shows it in AIS (scheduled payments, standing orders),
// and sets the order's first status.
func schedule(ctx context.Context, tx *sql.Tx, o *bank.Order, a bank.Account) error {
	in, p := o.Schedule, &o.Payment
	switch p.Kind {
	case bank.OrderScheduled, bank.OrderInternationalScheduled:
		p.Status = bank.OrderInitiationPending
		p.History = []bank.StatusChange{{Status: p.Status, At: p.CreatedAt}}
		p.ProcessAt, p.SettleAt = in.RequestedAt, in.RequestedAt
		_, err := tx.ExecContext(ctx, `INSERT INTO scheduled_payments(scheduled_payment_id, account, at, type, reference, amount,
			scheme, identification, name, payment_id) VALUES(?,?,?,?,?,?,?,?,?,?)`, p.ID, a.Ref, in.RequestedAt.Unix(), "Execution",
			in.Reference, p.Amount, in.Creditor.Scheme, in.Creditor.Identification, in.Creditor.Name, p.ID)
		return err
	case bank.OrderFile:
		// Its instructions execute at the date (executeFile).
		p.Status = bank.OrderInitiationPending
		p.History = []bank.StatusChange{{Status: p.Status, At: p.CreatedAt}}
		p.ProcessAt, p.SettleAt = in.RequestedAt, in.RequestedAt
		return nil
	case bank.OrderStanding, bank.OrderInternationalStanding:
		p.Status = bank.OrderInitiationCompleted
		p.History = []bank.StatusChange{{Status: p.Status, At: p.CreatedAt}}
		remaining := int64(-1)
		if in.Count > 0 {
			remaining = int64(in.Count)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO standing_orders(standing_order_id, account, frequency, reference, status, amount,
			first_at, next_at, last_at, final_at, scheme, identification, name, payment_id, first_amount, final_amount, remaining,
			credit_currency, credit_first, credit_amount, credit_final)
			VALUES(?,?,?,?,'Active',?,?,?,0,?,?,?,?,?,?,?,?,?,?,?,?)`, p.ID, a.Ref, in.Frequency, in.Reference, in.Recurring,
			in.FirstAt.Unix(), in.FirstAt.Unix(), unix(in.FinalAt), in.Creditor.Scheme, in.Creditor.Identification, in.Creditor.Name,
			p.ID, p.Amount, in.Final, remaining, p.CreditCurrency, o.Credits[0], o.Credits[1], o.Credits[2])
		return err
	}
	return bank.Errorf(bank.KindInternal, "", "unknown order kind %s", p.Kind)
}
