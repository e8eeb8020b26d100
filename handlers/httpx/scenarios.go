package httpx

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/scenario"
)

// Scenarios (internal/scenario): the request's own scenario comes from the
// x-sandbox-scenario header (dev profile) or the one an admin made active;
// handlers fall back to the consent's, the PSU's and the amount's. Every
// response a scenario shaped says so in x-sandbox-scenario.

const (
	headerScenario = "x-sandbox-scenario"
	keyScenario    = "sandbox.scenario"  // *scenario.Scenario chosen for the request itself
	KeyPageSize    = "sandbox.page_size" // int: a scenario's page size
)

// untouchable paths are never shaped by a scenario: the admin must always be
// able to switch one off, and health checks must tell the truth.
func untouchable(path string) bool {
	for _, p := range []string{"/sandbox/", "/healthz", "/readyz", "/metrics", "/trainer", "/static/", "/psu/"} {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return path == "/"
}

// chosen is the request's own scenario.
type chosen struct {
	scenario.Scenario
	global bool // the active one (counted when it shapes the request)
	used   bool
}

// use marks the response shaped and counts it against an active scenario
// limited to a number of requests (once per request).
func (s *Server) use(c echo.Context, ch *chosen) {
	shaped(c, ch.Scenario)
	if ch.global && !ch.used {
		ch.used = true
		s.Scenarios.Use(ch.Name)
	}
}

// applyScenario chooses the request's own scenario — the header's in the
// dev profile, else the active one — and acts on the request when it says
// to: latency first, then the forced status.
func (s *Server) applyScenario(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.Scenarios == nil {
			return next(c)
		}
		path := c.Request().URL.Path
		if untouchable(path) {
			return next(c)
		}
		ch := &chosen{}
		if name := c.Request().Header.Get(headerScenario); name != "" && s.Cfg.Profile == oauth.ProfileDev {
			sc, ok := s.Scenarios.Get(name)
			if !ok {
				return bank.Errorf(bank.KindHeaderInvalid, headerScenario, "no scenario %q: GET /sandbox/scenarios lists them", Truncate(name, 64))
			}
			ch.Scenario = sc
		} else if sc, ok := s.Scenarios.Active(); ok {
			ch.Scenario, ch.global = sc, true
		} else {
			return next(c)
		}
		c.Set(keyScenario, ch)
		if !ch.Transport(path) {
			return next(c)
		}
		s.use(c, ch)
		if d := time.Duration(ch.Latency); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-c.Request().Context().Done():
				t.Stop()
				return c.Request().Context().Err()
			}
		}
		if ch.Status == 0 {
			return next(c)
		}
		// The request is answered here: drain it so the connection stays usable.
		_, _ = io.Copy(io.Discard, io.LimitReader(c.Request().Body, s.Cfg.BodyLimit))
		if ch.RetryAfter > 0 {
			c.Response().Header().Set("Retry-After", strconv.Itoa(ch.RetryAfter))
		}
		kind := map[int]bank.Kind{429: bank.KindRateLimited, 500: bank.KindInternal, 503: bank.KindUnavailable}[ch.Status]
		return bank.Errorf(kind, "", "sandbox scenario %s: %s", ch.Name, ch.Description).WithRule("scenario." + ch.Name)
	}
}

// shaped marks the response as shaped by a scenario.
func shaped(c echo.Context, sc scenario.Scenario) {
	c.Response().Header().Set(headerScenario, sc.Name)
}

// own is the request's own scenario: chosen by applyScenario, or on the
// PSU's pages (which no header reaches) the active one.
func (s *Server) own(c echo.Context) *chosen {
	if ch, ok := c.Get(keyScenario).(*chosen); ok {
		return ch
	}
	if sc, ok := s.Scenarios.Active(); ok {
		ch := &chosen{Scenario: sc, global: true}
		c.Set(keyScenario, ch)
		return ch
	}
	return nil
}

// ScenarioFor finds the scenario that acts on this request in the way `acts`
// asks about: the request's own, else the consent's, else the one bound to
// the consent's PSU (or psu, before the consent has one), else the one
// bound to the payment amount. It marks the response when it finds one.
func (s *Server) ScenarioFor(c echo.Context, cn *bank.Consent, psu, amount string, acts func(scenario.Scenario) bool) (scenario.Scenario, bool) {
	if s.Scenarios == nil {
		return scenario.Scenario{}, false
	}
	if ch := s.own(c); ch != nil && acts(ch.Scenario) {
		s.use(c, ch)
		return ch.Scenario, true
	}
	var candidates []func() (scenario.Scenario, bool)
	if cn != nil {
		if cn.Scenario != "" {
			candidates = append(candidates, func() (scenario.Scenario, bool) { return s.Scenarios.Get(cn.Scenario) })
		}
		if cn.PSU != "" {
			psu = cn.PSU
		}
	}
	if psu != "" {
		candidates = append(candidates, func() (scenario.Scenario, bool) { return s.Scenarios.ForPSU(psu) })
	}
	if amount != "" {
		candidates = append(candidates, func() (scenario.Scenario, bool) { return s.Scenarios.ForAmount(amount) })
	}
	for _, f := range candidates {
		if sc, ok := f(); ok && acts(sc) {
			shaped(c, sc)
			return sc, true
		}
	}
	return scenario.Scenario{}, false
}

