package bank

import (
	"testing"
	"time"
)

// TestFXRates: the same seed and clock give the same rates; the rate holds
// for the hour and moves with the clock, within 1.5% of the base; another
// seed draws other movements.
func TestFXRates(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 5, 10, 15, 0, 0, time.UTC)
	a, b := NewFX(42), NewFX(42)
	if x, y := a.Rate("GBP", "EUR", at), b.Rate("GBP", "EUR", at); x != y {
		t.Fatalf("same seed, same clock: %d and %d", x, y)
	}
	if x, y := a.Rate("GBP", "EUR", at), a.Rate("GBP", "EUR", at.Add(44*time.Minute)); x != y {
		t.Errorf("the rate changed within the hour: %d then %d", x, y)
	}
	moved, other := 0, 0
	for h := range 24 {
		t1 := at.Add(time.Duration(h) * time.Hour)
		r := a.Rate("GBP", "USD", t1)
		if off := r - 1_270_000; off > 19_050 || off < -19_050 {
			t.Errorf("hour %d: GBP/USD %s is more than 1.5%% from 1.27", h, FormatRate(r))
		}
		if r != a.Rate("GBP", "USD", t1.Add(time.Hour)) {
			moved++
		}
		if r != NewFX(7).Rate("GBP", "USD", t1) {
			other++
		}
	}
	if moved < 20 || other < 20 {
		t.Errorf("the rate moved in %d of 24 hours and differs from another seed's in %d; want most", moved, other)
	}
	if got := a.NextChange(at); !got.Equal(time.Date(2026, 12, 5, 11, 0, 0, 0, time.UTC)) {
		t.Errorf("NextChange %s", got)
	}
}

func TestQuoteConvert(t *testing.T) {
	t.Parallel()
	q := Quote{Unit: "GBP", Other: "EUR", Rate: 1_163_452}
	for _, tc := range []struct {
		amount   int64
		from, to string
		want     int64
	}{
		{10000, "GBP", "EUR", 11635}, // 116.3452 rounds to 116.35
		{11635, "EUR", "GBP", 10000},
		{1, "EUR", "GBP", 1}, // 0.0086 rounds up to a penny
		{500, "GBP", "GBP", 500},
	} {
		if got, err := q.Convert(tc.amount, tc.from, tc.to); err != nil || got != tc.want {
			t.Errorf("Convert(%d %s->%s) = %d, %v; want %d", tc.amount, tc.from, tc.to, got, err, tc.want)
		}
	}
	if _, err := q.Convert(100, "USD", "GBP"); err == nil {
		t.Error("a GBP/EUR rate converted USD")
	}
	for s, want := range map[string]int64{"1.163452": 1_163_452, "1.2": 1_200_000, "0.85000": 850_000, "2": 2_000_000} {
		if got, err := ParseRate(s); err != nil || got != want {
			t.Errorf("ParseRate(%s) = %d, %v", s, got, err)
		}
		if got := FormatRate(want); got != s && s != "0.85000" {
			t.Errorf("FormatRate(%d) = %s", want, got)
		}
	}
	for _, bad := range []string{"0", "-1.2", "1.1234567", "1e3", ""} {
		if _, err := ParseRate(bad); err == nil {
			t.Errorf("ParseRate(%q) accepted", bad)
		}
	}
}

// TestAgreedRate: a contract rate near the market is honoured, one far
// from it is refused; the pair must be known.
func TestAgreedRate(t *testing.T) {
	t.Parallel()
	f, now := NewFX(42), time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	market := f.Rate("GBP", "EUR", now)
	mk := func(rate int64) *Initiation {
		return &Initiation{Amount: 1000, Currency: "EUR", CurrencyOfTransfer: "EUR",
			FX: &Quote{Unit: "GBP", Type: RateAgreed, Rate: rate, Contract: "C1"}}
	}
	if _, err := f.quoteConsent(mk(market*103/100), now); err != nil {
		t.Errorf("3%% off the market refused: %v", err)
	}
	if _, err := f.quoteConsent(mk(market*110/100), now); KindOf(err) != KindFieldInvalid {
		t.Errorf("10%% off the market: %v, want field.invalid", err)
	}
	in := mk(market)
	in.FX.Unit = "EUR" // EUR to EUR: the debtor's currency is unknown
	if _, err := f.quoteConsent(in, now); KindOf(err) != KindFieldInvalid {
		t.Errorf("an agreed rate without its pair: %v", err)
	}
}
