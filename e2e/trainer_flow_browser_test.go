package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// stepDrawing is what the trainer page shows of one step: the arrows of
// the diagram and the exchanges listed under the step, each as
// "from>to status".
type stepDrawing struct {
	Arrows    []string `json:"arrows"`
	Exchanges []string `json:"exchanges"`
	Count     string   `json:"count"` // the step's exchanges, as the server answered
	Labels    []string `json:"labels"`
}

func readDrawing(t *testing.T, b *browser, step int) stepDrawing {
	t.Helper()
	return browserRead(t, b, chromedp.Evaluate[stepDrawing](fmt.Sprintf(`(() => {
		const arrows = [...document.querySelectorAll('#lanes .arrow[data-group="step-%d"]')];
		return {
			arrows: arrows.map(a => a.dataset.from + '>' + a.dataset.to + ' ' + a.dataset.status),
			labels: arrows.map(a => a.textContent),
			exchanges: [...document.querySelectorAll('#current details.exchange')].map(d => d.dataset.from + '>' + d.dataset.to + ' ' + d.dataset.status),
			count: document.getElementById('step-%d').dataset.exchanges || '',
		};
	})()`, step, step)))
}

// setMedia emulates a CSS media type ("print"; "" for the screen).
func setMedia(media string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: media})
		return chromedp.Void{}, err
	}
}

