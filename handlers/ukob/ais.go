package ukob

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/handlers/ukob/obwire"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/gateway"
	"github.com/obsandbox/sandbox/internal/oauth"
)

func (s *Server) mountAIS(e *echo.Echo) {
	data := httpx.Need{Scope: oauth.ScopeAccounts, PSU: true, Consent: bank.ConsentAccountAccess, Class: gateway.ClassData, Version: s.w.Version()}
	consent := httpx.Need{Scope: oauth.ScopeAccounts, Class: gateway.ClassConsents}
	m := func(method, path string, n httpx.Need, h echo.HandlerFunc) {
		s.Mount(e, s.contract, method, path, n, h)
	}

	m(http.MethodPost, "/aisp/account-access-consents", consent, s.createAccountAccessConsent)
	m(http.MethodGet, "/aisp/account-access-consents/{ConsentId}", consent, s.getAccountAccessConsent)
	m(http.MethodDelete, "/aisp/account-access-consents/{ConsentId}", consent, s.deleteConsent(bank.ConsentAccountAccess))

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
	return c.JSON(http.StatusOK, obwire.Envelope{Data: map[string]any{key: page}, Links: s.links(c, p, pages), Meta: obwire.Meta{TotalPages: pages}})
}

func mapped[T, U any](xs []T, f func(T) U) []U {
	out := make([]U, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

func (s *Server) listAccounts(c echo.Context) error {
	g := httpx.GrantOf(c)
	accts, err := s.Bank.Accounts(c.Request().Context(), g, c.Param("AccountId"))
	if err != nil {
		return err
	}
	out := mapped(accts, func(a bank.Account) any { return s.w.Account(a, g.Permissions) })
	if c.Param("AccountId") != "" {
		return c.JSON(http.StatusOK, obwire.Envelope{Data: map[string]any{"Account": out}, Links: s.links(c, pageReq{}, 0)})
	}
	return list(s, c, "Account", out)
}

func (s *Server) balances(c echo.Context) error {
	bs, err := s.Bank.Balances(c.Request().Context(), httpx.GrantOf(c), c.Param("AccountId"))
	if err != nil {
		return err
	}
	return list(s, c, "Balance", mapped(bs, s.w.Balance))
}

func (s *Server) transactions(c echo.Context) error {
	from, to, err := dateRange(c, "fromBookingDateTime", "toBookingDateTime")
	if err != nil {
		return err
	}
	p, err := pageOf(c)
	if err != nil {
		return err
	}
	g := httpx.GrantOf(c)
	page, err := s.Bank.Transactions(c.Request().Context(), g, bank.TxRequest{AccountID: c.Param("AccountId"), From: from, To: to,
		Offset: p.offset(), Limit: p.size})
	if err != nil {
		return err
	}
	return s.txPage(c, g, p, page)
}

// txPage renders a page of transactions in the detail the grant's
// permissions allow.
func (s *Server) txPage(c echo.Context, g *bank.Grant, p pageReq, page bank.TxPage) error {
	out, err := s.rendered.transactions(s.w, page.Items, g.Permissions.Has(bank.ReadTransactionsDetail))
	if err != nil {
		return err
	}
	pages := totalPages(page.Total, p.size)
	return pageJSON(c, "Transaction", out, s.links(c, p, pages),
		obwire.Meta{TotalPages: pages, FirstAvailableDateTime: obwire.ISOTime(page.First), LastAvailableDateTime: obwire.ISOTime(page.Last)})
}

func (s *Server) beneficiaries(c echo.Context) error {
	g := httpx.GrantOf(c)
	bs, err := s.Bank.Beneficiaries(c.Request().Context(), g, c.Param("AccountId"))
	if err != nil {
		return err
	}
	detail := g.Permissions.Has(bank.ReadBeneficiariesDetail)
	return list(s, c, "Beneficiary", mapped(bs, func(b bank.Beneficiary) any { return s.w.Beneficiary(b, detail) }))
}

func (s *Server) directDebits(c echo.Context) error {
	ds, err := s.Bank.DirectDebits(c.Request().Context(), httpx.GrantOf(c), c.Param("AccountId"))
	if err != nil {
		return err
	}
	return list(s, c, "DirectDebit", mapped(ds, s.w.DirectDebit))
}

func (s *Server) standingOrders(c echo.Context) error {
	g := httpx.GrantOf(c)
	os, err := s.Bank.StandingOrders(c.Request().Context(), g, c.Param("AccountId"))
	if err != nil {
		return err
	}
	detail := g.Permissions.Has(bank.ReadStandingOrdersDetail)
	return list(s, c, "StandingOrder", mapped(os, func(o bank.StandingOrder) any { return s.w.StandingOrder(o, detail) }))
}

func (s *Server) scheduledPayments(c echo.Context) error {
	g := httpx.GrantOf(c)
	ps, err := s.Bank.ScheduledPayments(c.Request().Context(), g, c.Param("AccountId"))
	if err != nil {
		return err
	}
	detail := g.Permissions.Has(bank.ReadScheduledPaymentsDetail)
	return list(s, c, "ScheduledPayment", mapped(ps, func(p bank.ScheduledPayment) any { return s.w.ScheduledPayment(p, detail) }))
}

// statementRequest reads the statements a request names.
func statementRequest(c echo.Context) (bank.StatementRequest, error) {
	from, to, err := dateRange(c, "fromStatementDateTime", "toStatementDateTime")
	return bank.StatementRequest{AccountID: c.Param("AccountId"), StatementID: c.Param("StatementId"), From: from, To: to}, err
}

func (s *Server) statements(c echo.Context) error {
	r, err := statementRequest(c)
	if err != nil {
		return err
	}
	g := httpx.GrantOf(c)
	sts, err := s.Bank.Statements(c.Request().Context(), g, r)
	if err != nil {
		return err
	}
	detail := g.Permissions.Has(bank.ReadStatementsDetail)
	return list(s, c, "Statement", mapped(sts, func(st bank.Statement) any { return s.w.Statement(st, detail) }))
}

func (s *Server) statementTransactions(c echo.Context) error {
	p, err := pageOf(c)
	if err != nil {
		return err
	}
	g := httpx.GrantOf(c)
	_, page, err := s.Bank.StatementTransactions(c.Request().Context(), g, bank.StatementRequest{AccountID: c.Param("AccountId"),
		StatementID: c.Param("StatementId")}, p.offset(), p.size)
	if err != nil {
		return err
	}
	return s.txPage(c, g, p, page)
}

func (s *Server) accountParty(c echo.Context) error {
	ps, err := s.Bank.AccountParties(c.Request().Context(), httpx.GrantOf(c), c.Param("AccountId"))
	if err != nil {
		return err
	}
	data := map[string]any{}
	if len(ps) > 0 {
		data["Party"] = s.w.Party(ps[0])
	}
	return c.JSON(http.StatusOK, obwire.Envelope{Data: data, Links: s.links(c, pageReq{}, 0)})
}

func (s *Server) accountParties(c echo.Context) error {
	ps, err := s.Bank.AccountParties(c.Request().Context(), httpx.GrantOf(c), c.Param("AccountId"))
	if err != nil {
		return err
	}
	return list(s, c, "Party", mapped(ps, s.w.Party))
}

func (s *Server) psuParty(c echo.Context) error {
	p, ok, err := s.Bank.PSUParty(c.Request().Context(), httpx.GrantOf(c))
	if err != nil {
		return err
	}
	data := map[string]any{}
	if ok {
		data["Party"] = s.w.Party(p)
	}
	return c.JSON(http.StatusOK, obwire.Envelope{Data: data, Links: s.links(c, pageReq{}, 0)})
}

func (s *Server) products(c echo.Context) error {
	ps, err := s.Bank.Products(c.Request().Context(), httpx.GrantOf(c), c.Param("AccountId"))
	if err != nil {
		return err
	}
	return list(s, c, "Product", mapped(ps, s.w.Product))
}

func (s *Server) offers(c echo.Context) error {
	os, err := s.Bank.Offers(c.Request().Context(), httpx.GrantOf(c), c.Param("AccountId"))
	if err != nil {
		return err
	}
	return list(s, c, "Offer", mapped(os, s.w.Offer))
}
