package httpx

import (
	"errors"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"
)

func NoStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		c.Response().Header().Set("Pragma", "no-cache")
		return next(c)
	}
}

// ReadBody reads a request body under the body limit (413 above it).
func ReadBody(c echo.Context) ([]byte, error) {
	b, err := io.ReadAll(c.Request().Body)
	if TooLarge(err) {
		return nil, echo.ErrStatusRequestEntityTooLarge
	}
	return b, err
}

// TooLarge reports whether a read failed on the body limit.
func TooLarge(err error) bool {
	var he *echo.HTTPError
	return err != nil && errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge
}
