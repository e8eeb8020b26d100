package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/obsandbox/sandbox/internal/app"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/tpp"
)

// scenarioHeader sends a request with x-sandbox-scenario.
func scenarioHeader(name string) map[string]string {
	return map[string]string{"x-sandbox-scenario": name}
}

func (s *sandbox) admin(method, path string, body any) *response {
	s.t.Helper()
	return s.do(req{method: method, path: path, token: s.app.Config.AdminToken, body: body})
}

// TestScenarioTransport: the forced statuses, with and without Retry-After,
// in each envelope; the response names the scenario; an unknown name is a
// 400; the fapi profile ignores the header; latency is added.
func TestScenarioTransport(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	tok, _ := s.directGrant("alice", bank.AccountAccessRequest{Permissions: allPermissions()}, s.accountsOf("alice"))
	for _, tc := range []struct {
		scenario   string
		path       string
		status     int
		retryAfter string
		code       string // OB ErrorCode or OAuth error; "" for no body
	}{
		{"server-error", ais + "/accounts", 500, "", "UK.OBIE.UnexpectedError"},
		{"unavailable", ais + "/accounts", 503, "30", "UK.OBIE.UnexpectedError"},
		{"unavailable-no-retry-after", ais + "/balances", 503, "", "UK.OBIE.UnexpectedError"},
		{"rate-limited", ais + "/accounts", 429, "10", ""},
		{"rate-limited-no-retry-after", ais + "/accounts", 429, "", ""},
		{"token-endpoint-unavailable", "/as/token", 503, "5", "temporarily_unavailable"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			method := http.MethodGet
			var body any
			if tc.path == "/as/token" {
				method, body = http.MethodPost, "grant_type=client_credentials"
			}
			r := s.do(req{method: method, path: tc.path, token: tok, body: body, header: scenarioHeader(tc.scenario)})
			expect(t, r, tc.status)
			if got := r.Header.Get("x-sandbox-scenario"); got != tc.scenario {
				t.Errorf("x-sandbox-scenario %q, want %q", got, tc.scenario)
			}
			if got := r.Header.Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tc.retryAfter)
			}
			switch {
			case tc.code == "" && len(r.Body) != 0:
				t.Errorf("body %s, want none", r.Body)
			case strings.HasPrefix(tc.code, "UK."):
				if got := r.obError(t); got != tc.code {
					t.Errorf("ErrorCode %s, want %s", got, tc.code)
				}
			case tc.code != "":
				var e struct{ Error string }
				r.JSON(t, &e)
				if e.Error != tc.code {
					t.Errorf("error %q, want %q", e.Error, tc.code)
				}
			}
		})
	}
	t.Run("ErrUnknownScenario", func(t *testing.T) {
		r := s.do(req{method: "GET", path: ais + "/accounts", token: tok, header: scenarioHeader("no-such-thing")})
		expect(t, r, 400)
		if got := r.obError(t); got != "UK.OBIE.Header.Invalid" {
			t.Errorf("ErrorCode %s, want UK.OBIE.Header.Invalid", got)
		}
	})
	t.Run("token_endpoint_scenario_leaves_data_alone", func(t *testing.T) {
		r := s.do(req{method: "GET", path: ais + "/accounts", token: tok, header: scenarioHeader("token-endpoint-unavailable")})
		expect(t, r, 200)
		if r.Header.Get("x-sandbox-scenario") != "" {
			t.Errorf("an unshaped answer names scenario %q", r.Header.Get("x-sandbox-scenario"))
		}
	})
	t.Run("latency", func(t *testing.T) {
		expect(t, s.admin("PUT", "/sandbox/scenarios/quick-lag", map[string]any{"latency": "300ms", "description": "a short delay"}), 201)
		t0 := time.Now()
		r := s.do(req{method: "GET", path: ais + "/accounts", token: tok, header: scenarioHeader("quick-lag")})
		if el := time.Since(t0); el < 300*time.Millisecond {
			t.Errorf("answered in %s, want at least the scenario's 300ms", el)
		}
		expect(t, r, 200)
		if r.Header.Get("x-sandbox-scenario") != "quick-lag" {
			t.Errorf("x-sandbox-scenario %q", r.Header.Get("x-sandbox-scenario"))
		}
	})
	t.Run("fapi_ignores_the_header", func(t *testing.T) {
		f := start(t, realIssuer(), withProfile(oauth.ProfileFAPI), withTLS())
		r := f.do(req{method: "GET", path: ais + "/accounts", header: scenarioHeader("server-error")})
		expect(t, r, 401)
	})
}

