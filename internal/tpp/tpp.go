// Package tpp is a reference TPP: it registers with a sandbox, gets tokens,
// creates consents, sends the PSU through authorization (headlessly or via a
// URL for a browser), exchanges codes and calls the APIs — using the client
// libraries TPPs use (golang.org/x/oauth2 for the code exchange and refresh,
// github.com/coreos/go-oidc for discovery and ID tokens). The end-to-end
// tests, the benchmark and `sandbox tpp` drive the sandbox through it.
package tpp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"golang.org/x/oauth2"
)

// Client is a TPP registered (or about to be) with one sandbox.
type Client struct {
	Base        string // the sandbox's base URL (its issuer)
	HTTP        *http.Client
	Now         func() time.Time // the TPP's clock; time.Now when nil
	RedirectURI string
	Name        string
	Key         *rsa.PrivateKey
	KID         string
	// JWTKey, when set (WithES256), signs the TPP's JWTs — client
	// assertions, request objects, registration requests — ES256, which
	// FAPI allows beside PS256 and costs a fraction of it; Key still signs
	// x-jws-signature, which the UK standard fixes to PS256.
	JWTKey *ecdsa.PrivateKey
	// Set by Register.
	ClientID          string
	ClientSecret      string
	RegistrationToken string
	AuthMethod        string
	OrgID, SoftwareID string // from the software statement, if registered with one
	// Trace, when set, is told every HTTP exchange (the CLI prints them).
	Trace func(req *http.Request, reqBody []byte, resp *http.Response, respBody []byte)
	// Header is added to every request the TPP makes itself (not the
	// libraries' token exchange), e.g. x-sandbox-scenario.
	Header http.Header
	// Version is the UK OB version the TPP calls: "3.1" (the default,
	// v3.1.11) or "4.0".
	Version string
	// DPoP, when set (UseDPoP), is the key the TPP's tokens are bound to.
	DPoP *DPoP
	// CIBAMode is the CIBA token delivery mode it registers (poll when
	// empty; ping needs CIBANotify, its notification endpoint).
	CIBAMode, CIBANotify string

	provider *oidc.Provider
	disc     Discovery
}

// API is the base path of the resource APIs of the TPP's version.
func (c *Client) API() string {
	if c.Version == "4.0" {
		return "/open-banking/v4.0"
	}
	return "/open-banking/v3.1"
}

// risk is the Risk the TPP sends with payments: a person-to-person
// transfer in each version's words (v4.0 dropped PartyToParty).
func (c *Client) risk() map[string]any {
	if c.Version == "4.0" {
		return map[string]any{"PaymentContextCode": "TransferToThirdParty"}
	}
	return map[string]any{"PaymentContextCode": "PartyToParty"}
}

// Discovery is the part of the OpenID configuration the TPP uses.
type Discovery struct {
	Issuer                string `json:"issuer"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
	PAREndpoint           string `json:"pushed_authorization_request_endpoint"`
	RegistrationEndpoint  string `json:"registration_endpoint"`
	RevocationEndpoint    string `json:"revocation_endpoint"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
	JWKSURI               string `json:"jwks_uri"`
	// What the sandbox supports: the TPP picks its flow from these.
	ResponseTypes []string `json:"response_types_supported"`
	ResponseModes []string `json:"response_modes_supported"`
	AuthMethods   []string `json:"token_endpoint_auth_methods_supported"`
	RequirePAR    bool     `json:"require_pushed_authorization_requests"`
	// CIBA (decoupled authentication).
	BackchannelEndpoint string `json:"backchannel_authentication_endpoint"`
}

// Profile names the sandbox's security profile as its discovery shows it:
// fapi2 requires PAR and answers code only; fapi offers no client secrets;
// dev does.
func (d Discovery) Profile() string {
	switch {
	case d.RequirePAR && len(d.ResponseTypes) == 1 && d.ResponseTypes[0] == "code":
		return "fapi2"
	case !slices.ContainsFunc(d.AuthMethods, func(m string) bool { return strings.HasPrefix(m, "client_secret") }):
		return "fapi"
	}
	return "dev"
}

