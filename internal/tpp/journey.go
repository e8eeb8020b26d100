package tpp

import (
	"context"
	"crypto"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"golang.org/x/oauth2"
)

const cryptoSHA256 = crypto.SHA256

// Flow is an authorization flow.
type Flow string

// The flows the sandbox supports.
const (
	Hybrid Flow = "code id_token" // FAPI 1 Advanced hybrid, ID token as detached signature
	Code   Flow = "code"          // authorization code with PKCE S256
)

// Authorization is an authorization request the TPP made, with what it must
// remember to check the answer.
type Authorization struct {
	URL          string
	Flow         Flow
	ResponseMode string // as asked: "" (the flow's default) or jwt (JARM)
	State        string
	Nonce        string
	Verifier     string
	ConsentID    string
	// JARM is the signed authorization response the bank sent back
	// (response_mode=jwt), once Callback has verified it: the JWT and its
	// claims.
	JARM       string
	JARMClaims map[string]any
}

// AuthOptions tune an authorization request (tests use them to break rules).
type AuthOptions struct {
	Flow         Flow
	ResponseMode string // jwt: the answer comes signed (JARM)
	Scope        string
	PAR          bool
	RedirectURI  string         // default: the registered one
	Claims       map[string]any // added to / overriding the request object's claims
}

