package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/tpp"
)

// strictTPP registers a reference TPP with a fapi or fapi2 sandbox as such a
// TPP must: a transport certificate from the sandbox's CA for mutual TLS, a
// software statement from its directory, a signed registration request.
// setup runs before registering (e.g. to turn DPoP on).
func (s *sandbox) strictTPP(setup ...func(*tpp.Client)) *tpp.Client {
	s.t.Helper()
	ctx := context.Background()
	cert := s.certificate("strict-tpp", false, false)
	c, err := tpp.New(ctx, s.url, callback, tpp.WithHTTPClient(s.mtlsClient(&cert)), tpp.WithClock(s.app.Clock.Wall), s.tppKey())
	if err != nil {
		s.t.Fatal(err)
	}
	t := s.t
	c.Trace = func(req *http.Request, _ []byte, resp *http.Response, body []byte) {
		checkResponse(t, req, resp.StatusCode, resp.Header, body)
	}
	for _, f := range setup {
		f(c)
	}
	ssa, err := c.SoftwareStatement(ctx, s.app.Config.AdminToken)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := c.RegisterJWT(ctx, ssa); err != nil {
		s.t.Fatal(err)
	}
	return c
}

// callbackError is the error the bank sent back to the redirect URI (JARM
// or not), after the reference TPP checked the response.
func callbackError(t *testing.T, c *tpp.Client, a *tpp.Authorization, r *response) string {
	t.Helper()
	expect(t, r, 200)
	var out struct {
		RedirectTo string `json:"redirect_to"`
	}
	r.JSON(t, &out)
	_, err := c.Callback(context.Background(), a, out.RedirectTo)
	var ce *tpp.CallbackError
	if !errors.As(err, &ce) {
		t.Fatalf("callback %s: %v, want an error from the bank", out.RedirectTo, err)
	}
	return ce.Code
}

