package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/obsandbox/sandbox/internal/tpp"
)

// Regression tests for the review of the payment APIs.

// TestNoPaymentToItself: an account cannot pay itself; with no other
// account to pay from, the authorisation fails and rejects the consent.
func TestNoPaymentToItself(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.newTPP("private_key_jwt")
	cc, _ := c.ClientCredentials(ctx, "payments")
	id, err := c.PaymentConsent(ctx, cc, tpp.DomesticInitiation("30.00", tpp.Payee{Name: "Alice Carter", SortCode: "090128", Number: "41726350"}, "SELF"))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := c.Authorize(ctx, id, tpp.AuthOptions{Scope: "openid payments"})
	if got := redirectError(t, s.headless(a, "alice", "alice123", "approve")); got != "access_denied" {
		t.Errorf("paying itself: %q, want access_denied", got)
	}
	var cn struct{ Data struct{ Status string } }
	s.get(pis+"/domestic-payment-consents/"+id, cc).JSON(t, &cn)
	if cn.Data.Status != "Rejected" {
		t.Errorf("consent %s, want Rejected", cn.Data.Status)
	}
}

// TestStandingOrdersInterleave: two daily orders over ten days are booked on
// their own days, interleaved, not bunched at the end of the jump; a final
// amount applies when FinalPaymentDateTime ends the order.
func TestStandingOrdersInterleave(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	c, _, acct := paymentSetup(t, s)
	first := s.app.Clock.Now().Add(72 * time.Hour).Truncate(time.Second)
	daily := func(ref string, extra map[string]any) map[string]any {
		in := map[string]any{"Frequency": "EvryDay", "Reference": ref, "FirstPaymentDateTime": first.Format(time.RFC3339),
			"FirstPaymentAmount":     map[string]any{"Amount": "20.00", "Currency": "GBP"},
			"RecurringPaymentAmount": map[string]any{"Amount": "10.00", "Currency": "GBP"},
			"FinalPaymentAmount":     map[string]any{"Amount": "5.00", "Currency": "GBP"},
			"CreditorAccount":        map[string]any{"SchemeName": "UK.OBIE.SortCodeAccountNumber", "Identification": "20041533104477", "Name": "Greenfield Lettings"}}
		for k, v := range extra {
			in[k] = v
		}
		return in
	}
	for _, in := range []map[string]any{
		daily("SO AAA", map[string]any{"NumberOfPayments": "5"}),
		daily("SO BBB", map[string]any{"FinalPaymentDateTime": first.Add(48 * time.Hour).Format(time.RFC3339)}),
	} {
		consent, tok := authorisedOrder(t, s, c, "domestic-standing-order", in)
		submitOrder(t, c, "domestic-standing-orders", tok, consent, in)
	}
	s.advance("10d")
	aisTok := s.freshAIS(c)
	txs := items(t, s.get(ais+"/accounts/"+acct+"/transactions?page-size=1000&fromBookingDateTime="+first.Format("2006-01-02"), aisTok), "Transaction")
	days := map[string][]string{}
	amounts := map[string][]string{}
	for i := len(txs) - 1; i >= 0; i-- {
		tx := txs[i]
		ref, _ := tx["TransactionReference"].(string)
		if strings.HasPrefix(ref, "SO ") {
			days[ref] = append(days[ref], tx["BookingDateTime"].(string)[:10])
			amounts[ref] = append(amounts[ref], tx["Amount"].(map[string]any)["Amount"].(string))
		}
	}
	for ref, want := range map[string]int{"SO AAA": 5, "SO BBB": 3} {
		seen := map[string]bool{}
		for _, d := range days[ref] {
			seen[d] = true
		}
		if len(days[ref]) != want || len(seen) != want {
			t.Errorf("%s booked on %v, want %d different days", ref, days[ref], want)
		}
	}
	if got := strings.Join(amounts["SO BBB"], " "); got != "20.00 10.00 5.00" {
		t.Errorf("the order ended by its final date paid %q, want 20.00 10.00 5.00", got)
	}
}

