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
	"github.com/obsandbox/sandbox/internal/jsonshape"
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

// claimErr is a refusal about one header parameter: the standard's error
// names it in Path (OB_Internal_Codeset U016, U017).
func claimErr(kind bank.Kind, claim, format string, args ...any) error {
	return bank.Errorf(kind, claim, format, args...)
}

// Verify checks a detached x-jws-signature over body and says which rule
// failed with the UK.OBIE.Signature.* kinds as the codeset defines them
// (OB_Internal_Codeset U015-U018): Malformed, not a detached JWS with a JSON
// header; MissingClaim, a mandatory header parameter absent (alg, kid, crit
// or an OB claim; Path names it); InvalidClaim, one with a value the
// profile does not allow (alg other than PS256, b64 other than true, crit
// not exactly the OB claims, iat, iss, tan, a kid that resolves to no
// registered key; Path names it); Invalid, a header that complies but a
// signature that does not verify. Signature.Unexpected and
// Signature.Missing are for the caller, which knows whether a signature
// was expected.
func Verify(sig string, body []byte, e Expect) error {
	parts := strings.Split(sig, ".")
	if len(parts) != 3 || parts[1] != "" || parts[0] == "" {
		return sigErr(bank.KindSignatureMalformed, "x-jws-signature must be a detached JWS (header..signature)")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return sigErr(bank.KindSignatureMalformed, "the JWS header is not base64url")
	}
	if err := jsonshape.Check(raw, jsonshape.Limits{}); err != nil {
		return sigErr(bank.KindSignatureMalformed, "the JWS header is refused: %v", err)
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil {
		return sigErr(bank.KindSignatureMalformed, "the JWS header is not a JSON object")
	}
	if _, ok := h["alg"]; !ok {
		return claimErr(bank.KindSignatureMissingClaim, "alg", "the JWS header has no alg")
	}
	if alg, _ := h["alg"].(string); alg != "PS256" {
		return claimErr(bank.KindSignatureInvalidClaim, "alg", "alg must be PS256, not %v", h["alg"])
	}
	if parts[2] == "" {
		return sigErr(bank.KindSignatureMalformed, "the JWS has no signature")
	}
	for _, c := range append([]string{"kid", "crit"}, crit...) {
		if _, ok := h[c]; !ok {
			return claimErr(bank.KindSignatureMissingClaim, c, "the JWS header has no %s", c)
		}
	}
	// RFC 7797: the unencoded payload (b64=false) is not used since v3.1.4.
	if b64, ok := h["b64"]; ok && b64 != true {
		return claimErr(bank.KindSignatureInvalidClaim, "b64", "b64=false is not used since v3.1.4")
	}
	kid, _ := h["kid"].(string)
	if kid == "" {
		return claimErr(bank.KindSignatureInvalidClaim, "kid", "kid must be a non-empty string")
	}
	list, _ := h["crit"].([]any)
	var got []string
	for _, v := range list {
		if s, ok := v.(string); ok {
			got = append(got, s)
		}
	}
	if len(got) != len(list) || len(got) != len(crit) || !containsAll(got, crit) {
		return claimErr(bank.KindSignatureInvalidClaim, "crit", "crit must list exactly %s, %s and %s", ClaimIAT, ClaimISS, ClaimTAN)
	}
	iat, ok := h[ClaimIAT].(float64)
	if !ok || time.Unix(int64(iat), 0).After(e.Now.Add(30*time.Second)) {
		return claimErr(bank.KindSignatureInvalidClaim, ClaimIAT, "%s must be a NumericDate in the past", ClaimIAT)
	}
	if iss, _ := h[ClaimISS].(string); !slices.Contains(e.Issuers, iss) {
		return claimErr(bank.KindSignatureInvalidClaim, ClaimISS, "%s %q does not name this client", ClaimISS, iss)
	}
	if tan, _ := h[ClaimTAN].(string); tan != TAN {
		return claimErr(bank.KindSignatureInvalidClaim, ClaimTAN, "%s must be %s", ClaimTAN, TAN)
	}
	key, ok := e.Key(kid)
	if !ok {
		return claimErr(bank.KindSignatureInvalidClaim, "kid", "kid %q is not a key the client registered", kid)
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
