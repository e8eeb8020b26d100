package e2e

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/obsandbox/sandbox/internal/app"
	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/tpp"
)

// tenantTPP registers a reference TPP with the sandbox under base.
func tenantTPP(t *testing.T, s *sandbox, base string) *tpp.Client {
	t.Helper()
	c, err := tpp.New(context.Background(), base, callback, tpp.WithHTTPClient(s.client))
	if err != nil {
		t.Fatal(err)
	}
	c.Now = s.app.Clock.Wall
	c.Trace = func(req *http.Request, _ []byte, resp *http.Response, body []byte) {
		checkResponse(t, tenantRequest(req), resp.StatusCode, resp.Header, body)
	}
	if err := c.Register(context.Background(), "private_key_jwt"); err != nil {
		t.Fatal(err)
	}
	return c
}

// tenantRequest is the request as the tenant sees it (for the contract
// check, which knows the paths without the /t/<name> prefix).
func tenantRequest(r *http.Request) *http.Request {
	rest, ok := strings.CutPrefix(r.URL.Path, "/t/")
	if !ok {
		return r
	}
	_, path, _ := strings.Cut(rest, "/")
	r2 := r.Clone(r.Context())
	r2.URL.Path, r2.URL.RawPath = "/"+path, ""
	return r2
}

