package sandboxapi

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/obsandbox/sandbox/handlers/httpx"
)

func (s *Server) mountSnapshots(admin *echo.Group) {
	if s.Deps.Snapshots == nil {
		return
	}
	admin.GET("/snapshots", s.listSnapshots)
	admin.POST("/snapshots", s.saveSnapshot)
	admin.POST("/snapshots/:name/restore", s.restoreSnapshot)
	admin.DELETE("/snapshots/:name", s.deleteSnapshot)
}

func (s *Server) listSnapshots(c echo.Context) error {
	list, err := s.Deps.Snapshots.Snapshots()
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"snapshots": list})
}

func (s *Server) saveSnapshot(c echo.Context) error {
	var r struct {
		Name string `json:"name"`
	}
	if err := httpx.BindStrict(c, &r); err != nil {
		return err
	}
	snap, err := s.Deps.Snapshots.SaveSnapshot(c.Request().Context(), r.Name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, snap)
}

// restoreSnapshot puts the sandbox back to a snapshot and forgets what the
// handlers counted in memory since (as a reset does).
func (s *Server) restoreSnapshot(c echo.Context) error {
	if err := s.Deps.Snapshots.RestoreSnapshot(c.Request().Context(), c.Param("name")); err != nil {
		return err
	}
	s.Forget()
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) deleteSnapshot(c echo.Context) error {
	if err := s.Deps.Snapshots.DeleteSnapshot(c.Param("name")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
