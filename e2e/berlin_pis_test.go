package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/bank"
)

// Berlin Group payments over the bank's ledger: each product and service,
// status on the sandbox clock, cancellation, funds confirmation, signing
// baskets.

const externalIBAN = "DE89370400440532013000" // a valid IBAN of no account here

// pay initiates a payment (redirect approach) and returns its 201.
func (p *bgTPP) pay(service, product string, body any, h map[string]string) sca {
	p.t.Helper()
	hdr := map[string]string{"TPP-Redirect-URI": tppRedirect}
	for k, v := range h {
		hdr[k] = v
	}
	r := p.call("POST", "/"+service+"/"+product, body, hdr)
	expect(p.t, r, 201)
	var out sca
	r.JSON(p.t, &out)
	if out.TransactionStatus != "RCVD" || out.PaymentID == "" || r.Header.Get("Location") == "" {
		p.t.Fatalf("201 %s", r.Body)
	}
	return out
}

func (p *bgTPP) txStatus(service, product, id string) string {
	p.t.Helper()
	r := p.call("GET", "/"+service+"/"+product+"/"+id+"/status", nil, nil)
	expect(p.t, r, 200)
	var st struct{ TransactionStatus string }
	r.JSON(p.t, &st)
	return st.TransactionStatus
}

// watch is a consent on all of a PSU's accounts, to see the money move.
func (p *bgTPP) watch(psu, password string) string {
	p.t.Helper()
	return p.validConsent(psu, password, recurring(map[string]any{"allPsd2": "allAccounts"}, 4))
}

// balance is one balance type of an account through Berlin Group, in cents.
func (p *bgTPP) balance(consent, account, typ string) int64 {
	p.t.Helper()
	r := p.call("GET", "/accounts/"+account+"/balances", nil, map[string]string{"Consent-ID": consent})
	expect(p.t, r, 200)
	var b struct {
		Balances []struct {
			BalanceType   string
			BalanceAmount struct{ Amount string }
		}
	}
	r.JSON(p.t, &b)
	for _, x := range b.Balances {
		if x.BalanceType == typ {
			neg := strings.HasPrefix(x.BalanceAmount.Amount, "-")
			v, err := bank.ParseMinor(strings.TrimPrefix(x.BalanceAmount.Amount, "-"))
			if err != nil {
				p.t.Fatal(err)
			}
			if neg {
				v = -v
			}
			return v
		}
	}
	p.t.Fatalf("no %s balance in %s", typ, r.Body)
	return 0
}

