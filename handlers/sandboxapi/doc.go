// Package sandboxapi is the sandbox's own controls under /sandbox/ (admin
// token): the PSU list, the clock, reset, keys, the directory and the
// development CA, the audit trail and security events, scenarios,
// snapshots, tenants and the profiler.
package sandboxapi

import (
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/handlers/httpx"
)

// Server is the sandbox controls over the shared server.
type Server struct {
	*httpx.Server
	resets lastReset
}

// Mount adds the controls.
func Mount(core *httpx.Server, e *echo.Echo) { (&Server{Server: core}).mountSandbox(e) }

// lastReset is the last value of the reset setting this process knows of:
// one it wrote, or one another process sharing the database wrote.
type lastReset struct {
	mu sync.Mutex
	v  string
}

// changed records v and reports whether it is new.
func (l *lastReset) changed(v string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if v == l.v {
		return false
	}
	l.v = v
	return true
}