// jwtPart decodes part i (0 header, 1 payload) of a compact JWT.
func jwtPart(t *testing.T, raw string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", raw)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestFAPI1Advanced: the fapi profile is FAPI 1.0 Advanced (Final) strictly —
// code id_token, or code with a signed authorization response (JARM, PS256,
// iss/aud/exp); code without JARM and any request without nonce are
// refused; request objects keep their 60-minute and audience rules; and the
// whole journey runs with golang.org/x/oauth2 and the reference TPP's JARM
// check.
func TestFAPI1Advanced(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer(), withProfile(oauth.ProfileFAPI))
	ctx := context.Background()
	c := s.strictTPP()
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
	authz := func(o tpp.AuthOptions) *tpp.Authorization {
		a, err := c.Authorize(ctx, consent(), o)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	jarm := tpp.AuthOptions{Flow: tpp.Code, ResponseMode: "jwt"}

	t.Run("Discovery", func(t *testing.T) {
		var d oauth.Discovery
		s.get("/.well-known/openid-configuration", "").JSON(t, &d)
		if !slices.Contains(d.ResponseModesSupported, "jwt") || slices.Contains(d.ResponseModesSupported, "query") ||
			!slices.Equal(d.AuthorizationSigningAlgValuesSupported, []string{"PS256"}) ||
			!slices.Equal(d.ResponseTypesSupported, []string{"code id_token", "code"}) {
			t.Errorf("response types %v, modes %v, JARM algs %v", d.ResponseTypesSupported, d.ResponseModesSupported, d.AuthorizationSigningAlgValuesSupported)
		}
	})
	t.Run("ErrCodeWithoutJARM", func(t *testing.T) {
		a := authz(tpp.AuthOptions{Flow: tpp.Code})
		if got := redirectError(t, s.headless(a, "alice", "alice123", "approve")); got != "invalid_request" {
			t.Errorf("code without response_mode=jwt: %q, want invalid_request", got)
		}
		a = authz(tpp.AuthOptions{Flow: tpp.Code, ResponseMode: "query"})
		if got := redirectError(t, s.headless(a, "alice", "alice123", "approve")); got != "invalid_request" {
			t.Errorf("code with response_mode=query: %q, want invalid_request", got)
		}
	})
	t.Run("ErrNonceMissing", func(t *testing.T) {
		for _, o := range []tpp.AuthOptions{{}, {Flow: tpp.Code, ResponseMode: "jwt"}} {
			o.Claims = map[string]any{"nonce": nil}
			a := authz(o)
			if got := callbackError(t, c, a, s.headless(a, "alice", "alice123", "approve")); got != "invalid_request" {
				t.Errorf("%s without nonce: %q, want invalid_request", o.Flow, got)
			}
		}
	})
	t.Run("ErrRequestObjectRules", func(t *testing.T) {
		now := s.app.Clock.Wall()
		for name, claims := range map[string]map[string]any{
			"LivesOver60Minutes": {"exp": now.Add(61 * time.Minute).Unix()},
			"AudNotTheIssuer":    {"aud": s.url + "/as/token"},
			"NbfOver60Minutes":   {"nbf": now.Add(-61 * time.Minute).Unix(), "exp": now.Add(-59 * time.Minute).Unix()},
		} {
			a := authz(tpp.AuthOptions{Flow: tpp.Code, ResponseMode: "jwt", Claims: claims})
			r := s.headless(a, "alice", "alice123", "approve")
			if r.Status != 400 || !strings.Contains(string(r.Body), "invalid_request_object") {
				t.Errorf("%s: %d %s, want 400 invalid_request_object", name, r.Status, r.Body)
			}
		}
	})
	t.Run("ErrJARMTampered", func(t *testing.T) {
		a := authz(jarm)
		var out struct {
			RedirectTo string `json:"redirect_to"`
		}
		r := s.headless(a, "alice", "alice123", "approve")
		expect(t, r, 200)
		r.JSON(t, &out)
		u, _ := url.Parse(out.RedirectTo)
		signed := u.Query().Get("response")
		parts := strings.Split(signed, ".")
		claims := jwtPart(t, signed, 1)
		claims["code"] = "an-attackers-code"
		b, _ := json.Marshal(claims)
		for name, forged := range map[string]string{
			"PayloadChanged": parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2],
			"SignatureCut":   parts[0] + "." + parts[1] + ".",
			"AlgNone":        base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".",
		} {
			q := u.Query()
			q.Set("response", forged)
			u2 := *u
			u2.RawQuery = q.Encode()
			if _, err := c.Callback(ctx, a, u2.String()); err == nil || !strings.Contains(err.Error(), "JARM") {
				t.Errorf("%s: the TPP took a tampered JARM response: %v", name, err)
			}
		}
		if _, err := c.Callback(ctx, a, out.RedirectTo); err != nil {
			t.Errorf("the untouched response: %v", err)
		}
	})
	t.Run("JARMJourney", func(t *testing.T) {
		a := authz(jarm)
		var out struct {
			RedirectTo string `json:"redirect_to"`
		}
		r := s.headless(a, "alice", "alice123", "approve")
		expect(t, r, 200)
		r.JSON(t, &out)
		u, _ := url.Parse(out.RedirectTo)
		if u.Fragment != "" || len(u.Query()) != 1 || u.Query().Get("response") == "" {
			t.Fatalf("a JARM answer to response_type=code is one query parameter, response: %s", out.RedirectTo)
		}
		code, err := c.Callback(ctx, a, out.RedirectTo)
		if err != nil {
			t.Fatal(err)
		}
		h := jwtPart(t, a.JARM, 0)
		cl := a.JARMClaims
		if h["alg"] != "PS256" || cl["iss"] != s.url || cl["aud"] != c.ClientID || cl["exp"] == nil || cl["state"] != a.State || cl["code"] != code {
			t.Errorf("JARM header %v, claims %v", h, cl)
		}
		toks, err := c.Exchange(ctx, a, code)
		if err != nil {
			t.Fatal(err)
		}
		var idt struct {
			Nonce string `json:"nonce"`
		}
		if toks.IDToken == nil || toks.IDToken.Claims(&idt) != nil || idt.Nonce != a.Nonce {
			t.Errorf("ID token nonce %q, want %q", idt.Nonce, a.Nonce)
		}
		if err := c.Call(ctx, http.MethodGet, ais+"/accounts", "", toks.AccessToken, nil, 200, nil); err != nil {
			t.Error(err)
		}
	})
	t.Run("HybridWithJARM", func(t *testing.T) {
		a := authz(tpp.AuthOptions{ResponseMode: "jwt"})
		var out struct {
			RedirectTo string `json:"redirect_to"`
		}
		r := s.headless(a, "alice", "alice123", "approve")
		expect(t, r, 200)
		r.JSON(t, &out)
		code, err := c.Callback(ctx, a, out.RedirectTo)
		if err != nil || !strings.Contains(out.RedirectTo, "#response=") || a.JARMClaims["id_token"] == nil {
			t.Fatalf("code id_token with JARM: %v, %s", err, out.RedirectTo)
		}
		if _, err := c.Exchange(ctx, a, code); err != nil {
			t.Error(err)
		}
	})
	t.Run("HybridJourney", func(t *testing.T) {
		if _, err := c.Approve(ctx, consent(), tpp.AuthOptions{}, "alice", "alice123", nil); err != nil {
			t.Error(err)
		}
	})
}
