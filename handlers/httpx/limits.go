package httpx

import (
	"math"
	"net"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/gateway"
)

// setRateHeaders writes the RateLimit-* headers (IETF httpapi ratelimit
// headers) and, when refused, Retry-After in whole seconds (at least 1).
func setRateHeaders(c echo.Context, v gateway.Verdict) {
	if v.Limit == 0 {
		return
	}
	h := c.Response().Header()
	h.Set("RateLimit-Limit", strconv.Itoa(v.Limit))
	h.Set("RateLimit-Remaining", strconv.Itoa(v.Remaining))
	h.Set("RateLimit-Reset", strconv.Itoa(int(math.Ceil(v.Reset.Seconds()))))
	if !v.Allowed {
		h.Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(v.RetryAfter.Seconds())))))
	}
}

var errRateLimited = &bank.Error{Kind: bank.KindRateLimited, Message: "too many requests: slow down and retry after the Retry-After seconds"}

// LimitClient applies a class's bucket to the authenticated client.
func (s *Server) LimitClient(c echo.Context, class gateway.Class, clientID string) error {
	if s.Limits == nil || class == "" {
		return nil
	}
	v := s.Limits.Allow(class, clientID)
	setRateHeaders(c, v)
	if !v.Allowed {
		s.Metrics.RateLimited.WithLabelValues(string(class)).Inc()
		return errRateLimited
	}
	return nil
}

// LimitIP is the per-IP bucket of an unauthenticated endpoint.
func (s *Server) LimitIP(class gateway.Class) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if s.Limits != nil {
				v := s.Limits.Allow(class, RemoteIP(c))
				setRateHeaders(c, v)
				if !v.Allowed {
					s.Metrics.RateLimited.WithLabelValues(string(class)).Inc()
					return errRateLimited
				}
			}
			return next(c)
		}
	}
}

// RemoteIP is the address a request came from, as limits count it.
func RemoteIP(c echo.Context) string {
	ip, _, err := net.SplitHostPort(c.Request().RemoteAddr)
	if err != nil {
		return c.Request().RemoteAddr
	}
	return ip
}

// limitUnattended counts an AIS call made without the PSU present (no
// x-fapi-customer-ip-address) against its consent's daily allowance.
func (s *Server) limitUnattended(c echo.Context, consentID string) error {
	if s.Unattended == nil || c.Request().Header.Get("x-fapi-customer-ip-address") != "" {
		return nil
	}
	v := s.Unattended.Allow(consentID)
	if !v.Allowed {
		setRateHeaders(c, v)
		s.Metrics.RateLimited.WithLabelValues("unattended").Inc()
		return errRateLimited
	}
	return nil
}
