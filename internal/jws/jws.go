// Package jws signs and verifies UK Open Banking message signatures: the
// detached JWS of an HTTP body carried in x-jws-signature (UK OB R/W
// profile, "Message Signing"; RFC 7515 Appendix F). Since v3.1.4 the payload
// is base64url-encoded in the signing input (no b64=false), the algorithm is
// PS256, and the protected header carries kid and the three private claims
// http://openbanking.org.uk/{iat,iss,tan}, all three listed in crit.
package jws

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/obsandbox/sandbox/internal/bank"
)

// The private header claims of an OB message signature.
const (
	ClaimIAT = "http://openbanking.org.uk/iat"
	ClaimISS = "http://openbanking.org.uk/iss"
	ClaimTAN = "http://openbanking.org.uk/tan"
	// TAN is the trust anchor the sandbox's signatures name and accepts.
	TAN = "openbanking.org.uk"
)

var crit = []string{ClaimIAT, ClaimISS, ClaimTAN}

// Sign returns the detached JWS of body (header..signature).
func Sign(body []byte, kid, iss string, key *rsa.PrivateKey, now time.Time) (string, error) {
	h, err := json.Marshal(map[string]any{"alg": "PS256", "kid": kid, "typ": "JOSE", "cty": "application/json",
		ClaimIAT: now.Unix(), ClaimISS: iss, ClaimTAN: TAN, "crit": crit})
	if err != nil {
		return "", err
	}
	head := base64.RawURLEncoding.EncodeToString(h)
	sig, err := jwt.SigningMethodPS256.Sign(head+"."+base64.RawURLEncoding.EncodeToString(body), key)
	if err != nil {
		return "", err
	}
	return head + ".." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// Expect is what a verified signature must show.
type Expect struct {
	// Issuers are the acceptable http://openbanking.org.uk/iss values.
	Issuers []string
	// Key resolves a kid to the signer's registered public key.
	Key func(kid string) (any, bool)
	Now time.Time
}

func sigErr(kind bank.Kind, format string, args ...any) error {
	return bank.Errorf(kind, "x-jws-signature", format, args...)
}

// Verify checks a detached x-jws-signature over body and says which rule
// failed with the UK.OBIE.Signature.* kinds: Malformed (not a detached JWS,
// bad header), MissingClaim / InvalidClaim (crit and the OB claims),
// Unexpected (b64=false, other algorithms), Invalid (kid unknown or the
// signature does not verify).
func Verify(sig string, body []byte, e Expect) error {
	parts := strings.Split(sig, ".")
	if len(parts) != 3 || parts[1] != "" || parts[0] == "" {
		return sigErr(bank.KindSignatureMalformed, "x-jws-signature must be a detached JWS (header..signature)")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return sigErr(bank.KindSignatureMalformed, "the JWS header is not base64url")
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil {
		return sigErr(bank.KindSignatureMalformed, "the JWS header is not JSON")
	}
	if alg, _ := h["alg"].(string); alg != "PS256" {
		return sigErr(bank.KindSignatureUnexpected, "alg must be PS256, not %q", alg)
	}
	if parts[2] == "" {
		return sigErr(bank.KindSignatureMalformed, "the JWS has no signature")
	}
	if b64, ok := h["b64"]; ok && b64 != true {
		return sigErr(bank.KindSignatureUnexpected, "b64=false is not used since v3.1.4")
	}
	kid, _ := h["kid"].(string)
	if kid == "" {
		return sigErr(bank.KindSignatureMissingClaim, "kid is required")
	}
	for _, c := range crit {
		if _, ok := h[c]; !ok {
			return sigErr(bank.KindSignatureMissingClaim, "the header has no %s", c)
		}
	}
	list, _ := h["crit"].([]any)
	var got []string
	for _, v := range list {
		if s, ok := v.(string); ok {
			got = append(got, s)
		}
	}
	if len(got) != len(list) || len(got) != len(crit) || !containsAll(got, crit) {
		return sigErr(bank.KindSignatureInvalidClaim, "crit must list exactly %s, %s and %s", ClaimIAT, ClaimISS, ClaimTAN)
	}
	iat, ok := h[ClaimIAT].(float64)
	if !ok || time.Unix(int64(iat), 0).After(e.Now.Add(30*time.Second)) {
		return sigErr(bank.KindSignatureInvalidClaim, "%s must be a NumericDate in the past", ClaimIAT)
	}
	if iss, _ := h[ClaimISS].(string); !slices.Contains(e.Issuers, iss) {
		return sigErr(bank.KindSignatureInvalidClaim, "%s %q does not name this client", ClaimISS, iss)
	}
	if tan, _ := h[ClaimTAN].(string); tan != TAN {
		return sigErr(bank.KindSignatureInvalidClaim, "%s must be %s", ClaimTAN, TAN)
	}
	key, ok := e.Key(kid)
	if !ok {
		return sigErr(bank.KindSignatureInvalid, "kid %q is not a key the client registered", kid)
	}
	sb, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return sigErr(bank.KindSignatureMalformed, "the signature is not base64url")
	}
	if err := jwt.SigningMethodPS256.Verify(parts[0]+"."+base64.RawURLEncoding.EncodeToString(body), sb, key); err != nil {
		return sigErr(bank.KindSignatureInvalid, "the signature does not match the body")
	}
	return nil
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}
