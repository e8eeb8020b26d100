package httpx

import (
	"errors"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/internal/oauth"
)

// Presented is what a request shows the authorization server about who
// sends it: Authorization, DPoP proofs, client certificate, and its method
// and URL for the proofs' htm and htu (RFC 9449 §4.3).
func (s *Server) Presented(c echo.Context) oauth.Presented {
	r := c.Request()
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return oauth.Presented{Authorization: r.Header.Get("Authorization"), DPoP: r.Header.Values("DPoP"), Method: r.Method,
		Path: r.URL.Path, Origin: scheme + "://" + r.Host + s.Cfg.BasePath, CertThumb: CertThumb(c)}
}

// AuthenticateResource checks the access token of a resource request
// (Bearer, or DPoP with its proof); a refusal sends its challenge in
// WWW-Authenticate, with DPoP-Nonce when the bank asks for its nonce (RFC
// 9449 §7.1, §9).
func (s *Server) AuthenticateResource(c echo.Context) (*oauth.Principal, error) {
	p, err := s.Auth.AuthenticateRequest(c.Request().Context(), s.Presented(c))
	var ce *oauth.ChallengeError
	if errors.As(err, &ce) {
		h := c.Response().Header()
		h.Set("WWW-Authenticate", ce.Challenge)
		if ce.Nonce != "" {
			h.Set("DPoP-Nonce", ce.Nonce)
		}
		c.Set(KeyDetail, ce.Description)
	}
	return p, err
}
