package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/bank"
)

// testInternational: an international payment debits the debtor in its
// account's currency and, on settlement, credits the creditor held here in
// the currency of transfer, the amount the bank priced (not the debit);
// the rate applied is kept with the payment.
func testInternational(t *testing.T, open Open) {
	ctx := context.Background()
	s := bankOf(t, open)
	psus, err := s.PSUs(ctx)
	must(t, err)
	var eur, usd bank.Account
	for _, p := range psus {
		for _, a := range p.Accounts {
			if p.Username == "erik" && a.SubType == "CurrentAccount" {
				switch a.Currency {
				case "EUR":
					eur = a
				case "USD":
					usd = a
				}
			}
		}
	}
	if eur.ID == "" || usd.ID == "" {
		t.Fatal("erik has no EUR and USD current accounts")
	}
	before, err := s.Ledgers(ctx, []bank.Account{eur, usd}, day0)
	must(t, err)
	must(t, s.CreateConsent(ctx, &bank.Consent{ID: "ipc-1", Kind: bank.ConsentInternationalPayment, ClientID: "c1",
		Status: bank.StatusAuthorised, PSU: "erik", Accounts: []string{eur.ID}, CreatedAt: day0, StatusAt: day0, ExpiresAt: day0.Add(time.Hour)}))
	q := &bank.Quote{Unit: "EUR", Other: "USD", Rate: 1_100_000, Type: bank.RateActual}
	p, _, err := s.Submit(ctx, bank.Order{
		Payment: bank.Payment{ID: "ip-1", Kind: bank.OrderInternational, ConsentID: "ipc-1", ClientID: "c1", Amount: 9319, Currency: "EUR",
			CreditAmount: 10000, CreditCurrency: "USD", FX: q, Request: []byte(`{}`),
			ProcessAt: day0.Add(time.Second), SettleAt: day0.Add(2 * time.Second)},
		Debtor: eur.ID, Creditor: bank.AccountRef{Scheme: bank.SchemeIBAN, Identification: usd.IBAN, Name: usd.HolderName}, Reference: "FX",
		Check: func(*bank.Consent) error { return nil },
	}, bank.Idem{ClientID: "c1", Operation: "international-payments", Key: "1", BodyHash: "h"}, day0)
	must(t, err)
	if p.Status != bank.PaymentPending || p.FX == nil || *p.FX != *q || p.CreditAmount != 10000 || p.CreditCurrency != "USD" {
		t.Fatalf("international payment %+v (FX %+v)", p, p.FX)
	}
	if n, err := s.CatchUp(ctx, at(day0.Add(time.Minute))); err != nil || n != 2 {
		t.Fatalf("CatchUp = %d, %v; want 2 steps", n, err)
	}
	after, err := s.Ledgers(ctx, []bank.Account{eur, usd}, day0)
	must(t, err)
	if d := after[eur.Ref].Booked - before[eur.Ref].Booked; d != -9319 {
		t.Errorf("EUR booked moved by %d, want -9319", d)
	}
	if d := after[usd.Ref].Booked - before[usd.Ref].Booked; d != 10000 {
		t.Errorf("USD booked moved by %d, want 10000 (the creditor's amount, not the debit)", d)
	}
	page, err := s.Transactions(ctx, bank.TxQuery{Accounts: []bank.Account{usd}, Direction: bank.DirectionBoth, Limit: 1})
	must(t, err)
	if len(page.Items) != 1 || page.Items[0].Currency != "USD" || page.Items[0].SubCode != "CrossBorderCreditTransfer" {
		t.Errorf("the creditor's newest entry: %+v", page.Items)
	}
	if problems, err := s.CheckLedgers(ctx, 5); err != nil || len(problems) > 0 {
		t.Fatalf("ledgers: %v %v", problems, err)
	}
}

