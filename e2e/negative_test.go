package e2e

import (
	"bufio"
	"crypto/rand"
	"crypto/rsa"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/obsandbox/sandbox/internal/bank"
)

// TestAISRefusals tries what a client must not get away with; each case
// asserts the exact status and error code, and the bank is unchanged after
// all of them.
func TestAISRefusals(t *testing.T) {
	t.Parallel()
	s := start(t)
	accts := s.accountsOf("alice")
	bobs := s.accountsOf("bob")
	tok, client := s.directGrant("alice", bank.AccountAccessRequest{Permissions: []string{"ReadAccountsDetail",
		"ReadTransactionsDetail", "ReadTransactionsCredits", "ReadTransactionsDebits"}}, accts[:2])
	cc := s.clientToken(client, "accounts")
	acct := ais + "/accounts/" + accts[0]
	before := s.bankHash()

	// A PS256 token signed by a key that is not the bank's.
	other, _ := rsa.GenerateKey(rand.Reader, 1024)
	forged, _ := jwt.NewWithClaims(jwt.SigningMethodPS256, jwt.MapClaims{"iss": testIssuer, "aud": testIssuer,
		"sub": "alice", "jti": "x", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}).SignedString(other)
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"iss": testIssuer, "aud": testIssuer,
		"exp": time.Now().Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)

	long := strings.Repeat("A", 5000)
	tests := []struct {
		name   string
		r      req
		status int
		code   string // UK.OBIE error code; "" for a bodiless answer
	}{
		{"NoToken", req{method: "GET", path: ais + "/accounts"}, 401, ""},
		{"MalformedToken", req{method: "GET", path: ais + "/accounts", token: "not-a-jwt"}, 401, ""},
		{"BasicSchemeOnly", req{method: "GET", path: ais + "/accounts", header: map[string]string{"Authorization": "Basic " + tok}}, 401, ""},
		{"ForeignKeyToken", req{method: "GET", path: ais + "/accounts", token: forged}, 401, ""},
		{"AlgNoneToken", req{method: "GET", path: ais + "/accounts", token: none}, 401, ""},
		{"TokenInQueryString", req{method: "GET", path: ais + "/accounts?access_token=" + url.QueryEscape(tok)}, 401, ""},
		{"ClientCredentialsOnData", req{method: "GET", path: ais + "/accounts", token: cc}, 403, "UK.SBOX.Forbidden"},
		{"DataTokenOnConsents", req{method: "POST", path: ais + "/account-access-consents", token: tok,
			body: map[string]any{"Data": map[string]any{"Permissions": []string{"ReadAccountsBasic"}}, "Risk": map[string]any{}}}, 403, "UK.SBOX.Forbidden"},
		{"UnknownAccount", req{method: "GET", path: ais + "/accounts/no-such-account", token: tok}, 400, "UK.OBIE.Resource.NotFound"},
		{"AccountOutsideConsent", req{method: "GET", path: ais + "/accounts/" + accts[2], token: tok}, 403, "UK.SBOX.Forbidden"},
		{"AnotherPSUsAccount", req{method: "GET", path: ais + "/accounts/" + bobs[0] + "/transactions", token: tok}, 403, "UK.SBOX.Forbidden"},
		{"PermissionNotGranted", req{method: "GET", path: acct + "/balances", token: tok}, 403, "UK.SBOX.Forbidden"},
		{"SQLInjectionID", req{method: "GET", path: ais + "/accounts/" + url.PathEscape("' OR 1=1--"), token: tok}, 400, "UK.OBIE.Resource.NotFound"},
		{"DotDotID", req{method: "GET", path: ais + "/accounts/..%2F..%2Faccounts", token: tok}, 400, "UK.OBIE.Resource.NotFound"},
		{"NULInID", req{method: "GET", path: ais + "/accounts/abc%00def", token: tok}, 400, "UK.OBIE.Resource.NotFound"},
		{"HugeID", req{method: "GET", path: ais + "/accounts/" + long, token: tok}, 400, "UK.OBIE.Field.Invalid"},
		{"BadDate", req{method: "GET", path: acct + "/transactions?fromBookingDateTime=2024-13-45", token: tok}, 400, "UK.OBIE.Field.InvalidDate"},
		{"WordDate", req{method: "GET", path: acct + "/transactions?toBookingDateTime=yesterday", token: tok}, 400, "UK.OBIE.Field.InvalidDate"},
		{"ToBeforeFrom", req{method: "GET", path: acct + "/transactions?fromBookingDateTime=2026-05-01&toBookingDateTime=2026-04-01", token: tok}, 400, "UK.OBIE.Field.InvalidDate"},
		{"HugePageSize", req{method: "GET", path: acct + "/transactions?page-size=1000000000", token: tok}, 400, "UK.OBIE.Field.Invalid"},
		{"PageZero", req{method: "GET", path: acct + "/transactions?page=0", token: tok}, 400, "UK.OBIE.Field.Invalid"},
		{"PageWord", req{method: "GET", path: acct + "/transactions?page=two", token: tok}, 400, "UK.OBIE.Field.Invalid"},
		{"UnknownQueryParameter", req{method: "GET", path: acct + "/transactions?sort=amount", token: tok}, 400, "UK.OBIE.Field.Unexpected"},
		{"UnacceptableAccept", req{method: "GET", path: ais + "/accounts", token: tok, header: map[string]string{"Accept": "application/xml"}}, 406, ""},
		{"BadFapiAuthDate", req{method: "GET", path: ais + "/accounts", token: tok, header: map[string]string{"x-fapi-auth-date": "yesterday"}}, 400, "UK.OBIE.Header.Invalid"},
		{"UnknownPath", req{method: "GET", path: ais + "/accountz", token: tok}, 404, ""},
		{"WrongMethod", req{method: "PUT", path: ais + "/accounts", token: tok}, 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(tt.r)
			expect(t, r, tt.status)
			if tt.code == "" {
				if len(r.Body) != 0 {
					t.Errorf("want no body, got %.200s", r.Body)
				}
			} else if got := r.obError(t); got != tt.code {
				t.Errorf("ErrorCode %s, want %s", got, tt.code)
			}
			if tt.status == 401 && r.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	if after := s.bankHash(); after != before {
		t.Error("refused requests changed the bank")
	}
}

// TestConsentRefusals sends bad account-access consent requests: each is
// refused with its code and creates nothing.
func TestConsentRefusals(t *testing.T) {
	t.Parallel()
	s := start(t)
	_, client := s.directGrant("alice", bank.AccountAccessRequest{Permissions: []string{"ReadAccountsBasic"}}, nil)
	cc := s.clientToken(client, "accounts")
	before := s.bankHash()
	post := func(body any, hdr map[string]string) *response {
		return s.do(req{method: "POST", path: ais + "/account-access-consents", token: cc, body: body, header: hdr})
	}
	perms := func(p ...string) map[string]any {
		return map[string]any{"Data": map[string]any{"Permissions": p}, "Risk": map[string]any{}}
	}
	tests := []struct {
		name   string
		body   any
		hdr    map[string]string
		status int
		code   string
	}{
		{"MalformedJSON", `{"Data": {"Permissions": [`, nil, 400, "UK.OBIE.Resource.InvalidFormat"},
		{"NotAnObject", `[1,2,3]`, nil, 400, "UK.OBIE.Resource.InvalidFormat"},
		{"EmptyBody", ``, nil, 400, "UK.OBIE.Resource.InvalidFormat"},
		{"MissingPermissions", map[string]any{"Data": map[string]any{}, "Risk": map[string]any{}}, nil, 400, "UK.OBIE.Field.Missing"},
		{"MissingRisk", map[string]any{"Data": map[string]any{"Permissions": []string{"ReadAccountsBasic"}}}, nil, 400, "UK.OBIE.Field.Missing"},
		{"UnknownField", map[string]any{"Data": map[string]any{"Permissions": []string{"ReadAccountsBasic"}, "Colour": "red"}, "Risk": map[string]any{}}, nil, 400, "UK.OBIE.Field.Unexpected"},
		{"EmptyPermissions", perms(), nil, 400, "UK.OBIE.Field.Invalid"},
		{"UnknownPermission", perms("ReadAccountsBasic", "ReadEverything"), nil, 400, "UK.OBIE.Field.Invalid"},
		{"NoAccountsPermission", perms("ReadBalances"), nil, 400, "UK.OBIE.Field.Invalid"},
		{"DetailWithoutDirection", perms("ReadAccountsBasic", "ReadTransactionsDetail"), nil, 400, "UK.OBIE.Field.Invalid"},
		{"DirectionWithoutLevel", perms("ReadAccountsBasic", "ReadTransactionsCredits"), nil, 400, "UK.OBIE.Field.Invalid"},
		{"DuplicatePermission", perms("ReadAccountsBasic", "ReadAccountsBasic"), nil, 400, "UK.OBIE.Field.Invalid"},
		{"BadExpiration", map[string]any{"Data": map[string]any{"Permissions": []string{"ReadAccountsBasic"}, "ExpirationDateTime": "next week"}, "Risk": map[string]any{}}, nil, 400, "UK.OBIE.Field.InvalidDate"},
		{"PastExpiration", map[string]any{"Data": map[string]any{"Permissions": []string{"ReadAccountsBasic"}, "ExpirationDateTime": "2020-01-01T00:00:00Z"}, "Risk": map[string]any{}}, nil, 400, "UK.OBIE.Field.InvalidDate"},
		{"WindowBackwards", map[string]any{"Data": map[string]any{"Permissions": []string{"ReadAccountsBasic"},
			"TransactionFromDateTime": "2026-01-02T00:00:00Z", "TransactionToDateTime": "2026-01-01T00:00:00Z"}, "Risk": map[string]any{}}, nil, 400, "UK.OBIE.Field.InvalidDate"},
		{"WrongContentType", perms("ReadAccountsBasic"), map[string]string{"Content-Type": "text/plain"}, 415, ""},
		{"Oversized", `{"Data":{"Permissions":["ReadAccountsBasic"],"Pad":"` + strings.Repeat("x", 1<<20) + `"},"Risk":{}}`, nil, 413, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(tt.body, tt.hdr)
			expect(t, r, tt.status)
			if tt.code != "" {
				if got := r.obError(t); got != tt.code {
					t.Errorf("ErrorCode %s, want %s (%s)", got, tt.code, r.Body)
				}
			}
		})
	}
	if after := s.bankHash(); after != before {
		t.Error("refused consent requests changed stored state")
	}
}

