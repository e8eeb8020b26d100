package e2e

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/obsandbox/sandbox/internal/app"
	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/tpp"
)

// Regression tests for the findings of the security review of the
// authorization server.

// TestCertificateBoundTokenWithoutCertificate: a token bound to a client
// certificate (RFC 8705) does not work without it.
func TestCertificateBoundTokenWithoutCertificate(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	c := s.newTPP("private_key_jwt")
	iss, err := s.app.Auth.IssueAccess(context.Background(), oauth.TokenRequest{ClientID: c.ClientID, Scope: "accounts",
		GrantType: oauth.GrantClientCredentials, CNF: "bm90LXRoZS1jZXJ0aWZpY2F0ZQ"})
	if err != nil {
		t.Fatal(err)
	}
	r := s.do(req{method: "POST", path: ais + "/account-access-consents", token: iss.Token,
		body: map[string]any{"Data": map[string]any{"Permissions": []string{"ReadAccountsBasic"}}, "Risk": map[string]any{}}})
	expect(t, r, 401)
}

// TestRegistrationManagementNeedsRegistrationToken: a client-credentials
// token cannot manage the registration; software fields cannot be set by
// the client.
func TestRegistrationManagementNeedsRegistrationToken(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	c := s.newTPP("private_key_jwt")
	cc, err := c.ClientCredentials(context.Background(), "accounts")
	if err != nil {
		t.Fatal(err)
	}
	path := "/as/register/" + c.ClientID
	m := c.Metadata("private_key_jwt")
	m["redirect_uris"] = []string{"https://evil.example/cb"}
	expect(t, s.do(req{method: "PUT", path: path, token: cc, body: m}), 401)
	m["software_id"], m["software_roles"] = "someone-elses", []string{"ASPSP"}
	r := s.do(req{method: "PUT", path: path, token: c.RegistrationToken, body: m})
	expect(t, r, 200)
	if strings.Contains(string(r.Body), "someone-elses") || strings.Contains(string(r.Body), "ASPSP") {
		t.Errorf("the client set its own software fields: %s", r.Body)
	}
	expect(t, s.do(req{method: "PUT", path: path, token: c.RegistrationToken, body: "x", header: map[string]string{"Content-Type": "text/plain"}}), 415)
}

// TestFAPIRules: code without PAR, JSON updates, localhost redirect URIs
// from a dev registration, software statement roles.
func TestFAPIRules(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "profiles.db")
	dev := start(t, realIssuer(), func(c *app.Config) { c.DB = db })
	ctx := context.Background()
	local, err := tpp.New(ctx, dev.url, "http://localhost:3000/cb", dev.tppKey())
	if err != nil {
		t.Fatal(err)
	}
	local.Now = dev.app.Clock.Wall
	if err := local.Register(ctx, "private_key_jwt"); err != nil {
		t.Fatal(err)
	}
	dev.stop()

	s := start(t, realIssuer(), withProfile("fapi"), func(c *app.Config) { c.DB = db })
	cert := s.certificate("fapi-tpp", false, false)
	local.Base, local.HTTP = s.url, s.mtlsClient(&cert)
	if err := local.Discover(ctx); err != nil {
		t.Fatal(err)
	}
	cc, err := local.ClientCredentials(ctx, "accounts")
	if err != nil {
		t.Fatal(err)
	}
	id, _ := local.AccountConsent(ctx, cc, []string{"ReadAccountsBasic"}, nil)
	a, _ := local.Authorize(ctx, id, tpp.AuthOptions{})
	expect(t, s.headless(a, "alice", "alice123", "approve"), 400)

	c, err := tpp.New(ctx, s.url, callback, tpp.WithHTTPClient(s.mtlsClient(&cert)), tpp.WithClock(s.app.Clock.Wall), s.tppKey())
	if err != nil {
		t.Fatal(err)
	}
	ssa := s.ssa(c, []string{"AISP"})
	if err := c.RegisterJWT(ctx, ssa); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ClientCredentials(ctx, "payments"); err == nil {
		t.Error("an AISP-only software statement got a payments token")
	}
	cc, err = c.ClientCredentials(ctx, "accounts")
	if err != nil {
		t.Fatal(err)
	}
	id, _ = c.AccountConsent(ctx, cc, []string{"ReadAccountsBasic"}, nil)
	a, _ = c.Authorize(ctx, id, tpp.AuthOptions{Flow: tpp.Code})
	if got := redirectError(t, s.headless(a, "alice", "alice123", "approve")); got != "invalid_request" {
		t.Errorf("fapi code flow without JARM: %q, want invalid_request", got)
	}
	if _, err := c.Authorize(ctx, id, tpp.AuthOptions{Flow: tpp.Code, PAR: true}); err == nil || !strings.Contains(err.Error(), "JARM") {
		t.Errorf("fapi code flow pushed without JARM: %v, want refused", err)
	}
	a, err = c.Authorize(ctx, id, tpp.AuthOptions{Flow: tpp.Code, PAR: true, ResponseMode: "jwt"})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, s.headless(a, "alice", "alice123", "approve"), 200)
	expect(t, s.do(req{method: "PUT", path: "/as/register/" + c.ClientID, token: c.RegistrationToken, body: c.Metadata("private_key_jwt")}), 400)
	// A registration request cannot be replayed (jti). (A fresh software
	// statement: the first one's software already has its client.)
	raw := c.RegisterJWTBody(s.ssa(c, []string{"AISP"}))
	expect(t, s.do(req{method: "POST", path: "/as/register", body: raw, header: map[string]string{"Content-Type": "application/jwt"}}), 201)
	expect(t, s.do(req{method: "POST", path: "/as/register", body: raw, header: map[string]string{"Content-Type": "application/jwt"}}), 400)
}

