package oauth

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/jsonshape"
	"github.com/obsandbox/sandbox/internal/store"
)

// Request object rules (FAPI 1 Advanced 5.2.2-13/15/17).
const (
	MaxRequestObjectLifetime = 60 * time.Minute // exp - nbf
	MaxRequestObjectAge      = 60 * time.Minute // now - nbf
	PARLifetime              = 90 * time.Second
	AuthRequestLifetime      = 15 * time.Minute // the PSU has this long at the pages
)

// AuthParams is a validated authorization request: what the request object
// (or the pushed request) said.
type AuthParams struct {
	ClientID            string `json:"client_id"`
	ResponseType        string `json:"response_type"`
	ResponseMode        string `json:"response_mode"` // as asked, then as used: query, fragment, query.jwt, fragment.jwt
	RedirectURI         string `json:"redirect_uri"`
	Scope               string `json:"scope"`
	State               string `json:"state,omitempty"`
	Nonce               string `json:"nonce,omitempty"`
	CodeChallenge       string `json:"code_challenge,omitempty"`
	CodeChallengeMethod string `json:"code_challenge_method,omitempty"`
	IntentID            string `json:"openbanking_intent_id"`
	ACR                 string `json:"acr,omitempty"`
	ViaPAR              bool   `json:"via_par,omitempty"` // pushed (RFC 9126), not passed by value
}

// AuthorizeError is a refused authorization request. When Redirect is false
// the redirect URI cannot be trusted and the PSU sees an error page (OIDC
// Core 3.1.2.6); otherwise the error goes back to the client's redirect URI.
type AuthorizeError struct {
	Redirect    bool
	Params      AuthParams
	Code        string
	Description string
}

func (e *AuthorizeError) Error() string { return e.Code + ": " + e.Description }

func pageErr(code, format string, args ...any) *AuthorizeError {
	return &AuthorizeError{Code: code, Description: fmt.Sprintf(format, args...)}
}

func redirectErr(p AuthParams, code, format string, args ...any) *AuthorizeError {
	return &AuthorizeError{Redirect: true, Params: p, Code: code, Description: fmt.Sprintf(format, args...)}
}

// AuthRequest is an authorization request the PSU can act on.
type AuthRequest struct {
	Params  AuthParams
	Client  *Client
	Consent *bank.Consent
	// Reauth: the PSU re-authorises an Authorised account-access consent
	// whose access they had revoked at the bank (SPEC §8).
	Reauth bool
	parURI string // the pushed request to use up when the PSU decides
}

// ParseAuthorize validates an authorization request given as the query of
// the URL the TPP sends the PSU to: client_id plus a signed request object
// (request) or a pushed one (request_uri). Only the parameters inside the
// request object count (FAPI 1 Advanced 5.2.2-10); response_type, client_id
// and scope outside it must agree with it.
func (s *Server) ParseAuthorize(ctx context.Context, q url.Values) (*AuthRequest, error) {
	if name, bad := controlParam(q); bad {
		return nil, pageErr("invalid_request", "parameter %q holds control characters or is not UTF-8", name)
	}
	clientID := q.Get("client_id")
	if clientID == "" {
		return nil, pageErr("invalid_request", "client_id is missing")
	}
	c, err := s.Client(ctx, clientID)
	if errors.Is(err, bank.ErrNotFound) {
		return nil, pageErr("invalid_client", "unknown client_id")
	}
	if err != nil {
		return nil, err
	}
	if c.suspended != "" {
		return nil, pageErr("unauthorized_client", "the client is suspended: %s", c.suspended)
	}
	var p AuthParams
	switch {
	case q.Get("request") != "" && q.Get("request_uri") != "":
		return nil, pageErr("invalid_request", "request and request_uri must not both be sent")
	case q.Get("request_uri") != "":
		par, err := s.Store.PeekPAR(ctx, q.Get("request_uri"), s.Clock.Now())
		if errors.Is(err, bank.ErrNotFound) {
			return nil, pageErr("invalid_request_uri", "request_uri is unknown, used or expired")
		}
		if err != nil {
			return nil, err
		}
		if par.ClientID != c.ClientID {
			return nil, pageErr("invalid_request_uri", "request_uri was pushed by another client")
		}
		if err := json.Unmarshal(par.Params, &p); err != nil {
			return nil, err
		}
		p.ViaPAR = true
	case q.Get("request") != "" && s.FAPI2():
		// FAPI 2.0 Security Profile 5.3.2.2-2: authorization requests come
		// through PAR only.
		return nil, pageErr("invalid_request", "the fapi2 profile takes authorization requests only through PAR (request_uri): push the request to %s first", s.Issuer+PathPAR)
	case q.Get("request") != "":
		if p, err = s.requestObject(ctx, c, q.Get("request")); err != nil {
			return nil, err
		}
	case s.FAPI2():
		return nil, pageErr("invalid_request", "the fapi2 profile takes authorization requests only through PAR: a request_uri is required")
	default:
		return nil, pageErr("invalid_request", "a signed request object (request or request_uri) is required")
	}
	// The redirect URI must match a registered one exactly before anything
	// is sent to it.
	if p.RedirectURI == "" || !slices.Contains(c.RedirectURIs, p.RedirectURI) {
		return nil, pageErr("invalid_request", "redirect_uri %q is not registered for this client", p.RedirectURI)
	}
	// A URI registered under dev rules is not trusted in fapi.
	if err := checkRedirectURI(p.RedirectURI, s.Dev()); err != nil {
		return nil, pageErr("invalid_request", "redirect_uri %q is not allowed in the %s profile", p.RedirectURI, s.Profile)
	}
	for _, name := range []string{"response_type", "client_id"} {
		if v := q.Get(name); v != "" && v != map[string]string{"response_type": p.ResponseType, "client_id": p.ClientID}[name] {
			return nil, redirectErr(p, "invalid_request", "%s outside the request object differs from the one inside", name)
		}
	}
	ar, err := s.checkParams(ctx, c, p)
	if err != nil {
		return nil, err
	}
	if p.ViaPAR {
		ar.parURI = q.Get("request_uri")
	}
	return ar, nil
}