// TestBerlinGroupPayments: a SEPA credit transfer from erik's Girokonto,
// RCVD until he approves, then ACTC with the money held (interimAvailable
// down, a pending entry), ACSC once settled on the sandbox clock; instant
// SEPA settles at once; TARGET2 and cross-border (in GBP from alice's
// account) the same way; a SEPA payment to dave's euro account credits it.
func TestBerlinGroupPayments(t *testing.T) {
	t.Parallel()
	s := start(t, frozen()) // payments settle when the test advances the clock
	tpp := s.qwac("PSP_PI", "PSP_AI")
	erik, dave, alice := ibans(s, "erik"), ibans(s, "dave"), ibans(s, "alice")
	watch := tpp.watch("erik", "erik123")
	avail0 := tpp.balance(watch, erik[0].ID, "interimAvailable")

	p := tpp.pay("payments", "sepa-credit-transfers", sepa(erik[0].IBAN, "25.00", externalIBAN, "Spree Books GmbH"), nil)
	if p.link(t, "scaRedirect") == "" || p.link(t, "self") == "" || p.link(t, "status") == "" {
		t.Fatal("links")
	}
	r := tpp.call("GET", "/payments/sepa-credit-transfers/"+p.PaymentID, nil, nil)
	expect(t, r, 200)
	if got := decode(t, r); got["transactionStatus"] != "RCVD" || got["creditorName"] != "Spree Books GmbH" {
		t.Fatalf("GET payment %s", r.Body)
	}
	if got := tpp.balance(watch, erik[0].ID, "interimAvailable"); got != avail0 {
		t.Fatalf("a payment not yet authorised moved %d", avail0-got)
	}
	s.headlessRedirect(p.link(t, "scaRedirect"), "erik", "erik123", "approve", nil)
	if st := tpp.txStatus("payments", "sepa-credit-transfers", p.PaymentID); st != "ACTC" {
		t.Errorf("approved: %s, want ACTC", st)
	}
	if got := tpp.balance(watch, erik[0].ID, "interimAvailable"); got != avail0-2500 {
		t.Errorf("interimAvailable %d, want %d", got, avail0-2500)
	}
	r = tpp.call("GET", "/accounts/"+erik[0].ID+"/transactions?bookingStatus=pending&dateFrom=2026-11-01", nil, map[string]string{"Consent-ID": watch})
	if !strings.Contains(string(r.Body), `"amount":"-25.00"`) {
		t.Errorf("no pending -25.00: %s", r.Body)
	}
	s.advance("3s")
	if st := tpp.txStatus("payments", "sepa-credit-transfers", p.PaymentID); st != "ACSC" {
		t.Errorf("settled: %s, want ACSC", st)
	}
	r = tpp.call("GET", "/accounts/"+erik[0].ID+"/transactions?bookingStatus=booked&dateFrom=2026-11-01&itemsPerPage=3", nil, map[string]string{"Consent-ID": watch})
	if !strings.Contains(string(r.Body), `"amount":"-25.00"`) {
		t.Errorf("no booked -25.00: %s", r.Body)
	}
	expectCode(t, tpp.call("DELETE", "/payments/sepa-credit-transfers/"+p.PaymentID, nil, nil), 405, "CANCELLATION_INVALID")

	t.Run("Instant", func(t *testing.T) {
		p := tpp.pay("payments", "instant-sepa-credit-transfers", sepa(erik[0].IBAN, "5.00", externalIBAN, "Kiez Kaffee"), nil)
		s.headlessRedirect(p.link(t, "scaRedirect"), "erik", "erik123", "approve", nil)
		if st := tpp.txStatus("payments", "instant-sepa-credit-transfers", p.PaymentID); st != "ACSC" {
			t.Errorf("instant: %s, want ACSC at once", st)
		}
	})
	t.Run("Target2", func(t *testing.T) {
		p := tpp.pay("payments", "target-2-payments", sepa(erik[0].IBAN, "10.00", externalIBAN, "Bank Transfer AG"), nil)
		s.headlessRedirect(p.link(t, "scaRedirect"), "erik", "erik123", "approve", nil)
		s.advance("3s")
		if st := tpp.txStatus("payments", "target-2-payments", p.PaymentID); st != "ACSC" {
			t.Errorf("target-2: %s", st)
		}
	})
	t.Run("CrossBorderGBP", func(t *testing.T) {
		body := sepa(alice[0].IBAN, "7.50", "GB33BUKB20201555555555", "Paul Smith")
		body["instructedAmount"] = map[string]string{"currency": "GBP", "amount": "7.50"}
		p := tpp.pay("payments", "cross-border-credit-transfers", body, nil)
		s.headlessRedirect(p.link(t, "scaRedirect"), "alice", "alice123", "approve", nil)
		s.advance("3s")
		if st := tpp.txStatus("payments", "cross-border-credit-transfers", p.PaymentID); st != "ACSC" {
			t.Errorf("cross-border: %s", st)
		}
	})
	t.Run("InternalCredit", func(t *testing.T) {
		w := tpp.watch("dave", "dave123")
		before := tpp.balance(w, dave[1].ID, "interimBooked")
		p := tpp.pay("payments", "sepa-credit-transfers", sepa(erik[0].IBAN, "40.00", dave[1].IBAN, "David Moreau"), nil)
		s.headlessRedirect(p.link(t, "scaRedirect"), "erik", "erik123", "approve", nil)
		s.advance("3s")
		if after := tpp.balance(w, dave[1].ID, "interimBooked"); after != before+4000 {
			t.Errorf("dave's euro account %d, want %d", after, before+4000)
		}
	})
	t.Run("Denied", func(t *testing.T) {
		p := tpp.pay("payments", "sepa-credit-transfers", sepa(erik[0].IBAN, "9.00", externalIBAN, "Nope"), map[string]string{"TPP-Nok-Redirect-URI": tppRedirect + "?nok"})
		if to := s.headlessRedirect(p.link(t, "scaRedirect"), "erik", "erik123", "deny", nil); to != tppRedirect+"?nok" {
			t.Errorf("denied: back to %s, want the Nok URI", to)
		}
		if st := tpp.txStatus("payments", "sepa-credit-transfers", p.PaymentID); st != "RJCT" {
			t.Errorf("denied: %s, want RJCT", st)
		}
	})
	t.Run("NotTheDebtorsPSU", func(t *testing.T) {
		p := tpp.pay("payments", "sepa-credit-transfers", sepa(erik[0].IBAN, "9.00", externalIBAN, "Nope"), nil)
		s.headlessRedirect(p.link(t, "scaRedirect"), "alice", "alice123", "approve", nil)
		if st := tpp.txStatus("payments", "sepa-credit-transfers", p.PaymentID); st != "RJCT" {
			t.Errorf("approved by a PSU who does not hold the debtor account: %s, want RJCT", st)
		}
	})
	t.Run("CancelReceived", func(t *testing.T) {
		p := tpp.pay("payments", "sepa-credit-transfers", sepa(erik[0].IBAN, "3.00", externalIBAN, "Later"), nil)
		expect(t, tpp.call("DELETE", "/payments/sepa-credit-transfers/"+p.PaymentID, nil, nil), 204)
		if st := tpp.txStatus("payments", "sepa-credit-transfers", p.PaymentID); st != "CANC" {
			t.Errorf("cancelled: %s", st)
		}
		expectCode(t, tpp.call("GET", "/payments/target-2-payments/"+p.PaymentID, nil, nil), 404, "RESOURCE_UNKNOWN")
		other := s.qwac("PSP_PI")
		expectCode(t, other.call("GET", "/payments/sepa-credit-transfers/"+p.PaymentID, nil, nil), 403, "RESOURCE_UNKNOWN")
	})
	if got := tpp.balance(watch, erik[0].ID, "interimAvailable"); got != avail0-2500-500-1000-4000 {
		t.Errorf("erik's Girokonto interimAvailable %d, want %d: every authorised payment and no other", got, avail0-2500-500-1000-4000)
	}
}