func (s *sandbox) ssa(c *tpp.Client, roles []string) string {
	s.t.Helper()
	var out struct {
		SSA string `json:"software_statement"`
	}
	r := s.do(req{method: "POST", path: "/sandbox/directory/software-statements", token: s.app.Config.AdminToken,
		body: map[string]any{"software_client_name": "T", "software_redirect_uris": []string{c.RedirectURI}, "software_jwks": c.JWKS(), "software_roles": roles}})
	expect(s.t, r, 201)
	r.JSON(s.t, &out)
	return out.SSA
}

// TestConcurrentRedemption: many redemptions of one code at once — exactly
// one gets tokens, and they are revoked because of the reuse.
func TestConcurrentRedemption(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.newTPP("client_secret_post")
	cc, _ := c.ClientCredentials(ctx, "accounts")
	for round := range 5 {
		id, _ := c.AccountConsent(ctx, cc, []string{"ReadAccountsBasic"}, nil)
		a, _ := c.Authorize(ctx, id, tpp.AuthOptions{Flow: tpp.Code})
		to, _ := c.Headless(ctx, a, "alice", "alice123", "approve", nil)
		code, err := c.Callback(ctx, a, to)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var won []string
		for range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var tok struct {
					AccessToken string `json:"access_token"`
				}
				st, _ := c.PostForm(ctx, s.url+"/as/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
					"redirect_uri": {callback}, "code_verifier": {a.Verifier}}, &tok)
				if st == 200 {
					mu.Lock()
					won = append(won, tok.AccessToken)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(won) > 1 {
			t.Fatalf("round %d: %d redemptions of one code succeeded", round, len(won))
		}
		for _, tok := range won {
			expect(t, s.get(ais+"/accounts", tok), 401)
		}
	}
}

