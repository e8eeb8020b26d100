package psu

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/gateway"
	"github.com/obsandbox/sandbox/internal/oauth"
)

// Berlin Group SCA at the bank: the redirect approach's pages (the
// scaRedirect link: log in, review, approve or deny, back to the TPP's
// TPP-Redirect-URI or TPP-Nok-Redirect-URI), the decoupled approach's
// approvals among the pending ones of the connected-apps page, and the
// headless PSU's twins of both.

// bgCookie binds a browser to the redirect routine it logged in to.
const bgCookie = "sbx_bg"

func (s *Server) mountBerlin(e *echo.Echo) {
	g := e.Group("/psu/berlin", httpx.PageHeaders)
	g.GET("/:handle", s.bgPage)
	g.POST("/:handle/login", s.bgLogin, s.LimitIP(gateway.ClassLogin))
	g.POST("/:handle/decision", s.bgDecision)
}

// isBerlin reports whether a pending-approval handle is a Berlin Group
// routine's (the CIBA ones are hashes).
func isBerlin(handle string) bool { return strings.HasPrefix(handle, "bg-") }

func (s *Server) bgFailed(c echo.Context, err error) error {
	if bank.KindOf(err) == bank.KindInternal {
		return err
	}
	return s.ErrorPage(c, &oauth.AuthorizeError{Code: "invalid_request", Description: err.Error() + "; start again from the app"})
}

func (s *Server) bgLoggedIn(c echo.Context, a *bank.Authorisation) bool {
	ck := httpx.Cookie(c, bgCookie)
	return a.Session != "" && ck != "" && subtle.ConstantTimeCompare([]byte(oauth.CookieHash(ck)), []byte(a.Session)) == 1
}

func (s *Server) bgPage(c echo.Context) error {
	ap, err := s.Bank.ApprovalByHandle(c.Request().Context(), c.Param("handle"))
	if err != nil {
		return s.bgFailed(c, err)
	}
	a := ap.Authorisation
	if a.Approach != bank.ApproachRedirect {
		return s.bgFailed(c, errors.New("this authorisation is approved in the app, not here"))
	}
	if !s.bgLoggedIn(c, a) {
		return s.Page(c, http.StatusOK, "login.html", map[string]any{"Title": "Log in to Sandbox Bank", "Client": tppName(a.ClientID),
			"Action": s.At("/psu/berlin/" + a.Handle + "/login"), "CSRF": a.CSRF, "Username": a.PSU})
	}
	return s.bgConsentPage(c, http.StatusOK, ap, a.PSU, s.At("/psu/berlin/"+a.Handle+"/decision"), a.CSRF, "")
}

func (s *Server) bgLogin(c echo.Context) error {
	ctx := c.Request().Context()
	ap, err := s.Bank.ApprovalByHandle(ctx, c.Param("handle"))
	if err != nil {
		return s.bgFailed(c, err)
	}
	a := ap.Authorisation
	if !csrfOK(c, a.CSRF) {
		return s.ErrorPage(c, errCSRF)
	}
	user := c.FormValue("username")
	c.Set(httpx.KeyPSU, httpx.Truncate(user, 64))
	c.Set(httpx.KeyClient, a.ClientID)
	if err := s.LoginPSU(c, user, c.FormValue("password")); err != nil {
		if errors.Is(err, oauth.ErrLogin) {
			c.Set(httpx.KeyRule, "psu.login_failed")
			return s.Page(c, http.StatusUnauthorized, "login.html", map[string]any{"Title": "Log in to Sandbox Bank", "Client": tppName(a.ClientID),
				"Action": s.At("/psu/berlin/" + a.Handle + "/login"), "CSRF": a.CSRF, "Username": user, "Error": oauth.ErrLogin.Message})
		}
		return err
	}
	ck := oauth.NewToken()
	if _, err := s.Bank.LoginRedirect(ctx, a.Handle, user, oauth.CookieHash(ck)); err != nil {
		return s.bgFailed(c, err)
	}
	s.SetCookie(c, bgCookie, ck, int(bank.AuthorisationLifetime/time.Second))
	return c.Redirect(http.StatusSeeOther, s.At("/psu/berlin/"+a.Handle))
}

