package bank

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
)

// AccountStore is what account information reads.
type AccountStore interface {
	Accounts(ctx context.Context, psu string, ids []string) ([]Account, error)
	AccountExists(ctx context.Context, id string) (bool, error)
	Ledgers(ctx context.Context, accts []Account, now time.Time) (map[int64]LedgerState, error)
	Transactions(ctx context.Context, q TxQuery) (TxPage, error)
	Beneficiaries(ctx context.Context, accts []Account) ([]Beneficiary, error)
	DirectDebits(ctx context.Context, accts []Account) ([]DirectDebit, error)
	StandingOrders(ctx context.Context, accts []Account) ([]StandingOrder, error)
	ScheduledPayments(ctx context.Context, accts []Account) ([]ScheduledPayment, error)
	Statements(ctx context.Context, q StatementQuery) ([]Statement, error)
	PartiesOfAccount(ctx context.Context, a Account) ([]Party, error)
	PartyOfPSU(ctx context.Context, psu string) (Party, error)
	Products(ctx context.Context, accts []Account) ([]Product, error)
	Offers(ctx context.Context, accts []Account) ([]Offer, error)
}

// Reach resolves the accounts a data request reaches: every account of the
// grant, or the one named (accountID), when the grant holds one of perms
// (else forbidden). An account outside the grant is forbidden when it
// exists and not found when it does not: a TPP learns nothing of other
// PSUs' accounts it could not learn by guessing.
func (b *Bank) Reach(ctx context.Context, g *Grant, accountID string, perms ...Permission) ([]Account, error) {
	if len(perms) > 0 && !g.Permissions.Any(perms...) {
		return nil, Errorf(KindForbidden, "", "the consent does not grant %s", permList(perms)).WithRule(RuleMissingPermits)
	}
	ids := g.Accounts
	if accountID != "" {
		if !g.HasAccount(accountID) {
			return nil, b.outside(ctx, accountID)
		}
		ids = []string{accountID}
	}
	accts, err := b.store.Accounts(ctx, g.PSU, ids)
	if err == nil && len(accts) == 0 && accountID != "" {
		err = Errorf(KindNotFound, "AccountId", "no account %s", clip(accountID, 64))
	}
	return accts, err
}

