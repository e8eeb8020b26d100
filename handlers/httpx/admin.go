package httpx

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/obsandbox/sandbox/internal/oauth"
)

func (s *Server) RequireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if strings.HasPrefix(c.Request().URL.Path, "/sandbox/psu/") {
			return next(c)
		}
		if !s.IsAdmin(c.Request()) {
			return &oauth.Error{Status: http.StatusUnauthorized, Code: "invalid_token",
				Description: "the admin token is required: Authorization: Bearer <admin token>", Challenge: `Bearer realm="sandbox"`}
		}
		Authenticated(c)
		return next(c)
	}
}

// BindStrict decodes a JSON body, refusing unknown fields, duplicate keys
// and data after the object.
func BindStrict(c echo.Context, v any) error {
	raw, err := ReadBody(c)
	if err != nil {
		return err
	}
	if err := CheckOAuthBody(raw, "invalid_request"); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "the body must be a JSON object with the documented fields: " + err.Error()}
	}
	return nil
}

// Forget drops what the handlers counted in memory (rate limits, the
// unattended limit, failed client authentications, anomaly state, scenario
// call counts) after a reset or a restore.
func (s *Server) Forget() {
	if s.Limits != nil {
		s.Limits.Reset()
	}
	s.Unattended.Reset()
	if s.Auth.AuthFailures != nil {
		s.Auth.AuthFailures.Reset()
	}
	if s.Deps.Detector != nil {
		s.Deps.Detector.Reset()
	}
	s.DataCalls.reset()
}

func QueryInt(c echo.Context, name string, def int64) (int64, error) {
	v := c.QueryParam(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: name + " must be a whole number"}
	}
	return n, nil
}

// FlushAudit makes the audit trail and security events current.
func (s *Server) FlushAudit() {
	if s.Auditor != nil {
		s.Auditor.Flush()
	}
}

// IsAdmin reports whether the request carries the admin token (inside a
// tenant: the tenant's, or the root's).
func (s *Server) IsAdmin(r *http.Request) bool {
	tok, ok := Bearer(r)
	is := func(want string) bool {
		return want != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(want)) == 1
	}
	return ok && (is(s.Cfg.AdminToken) || is(s.Cfg.RootAdminToken))
}
