package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/tpp"
)

// TestDiscoveryAndJWKS: discovery lists what the profile supports and no
// more; the JWKS has public keys only; a rotated-out key still verifies.
func TestDiscoveryAndJWKS(t *testing.T) {
	t.Parallel()
	for _, profile := range []string{"dev", "fapi"} {
		t.Run(profile, func(t *testing.T) {
			s := start(t, realIssuer(), withProfile(profile))
			var d oauth.Discovery
			s.get("/.well-known/openid-configuration", "").JSON(t, &d)
			if d.Issuer != s.url || d.TokenEndpoint != s.url+"/as/token" || d.JWKSURI != s.url+"/as/jwks" {
				t.Errorf("endpoints: %+v", d)
			}
			secrets := slices.Contains(d.TokenEndpointAuthMethodsSupported, "client_secret_basic")
			hs := slices.Contains(d.RequestObjectSigningAlgValuesSupported, "HS256")
			if (profile == "dev") != secrets || (profile == "dev") != hs {
				t.Errorf("%s lists client secrets %v, HS256 %v", profile, secrets, hs)
			}
			if !slices.Equal(d.CodeChallengeMethodsSupported, []string{"S256"}) || !d.AuthorizationResponseIssParameterSupported {
				t.Errorf("PKCE %v, iss %v", d.CodeChallengeMethodsSupported, d.AuthorizationResponseIssParameterSupported)
			}
			r := s.get("/as/jwks", "")
			expect(t, r, 200)
			for _, private := range []string{`"d"`, `"p"`, `"q"`, `"dp"`} {
				if bytes.Contains(r.Body, []byte(private)) {
					t.Fatalf("JWKS holds private parts (%s): %s", private, r.Body)
				}
			}
			dev := s.get("/healthz", "").Header.Get("x-sandbox-profile")
			if (profile == "dev") != (dev == "dev") {
				t.Errorf("x-sandbox-profile %q in %s", dev, profile)
			}
		})
	}
}

// TestFAPIProfile: no client secrets, no JSON registration, no HS256
// request objects; registration with a directory software statement works
// and the journey runs.
func TestFAPIProfile(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer(), withProfile("fapi"))
	ctx := context.Background()
	cert := s.certificate("fapi-tpp", false, false)
	c, err := tpp.New(ctx, s.url, callback, tpp.WithHTTPClient(s.mtlsClient(&cert)), tpp.WithClock(s.app.Clock.Wall), s.tppKey())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Register(ctx, "private_key_jwt"); err == nil {
		t.Fatal("fapi accepted JSON registration")
	}
	r := s.do(req{method: "POST", path: "/as/register", body: c.Metadata("client_secret_basic")})
	expect(t, r, 400)
	ssa, err := c.SoftwareStatement(ctx, s.app.Config.AdminToken)
	if err != nil {
		t.Fatal(err)
	}
	forged := strings.Split(ssa, ".")
	forged[1] = strings.TrimRight(forged[1], "A") + "B"
	if err := c.RegisterJWT(ctx, strings.Join(forged, ".")); err == nil {
		t.Fatal("a tampered software statement was accepted")
	}
	if err := c.RegisterJWT(ctx, ssa); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.AISJourney(ctx, "alice", "alice123", []string{"ReadAccountsBasic"}, nil); err != nil {
		t.Fatal(err)
	}
	// HS256 request objects are a dev relaxation.
	cc, _ := c.ClientCredentials(ctx, "accounts")
	id, _ := c.AccountConsent(ctx, cc, []string{"ReadAccountsBasic"}, nil)
	now := s.app.Clock.Wall()
	hs, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": c.ClientID, "aud": s.url, "client_id": c.ClientID,
		"response_type": "code id_token", "redirect_uri": callback, "scope": "openid accounts", "nonce": "n", "state": "s",
		"nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"claims": map[string]any{"id_token": map[string]any{"openbanking_intent_id": map[string]any{"value": id}}}}).SignedString([]byte("guess"))
	a := &tpp.Authorization{URL: s.url + "/as/authorize?" + url.Values{"client_id": {c.ClientID}, "request": {hs}}.Encode()}
	expect(t, s.headless(a, "alice", "alice123", "approve"), 400)
}

