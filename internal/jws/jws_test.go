package jws

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/obsandbox/sandbox/internal/bank"
)

// TestVerifyCodes: each way a message signature can fail gives the code the
// OB codeset defines for it (U015-U018), with Path naming the header
// parameter for a missing or invalid claim. Signature.Unexpected is never
// Verify's answer: only the caller knows whether a signature was expected.
func TestVerifyCodes(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 16, 12, 0, 0, 0, time.UTC)
	body := []byte(`{"Data":{"Initiation":{}},"Risk":{}}`)
	b64 := base64.RawURLEncoding.EncodeToString
	// signRaw signs a header given as JSON text.
	signRaw := func(header string, payload []byte, k *rsa.PrivateKey) string {
		head := b64([]byte(header))
		sig, err := jwt.SigningMethodPS256.Sign(head+"."+b64(payload), k)
		if err != nil {
			t.Fatal(err)
		}
		return head + ".." + b64(sig)
	}
	header := func(mod func(map[string]any)) string {
		h := map[string]any{"alg": "PS256", "kid": "k1", "typ": "JOSE", ClaimIAT: now.Unix(), ClaimISS: "client-1",
			ClaimTAN: TAN, "crit": []string{ClaimIAT, ClaimISS, ClaimTAN}}
		if mod != nil {
			mod(h)
		}
		b, _ := json.Marshal(h)
		return string(b)
	}
	signed := func(mod func(map[string]any)) string { return signRaw(header(mod), body, key) }
	expect := Expect{Issuers: []string{"client-1"}, Now: now,
		Key: func(kid string) (any, bool) { return &key.PublicKey, kid == "k1" }}
	const sigPath = "x-jws-signature"
	tests := []struct {
		name string
		sig  string
		kind bank.Kind // 0: verifies
		path string
	}{
		{"OK", signed(nil), 0, ""},
		{"OKSign", func() string { s, _ := Sign(body, "k1", "client-1", key, now); return s }(), 0, ""},
		{"OKB64True", signed(func(h map[string]any) { h["b64"] = true }), 0, ""},

		{"MalformedNotDetached", "abc.def.ghi", bank.KindSignatureMalformed, sigPath},
		{"MalformedFourParts", "abc...ghi", bank.KindSignatureMalformed, sigPath},
		{"MalformedHeaderNotBase64", "!!!..abc", bank.KindSignatureMalformed, sigPath},
		{"MalformedHeaderNotJSON", b64([]byte("PS256")) + "..abc", bank.KindSignatureMalformed, sigPath},
		{"MalformedHeaderArray", b64([]byte(`["alg"]`)) + "..abc", bank.KindSignatureMalformed, sigPath},
		{"MalformedHeaderDuplicateKey", signRaw(`{"alg":"RS256",`+header(nil)[1:], body, key), bank.KindSignatureMalformed, sigPath},
		{"MalformedHeaderTrailing", signRaw(header(nil)+`{"alg":"none"}`, body, key), bank.KindSignatureMalformed, sigPath},
		{"MalformedNoSignature", b64([]byte(header(nil))) + "..", bank.KindSignatureMalformed, sigPath},
		{"MalformedSignatureNotBase64", b64([]byte(header(nil))) + "..!!!", bank.KindSignatureMalformed, sigPath},

		{"MissingAlg", signed(func(h map[string]any) { delete(h, "alg") }), bank.KindSignatureMissingClaim, "alg"},
		{"MissingKid", signed(func(h map[string]any) { delete(h, "kid") }), bank.KindSignatureMissingClaim, "kid"},
		{"MissingCrit", signed(func(h map[string]any) { delete(h, "crit") }), bank.KindSignatureMissingClaim, "crit"},
		{"MissingIAT", signed(func(h map[string]any) { delete(h, ClaimIAT) }), bank.KindSignatureMissingClaim, ClaimIAT},
		{"MissingISS", signed(func(h map[string]any) { delete(h, ClaimISS) }), bank.KindSignatureMissingClaim, ClaimISS},
		{"MissingTAN", signed(func(h map[string]any) { delete(h, ClaimTAN) }), bank.KindSignatureMissingClaim, ClaimTAN},

		{"InvalidAlgRS256", signed(func(h map[string]any) { h["alg"] = "RS256" }), bank.KindSignatureInvalidClaim, "alg"},
		{"InvalidAlgNone", b64([]byte(`{"alg":"none"}`)) + "..", bank.KindSignatureInvalidClaim, "alg"},
		{"InvalidAlgNotString", signed(func(h map[string]any) { h["alg"] = 256 }), bank.KindSignatureInvalidClaim, "alg"},
		{"InvalidB64False", signed(func(h map[string]any) { h["b64"] = false }), bank.KindSignatureInvalidClaim, "b64"},
		{"InvalidKidNotString", signed(func(h map[string]any) { h["kid"] = 1 }), bank.KindSignatureInvalidClaim, "kid"},
		{"InvalidKidUnknown", signed(func(h map[string]any) { h["kid"] = "k2" }), bank.KindSignatureInvalidClaim, "kid"},
		{"InvalidCritMissingOne", signed(func(h map[string]any) { h["crit"] = []string{ClaimIAT, ClaimISS} }), bank.KindSignatureInvalidClaim, "crit"},
		{"InvalidCritExtra", signed(func(h map[string]any) { h["crit"] = []string{ClaimIAT, ClaimISS, ClaimTAN, "b64"} }), bank.KindSignatureInvalidClaim, "crit"},
		{"InvalidCritNotArray", signed(func(h map[string]any) { h["crit"] = ClaimIAT }), bank.KindSignatureInvalidClaim, "crit"},
		{"InvalidIATFuture", signed(func(h map[string]any) { h[ClaimIAT] = now.Add(time.Hour).Unix() }), bank.KindSignatureInvalidClaim, ClaimIAT},
		{"InvalidIATString", signed(func(h map[string]any) { h[ClaimIAT] = "yesterday" }), bank.KindSignatureInvalidClaim, ClaimIAT},
		{"InvalidISSOther", signed(func(h map[string]any) { h[ClaimISS] = "client-2" }), bank.KindSignatureInvalidClaim, ClaimISS},
		{"InvalidTANOther", signed(func(h map[string]any) { h[ClaimTAN] = "example.com" }), bank.KindSignatureInvalidClaim, ClaimTAN},

		{"InvalidTampered", signRaw(header(nil), []byte(`{"Data":{"Initiation":{"x":1}},"Risk":{}}`), key), bank.KindSignatureInvalid, sigPath},
		{"InvalidWrongKey", signRaw(header(nil), body, other), bank.KindSignatureInvalid, sigPath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.sig, body, expect)
			if tt.kind == 0 {
				if err != nil {
					t.Fatalf("got %v, want it verified", err)
				}
				return
			}
			var be *bank.Error
			if !errors.As(err, &be) {
				t.Fatalf("got %v, want a %v", err, tt.kind)
			}
			if be.Kind != tt.kind || be.Path != tt.path {
				t.Errorf("got kind %v path %q (%s), want kind %v path %q", be.Kind, be.Path, be.Message, tt.kind, tt.path)
			}
			if be.Kind == bank.KindSignatureUnexpected {
				t.Error("Signature.Unexpected is only for a signature that was not expected")
			}
		})
	}
}
