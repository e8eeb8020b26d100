package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/store"
)

// benchBank seeds the fixture personas plus a few generated PSUs (about
// 15,000 transactions) and returns the store with alice's current account.
// Index look-ups cost about the same on 1M rows (docs/PERFORMANCE.md has the
// curve measured end to end); `sandbox bench` measures the large bank.
func benchBank(b *testing.B) (*store.Store, bank.Account) {
	b.Helper()
	s, _ := seeded(b, 42, 10)
	accts, err := s.AccountsOfPSU(context.Background(), "alice")
	if err != nil {
		b.Fatal(err)
	}
	for _, a := range accts {
		if a.SubType == "CurrentAccount" {
			return s, a
		}
	}
	b.Fatal("alice has no current account")
	return nil, bank.Account{}
}

// BenchmarkTransactionsPage is the transactions query of a data read: a
// 50-row page of one account from a booking date, with the total count and
// the account's first and last booking times (what Meta needs).
func BenchmarkTransactionsPage(b *testing.B) {
	s, acct := benchBank(b)
	ctx := context.Background()
	q := bank.TxQuery{Accounts: []bank.Account{acct}, From: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), Direction: bank.DirectionBoth, Limit: 50}
	both(b, s, func() error {
		page, err := s.Transactions(ctx, q)
		if err == nil && len(page.Items) != 50 {
			err = fmt.Errorf("%d rows", len(page.Items))
		}
		return err
	})
}

// both measures f as it runs after a write ("query": what was remembered is
// stale, SQLite answers) and as it runs again before the next write
// ("remembered").
func both(b *testing.B, s *store.Store, f func() error) {
	b.Run("query", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			store.Forget(s)
			if err := f(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("remembered", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := f(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAccounts is the account look-up every data read starts with.
func BenchmarkAccounts(b *testing.B) {
	s, _ := benchBank(b)
	ctx := context.Background()
	accts, err := s.AccountsOfPSU(ctx, "alice")
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, len(accts))
	for i, a := range accts {
		ids[i] = a.ID
	}
	both(b, s, func() error {
		got, err := s.Accounts(ctx, "alice", ids)
		if err == nil && len(got) != len(ids) {
			err = fmt.Errorf("%d accounts", len(got))
		}
		return err
	})
}

// BenchmarkConsentLookup is the per-call database check of a token: the
// token record, its client's suspension and its consent, in one read
// transaction (store.AccessOf).
func BenchmarkConsentLookup(b *testing.B) {
	s, acct := benchBank(b)
	ctx := context.Background()
	now := time.Now()
	if err := s.CreateClient(ctx, store.Client{ID: "bench-client", Metadata: []byte("{}"), CreatedAt: now}); err != nil {
		b.Fatal(err)
	}
	c, err := bank.NewAccountAccessConsent("aac-bench", "bench-client", bank.AccountAccessRequest{Permissions: []string{"ReadAccountsDetail"}}, now)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.CreateConsent(ctx, c); err != nil {
		b.Fatal(err)
	}
	if _, err := s.UpdateConsent(ctx, c.ID, func(c *bank.Consent) error {
		c.Status, c.PSU, c.Accounts = bank.StatusAuthorised, "alice", []string{acct.ID}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	if err := s.SaveToken(ctx, store.Token{JTI: "jti-bench", Kind: "access", ClientID: "bench-client", ConsentID: c.ID, PSU: "alice",
		Scope: "accounts", GrantType: "authorization_code", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		b.Fatal(err)
	}
	both(b, s, func() error {
		a, err := s.AccessOf(ctx, "jti-bench")
		if err == nil && a.Consent == nil {
			err = fmt.Errorf("no consent")
		}
		return err
	})
}
