package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/obsandbox/sandbox/internal/bank"
)

// DPoP: sender-constrained tokens by proof of possession at the
// application layer (RFC 9449). A client that registered
// dpop_bound_access_tokens sends, with every token request and every call
// with its tokens, a proof: a JWT it signs with a key whose public half is
// in the proof's header. Its tokens are bound to that key (cnf.jkt, the
// key's RFC 7638 thumbprint). The bank requires its own nonces in proofs
// (§8, §9), so a proof cannot be made ahead of time.
const (
	// TokenTypeDPoP is token_type of a DPoP-bound access token (§5).
	TokenTypeDPoP = "DPoP"
	// DPoPMaxAge bounds how old a proof's iat may be (real time: a JWT
	// timestamp the client writes).
	DPoPMaxAge = 60 * time.Second
	dpopLeeway = 5 * time.Second
	// DPoPNonceLifetime is how long a nonce the bank hands out is good for,
	// on the sandbox clock: advancing it makes clients fetch a new one.
	DPoPNonceLifetime = 5 * time.Minute
)

// DPoPAlgs are the proof signing algorithms the bank takes (FAPI 2.0
// Security Profile 5.4.1: PS256 or ES256).
var DPoPAlgs = []string{"PS256", "ES256"}

// Presented is what an HTTP request shows about who sends it: the
// Authorization header, DPoP proofs, the client certificate, and what the
// request is (method and URL, to check a proof's htm and htu against).
type Presented struct {
	Authorization string
	DPoP          []string // every DPoP header sent
	Method        string
	Path          string // as routed, relative to the issuer
	// Origin is the scheme, host and base path the request was sent to, as
	// its Host header says ("" if unknown): a client may name either that
	// or the issuer in htu.
	Origin    string
	CertThumb string // x5t#S256 of the client certificate, or ""
}

// Proof is a verified DPoP proof.
type Proof struct {
	JKT string // the thumbprint of the key that signed it
	JTI string
}

type dpopClaims struct {
	HTM   string `json:"htm"`
	HTU   string `json:"htu"`
	Nonce string `json:"nonce"`
	ATH   string `json:"ath"`
	jwt.RegisteredClaims
}

// errDPoP is an invalid proof at the token endpoint (RFC 9449 §5, §7.1).
func errDPoP(format string, args ...any) *Error {
	return oerr(400, "invalid_dpop_proof", format, args...).WithRule("dpop.invalid_proof")
}

// ChallengeError refuses a call to a resource with a WWW-Authenticate
// challenge (and, to ask for a nonce, a DPoP-Nonce header): a 401 with no
// body, as every bad token gets (it unwraps to ErrUnauthenticated).
type ChallengeError struct {
	Challenge   string
	Nonce       string // for the DPoP-Nonce header, when the proof lacked the bank's nonce
	Description string
}

func (e *ChallengeError) Error() string { return "invalid_token: " + e.Description }

// Unwrap makes the refusal the resource server's one answer to a bad token.
func (e *ChallengeError) Unwrap() error { return ErrUnauthenticated }

// dpopChallenge is the WWW-Authenticate challenge of a DPoP refusal (RFC
// 9449 §7.1).
func dpopChallenge(code, description string) string {
	return fmt.Sprintf(`DPoP error=%q, error_description=%q, algs="%s"`, code, description, strings.Join(DPoPAlgs, " "))
}

