// Package trainer is the trainer view (/trainer): the reference TPP's
// journeys run step by step in front of a room, with each exchange and,
// live from the audit trail, what the bank decided and why — drawn as a
// sequence diagram with the consent's state machine and the tokens
// decoded, the PSU's part on the bank's own pages in a second window, and
// attacks to try after each step (flow.go).
package trainer

import (
	"crypto/rand"
	"crypto/rsa"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/handlers/httpx"
)

// Server is the trainer view over the shared server.
type Server struct {
	*httpx.Server
	journeys *journeys
	// key is the trainer's app's signing key, made on first use: like a
	// real TPP's software it keeps one key from registration to
	// registration, and a journey does not wait for a new RSA key.
	key func() (*rsa.PrivateKey, error)
}

// Mount adds the trainer's page, stream and journeys.
func Mount(core *httpx.Server, e *echo.Echo) {
	s := &Server{Server: core, key: sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })}
	s.mountTrainer(e)
}