// Consume uses up the pushed request an authorization request came from
// (single use, RFC 9126 §4): at the authorize endpoint for the browser, at
// the decision for the headless PSU.
func (s *Server) Consume(ctx context.Context, ar *AuthRequest) error {
	if ar.parURI == "" {
		return nil
	}
	if _, err := s.Store.TakePAR(ctx, ar.parURI, s.Clock.Now()); err != nil {
		if errors.Is(err, bank.ErrNotFound) {
			return pageErr("invalid_request_uri", "request_uri is unknown, used or expired")
		}
		return err
	}
	ar.parURI = ""
	return nil
}

// checkParams applies the rules that can be reported to the redirect URI.
func (s *Server) checkParams(ctx context.Context, c *Client, p AuthParams) (*AuthRequest, error) {
	asked := p.ResponseMode
	switch p.ResponseType {
	case ResponseCodeIDToken:
		p.ResponseMode = "fragment"
	case ResponseCode:
		p.ResponseMode = "query"
	default:
		p.ResponseMode = "fragment"
		return nil, redirectErr(p, "unsupported_response_type", "response_type %q is not supported", p.ResponseType)
	}
	if p.ResponseType == ResponseCodeIDToken && s.FAPI2() {
		return nil, redirectErr(p, "unsupported_response_type", "the fapi2 profile issues codes with response_type=code only, no hybrid flow (FAPI 2.0 Security Profile 5.3.2.2)")
	}
	mode, ok := responseMode(p.ResponseType, asked)
	if !ok || (IsJARM(mode) && s.FAPI2()) {
		return nil, redirectErr(p, "invalid_request", "response_mode %q is not supported with response_type %q in the %s profile", asked, p.ResponseType, s.Profile)
	}
	p.ResponseMode = mode
	if p.ResponseType == ResponseCode && s.FAPI1() && !IsJARM(mode) {
		// FAPI 1.0 Advanced 5.2.2-2: code id_token, or code with JARM.
		return nil, redirectErr(p, "invalid_request", "the fapi profile takes response_type=code only with response_mode=jwt (JARM, FAPI 1.0 Advanced 5.2.2-2); or use \"code id_token\"")
	}
	if !slices.Contains(c.ResponseTypes, p.ResponseType) {
		return nil, redirectErr(p, "unauthorized_client", "the client did not register response_type %q", p.ResponseType)
	}
	if !c.hasGrant(GrantAuthorizationCode) {
		return nil, redirectErr(p, "unauthorized_client", "the client did not register the authorization_code grant")
	}
	scopes := strings.Fields(p.Scope)
	if !slices.Contains(scopes, "openid") {
		return nil, redirectErr(p, "invalid_scope", "scope must include openid")
	}
	for _, sc := range scopes {
		if !slices.Contains(strings.Fields(c.Scope), sc) {
			return nil, redirectErr(p, "invalid_scope", "the client did not register scope %q", sc)
		}
	}
	if p.ResponseType == ResponseCodeIDToken && p.Nonce == "" {
		return nil, redirectErr(p, "invalid_request", "nonce is required with response_type \"code id_token\"")
	}
	if s.FAPI1() && p.Nonce == "" {
		// FAPI 1.0 Advanced 5.2.2.2-1 and 5.2.2.3-1: nonce whenever openid
		// is requested (and it always is here).
		return nil, redirectErr(p, "invalid_request", "nonce is required when the scope includes openid (FAPI 1.0 Advanced 5.2.2.3)")
	}
	if p.ResponseType == ResponseCode || p.CodeChallenge != "" {
		// PKCE S256 is required for the code flow (FAPI 2 / SPEC §4.2) and
		// checked whenever a challenge is sent.
		if p.CodeChallenge == "" {
			return nil, redirectErr(p, "invalid_request", "code_challenge is required (PKCE, S256)")
		}
		if p.CodeChallengeMethod != "S256" {
			return nil, redirectErr(p, "invalid_request", "code_challenge_method must be S256")
		}
		if len(p.CodeChallenge) != 43 {
			return nil, redirectErr(p, "invalid_request", "code_challenge must be a base64url SHA-256 (43 characters)")
		}
	}
	if p.IntentID == "" {
		return nil, redirectErr(p, "invalid_request", "claims.id_token.openbanking_intent_id is required")
	}
	cn, err := s.Store.Consent(ctx, p.IntentID)
	if errors.Is(err, bank.ErrNotFound) || (err == nil && (cn.Deleted || cn.ClientID != c.ClientID)) {
		return nil, redirectErr(p, "invalid_request", "openbanking_intent_id is not a consent of this client")
	}
	if err != nil {
		return nil, err
	}
	reauth := cn.Status == bank.StatusAuthorised && cn.PSURevoked && cn.Kind == bank.ConsentAccountAccess
	if cn.Status != bank.StatusAwaitingAuthorisation && !reauth {
		return nil, redirectErr(p, "invalid_request", "the consent is %s, not AwaitingAuthorisation", cn.Status)
	}
	if cn.Expired(s.Clock.Now()) {
		return nil, redirectErr(p, "invalid_request", "the consent has expired")
	}
	if want := consentScope(cn.Kind); !slices.Contains(scopes, want) {
		return nil, redirectErr(p, "invalid_scope", "a %s consent needs scope %q", cn.Kind, want)
	}
	return &AuthRequest{Params: p, Client: c, Consent: &cn, Reauth: reauth}, nil
}

