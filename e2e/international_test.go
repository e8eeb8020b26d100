package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/tpp"
)

// International payments in v3.1.11 and v4.0 over the same bank: every
// answer is validated by the TPP's trace against our contracts and the
// official files.

// account is a PSU's account as the store has it.
func (s *sandbox) account(psu, currency, subType string) bank.Account {
	s.t.Helper()
	as, err := s.app.Store.AccountsOfPSU(context.Background(), psu)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, a := range as {
		if a.Currency == currency && a.SubType == subType {
			return a
		}
	}
	s.t.Fatalf("%s has no %s %s account", psu, currency, subType)
	return bank.Account{}
}

// versionTPP is a reference TPP calling a version of the UK API.
func (s *sandbox) versionTPP(version string) *tpp.Client {
	c := s.newTPP("private_key_jwt")
	c.Version = version
	return c
}

// intlData is what the tests read of an international consent or payment.
type intlData struct {
	Data struct {
		ConsentId, InternationalPaymentId, Status, CutOffDateTime, CreationDateTime string
		ExchangeRateInformation                                                     *struct {
			UnitCurrency, RateType, ContractIdentification, ExpirationDateTime string
			ExchangeRate                                                       json.Number
		}
		Charges []struct {
			ChargeBearer, Type string
			Amount             struct{ Amount, Currency string }
		}
	}
}

func decodeIntl(t *testing.T, raw []byte) intlData {
	t.Helper()
	var d intlData
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	return d
}

