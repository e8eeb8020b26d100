package e2e

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/obsandbox/sandbox/internal/tpp"
)

// The browser tests of the payment consent page: the PSU reads what she is
// about to pay (amount, payee, reference, schedule), picks the debtor
// account with a radio button and confirms or cancels.

// paymentPage is what the consent page shows for a payment consent.
type paymentPage struct {
	Title  string `json:"title"`
	H1     string `json:"h1"`
	Intro  string `json:"intro"`
	Legend string `json:"legend"`
	Button string `json:"button"`
	Perms  int    `json:"perms"` // AIS permission lists (none on a payment page)
	Rows   []struct {
		Head  string `json:"head"`
		Text  string `json:"text"`  // the cell's own text, without the muted line
		Muted string `json:"muted"` // the cell's muted line (the payee's account)
	} `json:"rows"`
	Accounts []struct {
		Type    string `json:"type"`
		ID      string `json:"id"`
		Checked bool   `json:"checked"`
		Label   string `json:"label"`
	} `json:"accounts"`
}

// row is the text of the table row headed head, and its muted line; ok is
// false when there is no such row.
func (p paymentPage) row(head string) (text, muted string, ok bool) {
	for _, r := range p.Rows {
		if r.Head == head {
			return r.Text, r.Muted, true
		}
	}
	return "", "", false
}

var readPaymentPage = chromedp.Evaluate[paymentPage](`(() => {
	const text = sel => { const e = document.querySelector(sel); return e ? e.textContent.trim() : ''; };
	return {
		title: document.title, h1: text('h1'), intro: text('main > p'), legend: text('legend'), button: text('#approve'),
		perms: document.querySelectorAll('ul.perms').length,
		rows: [...document.querySelectorAll('main table tr')].map(tr => {
			const td = tr.querySelector('td'), muted = td && td.querySelector('.muted');
			const own = td ? [...td.childNodes].filter(n => n.nodeType === Node.TEXT_NODE).map(n => n.textContent).join('').trim() : '';
			const th = tr.querySelector('th');
			return {head: th ? th.textContent.trim() : '', text: own, muted: muted ? muted.textContent.trim() : ''};
		}),
		accounts: [...document.querySelectorAll('input[name=accounts]')].map(e =>
			({type: e.type, id: e.value, checked: e.checked, label: e.parentElement.textContent.trim()})),
	};
})()`)

// openPaymentPage opens an authorization in the browser, logs in as alice
// and reads the consent page.
func openPaymentPage(t *testing.T, b *browser, a *tpp.Authorization) paymentPage {
	t.Helper()
	b.nav(t, chromedp.Navigate(a.URL))
	if resp := b.psuLogin(t, "alice", "alice123"); resp.Status != 200 {
		t.Fatalf("login as alice: %d at %s", resp.Status, resp.URL)
	}
	b.do(t, chromedp.WaitVisible(byCSS("#approve")))
	return browserRead(t, b, readPaymentPage)
}

// checkPayFrom asserts that the page offers exactly alice's GBP current
// account, as one radio button, already chosen.
func checkPayFrom(t *testing.T, s *sandbox, p paymentPage) {
	t.Helper()
	current := s.accountsOf("alice")[0]
	if len(p.Accounts) != 1 {
		t.Fatalf("debtor account choices %+v; want exactly one radio, alice's current account %s", p.Accounts, current)
	}
	acct := p.Accounts[0]
	if acct.Type != "radio" || acct.ID != current || !acct.Checked ||
		!strings.Contains(acct.Label, "CurrentAccount") || !strings.Contains(acct.Label, "GBP") || !strings.Contains(acct.Label, "09-01-28 41726350") {
		t.Errorf("debtor account choice %+v; want a checked radio for %s, alice's GBP current account 09-01-28 41726350", acct, current)
	}
	if p.Legend != "Pay from" || p.Button != "Confirm payment" || p.Perms != 0 {
		t.Errorf("legend %q, approve button %q, %d permission lists; want \"Pay from\", \"Confirm payment\", none", p.Legend, p.Button, p.Perms)
	}
}