// TestHS256RequestObjectInDev: a secret-based client may sign its request
// object with its client secret in dev.
func TestHS256RequestObjectInDev(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	var reg struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	r := s.do(req{method: "POST", path: "/as/register", body: map[string]any{"redirect_uris": []string{"http://localhost:3000/cb"}}})
	expect(t, r, 201)
	r.JSON(t, &reg)
	if reg.ClientSecret == "" {
		t.Fatal("a dev client without keys got no secret")
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(reg.ClientID)+":"+url.QueryEscape(reg.ClientSecret)))
	tok := s.do(req{method: "POST", path: "/as/token", body: url.Values{"grant_type": {"client_credentials"}, "scope": {"accounts"}}.Encode(),
		header: map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Authorization": basic}})
	expect(t, tok, 200)
	// The registered method is client_secret_basic: the same secret in the body is refused.
	expect(t, s.postForm("/as/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {reg.ClientID}, "client_secret": {reg.ClientSecret}}), 401)
	var cc struct {
		AccessToken string `json:"access_token"`
	}
	tok.JSON(t, &cc)
	var cn struct{ Data struct{ ConsentId string } }
	s.do(req{method: "POST", path: ais + "/account-access-consents", token: cc.AccessToken,
		body: map[string]any{"Data": map[string]any{"Permissions": []string{"ReadAccountsBasic"}}, "Risk": map[string]any{}}}).JSON(t, &cn)
	now := s.app.Clock.Wall()
	hs, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": reg.ClientID, "aud": s.url, "client_id": reg.ClientID,
		"response_type": "code id_token", "redirect_uri": "http://localhost:3000/cb", "scope": "openid accounts", "nonce": "n", "state": "s",
		"nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"claims": map[string]any{"id_token": map[string]any{"openbanking_intent_id": map[string]any{"value": cn.Data.ConsentId}}}}).SignedString([]byte(reg.ClientSecret))
	a := &tpp.Authorization{URL: s.url + "/as/authorize?" + url.Values{"client_id": {reg.ClientID}, "request": {hs}}.Encode()}
	out := s.headless(a, "alice", "alice123", "approve")
	expect(t, out, 200)
	if !strings.Contains(string(out.Body), "code=") {
		t.Errorf("no code: %s", out.Body)
	}
	_ = ctx
}

// TestRevokeIntrospectUserinfo: RFC 7009, RFC 7662 and userinfo, including
// that a client cannot see or revoke another client's tokens.
func TestRevokeIntrospectUserinfo(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.newTPP("private_key_jwt")
	other := s.newTPP("private_key_jwt")
	toks, consentID, err := c.AISJourney(ctx, "alice", "alice123", []string{"ReadAccountsBasic"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	introspect := func(cl *tpp.Client, tok string) map[string]any {
		var out map[string]any
		if _, err := cl.PostForm(ctx, s.url+"/as/introspect", url.Values{"token": {tok}}, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := introspect(c, toks.AccessToken); got["active"] != true || got["openbanking_intent_id"] != consentID || got["sub"] != "alice" {
		t.Errorf("introspection %v", got)
	}
	if got := introspect(other, toks.AccessToken); got["active"] != false || len(got) != 1 {
		t.Errorf("another client sees %v", got)
	}
	var ui map[string]string
	s.get("/as/userinfo", toks.AccessToken).JSON(t, &ui)
	if ui["sub"] != consentID || ui["openbanking_intent_id"] != consentID {
		t.Errorf("userinfo %v", ui)
	}
	// Another client's revocation is ignored.
	if st, _ := other.PostForm(ctx, s.url+"/as/revoke", url.Values{"token": {toks.AccessToken}}, nil); st != 200 {
		t.Errorf("revoke status %d", st)
	}
	expect(t, s.get(ais+"/accounts", toks.AccessToken), 200)
	if st, _ := c.PostForm(ctx, s.url+"/as/revoke", url.Values{"token": {toks.AccessToken}}, nil); st != 200 {
		t.Errorf("revoke status %d", st)
	}
	expect(t, s.get(ais+"/accounts", toks.AccessToken), 401)
	if got := introspect(c, toks.AccessToken); got["active"] != false {
		t.Errorf("revoked token introspects %v", got)
	}
	// Revoking the refresh token ends the consent's tokens.
	fresh, err := c.Refresh(ctx, toks.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	c.PostForm(ctx, s.url+"/as/revoke", url.Values{"token": {fresh.RefreshToken}, "token_type_hint": {"refresh_token"}}, nil)
	expect(t, s.get(ais+"/accounts", fresh.AccessToken), 401)
}

// TestExpiry: access tokens and consents expire on the sandbox clock; the
// consent's status does not change (SPEC §8 "Consent expiry").
func TestExpiry(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.newTPP("private_key_jwt")
	toks, _, err := c.AISJourney(ctx, "alice", "alice123", []string{"ReadAccountsBasic"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.app.Clock.Advance(61 * time.Minute)
	expect(t, s.get(ais+"/accounts", toks.AccessToken), 401)
	fresh, err := c.Refresh(ctx, toks.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, s.get(ais+"/accounts", fresh.AccessToken), 200)

	cc, _ := c.ClientCredentials(ctx, "accounts")
	exp := s.app.Clock.Now().Add(48 * time.Hour).Format(time.RFC3339)
	id, err := c.AccountConsent(ctx, cc, []string{"ReadAccountsBasic"}, map[string]string{"ExpirationDateTime": exp})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := c.Authorize(ctx, id, tpp.AuthOptions{})
	to, _ := c.Headless(ctx, a, "alice", "alice123", "approve", nil)
	code, err := c.Callback(ctx, a, to)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := c.Exchange(ctx, a, code)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, s.get(ais+"/accounts", tk.AccessToken), 200)
	s.app.Clock.Advance(49 * time.Hour)
	r := s.get(ais+"/accounts", tk.AccessToken)
	expect(t, r, 401)
	cc, _ = c.ClientCredentials(ctx, "accounts")
	var cn struct {
		Data struct{ Status, ExpirationDateTime string }
	}
	s.get(ais+"/account-access-consents/"+id, cc).JSON(t, &cn)
	if cn.Data.Status != "Authorised" || cn.Data.ExpirationDateTime != exp {
		t.Errorf("expired consent reads %+v, want Authorised with ExpirationDateTime %s unchanged", cn.Data, exp)
	}
	if _, err := c.Refresh(ctx, tk.RefreshToken); err == nil {
		t.Error("refresh of an expired consent worked")
	}
}

// TestSandboxControls: the admin token guards /sandbox; the clock moves
// forward only; reset restores the bank and the clock and keeps clients.
func TestSandboxControls(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	admin := s.app.Config.AdminToken
	for _, p := range []string{"/sandbox/psus", "/sandbox/clock"} {
		expect(t, s.get(p, ""), 401)
		expect(t, s.get(p, "not-the-token"), 401)
	}
	var psus struct {
		PSUs []struct {
			Username, Password string
			Accounts           []struct{ AccountId, Currency, AccountSubType, Nickname string }
		} `json:"psus"`
	}
	s.get("/sandbox/psus", admin).JSON(t, &psus)
	if len(psus.PSUs) < 4 || psus.PSUs[0].Username != "alice" || psus.PSUs[0].Password != "alice123" || len(psus.PSUs[0].Accounts) != 3 {
		t.Fatalf("psus: %+v", psus.PSUs[:1])
	}
	var clk struct{ Now string }
	s.get("/sandbox/clock", admin).JSON(t, &clk)
	before, _ := time.Parse(time.RFC3339, clk.Now)
	for _, bad := range []string{"0s", "-1h", "soon", "0d", ""} {
		expect(t, s.do(req{method: "POST", path: "/sandbox/clock", token: admin, body: map[string]string{"advance": bad}}), 400)
	}
	r := s.do(req{method: "POST", path: "/sandbox/clock", token: admin, body: map[string]string{"advance": "3d"}})
	expect(t, r, 200)
	r.JSON(t, &clk)
	after, _ := time.Parse(time.RFC3339, clk.Now)
	if d := after.Sub(before); d < 72*time.Hour || d > 73*time.Hour {
		t.Errorf("advance 3d moved the clock %s", d)
	}
	ctx := context.Background()
	c := s.newTPP("private_key_jwt")
	toks, _, err := c.AISJourney(ctx, "alice", "alice123", []string{"ReadAccountsBasic"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hash := s.bankHash()
	// How long a reset takes is BenchmarkReset's to measure, not a timed test's.
	expect(t, s.do(req{method: "POST", path: "/sandbox/reset", token: admin}), 204)
	expect(t, s.get(ais+"/accounts", toks.AccessToken), 401)
	s.get("/sandbox/clock", admin).JSON(t, &clk)
	now, _ := time.Parse(time.RFC3339, clk.Now)
	if now.Sub(before) > time.Hour {
		t.Errorf("reset left the clock at %s", clk.Now)
	}
	if after := s.bankHash(); after == hash {
		t.Error("reset did not remove the consents")
	}
	if _, err := c.ClientCredentials(ctx, "accounts"); err != nil {
		t.Errorf("the client did not survive the reset: %v", err)
	}
	var body map[string]any
	json.Unmarshal(s.do(req{method: "POST", path: "/sandbox/psu/authorize", body: `{"bogus":1}`}).Body, &body)
	if body["error"] != "invalid_request" {
		t.Errorf("unknown field in headless request: %v", body)
	}
}

// TestKeyRotation: after a rotation new tokens carry the new kid, tokens
// signed by the old key still work, and the JWKS serves both.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.newTPP("private_key_jwt")
	old, _, err := c.AISJourney(ctx, "alice", "alice123", []string{"ReadAccountsBasic"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, s.do(req{method: "POST", path: "/sandbox/keys/rotate"}), 401)
	var rot struct{ KID string }
	s.do(req{method: "POST", path: "/sandbox/keys/rotate", token: s.app.Config.AdminToken}).JSON(t, &rot)
	var set struct{ Keys []struct{ Kid string } }
	s.get("/as/jwks", "").JSON(t, &set)
	if len(set.Keys) != 2 || set.Keys[0].Kid != rot.KID {
		t.Fatalf("JWKS after rotation: %+v, want the new key %s first and the old one", set.Keys, rot.KID)
	}
	expect(t, s.get(ais+"/accounts", old.AccessToken), 200)
	fresh, err := c.Refresh(ctx, old.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	hdr, _, _ := strings.Cut(fresh.AccessToken, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(hdr)
	if !strings.Contains(string(raw), rot.KID) {
		t.Errorf("a token issued after rotation has header %s, want kid %s", raw, rot.KID)
	}
	expect(t, s.get(ais+"/accounts", fresh.AccessToken), 200)
}
