package httpx

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/obsandbox/sandbox/internal/oauth"
)

// At is a path of this sandbox as the browser sees it: under /t/<tenant>
// for a tenant.
func (s *Server) At(p string) string { return s.Cfg.BasePath + p }

// PageHeaders: the PSU pages are never cached or framed.
func PageHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'")
		if c.Request().TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		return next(c)
	}
}

func (s *Server) SetCookie(c echo.Context, name, value string, maxAge int) {
	c.SetCookie(&http.Cookie{Name: name, Value: value, Path: s.At("/psu/"), HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: c.Request().TLS != nil, MaxAge: maxAge})
}

func Cookie(c echo.Context, name string) string {
	ck, err := c.Cookie(name)
	if err != nil {
		return ""
	}
	return ck.Value
}

func (s *Server) Page(c echo.Context, status int, name string, data map[string]any) error {
	data["Base"] = s.Cfg.BasePath
	c.Response().Header().Set("Content-Type", "text/html; charset=utf-8")
	c.Response().WriteHeader(status)
	return s.Pages.ExecuteTemplate(c.Response(), name, data)
}

func (s *Server) ErrorPage(c echo.Context, ae *oauth.AuthorizeError) error {
	c.Set(KeyRule, ae.Code) // the audit trail names why (invalid_request_object, ...)
	explain := ""
	if !ae.Redirect && c.Request().URL.Path == oauth.PathAuthorize {
		explain = "The bank could not trust where to send you back, so it stops here. Close this page and return to the app you came from."
	}
	return s.Page(c, http.StatusBadRequest, "error.html", map[string]any{"Title": "This request cannot be completed",
		"Code": ae.Code, "Description": ae.Description, "Explain": explain})
}