// TestHostileHeaders sends what an ordinary client refuses to: control
// characters in a header. The server answers 400 and stays up.
func TestHostileHeaders(t *testing.T) {
	t.Parallel()
	s := start(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = conn.Write([]byte("GET /open-banking/v3.1/aisp/accounts HTTP/1.1\r\nHost: x\r\nx-fapi-interaction-id: a\x01b\x7f\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("control characters in a header: status %d, want 400", resp.StatusCode)
	}
	expect(t, s.get("/healthz", ""), 200)
}

// TestInteractionID checks x-fapi-interaction-id is echoed when valid and
// replaced when not, on successes and errors alike.
func TestInteractionID(t *testing.T) {
	t.Parallel()
	s := start(t)
	const id = "93bac548-d2de-4546-b106-880a5018460d"
	for _, tt := range []struct{ sent, want string }{{id, id}, {"not-a-uuid", ""}, {"", ""}} {
		for _, path := range []string{"/healthz", ais + "/accounts"} {
			r := s.do(req{method: "GET", path: path, header: map[string]string{"x-fapi-interaction-id": tt.sent}})
			got := r.Header.Get("x-fapi-interaction-id")
			if tt.want != "" && got != tt.want {
				t.Errorf("%s with %q: got %q, want it echoed", path, tt.sent, got)
			}
			if tt.want == "" && (got == tt.sent || len(got) != 36) {
				t.Errorf("%s with %q: got %q, want a new UUID", path, tt.sent, got)
			}
		}
	}
}
