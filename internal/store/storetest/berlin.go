package storetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/bank"
)

// The Berlin Group use cases' storage (bank.BerlinStore).

func testBerlinAuthorisations(t *testing.T, open Open) {
	ctx := context.Background()
	s := opened(t, open)
	a := bank.Authorisation{ID: "bga-1", Kind: bank.AuthConsent, Resource: "bgc-1", ClientID: "PSDGB-SBX-1", Approach: bank.ApproachDecoupled,
		Status: bank.ScaMethodSelected, PSU: "erik", Method: bank.DecoupledMethod.ID, Handle: "bg-h1", CreatedAt: day0, StatusAt: day0,
		ExpiresAt: day0.Add(bank.AuthorisationLifetime)}
	must(t, s.CreateAuthorisation(ctx, a))
	b := a
	b.ID, b.Handle, b.Approach, b.Status, b.PSU = "bga-2", "bg-h2", bank.ApproachEmbedded, bank.ScaReceived, ""
	must(t, s.CreateAuthorisation(ctx, b))
	if err := s.CreateAuthorisation(ctx, a); !errors.Is(err, bank.ErrConflict) {
		t.Fatalf("a second authorisation with the same id: %v, want ErrConflict", err)
	}
	got, err := s.AuthorisationByHandle(ctx, "bg-h1")
	if err != nil || got.ID != "bga-1" || got.PSU != "erik" || !got.ExpiresAt.Equal(a.ExpiresAt) {
		t.Fatalf("by handle: %+v, %v", got, err)
	}
	if _, err := s.Authorisation(ctx, "bga-none"); !errors.Is(err, bank.ErrNotFound) {
		t.Fatalf("unknown: %v, want ErrNotFound", err)
	}
	list, err := s.AuthorisationsOf(ctx, "bgc-1", bank.AuthConsent)
	if err != nil || len(list) != 2 {
		t.Fatalf("of bgc-1: %d, %v; want 2", len(list), err)
	}
	if list, _ := s.AuthorisationsOf(ctx, "bgc-1", bank.AuthPayment); len(list) != 0 {
		t.Fatalf("payment authorisations of a consent: %d, want 0", len(list))
	}
	pending, err := s.PendingDecoupled(ctx, "erik", day0)
	if err != nil || len(pending) != 1 || pending[0].ID != "bga-1" {
		t.Fatalf("pending for erik: %+v, %v", pending, err)
	}
	if pending, _ := s.PendingDecoupled(ctx, "erik", a.ExpiresAt); len(pending) != 0 {
		t.Fatalf("pending at its expiry: %d, want 0", len(pending))
	}
	refuse := errors.New("no")
	if _, err := s.UpdateAuthorisation(ctx, "bga-1", func(x *bank.Authorisation) error {
		x.Status = bank.ScaFinalised
		return refuse
	}); !errors.Is(err, refuse) {
		t.Fatalf("a refused update: %v", err)
	}
	if got, _ := s.Authorisation(ctx, "bga-1"); got.Status != bank.ScaMethodSelected {
		t.Fatalf("a refused update changed the status to %s", got.Status)
	}
	// Concurrent decisions: one wins.
	var won atomic.Int32
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			_, err := s.UpdateAuthorisation(ctx, "bga-1", func(x *bank.Authorisation) error {
				if x.Final() {
					return refuse
				}
				x.Status, x.StatusAt = bank.ScaFinalised, day0.Add(time.Minute)
				return nil
			})
			if err == nil {
				won.Add(1)
			}
		})
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("%d concurrent decisions won, want 1", won.Load())
	}
	if pending, _ := s.PendingDecoupled(ctx, "erik", day0); len(pending) != 0 {
		t.Fatalf("a finalised routine is still pending")
	}
}

