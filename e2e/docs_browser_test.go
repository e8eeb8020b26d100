package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// artefactDir is where browser tests keep their screenshots: $SANDBOX_ARTEFACTS,
// else e2e/artefacts (left out of the repository by .gitignore).
func artefactDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("SANDBOX_ARTEFACTS")
	if dir == "" {
		dir = "artefacts"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// screenshot saves the browser's viewport as <artefacts>/<name>.png.
func (b *browser) screenshot(t testing.TB, name string) {
	t.Helper()
	png := browserRead(t, b, chromedp.CaptureScreenshot())
	path := filepath.Join(artefactDir(t), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// TestBrowserDocsTryIt: the API explorer at /docs (linked from /) shows the
// contracts with Swagger UI served by the sandbox itself; "Get tokens" runs
// the headless consent, and "Try it out" on GET /accounts calls this
// sandbox with the PSU's token and shows 200 with the accounts. Every
// contract loads from the chooser; nothing is fetched from elsewhere; the
// page fits 1280×800.
func TestBrowserDocsTryIt(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	b := newBrowser(t)
	b.do(t, chromedp.EmulateViewport(screenWidth, screenHeight))
	b.nav(t, chromedp.Navigate(s.url+"/"))
	b.nav(t, chromedp.Click(byCSS(`a[href$="/docs"]`)))
	b.do(t, chromedp.WaitVisible(byCSS("#operations-tag-Accounts")), jsClick("#operations-tag-Accounts"),
		chromedp.WaitVisible(byCSS("#operations-Accounts-GetAccounts")))
	b.screenshot(t, "docs-loaded")
	b.do(t, jsClick("#get-tokens"))
	b.waitJS(t, `(() => { const s = document.getElementById('token-status');
		return s.textContent.startsWith('Ready') || s.className.includes('error'); })()`)
	if st := browserRead(t, b, chromedp.Evaluate[string](`document.getElementById('token-status').textContent`)); !strings.Contains(st, "approved by alice") {
		t.Fatalf("token status %q", st)
	}
	b.do(t, jsClick("#operations-Accounts-GetAccounts .opblock-summary-control"))
	b.waitJS(t, `!!document.querySelector("#operations-Accounts-GetAccounts .btn.execute")`)
	time.Sleep(time.Second) // Swagger UI wires the form after drawing it
	// Execute (once more if the first click came before Swagger UI wired
	// the button).
	answered := `!!document.querySelector("#operations-Accounts-GetAccounts .live-responses-table tr.response .response-col_status")`
	for try := 0; try < 3 && !browserRead(t, b, chromedp.Evaluate[bool](answered)); try++ {
		b.do(t, jsClick("#operations-Accounts-GetAccounts .btn.execute"))
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end) && !browserRead(t, b, chromedp.Evaluate[bool](answered)); {
			time.Sleep(250 * time.Millisecond)
		}
	}
	if !browserRead(t, b, chromedp.Evaluate[bool](answered)) {
		b.screenshot(t, "docs-try-it-failed")
		t.Fatalf("Try it out on GET /accounts showed no answer: %.1500s", browserRead(t, b, chromedp.Evaluate[string](`document.querySelector("#operations-Accounts-GetAccounts").innerText`)))
	}
	status := browserRead(t, b, chromedp.Evaluate[string](`document.querySelector("#operations-Accounts-GetAccounts .live-responses-table tr.response .response-col_status").textContent`))
	body := browserRead(t, b, chromedp.Evaluate[string](`document.querySelector("#operations-Accounts-GetAccounts .live-responses-table tr.response .response-col_description").textContent`))
	if strings.TrimSpace(status) != "200" || !strings.Contains(body, "AccountId") {
		t.Fatalf("Try it out on GET /accounts: status %q, body %.300q", status, body)
	}
	b.do(t, chromedp.Evaluate[chromedp.Void](`document.querySelector("#operations-Accounts-GetAccounts .live-responses-table").scrollIntoView()`))
	b.screenshot(t, "docs-try-it")
	b.checkFits(t, "the API explorer after Try it out")

	// Every contract of the chooser loads.
	for _, want := range []string{"UK OB Read/Write API v4.0", "Berlin Group NextGenPSD2 XS2A 1.3.12", "authorization server", "sandbox controls"} {
		b.do(t, chromedp.Evaluate[chromedp.Void](`(() => { const s = document.getElementById('spec');
			s.selectedIndex = [...s.options].findIndex(o => o.value.includes('`+specFor(want)+`'));
			s.dispatchEvent(new Event('change')); })()`))
		b.waitJS(t, `!!document.querySelector('.info .title') && document.querySelector('.info .title').textContent.toLowerCase().includes(`+"`"+strings.ToLower(want)+"`"+`)`)
	}
	b.do(t, jsClick("#operations-tag-PSUs"))
	b.waitJS(t, `!!document.querySelector("#operations-PSUs-addPSU")`)
	b.screenshot(t, "docs-sandbox-controls")
	b.mu.Lock()
	for _, d := range b.docs {
		if !strings.HasPrefix(d.url, s.url) {
			t.Errorf("the explorer loaded %s, not from the sandbox", d.url)
		}
	}
	b.mu.Unlock()
}

// waitJS evaluates a JavaScript expression every 250 ms until it is true
// (at most 30 s).
func (b *browser) waitJS(t testing.TB, expr string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if browserRead(t, b, chromedp.Evaluate[bool](expr)) {
			return
		}
	}
	t.Fatalf("waited 30 s for %s", expr)
}

// jsClick clicks an element from the page's script (Swagger UI redraws
// under the mouse, which a synthetic click at coordinates can miss).
func jsClick(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](`document.querySelector(` + "`" + sel + "`" + `).click()`)
}

func specFor(title string) string {
	switch {
	case strings.Contains(title, "v4.0"):
		return "ukob-v4.0"
	case strings.Contains(title, "authorization"):
		return "authorization-server"
	case strings.Contains(title, "Berlin Group"):
		return "berlin-group"
	}
	return "sandbox.json"
}
