package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/store"
)

// Client authentication methods.
const (
	AuthPrivateKeyJWT     = "private_key_jwt"
	AuthTLSClient         = "tls_client_auth"
	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
)

// Response types.
const (
	ResponseCodeIDToken = "code id_token"
	ResponseCode        = "code"
)

// Metadata is a client's registered metadata (RFC 7591 §2, UK OB DCR 3.2
// field names).
type Metadata struct {
	ClientID                    string              `json:"client_id,omitempty"`
	ClientIDIssuedAt            int64               `json:"client_id_issued_at,omitempty"`
	ClientName                  string              `json:"client_name,omitempty"`
	RedirectURIs                []string            `json:"redirect_uris,omitempty"`
	TokenEndpointAuthMethod     string              `json:"token_endpoint_auth_method,omitempty"`
	TokenEndpointAuthSigningAlg string              `json:"token_endpoint_auth_signing_alg,omitempty"`
	GrantTypes                  []string            `json:"grant_types,omitempty"`
	ResponseTypes               []string            `json:"response_types,omitempty"`
	Scope                       string              `json:"scope,omitempty"`
	ApplicationType             string              `json:"application_type,omitempty"`
	JWKS                        *jose.JSONWebKeySet `json:"jwks,omitempty"`
	JWKSURI                     string              `json:"jwks_uri,omitempty"`
	IDTokenSignedResponseAlg    string              `json:"id_token_signed_response_alg,omitempty"`
	RequestObjectSigningAlg     string              `json:"request_object_signing_alg,omitempty"`
	TLSClientAuthSubjectDN      string              `json:"tls_client_auth_subject_dn,omitempty"`
	SoftwareID                  string              `json:"software_id,omitempty"`
	SoftwareStatement           string              `json:"software_statement,omitempty"`
	OrgID                       string              `json:"org_id,omitempty"`
	SoftwareRoles               []string            `json:"software_roles,omitempty"`
	// AuthorizationSignedResponseAlg is JARM's (§3): PS256 only.
	AuthorizationSignedResponseAlg string `json:"authorization_signed_response_alg,omitempty"`
	// DPoPBoundAccessTokens: the client's tokens are bound to its DPoP key
	// (RFC 9449 §5.2), not to its certificate.
	DPoPBoundAccessTokens bool `json:"dpop_bound_access_tokens,omitempty"`
	// Decoupled authentication (OpenID CIBA Core 1.0 §4).
	BackchannelTokenDeliveryMode               string `json:"backchannel_token_delivery_mode,omitempty"`
	BackchannelClientNotificationEndpoint      string `json:"backchannel_client_notification_endpoint,omitempty"`
	BackchannelAuthenticationRequestSigningAlg string `json:"backchannel_authentication_request_signing_alg,omitempty"`
	BackchannelUserCodeParameter               bool   `json:"backchannel_user_code_parameter,omitempty"`
}

// Client is a registered client, ready to authenticate.
type Client struct {
	Metadata
	secretHash string
	secret     string
	suspended  string
}

// Registration is the answer to a registration: the metadata plus the
// credentials the client receives once.
type Registration struct {
	Metadata
	ClientSecret            string `json:"client_secret,omitempty"`
	ClientSecretExpiresAt   *int64 `json:"client_secret_expires_at,omitempty"`
	RegistrationAccessToken string `json:"registration_access_token,omitempty"`
	RegistrationClientURI   string `json:"registration_client_uri,omitempty"`
}

var allScopes = []string{"openid", ScopeAccounts, ScopePayments, ScopeFundsConfirmations}

