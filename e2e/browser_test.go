package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/obsandbox/sandbox/internal/tpp"
)

// The browser tests drive the PSU pages in headless Chromium. They skip only
// when no Chromium is installed; CI installs it.

const browserTimeout = 60 * time.Second

// chromiumPath finds a Chromium binary, "" if there is none.
func chromiumPath() string {
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// servedDoc is a document the browser was served (not a redirect).
type servedDoc struct {
	url    string
	status int64
	header http.Header
}

type browser struct {
	ctx  context.Context // the browser's, with the test's deadline
	mu   sync.Mutex
	docs []servedDoc
}

// The tests share one headless Chromium, started by the first that needs
// it and stopped at the end of the run (TestMain); each test gets a browser
// context of its own — its own cookies, storage and cache, like a fresh
// profile — and tab.
var chromium struct {
	once   sync.Once
	ctx    context.Context // the browser's
	err    error
	stop   func()
	tmpDir string
}

// sharedChromium starts the shared browser on first use.
func sharedChromium(exe string) (context.Context, error) {
	chromium.once.Do(func() {
		dir, err := os.MkdirTemp("", "e2e-chromium-") // the profile, and TMPDIR so that Chromium's singleton socket goes too
		if err != nil {
			chromium.err = err
			return
		}
		actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox,
			chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.UserDataDir(filepath.Join(dir, "profile")), chromedp.Env("TMPDIR="+dir),
			chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true))
		bctx, cancelBrowser := chromedp.NewContext(actx)
		chromium.ctx, chromium.tmpDir = bctx, dir
		chromium.stop = func() { cancelBrowser(); cancelAlloc(); os.RemoveAll(dir) }
		chromium.err = chromedp.Do(bctx) // starts it
	})
	return chromium.ctx, chromium.err
}

// stopChromium stops the shared browser, if it was started.
func stopChromium() {
	if chromium.stop != nil {
		chromium.stop()
	}
}

// newBrowser opens a tab in a fresh browser context of the shared
// Chromium; it is closed when the test ends. Its context times out after
// browserTimeout, so a hang fails the test. It records every document it
// is served.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	exe := chromiumPath()
	if exe == "" {
		t.Skip("no Chromium found (/usr/bin/chromium, or chromium / chromium-browser / google-chrome on PATH): install chromium to run the browser tests")
	}
	root, err := sharedChromium(exe)
	if err != nil {
		t.Fatalf("start %s: %v", exe, err)
	}
	tab, closeTab := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
	bctx, cancelTimeout := context.WithTimeout(tab, browserTimeout)
	t.Cleanup(func() { cancelTimeout(); closeTab() })
	b := &browser{ctx: bctx}
	err = chromedp.Listen(tab, func(ev any) {
		e, ok := ev.(*network.EventResponseReceived)
		if !ok || e.Type != network.ResourceTypeDocument {
			return
		}
		d := servedDoc{url: e.Response.URL, status: e.Response.Status, header: http.Header{}}
		for k, v := range e.Response.Headers {
			d.header.Set(k, fmt.Sprint(v))
		}
		b.mu.Lock()
		b.docs = append(b.docs, d)
		b.mu.Unlock()
	})
	if err != nil {
		t.Fatalf("start %s: %v", exe, err)
	}
	return b
}

// do runs browser actions, failing the test if one fails or times out.
func (b *browser) do(t testing.TB, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// nav runs actions that load a page (the first, after any redirects) and
// returns its response.
func (b *browser) nav(t testing.TB, steps ...chromedp.Action[chromedp.Void]) *network.Response {
	t.Helper()
	resp, err := chromedp.RunResponse(b.ctx, steps...)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return resp
}

// browserRead runs one action that reads a value.
func browserRead[T any](t testing.TB, b *browser, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return v
}

// checkHeaders asserts that every page the sandbox served the browser may
// not be framed or cached.
func (b *browser) checkHeaders(t testing.TB, base string) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, d := range b.docs {
		if !strings.HasPrefix(d.url, base+"/") {
			continue
		}
		n++
		if xfo, cc := d.header.Get("X-Frame-Options"), d.header.Get("Cache-Control"); xfo != "DENY" || cc != "no-store" {
			t.Errorf("%s (%d): X-Frame-Options %q, Cache-Control %q; want DENY and no-store", d.url, d.status, xfo, cc)
		}
	}
	if n == 0 {
		t.Error("the browser was served no sandbox page")
	}
}

