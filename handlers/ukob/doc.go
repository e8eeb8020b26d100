// Package ukob is the UK Open Banking Read/Write API over the bank: account
// information, payment initiation, funds confirmation and event
// notifications. Handlers parse the standard's wire format, call one of the
// bank's use cases and render the answer; errors are OBErrorResponse1.
package ukob

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/handlers/httpx"
)

// Server is one version of the UK Open Banking API over the shared server.
type Server struct {
	*httpx.Server
	w        Wire
	contract *httpx.Contract
	rendered rendered // transaction pages as JSON, for as long as the store serves the same page
}

// Mount adds one version of the API: its wire format w, its contract spec
// (served as written, yaml, at <base>/openapi.yaml).
func Mount(core *httpx.Server, e *echo.Echo, w Wire, spec httpx.Spec, yaml []byte) {
	s := &Server{Server: core, w: w, contract: core.NewContract(spec, w.Base())}
	core.Register(w.Base()+"/", w.Envelope())
	e.GET(w.Base()+"/openapi.yaml", func(c echo.Context) error {
		return c.Blob(http.StatusOK, "application/yaml", yaml)
	})
	s.mountAIS(e)
	s.mountPIS(e)
	s.mountVRP(e)
	s.mountCBPII(e)
	s.mountEvents(e)
}
