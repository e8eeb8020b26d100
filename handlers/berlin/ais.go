package berlin

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/internal/bank"
)

func (s *Server) mountAIS(e *echo.Echo) {
	m := func(method, path string, o op, h echo.HandlerFunc) { s.mount(e, method, path, o, h) }
	m(http.MethodPost, "/v1/consents", ais, s.createConsent)
	m(http.MethodGet, "/v1/consents/{consentId}", ais, s.getConsent)
	m(http.MethodDelete, "/v1/consents/{consentId}", ais, s.deleteConsent)
	m(http.MethodGet, "/v1/consents/{consentId}/status", ais, s.consentStatus)
	m(http.MethodGet, "/v1/accounts", data, s.accounts(false))
	m(http.MethodGet, "/v1/accounts/{account-id}", data, s.account(false))
	m(http.MethodGet, "/v1/accounts/{account-id}/balances", data, s.balances(false))
	m(http.MethodGet, "/v1/accounts/{account-id}/transactions", data, s.transactions(false))
	m(http.MethodGet, "/v1/accounts/{account-id}/transactions/{transactionId}", data, s.transaction)
	m(http.MethodGet, "/v1/card-accounts", data, s.accounts(true))
	m(http.MethodGet, "/v1/card-accounts/{account-id}", data, s.account(true))
	m(http.MethodGet, "/v1/card-accounts/{account-id}/balances", data, s.balances(true))
	m(http.MethodGet, "/v1/card-accounts/{account-id}/transactions", data, s.transactions(true))
}

type consentCreated struct {
	ConsentStatus   string     `json:"consentStatus"`
	ConsentID       string     `json:"consentId"`
	ChosenScaMethod *scaMethod `json:"chosenScaMethod,omitempty"`
	Links           links      `json:"_links"`
	PSUMessage      string     `json:"psuMessage,omitempty"`
	ScaStatus       string     `json:"scaStatus,omitempty"`
}

func (s *Server) createConsent(c echo.Context) error {
	raw, err := readBody(c)
	if err != nil {
		return err
	}
	if err := s.prepareSCA(c); err != nil {
		return err
	}
	tpp := tppOf(c)
	cn, err := s.Bank.CreateBGConsent(c.Request().Context(), bank.BGConsentInput{ClientID: tpp.OrgID, Scenario: s.LastingScenario(c), Raw: raw})
	if err != nil {
		return err
	}
	c.Set(httpx.KeyConsent, cn.ID)
	self := s.url("/v1/consents/" + cn.ID)
	sca, err := s.startSCA(c, resourceOf(bank.AuthConsent, self, cn.ID))
	if err != nil {
		return err
	}
	out := consentCreated{ConsentStatus: bank.BGReceived, ConsentID: cn.ID, Links: sca.links.add("self", self).add("status", self+"/status"),
		PSUMessage: sca.message, ScaStatus: sca.status, ChosenScaMethod: sca.method}
	return created(c, self, sca.approach, out)
}

// consentInformation is a consent as GET shows it.
type consentInformation struct {
	Access             json.RawMessage `json:"access"`
	RecurringIndicator bool            `json:"recurringIndicator"`
	ValidUntil         string          `json:"validUntil"`
	FrequencyPerDay    int             `json:"frequencyPerDay"`
	LastActionDate     string          `json:"lastActionDate"`
	ConsentStatus      string          `json:"consentStatus"`
	Links              links           `json:"_links,omitempty"`
}

func (s *Server) ownConsent(c echo.Context) (*bank.Consent, error) {
	id := c.Param("consentId")
	c.Set(httpx.KeyConsent, id)
	return s.Bank.BGConsent(c.Request().Context(), tppOf(c).OrgID, id)
}