// consentScope is the scope a consent kind's tokens carry.
func consentScope(kind string) string {
	switch kind {
	case bank.ConsentAccountAccess:
		return ScopeAccounts
	case bank.ConsentFundsConfirmation:
		return ScopeFundsConfirmations
	}
	return ScopePayments
}

// requestClaims are a request object's claims.
type requestClaims struct {
	ResponseType        string          `json:"response_type"`
	ResponseMode        string          `json:"response_mode"`
	ClientID            string          `json:"client_id"`
	RedirectURI         string          `json:"redirect_uri"`
	Scope               string          `json:"scope"`
	State               string          `json:"state"`
	Nonce               string          `json:"nonce"`
	CodeChallenge       string          `json:"code_challenge"`
	CodeChallengeMethod string          `json:"code_challenge_method"`
	Claims              json.RawMessage `json:"claims"`
	jwt.RegisteredClaims
}

// requestObject verifies a signed request object (RFC 9101; FAPI 1
// Advanced 5.2.2): PS256 or ES256 by a registered key (HS256 with the client
// secret in the dev profile); iss the client; aud the issuer; exp and nbf
// present, nbf at most 60 minutes in the past, exp at most 60 minutes after
// nbf. Times are real time (SPEC §8 "Two clocks").
func (s *Server) requestObject(ctx context.Context, c *Client, raw string) (AuthParams, error) {
	var rc requestClaims
	err := parseJWT(raw, &rc, func(t *jwt.Token) (any, error) {
		if t.Method.Alg() == "HS256" {
			return []byte(c.secret), nil
		}
		return s.keyFor(ctx, c, t)
	}, jwt.WithValidMethods(s.requestAlgs(c)), jwt.WithExpirationRequired(), jwt.WithTimeFunc(s.Clock.Wall), jwt.WithLeeway(10*time.Second))
	if err != nil {
		return AuthParams{}, pageErr("invalid_request_object", "the request object is invalid: %v", err)
	}
	var all jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(raw, &all); err != nil {
		return AuthParams{}, pageErr("invalid_request_object", "the request object is invalid: %v", err)
	}
	if name, bad := controlClaim("", map[string]any(all)); bad {
		return AuthParams{}, pageErr("invalid_request_object", "the request object's %q holds control characters or is not UTF-8", name)
	}
	switch {
	case rc.Issuer != c.ClientID:
		return AuthParams{}, pageErr("invalid_request_object", "the request object's iss must be the client_id")
	case rc.ClientID != c.ClientID:
		return AuthParams{}, pageErr("invalid_request_object", "the request object's client_id must be the client's")
	}
	if problem := s.requestJWTRules(rc.RegisteredClaims); problem != "" {
		return AuthParams{}, pageErr("invalid_request_object", "the request object's %s", problem)
	}
	p := AuthParams{ClientID: rc.ClientID, ResponseType: rc.ResponseType, ResponseMode: rc.ResponseMode, RedirectURI: rc.RedirectURI, Scope: rc.Scope,
		State: rc.State, Nonce: rc.Nonce, CodeChallenge: rc.CodeChallenge, CodeChallengeMethod: rc.CodeChallengeMethod}
	p.IntentID, p.ACR = intentOf(rc.Claims)
	return p, nil
}

