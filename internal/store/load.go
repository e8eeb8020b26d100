package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/obsandbox/sandbox/internal/bank"
)

// Household is everything the bank holds for one PSU, as the seed writes it.
// Its password is the fixtures' test credential, which the bank does not
// keep (its password_hash is ”).
type Household struct {
	Username string
	// PasswordHash is the PSU's argon2id hash (secret.HashPassword), or ""
	// for a PSU whose password is its fixture credential (seed.Credentials).
	PasswordHash string
	Scenario     string
	Person       bank.Party  // the PSU's own party
	Business     *bank.Party // the company of a business PSU, if any
	Accounts     []HouseholdAccount
}

// HouseholdAccount is one account with its whole history.
type HouseholdAccount struct {
	Account                       bank.Account
	Opening                       int64 // balance before the first entry
	Booked                        int64
	PendingDebits, PendingCredits int64
	HeldByBusiness                bool // the company is the principal, the PSU a delegate
	Transactions                  []bank.Transaction
	Beneficiaries                 []bank.Beneficiary
	DirectDebits                  []bank.DirectDebit
	StandingOrders                []bank.StandingOrder
	Scheduled                     []bank.ScheduledPayment
	Statements                    []bank.Statement
	Product                       *bank.Product
	Offers                        []bank.Offer
}

// Loader writes households in bulk inside one write transaction. It assigns
// row ids itself, in the order households arrive, so the same households give
// the same file.
type Loader struct {
	ctx   context.Context
	tx    *sql.Tx
	kinds map[[3]string]int64
	cps   map[[4]string]int64
	// The last row id given in each table whose ids the loader sets.
	nextTx, nextParty, nextPSU, nextAccount, nextKind, nextCP int64
	txRows                                                    []any
	txStmt                                                    *sql.Stmt
	// copy writes transactions in bulk (PostgreSQL's COPY); nil: batched
	// inserts through txStmt.
	copy  func(rows [][]any) error
	stats LoadStats
	// lookup: the bank already holds rows (AddHousehold): transaction
	// kinds and counterparties are looked up before they are added.
	lookup bool
}

// LoadStats counts what a load wrote.
type LoadStats struct {
	PSUs, Accounts, Transactions int
}

const txBatch = 128
const txCols = 12

// Load clears the bank (PSUs, parties, accounts and their records; nothing of
// clients, consents or tokens) and runs f with a Loader in one transaction,
// then builds the transaction index. Readers keep seeing the old bank until
// the commit (on PostgreSQL they wait for it: the bank's tables are
// truncated, which is far quicker than deleting a million rows).
func (s *Store) Load(ctx context.Context, f func(*Loader) error) (LoadStats, error) {
	var st LoadStats
	load := func(conn *sql.Conn, tx *sql.Tx) error {
		// DELETE on PostgreSQL too: TRUNCATE's exclusive table locks
		// deadlock with a reader holding one bank table and waiting for
		// another. The sequences of the emptied tables start again at 1 (and
		// move past the rows loaded at the end): the same seed gives the
		// same bank, ids included.
		for _, t := range bankTables {
			if _, err := tx.ExecContext(ctx, "DELETE FROM "+t); err != nil {
				return err
			}
		}
		if s.pg != nil {
			if err := syncSequences(ctx, tx); err != nil { // the emptied tables' ids start again at 1
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM runtime_psus"); err != nil {
			return err
		}
		for _, ix := range []string{"transactions_by_account", "transactions_pending_cards"} {
			if _, err := tx.ExecContext(ctx, "DROP INDEX IF EXISTS "+ix); err != nil {
				return err
			}
		}
		l := &Loader{ctx: ctx, tx: tx, kinds: map[[3]string]int64{}, cps: map[[4]string]int64{}}
		if s.pg != nil {
			l.copy = func(rows [][]any) error { return copyTransactions(ctx, conn, rows) }
		} else {
			stmt, err := tx.PrepareContext(ctx, "INSERT INTO transactions VALUES "+placeholders(txCols, txBatch))
			if err != nil {
				return err
			}
			defer stmt.Close()
			l.txStmt = stmt
		}
		if err := f(l); err != nil {
			return err
		}
		if err := l.flush(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "CREATE INDEX transactions_by_account ON transactions(account, booked_at, id)"); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, pendingCardsIndex); err != nil {
			return err
		}
		if s.pg != nil {
			if err := syncSequences(ctx, tx); err != nil {
				return err
			}
			// The planner's statistics of the new bank, before anyone reads it.
			if _, err := tx.ExecContext(ctx, "ANALYZE "+strings.Join(bankTables, ", ")); err != nil {
				return err
			}
		}
		st = l.stats
		return nil
	}
	var rec []*AuditEntry
	if who := actorOf(ctx); who != nil {
		inner := load
		load = func(conn *sql.Conn, tx *sql.Tx) error {
			return s.recordingChanges(ctx, "Load", func(tx *sql.Tx) error { return inner(conn, tx) }, &rec)(tx)
		}
	}
	err := s.commitConn(ctx, s.sync, "", load)
	s.version.Add(1)
	if err == nil {
		s.committed(rec, nil)
	}
	return st, err
}

