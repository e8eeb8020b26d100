package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/tpp"
)

// intlOrder creates a consent of an international family through the
// TPP's version, has erik approve it from his EUR account, checks the
// consent's funds (where the family has the endpoint) and submits the
// order; it returns the order's Data.
func intlOrder(t *testing.T, s *sandbox, c *tpp.Client, family, orders string, funds bool, in map[string]any, debtor string) map[string]any {
	t.Helper()
	ctx := context.Background()
	cc, _ := c.ClientCredentials(ctx, "payments")
	risk := map[string]any{"PaymentContextCode": "TransferToSelf"}
	st, b, _, err := c.SignedPost(ctx, c.API()+"/pisp/"+family, cc, uuid.NewString(),
		map[string]any{"Data": map[string]any{"Permission": "Create", "Initiation": in}, "Risk": risk})
	if err != nil || st != 201 {
		t.Fatalf("%s: %d %s %v", family, st, b, err)
	}
	var cn struct{ Data map[string]any }
	json.Unmarshal(b, &cn)
	id := cn.Data["ConsentId"].(string)
	if _, ok := cn.Data["Charges"]; !ok {
		t.Errorf("%s shows no Charges: %s", family, b)
	}
	expect(t, s.get(c.API()+"/pisp/"+family+"/"+id, cc), 200)
	toks, err := c.Approve(ctx, id, tpp.AuthOptions{Scope: "openid payments"}, "erik", "erik123", []string{debtor})
	if err != nil {
		t.Fatal(err)
	}
	if funds {
		expect(t, s.get(c.API()+"/pisp/"+family+"/"+id+"/funds-confirmation", toks.AccessToken), 200)
	}
	st, b, _, err = c.SignedPost(ctx, c.API()+"/pisp/"+orders, toks.AccessToken, uuid.NewString(),
		map[string]any{"Data": map[string]any{"ConsentId": id, "Initiation": in}, "Risk": risk})
	if err != nil || st != 201 {
		t.Fatalf("%s: %d %s %v", orders, st, b, err)
	}
	var out struct{ Data map[string]any }
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Data
}