// TestBerlinGroupFutureAndPeriodic: a future-dated payment waits (ACTC) and
// shows as a scheduled payment through the UK API; its cancellation needs
// the PSU (202, an embedded cancellation authorisation) and nothing is paid.
// A periodic payment is a standing order: it pays on its days (ACSP), and
// its cancellation (redirect) ends it (CANC).
func TestBerlinGroupFutureAndPeriodic(t *testing.T) {
	t.Parallel()
	s := start(t)
	tpp := s.qwac("PSP_PI", "PSP_AI")
	erik := ibans(s, "erik")
	watch := tpp.watch("erik", "erik123")
	avail0 := tpp.balance(watch, erik[0].ID, "interimAvailable")
	in3 := s.app.Clock.Now().AddDate(0, 0, 3).Format(time.DateOnly)

	body := sepa(erik[0].IBAN, "30.00", externalIBAN, "Vermieter")
	body["requestedExecutionDate"] = in3
	p := tpp.pay("payments", "sepa-credit-transfers", body, nil)
	s.headlessRedirect(p.link(t, "scaRedirect"), "erik", "erik123", "approve", nil)
	if st := tpp.txStatus("payments", "sepa-credit-transfers", p.PaymentID); st != "ACTC" {
		t.Fatalf("future-dated: %s, want ACTC", st)
	}
	uk, _ := s.directGrant("erik", bank.AccountAccessRequest{Permissions: allPermissions()}, []string{erik[0].ID})
	sched := items(t, s.get(ais+"/accounts/"+erik[0].ID+"/scheduled-payments", uk), "ScheduledPayment")
	if len(sched) != 1 {
		t.Fatalf("the UK API shows %d scheduled payments, want the Berlin Group one", len(sched))
	}
	r := tpp.call("DELETE", "/payments/sepa-credit-transfers/"+p.PaymentID, nil, nil)
	expect(t, r, 202)
	var cancel sca
	r.JSON(t, &cancel)
	start := bgPath(t, cancel.link(t, "startAuthorisation"))
	if !strings.HasSuffix(start, "/cancellation-authorisations") {
		t.Fatalf("cancellation link %s", start)
	}
	r = tpp.call("POST", start, map[string]any{"psuData": map[string]string{"password": "erik123"}},
		map[string]string{"PSU-ID": "erik", "TPP-Redirect-Preferred": "false"})
	expect(t, r, 201)
	var a struct{ AuthorisationID, ScaStatus string }
	r.JSON(t, &a)
	auth := start + "/" + a.AuthorisationID
	expect(t, tpp.call("PUT", auth, map[string]string{"authenticationMethodId": "sms"}, nil), 200)
	expect(t, tpp.call("PUT", auth, map[string]string{"scaAuthenticationData": "123456"}, nil), 200)
	if st := tpp.txStatus("payments", "sepa-credit-transfers", p.PaymentID); st != "CANC" {
		t.Fatalf("after the cancellation: %s, want CANC", st)
	}
	if ids := decode(t, tpp.call("GET", start, nil, nil))["authorisationIds"].([]any); len(ids) != 1 {
		t.Errorf("cancellation authorisations %v", ids)
	}
	expect(t, tpp.call("GET", auth, nil, nil), 200)

	// Periodic: monthly from tomorrow.
	body = sepa(erik[0].IBAN, "20.00", externalIBAN, "Sportverein")
	body["startDate"] = s.app.Clock.Now().AddDate(0, 0, 1).Format(time.DateOnly)
	body["frequency"] = "Monthly"
	pp := tpp.pay("periodic-payments", "sepa-credit-transfers", body, nil)
	r = tpp.call("GET", "/periodic-payments/sepa-credit-transfers/"+pp.PaymentID, nil, nil)
	expect(t, r, 200)
	if got := decode(t, r); got["frequency"] != "Monthly" || got["transactionStatus"] != "RCVD" {
		t.Fatalf("GET periodic %s", r.Body)
	}
	s.headlessRedirect(pp.link(t, "scaRedirect"), "erik", "erik123", "approve", nil)
	if st := tpp.txStatus("periodic-payments", "sepa-credit-transfers", pp.PaymentID); st != "ACTC" {
		t.Errorf("periodic before its first day: %s, want ACTC", st)
	}
	s.advance("4d")
	if st := tpp.txStatus("periodic-payments", "sepa-credit-transfers", pp.PaymentID); st != "ACSP" {
		t.Errorf("periodic after its first payment: %s, want ACSP", st)
	}
	r = tpp.call("DELETE", "/periodic-payments/sepa-credit-transfers/"+pp.PaymentID, nil, nil)
	expect(t, r, 202)
	r.JSON(t, &cancel)
	start = bgPath(t, cancel.link(t, "startAuthorisation"))
	r = tpp.call("POST", start, nil, map[string]string{"TPP-Redirect-URI": tppRedirect})
	expect(t, r, 201)
	var c sca
	r.JSON(t, &c)
	s.headlessRedirect(c.link(t, "scaRedirect"), "erik", "erik123", "approve", nil)
	if st := tpp.txStatus("periodic-payments", "sepa-credit-transfers", pp.PaymentID); st != "CANC" {
		t.Errorf("periodic cancelled: %s, want CANC", st)
	}
	s.advance("40d")
	// Paid once (20.00); the future-dated 30.00 never.
	if got := tpp.balance(watch, erik[0].ID, "interimAvailable"); got != avail0-2000 {
		t.Errorf("interimAvailable %d, want %d (was %d)", got, avail0-2000, avail0)
	}
	r = tpp.call("GET", "/accounts/"+erik[0].ID+"/transactions?bookingStatus=booked&dateFrom=2026-11-16", nil, map[string]string{"Consent-ID": watch})
	if n := strings.Count(string(r.Body), `"amount":"-20.00"`); n != 1 {
		t.Errorf("the standing order paid %d times, want once before its cancellation", n)
	}
	if strings.Contains(string(r.Body), `"amount":"-30.00"`) {
		t.Error("the cancelled future-dated payment was paid")
	}
}