// pendingCardsIndex finds the pending card entries the clock books
// (CatchUp): a handful of rows among millions.
const pendingCardsIndex = "CREATE INDEX IF NOT EXISTS transactions_pending_cards ON transactions(booked_at) WHERE status = 1 AND card_auth <> 0"

// bankTables are the tables Load rewrites, children first.
var bankTables = []string{"transactions", "tx_kinds", "counterparties", "beneficiaries", "direct_debits",
	"standing_orders", "scheduled_payments", "statements", "products", "offers", "account_parties",
	"accounts", "psus", "parties"}

func placeholders(cols, rows int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
	return strings.TrimSuffix(strings.Repeat(one+",", rows), ",")
}

func (l *Loader) exec(query string, args ...any) (int64, error) {
	_, err := l.tx.ExecContext(l.ctx, query, args...)
	return 0, err
}

// insert writes a row whose id (the first argument) the loader chose.
func (l *Loader) insert(next *int64, query string, args ...any) (int64, error) {
	*next++
	_, err := l.tx.ExecContext(l.ctx, query, append([]any{*next}, args...)...)
	return *next, err
}

func (l *Loader) party(p bank.Party) (int64, error) {
	addr, err := json.Marshal(p.Address)
	if err != nil {
		return 0, err
	}
	return l.insert(&l.nextParty, `INSERT INTO parties(id, party_id, number, type, name, legal_name, email, phone, mobile, business, address)
		VALUES(?,?,?,?,?,?,?,?,?,?,?)`, p.ID, p.Number, p.Type, p.Name, p.LegalName, p.Email, p.Phone, p.Mobile, p.Business, string(addr))
}

// Household writes one PSU with its parties, accounts and records.
func (l *Loader) Household(h *Household) error {
	person, err := l.party(h.Person)
	if err != nil {
		return fmt.Errorf("party of %s: %w", h.Username, err)
	}
	var business int64
	if h.Business != nil {
		if business, err = l.party(*h.Business); err != nil {
			return err
		}
	}
	psu, err := l.insert(&l.nextPSU, "INSERT INTO psus(id, username, password_hash, party, scenario) VALUES(?,?,?,?,?)", h.Username, h.PasswordHash, person, h.Scenario)
	if err != nil {
		return fmt.Errorf("psu %s: %w", h.Username, err)
	}
	l.stats.PSUs++
	for i := range h.Accounts {
		if err := l.account(psu, person, business, &h.Accounts[i]); err != nil {
			return fmt.Errorf("%s account %d: %w", h.Username, i, err)
		}
	}
	return nil
}

