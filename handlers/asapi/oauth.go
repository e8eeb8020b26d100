package asapi

import (
	"cmp"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/internal/gateway"
	"github.com/obsandbox/sandbox/internal/oauth"
)

// mountOAuth adds the authorization server's endpoints. None of them sends
// CORS headers (SPEC §8 "CORS").
func (s *Server) mountOAuth(e *echo.Echo) {
	e.GET(oauth.PathDiscovery, s.discovery)
	e.GET(oauth.PathJWKS, s.jwks)
	e.POST(oauth.PathRegister, s.register, s.LimitIP(gateway.ClassRegister))
	e.GET(oauth.PathRegister+"/:client_id", s.getRegistration)
	e.PUT(oauth.PathRegister+"/:client_id", s.putRegistration)
	e.DELETE(oauth.PathRegister+"/:client_id", s.deleteRegistration)
	e.POST(oauth.PathToken, s.token, httpx.NoStore)
	e.POST(oauth.PathPAR, s.par, httpx.NoStore, s.LimitIP(gateway.ClassPAR))
	e.POST(oauth.PathRevoke, s.revoke, httpx.NoStore)
	e.POST(oauth.PathIntrospect, s.introspect, httpx.NoStore)
	e.GET(oauth.PathUserinfo, s.userinfo, httpx.NoStore)
	e.POST(oauth.PathUserinfo, s.userinfo, httpx.NoStore)
}

func (s *Server) discovery(c echo.Context) error {
	return c.JSON(http.StatusOK, s.Auth.Discovery())
}

func (s *Server) jwks(c echo.Context) error {
	return c.JSON(http.StatusOK, s.Auth.Keys.JWKS())
}

// form parses an application/x-www-form-urlencoded body (RFC 6749 §3.2).
func form(c echo.Context) (url.Values, error) {
	mt, _, _ := mime.ParseMediaType(c.Request().Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		return nil, &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request",
			Description: "the body must be application/x-www-form-urlencoded"}
	}
	if err := c.Request().ParseForm(); err != nil {
		if httpx.TooLarge(err) {
			return nil, echo.ErrStatusRequestEntityTooLarge
		}
		return nil, &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "the form cannot be parsed"}
	}
	f := c.Request().PostForm
	for k, v := range f {
		if len(v) > 1 {
			return nil, &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: k + " is repeated"}
		}
	}
	return f, nil
}

// credentials gathers what a request presents to authenticate its client.
func credentials(c echo.Context, f url.Values) oauth.Credentials {
	cr := oauth.Credentials{ClientID: f.Get("client_id"), Assertion: f.Get("client_assertion"),
		AssertionType: f.Get("client_assertion_type"), Secret: f.Get("client_secret")}
	if id, secret, ok := c.Request().BasicAuth(); ok {
		// RFC 6749 §2.3.1: the id and secret are form-encoded first.
		if u, err := url.QueryUnescape(id); err == nil {
			id = u
		}
		if u, err := url.QueryUnescape(secret); err == nil {
			secret = u
		}
		cr.BasicID, cr.BasicSecret, cr.HasBasic = id, secret, true
	}
	if cert := httpx.ClientCert(c); cert != nil {
		cr.CertSubjectDN, cr.CertThumbS256 = cert.Subject, cert.Thumb
	}
	cr.SourceIP = httpx.RemoteIP(c)
	return cr
}

// authClient reads the form of a token-endpoint-like request and
// authenticates its client.
func (s *Server) authClient(c echo.Context) (url.Values, *oauth.Client, error) {
	f, err := form(c)
	if err != nil {
		return nil, nil, err
	}
	cr := credentials(c, f)
	c.Set(httpx.KeyClient, cmp.Or(cr.ClientID, cr.BasicID, claimedIssuer(cr.Assertion)))
	cl, err := s.Auth.AuthenticateClient(c.Request().Context(), cr)
	if err == nil {
		httpx.Authenticated(c)
	}
	var oe *oauth.Error
	if errors.As(err, &oe) && oe.Code == "invalid_client" {
		if _, _, basic := c.Request().BasicAuth(); basic {
			oe.Challenge = `Basic realm="sandbox"`
		}
	}
	if errors.As(err, &oe) && oe.Status == http.StatusTooManyRequests {
		s.Metrics.RateLimited.WithLabelValues("client_auth").Inc()
	}
	return f, cl, err
}

func (s *Server) token(c echo.Context) error {
	proof, err := s.Auth.TokenProof(c.Request().Context(), s.Presented(c))
	if err != nil {
		return err
	}
	f, cl, err := s.authClient(c)
	if err != nil {
		return err
	}
	if err := s.LimitClient(c, gateway.ClassToken, cl.ClientID); err != nil {
		return err
	}
	resp, err := s.Auth.Token(c.Request().Context(), cl, oauth.TokenParams{GrantType: f.Get("grant_type"), Code: f.Get("code"),
		RedirectURI: f.Get("redirect_uri"), CodeVerifier: f.Get("code_verifier"), RefreshToken: f.Get("refresh_token"),
		Scope: f.Get("scope"), Proof: proof, AuthReqID: f.Get("auth_req_id")}, httpx.CertThumb(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, resp)
}

func (s *Server) par(c echo.Context) error {
	f, cl, err := s.authClient(c)
	if err != nil {
		return err
	}
	uri, exp, err := s.Auth.PushAuthorization(c.Request().Context(), cl, f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"request_uri": uri, "expires_in": exp})
}

