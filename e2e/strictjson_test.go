package e2e

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/tpp"
)

// Strict JSON: a body or a JWT that two parsers can read differently — a key
// twice in one object (encoding/json keeps the last, others the first), data
// after the value (a streaming decoder never looks) — is refused wherever
// the sandbox reads JSON, and nothing is stored.

// resign re-signs a compact JWS with key (PS256) after editing its header
// and payload as raw JSON text (nil: as they are).
func resign(t testing.TB, token string, key *rsa.PrivateKey, header, payload func(string) string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %.80s", token)
	}
	seg := func(s string, edit func(string) string) string {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			b = []byte(edit(string(b)))
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	input := seg(parts[0], header) + "." + seg(parts[1], payload)
	sig, err := jwt.SigningMethodPS256.Sign(input, key)
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// twice puts a member before an object's own: with the same key as one of
// them, the key is there twice.
func twice(member string) func(string) string {
	return func(s string) string { return "{" + member + "," + strings.TrimPrefix(s, "{") }
}

// after appends text after the JSON value.
func after(extra string) func(string) string { return func(s string) string { return s + extra } }

// TestStrictJSONResourceBodies: resource API bodies, signed or not.
func TestStrictJSONResourceBodies(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.newTPP("private_key_jwt")
	ccA := s.clientToken(c.ClientID, "accounts")
	ccP, err := c.ClientCredentials(ctx, "payments")
	if err != nil {
		t.Fatal(err)
	}
	before := s.bankHash()
	consent := `{"Data":{"Permissions":["ReadAccountsBasic"]},"Risk":{}}`
	in, _ := json.Marshal(tpp.DomesticInitiation("10.00", payee, "STRICT"))
	payment := `{"Data":{"Initiation":` + string(in) + `},"Risk":{}}`
	tests := []struct {
		name, path, token, body string
	}{
		{"ConsentDuplicateKey", ais + "/account-access-consents", ccA,
			`{"Data":{"Permissions":["ReadAccountsBasic"],"Permissions":["ReadAccountsDetail","ReadTransactionsDetail"]},"Risk":{}}`},
		{"ConsentDuplicateKeyOtherCase", ais + "/account-access-consents", ccA,
			`{"Data":{"Permissions":["ReadAccountsBasic"]},"data":{"Permissions":["ReadAccountsDetail"]},"Risk":{}}`},
		{"ConsentTrailingValue", ais + "/account-access-consents", ccA, consent + `{"Data":{}}`},
		{"ConsentTrailingGarbage", ais + "/account-access-consents", ccA, consent + `garbage`},
		{"PaymentConsentDuplicateAmount", pis + "/domestic-payment-consents", ccP,
			strings.Replace(payment, `"Amount":"10.00"`, `"Amount":"10.00","Amount":"9999.00"`, 1)},
		{"PaymentConsentTrailing", pis + "/domestic-payment-consents", ccP, payment + " {}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := []byte(tt.body)
			sig, err := c.Signature(raw)
			if err != nil {
				t.Fatal(err)
			}
			r := s.do(req{method: "POST", path: tt.path, token: tt.token, body: raw,
				header: map[string]string{"x-idempotency-key": uuid.NewString(), "x-jws-signature": sig}})
			expect(t, r, 400)
			if got := r.obError(t); got != "UK.OBIE.Resource.InvalidFormat" {
				t.Errorf("ErrorCode %s, want UK.OBIE.Resource.InvalidFormat", got)
			}
		})
	}
	if s.bankHash() != before {
		t.Error("a refused body changed the bank")
	}
}

