package sandboxapi

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/obsandbox/sandbox/handlers/httpx"
)

func (s *Server) mountTenants(admin *echo.Group) {
	if s.Deps.Tenants == nil {
		return
	}
	admin.GET("/tenants", func(c echo.Context) error {
		list, err := s.Deps.Tenants.Tenants()
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]any{"tenants": list})
	})
	admin.POST("/tenants", func(c echo.Context) error {
		var r struct {
			Name string `json:"name"`
		}
		if err := httpx.BindStrict(c, &r); err != nil {
			return err
		}
		t, err := s.Deps.Tenants.CreateTenant(c.Request().Context(), r.Name)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, t)
	})
	admin.DELETE("/tenants/:name", func(c echo.Context) error {
		if err := s.Deps.Tenants.DeleteTenant(c.Request().Context(), c.Param("name")); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	})
}
