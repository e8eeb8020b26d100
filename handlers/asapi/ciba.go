package asapi

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/internal/gateway"
	"github.com/obsandbox/sandbox/internal/oauth"
)

// mountCIBA adds the backchannel authentication endpoint (OpenID CIBA Core
// 1.0 §7); the PSU's side is package psu's.
func (s *Server) mountCIBA(e *echo.Echo) {
	e.POST(oauth.PathBackchannel, s.backchannelAuthenticate, httpx.NoStore, s.LimitIP(gateway.ClassPAR))
}

// backchannelAuthenticate is the backchannel authentication endpoint (CIBA
// Core §7): the client authenticates as at the token endpoint.
func (s *Server) backchannelAuthenticate(c echo.Context) error {
	f, cl, err := s.authClient(c)
	if err != nil {
		return err
	}
	resp, err := s.Auth.BackchannelAuthenticate(c.Request().Context(), cl, f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, resp)
}