// requestAlgs are the algorithms a client's signed requests may use: PS256
// or ES256 (the one it registered, if any); in dev also HS256 with its
// client secret.
func (s *Server) requestAlgs(c *Client) []string {
	algs := []string{"PS256", "ES256"}
	if c.RequestObjectSigningAlg != "" && c.RequestObjectSigningAlg != "HS256" {
		algs = []string{c.RequestObjectSigningAlg}
	}
	if s.Dev() && c.secret != "" && (c.RequestObjectSigningAlg == "" || c.RequestObjectSigningAlg == "HS256") {
		algs = append(algs, "HS256")
	}
	return algs
}

// requestJWTRules are the rules of a signed request's audience and times
// (FAPI 1 Advanced 5.2.2-13/15/17; CIBA Core §7.1.1 for authentication
// requests): aud the issuer, nbf present and at most 60 minutes in the past,
// exp at most 60 minutes after nbf. Times are real time (SPEC §8 "Two
// clocks"). It names what is wrong, or returns "".
func (s *Server) requestJWTRules(rc jwt.RegisteredClaims) string {
	switch {
	case !slices.Contains(rc.Audience, s.Issuer):
		return "aud must be the issuer " + s.Issuer
	case rc.NotBefore == nil:
		return "nbf is missing"
	case s.Clock.Wall().Sub(rc.NotBefore.Time) > MaxRequestObjectAge:
		return "nbf is more than 60 minutes in the past"
	case rc.ExpiresAt.Time.Sub(rc.NotBefore.Time) > MaxRequestObjectLifetime:
		return "exp is more than 60 minutes after its nbf"
	}
	return ""
}

// intentOf reads claims.id_token.openbanking_intent_id.value (or, failing
// that, claims.userinfo's) and the requested acr.
func intentOf(raw json.RawMessage) (intent, acr string) {
	if len(raw) == 0 {
		return "", ""
	}
	var cl map[string]map[string]struct {
		Value  string   `json:"value"`
		Values []string `json:"values"`
	}
	// Claims a strict reader would refuse (a key twice) name no intent.
	if jsonshape.Check(raw, jsonshape.Limits{}) != nil || json.Unmarshal(raw, &cl) != nil {
		return "", ""
	}
	for _, part := range []string{"id_token", "userinfo"} {
		if v := cl[part]["openbanking_intent_id"].Value; v != "" && intent == "" {
			intent = v
		}
		if a := cl[part]["acr"]; a.Value != "" && acr == "" {
			acr = a.Value
		} else if len(a.Values) > 0 && acr == "" {
			acr = a.Values[0]
		}
	}
	return intent, acr
}