// checkProof verifies the request's DPoP proof (RFC 9449 §4.3): exactly one,
// typ dpop+jwt, PS256 or ES256 by the public key in its jwk header, htm and
// htu those of the request, iat within DPoPMaxAge, the bank's nonce, ath the
// hash of accessToken when one is presented, and a jti the key has not used
// before. It returns nil without a proof.
func (s *Server) checkProof(ctx context.Context, pr Presented, accessToken string) (*Proof, error) {
	switch len(pr.DPoP) {
	case 0:
		return nil, nil
	case 1:
	default:
		return nil, errDPoP("one DPoP header is allowed, not %d", len(pr.DPoP))
	}
	raw := pr.DPoP[0]
	var claims dpopClaims
	var jwk jose.JSONWebKey
	err := parseJWT(raw, &claims, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); typ != "dpop+jwt" {
			return nil, errors.New(`typ must be "dpop+jwt"`)
		}
		b, err := json.Marshal(t.Header["jwk"])
		if err != nil || t.Header["jwk"] == nil || jwk.UnmarshalJSON(b) != nil {
			return nil, errors.New("the jwk header must hold the public key")
		}
		if !jwk.IsPublic() || !jwk.Valid() {
			return nil, errors.New("the jwk header must hold a public key only")
		}
		switch k := jwk.Key.(type) {
		case *rsa.PublicKey:
			if k.N.BitLen() < 2048 {
				return nil, errors.New("the RSA key must have at least 2048 bits")
			}
		case *ecdsa.PublicKey:
			if k.Curve != elliptic.P256() {
				return nil, errors.New("the EC key must be on P-256")
			}
		}
		return jwk.Key, nil
	}, jwt.WithValidMethods(DPoPAlgs), jwt.WithTimeFunc(s.Clock.Wall), jwt.WithLeeway(dpopLeeway))
	if err != nil {
		return nil, errDPoP("the DPoP proof is invalid: %v", err)
	}
	wall := s.Clock.Wall()
	switch {
	case claims.ID == "" || len(claims.ID) > 256:
		return nil, errDPoP("the DPoP proof needs a jti (at most 256 characters)")
	case claims.HTM != pr.Method:
		return nil, errDPoP("the DPoP proof's htm is %q, the request's method %s", claims.HTM, pr.Method)
	case !s.htuMatches(claims.HTU, pr):
		return nil, errDPoP("the DPoP proof's htu %q is not the URL of this request (%s)", claims.HTU, s.Issuer+pr.Path)
	case claims.IssuedAt == nil:
		return nil, errDPoP("the DPoP proof has no iat")
	case wall.Sub(claims.IssuedAt.Time) > DPoPMaxAge+dpopLeeway:
		return nil, errDPoP("the DPoP proof's iat is more than %s old", DPoPMaxAge)
	case claims.IssuedAt.Time.Sub(wall) > dpopLeeway:
		return nil, errDPoP("the DPoP proof's iat is in the future")
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		if !hmac.Equal([]byte(claims.ATH), []byte(base64.RawURLEncoding.EncodeToString(sum[:]))) {
			return nil, errDPoP("the DPoP proof's ath is not the hash of the access token it comes with")
		}
	}
	issued, ok, err := s.nonceIssued(ctx, claims.Nonce)
	if err != nil {
		return nil, err
	}
	if !ok {
		nonce, err := s.DPoPNonce(ctx)
		if err != nil {
			return nil, err
		}
		what := "has no nonce"
		if claims.Nonce != "" {
			what = "has a nonce that is not the bank's or has run out"
		}
		return nil, &Error{Status: 400, Code: "use_dpop_nonce", DPoPNonce: nonce, Rule: "dpop.nonce",
			Description: "the DPoP proof " + what + ": sign a new one with the nonce in the DPoP-Nonce header"}
	}
	jkt := Thumbprint(jwk)
	err = s.Store.UseDPoPProof(ctx, jkt, claims.ID, issued.Add(DPoPNonceLifetime), claims.IssuedAt.Time.Add(DPoPMaxAge+dpopLeeway),
		s.Clock.Now(), wall)
	if errors.Is(err, bank.ErrConflict) {
		return nil, errDPoP("the DPoP proof was already used (jti %q)", claims.ID).WithRule("dpop.replayed")
	}
	if err != nil {
		return nil, err
	}
	return &Proof{JKT: jkt, JTI: claims.ID}, nil
}

// htuMatches compares a proof's htu with the request's URL, without query
// and fragment, scheme and host in any case and default ports left out
// (RFC 9449 §4.3, RFC 3986 §6.2): the URL under the issuer, or the one the
// request was sent to.
func (s *Server) htuMatches(htu string, pr Presented) bool {
	got, ok := normalURL(htu)
	if !ok {
		return false
	}
	for _, base := range []string{s.Issuer, pr.Origin} {
		if want, ok := normalURL(base + pr.Path); base != "" && ok && got == want {
			return true
		}
	}
	return false
}

