package sandboxapi

import (
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/fixtures"
	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/store"
)

// mountPSUs serves the PSUs added at run time: POST /sandbox/psus takes a
// persona in the fixtures' shape (or an entry of GET /sandbox/psus without
// its AccountIds) and answers the entry as listed; DELETE removes one.
func (s *Server) mountPSUs(admin *echo.Group) {
	if s.Deps.PSUs == nil {
		return
	}
	admin.POST("/psus", s.addPSU)
	admin.DELETE("/psus/:username", s.removePSU)
}

func (s *Server) addPSU(c echo.Context) error {
	if ct := c.Request().Header.Get(echo.HeaderContentType); ct != "" && !isJSONOrYAML(ct) {
		return &oauth.Error{Status: http.StatusUnsupportedMediaType, Code: "invalid_request",
			Description: "send the persona as application/json (or application/yaml)"}
	}
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return err
	}
	p, err := fixtures.ParsePersona(body)
	if err != nil {
		return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: err.Error()}
	}
	psu, err := s.Deps.PSUs.AddPSU(c.Request().Context(), p)
	var invalid *fixtures.ValidationError
	if errors.As(err, &invalid) {
		c.Response().Header().Set("Cache-Control", "no-store")
		return c.JSON(http.StatusBadRequest, map[string]any{"error": "invalid_request", "error_description": invalid.Error(),
			"problems": invalid.Problems})
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, listed(psu, p.Password)) // said once: the bank keeps its hash only
}

func (s *Server) removePSU(c echo.Context) error {
	if err := s.Deps.PSUs.RemovePSU(c.Request().Context(), c.Param("username")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// listed is a PSU as GET /sandbox/psus lists it, with its password where
// it is known.
func listed(p store.PSU, password string) psuView {
	v := psuView{Username: p.Username, Password: password, Accounts: []psuAccount{}}
	for _, a := range p.Accounts {
		v.Accounts = append(v.Accounts, psuAccount{AccountID: a.ID, Currency: a.Currency, AccountSubType: a.SubType, Nickname: a.Nickname})
	}
	return v
}

func isJSONOrYAML(ct string) bool {
	for _, t := range []string{echo.MIMEApplicationJSON, "application/yaml", "application/x-yaml", "text/yaml"} {
		if strings.HasPrefix(ct, t) {
			return true
		}
	}
	return false
}
