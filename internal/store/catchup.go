package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/obsandbox/sandbox/internal/bank"
)

// due is the next thing the sandbox clock owes a payment order.
type due struct {
	at    int64 // unix milliseconds
	class int   // orders the classes at the same instant: settlements, then scheduled, then standing orders
	id    int64
}

func (d due) before(e due) bool {
	if d.at != e.at {
		return d.at < e.at
	}
	if d.class != e.class {
		return d.class < e.class
	}
	return d.id < e.id
}

const (
	dueDomestic = iota
	dueScheduled
	dueStanding
	dueCard
)

// CardBookingDelay is how long a pending card entry waits to book: card
// authorisations settle about three days later.
const CardBookingDelay = 72 * time.Hour

// StartCardClock ties the seeded bank's pending card entries to the sandbox
// clock: an entry authorised at the seed date's t books at the sandbox time
// now + (t - seedDate) + CardBookingDelay, so a fresh bank shows them
// pending and moving the clock three days on books them all.
func (s *Store) StartCardClock(ctx context.Context, now, seedDate time.Time) error {
	return s.SetSetting(ctx, SettingCardShift, CardShift(now, seedDate))
}

// SettingCardShift is the setting StartCardClock writes, CardShift its
// value.
const SettingCardShift = "pending_card_shift"

// SettingReset names the last reset (a value of its own each time): a
// process sharing the database that sees it change knows another reset
// the sandbox, and forgets what it counted in memory (OnSetting).
const SettingReset = "reset"

// CardShift is how far the sandbox clock at now is from the seed's date:
// the seeded pending card entries book that much later.
func CardShift(now, seedDate time.Time) string {
	return strconv.FormatInt(now.Unix()-seedDate.Unix(), 10)
}

// CatchUp brings every open payment order up to now, one due event at a
// time in time order across all of them: a domestic payment moving to
// AcceptedSettlementInProcess or settling (its pending debit booked, the
// creditor credited when held here), a scheduled payment executing, a
// standing order's occurrence paying. Taking them in time order keeps
// booking times, running balances and funds decisions in the order the
// events happened, whatever the size of a clock jump. It returns how many
// events it applied.
//
// The clock is read again inside the write transaction: a reset (which
// sets the clock back, then replaces the bank in a transaction of its own)
// never has the time it replaced applied to the bank it put back.
func (s *Store) CatchUp(ctx context.Context, clock func() time.Time) (int, error) {
	// A look on the read side first: most calls find nothing due, and a
	// write would stale every remembered read (see memo). What it looks up
	// is the earliest event due at any time, remembered until the next
	// write: until then a call before that instant reads nothing at all.
	isDue := func() (bool, error) {
		next, err := remember(s, "catchup:next", nil, func() (nextEvent, error) {
			var n nextEvent
			err := s.read(ctx, func(tx *sql.Tx) error {
				shift, cards, err := cardShift(ctx, tx)
				if err != nil {
					return err
				}
				n.due, n.ok, err = nextDue(ctx, tx, endOfTime, shift, cards)
				return err
			})
			return n, err
		})
		return err == nil && next.ok && next.due.at <= clock().UnixMilli(), err
	}
	if ok, err := isDue(); !ok {
		return 0, err
	}
	// One catch-up at a time: the reads that found the same event due wait
	// for the first, whose write moves the version on, and then find it
	// done. The bank moving payments along is nobody's request: the
	// changes are not recorded as the caller's.
	s.catching.Lock()
	defer s.catching.Unlock()
	if ok, err := isDue(); !ok {
		return 0, err
	}
	ctx = withoutActor(ctx)
	n := 0
	err := s.write(ctx, func(tx *sql.Tx) error {
		now := clock()
		shift, cards, err := cardShift(ctx, tx)
		if err != nil {
			return err
		}
		// The next due event of each class; after one is applied only its
		// own class's changes (an event never makes another class's due).
		qs := dueQueries(now, shift, cards)
		heads := make([]*due, len(qs))
		for i := range qs {
			if heads[i], err = peek(ctx, tx, qs[i]); err != nil {
				return err
			}
		}
		for {
			k := -1
			for i, h := range heads {
				if h != nil && (k < 0 || h.before(*heads[k])) {
					k = i
				}
			}
			if k < 0 {
				return nil
			}
			d := *heads[k]
			switch d.class {
			case dueDomestic:
				err = stepDomestic(ctx, tx, d.id)
			case dueScheduled:
				err = executeScheduled(ctx, tx, d.id)
			case dueStanding:
				err = payStanding(ctx, tx, d.id)
			case dueCard:
				err = bookCard(ctx, tx, d.id, d.at/1000)
			}
			if err != nil {
				return err
			}
			n++
			if heads[k], err = peek(ctx, tx, qs[k]); err != nil {
				return err
			}
		}
	})
	return n, err
}

