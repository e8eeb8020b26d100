package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/tpp"
)

// rawResponse is an answer read whole.
type rawResponse struct {
	status int
	header http.Header
	body   string
}

// send makes one request with exactly the headers given.
func send(t *testing.T, hc *http.Client, method, u string, header map[string]string, body string) rawResponse {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-fapi-customer-ip-address", "198.51.100.7") // the unattended-access limit is not under test
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawResponse{resp.StatusCode, resp.Header, string(b)}
}

// proofSigner signs DPoP proofs with every field under the test's control.
type proofSigner struct {
	key *ecdsa.PrivateKey
	now func() time.Time
}

func newProofSigner(t *testing.T, now func() time.Time) *proofSigner {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &proofSigner{key: key, now: now}
}

// sign makes a proof for method and htu with nonce, ath of token (if any),
// then the overrides (nil deletes a claim).
func (p *proofSigner) sign(t *testing.T, method, htu, nonce, token string, over map[string]any) string {
	t.Helper()
	claims := jwt.MapClaims{"htm": method, "htu": htu, "iat": p.now().Unix(), "jti": uuid.NewString()}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	if token != "" {
		sum := sha256.Sum256([]byte(token))
		claims["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	for k, v := range over {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["typ"] = "dpop+jwt"
	tok.Header["jwk"] = jose.JSONWebKey{Key: &p.key.PublicKey}
	raw, err := tok.SignedString(p.key)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// tokenForm is a client-credentials request of the client, authenticated by
// a fresh client assertion.
func tokenForm(t *testing.T, c *tpp.Client, v url.Values) string {
	t.Helper()
	a, err := c.Assertion(nil)
	if err != nil {
		t.Fatal(err)
	}
	v.Set("client_assertion_type", oauth.AssertionType)
	v.Set("client_assertion", a)
	return v.Encode()
}

// TestFAPI2: the fapi2 profile is the FAPI 2.0 Security Profile (Final):
// discovery says exactly that; authorization requests only through PAR,
// response_type code with PKCE S256 only, iss in the response; tokens bound
// to a DPoP key (RFC 9449, with the bank's nonces) or to a certificate, as
// each client registered; and every DPoP rule is tried on the token
// endpoint and the APIs.
func TestFAPI2(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer(), withProfile(oauth.ProfileFAPI2))
	ctx := context.Background()
	c := s.strictTPP(func(c *tpp.Client) {
		if err := c.UseDPoP(); err != nil {
			t.Fatal(err)
		}
	})
	c.Header = http.Header{"X-Fapi-Customer-Ip-Address": {"198.51.100.7"}} // the unattended-access limit is not under test
	plain := s.mtlsClient(nil)                                             // no certificate: DPoP alone binds
	tokenURL := s.url + "/as/token"
	accountsURL := s.url + ais + "/accounts"

	t.Run("Discovery", func(t *testing.T) {
		var d oauth.Discovery
		s.get("/.well-known/openid-configuration", "").JSON(t, &d)
		switch {
		case !slices.Equal(d.ResponseTypesSupported, []string{"code"}), !slices.Equal(d.ResponseModesSupported, []string{"query"}),
			!d.RequirePushedAuthorizationRequests, !slices.Equal(d.DPoPSigningAlgValuesSupported, []string{"PS256", "ES256"}),
			!slices.Equal(d.TokenEndpointAuthMethodsSupported, []string{"private_key_jwt", "tls_client_auth"}),
			!d.TLSClientCertificateBoundAccessTokens, !d.AuthorizationResponseIssParameterSupported,
			!slices.Equal(d.CodeChallengeMethodsSupported, []string{"S256"}), d.AuthorizationSigningAlgValuesSupported != nil:
			t.Errorf("discovery: %+v", d)
		}
	})
	t.Run("ErrRegistration", func(t *testing.T) {
		expect(t, s.do(req{method: "POST", path: "/as/register", body: c.Metadata("private_key_jwt")}), 400)
		other, err := tpp.New(ctx, s.url, callback, tpp.WithHTTPClient(plain), tpp.WithClock(s.app.Clock.Wall), s.tppKey())
		if err != nil {
			t.Fatal(err)
		}
		ssa, err := other.SoftwareStatement(ctx, s.app.Config.AdminToken)
		if err != nil {
			t.Fatal(err)
		}
		claims := jwt.MapClaims{}
		for k, v := range other.Metadata("private_key_jwt") {
			claims[k] = v
		}
		var unverified jwt.MapClaims
		jwt.NewParser().ParseUnverified(ssa, &unverified)
		now := s.app.Clock.Wall()
		claims["response_types"] = []string{"code id_token", "code"}
		claims["iss"], claims["aud"], claims["iat"], claims["exp"], claims["jti"] = unverified["software_id"], s.url, now.Unix(), now.Add(time.Minute).Unix(), uuid.NewString()
		claims["software_statement"] = ssa
		signed, _ := other.Sign(claims)
		r := s.do(req{method: "POST", path: "/as/register", body: signed, header: map[string]string{"Content-Type": "application/jwt"}})
		if r.Status != 400 || !strings.Contains(string(r.Body), "hybrid") {
			t.Errorf("a hybrid registration: %d %s", r.Status, r.Body)
		}
	})

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
	t.Run("ErrHybridRefused", func(t *testing.T) {
		_, err := c.Authorize(ctx, consent(), tpp.AuthOptions{Flow: tpp.Hybrid, PAR: true})
		if err == nil || !strings.Contains(err.Error(), "unsupported_response_type") {
			t.Errorf("code id_token pushed: %v, want unsupported_response_type", err)
		}
	})
	t.Run("ErrWithoutPAR", func(t *testing.T) {
		a, err := c.Authorize(ctx, consent(), tpp.AuthOptions{Flow: tpp.Code})
		if err != nil {
			t.Fatal(err)
		}
		r := s.headless(a, "alice", "alice123", "approve")
		if r.Status != 400 || !strings.Contains(string(r.Body), "PAR") {
			t.Errorf("a request object by value: %d %s", r.Status, r.Body)
		}
	})
	t.Run("ErrPKCEMissing", func(t *testing.T) {
		_, err := c.Authorize(ctx, consent(), tpp.AuthOptions{Flow: tpp.Code, PAR: true, Claims: map[string]any{"code_challenge": nil, "code_challenge_method": nil}})
		if err == nil || !strings.Contains(err.Error(), "code_challenge") {
			t.Errorf("PAR without PKCE: %v", err)
		}
		_, err = c.Authorize(ctx, consent(), tpp.AuthOptions{Flow: tpp.Code, PAR: true, Claims: map[string]any{"code_challenge_method": "plain"}})
		if err == nil || !strings.Contains(err.Error(), "S256") {
			t.Errorf("PAR with plain PKCE: %v", err)
		}
	})

	// The journey: PAR, the PSU, iss in the answer, x/oauth2's code exchange
	// through the DPoP transport, data with the DPoP scheme.
	a, err := c.Authorize(ctx, consent(), tpp.AuthOptions{Flow: tpp.Code, PAR: true})
	if err != nil {
		t.Fatal(err)
	}
	to, err := c.Headless(ctx, a, "alice", "alice123", "approve", nil)
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := url.Parse(to); u.Query().Get("iss") != s.url || u.Fragment != "" {
		t.Errorf("the authorization response %s: want iss in the query (RFC 9207)", to)
	}
	code, err := c.Callback(ctx, a, to)
	if err != nil {
		t.Fatal(err)
	}
	toks, err := c.Exchange(ctx, a, code)
	if err != nil {
		t.Fatal(err)
	}
	at := toks.AccessToken
	if toks.TokenType != "DPoP" || jwtPart(t, at, 1)["cnf"].(map[string]any)["jkt"] != c.DPoP.JKT() {
		t.Fatalf("token_type %q, claims %v; want DPoP bound to %s", toks.TokenType, jwtPart(t, at, 1), c.DPoP.JKT())
	}
	if err := c.Call(ctx, http.MethodGet, ais+"/accounts", "", at, nil, 200, nil); err != nil {
		t.Fatal(err)
	}
	nonce := c.DPoP.Nonce()
	if nonce == "" {
		t.Fatal("the bank gave no DPoP nonce")
	}

	t.Run("ErrTokenEndpoint", func(t *testing.T) {
		p := newProofSigner(t, s.app.Clock.Wall)
		form := func() string {
			return tokenForm(t, c, url.Values{"grant_type": {"client_credentials"}, "scope": {"accounts"}})
		}
		hdr := func(proof string) map[string]string {
			h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
			if proof != "" {
				h["DPoP"] = proof
			}
			return h
		}
		check := func(name string, r rawResponse, status int, code string) {
			t.Helper()
			if r.status != status || !strings.Contains(r.body, `"`+code+`"`) {
				t.Errorf("%s: %d %s, want %d %s", name, r.status, r.body, status, code)
			}
		}
		check("ProofMissing", send(t, plain, "POST", tokenURL, hdr(""), form()), 400, "invalid_dpop_proof")
		r := send(t, plain, "POST", tokenURL, hdr(p.sign(t, "POST", tokenURL, "", "", nil)), form())
		check("NonceMissing", r, 400, "use_dpop_nonce")
		if r.header.Get("DPoP-Nonce") == "" {
			t.Error("use_dpop_nonce without a DPoP-Nonce header")
		}
		forged := nonce[:len(nonce)-4] + map[bool]string{true: "AAAA", false: "BBBB"}[!strings.HasSuffix(nonce, "AAAA")]
		check("NonceForged", send(t, plain, "POST", tokenURL, hdr(p.sign(t, "POST", tokenURL, forged, "", nil)), form()), 400, "use_dpop_nonce")
		check("WrongHTU", send(t, plain, "POST", tokenURL, hdr(p.sign(t, "POST", s.url+"/as/par", nonce, "", nil)), form()), 400, "invalid_dpop_proof")
		check("WrongHTM", send(t, plain, "POST", tokenURL, hdr(p.sign(t, "GET", tokenURL, nonce, "", nil)), form()), 400, "invalid_dpop_proof")
		check("IatTooOld", send(t, plain, "POST", tokenURL, hdr(p.sign(t, "POST", tokenURL, nonce, "", map[string]any{"iat": s.app.Clock.Wall().Add(-2 * time.Minute).Unix()})), form()), 400, "invalid_dpop_proof")
		check("NoJTI", send(t, plain, "POST", tokenURL, hdr(p.sign(t, "POST", tokenURL, nonce, "", map[string]any{"jti": nil})), form()), 400, "invalid_dpop_proof")
		proof := p.sign(t, "POST", tokenURL, nonce, "", nil)
		r = send(t, plain, "POST", tokenURL, hdr(proof), form())
		check("Good", r, 200, "DPoP")
		check("Replayed", send(t, plain, "POST", tokenURL, hdr(proof), form()), 400, "invalid_dpop_proof")
		h := hdr(p.sign(t, "POST", tokenURL, nonce, "", nil))
		req, _ := http.NewRequest("POST", tokenURL, strings.NewReader(form()))
		for k, v := range h {
			req.Header.Set(k, v)
		}
		req.Header.Add("DPoP", p.sign(t, "POST", tokenURL, nonce, "", nil))
		resp, err := plain.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("two DPoP headers: %d, want 400", resp.StatusCode)
		}
	})

	t.Run("ErrResourceServer", func(t *testing.T) {
		p := newProofSigner(t, s.app.Clock.Wall)
		own := &proofSigner{key: c.DPoP.Key, now: s.app.Clock.Wall} // the client's own key
		good := func(over map[string]any) map[string]string {
			return map[string]string{"Authorization": "DPoP " + at, "DPoP": own.sign(t, "GET", accountsURL, c.DPoP.Nonce(), at, over)}
		}
		check := func(name string, r rawResponse, want int, challenge string) {
			t.Helper()
			if r.status != want || (challenge != "" && !strings.Contains(r.header.Get("WWW-Authenticate"), challenge)) {
				t.Errorf("%s: %d %q %s, want %d with %q", name, r.status, r.header.Get("WWW-Authenticate"), r.body, want, challenge)
			}
		}
		check("Good", send(t, plain, "GET", accountsURL, good(nil), ""), 200, "")
		check("AsBearer", send(t, plain, "GET", accountsURL, map[string]string{"Authorization": "Bearer " + at}, ""), 401, `DPoP error="invalid_token"`)
		check("ProofMissing", send(t, plain, "GET", accountsURL, map[string]string{"Authorization": "DPoP " + at}, ""), 401, "invalid_dpop_proof")
		other := "x" + at[1:]
		sum := sha256.Sum256([]byte(other))
		check("WrongATH", send(t, plain, "GET", accountsURL, good(map[string]any{"ath": base64.RawURLEncoding.EncodeToString(sum[:])}), ""), 401, "invalid_dpop_proof")
		check("NoATH", send(t, plain, "GET", accountsURL, good(map[string]any{"ath": nil}), ""), 401, "invalid_dpop_proof")
		check("WrongHTU", send(t, plain, "GET", accountsURL, good(map[string]any{"htu": s.url + ais + "/balances"}), ""), 401, "invalid_dpop_proof")
		check("WrongHTM", send(t, plain, "GET", accountsURL, good(map[string]any{"htm": "POST"}), ""), 401, "invalid_dpop_proof")
		h := good(nil)
		check("First", send(t, plain, "GET", accountsURL, h, ""), 200, "")
		check("Replayed", send(t, plain, "GET", accountsURL, h, ""), 401, "invalid_dpop_proof")
		r := send(t, plain, "GET", accountsURL, map[string]string{"Authorization": "DPoP " + at, "DPoP": p.sign(t, "GET", accountsURL, nonce, at, nil)}, "")
		check("AnotherKey", r, 401, "invalid_token")
		r = send(t, plain, "GET", accountsURL, good(map[string]any{"nonce": nil}), "")
		check("NonceMissing", r, 401, "use_dpop_nonce")
		if r.header.Get("DPoP-Nonce") == "" {
			t.Error("use_dpop_nonce without a DPoP-Nonce header")
		}
		bearer := s.strictTPP()
		btok, err := bearer.ClientCredentials(ctx, "accounts")
		if err != nil {
			t.Fatal(err)
		}
		u := s.url + ais + "/account-access-consents/" + a.ConsentID
		check("BearerTokenAsDPoP", send(t, plain, "GET", u, map[string]string{"Authorization": "DPoP " + btok, "DPoP": p.sign(t, "GET", u, nonce, btok, nil)}, ""), 401, "invalid_token")
	})

	t.Run("RefreshBoundToTheKey", func(t *testing.T) {
		next, err := c.Refresh(ctx, toks.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		if next.TokenType != "DPoP" || next.RefreshToken != "" {
			t.Errorf("refresh: token_type %q, new refresh token %q (fapi2 does not rotate)", next.TokenType, next.RefreshToken)
		}
		if _, err := c.Refresh(ctx, toks.RefreshToken); err != nil {
			t.Errorf("the same refresh token again: %v", err)
		}
		p := newProofSigner(t, s.app.Clock.Wall)
		r := send(t, plain, "POST", tokenURL, map[string]string{"Content-Type": "application/x-www-form-urlencoded",
			"DPoP": p.sign(t, "POST", tokenURL, c.DPoP.Nonce(), "", nil)},
			tokenForm(t, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {toks.RefreshToken}}))
		if r.status != 400 || !strings.Contains(r.body, "invalid_grant") {
			t.Errorf("the refresh token with another DPoP key: %d %s", r.status, r.body)
		}
	})

	t.Run("CertificateBoundClient", func(t *testing.T) {
		m := s.strictTPP()
		if _, _, err := m.AISJourney(ctx, "alice", "alice123", []string{"ReadAccountsBasic"}, nil); err == nil {
			t.Fatal("the hybrid journey ran in fapi2")
		}
		mcc, err := m.ClientCredentials(ctx, "accounts")
		if err != nil {
			t.Fatal(err)
		}
		id, _ := m.AccountConsent(ctx, mcc, []string{"ReadAccountsBasic"}, nil)
		toks, err := m.Approve(ctx, id, tpp.AuthOptions{Flow: tpp.Code, PAR: true}, "alice", "alice123", nil)
		if err != nil {
			t.Fatal(err)
		}
		if toks.TokenType != "Bearer" || jwtPart(t, toks.AccessToken, 1)["cnf"].(map[string]any)["x5t#S256"] == nil {
			t.Errorf("an mTLS client's token: %q %v", toks.TokenType, jwtPart(t, toks.AccessToken, 1)["cnf"])
		}
		if err := m.Call(ctx, http.MethodGet, ais+"/accounts", "", toks.AccessToken, nil, 200, nil); err != nil {
			t.Error(err)
		}
		if r := send(t, plain, "GET", accountsURL, map[string]string{"Authorization": "Bearer " + toks.AccessToken}, ""); r.status != 401 {
			t.Errorf("a certificate-bound token without its certificate: %d", r.status)
		}
		p := newProofSigner(t, s.app.Clock.Wall)
		r := send(t, m.HTTP, "POST", tokenURL, map[string]string{"Content-Type": "application/x-www-form-urlencoded",
			"DPoP": p.sign(t, "POST", tokenURL, c.DPoP.Nonce(), "", nil)}, tokenForm(t, m, url.Values{"grant_type": {"client_credentials"}, "scope": {"accounts"}}))
		if r.status != 400 || !strings.Contains(r.body, "invalid_dpop_proof") {
			t.Errorf("a DPoP proof from a certificate-bound client: %d %s", r.status, r.body)
		}
	})
	t.Run("NonceRunsOutOnTheSandboxClock", func(t *testing.T) {
		expect(t, s.do(req{method: "POST", path: "/sandbox/clock", token: s.app.Config.AdminToken, body: map[string]string{"advance": "6m"}}), 200)
		old := c.DPoP.Nonce()
		own := &proofSigner{key: c.DPoP.Key, now: s.app.Clock.Wall}
		r := send(t, plain, "GET", accountsURL, map[string]string{"Authorization": "DPoP " + at, "DPoP": own.sign(t, "GET", accountsURL, old, at, nil)}, "")
		if r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), "use_dpop_nonce") {
			t.Errorf("a nonce 6 minutes old: %d %q", r.status, r.header.Get("WWW-Authenticate"))
		}
		// The reference TPP follows use_dpop_nonce by itself.
		if err := c.Call(ctx, http.MethodGet, ais+"/accounts", "", at, nil, 200, nil); err != nil || c.DPoP.Nonce() == old {
			t.Errorf("after a new nonce: %v", err)
		}
	})

}

