package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/obsandbox/sandbox/internal/bank"
)

const accountCols = `a.id, a.account_id, p.username, a.currency, a.type, a.sub_type, a.nickname, a.description, a.status,
	a.opened_at, a.holder_name, a.sort_code, a.number, a.iban, a.pan, a.bic, a.card_pan, a.card_scheme, a.credit_limit, a.product_id`

func scanAccount(sc interface{ Scan(...any) error }) (bank.Account, error) {
	var a bank.Account
	var opened int64
	err := sc.Scan(&a.Ref, &a.ID, &a.PSU, &a.Currency, &a.Type, &a.SubType, &a.Nickname, &a.Description, &a.Status,
		&opened, &a.HolderName, &a.SortCode, &a.Number, &a.IBAN, &a.PAN, &a.BIC, &a.CardPAN, &a.CardScheme, &a.CreditLimit, &a.ProductID)
	a.OpenedAt = fromUnix(opened)
	return a, err
}

func queryAccounts(ctx context.Context, q querier, where string, args ...any) ([]bank.Account, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+accountCols+" FROM accounts a JOIN psus p ON p.id = a.psu WHERE "+where+" ORDER BY a.id", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []bank.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// inList renders "(?,?,?)" for n values.
func inList(n int) string {
	return "(" + strings.TrimSuffix(strings.Repeat("?,", n), ",") + ")"
}

func anys[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// Accounts returns the accounts with the given AccountIds that belong to
// psu, in the bank's order. Ids that are unknown or another PSU's are left
// out: the caller decides whether that is an error.
func (s *Store) Accounts(ctx context.Context, psu string, ids []string) ([]bank.Account, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	out, err := remember(s, "accounts\x00"+psu+"\x00"+strings.Join(ids, "\x00"), func(a []bank.Account) int { return len(a) }, func() ([]bank.Account, error) {
		out, err := queryAccounts(ctx, s.rc, "p.username = ? AND a.account_id IN "+inList(len(ids)), append([]any{psu}, anys(ids)...)...)
		return out, translate(err)
	})
	return slices.Clone(out), err
}

// AccountsOfPSU lists every account of a PSU.
func (s *Store) AccountsOfPSU(ctx context.Context, psu string) ([]bank.Account, error) {
	out, err := queryAccounts(ctx, s.rc, "p.username = ?", psu)
	return out, translate(err)
}

func refs(accts []bank.Account) []any {
	out := make([]any, len(accts))
	for i, a := range accts {
		out[i] = a.Ref
	}
	return out
}

// Ledgers returns the ledger state of each account (by Ref) at now: booked
// and pending sums, and the booked balance at the end of the previous day.
func (s *Store) Ledgers(ctx context.Context, accts []bank.Account, now time.Time) (map[int64]bank.LedgerState, error) {
	dayStart := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).Unix()
	var key strings.Builder
	fmt.Fprintf(&key, "ledgers\x00%d", dayStart)
	for _, a := range accts {
		fmt.Fprintf(&key, "\x00%d", a.Ref)
	}
	out, err := remember(s, key.String(), func(m map[int64]bank.LedgerState) int { return len(m) }, func() (map[int64]bank.LedgerState, error) { return s.ledgers(ctx, accts, dayStart) })
	return maps.Clone(out), err
}

func (s *Store) ledgers(ctx context.Context, accts []bank.Account, dayStart int64) (map[int64]bank.LedgerState, error) {
	out := make(map[int64]bank.LedgerState, len(accts))
	err := s.readEach(ctx, func(tx querier) error {
		for _, a := range accts {
			var st bank.LedgerState
			var last sql.NullInt64
			err := tx.QueryRowContext(ctx, `SELECT booked, pending_debits, pending_credits,
				coalesce((SELECT balance FROM transactions WHERE account = a.id AND booked_at < ? AND status = 0
					ORDER BY booked_at DESC, id DESC LIMIT 1), opening_balance),
				(SELECT max(booked_at) FROM transactions WHERE account = a.id)
				FROM accounts a WHERE a.id = ?`, dayStart, a.Ref).Scan(&st.Booked, &st.PendingDebits, &st.PendingCredits, &st.ClosingBooked, &last)
			if err != nil {
				return err
			}
			if last.Valid {
				st.LastBooked = fromUnix(last.Int64)
			}
			out[a.Ref] = st
		}
		return nil
	})
	return out, err
}

// TransactionID is the public id of the transaction with row id id: a
// bijective scramble, so ids look opaque but stay stable for a given seed
// and a pending entry keeps its id when it is booked.
func TransactionID(id int64) string {
	x := uint64(id) * 0x9E3779B97F4A7C15
	s := strconv.FormatUint(x, 16)
	return strings.Repeat("0", 16-len(s)) + s
}

const txSelect = `SELECT t.id, t.account, t.booked_at, t.value_at, t.status, t.amount, t.balance, k.code, k.sub_code,
	k.proprietary_code, c.name, c.mcc, c.scheme, c.identification, t.card_auth, t.reference, t.info
	FROM transactions t INDEXED BY transactions_by_account JOIN tx_kinds k ON k.id = t.kind LEFT JOIN counterparties c ON c.id = t.counterparty`

// Transactions returns one page of the selected transactions.
func (s *Store) Transactions(ctx context.Context, q bank.TxQuery) (bank.TxPage, error) {
	// The key is what the queries use: the filter as txFilter writes it
	// (a date that is set but falls in the zero time's second must not share
	// the unbounded page's entry), the page and the accounts.
	var key strings.Builder
	filter, args := txFilter(q)
	fmt.Fprintf(&key, "tx\x00%s\x00%v\x00%d\x00%d", filter, args, q.Offset, q.Limit)
	for _, a := range q.Accounts {
		fmt.Fprintf(&key, "\x00%d", a.Ref)
	}
	return remember(s, key.String(), func(p bank.TxPage) int { return len(p.Items) }, func() (bank.TxPage, error) { return s.transactions(ctx, q) })
}

func (s *Store) transactions(ctx context.Context, q bank.TxQuery) (bank.TxPage, error) {
	var page bank.TxPage
	if len(q.Accounts) == 0 {
		return page, nil
	}
	byRef := make(map[int64]*bank.Account, len(q.Accounts))
	for i := range q.Accounts {
		byRef[q.Accounts[i].Ref] = &q.Accounts[i]
	}
	countSQL, countArgs, pageSQL, pageArgs := txQueries(q)
	err := s.readEach(ctx, func(tx querier) error {
		if err := tx.QueryRowContext(ctx, countSQL, countArgs...).Scan(&page.Total); err != nil {
			return err
		}
		for _, a := range q.Accounts {
			var lo, hi sql.NullInt64
			if err := tx.QueryRowContext(ctx, `SELECT (SELECT min(booked_at) FROM transactions WHERE account = ?),
				(SELECT max(booked_at) FROM transactions WHERE account = ?)`, a.Ref, a.Ref).Scan(&lo, &hi); err != nil {
				return err
			}
			if lo.Valid && (page.First.IsZero() || fromUnix(lo.Int64).Before(page.First)) {
				page.First = fromUnix(lo.Int64)
			}
			if hi.Valid && fromUnix(hi.Int64).After(page.Last) {
				page.Last = fromUnix(hi.Int64)
			}
		}
		if q.Limit <= 0 || q.Offset >= page.Total {
			return nil
		}
		rows, err := tx.QueryContext(ctx, pageSQL, pageArgs...)
		if err != nil {
			return err
		}
		defer rows.Close()
		page.Items = make([]bank.Transaction, 0, min(q.Limit, page.Total-q.Offset))
		for rows.Next() {
			t, err := scanTx(rows, byRef)
			if err != nil {
				return err
			}
			page.Items = append(page.Items, t)
		}
		return rows.Err()
	})
	return page, err
}

// txQueries builds the count and the page of a selection. Each account is
// its own index search (account = ? on (account, booked_at, id)): with an
// IN list the planner, which has no statistics (ANALYZE is not run: it made
// the date-range query slower with this build), reads the whole index
// instead. Several accounts' entries are merged newest first, each giving at
// most offset+limit rows to the sort.
func txQueries(q bank.TxQuery) (countSQL string, countArgs []any, pageSQL string, pageArgs []any) {
	filter, fargs := txFilter(q)
	const order = " ORDER BY t.booked_at DESC, t.id DESC"
	counts := make([]string, len(q.Accounts))
	pages := make([]string, len(q.Accounts))
	for i, a := range q.Accounts {
		counts[i] = "(SELECT count(*) FROM transactions t WHERE t.account = ?" + filter + ")"
		countArgs = append(append(countArgs, a.Ref), fargs...)
		pages[i] = "SELECT * FROM (" + txSelect + " WHERE t.account = ?" + filter + order + " LIMIT ?) AS page" + strconv.Itoa(i)
		pageArgs = append(append(pageArgs, a.Ref), fargs...)
		pageArgs = append(pageArgs, q.Offset+q.Limit)
	}
	countSQL = "SELECT " + strings.Join(counts, " + ")
	if len(q.Accounts) == 1 {
		pageSQL = txSelect + " WHERE t.account = ?" + filter + order + " LIMIT ? OFFSET ?"
		pageArgs = append(append([]any{q.Accounts[0].Ref}, fargs...), q.Limit, q.Offset)
		return
	}
	pageSQL = strings.Join(pages, " UNION ALL ") + " ORDER BY booked_at DESC, id DESC LIMIT ? OFFSET ?"
	pageArgs = append(pageArgs, q.Limit, q.Offset)
	return
}

// txFilter is what a selection asks of an account's entries.
func txFilter(q bank.TxQuery) (string, []any) {
	var sb strings.Builder
	var args []any
	if !q.From.IsZero() {
		sb.WriteString(" AND t.booked_at >= ?")
		args = append(args, q.From.Unix())
	}
	if !q.To.IsZero() {
		sb.WriteString(" AND t.booked_at <= ?")
		args = append(args, q.To.Unix())
	}
	switch q.Direction {
	case bank.DirectionCredits:
		sb.WriteString(" AND t.amount > 0")
	case bank.DirectionDebits:
		sb.WriteString(" AND t.amount < 0")
	case bank.DirectionNone:
		sb.WriteString(" AND 1 = 0")
	}
	if q.BookedOnly {
		sb.WriteString(" AND t.status = 0")
	}
	if q.PendingOnly {
		sb.WriteString(" AND t.status = 1")
	}
	return sb.String(), args
}

func scanTx(rows *sql.Rows, byRef map[int64]*bank.Account) (bank.Transaction, error) {
	var t bank.Transaction
	var id, acct, booked int64
	var value, balance sql.NullInt64
	var status, auth int
	var name, mcc, scheme, ident sql.NullString
	err := rows.Scan(&id, &acct, &booked, &value, &status, &t.Amount, &balance, &t.Code, &t.SubCode, &t.ProprietaryCode,
		&name, &mcc, &scheme, &ident, &auth, &t.Reference, &t.Information)
	if err != nil {
		return t, err
	}
	a := byRef[acct]
	t.ID, t.AccountID, t.Currency = TransactionID(id), a.ID, a.Currency
	t.Status = statusNames[status]
	t.BookedAt, t.ValueAt = fromUnix(booked), fromUnix(booked)
	if value.Valid {
		t.ValueAt = fromUnix(value.Int64)
	}
	if balance.Valid {
		t.Balance, t.HasBalance = balance.Int64, true
	}
	switch {
	case mcc.String != "":
		t.MerchantName, t.MerchantCategory = name.String, mcc.String
	case name.Valid:
		t.Counterparty = &bank.AccountRef{Name: name.String, Scheme: scheme.String, Identification: ident.String}
	}
	if auth > 0 {
		t.Card = &bank.Card{Scheme: a.CardScheme, AuthType: cardAuthNames[auth], Name: a.HolderName, Masked: bank.MaskPAN(a.CardPAN)}
	}
	return t, nil
}

// Beneficiaries lists the payees saved on the accounts.
func (s *Store) Beneficiaries(ctx context.Context, accts []bank.Account) ([]bank.Beneficiary, error) {
	return list(ctx, s, accts, "SELECT account, beneficiary_id, type, reference, scheme, identification, name FROM beneficiaries",
		func(rows *sql.Rows, acct func(int64) string) (bank.Beneficiary, error) {
			var b bank.Beneficiary
			var ref int64
			err := rows.Scan(&ref, &b.ID, &b.Type, &b.Reference, &b.Creditor.Scheme, &b.Creditor.Identification, &b.Creditor.Name)
			b.AccountID = acct(ref)
			return b, err
		})
}

// DirectDebits lists the mandates of the accounts.
func (s *Store) DirectDebits(ctx context.Context, accts []bank.Account) ([]bank.DirectDebit, error) {
	cur := currencies(accts)
	return list(ctx, s, accts, "SELECT account, direct_debit_id, mandate, name, status, frequency, previous_at, previous_paid FROM direct_debits",
		func(rows *sql.Rows, acct func(int64) string) (bank.DirectDebit, error) {
			var d bank.DirectDebit
			var ref, prev int64
			err := rows.Scan(&ref, &d.ID, &d.Mandate, &d.Name, &d.Status, &d.Frequency, &prev, &d.PreviousPaid)
			d.AccountID, d.Currency, d.PreviousAt = acct(ref), cur[ref], fromUnix(prev)
			return d, err
		})
}

// StandingOrders lists the standing orders of the accounts.
func (s *Store) StandingOrders(ctx context.Context, accts []bank.Account) ([]bank.StandingOrder, error) {
	cur := currencies(accts)
	return list(ctx, s, accts, `SELECT account, standing_order_id, frequency, reference, status, amount, first_at, next_at,
		last_at, final_at, scheme, identification, name FROM standing_orders`,
		func(rows *sql.Rows, acct func(int64) string) (bank.StandingOrder, error) {
			var o bank.StandingOrder
			var ref, first, next, last, final int64
			err := rows.Scan(&ref, &o.ID, &o.Frequency, &o.Reference, &o.Status, &o.Amount, &first, &next, &last, &final,
				&o.Creditor.Scheme, &o.Creditor.Identification, &o.Creditor.Name)
			o.AccountID, o.Currency = acct(ref), cur[ref]
			o.FirstAt, o.NextAt, o.LastAt, o.FinalAt = fromUnix(first), fromUnix(next), fromUnix(last), fromUnix(final)
			return o, err
		})
}

// ScheduledPayments lists the future-dated payments of the accounts.
func (s *Store) ScheduledPayments(ctx context.Context, accts []bank.Account) ([]bank.ScheduledPayment, error) {
	cur := currencies(accts)
	return list(ctx, s, accts, "SELECT account, scheduled_payment_id, at, type, reference, amount, scheme, identification, name FROM scheduled_payments",
		func(rows *sql.Rows, acct func(int64) string) (bank.ScheduledPayment, error) {
			var p bank.ScheduledPayment
			var ref, at int64
			err := rows.Scan(&ref, &p.ID, &at, &p.Type, &p.Reference, &p.Amount, &p.Creditor.Scheme, &p.Creditor.Identification, &p.Creditor.Name)
			p.AccountID, p.Currency, p.At = acct(ref), cur[ref], fromUnix(at)
			return p, err
		})
}

// Products lists the products of the accounts.
func (s *Store) Products(ctx context.Context, accts []bank.Account) ([]bank.Product, error) {
	return list(ctx, s, accts, "SELECT account, product_id, name, type, other_name, other_desc, marketing_id FROM products",
		func(rows *sql.Rows, acct func(int64) string) (bank.Product, error) {
			var p bank.Product
			var ref int64
			err := rows.Scan(&ref, &p.ID, &p.Name, &p.Type, &p.OtherName, &p.OtherDesc, &p.MarketingID)
			p.AccountID = acct(ref)
			return p, err
		})
}

// Offers lists the offers on the accounts.
func (s *Store) Offers(ctx context.Context, accts []bank.Account) ([]bank.Offer, error) {
	cur := currencies(accts)
	return list(ctx, s, accts, "SELECT account, offer_id, type, description, start_at, end_at, rate, amount, fee, url FROM offers",
		func(rows *sql.Rows, acct func(int64) string) (bank.Offer, error) {
			var o bank.Offer
			var ref, start, end int64
			err := rows.Scan(&ref, &o.ID, &o.Type, &o.Description, &start, &end, &o.Rate, &o.Amount, &o.Fee, &o.URL)
			o.AccountID, o.Currency, o.Start, o.End = acct(ref), cur[ref], fromUnix(start), fromUnix(end)
			return o, err
		})
}

// Statements lists the statements of the accounts, oldest first.
func (s *Store) Statements(ctx context.Context, q bank.StatementQuery) ([]bank.Statement, error) {
	cond := ""
	var extra []any
	if q.ID != "" {
		cond += " AND statement_id = ?"
		extra = append(extra, q.ID)
	}
	if !q.From.IsZero() {
		cond += " AND end_at >= ?"
		extra = append(extra, q.From.Unix())
	}
	if !q.To.IsZero() {
		cond += " AND start_at <= ?"
		extra = append(extra, q.To.Unix())
	}
	cur := currencies(q.Accounts)
	return listWhere(ctx, s, q.Accounts, `SELECT account, statement_id, reference, type, start_at, end_at, created_at, opening,
		closing, credits, debits, description FROM statements`, cond, extra,
		func(rows *sql.Rows, acct func(int64) string) (bank.Statement, error) {
			var st bank.Statement
			var ref, start, end, created int64
			err := rows.Scan(&ref, &st.ID, &st.Reference, &st.Type, &start, &end, &created, &st.Opening, &st.Closing,
				&st.Credits, &st.Debits, &st.Description)
			st.AccountID, st.Currency = acct(ref), cur[ref]
			st.Start, st.End, st.CreatedAt = fromUnix(start), fromUnix(end), fromUnix(created)
			return st, err
		})
}

func currencies(accts []bank.Account) map[int64]string {
	m := make(map[int64]string, len(accts))
	for _, a := range accts {
		m[a.Ref] = a.Currency
	}
	return m
}

func list[T any](ctx context.Context, s *Store, accts []bank.Account, query string,
	scan func(*sql.Rows, func(int64) string) (T, error)) ([]T, error) {
	return listWhere(ctx, s, accts, query, "", nil, scan)
}

// rowOrder is the order of a table's rows within an account: by row id,
// but for products, one per account and keyed by it.
func rowOrder(query string) string {
	if strings.HasSuffix(query, " FROM products") {
		return "account"
	}
	return "account, id"
}

// listWhere runs a per-account query for the accounts, ordered by account
// then row, and scans every row; scan gets a function from account Ref to
// AccountId.
func listWhere[T any](ctx context.Context, s *Store, accts []bank.Account, query, cond string, extra []any,
	scan func(*sql.Rows, func(int64) string) (T, error)) ([]T, error) {
	out := []T{}
	if len(accts) == 0 {
		return out, nil
	}
	ids := make(map[int64]string, len(accts))
	for _, a := range accts {
		ids[a.Ref] = a.ID
	}
	acct := func(ref int64) string { return ids[ref] }
	rows, err := s.rc.QueryContext(ctx, query+" WHERE account IN "+inList(len(accts))+cond+" ORDER BY "+rowOrder(query),
		append(refs(accts), extra...)...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		v, err := scan(rows, acct)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, translate(rows.Err())
}

// PartiesOfAccount lists who holds or acts on an account, with their roles.
func (s *Store) PartiesOfAccount(ctx context.Context, a bank.Account) ([]bank.Party, error) {
	return s.parties(ctx, `SELECT p.party_id, p.number, p.type, p.name, p.legal_name, p.email, p.phone, p.mobile, p.business, p.address, ap.role
		FROM account_parties ap JOIN parties p ON p.id = ap.party WHERE ap.account = ? ORDER BY ap.role = 'UK.OBIE.Principal' DESC, p.id`, a.Ref)
}

// PartyOfPSU is the PSU's own party.
func (s *Store) PartyOfPSU(ctx context.Context, psu string) (bank.Party, error) {
	ps, err := s.parties(ctx, `SELECT p.party_id, p.number, p.type, p.name, p.legal_name, p.email, p.phone, p.mobile, p.business, p.address, ''
		FROM psus u JOIN parties p ON p.id = u.party WHERE u.username = ?`, psu)
	if err != nil {
		return bank.Party{}, err
	}
	if len(ps) == 0 {
		return bank.Party{}, bank.ErrNotFound
	}
	return ps[0], nil
}

func (s *Store) parties(ctx context.Context, query string, args ...any) ([]bank.Party, error) {
	rows, err := s.rc.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []bank.Party
	for rows.Next() {
		var p bank.Party
		var addr string
		if err := rows.Scan(&p.ID, &p.Number, &p.Type, &p.Name, &p.LegalName, &p.Email, &p.Phone, &p.Mobile, &p.Business, &addr, &p.Role); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(addr), &p.Address); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, translate(rows.Err())
}

// PSU is a test PSU as GET /sandbox/psus lists it. Its password is not
// kept: PasswordHash is an argon2id hash, or ” for a PSU whose password
// is its fixture credential.
type PSU struct {
	Username, PasswordHash string
	Accounts               []bank.Account
}

// PSUs lists every PSU with its accounts, fixture personas first.
// PSUCount is the number of PSUs in the bank.
func (s *Store) PSUCount(ctx context.Context) (int, error) {
	var n int
	err := s.readEach(ctx, func(q querier) error { return q.QueryRowContext(ctx, "SELECT count(*) FROM psus").Scan(&n) })
	return n, err
}

func (s *Store) PSUs(ctx context.Context) ([]PSU, error) {
	var out []PSU
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT username, password_hash FROM psus ORDER BY id")
		if err != nil {
			return err
		}
		idx := map[string]int{}
		for rows.Next() {
			var p PSU
			if err := rows.Scan(&p.Username, &p.PasswordHash); err != nil {
				rows.Close()
				return err
			}
			idx[p.Username] = len(out)
			out = append(out, p)
		}
		rows.Close()
		accts, err := queryAccounts(ctx, tx, "1 = 1")
		if err != nil {
			return err
		}
		for _, a := range accts {
			out[idx[a.PSU]].Accounts = append(out[idx[a.PSU]].Accounts, a)
		}
		return nil
	})
	return out, err
}

// AccountExists reports whether any PSU holds an account with this id.
func (s *Store) AccountExists(ctx context.Context, id string) (bool, error) {
	var n int
	err := s.rc.QueryRowContext(ctx, "SELECT count(*) FROM accounts WHERE account_id = ?", id).Scan(&n)
	return n > 0, translate(err)
}