// cardShift reads StartCardClock's shift; cards is false when the bank's
// pending card entries are not on the clock (a database seeded before).
func cardShift(ctx context.Context, tx *sql.Tx) (int64, bool, error) {
	var v string
	err := tx.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", SettingCardShift).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n + int64(CardBookingDelay/time.Second), true, err
}

// bookCard books a pending card entry at `at`.
func bookCard(ctx context.Context, tx *sql.Tx, id, at int64) error {
	var account, amount int64
	if err := tx.QueryRowContext(ctx, "SELECT account, amount FROM transactions WHERE id = ?", id).Scan(&account, &amount); err != nil {
		return err
	}
	return book(ctx, tx, account, id, amount, at, credit{})
}

// dueQuery finds the next due event of one class.
type dueQuery struct {
	class int
	q     string
	args  []any
}

// dueQueries find each class's next due event, its time in milliseconds:
// payment orders keep theirs in milliseconds, standing orders and card
// entries (dates and booking times) in seconds.
func dueQueries(now time.Time, cardShift int64, cards bool) []dueQuery {
	nowMS, nowS := now.UnixMilli(), now.Unix()
	qs := []dueQuery{
		{dueDomestic, `SELECT due_at, id FROM payments WHERE due_at <= ? AND kind IN (?, ?, ?) ORDER BY due_at, id LIMIT 1`,
			[]any{nowMS, bank.OrderDomestic, bank.OrderVRP, bank.OrderInternational}},
		{dueScheduled, `SELECT due_at, id FROM payments WHERE due_at <= ? AND kind IN (?, ?, ?) ORDER BY due_at, id LIMIT 1`,
			[]any{nowMS, bank.OrderScheduled, bank.OrderInternationalScheduled, bank.OrderFile}},
		{dueStanding, `SELECT next_at * 1000, id FROM standing_orders WHERE payment_id <> '' AND status = 'Active' AND next_at <> 0 AND next_at <= ?
			ORDER BY next_at, id LIMIT 1`, []any{nowS}},
	}
	if cards {
		qs = append(qs, dueQuery{dueCard, `SELECT (booked_at + ?) * 1000, id FROM transactions WHERE status = 1 AND card_auth <> 0 AND booked_at <= ?
			ORDER BY booked_at, id LIMIT 1`, []any{cardShift, nowS - cardShift}})
	}
	return qs
}

