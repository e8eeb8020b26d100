package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/obsandbox/sandbox/internal/tpp"
)

// postForm sends a form to an OAuth endpoint as is (no client auth added).
func (s *sandbox) postForm(path string, v url.Values) *response {
	s.t.Helper()
	return s.do(req{method: "POST", path: path, body: v.Encode(), header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
}

func oauthError(t *testing.T, r *response) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	r.JSON(t, &e)
	return e.Error
}

// TestClientAssertionRules tries the attacks on private_key_jwt client
// authentication (RFC 7523, FAPI, SPEC §8): each is refused with
// invalid_client, and the legitimate forms work.
func TestClientAssertionRules(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	c := s.newTPP("private_key_jwt")
	other := s.newTPP("private_key_jwt")
	iss := s.url
	now := func() time.Time { return s.app.Clock.Wall() }
	claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		m := jwt.MapClaims{"iss": c.ClientID, "sub": c.ClientID, "aud": iss, "jti": uuid.NewString(),
			"iat": now().Unix(), "exp": now().Add(5 * time.Minute).Unix()}
		if mod != nil {
			mod(m)
		}
		return m
	}
	sign := func(m jwt.MapClaims) string {
		a, err := c.Sign(m)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	pub, _ := json.Marshal(c.JWKS().Keys[0])
	hsWithPublicKey, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil)).SignedString(pub)
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims(nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	es, _ := jwt.NewWithClaims(jwt.SigningMethodES256, claims(nil)).SignedString(ec)
	otherKey, _ := other.Sign(claims(nil))
	replayed := sign(claims(nil))

	tests := []struct {
		name      string
		assertion string
		ok        bool
	}{
		{"OKIssuer", sign(claims(nil)), true},
		{"OKTokenEndpoint", sign(claims(func(m jwt.MapClaims) { m["aud"] = iss + "/as/token" })), true},
		{"OKIssuerInArray", sign(claims(func(m jwt.MapClaims) { m["aud"] = []string{iss} })), true},
		{"OKReplayedFirstUse", replayed, true},
		{"ErrReplayedJTI", replayed, false},
		{"ErrAlgNone", none, false},
		{"ErrHS256WithPublicKey", hsWithPublicKey, false},
		{"ErrUnregisteredKey", es, false},
		{"ErrAnotherClientsKey", otherKey, false},
		{"ErrAudOtherURL", sign(claims(func(m jwt.MapClaims) { m["aud"] = "https://bank.example/as/token" })), false},
		{"ErrAudTrailingSlash", sign(claims(func(m jwt.MapClaims) { m["aud"] = iss + "/" })), false},
		{"ErrAudArrayWithForeign", sign(claims(func(m jwt.MapClaims) { m["aud"] = []string{iss, "https://evil.example"} })), false},
		{"ErrAudMissing", sign(claims(func(m jwt.MapClaims) { delete(m, "aud") })), false},
		{"ErrExpired", sign(claims(func(m jwt.MapClaims) { m["exp"] = now().Add(-time.Minute).Unix() })), false},
		{"ErrExpTooFar", sign(claims(func(m jwt.MapClaims) { m["exp"] = now().Add(11 * time.Minute).Unix() })), false},
		{"ErrNoExp", sign(claims(func(m jwt.MapClaims) { delete(m, "exp") })), false},
		{"ErrNoJTI", sign(claims(func(m jwt.MapClaims) { delete(m, "jti") })), false},
		{"ErrSubNotClient", sign(claims(func(m jwt.MapClaims) { m["sub"] = other.ClientID })), false},
		{"ErrIssOtherClient", sign(claims(func(m jwt.MapClaims) { m["iss"] = other.ClientID; m["sub"] = other.ClientID })), false},
		{"ErrGarbage", "a.b.c", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.postForm("/as/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"accounts"},
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {tt.assertion}})
			if tt.ok {
				expect(t, r, 200)
				if r.Header.Get("Cache-Control") != "no-store" {
					t.Error("token response without Cache-Control: no-store")
				}
				return
			}
			expect(t, r, 401)
			if e := oauthError(t, r); e != "invalid_client" {
				t.Errorf("error %q, want invalid_client", e)
			}
		})
	}
	t.Run("ErrSecretForKeyClient", func(t *testing.T) {
		r := s.postForm("/as/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}, "client_secret": {"guess"}})
		expect(t, r, 401)
	})
}