// validate checks metadata by RFC 7591 and the profile, and fills defaults.
func (s *Server) validate(m *Metadata) error {
	dev := s.Dev()
	if len(m.GrantTypes) == 0 {
		m.GrantTypes = []string{GrantAuthorizationCode, GrantClientCredentials, GrantRefreshToken}
	}
	for _, g := range m.GrantTypes {
		if g != GrantAuthorizationCode && g != GrantClientCredentials && g != GrantRefreshToken && g != GrantCIBA {
			return errMetadata("grant_types: %q is not supported", g)
		}
	}
	if err := s.checkCIBAMetadata(m); err != nil {
		return err
	}
	code := slices.Contains(m.GrantTypes, GrantAuthorizationCode)
	if len(m.ResponseTypes) == 0 && code {
		switch {
		case s.FAPI2():
			m.ResponseTypes = []string{ResponseCode}
		case dev:
			m.ResponseTypes = []string{ResponseCodeIDToken, ResponseCode}
		default:
			m.ResponseTypes = []string{ResponseCodeIDToken}
		}
	}
	for _, r := range m.ResponseTypes {
		if r != ResponseCodeIDToken && r != ResponseCode {
			return errMetadata("response_types: %q is not supported (use \"code id_token\" or \"code\")", r)
		}
		if r == ResponseCodeIDToken && s.FAPI2() {
			return errMetadata("response_types: the fapi2 profile has no hybrid flow; register \"code\" (FAPI 2.0 Security Profile 5.3.2.2)")
		}
	}
	if m.DPoPBoundAccessTokens && s.FAPI1() {
		return errMetadata("dpop_bound_access_tokens: the fapi profile (FAPI 1.0 Advanced) binds tokens to certificates (RFC 8705); DPoP is in dev and fapi2")
	}
	if a := m.AuthorizationSignedResponseAlg; a != "" && (a != "PS256" || s.FAPI2()) {
		return errMetadata("authorization_signed_response_alg: the bank signs authorization responses (JARM) with PS256, and not in the fapi2 profile")
	}
	if code && len(m.RedirectURIs) == 0 {
		return errRedirectURI("redirect_uris is required for the authorization_code grant")
	}
	for _, u := range m.RedirectURIs {
		if err := checkRedirectURI(u, dev); err != nil {
			return err
		}
	}
	if m.Scope == "" {
		m.Scope = strings.Join(allScopes, " ")
	}
	if scope, ok := roleScopes(m.SoftwareRoles); ok {
		m.Scope = intersectScopes(m.Scope, scope)
		if m.Scope == "" {
			return errMetadata("scope: nothing the software statement's roles allow")
		}
	}
	for _, sc := range strings.Fields(m.Scope) {
		if !slices.Contains(allScopes, sc) {
			return errMetadata("scope: %q is not supported", sc)
		}
	}
	if m.JWKS != nil && m.JWKSURI != "" {
		return errMetadata("jwks and jwks_uri must not both be present")
	}
	if m.JWKS != nil {
		if err := checkClientKeys(m.JWKS); err != nil {
			return err
		}
	}
	if m.JWKSURI != "" {
		if err := s.checkJWKSURI(m.JWKSURI); err != nil {
			return err
		}
	}
	hasKeys := m.JWKS != nil || m.JWKSURI != ""
	if m.TokenEndpointAuthMethod == "" {
		m.TokenEndpointAuthMethod = AuthPrivateKeyJWT
		if !hasKeys && dev {
			m.TokenEndpointAuthMethod = AuthClientSecretBasic
		}
	}
	switch m.TokenEndpointAuthMethod {
	case AuthPrivateKeyJWT:
		if !hasKeys {
			return errMetadata("private_key_jwt needs jwks or jwks_uri")
		}
		if m.TokenEndpointAuthSigningAlg == "" {
			m.TokenEndpointAuthSigningAlg = "PS256"
		}
		if m.TokenEndpointAuthSigningAlg != "PS256" && m.TokenEndpointAuthSigningAlg != "ES256" {
			return errMetadata("token_endpoint_auth_signing_alg: %q is not allowed (PS256 or ES256)", m.TokenEndpointAuthSigningAlg)
		}
	case AuthClientSecretBasic, AuthClientSecretPost:
		if !dev {
			return errMetadata("%s is not allowed in the fapi profile (private_key_jwt or tls_client_auth)", m.TokenEndpointAuthMethod)
		}
	case AuthTLSClient:
		if m.TLSClientAuthSubjectDN == "" {
			return errMetadata("tls_client_auth needs tls_client_auth_subject_dn")
		}
	default:
		return errMetadata("token_endpoint_auth_method: %q is not supported", m.TokenEndpointAuthMethod)
	}
	if m.IDTokenSignedResponseAlg == "" {
		m.IDTokenSignedResponseAlg = "PS256"
	}
	if m.IDTokenSignedResponseAlg != "PS256" {
		return errMetadata("id_token_signed_response_alg: the bank signs ID tokens with PS256 only")
	}
	switch m.RequestObjectSigningAlg {
	case "", "PS256", "ES256":
	case "HS256":
		if !dev {
			return errMetadata("request_object_signing_alg HS256 is allowed in the dev profile only")
		}
	default:
		return errMetadata("request_object_signing_alg: %q is not allowed (PS256 or ES256)", m.RequestObjectSigningAlg)
	}
	if m.ApplicationType == "" {
		m.ApplicationType = "web"
	}
	if m.ApplicationType != "web" {
		return errMetadata("application_type must be web (public clients are not allowed)")
	}
	return nil
}

