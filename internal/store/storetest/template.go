package storetest

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/fixtures"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/store"
	"github.com/obsandbox/sandbox/seed"
)

// Template is a bank template file (SealTemplate) of the suite's bank, in
// the test's temporary directory.
func Template(tb testing.TB) string {
	tb.Helper()
	return TemplateAt(tb, filepath.Join(tb.TempDir(), "template.db"), suiteBank)
}

// TemplateAt makes a bank template file at path of the bank o generates.
func TemplateAt(tb testing.TB, path string, o seed.Options) string {
	tb.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, path, store.Options{Sync: store.SyncNormal})
	if err != nil {
		tb.Fatal(err)
	}
	fx, err := fixtures.Load()
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := seed.Run(ctx, s, fx, o); err != nil {
		tb.Fatal(err)
	}
	if err := s.SealTemplate(ctx); err != nil {
		tb.Fatal(err)
	}
	return path
}

// Dump is s's bank as DumpBank writes it.
func Dump(tb testing.TB, s *store.Store) string {
	tb.Helper()
	var b bytes.Buffer
	if err := s.DumpBank(context.Background(), &b); err != nil {
		tb.Fatal(err)
	}
	return b.String()
}

// testResetToTemplate: a bank copied from a template, then changed — a
// payment posted and settled, a PSU added at run time — is the template's
// bank again after each ResetTo, byte for byte, round after round; so is
// one reset with nothing changed, and one seeded rather than copied.
func testResetToTemplate(t *testing.T, open Open) {
	ctx := context.Background()
	tpl := Template(t)
	s := opened(t, open)
	must(t, s.CopyBank(ctx, tpl))
	want := Dump(t, s)
	fx, err := fixtures.Load()
	must(t, err)
	reset := func(what string) {
		t.Helper()
		must(t, s.ResetTo(ctx, tpl, map[string]string{"clock_offset": "0s"}))
		if got := Dump(t, s); got != want {
			t.Fatalf("%s: the bank after ResetTo differs from the template's (%d bytes against %d)", what, len(got), len(want))
		}
	}
	for round := range 3 {
		ps := payers(t, s)
		_, _, err := pay(ctx, s, "r", ps[0], ref(ps[1].Accounts[0]), 1234, bank.Idem{ClientID: "c1", Operation: "domestic-payments", Key: "r", BodyHash: "h"}, day0)
		must(t, err)
		if _, err := s.CatchUp(ctx, at(day0.Add(time.Minute))); err != nil {
			t.Fatal(err)
		}
		h, err := seed.Persona(fx, runtimePersona("zoe"), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
		must(t, err)
		must(t, s.AddHousehold(ctx, h, day0))
		if Dump(t, s) == want {
			t.Fatal("nothing changed the bank: the test proves nothing")
		}
		reset("round " + string(rune('1'+round)))
	}
	reset("nothing changed")
	_, err = seed.Run(ctx, s, fx, suiteBank)
	must(t, err)
	reset("seeded in place")
}
