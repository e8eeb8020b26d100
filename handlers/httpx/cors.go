package httpx

import (
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
)

// cors lets browser-based TPP demos on an explicit allow-list call the
// resource APIs (SPEC §8 "CORS"): the origin is echoed, never "*"; the
// authorize, token, PAR and registration endpoints send no CORS headers at
// all. Preflights from other origins are refused.
func (s *Server) cors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		origin := req.Header.Get("Origin")
		if origin == "" || !strings.HasPrefix(req.URL.Path, "/open-banking/") {
			return next(c)
		}
		h := c.Response().Header()
		h.Add("Vary", "Origin")
		allowed := slices.Contains(s.Cfg.CORSOrigins, origin)
		preflight := req.Method == http.MethodOptions && req.Header.Get("Access-Control-Request-Method") != ""
		if !allowed {
			if preflight {
				return c.NoContent(http.StatusForbidden)
			}
			return next(c)
		}
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Expose-Headers", "x-fapi-interaction-id, x-jws-signature, x-sandbox-scenario, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset")
		if preflight {
			h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept, x-fapi-interaction-id, x-fapi-auth-date, "+
				"x-fapi-customer-ip-address, x-customer-user-agent, x-idempotency-key, x-jws-signature, x-sandbox-scenario")
			h.Set("Access-Control-Max-Age", "600")
			return c.NoContent(http.StatusNoContent)
		}
		return next(c)
	}
}
