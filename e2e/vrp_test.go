package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/tpp"
)

// Variable recurring payments, in both versions, over one bank. Every
// answer is validated by the contracts and the official VRP files.

// aliceSavings is alice's savings account: the other end of her sweeps.
var aliceSavings = tpp.Payee{Name: "Alice Carter", SortCode: "090128", Number: "58301944"}

// vrpError decodes an error's first code and path (either version).
func vrpError(t testing.TB, err error) (status int, code, path string) {
	t.Helper()
	var se *tpp.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("got %v, want a refusal", err)
	}
	var e struct {
		Errors []struct{ ErrorCode, Path string }
	}
	if json.Unmarshal(se.Body, &e) != nil || len(e.Errors) == 0 {
		t.Fatalf("status %d without OBErrorResponse1: %s", se.Status, se.Body)
	}
	return se.Status, e.Errors[0].ErrorCode, e.Errors[0].Path
}

// ledger is alice's current account as the bank holds it.
func (s *sandbox) ledger(psu string) bank.LedgerState {
	s.t.Helper()
	ctx := context.Background()
	accts, err := s.app.Store.Accounts(ctx, psu, s.accountsOf(psu)[:1])
	if err != nil {
		s.t.Fatal(err)
	}
	st, err := s.app.Store.Ledgers(ctx, accts, s.app.Clock.Now())
	if err != nil {
		s.t.Fatal(err)
	}
	return st[accts[0].Ref]
}

// TestVRPMonthLimitThenNextMonth: the monthly limit really counts. Paying
// until the calendar month's limit is reached succeeds exactly at the
// limit; one penny more is 400 UK.OBIE.Rules.FailsControlParameters naming
// the limit, and nothing moves; with the sandbox clock in the next month
// (Europe/London) the next payment succeeds, on a token refreshed from the
// long-lived consent's refresh token.
func TestVRPMonthLimitThenNextMonth(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.newTPP("private_key_jwt")
	m := tpp.VRPMandate{Type: tpp.VRPCommercial, MaxAmount: "100.00", To: &payee, Reference: "GYM-CLUB",
		Limits: []tpp.VRPLimit{{PeriodType: "Month", PeriodAlignment: "Calendar", Amount: "250.00"}}}
	cn, toks, err := c.VRPJourney(ctx, "alice", "alice123", m, nil)
	if err != nil {
		t.Fatal(err)
	}
	if toks.RefreshToken == "" {
		t.Fatal("a VRP consent's tokens come without a refresh token")
	}
	pay := func(amount string) (*tpp.VRPResult, error) {
		return c.PayVRP(ctx, toks.AccessToken, tpp.VRP{Consent: cn, Type: tpp.VRPCommercial, Amount: amount, To: payee, Reference: "GYM-CLUB"})
	}
	for _, amount := range []string{"100.00", "100.00", "50.00"} { // 250.00: exactly the month's limit
		if p, err := pay(amount); err != nil || p.Data.Status != "Pending" {
			t.Fatalf("paying %s: %+v, %v", amount, p, err)
		}
	}
	before := s.ledger("alice")
	_, err = pay("0.01")
	if st, code, path := vrpError(t, err); st != 400 || code != "UK.OBIE.Rules.FailsControlParameters" ||
		path != "Data.ControlParameters.PeriodicLimits[0].Amount" {
		t.Fatalf("one penny over the month: %d %s at %s", st, code, path)
	}
	if after := s.ledger("alice"); after != before {
		t.Fatalf("a refused payment moved money: %+v -> %+v", before, after)
	}
	// 16 November 12:00 UTC + 15 days: 1 December, the next calendar month.
	s.advance("15d")
	if now := s.app.Clock.Now().In(bank.BankZone); now.Month() != 12 || now.Day() != 1 {
		t.Fatalf("the clock is at %v", now)
	}
	fresh, err := c.Refresh(ctx, toks.RefreshToken)
	if err != nil {
		t.Fatalf("refreshing after 15 days: %v", err)
	}
	toks.AccessToken = fresh.AccessToken
	if p, err := pay("100.00"); err != nil || p.Data.Status != "Pending" {
		t.Fatalf("the first payment of December: %+v, %v", p, err)
	}
	// The November payments settled on the clock.
	cc, _ := c.ClientCredentials(ctx, "payments")
	var got struct{ Data struct{ Status string } }
	r := s.get(pis+"/domestic-vrp-consents/"+cn.Data.ConsentID, cc)
	expect(t, r, 200)
	if r.JSON(t, &got); got.Data.Status != "Authorised" {
		t.Errorf("the consent is %s after its payments, want Authorised", got.Data.Status)
	}
}

