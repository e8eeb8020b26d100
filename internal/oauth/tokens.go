package oauth

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/store"
)

// AccessClaims are the claims of the bank's access tokens (RFC 9068 shape,
// SPEC §8 "Access tokens").
type AccessClaims struct {
	ClientID string        `json:"client_id"`
	Scope    string        `json:"scope"`
	IntentID string        `json:"openbanking_intent_id,omitempty"`
	CNF      *Confirmation `json:"cnf,omitempty"`
	jwt.RegisteredClaims
}

// Confirmation binds a token to a client certificate (RFC 8705 §3.1) or
// a DPoP key (RFC 9449 §6.1).
type Confirmation struct {
	X5tS256 string `json:"x5t#S256,omitempty"`
	JKT     string `json:"jkt,omitempty"`
}

// confirmation is the cnf claim of a token so bound, or nil.
func confirmation(cnf, jkt string) *Confirmation {
	if cnf == "" && jkt == "" {
		return nil
	}
	return &Confirmation{X5tS256: cnf, JKT: jkt}
}

// TokenRequest describes an access token to issue.
type TokenRequest struct {
	ClientID  string
	Scope     string
	GrantType string
	Consent   *bank.Consent // bound consent, or nil for client credentials
	PSU       string
	Code      string // hash of the authorization code it came from
	CNF       string
	JKT       string // the DPoP key it is bound to (RFC 9449)
}

// Issued is an issued access token.
type Issued struct {
	Token     string
	JTI       string
	ExpiresIn int // seconds
}

// IssueAccess signs an access token and records it. Its exp (real time) and
// its record's expiry (sandbox time) both last AccessTTL.
func (s *Server) IssueAccess(ctx context.Context, r TokenRequest) (Issued, error) {
	now, wall := s.Clock.Now(), s.Clock.Wall()
	ttl := s.AccessTTL
	if ttl <= 0 {
		ttl = DefaultAccessTTL
	}
	jti := uuid.NewString()
	sub := r.ClientID
	claims := AccessClaims{ClientID: r.ClientID, Scope: r.Scope, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: s.Issuer, Audience: jwt.ClaimStrings{s.Issuer}, ID: jti,
		IssuedAt: jwt.NewNumericDate(wall), ExpiresAt: jwt.NewNumericDate(wall.Add(ttl)),
	}}
	rec := store.Token{JTI: jti, Kind: "access", ClientID: r.ClientID, Scope: r.Scope, GrantType: r.GrantType,
		IssuedAt: now, ExpiresAt: now.Add(ttl), Code: r.Code, CNF: r.CNF, JKT: r.JKT}
	if r.Consent != nil {
		claims.IntentID = r.Consent.ID
		rec.ConsentID = r.Consent.ID
	}
	if r.PSU != "" {
		sub, rec.PSU = r.PSU, r.PSU
	}
	claims.Subject = sub
	claims.CNF = confirmation(r.CNF, r.JKT)
	tok, err := s.Keys.Sign(claims, "at+jwt")
	if err != nil {
		return Issued{}, err
	}
	if err := s.Store.SaveToken(ctx, rec); err != nil {
		return Issued{}, err
	}
	return Issued{Token: tok, JTI: jti, ExpiresIn: int(ttl / time.Second)}, nil
}

// Principal is who a resource call is made by, after Authenticate.
type Principal struct {
	Token   store.Token
	Consent *bank.Consent // nil for client-credentials tokens
}

// ErrUnauthenticated is the one answer to every bad token: the resource
// server says 401 with no body and does not explain (RFC 6750 §3.1).
var ErrUnauthenticated = &bank.Error{Kind: bank.KindUnauthenticated, Message: "invalid_token"}

// Authenticate checks a bearer access token: signature by one of the bank's
// keys (PS256), issuer, audience and exp (real time, SPEC §8 "Two clocks"),
// then in the database — on every call, so revocation takes effect at once —
// that the token is known, unrevoked and unexpired on the sandbox clock, its
// client is not suspended, and its consent (if any) is still usable.
//
// certThumb is the x5t#S256 of the client certificate the call came with
// ("" without mutual TLS): a token bound to a certificate (RFC 8705 §3) works
// only with that certificate.
//
// A DPoP-bound token is refused here: it needs its proof
// (AuthenticateRequest).
func (s *Server) Authenticate(ctx context.Context, bearer, certThumb string) (*Principal, error) {
	return s.authenticateToken(ctx, bearer, certThumb, nil)
}

