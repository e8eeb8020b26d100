// Package asapi puts the authorization server on HTTP: discovery, the JWKS,
// dynamic client registration (RFC 7591/7592), the token, PAR, revocation
// (RFC 7009), introspection (RFC 7662) and userinfo endpoints, and the
// authorize endpoint that hands the PSU to package psu's pages. The rules
// live in internal/oauth; errors are RFC 6749 JSON.
package asapi

import (
	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/handlers/httpx"
)

// Server is the authorization server's endpoints over the shared server.
type Server struct{ *httpx.Server }

// Mount adds the authorization server's routes.
func Mount(core *httpx.Server, e *echo.Echo) {
	s := &Server{core}
	s.mountOAuth(e)
	s.mountCIBA(e)
}