func (s *Server) getConsent(c echo.Context) error {
	cn, err := s.ownConsent(c)
	if err != nil {
		return err
	}
	r := cn.BGConsent()
	var req struct {
		Access json.RawMessage `json:"access"`
	}
	if err := json.Unmarshal(cn.Request, &req); err != nil {
		return err
	}
	access := req.Access
	st := bank.BGConsentStatus(cn, s.Clock.Now())
	if r.BankOffered() && cn.Status == bank.StatusAuthorised {
		// The accounts the PSU chose, in the lists the TPP asked for.
		if access, err = s.chosenAccess(c, cn, r); err != nil {
			return err
		}
	}
	out := consentInformation{Access: access, RecurringIndicator: r.RecurringIndicator, ValidUntil: cn.ValidUntil(),
		FrequencyPerDay: r.FrequencyPerDay, LastActionDate: cn.StatusAt.Format(time.DateOnly), ConsentStatus: st}
	if st == bank.BGValid {
		out.Links = links{}.add("account", s.url("/v1/accounts")).add("card-account", s.url("/v1/card-accounts"))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) chosenAccess(c echo.Context, cn *bank.Consent, r bank.BGConsentRequest) (json.RawMessage, error) {
	accts, err := s.Store.Accounts(c.Request().Context(), cn.PSU, cn.Accounts)
	if err != nil {
		return nil, err
	}
	var refs []accountRef
	for _, a := range accts {
		refs = append(refs, refOf(a))
	}
	access := map[string][]accountRef{}
	for name, l := range map[string][]bank.BGAccountRef{"accounts": r.Access.Accounts, "balances": r.Access.Balances, "transactions": r.Access.Transactions} {
		if l != nil {
			access[name] = refs
		}
	}
	return json.Marshal(access)
}

func (s *Server) deleteConsent(c echo.Context) error {
	id := c.Param("consentId")
	c.Set(httpx.KeyConsent, id)
	if err := s.Bank.DeleteBGConsent(c.Request().Context(), tppOf(c).OrgID, id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) consentStatus(c echo.Context) error {
	cn, err := s.ownConsent(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"consentStatus": bank.BGConsentStatus(cn, s.Clock.Now())})
}

// grant checks a data call's Consent-ID (counting it against
// frequencyPerDay when the PSU is not present) and applies the data-call
// scenarios.
func (s *Server) grant(c echo.Context) (*bank.BGGrant, error) {
	id := c.Request().Header.Get("Consent-ID")
	c.Set(httpx.KeyConsent, id)
	path := c.Request().URL.Path
	resource := path[strings.Index(path, Base+"/")+len(Base):]
	g, err := s.Bank.BGDataAccess(c.Request().Context(), tppOf(c).OrgID, id, resource, present(c))
	if err != nil {
		return nil, err
	}
	c.Set(httpx.KeyPSU, g.Consent.PSU)
	return g, s.DataScenario(c, g.Consent)
}

func withBalance(c echo.Context) bool {
	v, _ := strconv.ParseBool(c.QueryParam("withBalance"))
	return v
}

func (s *Server) base(card bool) string {
	if card {
		return s.url("/v1/card-accounts")
	}
	return s.url("/v1/accounts")
}

func (s *Server) accounts(card bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		g, err := s.grant(c)
		if err != nil {
			return err
		}
		var list []any
		for _, a := range g.Listed(card) {
			rights := g.Rights(a)
			var bs []balance
			if withBalance(c) && rights.Balances {
				b, err := s.Bank.BGBalances(c.Request().Context(), g, a)
				if err != nil {
					return err
				}
				bs = balances(b)
			}
			if card {
				d := cardDetails(a, rights, s.base(true))
				d.Balances = bs
				list = append(list, d)
			} else {
				d := details(a, rights, s.base(false))
				d.Balances = bs
				list = append(list, d)
			}
		}
		if list == nil {
			list = []any{}
		}
		if card {
			return c.JSON(http.StatusOK, map[string]any{"cardAccounts": list})
		}
		return c.JSON(http.StatusOK, map[string]any{"accounts": list})
	}
}

// grantedAccount is the consent of the request and the account of its path,
// which the consent must give the right need to (what names it).
func (s *Server) grantedAccount(c echo.Context, card bool, need func(bank.BGRights) bool, what string) (*bank.BGGrant, bank.Account, error) {
	g, err := s.grant(c)
	if err != nil {
		return nil, bank.Account{}, err
	}
	a, err := s.Bank.BGAccount(c.Request().Context(), g, c.Param("account-id"), card, need, what)
	return g, a, err
}

