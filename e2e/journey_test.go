package e2e

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/obsandbox/sandbox/internal/app"
	"github.com/obsandbox/sandbox/internal/tpp"
)

// realIssuer makes the sandbox's issuer its own URL, as client libraries
// (go-oidc discovery) require.
func realIssuer() option { return func(c *app.Config) { c.Issuer = "" } }

const callback = "https://tpp.example/callback"

// newTPP registers a reference TPP with the sandbox; every answer it gets is
// validated against the contracts.
func (s *sandbox) newTPP(authMethod string) *tpp.Client {
	s.t.Helper()
	ctx := context.Background()
	c, err := tpp.New(ctx, s.url, callback, s.tppKey())
	if err != nil {
		s.t.Fatal(err)
	}
	c.Now = s.app.Clock.Wall
	t := s.t
	c.Trace = func(req *http.Request, _ []byte, resp *http.Response, body []byte) {
		checkResponse(t, req, resp.StatusCode, resp.Header, body)
	}
	if err := c.Register(ctx, authMethod); err != nil {
		s.t.Fatal(err)
	}
	return c
}

// TestAISJourney is the TPP developer's journey end to end, headless: register
// (private_key_jwt), client credentials, consent, PSU approval of two of
// alice's accounts (hybrid flow, ID token verified by go-oidc), code exchange
// with x/oauth2, reads, refresh, and loss of access the moment the consent
// is deleted.
func TestAISJourney(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.newTPP("private_key_jwt")
	alice := s.accountsOf("alice")
	toks, consentID, err := c.AISJourney(ctx, "alice", "alice123", tpp.AllPermissions, alice[:2])
	if err != nil {
		t.Fatal(err)
	}
	if toks.IDToken == nil || toks.RefreshToken == "" {
		t.Fatal("the code exchange gave no ID token or refresh token")
	}
	got := items(t, s.get(ais+"/accounts", toks.AccessToken), "Account")
	if len(got) != 2 || got[0]["AccountId"] != alice[0] || got[1]["AccountId"] != alice[1] {
		t.Fatalf("accounts %v, want the two alice chose", got)
	}
	expect(t, s.get(ais+"/accounts/"+alice[2], toks.AccessToken), 403)

	cc, err := c.ClientCredentials(ctx, "accounts")
	if err != nil {
		t.Fatal(err)
	}
	var cn struct{ Data struct{ Status string } }
	s.get(ais+"/account-access-consents/"+consentID, cc).JSON(t, &cn)
	if cn.Data.Status != "Authorised" {
		t.Errorf("consent status %s, want Authorised", cn.Data.Status)
	}

	fresh, err := c.Refresh(ctx, toks.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, s.get(ais+"/accounts", fresh.AccessToken), 200)
	if _, err := c.Refresh(ctx, toks.RefreshToken); err == nil {
		t.Error("a rotated-out refresh token worked again")
	}
	// Reusing the old refresh token revoked the whole family.
	expect(t, s.get(ais+"/accounts", fresh.AccessToken), 401)

	toks, consentID, err = c.AISJourney(ctx, "alice", "alice123", []string{"ReadAccountsBasic"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, s.get(ais+"/accounts", toks.AccessToken), 200)
	expect(t, s.do(req{method: "DELETE", path: ais + "/account-access-consents/" + consentID, token: cc}), 204)
	r := s.get(ais+"/accounts", toks.AccessToken)
	expect(t, r, 401)
	if len(r.Body) != 0 {
		t.Errorf("401 with a body: %s", r.Body)
	}
	if _, err := c.Refresh(ctx, toks.RefreshToken); err == nil {
		t.Error("refresh after the consent was deleted worked")
	}
	expect(t, s.get(ais+"/account-access-consents/"+consentID, cc), 400)
}

// TestCodeFlowWithPAR uses response_type=code with PKCE, the request pushed
// by PAR, and a client_secret_basic client (dev) whose refresh goes through
// x/oauth2's TokenSource.
func TestCodeFlowWithPAR(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.newTPP("client_secret_basic")
	cc, err := c.ClientCredentials(ctx, "accounts")
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.AccountConsent(ctx, cc, []string{"ReadAccountsDetail", "ReadBalances"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.Authorize(ctx, id, tpp.AuthOptions{Flow: tpp.Code, PAR: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(a.URL, "request_uri=urn") {
		t.Fatalf("no PAR request_uri in %s", a.URL)
	}
	to, err := c.Headless(ctx, a, "bob", "bob123", "approve", nil)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(to)
	if u.Query().Get("iss") != s.url || u.Fragment != "" {
		t.Fatalf("code flow redirect %s: want iss in the query (RFC 9207), no fragment", to)
	}
	code, err := c.Callback(ctx, a, to)
	if err != nil {
		t.Fatal(err)
	}
	toks, err := c.Exchange(ctx, a, code)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, s.get(ais+"/balances", toks.AccessToken), 200)
	fresh, err := c.Refresh(ctx, toks.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, s.get(ais+"/balances", fresh.AccessToken), 200)
	// The PAR request_uri is single use.
	if _, err := c.Headless(ctx, a, "bob", "bob123", "approve", nil); err == nil {
		t.Error("a used request_uri worked again")
	}
}

// TestDenyAndPSURevocation: a PSU who denies sends access_denied back and
// the consent becomes Rejected; a PSU who revokes at the bank cuts the TPP
// off at once while the consent's status stays.
func TestDenyAndPSURevocation(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.newTPP("private_key_jwt")
	cc, _ := c.ClientCredentials(ctx, "accounts")
	id, err := c.AccountConsent(ctx, cc, []string{"ReadAccountsBasic"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := c.Authorize(ctx, id, tpp.AuthOptions{})
	to, err := c.Headless(ctx, a, "alice", "alice123", "deny", nil)
	if err != nil {
		t.Fatal(err)
	}
	var ce *tpp.CallbackError
	if _, err := c.Callback(ctx, a, to); !errors.As(err, &ce) || ce.Code != "access_denied" {
		t.Fatalf("deny gave %v, want access_denied", err)
	}
	var cn struct{ Data struct{ Status string } }
	s.get(ais+"/account-access-consents/"+id, cc).JSON(t, &cn)
	if cn.Data.Status != "Rejected" {
		t.Errorf("status after deny %s, want Rejected", cn.Data.Status)
	}

	toks, id, err := c.AISJourney(ctx, "alice", "alice123", []string{"ReadAccountsBasic"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	revoke := func(user, pass, consent string) *response {
		return s.do(req{method: "POST", path: "/sandbox/psu/revoke", body: map[string]string{"username": user, "password": pass, "consent_id": consent}})
	}
	expect(t, revoke("alice", "wrong", id), 401)
	expect(t, revoke("bob", "bob123", id), 403)
	expect(t, revoke("alice", "alice123", "aac-unknown"), 403)
	expect(t, s.get(ais+"/accounts", toks.AccessToken), 200)
	expect(t, revoke("alice", "alice123", id), 204)
	expect(t, s.get(ais+"/accounts", toks.AccessToken), 401)
	s.get(ais+"/account-access-consents/"+id, cc).JSON(t, &cn)
	if cn.Data.Status != "Authorised" {
		t.Errorf("status after PSU revocation %s, want it unchanged (Authorised)", cn.Data.Status)
	}
	if _, err := c.Refresh(ctx, toks.RefreshToken); err == nil {
		t.Error("refresh after PSU revocation worked")
	}
	var re *oauth2.RetrieveError
	_ = re
}
