package psu

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/gateway"
	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/store"
)

// Cookies of the PSU pages: HttpOnly, SameSite=Lax (the PSU arrives by a
// top-level redirect from the TPP), Secure when served over TLS.
const (
	authCookie = "sbx_auth" // binds a browser to the authorization request it logged in to
	psuCookie  = "sbx_psu"  // the connected-apps session
)

func (s *Server) mountPSU(e *echo.Echo) {
	g := e.Group("/psu", httpx.PageHeaders)
	login := s.LimitIP(gateway.ClassLogin)
	g.GET("/authorize/:id", s.authorizePage)
	g.POST("/authorize/:id/login", s.authorizeLogin, login)
	g.POST("/authorize/:id/decision", s.authorizeDecision)
	g.GET("/apps", s.appsPage)
	g.POST("/login", s.appsLogin, login)
	g.POST("/logout", s.appsLogout)
	g.POST("/apps/:consent/revoke", s.appsRevoke)
}

// authorize is the authorization endpoint: it validates the request, then
// sends the PSU to the bank's pages (or, where the redirect URI can be
// trusted, sends errors back to the client; else shows an error page).
func (s *Server) authorize(c echo.Context) error {
	ctx := c.Request().Context()
	ar, err := s.Auth.ParseAuthorize(ctx, c.QueryParams())
	if err == nil {
		err = s.Auth.Consume(ctx, ar)
	}
	if err != nil {
		return s.authorizeFailed(c, err)
	}
	params, err := json.Marshal(ar.Params)
	if err != nil {
		return err
	}
	now := s.Clock.Now()
	rec := store.AuthRequest{ID: oauth.NewToken(), ClientID: ar.Client.ClientID, Params: params, CSRF: oauth.NewToken(),
		CreatedAt: now, ExpiresAt: now.Add(oauth.AuthRequestLifetime)}
	if err := s.Store.SaveAuthRequest(ctx, rec); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, s.At("/psu/authorize/"+rec.ID))
}

func (s *Server) authorizeFailed(c echo.Context, err error) error {
	var ae *oauth.AuthorizeError
	if !errors.As(err, &ae) {
		return err
	}
	httpx.PageHeaders(func(echo.Context) error { return nil })(c)
	if ae.Redirect {
		return c.Redirect(http.StatusSeeOther, s.Auth.ErrorRedirect(ae))
	}
	return s.ErrorPage(c, ae)
}

// pending loads an authorization request that is still open.
func (s *Server) pending(c echo.Context) (store.AuthRequest, *oauth.AuthorizeError, error) {
	rec, err := s.Store.GetAuthRequest(c.Request().Context(), c.Param("id"))
	if errors.Is(err, bank.ErrNotFound) || (err == nil && (!rec.DoneAt.IsZero() || !s.Clock.Now().Before(rec.ExpiresAt))) {
		return rec, &oauth.AuthorizeError{Code: "invalid_request", Description: "this authorization request is unknown, finished or expired; start again from the app"}, nil
	}
	return rec, nil, err
}

// resume rebuilds a stored request, re-checking the consent's state.
func (s *Server) resume(ctx context.Context, rec store.AuthRequest) (*oauth.AuthRequest, error) {
	var p oauth.AuthParams
	if err := json.Unmarshal(rec.Params, &p); err != nil {
		return nil, err
	}
	return s.Auth.Resume(ctx, p)
}

func (s *Server) loggedIn(c echo.Context, rec store.AuthRequest) bool {
	ck := httpx.Cookie(c, authCookie)
	return rec.PSU != "" && ck != "" && subtle.ConstantTimeCompare([]byte(oauth.CookieHash(ck)), []byte(rec.Session)) == 1
}