// TestVRPConcurrentPaymentsNeverExceed: eight TPP connections paying 40.00
// twice each at once under a 250.00 limit: six payments go through, the
// others are refused with FailsControlParameters, and the debtor's pending
// debits grow by exactly 240.00.
func TestVRPConcurrentPaymentsNeverExceed(t *testing.T) {
	t.Parallel()
	// The sandbox clock stands still: a slow machine must not settle the
	// payments (pending debits booked) before the ledger is read.
	s := start(t, realIssuer(), frozen())
	ctx := context.Background()
	c := s.newTPP("private_key_jwt")
	m := tpp.VRPMandate{Type: tpp.VRPSweeping, MaxAmount: "50.00", To: &aliceSavings,
		Limits: []tpp.VRPLimit{{PeriodType: "Week", PeriodAlignment: "Consent", Amount: "250.00"}}}
	cn, toks, err := c.VRPJourney(ctx, "alice", "alice123", m, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := s.ledger("alice")
	var mu sync.Mutex
	ok, refused := 0, 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2 {
				_, err := c.PayVRP(ctx, toks.AccessToken, tpp.VRP{Consent: cn, Type: tpp.VRPSweeping, Amount: "40.00", To: aliceSavings})
				mu.Lock()
				var se *tpp.StatusError
				switch {
				case err == nil:
					ok++
				case errors.As(err, &se) && se.Status == 400 && strings.Contains(string(se.Body), "UK.OBIE.Rules.FailsControlParameters"):
					refused++
				default:
					t.Errorf("a payment: %v", err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ok != 6 || refused != 10 {
		t.Fatalf("%d paid and %d refused, want 6 and 10", ok, refused)
	}
	if d := s.ledger("alice").PendingDebits - before.PendingDebits; d != 24000 {
		t.Fatalf("pending debits grew by %d, want 24000", d)
	}
}

// TestVRPMoneyMovesAndShowsInAIS: a sweep from alice's current account to
// her savings is a pending debit at once, settles on the clock, and is the
// same transaction in AIS (both versions) as in payment-details; a payment
// the account cannot cover is Rejected with the reason in payment-details
// and does not count towards the limit.
func TestVRPMoneyMovesAndShowsInAIS(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.newTPP("private_key_jwt")
	m := tpp.VRPMandate{Type: tpp.VRPSweeping, MaxAmount: "100000.00", To: &aliceSavings, Reference: "SWEEP",
		Limits: []tpp.VRPLimit{{PeriodType: "Day", PeriodAlignment: "Calendar", Amount: "100000.00"}}}
	cn, toks, err := c.VRPJourney(ctx, "alice", "alice123", m, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.PayVRP(ctx, toks.AccessToken, tpp.VRP{Consent: cn, Type: tpp.VRPSweeping, Amount: "12.34", To: aliceSavings, Reference: "SWEEP"})
	if err != nil {
		t.Fatal(err)
	}
	s.advance("5s")
	cc, _ := c.ClientCredentials(ctx, "payments")
	var got struct {
		Data struct {
			Status        string
			DebtorAccount struct{ Identification string }
		}
	}
	r := s.get(pis+"/domestic-vrps/"+p.Data.DomesticVRPID, cc)
	expect(t, r, 200)
	if r.JSON(t, &got); got.Data.Status != "AcceptedSettlementCompleted" || got.Data.DebtorAccount.Identification != "09012841726350" {
		t.Fatalf("the settled sweep: %+v", got.Data)
	}
	var details struct {
		Data struct {
			PaymentStatus []struct{ PaymentTransactionId, Status string }
		}
	}
	s.get(pis+"/domestic-vrps/"+p.Data.DomesticVRPID+"/payment-details", cc).JSON(t, &details)
	if n := len(details.Data.PaymentStatus); n != 3 {
		t.Fatalf("payment-details %+v, want Pending, InProcess, Completed", details.Data.PaymentStatus)
	}
	txID := details.Data.PaymentStatus[0].PaymentTransactionId
	// The same transaction, booked, in AIS through both versions.
	aisToks, _, err := c.AISJourney(ctx, "alice", "alice123", tpp.AllPermissions, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, base := range []string{ais, ais4} {
		found := false
		for _, tx := range items(t, s.get(base+"/accounts/"+s.accountsOf("alice")[0]+"/transactions", aisToks.AccessToken), "Transaction") {
			if tx["TransactionId"] == txID {
				found = true
				if st := tx["Status"]; st != "Booked" && st != "BOOK" {
					t.Errorf("%s: the sweep is %v", base, st)
				}
			}
		}
		if !found {
			t.Errorf("%s: transaction %s of the VRP is not in alice's transactions", base, txID)
		}
	}

	// More than the account holds: Rejected, with the reason, not counted.
	p, err = c.PayVRP(ctx, toks.AccessToken, tpp.VRP{Consent: cn, Type: tpp.VRPSweeping, Amount: "90000.00", To: aliceSavings, Reference: "SWEEP"})
	if err != nil || p.Data.Status != "Rejected" {
		t.Fatalf("an unaffordable sweep: %+v, %v", p, err)
	}
	var rejected struct {
		Data struct {
			PaymentStatus []struct {
				Status       string
				StatusDetail struct{ StatusReason, StatusReasonDescription string }
			}
		}
	}
	s.get(pis+"/domestic-vrps/"+p.Data.DomesticVRPID+"/payment-details", cc).JSON(t, &rejected)
	last := rejected.Data.PaymentStatus[len(rejected.Data.PaymentStatus)-1]
	if last.Status != "Rejected" || last.StatusDetail.StatusReasonDescription != bank.RejectInsufficientFunds {
		t.Errorf("payment-details of the rejected sweep: %+v", rejected.Data.PaymentStatus)
	}
	limits, err := s.app.Bank.VRPLimits(ctx, mustConsent(t, s, cn.Data.ConsentID))
	if err != nil || limits[0].Used != 1234 {
		t.Errorf("the day's limit counts %+v (%v), want only the 12.34 that was paid", limits, err)
	}
}

func mustConsent(t *testing.T, s *sandbox, id string) *bank.Consent {
	t.Helper()
	c, err := s.app.Store.Consent(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return &c
}

// TestVRPAcrossVersions: a VRP consent made through v3.1.11 is used
// through v4.0 with the same ConsentId and token — shown in v4.0's shape,
// and its limits keep counting across versions (v4.0's refusal is U014);
// v4.0's PUT and PATCH migrate it without touching what the PSU authorised,
// after which it is a v4.0 consent (403 through v3.1).
func TestVRPAcrossVersions(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.newTPP("private_key_jwt")
	m := tpp.VRPMandate{Type: tpp.VRPSweeping, MaxAmount: "60.00", To: &aliceSavings, Reference: "SAVE",
		Limits: []tpp.VRPLimit{{PeriodType: "Fortnight", PeriodAlignment: "Consent", Amount: "100.00"}}}
	// v3.1.11 words v4.0 has not: a deprecated payment context, the Risk's
	// old spelling, a purpose code outside v4.0's list, an address type.
	body := c.VRPConsentBody(m)
	body["Risk"] = map[string]any{"PaymentContextCode": "PartyToParty", "ContractPresentInidicator": true, "PaymentPurposeCode": "XYZ",
		"DeliveryAddress": map[string]any{"AddressLine": []string{"Flat 7"}, "TownName": "London", "Country": "GB"}}
	body["Data"].(map[string]any)["Initiation"].(map[string]any)["CreditorPostalAddress"] = map[string]any{"AddressType": "Residential",
		"TownName": "London", "Country": "GB"}
	cc, _ := c.ClientCredentials(ctx, "payments")
	st, raw, _, err := c.SignedPost(ctx, pis+"/domestic-vrp-consents", cc, uuid.NewString(), body)
	if err != nil || st != 201 {
		t.Fatalf("the consent: %d %s %v", st, raw, err)
	}
	cn := &tpp.VRPConsent{}
	if err := json.Unmarshal(raw, cn); err != nil {
		t.Fatal(err)
	}
	toks, err := c.Approve(ctx, cn.Data.ConsentID, tpp.AuthOptions{Scope: "openid payments"}, "alice", "alice123", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PayVRP(ctx, toks.AccessToken, tpp.VRP{Consent: cn, Type: tpp.VRPSweeping, Amount: "60.00", To: aliceSavings, Reference: "SAVE"}); err != nil {
		t.Fatal(err)
	}
	c.Version = api40
	cn4, err := c.GetVRPConsent(ctx, cc, cn.Data.ConsentID)
	if err != nil {
		t.Fatal(err)
	}
	if cn4.Data.Status != "AUTH" || !strings.Contains(string(cn4.Data.Initiation), `"Structured"`) ||
		!strings.Contains(string(cn4.Data.Initiation), `"AddressType":"HOME"`) {
		t.Fatalf("the v3.1 consent through v4.0: %s %s", cn4.Data.Status, cn4.Data.Initiation)
	}
	if want := `{"ContractPresentIndicator":true,"DeliveryAddress":{"AddressLine":["Flat 7"],"Country":"GB","TownName":"London"},"PaymentContextCode":"TransferToThirdParty"}`; !bank.SameJSON(cn4.Risk, []byte(want)) {
		t.Errorf("the Risk through v4.0: %s, want %s", cn4.Risk, want)
	}
	// The same token; the v3.1 payment still counts: 60 + 40 = 100.
	if _, err := c.PayVRP(ctx, toks.AccessToken, tpp.VRP{Consent: cn4, Type: tpp.VRPSweeping, Amount: "40.00", To: aliceSavings, Reference: "SAVE"}); err != nil {
		t.Fatalf("through v4.0: %v", err)
	}
	_, err = c.PayVRP(ctx, toks.AccessToken, tpp.VRP{Consent: cn4, Type: tpp.VRPSweeping, Amount: "0.01", To: aliceSavings, Reference: "SAVE"})
	if st, code, path := vrpError(t, err); st != 400 || code != "U014" || path != "Data.ControlParameters.PeriodicLimits[0].Amount" {
		t.Fatalf("over the fortnight through v4.0: %d %s %s", st, code, path)
	}

	// PATCH may restate the Risk, not the limits.
	one := pis4 + "/domestic-vrp-consents/" + cn.Data.ConsentID
	patch := func(ops string) *response {
		raw := []byte(ops)
		sig, err := c.Signature(raw)
		if err != nil {
			t.Fatal(err)
		}
		return s.do(req{method: "PATCH", path: one, token: cc, body: raw, header: map[string]string{"Content-Type": "application/json-patch+json",
			"x-idempotency-key": uuid.NewString(), "x-jws-signature": sig}})
	}
	r := patch(`[{"op":"replace","path":"/Data/ControlParameters/MaximumIndividualAmount/Amount","value":"600.00"}]`)
	expect(t, r, 400)
	if code, path := v4Error(t, r); code != "U008" || path != "Data.ControlParameters" {
		t.Errorf("raising the maximum by PATCH: %s at %s", code, path)
	}
	expect(t, patch(`[{"op":"test","path":"/Risk/PaymentContextCode","value":"TransferToThirdParty"},{"op":"add","path":"/Risk/MerchantCategoryCode","value":"6012"}]`), 200)
	// PUT the whole consent as v4.0 shows it: it is now a v4.0 consent.
	cn4, _ = c.GetVRPConsent(ctx, cc, cn.Data.ConsentID)
	put := map[string]any{"Data": map[string]any{"ControlParameters": cn4.Data.ControlParameters, "Initiation": cn4.Data.Initiation}, "Risk": cn4.Risk}
	raw, _ = json.Marshal(put)
	sig, _ := c.Signature(raw)
	expect(t, s.do(req{method: "PUT", path: one, token: cc, body: raw, header: map[string]string{"x-idempotency-key": uuid.NewString(), "x-jws-signature": sig}}), 200)
	expect(t, s.get(pis+"/domestic-vrp-consents/"+cn.Data.ConsentID, cc), 403)
	if _, err := c.PayVRP(ctx, toks.AccessToken, tpp.VRP{Consent: cn4, Type: tpp.VRPSweeping, Amount: "0.01", To: aliceSavings, Reference: "SAVE"}); err == nil {
		t.Error("the fortnight's limit was forgotten by the migration")
	}
	c.Version = "3.1"
	_, err = c.PayVRP(ctx, toks.AccessToken, tpp.VRP{Consent: cn, Type: tpp.VRPSweeping, Amount: "1.00", To: aliceSavings, Reference: "SAVE"})
	if st, _, _ := vrpError(t, err); st != http.StatusForbidden {
		t.Errorf("the migrated consent through v3.1: %d, want 403", st)
	}
}

// TestVRPRefusals: what a VRP must match and fit, each refusal with its
// code and the parameter at fault; nothing moves.
func TestVRPRefusals(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.newTPP("private_key_jwt")
	cc, _ := c.ClientCredentials(ctx, "payments")
	// A calendar fortnight does not exist.
	_, err := c.CreateVRPConsent(ctx, cc, tpp.VRPMandate{Type: tpp.VRPSweeping, MaxAmount: "10.00",
		Limits: []tpp.VRPLimit{{PeriodType: "Fortnight", PeriodAlignment: "Calendar", Amount: "10.00"}}})
	if st, code, path := vrpError(t, err); st != 400 || code != "UK.OBIE.Field.Invalid" || path != "Data.ControlParameters.PeriodicLimits[0].PeriodAlignment" {
		t.Errorf("a calendar fortnight: %d %s %s", st, code, path)
	}
	// A sweep to someone else's account cannot even be authorised.
	bobs := tpp.Payee{Name: "Bob Fletcher", SortCode: "090128", Number: "60233178"}
	if _, _, err := c.VRPJourney(ctx, "alice", "alice123", tpp.VRPMandate{Type: tpp.VRPSweeping, MaxAmount: "10.00", To: &bobs,
		Limits: []tpp.VRPLimit{{PeriodType: "Day", PeriodAlignment: "Calendar", Amount: "10.00"}}}, nil); err == nil {
		t.Error("alice authorised a sweep to bob's account")
	}
	// A commercial mandate open to any payee.
	cn, toks, err := c.VRPJourney(ctx, "alice", "alice123", tpp.VRPMandate{Type: tpp.VRPCommercial, MaxAmount: "20.00",
		Limits: []tpp.VRPLimit{{PeriodType: "Year", PeriodAlignment: "Calendar", Amount: "1000.00"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := s.ledger("alice")
	for _, tc := range []struct {
		name        string
		vrp         tpp.VRP
		status      int
		code, path  string
		changeRisks bool
	}{
		{"ErrOverMaximumIndividualAmount", tpp.VRP{Type: tpp.VRPCommercial, Amount: "20.01", To: payee}, 400,
			"UK.OBIE.Rules.FailsControlParameters", "Data.ControlParameters.MaximumIndividualAmount.Amount", false},
		{"ErrSweepUnderCommercialMandate", tpp.VRP{Type: tpp.VRPSweeping, Amount: "1.00", To: aliceSavings}, 400,
			"UK.OBIE.Rules.FailsControlParameters", "Data.ControlParameters.VRPType", false},
		{"ErrRiskDiffers", tpp.VRP{Type: tpp.VRPCommercial, Amount: "1.00", To: payee}, 400,
			"UK.OBIE.Resource.ConsentMismatch", "Risk", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.vrp
			p.Consent = cn
			if tc.changeRisks {
				copied := *cn
				copied.Risk = json.RawMessage(`{"PaymentContextCode":"PartyToParty"}`)
				p.Consent = &copied
			}
			_, err := c.PayVRP(ctx, toks.AccessToken, p)
			if st, code, path := vrpError(t, err); st != tc.status || code != tc.code || path != tc.path {
				t.Errorf("got %d %s at %s, want %d %s at %s", st, code, path, tc.status, tc.code, tc.path)
			}
		})
	}
	if after := s.ledger("alice"); after != before {
		t.Errorf("refused payments moved money: %+v -> %+v", before, after)
	}
	// Deleted by the TPP: its token stops at once, the consent is gone.
	expect(t, s.do(req{method: "DELETE", path: pis + "/domestic-vrp-consents/" + cn.Data.ConsentID, token: cc}), 204)
	if _, err := c.PayVRP(ctx, toks.AccessToken, tpp.VRP{Consent: cn, Type: tpp.VRPCommercial, Amount: "1.00", To: payee}); err == nil {
		t.Error("a deleted consent's token still pays")
	}
	r := s.get(pis+"/domestic-vrp-consents/"+cn.Data.ConsentID, cc)
	expect(t, r, 400)
	if code := r.obError(t); code != "UK.OBIE.Resource.NotFound" {
		t.Errorf("a deleted consent: %s", code)
	}
}

// TestVRPScenariosAndEvents: the scenarios for VRP — a forced limit
// breach, insufficient funds (the payment Rejected, the funds check
// NotAvailable), the PSU revoking the mandate after two payments — and the
// events a subscribed TPP is sent: payment status changes of its VRPs and
// the revocation (consent-authorization-revoked).
func TestVRPScenariosAndEvents(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.newTPP("private_key_jwt")
	cc, _ := c.ClientCredentials(ctx, "payments")
	expect(t, s.subscribe(cc, map[string]any{"Version": "3.1"}), 201) // polling: every event type
	m := tpp.VRPMandate{Type: tpp.VRPCommercial, MaxAmount: "50.00", To: &payee,
		Limits: []tpp.VRPLimit{{PeriodType: "Month", PeriodAlignment: "Consent", Amount: "500.00"}}}
	c.Header = http.Header{"X-Sandbox-Scenario": {"vrp-revoked-mid-mandate"}} // kept with the consent
	cn, toks, err := c.VRPJourney(ctx, "alice", "alice123", m, nil)
	c.Header = nil
	if err != nil {
		t.Fatal(err)
	}
	pay := func(amount string) (*tpp.VRPResult, error) {
		return c.PayVRP(ctx, toks.AccessToken, tpp.VRP{Consent: cn, Type: tpp.VRPCommercial, Amount: amount, To: payee})
	}
	// Funds: 10.00 is there; 0.66 (bound to insufficient-funds) is not.
	for amount, want := range map[string]bool{"10.00": true, "0.66": false} {
		if ok, err := c.VRPFunds(ctx, toks.AccessToken, cn.Data.ConsentID, amount, ""); err != nil || ok != want {
			t.Errorf("funds for %s: %v, %v; want %v", amount, ok, err, want)
		}
	}
	// 0.70 is bound to vrp-limit-breach: refused, nothing paid.
	_, err = pay("0.70")
	if st, code, _ := vrpError(t, err); st != 400 || code != "UK.OBIE.Rules.FailsControlParameters" {
		t.Errorf("the forced breach: %d %s", st, code)
	}
	settled, err := pay("10.00") // the first of two before the PSU revokes
	if err != nil {
		t.Fatal(err)
	}
	rejected, err := pay("0.66")
	if err != nil || rejected.Data.Status != "Rejected" {
		t.Fatalf("insufficient funds: %+v, %v", rejected, err)
	}
	var se *tpp.StatusError
	if _, err := pay("10.00"); !errors.As(err, &se) || se.Status != 401 {
		t.Fatalf("a third payment after the PSU revoked the mandate: %v, want 401", err)
	}
	s.advance("5s")
	expect(t, s.get(pis+"/domestic-vrps/"+settled.Data.DomesticVRPID, cc), 200) // settles it
	var cn4 struct{ Data struct{ Status string } }
	s.get(pis4+"/domestic-vrp-consents/"+cn.Data.ConsentID, cc).JSON(t, &cn4)
	if cn4.Data.Status != "CANC" {
		t.Errorf("the revoked mandate through v4.0: %s, want CANC", cn4.Data.Status)
	}
	got := map[string]bool{}
	for _, e := range s.outbox(c.ClientID) {
		got[e.Type+" "+e.ResourceType+" "+e.Cause] = true
	}
	for _, want := range []string{
		typeUpdate + " domestic-vrp-consent status AwaitingAuthorisation -> Authorised",
		typeUpdate + " domestic-vrp status Pending -> AcceptedSettlementInProcess",
		typeUpdate + " domestic-vrp status AcceptedSettlementInProcess -> AcceptedSettlementCompleted",
		typeRevoked + " domestic-vrp-consent access revoked by the PSU",
	} {
		if !got[want] {
			t.Errorf("no event %q in %v", want, got)
		}
	}
}

// TestVRPWalkthroughScript runs the README's VRP walk-through,
// docs/vrp-walkthrough.sh, against a dev sandbox: a payment within the
// month's limit, one over it refused with the limit at fault, and one
// after the clock moved into the next period.
func TestVRPWalkthroughScript(t *testing.T) {
	t.Parallel()
	needTools(t, "bash", "curl", "jq")
	s := start(t, realIssuer())
	code, out, errOut := script(t, "vrp-walkthrough.sh", "SANDBOX="+s.url, "ADMIN="+s.app.Config.AdminToken)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 7 || lines[0] != "201" || lines[2] != "400" ||
		!strings.Contains(lines[3], `"ErrorCode":"UK.OBIE.Rules.FailsControlParameters","Path":"Data.ControlParameters.PeriodicLimits[0].Amount"`) ||
		lines[5] != "201" || !strings.Contains(lines[6], `"Status":"Pending"`) {
		t.Errorf("vrp-walkthrough.sh: exit %d\n%s\n%s", code, out, errOut)
	}
}