func (s *Server) bgDecision(c echo.Context) error {
	ctx := c.Request().Context()
	ap, err := s.Bank.ApprovalByHandle(ctx, c.Param("handle"))
	if err != nil {
		return s.bgFailed(c, err)
	}
	a := ap.Authorisation
	if !s.bgLoggedIn(c, a) || !csrfOK(c, a.CSRF) {
		return s.ErrorPage(c, errCSRF)
	}
	form, err := c.FormParams()
	if err != nil {
		return err
	}
	to, err := s.bgDecide(c, ap, a.PSU, form.Get("decision") == "approve", form["accounts"])
	if err != nil {
		return err
	}
	s.SetCookie(c, bgCookie, "", -1)
	return c.Redirect(http.StatusSeeOther, to)
}

// bgDecide applies the PSU's decision (through the PSU scenarios) and
// returns where the redirect approach sends the browser: the TPP's
// TPP-Redirect-URI when the routine is finalised, else its
// TPP-Nok-Redirect-URI (or TPP-Redirect-URI when it gave none).
func (s *Server) bgDecide(c echo.Context, ap *bank.BGApproval, psu string, approve bool, accounts []string) (string, error) {
	c.Set(httpx.KeyClient, ap.Authorisation.ClientID)
	c.Set(httpx.KeyPSU, psu)
	c.Set(httpx.KeyConsent, ap.Resource.ID)
	d := s.PSUDecision(c, ap.Resource, oauth.Decision{PSU: psu, Approve: approve, Accounts: accounts})
	if d.Limit > 0 {
		if len(d.Accounts) == 0 {
			d.Accounts = s.bgChoices(c.Request().Context(), ap, psu)
		}
		d.Accounts = d.Accounts[:min(d.Limit, len(d.Accounts))]
	}
	out, err := s.Bank.Decide(c.Request().Context(), ap, psu, d.Approve, d.Accounts)
	if err != nil && bank.KindOf(err) == bank.KindInternal {
		return "", err
	}
	a := ap.Authorisation
	if out != nil {
		a = out
	}
	if err != nil {
		c.Set(httpx.KeyDetail, err.Error())
	}
	if a.Status == bank.ScaFinalised {
		return a.RedirectURI, nil
	}
	if a.NokRedirectURI != "" {
		return a.NokRedirectURI, nil
	}
	return a.RedirectURI, nil
}

// bgChoices are the accounts a bank-offered consent lets the PSU choose.
func (s *Server) bgChoices(ctx context.Context, ap *bank.BGApproval, psu string) []string {
	accts, _ := s.Store.AccountsOfPSU(ctx, psu)
	var ids []string
	for _, a := range accts {
		if a.Status == "Enabled" {
			ids = append(ids, a.ID)
		}
	}
	return ids
}

// tppName names a Berlin Group TPP by its organisation identifier.
func tppName(orgID string) string { return "The payment service provider " + orgID }

// bgConsentPage shows what the TPP asks the PSU to authorise, in the
// consent page's words.
func (s *Server) bgConsentPage(c echo.Context, status int, ap *bank.BGApproval, psu, action, csrf, msg string) error {
	data, err := s.bgView(c.Request().Context(), ap, psu)
	if err != nil {
		return err
	}
	data["Action"], data["CSRF"], data["Error"] = action, csrf, msg
	return s.Page(c, status, "consent.html", data)
}

func amountText(minor int64, currency string) string {
	sym := map[string]string{"GBP": "£", "EUR": "€", "USD": "$"}[currency]
	if sym == "" {
		return bank.FormatMinor(minor) + " " + currency
	}
	return sym + bank.FormatMinor(minor)
}

