package sandboxapi

import (
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/drill"
	"github.com/obsandbox/sandbox/internal/oauth"
)

// mountIncidents adds the incident response drills (admin), the drills'
// own TPP receiver of event notifications, and the bank's status page.
func (s *Server) mountIncidents(e *echo.Echo, admin *echo.Group) {
	e.GET("/status", s.bankStatus)
	if s.Deps.Drills == nil {
		return
	}
	admin.POST("/incidents", s.startIncident)
	admin.GET("/incidents", s.listIncidents)
	admin.GET("/incidents/:id", s.getIncident)
	admin.GET("/incidents/:id/report", s.incidentReport)
	e.POST("/sandbox/incidents/:id/tpp/event-notifications", s.drillCallback, httpx.NoStore)
}

// startIncident runs a drill to its end: {"scenario": "compromised-tpp" |
// "signing-key" | "dependency-down", "callback_url"?: where the drill's TPP
// takes its event notifications}. 201 with the incident's record.
func (s *Server) startIncident(c echo.Context) error {
	var r struct {
		Scenario    string `json:"scenario"`
		CallbackURL string `json:"callback_url"`
	}
	if err := httpx.BindStrict(c, &r); err != nil {
		return err
	}
	if r.CallbackURL != "" && !strings.HasSuffix(r.CallbackURL, "/event-notifications") {
		return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "callback_url must end in /event-notifications"}
	}
	in, err := s.Deps.Drills.Start(c.Request().Context(), r.Scenario, r.CallbackURL)
	switch {
	case errors.Is(err, drill.ErrUnknown):
		names := make([]string, 0, len(drill.Scenarios))
		for n := range drill.Scenarios {
			names = append(names, n)
		}
		sort.Strings(names)
		return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "scenario is one of " + strings.Join(names, ", ")}
	case errors.Is(err, drill.ErrBusy):
		return &oauth.Error{Status: http.StatusConflict, Code: "conflict", Description: err.Error()}
	case err != nil:
		return err
	}
	return c.JSON(http.StatusCreated, in)
}

func (s *Server) listIncidents(c echo.Context) error {
	list, err := s.Deps.Drills.List(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"incidents": list, "scenarios": drill.Scenarios, "phases": drill.Phases})
}

func (s *Server) getIncident(c echo.Context) error {
	in, err := s.Deps.Drills.Get(c.Request().Context(), c.Param("id"))
	if errors.Is(err, bank.ErrNotFound) {
		return &oauth.Error{Status: http.StatusNotFound, Code: "not_found", Description: "no such incident"}
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, in)
}

// incidentReport answers the post-incident report: JSON, or a printable
// HTML page with ?format=html (or Accept: text/html).
func (s *Server) incidentReport(c echo.Context) error {
	rep, err := s.Deps.Drills.Report(c.Request().Context(), c.Param("id"))
	if errors.Is(err, bank.ErrNotFound) {
		return &oauth.Error{Status: http.StatusNotFound, Code: "not_found", Description: "no such incident"}
	}
	if err != nil {
		return err
	}
	if c.QueryParam("format") == "html" || (c.QueryParam("format") == "" && strings.Contains(c.Request().Header.Get("Accept"), "text/html")) {
		page, err := rep.HTML()
		if err != nil {
			return err
		}
		c.Response().Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		return c.HTMLBlob(http.StatusOK, page)
	}
	return c.JSON(http.StatusOK, rep)
}

// drillCallback is the drills' TPP's event-notification endpoint: it takes
// a SET the bank signed (202), as a TPP would.
func (s *Server) drillCallback(c echo.Context) error {
	body, err := httpx.ReadBody(c)
	if err != nil {
		return err
	}
	_, err = jwt.Parse(string(body), func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if pub, ok := s.Auth.Keys.Public(kid); ok {
			return pub, nil
		}
		return nil, errors.New("unknown kid")
	}, jwt.WithValidMethods([]string{"PS256"}), jwt.WithoutClaimsValidation())
	if err != nil {
		return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "not a SET signed by the bank"}
	}
	return c.NoContent(http.StatusAccepted)
}

// bankStatus is the bank's status page (public): operational, or degraded
// with the dependencies down and the APIs they take with them, and the
// notices the bank published to every TPP.
func (s *Server) bankStatus(c echo.Context) error {
	status := "operational"
	outages, notices := []any{}, []any{}
	if s.Deps.Status != nil {
		os, ns := s.Deps.Status.Now()
		for _, o := range os {
			outages = append(outages, o)
		}
		for _, n := range ns {
			notices = append(notices, n)
		}
		if len(os) > 0 {
			status = "degraded"
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"status": status, "outages": outages, "notices": notices})
}