func (l *Loader) account(psu, person, business int64, ha *HouseholdAccount) error {
	a := &ha.Account
	ref, err := l.insert(&l.nextAccount, `INSERT INTO accounts(id, account_id, psu, currency, type, sub_type, nickname, description, status,
		opened_at, holder_name, sort_code, number, iban, pan, bic, card_pan, card_scheme, credit_limit, product_id,
		opening_balance, booked, pending_debits, pending_credits) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		a.ID, psu, a.Currency, a.Type, a.SubType, a.Nickname, a.Description, a.Status, a.OpenedAt.Unix(),
		a.HolderName, a.SortCode, a.Number, a.IBAN, a.PAN, a.BIC, a.CardPAN, a.CardScheme, a.CreditLimit, a.ProductID,
		ha.Opening, ha.Booked, ha.PendingDebits, ha.PendingCredits)
	if err != nil {
		return err
	}
	a.Ref = ref
	l.stats.Accounts++
	if ha.HeldByBusiness {
		if _, err := l.exec("INSERT INTO account_parties VALUES(?,?,?),(?,?,?)",
			ref, business, "UK.OBIE.Principal", ref, person, "UK.OBIE.SeniorManagingOfficial"); err != nil {
			return err
		}
	} else if _, err := l.exec("INSERT INTO account_parties VALUES(?,?,?)", ref, person, "UK.OBIE.Principal"); err != nil {
		return err
	}
	for i := range ha.Transactions {
		if err := l.transaction(ref, &ha.Transactions[i]); err != nil {
			return err
		}
	}
	for _, b := range ha.Beneficiaries {
		if _, err := l.exec("INSERT INTO beneficiaries(beneficiary_id, account, type, reference, scheme, identification, name) VALUES(?,?,?,?,?,?,?)",
			b.ID, ref, b.Type, b.Reference, b.Creditor.Scheme, b.Creditor.Identification, b.Creditor.Name); err != nil {
			return err
		}
	}
	for _, d := range ha.DirectDebits {
		if _, err := l.exec("INSERT INTO direct_debits(direct_debit_id, account, mandate, name, status, frequency, previous_at, previous_paid) VALUES(?,?,?,?,?,?,?,?)",
			d.ID, ref, d.Mandate, d.Name, d.Status, d.Frequency, unix(d.PreviousAt), d.PreviousPaid); err != nil {
			return err
		}
	}
	for _, o := range ha.StandingOrders {
		if _, err := l.exec(`INSERT INTO standing_orders(standing_order_id, account, frequency, reference, status, amount,
			first_at, next_at, last_at, final_at, scheme, identification, name) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			o.ID, ref, o.Frequency, o.Reference, o.Status, o.Amount, unix(o.FirstAt), unix(o.NextAt), unix(o.LastAt), unix(o.FinalAt),
			o.Creditor.Scheme, o.Creditor.Identification, o.Creditor.Name); err != nil {
			return err
		}
	}
	for _, p := range ha.Scheduled {
		if _, err := l.exec(`INSERT INTO scheduled_payments(scheduled_payment_id, account, at, type, reference, amount, scheme, identification, name)
			VALUES(?,?,?,?,?,?,?,?,?)`, p.ID, ref, unix(p.At), p.Type, p.Reference, p.Amount, p.Creditor.Scheme, p.Creditor.Identification, p.Creditor.Name); err != nil {
			return err
		}
	}
	for _, st := range ha.Statements {
		if _, err := l.exec(`INSERT INTO statements(statement_id, account, reference, type, start_at, end_at, created_at, opening, closing, credits, debits, description)
			VALUES(?,?,?,?,?,?,?,?,?,?,?,?)`, st.ID, ref, st.Reference, st.Type, unix(st.Start), unix(st.End), unix(st.CreatedAt),
			st.Opening, st.Closing, st.Credits, st.Debits, st.Description); err != nil {
			return err
		}
	}
	if p := ha.Product; p != nil {
		if _, err := l.exec("INSERT INTO products VALUES(?,?,?,?,?,?,?)", ref, p.ID, p.Name, p.Type, p.OtherName, p.OtherDesc, p.MarketingID); err != nil {
			return err
		}
	}
	for _, o := range ha.Offers {
		if _, err := l.exec(`INSERT INTO offers(offer_id, account, type, description, start_at, end_at, rate, amount, fee, url) VALUES(?,?,?,?,?,?,?,?,?,?)`,
			o.ID, ref, o.Type, o.Description, unix(o.Start), unix(o.End), o.Rate, o.Amount, o.Fee, o.URL); err != nil {
			return err
		}
	}
	return nil
}