func testBerlinAccessCounts(t *testing.T, open Open) {
	ctx := context.Background()
	s := opened(t, open)
	for i, want := range []bool{true, true, false, false} {
		ok, err := s.CountAccess(ctx, "bgc-1", "/v1/accounts", "2026-11-20", 2)
		if err != nil || ok != want {
			t.Fatalf("access %d: %v, %v; want %v", i+1, ok, err, want)
		}
	}
	if ok, _ := s.CountAccess(ctx, "bgc-1", "/v1/accounts", "2026-11-21", 2); !ok {
		t.Fatal("the next day's first access was refused")
	}
	if ok, _ := s.CountAccess(ctx, "bgc-1", "/v1/accounts/x/balances", "2026-11-20", 2); !ok {
		t.Fatal("another resource's first access was refused")
	}
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			ok, err := s.CountAccess(ctx, "bgc-2", "/v1/accounts", "once", 4)
			if err != nil {
				t.Error(err)
			}
			if ok {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if allowed.Load() != 4 {
		t.Fatalf("%d of 12 concurrent accesses allowed, want exactly 4", allowed.Load())
	}
}

func testBerlinLedgerReads(t *testing.T, open Open) {
	ctx := context.Background()
	s := bankOf(t, open)
	erik, err := s.AccountsOfPSU(ctx, "erik")
	must(t, err)
	got, err := s.AccountByIBAN(ctx, erik[0].IBAN)
	if err != nil || got.ID != erik[0].ID || got.Currency != "EUR" {
		t.Fatalf("by IBAN: %+v, %v", got, err)
	}
	if _, err := s.AccountByIBAN(ctx, "DE89370400440532013000"); !errors.Is(err, bank.ErrNotFound) {
		t.Fatalf("a foreign IBAN: %v, want ErrNotFound", err)
	}
	page, err := s.Transactions(ctx, bank.TxQuery{Accounts: erik[:1], Direction: bank.DirectionBoth, Limit: 5})
	must(t, err)
	if len(page.Items) == 0 {
		t.Fatal("erik's current account has no transactions")
	}
	for _, tx := range page.Items {
		one, err := s.TransactionByID(ctx, erik[0], tx.ID)
		if err != nil || one.ID != tx.ID || one.Amount != tx.Amount || one.Status != tx.Status {
			t.Fatalf("%s by id: %+v, %v; want %+v", tx.ID, one, err, tx)
		}
		if _, err := s.TransactionByID(ctx, erik[1], tx.ID); !errors.Is(err, bank.ErrNotFound) {
			t.Fatalf("%s on another account: %v, want ErrNotFound", tx.ID, err)
		}
	}
	for _, bad := range []string{"", "zz", "ffffffffffffffff", "0000000000000001x"} {
		if _, err := s.TransactionByID(ctx, erik[0], bad); !errors.Is(err, bank.ErrNotFound) {
			t.Fatalf("%q: %v, want ErrNotFound", bad, err)
		}
	}
	pending, err := s.Transactions(ctx, bank.TxQuery{Accounts: erik[:1], Direction: bank.DirectionBoth, PendingOnly: true, Limit: 100})
	must(t, err)
	for _, tx := range pending.Items {
		if tx.Status != bank.StatusPending {
			t.Fatalf("PendingOnly gave a %s entry", tx.Status)
		}
	}
	// A scheduled payment is stopped once; a stopped one is a conflict.
	must(t, s.CreateConsent(ctx, &bank.Consent{ID: "bgp-1", Kind: bank.ConsentBGPayment, ClientID: "c1", Status: bank.StatusAuthorised,
		PSU: "erik", Accounts: []string{erik[0].ID}, CreatedAt: day0, StatusAt: day0}))
	creditor := bank.AccountRef{Scheme: bank.SchemeIBAN, Identification: erik[1].IBAN, Name: "Erik"}
	when := day0.Add(48 * time.Hour)
	_, _, err = s.Submit(ctx, bank.Order{
		Payment: bank.Payment{ID: "bgp-1-1", Kind: bank.OrderScheduled, ConsentID: "bgp-1", ClientID: "c1", Amount: 1000, Currency: "EUR",
			Request: []byte(`{}`)},
		Debtor: erik[0].ID, Creditor: creditor, Reference: "LATER",
		Schedule: &bank.Initiation{RequestedAt: when, Amount: 1000, Currency: "EUR", Creditor: creditor, Reference: "LATER"},
		Check:    func(*bank.Consent) error { return nil },
	}, bank.Idem{ClientID: "c1", Operation: "bg", Key: "bgp-1-1", BodyHash: "-"}, day0)
	must(t, err)
	must(t, s.StopOrder(ctx, "bgp-1-1", day0))
	if err := s.StopOrder(ctx, "bgp-1-1", day0); !errors.Is(err, bank.ErrConflict) {
		t.Fatalf("stopping twice: %v, want ErrConflict", err)
	}
	before, err := s.Ledgers(ctx, erik[:1], day0)
	must(t, err)
	if _, err := s.CatchUp(ctx, at(when.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	after, err := s.Ledgers(ctx, erik[:1], day0)
	must(t, err)
	if b, a := before[erik[0].Ref].Booked, after[erik[0].Ref].Booked; a != b {
		t.Fatalf("a stopped scheduled payment moved %d", b-a)
	}
	p, err := s.Payment(ctx, "bgp-1-1")
	if err != nil || p.Status != "Cancelled" {
		t.Fatalf("stopped payment: %s, %v", p.Status, err)
	}
}
