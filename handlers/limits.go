package handlers

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

// limitClient applies a class's bucket to the authenticated client.
func (s *Server) limitClient(c echo.Context, class gateway.Class, clientID string) error {
	if s.limits == nil || class == "" {
		return nil
	}
	v := s.limits.Allow(class, clientID)
	setRateHeaders(c, v)
	if !v.Allowed {
		s.metrics.rateLimited.WithLabelValues(string(class)).Inc()
		return errRateLimited
	}
	return nil
}

// limitIP is the per-IP bucket of an unauthenticated endpoint.
func (s *Server) limitIP(class gateway.Class) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if s.limits != nil {
				v := s.limits.Allow(class, remoteIP(c))
				setRateHeaders(c, v)
				if !v.Allowed {
					s.metrics.rateLimited.WithLabelValues(string(class)).Inc()
					return errRateLimited
				}
			}
			return next(c)
		}
	}
}

// remoteIP is the address a request came from, as limits count it.
func remoteIP(c echo.Context) string {
	ip, _, err := net.SplitHostPort(c.Request().RemoteAddr)
	if err != nil {
		return c.Request().RemoteAddr
	}
	return ip
}

// limitUnattended counts an AIS call made without the PSU present (no
// x-fapi-customer-ip-address) against its consent's daily allowance.
func (s *Server) limitUnattended(c echo.Context, consentID string) error {
	if s.unattended == nil || c.Request().Header.Get("x-fapi-customer-ip-address") != "" {
		return nil
	}
	v := s.unattended.Allow(consentID)
	if !v.Allowed {
		setRateHeaders(c, v)
		s.metrics.rateLimited.WithLabelValues("unattended").Inc()
		return errRateLimited
	}
	return nil
}