// New prepares a TPP for the sandbox at base, with a fresh 2048-bit PS256
// signing key, and reads the sandbox's discovery document with go-oidc.
// Options set what must be known before that (an HTTP client with TLS).
func New(ctx context.Context, base, redirectURI string, opts ...Option) (*Client, error) {
	c := &Client{Base: strings.TrimRight(base, "/"), HTTP: &http.Client{Timeout: 30 * time.Second},
		RedirectURI: redirectURI, Name: "Sandbox reference TPP"}
	for _, o := range opts {
		o(c)
	}
	if c.Key == nil {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		c.Key = key
	}
	c.HTTP.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.KID = thumbprint(&c.Key.PublicKey)
	return c, c.Discover(ctx)
}

// Option configures a Client before it first talks to the sandbox.
type Option func(*Client)

// WithHTTPClient uses hc (for example with a TLS client certificate).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.HTTP = hc } }

// WithKey signs with key instead of a fresh one (a TPP's software keeps its
// key from one registration to the next).
func WithKey(key *rsa.PrivateKey) Option { return func(c *Client) { c.Key = key } }

// WithES256 signs the TPP's JWTs with a P-256 key (ES256), fresh when key
// is nil; see Client.JWTKey.
func WithES256(key *ecdsa.PrivateKey) Option {
	return func(c *Client) {
		if key == nil {
			key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader) // fails only without a source of randomness
		}
		c.JWTKey = key
	}
}

// WithClock uses now as the TPP's clock.
func WithClock(now func() time.Time) Option { return func(c *Client) { c.Now = now } }

func thumbprint(pub crypto.PublicKey) string {
	tp, _ := (&jose.JSONWebKey{Key: pub}).Thumbprint(cryptoSHA256)
	return base64.RawURLEncoding.EncodeToString(tp)
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// ctx makes go-oidc and x/oauth2 use the TPP's HTTP client.
func (c *Client) ctx(ctx context.Context) context.Context {
	return oidc.ClientContext(context.WithValue(ctx, oauth2.HTTPClient, c.traced()), c.traced())
}

// Discover reads the sandbox's OpenID configuration.
func (c *Client) Discover(ctx context.Context) error {
	p, err := oidc.NewProvider(c.ctx(ctx), c.Base)
	if err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	c.provider = p
	return p.Claims(&c.disc)
}

// Discovery returns the sandbox's endpoints.
func (c *Client) Discovery() Discovery { return c.disc }

// JWKS is the TPP's public key set.
func (c *Client) JWKS() jose.JSONWebKeySet {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &c.Key.PublicKey, KeyID: c.KID, Algorithm: "PS256", Use: "sig"}}}
	if c.JWTKey != nil {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &c.JWTKey.PublicKey, KeyID: thumbprint(&c.JWTKey.PublicKey), Algorithm: "ES256", Use: "sig"})
	}
	return set
}

// JWTAlg is the algorithm of the TPP's JWTs: ES256 with a JWTKey, else PS256.
func (c *Client) JWTAlg() string {
	if c.JWTKey != nil {
		return "ES256"
	}
	return "PS256"
}

// Sign signs claims with the TPP's JWT key (its kid): PS256 with Key, ES256
// with JWTKey.
func (c *Client) Sign(claims jwt.Claims) (string, error) {
	if c.JWTKey != nil {
		t := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
		t.Header["kid"] = thumbprint(&c.JWTKey.PublicKey)
		return t.SignedString(c.JWTKey)
	}
	t := jwt.NewWithClaims(jwt.SigningMethodPS256, claims)
	t.Header["kid"] = c.KID
	return t.SignedString(c.Key)
}

// Metadata is the registration request the TPP sends.
func (c *Client) Metadata(authMethod string) map[string]any {
	types := []string{"code id_token", "code"}
	if c.disc.Profile() == "fapi2" {
		types = []string{"code"} // no hybrid flow in FAPI 2.0
	}
	m := map[string]any{"client_name": c.Name, "redirect_uris": []string{c.RedirectURI},
		"grant_types":    []string{"authorization_code", "client_credentials", "refresh_token"},
		"response_types": types, "token_endpoint_auth_method": authMethod,
		"scope": "openid accounts payments fundsconfirmations"}
	// The keys sign request objects whatever the authentication method.
	m["jwks"] = c.JWKS()
	m["request_object_signing_alg"] = c.JWTAlg()
	if authMethod == "private_key_jwt" {
		m["token_endpoint_auth_signing_alg"] = c.JWTAlg()
	}
	if c.DPoP != nil {
		m["dpop_bound_access_tokens"] = true
	}
	if c.disc.BackchannelEndpoint != "" {
		m["grant_types"] = append(m["grant_types"].([]string), "urn:openid:params:grant-type:ciba")
		m["backchannel_token_delivery_mode"] = cmpOr(c.CIBAMode, "poll")
		if c.CIBANotify != "" {
			m["backchannel_client_notification_endpoint"] = c.CIBANotify
		}
	}
	return m
}

