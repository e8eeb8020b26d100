package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/obsandbox/sandbox/internal/oauth"
)

// trainerDecision is one line of the trainer page's timeline.
type trainerDecision struct {
	Text, Rule string
	Refused    bool
}

// TestBrowserTrainer runs both journeys from the trainer page in Chromium:
// every step ends done, the last step's exchanges are shown, and the live
// timeline shows the bank's decisions in order — including the refusals the
// journey provokes, with the rule that decided.
func TestBrowserTrainer(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	b := newBrowser(t)
	b.nav(t, chromedp.Navigate(s.url+"/trainer"))
	b.do(t, headlessPSU)
	for _, tc := range []struct {
		button string
		steps  int
		// decisions expected in this order (method path → status, refused?)
		want []trainerDecision
	}{
		{"#start-accounts", 9, []trainerDecision{
			{Text: "POST /as/register → 201"},
			{Text: "POST /open-banking/v3.1/aisp/account-access-consents → 201"},
			{Text: "GET /open-banking/v3.1/aisp/accounts → 200"},
			{Text: "GET /open-banking/v3.1/aisp/balances → 200"},
			{Text: "GET /open-banking/v3.1/aisp/beneficiaries → 403", Refused: true, Rule: "permission.missing"},
			{Text: "DELETE /open-banking/v3.1/aisp/account-access-consents/"},
			{Text: "GET /open-banking/v3.1/aisp/accounts → 401", Refused: true},
		}},
		{"#start-payment", 9, []trainerDecision{
			{Text: "POST /as/register → 201"},
			{Text: "POST /open-banking/v3.1/pisp/domestic-payment-consents → 201"},
			{Text: "/funds-confirmation → 200"},
			{Text: "POST /open-banking/v3.1/pisp/domestic-payments → 201"},
			{Text: "POST /open-banking/v3.1/pisp/domestic-payments → 400", Refused: true},
		}},
		{"#start-ciba", 8, []trainerDecision{
			{Text: "POST /as/register → 201"},
			{Text: "POST /as/bc-authorize → 200"},
			{Text: "POST /as/token → 400", Refused: true, Rule: "authorization_pending"},
			{Text: "POST /sandbox/psu/authorize → 204"},
			{Text: "GET /open-banking/v3.1/aisp/balances → 200"},
		}},
	} {
		t.Run(strings.TrimPrefix(tc.button, "#start-"), func(t *testing.T) {
			b.do(t, chromedp.Click(byCSS(tc.button)),
				chromedp.Poll[chromedp.Void](`document.getElementById('status').textContent.startsWith('Journey ready')`),
				chromedp.Click(byCSS("#run-all")))
			b.do(t, chromedp.Poll[chromedp.Void](`document.getElementById('status').textContent === 'Journey complete.' || document.getElementById('status').className === 'error'`))
			if st := browserRead(t, b, chromedp.Text("#status")); st != "Journey complete." {
				t.Fatalf("status %q; current step: %s", st, browserRead(t, b, chromedp.Text("#current")))
			}
			steps := browserRead(t, b, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#steps li')].map(li => li.className)`))
			if len(steps) != tc.steps {
				t.Fatalf("%d steps shown, want %d", len(steps), tc.steps)
			}
			for i, cls := range steps {
				if cls != "step done" {
					t.Errorf("step %d: class %q, want done", i+1, cls)
				}
			}
			if n := browserRead(t, b, chromedp.Evaluate[int](`document.querySelectorAll('#current details.exchange').length`)); n == 0 {
				t.Error("the last step shows no exchange")
			}
			// The decisions arrive as the audit log commits them.
			last := tc.want[len(tc.want)-1]
			_, _ = chromedp.Run(b.ctx, chromedp.Poll[chromedp.Void](`[...document.querySelectorAll('#timeline li')].some(li => li.textContent.includes(`+
				jsString(last.Text)+`))`, chromedp.WithPollingTimeout(15*time.Second))) // on a timeout, the check below says what is missing
			got := browserRead(t, b, chromedp.Evaluate[[]trainerDecision](
				`[...document.querySelectorAll('#timeline li')].reverse().map(li => ({Text: li.textContent, Rule: li.dataset.rule, Refused: li.classList.contains('refused')}))`))
			i := 0
			for _, d := range got {
				if i < len(tc.want) && strings.Contains(d.Text, tc.want[i].Text) {
					w := tc.want[i]
					if d.Refused != w.Refused || (w.Rule != "" && d.Rule != w.Rule) {
						t.Errorf("%s: refused %v rule %q; want refused %v rule %q", d.Text, d.Refused, d.Rule, w.Refused, w.Rule)
					}
					i++
				}
			}
			if i < len(tc.want) {
				t.Errorf("the timeline lacks %q (in order); it shows:\n%s", tc.want[i].Text, timelineText(got))
			}
		})
	}
	b.checkHeaders(t, s.url)
}

// headlessPSU has the trainer page's journeys run the PSU's part
// headlessly, as the page does when its window box is unticked.
var headlessPSU = chromedp.Evaluate[chromedp.Void](`document.getElementById('psu-window').checked = false`)

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestTrainerAccess: a journey's stream shows only that journey's client;
// watching everything needs the admin token; in fapi starting a journey does
// too; the page's CSP allows only its own script.
func TestTrainerAccess(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	r := s.do(req{method: http.MethodPost, path: "/trainer/journeys", body: `{"kind":"accounts","psu":"alice"}`})
	expect(t, r, 201)
	var j struct{ ID string }
	r.JSON(t, &j)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hreq, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/trainer/stream?journey="+j.ID, nil)
	resp, err := s.client.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// Another TPP's traffic, then the journey's first step.
	other := s.newTPP("private_key_jwt")
	if _, _, err := other.AISJourney(ctx, "bob", "bob123", []string{"ReadAccountsBasic"}, nil); err != nil {
		t.Fatal(err)
	}
	expect(t, s.do(req{method: http.MethodPost, path: "/trainer/journeys/" + j.ID + "/next"}), 200)
	events := bufio.NewScanner(resp.Body)
	var first struct {
		ClientID string `json:"client_id"`
		Path     string
	}
	for events.Scan() {
		if data, ok := strings.CutPrefix(events.Text(), "data: "); ok {
			if err := json.Unmarshal([]byte(data), &first); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if first.Path != "/as/register" || first.ClientID == "" || first.ClientID == other.ClientID {
		t.Errorf("the journey's stream began with %+v; want its own registration (the other client is %s)", first, other.ClientID)
	}

	for _, tc := range []struct {
		name, method, path, token string
		want                      int
	}{
		{"every_decision_without_admin_token", http.MethodGet, "/trainer/stream", "", 401},
		{"every_decision_with_a_wrong_token", http.MethodGet, "/trainer/stream", "not-the-admin-token", 401},
		{"unknown_journey_stream", http.MethodGet, "/trainer/stream?journey=nope", "", 404},
		{"unknown_journey_step", http.MethodPost, "/trainer/journeys/nope/next", "", 404},
	} {
		t.Run(tc.name, func(t *testing.T) { expect(t, s.do(req{method: tc.method, path: tc.path, token: tc.token}), tc.want) })
	}
	t.Run("bad_kind_and_unknown_psu", func(t *testing.T) {
		expect(t, s.do(req{method: http.MethodPost, path: "/trainer/journeys", body: `{"kind":"loans"}`}), 400)
		expect(t, s.do(req{method: http.MethodPost, path: "/trainer/journeys", body: `{"kind":"accounts","psu":"mallory"}`}), 400)
	})
	t.Run("csp", func(t *testing.T) {
		r := s.get("/trainer", "")
		expect(t, r, 200)
		if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") ||
			!strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("CSP %q", csp)
		}
	})
	// The stream is still open: shutting down ends it (and does not wait on it).
	s.stop()
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Errorf("the stream did not end cleanly on shutdown: %v", err)
	}
	t.Run("fapi_journeys_need_the_admin_token", func(t *testing.T) {
		f := start(t, realIssuer(), withProfile(oauth.ProfileFAPI), withTLS())
		expect(t, f.do(req{method: http.MethodPost, path: "/trainer/journeys", body: `{"kind":"accounts"}`}), 401)
		expect(t, f.do(req{method: http.MethodPost, path: "/trainer/journeys", token: f.app.Config.AdminToken, body: `{"kind":"accounts"}`}), 201)
	})
}

func timelineText(ds []trainerDecision) string {
	var b strings.Builder
	for _, d := range ds {
		fmt.Fprintf(&b, "  %s [%s]\n", d.Text, d.Rule)
	}
	return b.String()
}

// TestBrowserTrainerLayout runs both journeys one Next step at a time on a
// 1280×800 screen: after every step the page fits the screen (long tokens,
// URLs and bodies wrap instead of widening it) and the decisions column stays
// on it; a button that cannot be used is disabled and looks it.
func TestBrowserTrainerLayout(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	b := newBrowser(t)
	b.do(t, chromedp.EmulateViewport(screenWidth, screenHeight))
	b.nav(t, chromedp.Navigate(s.url+"/trainer"))
	b.do(t, headlessPSU)
	b.checkFits(t, "the trainer page before a journey")
	checkButtons(t, b, "before a journey", map[string]bool{"start-accounts": true, "start-payment": true, "next": false, "run-all": false})

	for _, kind := range []string{"accounts", "payment"} {
		t.Run(kind, func(t *testing.T) {
			b.do(t, chromedp.Click(byCSS("#start-"+kind)),
				chromedp.Poll[chromedp.Void](`document.getElementById('status').textContent.startsWith('Journey ready')`))
			checkButtons(t, b, "a journey ready", map[string]bool{"start-accounts": true, "start-payment": true, "next": true, "run-all": true})
			for i := 1; ; i++ {
				// While a step runs nothing else can be started.
				running := browserRead(t, b, chromedp.Evaluate[map[string]bool](`(() => {
					document.getElementById('next').click();
					const out = {};
					for (const id of ['start-accounts', 'start-payment', 'next', 'run-all']) out[id] = document.getElementById(id).disabled;
					return out;
				})()`))
				for id, disabled := range running {
					if !disabled {
						t.Errorf("step %d: #%s is enabled while the step runs", i, id)
					}
				}
				st := browserRead(t, b, chromedp.Poll[string](`(() => { const s = document.getElementById('status').textContent;
					return s.startsWith('Step `+fmt.Sprint(i)+` ') || s === 'Journey complete.' ? s : ''; })()`))
				if st != "Journey complete." && st != fmt.Sprintf("Step %d of %d done.", i, 9) {
					t.Fatalf("step %d: status %q; current step: %s", i, st, browserRead(t, b, chromedp.Text("#current")))
				}
				// Every exchange opened, as a trainer would.
				b.do(t, chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('#current details').forEach(d => d.open = true)`))
				b.checkFits(t, fmt.Sprintf("after step %d", i))
				if right := browserRead(t, b, chromedp.Evaluate[float64](`document.querySelector('aside.decisions').getBoundingClientRect().right`)); right > screenWidth {
					t.Errorf("after step %d the decisions column ends at %.0f px, beyond the %d px screen", i, right, screenWidth)
				}
				if st == "Journey complete." {
					break
				}
			}
			checkButtons(t, b, "the journey complete", map[string]bool{"start-accounts": true, "start-payment": true, "next": false, "run-all": false})
			b.do(t, chromedp.Click(byCSS("#next")))
			if st := browserRead(t, b, chromedp.Text("#status")); st != "Journey complete." {
				t.Errorf("a click on the disabled Next step changed the status to %q", st)
			}
		})
	}
}

// checkButtons asserts which of the trainer's buttons can be used, and that
// a disabled one looks it: dimmed, grey and with a not-allowed cursor,
// unlike an enabled one of its kind.
func checkButtons(t *testing.T, b *browser, when string, enabled map[string]bool) {
	t.Helper()
	type look struct {
		Disabled   bool    `json:"disabled"`
		Cursor     string  `json:"cursor"`
		Opacity    float64 `json:"opacity,string"`
		Background string  `json:"background"`
	}
	got := browserRead(t, b, chromedp.Evaluate[map[string]look](`(() => {
		const out = {};
		for (const b of document.querySelectorAll('#trainer button')) {
			const cs = getComputedStyle(b);
			out[b.id] = {disabled: b.disabled, cursor: cs.cursor, opacity: cs.opacity, background: cs.backgroundColor};
		}
		return out;
	})()`))
	primary := got["start-accounts"] // always enabled in these checks
	for id, want := range enabled {
		l := got[id]
		if l.Disabled == want {
			t.Errorf("%s: #%s disabled %v, want %v", when, id, l.Disabled, !want)
			continue
		}
		if want {
			if l.Cursor != "pointer" || l.Opacity != 1 {
				t.Errorf("%s: enabled #%s looks %+v", when, id, l)
			}
		} else if l.Cursor != "not-allowed" || l.Opacity > 0.7 || l.Background == primary.Background {
			t.Errorf("%s: disabled #%s looks %+v, like an enabled button (%+v)", when, id, l, primary)
		}
	}
}

// TestTrainerReadsAccounts: the account-information journey's "Read the
// accounts and balances" step reads the accounts the PSU shared, then their
// balances, and shows each account by name with the balances it read.
func TestTrainerReadsAccounts(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	for _, v := range []struct{ version, api, available, booked string }{
		{"3.1", ais, "InterimAvailable", "InterimBooked"},
		{"4.0", ais4, "ITAV", "ITBD"},
	} {
		t.Run("v"+v.version, func(t *testing.T) { trainerReadsAccounts(t, s, v.version, v.api, v.available, v.booked) })
	}
}

func trainerReadsAccounts(t *testing.T, s *sandbox, version, api, available, booked string) {
	r := s.do(req{method: http.MethodPost, path: "/trainer/journeys", body: `{"kind":"accounts","psu":"alice","version":"` + version + `"}`})
	expect(t, r, 201)
	var j struct{ ID string }
	r.JSON(t, &j)
	type stepOut struct {
		Title, Result, Error string
		Exchanges            []struct {
			Method, URL, Response string
			Status                int
		}
	}
	var st stepOut
	for i := 1; st.Title != "Read the accounts and balances"; i++ {
		if i > 7 {
			t.Fatal("no step 7 reads the accounts and balances")
		}
		st = stepOut{}
		r := s.do(req{method: http.MethodPost, path: "/trainer/journeys/" + j.ID + "/next"})
		expect(t, r, 200)
		r.JSON(t, &st)
		if st.Error != "" {
			t.Fatalf("step %d %q: %s", i, st.Title, st.Error)
		}
	}
	if st.Error != "" || len(st.Exchanges) != 2 {
		t.Fatalf("the step failed (%q) or sent %d requests, want 2", st.Error, len(st.Exchanges))
	}
	for i, path := range []string{api + "/accounts", api + "/balances"} {
		if x := st.Exchanges[i]; x.Method != http.MethodGet || x.URL != s.url+path || x.Status != 200 {
			t.Errorf("request %d: %s %s → %d, want GET %s → 200", i+1, x.Method, x.URL, x.Status, path)
		}
	}
	var bals struct {
		Data struct {
			Balance []struct {
				AccountId, CreditDebitIndicator, Type string
				Amount                                struct{ Amount, Currency string }
			}
		}
	}
	if err := json.Unmarshal([]byte(st.Exchanges[1].Response), &bals); err != nil {
		t.Fatal(err)
	}
	amount := func(id, typ string) string {
		for _, b := range bals.Data.Balance {
			if b.AccountId == id && b.Type == typ {
				if b.CreditDebitIndicator == "Debit" {
					return "-" + b.Amount.Amount + " " + b.Amount.Currency
				}
				return b.Amount.Amount + " " + b.Amount.Currency
			}
		}
		t.Errorf("no %s balance for %s", typ, id)
		return ""
	}
	accts, err := s.app.Store.AccountsOfPSU(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%d accounts with their balances:", len(accts))
	for _, a := range accts {
		subtype := a.SubType
		if version == "4.0" {
			subtype = map[string]string{"CurrentAccount": "CACC", "Savings": "SVGS", "CreditCard": "CARD"}[a.SubType]
		}
		want += fmt.Sprintf("\n%s (%s): %s available, %s booked", a.Nickname, subtype, amount(a.ID, available), amount(a.ID, booked))
	}
	if st.Result != want {
		t.Errorf("the step says\n%s\nwant\n%s", st.Result, want)
	}
}

// TestTrainerProfiles: in fapi and fapi2 the trainer's journeys — the
// redirect one and the decoupled one — run to the end with the profile's
// flow, and show what the profile adds: the JARM response decoded (fapi),
// each DPoP proof decoded and the token bound to its key (fapi2).
func TestTrainerProfiles(t *testing.T) {
	t.Parallel()
	for _, profile := range []string{oauth.ProfileFAPI, oauth.ProfileFAPI2} {
		t.Run(profile, func(t *testing.T) {
			s := start(t, realIssuer(), withProfile(profile))
			for _, kind := range []string{"accounts", "payment", "ciba"} {
				r := s.do(req{method: http.MethodPost, path: "/trainer/journeys", token: s.app.Config.AdminToken, body: `{"kind":"` + kind + `","psu":"alice"}`})
				expect(t, r, 201)
				var j struct{ ID string }
				r.JSON(t, &j)
				var all strings.Builder
				for i := 0; ; i++ {
					r := s.do(req{method: http.MethodPost, path: "/trainer/journeys/" + j.ID + "/next"})
					expect(t, r, 200)
					var out struct {
						Error   string
						Done    bool
						Title   string
						Decoded []struct{ Title, JWT string }
					}
					r.JSON(t, &out)
					if out.Error != "" {
						t.Fatalf("%s step %d (%s): %s", kind, i+1, out.Title, out.Error)
					}
					all.Write(r.Body)
					if out.Done {
						break
					}
				}
				got := all.String()
				want := map[string][]string{
					oauth.ProfileFAPI:  {`JARM`, `\"alg\":\"PS256\"`, `x5t#S256`},
					oauth.ProfileFAPI2: {`dpop+jwt`, `\"jkt\":`, `use_dpop_nonce`},
				}[profile]
				if kind == "ciba" {
					want = []string{"login_hint", "authorization_pending"}
				}
				for _, w := range want {
					if !strings.Contains(got, w) {
						t.Errorf("the %s journey never shows %s", kind, w)
					}
				}
			}
		})
	}
}
