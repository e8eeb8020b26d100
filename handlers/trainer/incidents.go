package trainer

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// incidentsPage is the trainer's security-operations page: the incident
// drills, their reports, and a sealed secret beside what the bank reads
// (through the admin API, with the admin token the trainer pastes).
func (s *Server) incidentsPage(c echo.Context) error {
	return s.Page(c, http.StatusOK, "incidents.html", map[string]any{"Title": "Security operations", "Profile": s.Cfg.Profile})
}
