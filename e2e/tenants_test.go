package e2e

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/obsandbox/sandbox/internal/app"
	"github.com/obsandbox/sandbox/internal/gateway"
	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/tpp"
)

// tenantTPP registers a reference TPP with the sandbox under base.
func tenantTPP(t *testing.T, s *sandbox, base string) *tpp.Client {
	t.Helper()
	c, err := tpp.New(context.Background(), base, callback, tpp.WithHTTPClient(s.client), s.tppKey())
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
	t.Parallel()
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
			c, err := tpp.New(ctx, tc.base, callback, tpp.WithHTTPClient(s.client), s.tppKey())
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
				Name string
				Open bool
			}
		}
		s.admin("GET", "/sandbox/tenants", nil).JSON(t, &list)
		if len(list.Tenants) != 2 || list.Tenants[0].Name != "ci-a" || !list.Tenants[1].Open {
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
	t.Parallel()
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
	t.Parallel()
	s := start(t, realIssuer())
	cb := newCallback(t)
	b := newBrowser(t)
	base := s.url + "/t/web-1"
	c := orFatal(tpp.New(b.ctx, base, cb.URL+"/callback", s.tppKey()))(t)
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
	b.do(t, headlessPSU, chromedp.Click(byCSS("#start-payment")),
		chromedp.Poll[chromedp.Void](`document.getElementById('status').textContent.startsWith('Journey ready')`),
		chromedp.Click(byCSS("#run-all")),
		chromedp.Poll[chromedp.Void](`['Journey complete.'].includes(document.getElementById('status').textContent) || document.getElementById('status').className === 'error'`))
	if st := browserRead(t, b, chromedp.Text("#status")); st != "Journey complete." {
		t.Errorf("the tenant's trainer: %q", st)
	}
	b.checkHeaders(t, s.url)
}

// newTenant is POST /sandbox/tenants's answer.
type newTenant struct {
	Name       string `json:"name"`
	BaseURL    string `json:"base_url"`
	AdminToken string `json:"admin_token"`
}

// shiftWall makes the sandbox's real time movable by the test (tenants'
// idleness is measured on it).
func shiftWall(by *atomic.Int64) option {
	return func(c *app.Config) {
		wall := c.Wall
		c.Wall = func() time.Time { return wall().Add(time.Duration(by.Load())) }
	}
}