// TestBerlinGroupBulk: a bulk of two payments executes both; a bulk with one
// the account cannot cover is partially accepted (PART).
func TestBerlinGroupBulk(t *testing.T) {
	t.Parallel()
	s := start(t)
	tpp := s.qwac("PSP_PI")
	erik := ibans(s, "erik")
	entry := func(amount, iban, name string) map[string]any {
		return map[string]any{"instructedAmount": map[string]string{"currency": "EUR", "amount": amount}, "creditorAccount": map[string]string{"iban": iban},
			"creditorName": name}
	}
	bulk := map[string]any{"debtorAccount": map[string]string{"iban": erik[0].IBAN}, "batchBookingPreferred": false,
		"payments": []any{entry("11.00", erik[1].IBAN, "Erik Tagesgeld"), entry("12.00", externalIBAN, "Shop")}}
	p := tpp.pay("bulk-payments", "sepa-credit-transfers", bulk, nil)
	r := tpp.call("GET", "/bulk-payments/sepa-credit-transfers/"+p.PaymentID, nil, nil)
	expect(t, r, 200)
	s.headlessRedirect(p.link(t, "scaRedirect"), "erik", "erik123", "approve", nil)
	s.advance("3s")
	if st := tpp.txStatus("bulk-payments", "sepa-credit-transfers", p.PaymentID); st != "ACSC" {
		t.Errorf("bulk: %s, want ACSC", st)
	}
	bulk["payments"] = []any{entry("1.00", externalIBAN, "Small"), entry("900000.00", externalIBAN, "Too much")}
	p = tpp.pay("bulk-payments", "sepa-credit-transfers", bulk, nil)
	s.headlessRedirect(p.link(t, "scaRedirect"), "erik", "erik123", "approve", nil)
	if st := tpp.txStatus("bulk-payments", "sepa-credit-transfers", p.PaymentID); st != "PART" {
		t.Errorf("bulk with one uncovered payment: %s, want PART", st)
	}
}

