package obwire

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/internal/bank"
)

// ErrorCode is one refusal as a version words it: HTTP status, ErrorCode.
type ErrorCode struct {
	Status int
	Code   string
}

// Errors renders errors as a version's OBErrorResponse1: the refusal's
// code by Codes, the body by Body. What both versions share is here: 401,
// 404, 405, 406, 413, 415 and 429 have no body (the standard's rule), a
// missing or bad token is 401 with WWW-Authenticate.
type Errors struct {
	Codes func(c echo.Context, k bank.Kind) ErrorCode
	Body  func(c echo.Context, e ErrorCode, be *bank.Error) any
}

// RenderStatus writes a framework refusal: no body.
func (Errors) RenderStatus(c echo.Context, status int) { c.NoContent(status) }

// RenderError writes a refusal of the bank's.
func (r Errors) RenderError(c echo.Context, be *bank.Error) {
	switch be.Kind {
	case bank.KindUnauthenticated:
		if c.Response().Header().Get("WWW-Authenticate") == "" { // a DPoP challenge is set already
			c.Response().Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		}
		c.NoContent(http.StatusUnauthorized)
		return
	case bank.KindRateLimited:
		c.NoContent(http.StatusTooManyRequests)
		return
	}
	e := r.Codes(c, be.Kind)
	if be.Rule == "" {
		c.Set(httpx.KeyRule, e.Code) // the audit trail names the standard's code
	}
	c.JSON(e.Status, r.Body(c, e, be))
}