// rateOf reads a rate the bank showed.
func rateOf(t *testing.T, n json.Number) int64 {
	t.Helper()
	v, err := bank.ParseRate(n.String())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestInternationalPayment: erik pays 100.00 USD from his EUR account to
// his own USD account at an indicative rate. The consent shows the rate with
// its expiry (its cut-off) and the bank's charge; the funds check and the
// payment follow; the EUR account is debited, in euros, the dollars and the
// charge at the actual rate at execution; on settlement the USD account is
// credited 100.00 USD; the status history and both ledgers agree — through
// v3.1.11 and v4.0.
func TestInternationalPayment(t *testing.T) {
	t.Parallel()
	for _, version := range []string{"3.1", "4.0"} {
		t.Run("V"+version, func(t *testing.T) {
			t.Parallel()
			s := start(t, realIssuer())
			ctx := context.Background()
			c := s.versionTPP(version)
			eur, usd := s.account("erik", "EUR", "CurrentAccount"), s.account("erik", "USD", "CurrentAccount")
			watch, _, err := s.newTPP("private_key_jwt").AISJourney(ctx, "erik", "erik123", tpp.AllPermissions, nil)
			if err != nil {
				t.Fatal(err)
			}
			eur0, usd0 := s.balanceOf(watch.AccessToken, eur.ID, "InterimAvailable"), s.balanceOf(watch.AccessToken, usd.ID, "InterimBooked")

			cc, _ := c.ClientCredentials(ctx, "payments")
			in := c.InternationalInitiation("100.00", "USD", "USD", tpp.Abroad{Name: "Erik Lindqvist", IBAN: usd.IBAN}, "TO DOLLARS", "EUR", "Indicative", "", "")
			id, raw, err := c.ConsentOf(ctx, cc, tpp.International, in)
			if err != nil {
				t.Fatal(err)
			}
			cn := decodeIntl(t, raw).Data
			q := cn.ExchangeRateInformation
			if q == nil || q.UnitCurrency != "EUR" || q.RateType != "Indicative" || q.ExpirationDateTime == "" || q.ExpirationDateTime != cn.CutOffDateTime {
				t.Fatalf("consent's ExchangeRateInformation %+v (CutOffDateTime %s), want an indicative EUR rate expiring at the cut-off", q, cn.CutOffDateTime)
			}
			created, _ := time.Parse(time.RFC3339, cn.CreationDateTime)
			if got, want := rateOf(t, q.ExchangeRate), s.app.Bank.FX().Rate("EUR", "USD", created); got != want {
				t.Errorf("indicative rate %d, want the bank's %d", got, want)
			}
			if len(cn.Charges) != 1 || cn.Charges[0].ChargeBearer != "Shared" || cn.Charges[0].Amount.Amount != "2.50" || cn.Charges[0].Amount.Currency != "USD" {
				t.Errorf("charges %+v", cn.Charges)
			}
			toks, err := c.Approve(ctx, id, tpp.AuthOptions{Scope: "openid payments"}, "erik", "erik123", []string{eur.ID})
			if err != nil {
				t.Fatal(err)
			}
			var fc struct {
				Data struct{ FundsAvailableResult struct{ FundsAvailable bool } }
			}
			r := s.get(c.API()+"/pisp/international-payment-consents/"+id+"/funds-confirmation", toks.AccessToken)
			expect(t, r, 200)
			if r.JSON(t, &fc); !fc.Data.FundsAvailableResult.FundsAvailable {
				t.Error("erik has no funds for 100 USD")
			}
			r = s.get(c.API()+"/pisp/international-payment-consents/"+id, cc)
			expect(t, r, 200)

			pid, raw, err := c.PayOf(ctx, toks.AccessToken, tpp.International, id, in, uuid.NewString())
			if err != nil {
				t.Fatal(err)
			}
			p := decodeIntl(t, raw).Data
			applied := p.ExchangeRateInformation
			if applied == nil || applied.RateType != "Actual" || applied.UnitCurrency != "EUR" {
				t.Fatalf("payment's ExchangeRateInformation %+v, want the actual EUR rate", applied)
			}
			at, _ := time.Parse(time.RFC3339, p.CreationDateTime)
			rate := rateOf(t, applied.ExchangeRate)
			if want := s.app.Bank.FX().Rate("EUR", "USD", at); rate != want {
				t.Errorf("applied rate %d, want the bank's %d at %s", rate, want, at)
			}
			debit, _ := bank.Quote{Unit: "EUR", Other: "USD", Rate: rate}.Convert(10250, "USD", "EUR")
			if got := s.balanceOf(watch.AccessToken, eur.ID, "InterimAvailable"); got != eur0-debit {
				t.Errorf("EUR InterimAvailable %d, want %d (100.00 USD + 2.50 USD charge at %s)", got, eur0-debit, applied.ExchangeRate)
			}
			txs := items(t, s.get(ais+"/accounts/"+eur.ID+"/transactions?page-size=1", watch.AccessToken), "Transaction")
			if a := txs[0]["Amount"].(map[string]any); txs[0]["Status"] != "Pending" || a["Currency"] != "EUR" || a["Amount"] != bank.FormatMinor(debit) {
				t.Errorf("newest EUR transaction %v, want a pending %s EUR debit", txs[0], bank.FormatMinor(debit))
			}
			expect(t, s.do(req{method: "POST", path: "/sandbox/clock", token: s.app.Config.AdminToken, body: map[string]string{"advance": "3s"}}), 200)
			r = s.get(c.API()+"/pisp/international-payments/"+pid, cc)
			expect(t, r, 200)
			if st := decodeIntl(t, r.Body).Data.Status; st != map[string]string{"3.1": "AcceptedSettlementCompleted", "4.0": "ACSC"}[version] {
				t.Errorf("status after settlement %s", st)
			}
			if got := s.balanceOf(watch.AccessToken, usd.ID, "InterimBooked"); got != usd0+10000 {
				t.Errorf("USD InterimBooked %d, want %d (credited 100.00 USD)", got, usd0+10000)
			}
			var det struct {
				Data struct{ PaymentStatus []struct{ Status string } }
			}
			r = s.get(c.API()+"/pisp/international-payments/"+pid+"/payment-details", cc)
			expect(t, r, 200)
			if r.JSON(t, &det); len(det.Data.PaymentStatus) != 3 {
				t.Errorf("payment details %s, want three steps", r.Body)
			}
			// v4.0 AIS shows the same entries.
			v4 := items(t, s.get(ais4+"/accounts/"+usd.ID+"/transactions?page-size=1", watch.AccessToken), "Transaction")
			if a := v4[0]["Amount"].(map[string]any); a["Amount"] != "100.00" || a["Currency"] != "USD" {
				t.Errorf("newest USD transaction through v4.0: %v", v4[0])
			}
			if problems, _ := s.app.Store.CheckLedgers(ctx, 5); len(problems) > 0 {
				t.Errorf("ledger: %v", problems)
			}
		})
	}
}

// TestInternationalAgreedRate: alice pays 200.00 EUR from her GBP account
// to dave's EUR account at a contract rate 2% off the market: the bank
// honours it (debit and consent show it), dave receives 200.00 EUR.
func TestInternationalAgreedRate(t *testing.T) {
	t.Parallel()
	for _, version := range []string{"3.1", "4.0"} {
		t.Run("V"+version, func(t *testing.T) {
			t.Parallel()
			s := start(t, realIssuer())
			ctx := context.Background()
			c := s.versionTPP(version)
			gbp, daveEUR := s.account("alice", "GBP", "CurrentAccount"), s.account("dave", "EUR", "CurrentAccount")
			alice, _, err := s.newTPP("private_key_jwt").AISJourney(ctx, "alice", "alice123", tpp.AllPermissions, nil)
			if err != nil {
				t.Fatal(err)
			}
			dave, _, err := s.newTPP("private_key_jwt").AISJourney(ctx, "dave", "dave123", tpp.AllPermissions, nil)
			if err != nil {
				t.Fatal(err)
			}
			gbp0, eur0 := s.balanceOf(alice.AccessToken, gbp.ID, "InterimBooked"), s.balanceOf(dave.AccessToken, daveEUR.ID, "InterimBooked")
			agreed := s.app.Bank.FX().Rate("GBP", "EUR", s.app.Clock.Now()) * 102 / 100
			in := c.InternationalInitiation("200.00", "EUR", "EUR", tpp.Abroad{Name: "David Moreau", IBAN: daveEUR.IBAN}, "INVOICE 7",
				"GBP", "Agreed", bank.FormatRate(agreed), "FX-CONTRACT-0007")
			raw, err := c.JourneyOf(ctx, tpp.International, "alice", "alice123", in, []string{gbp.ID})
			if err != nil {
				t.Fatal(err)
			}
			p := decodeIntl(t, raw).Data
			if q := p.ExchangeRateInformation; q == nil || q.RateType != "Agreed" || rateOf(t, q.ExchangeRate) != agreed || q.ContractIdentification != "FX-CONTRACT-0007" {
				t.Fatalf("payment's ExchangeRateInformation %+v, want the agreed %s", q, bank.FormatRate(agreed))
			}
			debit, _ := bank.Quote{Unit: "GBP", Other: "EUR", Rate: agreed}.Convert(20250, "EUR", "GBP")
			s.do(req{method: "POST", path: "/sandbox/clock", token: s.app.Config.AdminToken, body: map[string]string{"advance": "3s"}})
			if got := s.balanceOf(alice.AccessToken, gbp.ID, "InterimBooked"); got != gbp0-debit {
				t.Errorf("alice's GBP booked %d, want %d", got, gbp0-debit)
			}
			if got := s.balanceOf(dave.AccessToken, daveEUR.ID, "InterimBooked"); got != eur0+20000 {
				t.Errorf("dave's EUR booked %d, want %d", got, eur0+20000)
			}
		})
	}
}

// TestInternationalRefusals: a currency the bank does not hold or convert,
// an agreed rate far from the market or without its contract, an
// indicative quote that expired before the payment, and insufficient
// funds. A refused consent stores nothing (its idempotency key then makes
// a consent of a corrected body); a refused payment moves nothing and
// leaves the consent Authorised.
func TestInternationalRefusals(t *testing.T) {
	t.Parallel()
	for _, version := range []string{"3.1", "4.0"} {
		t.Run("V"+version, func(t *testing.T) {
			t.Parallel()
			s := start(t, realIssuer())
			ctx := context.Background()
			c := s.versionTPP(version)
			cc, _ := c.ClientCredentials(ctx, "payments")
			daveEUR := s.account("dave", "EUR", "CurrentAccount")
			to := tpp.Abroad{Name: "David Moreau", IBAN: daveEUR.IBAN}
			code := func(v31 string) string {
				if version == "4.0" {
					return map[string]string{"UK.OBIE.Unsupported.Currency": "U023", "UK.OBIE.Field.Invalid": "U002",
						"UK.OBIE.Field.Expected": "U001", "UK.OBIE.Rules.AfterCutOffDateTime": "U012"}[v31]
				}
				return v31
			}
			market := s.app.Bank.FX().Rate("GBP", "EUR", s.app.Clock.Now())
			for _, tc := range []struct {
				name, code, path string
				in               map[string]any
			}{
				{"UnsupportedCurrency", "UK.OBIE.Unsupported.Currency", "Data.Initiation.InstructedAmount.Currency",
					c.InternationalInitiation("10.00", "JPY", "JPY", to, "X", "", "", "", "")},
				{"UnsupportedTransferCurrency", "UK.OBIE.Unsupported.Currency", "Data.Initiation.CurrencyOfTransfer",
					c.InternationalInitiation("10.00", "GBP", "CHF", to, "X", "", "", "", "")},
				{"AgreedRateMismatch", "UK.OBIE.Field.Invalid", "Data.Initiation.ExchangeRateInformation.ExchangeRate",
					c.InternationalInitiation("10.00", "EUR", "EUR", to, "X", "GBP", "Agreed", bank.FormatRate(market*2), "FX-1")},
				{"AgreedWithoutContract", "UK.OBIE.Field.Expected", "Data.Initiation.ExchangeRateInformation.ContractIdentification",
					without(c.InternationalInitiation("10.00", "EUR", "EUR", to, "X", "GBP", "Agreed", bank.FormatRate(market), ""), "ContractIdentification")},
			} {
				t.Run(tc.name, func(t *testing.T) {
					key := uuid.NewString()
					body := map[string]any{"Data": map[string]any{"Initiation": tc.in}, "Risk": map[string]any{"PaymentContextCode": "TransferToThirdParty"}}
					st, raw, _, err := c.SignedPost(ctx, c.API()+"/pisp/international-payment-consents", cc, key, body)
					if err != nil {
						t.Fatal(err)
					}
					r := &response{Status: st, Body: raw}
					if st != 400 {
						t.Fatalf("status %d, want 400: %s", st, raw)
					}
					got, path := errorOf(t, version, r)
					if got != code(tc.code) || path != tc.path {
						t.Errorf("%s at %s, want %s at %s", got, path, code(tc.code), tc.path)
					}
					// Nothing was kept: the key is free for a corrected body.
					ok := map[string]any{"Data": map[string]any{"Initiation": c.InternationalInitiation("10.00", "EUR", "EUR", to, "X", "", "", "", "")},
						"Risk": map[string]any{"PaymentContextCode": "TransferToThirdParty"}}
					if st, raw, _, _ := c.SignedPost(ctx, c.API()+"/pisp/international-payment-consents", cc, key, ok); st != 201 {
						t.Errorf("the key of a refused consent: %d %s, want 201", st, raw)
					}
				})
			}

			t.Run("IndicativeRateExpired", func(t *testing.T) {
				gbp := s.account("alice", "GBP", "CurrentAccount")
				in := c.InternationalInitiation("10.00", "EUR", "EUR", to, "LATE", "GBP", "Indicative", "", "")
				id, _, err := c.ConsentOf(ctx, cc, tpp.International, in)
				if err != nil {
					t.Fatal(err)
				}
				toks, err := c.Approve(ctx, id, tpp.AuthOptions{Scope: "openid payments"}, "alice", "alice123", []string{gbp.ID})
				if err != nil {
					t.Fatal(err)
				}
				watch, _, _ := s.newTPP("private_key_jwt").AISJourney(ctx, "alice", "alice123", tpp.AllPermissions, nil)
				before := s.balanceOf(watch.AccessToken, gbp.ID, "InterimAvailable")
				expect(t, s.do(req{method: "POST", path: "/sandbox/clock", token: s.app.Config.AdminToken,
					body: map[string]string{"advance": fmt.Sprint(bank.IndicativeLifetime + time.Second)}}), 200)
				_, raw, err := c.PayOf(ctx, toks.AccessToken, tpp.International, id, in, uuid.NewString())
				var se *tpp.StatusError
				if !errors.As(err, &se) || se.Status != 400 {
					t.Fatalf("payment after the quote expired: %v %s, want 400", err, raw)
				}
				if got, _ := errorOf(t, version, &response{Status: 400, Body: raw}); got != code("UK.OBIE.Rules.AfterCutOffDateTime") {
					t.Errorf("code %s", got)
				}
				if got := s.balanceOf(watch.AccessToken, gbp.ID, "InterimAvailable"); got != before {
					t.Errorf("balance moved: %d, want %d", got, before)
				}
				r := s.get(c.API()+"/pisp/international-payment-consents/"+id, cc)
				if st := decodeIntl(t, r.Body).Data.Status; st != map[string]string{"3.1": "Authorised", "4.0": "AUTH"}[version] {
					t.Errorf("consent status %s after a refused payment", st)
				}
			})

			t.Run("InsufficientFunds", func(t *testing.T) {
				bob := s.account("bob", "GBP", "CurrentAccount")
				in := c.InternationalInitiation("9000.00", "EUR", "EUR", to, "TOO MUCH", "GBP", "Actual", "", "")
				id, _, err := c.ConsentOf(ctx, cc, tpp.International, in)
				if err != nil {
					t.Fatal(err)
				}
				toks, err := c.Approve(ctx, id, tpp.AuthOptions{Scope: "openid payments"}, "bob", "bob123", []string{bob.ID})
				if err != nil {
					t.Fatal(err)
				}
				var fc struct {
					Data struct{ FundsAvailableResult struct{ FundsAvailable bool } }
				}
				s.get(c.API()+"/pisp/international-payment-consents/"+id+"/funds-confirmation", toks.AccessToken).JSON(t, &fc)
				if fc.Data.FundsAvailableResult.FundsAvailable {
					t.Error("bob has funds for 9,000 EUR")
				}
				watch, _, _ := s.newTPP("private_key_jwt").AISJourney(ctx, "bob", "bob123", tpp.AllPermissions, nil)
				before := s.balanceOf(watch.AccessToken, bob.ID, "InterimAvailable")
				_, raw, err := c.PayOf(ctx, toks.AccessToken, tpp.International, id, in, uuid.NewString())
				if err != nil {
					t.Fatal(err)
				}
				if st := decodeIntl(t, raw).Data.Status; st != map[string]string{"3.1": "Rejected", "4.0": "RJCT"}[version] {
					t.Errorf("status %s, want a rejection", st)
				}
				if got := s.balanceOf(watch.AccessToken, bob.ID, "InterimAvailable"); got != before {
					t.Errorf("balance moved: %d, want %d", got, before)
				}
			})
		})
	}
}

// errorOf reads the first error's code and path in either version's
// envelope.
func errorOf(t *testing.T, version string, r *response) (string, string) {
	t.Helper()
	if version == "4.0" {
		return v4Error(t, r)
	}
	var e struct {
		Errors []struct{ ErrorCode, Path string }
	}
	r.JSON(t, &e)
	if len(e.Errors) == 0 {
		t.Fatalf("no Errors in %s", r.Body)
	}
	return e.Errors[0].ErrorCode, e.Errors[0].Path
}

// without drops a member of an Initiation's ExchangeRateInformation.
func without(in map[string]any, name string) map[string]any {
	delete(in["ExchangeRateInformation"].(map[string]any), name)
	return in
}

// TestEventsFromInternationalAndFilePayments: an international payment and
// a file payment raise resource-update events as a domestic one does, named
// by their own resource types and linked to their own paths.
func TestEventsFromInternationalAndFilePayments(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	rcv := newReceiver(t)
	c := s.newTPP("private_key_jwt")
	cc, err := c.ClientCredentials(ctx, "payments")
	if err != nil {
		t.Fatal(err)
	}
	expect(t, s.subscribe(cc, map[string]any{"CallbackUrl": rcv.url(), "Version": "3.1", "EventTypes": []string{"UK.OBIE.Resource-Update"}}), 201)
	in := c.InternationalInitiation("20.00", "EUR", "EUR", tpp.Abroad{Name: "David Moreau", IBAN: s.account("dave", "EUR", "CurrentAccount").IBAN},
		"EVENTS", "GBP", "Actual", "", "")
	raw, err := c.JourneyOf(ctx, tpp.International, "alice", "alice123", in, nil)
	if err != nil {
		t.Fatal(err)
	}
	payment := decodeIntl(t, raw).Data.InternationalPaymentId
	file := jsonPaymentFile("3.1", []fileLine{{"1.00", "200415", "33104477", "Greenfield Lettings", "EVENTS"}})
	filePayment, _, err := c.FilePayment(ctx, cc, file, func(id string) (*tpp.Tokens, error) {
		return c.Approve(ctx, id, tpp.AuthOptions{Scope: "openid payments"}, "alice", "alice123", nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	s.advance("5s")
	s.deliverEvents()
	rty := map[string]int{}
	for _, p := range rcv.delivered() {
		claims, _ := s.verifySET(p.SET)
		_, _, sub := subject(t, claims)
		rid := sub["http://openbanking.org.uk/rid"].(string)
		rty[sub["http://openbanking.org.uk/rty"].(string)]++
		if rid == payment || rid == filePayment {
			if rlk := fmt.Sprint(sub["http://openbanking.org.uk/rlk"]); !strings.Contains(rlk, "/pisp/"+map[bool]string{true: "international-payments/", false: "file-payments/"}[rid == payment]+rid) {
				t.Errorf("event of %s links %s", rid, rlk)
			}
		}
	}
	for name, n := range map[string]int{"international-payment-consent": 2, "international-payment": 2, "file-payment-consent": 3, "file-payment": 1} {
		if rty[name] != n {
			t.Errorf("%d events of %s, want %d (all: %v)", rty[name], name, n, rty)
		}
	}
}
