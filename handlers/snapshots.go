package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// Snapshot is a saved copy of the sandbox (POST /sandbox/snapshots).
type Snapshot struct {
	Name      string    `json:"name"`
	Bytes     int64     `json:"bytes"`
	CreatedAt time.Time `json:"created_at"`
}

// Snapshots saves and restores copies of the whole sandbox (the app does
// it: it owns the database file and what is held in memory).
type Snapshots interface {
	SaveSnapshot(ctx context.Context, name string) (Snapshot, error)
	RestoreSnapshot(ctx context.Context, name string) error
	Snapshots() ([]Snapshot, error)
	DeleteSnapshot(name string) error
}

func (s *Server) mountSnapshots(admin *echo.Group) {
	if s.deps.Snapshots == nil {
		return
	}
	admin.GET("/snapshots", s.listSnapshots)
	admin.POST("/snapshots", s.saveSnapshot)
	admin.POST("/snapshots/:name/restore", s.restoreSnapshot)
	admin.DELETE("/snapshots/:name", s.deleteSnapshot)
}

func (s *Server) listSnapshots(c echo.Context) error {
	list, err := s.deps.Snapshots.Snapshots()
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"snapshots": list})
}

func (s *Server) saveSnapshot(c echo.Context) error {
	var r struct {
		Name string `json:"name"`
	}
	if err := bindStrict(c, &r); err != nil {
		return err
	}
	snap, err := s.deps.Snapshots.SaveSnapshot(c.Request().Context(), r.Name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, snap)
}

// restoreSnapshot puts the sandbox back to a snapshot and forgets what the
// handlers counted in memory since (as a reset does).
func (s *Server) restoreSnapshot(c echo.Context) error {
	if err := s.deps.Snapshots.RestoreSnapshot(c.Request().Context(), c.Param("name")); err != nil {
		return err
	}
	s.forget()
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) deleteSnapshot(c echo.Context) error {
	if err := s.deps.Snapshots.DeleteSnapshot(c.Param("name")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
