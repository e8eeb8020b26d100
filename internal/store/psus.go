package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/obsandbox/sandbox/internal/bank"
)

// AddHousehold adds one PSU with its accounts and records to the bank as it
// is, in one transaction, and remembers it as added at run time (see
// RemovePSU). A username, AccountId, sort code and number, IBAN or party
// id the bank already holds is bank.ErrConflict, naming it; nothing is
// then written.
func (s *Store) AddHousehold(ctx context.Context, h *Household, now time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if err := householdConflicts(ctx, tx, h); err != nil {
			return err
		}
		l := &Loader{ctx: ctx, tx: tx, kinds: map[[3]string]int64{}, cps: map[[4]string]int64{}, lookup: true}
		for table, next := range map[string]*int64{"transactions": &l.nextTx, "parties": &l.nextParty, "psus": &l.nextPSU,
			"accounts": &l.nextAccount, "tx_kinds": &l.nextKind, "counterparties": &l.nextCP} {
			if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(id), 0) FROM "+table).Scan(next); err != nil {
				return err
			}
		}
		if err := l.Household(h); err != nil {
			return err
		}
		if err := l.flush(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO runtime_psus(username, created_at) VALUES(?, ?)", h.Username, now.Unix()); err != nil {
			return err
		}
		if s.pg != nil {
			return syncSequences(ctx, tx) // the ids were set here, past the sequences
		}
		return nil
	})
}

// householdConflicts names the first of h's keys the bank already holds.
func householdConflicts(ctx context.Context, tx *sql.Tx, h *Household) error {
	taken := func(what, query string, args ...any) error {
		var n int
		if err := tx.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: %s is taken", bank.ErrConflict, what)
		}
		return nil
	}
	if err := taken(fmt.Sprintf("username %q", h.Username), "SELECT count(*) FROM psus WHERE username = ?", h.Username); err != nil {
		return err
	}
	parties := []bank.Party{h.Person}
	if h.Business != nil {
		parties = append(parties, *h.Business)
	}
	for _, p := range parties {
		if err := taken("party id "+p.ID, "SELECT count(*) FROM parties WHERE party_id = ?", p.ID); err != nil {
			return err
		}
	}
	for _, ha := range h.Accounts {
		a := ha.Account
		if err := taken(fmt.Sprintf("AccountId %q", a.ID), "SELECT count(*) FROM accounts WHERE account_id = ?", a.ID); err != nil {
			return err
		}
		if a.SortCode != "" {
			if err := taken(fmt.Sprintf("sort code %s number %s", a.SortCode, a.Number),
				"SELECT count(*) FROM accounts WHERE sort_code = ? AND number = ?", a.SortCode, a.Number); err != nil {
				return err
			}
		}
		if a.IBAN != "" {
			if err := taken("IBAN "+a.IBAN, "SELECT count(*) FROM accounts WHERE iban = ?", a.IBAN); err != nil {
				return err
			}
		}
	}
	return nil
}

// AccountNumberFree reports whether no account of the bank has this sort
// code and number, nor an IBAN made of them (an account known by its IBAN
// only keeps them there).
func (s *Store) AccountNumberFree(ctx context.Context, sortCode, number string) (bool, error) {
	var n int
	err := s.rc.QueryRowContext(ctx, "SELECT count(*) FROM accounts WHERE (sort_code = ? AND number = ?) OR iban LIKE ?",
		sortCode, number, "%"+sortCode+number).Scan(&n)
	return n == 0, translate(err)
}

// BankDate is the date the seeded history stands at for the sandbox time
// now: the history ends at the seed date, and the sandbox clock has run on
// since the bank was seeded (see StartCardClock).
func (s *Store) BankDate(ctx context.Context, now time.Time) (time.Time, error) {
	v, err := s.Setting(ctx, SettingCardShift)
	if errors.Is(err, bank.ErrNotFound) {
		return now, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	shift, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("setting %s: %w", SettingCardShift, err)
	}
	return now.Add(-time.Duration(shift) * time.Second), nil
}

