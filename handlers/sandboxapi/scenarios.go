package sandboxapi

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/internal/scenario"
)

func (s *Server) mountScenarios(admin *echo.Group) {
	admin.GET("/scenarios", s.listScenarios)
	admin.PUT("/scenarios/bindings", s.putBindings)
	admin.POST("/scenarios/active", s.activateScenario)
	admin.DELETE("/scenarios/active", s.deactivateScenario)
	admin.GET("/scenarios/:name", s.getScenario)
	admin.PUT("/scenarios/:name", s.putScenario)
	admin.DELETE("/scenarios/:name", s.deleteScenario)
}

func (s *Server) listScenarios(c echo.Context) error {
	return c.JSON(http.StatusOK, s.Scenarios.Catalogue())
}

func (s *Server) getScenario(c echo.Context) error {
	sc, ok := s.Scenarios.Get(c.Param("name"))
	if !ok {
		return httpx.ScenarioError(&scenario.ErrUnknown{Name: httpx.Truncate(c.Param("name"), 64)})
	}
	return c.JSON(http.StatusOK, sc)
}

func (s *Server) putScenario(c echo.Context) error {
	var sc scenario.Scenario
	if err := httpx.BindStrict(c, &sc); err != nil {
		return err
	}
	if sc.Name == "" {
		sc.Name = c.Param("name")
	}
	if sc.Name != c.Param("name") {
		return httpx.ScenarioError(errors.New("the name in the body differs from the one in the path"))
	}
	created, err := s.Scenarios.Put(sc)
	if err != nil {
		return httpx.ScenarioError(err)
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return c.JSON(status, sc)
}

func (s *Server) deleteScenario(c echo.Context) error {
	if err := s.Scenarios.Delete(c.Param("name")); err != nil {
		return httpx.ScenarioError(err)
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) putBindings(c echo.Context) error {
	var b scenario.Bindings
	if err := httpx.BindStrict(c, &b); err != nil {
		return err
	}
	if err := s.Scenarios.SetBindings(b); err != nil {
		return httpx.ScenarioError(err)
	}
	return c.JSON(http.StatusOK, s.Scenarios.Catalogue().Bindings)
}

func (s *Server) activateScenario(c echo.Context) error {
	var r struct {
		Name  string `json:"name"`
		Times int    `json:"times"`
	}
	if err := httpx.BindStrict(c, &r); err != nil {
		return err
	}
	if err := s.Scenarios.Activate(r.Name, r.Times); err != nil {
		return httpx.ScenarioError(err)
	}
	return c.JSON(http.StatusOK, s.Scenarios.Catalogue().Active)
}

func (s *Server) deactivateScenario(c echo.Context) error {
	if err := s.Scenarios.Deactivate(); err != nil {
		return httpx.ScenarioError(err)
	}
	return c.NoContent(http.StatusNoContent)
}
