package httpx

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/oauth"
)

// oauthCode maps a bank error kind to an RFC 6749 error and status for the
// OAuth and sandbox endpoints, when the error does not name one itself.
var oauthCode = map[bank.Kind]struct {
	status int
	code   string
}{
	bank.KindUnauthenticated: {401, "invalid_client"},
	bank.KindForbidden:       {403, "access_denied"},
	bank.KindNotFound:        {404, "not_found"},
	bank.KindRateLimited:     {429, "slow_down"},
	bank.KindConflict:        {409, "conflict"},
	bank.KindInternal:        {500, "server_error"},
	bank.KindUnavailable:     {503, "temporarily_unavailable"},
}

// isPage reports whether a path serves HTML pages (they may be framed by
// nothing but carry their own CSP).
func isPage(path string) bool {
	return strings.HasPrefix(path, "/psu/") || path == "/" || path == "/trainer"
}

// Truncate bounds a string a caller sent before it is echoed or logged.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// ErrorRenderer writes errors in one surface's envelope (a standard's
// resource API registers one for the paths it serves).
type ErrorRenderer interface {
	// RenderError writes a refusal in the bank's vocabulary; an OAuth
	// error reaching a resource API arrives as KindForbidden.
	RenderError(c echo.Context, be *bank.Error)
	// RenderStatus writes a framework refusal (404, 405, 413, 415, ...).
	RenderStatus(c echo.Context, status int)
}

// Register makes r render the errors of every path under prefix.
func (s *Server) Register(prefix string, r ErrorRenderer) { s.Renderers[prefix] = r }

func (s *Server) rendererFor(path string) ErrorRenderer {
	for prefix, r := range s.Renderers {
		if strings.HasPrefix(path, prefix) {
			return r
		}
	}
	return nil
}

// errorHandler is the one entry of every error the server returns: it
// classifies it (the bank's refusal, an OAuth error, a framework refusal,
// or an internal fault, logged in full and shown with an id only), records
// what decided for the audit trail, and hands it to the envelope of the
// path: a resource API's renderer, or RFC 6749 JSON.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	req := c.Request()
	r := s.rendererFor(req.URL.Path)
	var (
		be *bank.Error
		oe *oauth.Error
		he *echo.HTTPError
	)
	switch {
	case errors.As(err, &oe):
	case errors.As(err, &be):
	case errors.Is(err, bank.ErrNotFound), errors.Is(err, bank.ErrConflict):
		be = &bank.Error{Kind: bank.KindOf(err), Message: err.Error()}
	case errors.As(err, &he) && he.Code < 500:
		// Routing and framework errors: 404, 405, 413 and the like.
		if r != nil {
			r.RenderStatus(c, he.Code)
			return
		}
		WriteOAuth(c, &oauth.Error{Status: he.Code, Code: httpErrorCode(he.Code), Description: fmt.Sprint(he.Message)})
		return
	}
	// What decided, for the audit trail (a renderer may name it better).
	switch {
	case oe != nil:
		c.Set(KeyRule, cmp.Or(oe.Rule, oe.Code))
		c.Set(KeyDetail, oe.Description)
	case be != nil:
		c.Set(KeyRule, cmp.Or(be.Rule, be.Kind.String()))
		c.Set(KeyDetail, be.Message)
	}
	if be == nil && oe == nil {
		// Not the client's fault: log in full, show a generic message with an id.
		id := uuid.NewString()
		s.Log.ErrorContext(req.Context(), "internal error", "error_id", id, "method", req.Method, "path", req.URL.Path, "error", err)
		be = &bank.Error{Kind: bank.KindInternal, Message: "unexpected error, id " + id}
	}
	if r != nil {
		if oe != nil {
			be = &bank.Error{Kind: bank.KindForbidden, Message: oe.Description, Rule: cmp.Or(oe.Rule, oe.Code)}
		}
		r.RenderError(c, be)
		return
	}
	if oe != nil {
		WriteOAuth(c, oe)
		return
	}
	if be.Kind == bank.KindUnauthenticated && c.Response().Header().Get("WWW-Authenticate") == "" { // a DPoP challenge is set already
		c.Response().Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
	m, ok := oauthCode[be.Kind]
	if !ok {
		m = struct {
			status int
			code   string
		}{400, "invalid_request"}
	}
	WriteOAuth(c, &oauth.Error{Status: m.status, Code: m.code, Description: be.Error()})
}

func httpErrorCode(status int) string {
	switch status {
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusUnsupportedMediaType:
		return "unsupported_media_type"
	case http.StatusUnauthorized:
		return "invalid_token"
	case http.StatusTooManyRequests:
		return "rate_limited"
	}
	return "invalid_request"
}

// WriteOAuth writes an RFC 6749 error (§5.2): {"error","error_description"},
// never cached.
func WriteOAuth(c echo.Context, e *oauth.Error) {
	h := c.Response().Header()
	if e.Challenge != "" {
		h.Set("WWW-Authenticate", e.Challenge)
	}
	if e.DPoPNonce != "" {
		h.Set("DPoP-Nonce", e.DPoPNonce)
	}
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(e.RetryAfter.Seconds())))))
	}
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	body := map[string]string{"error": e.Code}
	if e.Description != "" {
		body["error_description"] = e.Description
	}
	c.JSON(status, body)
}
