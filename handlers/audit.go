package handlers

import (
	"bytes"
	"net"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/internal/store"
)

// audited reports whether a path carries security decisions.
func audited(path string) bool {
	for _, p := range []string{"/open-banking/", "/as/", "/sandbox/", "/psu/"} {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// recordAudit writes one audit entry per request with its decision: who
// (client, PSU, consent), what (method, path), the status, and the rule that
// decided. A request that can change state is answered only once its entry
// is committed (its response is held until then), so an accepted request's
// record is never lost; reads are recorded without waiting.
func (s *Server) recordAudit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if s.auditor == nil || !audited(req.URL.Path) || req.Method == http.MethodOptions {
			return next(c)
		}
		wait := req.Method != http.MethodGet && req.Method != http.MethodHead
		res := c.Response()
		var hold *held
		if wait {
			hold = &held{ResponseWriter: res.Writer, status: http.StatusOK}
			res.Writer = hold
		}
		if err := next(c); err != nil {
			c.Error(err)
		}
		e := s.auditEntry(c)
		if hold != nil {
			res.Writer = hold.ResponseWriter
			s.auditor.Record(e, true)
			hold.ResponseWriter.WriteHeader(hold.status)
			_, err := hold.ResponseWriter.Write(hold.buf.Bytes())
			return err
		}
		s.auditor.Record(e, false)
		return nil
	}
}

// held keeps a response until its audit entry is committed.
type held struct {
	http.ResponseWriter
	status int
	buf    bytes.Buffer
}

func (w *held) WriteHeader(status int)      { w.status = status }
func (w *held) Write(b []byte) (int, error) { return w.buf.Write(b) }
func (w *held) Flush()                      {}

func (s *Server) auditEntry(c echo.Context) *store.AuditEntry {
	req := c.Request()
	ip, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		ip = req.RemoteAddr
	}
	status := c.Response().Status
	e := &store.AuditEntry{At: s.clock.Now(), InteractionID: InteractionID(c), IP: ip, Method: req.Method, Path: req.URL.Path,
		Status: status, Decision: "allowed", Rule: "ok"}
	if status >= 400 {
		e.Decision, e.Rule = "refused", "refused"
	}
	if r, ok := c.Get(keyRule).(string); ok && r != "" {
		e.Rule = r
	}
	if d, ok := c.Get(keyDetail).(string); ok {
		e.Detail = truncate(d, 500)
	}
	if p := PrincipalOf(c); p != nil {
		e.ClientID, e.PSU = p.Token.ClientID, p.Token.PSU
		if p.Consent != nil {
			e.ConsentID = p.Consent.ID
		}
	}
	if v, ok := c.Get(keyClient).(string); ok && e.ClientID == "" {
		e.ClientID = v
	}
	if v, ok := c.Get(keyPSU).(string); ok && e.PSU == "" {
		e.PSU = v
	}
	if id := c.Param("ConsentId"); id != "" && e.ConsentID == "" {
		e.ConsentID = truncate(id, 128)
	}
	return e
}
