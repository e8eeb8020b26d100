package httpx

import (
	"io"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/internal/bank"
)

// degrade answers 503 with Retry-After on the APIs a dependency that is
// down takes with it (gateway.Status), in the envelope of the path's
// standard, once the caller is authenticated (so the refusal is recorded
// against it); everything else serves as usual.
func (s *Server) degrade(next echo.HandlerFunc) echo.HandlerFunc {
	if s.Deps.Status == nil {
		return next
	}
	return func(c echo.Context) error {
		o, ok := s.Deps.Status.Affecting(c.Request().URL.Path)
		if !ok {
			return next(c)
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(c.Request().Body, s.Cfg.BodyLimit))
		secs := max(1, int(o.RetryAfter.Seconds()))
		c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
		return bank.Errorf(bank.KindUnavailable, "", "%s is unavailable: %s; try again in %d s", o.Dependency, o.Reason, secs).WithRule("dependency.down")
	}
}
