package bank

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// Foreign exchange. The bank quotes every pair of the currencies it holds
// accounts in from one mid rate per currency against GBP. The rates move
// with the sandbox clock: each hour of sandbox time a currency's rate is
// its base rate moved by up to ±1.5%, drawn from the seed and the hour, so
// the same seed and clock give the same rates on every machine and a clock
// advanced by an hour shows a new rate.
//
// Rates are fixed-point numbers with RateDecimals decimals (1.163452 is
// 1163452), as the standard's ExchangeRate states "1 UnitCurrency = rate
// other currency" (OBWriteInternational3, ExchangeRateInformation).

// RateDecimals is the number of decimals of the bank's rates.
const RateDecimals = 6

const rateScale = 1_000_000

// BaseRatesPerGBP are the mid rates the clock moves around: how much of a
// currency one pound buys (the seed's transfers between currencies use
// them too).
var BaseRatesPerGBP = map[string]int64{"GBP": 1_000_000, "EUR": 1_160_000, "USD": 1_270_000}

// Rate types of ExchangeRateInformation.
const (
	RateActual     = "Actual"
	RateAgreed     = "Agreed"
	RateIndicative = "Indicative"
)

// FX terms of the bank.
const (
	// RateHour is how long a rate holds: it changes on the hour.
	RateHour = time.Hour
	// IndicativeLifetime is how long an indicative quote holds: a consent
	// quoted so expires then (its CutOffDateTime).
	IndicativeLifetime = 30 * time.Minute
	// AgreedTolerance is how far (in parts per million) a contract rate
	// may be from the bank's mid rate at the consent: the sandbox honours
	// any contract near the market, and refuses one that is not.
	AgreedTolerance = 50_000 // 5%
	// InternationalFee is the bank's charge for an international payment,
	// in minor units of the instructed currency (UK.OBIE.CHAPSOut).
	InternationalFee = 250
	ChargeType       = "UK.OBIE.CHAPSOut"
)

// ChargeBearer values (OBChargeBearerType1Code).
const (
	BorneByCreditor       = "BorneByCreditor"
	BorneByDebtor         = "BorneByDebtor"
	FollowingServiceLevel = "FollowingServiceLevel"
	Shared                = "Shared"
)

// FX is the bank's rate table for a seed.
type FX struct{ seed uint64 }

// NewFX is the rate table of a seed.
func NewFX(seed uint64) FX { return FX{seed: seed} }

// Supported reports whether the bank quotes and holds a currency.
func (FX) Supported(cur string) bool { _, ok := BaseRatesPerGBP[cur]; return ok }

// perGBP is a currency's rate against GBP in the hour of at.
func (f FX) perGBP(cur string, at time.Time) int64 {
	base := BaseRatesPerGBP[cur]
	if cur == "GBP" || base == 0 {
		return base
	}
	hour := at.Unix() / int64(RateHour/time.Second)
	if at.Unix() < 0 && at.Unix()%int64(RateHour/time.Second) != 0 {
		hour--
	}
	var b [8 + 8 + 3]byte
	binary.BigEndian.PutUint64(b[:8], f.seed)
	binary.BigEndian.PutUint64(b[8:16], uint64(hour))
	copy(b[16:], cur)
	sum := sha256.Sum256(b[:])
	drift := int64(binary.BigEndian.Uint64(sum[:8])%30_001) - 15_000 // -15000..15000 ppm
	return base + base*drift/rateScale
}

// Rate is how much of other one unit buys in the hour of at (fixed point).
func (f FX) Rate(unit, other string, at time.Time) int64 {
	if unit == other {
		return rateScale
	}
	u, o := f.perGBP(unit, at), f.perGBP(other, at)
	return divRound(big.NewInt(o*rateScale), big.NewInt(u))
}

// NextChange is when the rate in force at at changes.
func (FX) NextChange(at time.Time) time.Time { return at.Truncate(RateHour).Add(RateHour) }

// Quote is an exchange rate the bank applies or shows: 1 Unit = Rate Other.
type Quote struct {
	Unit     string    `json:"unit"`
	Other    string    `json:"other"`
	Rate     int64     `json:"rate"` // fixed point, RateDecimals
	Type     string    `json:"type"` // RateActual | RateAgreed | RateIndicative
	Contract string    `json:"contract,omitempty"`
	Expires  time.Time `json:"expires,omitzero"`
}

// Convert changes an amount (minor units) between the quote's two
// currencies, rounding half up to the minor unit.
func (q Quote) Convert(amount int64, from, to string) (int64, error) {
	switch {
	case from == to:
		return amount, nil
	case from == q.Unit && to == q.Other:
		return divRound(new(big.Int).Mul(big.NewInt(amount), big.NewInt(q.Rate)), big.NewInt(rateScale)), nil
	case from == q.Other && to == q.Unit:
		return divRound(new(big.Int).Mul(big.NewInt(amount), big.NewInt(rateScale)), big.NewInt(q.Rate)), nil
	}
	return 0, fmt.Errorf("the rate %s/%s does not convert %s to %s", q.Unit, q.Other, from, to)
}

// divRound is a/b rounded half up (a, b > 0).
func divRound(a, b *big.Int) int64 {
	q, r := new(big.Int).QuoRem(a, b, new(big.Int))
	if new(big.Int).Mul(r, big.NewInt(2)).Cmp(b) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	return q.Int64()
}

// FormatRate renders a fixed-point rate as a JSON number: 1.1634 for
// 1163400.
func FormatRate(r int64) string {
	s := strconv.FormatInt(r/rateScale, 10) + "." + fmt.Sprintf("%06d", r%rateScale)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// ParseRate reads a rate a TPP sent (a JSON number): positive, at most
// RateDecimals decimals that are not zero.
func ParseRate(s string) (int64, error) {
	whole, frac, _ := strings.Cut(s, ".")
	frac = strings.TrimRight(frac, "0")
	if whole == "" || len(whole) > 9 || len(frac) > RateDecimals || strings.Trim(whole+frac, "0123456789") != "" {
		return 0, fmt.Errorf("rate %q: want a positive decimal with at most %d decimals", s, RateDecimals)
	}
	v, _ := strconv.ParseInt(whole+frac+strings.Repeat("0", RateDecimals-len(frac)), 10, 64)
	if v <= 0 {
		return 0, fmt.Errorf("rate %q must be positive", s)
	}
	return v, nil
}
