package oauth

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/obsandbox/sandbox/internal/audit"
	"github.com/obsandbox/sandbox/internal/bank"
)

// AssertionType is the client_assertion_type of private_key_jwt (RFC 7523).
const AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// MaxAssertionLifetime bounds a client assertion's exp (SPEC §8).
const MaxAssertionLifetime = 10 * time.Minute

// Credentials are what a request to the token, PAR, revocation or
// introspection endpoint presents to authenticate its client.
type Credentials struct {
	ClientID      string // the client_id parameter, if sent
	Assertion     string
	AssertionType string
	BasicID       string // HTTP Basic (client_secret_basic)
	BasicSecret   string
	HasBasic      bool
	Secret        string // client_secret parameter (client_secret_post)
	// The certificate presented over mutual TLS (tls_client_auth).
	CertSubjectDN string
	CertThumbS256 string
	// SourceIP is the address the request came from: failures are limited
	// per address too.
	SourceIP string
}

// AuthenticateClient identifies and authenticates the client by the one
// method it registered. A request that uses more than one method is
// invalid_request (RFC 6749 §2.3: "MUST NOT use more than one
// authentication method in each request"); every other failure is
// invalid_client.
//
// Failures are limited per client id and per source address (AuthFailures):
// over the limit, the attempt is not even tried and the answer is 429 with
// RetryAfter.
func (s *Server) AuthenticateClient(ctx context.Context, cr Credentials) (*Client, error) {
	method, id, err := identify(cr)
	if s.AuthFailures != nil {
		if v := s.AuthFailures.Check(id, cr.SourceIP); !v.Allowed {
			return nil, &Error{Status: http.StatusTooManyRequests, Code: "slow_down", RetryAfter: v.RetryAfter, Rule: RuleClientAuthThrottled,
				Description: "too many failed client authentications for this client or from this address: retry after the Retry-After seconds"}
		}
	}
	var c *Client
	if err == nil {
		c, err = s.authenticate(ctx, cr, method, id)
	}
	var oe *Error
	switch {
	case err == nil && c.suspended != "":
		// The right credentials: neither a failure nor a known-good pair.
		return nil, errInvalidClient("client suspended: %s", c.suspended)
	case s.AuthFailures == nil:
	case err == nil:
		s.AuthFailures.Succeeded(c.ClientID, cr.SourceIP)
	case errors.As(err, &oe):
		var known string // unknown ids are counted per address only
		if c != nil {
			known = c.ClientID
		}
		s.AuthFailures.Failed(known, cr.SourceIP)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// RuleClientAuthThrottled names, in the audit trail, a client
// authentication refused for too many failures.
const RuleClientAuthThrottled = "client_auth.throttled"

// identify reads which method a request uses and which client it names.
func identify(cr Credentials) (method, id string, err error) {
	if n := count(cr.Assertion != "" || cr.AssertionType != "", cr.HasBasic, cr.Secret != ""); n > 1 {
		return "", "", errInvalidRequest("the request uses more than one client authentication method (RFC 6749 §2.3)")
	}
	switch {
	case cr.Assertion != "" || cr.AssertionType != "":
		if cr.AssertionType != AssertionType {
			return "", "", errInvalidClient("client_assertion_type must be %s", AssertionType)
		}
		var claims jwt.RegisteredClaims
		if err := ParseUnverified(cr.Assertion, &claims); err != nil {
			return "", "", errInvalidClient("client_assertion is not a JWT")
		}
		method, id = AuthPrivateKeyJWT, claims.Issuer
	case cr.HasBasic:
		method, id = AuthClientSecretBasic, cr.BasicID
	case cr.Secret != "":
		method, id = AuthClientSecretPost, cr.ClientID
	case cr.CertThumbS256 != "":
		method, id = AuthTLSClient, cr.ClientID
	default:
		return "", "", errInvalidClient("no client authentication")
	}
	if cr.ClientID != "" && cr.ClientID != id {
		return method, id, errInvalidClient("client_id does not match the client authentication")
	}
	return method, id, nil
}

// authenticate checks the credentials of the client id by the method
// (identify's). It returns the registered client the request named — also
// when the authentication failed, so that failures are counted against it —
// and the failure.
func (s *Server) authenticate(ctx context.Context, cr Credentials, method, id string) (*Client, error) {
	c, err := s.Client(ctx, id)
	if errors.Is(err, bank.ErrNotFound) {
		return nil, errInvalidClient("unknown client")
	}
	if err != nil {
		return nil, err
	}
	if c.TokenEndpointAuthMethod != method {
		return c, errInvalidClient("the client registered %s, not %s", c.TokenEndpointAuthMethod, method)
	}
	if (method == AuthClientSecretBasic || method == AuthClientSecretPost) && !s.Dev() {
		return c, errInvalidClient("client secrets are not allowed in the fapi profile")
	}
	switch method {
	case AuthPrivateKeyJWT:
		if err := s.verifyAssertion(ctx, c, cr.Assertion); err != nil {
			return c, err
		}
	case AuthClientSecretBasic, AuthClientSecretPost:
		secret := cr.Secret
		if method == AuthClientSecretBasic {
			secret = cr.BasicSecret
		}
		if c.secretHash == "" || subtle.ConstantTimeCompare([]byte(hash(secret)), []byte(c.secretHash)) != 1 {
			return c, errInvalidClient("wrong client secret")
		}
	case AuthTLSClient:
		if cr.CertSubjectDN != c.TLSClientAuthSubjectDN {
			return c, errInvalidClient("the certificate's subject does not match tls_client_auth_subject_dn")
		}
	}
	return c, nil
}

// verifyAssertion checks a private_key_jwt assertion (RFC 7523 §3, FAPI):
// signed with the registered alg by a registered key; iss and sub the
// client; aud the issuer or the token endpoint (an array only of those);
// exp present, in the future and at most 10 minutes away; jti single use.
func (s *Server) verifyAssertion(ctx context.Context, c *Client, assertion string) error {
	var claims jwt.RegisteredClaims
	err := parseJWT(assertion, &claims, func(t *jwt.Token) (any, error) { return s.keyFor(ctx, c, t) },
		jwt.WithValidMethods([]string{c.TokenEndpointAuthSigningAlg}), jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(s.Clock.Wall), jwt.WithLeeway(10*time.Second))
	if err != nil {
		return errInvalidClient("client_assertion: %v", err)
	}
	if claims.Subject != c.ClientID || claims.Issuer != c.ClientID {
		return errInvalidClient("client_assertion: iss and sub must be the client_id")
	}
	if len(claims.Audience) == 0 {
		return errInvalidClient("client_assertion: aud is required")
	}
	for _, a := range claims.Audience {
		if a != s.Issuer && a != s.Issuer+PathToken {
			return errInvalidClient("client_assertion: aud %q is neither the issuer nor the token endpoint", a)
		}
	}
	if claims.ExpiresAt.Time.After(s.Clock.Wall().Add(MaxAssertionLifetime)) {
		return errInvalidClient("client_assertion: exp is more than 10 minutes away")
	}
	if claims.ID == "" {
		return errInvalidClient("client_assertion: jti is required")
	}
	err = s.Store.UseJTI(ctx, c.ClientID, claims.ID, claims.ExpiresAt.Time.Add(time.Minute), s.Clock.Wall())
	if errors.Is(err, bank.ErrConflict) {
		return errInvalidClient("client_assertion: jti %q was already used", claims.ID).WithRule(audit.RuleAssertionReplay)
	}
	return err
}

// count counts the true values.
func count(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// hasGrant reports whether the client registered the grant type.
func (c *Client) hasGrant(g string) bool { return slices.Contains(c.GrantTypes, g) }