type byCSS = chromedp.CSS

// psuLogin types into the login form the browser shows, sends it and
// returns the response of the page it lands on.
func (b *browser) psuLogin(t testing.TB, user, password string) *network.Response {
	t.Helper()
	b.do(t, chromedp.WaitVisible(byCSS("#username")),
		chromedp.Evaluate[chromedp.Void](`for (const f of ['username', 'password']) document.getElementById(f).value = ''`),
		chromedp.SendKeys(byCSS("#username"), user), chromedp.SendKeys(byCSS("#password"), password))
	return b.nav(t, chromedp.Click(byCSS("#login")))
}

// callbackServer is the TPP's redirect URI: it records every URL it is sent to.
type callbackServer struct {
	*httptest.Server
	got chan string
}

func newCallback(t *testing.T) *callbackServer {
	cb := &callbackServer{got: make(chan string, 8)}
	cb.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		select {
		case cb.got <- "http://" + r.Host + r.URL.RequestURI():
		default:
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><title>Back at the TPP</title><h1 id="back">Back at the TPP</h1>`)
	}))
	t.Cleanup(cb.Close)
	return cb
}

// wait returns the next URL the callback received.
func (cb *callbackServer) wait(ctx context.Context, t testing.TB) string {
	t.Helper()
	select {
	case u := <-cb.got:
		return u
	case <-ctx.Done():
		t.Fatal("the TPP's redirect URI was never called")
		return ""
	}
}

// orFatal(f())(t) is f's value; the test fails if f failed.
func orFatal[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

const browserTPPName = "Browser Test Budgeting App"

// browserSetup starts a sandbox, a browser and a TPP's callback server, and
// registers a reference TPP (private_key_jwt) whose redirect URI is the
// callback server's, so the browser really comes back to it.
func browserSetup(t *testing.T) (*sandbox, *browser, *callbackServer, *tpp.Client) {
	t.Helper()
	s := start(t, realIssuer())
	cb := newCallback(t)
	b := newBrowser(t) // last, so it is closed first
	c := orFatal(tpp.New(b.ctx, s.url, cb.URL+"/callback", s.tppKey()))(t)
	c.Name, c.Now = browserTPPName, s.app.Clock.Wall
	c.Trace = func(req *http.Request, _ []byte, resp *http.Response, body []byte) {
		checkResponse(t, req, resp.StatusCode, resp.Header, body)
	}
	if err := c.Register(b.ctx, "private_key_jwt"); err != nil {
		t.Fatal(err)
	}
	return s, b, cb, c
}

var browserPerms = []string{"ReadAccountsDetail", "ReadBalances", "ReadTransactionsDetail", "ReadTransactionsCredits", "ReadTransactionsDebits"}

// authorizeURL creates a consent and an authorization request for it
// (response_type code); it returns the authorization and a
// client-credentials token.
func authorizeURL(t *testing.T, b *browser, c *tpp.Client, o tpp.AuthOptions) (*tpp.Authorization, string) {
	t.Helper()
	cc := orFatal(c.ClientCredentials(b.ctx, "accounts"))(t)
	id := orFatal(c.AccountConsent(b.ctx, cc, browserPerms, nil))(t)
	o.Flow = tpp.Code
	return orFatal(c.Authorize(b.ctx, id, o))(t), cc
}

// toConsentPage opens a new authorization in the browser and logs in as
// alice.
func toConsentPage(t *testing.T, b *browser, c *tpp.Client) (*tpp.Authorization, string) {
	t.Helper()
	a, cc := authorizeURL(t, b, c, tpp.AuthOptions{})
	b.nav(t, chromedp.Navigate(a.URL))
	if resp := b.psuLogin(t, "alice", "alice123"); resp.Status != 200 {
		t.Fatalf("login as alice: %d at %s", resp.Status, resp.URL)
	}
	b.do(t, chromedp.WaitVisible(byCSS("#approve")))
	return a, cc
}

// readCheckboxes reads the consent page's account checkboxes.
var readCheckboxes = chromedp.Evaluate[[]struct {
	ID      string `json:"id"`
	Checked bool   `json:"checked"`
	Label   string `json:"label"`
}](`[...document.querySelectorAll('input[name=accounts]')].map(e => ({id: e.value, checked: e.checked, label: e.parentElement.textContent.trim()}))`)

// TestBrowserApprove: the PSU logs in, reads the consent page (client name,
// permissions in plain words, three ticked accounts), unticks the credit card
// and allows; the TPP gets a code at its redirect URI and a token that reads
// exactly the two accounts left ticked.
func TestBrowserApprove(t *testing.T) {
	t.Parallel()
	s, b, cb, c := browserSetup(t)
	a, _ := toConsentPage(t, b, c)

	title := browserRead(t, b, chromedp.Title())
	intro := browserRead(t, b, chromedp.Text(byCSS("main > p")))
	if title != "Review and confirm — Sandbox Bank" || !strings.Contains(intro, browserTPPName) {
		t.Errorf("consent page %q says %q; want the client's name %q", title, intro, browserTPPName)
	}
	perms := browserRead(t, b, chromedp.Evaluate[[]string](`[...document.querySelectorAll('ul.perms li')].map(e => e.textContent)`))
	wantPerms := []string{"Your account names, types, currencies, sort codes and account numbers",
		"Your account balances and credit limits",
		"Your transactions (money in and money out), with descriptions, merchants, payees and running balances"}
	if !reflect.DeepEqual(perms, wantPerms) {
		t.Errorf("permission lines %q, want %q", perms, wantPerms)
	}
	alice := s.accountsOf("alice")
	boxes := browserRead(t, b, readCheckboxes)
	if len(boxes) != 3 || len(alice) != 3 {
		t.Fatalf("checkboxes %+v for alice's accounts %v; want 3", boxes, alice)
	}
	for i, bx := range boxes {
		if bx.ID != alice[i] || !bx.Checked {
			t.Errorf("checkbox %d %+v, want %s ticked", i, bx, alice[i])
		}
	}
	if !strings.Contains(boxes[2].Label, "CreditCard") {
		t.Errorf("third checkbox %q is not the credit card", boxes[2].Label)
	}

	b.do(t, chromedp.Click(byCSS(`input[name=accounts][value="`+boxes[2].ID+`"]`)))
	if boxes = browserRead(t, b, readCheckboxes); !boxes[0].Checked || !boxes[1].Checked || boxes[2].Checked {
		t.Fatalf("after unticking the credit card: %+v", boxes)
	}
	landed := b.nav(t, chromedp.Click(byCSS("#approve")))
	got := cb.wait(b.ctx, t)
	if landed.URL != got || landed.Status != 200 {
		t.Errorf("the browser landed on %s (%d), want the TPP's callback %s", landed.URL, landed.Status, got)
	}
	toks := orFatal(c.Exchange(b.ctx, a, orFatal(c.Callback(b.ctx, a, got))(t)))(t)
	accts := items(t, s.get(ais+"/accounts", toks.AccessToken), "Account")
	if len(accts) != 2 || accts[0]["AccountId"] != alice[0] || accts[1]["AccountId"] != alice[1] {
		t.Errorf("accounts %v, want the two left ticked (%v)", accts, alice[:2])
	}
	b.checkHeaders(t, s.url)
}

// TestBrowserDeny: Cancel on the consent page sends access_denied to the
// redirect URI and the consent becomes Rejected.
func TestBrowserDeny(t *testing.T) {
	t.Parallel()
	s, b, cb, c := browserSetup(t)
	a, cc := toConsentPage(t, b, c)

	b.nav(t, chromedp.Click(byCSS("#deny")))
	got := cb.wait(b.ctx, t)
	var ce *tpp.CallbackError
	if _, err := c.Callback(b.ctx, a, got); !errors.As(err, &ce) || ce.Code != "access_denied" {
		t.Fatalf("deny sent the browser to %s (%v), want error=access_denied", got, err)
	}
	var cn struct{ Data struct{ Status string } }
	s.get(ais+"/account-access-consents/"+a.ConsentID, cc).JSON(t, &cn)
	if cn.Data.Status != "Rejected" {
		t.Errorf("consent status after deny %s, want Rejected", cn.Data.Status)
	}
	b.checkHeaders(t, s.url)
}

// TestBrowserWrongPassword: a refused login shows the login form again (a
// 401 page) with the error and the username kept; the right password then
// reaches the consent page.
func TestBrowserWrongPassword(t *testing.T) {
	t.Parallel()
	s, b, _, c := browserSetup(t)
	a, _ := authorizeURL(t, b, c, tpp.AuthOptions{})
	loginPage := b.nav(t, chromedp.Navigate(a.URL)).URL

	for _, tc := range []struct{ name, user, password string }{
		{"refused_wrong_password", "alice", "wrong"},
		{"refused_unknown_user", "mallory", "alice123"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := b.psuLogin(t, tc.user, tc.password)
			if resp.Status != http.StatusUnauthorized || resp.URL != loginPage+"/login" {
				t.Errorf("refused login: the browser shows %s served with %d; want the login form's answer, 401", resp.URL, resp.Status)
			}
			if msg := browserRead(t, b, chromedp.Text(byCSS("p.error"))); !strings.Contains(msg, "username or password is wrong") {
				t.Errorf("error message %q", msg)
			}
			if title := browserRead(t, b, chromedp.Title()); title != "Log in to Sandbox Bank — Sandbox Bank" {
				t.Errorf("title %q, want the login page again", title)
			}
			if user := browserRead(t, b, chromedp.Value(byCSS("#username"))); user != tc.user {
				t.Errorf("the username field holds %q, want %q kept", user, tc.user)
			}
		})
	}
	resp := b.psuLogin(t, "alice", "alice123")
	b.do(t, chromedp.WaitVisible(byCSS("#approve")))
	if resp.Status != 200 || resp.URL != loginPage {
		t.Errorf("after the right password the browser is at %s (%d), want %s", resp.URL, resp.Status, loginPage)
	}
	b.checkHeaders(t, s.url)
}

// TestBrowserConnectedApps: the PSU sees an approved app on the
// connected-apps page and revokes it there; its token stops working at once.
func TestBrowserConnectedApps(t *testing.T) {
	t.Parallel()
	s, b, _, c := browserSetup(t)
	toks, id, err := c.AISJourney(b.ctx, "alice", "alice123", []string{"ReadAccountsDetail", "ReadBalances"}, nil)
	if err != nil {
		t.Fatalf("headless journey: %v", err)
	}
	expect(t, s.get(ais+"/accounts", toks.AccessToken), 200)

	row := `tr[id="app-` + id + `"]`
	b.nav(t, chromedp.Navigate(s.url+"/psu/apps"))
	b.psuLogin(t, "alice", "alice123")
	b.do(t, chromedp.WaitVisible(byCSS(row)))
	if listed := browserRead(t, b, chromedp.Text(byCSS(row))); !strings.Contains(listed, browserTPPName) || !strings.Contains(listed, id) {
		t.Errorf("the app's row says %q; want %q and consent %s", listed, browserTPPName, id)
	}
	b.nav(t, chromedp.Click(byCSS(row+" button")))
	notice := browserRead(t, b, chromedp.Text(byCSS("p.notice")))
	gone := browserRead(t, b, chromedp.Evaluate[bool](`document.querySelector('`+row+`') === null`))
	if want := "Access for consent " + id + " is revoked."; notice != want || !gone {
		t.Errorf("after Revoke the notice is %q (row gone: %v), want %q", notice, gone, want)
	}
	expect(t, s.get(ais+"/accounts", toks.AccessToken), 401)
	b.checkHeaders(t, s.url)
}

// TestBrowserErrorPage: an unregistered redirect_uri gets the bank's error
// page and the browser stays at the bank.
func TestBrowserErrorPage(t *testing.T) {
	t.Parallel()
	s, b, cb, c := browserSetup(t)
	a, _ := authorizeURL(t, b, c, tpp.AuthOptions{RedirectURI: "http://127.0.0.1:1/evil"})
	resp := b.nav(t, chromedp.Navigate(a.URL))
	title, h1 := browserRead(t, b, chromedp.Title()), browserRead(t, b, chromedp.Text(byCSS("h1")))
	if title != "This request cannot be completed — Sandbox Bank" || h1 != "This request cannot be completed" {
		t.Errorf("title %q, heading %q; want the bank's error page", title, h1)
	}
	if loc := browserRead(t, b, chromedp.Location()); !strings.HasPrefix(loc, s.url+"/") || resp.Status != http.StatusBadRequest {
		t.Errorf("the browser is at %s, served with %d; want the sandbox's error page, 400", loc, resp.Status)
	}
	select {
	case u := <-cb.got:
		t.Errorf("the callback was called: %s", u)
	default:
	}
	b.checkHeaders(t, s.url)
}

// TestBrowserPageHeaders checks the PSU pages' headers outside the browser,
// including pages the browser tests do not reach.
func TestBrowserPageHeaders(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	for _, tc := range []struct {
		name, path string
		status     int
	}{
		{"apps_login_page", "/psu/apps", 200},
		{"unknown_authorization_error_page", "/psu/authorize/unknown", 400},
		{"unknown_client_error_page", "/as/authorize?client_id=nobody&response_type=code&scope=openid", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := s.client.Get(s.url + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			h := resp.Header
			if resp.StatusCode != tc.status || h.Get("X-Frame-Options") != "DENY" || h.Get("Cache-Control") != "no-store" ||
				!strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
				t.Errorf("%d, X-Frame-Options %q, Cache-Control %q, CSP %q; want %d, DENY, no-store, frame-ancestors 'none'",
					resp.StatusCode, h.Get("X-Frame-Options"), h.Get("Cache-Control"), h.Get("Content-Security-Policy"), tc.status)
			}
		})
	}
}

// A projector's screen: the pages must fit it without scrolling sideways.
const screenWidth, screenHeight = 1280, 800

// pageFit is how the page the browser shows fits its viewport.
type pageFit struct {
	ScrollWidth int      `json:"scrollWidth"` // the document's
	Viewport    int      `json:"viewport"`    // the viewport's width, scroll bar excluded
	Wide        []string `json:"wide"`        // elements that end beyond the viewport
}

var readFit = chromedp.Evaluate[pageFit](`(() => {
	const vw = document.documentElement.clientWidth;
	const wide = [...document.body.querySelectorAll('*')].filter(e => e.getBoundingClientRect().right > vw + 0.5)
		.slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + String(e.className).replace(/ /g, '.') : '') +
			' (right ' + Math.round(e.getBoundingClientRect().right) + ')');
	return {scrollWidth: document.documentElement.scrollWidth, viewport: vw, wide: wide};
})()`)

// checkFits fails the test if the page the browser shows scrolls sideways.
func (b *browser) checkFits(t testing.TB, what string) {
	t.Helper()
	if f := browserRead(t, b, readFit); f.ScrollWidth > f.Viewport || len(f.Wide) > 0 {
		t.Errorf("%s: the document is %d px wide in a %d px viewport (it scrolls sideways); too wide: %v", what, f.ScrollWidth, f.Viewport, f.Wide)
	}
}

// TestBrowserConnectedAppsSays: the connected-apps page names the shared
// accounts as the PSU knows them (nickname, type, masked number; never an
// AccountId or a whole account number) and says when each access ends: the
// date for a consent that expires, "no expiry date" for one that does not.
// It fits a 1280×800 screen.
func TestBrowserConnectedAppsSays(t *testing.T) {
	t.Parallel()
	s, b, _, c := browserSetup(t)
	perms := []string{"ReadAccountsDetail", "ReadBalances"}
	_, open, err := c.AISJourney(b.ctx, "alice", "alice123", perms, nil) // every account, no expiry
	if err != nil {
		t.Fatalf("headless journey: %v", err)
	}
	accts := orFatal(s.app.Store.AccountsOfPSU(b.ctx, "alice"))(t)
	expires := s.app.Clock.Now().AddDate(0, 0, 30).UTC().Truncate(time.Second)
	cc := orFatal(c.ClientCredentials(b.ctx, "accounts"))(t)
	dated := orFatal(c.AccountConsent(b.ctx, cc, perms, map[string]string{"ExpirationDateTime": expires.Format(time.RFC3339)}))(t)
	orFatal(c.Approve(b.ctx, dated, tpp.AuthOptions{}, "alice", "alice123", []string{accts[0].ID}))(t)

	b.do(t, chromedp.EmulateViewport(screenWidth, screenHeight))
	b.nav(t, chromedp.Navigate(s.url+"/psu/apps"))
	b.psuLogin(t, "alice", "alice123")
	type row struct {
		Text     string   `json:"text"`
		Until    string   `json:"until"`
		Accounts []string `json:"accounts"`
	}
	read := func(id string) row {
		return browserRead(t, b, chromedp.Evaluate[row](`(() => { const tr = document.getElementById(`+jsString("app-"+id)+`);
			return {text: tr.textContent, until: tr.cells[2].querySelector('.muted').textContent,
				accounts: [...tr.querySelectorAll('ul.accounts li')].map(li => li.textContent)}; })()`))
	}
	b.do(t, chromedp.WaitVisible(byCSS(`tr[id="app-`+open+`"]`)))

	for _, tc := range []struct {
		name, consent, until string
		accounts             int
	}{
		{"open_ended", open, "no expiry date — until you revoke it", len(accts)},
		{"expiring", dated, "until " + expires.Format("2 January 2006"), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := read(tc.consent)
			if r.Until != tc.until {
				t.Errorf("the row says %q of when access ends, want %q", r.Until, tc.until)
			}
			if len(r.Accounts) != tc.accounts {
				t.Fatalf("the row lists accounts %q, want %d of alice's", r.Accounts, tc.accounts)
			}
			for i, got := range r.Accounts {
				a := accts[i]
				number := a.Number
				if number == "" {
					number = a.PAN
				}
				if !strings.HasPrefix(got, a.Nickname+" ("+a.SubType+", "+a.Currency+")") || !strings.HasSuffix(got, " ****"+number[len(number)-4:]) {
					t.Errorf("account %d is shown as %q; want %s (%s, %s) and its number masked to ****%s", i+1, got, a.Nickname, a.SubType, a.Currency, number[len(number)-4:])
				}
			}
			for _, a := range accts {
				for _, secret := range []string{a.ID, a.Number, a.PAN} {
					if secret != "" && strings.Contains(r.Text, secret) {
						t.Errorf("the row shows %q (an AccountId or a whole number): %q", secret, r.Text)
					}
				}
			}
		})
	}
	b.checkFits(t, "the connected-apps page")
}

// TestBrowserPSUPagesFit: the PSU's pages — login, account-access and
// payment consent, the bank's error page, the connected apps — fit a
// 1280×800 screen, even where the TPP's name or the payee's is one long word.
func TestBrowserPSUPagesFit(t *testing.T) {
	t.Parallel()
	s, b, cb, _ := browserSetup(t)
	b.do(t, chromedp.EmulateViewport(screenWidth, screenHeight))
	// Text the TPP chooses, without a space to break it at.
	c := orFatal(tpp.New(b.ctx, s.url, cb.URL+"/callback", s.tppKey()))(t)
	c.Name, c.Now = strings.Repeat("VeryLongBudgetingAppName", 8), s.app.Clock.Wall
	if err := c.Register(b.ctx, "private_key_jwt"); err != nil {
		t.Fatal(err)
	}

	a, _ := authorizeURL(t, b, c, tpp.AuthOptions{})
	b.nav(t, chromedp.Navigate(a.URL))
	b.checkFits(t, "the login page")
	b.psuLogin(t, "alice", "alice123")
	b.do(t, chromedp.WaitVisible(byCSS("#approve")))
	b.checkFits(t, "the account-access consent page")

	cc := orFatal(c.ClientCredentials(b.ctx, "payments"))(t)
	id := orFatal(c.PaymentConsent(b.ctx, cc, tpp.DomesticInitiation("42.50", tpp.Payee{Name: strings.Repeat("GreenfieldLettings", 3), SortCode: payee.SortCode, Number: payee.Number}, "RENTDECEMBER2026FLAT4B")))(t)
	openPaymentPage(t, b, orFatal(c.Authorize(b.ctx, id, tpp.AuthOptions{Flow: tpp.Code, Scope: "openid payments"}))(t))
	b.checkFits(t, "the payment consent page")

	bad, _ := authorizeURL(t, b, c, tpp.AuthOptions{RedirectURI: "http://127.0.0.1:1/evil"})
	b.nav(t, chromedp.Navigate(bad.URL))
	b.checkFits(t, "the error page")

	if _, _, err := c.AISJourney(b.ctx, "alice", "alice123", []string{"ReadAccountsBasic"}, nil); err != nil {
		t.Fatalf("headless journey: %v", err)
	}
	b.nav(t, chromedp.Navigate(s.url+"/psu/apps"))
	b.psuLogin(t, "alice", "alice123")
	b.do(t, chromedp.WaitVisible(byCSS("main table")))
	b.checkFits(t, "the connected-apps page")
}
