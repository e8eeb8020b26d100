// Package psu is the bank's pages for its customers (the PSU): log in,
// see what a TPP asks for, pick accounts, approve or deny; the connected-apps
// page that lists and revokes access; and their headless twins for CI
// (POST /sandbox/psu/authorize and /sandbox/psu/revoke), which run the same
// checks.
package psu

import (
	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/internal/gateway"
	"github.com/obsandbox/sandbox/internal/oauth"
)

// Server is the PSU's pages over the shared server.
type Server struct{ *httpx.Server }

// Mount adds the PSU pages and the headless PSU endpoints.
func Mount(core *httpx.Server, e *echo.Echo) {
	s := &Server{core}
	s.mountPSU(e)
	s.mountBerlin(e)
	e.GET(oauth.PathAuthorize, s.authorize, httpx.NoStore)
	// Decoupled (CIBA) requests waiting for the PSU: approved in the pages.
	g := e.Group("/psu", httpx.PageHeaders)
	g.GET("/approvals/:handle", s.approvalPage)
	g.POST("/approvals/:handle/decision", s.approvalDecision)
	login := s.LimitIP(gateway.ClassLogin)
	e.POST("/sandbox/psu/authorize", s.headlessAuthorize, httpx.NoStore, login)
	e.POST("/sandbox/psu/revoke", s.headlessRevoke, httpx.NoStore, login)
}