// bgView is the consent page's data for a routine's resource.
func (s *Server) bgView(ctx context.Context, ap *bank.BGApproval, psu string) (map[string]any, error) {
	cn := ap.Resource
	data := map[string]any{"Title": "Review and confirm", "Client": tppName(ap.Authorisation.ClientID), "PSU": psu, "ConsentID": cn.ID}
	accts, err := s.Store.AccountsOfPSU(ctx, psu)
	if err != nil {
		return nil, err
	}
	choices := func(keep func(bank.Account) bool) []accountChoice {
		var out []accountChoice
		for _, a := range accts {
			if a.Status == "Enabled" && keep(a) {
				out = append(out, accountChoice{ID: a.ID, Label: accountLabel(a, false), Checked: true})
			}
		}
		return out
	}
	var items []string
	describe := func(x *bank.Consent) error {
		switch x.Kind {
		case bank.ConsentBGAccounts:
			items = append(items, bgConsentWords(x)...)
		case bank.ConsentBGPayment:
			p, err := s.Bank.BGPaymentOf(ctx, x)
			if err != nil {
				return err
			}
			items = append(items, bgPaymentWords(p)...)
		}
		return nil
	}
	switch ap.Authorisation.Kind {
	case bank.AuthConsent:
		r := cn.BGConsent()
		data["Permissions"] = bgConsentWords(cn)
		data["Until"] = cn.ExpiresAt.Add(-time.Second).Format("2 January 2006")
		data["Accounts"] = choices(func(a bank.Account) bool {
			if r.BankOffered() {
				return true
			}
			for _, l := range [][]bank.BGAccountRef{r.Access.Accounts, r.Access.Balances, r.Access.Transactions} {
				if slices.ContainsFunc(l, func(ref bank.BGAccountRef) bool { return ref.Matches(a) }) {
					return true
				}
			}
			return r.Access.AllPsd2 != "" || r.Access.AvailableAccounts != "" || r.Access.AvailableAccountsWithBalance != ""
		})
	case bank.AuthPayment, bank.AuthCancellation:
		p, err := s.Bank.BGPaymentOf(ctx, cn)
		if err != nil {
			return nil, err
		}
		o := p.Orders[0]
		when := "Now"
		switch {
		case p.Service == bank.ServicePeriodicPayments:
			f, _ := bank.ParseFrequency(o.Frequency, "")
			when = fmt.Sprintf("Regularly: first on %s, then %s", o.FirstAt.Format("2 January 2006"), f.Describe())
			if !o.FinalAt.IsZero() {
				when += ", until " + o.FinalAt.Format("2 January 2006")
			}
		case !p.Execute.IsZero():
			when = "On " + p.Execute.Format("2 January 2006")
		case p.Product == bank.ProductInstantSEPA:
			when = "Now, instantly"
		}
		payee, account := o.Creditor.Name, o.Creditor.Identification
		if len(p.Orders) > 1 {
			payee, account = fmt.Sprintf("%d payees", len(p.Orders)), strings.Join(bgPaymentWords(p), "; ")
		}
		data["Payment"] = map[string]string{"Amount": amountText(p.Total(), o.Currency), "Payee": payee, "PayeeAccount": account,
			"Reference": o.Reference, "When": when}
		data["Accounts"] = choices(func(a bank.Account) bool { return a.ID == p.Debtor.ID })
		if ap.Authorisation.Kind == bank.AuthCancellation {
			data["Title"] = "Cancel a payment"
			data["Asking"] = "to cancel this payment, which you authorised earlier."
		}
	case bank.AuthBasket:
		_, r, err := s.Bank.Basket(ctx, cn.ClientID, cn.ID)
		if err != nil {
			return nil, err
		}
		for _, id := range append(append([]string{}, r.ConsentIDs...), r.PaymentIDs...) {
			x, err := s.Store.Consent(ctx, id)
			if err != nil {
				return nil, err
			}
			if err := describe(&x); err != nil {
				return nil, err
			}
		}
		data["Title"] = "Confirm several requests at once"
		data["Asking"] = "you to confirm these requests together (a signing basket)."
		data["Permissions"] = items
		data["Accounts"] = choices(func(bank.Account) bool { return true })
	}
	return data, nil
}

