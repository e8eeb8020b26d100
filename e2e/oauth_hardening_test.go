package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/obsandbox/sandbox/internal/app"
	"github.com/obsandbox/sandbox/internal/gateway"
	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/tpp"
)

// Regression tests for the hardening of the authorization server seen from
// outside: what a TPP, a PSU or a stranger on the network can make it do.

// TestRevokedRefreshIsNotReuse: reuse detection is for rotated-out refresh
// tokens (RFC 9700 §4.14.2). A refresh token revoked by the PSU, by the
// TPP's consent deletion or by RFC 7009 gets invalid_grant and nothing
// else — with --anomaly-response suspend one refresh attempt must not take
// the TPP offline for all its customers. A rotated-out one still counts.
func TestRevokedRefreshIsNotReuse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := start(t, realIssuer(), func(c *app.Config) { c.AnomalyResponse = "suspend" })
	c := s.newTPP("private_key_jwt")
	journey := func() (*tpp.Tokens, string) {
		t.Helper()
		toks, consent, err := c.AISJourney(ctx, "alice", "alice123", []string{"ReadAccountsBasic"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return toks, consent
	}
	refreshFails := func(name, refresh string) {
		t.Helper()
		_, err := c.Refresh(ctx, refresh)
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
			t.Fatalf("%s: refresh gave %v, want invalid_grant", name, err)
		}
		if evs := s.events(); len(evs) != 0 {
			t.Fatalf("%s: a refresh with a revoked token raised %+v", name, evs)
		}
		if _, err := c.ClientCredentials(ctx, "accounts"); err != nil {
			t.Fatalf("%s: the client was stopped: %v", name, err)
		}
	}

	toks, consent := journey()
	expect(t, s.do(req{method: "POST", path: "/sandbox/psu/revoke", body: map[string]string{"username": "alice", "password": "alice123",
		"consent_id": consent}}), 204)
	refreshFails("RevokedByPSU", toks.RefreshToken)

	toks, consent = journey()
	cc, err := c.ClientCredentials(ctx, "accounts")
	if err != nil {
		t.Fatal(err)
	}
	expect(t, s.do(req{method: "DELETE", path: ais + "/account-access-consents/" + consent, token: cc}), 204)
	refreshFails("ConsentDeleted", toks.RefreshToken)

	toks, _ = journey()
	if status, err := c.PostForm(ctx, s.url+"/as/revoke", url.Values{"token": {toks.RefreshToken}}, nil); err != nil || status != 200 {
		t.Fatalf("RFC 7009 revocation: %d %v", status, err)
	}
	refreshFails("RevokedByTPP", toks.RefreshToken)

	// A rotated-out token presented again is still reuse.
	toks, _ = journey()
	if _, err := c.Refresh(ctx, toks.RefreshToken); err != nil {
		t.Fatal(err)
	}
	c.Refresh(ctx, toks.RefreshToken)
	evs := s.events()
	if len(evs) != 1 || evs[0].Rule != "refresh_token_reuse" || evs[0].Action != "suspended" {
		t.Fatalf("events %+v, want one refresh_token_reuse suspension", evs)
	}
}