// TestStrictJSONControlBodies: the sandbox's own endpoints and dev JSON
// registration answer in their RFC 6749 / RFC 7591 shape.
func TestStrictJSONControlBodies(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.newTPP("private_key_jwt")
	admin := s.app.Config.AdminToken
	cc := s.clientToken(c.ClientID, "accounts")
	id, err := c.AccountConsent(ctx, cc, []string{"ReadAccountsBasic"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.Authorize(ctx, id, tpp.AuthOptions{})
	if err != nil {
		t.Fatal(err)
	}
	headless, _ := json.Marshal(map[string]any{"authorize_url": a.URL, "username": "alice", "password": "alice123", "decision": "deny"})
	meta, _ := json.Marshal(c.Metadata("private_key_jwt"))
	tests := []struct {
		name, path, token, body, code string
	}{
		{"ClockDuplicateKey", "/sandbox/clock", admin, `{"advance":"1h","advance":"720h"}`, "invalid_request"},
		{"ClockDuplicateKeyOtherCase", "/sandbox/clock", admin, `{"advance":"1h","ADVANCE":"720h"}`, "invalid_request"},
		{"ClockTrailing", "/sandbox/clock", admin, `{"advance":"1h"}{"advance":"1h"}`, "invalid_request"},
		{"HeadlessDuplicateDecision", "/sandbox/psu/authorize", "", string(twice(`"decision":"approve"`)(string(headless))), "invalid_request"},
		{"RegisterDuplicateKey", "/as/register", "", string(twice(`"redirect_uris":["https://evil.example/cb"]`)(string(meta))), "invalid_client_metadata"},
		{"RegisterTrailing", "/as/register", "", string(meta) + `{"client_name":"x"}`, "invalid_client_metadata"},
		{"RegisterUpdateDuplicateKey", "/as/register/" + c.ClientID, c.RegistrationToken,
			string(twice(`"redirect_uris":["https://evil.example/cb"]`)(string(meta))), "invalid_client_metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := http.MethodPost
			if strings.HasPrefix(tt.path, "/as/register/") {
				method = http.MethodPut
			}
			r := s.do(req{method: method, path: tt.path, token: tt.token, body: tt.body})
			expect(t, r, 400)
			if got := oauthError(t, r); got != tt.code {
				t.Errorf("error %q, want %q", got, tt.code)
			}
		})
	}
	if off := s.app.Clock.Offset(); off != 0 {
		t.Errorf("the clock moved by %v", off)
	}
	if st := s.consentStatus(c, id); st != bank.StatusAwaitingAuthorisation {
		t.Errorf("consent %s, want %s: the refused headless decision counted", st, bank.StatusAwaitingAuthorisation)
	}
	r := s.do(req{method: http.MethodGet, path: "/as/register/" + c.ClientID, token: c.RegistrationToken})
	expect(t, r, 200)
	if strings.Contains(string(r.Body), "evil.example") {
		t.Errorf("a refused update was stored: %s", r.Body)
	}
}

// TestStrictJWTs: every JWT the sandbox reads — client assertions, request
// objects, registration requests, software statements, access tokens — is
// refused when its header or payload has a key twice or data after it,
// although its signature is good.
func TestStrictJWTs(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.newTPP("private_key_jwt")
	token := func(assertion string) *response {
		return s.postForm("/as/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"accounts"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}})
	}
	assertion := func(header, payload func(string) string) string {
		a, err := c.Assertion(nil)
		if err != nil {
			t.Fatal(err)
		}
		return resign(t, a, c.Key, header, payload)
	}
	t.Run("AssertionControl", func(t *testing.T) { expect(t, token(assertion(nil, nil)), 200) })
	for name, a := range map[string]string{
		"AssertionDuplicateAud":    assertion(nil, twice(`"aud":"https://elsewhere.example"`)),
		"AssertionDuplicateHeader": assertion(twice(`"alg":"none"`), nil),
		"AssertionTrailing":        assertion(nil, after(`{"aud":"https://elsewhere.example"}`)),
	} {
		t.Run(name, func(t *testing.T) {
			r := token(a)
			expect(t, r, 401)
			if got := oauthError(t, r); got != "invalid_client" {
				t.Errorf("error %q, want invalid_client", got)
			}
		})
	}

	// A request object pushed (PAR) with a claim twice.
	cc := s.clientToken(c.ClientID, "accounts")
	id, err := c.AccountConsent(ctx, cc, []string{"ReadAccountsBasic"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.Authorize(ctx, id, tpp.AuthOptions{Flow: tpp.Code})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(a.URL)
	ro := u.Query().Get("request")
	par := func(v url.Values) int {
		var out map[string]any
		st, err := c.PostForm(ctx, c.Discovery().PAREndpoint, v, &out)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	t.Run("RequestObjectControl", func(t *testing.T) {
		if st := par(url.Values{"request": {resign(t, ro, c.Key, nil, nil)}}); st != 201 {
			t.Errorf("status %d, want 201", st)
		}
	})
	t.Run("RequestObjectDuplicateClaim", func(t *testing.T) {
		if st := par(url.Values{"request": {resign(t, ro, c.Key, nil, twice(`"redirect_uri":"https://evil.example/cb"`))}}); st != 400 {
			t.Errorf("status %d, want 400", st)
		}
	})
	t.Run("PlainClaimsDuplicateKey", func(t *testing.T) {
		// dev takes plain parameters, the ConsentId in the OIDC claims parameter.
		v := url.Values{"response_type": {"code"}, "redirect_uri": {callback}, "scope": {"openid accounts"},
			"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"},
			"state": {"s"}, "nonce": {"n"}}
		claims := `{"id_token":{"openbanking_intent_id":{"value":"` + id + `"}}}`
		v.Set("claims", claims)
		if st := par(v); st != 201 {
			t.Errorf("control: status %d, want 201", st)
		}
		v.Set("claims", `{"id_token":{"openbanking_intent_id":{"value":"aac-other"},"openbanking_intent_id":{"value":"`+id+`"}}}`)
		if st := par(v); st != 400 {
			t.Errorf("status %d, want 400", st)
		}
	})

	// Registration requests and software statements.
	ssa := s.ssa(c, []string{"AISP"})
	_, bankKey := s.app.Auth.Keys.Signer()
	register := func(body string) *response {
		return s.do(req{method: "POST", path: "/as/register", body: body, header: map[string]string{"Content-Type": "application/jwt"}})
	}
	t.Run("RegistrationControl", func(t *testing.T) {
		expect(t, register(resign(t, c.RegisterJWTBody(ssa), c.Key, nil, nil)), 201)
	})
	t.Run("RegistrationDuplicateClaim", func(t *testing.T) {
		expect(t, register(resign(t, c.RegisterJWTBody(ssa), c.Key, nil, twice(`"redirect_uris":["https://evil.example/cb"]`))), 400)
	})
	t.Run("SoftwareStatementDuplicateClaim", func(t *testing.T) {
		dup := resign(t, ssa, bankKey, nil, twice(`"software_roles":["AISP","PISP","CBPII"]`))
		expect(t, register(c.RegisterJWTBody(dup)), 400)
	})

	// The bank's own access tokens.
	tok, _ := s.directGrant("alice", bank.AccountAccessRequest{Permissions: []string{"ReadAccountsBasic"}}, nil)
	t.Run("AccessTokenControl", func(t *testing.T) { expect(t, s.get(ais+"/accounts", resign(t, tok, bankKey, nil, nil)), 200) })
	t.Run("AccessTokenDuplicateClaim", func(t *testing.T) {
		expect(t, s.get(ais+"/accounts", resign(t, tok, bankKey, nil, twice(`"openbanking_intent_id":"aac-other"`))), 401)
	})
}
