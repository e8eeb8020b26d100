package httpx

import (
	"net"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/internal/audit"
	"github.com/obsandbox/sandbox/internal/store"
)

// audited reports whether a path carries security decisions.
func audited(path string) bool {
	for _, p := range []string{"/open-banking/", "/psd2/", "/as/", "/sandbox/", "/psu/"} {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// keyAuthenticated marks a request whose caller proved who it is: a valid
// access token, client authentication, a PSU login or session, the admin
// token.
const keyAuthenticated = "sandbox.authenticated"

// Authenticated marks the request's caller as proven.
func Authenticated(c echo.Context) { c.Set(keyAuthenticated, true) }

func isAuthenticated(c echo.Context) bool {
	ok, _ := c.Get(keyAuthenticated).(bool)
	return ok || PrincipalOf(c) != nil
}

// LoginPSU checks a PSU's credentials (lockout included) and marks the
// request authenticated when they hold.
func (s *Server) LoginPSU(c echo.Context, user, password string) error {
	err := s.Auth.LoginPSU(c.Request().Context(), user, password)
	if err == nil {
		Authenticated(c)
	}
	return err
}

// recordAudit records every request's decision: who (client, PSU, consent),
// what (method, path), the status, and the rule that decided. Whatever the
// request changes in the store commits together with an entry saying who
// changed it (store.WithActor); the decision itself is then recorded
// without holding the answer. A caller who proved nothing and changed
// nothing is counted per minute, source and rule instead of stored entry
// by entry: no anonymous client can grow the file (the anomaly rules and
// the live view still see each of those requests).
func (s *Server) recordAudit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if s.Auditor == nil || !audited(req.URL.Path) || req.Method == http.MethodOptions {
			return next(c)
		}
		c.SetRequest(req.WithContext(store.WithActor(req.Context(), func() store.AuditEntry { return *s.auditEntry(c) })))
		if err := next(c); err != nil {
			c.Error(err)
		}
		e := s.auditEntry(c)
		if s.keeps(c, e) {
			s.Auditor.Record(e, false)
		} else {
			s.Auditor.Count(e)
		}
		return nil
	}
}

// keeps decides whether a request's entry is stored: the caller proved who
// it is, or the request was a write that was allowed, or a rule that only a
// proven caller can trip (a replayed code or assertion) refused it.
func (s *Server) keeps(c echo.Context, e *store.AuditEntry) bool {
	if isAuthenticated(c) {
		return true
	}
	if e.Status < 400 && c.Request().Method != http.MethodGet && c.Request().Method != http.MethodHead {
		return true
	}
	return audit.Named(e.Rule)
}

func (s *Server) auditEntry(c echo.Context) *store.AuditEntry {
	req := c.Request()
	ip, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		ip = req.RemoteAddr
	}
	status := c.Response().Status
	e := &store.AuditEntry{At: s.Clock.Now(), InteractionID: InteractionID(c), IP: ip, Method: req.Method, Path: req.URL.Path,
		Status: status, Decision: store.DecisionAllowed, Rule: "ok"}
	if status >= 400 {
		e.Decision, e.Rule = store.DecisionRefused, "refused"
	}
	if r, ok := c.Get(KeyRule).(string); ok && r != "" {
		e.Rule = r
	}
	if d, ok := c.Get(KeyDetail).(string); ok {
		e.Detail = Truncate(d, 500)
	}
	if p := PrincipalOf(c); p != nil {
		e.ClientID, e.PSU = p.Token.ClientID, p.Token.PSU
		if p.Consent != nil {
			e.ConsentID = p.Consent.ID
		}
	}
	if v, ok := c.Get(KeyClient).(string); ok && e.ClientID == "" {
		e.ClientID = v
	}
	if v, ok := c.Get(KeyPSU).(string); ok && e.PSU == "" {
		e.PSU = v
	}
	if id := c.Param("ConsentId"); id != "" && e.ConsentID == "" {
		e.ConsentID = Truncate(id, 128)
	}
	if v, ok := c.Get(KeyConsent).(string); ok && e.ConsentID == "" {
		e.ConsentID = Truncate(v, 128)
	}
	return e
}