// authorizeFails runs the headless PSU on an authorization request and
// returns the answer: the error page (400) or the redirect with error=.
func (s *sandbox) headless(a *tpp.Authorization, user, pass, decision string) *response {
	s.t.Helper()
	return s.do(req{method: "POST", path: "/sandbox/psu/authorize", body: map[string]any{"authorize_url": a.URL,
		"username": user, "password": pass, "decision": decision}})
}

func redirectError(t *testing.T, r *response) string {
	t.Helper()
	expect(t, r, 200)
	var out struct {
		RedirectTo string `json:"redirect_to"`
	}
	r.JSON(t, &out)
	u, err := url.Parse(out.RedirectTo)
	if err != nil {
		t.Fatal(err)
	}
	v := u.Query()
	if u.Fragment != "" {
		v, _ = url.ParseQuery(u.Fragment)
	}
	if !strings.HasPrefix(out.RedirectTo, callback) {
		t.Fatalf("redirected to %s, want the registered %s", out.RedirectTo, callback)
	}
	return v.Get("error")
}

// TestAuthorizeRules tries the attacks on the authorization request; where
// the redirect URI cannot be trusted the bank must not redirect (400), else
// the error goes back to the client.
func TestAuthorizeRules(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.newTPP("private_key_jwt")
	other := s.newTPP("private_key_jwt")
	cc, _ := c.ClientCredentials(ctx, "accounts")
	occ, _ := other.ClientCredentials(ctx, "accounts")
	consent := func() string {
		id, err := c.AccountConsent(ctx, cc, []string{"ReadAccountsBasic"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	authz := func(id string, o tpp.AuthOptions) *tpp.Authorization {
		a, err := c.Authorize(ctx, id, o)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	now := s.app.Clock.Wall()
	otherConsent, _ := other.AccountConsent(ctx, occ, []string{"ReadAccountsBasic"}, nil)
	rejected := consent()
	if r := s.headless(authz(rejected, tpp.AuthOptions{}), "alice", "alice123", "deny"); r.Status != 200 {
		t.Fatal(string(r.Body))
	}
	authorised := consent()
	if r := s.headless(authz(authorised, tpp.AuthOptions{}), "alice", "alice123", "approve"); r.Status != 200 {
		t.Fatal(string(r.Body))
	}

	pageErrors := []struct {
		name string
		o    tpp.AuthOptions
	}{
		{"UnregisteredRedirectURI", tpp.AuthOptions{RedirectURI: "https://evil.example/callback"}},
		{"SlightlyDifferentRedirectURI", tpp.AuthOptions{RedirectURI: callback + "/"}},
		{"RedirectURIWithQuery", tpp.AuthOptions{RedirectURI: callback + "?x=1"}},
		{"RequestObjectNoExp", tpp.AuthOptions{Claims: map[string]any{"exp": nil}}},
		{"RequestObjectNoNbf", tpp.AuthOptions{Claims: map[string]any{"nbf": nil}}},
		{"RequestObjectWrongAud", tpp.AuthOptions{Claims: map[string]any{"aud": "https://other-bank.example"}}},
		{"RequestObjectNbfTooOld", tpp.AuthOptions{Claims: map[string]any{"nbf": now.Add(-61 * time.Minute).Unix(), "exp": now.Add(-2 * time.Minute).Unix()}}},
		{"RequestObjectTooLong", tpp.AuthOptions{Claims: map[string]any{"exp": now.Add(61 * time.Minute).Unix()}}},
		{"RequestObjectExpired", tpp.AuthOptions{Claims: map[string]any{"exp": now.Add(-time.Minute).Unix()}}},
		{"RequestObjectIssOtherClient", tpp.AuthOptions{Claims: map[string]any{"iss": other.ClientID}}},
	}
	for _, tt := range pageErrors {
		t.Run(tt.name, func(t *testing.T) {
			r := s.headless(authz(consent(), tt.o), "alice", "alice123", "approve")
			expect(t, r, 400)
			if strings.Contains(string(r.Body), "redirect_to") {
				t.Errorf("the bank redirected: %s", r.Body)
			}
		})
	}
	t.Run("RequestObjectSignedByAnotherClient", func(t *testing.T) {
		a := authz(consent(), tpp.AuthOptions{})
		forged, _ := other.Authorize(ctx, a.ConsentID, tpp.AuthOptions{Claims: map[string]any{"iss": c.ClientID, "client_id": c.ClientID}})
		u, _ := url.Parse(forged.URL)
		q := u.Query()
		q.Set("client_id", c.ClientID)
		u.RawQuery = q.Encode()
		forged.URL = u.String()
		expect(t, s.headless(forged, "alice", "alice123", "approve"), 400)
	})
	t.Run("NoRequestObject", func(t *testing.T) {
		a := &tpp.Authorization{URL: s.url + "/as/authorize?" + url.Values{"client_id": {c.ClientID}, "response_type": {"code id_token"},
			"redirect_uri": {callback}, "scope": {"openid accounts"}}.Encode()}
		expect(t, s.headless(a, "alice", "alice123", "approve"), 400)
	})
	t.Run("UnknownClient", func(t *testing.T) {
		a := authz(consent(), tpp.AuthOptions{})
		a.URL = strings.Replace(a.URL, "client_id="+c.ClientID, "client_id=nobody", 1)
		expect(t, s.headless(a, "alice", "alice123", "approve"), 400)
	})

	redirectErrors := []struct {
		name, consent string
		o             tpp.AuthOptions
		want          string
	}{
		{"AnotherClientsConsent", otherConsent, tpp.AuthOptions{}, "invalid_request"},
		{"ConsentAlreadyAuthorised", authorised, tpp.AuthOptions{}, "invalid_request"},
		{"ConsentRejected", rejected, tpp.AuthOptions{}, "invalid_request"},
		{"UnknownConsent", "aac-nope", tpp.AuthOptions{}, "invalid_request"},
		{"NoOpenID", "", tpp.AuthOptions{Scope: "accounts"}, "invalid_scope"},
		{"WrongScope", "", tpp.AuthOptions{Scope: "openid payments"}, "invalid_scope"},
		{"HybridWithoutNonce", "", tpp.AuthOptions{Claims: map[string]any{"nonce": nil}}, "invalid_request"},
		{"PKCEMissing", "", tpp.AuthOptions{Flow: tpp.Code, Claims: map[string]any{"code_challenge": nil, "code_challenge_method": nil}}, "invalid_request"},
		{"PKCEPlain", "", tpp.AuthOptions{Flow: tpp.Code, Claims: map[string]any{"code_challenge_method": "plain"}}, "invalid_request"},
		{"ResponseTypeToken", "", tpp.AuthOptions{Flow: "token"}, "unsupported_response_type"},
		{"ResponseTypeMismatch", "", tpp.AuthOptions{Claims: map[string]any{"response_type": "code"}}, "invalid_request"},
	}
	for _, tt := range redirectErrors {
		t.Run(tt.name, func(t *testing.T) {
			id := tt.consent
			if id == "" {
				id = consent()
			}
			if got := redirectError(t, s.headless(authz(id, tt.o), "alice", "alice123", "approve")); got != tt.want {
				t.Errorf("error %q, want %q", got, tt.want)
			}
		})
	}
}

// TestCodeRules: PKCE verifier, code reuse (revokes what the first use
// gave), code expiry after 60 s of sandbox time, code of another client.
func TestCodeRules(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.newTPP("private_key_jwt")
	other := s.newTPP("private_key_jwt")
	cc, _ := c.ClientCredentials(ctx, "accounts")
	code := func(flow tpp.Flow) (*tpp.Authorization, string) {
		id, _ := c.AccountConsent(ctx, cc, []string{"ReadAccountsBasic"}, nil)
		a, _ := c.Authorize(ctx, id, tpp.AuthOptions{Flow: flow})
		to, err := c.Headless(ctx, a, "alice", "alice123", "approve", nil)
		if err != nil {
			t.Fatal(err)
		}
		code, err := c.Callback(ctx, a, to)
		if err != nil {
			t.Fatal(err)
		}
		return a, code
	}
	exchange := func(cl *tpp.Client, a *tpp.Authorization, code, verifier string) *response {
		v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {callback}}
		if verifier != "" {
			v.Set("code_verifier", verifier)
		}
		as, _ := cl.Assertion(nil)
		v.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		v.Set("client_assertion", as)
		return s.postForm("/as/token", v)
	}
	t.Run("WrongVerifier", func(t *testing.T) {
		a, cd := code(tpp.Code)
		r := exchange(c, a, cd, strings.Repeat("x", 43))
		expect(t, r, 400)
		if oauthError(t, r) != "invalid_grant" {
			t.Error(string(r.Body))
		}
	})
	t.Run("MissingVerifier", func(t *testing.T) {
		a, cd := code(tpp.Code)
		expect(t, exchange(c, a, cd, ""), 400)
	})
	t.Run("AnotherClient", func(t *testing.T) {
		a, cd := code(tpp.Hybrid)
		expect(t, exchange(other, a, cd, ""), 400)
	})
	t.Run("ReuseRevokes", func(t *testing.T) {
		a, cd := code(tpp.Code)
		first := exchange(c, a, cd, a.Verifier)
		expect(t, first, 200)
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		first.JSON(t, &tok)
		expect(t, s.get(ais+"/accounts", tok.AccessToken), 200)
		expect(t, exchange(c, a, cd, a.Verifier), 400)
		expect(t, s.get(ais+"/accounts", tok.AccessToken), 401)
	})
	t.Run("Expired", func(t *testing.T) {
		a, cd := code(tpp.Code)
		s.app.Clock.Advance(61 * time.Second)
		r := exchange(c, a, cd, a.Verifier)
		expect(t, r, 400)
		if oauthError(t, r) != "invalid_grant" {
			t.Error(string(r.Body))
		}
	})
}

// TestPSULockout: five wrong passwords lock a username for 15 minutes of
// sandbox time; during the lock even the right password fails and does not
// extend it; unknown user, wrong password and locked look the same.
func TestPSULockout(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.newTPP("private_key_jwt")
	cc, _ := c.ClientCredentials(ctx, "accounts")
	try := func(user, pass string) *response {
		id, _ := c.AccountConsent(ctx, cc, []string{"ReadAccountsBasic"}, nil)
		a, _ := c.Authorize(ctx, id, tpp.AuthOptions{})
		return s.headless(a, user, pass, "approve")
	}
	unknown := try("mallory", "x")
	expect(t, unknown, 401)
	for i := range 5 {
		r := try("bob", "wrong")
		expect(t, r, 401)
		if string(r.Body) != string(unknown.Body) {
			t.Fatalf("attempt %d: %s differs from the unknown-user answer %s", i+1, r.Body, unknown.Body)
		}
	}
	locked := try("bob", "bob123")
	expect(t, locked, 401)
	if string(locked.Body) != string(unknown.Body) {
		t.Errorf("a locked account answers %s, unknown users %s", locked.Body, unknown.Body)
	}
	s.app.Clock.Advance(14 * time.Minute)
	expect(t, try("bob", "bob123"), 401)
	s.app.Clock.Advance(90 * time.Second)
	expect(t, try("bob", "bob123"), 200)
	expect(t, try("alice", "alice123"), 200)
}

// TestRegistrationRules checks dynamic client registration's validation
// (RFC 7591 error codes) and management with the registration token.
func TestRegistrationRules(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	c := s.newTPP("private_key_jwt")
	priv, _ := json.Marshal(jose.JSONWebKey{Key: c.Key, KeyID: "k", Algorithm: "PS256", Use: "sig"})
	var privKey map[string]any
	json.Unmarshal(priv, &privKey)
	reg := func(m map[string]any) *response {
		return s.do(req{method: "POST", path: "/as/register", body: m})
	}
	base := func(mod func(map[string]any)) map[string]any {
		m := map[string]any{"redirect_uris": []string{"https://app.example/cb"}, "token_endpoint_auth_method": "private_key_jwt",
			"jwks": c.JWKS()}
		if mod != nil {
			mod(m)
		}
		return m
	}
	tests := []struct {
		name string
		m    map[string]any
		code string
	}{
		{"NoRedirectURIs", base(func(m map[string]any) { delete(m, "redirect_uris") }), "invalid_redirect_uri"},
		{"HTTPRedirectURI", base(func(m map[string]any) { m["redirect_uris"] = []string{"http://app.example/cb"} }), "invalid_redirect_uri"},
		{"FragmentRedirectURI", base(func(m map[string]any) { m["redirect_uris"] = []string{"https://app.example/cb#x"} }), "invalid_redirect_uri"},
		{"RelativeRedirectURI", base(func(m map[string]any) { m["redirect_uris"] = []string{"/cb"} }), "invalid_redirect_uri"},
		{"PrivateKeyInJWKS", base(func(m map[string]any) { m["jwks"] = map[string]any{"keys": []any{privKey}} }), "invalid_client_metadata"},
		{"JWKSAndJWKSURI", base(func(m map[string]any) { m["jwks_uri"] = "https://app.example/jwks" }), "invalid_client_metadata"},
		{"KeyJWTWithoutKeys", base(func(m map[string]any) { delete(m, "jwks") }), "invalid_client_metadata"},
		{"UnknownGrant", base(func(m map[string]any) { m["grant_types"] = []string{"password"} }), "invalid_client_metadata"},
		{"UnknownResponseType", base(func(m map[string]any) { m["response_types"] = []string{"token"} }), "invalid_client_metadata"},
		{"RS256Assertions", base(func(m map[string]any) { m["token_endpoint_auth_signing_alg"] = "RS256" }), "invalid_client_metadata"},
		{"UnknownAuthMethod", base(func(m map[string]any) { m["token_endpoint_auth_method"] = "none" }), "invalid_client_metadata"},
		{"UnknownScope", base(func(m map[string]any) { m["scope"] = "openid admin" }), "invalid_client_metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := reg(tt.m)
			expect(t, r, 400)
			if got := oauthError(t, r); got != tt.code {
				t.Errorf("error %q, want %q (%s)", got, tt.code, r.Body)
			}
		})
	}
	t.Run("Manage", func(t *testing.T) {
		r := reg(base(nil))
		expect(t, r, 201)
		var out struct {
			ClientID, RegistrationAccessToken, RegistrationClientURI string
		}
		json.Unmarshal(r.Body, &struct {
			ClientID *string `json:"client_id"`
			Tok      *string `json:"registration_access_token"`
			URI      *string `json:"registration_client_uri"`
		}{&out.ClientID, &out.RegistrationAccessToken, &out.RegistrationClientURI})
		path := "/as/register/" + out.ClientID
		expect(t, s.get(path, ""), 401)
		expect(t, s.get(path, "wrong"), 401)
		expect(t, s.get("/as/register/"+c.ClientID, out.RegistrationAccessToken), 401)
		expect(t, s.get(path, out.RegistrationAccessToken), 200)
		m := base(func(m map[string]any) { m["client_name"] = "Renamed" })
		upd := s.do(req{method: "PUT", path: path, token: out.RegistrationAccessToken, body: m})
		expect(t, upd, 200)
		if !strings.Contains(string(upd.Body), "Renamed") {
			t.Errorf("update not applied: %s", upd.Body)
		}
		expect(t, s.do(req{method: "DELETE", path: path, token: out.RegistrationAccessToken}), 204)
		expect(t, s.get(path, out.RegistrationAccessToken), 401)
	})
}