// TestBerlinGroupFunds: PIIS answers from the available balance; it needs
// the PSP_IC role; a Consent-ID, when sent, must be a consent of the TPP's.
func TestBerlinGroupFunds(t *testing.T) {
	t.Parallel()
	s := start(t)
	tpp := s.qwac("PSP_IC", "PSP_AI")
	erik := ibans(s, "erik")
	ask := func(amount, currency string, h map[string]string) *response {
		return tpp.call("POST", "/funds-confirmations", map[string]any{"account": map[string]string{"iban": erik[0].IBAN},
			"instructedAmount": map[string]string{"currency": currency, "amount": amount}}, h)
	}
	for amount, want := range map[string]bool{"10.00": true, "900000.00": false} {
		r := ask(amount, "EUR", nil)
		expect(t, r, 200)
		if got := decode(t, r)["fundsAvailable"]; got != want {
			t.Errorf("%s: %v, want %v", amount, got, want)
		}
	}
	expectCode(t, ask("10.00", "GBP", nil), 400, "FORMAT_ERROR")
	expectCode(t, ask("10.00", "EUR", map[string]string{"Consent-ID": "bgc-unknown"}), 403, "CONSENT_UNKNOWN")
	consent := tpp.watch("erik", "erik123")
	expect(t, ask("10.00", "EUR", map[string]string{"Consent-ID": consent}), 200)
	expectCode(t, s.qwac("PSP_AI").call("POST", "/funds-confirmations", map[string]any{"account": map[string]string{"iban": erik[0].IBAN},
		"instructedAmount": map[string]string{"currency": "EUR", "amount": "1.00"}}, nil), 401, "ROLE_INVALID")
}