// TestDPoPElsewhere: in dev a client may register DPoP too (its tokens are
// then DPoP-bound, at the APIs and at userinfo, and introspection says so);
// fapi (FAPI 1.0 Advanced: certificate-bound tokens) refuses the
// registration and takes no DPoP scheme.
func TestDPoPElsewhere(t *testing.T) {
	t.Parallel()
	t.Run("dev", func(t *testing.T) {
		s := start(t, realIssuer())
		ctx := context.Background()
		c, err := tpp.New(ctx, s.url, callback, tpp.WithClock(s.app.Clock.Wall), s.tppKey())
		if err != nil {
			t.Fatal(err)
		}
		if err := c.UseDPoP(); err != nil {
			t.Fatal(err)
		}
		if err := c.Register(ctx, "private_key_jwt"); err != nil {
			t.Fatal(err)
		}
		toks, _, err := c.AISJourney(ctx, "alice", "alice123", []string{"ReadAccountsBasic"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if toks.TokenType != "DPoP" {
			t.Fatalf("token_type %q", toks.TokenType)
		}
		if err := c.Call(ctx, http.MethodGet, "/as/userinfo", "", toks.AccessToken, nil, 200, nil); err != nil {
			t.Errorf("userinfo with DPoP: %v", err)
		}
		expect(t, s.get(ais+"/accounts", toks.AccessToken), 401) // as a bearer token
		var intro struct {
			Active    bool   `json:"active"`
			TokenType string `json:"token_type"`
			CNF       struct {
				JKT string `json:"jkt"`
			} `json:"cnf"`
		}
		if _, err := c.PostForm(ctx, s.url+"/as/introspect", url.Values{"token": {toks.AccessToken}}, &intro); err != nil ||
			!intro.Active || intro.TokenType != "DPoP" || intro.CNF.JKT != c.DPoP.JKT() {
			t.Errorf("introspection: %v %+v", err, intro)
		}
	})
	t.Run("fapi", func(t *testing.T) {
		s := start(t, realIssuer(), withProfile(oauth.ProfileFAPI))
		ctx := context.Background()
		cert := s.certificate("dpop-in-fapi", false, false)
		c, err := tpp.New(ctx, s.url, callback, tpp.WithHTTPClient(s.mtlsClient(&cert)), tpp.WithClock(s.app.Clock.Wall), s.tppKey())
		if err != nil {
			t.Fatal(err)
		}
		if err := c.UseDPoP(); err != nil {
			t.Fatal(err)
		}
		ssa, err := c.SoftwareStatement(ctx, s.app.Config.AdminToken)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.RegisterJWT(ctx, ssa); err == nil || !strings.Contains(err.Error(), "dpop_bound_access_tokens") {
			t.Errorf("a DPoP registration in fapi: %v", err)
		}
		var d oauth.Discovery
		s.get("/.well-known/openid-configuration", "").JSON(t, &d)
		if d.DPoPSigningAlgValuesSupported != nil {
			t.Errorf("fapi lists DPoP algorithms %v", d.DPoPSigningAlgValuesSupported)
		}
	})
}
