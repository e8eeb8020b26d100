package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/store"
)

// vrpConsent keeps an authorised VRP consent of p's: at most 100.00 a
// payment and 250.00 a calendar month.
func vrpConsent(t *testing.T, s *store.Store, id string, p store.PSU) *bank.Consent {
	t.Helper()
	c := &bank.Consent{ID: id, Kind: bank.ConsentDomesticVRP, ClientID: "c1", Status: bank.StatusAuthorised, PSU: p.Username,
		Accounts: []string{p.Accounts[0].ID}, CreatedAt: day0, StatusAt: day0, Version: bank.VersionUK31, Request: []byte(`{"Data":{}}`),
		Initiation: &bank.Initiation{Currency: "GBP", Controls: &bank.VRPControls{MaxIndividual: 10000, Currency: "GBP",
			Types: []string{bank.VRPTypeOther}, AuthMethods: []string{bank.VRPAuthSCANotRequired},
			Periodic: []bank.PeriodicLimit{{Type: bank.PeriodMonth, Alignment: bank.AlignCalendar, Amount: 25000, Currency: "GBP"}}}}}
	must(t, s.CreateConsent(context.Background(), c))
	return c
}

// vrpPay submits a VRP of amount under the consent, counted against its
// limits inside the store's transaction (bank.VRPControls.Allow).
func vrpPay(ctx context.Context, s *store.Store, consentID, key string, p store.PSU, to bank.AccountRef, amount int64, outcome string, now time.Time) (bank.Payment, error) {
	pay, _, err := s.Submit(ctx, bank.Order{
		Payment: bank.Payment{ID: "vrp-" + key, Kind: bank.OrderVRP, ConsentID: consentID, ClientID: "c1", Amount: amount,
			Currency: "GBP", Request: []byte(`{}`), ProcessAt: now.Add(time.Second), SettleAt: now.Add(2 * time.Second)},
		Debtor: p.Accounts[0].ID, Creditor: to, Reference: "SWEEP", Outcome: outcome,
		Check: func(c *bank.Consent) error {
			if c.Status != bank.StatusAuthorised {
				return bank.Errorf(bank.KindConsentStatus, "", "consent %s", c.Status)
			}
			return nil
		},
		Limits: func(c *bank.Consent, made []bank.Payment) error {
			return c.Controls().Allow(c.CreatedAt, made, amount, now)
		},
	}, bank.Idem{ClientID: "c1", Operation: "domestic-vrps", Key: key, BodyHash: key}, now)
	return pay, err
}

// testVRP: variable recurring payments are counted against their consent's
// limits inside the write transaction, so concurrent payments never go
// over; a rejected payment does not count; the consent stays Authorised;
// they settle on the clock like domestic payments; an amendment rewrites
// the consent once per key.
func testVRP(t *testing.T, open Open) {
	ctx := context.Background()
	s := bankOf(t, open)
	ps := payers(t, s)
	from, to := ps[0], ps[1]
	c := vrpConsent(t, s, "vrc-1", from)
	before, err := s.Ledgers(ctx, from.Accounts, day0)
	must(t, err)

	// Ten payments of 40.00 at once against 250.00 a month: six fit.
	var wg sync.WaitGroup
	errs := make([]error, 10)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = vrpPay(ctx, s, c.ID, fmt.Sprint(i), from, ref(to.Accounts[0]), 4000, "", day0)
		}()
	}
	wg.Wait()
	accepted := 0
	for _, err := range errs {
		switch {
		case err == nil:
			accepted++
		case bank.KindOf(err) != bank.KindFailsControlParameters:
			t.Fatalf("a payment failed with %v, want FailsControlParameters", err)
		}
	}
	if accepted != 6 {
		t.Fatalf("%d payments of 40.00 accepted under a 250.00 monthly limit, want 6", accepted)
	}
	mid, err := s.Ledgers(ctx, from.Accounts, day0)
	must(t, err)
	if d := mid[from.Accounts[0].Ref].PendingDebits - before[from.Accounts[0].Ref].PendingDebits; d != 24000 {
		t.Fatalf("pending debits moved by %d, want 24000", d)
	}
	if cn, _ := s.Consent(ctx, c.ID); cn.Status != bank.StatusAuthorised {
		t.Fatalf("consent %s after its payments, want Authorised", cn.Status)
	}

	// A payment the bank rejects does not count: 10.00 rejected, then 10.00
	// paid brings the month exactly to its limit, one penny more is refused.
	p, err := vrpPay(ctx, s, c.ID, "rejected", from, ref(to.Accounts[0]), 1000, bank.OutcomeInsufficientFunds, day0)
	must(t, err)
	if p.Status != bank.PaymentRejected {
		t.Fatalf("forced insufficient funds: %s", p.Status)
	}
	_, err = vrpPay(ctx, s, c.ID, "last", from, ref(to.Accounts[0]), 1000, "", day0)
	must(t, err)
	if _, err := vrpPay(ctx, s, c.ID, "over", from, ref(to.Accounts[0]), 1, "", day0); bank.KindOf(err) != bank.KindFailsControlParameters {
		t.Fatalf("one penny over the month: %v", err)
	}
	if _, err := s.Payment(ctx, "vrp-over"); !errors.Is(err, bank.ErrNotFound) {
		t.Fatalf("a refused payment was kept: %v", err)
	}

	// They settle on the clock; the next calendar month starts afresh.
	if _, err := s.CatchUp(ctx, at(day0.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	p, err = s.Payment(ctx, "vrp-last")
	must(t, err)
	if p.Status != bank.PaymentCompleted || p.Transaction == "" {
		t.Fatalf("settled VRP %+v", p)
	}
	if _, err := vrpPay(ctx, s, c.ID, "december", from, ref(to.Accounts[0]), 10000, "", time.Date(2026, 12, 1, 0, 0, 0, 0, bank.BankZone)); err != nil {
		t.Fatalf("the first payment of the next month: %v", err)
	}

	// An amendment: once per key; a refusal writes nothing.
	idem := bank.Idem{ClientID: "c1", Operation: "domestic-vrp-consents-put", Key: "k1", BodyHash: "h1"}
	refuse := errors.New("refused")
	if _, _, err := s.AmendConsent(ctx, c.ID, idem, day0, func(*bank.Consent) error { return refuse }); !errors.Is(err, refuse) {
		t.Fatalf("a refused amendment: %v", err)
	}
	amend := func(cn *bank.Consent) error {
		cn.Request, cn.Version = []byte(`{"Data":{"amended":true}}`), bank.VersionUK40
		return nil
	}
	got, replay, err := s.AmendConsent(ctx, c.ID, idem, day0, amend)
	must(t, err)
	if replay || got.Version != bank.VersionUK40 || string(got.Request) != `{"Data":{"amended":true}}` || got.Controls() == nil {
		t.Fatalf("amended %+v replay %v", got, replay)
	}
	if _, replay, err := s.AmendConsent(ctx, c.ID, idem, day0, func(*bank.Consent) error { return refuse }); err != nil || !replay {
		t.Fatalf("the same key again: replay %v, %v", replay, err)
	}
}