// TestTenantLifecycle: the admin makes a tenant with its own admin token,
// which works in that tenant only; a tenant idle for --tenant-idle (real
// time) is closed, and its next request reopens it from its file with its
// clients, clock and admin token; DELETE removes it, files and all.
func TestTenantLifecycle(t *testing.T) {
	t.Parallel()
	var shift atomic.Int64
	s := start(t, realIssuer(), shiftWall(&shift))
	ctx := context.Background()
	root := s.app.Config.AdminToken
	var job newTenant
	r := s.admin("POST", "/sandbox/tenants", map[string]string{"name": "job-42"})
	expect(t, r, 201)
	r.JSON(t, &job)
	var fields map[string]any
	r.JSON(t, &fields)
	if job.Name != "job-42" || job.BaseURL != s.url+"/t/job-42" || len(job.AdminToken) < 32 || len(fields) != 3 {
		t.Fatalf("created %s, want name, base_url and admin_token", r.Body)
	}
	expect(t, s.admin("POST", "/sandbox/tenants", map[string]string{"name": "job-42"}), 409)
	for _, bad := range []string{"", "Job-42", "../x", "-x", "a_b", strings.Repeat("a", 41), "é"} {
		expect(t, s.admin("POST", "/sandbox/tenants", map[string]string{"name": bad}), 400)
	}
	var other newTenant
	s.admin("POST", "/sandbox/tenants", map[string]string{"name": "job-43"}).JSON(t, &other)

	t.Run("admin_tokens", func(t *testing.T) {
		for _, tc := range []struct {
			path, token string
			status      int
		}{
			{"/t/job-42/sandbox/clock", job.AdminToken, 200},
			{"/t/job-42/sandbox/clock", root, 200}, // the root's admin administers every tenant
			{"/t/job-42/sandbox/clock", other.AdminToken, 401},
			{"/sandbox/clock", job.AdminToken, 401},
			{"/sandbox/tenants", job.AdminToken, 401},
			{"/t/job-43/sandbox/clock", job.AdminToken, 401},
		} {
			if r := s.get(tc.path, tc.token); r.Status != tc.status {
				t.Errorf("GET %s: %d, want %d", tc.path, r.Status, tc.status)
			}
		}
	})

	c := tenantTPP(t, s, job.BaseURL)
	expect(t, s.do(req{method: "POST", path: "/t/job-42/sandbox/clock", token: job.AdminToken, body: map[string]string{"advance": "3d"}}), 200)
	open := func() map[string]bool {
		var list struct {
			Tenants []struct {
				Name string
				Open bool
			}
		}
		s.admin("GET", "/sandbox/tenants", nil).JSON(t, &list)
		out := map[string]bool{}
		for _, tn := range list.Tenants {
			out[tn.Name] = tn.Open
		}
		return out
	}
	if got := open(); len(got) != 2 || !got["job-42"] || !got["job-43"] {
		t.Fatalf("tenants %v, want both open", got)
	}

	// Idleness is real time: nothing closes before --tenant-idle, however
	// far a tenant's sandbox clock moved.
	shift.Add(int64(s.app.Config.TenantIdle - time.Minute))
	expect(t, s.get("/t/job-43/healthz", ""), 200) // job-43 used a minute before the limit
	if n := s.app.CloseIdleTenants(); n != 0 {
		t.Errorf("%d tenants closed before --tenant-idle", n)
	}
	shift.Add(int64(2 * time.Minute))
	if n := s.app.CloseIdleTenants(); n != 1 {
		t.Errorf("%d tenants closed, want job-42 only", n)
	}
	if got := open(); len(got) != 2 || got["job-42"] || !got["job-43"] {
		t.Fatalf("tenants %v, want job-42 closed, job-43 open", got)
	}

	// The next request reopens it from its file: clock, client, admin token.
	var clk struct{ Offset string }
	s.get("/t/job-42/sandbox/clock", job.AdminToken).JSON(t, &clk)
	if clk.Offset != "72h0m0s" {
		t.Errorf("reopened with the clock %s ahead, want 72h0m0s", clk.Offset)
	}
	if _, err := c.ClientCredentials(ctx, "accounts"); err != nil {
		t.Errorf("the tenant's client after reopening: %v", err)
	}
	if got := open(); !got["job-42"] {
		t.Errorf("tenants %v, want job-42 open again", got)
	}

	expect(t, s.admin("DELETE", "/sandbox/tenants/job-42", nil), 204)
	if _, err := os.Stat(filepath.Join(s.app.Config.DB+".tenants", "job-42.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the deleted tenant's file: %v", err)
	}
	expect(t, s.admin("DELETE", "/sandbox/tenants/job-42", nil), 404)
	// A closed tenant is deleted as well.
	shift.Add(int64(time.Hour))
	s.app.CloseIdleTenants()
	expect(t, s.admin("DELETE", "/sandbox/tenants/job-43", nil), 204)
	if got := open(); len(got) != 0 {
		t.Errorf("tenants %v after deleting both", got)
	}
}

// TestTenantSeedingBlocksOnlyItself: while one tenant is being made (its
// seeding held here by the test), another tenant answers, and a second
// first request for the new tenant waits for that one seeding.
func TestTenantSeedingBlocksOnlyItself(t *testing.T) {
	t.Parallel()
	entered, release := make(chan string, 4), make(chan struct{})
	s := start(t, realIssuer(), func(c *app.Config) {
		c.TenantOpening = func(name string) {
			if name == "slow" {
				entered <- name
				<-release
			}
		}
	})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the sandbox stops
	expect(t, s.get("/t/fast/healthz", ""), 200)

	statuses := make(chan int, 2)
	first := func() {
		resp, err := s.client.Get(s.url + "/t/slow/healthz")
		if err != nil {
			statuses <- 0
			return
		}
		resp.Body.Close()
		statuses <- resp.StatusCode
	}
	go first()
	<-entered // slow is being seeded, and held there
	go first()
	// Answered while slow's seeding is held (a lock held across seeding
	// would keep this waiting until the client gives up).
	expect(t, s.get("/t/fast/healthz", ""), 200)
	expect(t, s.get("/healthz", ""), 200)
	select {
	case st := <-statuses:
		t.Fatalf("a request for slow was answered (%d) before its seeding ended", st)
	default:
	}
	unblock()
	for range 2 {
		if st := <-statuses; st != 200 {
			t.Errorf("a first request for slow: %d, want 200", st)
		}
	}
	if len(entered) != 0 {
		t.Errorf("slow was opened %d more times, want once", len(entered))
	}
}