func isLoopback(u *url.URL) bool {
	h := u.Hostname()
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}

// roleScopes maps software statement roles to the scopes they allow
// (AISP accounts, PISP payments, CBPII fundsconfirmations).
func roleScopes(roles []string) (string, bool) {
	if len(roles) == 0 {
		return "", false
	}
	out := []string{"openid"}
	for _, r := range roles {
		switch r {
		case "AISP":
			out = append(out, ScopeAccounts)
		case "PISP":
			out = append(out, ScopePayments)
		case "CBPII":
			out = append(out, ScopeFundsConfirmations)
		}
	}
	return strings.Join(out, " "), true
}

// intersectScopes keeps the asked-for scopes the roles allow; none asked
// for means all the roles allow.
func intersectScopes(asked, allowed string) string {
	if asked == "" {
		return allowed
	}
	var out []string
	for _, sc := range strings.Fields(asked) {
		if slices.Contains(strings.Fields(allowed), sc) {
			out = append(out, sc)
		}
	}
	return strings.Join(out, " ")
}

// RedirectURIAllowed reports whether a client of the profile (dev: a dev
// profile) may register this redirect URI.
func RedirectURIAllowed(raw string, dev bool) bool { return checkRedirectURI(raw, dev) == nil }

// checkRedirectURI: absolute, no fragment (RFC 6749 §3.1.2), no wildcard
// or other pattern — a redirect URI is matched exactly, so its host must be
// a host name or an IP address —, https (dev also allows http://localhost
// and loopback addresses); the fapi profile refuses localhost altogether
// (UK OB DCR).
func checkRedirectURI(raw string, dev bool) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "":
		return errRedirectURI("redirect_uris: %q is not an absolute URL", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return errRedirectURI("redirect_uris: %q has a fragment", raw)
	case strings.Contains(raw, "*") || !validHost(u.Hostname()):
		return errRedirectURI("redirect_uris: %q is not one exact URL (wildcards and patterns are not allowed)", raw)
	case u.Scheme == "https" && (dev || !isLoopback(u)):
		return nil
	case u.Scheme == "http" && dev && isLoopback(u):
		return nil
	case !dev && isLoopback(u):
		return errRedirectURI("redirect_uris: %q: localhost is not allowed in the fapi profile", raw)
	}
	return errRedirectURI("redirect_uris: %q must use https", raw)
}