// TestBrowserTrainerFlow runs the account-information journey on the
// trainer page at 1280×800 with the PSU on the bank's own pages in a second
// window, as a trainer would: after every step the sequence diagram has one
// arrow per exchange the step lists, from the actor that sent it to the one
// that answered, and the page does not scroll sideways. The PSU's login and
// consent are drawn from the PSU; the consent's state machine lights up;
// the tokens come decoded with what each claim means; an attack — another
// PSU's account with this consent's token — is refused, its rule shown on
// its arrow and in its result. The printable summary lists every step and
// the attack, and prints. Then a payment journey shows the payment
// settling on the sandbox clock. Screenshots and the printed summary are
// kept in the artefacts folder.
func TestBrowserTrainerFlow(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	b := newBrowser(t)
	b.do(t, chromedp.EmulateViewport(screenWidth, screenHeight))
	b.nav(t, chromedp.Navigate(s.url+"/trainer"))
	if !browserRead(t, b, chromedp.Evaluate[bool](`!!document.getElementById('psu-window') && document.getElementById('psu-window').checked`)) {
		t.Fatal("the page does not offer the PSU's part on the bank's pages")
	}
	b.do(t, chromedp.Click(byCSS("#start-accounts")),
		chromedp.Poll[chromedp.Void](`document.getElementById('status').textContent.startsWith('Journey ready')`))
	type listed struct {
		Title string `json:"title"`
		PSU   bool   `json:"psu"`
	}
	steps := browserRead(t, b, chromedp.Evaluate[[]listed](`[...document.querySelectorAll('#steps li')].map(li => ({title: li.firstChild.textContent, psu: li.dataset.psu === 'window'}))`))
	if len(steps) != 9 || !slices.ContainsFunc(steps, func(l listed) bool { return l.PSU }) {
		t.Fatalf("steps %+v: want 9, the PSU's in a window", steps)
	}
	arrows, checked := 0, 0
	for i, st := range steps {
		if st.PSU {
			psuInWindow(t, b, s)
		} else {
			b.do(t, chromedp.Click(byCSS("#next")))
		}
		status := browserRead(t, b, chromedp.Poll[string](fmt.Sprintf(`(() => { const s = document.getElementById('status');
			return s.textContent.startsWith('Step %d of') || s.textContent === 'Journey complete.' || s.className === 'error' ? s.textContent : ''; })()`, i+1),
			chromedp.WithPollingTimeout(45*time.Second)))
		if !strings.HasPrefix(status, fmt.Sprintf("Step %d of 9 done", i+1)) && status != "Journey complete." {
			b.screenshot(t, "trainer-flow-failed")
			t.Fatalf("step %d (%s): status %q; the step says %s", i+1, st.Title, status, browserRead(t, b, chromedp.Text("#current")))
		}
		d := readDrawing(t, b, i)
		if !slices.Equal(d.Arrows, d.Exchanges) || d.Count != fmt.Sprint(len(d.Arrows)) {
			t.Errorf("step %d (%s): arrows %v, the step's exchanges %v (the server sent %s): want one arrow per exchange", i+1, st.Title, d.Arrows, d.Exchanges, d.Count)
		}
		arrows += len(d.Arrows)
		b.checkFits(t, fmt.Sprintf("after step %d", i+1))

		switch st.Title {
		case "The PSU logs in and approves":
			// Drawn from the PSU: the authorization request, the login and
			// consent pages, and the way back to the app.
			if len(d.Arrows) < 3 || !strings.HasPrefix(d.Arrows[0], "PSU>Authorization server ") || !strings.Contains(d.Labels[0], "GET /as/authorize") ||
				d.Arrows[len(d.Arrows)-1] != "PSU>TPP 200" || !slices.ContainsFunc(d.Labels, func(l string) bool { return strings.Contains(l, "POST /psu/") }) {
				t.Errorf("the PSU's step is drawn as %v %q", d.Arrows, d.Labels)
			}
			b.do(t, chromedp.Evaluate[chromedp.Void](`document.getElementById('diagram').scrollIntoView()`))
			b.screenshot(t, "trainer-flow-psu-back")
			checked++
		case "Exchange the code for tokens":
			machine := browserRead(t, b, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#machine .state')].map(s => s.dataset.state + (s.classList.contains('current') ? '*' : s.classList.contains('visited') ? '+' : ''))`))
			if !slices.Contains(machine, "AwaitingAuthorisation+") || !slices.Contains(machine, "Authorised*") || !slices.Contains(machine, "Deleted") {
				t.Errorf("the consent's state machine shows %v; want AwaitingAuthorisation passed, Authorised lit, Deleted ahead", machine)
			}
			tokens := browserRead(t, b, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#tokens .token h3')].map(h => h.textContent)`))
			meaning := browserRead(t, b, chromedp.Evaluate[string](`(() => { const r = [...document.querySelectorAll('#tokens tr')].find(tr => tr.querySelector('td.k') && tr.querySelector('td.k').textContent === 'openbanking_intent_id');
				return r ? r.querySelector('td.m').textContent : ''; })()`))
			if len(tokens) < 3 || !strings.Contains(meaning, "ConsentId") {
				t.Errorf("tokens decoded: %v; openbanking_intent_id means %q", tokens, meaning)
			}
			// An attack: this consent's token on another PSU's account.
			b.do(t, chromedp.Click(byCSS(`#attack-buttons button[data-attack="another-psu"]`)),
				chromedp.Poll[chromedp.Void](`!!document.querySelector('#attack-result .attack-box')`))
			type attackShown struct {
				Rule    string `json:"rule"`
				Verdict string `json:"verdict"`
				Arrow   string `json:"arrow"`
			}
			a := browserRead(t, b, chromedp.Evaluate[attackShown](`(() => { const box = document.querySelector('#attack-result .attack-box');
				const arrows = [...document.querySelectorAll('#lanes .arrow.attack')];
				const last = arrows[arrows.length - 1];
				return {rule: box.dataset.rule, verdict: box.querySelector('.verdict').textContent,
					arrow: last ? (last.classList.contains('refused') ? 'refused ' : 'allowed ') + last.dataset.to + ' ' + last.dataset.status + ' ' + last.dataset.rule + ' | ' + last.textContent : ''}; })()`))
			if a.Rule != "bola.foreign" || !strings.Contains(a.Verdict, "refused it — rule bola.foreign") ||
				!strings.HasPrefix(a.Arrow, "refused Gateway 403 bola.foreign") || !strings.Contains(a.Arrow, "bola.foreign") {
				t.Errorf("the refused attack shows %+v; want its rule bola.foreign on the result and on a red arrow to the gateway", a)
			}
			b.checkFits(t, "after the attack")
			b.screenshot(t, "trainer-flow-attack-refused")
			checked++
		}
	}
	if checked != 2 {
		t.Errorf("%d of the PSU's step and the code exchange were checked, want both", checked)
	}
	if arrows < 12 {
		t.Errorf("%d arrows for the whole journey", arrows)
	}
	if n := browserRead(t, b, chromedp.Evaluate[int](`document.querySelectorAll('#lanes .arrow.refused[data-to="Gateway"][data-rule="permission.missing"]').length`)); n != 1 {
		t.Errorf("%d red arrows to the gateway with rule permission.missing, want the read beyond the consent's", n)
	}
	b.do(t, chromedp.Evaluate[chromedp.Void](`document.getElementById('diagram').scrollTop = 0`))
	b.screenshot(t, "trainer-flow-diagram")

	// The printable summary: every step and the attack, and no controls.
	b.do(t, setMedia("print"))
	type printed struct {
		Summary  string `json:"summary"`
		Controls string `json:"controls"`
		Rows     int    `json:"rows"`
		Text     string `json:"text"`
	}
	p := browserRead(t, b, chromedp.Evaluate[printed](`({summary: getComputedStyle(document.getElementById('summary')).display,
		controls: getComputedStyle(document.querySelector('.controls')).display,
		rows: document.querySelectorAll('#summary-rows > tr').length, text: document.getElementById('summary').textContent})`))
	if p.Summary == "none" || p.Controls != "none" || p.Rows != len(steps)+1 || !strings.Contains(p.Text, "bola.foreign") || !strings.Contains(p.Text, "permission.missing") {
		t.Errorf("printed: summary %q, controls %q, %d rows (want %d); text %.300q", p.Summary, p.Controls, p.Rows, len(steps)+1, p.Text)
	}
	pdf := browserRead(t, b, chromedp.PrintToPDF(chromedp.PDFPaper(chromedp.PaperA4), chromedp.PDFPrintBackground()))
	if !bytes.HasPrefix(pdf, []byte("%PDF")) {
		t.Errorf("the printed summary is not a PDF: %.20q", pdf)
	}
	path := filepath.Join(artefactDir(t), "trainer-flow-summary.pdf")
	if err := os.WriteFile(path, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("printed summary: %s", path)
	b.do(t, chromedp.Evaluate[chromedp.Void](`document.getElementById('summary').scrollIntoView()`))
	b.screenshot(t, "trainer-flow-summary-print")
	b.do(t, setMedia(""))

	// A payment journey (the PSU headless this time): the payment settles
	// on the sandbox clock, on the page.
	b.do(t, headlessPSU, chromedp.Click(byCSS("#start-payment")),
		chromedp.Poll[chromedp.Void](`document.getElementById('status').textContent.startsWith('Journey ready')`),
		chromedp.Click(byCSS("#run-all")),
		chromedp.Poll[chromedp.Void](`document.getElementById('status').textContent === 'Journey complete.' || document.getElementById('status').className === 'error'`))
	if st := browserRead(t, b, chromedp.Text("#status")); st != "Journey complete." {
		t.Fatalf("the payment journey: %q", st)
	}
	settled, err := chromedp.Run(b.ctx, chromedp.Poll[string](`document.getElementById('payment').dataset.status === 'AcceptedSettlementCompleted' ? document.getElementById('payment').textContent : ''`,
		chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil || !strings.Contains(settled, "Pending") {
		t.Errorf("the payment on the page: %q (%v); want it settled, its Pending status in its history", browserRead(t, b, chromedp.Text("#payment")), err)
	}
	b.checkFits(t, "after the payment journey")
	b.do(t, chromedp.Evaluate[chromedp.Void](`document.getElementById('payment').scrollIntoView({block: 'center'})`))
	b.screenshot(t, "trainer-flow-payment-settled")
}

// psuInWindow presses Next step on the PSU's step: the page opens the
// bank's login page in a second window, where the PSU (alice) logs in and
// approves on the consent page, as a person would.
func psuInWindow(t *testing.T, b *browser, s *sandbox) {
	t.Helper()
	opened := chromedp.WaitNewTarget(b.ctx, func(i *target.Info) bool { return strings.HasPrefix(i.URL, s.url+"/") })
	b.do(t, chromedp.Click(byCSS("#next")))
	var id target.ID
	select {
	case id = <-opened:
	case <-b.ctx.Done():
		t.Fatal("no second window opened")
	}
	pctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithTargetID(id))
	defer cancel()
	w := &browser{ctx: pctx}
	w.do(t, chromedp.EmulateViewport(620, 780))
	w.screenshotAfter(t, "trainer-flow-psu-login", chromedp.WaitVisible(byCSS("#username")))
	if resp := w.psuLogin(t, "alice", "alice123"); resp.Status != 200 {
		t.Fatalf("alice's login in the second window: %d at %s", resp.Status, resp.URL)
	}
	w.screenshotAfter(t, "trainer-flow-psu-consent", chromedp.WaitVisible(byCSS("#approve")))
	if resp := w.nav(t, chromedp.Click(byCSS("#approve"))); !strings.HasPrefix(resp.URL, s.url+"/trainer/callback") {
		t.Fatalf("after approving, the second window is at %s (%d), not the app's redirect URI", resp.URL, resp.Status)
	}
	w.do(t, chromedp.Poll[chromedp.Void](`!!document.getElementById('callback-status') && document.getElementById('callback-status').textContent.includes('goes on')`))
}

// screenshotAfter runs an action, then saves a screenshot.
func (b *browser) screenshotAfter(t *testing.T, name string, a chromedp.Action[chromedp.Void]) {
	t.Helper()
	b.do(t, a)
	b.screenshot(t, name)
}