// testFilePayment: an uploaded file moves its consent on and is kept as
// sent; its order makes each instruction its own ledger entry, in file
// order, one the debtor cannot afford failing alone; a second upload
// against the consent is refused.
func testFilePayment(t *testing.T, open Open) {
	ctx := context.Background()
	s := bankOf(t, open)
	ps := payers(t, s)
	from, to := ps[0], ps[1]
	must(t, s.CreateConsent(ctx, &bank.Consent{ID: "fpc-1", Kind: bank.ConsentFilePayment, ClientID: "c1", Status: bank.StatusAwaitingUpload,
		PSU: from.Username, Accounts: []string{from.Accounts[0].ID}, CreatedAt: day0, StatusAt: day0, ExpiresAt: day0.Add(time.Hour)}))
	line := func(amount int64, reference string) bank.Initiation {
		return bank.Initiation{Amount: amount, Currency: "GBP", Creditor: ref(to.Accounts[0]), Reference: reference}
	}
	content := []byte(`{"Data":{"DomesticPayments":[]}}`)
	f := bank.PaymentFile{ConsentID: "fpc-1", FileType: bank.FileTypeJSON31, MediaType: "application/json", Content: content,
		Instructions: []bank.Initiation{line(100, "F1"), line(1<<40, "F2"), line(250, "F3")}}
	idem := bank.Idem{ClientID: "c1", Operation: "file-payment-consents/file", Key: "k1", BodyHash: bank.FileHash(content)}
	must(t, s.SaveFile(ctx, f, idem, day0))
	if err := s.SaveFile(ctx, f, bank.Idem{ClientID: "c1", Operation: "file-payment-consents/file", Key: "k2", BodyHash: "x"}, day0); bank.KindOf(err) != bank.KindConsentStatus {
		t.Fatalf("a second upload: %v, want consent.status", err)
	}
	if c, _ := s.Consent(ctx, "fpc-1"); c.Status != bank.StatusAwaitingAuthorisation {
		t.Fatalf("after the upload the consent is %s", c.Status)
	}
	got, err := s.File(ctx, "fpc-1")
	must(t, err)
	if string(got.Content) != string(content) || got.MediaType != "application/json" {
		t.Fatalf("file kept: %+v", got)
	}
	_, err = s.UpdateConsent(ctx, "fpc-1", func(c *bank.Consent) error { c.Status = bank.StatusAuthorised; return nil })
	must(t, err)
	before, err := s.Ledgers(ctx, []bank.Account{from.Accounts[0]}, day0)
	must(t, err)
	p, _, err := s.Submit(ctx, bank.Order{
		Payment: bank.Payment{ID: "fp-1", Kind: bank.OrderFile, ConsentID: "fpc-1", ClientID: "c1", Amount: 350, Currency: "GBP", Request: []byte(`{}`)},
		Debtor:  from.Accounts[0].ID, Check: func(*bank.Consent) error { return nil },
	}, bank.Idem{ClientID: "c1", Operation: "file-payments", Key: "1", BodyHash: "h"}, day0)
	must(t, err)
	if p.Status != bank.OrderInitiationCompleted {
		t.Fatalf("file payment %s, want InitiationCompleted", p.Status)
	}
	list, err := s.FileInstructions(ctx, "fpc-1")
	must(t, err)
	if len(list) != 3 || list[0].Status != bank.OrderInitiationCompleted || list[1].Status != bank.OrderInitiationFailed || list[1].Reason == "" ||
		list[2].Status != bank.OrderInitiationCompleted || list[0].Transaction == "" || list[1].Transaction != "" {
		t.Fatalf("instructions after execution: %+v", list)
	}
	after, err := s.Ledgers(ctx, []bank.Account{from.Accounts[0]}, day0)
	must(t, err)
	if d := after[from.Accounts[0].Ref].Booked - before[from.Accounts[0].Ref].Booked; d != -350 {
		t.Fatalf("debtor booked moved by %d, want -350 (two entries)", d)
	}
	if problems, err := s.CheckLedgers(ctx, 5); err != nil || len(problems) > 0 {
		t.Fatalf("ledgers: %v %v", problems, err)
	}
}