// balancesAsked is the account's balances when the request asks for them
// (withBalance=true), nil when it does not; the consent must give them.
func (s *Server) balancesAsked(c echo.Context, g *bank.BGGrant, a bank.Account) ([]balance, error) {
	if !withBalance(c) {
		return nil, nil
	}
	if !g.Rights(a).Balances {
		return nil, bank.Errorf(bank.KindConsentInvalid, "withBalance", "consent %s does not give access to the balances of this account", g.Consent.ID)
	}
	b, err := s.Bank.BGBalances(c.Request().Context(), g, a)
	if err != nil {
		return nil, err
	}
	return balances(b), nil
}

func (s *Server) account(card bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		g, a, err := s.grantedAccount(c, card, func(r bank.BGRights) bool { return r.Details }, "details")
		if err != nil {
			return err
		}
		bs, err := s.balancesAsked(c, g, a)
		if err != nil {
			return err
		}
		rights := g.Rights(a)
		if card {
			d := cardDetails(a, rights, s.base(true))
			d.Balances = bs
			return c.JSON(http.StatusOK, map[string]any{"cardAccount": d})
		}
		d := details(a, rights, s.base(false))
		d.Balances = bs
		return c.JSON(http.StatusOK, map[string]any{"account": d})
	}
}

func (s *Server) balances(card bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		g, a, err := s.grantedAccount(c, card, func(r bank.BGRights) bool { return r.Balances }, "balances")
		if err != nil {
			return err
		}
		b, err := s.Bank.BGBalances(c.Request().Context(), g, a)
		if err != nil {
			return err
		}
		key := "account"
		if card {
			key = "cardAccount"
		}
		return c.JSON(http.StatusOK, map[string]any{key: refOf(a), "balances": balances(b)})
	}
}

// report reads a transaction report's query: bookingStatus, the booking
// dates (dateFrom mandated unless the report is information only) and the
// page (pageIndex from 0, itemsPerPage 1 to 1000, default 100).
func (s *Server) report(c echo.Context) (bank.BGTxRequest, int, error) {
	q := c.QueryParams()
	r := bank.BGTxRequest{BookingStatus: q.Get("bookingStatus"), Limit: 100}
	if q.Get("entryReferenceFrom") != "" {
		return r, 0, bank.Errorf(bank.KindParameterNotSupported, "entryReferenceFrom", "the bank offers no delta reports: ask by dateFrom and dateTo")
	}
	if v, _ := strconv.ParseBool(q.Get("deltaList")); v {
		return r, 0, bank.Errorf(bank.KindParameterNotSupported, "deltaList", "the bank offers no delta reports: ask by dateFrom and dateTo")
	}
	if n, ok := c.Get(httpx.KeyPageSize).(int); ok {
		r.Limit = n
	}
	page := 0
	if v := q.Get("pageIndex"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return r, 0, bank.Errorf(bank.KindFieldInvalid, "pageIndex", "pageIndex counts pages from 0")
		}
		page = n
	}
	if v := q.Get("itemsPerPage"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return r, 0, bank.Errorf(bank.KindFieldInvalid, "itemsPerPage", "itemsPerPage is 1 to 1000")
		}
		r.Limit = n
	}
	if page > 1<<20/r.Limit {
		return r, 0, bank.Errorf(bank.KindFieldInvalid, "pageIndex", "pageIndex is out of range")
	}
	r.Offset = page * r.Limit
	date := func(name string) (time.Time, error) {
		v := q.Get(name)
		if v == "" {
			return time.Time{}, nil
		}
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return t, bank.Errorf(bank.KindFieldInvalidDate, name, "%s is a date: YYYY-MM-DD", name)
		}
		return t, nil
	}
	var err error
	if r.From, err = date("dateFrom"); err != nil {
		return r, 0, err
	}
	if r.To, err = date("dateTo"); err != nil {
		return r, 0, err
	}
	if r.From.IsZero() && r.BookingStatus != bank.BookingInformation {
		return r, 0, bank.Errorf(bank.KindFieldMissing, "dateFrom", "dateFrom is mandated: the report starts on that booking date")
	}
	if !r.To.IsZero() {
		if r.To.Before(r.From) {
			return r, 0, bank.Errorf(bank.KindFieldInvalidDate, "dateTo", "dateTo is before dateFrom")
		}
		r.To = r.To.Add(24*time.Hour - time.Second)
	}
	return r, page, nil
}