// TestTenantCreationBounded: in dev a first request makes a tenant, at most
// --tenant-create-rate per source address (the admin is not limited), and
// at most --max-tenants exist, closed ones included.
func TestTenantCreationBounded(t *testing.T) {
	t.Parallel()
	var shift atomic.Int64
	s := start(t, realIssuer(), shiftWall(&shift), func(c *app.Config) {
		c.MaxTenants = 3
		c.TenantCreateRate = gateway.Rate{Per: 1e-6, Burst: 2}
	})
	expect(t, s.get("/t/a/healthz", ""), 200)
	expect(t, s.get("/t/b/healthz", ""), 200)
	r := s.get("/t/c/healthz", "")
	expect(t, r, 429)
	if r.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	expect(t, s.get("/t/a/healthz", ""), 200) // using a tenant is not making one
	expect(t, s.admin("POST", "/sandbox/tenants", map[string]string{"name": "c"}), 201)
	shift.Add(int64(time.Hour))
	if n := s.app.CloseIdleTenants(); n != 3 {
		t.Errorf("%d closed, want 3", n)
	}
	// Closed tenants still count: each keeps a file.
	expect(t, s.admin("POST", "/sandbox/tenants", map[string]string{"name": "d"}), 409)
	expect(t, s.get("/t/b/healthz", ""), 200) // reopening is never refused
	expect(t, s.admin("DELETE", "/sandbox/tenants/a", nil), 204)
	expect(t, s.admin("POST", "/sandbox/tenants", map[string]string{"name": "d"}), 201)
}

// TestOpenTenantsBounded: at most --max-open-tenants are open; opening one
// more closes the one used least recently, which reopens from its file
// with what was done in it.
func TestOpenTenantsBounded(t *testing.T) {
	t.Parallel()
	var shift atomic.Int64
	s := start(t, realIssuer(), shiftWall(&shift), func(c *app.Config) { c.MaxOpenTenants = 2 })
	openNow := func() map[string]bool {
		var list struct {
			Tenants []struct {
				Name string
				Open bool
			}
		}
		s.admin("GET", "/sandbox/tenants", nil).JSON(t, &list)
		out := map[string]bool{}
		for _, tn := range list.Tenants {
			out[tn.Name] = tn.Open
		}
		return out
	}
	var a newTenant
	s.admin("POST", "/sandbox/tenants", map[string]string{"name": "a"}).JSON(t, &a)
	expect(t, s.do(req{method: "POST", path: "/t/a/sandbox/clock", token: a.AdminToken, body: map[string]string{"advance": "3d"}}), 200)
	shift.Add(int64(time.Second))
	expect(t, s.admin("POST", "/sandbox/tenants", map[string]string{"name": "b"}), 201)
	shift.Add(int64(time.Second))
	if got := openNow(); !got["a"] || !got["b"] {
		t.Fatalf("open %v, want a and b", got)
	}
	expect(t, s.admin("POST", "/sandbox/tenants", map[string]string{"name": "c"}), 201)
	if got := openNow(); got["a"] || !got["b"] || !got["c"] || len(got) != 3 {
		t.Fatalf("open %v, want b and c open, a (used least recently) closed", got)
	}
	var clock struct{ Offset string }
	s.do(req{method: "GET", path: "/t/a/sandbox/clock", token: a.AdminToken}).JSON(t, &clock)
	if !strings.HasPrefix(clock.Offset, "72h") {
		t.Errorf("reopened tenant's clock offset %q, want 72h (its own, from its file)", clock.Offset)
	}
	if got := openNow(); !got["a"] || got["b"] || !got["c"] {
		t.Errorf("open %v, want a (reopened) and c, b closed", got)
	}
}
