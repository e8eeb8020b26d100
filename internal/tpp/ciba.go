package tpp

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"golang.org/x/oauth2"
)

// Decoupled authentication (OpenID CIBA Core 1.0): the TPP asks the bank
// to have the PSU approve a consent on another device, then collects the
// tokens from the token endpoint.

// GrantCIBA is the token endpoint's grant type for CIBA (§10.1).
const GrantCIBA = "urn:openid:params:grant-type:ciba"

// CIBAOptions tune a backchannel authentication request (tests use them to
// break rules).
type CIBAOptions struct {
	Scope string
	// The PSU's hint: a username in LoginHint (the default), or an ID token
	// the bank issued (IDTokenHint), or a JWT the TPP signs for LoginHintToken.
	LoginHint, IDTokenHint, LoginHintToken string
	BindingMessage                         string
	NotificationToken                      string         // ping mode
	Claims                                 map[string]any // added to / overriding the request's claims
}

// CIBARequest is the bank's answer to a backchannel authentication request.
type CIBARequest struct {
	AuthReqID string `json:"auth_req_id"`
	ExpiresIn int    `json:"expires_in"`
	Interval  int    `json:"interval"`
	// Request is the signed authentication request that was sent.
	Request string `json:"-"`
}

// TokenError is an OAuth error from the token endpoint (authorization_pending,
// slow_down, expired_token, access_denied, ...).
type TokenError struct {
	Status            int
	Code, Description string
}

func (e *TokenError) Error() string {
	return fmt.Sprintf("token endpoint: %d %s: %s", e.Status, e.Code, e.Description)
}

// BackchannelAuthorize sends a signed backchannel authentication request
// (CIBA Core §7.1.1; FAPI-CIBA) for a consent: the PSU's hint, the consent as
// claims.id_token.openbanking_intent_id, a binding message.
func (c *Client) BackchannelAuthorize(ctx context.Context, consentID string, o CIBAOptions) (*CIBARequest, error) {
	if o.Scope == "" {
		o.Scope = "openid accounts"
	}
	now := c.now()
	claims := jwt.MapClaims{"iss": c.ClientID, "aud": c.disc.Issuer, "iat": now.Unix(), "nbf": now.Unix(),
		"exp": now.Add(5 * time.Minute).Unix(), "jti": uuid.NewString(), "scope": o.Scope,
		"claims": map[string]any{"id_token": map[string]any{
			"openbanking_intent_id": map[string]any{"value": consentID, "essential": true},
			"acr":                   map[string]any{"essential": true, "values": []string{"urn:openbanking:psd2:sca"}}}}}
	for k, v := range map[string]string{"login_hint": o.LoginHint, "id_token_hint": o.IDTokenHint, "login_hint_token": o.LoginHintToken,
		"binding_message": o.BindingMessage, "client_notification_token": o.NotificationToken} {
		if v != "" {
			claims[k] = v
		}
	}
	for k, v := range o.Claims {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	signed, err := c.Sign(claims)
	if err != nil {
		return nil, err
	}
	var out struct {
		CIBARequest
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	status, err := c.PostForm(ctx, c.disc.BackchannelEndpoint, url.Values{"request": {signed}}, &out)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, &TokenError{Status: status, Code: out.Error, Description: out.Description}
	}
	out.CIBARequest.Request = signed
	return &out.CIBARequest, nil
}

// LoginHintToken signs a login_hint_token naming the PSU (sub).
func (c *Client) LoginHintToken(psu string) (string, error) {
	now := c.now()
	return c.Sign(jwt.MapClaims{"sub": psu, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()})
}

// PollCIBA asks the token endpoint once for a decoupled request's tokens;
// until they are there the answer is a *TokenError. The ID token is
// verified with go-oidc.
func (c *Client) PollCIBA(ctx context.Context, authReqID string) (*Tokens, error) {
	var tok struct {
		AccessToken  string `json:"access_token"`
		TokenType    string `json:"token_type"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int    `json:"expires_in"`
		IDToken      string `json:"id_token"`
		Error        string `json:"error"`
		Description  string `json:"error_description"`
	}
	status, err := c.PostForm(ctx, c.disc.TokenEndpoint, url.Values{"grant_type": {GrantCIBA}, "auth_req_id": {authReqID}}, &tok)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, &TokenError{Status: status, Code: tok.Error, Description: tok.Description}
	}
	c.markDPoP(tok.AccessToken, tok.TokenType)
	out := &Tokens{Token: (&oauth2.Token{AccessToken: tok.AccessToken, TokenType: tok.TokenType, RefreshToken: tok.RefreshToken,
		Expiry: c.now().Add(time.Duration(tok.ExpiresIn) * time.Second)}).WithExtra(map[string]any{"id_token": tok.IDToken})}
	if tok.IDToken != "" {
		if out.IDToken, err = c.verifyIDToken(ctx, tok.IDToken); err != nil {
			return nil, fmt.Errorf("ID token from the token endpoint: %w", err)
		}
	}
	return out, nil
}

// HeadlessCIBA is the PSU deciding on their phone, through POST
// /sandbox/psu/authorize with the auth_req_id (204).
func (c *Client) HeadlessCIBA(ctx context.Context, authReqID, user, password, decision string, accounts []string) error {
	body := map[string]any{"auth_req_id": authReqID, "username": user, "password": password, "decision": decision}
	if accounts != nil {
		body["accounts"] = accounts
	}
	return c.Call(ctx, http.MethodPost, "/sandbox/psu/authorize", "application/json", "", body, http.StatusNoContent, nil)
}