// TestBerlinGroupSigningBasket: a payment and a consent authorised with one
// SCA; a basket is deleted only before its authorisation.
func TestBerlinGroupSigningBasket(t *testing.T) {
	t.Parallel()
	s := start(t, frozen())
	tpp := s.qwac("PSP_PI", "PSP_AI")
	erik := ibans(s, "erik")
	explicit := map[string]string{"TPP-Explicit-Authorisation-Preferred": "true"}
	p := tpp.pay("payments", "sepa-credit-transfers", sepa(erik[0].IBAN, "8.00", externalIBAN, "Basket Shop"), explicit)
	c := tpp.consent(recurring(map[string]any{"balances": refs(erik[0])}, 4), explicit)
	r := tpp.call("POST", "/signing-baskets", map[string]any{"paymentIds": []string{p.PaymentID}, "consentIds": []string{c.ConsentID}},
		map[string]string{"TPP-Redirect-URI": tppRedirect})
	expect(t, r, 201)
	var b sca
	r.JSON(t, &b)
	if b.BasketID == "" || b.TransactionStatus != "RCVD" {
		t.Fatalf("basket %s", r.Body)
	}
	r = tpp.call("GET", "/signing-baskets/"+b.BasketID, nil, nil)
	expect(t, r, 200)
	if !strings.Contains(string(r.Body), p.PaymentID) || !strings.Contains(string(r.Body), c.ConsentID) {
		t.Fatalf("GET basket %s", r.Body)
	}
	expect(t, tpp.call("GET", "/signing-baskets/"+b.BasketID+"/authorisations", nil, nil), 200)
	s.headlessRedirect(b.link(t, "scaRedirect"), "erik", "erik123", "approve", nil)
	if st := decode(t, tpp.call("GET", "/signing-baskets/"+b.BasketID+"/status", nil, nil))["transactionStatus"]; st != "ACTC" {
		t.Errorf("basket %v, want ACTC", st)
	}
	if st := tpp.txStatus("payments", "sepa-credit-transfers", p.PaymentID); st != "ACTC" {
		t.Errorf("its payment %s, want ACTC", st)
	}
	if st := tpp.consentStatus(c.ConsentID); st != "valid" {
		t.Errorf("its consent %s, want valid", st)
	}
	expectCode(t, tpp.call("DELETE", "/signing-baskets/"+b.BasketID, nil, nil), 409, "STATUS_INVALID")
	// A resource already authorised cannot go into a basket.
	expectCode(t, tpp.call("POST", "/signing-baskets", map[string]any{"consentIds": []string{c.ConsentID}}, explicit), 409, "STATUS_INVALID")
	p2 := tpp.pay("payments", "sepa-credit-transfers", sepa(erik[0].IBAN, "2.00", externalIBAN, "Later"), explicit)
	r = tpp.call("POST", "/signing-baskets", map[string]any{"paymentIds": []string{p2.PaymentID}}, explicit)
	expect(t, r, 201)
	r.JSON(t, &b)
	expect(t, tpp.call("DELETE", "/signing-baskets/"+b.BasketID, nil, nil), 204)
	if st := decode(t, tpp.call("GET", "/signing-baskets/"+b.BasketID+"/status", nil, nil))["transactionStatus"]; st != "CANC" {
		t.Errorf("deleted basket %v, want CANC", st)
	}
	expectCode(t, s.qwac("PSP_AI").call("POST", "/signing-baskets", map[string]any{"paymentIds": []string{p2.PaymentID}}, explicit), 401, "ROLE_INVALID")
}
