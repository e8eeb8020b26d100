package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// Tenant is an isolated sandbox under /t/<name>/ (the app serves them), as
// listed: open, or closed until its next request.
type Tenant struct {
	Name     string    `json:"name"`
	BaseURL  string    `json:"base_url"`
	Open     bool      `json:"open"`
	OpenedAt time.Time `json:"opened_at,omitzero"`
	LastUsed time.Time `json:"last_used,omitzero"`
}

// NewTenant is a tenant just made, with its own admin token.
type NewTenant struct {
	Name       string `json:"name"`
	BaseURL    string `json:"base_url"`
	AdminToken string `json:"admin_token"`
}

// Tenants makes, lists and deletes tenants.
type Tenants interface {
	Tenants() ([]Tenant, error)
	CreateTenant(ctx context.Context, name string) (NewTenant, error)
	DeleteTenant(ctx context.Context, name string) error
}

func (s *Server) mountTenants(admin *echo.Group) {
	if s.deps.Tenants == nil {
		return
	}
	admin.GET("/tenants", func(c echo.Context) error {
		list, err := s.deps.Tenants.Tenants()
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]any{"tenants": list})
	})
	admin.POST("/tenants", func(c echo.Context) error {
		var r struct {
			Name string `json:"name"`
		}
		if err := bindStrict(c, &r); err != nil {
			return err
		}
		t, err := s.deps.Tenants.CreateTenant(c.Request().Context(), r.Name)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, t)
	})
	admin.DELETE("/tenants/:name", func(c echo.Context) error {
		if err := s.deps.Tenants.DeleteTenant(c.Request().Context(), c.Param("name")); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	})
}