// validHost reports whether h is an IP address or a DNS host name: labels
// of letters, digits and hyphens, not starting or ending with a hyphen.
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// checkClientKeys refuses private keys, weak keys and duplicate kids (FAPI
// 1 Baseline 5.2.2-5/6, Advanced 8.9).
func checkClientKeys(set *jose.JSONWebKeySet) error {
	if len(set.Keys) == 0 {
		return errMetadata("jwks has no keys")
	}
	kids := map[string]bool{}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			return errMetadata("jwks must hold public keys only (key %q has private parts)", k.KeyID)
		}
		if kids[k.KeyID] {
			return errMetadata("jwks: duplicate kid %q", k.KeyID)
		}
		kids[k.KeyID] = true
		switch pub := k.Key.(type) {
		case *rsa.PublicKey:
			if pub.N.BitLen() < 2048 {
				return errMetadata("jwks: RSA key %q is %d bits, at least 2048 required", k.KeyID, pub.N.BitLen())
			}
		case *ecdsa.PublicKey:
			if pub.Curve != elliptic.P256() {
				return errMetadata("jwks: EC key %q must be on P-256", k.KeyID)
			}
		default:
			return errMetadata("jwks: key %q must be RSA or EC", k.KeyID)
		}
	}
	return nil
}

// Register validates metadata and stores a new client. In the dev profile a
// client without keys gets a client secret.
func (s *Server) Register(ctx context.Context, m Metadata) (*Registration, error) {
	if err := s.validate(&m); err != nil {
		return nil, err
	}
	now := s.Clock.Now()
	m.ClientID = uuid.NewString()
	m.ClientIDIssuedAt = s.Clock.Wall().Unix()
	reg := &Registration{Metadata: m, RegistrationAccessToken: randomToken(),
		RegistrationClientURI: s.Issuer + PathRegister + "/" + m.ClientID}
	rec := store.Client{ID: m.ClientID, RegistrationHash: hash(reg.RegistrationAccessToken), CreatedAt: now}
	if m.TokenEndpointAuthMethod == AuthClientSecretBasic || m.TokenEndpointAuthMethod == AuthClientSecretPost {
		reg.ClientSecret = randomToken()
		zero := int64(0)
		reg.ClientSecretExpiresAt = &zero
		rec.SecretHash, rec.Secret = hash(reg.ClientSecret), reg.ClientSecret
	}
	var err error
	if rec.Metadata, err = json.Marshal(m); err != nil {
		return nil, err
	}
	if err := s.Store.CreateClient(ctx, rec); err != nil {
		return nil, softwareErr(err)
	}
	return reg, nil
}

// softwareErr explains a registration refused because the software already
// has a client. UK OB DCR registers a piece of software once per ASPSP: one
// software statement gives one client, and changes to it go through PUT on
// the client's registration URI (RFC 7592 §2.2), not a second registration.
func softwareErr(err error) error {
	if errors.Is(err, store.ErrSoftwareRegistered) {
		return errSoftwareStatement("the software statement's software already has a client at this bank: update that client " +
			"with PUT on its registration_client_uri (RFC 7592), or DELETE it first")
	}
	return err
}

// Client loads a registered client.
func (s *Server) Client(ctx context.Context, id string) (*Client, error) {
	rec, err := s.Store.Client(ctx, id)
	if err != nil {
		return nil, err
	}
	c := &Client{secretHash: rec.SecretHash, secret: rec.Secret, suspended: rec.Suspended}
	if err := json.Unmarshal(rec.Metadata, &c.Metadata); err != nil {
		return nil, err
	}
	c.ClientID = rec.ID
	return c, nil
}

// ManagedClient authenticates a registration management request (RFC 7592)
// by the registration access token issued with the registration.
func (s *Server) ManagedClient(ctx context.Context, id, bearer string) (*Client, error) {
	rec, err := s.Store.Client(ctx, id)
	if errors.Is(err, bank.ErrNotFound) {
		return nil, oerr(401, "invalid_token", "unknown client or token")
	}
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(hash(bearer)), []byte(rec.RegistrationHash)) != 1 {
		return nil, oerr(401, "invalid_token", "unknown client or token")
	}
	return s.Client(ctx, id)
}