// bgConsentWords says in plain words what a consent shows.
func bgConsentWords(cn *bank.Consent) []string {
	r := cn.BGConsent()
	list := func(l []bank.BGAccountRef) string {
		if len(l) == 0 {
			return "the accounts you choose below"
		}
		var ids []string
		for _, ref := range l {
			ids = append(ids, endingIn(ref.IBAN+ref.PAN+ref.MaskedPAN))
		}
		return "account(s) " + strings.Join(ids, ", ")
	}
	var out []string
	switch {
	case r.Access.AllPsd2 != "":
		out = append(out, "All your payment accounts: their details, balances and transactions")
	case r.Access.AvailableAccounts != "":
		out = append(out, "The list of your accounts (names and numbers only)")
	case r.Access.AvailableAccountsWithBalance != "":
		out = append(out, "The list of your accounts, with their balances")
	default:
		if r.Access.Accounts != nil {
			out = append(out, "Details of "+list(r.Access.Accounts))
		}
		if r.Access.Balances != nil {
			out = append(out, "Balances of "+list(r.Access.Balances))
		}
		if r.Access.Transactions != nil {
			out = append(out, "Transactions of "+list(r.Access.Transactions))
		}
	}
	freq := fmt.Sprintf("The app may look up to %d time(s) a day without you", r.FrequencyPerDay)
	if !r.RecurringIndicator {
		freq = "Once only (a one-off access)"
	}
	return append(out, freq)
}

// bgPaymentWords says each payment of a payment initiation.
func bgPaymentWords(p *bank.BGPayment) []string {
	var out []string
	for _, o := range p.Orders {
		out = append(out, fmt.Sprintf("Pay %s to %s (%s)", amountText(o.Amount, o.Currency), o.Creditor.Name, o.Creditor.Identification))
	}
	return out
}

// bgApprovalPage and bgApprovalDecision are the connected-apps page's
// decoupled approvals of Berlin Group routines (the PSU's "banking app").
func (s *Server) bgApprovalPage(c echo.Context, psu, csrf string) error {
	ap, err := s.bgPending(c, psu)
	if err != nil {
		return s.Page(c, http.StatusBadRequest, "error.html", map[string]any{"Title": "This request cannot be completed",
			"Code": "invalid_request", "Description": "This request is not waiting for you: it was decided, has expired, or is not yours."})
	}
	return s.bgConsentPage(c, http.StatusOK, ap, psu, s.At("/psu/approvals/"+c.Param("handle")+"/decision"), csrf, "")
}

func (s *Server) bgPending(c echo.Context, psu string) (*bank.BGApproval, error) {
	ap, err := s.Bank.ApprovalByHandle(c.Request().Context(), c.Param("handle"))
	if err != nil {
		return nil, err
	}
	if ap.Authorisation.Approach != bank.ApproachDecoupled || ap.Authorisation.PSU != psu || ap.Authorisation.Status != bank.ScaMethodSelected {
		return nil, bank.Errorf(bank.KindForbidden, "", "not waiting for this PSU")
	}
	return ap, nil
}

func (s *Server) bgApprovalDecision(c echo.Context, sessPSU string) (string, error) {
	ap, err := s.bgPending(c, sessPSU)
	if err != nil {
		return "That request is no longer waiting for you.", nil
	}
	form, err := c.FormParams()
	if err != nil {
		return "", err
	}
	approve := form.Get("decision") == "approve"
	if _, err := s.bgDecide(c, ap, sessPSU, approve, form["accounts"]); err != nil {
		return "", err
	}
	what := "denied"
	if approve {
		what = "approved"
	}
	return "You " + what + " the request of " + tppName(ap.Authorisation.ClientID) + ". You can return to the app.", nil
}

