package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"path/filepath"
	"testing"

	"github.com/obsandbox/sandbox/fixtures"
	"github.com/obsandbox/sandbox/internal/app"
	"github.com/obsandbox/sandbox/internal/store"
	"github.com/obsandbox/sandbox/internal/store/storetest"
	"github.com/obsandbox/sandbox/internal/tpp"
	"github.com/obsandbox/sandbox/seed"
)

// TestCopiedBankIsTheSeededBank: the bank a sandbox starts with (a copy of
// the process's template on SQLite) and the bank a reset puts back, after
// payments and a clock jump changed it, are the bank the seed generates,
// byte for byte.
func TestCopiedBankIsTheSeededBank(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	digest := func(st *store.Store) [32]byte {
		t.Helper()
		var b bytes.Buffer
		if err := st.DumpBank(ctx, &b); err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(b.Bytes())
	}
	path := filepath.Join(t.TempDir(), "generated.db")
	if onPostgres() {
		path = storetest.FreshSchema(t)
	}
	direct, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	fx, err := fixtures.Load()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seed.Run(ctx, direct, fx, seed.Options{Seed: 42, PSUs: seed.DefaultPSUs, Date: seed.DefaultDate}); err != nil {
		t.Fatal(err)
	}
	want := digest(direct)

	s := start(t, realIssuer(), func(c *app.Config) { c.Seed, c.PSUs, c.SeedDate = 42, seed.DefaultPSUs, seed.DefaultDate })
	if digest(s.app.Store) != want {
		t.Fatal("the bank a new sandbox starts with differs from the generated one")
	}
	c := s.newTPP("private_key_jwt")
	if _, _, err := c.PaymentJourney(ctx, "alice", "alice123", tpp.DomesticInitiation("42.42", payee, "TEMPLATE"), nil); err != nil {
		t.Fatal(err)
	}
	s.advance("40d") // settles it, books card entries, pays standing orders
	if digest(s.app.Store) == want {
		t.Fatal("nothing changed the bank: the test proves nothing")
	}
	expect(t, s.admin("POST", "/sandbox/reset", nil), 204)
	if digest(s.app.Store) != want {
		t.Error("the bank after a reset differs from the generated one")
	}
}