// Register registers the TPP with JSON metadata (the dev profile's form).
func (c *Client) Register(ctx context.Context, authMethod string) error {
	return c.register(ctx, "application/json", c.Metadata(authMethod))
}

// SoftwareStatement asks the sandbox's directory (admin token) for a
// software statement carrying the TPP's keys and redirect URI.
func (c *Client) SoftwareStatement(ctx context.Context, adminToken string) (string, error) {
	var out struct {
		SSA string `json:"software_statement"`
	}
	err := c.Call(ctx, http.MethodPost, "/sandbox/directory/software-statements", "application/json", adminToken,
		map[string]any{"software_client_name": c.Name, "software_redirect_uris": []string{c.RedirectURI}, "software_jwks": c.JWKS()},
		http.StatusCreated, &out)
	return out.SSA, err
}

// RegisterJWT registers with a signed request carrying a software statement
// (the fapi profile's form).
func (c *Client) RegisterJWT(ctx context.Context, ssa string) error {
	signed := c.RegisterJWTBody(ssa)
	if signed == "" {
		return fmt.Errorf("software statement: not a JWT")
	}
	return c.register(ctx, "application/jwt", signed)
}

// RegisterJWTBody is the signed registration request RegisterJWT sends.
func (c *Client) RegisterJWTBody(ssa string) string {
	claims := jwt.MapClaims{}
	for k, v := range c.Metadata("private_key_jwt") {
		claims[k] = v
	}
	var unverified jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(ssa, &unverified); err != nil {
		return ""
	}
	now := c.now()
	claims["iss"], claims["aud"], claims["iat"], claims["exp"], claims["jti"] = unverified["software_id"], c.disc.Issuer,
		now.Unix(), now.Add(5*time.Minute).Unix(), uuid.NewString()
	claims["software_statement"] = ssa
	signed, err := c.Sign(claims)
	if err != nil {
		return ""
	}
	return signed
}

func (c *Client) register(ctx context.Context, ctype string, body any) error {
	var reg struct {
		ClientID                string `json:"client_id"`
		ClientSecret            string `json:"client_secret"`
		RegistrationAccessToken string `json:"registration_access_token"`
		TokenEndpointAuthMethod string `json:"token_endpoint_auth_method"`
		OrgID                   string `json:"org_id"`
		SoftwareID              string `json:"software_id"`
	}
	if err := c.Call(ctx, http.MethodPost, c.disc.RegistrationEndpoint, ctype, "", body, http.StatusCreated, &reg); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	c.ClientID, c.ClientSecret, c.RegistrationToken, c.AuthMethod = reg.ClientID, reg.ClientSecret, reg.RegistrationAccessToken, reg.TokenEndpointAuthMethod
	c.OrgID, c.SoftwareID = reg.OrgID, reg.SoftwareID
	return nil
}

// Assertion makes a private_key_jwt client assertion for aud (the issuer by
// default).
func (c *Client) Assertion(aud any) (string, error) {
	if aud == nil {
		aud = c.disc.Issuer
	}
	now := c.now()
	return c.Sign(jwt.MapClaims{"iss": c.ClientID, "sub": c.ClientID, "aud": aud, "jti": uuid.NewString(),
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()})
}

// authParams adds the client authentication to a token-endpoint form.
func (c *Client) authParams(v url.Values) (url.Values, error) {
	switch c.AuthMethod {
	case "private_key_jwt":
		a, err := c.Assertion(nil)
		if err != nil {
			return nil, err
		}
		v.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		v.Set("client_assertion", a)
	case "client_secret_post":
		v.Set("client_id", c.ClientID)
		v.Set("client_secret", c.ClientSecret)
	}
	return v, nil
}