// PushAuthorization stores a pushed authorization request (RFC 9126) and
// returns its request_uri. The fapi profile takes a signed request object
// only; dev also takes plain parameters, the ConsentId travelling in the OIDC
// claims parameter (SPEC §8 "PAR").
func (s *Server) PushAuthorization(ctx context.Context, c *Client, form url.Values) (string, int, error) {
	if form.Get("request_uri") != "" {
		return "", 0, errInvalidRequest("request_uri is not allowed in a pushed request")
	}
	if name, bad := controlParam(form); bad {
		return "", 0, errInvalidRequest("parameter %q holds control characters or is not UTF-8", name)
	}
	var p AuthParams
	if raw := form.Get("request"); raw != "" {
		var err error
		if p, err = s.requestObject(ctx, c, raw); err != nil {
			var ae *AuthorizeError
			if errors.As(err, &ae) {
				return "", 0, oerr(400, ae.Code, "%s", ae.Description)
			}
			return "", 0, err
		}
	} else {
		if s.FAPI1() {
			return "", 0, oerr(400, "invalid_request", "the fapi profile requires a signed request object in the pushed request")
		}
		// dev, and fapi2 (FAPI 2.0 Security Profile: request objects are
		// optional), take plain parameters too.
		p = AuthParams{ClientID: c.ClientID, ResponseType: form.Get("response_type"), ResponseMode: form.Get("response_mode"), RedirectURI: form.Get("redirect_uri"),
			Scope: form.Get("scope"), State: form.Get("state"), Nonce: form.Get("nonce"),
			CodeChallenge: form.Get("code_challenge"), CodeChallengeMethod: form.Get("code_challenge_method")}
		p.IntentID, p.ACR = intentOf(json.RawMessage(form.Get("claims")))
	}
	if p.ClientID != "" && p.ClientID != c.ClientID {
		return "", 0, errInvalidRequest("client_id does not match the authenticated client")
	}
	// PAR requires PKCE (FAPI 1 Advanced 5.2.2-18).
	if p.CodeChallenge == "" {
		return "", 0, errInvalidRequest("code_challenge is required with PAR (PKCE, S256)")
	}
	if p.RedirectURI == "" || !slices.Contains(c.RedirectURIs, p.RedirectURI) {
		return "", 0, errInvalidRequest("redirect_uri is not registered for this client")
	}
	p.ViaPAR = true
	if err := checkRedirectURI(p.RedirectURI, s.Dev()); err != nil {
		return "", 0, err
	}
	if _, err := s.checkParams(ctx, c, p); err != nil {
		var ae *AuthorizeError
		if errors.As(err, &ae) {
			return "", 0, oerr(400, ae.Code, "%s", ae.Description)
		}
		return "", 0, err
	}
	p.ViaPAR = true
	raw, err := json.Marshal(p)
	if err != nil {
		return "", 0, err
	}
	uri := "urn:ietf:params:oauth:request_uri:" + randomToken()
	if err := s.Store.SavePAR(ctx, store.PAR{RequestURI: uri, ClientID: c.ClientID, Params: raw,
		ExpiresAt: s.Clock.Now().Add(PARLifetime)}); err != nil {
		return "", 0, err
	}
	return uri, int(PARLifetime / time.Second), nil
}

// Authorization request parameters are text: one that holds a control
// character (C0, DEL, C1) or is not UTF-8 is refused, whichever parameter it
// is and however it came — query, request object or pushed request — before
// anything is sent back with it (a state or nonce with a line break would
// otherwise travel on to the client's redirect URI, pages and logs).

// badText reports whether v holds a control character or is not UTF-8.
func badText(v string) bool {
	return !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl)
}

// controlParam names a parameter that is not clean text (the name is
// quoted with %q where it is reported). The OIDC claims parameter is JSON,
// whose whitespace may hold line breaks: its decoded strings are checked.
func controlParam(v url.Values) (string, bool) {
	for k, vs := range v {
		if badText(k) {
			return k, true
		}
		for _, x := range vs {
			var doc any
			if k == "claims" && json.Unmarshal([]byte(x), &doc) == nil {
				if name, bad := controlClaim(k, doc); bad {
					return name, true
				}
			} else if badText(x) {
				return k, true
			}
		}
	}
	return "", false
}

// controlClaim names a claim, at any depth of a JSON value, whose name or
// text is not clean.
func controlClaim(path string, v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return path, badText(v)
	case []any:
		for i, x := range v {
			if name, bad := controlClaim(fmt.Sprintf("%s[%d]", path, i), x); bad {
				return name, true
			}
		}
	case map[string]any:
		for k, x := range v {
			name := strings.TrimPrefix(path+"."+k, ".")
			if badText(k) {
				return name, true
			}
			if name, bad := controlClaim(name, x); bad {
				return name, true
			}
		}
	}
	return "", false
}

