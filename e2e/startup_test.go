package e2e

import (
	"context"
	"io"
	"path/filepath"
	"testing"

	"github.com/obsandbox/sandbox/internal/app"
	"github.com/obsandbox/sandbox/internal/bank"
)

// TestRestartKeepsData starts twice on one file: the second start reuses the
// bank (and what was written to it); --reset re-seeds it.
func TestRestartKeepsData(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "keep.db")
	run := func(reset bool) (*app.App, func()) {
		cfg := app.Defaults()
		cfg.Addr, cfg.DB, cfg.KeyBits, cfg.Reset, cfg.Issuer = "127.0.0.1:0", db, 1024, reset, testIssuer
		ctx, cancel := context.WithCancel(context.Background())
		a, err := app.New(ctx, cfg, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error)
		go func() { done <- a.Serve(ctx) }()
		return a, func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}
	a, stop := run(false)
	if a.Seeded == nil {
		t.Fatal("first start did not seed")
	}
	c, err := bank.NewAccountAccessConsent("aac-restart", "c1", bank.AccountAccessRequest{Permissions: []string{"ReadAccountsBasic"}}, a.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Store.CreateConsent(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	stop()

	b, stop := run(false)
	if b.Seeded != nil {
		t.Error("second start seeded again")
	}
	if _, err := b.Store.Consent(context.Background(), "aac-restart"); err != nil {
		t.Errorf("a consent written before shutdown is gone: %v", err)
	}
	stop()

	r, stop := run(true)
	if r.Seeded == nil {
		t.Error("--reset did not re-seed")
	}
	stop()
}

// TestMemoryDatabase serves a throw-away bank with --db :memory:.
func TestMemoryDatabase(t *testing.T) {
	t.Parallel()
	s := start(t, func(c *app.Config) { c.DB = ":memory:" })
	expect(t, s.get("/healthz", ""), 200)
	if len(s.accountsOf("alice")) != 3 {
		t.Error("the in-memory bank has no alice")
	}
}

// TestFinancialIDTolerated: x-fapi-financial-id was removed from the R/W
// specs in v3.1.2 but older clients still send it; it is accepted and ignored.
func TestFinancialIDTolerated(t *testing.T) {
	t.Parallel()
	s := start(t)
	tok, _ := s.directGrant("alice", bank.AccountAccessRequest{Permissions: []string{"ReadAccountsBasic"}}, s.accountsOf("alice"))
	r := s.do(req{method: "GET", path: ais + "/accounts", token: tok, header: map[string]string{"x-fapi-financial-id": "0015800001041RHAAY"}})
	expect(t, r, 200)
}
