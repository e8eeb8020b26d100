package docs

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

func (s *Server) postman(c echo.Context) error { return c.NoContent(http.StatusNotImplemented) }

func (s *Server) postmanEnvironment(c echo.Context) error {
	return c.NoContent(http.StatusNotImplemented)
}
