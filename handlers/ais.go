package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/internal/audit"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/gateway"
	"github.com/obsandbox/sandbox/internal/oauth"
)

// envelope is the standard's response body: Data, Links, Meta (the profile
// makes Links and Meta mandatory; Meta may be empty).
type envelope struct {
	Data  any     `json:"Data"`
	Links obLinks `json:"Links"`
	Meta  obMeta  `json:"Meta"`
}

func (s *Server) mountAIS(e *echo.Echo) {
	data := need{scope: oauth.ScopeAccounts, psu: true, consent: bank.ConsentAccountAccess, class: gateway.ClassData}
	consent := need{scope: oauth.ScopeAccounts, class: gateway.ClassConsents}
	m := func(method, path string, n need, h echo.HandlerFunc) { s.mount(e, method, path, n, h) }

	m(http.MethodPost, "/aisp/account-access-consents", consent, s.createAccountAccessConsent)
	m(http.MethodGet, "/aisp/account-access-consents/{ConsentId}", consent, s.getAccountAccessConsent)
	m(http.MethodDelete, "/aisp/account-access-consents/{ConsentId}", consent, s.deleteAccountAccessConsent)

	m(http.MethodGet, "/aisp/accounts", data, s.listAccounts)
	m(http.MethodGet, "/aisp/accounts/{AccountId}", data, s.listAccounts)
	m(http.MethodGet, "/aisp/accounts/{AccountId}/balances", data, s.balances)
	m(http.MethodGet, "/aisp/balances", data, s.balances)
	m(http.MethodGet, "/aisp/accounts/{AccountId}/transactions", data, s.transactions)
	m(http.MethodGet, "/aisp/transactions", data, s.transactions)
	m(http.MethodGet, "/aisp/accounts/{AccountId}/beneficiaries", data, s.beneficiaries)
	m(http.MethodGet, "/aisp/beneficiaries", data, s.beneficiaries)
	m(http.MethodGet, "/aisp/accounts/{AccountId}/direct-debits", data, s.directDebits)
	m(http.MethodGet, "/aisp/direct-debits", data, s.directDebits)
	m(http.MethodGet, "/aisp/accounts/{AccountId}/standing-orders", data, s.standingOrders)
	m(http.MethodGet, "/aisp/standing-orders", data, s.standingOrders)
	m(http.MethodGet, "/aisp/accounts/{AccountId}/scheduled-payments", data, s.scheduledPayments)
	m(http.MethodGet, "/aisp/scheduled-payments", data, s.scheduledPayments)
	m(http.MethodGet, "/aisp/accounts/{AccountId}/statements", data, s.statements)
	m(http.MethodGet, "/aisp/statements", data, s.statements)
	m(http.MethodGet, "/aisp/accounts/{AccountId}/statements/{StatementId}", data, s.statements)
	m(http.MethodGet, "/aisp/accounts/{AccountId}/statements/{StatementId}/transactions", data, s.statementTransactions)
	s.mountStatementFile(e, data)
	m(http.MethodGet, "/aisp/accounts/{AccountId}/party", data, s.accountParty)
	m(http.MethodGet, "/aisp/accounts/{AccountId}/parties", data, s.accountParties)
	m(http.MethodGet, "/aisp/party", data, s.psuParty)
	m(http.MethodGet, "/aisp/accounts/{AccountId}/product", data, s.products)
	m(http.MethodGet, "/aisp/products", data, s.products)
	m(http.MethodGet, "/aisp/accounts/{AccountId}/offers", data, s.offers)
	m(http.MethodGet, "/aisp/offers", data, s.offers)
}

// scope resolves the accounts a data request reaches: every account of the
// grant, or the one in the path. The grant must hold one of perms (else 403).
// An account id outside the consent is refused with 403 when it exists and
// 400 UK.OBIE.Resource.NotFound when it does not.
func (s *Server) scope(c echo.Context, perms ...bank.Permission) ([]bank.Account, *bank.Grant, error) {
	g := GrantOf(c)
	if len(perms) > 0 && !g.Permissions.Any(perms...) {
		return nil, g, bank.Errorf(bank.KindForbidden, "", "the consent does not grant %s", permList(perms)).WithRule("permission.missing")
	}
	ids := g.Accounts
	if id := c.Param("AccountId"); id != "" {
		if !g.HasAccount(id) {
			return nil, g, s.unknownAccount(c, id)
		}
		ids = []string{id}
	}
	accts, err := s.store.Accounts(c.Request().Context(), g.PSU, ids)
	if err == nil && len(accts) == 0 && c.Param("AccountId") != "" {
		err = bank.Errorf(bank.KindNotFound, "AccountId", "no account %s", truncate(c.Param("AccountId"), 64))
	}
	return accts, g, err
}

func permList(perms []bank.Permission) string {
	out := ""
	for i, p := range perms {
		if i > 0 {
			out += " or "
		}
		out += p.String()
	}
	return out
}