// TestInternationalScheduledAndStanding: erik schedules 50.00 USD from his
// EUR account to his USD account two days ahead, and sets up a weekly
// 10.00 USD standing order of three payments. The scheduled payment waits
// in AIS and executes at its date; the standing order pays each week once;
// the EUR account is debited in euros (the charge included), the USD
// account credited in dollars — through v3.1.11 and v4.0.
func TestInternationalScheduledAndStanding(t *testing.T) {
	t.Parallel()
	for _, version := range []string{"3.1", "4.0"} {
		t.Run("V"+version, func(t *testing.T) {
			t.Parallel()
			s := start(t, realIssuer())
			ctx := context.Background()
			c := s.versionTPP(version)
			eur, usd := s.account("erik", "EUR", "CurrentAccount"), s.account("erik", "USD", "CurrentAccount")
			watch := func() string {
				toks, _, err := s.newTPP("private_key_jwt").AISJourney(ctx, "erik", "erik123", tpp.AllPermissions, nil)
				if err != nil {
					t.Fatal(err)
				}
				return toks.AccessToken
			}
			w := watch()
			eur0, usd0 := s.balanceOf(w, eur.ID, "InterimAvailable"), s.balanceOf(w, usd.ID, "InterimBooked")
			to := tpp.Abroad{Name: "Erik Lindqvist", IBAN: usd.IBAN}

			when := s.app.Clock.Now().Add(48 * time.Hour).Truncate(time.Second)
			in := c.InternationalInitiation("50.00", "USD", "USD", to, "LATER", "EUR", "Actual", "", "")
			in["RequestedExecutionDateTime"] = when.Format(time.RFC3339)
			sched := intlOrder(t, s, c, "international-scheduled-payment-consents", "international-scheduled-payments", true, in, eur.ID)
			sid := sched["InternationalScheduledPaymentId"].(string)
			if want := map[string]string{"3.1": "InitiationPending", "4.0": "PDNG"}[version]; sched["Status"] != want {
				t.Fatalf("scheduled status %v, want %s", sched["Status"], want)
			}
			listed := false
			for _, sp := range items(t, s.get(ais+"/accounts/"+eur.ID+"/scheduled-payments", w), "ScheduledPayment") {
				listed = listed || sp["ScheduledPaymentId"] == sid
			}
			if !listed {
				t.Error("the international scheduled payment is not in AIS scheduled-payments")
			}
			if _, shown := sched["ExchangeRateInformation"]; shown {
				t.Errorf("a scheduled payment shows a rate before it executes: %v", sched["ExchangeRateInformation"])
			}
			// It books at the bank's actual rate of its execution date.
			schedDebit, _ := bank.Quote{Unit: "EUR", Other: "USD", Rate: s.app.Bank.FX().Rate("EUR", "USD", when)}.Convert(5250, "USD", "EUR")

			first := s.app.Clock.Now().Add(72 * time.Hour).Truncate(time.Second)
			so := map[string]any{"NumberOfPayments": "3", "CurrencyOfTransfer": "USD", "ChargeBearer": "BorneByDebtor",
				"InstructedAmount": map[string]any{"Amount": "10.00", "Currency": "EUR"},
				"CreditorAccount":  map[string]any{"SchemeName": "UK.OBIE.IBAN", "Identification": usd.IBAN, "Name": "Erik Lindqvist"}}
			if version == "4.0" {
				so["MandateRelatedInformation"] = map[string]any{"Frequency": map[string]any{"Type": "WEEK"}, "FirstPaymentDateTime": first.Format(time.RFC3339)}
				so["RemittanceInformation"] = map[string]any{"Structured": []any{map[string]any{"CreditorReferenceInformation": map[string]any{"Reference": "WEEKLY USD"}}}}
			} else {
				so["Frequency"] = "IntrvlWkDay:01:0" + fmt.Sprint(int(first.Weekday()+6)%7+1)
				so["FirstPaymentDateTime"] = first.Format(time.RFC3339)
				so["Reference"] = "WEEKLY USD"
			}
			order := intlOrder(t, s, c, "international-standing-order-consents", "international-standing-orders", false, so, eur.ID)
			oid := order["InternationalStandingOrderId"].(string)
			if want := map[string]string{"3.1": "InitiationCompleted", "4.0": "INCO"}[version]; order["Status"] != want {
				t.Fatalf("standing order status %v, want %s", order["Status"], want)
			}

			s.advance("22d")
			cc, _ := c.ClientCredentials(ctx, "payments")
			w = watch()
			var got struct {
				Data struct {
					Status                  string
					ExchangeRateInformation *struct {
						RateType     string
						ExchangeRate json.Number
					}
				}
			}
			s.get(c.API()+"/pisp/international-scheduled-payments/"+sid, cc).JSON(t, &got)
			if want := map[string]string{"3.1": "InitiationCompleted", "4.0": "ACSC"}[version]; got.Data.Status != want {
				t.Errorf("scheduled payment after its date: %s, want %s", got.Data.Status, want)
			}
			if q := got.Data.ExchangeRateInformation; q == nil || q.RateType != "Actual" ||
				q.ExchangeRate.String() != bank.FormatRate(s.app.Bank.FX().Rate("EUR", "USD", when)) {
				t.Errorf("the executed scheduled payment's rate %+v, want the actual EUR/USD rate of %s", q, when)
			}
			expect(t, s.get(c.API()+"/pisp/international-scheduled-payments/"+sid+"/payment-details", cc), 200)
			expect(t, s.get(c.API()+"/pisp/international-standing-orders/"+oid, cc), 200)
			expect(t, s.get(c.API()+"/pisp/international-standing-orders/"+oid+"/payment-details", cc), 200)
			// The standing order: 10.00 EUR plus the 2.50 EUR charge each week,
			// 10.00 EUR in dollars at the rate of the day it was set up.
			soCredit := int64(0)
			var soDebits []string
			for _, tx := range items(t, s.get(ais+"/accounts/"+eur.ID+"/transactions?page-size=100&fromBookingDateTime="+first.Format("2006-01-02"), w), "Transaction") {
				if strings.Contains(fmt.Sprint(tx["TransactionInformation"]), "WEEKLY USD") {
					soDebits = append(soDebits, tx["Amount"].(map[string]any)["Amount"].(string))
				}
			}
			if strings.Join(soDebits, " ") != "12.50 12.50 12.50" {
				t.Errorf("standing order debits %v, want three of 12.50 EUR", soDebits)
			}
			for _, tx := range items(t, s.get(ais+"/accounts/"+usd.ID+"/transactions?page-size=100&fromBookingDateTime="+first.Format("2006-01-02"), w), "Transaction") {
				if strings.Contains(fmt.Sprint(tx["TransactionInformation"]), "WEEKLY USD") {
					soCredit += amountOf(tx)
				}
			}
			if soCredit <= 3*1000 { // 10.00 EUR buys more than 10.00 USD at any of the bank's rates
				t.Errorf("the USD account received %d cents from the standing order", soCredit)
			}
			if got := s.balanceOf(w, eur.ID, "InterimAvailable"); got != eur0-schedDebit-3*1250 {
				t.Errorf("EUR available %d, want %d", got, eur0-schedDebit-3*1250)
			}
			if got := s.balanceOf(w, usd.ID, "InterimBooked"); got != usd0+5000+soCredit {
				t.Errorf("USD booked %d, want %d", got, usd0+5000+soCredit)
			}
			if problems, _ := s.app.Store.CheckLedgers(ctx, 5); len(problems) > 0 {
				t.Errorf("ledger: %v", problems)
			}
		})
	}
}