// LastingScenario is the name of the request's own scenario when it shapes
// what follows (kept on a consent created by the request).
func (s *Server) LastingScenario(c echo.Context) string {
	if ch, ok := c.Get(keyScenario).(*chosen); ok && ch.Lasting() {
		s.use(c, ch)
		return ch.Name
	}
	return ""
}

// dataScenario applies the scenarios of a data call: a short page size, and
// the PSU revoking access after a number of calls (RevokeAfter).
func (s *Server) dataScenario(c echo.Context, cn *bank.Consent) error {
	if sc, ok := s.ScenarioFor(c, cn, "", "", func(sc scenario.Scenario) bool { return sc.PageSize > 0 }); ok {
		c.Set(KeyPageSize, sc.PageSize)
	}
	return s.RevokeAfter(c, cn, func() (int, error) { return s.DataCalls.count(cn.ID), nil })
}

// RevokeAfter applies a revoke_after scenario to a call under a long-lived
// consent, nth telling which of the calls counted it is (a data call, a
// variable recurring payment): past the scenario's count the PSU has
// revoked access at the bank, and the call gets 401.
func (s *Server) RevokeAfter(c echo.Context, cn *bank.Consent, nth func() (int, error)) error {
	sc, ok := s.ScenarioFor(c, cn, "", "", func(sc scenario.Scenario) bool { return sc.RevokeAfter > 0 })
	if !ok {
		return nil
	}
	if n, err := nth(); err != nil || n <= sc.RevokeAfter {
		return err
	}
	if _, err := s.Store.UpdateConsent(c.Request().Context(), cn.ID, func(x *bank.Consent) error {
		x.PSURevoked = true
		return nil
	}); err != nil {
		return err
	}
	return bank.Errorf(bank.KindUnauthenticated, "", "sandbox scenario %s: the PSU revoked access", sc.Name).WithRule("scenario." + sc.Name)
}

// DataScenario is dataScenario for the standards that authenticate a data
// call without a token (Berlin Group's Consent-ID).
func (s *Server) DataScenario(c echo.Context, cn *bank.Consent) error { return s.dataScenario(c, cn) }

// callCounter counts data calls per consent (revoke_after). It lives in
// memory: a restart starts the count again.
type callCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (cc *callCounter) count(consent string) int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.n == nil {
		cc.n = map[string]int{}
	}
	cc.n[consent]++
	return cc.n[consent]
}

func (cc *callCounter) reset() {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.n = nil
}

// PSUDecision applies a PSU scenario to the PSU's decision at the bank.
func (s *Server) PSUDecision(c echo.Context, cn *bank.Consent, d oauth.Decision) oauth.Decision {
	sc, ok := s.ScenarioFor(c, cn, d.PSU, "", func(sc scenario.Scenario) bool { return sc.PSU != "" })
	if !ok {
		return d
	}
	switch sc.PSU {
	case scenario.PSUDeny:
		d.Approve, d.Why = false, "the PSU denied the request (sandbox scenario "+sc.Name+")"
	case scenario.PSUSCAFail:
		d.Approve, d.Why = false, "strong customer authentication failed (sandbox scenario "+sc.Name+")"
	case scenario.PSUSCATimeout:
		d.Approve, d.Why = false, "the PSU did not complete authentication in time (sandbox scenario "+sc.Name+")"
	case scenario.PSUSomeAccounts:
		d.Limit = 1
	}
	return d
}

// The admin API over the catalogue.

func ScenarioError(err error) error {
	var unknown *scenario.ErrUnknown
	var inUse *scenario.ErrInUse
	switch {
	case errors.As(err, &unknown):
		return &oauth.Error{Status: http.StatusNotFound, Code: "not_found", Description: err.Error()}
	case errors.As(err, &inUse):
		return &oauth.Error{Status: http.StatusConflict, Code: "conflict", Description: err.Error()}
	case err != nil:
		return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: err.Error()}
	}
	return nil
}