// peek reads a class's next due event; nil when none is due.
func peek(ctx context.Context, tx *sql.Tx, q dueQuery) (*due, error) {
	d := due{class: q.class}
	err := tx.QueryRowContext(ctx, q.q, q.args...).Scan(&d.at, &d.id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// nextEvent is the earliest event due at any time, if there is one.
type nextEvent struct {
	due due
	ok  bool
}

// endOfTime is later than any event's time: due at it is due at all.
var endOfTime = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// nextDue is the earliest due event of every class.
func nextDue(ctx context.Context, tx *sql.Tx, now time.Time, cardShift int64, cards bool) (due, bool, error) {
	var best *due
	for _, q := range dueQueries(now, cardShift, cards) {
		d, err := peek(ctx, tx, q)
		if err != nil {
			return due{}, false, err
		}
		if d != nil && (best == nil || d.before(*best)) {
			best = d
		}
	}
	if best == nil {
		return due{}, false, nil
	}
	return *best, true, nil
}

// appendHistory records a status change in a payment's history.
func appendHistory(history string, c bank.StatusChange) (string, error) {
	var hist []bank.StatusChange
	if err := json.Unmarshal([]byte(history), &hist); err != nil {
		return "", err
	}
	h, err := json.Marshal(append(hist, c))
	return string(h), err
}

// stepDomestic moves a domestic payment (or a variable recurring one) one
// status along (or, under the
// reject-after-pending scenario, rejects it and reverses its pending debit).
func stepDomestic(ctx context.Context, tx *sql.Tx, id int64) error {
	var status, history, outcome string
	var account, amount, txID, process, settle int64
	var cr credit
	if err := tx.QueryRowContext(ctx, "SELECT status, history, account, amount, tx, process_at, settle_at, outcome, credit_amount, credit_currency FROM payments WHERE id = ?", id).
		Scan(&status, &history, &account, &amount, &txID, &process, &settle, &outcome, &cr.amount, &cr.currency); err != nil {
		return err
	}
	if outcome == bank.OutcomeRejectAfterPending {
		return rejectPending(ctx, tx, id, history, account, amount, txID, process)
	}
	next, at := bank.PaymentInProcess, process
	if status == bank.PaymentInProcess {
		next, at = bank.PaymentCompleted, settle
		if err := book(ctx, tx, account, txID, -amount, fromMS(settle).Unix(), cr); err != nil {
			return err
		}
	}
	h, err := appendHistory(history, bank.StatusChange{Status: next, At: fromMS(at)})
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, "UPDATE payments SET status = ?, status_at = ?, history = ? WHERE id = ?", next, at, h, id)
	return err
}

// RejectAfterPending is the reason a payment rejected after Pending gives.
const RejectAfterPending = "Rejected by the bank after acceptance (sandbox scenario rejected-after-pending)"

// rejectPending rejects a Pending payment: its pending debit goes from the
// account's transactions and pending sum, as if it had never been.
func rejectPending(ctx context.Context, tx *sql.Tx, id int64, history string, account, amount, txID, at int64) error {
	if txID != 0 {
		if _, err := tx.ExecContext(ctx, "DELETE FROM transactions WHERE id = ? AND status = 1", txID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE accounts SET pending_debits = pending_debits - ? WHERE id = ?", amount, account); err != nil {
			return err
		}
	}
	h, err := appendHistory(history, bank.StatusChange{Status: bank.PaymentRejected, At: fromMS(at), Reason: RejectAfterPending})
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, "UPDATE payments SET status = ?, status_at = ?, history = ?, reason = ?, tx = 0 WHERE id = ?",
		bank.PaymentRejected, at, h, RejectAfterPending, id)
	return err
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

// executeScheduled makes a scheduled payment at its date: booked then if the
// debtor can pay (InitiationCompleted), else InitiationFailed; either way it
// leaves the debtor's list of scheduled payments.
func executeScheduled(ctx context.Context, tx *sql.Tx, id int64) error {
	var fileKind string
	var due int64
	if err := tx.QueryRowContext(ctx, "SELECT kind, settle_at FROM payments WHERE id = ?", id).Scan(&fileKind, &due); err != nil {
		return err
	}
	if fileKind == bank.OrderFile {
		return executeFile(ctx, tx, id, fromMS(due))
	}
	var pid, kind, history, ref string
	var account, amount, at int64
	var cp bank.AccountRef
	var cr credit
	if err := tx.QueryRowContext(ctx, `SELECT p.payment_id, p.kind, p.history, p.account, p.amount, p.settle_at, s.scheme, s.identification, s.name,
		s.reference, p.credit_amount, p.credit_currency FROM payments p JOIN scheduled_payments s ON s.payment_id = p.payment_id WHERE p.id = ?`, id).
		Scan(&pid, &kind, &history, &account, &amount, &at, &cp.Scheme, &cp.Identification, &cp.Name, &ref, &cr.amount, &cr.currency); err != nil {
		return err
	}
	when := fromMS(at)
	ok, reason, err := canPay(ctx, tx, account, amount)
	if err != nil {
		return err
	}
	status, txID := bank.OrderInitiationFailed, int64(0)
	if ok {
		if txID, err = post(ctx, tx, account, -amount, when, debitKind(kind), cp, ref, true, cr); err != nil {
			return err
		}
		status, reason = bank.OrderInitiationCompleted, ""
	}
	h, err := appendHistory(history, bank.StatusChange{Status: status, At: when, Reason: reason})
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE payments SET status = ?, status_at = ?, history = ?, reason = ?, tx = ? WHERE id = ?",
		status, at, h, reason, txID, id); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, "DELETE FROM scheduled_payments WHERE payment_id = ?", pid)
	return err
}