// bgPendingApprovals lists the PSU's decoupled Berlin Group routines.
func (s *Server) bgPendingApprovals(ctx context.Context, psu string) ([]pendingApproval, error) {
	aps, err := s.Bank.PendingBGApprovals(ctx, psu)
	if err != nil {
		return nil, err
	}
	var out []pendingApproval
	for _, ap := range aps {
		what := map[string]string{bank.AuthConsent: "see information about your accounts", bank.AuthPayment: "make a payment from your account",
			bank.AuthCancellation: "cancel a payment", bank.AuthBasket: "confirm several requests at once"}[ap.Authorisation.Kind]
		out = append(out, pendingApproval{Handle: ap.Authorisation.Handle, Client: tppName(ap.Authorisation.ClientID), What: what})
	}
	return out, nil
}

// headlessBerlinRedirect is the headless PSU at a scaRedirect URL: log in,
// decide, and answer where the browser would be sent.
func (s *Server) headlessBerlinRedirect(c echo.Context, r headlessRequest, u *url.URL) error {
	ctx := c.Request().Context()
	c.Set(httpx.KeyPSU, httpx.Truncate(r.Username, 64))
	ap, err := s.Bank.ApprovalByHandle(ctx, path.Base(u.Path))
	if err != nil {
		return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: err.Error()}
	}
	if ap.Authorisation.Approach != bank.ApproachRedirect {
		return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "this authorisation is not a redirect: use authorisation_url"}
	}
	if err := s.LoginPSU(c, r.Username, r.Password); err != nil {
		if errors.Is(err, oauth.ErrLogin) {
			return &oauth.Error{Status: http.StatusUnauthorized, Code: "login_failed", Description: oauth.ErrLogin.Message, Rule: "psu.login_failed"}
		}
		return err
	}
	a, err := s.Bank.LoginRedirect(ctx, ap.Authorisation.Handle, r.Username, "")
	if err != nil {
		return &oauth.Error{Status: http.StatusForbidden, Code: "access_denied", Description: err.Error()}
	}
	ap.Authorisation = a
	to, err := s.bgDecide(c, ap, r.Username, r.Decision == "approve", r.Accounts)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"redirect_to": to})
}

// headlessBerlinDecoupled is the headless PSU approving (or denying) a
// decoupled authorisation as the TPP received its URL: 204, as the PSU's
// app says nothing to the TPP.
func (s *Server) headlessBerlinDecoupled(c echo.Context, r headlessRequest) error {
	ctx := c.Request().Context()
	c.Set(httpx.KeyPSU, httpx.Truncate(r.Username, 64))
	u, err := url.Parse(r.AuthorisationURL)
	if err != nil || !strings.Contains(u.Path, "/psd2/v1/") || !strings.Contains(u.Path, "authorisations/") {
		return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request",
			Description: "authorisation_url is a Berlin Group authorisation sub-resource URL (.../authorisations/{authorisationId})"}
	}
	if err := s.LoginPSU(c, r.Username, r.Password); err != nil {
		if errors.Is(err, oauth.ErrLogin) {
			return &oauth.Error{Status: http.StatusUnauthorized, Code: "login_failed", Description: oauth.ErrLogin.Message, Rule: "psu.login_failed"}
		}
		return err
	}
	ap, err := s.Bank.ApprovalByID(ctx, r.Username, path.Base(u.Path))
	if err != nil {
		switch bank.KindOf(err) {
		case bank.KindForbidden:
			return &oauth.Error{Status: http.StatusForbidden, Code: "access_denied", Description: err.Error()}
		case bank.KindInternal:
			return err
		}
		return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: err.Error()}
	}
	if _, err := s.bgDecide(c, ap, r.Username, r.Decision == "approve", r.Accounts); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