// TestTenants: two tenants and the root are three banks: a client, a
// consent, a payment, a clock jump or a scenario in one is seen in no other.
func TestTenants(t *testing.T) {
	s := start(t, realIssuer())
	ctx := context.Background()
	bases := map[string]string{"root": s.url, "ci-a": s.url + "/t/ci-a", "ci-b": s.url + "/t/ci-b"}
	clients := map[string]*tpp.Client{}
	aisTokens := map[string]string{}
	for name, base := range bases {
		c := tenantTPP(t, s, base)
		toks, _, err := c.AISJourney(ctx, "alice", "alice123", tpp.AllPermissions, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		clients[name], aisTokens[name] = c, toks.AccessToken
	}
	var disc struct{ Issuer string }
	s.get("/t/ci-a/.well-known/openid-configuration", "").JSON(t, &disc)
	if disc.Issuer != s.url+"/t/ci-a" {
		t.Errorf("tenant issuer %q", disc.Issuer)
	}
	acct := s.accountsOf("alice")[0] // the same seed: the same AccountIds everywhere
	before := map[string]int64{}
	for name := range bases {
		before[name] = balanceAt(s, bases[name], aisTokens[name], acct)
	}
	if _, _, err := clients["ci-a"].PaymentJourney(ctx, "alice", "alice123", tpp.DomesticInitiation("10.00", payee, "TENANT A"), []string{acct}); err != nil {
		t.Fatal(err)
	}
	for name := range bases {
		want := before[name]
		if name == "ci-a" {
			want -= 1000
		}
		if got := balanceAt(s, bases[name], aisTokens[name], acct); got != want {
			t.Errorf("%s: alice's available balance %d, want %d", name, got, want)
		}
	}

	t.Run("no_token_or_client_crosses", func(t *testing.T) {
		expect(t, s.get("/t/ci-b/open-banking/v3.1/aisp/accounts", aisTokens["ci-a"]), 401)
		expect(t, s.get("/open-banking/v3.1/aisp/accounts", aisTokens["ci-b"]), 401)
		expect(t, s.get("/t/ci-a/open-banking/v3.1/aisp/accounts", aisTokens["root"]), 401)
		// ci-a's client, credentials and all, at ci-a (it works) and at ci-b.
		a := clients["ci-a"]
		for _, tc := range []struct {
			base string
			ok   bool
		}{{bases["ci-a"], true}, {bases["ci-b"], false}, {bases["root"], false}} {
			c, err := tpp.New(ctx, tc.base, callback, tpp.WithHTTPClient(s.client))
			if err != nil {
				t.Fatal(err)
			}
			c.Now, c.ClientID, c.Key, c.KID, c.AuthMethod = s.app.Clock.Wall, a.ClientID, a.Key, a.KID, a.AuthMethod
			if _, err := c.ClientCredentials(ctx, "accounts"); (err == nil) != tc.ok {
				t.Errorf("ci-a's client at %s: %v", tc.base, err)
			}
		}
	})
	t.Run("clock_and_scenarios_are_per_tenant", func(t *testing.T) {
		expect(t, s.do(req{method: "POST", path: "/t/ci-a/sandbox/clock", token: s.app.Config.AdminToken, body: map[string]string{"advance": "10d"}}), 200)
		expect(t, s.do(req{method: "POST", path: "/t/ci-b/sandbox/scenarios/active", token: s.app.Config.AdminToken,
			body: map[string]string{"name": "server-error"}}), 200)
		var clock struct{ Offset string }
		s.admin("GET", "/sandbox/clock", nil).JSON(t, &clock)
		if clock.Offset != "0s" {
			t.Errorf("the root clock moved: %s", clock.Offset)
		}
		expect(t, s.get("/open-banking/v3.1/aisp/accounts", aisTokens["root"]), 200)
		expect(t, s.get("/t/ci-b/open-banking/v3.1/aisp/accounts", aisTokens["ci-b"]), 500)
		expect(t, s.get("/t/ci-a/open-banking/v3.1/aisp/accounts", aisTokens["ci-a"]), 401) // ten days outlived the token
	})
	t.Run("the_PSU_pages_stay_in_the_tenant", func(t *testing.T) {
		c := clients["ci-a"]
		cc, _ := c.ClientCredentials(ctx, "accounts")
		id, err := c.AccountConsent(ctx, cc, tpp.AllPermissions, nil)
		if err != nil {
			t.Fatal(err)
		}
		a, err := c.Authorize(ctx, id, tpp.AuthOptions{})
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(a.URL)
		r := s.get(strings.TrimPrefix(u.String(), s.url), "")
		if loc := r.Header.Get("Location"); r.Status != 303 || !strings.HasPrefix(loc, "/t/ci-a/psu/authorize/") {
			t.Fatalf("authorize: %d Location %q, want a tenant PSU page", r.Status, loc)
		}
		page := s.get(r.Header.Get("Location"), "")
		if !strings.Contains(string(page.Body), `action="/t/ci-a/psu/authorize/`) || !strings.Contains(string(page.Body), `href="/t/ci-a/static/style.css"`) {
			t.Errorf("the login page's links leave the tenant:\n%.800s", page.Body)
		}
		for _, ck := range page.Header.Values("Set-Cookie") {
			if !strings.Contains(ck, "Path=/t/ci-a/psu/") {
				t.Errorf("cookie %q is not scoped to the tenant", ck)
			}
		}
	})
	t.Run("admin", func(t *testing.T) {
		var list struct {
			Tenants []struct {
				Name    string
				Running bool
			}
		}
		s.admin("GET", "/sandbox/tenants", nil).JSON(t, &list)
		if len(list.Tenants) != 2 || list.Tenants[0].Name != "ci-a" || !list.Tenants[1].Running {
			t.Errorf("tenants %+v", list.Tenants)
		}
		expect(t, s.admin("DELETE", "/sandbox/tenants/ci-b", nil), 204)
		expect(t, s.admin("DELETE", "/sandbox/tenants/ci-b", nil), 404)
		// dev: the next request makes a fresh ci-b, without ci-b's old client
		if _, err := clients["ci-b"].ClientCredentials(ctx, "accounts"); err == nil {
			t.Error("a deleted tenant's client still gets tokens")
		}
		expect(t, s.get("/t/Bad_Name/healthz", ""), 400)
		expect(t, s.do(req{method: "GET", path: "/sandbox/tenants"}), 401)
	})
}

// balanceAt reads a balance from the sandbox under base.
func balanceAt(s *sandbox, base, token, acct string) int64 {
	s.t.Helper()
	root := s.url
	defer func() { s.url = root }()
	s.url = base
	return s.balanceOf(token, acct, "InterimAvailable")
}

// TestTenantsFAPI: in fapi only the admin makes tenants; their number is
// bounded.
func TestTenantsFAPI(t *testing.T) {
	s := start(t, realIssuer(), withProfile(oauth.ProfileFAPI), withTLS(), func(c *app.Config) { c.MaxTenants = 1 })
	expect(t, s.get("/t/job-1/healthz", ""), 404)
	expect(t, s.admin("POST", "/sandbox/tenants", map[string]string{"name": "job-1"}), 201)
	expect(t, s.get("/t/job-1/healthz", ""), 200)
	expect(t, s.admin("POST", "/sandbox/tenants", map[string]string{"name": "job-2"}), 409)
	expect(t, s.admin("POST", "/sandbox/tenants", map[string]string{"name": "../x"}), 400)
}

// TestBrowserTenant: inside a tenant, the PSU logs in and approves in
// Chromium (the pages, their stylesheet, cookies and redirects stay under
// /t/<name>), and the trainer runs a journey from the tenant's page.
func TestBrowserTenant(t *testing.T) {
	s := start(t, realIssuer())
	cb := newCallback(t)
	b := newBrowser(t)
	base := s.url + "/t/web-1"
	c := orFatal(tpp.New(b.ctx, base, cb.URL+"/callback"))(t)
	c.Now = s.app.Clock.Wall
	if err := c.Register(b.ctx, "private_key_jwt"); err != nil {
		t.Fatal(err)
	}
	a, _ := authorizeURL(t, b, c, tpp.AuthOptions{})
	b.nav(t, chromedp.Navigate(a.URL))
	if resp := b.psuLogin(t, "alice", "alice123"); resp.Status != 200 || !strings.HasPrefix(resp.URL, base+"/psu/") {
		t.Fatalf("login: %d at %s", resp.Status, resp.URL)
	}
	if bg := browserRead(t, b, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('header')).backgroundColor`)); bg != "rgb(27, 31, 36)" {
		t.Errorf("the page's stylesheet did not load inside the tenant (header background %q)", bg)
	}
	b.do(t, chromedp.WaitVisible(byCSS("#approve")))
	landed := b.nav(t, chromedp.Click(byCSS("#approve")))
	got := cb.wait(b.ctx, t)
	if landed.URL != got {
		t.Fatalf("landed on %s, want the callback %s", landed.URL, got)
	}
	toks := orFatal(c.Exchange(b.ctx, a, orFatal(c.Callback(b.ctx, a, got))(t)))(t)
	expect(t, s.get("/t/web-1"+ais+"/accounts", toks.AccessToken), 200)
	expect(t, s.get(ais+"/accounts", toks.AccessToken), 401) // not the root's token

	b.nav(t, chromedp.Navigate(base+"/trainer"))
	b.do(t, chromedp.Click(byCSS("#start-payment")),
		chromedp.Poll[chromedp.Void](`document.getElementById('status').textContent.startsWith('Journey ready')`),
		chromedp.Click(byCSS("#run-all")),
		chromedp.Poll[chromedp.Void](`['Journey complete.'].includes(document.getElementById('status').textContent) || document.getElementById('status').className === 'error'`))
	if st := browserRead(t, b, chromedp.Text("#status")); st != "Journey complete." {
		t.Errorf("the tenant's trainer: %q", st)
	}
	b.checkHeaders(t, s.url)
}