// PostForm calls a token-endpoint-like URL with the client's authentication.
func (c *Client) PostForm(ctx context.Context, endpoint string, v url.Values, out any) (int, error) {
	v, err := c.authParams(v)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(v.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.AuthMethod == "client_secret_basic" {
		req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
	}
	status, body, err := c.do(req, []byte(v.Encode()))
	if err != nil {
		return 0, err
	}
	if out != nil && len(body) > 0 {
		if err := json.Unmarshal(body, out); err != nil {
			return status, fmt.Errorf("%s: %s", endpoint, body)
		}
	}
	return status, nil
}

// ClientCredentials gets a client-credentials access token for scope.
func (c *Client) ClientCredentials(ctx context.Context, scope string) (string, error) {
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	status, err := c.PostForm(ctx, c.disc.TokenEndpoint, url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}, &tok)
	if err != nil {
		return "", err
	}
	if status != http.StatusOK {
		return "", fmt.Errorf("client credentials: %d %s: %s", status, tok.Error, tok.Description)
	}
	c.markDPoP(tok.AccessToken, tok.TokenType)
	return tok.AccessToken, nil
}

// Call makes a JSON call and decodes the answer, failing on another status.
func (c *Client) Call(ctx context.Context, method, u, ctype, token string, body any, want int, out any) error {
	status, resp, _, err := c.Send(ctx, method, u, ctype, token, body, nil)
	if err != nil {
		return err
	}
	if status != want {
		return &StatusError{Status: status, Body: resp}
	}
	if out != nil && len(resp) > 0 {
		return json.Unmarshal(resp, out)
	}
	return nil
}

// Send makes a call with extra headers and returns the answer as it is.
func (c *Client) Send(ctx context.Context, method, u, ctype, token string, body any, headers map[string]string) (int, []byte, http.Header, error) {
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			return 0, nil, nil, err
		}
	}
	if !strings.HasPrefix(u, "http") {
		u = c.Base + u
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(raw))
	if err != nil {
		return 0, nil, nil, err
	}
	if raw != nil {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		scheme := "Bearer "
		if c.isDPoP(token) {
			scheme = "DPoP " // and the transport adds the proof
		}
		req.Header.Set("Authorization", scheme+token)
	}
	req.Header.Set("x-fapi-interaction-id", uuid.NewString())
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.httpDo(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if c.Trace != nil {
		c.Trace(sent(req, resp), raw, resp, out)
	}
	return resp.StatusCode, out, resp.Header, err
}

// StatusError is an answer with an unexpected status.
type StatusError struct {
	Status int
	Body   []byte
}

func (e *StatusError) Error() string { return fmt.Sprintf("status %d: %.500s", e.Status, e.Body) }

// httpDo sends a request with the client's extra headers.
func (c *Client) httpDo(req *http.Request) (*http.Response, error) {
	for k, vs := range c.Header {
		if req.Header.Get(k) == "" {
			req.Header[http.CanonicalHeaderKey(k)] = vs
		}
	}
	return c.HTTP.Do(req)
}

func (c *Client) do(req *http.Request, reqBody []byte) (int, []byte, error) {
	resp, err := c.httpDo(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if c.Trace != nil {
		c.Trace(sent(req, resp), reqBody, resp, body)
	}
	return resp.StatusCode, body, err
}

// sent is the request as it went out: with the headers the transport
// added (a DPoP proof), where the response says.
func sent(req *http.Request, resp *http.Response) *http.Request {
	if resp.Request != nil {
		return resp.Request
	}
	return req
}

// traced is the HTTP client the libraries use, reporting to Trace.
func (c *Client) traced() *http.Client {
	if c.Trace == nil {
		return c.HTTP
	}
	cp := *c.HTTP
	cp.Transport = traceTransport{c: c, next: c.HTTP.Transport}
	return &cp
}

type traceTransport struct {
	c    *Client
	next http.RoundTripper
}

func (t traceTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	next := t.next
	if next == nil {
		next = http.DefaultTransport
	}
	var reqBody []byte
	if req.Body != nil {
		reqBody, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	t.c.Trace(sent(req, resp), reqBody, resp, body)
	return resp, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func pkce() (verifier, challenge string) {
	b := make([]byte, 32)
	rand.Read(b)
	verifier = base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}