// ErrorRedirect builds the redirect that reports an authorization error to
// the client (RFC 6749 §4.1.2.1, with iss per RFC 9207).
func (s *Server) ErrorRedirect(e *AuthorizeError) string {
	v := url.Values{"error": {e.Code}, "iss": {s.Issuer}}
	if e.Description != "" {
		v.Set("error_description", e.Description)
	}
	if e.Params.State != "" {
		v.Set("state", e.Params.State)
	}
	p := e.Params
	// An error found before the request's response_mode was settled still
	// goes back the way the client asked for, if that way is a valid one.
	if m, ok := responseMode(p.ResponseType, p.ResponseMode); ok {
		p.ResponseMode = m
	} else {
		p.ResponseMode, _ = responseMode(p.ResponseType, "")
	}
	to, err := s.respond(p, v)
	if err != nil {
		// Only a broken signing key gets here: say so without JARM.
		s.Log.Error("signing a JARM error response", "error", err)
		p.ResponseMode = strings.TrimSuffix(p.ResponseMode, ".jwt")
		to, _ = s.respond(p, url.Values{"error": {"server_error"}, "iss": {s.Issuer}, "state": {p.State}})
	}
	return to
}

// JARMLifetime is how long a signed authorization response is valid (JARM
// §4.1 recommends at most 10 minutes).
const JARMLifetime = 10 * time.Minute

// IsJARM reports whether a response mode is one of JARM's (response_mode
// jwt, query.jwt, fragment.jwt).
func IsJARM(mode string) bool { return strings.HasSuffix(mode, "jwt") }

// responseMode is the mode the response is sent in for a response type and
// the response_mode asked for (JARM §2.3; OAuth 2.0 Multiple Response Type
// Encoding Practices §2.1: a response carrying an ID token never goes in the
// query), and whether that combination is allowed.
func responseMode(responseType, asked string) (string, bool) {
	code := responseType == ResponseCode
	switch asked {
	case "":
		if code {
			return "query", true
		}
		return "fragment", true
	case "jwt":
		if code {
			return "query.jwt", true
		}
		return "fragment.jwt", true
	case "query", "query.jwt":
		return asked, code
	case "fragment", "fragment.jwt":
		return asked, true
	}
	return "", false
}

