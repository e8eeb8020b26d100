package store_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/store"
)

// Remembered transaction pages: queries that select different rows never
// share an entry, whatever order they come in. Each answer from a memo
// filled by all the others must equal a fresh read.
func TestRememberedPagesAreTheirQuerys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, accts := aliceBank(t)
	// A date that is set but lies in the zero time's second (what
	// toBookingDateTime=0001-01-01T00:00:00.5 parses to).
	year1 := time.Date(1, 1, 1, 0, 0, 0, 5e8, time.UTC)
	mid := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	one := []bank.Account{accts[0]}
	cases := []struct {
		name string
		q    bank.TxQuery
	}{
		{"unbounded", bank.TxQuery{Accounts: one, Direction: bank.DirectionBoth, Limit: 50}},
		{"to year 1", bank.TxQuery{Accounts: one, To: year1, Direction: bank.DirectionBoth, Limit: 50}},
		{"from year 1", bank.TxQuery{Accounts: one, From: year1, Direction: bank.DirectionBoth, Limit: 50}},
		{"from mid", bank.TxQuery{Accounts: one, From: mid, Direction: bank.DirectionBoth, Limit: 50}},
		{"to mid", bank.TxQuery{Accounts: one, To: mid, Direction: bank.DirectionBoth, Limit: 50}},
		{"credits", bank.TxQuery{Accounts: one, Direction: bank.DirectionCredits, Limit: 50}},
		{"debits", bank.TxQuery{Accounts: one, Direction: bank.DirectionDebits, Limit: 50}},
		{"none", bank.TxQuery{Accounts: one, Direction: bank.DirectionNone, Limit: 50}},
		{"booked only", bank.TxQuery{Accounts: one, Direction: bank.DirectionBoth, BookedOnly: true, Limit: 50}},
		{"page 2", bank.TxQuery{Accounts: one, Direction: bank.DirectionBoth, Offset: 50, Limit: 50}},
		{"other account", bank.TxQuery{Accounts: accts[1:2], Direction: bank.DirectionBoth, Limit: 50}},
		{"both accounts", bank.TxQuery{Accounts: accts[:2], Direction: bank.DirectionBoth, Limit: 50}},
	}
	summary := func(p bank.TxPage) [3]any {
		first := ""
		if len(p.Items) > 0 {
			first = p.Items[0].ID
		}
		return [3]any{len(p.Items), p.Total, first}
	}
	fresh := map[string][3]any{}
	for _, c := range cases {
		store.Forget(s)
		p, err := s.Transactions(ctx, c.q)
		if err != nil {
			t.Fatal(err)
		}
		fresh[c.name] = summary(p)
	}
	if fresh["unbounded"] == fresh["to year 1"] {
		t.Fatalf("the cases do not tell the pages apart: %v", fresh["unbounded"])
	}
	for _, order := range [][]int{{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0}, {1, 0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}} {
		store.Forget(s)
		for _, i := range order {
			c := cases[i]
			p, err := s.Transactions(ctx, c.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := summary(p); got != fresh[c.name] {
				t.Errorf("%s after %v: remembered (items, total, first) %v, fresh %v", c.name, order, got, fresh[c.name])
			}
		}
	}
}

// Revocation takes effect at once (SPEC §4.2): once RevokeToken returns,
// AccessOf reports the token revoked, although readers kept remembering it
// the whole time the revocation was being written.
func TestRevokedTokenIsNeverRemembered(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := seeded(t, 42, 0)
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	if err := s.CreateClient(ctx, store.Client{ID: "c1", Metadata: []byte("{}"), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		jti := fmt.Sprintf("jti-%d", i)
		if err := s.SaveToken(ctx, store.Token{JTI: jti, Kind: "access", ClientID: "c1", IssuedAt: now}); err != nil {
			t.Fatal(err)
		}
		var stop atomic.Bool
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				for !stop.Load() {
					s.AccessOf(ctx, jti)
				}
			})
		}
		if err := s.RevokeToken(ctx, jti, now); err != nil {
			t.Fatal(err)
		}
		a, err := s.AccessOf(ctx, jti)
		stop.Store(true)
		wg.Wait()
		if err != nil || a.Token.RevokedAt.IsZero() {
			t.Fatalf("round %d: the token reads as not revoked after RevokeToken returned (err %v)", i, err)
		}
	}
}

// What a write made stale is let go at the next read, not kept until the
// memo fills: under a stream of writes it was megabytes kept live for
// nothing.
func TestStaleEntriesLetGo(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, accts := aliceBank(t)
	page := func(a bank.Account) {
		t.Helper()
		if _, err := s.Transactions(ctx, bank.TxQuery{Accounts: []bank.Account{a}, Direction: bank.DirectionBoth, Limit: 50}); err != nil {
			t.Fatal(err)
		}
	}
	page(accts[0])
	page(accts[1])
	if n := store.Remembered(s); n < 2 {
		t.Fatalf("%d entries remembered after two reads", n)
	}
	store.Forget(s) // a write
	page(accts[0])
	if n := store.Remembered(s); n != 1 {
		t.Errorf("%d entries remembered after a write and one read, want 1", n)
	}
}

// aliceBank is a seeded store and alice's accounts (at least two).
func aliceBank(t *testing.T) (*store.Store, []bank.Account) {
	t.Helper()
	s, _ := seeded(t, 42, 2)
	accts, err := s.AccountsOfPSU(context.Background(), "alice")
	if err != nil || len(accts) < 2 {
		t.Fatalf("alice: %d accounts, %v", len(accts), err)
	}
	return s, accts
}