func (l *Loader) kind(t *bank.Transaction) (int64, error) {
	k := [3]string{t.Code, t.SubCode, t.ProprietaryCode}
	if id, ok := l.kinds[k]; ok {
		return id, nil
	}
	if l.lookup {
		var id int64
		err := l.tx.QueryRowContext(l.ctx, "SELECT id FROM tx_kinds WHERE code = ? AND sub_code = ? AND proprietary_code = ?", k[0], k[1], k[2]).Scan(&id)
		if err == nil {
			l.kinds[k] = id
			return id, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return 0, err
		}
	}
	id, err := l.insert(&l.nextKind, "INSERT INTO tx_kinds(id, code, sub_code, proprietary_code) VALUES(?,?,?,?)", k[0], k[1], k[2])
	l.kinds[k] = id
	return id, err
}

func (l *Loader) counterparty(t *bank.Transaction) (any, error) {
	var k [4]string
	switch {
	case t.MerchantName != "":
		k = [4]string{t.MerchantName, t.MerchantCategory, "", ""}
	case t.Counterparty != nil:
		k = [4]string{t.Counterparty.Name, "", t.Counterparty.Scheme, t.Counterparty.Identification}
	default:
		return nil, nil
	}
	if id, ok := l.cps[k]; ok {
		return id, nil
	}
	if l.lookup {
		var id int64
		err := l.tx.QueryRowContext(l.ctx, "SELECT id FROM counterparties WHERE name = ? AND mcc = ? AND scheme = ? AND identification = ?", k[0], k[1], k[2], k[3]).Scan(&id)
		if err == nil {
			l.cps[k] = id
			return id, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
	}
	id, err := l.insert(&l.nextCP, "INSERT INTO counterparties(id, name, mcc, scheme, identification) VALUES(?,?,?,?,?)", k[0], k[1], k[2], k[3])
	l.cps[k] = id
	return id, err
}

func (l *Loader) transaction(account int64, t *bank.Transaction) error {
	kind, err := l.kind(t)
	if err != nil {
		return err
	}
	cp, err := l.counterparty(t)
	if err != nil {
		return err
	}
	l.nextTx++
	var value, balance any
	if !t.ValueAt.IsZero() && !t.ValueAt.Equal(t.BookedAt) {
		value = t.ValueAt.Unix()
	}
	if t.HasBalance {
		balance = t.Balance
	}
	l.txRows = append(l.txRows, l.nextTx, account, t.BookedAt.Unix(), value, statusCode(t.Status), t.Amount,
		balance, kind, cp, cardAuthCode(t.Card), t.Reference, t.Information)
	l.stats.Transactions++
	switch {
	case l.copy != nil && len(l.txRows) == copyBatch*txCols:
		return l.flush()
	case l.copy == nil && len(l.txRows) == txBatch*txCols:
		if l.txStmt == nil {
			return l.flush()
		}
		if _, err := l.txStmt.ExecContext(l.ctx, l.txRows...); err != nil {
			return err
		}
		l.txRows = l.txRows[:0]
	}
	return nil
}

// copyBatch is how many transactions one COPY writes.
const copyBatch = 8192

func (l *Loader) flush() error {
	if len(l.txRows) == 0 {
		return nil
	}
	if l.copy != nil {
		rows := make([][]any, 0, len(l.txRows)/txCols)
		for i := 0; i < len(l.txRows); i += txCols {
			rows = append(rows, l.txRows[i:i+txCols:i+txCols])
		}
		err := l.copy(rows)
		l.txRows = make([]any, 0, copyBatch*txCols) // the copied rows are still referenced until COPY returns
		return err
	}
	_, err := l.tx.ExecContext(l.ctx, "INSERT INTO transactions VALUES "+placeholders(txCols, len(l.txRows)/txCols), l.txRows...)
	l.txRows = l.txRows[:0]
	return err
}

var txColumns = []string{"id", "account", "booked_at", "value_at", "status", "amount", "balance", "kind", "counterparty",
	"card_auth", "reference", "info"}

// copyTransactions writes rows into transactions with PostgreSQL's COPY,
// inside the transaction open on conn.
func copyTransactions(ctx context.Context, conn *sql.Conn, rows [][]any) error {
	return conn.Raw(func(dc any) error {
		_, err := dc.(*pgConn).Conn.Conn().CopyFrom(ctx, pgx.Identifier{"transactions"}, txColumns, pgx.CopyFromRows(rows))
		return err
	})
}
