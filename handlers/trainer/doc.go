// Package trainer is the trainer view (/trainer): the reference TPP's
// journeys run step by step in front of a room, with each exchange and,
// live from the audit trail, what the bank decided and why — drawn as a
// sequence diagram with the consent's state machine and the tokens
// decoded, the PSU's part on the bank's own pages in a second window, and
// attacks to try after each step (flow.go).
package trainer

import (
	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/handlers/httpx"
)

// Server is the trainer view over the shared server.
type Server struct {
	*httpx.Server
	journeys *journeys
}

// Mount adds the trainer's page, stream and journeys.
func Mount(core *httpx.Server, e *echo.Echo) { (&Server{Server: core}).mountTrainer(e) }