// authenticateToken is Authenticate with the DPoP proof that came with the token
// (nil: none): a DPoP-bound token needs a proof by its key, and a proof
// comes only with a DPoP-bound token.
func (s *Server) authenticateToken(ctx context.Context, bearer, certThumb string, proof *Proof) (*Principal, error) {
	jti, err := s.parseAccess(bearer)
	if err != nil {
		return nil, ErrUnauthenticated
	}
	acc, err := s.Store.AccessOf(ctx, jti)
	if errors.Is(err, bank.ErrNotFound) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	now := s.Clock.Now()
	t := acc.Token
	switch {
	case t.Kind != "access", !t.RevokedAt.IsZero(), !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt):
		return nil, ErrUnauthenticated
	case t.JKT != "" && proof == nil:
		return nil, errNeedsDPoP
	case t.JKT != "" && proof.JKT != t.JKT, t.JKT == "" && proof != nil:
		return nil, ErrUnauthenticated
	case t.CNF != "" && t.CNF != certThumb, t.CNF == "" && t.JKT == "" && !s.Dev():
		return nil, ErrUnauthenticated
	case acc.Suspended != "":
		return nil, bank.Errorf(bank.KindForbidden, "", "client suspended: %s", acc.Suspended)
	case acc.Consent != nil && !acc.Consent.Usable(now):
		return nil, ErrUnauthenticated
	}
	return &Principal{Token: t, Consent: acc.Consent}, nil
}

// parseAccess verifies a bank-signed access token and returns its jti.
func (s *Server) parseAccess(token string) (string, error) {
	if jti, ok := s.verified.get(token, s.Clock.Wall()); ok {
		return jti, nil
	}
	var claims AccessClaims
	err := parseJWT(token, &claims, s.Keys.keyfunc,
		jwt.WithValidMethods([]string{"PS256"}), jwt.WithIssuer(s.Issuer), jwt.WithAudience(s.Issuer),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithTimeFunc(s.Clock.Wall), jwt.WithLeeway(5*time.Second))
	if err != nil {
		return "", err
	}
	if claims.ID == "" {
		return "", errors.New("no jti")
	}
	s.verified.put(token, claims.ID, claims.ExpiresAt.Time)
	return claims.ID, nil
}

// verifiedTokens remembers access tokens whose signature and claims were
// checked, until they expire: an RSA verification per request was the
// largest fixed cost of a data call. Only the JWT's own checks are skipped;
// revocation and the consent are read from the store on every call.
type verifiedTokens struct {
	mu sync.Mutex
	m  map[string]verifiedToken
}

type verifiedToken struct {
	jti string
	exp time.Time
}

const maxVerified = 10000

func (v *verifiedTokens) get(token string, now time.Time) (string, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.m[token]
	if !ok || now.After(e.exp.Add(5*time.Second)) {
		return "", false
	}
	return e.jti, true
}

// reset forgets every token checked (a key stopped verifying).
func (v *verifiedTokens) reset() {
	v.mu.Lock()
	v.m = nil
	v.mu.Unlock()
}

func (v *verifiedTokens) put(token, jti string, exp time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil || len(v.m) >= maxVerified {
		v.m = make(map[string]verifiedToken) // forget them all: they verify again
	}
	v.m[token] = verifiedToken{jti, exp}
}

// HasScope reports whether the token's scope includes want.
func (p *Principal) HasScope(want string) bool {
	for _, s := range strings.Fields(p.Token.Scope) {
		if s == want {
			return true
		}
	}
	return false
}

// Grant is the access grant of an authorization-code token bound to an
// account-access consent.
func (p *Principal) Grant() *bank.Grant {
	c := p.Consent
	return &bank.Grant{ClientID: p.Token.ClientID, ConsentID: c.ID, PSU: p.Token.PSU, Scope: p.Token.Scope,
		Accounts: c.Accounts, Permissions: c.Permissions, TxFrom: c.TxFrom, TxTo: c.TxTo}
}
