package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/obsandbox/sandbox/internal/tpp"
)

// TestBrowserVRPApproval: the PSU reads a VRP mandate on the consent page
// — whom it pays, the limits in plain words, until when — sets it up from
// her current account, and the TPP's token pays under it.
func TestBrowserVRPApproval(t *testing.T) {
	t.Parallel()
	s, b, cb, c := browserSetup(t)
	cc := orFatal(c.ClientCredentials(b.ctx, "payments"))(t)
	cn := orFatal(c.CreateVRPConsent(b.ctx, cc, tpp.VRPMandate{Type: tpp.VRPCommercial, MaxAmount: "50.00", To: &payee, Reference: "GYM",
		Limits: []tpp.VRPLimit{{PeriodType: "Month", PeriodAlignment: "Calendar", Amount: "120.00"}}}))(t)
	a := orFatal(c.Authorize(b.ctx, cn.Data.ConsentID, tpp.AuthOptions{Flow: tpp.Code, Scope: "openid payments"}))(t)
	p := openPaymentPage(t, b, a)
	if p.H1 != "Set up variable recurring payments" || !strings.Contains(p.Intro, "within the limits below") || p.Button != "Set up payments" {
		t.Errorf("heading %q, intro %q, button %q; want the VRP mandate page", p.H1, p.Intro, p.Button)
	}
	if amount, _, _ := p.row("Pay"); amount != "Up to £50.00 a payment" {
		t.Errorf("Pay %q", amount)
	}
	if later, _, _ := p.row("Later payments"); later != "At most £120.00 per calendar month" {
		t.Errorf("Later payments %q", later)
	}
	if name, account, _ := p.row("To"); name != "Greenfield Lettings" || account != "Sort code 20-04-15, account 33104477" {
		t.Errorf("payee %q, %q", name, account)
	}
	if when, _, _ := p.row("When"); when != "Until you or the app cancel it" {
		t.Errorf("When %q", when)
	}
	b.nav(t, chromedp.Click(byCSS("#approve")))
	code := orFatal(c.Callback(b.ctx, a, cb.wait(b.ctx, t)))(t)
	toks := orFatal(c.Exchange(b.ctx, a, code))(t)
	if _, err := c.PayVRP(b.ctx, toks.AccessToken, tpp.VRP{Consent: cn, Type: tpp.VRPCommercial, Amount: "50.00", To: payee, Reference: "GYM"}); err != nil {
		t.Fatalf("paying under the mandate: %v", err)
	}
	b.checkHeaders(t, s.url)
}