func normalURL(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return "", false
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	scheme := strings.ToLower(u.Scheme)
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path, true
}

// The bank's DPoP nonces carry the sandbox time they were made at and a MAC
// under a key kept in the database (so every replica of the sandbox takes
// them): base64url(8 bytes of unix seconds ‖ 16 bytes of HMAC-SHA256).

const nonceKeySetting = "dpop_nonce_key"

func (s *Server) nonceMAC(ctx context.Context, t []byte) ([]byte, error) {
	s.nonceMu.Lock()
	defer s.nonceMu.Unlock()
	if s.nonceKey == nil {
		// Made once for every process sharing the database: the check and
		// the write in one exclusive section.
		var hexKey string
		err := s.Store.Exclusive(ctx, func() (err error) {
			hexKey, err = s.Store.Setting(ctx, nonceKeySetting)
			if !errors.Is(err, bank.ErrNotFound) {
				return err
			}
			var k [32]byte
			if _, err := rand.Read(k[:]); err != nil {
				return err
			}
			hexKey = hex.EncodeToString(k[:])
			return s.Store.SetSetting(ctx, nonceKeySetting, hexKey)
		})
		if err != nil {
			return nil, err
		}
		if s.nonceKey, err = hex.DecodeString(hexKey); err != nil {
			return nil, fmt.Errorf("settings.%s: %w", nonceKeySetting, err)
		}
	}
	m := hmac.New(sha256.New, s.nonceKey)
	m.Write([]byte("dpop-nonce"))
	m.Write(t)
	return m.Sum(nil)[:16], nil
}

// DPoPNonce is a fresh nonce for DPoP proofs (RFC 9449 §8), good for
// DPoPNonceLifetime of sandbox time at the token endpoint and the APIs.
func (s *Server) DPoPNonce(ctx context.Context) (string, error) {
	var t [8]byte
	binary.BigEndian.PutUint64(t[:], uint64(s.Clock.Now().Unix()))
	mac, err := s.nonceMAC(ctx, t[:])
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(append(t[:], mac...)), nil
}

// nonceIssued reports when a nonce was made and whether it is one of the
// bank's, still good.
func (s *Server) nonceIssued(ctx context.Context, nonce string) (time.Time, bool, error) {
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != 24 {
		return time.Time{}, false, nil
	}
	mac, err := s.nonceMAC(ctx, b[:8])
	if err != nil {
		return time.Time{}, false, err
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(b[:8])), 0)
	now := s.Clock.Now()
	ok := hmac.Equal(mac, b[8:]) && !issued.After(now.Add(dpopLeeway)) && now.Sub(issued) <= DPoPNonceLifetime
	return issued, ok, nil
}

// TokenProof checks the DPoP proof of a request to the token endpoint
// before its client is authenticated, so that a proof without the bank's
// nonce is answered use_dpop_nonce while the client's assertion is still
// unused (the client sends the same request again with a new proof). It
// returns nil without a proof, and in the fapi profile, which binds tokens
// to certificates only.
func (s *Server) TokenProof(ctx context.Context, pr Presented) (*Proof, error) {
	if s.FAPI1() {
		return nil, nil
	}
	return s.checkProof(ctx, pr, "")
}

// binding is what a grant's tokens are bound to.
type binding struct {
	CNF string // x5t#S256 of a client certificate (RFC 8705)
	JKT string // thumbprint of a DPoP key (RFC 9449)
}

