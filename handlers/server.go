package handlers

import (
	"context"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/obsandbox/sandbox/api"
	"github.com/obsandbox/sandbox/internal/audit"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/clock"
	"github.com/obsandbox/sandbox/internal/events"
	"github.com/obsandbox/sandbox/internal/gateway"
	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/pki"
	"github.com/obsandbox/sandbox/internal/scenario"
	"github.com/obsandbox/sandbox/internal/store"
	"github.com/obsandbox/sandbox/web"
)

// Config is what the HTTP layer needs to know of the sandbox's settings.
type Config struct {
	Issuer     string // public base URL, no trailing slash
	Profile    string
	AdminToken string
	BodyLimit  int64 // bytes; 413 above
	// MaxHeaderBytes bounds the request's header block (431 above; 0: none).
	MaxHeaderBytes int
	Version        string
	// Rates per endpoint class (nil: no rate limits); UnattendedLimit is the
	// AIS calls a consent may have per day without the PSU (0: off).
	Rates           map[gateway.Class]gateway.Rate
	UnattendedLimit int
	// CORSOrigins may call the resource APIs from a browser.
	CORSOrigins []string
	// BasePath is where this sandbox is mounted as the browser sees it: ""
	// at the root, "/t/<name>" for a tenant (redirects, cookies, page links).
	BasePath string
	// PProf mounts Go's profiler under /sandbox/debug/pprof/ (admin token).
	PProf bool
	// RootAdminToken, inside a tenant, is the root sandbox's admin token:
	// accepted as well as the tenant's own.
	RootAdminToken string
}

// Deps are the parts the handlers adapt.
type Deps struct {
	// Bank is the bank's use cases, which the standards' adapters call.
	Bank   *bank.Bank
	Store  *store.Store
	Auth   *oauth.Server
	Clock  *clock.Clock
	Log    *slog.Logger
	Spec   *openapi3.T
	Config Config
	// Reset puts the bank back to its seed (POST /sandbox/reset).
	Reset func(context.Context) error
	// CA is the development certificate authority (nil without TLS).
	CA *pki.CA
	// Auditor records every security decision (nil: no audit trail).
	Auditor *audit.Auditor
	// Detector is the anomaly rules' state (reset with the bank).
	Detector *audit.Detector
	// Stopping is closed when the server shuts down: long-lived streams end.
	Stopping <-chan struct{}
	// Events signs, pushes and serves event notifications (nil: no events API).
	Events *events.Service
	// Scenarios is the live scenario catalogue (nil: no scenarios).
	Scenarios *scenario.Registry
	// Snapshots saves and restores the sandbox (nil: no snapshots).
	Snapshots Snapshots
	// Tenants makes and deletes tenants (nil: none, or inside a tenant).
	Tenants Tenants
}

// Server holds the handlers' dependencies.
type Server struct {
	bank  *bank.Bank
	store *store.Store
	auth  *oauth.Server
	clock *clock.Clock
	log   *slog.Logger
	cfg   Config
	spec  *openapi3.T
	ops   map[string]*operation // "GET /aisp/accounts" -> operation
	deps  Deps
	pages *template.Template

	limits     *gateway.Limiter
	unattended *gateway.Unattended
	auditor    *audit.Auditor
	journeys   *journeys
	scenarios  *scenario.Registry
	dataCalls  callCounter // data calls per consent (scenario revoke_after)
	metrics    *metrics
	rendered   rendered // transaction pages as JSON, for as long as the store serves the same page
}