// payStanding makes one occurrence of a standing order (if the debtor can
// pay; else it is skipped) and moves the order to its next date. The first
// occurrence pays the first amount, the last one (by NumberOfPayments or
// FinalPaymentDateTime) the final amount, the others the recurring amount.
func payStanding(ctx context.Context, tx *sql.Tx, id int64) error {
	var o struct {
		account, amount, first, next, final, firstAmt, finalAmt, remaining, made int64
		freq, ref                                                                string
		cp                                                                       bank.AccountRef
		credits                                                                  [3]int64 // first, recurring, final
		cr                                                                       credit
	}
	if err := tx.QueryRowContext(ctx, `SELECT account, frequency, reference, amount, first_at, next_at, final_at, scheme, identification,
		name, first_amount, final_amount, remaining, made, credit_currency, credit_first, credit_amount, credit_final FROM standing_orders WHERE id = ?`, id).Scan(&o.account, &o.freq, &o.ref,
		&o.amount, &o.first, &o.next, &o.final, &o.cp.Scheme, &o.cp.Identification, &o.cp.Name, &o.firstAmt, &o.finalAmt, &o.remaining, &o.made,
		&o.cr.currency, &o.credits[0], &o.credits[1], &o.credits[2]); err != nil {
		return err
	}
	f, err := bank.ParseFrequency(o.freq, "Frequency")
	if err != nil {
		return err
	}
	at := fromUnix(o.next)
	following := f.Next(fromUnix(o.first), at)
	last := o.remaining == 1 || (o.final != 0 && following.After(fromUnix(o.final)))
	amount := o.amount
	o.cr.amount = o.credits[1]
	switch {
	case o.made == 0 && o.firstAmt > 0:
		amount, o.cr.amount = o.firstAmt, o.credits[0]
	case last && o.finalAmt > 0:
		amount, o.cr.amount = o.finalAmt, o.credits[2]
	}
	ok, _, err := canPay(ctx, tx, o.account, amount)
	if err != nil {
		return err
	}
	lastAt := int64(0)
	if ok {
		if _, err := post(ctx, tx, o.account, -amount, at, kindSO, o.cp, o.ref, true, o.cr); err != nil {
			return err
		}
		o.made++
		lastAt = o.next
	}
	if o.remaining > 0 {
		o.remaining--
	}
	status, nextAt := "Active", unix(following)
	if last || following.IsZero() {
		status, nextAt = "Inactive", 0
	}
	_, err = tx.ExecContext(ctx, `UPDATE standing_orders SET next_at = ?, last_at = CASE WHEN CAST(? AS BIGINT) <> 0 THEN ? ELSE last_at END,
		remaining = ?, made = ?, status = ? WHERE id = ?`, nextAt, lastAt, lastAt, o.remaining, o.made, status, id)
	return err
}