// TestDetectionResumesAfterUnsuspend: once an administrator lifts a
// suspension, the same behaviour is detected (and suspended) again.
func TestDetectionResumesAfterUnsuspend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := start(t, realIssuer(), func(c *app.Config) { c.AnomalyResponse = "suspend" })
	c := s.newTPP("private_key_jwt")
	toks, _, err := c.AISJourney(ctx, "alice", "alice123", []string{"ReadAccountsBasic"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	foreign := append(s.accountsOf("bob"), s.accountsOf("carol")...)[:3]
	probe := func() {
		for _, id := range foreign {
			s.get(ais+"/accounts/"+id, toks.AccessToken)
		}
	}
	probe()
	if evs := s.events(); len(evs) != 1 || evs[0].Action != "suspended" {
		t.Fatalf("events %+v, want one suspension", evs)
	}
	expect(t, s.do(req{method: "POST", path: "/sandbox/clients/" + c.ClientID + "/unsuspend", token: s.app.Config.AdminToken}), 204)
	expect(t, s.get(ais+"/accounts", toks.AccessToken), 200)
	probe()
	evs := s.events()
	if len(evs) != 2 || evs[1].Rule != "bola_probe" || evs[1].Action != "suspended" {
		t.Fatalf("events %+v, want a second bola_probe suspension", evs)
	}
	expect(t, s.get(ais+"/accounts", toks.AccessToken), 403)
}

// TestAuthTimeIsWhenThePSUAuthenticated: auth_time in every ID token of a
// grant is when the PSU authenticated at the bank — the hybrid flow's, the
// token endpoint's and the refreshed ones alike (OIDC Core §2, §12.2) —
// while iat moves on.
func TestAuthTimeIsWhenThePSUAuthenticated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var skew atomic.Int64 // real time (and so the sandbox clock) moved on by the test
	s := start(t, realIssuer(), func(c *app.Config) {
		wall := c.Wall
		c.Wall = func() time.Time { return wall().Add(time.Duration(skew.Load())) }
	})
	c := s.newTPP("private_key_jwt")
	cc, err := c.ClientCredentials(ctx, "accounts")
	if err != nil {
		t.Fatal(err)
	}
	consent, err := c.AccountConsent(ctx, cc, []string{"ReadAccountsBasic"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.Authorize(ctx, consent, tpp.AuthOptions{})
	if err != nil {
		t.Fatal(err)
	}
	before := s.app.Clock.Wall().Unix()
	to, err := c.Headless(ctx, a, "alice", "alice123", "approve", nil)
	if err != nil {
		t.Fatal(err)
	}
	after := s.app.Clock.Wall().Unix()
	type idClaims struct{ AuthTime, IssuedAt int64 }
	claimsOf := func(raw string) idClaims {
		t.Helper()
		var cl jwt.MapClaims
		if _, _, err := jwt.NewParser().ParseUnverified(raw, &cl); err != nil {
			t.Fatalf("ID token: %v", err)
		}
		authTime, _ := cl["auth_time"].(float64)
		iat, _ := cl["iat"].(float64)
		return idClaims{AuthTime: int64(authTime), IssuedAt: int64(iat)}
	}
	u, _ := url.Parse(to)
	frag, _ := url.ParseQuery(u.Fragment)
	front := claimsOf(frag.Get("id_token"))
	if front.AuthTime < before || front.AuthTime > after {
		t.Fatalf("the hybrid ID token's auth_time %d is not the approval's time (%d..%d)", front.AuthTime, before, after)
	}
	code, err := c.Callback(ctx, a, to)
	if err != nil {
		t.Fatal(err)
	}
	toks, err := c.Exchange(ctx, a, code)
	if err != nil {
		t.Fatal(err)
	}
	refresh := toks.RefreshToken
	idToken, _ := toks.Extra("id_token").(string)
	for i := range 3 {
		got := claimsOf(idToken)
		if got.AuthTime != front.AuthTime {
			t.Errorf("ID token %d: auth_time %d, want the PSU's authentication at %d", i, got.AuthTime, front.AuthTime)
		}
		if got.IssuedAt < front.AuthTime+int64(i)*3600 {
			t.Errorf("ID token %d: iat %d did not move on", i, got.IssuedAt)
		}
		skew.Add(int64(time.Hour))
		var out struct {
			IDToken      string `json:"id_token"`
			RefreshToken string `json:"refresh_token"`
		}
		if status, err := c.PostForm(ctx, s.url+"/as/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, &out); err != nil || status != 200 {
			t.Fatalf("refresh %d: %d %v", i, status, err)
		}
		refresh, idToken = out.RefreshToken, out.IDToken
	}
}

// TestOneClientAuthenticationMethod: a request may authenticate its client
// one way only (RFC 6749 §2.3); two at once — even for two different
// clients — is invalid_request, at every endpoint that authenticates a
// client.
func TestOneClientAuthenticationMethod(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	a := s.newTPP("private_key_jwt")
	b := s.newTPP("client_secret_basic")
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(b.ClientID)+":"+url.QueryEscape(b.ClientSecret)))
	send := func(path string, form url.Values, withBasic bool) *response {
		t.Helper()
		h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
		if withBasic {
			h["Authorization"] = basic
		}
		return s.do(req{method: "POST", path: path, body: form.Encode(), header: h})
	}
	assertion := func() url.Values {
		as, err := a.Assertion(nil)
		if err != nil {
			t.Fatal(err)
		}
		return url.Values{"client_assertion_type": {oauth.AssertionType}, "client_assertion": {as}}
	}
	with := func(v url.Values, kv ...string) url.Values {
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	cc := []string{"grant_type", "client_credentials", "scope", "accounts"}
	expect(t, send("/as/token", with(assertion(), cc...), false), 200)
	expect(t, send("/as/token", with(url.Values{}, cc...), true), 200)
	tests := []struct {
		name      string
		path      string
		form      url.Values
		withBasic bool
	}{
		{"BasicForBAssertionForA", "/as/token", with(assertion(), cc...), true},
		{"BasicAndPostSameClient", "/as/token", with(url.Values{}, append(cc, "client_id", b.ClientID, "client_secret", b.ClientSecret)...), true},
		{"PostAndAssertion", "/as/token", with(assertion(), append(cc, "client_id", a.ClientID, "client_secret", "x")...), false},
		{"Introspection", "/as/introspect", with(assertion(), "token", "x"), true},
		{"Revocation", "/as/revoke", with(assertion(), "token", "x"), true},
		{"PAR", "/as/par", with(assertion(), "response_type", "code"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := send(tt.path, tt.form, tt.withBasic)
			expect(t, r, 400)
			if e := oauthError(t, r); e != "invalid_request" || !strings.Contains(string(r.Body), "more than one client authentication method") {
				t.Errorf("%s, want invalid_request for two authentication methods", r.Body)
			}
		})
	}
}

// TestAuthorizationParametersAreText: a control character in any
// authorization request parameter — state or nonce, in the query, inside the
// request object, or pushed (PAR) — is refused, and never sent back.
func TestAuthorizationParametersAreText(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := start(t, realIssuer())
	c := s.newTPP("private_key_jwt")
	cc, err := c.ClientCredentials(ctx, "accounts")
	if err != nil {
		t.Fatal(err)
	}
	consent := func() string {
		t.Helper()
		id, err := c.AccountConsent(ctx, cc, []string{"ReadAccountsBasic"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	refused := func(t *testing.T, r *response) {
		t.Helper()
		expect(t, r, 400)
		if strings.Contains(string(r.Body), "redirect_to") || !strings.Contains(string(r.Body), "control characters") {
			t.Errorf("got %s, want a refusal for control characters", r.Body)
		}
	}
	for _, bad := range []string{"a\nb", "a\x00b", "a\x7fb", "a\u0085b"} {
		for _, claim := range []string{"state", "nonce", "scope", "code_challenge_method", "ui_locales"} {
			t.Run("RequestObject/"+claim+"/"+fmt.Sprintf("%q", bad), func(t *testing.T) {
				a, err := c.Authorize(ctx, consent(), tpp.AuthOptions{Claims: map[string]any{claim: bad}})
				if err != nil {
					t.Fatal(err)
				}
				refused(t, s.headless(a, "alice", "alice123", "approve"))
			})
		}
	}
	t.Run("RequestObject/acr", func(t *testing.T) {
		id := consent()
		a, _ := c.Authorize(ctx, id, tpp.AuthOptions{Claims: map[string]any{"claims": map[string]any{"id_token": map[string]any{
			"openbanking_intent_id": map[string]any{"value": id}, "acr": map[string]any{"values": []string{"urn:openbanking:psd2:sca\r\n"}}}}}})
		refused(t, s.headless(a, "alice", "alice123", "approve"))
	})
	t.Run("Query", func(t *testing.T) {
		a, _ := c.Authorize(ctx, consent(), tpp.AuthOptions{})
		a.URL += "&state=" + url.QueryEscape("x\ny")
		refused(t, s.headless(a, "alice", "alice123", "approve"))
	})
	plainPAR := func(mod func(url.Values)) (int, string) {
		v := url.Values{"response_type": {"code"}, "redirect_uri": {callback}, "scope": {"openid accounts"}, "state": {"s"},
			"nonce": {"n"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"},
			"claims": {"{\n  \"id_token\": {\n    \"openbanking_intent_id\": {\"value\": \"" + consent() + "\"}\n  }\n}"}}
		mod(v)
		var out struct {
			Description string `json:"error_description"`
		}
		status, err := c.PostForm(ctx, s.url+"/as/par", v, &out)
		if err != nil {
			t.Fatal(err)
		}
		return status, out.Description
	}
	t.Run("PAROK", func(t *testing.T) {
		if status, desc := plainPAR(func(url.Values) {}); status != 201 {
			t.Fatalf("a clean pushed request (claims JSON with line breaks): %d %s", status, desc)
		}
	})
	for _, p := range []string{"state", "nonce", "redirect_uri"} {
		t.Run("PAR/"+p, func(t *testing.T) {
			status, desc := plainPAR(func(v url.Values) { v.Set(p, v.Get(p)+"\t") })
			if status != 400 || !strings.Contains(desc, "control characters") {
				t.Errorf("%d %s, want 400 for control characters", status, desc)
			}
		})
	}
	t.Run("PAR/RequestObject", func(t *testing.T) {
		_, err := c.Authorize(ctx, consent(), tpp.AuthOptions{PAR: true, Claims: map[string]any{"nonce": "n\x1b[31m"}})
		if err == nil || !strings.Contains(err.Error(), "control characters") {
			t.Errorf("PAR with a control character in the request object: %v", err)
		}
	})
}

// TestRegistrationBounds: redirect URIs are exact URLs (no wildcard, no
// fragment); a software statement registers one client (changes go through
// PUT on it); a signed registration request lives at most an hour.
func TestRegistrationBounds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := start(t, realIssuer())
	c, err := tpp.New(ctx, s.url, callback, tpp.WithClock(s.app.Clock.Wall), s.tppKey())
	if err != nil {
		t.Fatal(err)
	}
	for _, uri := range []string{"https://*.example.com/cb", "https://app.example/*", "https://app.example/cb/*/x",
		"https://app.example/cb#frag", "https://app.example/cb#", "https://app_example.com/cb"} {
		t.Run("RedirectURI/"+uri, func(t *testing.T) {
			r := s.do(req{method: "POST", path: "/as/register", body: map[string]any{"redirect_uris": []string{uri},
				"token_endpoint_auth_method": "private_key_jwt", "jwks": c.JWKS()}})
			expect(t, r, 400)
			if e := oauthError(t, r); e != "invalid_redirect_uri" {
				t.Errorf("error %q, want invalid_redirect_uri", e)
			}
		})
	}

	register := func(body string) *response {
		return s.do(req{method: "POST", path: "/as/register", body: body, header: map[string]string{"Content-Type": "application/jwt"}})
	}
	t.Run("OneClientPerSoftwareStatement", func(t *testing.T) {
		ssa := s.ssa(c, []string{"AISP"})
		first := register(c.RegisterJWTBody(ssa))
		expect(t, first, 201)
		var reg struct {
			ClientID string `json:"client_id"`
			Token    string `json:"registration_access_token"`
		}
		first.JSON(t, &reg)
		for name, again := range map[string]*response{
			"JWT":  register(c.RegisterJWTBody(ssa)),
			"JSON": s.do(req{method: "POST", path: "/as/register", body: map[string]any{"redirect_uris": []string{callback}, "software_statement": ssa}}),
		} {
			expect(t, again, 400)
			if e := oauthError(t, again); e != "invalid_software_statement" {
				t.Errorf("%s: error %q, want invalid_software_statement", name, e)
			}
		}
		// Re-registration is an update of the client (RFC 7592).
		upd := s.do(req{method: "PUT", path: "/as/register/" + reg.ClientID, token: reg.Token, body: c.RegisterJWTBody(ssa),
			header: map[string]string{"Content-Type": "application/jwt"}})
		expect(t, upd, 200)
		expect(t, s.do(req{method: "DELETE", path: "/as/register/" + reg.ClientID, token: reg.Token}), 204)
		expect(t, register(c.RegisterJWTBody(ssa)), 201)
	})

	signed := func(mod func(jwt.MapClaims)) string {
		ssa := s.ssa(c, []string{"AISP"})
		var claims jwt.MapClaims
		if _, _, err := jwt.NewParser().ParseUnverified(c.RegisterJWTBody(ssa), &claims); err != nil {
			t.Fatal(err)
		}
		mod(claims)
		raw, err := c.Sign(claims)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	now := func() time.Time { return s.app.Clock.Wall() }
	lifetimes := []struct {
		name   string
		mod    func(jwt.MapClaims)
		status int
	}{
		{"OK59Minutes", func(m jwt.MapClaims) { m["exp"] = now().Add(59 * time.Minute).Unix() }, 201},
		{"ExpTenYearsAhead", func(m jwt.MapClaims) { m["exp"] = now().AddDate(10, 0, 0).Unix() }, 400},
		{"Exp61MinutesAfterIat", func(m jwt.MapClaims) { m["exp"] = now().Add(61 * time.Minute).Unix() }, 400},
		{"NoIat", func(m jwt.MapClaims) { delete(m, "iat") }, 400},
		{"IatInTheFuture", func(m jwt.MapClaims) {
			m["iat"], m["exp"] = now().Add(10*time.Minute).Unix(), now().Add(20*time.Minute).Unix()
		}, 400},
	}
	for _, tt := range lifetimes {
		t.Run("Lifetime/"+tt.name, func(t *testing.T) {
			r := register(signed(tt.mod))
			expect(t, r, tt.status)
			if tt.status == 400 && oauthError(t, r) != "invalid_request" {
				t.Errorf("%s, want invalid_request", r.Body)
			}
		})
	}
}

// TestJWKSURIFetchIsGuarded: a jwks_uri cannot make the bank call its own
// machine or private networks (blind SSRF) unless the sandbox runs with
// --allow-private-jwks — checked on the address dialled, not only at
// registration —; failed fetches are remembered for a while; key sets are
// capped at 64 KiB.
func TestJWKSURIFetchIsGuarded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var hits atomic.Int32
	var failing atomic.Bool
	var keys atomic.Pointer[jose.JSONWebKeySet]
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if failing.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		body, _ := json.Marshal(keys.Load())
		if r.URL.Path == "/big" {
			body = append(bytes.Repeat([]byte(" "), 64<<10), body...)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	register := func(s *sandbox, uri string) *response {
		return s.do(req{method: "POST", path: "/as/register", body: map[string]any{"redirect_uris": []string{callback},
			"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": uri}})
	}
	clientID := func(r *response) string {
		t.Helper()
		expect(t, r, 201)
		var reg struct {
			ClientID string `json:"client_id"`
		}
		r.JSON(t, &reg)
		return reg.ClientID
	}

	t.Run("RefusedAtRegistration", func(t *testing.T) {
		s := start(t, realIssuer())
		for _, host := range []string{"127.0.0.1", "localhost", "[::1]", "[::ffff:127.0.0.1]", "10.0.0.8", "169.254.169.254",
			"[fe80::1]", "0.0.0.0", "192.168.1.1"} {
			r := register(s, "https://"+host+":"+port+"/jwks")
			expect(t, r, 400)
			if e := oauthError(t, r); e != "invalid_client_metadata" {
				t.Errorf("%s: error %q, want invalid_client_metadata", host, e)
			}
		}
	})

	db := filepath.Join(t.TempDir(), "jwks.db")
	s := start(t, realIssuer(), withPrivateJWKS(srv), func(c *app.Config) { c.DB = db })
	c, err := tpp.New(ctx, s.url, callback, tpp.WithClock(s.app.Clock.Wall), s.tppKey())
	if err != nil {
		t.Fatal(err)
	}
	set := c.JWKS()
	keys.Store(&set)
	token := func(s *sandbox, id string) int {
		t.Helper()
		now := s.app.Clock.Wall()
		as, err := c.Sign(jwt.MapClaims{"iss": id, "sub": id, "aud": s.url, "jti": uuid.NewString(), "exp": now.Add(time.Minute).Unix()})
		if err != nil {
			t.Fatal(err)
		}
		return s.postForm("/as/token", url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {oauth.AssertionType},
			"client_assertion": {as}}).Status
	}
	good := clientID(register(s, srv.URL+"/jwks"))
	if got := token(s, good); got != 200 {
		t.Fatalf("a key set from a loopback jwks_uri with --allow-private-jwks: %d, want 200", got)
	}
	t.Run("SizeCap", func(t *testing.T) {
		if got := token(s, clientID(register(s, srv.URL+"/big"))); got != 401 {
			t.Errorf("a key set over 64 KiB: %d, want 401", got)
		}
	})
	t.Run("FailuresRemembered", func(t *testing.T) {
		id := clientID(register(s, srv.URL+"/down"))
		failing.Store(true)
		defer failing.Store(false)
		before := hits.Load()
		for range 3 {
			if got := token(s, id); got != 401 {
				t.Fatalf("a failing jwks_uri: %d, want 401", got)
			}
		}
		if n := hits.Load() - before; n != 1 {
			t.Errorf("%d fetches of a failing jwks_uri, want 1 (the failure remembered)", n)
		}
		s.app.Clock.Advance(oauth.JWKSFailureFor + time.Second)
		token(s, id)
		if n := hits.Load() - before; n != 2 {
			t.Errorf("%d fetches once the failure was forgotten, want 2", n)
		}
	})
	s.stop()

	t.Run("RefusedWhenDialled", func(t *testing.T) {
		// The client registered under --allow-private-jwks; without it the
		// bank does not dial the loopback address.
		s := start(t, realIssuer(), func(c *app.Config) {
			withPrivateJWKS(srv)(c)
			c.DB, c.AllowPrivateJWKS = db, false
		})
		before := hits.Load()
		if got := token(s, good); got != 401 {
			t.Errorf("a loopback jwks_uri without --allow-private-jwks: %d, want 401", got)
		}
		if n := hits.Load() - before; n != 0 {
			t.Errorf("the bank fetched from loopback %d times", n)
		}
	})
}

// TestClientAuthenticationFailuresLimited: wrong secrets are limited per
// client id and per source address, at every endpoint that authenticates a
// client: over the limit, 429 with Retry-After and an RFC 6749 body, before
// anything is checked. A client that authenticated from an address before
// keeps working from there whatever others fail; the sandbox clock refills.
func TestClientAuthenticationFailuresLimited(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	perClient, perIP := 5, 12
	s := start(t, realIssuer(), func(c *app.Config) {
		c.ClientAuthFailures = gateway.Rate{Per: 0.01, Burst: perClient} // refills in 100 s: nothing refills during the test
		c.ClientAuthFailuresIP = gateway.Rate{Per: 0.01, Burst: perIP}
	})
	legit := s.newTPP("client_secret_basic")
	if _, err := legit.ClientCredentials(ctx, "accounts"); err != nil {
		t.Fatal(err)
	}
	victim := s.newTPP("client_secret_basic")
	other := s.newTPP("client_secret_post")
	token := func(id, secret string) *response {
		basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
		return s.do(req{method: "POST", path: "/as/token", body: "grant_type=client_credentials&scope=accounts",
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Authorization": basic}})
	}
	throttled := func(t *testing.T, r *response) {
		t.Helper()
		expect(t, r, 429)
		if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 {
			t.Errorf("Retry-After %q, want whole seconds", r.Header.Get("Retry-After"))
		}
		if e := oauthError(t, r); e != "slow_down" {
			t.Errorf("error %q, want slow_down", e)
		}
	}
	for i := range perClient {
		if r := token(victim.ClientID, "guess"); r.Status != 401 {
			t.Fatalf("wrong secret %d: %d, want 401", i+1, r.Status)
		}
	}
	throttled(t, token(victim.ClientID, "guess"))
	throttled(t, token(victim.ClientID, victim.ClientSecret)) // not even tried
	for _, path := range []string{"/as/par", "/as/revoke", "/as/introspect"} {
		throttled(t, s.postForm(path, url.Values{"client_id": {victim.ClientID}, "client_secret": {"guess"}, "token": {"x"}}))
	}
	expect(t, token(legit.ClientID, legit.ClientSecret), 200)

	// Unknown ids from the same address spend the address's budget: a client
	// never seen here is refused, the known-good one is not.
	for i := 0; ; i++ {
		r := token("nobody-"+strconv.Itoa(i), "guess")
		if r.Status == 429 {
			break
		}
		if r.Status != 401 || i > perIP {
			t.Fatalf("unknown client %d: %d", i, r.Status)
		}
	}
	throttled(t, s.postForm("/as/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {other.ClientID},
		"client_secret": {other.ClientSecret}}))
	expect(t, token(legit.ClientID, legit.ClientSecret), 200)

	s.app.Clock.Advance(101 * time.Second)
	expect(t, token(victim.ClientID, victim.ClientSecret), 200)
}