// bind decides what tokens issued to the client are bound to: its DPoP key
// when it registered dpop_bound_access_tokens (a proof is then required),
// else in the FAPI profiles its certificate (mutual TLS required). In dev a
// proof binds any client's tokens (RFC 9449 §5), and a certificate does
// when there is no proof.
func (s *Server) bind(c *Client, cnf string, proof *Proof) (binding, error) {
	switch {
	case c.DPoPBoundAccessTokens && proof == nil:
		return binding{}, errDPoP("the client registered dpop_bound_access_tokens: send a DPoP proof (RFC 9449) with the request")
	case proof != nil && s.FAPI2() && !c.DPoPBoundAccessTokens:
		return binding{}, errDPoP("the client registered certificate-bound tokens (mutual TLS), not DPoP: send no DPoP proof, or register dpop_bound_access_tokens")
	case proof != nil:
		return binding{JKT: proof.JKT}, nil
	case cnf == "" && !s.Dev():
		how := "present a client certificate from the sandbox's CA"
		if s.FAPI2() {
			how += ", or register dpop_bound_access_tokens and send DPoP proofs"
		}
		return binding{}, errInvalidClient("the %s profile needs sender-constrained tokens: %s (mutual TLS)", s.Profile, how)
	}
	return binding{CNF: cnf}, nil
}

// tokenType is the token_type of an access token so bound.
func (b binding) tokenType() string {
	if b.JKT != "" {
		return TokenTypeDPoP
	}
	return "Bearer"
}

// AuthenticateRequest checks the access token a resource request presents,
// as Authenticate does, under its scheme: "Bearer <token>" (RFC 6750), or
// "DPoP <token>" with a DPoP proof for it (RFC 9449 §7). A DPoP-bound token
// works only with the DPoP scheme and a valid proof of its key; a token
// that is not DPoP-bound never under the DPoP scheme. Refusals carry the
// challenge to send back.
func (s *Server) AuthenticateRequest(ctx context.Context, pr Presented) (*Principal, error) {
	scheme, tok, _ := strings.Cut(pr.Authorization, " ")
	tok = strings.TrimSpace(tok)
	bearerChallenge := `Bearer error="invalid_token"`
	if !s.FAPI1() {
		bearerChallenge += `, DPoP algs="` + strings.Join(DPoPAlgs, " ") + `"`
	}
	switch {
	case tok == "":
		return nil, &ChallengeError{Challenge: bearerChallenge, Description: "no access token"}
	case strings.EqualFold(scheme, "Bearer"):
		p, err := s.authenticateToken(ctx, tok, pr.CertThumb, nil)
		if errors.Is(err, errNeedsDPoP) {
			return nil, &ChallengeError{Challenge: dpopChallenge("invalid_token", err.Error()), Description: err.Error()}
		}
		if errors.Is(err, ErrUnauthenticated) {
			return nil, &ChallengeError{Challenge: bearerChallenge, Description: "the access token is not valid"}
		}
		return p, err
	case strings.EqualFold(scheme, TokenTypeDPoP) && !s.FAPI1():
		if len(pr.DPoP) == 0 {
			return nil, &ChallengeError{Challenge: dpopChallenge("invalid_dpop_proof", "a DPoP proof is required"), Description: "no DPoP proof"}
		}
		proof, err := s.checkProof(ctx, pr, tok)
		var oe *Error
		if errors.As(err, &oe) {
			return nil, &ChallengeError{Challenge: dpopChallenge(oe.Code, oe.Description), Nonce: oe.DPoPNonce, Description: oe.Description}
		}
		if err != nil {
			return nil, err
		}
		p, err := s.authenticateToken(ctx, tok, pr.CertThumb, proof)
		if errors.Is(err, ErrUnauthenticated) {
			return nil, &ChallengeError{Challenge: dpopChallenge("invalid_token", "the access token is not valid, or not bound to the proof's key"),
				Description: "the access token is not valid, or not bound to the proof's key"}
		}
		return p, err
	}
	schemes := "Bearer or DPoP"
	if s.FAPI1() {
		schemes = "Bearer"
	}
	return nil, &ChallengeError{Challenge: bearerChallenge, Description: "the Authorization scheme must be " + schemes}
}

// errNeedsDPoP refuses a DPoP-bound token presented as a bearer token.
var errNeedsDPoP = fmt.Errorf("%w: the access token is DPoP-bound: send it as \"Authorization: DPoP <token>\" with a DPoP proof", ErrUnauthenticated)