// TestBrowserPaymentApproval: the PSU reads a domestic payment on the
// consent page (amount, payee, sort code and account, reference), pays from
// her one eligible account and confirms; the TPP gets a code, its token
// makes the payment, and alice's available balance drops by exactly the
// amount.
func TestBrowserPaymentApproval(t *testing.T) {
	t.Parallel()
	s, b, cb, c := browserSetup(t)
	current := s.accountsOf("alice")[0]
	aisToks, _, err := c.AISJourney(b.ctx, "alice", "alice123", []string{"ReadAccountsDetail", "ReadBalances"}, nil)
	if err != nil {
		t.Fatalf("headless AIS journey: %v", err)
	}
	avail0 := s.balanceOf(aisToks.AccessToken, current, "InterimAvailable")

	cc := orFatal(c.ClientCredentials(b.ctx, "payments"))(t)
	in := tpp.DomesticInitiation("42.50", payee, "RENT DEC")
	id := orFatal(c.PaymentConsent(b.ctx, cc, in))(t)
	a := orFatal(c.Authorize(b.ctx, id, tpp.AuthOptions{Flow: tpp.Code, Scope: "openid payments"}))(t)
	p := openPaymentPage(t, b, a)

	if p.Title != "Confirm your payment — Sandbox Bank" || p.H1 != "Confirm your payment" {
		t.Errorf("title %q, heading %q; want the payment confirmation page", p.Title, p.H1)
	}
	if !strings.Contains(p.Intro, browserTPPName) || !strings.Contains(p.Intro, "to make a payment from your account") {
		t.Errorf("the page says %q; want %q asking to make a payment", p.Intro, browserTPPName)
	}
	if amount, _, _ := p.row("Pay"); amount != "£42.50" {
		t.Errorf("amount %q, want £42.50 (rows %+v)", amount, p.Rows)
	}
	name, account, _ := p.row("To")
	if name != "Greenfield Lettings" || account != "Sort code 20-04-15, account 33104477" {
		t.Errorf("payee %q, %q; want Greenfield Lettings, Sort code 20-04-15, account 33104477", name, account)
	}
	if ref, _, _ := p.row("Reference"); ref != "RENT DEC" {
		t.Errorf("reference %q, want RENT DEC", ref)
	}
	if when, _, ok := p.row("When"); ok {
		t.Errorf("an immediate payment shows When %q", when)
	}
	checkPayFrom(t, s, p)

	landed := b.nav(t, chromedp.Click(byCSS("#approve")))
	got := cb.wait(b.ctx, t)
	if landed.URL != got || landed.Status != 200 {
		t.Errorf("the browser landed on %s (%d), want the TPP's callback %s", landed.URL, landed.Status, got)
	}
	code := orFatal(c.Callback(b.ctx, a, got))(t)
	toks := orFatal(c.Exchange(b.ctx, a, code))(t)
	pid, status, err := c.Pay(b.ctx, toks.AccessToken, id, in, uuid.NewString())
	if err != nil {
		t.Fatalf("pay: %v", err)
	}
	if status != "Pending" || pid == "" {
		t.Errorf("payment %q status %s, want Pending", pid, status)
	}
	if avail := s.balanceOf(aisToks.AccessToken, current, "InterimAvailable"); avail != avail0-4250 {
		t.Errorf("alice's InterimAvailable %d after paying 42.50, want %d (was %d)", avail, avail0-4250, avail0)
	}
	b.checkHeaders(t, s.url)
}