func (s *Server) revoke(c echo.Context) error {
	f, cl, err := s.authClient(c)
	if err != nil {
		return err
	}
	if f.Get("token") == "" {
		return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "token is missing"}
	}
	if err := s.Auth.Revoke(c.Request().Context(), cl, f.Get("token")); err != nil {
		return err
	}
	return c.NoContent(http.StatusOK)
}

func (s *Server) introspect(c echo.Context) error {
	f, cl, err := s.authClient(c)
	if err != nil {
		return err
	}
	out, err := s.Auth.Introspect(c.Request().Context(), cl, f.Get("token"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// userinfo answers for an access token the PSU authorised with openid.
func (s *Server) userinfo(c echo.Context) error {
	p, err := s.AuthenticateResource(c)
	if err != nil || p.Token.PSU == "" || !p.HasScope("openid") {
		return &oauth.Error{Status: http.StatusUnauthorized, Code: "invalid_token",
			Description: "the token is not valid for userinfo (it needs the openid scope and a PSU)", Challenge: `Bearer error="invalid_token"`}
	}
	// sub matches the ID tokens' sub: the consent (OIDC Core 5.3.2).
	return c.JSON(http.StatusOK, map[string]string{"sub": p.Token.ConsentID, "openbanking_intent_id": p.Token.ConsentID})
}

// register is dynamic client registration (RFC 7591; UK OB DCR 3.2): JSON
// metadata in dev, a signed JWT with a software statement in either profile.
func (s *Server) register(c echo.Context) error {
	body, err := httpx.ReadBody(c)
	if err != nil {
		return err
	}
	mt, _, _ := mime.ParseMediaType(c.Request().Header.Get("Content-Type"))
	var reg *oauth.Registration
	switch mt {
	case "application/jwt", "application/jose":
		reg, err = s.Auth.RegisterJWT(c.Request().Context(), strings.TrimSpace(string(body)))
	case "application/json":
		if err := httpx.CheckOAuthBody(body, "invalid_client_metadata"); err != nil {
			return err
		}
		reg, err = s.Auth.RegisterJSON(c.Request().Context(), body)
	default:
		return &oauth.Error{Status: http.StatusUnsupportedMediaType, Code: "invalid_request",
			Description: "send client metadata as application/json (dev) or a signed application/jwt"}
	}
	if err != nil {
		return err
	}
	c.Set(httpx.KeyClient, reg.ClientID) // the audit trail names the client it created
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().Header().Set("Location", reg.RegistrationClientURI)
	return c.JSON(http.StatusCreated, reg)
}

func (s *Server) managed(c echo.Context) (*oauth.Client, error) {
	tok, ok := httpx.Bearer(c.Request())
	if !ok {
		return nil, &oauth.Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the registration access token is required",
			Challenge: `Bearer error="invalid_token"`}
	}
	return s.Auth.ManagedClient(c.Request().Context(), c.Param("client_id"), tok)
}

func (s *Server) getRegistration(c echo.Context) error {
	cl, err := s.managed(c)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, s.Auth.PublicView(cl))
}

func (s *Server) putRegistration(c echo.Context) error {
	cl, err := s.managed(c)
	if err != nil {
		return err
	}
	body, err := httpx.ReadBody(c)
	if err != nil {
		return err
	}
	var reg *oauth.Registration
	switch mt, _, _ := mime.ParseMediaType(c.Request().Header.Get("Content-Type")); mt {
	case "application/jwt", "application/jose":
		reg, err = s.Auth.UpdateRegistrationJWT(c.Request().Context(), cl, strings.TrimSpace(string(body)))
	case "application/json":
		if err := httpx.CheckOAuthBody(body, "invalid_client_metadata"); err != nil {
			return err
		}
		var m oauth.Metadata
		if json.Unmarshal(body, &m) != nil {
			return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_client_metadata", Description: "the client metadata is not valid JSON"}
		}
		reg, err = s.Auth.UpdateRegistration(c.Request().Context(), cl, m)
	default:
		return &oauth.Error{Status: http.StatusUnsupportedMediaType, Code: "invalid_request",
			Description: "send client metadata as application/json (dev) or a signed application/jwt"}
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, reg)
}

func (s *Server) deleteRegistration(c echo.Context) error {
	cl, err := s.managed(c)
	if err != nil {
		return err
	}
	if err := s.Auth.DeleteRegistration(c.Request().Context(), cl); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// claimedIssuer reads, without verifying, who a client assertion says it is
// (for the audit trail of a refused request).
func claimedIssuer(assertion string) string {
	var claims jwt.RegisteredClaims
	if err := oauth.ParseUnverified(assertion, &claims); err != nil {
		return ""
	}
	return httpx.Truncate(claims.Issuer, 128)
}
