// Package ukob is the UK Open Banking Read/Write API over the bank: account
// information, payment initiation, funds confirmation and event
// notifications. Handlers parse the standard's wire format, call one of the
// bank's use cases and render the answer; errors are OBErrorResponse1.
package ukob

import (
	"net/http"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/api"
	"github.com/obsandbox/sandbox/handlers/httpx"
)

// Server is the UK Open Banking API over the shared server.
type Server struct {
	*httpx.Server
	contract *httpx.Contract
	rendered rendered // transaction pages as JSON, for as long as the store serves the same page
}

// Mount adds the v3.1.11 API described by spec (api/openapi.yaml).
func Mount(core *httpx.Server, e *echo.Echo, spec *openapi3.T) {
	s := &Server{Server: core, contract: httpx.NewContract(spec, api.BasePath)}
	core.Register(api.BasePath+"/", obEnvelope{})
	e.GET(api.BasePath+"/openapi.yaml", func(c echo.Context) error {
		return c.Blob(http.StatusOK, "application/yaml", api.YAML)
	})
	s.mountAIS(e)
	s.mountPIS(e)
	s.mountCBPII(e)
	s.mountEvents(e)
}