// UpdateRegistration replaces a client's metadata (RFC 7592 §2.2); the
// client id, secret and registration token stay.
//
// What the software statement vouched for (software id, organisation,
// roles) cannot be changed by the client; in the fapi profile the update
// must itself be a signed request with a statement (UpdateRegistrationJWT).
func (s *Server) UpdateRegistration(ctx context.Context, c *Client, m Metadata) (*Registration, error) {
	if !s.Dev() {
		return nil, errInvalidRequest("the fapi profile takes a signed registration request (Content-Type: application/jwt) with a software statement")
	}
	return s.update(ctx, c, m)
}

func (s *Server) update(ctx context.Context, c *Client, m Metadata) (*Registration, error) {
	if m.ClientID != "" && m.ClientID != c.ClientID {
		return nil, errInvalidRequest("client_id does not match the registration")
	}
	m.SoftwareID, m.OrgID, m.SoftwareRoles, m.SoftwareStatement = c.SoftwareID, c.OrgID, c.SoftwareRoles, c.SoftwareStatement
	if err := s.validate(&m); err != nil {
		return nil, err
	}
	m.ClientID, m.ClientIDIssuedAt = c.ClientID, c.ClientIDIssuedAt
	rec, err := s.Store.Client(ctx, c.ClientID)
	if err != nil {
		return nil, err
	}
	if rec.Metadata, err = json.Marshal(m); err != nil {
		return nil, err
	}
	if err := s.Store.UpdateClient(ctx, rec); err != nil {
		return nil, softwareErr(err)
	}
	return &Registration{Metadata: m, RegistrationClientURI: s.Issuer + PathRegister + "/" + c.ClientID}, nil
}

// DeleteRegistration removes a client; its tokens stop working.
func (s *Server) DeleteRegistration(ctx context.Context, c *Client) error {
	return s.Store.DeleteClient(ctx, c.ClientID, s.Clock.Now())
}

// PublicView is what GET on the client URI answers: the metadata and the
// registration URI (RFC 7592 §3).
func (s *Server) PublicView(c *Client) *Registration {
	return &Registration{Metadata: c.Metadata, RegistrationClientURI: s.Issuer + PathRegister + "/" + c.ClientID}
}

// keyFor finds the client's public key for a JWT's kid (and alg family).
func (s *Server) keyFor(ctx context.Context, c *Client, t *jwt.Token) (any, error) {
	set, err := s.clientKeys(ctx, c)
	if err != nil {
		return nil, err
	}
	kid, _ := t.Header["kid"].(string)
	var keys []jose.JSONWebKey
	if kid != "" {
		keys = set.Key(kid)
	} else {
		keys = set.Keys
	}
	for _, k := range keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		switch k.Key.(type) {
		case *rsa.PublicKey:
			if t.Method.Alg() == "PS256" {
				return k.Key, nil
			}
		case *ecdsa.PublicKey:
			if t.Method.Alg() == "ES256" {
				return k.Key, nil
			}
		}
	}
	return nil, errors.New("no registered key matches the JWT's kid and alg")
}

// clientKeys returns the client's registered keys (jwks, or jwks_uri fetched).
func (s *Server) clientKeys(ctx context.Context, c *Client) (*jose.JSONWebKeySet, error) {
	if c.JWKS != nil {
		return c.JWKS, nil
	}
	if c.JWKSURI != "" {
		return s.fetchJWKS(ctx, c.JWKSURI)
	}
	return &jose.JSONWebKeySet{}, nil
}

// Thumbprint is the RFC 7638 thumbprint of a JWK, base64url (used as kid).
func Thumbprint(k jose.JSONWebKey) string {
	tp, err := k.Thumbprint(hashSHA256)
	if err != nil {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

// SigningKey returns the client's registered RSA key with the kid, for
// verifying its message signatures (PS256).
func (s *Server) SigningKey(ctx context.Context, c *Client, kid string) (any, bool) {
	set, err := s.clientKeys(ctx, c)
	if err != nil {
		return nil, false
	}
	for _, k := range set.Key(kid) {
		if pub, ok := k.Key.(*rsa.PublicKey); ok && (k.Use == "" || k.Use == "sig") {
			return pub, true
		}
	}
	return nil, false
}