// RuntimePSU reports whether the PSU was added at run time (AddHousehold).
func (s *Store) RuntimePSU(ctx context.Context, username string) (bool, error) {
	var n int
	err := s.rc.QueryRowContext(ctx, "SELECT count(*) FROM runtime_psus WHERE username = ?", username).Scan(&n)
	return n > 0, translate(err)
}

// RemovePSU removes a PSU added at run time with everything of theirs: the
// accounts and their records, the parties, and what the PSU did — consents
// and their tokens, codes and payments, sessions and lockouts. An unknown
// username is bank.ErrNotFound; a PSU of the seed is a *bank.Error of kind
// KindConflict (reset puts the seed back; it is never removed).
func (s *Store) RemovePSU(ctx context.Context, username string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var psu, party int64
		if err := tx.QueryRowContext(ctx, "SELECT id, party FROM psus WHERE username = ?", username).Scan(&psu, &party); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM runtime_psus WHERE username = ?", username).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return bank.Errorf(bank.KindConflict, "username", "%s is part of the seed: only PSUs added at run time (POST /sandbox/psus) can be removed", username)
		}
		accts := "(SELECT id FROM accounts WHERE psu = ?)"
		consents := "(SELECT consent_id FROM consents WHERE psu = ?)"
		// The parties: the PSU's own and any business holding its accounts.
		parties := []any{party}
		rows, err := tx.QueryContext(ctx, "SELECT DISTINCT party FROM account_parties WHERE account IN "+accts+" AND party <> ?", psu, party)
		if err != nil {
			return err
		}
		for rows.Next() {
			var p int64
			if err := rows.Scan(&p); err != nil {
				rows.Close()
				return err
			}
			parties = append(parties, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		// What the PSU did first, then the bank's records, children first.
		steps := [][]any{
			{"DELETE FROM tokens WHERE psu = ? OR consent_id IN " + consents, username, username},
			{"DELETE FROM auth_codes WHERE psu = ?", username},
			{"DELETE FROM auth_requests WHERE psu = ?", username},
			{"DELETE FROM funds_confirmations WHERE consent_id IN " + consents, username},
			{"DELETE FROM payments WHERE account IN " + accts + " OR consent_id IN " + consents, psu, username},
			{"DELETE FROM consents WHERE psu = ?", username},
			{"DELETE FROM psu_sessions WHERE username = ?", username},
			{"DELETE FROM psu_logins WHERE username = ?", username},
			{"DELETE FROM ciba_requests WHERE psu = ?", username},
		}
		for _, t := range []string{"transactions", "beneficiaries", "direct_debits", "standing_orders", "scheduled_payments",
			"statements", "products", "offers", "account_parties"} {
			steps = append(steps, []any{"DELETE FROM " + t + " WHERE account IN " + accts, psu})
		}
		steps = append(steps, []any{"DELETE FROM accounts WHERE psu = ?", psu}, []any{"DELETE FROM psus WHERE id = ?", psu},
			[]any{"DELETE FROM runtime_psus WHERE username = ?", username},
			append([]any{"DELETE FROM parties WHERE id IN " + inList(len(parties))}, parties...))
		for _, st := range steps {
			if _, err := tx.ExecContext(ctx, st[0].(string), st[1:]...); err != nil {
				return err
			}
		}
		return nil
	})
}

// PSU lists one PSU with its accounts.
func (s *Store) PSU(ctx context.Context, username string) (PSU, error) {
	p := PSU{Username: username}
	err := s.read(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, "SELECT password_hash FROM psus WHERE username = ?", username).Scan(&p.PasswordHash); err != nil {
			return err
		}
		var err error
		p.Accounts, err = queryAccounts(ctx, tx, "p.username = ?", username)
		return err
	})
	return p, err
}
