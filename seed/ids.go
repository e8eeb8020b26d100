package seed

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
)

// BankCode is the sandbox bank's four-letter code inside its IBANs, and BIC
// its business identifier code.
const (
	BankCode = "SBOX"
	BIC      = "SBOXGB2LXXX"
)

// uuid draws a version-4 UUID from r (deterministic for a seeded r).
func uuid(r *rand.Rand) string {
	a, b := r.Uint64(), r.Uint64()
	a = a&^(0xf<<12) | 4<<12
	b = b&^(3<<62) | 2<<62
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xffff, b>>48, b&0xffffffffffff)
}

// digits draws n decimal digits.
func digits(r *rand.Rand, n int) string {
	var sb strings.Builder
	for range n {
		sb.WriteByte(byte('0' + r.IntN(10)))
	}
	return sb.String()
}

// ukIBAN builds a valid GB IBAN (ISO 13616 mod-97 check digits) for the
// sandbox bank's sort code and account number.
func ukIBAN(sortCode, number string) string {
	bban := BankCode + sortCode + number
	return "GB" + ibanCheck("GB", bban) + bban
}

func ibanCheck(country, bban string) string {
	var sb strings.Builder
	for _, c := range bban + country + "00" {
		switch {
		case c >= '0' && c <= '9':
			sb.WriteRune(c)
		default:
			fmt.Fprintf(&sb, "%d", c-'A'+10)
		}
	}
	n, _ := new(big.Int).SetString(sb.String(), 10)
	m := new(big.Int).Mod(n, big.NewInt(97)).Int64()
	return fmt.Sprintf("%02d", 98-m)
}

// luhnPAN completes a card number prefix to 16 digits with a Luhn check digit.
func luhnPAN(r *rand.Rand, prefix string) string {
	s := prefix + digits(r, 15-len(prefix))
	sum := 0
	for i := len(s) - 1; i >= 0; i-- {
		d := int(s[i] - '0')
		if (len(s)-1-i)%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return s + string(byte('0'+(10-sum%10)%10))
}