// TestPaymentConsentsNotRevocable: a PSU cannot revoke a payment consent
// (PIS profile); its order keeps its course.
func TestPaymentConsentsNotRevocable(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	c := s.newTPP("private_key_jwt")
	in := map[string]any{"Frequency": "EvryDay", "FirstPaymentDateTime": s.app.Clock.Now().Add(time.Hour).Format(time.RFC3339),
		"FirstPaymentAmount": map[string]any{"Amount": "1.00", "Currency": "GBP"},
		"CreditorAccount":    map[string]any{"SchemeName": "UK.OBIE.SortCodeAccountNumber", "Identification": "20041533104477", "Name": "G"}}
	consent, _ := authorisedOrder(t, s, c, "domestic-standing-order", in)
	r := s.do(req{method: "POST", path: "/sandbox/psu/revoke", body: map[string]string{"username": "alice", "password": "alice123", "consent_id": consent}})
	expect(t, r, 403)
}

// TestOrderDatesAndReplays: an order whose date has passed is refused; a
// replayed consent POST still answers 201 with the original; another body
// under an order's key is the idempotency error, not a consent mismatch.
func TestOrderDatesAndReplays(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.newTPP("private_key_jwt")
	in := tpp.DomesticInitiation("15.00", payee, "LATE")
	in["RequestedExecutionDateTime"] = s.app.Clock.Now().Add(time.Hour).Format(time.RFC3339)
	cc, _ := c.ClientCredentials(ctx, "payments")
	key := uuid.NewString()
	body := map[string]any{"Data": map[string]any{"Permission": "Create", "Initiation": in}, "Risk": map[string]any{}}
	st, b, _, _ := c.SignedPost(ctx, pis+"/domestic-scheduled-payment-consents", cc, key, body)
	if st != 201 {
		t.Fatalf("%d %s", st, b)
	}
	var first struct{ Data struct{ ConsentId string } }
	json.Unmarshal(b, &first)
	s.advance("2h")
	cc, _ = c.ClientCredentials(ctx, "payments")
	st, b, _, _ = c.SignedPost(ctx, pis+"/domestic-scheduled-payment-consents", cc, key, body)
	var again struct{ Data struct{ ConsentId string } }
	json.Unmarshal(b, &again)
	if st != 201 || again.Data.ConsentId != first.Data.ConsentId {
		t.Errorf("replay after the date passed: %d %s", st, b)
	}
	a, _ := c.Authorize(ctx, first.Data.ConsentId, tpp.AuthOptions{Scope: "openid payments"})
	to, _ := c.Headless(ctx, a, "alice", "alice123", "approve", nil)
	code, err := c.Callback(ctx, a, to)
	if err != nil {
		t.Fatal(err)
	}
	toks, _ := c.Exchange(ctx, a, code)
	st, b, _, _ = c.SignedPost(ctx, pis+"/domestic-scheduled-payments", toks.AccessToken, uuid.NewString(),
		map[string]any{"Data": map[string]any{"ConsentId": first.Data.ConsentId, "Initiation": in}, "Risk": map[string]any{}})
	if st != 400 || !strings.Contains(string(b), "UK.OBIE.Field.InvalidDate") {
		t.Errorf("an order for a date that has passed: %d %s", st, b)
	}

	pin := tpp.DomesticInitiation("6.00", payee, "KEY")
	id, _ := c.PaymentConsent(ctx, cc, pin)
	a, _ = c.Authorize(ctx, id, tpp.AuthOptions{Scope: "openid payments"})
	to, _ = c.Headless(ctx, a, "alice", "alice123", "approve", nil)
	code, _ = c.Callback(ctx, a, to)
	toks, _ = c.Exchange(ctx, a, code)
	pkey := uuid.NewString()
	if _, _, err := c.Pay(ctx, toks.AccessToken, id, pin, pkey); err != nil {
		t.Fatal(err)
	}
	changed := tpp.DomesticInitiation("7.00", payee, "KEY")
	st, b, _, _ = c.SignedPost(ctx, pis+"/domestic-payments", toks.AccessToken, pkey,
		map[string]any{"Data": map[string]any{"ConsentId": id, "Initiation": changed}, "Risk": map[string]any{"PaymentContextCode": "PartyToParty"}})
	if st != 400 || !strings.Contains(string(b), "UK.OBIE.Header.Invalid") || !strings.Contains(string(b), "x-idempotency-key") {
		t.Errorf("another body under a used key: %d %s", st, b)
	}
}