// New builds the echo instance with every route and middleware mounted.
func New(d Deps) (*echo.Echo, error) {
	s := &Server{bank: d.Bank, store: d.Store, auth: d.Auth, clock: d.Clock, log: d.Log, cfg: d.Config, spec: d.Spec, deps: d, auditor: d.Auditor, scenarios: d.Scenarios}
	if s.cfg.BodyLimit <= 0 {
		s.cfg.BodyLimit = 1 << 20
	}
	if err := s.indexOperations(); err != nil {
		return nil, err
	}
	var err error
	if s.pages, err = web.Templates(); err != nil {
		return nil, err
	}
	if s.cfg.Rates != nil {
		s.limits = gateway.NewLimiter(s.cfg.Rates, d.Clock.Now)
	}
	s.unattended = gateway.NewUnattended(s.cfg.UnattendedLimit, d.Clock.Now)
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(d.Log)
	e.Pre(interaction, commonHeaders(s.cfg.Profile), s.headerLimit, s.cors)
	s.metrics = newMetrics(d.Store)
	e.Use(s.metrics.middleware, recoverer(d.Log), s.recordAudit, bodyLimit(s.cfg.BodyLimit), s.applyScenario)
	e.GET("/metrics", s.metrics.handler())

	e.GET("/healthz", s.healthz)
	e.GET(api.BasePath+"/openapi.yaml", func(c echo.Context) error {
		return c.Blob(http.StatusOK, "application/yaml", api.YAML)
	})
	e.GET("/", s.home, pageHeaders)
	e.GET("/favicon.ico", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	e.StaticFS("/static", web.Static())
	s.mountOAuth(e)
	s.mountCIBA(e)
	s.mountPSU(e)
	s.mountSandbox(e)
	s.mountTrainer(e)
	s.mountAIS(e)
	s.mountPIS(e)
	s.mountCBPII(e)
	s.mountEvents(e)
	return e, nil
}

// indexOperations prepares, once, a kin-openapi route per operation of the
// contract, keyed the way mount looks them up.
func (s *Server) indexOperations() error {
	s.ops = map[string]*operation{}
	for path, item := range s.spec.Paths.Map() {
		for method, op := range item.Operations() {
			o := &operation{route: &routers.Route{Spec: s.spec, Server: s.spec.Servers[0], Path: path, PathItem: item,
				Method: method, Operation: op}, query: map[string]bool{}}
			for _, p := range append(item.Parameters, op.Parameters...) {
				if p.Value != nil && p.Value.In == openapi3.ParameterInQuery {
					o.query[p.Value.Name] = true
				}
			}
			s.ops[method+" "+path] = o
		}
	}
	return nil
}

// echoPath turns a contract path ("/aisp/accounts/{AccountId}") into an echo
// route under the base path ("/open-banking/v3.1/aisp/accounts/:AccountId").
func echoPath(p string) string {
	var sb strings.Builder
	sb.WriteString(api.BasePath)
	for _, seg := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		sb.WriteByte('/')
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			sb.WriteString(":" + seg[1:len(seg)-1])
		} else {
			sb.WriteString(seg)
		}
	}
	return sb.String()
}

// mount adds a contract operation: authentication, then validation, then h.
// Extra middleware (response signing) goes first, around everything.
func (s *Server) mount(e *echo.Echo, method, path string, n need, h echo.HandlerFunc, extra ...echo.MiddlewareFunc) {
	op, ok := s.ops[method+" "+path]
	if !ok {
		panic(fmt.Sprintf("handlers: %s %s is not in api/openapi.yaml", method, path))
	}
	mw := append(extra, acceptJSON, s.requireToken(n), validateRequest(op))
	e.Add(method, echoPath(path), h, mw...)
}

func (s *Server) healthz(c echo.Context) error {
	if err := s.store.Ping(c.Request().Context()); err != nil {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// headerLimit refuses a header block over the limit with 431.
func (s *Server) headerLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.cfg.MaxHeaderBytes > 0 {
			n := len(c.Request().RequestURI)
			for k, vs := range c.Request().Header {
				for _, v := range vs {
					n += len(k) + len(v) + 4
				}
			}
			if n > s.cfg.MaxHeaderBytes {
				return c.NoContent(http.StatusRequestHeaderFieldsTooLarge)
			}
		}
		return next(c)
	}
}

// recoverer turns a panic in a handler into a logged 500, never a stack
// trace on the wire.
func recoverer(log *slog.Logger) echo.MiddlewareFunc {
	return middleware.RecoverWithConfig(middleware.RecoverConfig{
		DisableStackAll:   true,
		DisablePrintStack: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			log.ErrorContext(c.Request().Context(), "panic", "error", err, "stack", string(stack))
			return err
		},
	})
}

// bodyLimit refuses bodies over n bytes with 413, whether announced by
// Content-Length or found while reading.
func bodyLimit(n int64) echo.MiddlewareFunc {
	return middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Limit: fmt.Sprintf("%dB", n)})
}

func (s *Server) home(c echo.Context) error {
	return s.page(c, http.StatusOK, "home.html", map[string]any{"Title": "Open Banking Sandbox", "Profile": s.cfg.Profile})
}
