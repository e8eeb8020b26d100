package seed_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/obsandbox/sandbox/fixtures"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/store"
	"github.com/obsandbox/sandbox/seed"
)

var update = flag.Bool("update", false, "rewrite golden files")

func build(t testing.TB, opt seed.Options) (*store.Store, seed.Stats) {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, filepath.Join(t.TempDir(), "bank.db"), store.Options{Sync: store.SyncNormal})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	fx, err := fixtures.Load()
	if err != nil {
		t.Fatal(err)
	}
	st, err := seed.Run(ctx, s, fx, opt)
	if err != nil {
		t.Fatal(err)
	}
	return s, st
}

func dump(t *testing.T, s *store.Store) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := s.DumpBank(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestBalancesReconcile proves, for every account of the default bank, that
// balances reconcile with the transactions.
func TestBalancesReconcile(t *testing.T) {
	t.Parallel()
	s, st := build(t, seed.Options{Seed: 42, PSUs: seed.DefaultPSUs})
	if st.Transactions < 20000 {
		t.Fatalf("got %d transactions, want a realistic bank (> 20000)", st.Transactions)
	}
	problems, err := s.CheckLedgers(context.Background(), 20)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// TestSameSeedSameBank builds the default bank twice and compares canonical
// dumps, then checks the dump's hash against the golden one: the same seed
// gives byte-identical data on every machine.
func TestSameSeedSameBank(t *testing.T) {
	t.Parallel()
	a, _ := build(t, seed.Options{Seed: 42, PSUs: seed.DefaultPSUs})
	b, _ := build(t, seed.Options{Seed: 42, PSUs: seed.DefaultPSUs})
	da, db := dump(t, a), dump(t, b)
	if !bytes.Equal(da, db) {
		t.Fatal("two builds with seed 42 differ")
	}
	sum := sha256.Sum256(da)
	got := hex.EncodeToString(sum[:])
	golden := filepath.Join("testdata", "seed42.sha256")
	if *update {
		if err := os.WriteFile(golden, []byte(got+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./seed -update to create it)", err)
	}
	if got != strings.TrimSpace(string(want)) {
		t.Fatalf("bank hash %s, want %s: the generator's output changed (if on purpose, go test ./seed -update)", got, want)
	}
	c, _ := build(t, seed.Options{Seed: 43, PSUs: seed.DefaultPSUs})
	if bytes.Equal(dump(t, c), da) {
		t.Fatal("seeds 42 and 43 gave the same bank")
	}
}

// TestPersonas checks the hand-written PSUs the documentation promises.
func TestPersonas(t *testing.T) {
	t.Parallel()
	s, _ := build(t, seed.Options{Seed: 42})
	ctx := context.Background()
	accounts := func(psu string) []bank.Account {
		as, err := s.AccountsOfPSU(ctx, psu)
		if err != nil {
			t.Fatal(err)
		}
		return as
	}
	subtypes := func(as []bank.Account) string {
		var out []string
		for _, a := range as {
			out = append(out, a.Type+"/"+a.SubType+"/"+a.Currency)
		}
		return strings.Join(out, " ")
	}
	tests := []struct {
		psu  string
		want string
	}{
		{"alice", "Personal/CurrentAccount/GBP Personal/Savings/GBP Personal/CreditCard/GBP"},
		{"bob", "Personal/CurrentAccount/GBP"},
		{"carol", "Business/CurrentAccount/GBP Personal/CurrentAccount/GBP"},
		{"dave", "Personal/CurrentAccount/GBP Personal/CurrentAccount/EUR"},
		{"erik", "Personal/CurrentAccount/EUR Personal/Savings/EUR Personal/CurrentAccount/USD"},
	}
	for _, tt := range tests {
		if got := subtypes(accounts(tt.psu)); got != tt.want {
			t.Errorf("%s: accounts %q, want %q", tt.psu, got, tt.want)
		}
	}
	// Every account has a valid IBAN, none shared; erik's have no sort code.
	ibans := map[string]string{}
	for _, psu := range []string{"alice", "bob", "carol", "dave", "erik"} {
		for _, a := range accounts(psu) {
			if !bank.ValidIBAN(a.IBAN) || ibans[a.IBAN] != "" {
				t.Errorf("%s's %s: IBAN %q (also %q's)", psu, a.Nickname, a.IBAN, ibans[a.IBAN])
			}
			ibans[a.IBAN] = psu
			if psu == "erik" && a.SortCode != "" {
				t.Errorf("erik's %s has sort code %s, want an IBAN only", a.Nickname, a.SortCode)
			}
		}
	}
	now := seed.DefaultDate
	alice := accounts("alice")
	page, err := s.Transactions(ctx, bank.TxQuery{Accounts: alice[:1], Direction: bank.DirectionBoth, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if months := page.Last.Sub(page.First).Hours() / 24 / 30; months < 23 {
		t.Errorf("alice's current account history spans %.1f months, want two years", months)
	}
	bob := accounts("bob")
	led, err := s.Ledgers(ctx, bob, now)
	if err != nil {
		t.Fatal(err)
	}
	if avail := led[bob[0].Ref].Available(bob[0]); avail <= 0 || avail > 10000 {
		t.Errorf("bob's available balance %s, want a low positive balance (under 100.00)", bank.FormatMinor(avail))
	}
}

// BenchmarkSeed1M builds 1,000 generated PSUs with about 1,000,000
// transactions and reports transactions per second.
func BenchmarkSeed1M(b *testing.B) {
	for range b.N {
		_, st := build(b, seed.Options{Seed: 42, PSUs: 1000})
		b.ReportMetric(st.RowsPerSecond(), "tx/s")
		b.ReportMetric(float64(st.Transactions), "transactions")
		b.ReportMetric(st.Elapsed.Seconds(), "s/bank")
	}
}
