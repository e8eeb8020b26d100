package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/fixtures"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/store"
	"github.com/obsandbox/sandbox/seed"
)

// runtimePersona is a PSU as POST /sandbox/psus takes it: generated history
// on a current account, hand-written entries and a stated balance on a
// savings account.
func runtimePersona(username string) fixtures.Persona {
	return fixtures.Persona{Username: username, Password: username + "-pw", Name: "Zoe Runtime", Spending: "frugal",
		History: &fixtures.History{Months: 3, Seed: 11},
		Accounts: []fixtures.Account{
			{Key: "current", SubType: "CurrentAccount", Currency: "GBP", SortCode: "090199", Number: "31000001", Opening: "500.00",
				Salary: &fixtures.Salary{From: "Student Finance", Amount: "900.00", Day: 1}},
			{Key: "usd", SubType: "Savings", Currency: "USD", SortCode: "090199", Number: "31000002", Balance: "250.00",
				Transactions: []fixtures.Transaction{
					{Date: "2026-10-01", Amount: "300.00", Counterparty: "Grandma", Reference: "BIRTHDAY"},
					{Date: "2026-10-20", Amount: "-50.00", Merchant: "BOOKSHOP", MCC: "5942"},
					{Date: "2026-10-30", Amount: "-12.5", Status: "Pending", Counterparty: "Gym"},
				}},
		}}
}

// testRuntimePSUs: a PSU added to a seeded bank reconciles, pays like any
// other, is refused a second time with nothing changed, and is removed with
// everything of theirs; the seed's PSUs cannot be removed.
func testRuntimePSUs(t *testing.T, open Open) {
	ctx := context.Background()
	s := bankOf(t, open)
	fx, err := fixtures.Load()
	must(t, err)
	today := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	p := runtimePersona("zoe")
	must(t, p.Validate(today.Add(24*time.Hour), false))
	h, err := seed.Persona(fx, p, today)
	must(t, err)
	h.PasswordHash = "$argon2id$the-hash-of-zoe-pw" // kept as given
	before, err := s.PSUCount(ctx)
	must(t, err)
	must(t, s.AddHousehold(ctx, h, day0))
	got, err := s.PSU(ctx, "zoe")
	must(t, err)
	if got.PasswordHash != h.PasswordHash || len(got.Accounts) != 2 || got.Accounts[1].Currency != "USD" {
		t.Fatalf("the PSU added: %+v", got)
	}
	if ok, err := s.RuntimePSU(ctx, "zoe"); err != nil || !ok {
		t.Fatalf("RuntimePSU(zoe) = %v, %v", ok, err)
	}
	if problems, err := s.CheckLedgers(ctx, 5); err != nil || len(problems) > 0 {
		t.Fatalf("ledgers after the add: %v %v", problems, err)
	}
	usd := got.Accounts[1]
	led, err := s.Ledgers(ctx, []bank.Account{usd}, day0)
	must(t, err)
	if st := led[usd.Ref]; st.Booked != 25000 || st.PendingDebits != 1250 {
		t.Fatalf("the savings account: booked %d pending debits %d, want 25000 and 1250", st.Booked, st.PendingDebits)
	}
	page, err := s.Transactions(ctx, bank.TxQuery{Accounts: []bank.Account{usd}, Direction: bank.DirectionBoth, Limit: 10})
	must(t, err)
	if page.Total != 3 {
		t.Fatalf("%d entries on the savings account, want the 3 written", page.Total)
	}
	cur, err := s.Transactions(ctx, bank.TxQuery{Accounts: got.Accounts[:1], Direction: bank.DirectionBoth, Limit: 1})
	must(t, err)
	if cur.Total < 3 {
		t.Fatalf("%d entries on the current account, want three months of history", cur.Total)
	}

	// The same PSU again: refused, nothing changed.
	if err := s.AddHousehold(ctx, h, day0); !errors.Is(err, bank.ErrConflict) {
		t.Fatalf("adding zoe twice: %v, want ErrConflict", err)
	}
	other := runtimePersona("yan")
	other.Accounts[0].Number = got.Accounts[0].Number
	h2, err := seed.Persona(fx, other, today)
	must(t, err)
	if err := s.AddHousehold(ctx, h2, day0); !errors.Is(err, bank.ErrConflict) {
		t.Fatalf("an account number taken: %v, want ErrConflict", err)
	}
	if n, _ := s.PSUCount(ctx); n != before+1 {
		t.Fatalf("%d PSUs after two refused adds, want %d", n, before+1)
	}

	// It pays and is paid like a seeded PSU.
	ps := payers(t, s)
	zoe := store.PSU{Username: "zoe", Accounts: got.Accounts[:1]}
	pm, _, err := pay(ctx, s, "rt", zoe, ref(ps[0].Accounts[0]), 1000, bank.Idem{ClientID: "c1", Operation: "domestic-payments", Key: "rt", BodyHash: "h"}, day0)
	must(t, err)
	if pm.Status != bank.PaymentPending {
		t.Fatalf("zoe's payment: %+v", pm)
	}

	var refused *bank.Error
	if err := s.RemovePSU(ctx, "alice"); !errors.As(err, &refused) || refused.Kind != bank.KindConflict {
		t.Fatalf("removing alice, of the seed: %v, want KindConflict", err)
	}
	if err := s.RemovePSU(ctx, "nobody"); !errors.Is(err, bank.ErrNotFound) {
		t.Fatalf("removing an unknown PSU: %v, want ErrNotFound", err)
	}
	must(t, s.RemovePSU(ctx, "zoe"))
	if _, err := s.PSU(ctx, "zoe"); !errors.Is(err, bank.ErrNotFound) {
		t.Fatalf("zoe after removal: %v, want ErrNotFound", err)
	}
	if _, err := s.Payment(ctx, "dp-rt"); !errors.Is(err, bank.ErrNotFound) {
		t.Fatalf("zoe's payment after removal: %v, want ErrNotFound", err)
	}
	if n, _ := s.PSUCount(ctx); n != before {
		t.Fatalf("%d PSUs after the removal, want %d", n, before)
	}
	if _, err := s.CatchUp(ctx, at(day0.Add(time.Minute))); err != nil {
		t.Fatalf("the clock after the removal: %v", err)
	}
	if problems, err := s.CheckLedgers(ctx, 5); err != nil || len(problems) > 0 {
		t.Fatalf("ledgers after the removal: %v %v", problems, err)
	}
	// Added again, the same persona gives the same ids.
	must(t, s.AddHousehold(ctx, h, day0))
	again, err := s.PSU(ctx, "zoe")
	must(t, err)
	if again.Accounts[0].ID != got.Accounts[0].ID {
		t.Fatalf("AccountId %s after re-adding, want %s", again.Accounts[0].ID, got.Accounts[0].ID)
	}
}