// TestScenarioActive: a scenario an admin makes active shapes every
// request — for a number of requests, or until cleared — but never the
// sandbox's own endpoints; reset clears it.
func TestScenarioActive(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	tok, _ := s.directGrant("alice", bank.AccountAccessRequest{Permissions: allPermissions()}, s.accountsOf("alice"))
	expect(t, s.admin("POST", "/sandbox/scenarios/active", map[string]any{"name": "unavailable", "times": 2}), 200)
	expect(t, s.get("/healthz", ""), 200)
	expect(t, s.admin("GET", "/sandbox/scenarios", nil), 200)
	expect(t, s.get(ais+"/accounts", tok), 503)
	expect(t, s.get(ais+"/accounts", tok), 503)
	expect(t, s.get(ais+"/accounts", tok), 200) // two were asked for

	expect(t, s.admin("POST", "/sandbox/scenarios/active", map[string]any{"name": "server-error"}), 200)
	for range 3 {
		expect(t, s.get(ais+"/balances", tok), 500)
	}
	var cat struct{ Active *struct{ Name string } }
	s.admin("GET", "/sandbox/scenarios", nil).JSON(t, &cat)
	if cat.Active == nil || cat.Active.Name != "server-error" {
		t.Errorf("active %+v, want server-error", cat.Active)
	}
	expect(t, s.admin("DELETE", "/sandbox/scenarios/active", nil), 204)
	expect(t, s.get(ais+"/balances", tok), 200)

	expect(t, s.admin("POST", "/sandbox/scenarios/active", map[string]any{"name": "server-error"}), 200)
	expect(t, s.admin("POST", "/sandbox/reset", nil), 204)
	tok, _ = s.directGrant("alice", bank.AccountAccessRequest{Permissions: allPermissions()}, s.accountsOf("alice"))
	expect(t, s.get(ais+"/accounts", tok), 200)
}

