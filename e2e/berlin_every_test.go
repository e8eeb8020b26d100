package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/api"
)

// TestBerlinGroupEveryOperation calls each of the contract's 62 operations
// (the official file's 38, the payment ones per service) with a request
// the bank takes, each answer checked against our contract and the
// official file; it fails if an operation of the contract is not called.
func TestBerlinGroupEveryOperation(t *testing.T) {
	t.Parallel()
	s := start(t)
	tpp := s.qwac("PSP_AI", "PSP_PI", "PSP_IC")
	erik := ibans(s, "erik")
	alice := ibans(s, "alice")
	called := map[string]bool{}
	// op calls an operation: its template (as the contract writes it), the
	// path, and the status the bank must answer.
	op := func(method, template, path string, body any, h map[string]string, status int) *response {
		t.Helper()
		called[method+" "+template] = true
		r := tpp.call(method, path, body, h)
		expect(t, r, status)
		return r
	}
	embedded := func(h map[string]string) map[string]string {
		out := map[string]string{"TPP-Redirect-Preferred": "false", "PSU-ID": "erik"}
		for k, v := range h {
			out[k] = v
		}
		return out
	}
	explicit := map[string]string{"TPP-Explicit-Authorisation-Preferred": "true", "TPP-Redirect-Preferred": "false"}
	// authorise runs a resource's authorisation sub-resource through every
	// operation: start (with the password), list, read, choose the method,
	// the OTP.
	authorise := func(coll, template string) {
		t.Helper()
		r := op("POST", template, coll, map[string]any{"psuData": map[string]string{"password": "erik123"}}, embedded(nil), 201)
		var a struct{ AuthorisationID string }
		r.JSON(t, &a)
		op("GET", template, coll, nil, nil, 200)
		one := coll + "/" + a.AuthorisationID
		op("GET", template+"/{authorisationId}", one, nil, nil, 200)
		op("PUT", template+"/{authorisationId}", one, map[string]string{"authenticationMethodId": "app"}, nil, 200)
		r = op("PUT", template+"/{authorisationId}", one, map[string]string{"scaAuthenticationData": "123456"}, nil, 200)
		if st := decode(t, r)["scaStatus"]; st != "finalised" {
			t.Fatalf("%s: %v", one, st)
		}
	}

	// Consents.
	r := op("POST", "/v1/consents", "/consents", recurring(map[string]any{"allPsd2": "allAccounts"}, 4), explicit, 201)
	var c sca
	r.JSON(t, &c)
	consent := "/consents/" + c.ConsentID
	op("GET", "/v1/consents/{consentId}", consent, nil, nil, 200)
	op("GET", "/v1/consents/{consentId}/status", consent+"/status", nil, nil, 200)
	authorise(consent+"/authorisations", "/v1/consents/{consentId}/authorisations")
	h := map[string]string{"Consent-ID": c.ConsentID}
	cur := erik[0]
	op("GET", "/v1/accounts", "/accounts?withBalance=true", nil, h, 200)
	op("GET", "/v1/accounts/{account-id}", "/accounts/"+cur.ID+"?withBalance=true", nil, h, 200)
	op("GET", "/v1/accounts/{account-id}/balances", "/accounts/"+cur.ID+"/balances", nil, h, 200)
	r = op("GET", "/v1/accounts/{account-id}/transactions", "/accounts/"+cur.ID+"/transactions?bookingStatus=all&dateFrom=2026-10-01&withBalance=true", nil, h, 200)
	var rep struct {
		Transactions struct {
			Booked []struct{ TransactionID string }
		}
	}
	r.JSON(t, &rep)
	op("GET", "/v1/accounts/{account-id}/transactions/{transactionId}", "/accounts/"+cur.ID+"/transactions/"+rep.Transactions.Booked[0].TransactionID, nil, h, 200)
	// Card accounts: alice's card, through a consent of hers.
	aliceConsent := tpp.validConsent("alice", "alice123", recurring(map[string]any{"allPsd2": "allAccounts"}, 4))
	ha := map[string]string{"Consent-ID": aliceConsent}
	op("GET", "/v1/card-accounts", "/card-accounts", nil, ha, 200)
	op("GET", "/v1/card-accounts/{account-id}", "/card-accounts/"+alice[2].ID, nil, ha, 200)
	op("GET", "/v1/card-accounts/{account-id}/balances", "/card-accounts/"+alice[2].ID+"/balances", nil, ha, 200)
	op("GET", "/v1/card-accounts/{account-id}/transactions", "/card-accounts/"+alice[2].ID+"/transactions?bookingStatus=booked&dateFrom=2026-10-01&pageIndex=1&itemsPerPage=5", nil, ha, 200)
	op("POST", "/v1/funds-confirmations", "/funds-confirmations", map[string]any{"account": map[string]string{"iban": cur.IBAN},
		"instructedAmount": map[string]string{"currency": "EUR", "amount": "1.00"}}, h, 200)

	// Payments, each service: one cancelled before its authorisation, one
	// future-dated (periodic: from tomorrow) authorised, then cancelled with
	// the PSU's authorisation.
	tomorrow := s.app.Clock.Now().AddDate(0, 0, 1).Format(time.DateOnly)
	bodies := map[string]func() map[string]any{
		"payments": func() map[string]any {
			b := sepa(cur.IBAN, "2.00", externalIBAN, "Every Op")
			b["requestedExecutionDate"] = tomorrow
			return b
		},
		"periodic-payments": func() map[string]any {
			b := sepa(cur.IBAN, "2.00", externalIBAN, "Every Op")
			b["startDate"], b["frequency"], b["dayOfExecution"] = tomorrow, "Weekly", "1"
			return b
		},
		"bulk-payments": func() map[string]any {
			return map[string]any{"debtorAccount": map[string]string{"iban": cur.IBAN}, "requestedExecutionDate": tomorrow,
				"payments": []any{map[string]any{"instructedAmount": map[string]string{"currency": "EUR", "amount": "1.00"},
					"creditorAccount": map[string]string{"iban": externalIBAN}, "creditorName": "Every Op"}}}
		},
	}
	var basketPayment string
	for _, svc := range []string{"payments", "periodic-payments", "bulk-payments"} {
		base := "/v1/" + svc + "/{payment-product}"
		r := op("POST", base, "/"+svc+"/sepa-credit-transfers", bodies[svc](), explicit, 201)
		var p sca
		r.JSON(t, &p)
		self := "/" + svc + "/sepa-credit-transfers/" + p.PaymentID
		op("DELETE", base+"/{paymentId}", self, nil, nil, 204)
		r = op("POST", base, "/"+svc+"/sepa-credit-transfers", bodies[svc](), explicit, 201)
		r.JSON(t, &p)
		self = "/" + svc + "/sepa-credit-transfers/" + p.PaymentID
		op("GET", base+"/{paymentId}", self, nil, nil, 200)
		op("GET", base+"/{paymentId}/status", self+"/status", nil, nil, 200)
		authorise(self+"/authorisations", base+"/{paymentId}/authorisations")
		op("DELETE", base+"/{paymentId}", self, nil, nil, 202)
		authorise(self+"/cancellation-authorisations", base+"/{paymentId}/cancellation-authorisations")
		if st := tpp.txStatus(svc, "sepa-credit-transfers", p.PaymentID); st != "CANC" {
			t.Errorf("%s: %s after the cancellation, want CANC", svc, st)
		}
		if svc == "payments" {
			r = op("POST", base, "/"+svc+"/instant-sepa-credit-transfers", sepa(cur.IBAN, "1.00", externalIBAN, "Basket"), explicit, 201)
			r.JSON(t, &p)
			basketPayment = p.PaymentID
		}
	}

	// Signing baskets.
	r = op("POST", "/v1/signing-baskets", "/signing-baskets", map[string]any{"paymentIds": []string{basketPayment}}, explicit, 201)
	var b sca
	r.JSON(t, &b)
	basket := "/signing-baskets/" + b.BasketID
	op("GET", "/v1/signing-baskets/{basketId}", basket, nil, nil, 200)
	op("GET", "/v1/signing-baskets/{basketId}/status", basket+"/status", nil, nil, 200)
	authorise(basket+"/authorisations", "/v1/signing-baskets/{basketId}/authorisations")
	r = op("POST", "/v1/payments/{payment-product}", "/payments/sepa-credit-transfers", sepa(cur.IBAN, "1.00", externalIBAN, "Basket 2"), explicit, 201)
	var p sca
	r.JSON(t, &p)
	r = op("POST", "/v1/signing-baskets", "/signing-baskets", map[string]any{"paymentIds": []string{p.PaymentID}}, explicit, 201)
	r.JSON(t, &b)
	op("DELETE", "/v1/signing-baskets/{basketId}", "/signing-baskets/"+b.BasketID, nil, nil, 204)
	op("DELETE", "/v1/consents/{consentId}", consent, nil, nil, 204)

	doc, err := api.BerlinGroup.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	n := 0
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			n++
			if !called[method+" "+path] {
				missing = append(missing, method+" "+path)
			}
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 || n != 62 {
		t.Errorf("%d operations in the contract; not called:\n%s", n, strings.Join(missing, "\n"))
	}
}