// Authorize builds the URL the PSU is sent to for a consent: a signed
// request object (or a PAR request_uri) carrying openbanking_intent_id.
func (c *Client) Authorize(ctx context.Context, consentID string, o AuthOptions) (*Authorization, error) {
	if o.Flow == "" {
		o.Flow = Hybrid
	}
	if o.Scope == "" {
		o.Scope = "openid accounts"
	}
	if o.RedirectURI == "" {
		o.RedirectURI = c.RedirectURI
	}
	a := &Authorization{Flow: o.Flow, ResponseMode: o.ResponseMode, State: uuid.NewString(), Nonce: uuid.NewString(), ConsentID: consentID}
	now := c.now()
	claims := jwt.MapClaims{"iss": c.ClientID, "aud": c.disc.Issuer, "client_id": c.ClientID, "response_type": string(o.Flow),
		"redirect_uri": o.RedirectURI, "scope": o.Scope, "state": a.State, "nonce": a.Nonce,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(), "jti": uuid.NewString(),
		"claims": map[string]any{"id_token": map[string]any{
			"openbanking_intent_id": map[string]any{"value": consentID, "essential": true},
			"acr":                   map[string]any{"essential": true, "values": []string{"urn:openbanking:psd2:sca"}}}}}
	if o.ResponseMode != "" {
		claims["response_mode"] = o.ResponseMode
	}
	if o.Flow == Code || o.PAR {
		var challenge string
		a.Verifier, challenge = pkce()
		claims["code_challenge"], claims["code_challenge_method"] = challenge, "S256"
	}
	for k, v := range o.Claims {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	req, err := c.Sign(claims)
	if err != nil {
		return nil, err
	}
	q := url.Values{"client_id": {c.ClientID}, "response_type": {string(o.Flow)}, "scope": {o.Scope}}
	if o.PAR {
		var par struct {
			RequestURI  string `json:"request_uri"`
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		status, err := c.PostForm(ctx, c.disc.PAREndpoint, url.Values{"request": {req}}, &par)
		if err != nil {
			return nil, err
		}
		if status != http.StatusCreated {
			return nil, fmt.Errorf("PAR: %d %s: %s", status, par.Error, par.Description)
		}
		q = url.Values{"client_id": {c.ClientID}, "request_uri": {par.RequestURI}}
	} else {
		q.Set("request", req)
	}
	a.URL = c.disc.AuthorizationEndpoint + "?" + q.Encode()
	return a, nil
}

// Headless runs the PSU's part through POST /sandbox/psu/authorize and
// returns the URL the browser would be sent to.
func (c *Client) Headless(ctx context.Context, a *Authorization, user, password, decision string, accounts []string) (string, error) {
	var out struct {
		RedirectTo string `json:"redirect_to"`
	}
	body := map[string]any{"authorize_url": a.URL, "username": user, "password": password, "decision": decision}
	if accounts != nil {
		body["accounts"] = accounts
	}
	if err := c.Call(ctx, http.MethodPost, "/sandbox/psu/authorize", "application/json", "", body, http.StatusOK, &out); err != nil {
		return "", err
	}
	return out.RedirectTo, nil
}

// CallbackError is an error the bank sent back to the redirect URI.
type CallbackError struct{ Code, Description string }

func (e *CallbackError) Error() string { return e.Code + ": " + e.Description }

// Callback reads the redirect the PSU came back with: it checks iss (RFC
// 9207) and state, and for the hybrid flow verifies the ID token (go-oidc,
// against discovery and JWKS) with its nonce, c_hash and s_hash. A JARM
// response is verified first (VerifyJARM) and its claims read as the
// parameters.
func (c *Client) Callback(ctx context.Context, a *Authorization, redirectTo string) (string, error) {
	u, err := url.Parse(redirectTo)
	if err != nil {
		return "", err
	}
	v := u.Query()
	if a.Flow == Hybrid || strings.HasPrefix(a.ResponseMode, "fragment") || (a.ResponseMode == "jwt" && u.Fragment != "") {
		if v, err = url.ParseQuery(u.Fragment); err != nil {
			return "", err
		}
	}
	if a.ResponseMode != "" && strings.HasSuffix(a.ResponseMode, "jwt") {
		if v.Get("response") == "" {
			return "", fmt.Errorf("callback without a JARM response (asked for response_mode %s): %s", a.ResponseMode, redirectTo)
		}
		claims, err := c.VerifyJARM(ctx, v.Get("response"))
		if err != nil {
			return "", err
		}
		a.JARM, a.JARMClaims = v.Get("response"), claims
		v = url.Values{}
		for k, x := range claims {
			if s, ok := x.(string); ok {
				v.Set(k, s)
			}
		}
	}
	if v.Get("iss") != c.disc.Issuer {
		return "", fmt.Errorf("callback iss %q, want %q (mix-up?)", v.Get("iss"), c.disc.Issuer)
	}
	if v.Get("state") != a.State {
		return "", fmt.Errorf("callback state %q, want %q", v.Get("state"), a.State)
	}
	if e := v.Get("error"); e != "" {
		return "", &CallbackError{Code: e, Description: v.Get("error_description")}
	}
	code := v.Get("code")
	if code == "" {
		return "", errors.New("callback without code")
	}
	if a.Flow == Hybrid {
		idt, err := c.verifyIDToken(ctx, v.Get("id_token"))
		if err != nil {
			return "", err
		}
		var claims struct {
			Nonce  string `json:"nonce"`
			CHash  string `json:"c_hash"`
			SHash  string `json:"s_hash"`
			Intent string `json:"openbanking_intent_id"`
		}
		if err := idt.Claims(&claims); err != nil {
			return "", err
		}
		switch {
		case claims.Nonce != a.Nonce:
			return "", errors.New("ID token nonce does not match")
		case claims.CHash != halfHash(code):
			return "", errors.New("ID token c_hash does not match the code")
		case claims.SHash != halfHash(a.State):
			return "", errors.New("ID token s_hash does not match the state")
		case claims.Intent != a.ConsentID:
			return "", errors.New("ID token openbanking_intent_id is not the consent")
		}
	}
	return code, nil
}

// VerifyJARM checks a signed authorization response (JARM §2.4): signed
// by a key of the bank's JWKS (PS256), iss the bank, aud this client, not
// expired. It returns its claims.
func (c *Client) VerifyJARM(ctx context.Context, raw string) (map[string]any, error) {
	if c.disc.JWKSURI == "" {
		return nil, errors.New("JARM: the sandbox's discovery names no jwks_uri")
	}
	tok, err := jwt.Parse(raw, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		set, err := c.bankKeys(ctx)
		if err != nil {
			return nil, err
		}
		for _, k := range set.Key(kid) {
			return k.Key, nil
		}
		return nil, fmt.Errorf("no key %q in the bank's JWKS", kid)
	}, jwt.WithValidMethods([]string{"PS256"}), jwt.WithIssuer(c.disc.Issuer), jwt.WithAudience(c.ClientID),
		jwt.WithExpirationRequired(), jwt.WithTimeFunc(c.now), jwt.WithLeeway(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("JARM response refused: %w", err)
	}
	return tok.Claims.(jwt.MapClaims), nil
}

// bankKeys fetches the bank's JWKS.
func (c *Client) bankKeys(ctx context.Context) (*jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	if err := c.Call(ctx, http.MethodGet, c.disc.JWKSURI, "", "", nil, http.StatusOK, &set); err != nil {
		return nil, fmt.Errorf("the bank's JWKS: %w", err)
	}
	return &set, nil
}

func halfHash(v string) string {
	h := cryptoSHA256.New()
	h.Write([]byte(v))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
}

// verifyIDToken checks an ID token with go-oidc: signature by a key in the
// sandbox's JWKS, iss, aud and exp.
func (c *Client) verifyIDToken(ctx context.Context, raw string) (*oidc.IDToken, error) {
	v := c.provider.Verifier(&oidc.Config{ClientID: c.ClientID, SupportedSigningAlgs: []string{"PS256"}, Now: c.now})
	return v.Verify(c.ctx(ctx), raw)
}

// OAuth2 is the x/oauth2 configuration of the client.
func (c *Client) OAuth2() *oauth2.Config {
	style := oauth2.AuthStyleInParams
	if c.AuthMethod == "client_secret_basic" {
		style = oauth2.AuthStyleInHeader
	}
	cfg := &oauth2.Config{ClientID: c.ClientID, RedirectURL: c.RedirectURI,
		Endpoint: oauth2.Endpoint{AuthURL: c.disc.AuthorizationEndpoint, TokenURL: c.disc.TokenEndpoint, AuthStyle: style}}
	if c.AuthMethod == "client_secret_basic" || c.AuthMethod == "client_secret_post" {
		cfg.ClientSecret = c.ClientSecret
	}
	return cfg
}

// Tokens are what the code exchange gave.
type Tokens struct {
	*oauth2.Token
	IDToken *oidc.IDToken
}

// Exchange redeems a code with x/oauth2 (private_key_jwt as extra
// parameters) and verifies the ID token with go-oidc.
func (c *Client) Exchange(ctx context.Context, a *Authorization, code string) (*Tokens, error) {
	var opts []oauth2.AuthCodeOption
	if a.Verifier != "" {
		opts = append(opts, oauth2.VerifierOption(a.Verifier))
	}
	if c.AuthMethod == "private_key_jwt" {
		as, err := c.Assertion(nil)
		if err != nil {
			return nil, err
		}
		opts = append(opts, oauth2.SetAuthURLParam("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
			oauth2.SetAuthURLParam("client_assertion", as))
	}
	tok, err := c.OAuth2().Exchange(c.ctx(ctx), code, opts...)
	if err != nil {
		return nil, err
	}
	c.markDPoP(tok.AccessToken, tok.TokenType)
	out := &Tokens{Token: tok}
	if raw, ok := tok.Extra("id_token").(string); ok && raw != "" {
		if out.IDToken, err = c.verifyIDToken(ctx, raw); err != nil {
			return nil, fmt.Errorf("ID token from the token endpoint: %w", err)
		}
	}
	return out, nil
}

// Refresh gets a new access token from a refresh token: with x/oauth2's
// TokenSource for secret-based clients, by hand (x/oauth2 cannot add a
// client assertion to a refresh) for private_key_jwt.
func (c *Client) Refresh(ctx context.Context, refresh string) (*oauth2.Token, error) {
	if c.AuthMethod != "private_key_jwt" {
		tok, err := c.OAuth2().TokenSource(c.ctx(ctx), &oauth2.Token{RefreshToken: refresh, Expiry: time.Unix(1, 0)}).Token()
		if err == nil {
			c.markDPoP(tok.AccessToken, tok.TokenType)
		}
		return tok, err
	}
	var tok struct {
		AccessToken  string `json:"access_token"`
		TokenType    string `json:"token_type"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int    `json:"expires_in"`
		Error        string `json:"error"`
		Description  string `json:"error_description"`
	}
	status, err := c.PostForm(ctx, c.disc.TokenEndpoint, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, &tok)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, &oauth2.RetrieveError{ErrorCode: tok.Error, ErrorDescription: tok.Description, Response: &http.Response{StatusCode: status}}
	}
	c.markDPoP(tok.AccessToken, tok.TokenType)
	return &oauth2.Token{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, TokenType: tok.TokenType,
		Expiry: c.now().Add(time.Duration(tok.ExpiresIn) * time.Second)}, nil
}

// AccountConsent creates an account-access consent and returns its id.
func (c *Client) AccountConsent(ctx context.Context, ccToken string, perms []string, extra map[string]string) (string, error) {
	data := map[string]any{"Permissions": perms}
	for k, v := range extra {
		data[k] = v
	}
	var out struct {
		Data struct{ ConsentId, Status string }
	}
	err := c.Call(ctx, http.MethodPost, c.API()+"/aisp/account-access-consents", "application/json", ccToken,
		map[string]any{"Data": data, "Risk": map[string]any{}}, http.StatusCreated, &out)
	if err != nil {
		return "", fmt.Errorf("account-access consent: %w", err)
	}
	return out.Data.ConsentId, nil
}

// AISJourney runs the whole AIS journey headlessly for a PSU: client
// credentials, consent, authorization, code exchange. It returns the tokens.
func (c *Client) AISJourney(ctx context.Context, psu, password string, perms []string, accounts []string) (*Tokens, string, error) {
	cc, err := c.ClientCredentials(ctx, "accounts")
	if err != nil {
		return nil, "", err
	}
	id, err := c.AccountConsent(ctx, cc, perms, nil)
	if err != nil {
		return nil, "", err
	}
	toks, err := c.Approve(ctx, id, AuthOptions{}, psu, password, accounts)
	return toks, id, err
}

// Approve sends the PSU through the authorization of a consent and its
// approval (headless, picking accounts; nil: the page's default), then
// exchanges the code.
func (c *Client) Approve(ctx context.Context, consentID string, o AuthOptions, psu, password string, accounts []string) (*Tokens, error) {
	a, err := c.Authorize(ctx, consentID, o)
	if err != nil {
		return nil, err
	}
	to, err := c.Headless(ctx, a, psu, password, "approve", accounts)
	if err != nil {
		return nil, err
	}
	code, err := c.Callback(ctx, a, to)
	if err != nil {
		return nil, err
	}
	return c.Exchange(ctx, a, code)
}

// AllPermissions is every AIS permission of v3.1.11.
var AllPermissions = strings.Fields(`ReadAccountsBasic ReadAccountsDetail ReadBalances ReadBeneficiariesBasic
	ReadBeneficiariesDetail ReadDirectDebits ReadOffers ReadPAN ReadParty ReadPartyPSU ReadProducts
	ReadScheduledPaymentsBasic ReadScheduledPaymentsDetail ReadStandingOrdersBasic ReadStandingOrdersDetail
	ReadStatementsBasic ReadStatementsDetail ReadTransactionsBasic ReadTransactionsCredits ReadTransactionsDebits
	ReadTransactionsDetail`)
