package bank

import (
	"fmt"
	"strconv"
	"strings"
)

// Exponent is the number of minor-unit digits the sandbox keeps for every
// currency it holds accounts in (GBP, EUR, USD). Amounts are stored as integer
// minor units so that ledgers reconcile to the penny.
const Exponent = 2

// FormatMinor renders minor units as the standard's unsigned decimal string
// (OBActiveCurrencyAndAmount_SimpleType): 12345 -> "123.45". The sign is
// carried separately by a CreditDebitIndicator.
func FormatMinor(minor int64) string {
	if minor < 0 {
		minor = -minor
	}
	var b [24]byte
	s := strconv.AppendInt(b[:0], minor/100, 10)
	s = append(s, '.')
	c := minor % 100
	s = append(s, byte('0'+c/10), byte('0'+c%10))
	return string(s)
}

// ParseMinor parses an unsigned decimal amount ("10", "10.5", "10.50") into
// minor units. It refuses signs, exponents and more than Exponent decimals:
// a payment of 10.005 GBP cannot be settled.
func ParseMinor(s string) (int64, error) {
	whole, frac, dot := strings.Cut(s, ".")
	if dot && len(frac) > Exponent {
		// The schema allows five decimals: 10.100 is 10.10, 10.105 is refused.
		frac = strings.TrimRight(frac, "0")
		if len(frac) < Exponent {
			frac += strings.Repeat("0", Exponent-len(frac))
		}
	}
	if whole == "" || len(whole) > 13 || (dot && (frac == "" || len(frac) > Exponent)) {
		return 0, fmt.Errorf("amount %q: want up to 13 digits and at most %d decimals", s, Exponent)
	}
	var v int64
	for _, r := range whole {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("amount %q: not a decimal number", s)
		}
		v = v*10 + int64(r-'0')
	}
	for i := 0; i < Exponent; i++ {
		v *= 10
		if i < len(frac) {
			r := frac[i]
			if r < '0' || r > '9' {
				return 0, fmt.Errorf("amount %q: not a decimal number", s)
			}
			v += int64(r - '0')
		}
	}
	return v, nil
}
