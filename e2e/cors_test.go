package e2e

import (
	"testing"

	"github.com/obsandbox/sandbox/internal/app"
	"github.com/obsandbox/sandbox/internal/bank"
)

// TestCORS: only allow-listed origins get CORS headers, on the resource APIs
// only, never "*"; preflights from others are refused; the OAuth endpoints
// never answer CORS.
func TestCORS(t *testing.T) {
	t.Parallel()
	const good, bad = "https://demo.example", "https://evil.example"
	s := start(t, func(c *app.Config) { c.CORSOrigins = []string{good} })
	tok, _ := s.directGrant("alice", bank.AccountAccessRequest{Permissions: []string{"ReadAccountsBasic"}}, s.accountsOf("alice"))
	pre := func(origin, path string) *response {
		return s.do(req{method: "OPTIONS", path: path, header: map[string]string{"Origin": origin, "Access-Control-Request-Method": "GET",
			"Access-Control-Request-Headers": "authorization"}})
	}
	r := pre(good, ais+"/accounts")
	expect(t, r, 204)
	if r.Header.Get("Access-Control-Allow-Origin") != good || r.Header.Get("Access-Control-Allow-Headers") == "" {
		t.Errorf("preflight from the allowed origin: %v", r.Header)
	}
	expect(t, pre(bad, ais+"/accounts"), 403)
	get := s.do(req{method: "GET", path: ais + "/accounts", token: tok, header: map[string]string{"Origin": good}})
	if get.Header.Get("Access-Control-Allow-Origin") != good {
		t.Errorf("GET from the allowed origin: %v", get.Header)
	}
	get = s.do(req{method: "GET", path: ais + "/accounts", token: tok, header: map[string]string{"Origin": bad}})
	if v := get.Header.Get("Access-Control-Allow-Origin"); v != "" {
		t.Errorf("another origin got Access-Control-Allow-Origin %q", v)
	}
	for _, p := range []string{"/as/token", "/as/authorize", "/as/par", "/as/register"} {
		if v := pre(good, p).Header.Get("Access-Control-Allow-Origin"); v != "" {
			t.Errorf("%s answers CORS: %q", p, v)
		}
	}
}
