package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/pki"
	"github.com/obsandbox/sandbox/internal/tpp"
)

// tokenError is the OAuth error code of a failed CIBA poll.
func tokenError(t *testing.T, err error) string {
	t.Helper()
	var te *tpp.TokenError
	if !errors.As(err, &te) {
		t.Fatalf("want an OAuth error from the bank, got %v", err)
	}
	return te.Code
}

// TestCIBA: decoupled authentication (OpenID CIBA Core 1.0, poll and ping)
// in fapi and fapi2 — the signed authentication request with the PSU's hint
// and the consent, the PSU approving headlessly or in the bank's pages, the
// token endpoint's authorization_pending / slow_down / access_denied /
// expired_token on the sandbox clock, the ping through the guarded client.
func TestCIBA(t *testing.T) {
	t.Parallel()
	for _, profile := range []string{oauth.ProfileFAPI, oauth.ProfileFAPI2} {
		t.Run(profile, func(t *testing.T) { testCIBA(t, profile) })
	}
}

func testCIBA(t *testing.T, profile string) {
	s := start(t, realIssuer(), withProfile(profile))
	ctx := context.Background()
	dpop := func(c *tpp.Client) {
		if profile == oauth.ProfileFAPI2 {
			if err := c.UseDPoP(); err != nil {
				t.Fatal(err)
			}
		}
	}
	c := s.strictTPP(dpop)
	c.Header = http.Header{"X-Fapi-Customer-Ip-Address": {"198.51.100.7"}}
	cc, err := c.ClientCredentials(ctx, "accounts")
	if err != nil {
		t.Fatal(err)
	}
	consent := func() string {
		id, err := c.AccountConsent(ctx, cc, []string{"ReadAccountsDetail", "ReadBalances"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	ask := func(o tpp.CIBAOptions) *tpp.CIBARequest {
		t.Helper()
		if o.LoginHint == "" && o.IDTokenHint == "" && o.LoginHintToken == "" {
			o.LoginHint = "alice"
		}
		r, err := c.BackchannelAuthorize(ctx, consent(), o)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	advance := func(d string) {
		t.Helper()
		expect(t, s.do(req{method: "POST", path: "/sandbox/clock", token: s.app.Config.AdminToken, body: map[string]string{"advance": d}}), 200)
	}

	var d oauth.Discovery
	s.get("/.well-known/openid-configuration", "").JSON(t, &d)
	if d.BackchannelAuthenticationEndpoint != s.url+"/as/bc-authorize" || !slices.Equal(d.BackchannelTokenDeliveryModesSupported, []string{"poll", "ping"}) ||
		!slices.Contains(d.GrantTypesSupported, tpp.GrantCIBA) || d.BackchannelUserCodeParameterSupported {
		t.Errorf("discovery: %+v", d)
	}

	var idToken string
	t.Run("PollJourney", func(t *testing.T) {
		r := ask(tpp.CIBAOptions{BindingMessage: "RX7-42"})
		if r.AuthReqID == "" || r.Interval != 5 || r.ExpiresIn != 600 {
			t.Fatalf("answer %+v", r)
		}
		_, err := c.PollCIBA(ctx, r.AuthReqID)
		if got := tokenError(t, err); got != "authorization_pending" {
			t.Errorf("first poll: %s, want authorization_pending", got)
		}
		_, err = c.PollCIBA(ctx, r.AuthReqID)
		if got := tokenError(t, err); got != "slow_down" {
			t.Errorf("a poll at once after: %s, want slow_down", got)
		}
		advance("6s") // the interval is 10 s now
		_, err = c.PollCIBA(ctx, r.AuthReqID)
		if got := tokenError(t, err); got != "slow_down" {
			t.Errorf("a poll 6 s later, after slow_down: %s, want slow_down", got)
		}
		advance("16s")
		_, err = c.PollCIBA(ctx, r.AuthReqID)
		if got := tokenError(t, err); got != "authorization_pending" {
			t.Errorf("a poll after the interval: %s, want authorization_pending", got)
		}
		if err := c.HeadlessCIBA(ctx, r.AuthReqID, "alice", "alice123", "approve", nil); err != nil {
			t.Fatal(err)
		}
		advance("20s")
		toks, err := c.PollCIBA(ctx, r.AuthReqID)
		if err != nil {
			t.Fatal(err)
		}
		var claims struct {
			Intent string `json:"openbanking_intent_id"`
		}
		if toks.IDToken == nil || toks.IDToken.Claims(&claims) != nil || claims.Intent == "" || toks.RefreshToken == "" {
			t.Errorf("tokens: ID token %v, refresh %q", claims, toks.RefreshToken)
		}
		idToken, _ = toks.Extra("id_token").(string)
		if want := map[string]string{oauth.ProfileFAPI: "Bearer", oauth.ProfileFAPI2: "DPoP"}[profile]; toks.TokenType != want {
			t.Errorf("token_type %q, want %q", toks.TokenType, want)
		}
		if err := c.Call(ctx, http.MethodGet, ais+"/accounts", "", toks.AccessToken, nil, 200, nil); err != nil {
			t.Error(err)
		}
		advance("20s")
		_, err = c.PollCIBA(ctx, r.AuthReqID)
		if got := tokenError(t, err); got != "invalid_grant" {
			t.Errorf("the auth_req_id used twice: %s, want invalid_grant", got)
		}
	})
	t.Run("ErrDenied", func(t *testing.T) {
		r := ask(tpp.CIBAOptions{})
		if err := c.HeadlessCIBA(ctx, r.AuthReqID, "alice", "alice123", "deny", nil); err != nil {
			t.Fatal(err)
		}
		_, err := c.PollCIBA(ctx, r.AuthReqID)
		if got := tokenError(t, err); got != "access_denied" {
			t.Errorf("denied: %s, want access_denied", got)
		}
	})
	t.Run("ErrExpired", func(t *testing.T) {
		r := ask(tpp.CIBAOptions{Claims: map[string]any{"requested_expiry": 60}})
		if r.ExpiresIn != 60 {
			t.Errorf("expires_in %d, want 60", r.ExpiresIn)
		}
		advance("61s")
		_, err := c.PollCIBA(ctx, r.AuthReqID)
		if got := tokenError(t, err); got != "expired_token" {
			t.Errorf("after expiry: %s, want expired_token", got)
		}
		var te *tpp.TokenError
		if err := c.HeadlessCIBA(ctx, r.AuthReqID, "alice", "alice123", "approve", nil); !errors.As(err, new(*tpp.StatusError)) && !errors.As(err, &te) {
			t.Errorf("approving an expired request: %v, want refused", err)
		}
	})
	t.Run("Hints", func(t *testing.T) {
		if idToken == "" {
			t.Skip("no ID token from the journey")
		}
		lht, _ := c.LoginHintToken("alice")
		for name, o := range map[string]tpp.CIBAOptions{"IDTokenHint": {IDTokenHint: idToken}, "LoginHintToken": {LoginHintToken: lht}} {
			r := ask(o)
			if err := c.HeadlessCIBA(ctx, r.AuthReqID, "alice", "alice123", "approve", nil); err != nil {
				t.Errorf("%s: alice approving: %v", name, err)
			}
		}
	})
	t.Run("ErrRequest", func(t *testing.T) {
		now := s.app.Clock.Wall()
		lht, _ := c.LoginHintToken("alice")
		for name, tc := range map[string]struct {
			o    tpp.CIBAOptions
			want string
		}{
			"UnknownPSU":      {tpp.CIBAOptions{LoginHint: "mallory"}, "unknown_user_id"},
			"TwoHints":        {tpp.CIBAOptions{LoginHint: "alice", LoginHintToken: lht}, "invalid_request"},
			"NoHint":          {tpp.CIBAOptions{LoginHint: "alice", Claims: map[string]any{"login_hint": nil}}, "invalid_request"},
			"NoIntent":        {tpp.CIBAOptions{LoginHint: "alice", Claims: map[string]any{"claims": nil}}, "invalid_request"},
			"NoOpenID":        {tpp.CIBAOptions{LoginHint: "alice", Scope: "accounts"}, "invalid_scope"},
			"WrongScope":      {tpp.CIBAOptions{LoginHint: "alice", Scope: "openid payments"}, "invalid_scope"},
			"NoJTI":           {tpp.CIBAOptions{LoginHint: "alice", Claims: map[string]any{"jti": nil}}, "invalid_request"},
			"AudNotIssuer":    {tpp.CIBAOptions{LoginHint: "alice", Claims: map[string]any{"aud": s.url + "/as/bc-authorize"}}, "invalid_request"},
			"LivesTooLong":    {tpp.CIBAOptions{LoginHint: "alice", Claims: map[string]any{"exp": now.Add(61 * time.Minute).Unix()}}, "invalid_request"},
			"NoNbf":           {tpp.CIBAOptions{LoginHint: "alice", Claims: map[string]any{"nbf": nil}}, "invalid_request"},
			"LongBindingMsg":  {tpp.CIBAOptions{LoginHint: "alice", BindingMessage: strings.Repeat("x", 65)}, "invalid_binding_message"},
			"IssAnotherValue": {tpp.CIBAOptions{LoginHint: "alice", Claims: map[string]any{"iss": "someone-else"}}, "invalid_request"},
		} {
			_, err := c.BackchannelAuthorize(ctx, consent(), tc.o)
			if got := tokenError(t, err); got != tc.want {
				t.Errorf("%s: %s, want %s", name, got, tc.want)
			}
		}
		r := ask(tpp.CIBAOptions{})
		form := url.Values{"request": {r.Request}}
		var out struct{ Error string }
		if st, _ := c.PostForm(ctx, s.url+"/as/bc-authorize", form, &out); st != 400 || out.Error != "invalid_request" {
			t.Errorf("a replayed authentication request: %d %s", st, out.Error)
		}
	})
	t.Run("ErrHeadless", func(t *testing.T) {
		r := ask(tpp.CIBAOptions{})
		for name, tc := range map[string]struct {
			body   map[string]any
			status int
		}{
			"AnotherPSU":    {map[string]any{"auth_req_id": r.AuthReqID, "username": "bob", "password": "bob123", "decision": "approve"}, 403},
			"Unknown":       {map[string]any{"auth_req_id": "nope", "username": "alice", "password": "alice123", "decision": "approve"}, 403},
			"WrongPassword": {map[string]any{"auth_req_id": r.AuthReqID, "username": "alice", "password": "nope", "decision": "approve"}, 401},
			"Two":           {map[string]any{"auth_req_id": r.AuthReqID, "authorize_url": s.url + "/as/authorize", "username": "alice", "password": "alice123", "decision": "approve"}, 400},
			"None":          {map[string]any{"username": "alice", "password": "alice123", "decision": "approve"}, 400},
			// A Berlin Group authorisation the PSU does not have, and a URL that names none.
			"BerlinGroupUnknown": {map[string]any{"authorisation_url": s.url + "/psd2/v1/consents/x/authorisations/y", "username": "alice", "password": "alice123", "decision": "approve"}, 403},
			"BerlinGroupNotOne":  {map[string]any{"authorisation_url": s.url + "/psd2/v1/consents/x", "username": "alice", "password": "alice123", "decision": "approve"}, 400},
			"ForeignAccount": {map[string]any{"auth_req_id": r.AuthReqID, "username": "alice", "password": "alice123", "decision": "approve",
				"accounts": s.accountsOf("bob")}, 400},
		} {
			if got := s.do(req{method: "POST", path: "/sandbox/psu/authorize", body: tc.body}); got.Status != tc.status {
				t.Errorf("%s: %d %s, want %d", name, got.Status, got.Body, tc.status)
			}
		}
		if err := c.HeadlessCIBA(ctx, r.AuthReqID, "alice", "alice123", "approve", nil); err != nil {
			t.Errorf("alice, after the refusals: %v", err)
		}
	})
	t.Run("Ping", func(t *testing.T) {
		pings := make(chan string, 4)
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			pings <- r.Method + " " + r.URL.Path + " " + r.Header.Get("Authorization") + " " + string(b)
			w.WriteHeader(http.StatusNoContent)
		}))
		cert, err := s.app.CA.Issue(ctx, pki.Request{CommonName: "127.0.0.1", Hosts: []string{"127.0.0.1"}, Server: true}, s.app.Clock.Wall())
		if err != nil {
			t.Fatal(err)
		}
		pair, _ := tls.X509KeyPair(cert.CertPEM, cert.KeyPEM)
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
		srv.StartTLS()
		defer srv.Close()
		p := s.strictTPP(dpop, func(c *tpp.Client) { c.CIBAMode, c.CIBANotify = "ping", srv.URL+"/cb" })
		pcc, err := p.ClientCredentials(ctx, "accounts")
		if err != nil {
			t.Fatal(err)
		}
		id, _ := p.AccountConsent(ctx, pcc, []string{"ReadAccountsBasic"}, nil)
		if _, err := p.BackchannelAuthorize(ctx, id, tpp.CIBAOptions{LoginHint: "alice"}); tokenError(t, err) != "invalid_request" {
			t.Errorf("ping without client_notification_token: %v", err)
		}
		r, err := p.BackchannelAuthorize(ctx, id, tpp.CIBAOptions{LoginHint: "alice", NotificationToken: "tpp-secret-8a7c"})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.HeadlessCIBA(ctx, r.AuthReqID, "alice", "alice123", "approve", nil); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-pings:
			var body struct {
				AuthReqID string `json:"auth_req_id"`
			}
			_, raw, _ := strings.Cut(got, "8a7c ")
			if !strings.HasPrefix(got, "POST /cb Bearer tpp-secret-8a7c ") || json.Unmarshal([]byte(raw), &body) != nil || body.AuthReqID != r.AuthReqID {
				t.Errorf("ping %q", got)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no ping")
		}
		if _, err := p.PollCIBA(ctx, r.AuthReqID); err != nil {
			t.Errorf("tokens after the ping: %v", err)
		}
	})
	t.Run("PSUPages", func(t *testing.T) {
		r := ask(tpp.CIBAOptions{BindingMessage: "K9-TRAIN"})
		jar, _ := cookiejar.New(nil)
		hc := s.mtlsClient(nil)
		hc.Jar = jar
		get := func(u string) string {
			resp, err := hc.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return string(b)
		}
		post := func(u string, v url.Values) (int, string) {
			resp, err := hc.PostForm(u, v)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`)
		page := get(s.url + "/psu/apps")
		if st, _ := post(s.url+"/psu/login", url.Values{"csrf": {csrf.FindStringSubmatch(page)[1]}, "username": {"alice"}, "password": {"alice123"}}); st != http.StatusSeeOther {
			t.Fatalf("the login: %d", st)
		}
		page = get(s.url + "/psu/apps")
		link := regexp.MustCompile(`href="(/psu/approvals/[0-9a-f]+)">[^\n]*K9-TRAIN`).FindStringSubmatch(page)
		if link == nil || !strings.Contains(page, "Waiting for your approval") || !strings.Contains(page, "K9-TRAIN") {
			t.Fatalf("the apps page lists no pending approval:\n%s", page)
		}
		page = get(s.url + link[1])
		acct := regexp.MustCompile(`name="accounts" value="([^"]+)"`).FindStringSubmatch(page)
		if !strings.Contains(page, "K9-TRAIN") || acct == nil {
			t.Fatalf("the approval page:\n%s", page)
		}
		if st, _ := post(s.url+link[1]+"/decision", url.Values{"csrf": {"forged"}, "decision": {"approve"}, "accounts": {acct[1]}}); st != 400 {
			t.Errorf("a decision with a forged CSRF token: %d", st)
		}
		st, body := post(s.url+link[1]+"/decision", url.Values{"csrf": {csrf.FindStringSubmatch(page)[1]}, "decision": {"approve"}, "accounts": {acct[1]}})
		if st != 200 || !strings.Contains(body, "You approved") || strings.Contains(body, "K9-TRAIN") {
			t.Errorf("the decision: %d\n%s", st, body)
		}
		toks, err := c.PollCIBA(ctx, r.AuthReqID)
		if err != nil {
			t.Fatal(err)
		}
		var accts struct {
			Data struct{ Account []struct{ AccountId string } }
		}
		if err := c.Call(ctx, http.MethodGet, ais+"/accounts", "", toks.AccessToken, nil, 200, &accts); err != nil || len(accts.Data.Account) != 1 || accts.Data.Account[0].AccountId != acct[1] {
			t.Errorf("the accounts the PSU picked in the page: %v %+v", err, accts)
		}
	})
}
