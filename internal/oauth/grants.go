package oauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/obsandbox/sandbox/internal/audit"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/store"
)

// TokenParams are the token endpoint's grant parameters.
type TokenParams struct {
	GrantType    string
	Code         string
	RedirectURI  string
	CodeVerifier string
	RefreshToken string
	Scope        string
	// Proof is the request's verified DPoP proof (TokenProof), or nil.
	Proof *Proof
	// AuthReqID is the CIBA grant's (CIBA Core §10.1).
	AuthReqID string
}

// TokenResponse is the token endpoint's answer (RFC 6749 §5.1).
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	Scope        string `json:"scope,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
}

// Token runs a grant for an authenticated client. cnf, when set, is the
// thumbprint of the client certificate the request came with; the tokens
// are bound to it or to the DPoP proof's key (bind).
func (s *Server) Token(ctx context.Context, c *Client, p TokenParams, cnf string) (*TokenResponse, error) {
	if p.GrantType == "" {
		return nil, errInvalidRequest("grant_type is missing")
	}
	if !slices.Contains([]string{GrantClientCredentials, GrantAuthorizationCode, GrantRefreshToken, GrantCIBA}, p.GrantType) {
		return nil, oerr(400, "unsupported_grant_type", "grant_type %q is not supported", p.GrantType)
	}
	if !c.hasGrant(p.GrantType) {
		return nil, errUnauthorizedClient("the client did not register the %s grant", p.GrantType)
	}
	// FAPI: tokens are sender-constrained (RFC 8705, RFC 9449).
	b, err := s.bind(c, cnf, p.Proof)
	if err != nil {
		return nil, err
	}
	switch p.GrantType {
	case GrantClientCredentials:
		return s.clientCredentials(ctx, c, p.Scope, b)
	case GrantAuthorizationCode:
		return s.exchangeCode(ctx, c, p, b)
	case GrantCIBA:
		return s.cibaGrant(ctx, c, p, b)
	}
	return s.refresh(ctx, c, p, b)
}

func (s *Server) clientCredentials(ctx context.Context, c *Client, scope string, b binding) (*TokenResponse, error) {
	registered := strings.Fields(c.Scope)
	var granted []string
	if scope == "" {
		for _, sc := range registered {
			if sc != "openid" {
				granted = append(granted, sc)
			}
		}
	}
	for _, sc := range strings.Fields(scope) {
		if sc == "openid" {
			continue
		}
		if !slices.Contains(registered, sc) {
			return nil, errInvalidScope("the client did not register scope %q", sc)
		}
		granted = append(granted, sc)
	}
	if len(granted) == 0 {
		return nil, errInvalidScope("no scope to grant")
	}
	iss, err := s.IssueAccess(ctx, TokenRequest{ClientID: c.ClientID, Scope: strings.Join(granted, " "),
		GrantType: GrantClientCredentials, CNF: b.CNF, JKT: b.JKT})
	if err != nil {
		return nil, err
	}
	return &TokenResponse{AccessToken: iss.Token, TokenType: b.tokenType(), ExpiresIn: iss.ExpiresIn, Scope: strings.Join(granted, " ")}, nil
}

// exchangeCode redeems an authorization code (RFC 6749 §4.1.3): single use,
// unexpired, issued to this client for this redirect URI, and with PKCE the
// verifier must match (RFC 7636 §4.6). A second use revokes what the first
// issued.
func (s *Server) exchangeCode(ctx context.Context, c *Client, p TokenParams, b binding) (*TokenResponse, error) {
	if p.Code == "" {
		return nil, errInvalidRequest("code is missing")
	}
	now := s.Clock.Now()
	h := hash(p.Code)
	code, err := s.Store.UseCode(ctx, h, c.ClientID, now)
	switch {
	case errors.Is(err, bank.ErrNotFound), errors.Is(err, store.ErrWrongClient):
		return nil, errInvalidGrant("unknown authorization code")
	case errors.Is(err, store.ErrCodeReused):
		s.Log.WarnContext(ctx, "authorization code reused: tokens from its first use revoked", "client_id", c.ClientID)
		return nil, errInvalidGrant("the authorization code was already used; the tokens it gave are revoked").WithRule(audit.RuleCodeReused)
	case err != nil:
		return nil, err
	}
	switch {
	case !now.Before(code.ExpiresAt):
		return nil, errInvalidGrant("the authorization code has expired")
	case p.RedirectURI != code.RedirectURI:
		return nil, errInvalidGrant("redirect_uri does not match the authorization request")
	}
	if code.CodeChallenge != "" {
		if p.CodeVerifier == "" {
			return nil, errInvalidGrant("code_verifier is required (PKCE)")
		}
		sum := sha256.Sum256([]byte(p.CodeVerifier))
		if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(code.CodeChallenge)) != 1 {
			return nil, errInvalidGrant("code_verifier does not match code_challenge")
		}
	}
	cn, err := s.Store.Consent(ctx, code.ConsentID)
	if err != nil {
		return nil, err
	}
	if !cn.Usable(now) {
		return nil, errInvalidGrant("the consent is no longer authorised")
	}
	resp, err := s.issueForConsent(ctx, c, &cn, grant{PSU: code.PSU, Scope: code.Scope, Nonce: code.Nonce, Code: h, binding: b,
		Type: GrantAuthorizationCode, AuthTime: code.AuthTime})
	if err != nil {
		return nil, err
	}
	// A reuse that raced this redemption revokes what it just issued.
	if reused, err := s.Store.SettleCode(ctx, h, now); err != nil || reused {
		if err == nil {
			err = errInvalidGrant("the authorization code was used twice; the tokens it gave are revoked").WithRule(audit.RuleCodeReused)
		}
		return nil, err
	}
	return resp, nil
}

// grant is what tokens bound to a consent are issued under: the PSU's
// authorisation (from the code, then carried by each refresh token).
type grant struct {
	PSU, Scope, Nonce string
	Code              string // hash of the authorization code
	binding
	Type     string // the grant type of this request
	AuthTime time.Time
	// Refresh, on a refresh without rotation (fapi2), is the refresh token
	// that stays in use: no new one is issued.
	Refresh *store.Token
}

// issueForConsent issues an access token bound to a consent, a refresh token
// for long-lived consents (account access, funds confirmation, VRP) and an
// ID token.
func (s *Server) issueForConsent(ctx context.Context, c *Client, cn *bank.Consent, g grant) (*TokenResponse, error) {
	iss, err := s.IssueAccess(ctx, TokenRequest{ClientID: c.ClientID, Scope: g.Scope, GrantType: g.Type, Consent: cn,
		PSU: g.PSU, Code: g.Code, CNF: g.CNF, JKT: g.JKT})
	if err != nil {
		return nil, err
	}
	resp := &TokenResponse{AccessToken: iss.Token, TokenType: g.tokenType(), ExpiresIn: iss.ExpiresIn, Scope: g.Scope}
	var refreshExp time.Time
	if g.Refresh != nil && !g.Refresh.ExpiresAt.IsZero() {
		refreshExp = s.Clock.Wall().Add(g.Refresh.ExpiresAt.Sub(s.Clock.Now()))
	}
	if g.Refresh == nil && c.hasGrant(GrantRefreshToken) && LongLived(cn) {
		now := s.Clock.Now()
		rec := store.Token{Kind: "refresh", ClientID: c.ClientID, ConsentID: cn.ID, PSU: g.PSU, Scope: g.Scope,
			GrantType: g.Type, IssuedAt: now, Code: g.Code, CNF: g.CNF, JKT: g.JKT, AuthTime: g.AuthTime}
		if s.RefreshTTL > 0 {
			rec.ExpiresAt = now.Add(s.RefreshTTL)
		}
		if !cn.ExpiresAt.IsZero() && (rec.ExpiresAt.IsZero() || cn.ExpiresAt.Before(rec.ExpiresAt)) {
			rec.ExpiresAt = cn.ExpiresAt
		}
		resp.RefreshToken = randomToken()
		rec.JTI = hash(resp.RefreshToken)
		if err := s.Store.SaveToken(ctx, rec); err != nil {
			return nil, err
		}
		if !rec.ExpiresAt.IsZero() {
			refreshExp = s.Clock.Wall().Add(rec.ExpiresAt.Sub(now))
		}
	}
	if slices.Contains(strings.Fields(g.Scope), "openid") {
		if resp.IDToken, err = s.idToken(c.ClientID, cn.ID, g.Nonce, g.AuthTime, map[string]any{"at_hash": halfHash(iss.Token)}, refreshExp); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// refresh redeems a refresh token (RFC 6749 §6). Refresh tokens rotate: the
// old one is used up and a new one issued. A rotated-out token presented
// again is treated as theft (RFC 9700 §4.14.2): every token of the consent
// is revoked and the reuse is flagged for the anomaly rules. A token revoked
// any other way — by the PSU, a consent deletion, RFC 7009 — is simply
// invalid_grant: its holder did nothing wrong by trying it.
//
// In fapi2 refresh tokens do not rotate (FAPI 2.0 Security Profile
// 5.3.2.1-10 allows rotation only where a retry with the previous token
// succeeds): the same refresh token serves until it expires or is revoked.
//
// A refresh token is bound as its access tokens are: to the client
// certificate, or to the DPoP key (RFC 9449 §5).
func (s *Server) refresh(ctx context.Context, c *Client, p TokenParams, b binding) (*TokenResponse, error) {
	if p.RefreshToken == "" {
		return nil, errInvalidRequest("refresh_token is missing")
	}
	now := s.Clock.Now()
	rec, err := s.Store.TokenRecord(ctx, hash(p.RefreshToken))
	if errors.Is(err, bank.ErrNotFound) || (err == nil && (rec.Kind != "refresh" || rec.ClientID != c.ClientID)) {
		return nil, errInvalidGrant("unknown refresh token")
	}
	if err != nil {
		return nil, err
	}
	switch {
	case !rec.RotatedAt.IsZero():
		return nil, s.refreshReused(ctx, c, rec, now)
	case !rec.RevokedAt.IsZero():
		return nil, errInvalidGrant("the refresh token was revoked")
	case !rec.ExpiresAt.IsZero() && !now.Before(rec.ExpiresAt):
		return nil, errInvalidGrant("the refresh token has expired")
	case rec.CNF != b.CNF:
		return nil, errInvalidGrant("the refresh token is bound to another certificate")
	case rec.JKT != b.JKT:
		return nil, errInvalidGrant("the refresh token is bound to another DPoP key").WithRule("dpop.key_mismatch")
	}
	cn, err := s.Store.Consent(ctx, rec.ConsentID)
	if err != nil {
		return nil, err
	}
	if !cn.Usable(now) {
		return nil, errInvalidGrant("the consent is no longer authorised")
	}
	scope := rec.Scope
	if p.Scope != "" {
		for _, sc := range strings.Fields(p.Scope) {
			if !slices.Contains(strings.Fields(rec.Scope), sc) {
				return nil, errInvalidScope("scope %q was not granted", sc)
			}
		}
		scope = p.Scope
	}
	if s.FAPI2() {
		return s.issueForConsent(ctx, c, &cn, grant{PSU: rec.PSU, Scope: scope, Code: rec.Code, binding: b, Type: GrantRefreshToken,
			AuthTime: rec.AuthTime, Refresh: &rec})
	}
	// The rotation is one atomic update: of two concurrent refreshes with the
	// same token one wins, the other counts as reuse.
	switch err := s.Store.RotateRefresh(ctx, rec.JTI, now); {
	case errors.Is(err, store.ErrRefreshRotated):
		return nil, s.refreshReused(ctx, c, rec, now)
	case errors.Is(err, store.ErrRefreshRevoked):
		return nil, errInvalidGrant("the refresh token was revoked")
	case err != nil:
		return nil, err
	}
	return s.issueForConsent(ctx, c, &cn, grant{PSU: rec.PSU, Scope: scope, Code: rec.Code, binding: b, Type: GrantRefreshToken,
		AuthTime: rec.AuthTime})
}

// refreshReused answers a rotated-out refresh token presented again: the
// consent's tokens are revoked, and the error names the rule the anomaly
// rules raise refresh_token_reuse on.
func (s *Server) refreshReused(ctx context.Context, c *Client, rec store.Token, now time.Time) error {
	if err := s.Store.RevokeConsentTokens(ctx, rec.ConsentID, now); err != nil {
		return err
	}
	s.Log.WarnContext(ctx, "rotated-out refresh token presented again: the consent's tokens are revoked", "client_id", c.ClientID, "consent_id", rec.ConsentID)
	return errInvalidGrant("the refresh token was already used; the consent's tokens are revoked").WithRule(audit.RuleRefreshReused)
}

// Revoke revokes a token of the client (RFC 7009 §2.1). Unknown tokens and
// other clients' tokens are ignored: the answer is the same. Revoking a
// refresh token revokes the consent's other tokens for the client too.
func (s *Server) Revoke(ctx context.Context, c *Client, token string) error {
	now := s.Clock.Now()
	if rec, err := s.Store.TokenRecord(ctx, hash(token)); err == nil && rec.Kind == "refresh" && rec.ClientID == c.ClientID {
		return s.Store.RevokeConsentTokens(ctx, rec.ConsentID, now)
	}
	if p, err := s.parseAccess(token); err == nil {
		if rec, err := s.Store.TokenRecord(ctx, p); err == nil && rec.ClientID == c.ClientID {
			return s.Store.RevokeToken(ctx, rec.JTI, now)
		}
	}
	return nil
}

// Introspection is RFC 7662's answer.
type Introspection struct {
	Active    bool          `json:"active"`
	Scope     string        `json:"scope,omitempty"`
	ClientID  string        `json:"client_id,omitempty"`
	Sub       string        `json:"sub,omitempty"`
	TokenType string        `json:"token_type,omitempty"`
	Exp       int64         `json:"exp,omitempty"`
	Iat       int64         `json:"iat,omitempty"`
	Iss       string        `json:"iss,omitempty"`
	IntentID  string        `json:"openbanking_intent_id,omitempty"`
	CNF       *Confirmation `json:"cnf,omitempty"`
}

// Introspect describes a token of the client; anything else is inactive.
func (s *Server) Introspect(ctx context.Context, c *Client, token string) (*Introspection, error) {
	now := s.Clock.Now()
	rec, err := s.Store.TokenRecord(ctx, hash(token))
	if errors.Is(err, bank.ErrNotFound) {
		var jti string
		if jti, err = s.parseAccess(token); err == nil {
			rec, err = s.Store.TokenRecord(ctx, jti)
		}
	}
	if err != nil || rec.ClientID != c.ClientID || !rec.RevokedAt.IsZero() || (!rec.ExpiresAt.IsZero() && !now.Before(rec.ExpiresAt)) {
		return &Introspection{Active: false}, nil
	}
	if rec.ConsentID != "" {
		cn, err := s.Store.Consent(ctx, rec.ConsentID)
		if err != nil || !cn.Usable(now) {
			return &Introspection{Active: false}, nil
		}
	}
	out := &Introspection{Active: true, Scope: rec.Scope, ClientID: rec.ClientID, Sub: rec.PSU, Iss: s.Issuer,
		TokenType: map[string]string{"access": "Bearer", "refresh": "refresh_token"}[rec.Kind], IntentID: rec.ConsentID,
		Iat: s.Clock.Wall().Add(rec.IssuedAt.Sub(now)).Unix()}
	if out.Sub == "" {
		out.Sub = rec.ClientID
	}
	if !rec.ExpiresAt.IsZero() {
		out.Exp = s.Clock.Wall().Add(rec.ExpiresAt.Sub(now)).Unix()
	}
	out.CNF = confirmation(rec.CNF, rec.JKT)
	if rec.JKT != "" && rec.Kind == "access" {
		out.TokenType = TokenTypeDPoP
	}
	return out, nil
}

// LongLived reports whether a consent's tokens come with refresh tokens:
// the consents a TPP uses again and again without the PSU (account access,
// funds confirmation, a VRP mandate), not a single payment's.
func LongLived(cn *bank.Consent) bool {
	switch cn.Kind {
	case bank.ConsentAccountAccess, bank.ConsentFundsConfirmation, bank.ConsentDomesticVRP:
		return true
	}
	return false
}
