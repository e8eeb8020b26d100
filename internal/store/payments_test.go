package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/bank"
)

// TestLedgerInvariantUnderRandomPayments submits thousands of random
// payments — many of them too big, so rejected; some to accounts of this
// bank — settles them at random moments, and checks after every batch that
// balances still reconcile with transactions.
func TestLedgerInvariantUnderRandomPayments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, fx := seeded(t, 7, 10)
	psus, err := s.PSUs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.PSUCount(ctx); err != nil || n != len(psus) || n != len(fx.PSUs)+10 {
		t.Fatalf("PSUCount = %d, %v; listed %d, seeded %d personas + 10", n, err, len(psus), len(fx.PSUs))
	}
	type payer struct {
		psu  string
		acct bank.Account
	}
	var payers []payer
	var payees []bank.AccountRef
	for _, p := range psus {
		for _, a := range p.Accounts {
			if a.SubType == "CurrentAccount" && a.Currency == "GBP" {
				payers = append(payers, payer{p.Username, a})
				if a.SortCode != "" {
					payees = append(payees, bank.AccountRef{Scheme: bank.SchemeSortCode, Identification: a.SortCode + a.Number, Name: a.HolderName})
				}
			}
		}
	}
	payees = append(payees, bank.AccountRef{Scheme: bank.SchemeSortCode, Identification: "20041533104477", Name: "Greenfield Lettings"})
	r := rand.New(rand.NewPCG(1, 2))
	now := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	rejected, accepted := 0, 0
	for i := range 2000 {
		p := payers[r.IntN(len(payers))]
		amount := int64(1 + r.IntN(50000))
		if r.IntN(5) == 0 {
			amount = int64(1_000_000 + r.IntN(100_000_000)) // far beyond most balances
		}
		cp := payees[r.IntN(len(payees))]
		cid := fmt.Sprintf("pdc-%d", i)
		if err := s.CreateConsent(ctx, &bank.Consent{ID: cid, Kind: bank.ConsentDomesticPayment, ClientID: "c", Status: bank.StatusAuthorised,
			PSU: p.psu, Accounts: []string{p.acct.ID}, CreatedAt: now, StatusAt: now, ExpiresAt: now.Add(24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		pay, _, err := s.Submit(ctx, bank.Order{
			Payment: bank.Payment{ID: fmt.Sprintf("dp-%d", i), Kind: "domestic", ConsentID: cid, ClientID: "c", Amount: amount,
				Currency: "GBP", Request: []byte("{}"), ProcessAt: now.Add(time.Second), SettleAt: now.Add(time.Duration(2+r.IntN(5)) * time.Second)},
			Debtor: p.acct.ID, Creditor: cp, Reference: "PROP",
			Check: func(*bank.Consent) error { return nil },
		}, bank.Idem{ClientID: "c", Operation: "domestic-payments", Key: fmt.Sprint(i), BodyHash: "h"}, now)
		if err != nil {
			t.Fatal(err)
		}
		if pay.Status == bank.PaymentRejected {
			rejected++
		} else {
			accepted++
		}
		now = now.Add(time.Duration(r.IntN(3000)) * time.Millisecond)
		if r.IntN(4) == 0 {
			if _, err := s.CatchUp(ctx, clockAt(now)); err != nil {
				t.Fatal(err)
			}
		}
		if i%250 == 249 {
			if problems, err := s.CheckLedgers(ctx, 5); err != nil || len(problems) > 0 {
				t.Fatalf("after %d payments: %v %v", i+1, err, problems)
			}
		}
	}
	if _, err := s.CatchUp(ctx, clockAt(now.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	if problems, err := s.CheckLedgers(ctx, 5); err != nil || len(problems) > 0 {
		t.Fatalf("after settling everything: %v %v", err, problems)
	}
	if rejected == 0 || accepted == 0 {
		t.Fatalf("accepted %d, rejected %d: the property was not exercised both ways", accepted, rejected)
	}
	t.Logf("%d accepted, %d rejected", accepted, rejected)
}

// TestPaymentStepsAtTheirInstant: a payment's statuses step at the instant
// they are due, to the millisecond, not at the whole second: created at
// hh:mm:ss.920 with InProcess due 1 s later, it is still Pending 0.15 s
// after creation (the next whole second), and at every instant before each
// due time; at the due time it steps, and the step is recorded at it.
func TestPaymentStepsAtTheirInstant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := seeded(t, 7, 0)
	psus, err := s.PSUs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var debtor bank.Account
	for _, a := range psus[0].Accounts {
		if a.SubType == "CurrentAccount" && a.Currency == "GBP" {
			debtor = a
			break
		}
	}
	created := time.Date(2026, 11, 20, 9, 0, 0, 920_000_000, time.UTC)
	process, settle := created.Add(time.Second), created.Add(2*time.Second)
	if err := s.CreateConsent(ctx, &bank.Consent{ID: "pdc-ms", Kind: bank.ConsentDomesticPayment, ClientID: "c", Status: bank.StatusAuthorised,
		PSU: psus[0].Username, Accounts: []string{debtor.ID}, CreatedAt: created, StatusAt: created, ExpiresAt: created.Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	p, _, err := s.Submit(ctx, bank.Order{
		Payment: bank.Payment{ID: "dp-ms", Kind: bank.OrderDomestic, ConsentID: "pdc-ms", ClientID: "c", Amount: 100, Currency: "GBP",
			Request: []byte("{}"), ProcessAt: process, SettleAt: settle},
		Debtor: debtor.ID, Creditor: bank.AccountRef{Scheme: bank.SchemeSortCode, Identification: "20041533104477", Name: "Greenfield Lettings"},
		Check: func(*bank.Consent) error { return nil },
	}, bank.Idem{ClientID: "c", Operation: "domestic-payments", Key: "ms", BodyHash: "h"}, created)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		at     time.Time
		status string
	}{
		{created.Add(150 * time.Millisecond), bank.PaymentPending}, // past the whole second
		{process.Add(-time.Millisecond), bank.PaymentPending},
		{process, bank.PaymentInProcess},
		{settle.Add(-time.Millisecond), bank.PaymentInProcess},
		{settle, bank.PaymentCompleted},
	} {
		if _, err := s.CatchUp(ctx, clockAt(step.at)); err != nil {
			t.Fatal(err)
		}
		got, err := s.Payment(ctx, "dp-ms")
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != step.status {
			t.Fatalf("at %s: %s, want %s", step.at.Format("15:04:05.000"), got.Status, step.status)
		}
	}
	got, err := s.Payment(ctx, "dp-ms")
	if err != nil {
		t.Fatal(err)
	}
	if !got.StatusAt.Equal(settle) || len(got.History) != 3 || !got.History[1].At.Equal(process) || !got.History[2].At.Equal(settle) {
		t.Errorf("status at %v, history %+v: want the steps at %v and %v", got.StatusAt, got.History, process, settle)
	}
	if !p.CreatedAt.Equal(created) || !p.ProcessAt.Equal(process) || !p.SettleAt.Equal(settle) {
		t.Errorf("stored times %v %v %v, want %v %v %v", p.CreatedAt, p.ProcessAt, p.SettleAt, created, process, settle)
	}
}

// clockAt is a clock standing still at t.
func clockAt(t time.Time) func() time.Time { return func() time.Time { return t } }