func (s *Server) unknownAccount(c echo.Context, id string) error {
	exists, err := s.store.AccountExists(c.Request().Context(), id)
	if err != nil {
		return err
	}
	if exists {
		return bank.Errorf(bank.KindForbidden, "AccountId", "account %s is not part of this consent", truncate(id, 64)).WithRule(audit.RuleForeignObject)
	}
	return bank.Errorf(bank.KindNotFound, "AccountId", "no account %s", truncate(id, 64)).WithRule(audit.RuleUnknownObject)
}

// list renders a paged list held in memory under Data.<key>.
func list[T any](s *Server, c echo.Context, key string, items []T) error {
	p, err := pageOf(c)
	if err != nil {
		return err
	}
	page, pages := paginate(items, p)
	if page == nil {
		page = []T{}
	}
	return c.JSON(http.StatusOK, envelope{Data: map[string]any{key: page}, Links: s.links(c, p, pages), Meta: obMeta{TotalPages: pages}})
}

func mapped[T, U any](xs []T, f func(T) U) []U {
	out := make([]U, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

func (s *Server) listAccounts(c echo.Context) error {
	accts, g, err := s.scope(c, bank.ReadAccountsBasic, bank.ReadAccountsDetail)
	if err != nil {
		return err
	}
	out := mapped(accts, func(a bank.Account) obAccount { return toAccount(a, g.Permissions) })
	if c.Param("AccountId") != "" {
		return c.JSON(http.StatusOK, envelope{Data: map[string]any{"Account": out}, Links: s.links(c, pageReq{}, 0)})
	}
	return list(s, c, "Account", out)
}

func (s *Server) balances(c echo.Context) error {
	accts, _, err := s.scope(c, bank.ReadBalances)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	states, err := s.store.Ledgers(c.Request().Context(), accts, now)
	if err != nil {
		return err
	}
	var out []obBalance
	for _, a := range accts {
		for _, b := range bank.Balances(a, states[a.Ref], now) {
			out = append(out, toBalance(b))
		}
	}
	return list(s, c, "Balance", out)
}

func (s *Server) transactions(c echo.Context) error {
	accts, g, err := s.scope(c, bank.ReadTransactionsBasic, bank.ReadTransactionsDetail)
	if err != nil {
		return err
	}
	from, to, err := dateRange(c, "fromBookingDateTime", "toBookingDateTime")
	if err != nil {
		return err
	}
	return s.txPage(c, g, bank.TxQuery{Accounts: accts, From: from, To: to})
}

// txPage answers a page of transactions within the consent's window, in the
// direction (credits, debits) and detail its permissions allow.
func (s *Server) txPage(c echo.Context, g *bank.Grant, q bank.TxQuery) error {
	p, err := pageOf(c)
	if err != nil {
		return err
	}
	var ok bool
	if q.From, q.To, ok = g.Window(q.From, q.To); !ok {
		q.Direction = bank.DirectionNone
	} else {
		q.Direction = g.Permissions.TxDirection()
	}
	q.Offset, q.Limit = p.offset(), p.size
	page, err := s.store.Transactions(c.Request().Context(), q)
	if err != nil {
		return err
	}
	out, err := s.rendered.transactions(page.Items, g.Permissions.Has(bank.ReadTransactionsDetail))
	if err != nil {
		return err
	}
	pages := totalPages(page.Total, p.size)
	return pageJSON(c, "Transaction", out, s.links(c, p, pages),
		obMeta{TotalPages: pages, FirstAvailableDateTime: isoTime(page.First), LastAvailableDateTime: isoTime(page.Last)})
}

func (s *Server) beneficiaries(c echo.Context) error {
	accts, g, err := s.scope(c, bank.ReadBeneficiariesBasic, bank.ReadBeneficiariesDetail)
	if err != nil {
		return err
	}
	bs, err := s.store.Beneficiaries(c.Request().Context(), accts)
	if err != nil {
		return err
	}
	detail := g.Permissions.Has(bank.ReadBeneficiariesDetail)
	return list(s, c, "Beneficiary", mapped(bs, func(b bank.Beneficiary) obBeneficiary { return toBeneficiary(b, detail) }))
}

func (s *Server) directDebits(c echo.Context) error {
	accts, _, err := s.scope(c, bank.ReadDirectDebits)
	if err != nil {
		return err
	}
	ds, err := s.store.DirectDebits(c.Request().Context(), accts)
	if err != nil {
		return err
	}
	return list(s, c, "DirectDebit", mapped(ds, toDirectDebit))
}

func (s *Server) standingOrders(c echo.Context) error {
	accts, g, err := s.scope(c, bank.ReadStandingOrdersBasic, bank.ReadStandingOrdersDetail)
	if err != nil {
		return err
	}
	os, err := s.store.StandingOrders(c.Request().Context(), accts)
	if err != nil {
		return err
	}
	detail := g.Permissions.Has(bank.ReadStandingOrdersDetail)
	return list(s, c, "StandingOrder", mapped(os, func(o bank.StandingOrder) obStandingOrder { return toStandingOrder(o, detail) }))
}

func (s *Server) scheduledPayments(c echo.Context) error {
	accts, g, err := s.scope(c, bank.ReadScheduledPaymentsBasic, bank.ReadScheduledPaymentsDetail)
	if err != nil {
		return err
	}
	ps, err := s.store.ScheduledPayments(c.Request().Context(), accts)
	if err != nil {
		return err
	}
	detail := g.Permissions.Has(bank.ReadScheduledPaymentsDetail)
	return list(s, c, "ScheduledPayment", mapped(ps, func(p bank.ScheduledPayment) obScheduledPayment { return toScheduledPayment(p, detail) }))
}

// findStatements lists the statements the request reaches: those of the
// accounts, filtered by the query and the consent's window (a statement must
// lie wholly inside it), or the one named in the path (400 NotFound if not).
func (s *Server) findStatements(c echo.Context, accts []bank.Account, g *bank.Grant) ([]bank.Statement, error) {
	from, to, err := dateRange(c, "fromStatementDateTime", "toStatementDateTime")
	if err != nil {
		return nil, err
	}
	sts, err := s.store.Statements(c.Request().Context(), bank.StatementQuery{Accounts: accts, ID: c.Param("StatementId"), From: from, To: to})
	if err != nil {
		return nil, err
	}
	kept := sts[:0]
	for _, st := range sts {
		if (g.TxFrom.IsZero() || !st.Start.Before(g.TxFrom)) && (g.TxTo.IsZero() || !st.End.After(g.TxTo)) {
			kept = append(kept, st)
		}
	}
	if c.Param("StatementId") != "" && len(kept) == 0 {
		return nil, bank.Errorf(bank.KindNotFound, "StatementId", "no statement %s on this account within the consent", truncate(c.Param("StatementId"), 64))
	}
	return kept, nil
}

func (s *Server) statements(c echo.Context) error {
	accts, g, err := s.scope(c, bank.ReadStatementsBasic, bank.ReadStatementsDetail)
	if err != nil {
		return err
	}
	sts, err := s.findStatements(c, accts, g)
	if err != nil {
		return err
	}
	detail := g.Permissions.Has(bank.ReadStatementsDetail)
	return list(s, c, "Statement", mapped(sts, func(st bank.Statement) obStatement { return toStatement(st, detail) }))
}

func (s *Server) statementTransactions(c echo.Context) error {
	accts, g, err := s.scope(c, bank.ReadStatementsBasic, bank.ReadStatementsDetail)
	if err != nil {
		return err
	}
	if !g.Permissions.Any(bank.ReadTransactionsBasic, bank.ReadTransactionsDetail) {
		return bank.Errorf(bank.KindForbidden, "", "the consent does not grant ReadTransactionsBasic or ReadTransactionsDetail").WithRule("permission.missing")
	}
	sts, err := s.findStatements(c, accts, g)
	if err != nil {
		return err
	}
	st := sts[0]
	return s.txPage(c, g, bank.TxQuery{Accounts: accts, From: st.Start, To: st.End, BookedOnly: true})
}

func (s *Server) accountParty(c echo.Context) error {
	accts, _, err := s.scope(c, bank.ReadParty)
	if err != nil {
		return err
	}
	ps, err := s.store.PartiesOfAccount(c.Request().Context(), accts[0])
	if err != nil {
		return err
	}
	data := map[string]any{}
	if len(ps) > 0 {
		data["Party"] = toParty(ps[0])
	}
	return c.JSON(http.StatusOK, envelope{Data: data, Links: s.links(c, pageReq{}, 0)})
}

func (s *Server) accountParties(c echo.Context) error {
	accts, _, err := s.scope(c, bank.ReadParty)
	if err != nil {
		return err
	}
	ps, err := s.store.PartiesOfAccount(c.Request().Context(), accts[0])
	if err != nil {
		return err
	}
	return list(s, c, "Party", mapped(ps, toParty))
}

func (s *Server) psuParty(c echo.Context) error {
	g := GrantOf(c)
	if !g.Permissions.Has(bank.ReadPartyPSU) {
		return bank.Errorf(bank.KindForbidden, "", "the consent does not grant ReadPartyPSU").WithRule("permission.missing")
	}
	p, err := s.store.PartyOfPSU(c.Request().Context(), g.PSU)
	if errors.Is(err, bank.ErrNotFound) {
		return c.JSON(http.StatusOK, envelope{Data: map[string]any{}, Links: s.links(c, pageReq{}, 0)})
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, envelope{Data: map[string]any{"Party": toParty(p)}, Links: s.links(c, pageReq{}, 0)})
}

func (s *Server) products(c echo.Context) error {
	accts, _, err := s.scope(c, bank.ReadProducts)
	if err != nil {
		return err
	}
	ps, err := s.store.Products(c.Request().Context(), accts)
	if err != nil {
		return err
	}
	return list(s, c, "Product", mapped(ps, toProduct))
}

func (s *Server) offers(c echo.Context) error {
	accts, _, err := s.scope(c, bank.ReadOffers)
	if err != nil {
		return err
	}
	os, err := s.store.Offers(c.Request().Context(), accts)
	if err != nil {
		return err
	}
	return list(s, c, "Offer", mapped(os, toOffer))
}