// respond builds the redirect carrying an authorization response: its
// parameters in the query or the fragment, or — with JARM — a JWT signed by
// the bank (PS256) holding them with iss, aud = the client and exp, sent as
// the one parameter response (JARM §2.1, §2.3).
func (s *Server) respond(p AuthParams, v url.Values) (string, error) {
	u, _ := url.Parse(p.RedirectURI)
	mode := p.ResponseMode
	if IsJARM(mode) {
		wall := s.Clock.Wall()
		claims := jwt.MapClaims{"iss": s.Issuer, "aud": p.ClientID, "iat": wall.Unix(), "exp": wall.Add(JARMLifetime).Unix()}
		for k := range v {
			if k != "iss" { // the JWT's own iss says who answered (RFC 9207 §2.4)
				claims[k] = v.Get(k)
			}
		}
		signed, err := s.Keys.Sign(claims, "JWT")
		if err != nil {
			return "", err
		}
		v, mode = url.Values{"response": {signed}}, strings.TrimSuffix(mode, ".jwt")
	}
	if mode == "query" {
		q := u.Query()
		for k, vs := range v {
			q[k] = vs
		}
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	u.Fragment = ""
	return u.String() + "#" + v.Encode(), nil
}

// halfHash is the OIDC c_hash / s_hash / at_hash of a value for an RS/PS256
// token: base64url of the left half of its SHA-256.
func halfHash(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// Decision is the PSU's answer to an authorization request.
type Decision struct {
	PSU      string
	Approve  bool
	Accounts []string // accounts the PSU selected; empty: every eligible one
	Why      string   // on a denial, the error_description (default: the PSU denied the request)
	Limit    int      // when > 0, at most this many of the chosen accounts are kept (scenario some-accounts)
}

// Decide records the PSU's decision on the consent and returns the URL the
// PSU's browser is sent back to: with a code (and for the hybrid flow an ID
// token) on approval, error=access_denied on denial (the consent becomes
// Rejected).
func (s *Server) Decide(ctx context.Context, ar *AuthRequest, d Decision) (string, error) {
	p := ar.Params
	if err := s.Consume(ctx, ar); err != nil {
		return "", err
	}
	if ar.Reauth && d.PSU != ar.Consent.PSU {
		return s.ErrorRedirect(&AuthorizeError{Params: p, Code: "access_denied", Description: "only the PSU who granted the consent can re-authorise it"}), nil
	}
	if !d.Approve && ar.Reauth {
		return s.ErrorRedirect(&AuthorizeError{Params: p, Code: "access_denied", Description: "the PSU did not re-authorise the consent"}), nil
	}
	refused, err := s.settle(ctx, ar.Consent, ar.Reauth, d)
	if err != nil {
		return "", err
	}
	if refused != nil {
		refused.Params = p
		return s.ErrorRedirect(refused), nil
	}
	// The PSU has just authenticated and approved: every ID token of this
	// grant, refreshed ones included, carries this auth_time (OIDC Core §2).
	authTime := s.Clock.Wall()
	now := s.Clock.Now()
	code := randomToken()
	if err := s.Store.SaveCode(ctx, store.AuthCode{Hash: hash(code), ClientID: ar.Client.ClientID, ConsentID: ar.Consent.ID,
		PSU: d.PSU, RedirectURI: p.RedirectURI, Scope: p.Scope, Nonce: p.Nonce, CodeChallenge: p.CodeChallenge,
		IssuedAt: now, ExpiresAt: now.Add(s.codeTTL()), AuthTime: authTime}); err != nil {
		return "", err
	}
	v := url.Values{"code": {code}, "iss": {s.Issuer}}
	if p.State != "" {
		v.Set("state", p.State)
	}
	if p.ResponseType == ResponseCodeIDToken {
		idt, err := s.idToken(ar.Client.ClientID, ar.Consent.ID, p.Nonce, authTime, map[string]any{
			"c_hash": halfHash(code), "s_hash": optionalHash(p.State)}, time.Time{})
		if err != nil {
			return "", err
		}
		v.Set("id_token", idt)
	}
	return s.respond(p, v)
}

// settle records the PSU's decision on a consent — the redirect flows' and
// the decoupled one's: Rejected on a denial, Authorised with the accounts
// the PSU chose on approval (for a re-authorisation, the accounts change and
// the PSU's revocation is lifted). A refusal to report to the client comes
// back as an AuthorizeError without its Params; a choice the PSU cannot make
// (an account not theirs) as the error.
func (s *Server) settle(ctx context.Context, cn *bank.Consent, reauth bool, d Decision) (*AuthorizeError, error) {
	now := s.Clock.Now()
	if !d.Approve {
		_, err := s.Store.UpdateConsent(ctx, cn.ID, func(c *bank.Consent) error {
			if c.Status != bank.StatusAwaitingAuthorisation {
				return bank.Errorf(bank.KindConsentStatus, "", "the consent is %s", c.Status)
			}
			c.Status, c.StatusAt, c.PSU = bank.StatusRejected, now, d.PSU
			return nil
		})
		if err != nil && bank.KindOf(err) != bank.KindConsentStatus {
			return nil, err
		}
		return &AuthorizeError{Code: "access_denied", Description: cmp.Or(d.Why, "the PSU denied the request")}, nil
	}
	eligible, err := s.Eligible(ctx, cn, d.PSU)
	if err != nil {
		return nil, err
	}
	chosen := d.Accounts
	if len(chosen) == 0 {
		for _, a := range eligible {
			chosen = append(chosen, a.ID)
		}
		if cn.Kind != bank.ConsentAccountAccess && len(chosen) > 1 {
			chosen = chosen[:1]
		}
	}
	if d.Limit > 0 && len(chosen) > d.Limit {
		chosen = chosen[:d.Limit]
	}
	if cn.Kind != bank.ConsentAccountAccess && len(chosen) > 1 {
		return nil, &AuthorizeError{Code: "invalid_request", Description: "a payment is made from one account: choose exactly one"}
	}
	for _, id := range chosen {
		if !slices.ContainsFunc(eligible, func(a bank.Account) bool { return a.ID == id }) {
			return nil, &AuthorizeError{Code: "invalid_request", Description: fmt.Sprintf("account %s is not one the PSU can choose for this consent", id)}
		}
	}
	if len(chosen) == 0 {
		// A failed authorisation rejects the consent (R/W profile).
		if !reauth {
			if _, err := s.Store.UpdateConsent(ctx, cn.ID, func(c *bank.Consent) error {
				if c.Status == bank.StatusAwaitingAuthorisation {
					c.Status, c.StatusAt, c.PSU = bank.StatusRejected, now, d.PSU
				}
				return nil
			}); err != nil {
				return nil, err
			}
		}
		return &AuthorizeError{Code: "access_denied", Description: "the PSU has no account this consent can use"}, nil
	}
	_, err = s.Store.UpdateConsent(ctx, cn.ID, func(c *bank.Consent) error {
		if reauth {
			if c.Status != bank.StatusAuthorised || c.PSU != d.PSU {
				return bank.Errorf(bank.KindConsentStatus, "", "the consent is %s", c.Status)
			}
			c.PSURevoked, c.Accounts = false, chosen
			return nil
		}
		if c.Status != bank.StatusAwaitingAuthorisation {
			return bank.Errorf(bank.KindConsentStatus, "", "the consent is %s, not AwaitingAuthorisation", c.Status)
		}
		c.Status, c.StatusAt, c.PSU, c.Accounts = bank.StatusAuthorised, now, d.PSU, chosen
		return nil
	})
	if bank.KindOf(err) == bank.KindConsentStatus {
		return &AuthorizeError{Code: "invalid_request", Description: err.Error()}, nil
	}
	return nil, err
}

func optionalHash(s string) any {
	if s == "" {
		return nil
	}
	return halfHash(s)
}

func (s *Server) codeTTL() time.Duration {
	if s.CodeTTL > 0 && s.CodeTTL <= DefaultCodeTTL {
		return s.CodeTTL
	}
	return DefaultCodeTTL
}

// Eligible lists the PSU's accounts a consent can use: every enabled account
// for account access; for payments and funds confirmation the GBP current
// accounts (for an international payment, the current accounts in the
// currency it is debited in, or in any the bank converts), or only the
// debtor account the consent names; none for a
// sweeping-only VRP consent whose creditor is not one of the PSU's accounts.
func (s *Server) Eligible(ctx context.Context, c *bank.Consent, psu string) ([]bank.Account, error) {
	accts, err := s.Store.AccountsOfPSU(ctx, psu)
	if err != nil {
		return nil, err
	}
	if !bank.SweepsTo(c, accts) {
		return nil, nil // a sweep goes to another account of the same PSU: this PSU holds none the consent names
	}
	out := accts[:0]
	for _, a := range accts {
		if a.Status != "Enabled" {
			continue
		}
		if c.Kind != bank.ConsentAccountAccess {
			if a.SubType != "CurrentAccount" || (c.Initiates() && !c.IsInternational() && a.Currency != "GBP") {
				continue
			}
			if in := c.Initiation; c.IsInternational() && in != nil && (!bank.NewFX(0).Supported(a.Currency) ||
				in.DebitCurrency() != "" && a.Currency != in.DebitCurrency()) {
				continue // an international payment is debited in the currency it names, or in any the bank converts
			}
			if in := c.Initiation; in != nil && in.Debtor != nil && !a.Matches(*in.Debtor) {
				continue
			}
			if in := c.Initiation; in != nil && c.Initiates() && a.Matches(in.Creditor) {
				continue // an account cannot pay itself
			}
		}
		out = append(out, a)
	}
	return out, nil
}

// idToken signs an ID token for the client (OIDC Core 2; OB intent binding;
// acr urn:openbanking:psd2:sca). authTime is when the PSU authenticated for
// the grant, the same in every ID token of it (zero for a grant recorded
// before it was kept: the claim is then left out rather than guessed).
// extra adds claims (c_hash, s_hash, at_hash); nil values are left out.
func (s *Server) idToken(clientID, intent, nonce string, authTime time.Time, extra map[string]any, refreshExp time.Time) (string, error) {
	wall := s.Clock.Wall()
	// sub is the consent, not the PSU's username: the hybrid flow's ID token
	// travels in the front channel (FAPI 1 Advanced 5.2.2.1-6).
	claims := jwt.MapClaims{"iss": s.Issuer, "sub": intent, "aud": clientID, "iat": wall.Unix(), "exp": wall.Add(10 * time.Minute).Unix(),
		"openbanking_intent_id": intent, "acr": "urn:openbanking:psd2:sca"}
	if !authTime.IsZero() {
		claims["auth_time"] = authTime.Unix()
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	if !refreshExp.IsZero() {
		claims["http://openbanking.org.uk/refresh_token_expires_at"] = refreshExp.Unix()
	}
	for k, v := range extra {
		if v != nil {
			claims[k] = v
		}
	}
	return s.Keys.Sign(claims, "JWT")
}

// Resume re-validates a stored authorization request before the PSU acts
// on it: the client and consent may have changed since.
func (s *Server) Resume(ctx context.Context, p AuthParams) (*AuthRequest, error) {
	c, err := s.Client(ctx, p.ClientID)
	if errors.Is(err, bank.ErrNotFound) {
		return nil, pageErr("invalid_client", "the client is no longer registered")
	}
	if err != nil {
		return nil, err
	}
	return s.checkParams(ctx, c, p)
}