func (s *Server) authorizePage(c echo.Context) error {
	rec, ae, err := s.pending(c)
	if err != nil {
		return err
	}
	if ae != nil {
		return s.ErrorPage(c, ae)
	}
	ar, err := s.resume(c.Request().Context(), rec)
	if err != nil {
		return s.authorizeFailed(c, err)
	}
	if !s.loggedIn(c, rec) {
		return s.loginPage(c, http.StatusOK, ar, rec, "", "")
	}
	return s.consentPage(c, http.StatusOK, ar, rec, "")
}

func clientName(cl *oauth.Client) string {
	if cl.ClientName != "" {
		return cl.ClientName
	}
	return "An app (client " + cl.ClientID + ")"
}

func (s *Server) loginPage(c echo.Context, status int, ar *oauth.AuthRequest, rec store.AuthRequest, user, msg string) error {
	return s.Page(c, status, "login.html", map[string]any{"Title": "Log in to Sandbox Bank", "Client": clientName(ar.Client),
		"Action": s.At("/psu/authorize/" + rec.ID + "/login"), "CSRF": rec.CSRF, "Error": msg, "Username": user})
}

func csrfOK(c echo.Context, want string) bool {
	got := c.FormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

var errCSRF = &oauth.AuthorizeError{Code: "invalid_request", Description: "the form is out of date or was not sent by this page (CSRF check failed); start again"}

func (s *Server) authorizeLogin(c echo.Context) error {
	rec, ae, err := s.pending(c)
	if err != nil {
		return err
	}
	if ae != nil {
		return s.ErrorPage(c, ae)
	}
	if !csrfOK(c, rec.CSRF) {
		return s.ErrorPage(c, errCSRF)
	}
	ctx := c.Request().Context()
	ar, err := s.resume(ctx, rec)
	if err != nil {
		return s.authorizeFailed(c, err)
	}
	user := c.FormValue("username")
	c.Set(httpx.KeyPSU, httpx.Truncate(user, 64))
	if err := s.LoginPSU(c, user, c.FormValue("password")); err != nil {
		if errors.Is(err, oauth.ErrLogin) {
			c.Set(httpx.KeyRule, "psu.login_failed")
			return s.loginPage(c, http.StatusUnauthorized, ar, rec, user, oauth.ErrLogin.Message)
		}
		return err
	}
	ck := oauth.NewToken()
	rec.PSU, rec.Session = user, oauth.CookieHash(ck)
	if err := s.Store.UpdateAuthRequest(ctx, rec); err != nil {
		return err
	}
	s.SetCookie(c, authCookie, ck, int(oauth.AuthRequestLifetime/time.Second))
	return c.Redirect(http.StatusSeeOther, s.At("/psu/authorize/"+rec.ID))
}

type accountChoice struct {
	ID, Label string
	Checked   bool
}

// accountLabel names an account as the bank shows it to its owner: its
// nickname, type and currency, then its number — the card number always
// masked, the others too where masked (to their last four digits, as a bank
// does on pages that only need to tell accounts apart).
func accountLabel(a bank.Account, masked bool) string {
	number, iban := a.Number, a.IBAN
	if masked {
		number, iban = endingIn(number), endingIn(iban)
	}
	l := fmt.Sprintf("%s (%s, %s)", a.Nickname, a.SubType, a.Currency)
	switch {
	case a.SortCode != "":
		l += fmt.Sprintf(" %s-%s-%s %s", a.SortCode[:2], a.SortCode[2:4], a.SortCode[4:], number)
	case a.PAN != "" && masked: // a card account: its card number, not its IBAN
		l += " " + endingIn(a.PAN)
	case a.PAN != "":
		l += " " + bank.MaskPAN(a.PAN)
	case a.IBAN != "":
		l += " " + iban
	}
	return l
}

// endingIn masks an account identifier to its last four characters.
func endingIn(id string) string {
	if len(id) <= 4 {
		return id
	}
	return "****" + id[len(id)-4:]
}

func (s *Server) consentPage(c echo.Context, status int, ar *oauth.AuthRequest, rec store.AuthRequest, msg string) error {
	data, err := s.consentView(c.Request().Context(), ar.Consent, ar.Client, rec.PSU)
	if err != nil {
		return err
	}
	data["Error"], data["Action"], data["CSRF"] = msg, s.At("/psu/authorize/"+rec.ID+"/decision"), rec.CSRF
	return s.Page(c, status, "consent.html", data)
}

// consentView is what the consent page shows of a consent a client asks the
// PSU to authorise (a redirect or a decoupled request).
func (s *Server) consentView(ctx context.Context, cn *bank.Consent, cl *oauth.Client, psu string) (map[string]any, error) {
	eligible, err := s.Auth.Eligible(ctx, cn, psu)
	if err != nil {
		return nil, err
	}
	data := map[string]any{"Title": "Review and confirm", "Client": clientName(cl), "PSU": psu, "ConsentID": cn.ID}
	var choices []accountChoice
	for i, a := range eligible {
		choices = append(choices, accountChoice{ID: a.ID, Label: accountLabel(a, false), Checked: cn.Kind == bank.ConsentAccountAccess || i == 0})
	}
	data["Accounts"] = choices
	if cn.Kind == bank.ConsentAccountAccess {
		data["Permissions"] = cn.Permissions.Describe()
		if !cn.ExpiresAt.IsZero() {
			data["Until"] = cn.ExpiresAt.Format("2 January 2006, 15:04 MST")
		}
		if !cn.TxFrom.IsZero() || !cn.TxTo.IsZero() {
			w := "the start of your history"
			if !cn.TxFrom.IsZero() {
				w = cn.TxFrom.Format("2 Jan 2006")
			}
			if !cn.TxTo.IsZero() {
				w += " to " + cn.TxTo.Format("2 Jan 2006")
			}
			data["Window"] = w
		}
	} else if cn.Kind == bank.ConsentFundsConfirmation {
		data["Title"] = "Allow funds checks"
		data["Permissions"] = []string{"Whether the account below has enough money for an amount the app asks about (a yes or no answer, never your balance)"}
		data["Funds"] = true
		if !cn.ExpiresAt.IsZero() {
			data["Until"] = cn.ExpiresAt.Format("2 January 2006, 15:04 MST")
		}
	} else if cn.IsVRP() {
		vrpView(data, cn)
	} else if in := cn.Initiation; in != nil {
		data["Title"] = "Confirm your payment"
		payee := in.Creditor.Identification
		if in.Creditor.Scheme == bank.SchemeSortCode && len(payee) == 14 {
			payee = fmt.Sprintf("Sort code %s-%s-%s, account %s", payee[:2], payee[2:4], payee[4:6], payee[6:])
		}
		ref := in.Reference
		if ref == "" {
			ref = in.Unstructured
		}
		when := ""
		switch {
		case !in.RequestedAt.IsZero():
			when = "On " + in.RequestedAt.Format("2 January 2006")
		case in.Frequency != "":
			f, _ := bank.ParseFrequency(in.Frequency, "")
			when = fmt.Sprintf("A standing order: first on %s, then %s", in.FirstAt.Format("2 January 2006"), f.Describe())
			if in.Count > 0 {
				when += fmt.Sprintf(", %d payments in all", in.Count)
			}
			if !in.FinalAt.IsZero() {
				when += ", until " + in.FinalAt.Format("2 January 2006")
			}
		}
		later := ""
		if in.Frequency != "" && (in.Recurring != in.Amount || in.Final != 0) {
			later = "£" + bank.FormatMinor(in.Recurring) + " each"
			if in.Final != 0 {
				later += ", the last £" + bank.FormatMinor(in.Final)
			}
		}
		amount := "£" + bank.FormatMinor(in.Amount)
		if in.Currency != "" && in.Currency != "GBP" {
			amount = bank.FormatMinor(in.Amount) + " " + in.Currency
		}
		switch {
		case cn.IsInternational():
			// What the PSU agrees to abroad: the currency sent, the rate, the charge.
			amount += ", sent in " + in.CurrencyOfTransfer
			if q := in.FX; q != nil && q.Rate != 0 && q.Unit != "" {
				amount += fmt.Sprintf(" (%s rate 1 %s = %s %s", strings.ToLower(q.Type), q.Unit, bank.FormatRate(q.Rate), q.Other)
				if !q.Expires.IsZero() {
					amount += ", until " + q.Expires.Format("15:04 MST")
				}
				amount += ")"
			}
			if in.ChargeBearer != bank.BorneByCreditor {
				amount += fmt.Sprintf("; the bank's charge %s %s", bank.FormatMinor(bank.InternationalFee), in.Currency)
			}
		case cn.Kind == bank.ConsentFilePayment:
			when = fmt.Sprintf("A payment file (%s), each of its payments made on its own", in.FileType)
			if in.Count > 0 {
				when = fmt.Sprintf("A payment file of %d payments (%s), each made on its own", in.Count, in.FileType)
			}
			payee = "the payees the file names"
		}
		data["Payment"] = map[string]string{"Amount": amount, "Payee": in.Creditor.Name,
			"PayeeAccount": payee, "Reference": ref, "When": when, "Later": later}
	}
	return data, nil
}

func (s *Server) authorizeDecision(c echo.Context) error {
	rec, ae, err := s.pending(c)
	if err != nil {
		return err
	}
	if ae != nil {
		return s.ErrorPage(c, ae)
	}
	if !s.loggedIn(c, rec) || !csrfOK(c, rec.CSRF) {
		return s.ErrorPage(c, errCSRF)
	}
	ctx := c.Request().Context()
	ar, err := s.resume(ctx, rec)
	if err != nil {
		return s.authorizeFailed(c, err)
	}
	form, err := c.FormParams()
	if err != nil {
		return err
	}
	d := oauth.Decision{PSU: rec.PSU, Approve: form.Get("decision") == "approve", Accounts: form["accounts"]}
	if d.Approve && len(d.Accounts) == 0 {
		return s.consentPage(c, http.StatusBadRequest, ar, rec, "Choose at least one account.")
	}
	d = s.PSUDecision(c, ar.Consent, d)
	to, err := s.Auth.Decide(ctx, ar, d)
	if err != nil {
		return s.authorizeFailed(c, err)
	}
	rec.DoneAt = s.Clock.Now()
	if err := s.Store.UpdateAuthRequest(ctx, rec); err != nil {
		return err
	}
	s.SetCookie(c, authCookie, "", -1)
	return c.Redirect(http.StatusSeeOther, to)
}

// The connected-apps pages: the PSU's view of who holds access.

type appView struct {
	ConsentID, Client string
	Permissions       []string
	Accounts          []string // as the PSU knows them: names and masked numbers
	Since, Until      time.Time
}

func (s *Server) appsSession(c echo.Context) (store.PSUSession, bool) {
	sess, err := s.Auth.PSUSession(c.Request().Context(), httpx.Cookie(c, psuCookie))
	if err == nil {
		httpx.Authenticated(c)
	}
	return sess, err == nil
}

func (s *Server) appsPage(c echo.Context) error {
	sess, ok := s.appsSession(c)
	if !ok {
		return s.appsLoginPage(c, http.StatusOK, "", "")
	}
	return s.renderApps(c, sess, "")
}

func (s *Server) appsLoginPage(c echo.Context, status int, user, msg string) error {
	csrf := oauth.NewToken()
	s.SetCookie(c, "sbx_login_csrf", csrf, 900)
	return s.Page(c, status, "login.html", map[string]any{"Title": "Log in to see your connected apps", "Action": s.At("/psu/login"),
		"CSRF": csrf, "Error": msg, "Username": user})
}

func (s *Server) renderApps(c echo.Context, sess store.PSUSession, notice string) error {
	ctx := c.Request().Context()
	consents, err := s.Store.ConsentsOfPSU(ctx, sess.Username)
	if err != nil {
		return err
	}
	accts, err := s.Store.AccountsOfPSU(ctx, sess.Username)
	if err != nil {
		return err
	}
	labels := make(map[string]string, len(accts))
	for _, a := range accts {
		labels[a.ID] = accountLabel(a, true)
	}
	now := s.Clock.Now()
	var apps []appView
	for _, cn := range consents {
		if !cn.Usable(now) || cn.IsPayment() {
			continue
		}
		name := cn.ClientID
		if cl, err := s.Auth.Client(ctx, cn.ClientID); err == nil {
			name = clientName(cl)
		}
		app := appView{ConsentID: cn.ID, Client: name, Permissions: cn.Permissions.Describe(), Since: cn.StatusAt, Until: cn.ExpiresAt}
		if ctl := cn.Controls(); ctl != nil {
			app.Permissions = ctl.Describe() // a VRP mandate: its limits
		}
		for _, id := range cn.Accounts {
			if l, ok := labels[id]; ok {
				app.Accounts = append(app.Accounts, l)
			} else {
				app.Accounts = append(app.Accounts, "an account no longer open")
			}
		}
		apps = append(apps, app)
	}
	pending, err := s.pendingApprovals(c.Request().Context(), sess.Username)
	if err != nil {
		return err
	}
	return s.Page(c, http.StatusOK, "apps.html", map[string]any{"Title": "Your connected apps", "Apps": apps, "PSU": sess.Username,
		"CSRF": sess.CSRF, "Notice": notice, "Pending": pending})
}

func (s *Server) appsLogin(c echo.Context) error {
	if !csrfOK(c, httpx.Cookie(c, "sbx_login_csrf")) {
		return s.appsLoginPage(c, http.StatusBadRequest, "", "The form was out of date; please try again.")
	}
	ctx := c.Request().Context()
	user := c.FormValue("username")
	c.Set(httpx.KeyPSU, httpx.Truncate(user, 64))
	if err := s.LoginPSU(c, user, c.FormValue("password")); err != nil {
		if errors.Is(err, oauth.ErrLogin) {
			c.Set(httpx.KeyRule, "psu.login_failed")
			return s.appsLoginPage(c, http.StatusUnauthorized, user, oauth.ErrLogin.Message)
		}
		return err
	}
	ck, _, err := s.Auth.NewPSUSession(ctx, user)
	if err != nil {
		return err
	}
	s.SetCookie(c, psuCookie, ck, int(oauth.PSUSessionLifetime/time.Second))
	return c.Redirect(http.StatusSeeOther, s.At("/psu/apps"))
}

func (s *Server) appsLogout(c echo.Context) error {
	if sess, ok := s.appsSession(c); ok && csrfOK(c, sess.CSRF) {
		s.Auth.EndPSUSession(c.Request().Context(), httpx.Cookie(c, psuCookie))
	}
	s.SetCookie(c, psuCookie, "", -1)
	return c.Redirect(http.StatusSeeOther, s.At("/psu/apps"))
}

func (s *Server) appsRevoke(c echo.Context) error {
	sess, ok := s.appsSession(c)
	if !ok {
		return s.appsLoginPage(c, http.StatusUnauthorized, "", "Please log in again.")
	}
	if !csrfOK(c, sess.CSRF) {
		return s.renderApps(c, sess, "That form was out of date; nothing was revoked.")
	}
	id := c.Param("consent")
	if err := s.Auth.RevokeByPSU(c.Request().Context(), sess.Username, id); err != nil {
		if bank.KindOf(err) == bank.KindForbidden {
			return s.renderApps(c, sess, "That app is not connected to your accounts.")
		}
		return err
	}
	return s.renderApps(c, sess, "Access for consent "+id+" is revoked.")
}
