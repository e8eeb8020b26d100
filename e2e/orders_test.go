package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/obsandbox/sandbox/internal/tpp"
)

// authorisedOrder creates a consent of a PIS family, has alice approve it
// and returns the consent id and a PSU token for it.
func authorisedOrder(t *testing.T, s *sandbox, c *tpp.Client, family string, initiation map[string]any) (string, string) {
	t.Helper()
	ctx := context.Background()
	cc, _ := c.ClientCredentials(ctx, "payments")
	st, b, _, err := c.SignedPost(ctx, pis+"/"+family+"-consents", cc, uuid.NewString(),
		map[string]any{"Data": map[string]any{"Permission": "Create", "Initiation": initiation}, "Risk": map[string]any{}})
	if err != nil || st != 201 {
		t.Fatalf("%s consent: %d %s %v", family, st, b, err)
	}
	var out struct{ Data struct{ ConsentId string } }
	json.Unmarshal(b, &out)
	toks, err := c.Approve(ctx, out.Data.ConsentId, tpp.AuthOptions{Scope: "openid payments"}, "alice", "alice123", nil)
	if err != nil {
		t.Fatal(err)
	}
	return out.Data.ConsentId, toks.AccessToken
}

// freshAIS is a new AIS token for alice (everything, every account).
func (s *sandbox) freshAIS(c *tpp.Client) string {
	s.t.Helper()
	toks, _, err := c.AISJourney(context.Background(), "alice", "alice123", tpp.AllPermissions, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	return toks.AccessToken
}

func (s *sandbox) advance(d string) {
	s.t.Helper()
	expect(s.t, s.do(req{method: "POST", path: "/sandbox/clock", token: s.app.Config.AdminToken, body: map[string]string{"advance": d}}), 200)
}

func submitOrder(t *testing.T, c *tpp.Client, family, token, consent string, initiation map[string]any) map[string]any {
	t.Helper()
	st, b, _, err := c.SignedPost(context.Background(), pis+"/"+family, token, uuid.NewString(),
		map[string]any{"Data": map[string]any{"ConsentId": consent, "Initiation": initiation}, "Risk": map[string]any{}})
	if err != nil || st != 201 {
		t.Fatalf("%s: %d %s %v", family, st, b, err)
	}
	var out struct{ Data map[string]any }
	json.Unmarshal(b, &out)
	return out.Data
}

// TestScheduledPayment: a future-dated payment waits (InitiationPending,
// listed in AIS scheduled payments) and is executed by the sandbox clock at
// its date: booked then, balance down, InitiationCompleted.
func TestScheduledPayment(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c, aisTok, acct := paymentSetup(t, s)
	when := s.app.Clock.Now().Add(48 * time.Hour).Truncate(time.Second)
	in := tpp.DomesticInitiation("75.50", payee, "SCHEDULED")
	in["RequestedExecutionDateTime"] = when.Format(time.RFC3339)
	consent, tok := authorisedOrder(t, s, c, "domestic-scheduled-payment", in)
	order := submitOrder(t, c, "domestic-scheduled-payments", tok, consent, in)
	id := order["DomesticScheduledPaymentId"].(string)
	if order["Status"] != "InitiationPending" {
		t.Fatalf("status %v", order["Status"])
	}
	listed := items(t, s.get(ais+"/accounts/"+acct+"/scheduled-payments", aisTok), "ScheduledPayment")
	found := false
	for _, sp := range listed {
		found = found || sp["ScheduledPaymentId"] == id
	}
	if !found {
		t.Errorf("the scheduled payment is not in AIS: %v", listed)
	}
	// InterimAvailable: the clock also books the bank's pending card
	// entries, which moves InterimBooked but not what is available.
	booked := s.balanceOf(aisTok, acct, "InterimAvailable")
	s.advance("1d")
	// Tokens live an hour of sandbox time: fresh ones after each jump.
	cc, _ := c.ClientCredentials(ctx, "payments")
	aisTok = s.freshAIS(c)
	var got struct{ Data struct{ Status string } }
	s.get(pis+"/domestic-scheduled-payments/"+id, cc).JSON(t, &got)
	if got.Data.Status != "InitiationPending" || s.balanceOf(aisTok, acct, "InterimAvailable") != booked {
		t.Fatalf("executed a day early: %s", got.Data.Status)
	}
	s.advance("2d")
	cc, _ = c.ClientCredentials(ctx, "payments")
	aisTok = s.freshAIS(c)
	s.get(pis+"/domestic-scheduled-payments/"+id, cc).JSON(t, &got)
	if got.Data.Status != "InitiationCompleted" {
		t.Errorf("status after the date %s", got.Data.Status)
	}
	if b := s.balanceOf(aisTok, acct, "InterimAvailable"); b != booked-7550 {
		t.Errorf("available balance %d, want %d", b, booked-7550)
	}
	var tx map[string]any
	for _, x := range items(t, s.get(ais+"/accounts/"+acct+"/transactions?page-size=50", aisTok), "Transaction") {
		if x["TransactionReference"] == "SCHEDULED" || strings.Contains(fmt.Sprint(x["TransactionInformation"]), "SCHEDULED") {
			tx = x
		}
	}
	if tx == nil || tx["BookingDateTime"] != when.Format("2006-01-02T15:04:05")+"+00:00" || tx["Status"] != "Booked" || amountOf(tx) != -7550 {
		t.Errorf("transaction %v, want -75.50 booked at %s", tx, when)
	}
	expect(t, s.get(pis+"/domestic-scheduled-payments/"+id+"/payment-details", cc), 200)
}

// TestStandingOrders: a standing order pays each occurrence exactly once as
// the sandbox clock moves, with its first and final amounts, and stops
// after its number of payments.
func TestStandingOrders(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	c, _, acct := paymentSetup(t, s)
	first := s.app.Clock.Now().Add(72 * time.Hour).Truncate(time.Second)
	weekly := func(ref string, n int) map[string]any {
		in := map[string]any{"Frequency": "IntrvlWkDay:01:0" + fmt.Sprint(int(first.Weekday()+6)%7+1), "Reference": ref,
			"FirstPaymentDateTime": first.Format(time.RFC3339), "FirstPaymentAmount": map[string]any{"Amount": "20.00", "Currency": "GBP"},
			"RecurringPaymentAmount": map[string]any{"Amount": "10.00", "Currency": "GBP"},
			"CreditorAccount":        map[string]any{"SchemeName": "UK.OBIE.SortCodeAccountNumber", "Identification": "20041533104477", "Name": "Greenfield Lettings"}}
		if n > 0 {
			in["NumberOfPayments"] = fmt.Sprint(n)
			in["FinalPaymentAmount"] = map[string]any{"Amount": "5.00", "Currency": "GBP"}
		}
		return in
	}
	count := weekly("SO COUNT", 4)
	consent, tok := authorisedOrder(t, s, c, "domestic-standing-order", count)
	order := submitOrder(t, c, "domestic-standing-orders", tok, consent, count)
	if order["Status"] != "InitiationCompleted" {
		t.Fatalf("status %v", order["Status"])
	}
	open := weekly("SO OPEN", 0)
	consent2, tok2 := authorisedOrder(t, s, c, "domestic-standing-order", open)
	submitOrder(t, c, "domestic-standing-orders", tok2, consent2, open)

	s.advance("91d")
	aisTok := s.freshAIS(c)
	txs := items(t, s.get(ais+"/accounts/"+acct+"/transactions?page-size=1000&fromBookingDateTime="+first.Format("2006-01-02"), aisTok), "Transaction")
	amounts := map[string][]string{}
	for _, tx := range txs {
		if ref, _ := tx["TransactionReference"].(string); strings.HasPrefix(ref, "SO ") {
			amounts[ref] = append([]string{tx["Amount"].(map[string]any)["Amount"].(string)}, amounts[ref]...)
		}
	}
	if got := strings.Join(amounts["SO COUNT"], " "); got != "20.00 10.00 10.00 5.00" {
		t.Errorf("the 4-payment order paid %q, want 20.00 10.00 10.00 5.00", got)
	}
	// 91 days from three days ahead: weeks 0..12 -> 13 payments, each once.
	if n := len(amounts["SO OPEN"]); n != 13 {
		t.Errorf("the open-ended weekly order paid %d times in 91 days, want 13", n)
	}
	s.advance("1d") // a second catch-up pays nothing twice
	aisTok = s.freshAIS(c)
	txs = items(t, s.get(ais+"/accounts/"+acct+"/transactions?page-size=1000&fromBookingDateTime="+first.Format("2006-01-02"), aisTok), "Transaction")
	n := 0
	for _, tx := range txs {
		if tx["TransactionReference"] == "SO OPEN" {
			n++
		}
	}
	if n != 13 {
		t.Errorf("after another day the open order has paid %d times", n)
	}
	for _, so := range items(t, s.get(ais+"/accounts/"+acct+"/standing-orders", aisTok), "StandingOrder") {
		if so["Reference"] == "SO COUNT" && so["StandingOrderStatusCode"] != "Inactive" {
			t.Errorf("the finished order is %v", so["StandingOrderStatusCode"])
		}
	}
	if problems, _ := s.app.Store.CheckLedgers(context.Background(), 5); len(problems) > 0 {
		t.Error(problems)
	}
}

// TestOrderRefusals: dates in the past, unsupported frequencies.
func TestOrderRefusals(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.newTPP("private_key_jwt")
	cc, _ := c.ClientCredentials(ctx, "payments")
	past := tpp.DomesticInitiation("1.00", payee, "X")
	past["RequestedExecutionDateTime"] = s.app.Clock.Now().Add(-time.Hour).Format(time.RFC3339)
	so := map[string]any{"Frequency": "IntrvlMnthDay:07:01", "FirstPaymentDateTime": s.app.Clock.Now().Add(time.Hour).Format(time.RFC3339),
		"FirstPaymentAmount": map[string]any{"Amount": "1.00", "Currency": "GBP"},
		"CreditorAccount":    map[string]any{"SchemeName": "UK.OBIE.SortCodeAccountNumber", "Identification": "20041533104477", "Name": "X"}}
	for _, tt := range []struct {
		family string
		in     map[string]any
		code   string
	}{
		{"domestic-scheduled-payment-consents", past, "UK.OBIE.Field.InvalidDate"},
		{"domestic-standing-order-consents", so, "UK.OBIE.Field.Invalid"},
	} {
		st, b, _, _ := c.SignedPost(ctx, pis+"/"+tt.family, cc, uuid.NewString(),
			map[string]any{"Data": map[string]any{"Permission": "Create", "Initiation": tt.in}, "Risk": map[string]any{}})
		if st != 400 || !strings.Contains(string(b), tt.code) {
			t.Errorf("%s: %d %s, want %s", tt.family, st, b, tt.code)
		}
	}
}

// TestFundsConfirmation (CBPII): a consent for one of alice's accounts, real
// answers from its available balance, a reference used once, and the token
// dead after the TPP deletes the consent.
func TestFundsConfirmation(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.newTPP("private_key_jwt")
	cc, err := c.ClientCredentials(ctx, "fundsconfirmations")
	if err != nil {
		t.Fatal(err)
	}
	const cb = "/open-banking/v3.1/cbpii"
	r := s.do(req{method: "POST", path: cb + "/funds-confirmation-consents", token: cc, body: map[string]any{"Data": map[string]any{
		"DebtorAccount": map[string]any{"SchemeName": "UK.OBIE.SortCodeAccountNumber", "Identification": "09012841726350", "Name": "Alice Carter"}}}})
	expect(t, r, 201)
	var cn struct{ Data struct{ ConsentId string } }
	r.JSON(t, &cn)
	// Bob holds no such account: his authorisation fails and rejects that consent.
	other := s.do(req{method: "POST", path: cb + "/funds-confirmation-consents", token: cc, body: map[string]any{"Data": map[string]any{
		"DebtorAccount": map[string]any{"SchemeName": "UK.OBIE.SortCodeAccountNumber", "Identification": "09012841726350"}}}})
	var ocn struct {
		Data struct{ ConsentId, Status string }
	}
	other.JSON(t, &ocn)
	a, _ := c.Authorize(ctx, ocn.Data.ConsentId, tpp.AuthOptions{Scope: "openid fundsconfirmations"})
	if got := redirectError(t, s.headless(a, "bob", "bob123", "approve")); got != "access_denied" {
		t.Errorf("bob authorising a check on alice's account: %q", got)
	}
	s.get(cb+"/funds-confirmation-consents/"+ocn.Data.ConsentId, cc).JSON(t, &ocn)
	if ocn.Data.Status != "Rejected" {
		t.Errorf("the failed authorisation left the consent %s", ocn.Data.Status)
	}
	id, _ := c.Authorize(ctx, cn.Data.ConsentId, tpp.AuthOptions{Scope: "openid fundsconfirmations"})
	to, err := c.Headless(ctx, id, "alice", "alice123", "approve", nil)
	if err != nil {
		t.Fatal(err)
	}
	code, err := c.Callback(ctx, id, to)
	if err != nil {
		t.Fatal(err)
	}
	toks, err := c.Exchange(ctx, id, code)
	if err != nil {
		t.Fatal(err)
	}
	check := func(ref, amount string) *response {
		return s.do(req{method: "POST", path: cb + "/funds-confirmations", token: toks.AccessToken, body: map[string]any{"Data": map[string]any{
			"ConsentId": cn.Data.ConsentId, "Reference": ref, "InstructedAmount": map[string]any{"Amount": amount, "Currency": "GBP"}}}})
	}
	var fc struct{ Data struct{ FundsAvailable bool } }
	r = check("ORDER-1", "50.00")
	expect(t, r, 201)
	r.JSON(t, &fc)
	if !fc.Data.FundsAvailable {
		t.Error("alice cannot cover 50.00")
	}
	check("ORDER-2", "999999.00").JSON(t, &fc)
	if fc.Data.FundsAvailable {
		t.Error("alice covers 999,999.00")
	}
	r = check("ORDER-1", "1.00")
	expect(t, r, 400)
	if r.obError(t) != "UK.OBIE.Rules.DuplicateReference" {
		t.Error(string(r.Body))
	}
	expect(t, s.do(req{method: "DELETE", path: cb + "/funds-confirmation-consents/" + cn.Data.ConsentId, token: cc}), 204)
	expect(t, check("ORDER-3", "1.00"), 401)
}