// psuJourney creates an AIS consent with the client (and its headers), has
// the PSU approve headlessly, and returns the redirect's query and the
// consent id.
func psuJourney(t *testing.T, c *tpp.Client, psu string) (url.Values, string, *tpp.Authorization) {
	t.Helper()
	ctx := context.Background()
	cc, err := c.ClientCredentials(ctx, "accounts")
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.AccountConsent(ctx, cc, tpp.AllPermissions, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.Authorize(ctx, id, tpp.AuthOptions{})
	if err != nil {
		t.Fatal(err)
	}
	to, err := c.Headless(ctx, a, psu, psu+"123", "approve", nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(to)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Fragment != "" {
		q, _ = url.ParseQuery(u.Fragment)
	}
	return q, id, a
}

func (s *sandbox) consentStatus(c *tpp.Client, id string) string {
	s.t.Helper()
	cc, err := c.ClientCredentials(context.Background(), "accounts")
	if err != nil {
		s.t.Fatal(err)
	}
	var out struct{ Data struct{ Status string } }
	s.get(ais+"/account-access-consents/"+id, cc).JSON(s.t, &out)
	return out.Data.Status
}

// TestScenarioPSU: the PSU scenarios, chosen by the consent's header, by a
// PSU binding and by the active scenario: the PSU approves, the bank answers
// as the scenario says.
func TestScenarioPSU(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	for _, tc := range []struct{ scenario, description string }{
		{"psu-denies", "the PSU denied the request"},
		{"sca-fails", "strong customer authentication failed"},
		{"sca-timeout", "did not complete authentication in time"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			c := s.newTPP("private_key_jwt")
			c.Header = http.Header{"X-Sandbox-Scenario": {tc.scenario}}
			q, id, _ := psuJourney(t, c, "alice")
			if q.Get("error") != "access_denied" || !strings.Contains(q.Get("error_description"), tc.description) || q.Get("code") != "" {
				t.Errorf("redirect %v, want error=access_denied saying %q", q, tc.description)
			}
			if st := s.consentStatus(c, id); st != "Rejected" {
				t.Errorf("consent %s, want Rejected", st)
			}
		})
	}
	t.Run("some-accounts", func(t *testing.T) {
		c := s.newTPP("private_key_jwt")
		c.Header = http.Header{"X-Sandbox-Scenario": {"some-accounts"}}
		q, _, a := psuJourney(t, c, "alice")
		toks, err := c.Exchange(context.Background(), a, q.Get("code"))
		if err != nil {
			t.Fatal(err)
		}
		if got := items(t, s.get(ais+"/accounts", toks.AccessToken), "Account"); len(got) != 1 || len(s.accountsOf("alice")) < 2 {
			t.Errorf("the token reads %d accounts, want 1 of alice's %d", len(got), len(s.accountsOf("alice")))
		}
	})
	t.Run("bound_to_a_PSU", func(t *testing.T) {
		expect(t, s.admin("PUT", "/sandbox/scenarios/bindings", map[string]any{"psus": map[string]string{"bob": "psu-denies"}}), 200)
		defer s.admin("PUT", "/sandbox/scenarios/bindings", map[string]any{})
		c := s.newTPP("private_key_jwt")
		if q, _, _ := psuJourney(t, c, "bob"); q.Get("error") != "access_denied" {
			t.Errorf("bob's approval gave %v, want access_denied", q)
		}
		if q, _, _ := psuJourney(t, c, "alice"); q.Get("code") == "" {
			t.Errorf("alice's approval gave %v, want a code", q)
		}
	})
	t.Run("active", func(t *testing.T) {
		expect(t, s.admin("POST", "/sandbox/scenarios/active", map[string]any{"name": "sca-fails"}), 200)
		defer s.admin("DELETE", "/sandbox/scenarios/active", nil)
		c := s.newTPP("private_key_jwt")
		if q, _, _ := psuJourney(t, c, "alice"); q.Get("error") != "access_denied" {
			t.Errorf("approval under the active sca-fails gave %v", q)
		}
	})
}

// TestScenarioRevokedMidSession: the first data call works, then the PSU
// revokes at the bank: 401 with no body from the next call on.
func TestScenarioRevokedMidSession(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	c := s.newTPP("private_key_jwt")
	c.Header = http.Header{"X-Sandbox-Scenario": {"revoked-mid-session"}}
	q, _, a := psuJourney(t, c, "alice")
	toks, err := c.Exchange(context.Background(), a, q.Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	c.Header = nil // the consent carries the scenario
	expect(t, s.get(ais+"/accounts", toks.AccessToken), 200)
	for range 2 {
		r := s.get(ais+"/balances", toks.AccessToken)
		expect(t, r, 401)
		if len(r.Body) != 0 {
			t.Errorf("401 with a body: %s", r.Body)
		}
	}
}

// TestScenarioShortPages: a list answers two items a page and Links.Next
// keeps the size, for one request (header) or every call of a consent
// created under the scenario.
func TestScenarioShortPages(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	tok, _ := s.directGrant("alice", bank.AccountAccessRequest{Permissions: allPermissions()}, s.accountsOf("alice"))
	acct := s.accountsOf("alice")[0]
	r := s.do(req{method: "GET", path: ais + "/accounts/" + acct + "/transactions", token: tok, header: scenarioHeader("short-pages")})
	if got := items(t, r, "Transaction"); len(got) != 2 {
		t.Errorf("%d transactions on the page, want 2", len(got))
	}
	p := decodePage(t, r)
	if !strings.Contains(p.Links.Next, "page-size=2") || p.Meta.TotalPages < 2 || r.Header.Get("x-sandbox-scenario") != "short-pages" {
		t.Errorf("Links.Next %q, TotalPages %d, scenario %q", p.Links.Next, p.Meta.TotalPages, r.Header.Get("x-sandbox-scenario"))
	}
	if got := items(t, s.get(ais+"/accounts/"+acct+"/transactions", tok), "Transaction"); len(got) <= 2 {
		t.Errorf("without the scenario: %d transactions on the page", len(got))
	}
	c := s.newTPP("private_key_jwt")
	c.Header = http.Header{"X-Sandbox-Scenario": {"short-pages"}}
	q, _, a := psuJourney(t, c, "alice")
	toks, err := c.Exchange(context.Background(), a, q.Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	if got := items(t, s.get(ais+"/accounts", toks.AccessToken), "Account"); len(got) != 2 {
		t.Errorf("a consent created under short-pages lists %d accounts a page, want 2", len(got))
	}
}

// paidUnder runs a domestic payment of amount for alice and returns its id
// and status, and the payment token.
func paidUnder(t *testing.T, s *sandbox, c *tpp.Client, amount string) (string, string, string, *response) {
	t.Helper()
	ctx := context.Background()
	in := tpp.DomesticInitiation(amount, payee, "SCENARIO")
	cc, _ := c.ClientCredentials(ctx, "payments")
	id, err := c.PaymentConsent(ctx, cc, in)
	if err != nil {
		t.Fatal(err)
	}
	toks, err := c.Approve(ctx, id, tpp.AuthOptions{Scope: "openid payments"}, "alice", "alice123", []string{s.accountsOf("alice")[0]})
	if err != nil {
		t.Fatal(err)
	}
	fc := s.get(pis+"/domestic-payment-consents/"+id+"/funds-confirmation", toks.AccessToken)
	st, b, h, err := c.SignedPost(ctx, pis+"/domestic-payments", toks.AccessToken, uuid.NewString(),
		map[string]any{"Data": map[string]any{"ConsentId": id, "Initiation": in}, "Risk": map[string]any{"PaymentContextCode": "PartyToParty"}})
	if err != nil {
		t.Fatal(err)
	}
	r := &response{Status: st, Header: h, Body: b}
	var out struct {
		Data struct{ DomesticPaymentId, Status string }
	}
	if st == 201 {
		r.JSON(t, &out)
	}
	_ = fc
	return out.Data.DomesticPaymentId, out.Data.Status, toks.AccessToken, r
}

// TestScenarioPayments: the payment scenarios chosen by amount (the
// catalogue's bindings) and by header, each with the ledger to the penny.
func TestScenarioPayments(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	c, aisTok, acct := paymentSetup(t, s)
	avail := func() int64 { return s.balanceOf(aisTok, acct, "InterimAvailable") }
	status := func(id string) string { // with a client-credentials token: the clock may have outlived the others
		cc, err := c.ClientCredentials(context.Background(), "payments")
		if err != nil {
			t.Fatal(err)
		}
		var out struct{ Data struct{ Status string } }
		s.get(pis+"/domestic-payments/"+id, cc).JSON(t, &out)
		return out.Data.Status
	}
	ledgerOK := func() {
		t.Helper()
		if problems, err := s.app.Store.CheckLedgers(context.Background(), 5); err != nil || len(problems) > 0 {
			t.Errorf("ledger: %v %v", problems, err)
		}
	}

	t.Run("insufficient-funds_by_amount", func(t *testing.T) {
		before := avail()
		id, st, tok, r := paidUnder(t, s, c, "0.66")
		if st != "Rejected" || r.Header.Get("x-sandbox-scenario") != "insufficient-funds" {
			t.Errorf("status %s scenario %q, want Rejected by insufficient-funds", st, r.Header.Get("x-sandbox-scenario"))
		}
		var fc struct {
			Data struct{ FundsAvailableResult struct{ FundsAvailable bool } }
		}
		s.get(pis+"/domestic-payment-consents/"+paymentConsentOf(t, s, id, tok)+"/funds-confirmation", tok).JSON(t, &fc)
		if fc.Data.FundsAvailableResult.FundsAvailable {
			t.Error("funds confirmation said yes under insufficient-funds")
		}
		if got := avail(); got != before {
			t.Errorf("available %d, want %d unchanged", got, before)
		}
		ledgerOK()
	})
	t.Run("rejected-after-pending_by_amount", func(t *testing.T) {
		before := avail()
		id, st, _, _ := paidUnder(t, s, c, "0.67")
		if st != "Pending" || avail() != before-67 {
			t.Fatalf("status %s available %d, want Pending and %d", st, avail(), before-67)
		}
		s.advance("10m")
		if got := status(id); got != "Rejected" {
			t.Errorf("after settlement time: %s, want Rejected", got)
		}
		if got := avail(); got != before {
			t.Errorf("available %d, want %d restored", got, before)
		}
		var details struct {
			Data struct {
				PaymentStatus []struct {
					Status       string
					StatusDetail *struct{ StatusReasonDescription string }
				}
			}
		}
		cc, _ := c.ClientCredentials(context.Background(), "payments")
		r := s.get(pis+"/domestic-payments/"+id+"/payment-details", cc)
		expect(t, r, 200)
		r.JSON(t, &details)
		ps := details.Data.PaymentStatus
		if len(ps) == 0 || ps[len(ps)-1].Status != "Rejected" || ps[len(ps)-1].StatusDetail == nil {
			t.Errorf("payment details %+v, want a last Rejected with a reason", ps)
		}
		ledgerOK()
	})
	t.Run("duplicate-reference_by_amount", func(t *testing.T) {
		before := avail()
		_, _, _, r := paidUnder(t, s, c, "0.69")
		expect(t, r, 400)
		if got := r.obError(t); got != "UK.OBIE.Rules.DuplicateReference" {
			t.Errorf("ErrorCode %s", got)
		}
		if got := avail(); got != before {
			t.Errorf("available %d, want %d", got, before)
		}
	})
	t.Run("an_unbound_amount_pays", func(t *testing.T) {
		_, st, _, r := paidUnder(t, s, c, "0.70")
		if st != "Pending" || r.Header.Get("x-sandbox-scenario") != "" {
			t.Errorf("status %s scenario %q", st, r.Header.Get("x-sandbox-scenario"))
		}
	})
	// Last: 91 days outlive every token above.
	t.Run("stuck-pending_by_header", func(t *testing.T) {
		c.Header = http.Header{"X-Sandbox-Scenario": {"stuck-pending"}}
		defer func() { c.Header = nil }()
		id, st, _, _ := paidUnder(t, s, c, "12.00")
		s.advance("91d")
		if got := status(id); st != "Pending" || got != "Pending" {
			t.Errorf("status %s then %s after 91 days, want Pending", st, got)
		}
		ledgerOK()
	})
}

func paymentConsentOf(t *testing.T, s *sandbox, paymentID, tok string) string {
	t.Helper()
	var out struct{ Data struct{ ConsentId string } }
	s.get(pis+"/domestic-payments/"+paymentID, tok).JSON(t, &out)
	return out.Data.ConsentId
}

// TestScenarioCatalogue: the admin API lists, adds, replaces and deletes
// scenarios, refuses bad ones, needs the admin token, persists across a
// restart and comes back to the fixture on reset.
func TestScenarioCatalogue(t *testing.T) {
	t.Parallel()
	db := t.TempDir() + "/scenarios.db"
	s := start(t, realIssuer(), func(c *app.Config) { c.DB = db })
	var cat struct {
		Scenarios []struct{ Name string }
		Bindings  struct{ Amounts map[string]string }
	}
	s.admin("GET", "/sandbox/scenarios", nil).JSON(t, &cat)
	if len(cat.Scenarios) < 15 || cat.Bindings.Amounts["0.66"] != "insufficient-funds" {
		t.Fatalf("catalogue: %d scenarios, amounts %v", len(cat.Scenarios), cat.Bindings.Amounts)
	}
	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   any
		token  string
		status int
	}{
		{"ErrNoAdminToken", "GET", "/sandbox/scenarios", nil, "", 401},
		{"Created", "PUT", "/sandbox/scenarios/flaky", map[string]any{"status": 503, "retry_after": 1}, "admin", 201},
		{"Replaced", "PUT", "/sandbox/scenarios/flaky", map[string]any{"status": 500}, "admin", 200},
		{"Read", "GET", "/sandbox/scenarios/flaky", nil, "admin", 200},
		{"ErrInvalidStatus", "PUT", "/sandbox/scenarios/teapot", map[string]any{"status": 418}, "admin", 400},
		{"ErrUnknownField", "PUT", "/sandbox/scenarios/x", map[string]any{"status": 500, "colour": "red"}, "admin", 400},
		{"ErrNameMismatch", "PUT", "/sandbox/scenarios/x", map[string]any{"name": "y", "status": 500}, "admin", 400},
		{"ErrBindingToNothing", "PUT", "/sandbox/scenarios/bindings", map[string]any{"amounts": map[string]string{"1.00": "nope"}}, "admin", 400},
		{"ErrActivateUnknown", "POST", "/sandbox/scenarios/active", map[string]any{"name": "nope"}, "admin", 404},
		{"ErrDeleteBound", "DELETE", "/sandbox/scenarios/insufficient-funds", nil, "admin", 409},
		{"ErrDeleteUnknown", "DELETE", "/sandbox/scenarios/nope", nil, "admin", 404},
		{"ErrUnknown", "GET", "/sandbox/scenarios/nope", nil, "admin", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := tc.token
			if tok == "admin" {
				tok = s.app.Config.AdminToken
			}
			expect(t, s.do(req{method: tc.method, path: tc.path, token: tok, body: tc.body}), tc.status)
		})
	}
	var flaky struct{ Status int }
	s.admin("GET", "/sandbox/scenarios/flaky", nil).JSON(t, &flaky)
	if flaky.Status != 500 {
		t.Errorf("flaky has status %d after the replacement, want 500", flaky.Status)
	}
	// The refused edits changed nothing; the accepted one survives a restart.
	s.stop()
	s = start(t, realIssuer(), func(c *app.Config) { c.DB = db })
	expect(t, s.admin("GET", "/sandbox/scenarios/flaky", nil), 200)
	expect(t, s.admin("GET", "/sandbox/scenarios/teapot", nil), 404)
	expect(t, s.admin("DELETE", "/sandbox/scenarios/flaky", nil), 204)
	expect(t, s.admin("PUT", "/sandbox/scenarios/other", map[string]any{"latency": "1ms"}), 201)
	expect(t, s.admin("POST", "/sandbox/reset", nil), 204)
	expect(t, s.admin("GET", "/sandbox/scenarios/other", nil), 404)
	var after struct{ Scenarios []json.RawMessage }
	s.admin("GET", "/sandbox/scenarios", nil).JSON(t, &after)
	if len(after.Scenarios) != len(cat.Scenarios) {
		t.Errorf("after reset %d scenarios, want the fixture's %d", len(after.Scenarios), len(cat.Scenarios))
	}
}
