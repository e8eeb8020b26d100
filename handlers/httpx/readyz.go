package httpx

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// readyz says whether this process should be sent traffic (a load
// balancer's readiness check): its database answers with the schema this
// binary migrated to, and it is not shutting down. /healthz says only that
// the process is up.
func (s *Server) readyz(c echo.Context) error {
	select {
	case <-s.Deps.Stopping:
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "draining"})
	default:
	}
	if err := s.Store.Ready(c.Request().Context()); err != nil {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": err.Error()})
	}
	// The contracts are parsed in the background from the start: the first
	// readyz waits for them (a fraction of a second) and finds every route
	// mounted in its contract.
	for _, k := range s.contracts {
		if err := k.Check(); err != nil {
			s.Log.ErrorContext(c.Request().Context(), "a contract", "error", err)
			return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": err.Error()})
		}
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}
