// Package sandboxapi is the sandbox's own controls under /sandbox/ (admin
// token): the PSU list, the clock, reset, keys, the directory and the
// development CA, the audit trail and security events, scenarios,
// snapshots, tenants and the profiler.
package sandboxapi

import (
	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/handlers/httpx"
)

// Server is the sandbox controls over the shared server.
type Server struct{ *httpx.Server }

// Mount adds the controls.
func Mount(core *httpx.Server, e *echo.Echo) { (&Server{core}).mountSandbox(e) }