// pages links a report's other pages: first, previous, next, last.
func pages(l links, self string, q url.Values, page, limit, total int) links {
	at := func(p int) string {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Set("pageIndex", strconv.Itoa(p))
		return self + "?" + v.Encode()
	}
	last := max(0, (total-1)/limit)
	l.add("first", at(0)).add("last", at(last))
	if page > 0 {
		l.add("previous", at(min(page-1, last)))
	}
	if page < last {
		l.add("next", at(page+1))
	}
	return l
}

// entries renders the booked (or the other) entries of a page as a JSON
// array, nil when there are none; the rendering is kept while the store
// serves the same page (httpx.Rendered).
func (s *Server) entries(items []bank.Transaction, booked bool, variant string, render func(*bank.Transaction) any) (json.RawMessage, error) {
	if booked {
		variant = "booked " + variant
	}
	return s.rendered.Page(items, variant, func() (json.RawMessage, error) {
		var out []any
		for i := range items {
			if t := &items[i]; (t.Status == bank.StatusBooked) == booked {
				out = append(out, render(t))
			}
		}
		if out == nil {
			return nil, nil
		}
		return json.Marshal(out)
	})
}

func (s *Server) transactions(card bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		g, a, err := s.grantedAccount(c, card, func(r bank.BGRights) bool { return r.Transactions }, "transactions")
		if err != nil {
			return err
		}
		r, page, err := s.report(c)
		if err != nil {
			return err
		}
		bs, err := s.balancesAsked(c, g, a)
		if err != nil {
			return err
		}
		rep, err := s.Bank.BGTransactions(c.Request().Context(), g, a, r)
		if err != nil {
			return err
		}
		self := s.base(card) + "/" + a.ID
		l := links{}
		if r.BookingStatus != bank.BookingInformation {
			l = pages(l, self+"/transactions", c.QueryParams(), page, r.Limit, rep.Page.Total)
		}
		// The report's members in encoding/json's order (a struct's fields,
		// a map's sorted keys), its entries as rendered (see entries).
		type member = httpx.Member
		var (
			tx       []member
			render   func(*bank.Transaction) any
			variant  = self
			linkName = "account"
		)
		if card {
			render, variant, linkName = func(t *bank.Transaction) any { return cardTxOf(t, a) }, "card "+self, "cardAccount"
		} else {
			render = func(t *bank.Transaction) any { return txOf(t, self+"/transactions") }
		}
		for _, part := range []struct {
			name   string
			booked bool
		}{{"booked", true}, {"pending", false}} {
			raw, err := s.entries(rep.Page.Items, part.booked, variant, render)
			if err != nil {
				return err
			}
			if raw != nil {
				tx = append(tx, member{Name: part.name, Value: raw})
			}
		}
		if !card && len(rep.Information) > 0 {
			info := make([]transaction, 0, len(rep.Information))
			for _, so := range rep.Information {
				info = append(info, informationOf(so))
			}
			tx = append(tx, member{Name: "information", Value: info})
		}
		report := append(tx, member{Name: "_links", Value: l.add(linkName, self)})
		var top []member
		if !card {
			top = append(top, member{Name: "account", Value: refOf(a)})
		}
		if bs != nil {
			top = append(top, member{Name: "balances", Value: bs})
		}
		if card {
			top = append(top, member{Name: "cardAccount", Value: refOf(a)}, member{Name: "cardTransactions", Value: report},
				member{Name: "debitAccounting", Value: false})
		} else {
			top = append(top, member{Name: "transactions", Value: report})
		}
		return httpx.ObjectJSON(c, http.StatusOK, top...)
	}
}

func (s *Server) transaction(c echo.Context) error {
	_, a, err := s.grantedAccount(c, false, func(r bank.BGRights) bool { return r.Transactions }, "transactions")
	if err != nil {
		return err
	}
	t, err := s.Bank.BGTransaction(c.Request().Context(), a, c.Param("transactionId"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"transactionsDetails": txOf(&t, s.base(false)+"/"+a.ID+"/transactions")})
}
