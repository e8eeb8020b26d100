package bank

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestParsePermissions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		perms []string
		ok    bool
	}{
		{"OK", []string{"ReadAccountsBasic"}, true},
		{"OKDetailWithBasic", []string{"ReadAccountsBasic", "ReadAccountsDetail"}, true},
		{"OKTransactions", []string{"ReadAccountsDetail", "ReadTransactionsBasic", "ReadTransactionsDebits"}, true},
		{"ErrEmpty", nil, false},
		{"ErrUnknown", []string{"ReadAccountsBasic", "ReadMinds"}, false},
		{"ErrNoAccounts", []string{"ReadBalances"}, false},
		{"ErrLevelWithoutDirection", []string{"ReadAccountsBasic", "ReadTransactionsDetail"}, false},
		{"ErrDirectionWithoutLevel", []string{"ReadAccountsBasic", "ReadTransactionsCredits"}, false},
		{"ErrDuplicate", []string{"ReadAccountsBasic", "ReadAccountsBasic"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParsePermissions(tt.perms)
			if (err == nil) != tt.ok {
				t.Fatalf("got %v, want ok=%v", err, tt.ok)
			}
			if err != nil && KindOf(err) != KindFieldInvalid {
				t.Errorf("kind %v, want KindFieldInvalid", KindOf(err))
			}
			if err == nil && len(s.Names()) != len(tt.perms) && tt.name != "OKDetailWithBasic" {
				t.Errorf("names %v, want %v", s.Names(), tt.perms)
			}
		})
	}
	for p := ReadAccountsBasic; p < permissionEnd; p <<= 1 {
		if q, ok := ParsePermission(p.String()); !ok || q != p {
			t.Errorf("%v does not round-trip", p)
		}
	}
}

func TestMoney(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"10", 1000, true}, {"10.5", 1050, true}, {"10.05", 1005, true}, {"0.01", 1, true},
		{"10.005", 0, false}, {"10.100", 1010, true}, {"5.00000", 500, true}, {"-1", 0, false}, {"1e3", 0, false}, {"", 0, false}, {".5", 0, false},
		{"12345678901234", 0, false}, {"1.", 0, false},
	} {
		got, err := ParseMinor(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseMinor(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	for _, tt := range []struct {
		in   int64
		want string
	}{{0, "0.00"}, {1, "0.01"}, {-1234, "12.34"}, {100000, "1000.00"}} {
		if got := FormatMinor(tt.in); got != tt.want {
			t.Errorf("FormatMinor(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestGrantWindow(t *testing.T) {
	t.Parallel()
	d := func(s string) time.Time { t, _ := time.Parse("2006-01-02", s); return t }
	g := Grant{TxFrom: d("2026-03-01"), TxTo: d("2026-03-31")}
	from, to, ok := g.Window(d("2026-01-01"), time.Time{})
	if !ok || !from.Equal(g.TxFrom) || !to.Equal(g.TxTo) {
		t.Errorf("got %v..%v %v, want the consent window", from, to, ok)
	}
	if _, _, ok := g.Window(d("2026-05-01"), d("2026-06-01")); ok {
		t.Error("a range after the window leaves something")
	}
}

func TestBalances(t *testing.T) {
	t.Parallel()
	a := Account{ID: "a", Currency: "GBP", CreditLimit: 50000}
	bs := Balances(a, LedgerState{Booked: 10000, PendingDebits: 2500, PendingCredits: 1000, ClosingBooked: 9000}, time.Now())
	want := map[string]int64{"InterimAvailable": 57500, "InterimBooked": 10000, "Expected": 8500, "ClosingBooked": 9000}
	for _, b := range bs {
		if b.Amount != want[b.Type] {
			t.Errorf("%s = %d, want %d", b.Type, b.Amount, want[b.Type])
		}
	}
}

// catchUpFails is a store whose catch-up fails.
type catchUpFails struct{ Store }

func (catchUpFails) CatchUp(context.Context, func() time.Time) (int, error) {
	return 0, errors.New("database is locked")
}

// TestReadAfterFailedCatchUp: a read catches up settlement first; when the
// catch-up fails it reads as of the last one rather than failing (the
// background loop tries again), unless the read itself was given up.
func TestReadAfterFailedCatchUp(t *testing.T) {
	t.Parallel()
	b := &Bank{store: catchUpFails{}, now: func() time.Time { return time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC) }}
	if err := b.settled(context.Background()); err != nil {
		t.Errorf("a failed catch-up failed the read: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.settled(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("a read given up: %v, want context.Canceled", err)
	}
}
