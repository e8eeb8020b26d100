package oauth

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"github.com/obsandbox/sandbox/internal/jsonshape"
)

// Every JWT the server reads — request objects, client assertions,
// registration requests, software statements, its own access tokens — goes
// through these two instead of golang-jwt directly: the header and the
// payload must first pass the strict JSON check (jsonshape). golang-jwt
// reads both with json.Unmarshal, which keeps the last of two equal keys
// and fills a struct field from any case of its name; a signed token that
// another party's parser reads differently is refused before its signature
// counts.

// parseJWT is jwt.ParseWithClaims after CheckJWT.
func parseJWT(raw string, claims jwt.Claims, key jwt.Keyfunc, opts ...jwt.ParserOption) error {
	if err := CheckJWT(raw); err != nil {
		return err
	}
	_, err := jwt.ParseWithClaims(raw, claims, key, opts...)
	return err
}

// ParseUnverified reads a JWT's claims without verifying its signature,
// after CheckJWT: for finding who a token claims to be, never for trusting it.
func ParseUnverified(raw string, claims jwt.Claims) error {
	if err := CheckJWT(raw); err != nil {
		return err
	}
	_, _, err := jwt.NewParser().ParseUnverified(raw, claims)
	return err
}

// CheckJWT runs the strict JSON check on a compact JWS's header and
// payload, decoded as golang-jwt decodes them (unpadded base64url).
func CheckJWT(raw string) error {
	parts := strings.SplitN(raw, ".", 4)
	if len(parts) != 3 {
		return fmt.Errorf("a JWT has three parts separated by dots")
	}
	for i, name := range []string{"header", "payload"} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return fmt.Errorf("the JWT %s is not base64url", name)
		}
		if err := jsonshape.Check(b, jsonshape.Limits{}); err != nil {
			return fmt.Errorf("the JWT %s is refused: %w", name, err)
		}
	}
	return nil
}