// settled brings the bank up to the sandbox clock (payments due to move
// along are moved) before a read that shows payments' state — balances,
// transactions, standing orders, scheduled payments — so that it shows what
// is true now, whichever standard asks, not what the loop that moves
// payments along last saw. A catch-up that fails leaves the read as of the
// last one (that loop reports the failure); only a request given up on
// ends here.
func (b *Bank) settled(ctx context.Context) error {
	if err := b.CatchUp(ctx); err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

func (b *Bank) outside(ctx context.Context, id string) error {
	exists, err := b.store.AccountExists(ctx, id)
	if err != nil {
		return err
	}
	if exists {
		return Errorf(KindForbidden, "AccountId", "account %s is not part of this consent", clip(id, 64)).WithRule(RuleForeignObject)
	}
	return Errorf(KindNotFound, "AccountId", "no account %s", clip(id, 64)).WithRule(RuleUnknownObject)
}

func permList(perms []Permission) string {
	names := make([]string, len(perms))
	for i, p := range perms {
		names[i] = p.String()
	}
	return strings.Join(names, " or ")
}

// Accounts is the accounts the grant reaches (or the one named).
func (b *Bank) Accounts(ctx context.Context, g *Grant, accountID string) ([]Account, error) {
	return b.Reach(ctx, g, accountID, ReadAccountsBasic, ReadAccountsDetail)
}

// AccountBalances is one account's balances.
type AccountBalances struct {
	Account  Account
	Balances []Balance
}

// Balances is the balances of the accounts the grant reaches, now.
func (b *Bank) Balances(ctx context.Context, g *Grant, accountID string) ([]Balance, error) {
	accts, err := b.Reach(ctx, g, accountID, ReadBalances)
	if err == nil {
		err = b.settled(ctx)
	}
	if err != nil {
		return nil, err
	}
	now := b.now()
	states, err := b.store.Ledgers(ctx, accts, now)
	if err != nil {
		return nil, err
	}
	var out []Balance
	for _, a := range accts {
		out = append(out, Balances(a, states[a.Ref], now)...)
	}
	return out, nil
}

// TxRequest is a page of transactions a TPP asks for.
type TxRequest struct {
	AccountID     string    // "" for every account of the grant
	From, To      time.Time // booking-date filter; zero: unbounded
	Offset, Limit int
}

// Transactions is a page of the transactions the grant reaches: within the
// consent's transaction window, in the directions (credits, debits) its
// permissions allow. Nothing is left when the request's dates and the
// window do not meet.
func (b *Bank) Transactions(ctx context.Context, g *Grant, r TxRequest) (TxPage, error) {
	accts, err := b.Reach(ctx, g, r.AccountID, ReadTransactionsBasic, ReadTransactionsDetail)
	if err != nil {
		return TxPage{}, err
	}
	return b.txPage(ctx, g, TxQuery{Accounts: accts, From: r.From, To: r.To, Offset: r.Offset, Limit: r.Limit})
}

func (b *Bank) txPage(ctx context.Context, g *Grant, q TxQuery) (TxPage, error) {
	if err := b.settled(ctx); err != nil {
		return TxPage{}, err
	}
	var ok bool
	if q.From, q.To, ok = g.Window(q.From, q.To); !ok {
		q.Direction = DirectionNone
	} else {
		q.Direction = g.Permissions.TxDirection()
	}
	return b.store.Transactions(ctx, q)
}

// Beneficiaries of the accounts the grant reaches.
func (b *Bank) Beneficiaries(ctx context.Context, g *Grant, accountID string) ([]Beneficiary, error) {
	accts, err := b.Reach(ctx, g, accountID, ReadBeneficiariesBasic, ReadBeneficiariesDetail)
	if err != nil {
		return nil, err
	}
	return b.store.Beneficiaries(ctx, accts)
}

// DirectDebits of the accounts the grant reaches.
func (b *Bank) DirectDebits(ctx context.Context, g *Grant, accountID string) ([]DirectDebit, error) {
	accts, err := b.Reach(ctx, g, accountID, ReadDirectDebits)
	if err != nil {
		return nil, err
	}
	return b.store.DirectDebits(ctx, accts)
}

// StandingOrders of the accounts the grant reaches.
func (b *Bank) StandingOrders(ctx context.Context, g *Grant, accountID string) ([]StandingOrder, error) {
	accts, err := b.Reach(ctx, g, accountID, ReadStandingOrdersBasic, ReadStandingOrdersDetail)
	if err == nil {
		err = b.settled(ctx)
	}
	if err != nil {
		return nil, err
	}
	return b.store.StandingOrders(ctx, accts)
}

// ScheduledPayments of the accounts the grant reaches.
func (b *Bank) ScheduledPayments(ctx context.Context, g *Grant, accountID string) ([]ScheduledPayment, error) {
	accts, err := b.Reach(ctx, g, accountID, ReadScheduledPaymentsBasic, ReadScheduledPaymentsDetail)
	if err == nil {
		err = b.settled(ctx)
	}
	if err != nil {
		return nil, err
	}
	return b.store.ScheduledPayments(ctx, accts)
}

// StatementRequest names the statements a TPP asks for.
type StatementRequest struct {
	AccountID, StatementID string
	From, To               time.Time // statement-date filter; zero: unbounded
}

// Statements the grant reaches: those of its accounts that lie wholly
// inside the consent's transaction window (the AIS profile's rule), or the
// one named (not found when outside).
func (b *Bank) Statements(ctx context.Context, g *Grant, r StatementRequest) ([]Statement, error) {
	accts, err := b.Reach(ctx, g, r.AccountID, ReadStatementsBasic, ReadStatementsDetail)
	if err != nil {
		return nil, err
	}
	return b.statements(ctx, g, accts, r)
}

func (b *Bank) statements(ctx context.Context, g *Grant, accts []Account, r StatementRequest) ([]Statement, error) {
	sts, err := b.store.Statements(ctx, StatementQuery{Accounts: accts, ID: r.StatementID, From: r.From, To: r.To})
	if err != nil {
		return nil, err
	}
	kept := sts[:0]
	for _, st := range sts {
		if (g.TxFrom.IsZero() || !st.Start.Before(g.TxFrom)) && (g.TxTo.IsZero() || !st.End.After(g.TxTo)) {
			kept = append(kept, st)
		}
	}
	if r.StatementID != "" && len(kept) == 0 {
		return nil, Errorf(KindNotFound, "StatementId", "no statement %s on this account within the consent", clip(r.StatementID, 64))
	}
	return kept, nil
}

// StatementTransactions is a page of the booked transactions of one
// statement, within the grant's transaction permissions and window.
func (b *Bank) StatementTransactions(ctx context.Context, g *Grant, r StatementRequest, offset, limit int) (Statement, TxPage, error) {
	accts, err := b.Reach(ctx, g, r.AccountID, ReadStatementsBasic, ReadStatementsDetail)
	if err != nil {
		return Statement{}, TxPage{}, err
	}
	if !g.Permissions.Any(ReadTransactionsBasic, ReadTransactionsDetail) {
		return Statement{}, TxPage{}, Errorf(KindForbidden, "", "the consent does not grant ReadTransactionsBasic or ReadTransactionsDetail").WithRule(RuleMissingPermits)
	}
	sts, err := b.statements(ctx, g, accts, StatementRequest{StatementID: r.StatementID})
	if err != nil {
		return Statement{}, TxPage{}, err
	}
	st := sts[0]
	page, err := b.txPage(ctx, g, TxQuery{Accounts: accts, From: st.Start, To: st.End, BookedOnly: true, Offset: offset, Limit: limit})
	return st, page, err
}

// AccountParties is the parties of one account the grant reaches.
func (b *Bank) AccountParties(ctx context.Context, g *Grant, accountID string) ([]Party, error) {
	accts, err := b.Reach(ctx, g, accountID, ReadParty)
	if err != nil {
		return nil, err
	}
	return b.store.PartiesOfAccount(ctx, accts[0])
}

// PSUParty is the PSU who authorised the grant, as a party; ok is false
// when the bank holds none for them.
func (b *Bank) PSUParty(ctx context.Context, g *Grant) (p Party, ok bool, err error) {
	if !g.Permissions.Has(ReadPartyPSU) {
		return p, false, Errorf(KindForbidden, "", "the consent does not grant ReadPartyPSU").WithRule(RuleMissingPermits)
	}
	p, err = b.store.PartyOfPSU(ctx, g.PSU)
	if errors.Is(err, ErrNotFound) {
		return p, false, nil
	}
	return p, err == nil, err
}

// Products of the accounts the grant reaches.
func (b *Bank) Products(ctx context.Context, g *Grant, accountID string) ([]Product, error) {
	accts, err := b.Reach(ctx, g, accountID, ReadProducts)
	if err != nil {
		return nil, err
	}
	return b.store.Products(ctx, accts)
}

// Offers of the accounts the grant reaches.
func (b *Bank) Offers(ctx context.Context, g *Grant, accountID string) ([]Offer, error) {
	accts, err := b.Reach(ctx, g, accountID, ReadOffers)
	if err != nil {
		return nil, err
	}
	return b.store.Offers(ctx, accts)
}

// StatementFile is one statement, its account and every booked
// transaction in it, oldest first: the statement as the bank prints it.
type StatementFile struct {
	Account      Account
	Statement    Statement
	Transactions []Transaction
}

// PrintStatement is a statement file (ReadStatementsDetail).
func (b *Bank) PrintStatement(ctx context.Context, g *Grant, r StatementRequest) (StatementFile, error) {
	accts, err := b.Reach(ctx, g, r.AccountID, ReadStatementsDetail)
	if err != nil {
		return StatementFile{}, err
	}
	sts, err := b.statements(ctx, g, accts, StatementRequest{StatementID: r.StatementID})
	if err != nil {
		return StatementFile{}, err
	}
	f := StatementFile{Account: accts[0], Statement: sts[0]}
	page, err := b.store.Transactions(ctx, TxQuery{Accounts: accts, From: f.Statement.Start, To: f.Statement.End, BookedOnly: true,
		Direction: DirectionBoth, Limit: 5000})
	if err != nil {
		return f, err
	}
	// The store lists newest first (and shares the page with other
	// readers): the file gets its own copy, oldest first.
	f.Transactions = slices.Clone(page.Items)
	slices.Reverse(f.Transactions)
	return f, nil
}