// TestBrowserStandingOrderApproval: a weekly standing order shows its
// schedule in words on the consent page; Cancel sends access_denied to the
// redirect URI and the consent becomes Rejected.
func TestBrowserStandingOrderApproval(t *testing.T) {
	t.Parallel()
	s, b, cb, c := browserSetup(t)
	first := s.app.Clock.Now().Add(72 * time.Hour).Truncate(time.Second)
	in := map[string]any{"Frequency": fmt.Sprintf("IntrvlWkDay:01:%02d", int(first.Weekday()+6)%7+1), "Reference": "SO WEEKLY",
		"NumberOfPayments":       "4",
		"FirstPaymentDateTime":   first.Format(time.RFC3339),
		"FirstPaymentAmount":     map[string]any{"Amount": "20.00", "Currency": "GBP"},
		"RecurringPaymentAmount": map[string]any{"Amount": "10.00", "Currency": "GBP"},
		"FinalPaymentAmount":     map[string]any{"Amount": "5.00", "Currency": "GBP"},
		"CreditorAccount":        map[string]any{"SchemeName": "UK.OBIE.SortCodeAccountNumber", "Identification": "20041533104477", "Name": "Greenfield Lettings"}}
	cc := orFatal(c.ClientCredentials(b.ctx, "payments"))(t)
	st, body, _, err := c.SignedPost(b.ctx, pis+"/domestic-standing-order-consents", cc, uuid.NewString(),
		map[string]any{"Data": map[string]any{"Permission": "Create", "Initiation": in}, "Risk": map[string]any{}})
	if err != nil || st != 201 {
		t.Fatalf("standing order consent: %d %s %v", st, body, err)
	}
	var created struct{ Data struct{ ConsentId string } }
	(&response{Status: st, Body: body}).JSON(t, &created)
	id := created.Data.ConsentId
	a := orFatal(c.Authorize(b.ctx, id, tpp.AuthOptions{Flow: tpp.Code, Scope: "openid payments"}))(t)
	p := openPaymentPage(t, b, a)

	if p.Title != "Confirm your payment — Sandbox Bank" || p.H1 != "Confirm your payment" {
		t.Errorf("title %q, heading %q; want the payment confirmation page", p.Title, p.H1)
	}
	want := "A standing order: first on " + first.Format("2 January 2006") + ", then every " + first.Weekday().String() + ", 4 payments in all"
	if when, _, _ := p.row("When"); when != want {
		t.Errorf("When %q, want %q", when, want)
	}
	name, account, _ := p.row("To")
	ref, _, _ := p.row("Reference")
	if name != "Greenfield Lettings" || account != "Sort code 20-04-15, account 33104477" || ref != "SO WEEKLY" {
		t.Errorf("payee %q, %q, reference %q; want Greenfield Lettings, Sort code 20-04-15, account 33104477, SO WEEKLY", name, account, ref)
	}
	if later, _, _ := p.row("Later payments"); later != "£10.00 each, the last £5.00" {
		t.Errorf("Later payments %q, want the recurring and final amounts", later)
	}
	if amount, _, _ := p.row("Pay"); amount != "£20.00" {
		t.Errorf("amount %q, want the first payment's £20.00", amount)
	}
	checkPayFrom(t, s, p)

	b.nav(t, chromedp.Click(byCSS("#deny")))
	got := cb.wait(b.ctx, t)
	var ce *tpp.CallbackError
	if _, err := c.Callback(b.ctx, a, got); !errors.As(err, &ce) || ce.Code != "access_denied" {
		t.Fatalf("Cancel sent the browser to %s (%v), want error=access_denied", got, err)
	}
	var cn struct{ Data struct{ Status string } }
	r := s.get(pis+"/domestic-standing-order-consents/"+id, cc)
	expect(t, r, 200)
	r.JSON(t, &cn)
	if cn.Data.Status != "Rejected" {
		t.Errorf("consent status after Cancel %s, want Rejected", cn.Data.Status)
	}
	b.checkHeaders(t, s.url)
}

// TestBrowserInternationalPaymentPage: the consent page of an international
// payment says what goes abroad — the amount in its currency, the currency
// sent, the indicative rate and until when, the bank's charge — and offers
// alice's GBP current account, the one the rate's unit currency names.
func TestBrowserInternationalPaymentPage(t *testing.T) {
	t.Parallel()
	s, b, _, c := browserSetup(t)
	cc := orFatal(c.ClientCredentials(b.ctx, "payments"))(t)
	in := c.InternationalInitiation("200.00", "EUR", "EUR", tpp.Abroad{Name: "David Moreau", IBAN: s.account("dave", "EUR", "CurrentAccount").IBAN},
		"INVOICE 7", "GBP", "Indicative", "", "")
	id, _, err := c.ConsentOf(b.ctx, cc, tpp.International, in)
	if err != nil {
		t.Fatal(err)
	}
	a := orFatal(c.Authorize(b.ctx, id, tpp.AuthOptions{Flow: tpp.Code, Scope: "openid payments"}))(t)
	p := openPaymentPage(t, b, a)
	amount, _, _ := p.row("Pay")
	for _, want := range []string{"200.00 EUR", "sent in EUR", "indicative rate 1 GBP = ", "until ", "the bank's charge 2.50 EUR"} {
		if !strings.Contains(amount, want) {
			t.Errorf("the amount row says %q; want %q in it", amount, want)
		}
	}
	checkPayFrom(t, s, p)
}
