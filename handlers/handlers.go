package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/api"
	"github.com/obsandbox/sandbox/handlers/asapi"
	"github.com/obsandbox/sandbox/handlers/berlin"
	"github.com/obsandbox/sandbox/handlers/docs"
	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/handlers/psu"
	"github.com/obsandbox/sandbox/handlers/sandboxapi"
	"github.com/obsandbox/sandbox/handlers/trainer"
	"github.com/obsandbox/sandbox/handlers/ukob"
	"github.com/obsandbox/sandbox/handlers/ukob/wire31"
	"github.com/obsandbox/sandbox/handlers/ukob/wire40"
	"github.com/obsandbox/sandbox/web"
)

// The handlers' configuration and dependencies, and the app's hooks.
type (
	Config    = httpx.Config
	Deps      = httpx.Deps
	Spec      = httpx.Spec
	Snapshot  = httpx.Snapshot
	Snapshots = httpx.Snapshots
	Tenant    = httpx.Tenant
	NewTenant = httpx.NewTenant
	Tenants   = httpx.Tenants
)

// BankOrgID is the sandbox bank's organisation id: the iss of its message
// signatures.
const BankOrgID = ukob.BankOrgID

// InteractionIDFrom reads a request's x-fapi-interaction-id from its context.
var InteractionIDFrom = httpx.InteractionIDFrom

// New builds the echo instance with every surface mounted.
func New(d Deps) (*echo.Echo, error) {
	core, e, err := httpx.New(d)
	if err != nil {
		return nil, err
	}
	s := &server{core}
	e.GET("/", s.home, httpx.PageHeaders)
	e.GET("/favicon.ico", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	e.StaticFS("/static", web.Static())
	asapi.Mount(core, e)
	psu.Mount(core, e)
	sandboxapi.Mount(core, e)
	trainer.Mount(core, e)
	ukob.Mount(core, e, wire31.Wire{}, d.Spec, api.UKOBv3.YAML())
	ukob.Mount(core, e, wire40.Wire{}, d.SpecV4, api.UKOBv4.YAML())
	ukob.MountEventControls(core, e)
	berlin.Mount(core, e, d.SpecBG)
	docs.Mount(core, e)
	return e, nil
}

// server is the root pages over the shared server.
type server struct{ *httpx.Server }

func (s *server) home(c echo.Context) error {
	return s.Page(c, http.StatusOK, "home.html", map[string]any{"Title": "Open Banking Sandbox", "Profile": s.Cfg.Profile})
}