// TestConcurrentRefresh: many refreshes with one token at once — at most one
// wins, and the reuse revokes the consent's tokens.
func TestConcurrentRefresh(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.newTPP("private_key_jwt")
	for round := range 5 {
		toks, _, err := c.AISJourney(ctx, "alice", "alice123", []string{"ReadAccountsBasic"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := c.Refresh(ctx, toks.RefreshToken); err == nil {
					mu.Lock()
					wins++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if wins > 1 {
			t.Fatalf("round %d: %d refreshes with one token succeeded", round, wins)
		}
	}
}

// TestCodeOfAnotherClientNotBurnt: another client presenting a code does not
// use it up or revoke the rightful client's tokens.
func TestCodeOfAnotherClientNotBurnt(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.newTPP("private_key_jwt")
	other := s.newTPP("private_key_jwt")
	cc, _ := c.ClientCredentials(ctx, "accounts")
	id, _ := c.AccountConsent(ctx, cc, []string{"ReadAccountsBasic"}, nil)
	a, _ := c.Authorize(ctx, id, tpp.AuthOptions{})
	to, _ := c.Headless(ctx, a, "alice", "alice123", "approve", nil)
	code, err := c.Callback(ctx, a, to)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := other.PostForm(ctx, s.url+"/as/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {callback}}, nil); st != 400 {
		t.Fatalf("another client's redemption: %d", st)
	}
	toks, err := c.Exchange(ctx, a, code)
	if err != nil {
		t.Fatal(err)
	}
	other.PostForm(ctx, s.url+"/as/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {callback}}, nil)
	expect(t, s.get(ais+"/accounts", toks.AccessToken), 200)
}

// TestReauthorisationAfterPSURevocation: the PSU who revoked can grant the
// same consent again (SPEC §8); another PSU cannot.
func TestReauthorisationAfterPSURevocation(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.newTPP("private_key_jwt")
	toks, id, err := c.AISJourney(ctx, "alice", "alice123", []string{"ReadAccountsBasic"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, s.do(req{method: "POST", path: "/sandbox/psu/revoke", body: map[string]string{"username": "alice", "password": "alice123", "consent_id": id}}), 204)
	expect(t, s.get(ais+"/accounts", toks.AccessToken), 401)
	a, _ := c.Authorize(ctx, id, tpp.AuthOptions{})
	if got := redirectError(t, s.headless(a, "bob", "bob123", "approve")); got != "access_denied" {
		t.Errorf("another PSU re-authorising: %q", got)
	}
	fresh, err := c.Approve(ctx, id, tpp.AuthOptions{}, "alice", "alice123", nil)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, s.get(ais+"/accounts", fresh.AccessToken), 200)
	expect(t, s.get(ais+"/accounts", toks.AccessToken), 401)
}

// TestHeadlessPARSurvivesWrongPassword: a typo in the password does not use
// up the pushed request.
func TestHeadlessPARSurvivesWrongPassword(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.newTPP("private_key_jwt")
	cc, _ := c.ClientCredentials(ctx, "accounts")
	id, _ := c.AccountConsent(ctx, cc, []string{"ReadAccountsBasic"}, nil)
	a, err := c.Authorize(ctx, id, tpp.AuthOptions{PAR: true})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, s.headless(a, "alice", "typo", "approve"), 401)
	expect(t, s.headless(a, "alice", "alice123", "approve"), 200)
	expect(t, s.headless(a, "alice", "alice123", "approve"), 400)
}

// TestResetKeepsUsedAssertions: an assertion used before a reset cannot be
// replayed after it.
func TestResetKeepsUsedAssertions(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	c := s.newTPP("private_key_jwt")
	as, _ := c.Assertion(nil)
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"accounts"},
		"client_assertion_type": {oauth.AssertionType}, "client_assertion": {as}}
	expect(t, s.postForm("/as/token", form), 200)
	expect(t, s.do(req{method: "POST", path: "/sandbox/reset", token: s.app.Config.AdminToken}), 204)
	expect(t, s.postForm("/as/token", form), 401)
}

// TestOversizedOAuthBodies: the body limit answers 413 on every endpoint.
func TestOversizedOAuthBodies(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	big := strings.Repeat("a", 1<<20+10)
	expect(t, s.do(req{method: "POST", path: "/as/token", body: "grant_type=" + big, header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}), 413)
	expect(t, s.do(req{method: "POST", path: "/sandbox/psu/authorize", body: `{"authorize_url":"` + big + `"}`}), 413)
	expect(t, s.do(req{method: "POST", path: "/as/register", body: `{"client_name":"` + big + `"}`}), 413)
}

// TestJWKSURIKeysChecked: keys fetched from jwks_uri pass the same checks
// as inline ones (a 1024-bit RSA key is refused).
func TestJWKSURIKeysChecked(t *testing.T) {
	t.Parallel()
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &weak.PublicKey, KeyID: "weak", Algorithm: "PS256", Use: "sig"}}}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { json.NewEncoder(w).Encode(set) }))
	defer srv.Close()
	s := start(t, realIssuer(), withPrivateJWKS(srv))
	r := s.do(req{method: "POST", path: "/as/register", body: map[string]any{"redirect_uris": []string{callback},
		"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": srv.URL + "/jwks"}})
	expect(t, r, 201)
	var reg struct {
		ClientID string `json:"client_id"`
	}
	r.JSON(t, &reg)
	now := s.app.Clock.Wall()
	tok := jwt.NewWithClaims(jwt.SigningMethodPS256, jwt.MapClaims{"iss": reg.ClientID, "sub": reg.ClientID, "aud": s.url,
		"jti": uuid.NewString(), "exp": now.Add(time.Minute).Unix()})
	tok.Header["kid"] = "weak"
	as, _ := tok.SignedString(weak)
	r = s.postForm("/as/token", url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {oauth.AssertionType}, "client_assertion": {as}})
	expect(t, r, 401)
	if strings.Contains(string(r.Body), srv.URL) {
		t.Errorf("the error leaks the fetch: %s", r.Body)
	}
	_, _ = io.Discard, errors.New
}
