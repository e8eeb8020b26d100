package httpx

import (
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"go.opentelemetry.io/otel/attribute"

	"github.com/obsandbox/sandbox/internal/audit"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/clock"
	"github.com/obsandbox/sandbox/internal/gateway"
	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/scenario"
	"github.com/obsandbox/sandbox/internal/store"
	"github.com/obsandbox/sandbox/web"
)

// Server is what every surface shares: the bank, the authorization server,
// the store and the clock, the gateway's limits, the audit trail, the
// scenarios, the page templates. Each surface's package embeds it.
type Server struct {
	Bank  *bank.Bank
	Store *store.Store
	Auth  *oauth.Server
	Clock *clock.Clock
	Log   *slog.Logger
	Cfg   Config
	Deps  Deps
	Pages *template.Template

	contracts []*Contract // the served contracts (NewContract), checked by readyz

	Limits     *gateway.Limiter
	Unattended *gateway.Unattended
	Auditor    *audit.Auditor
	Scenarios  *scenario.Registry
	DataCalls  callCounter // data calls per consent (scenario revoke_after)
	Metrics    *metrics
	// Renderers write errors in the envelope of the surface a path belongs
	// to (by path prefix); other paths get RFC 6749 errors.
	Renderers map[string]ErrorRenderer
}

// New builds the shared server and the echo instance with the middleware
// every request goes through: interaction id, security headers, header
// limit, CORS, metrics, panic recovery, the audit trail, the body limit and
// scenarios. The surfaces mount their routes on it.
func New(d Deps) (*Server, *echo.Echo, error) {
	s := &Server{Bank: d.Bank, Store: d.Store, Auth: d.Auth, Clock: d.Clock, Log: d.Log, Cfg: d.Config, Deps: d, Auditor: d.Auditor,
		Scenarios: d.Scenarios, Renderers: map[string]ErrorRenderer{}}
	if s.Cfg.BodyLimit <= 0 {
		s.Cfg.BodyLimit = 1 << 20
	}
	var err error
	if s.Pages, err = web.Templates(); err != nil {
		return nil, nil, err
	}
	if s.Cfg.Rates != nil {
		s.Limits = gateway.NewLimiter(s.Cfg.Rates, d.Clock.Now)
		if d.Store.Shared() { // replicas spend one budget
			s.Limits.Share(d.Store.TakeTokens(), func(err error, n int64) {
				d.Log.Warn("shared rate limit not reached: this replica spends its own bucket meanwhile", "error", err, "misses", n)
			})
		}
	}
	s.Unattended = gateway.NewUnattended(s.Cfg.UnattendedLimit, d.Clock.Now)
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.Pre(interaction, s.traceRequest, commonHeaders(s.Cfg.Profile), s.headerLimit, s.cors)
	s.Metrics = newMetrics(d.Store)
	e.Use(s.Metrics.middleware, recoverer(d.Log), s.recordAudit, bodyLimit(s.Cfg.BodyLimit), s.applyScenario)
	e.GET("/metrics", s.Metrics.handler())
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	return s, e, nil
}

// Spec is a contract as the process parsed it: the function waits for the
// parse (started in the background at start-up, once per process).
type Spec func() (*openapi3.T, error)

// Contract is one surface's OpenAPI document, its operations prepared once
// (a kin-openapi route each, so no router runs per request). Its routes
// are mounted before the document is parsed: the first request to one of
// them waits for the parse, so a start does not.
type Contract struct {
	Base string // the path its operations are served under (its server URL)
	ops  func() (map[string]*route, error)

	mu    sync.Mutex
	named []*Operation // by Op, for Check
}

// route is a contract operation prepared for validation.
type route struct {
	route  *routers.Route
	query  map[string]bool // the query parameters it declares
	params []param         // what it validates, as openapi3filter.ValidateRequest takes them
}

// param is a parameter to validate and, for a header, its canonical name.
type param struct {
	*openapi3.Parameter
	header string
}

// NewContract indexes a document's operations by method and path, once
// spec has parsed it; readyz waits for it.
func (s *Server) NewContract(spec Spec, base string) *Contract {
	k := &Contract{Base: base, ops: sync.OnceValues(func() (map[string]*route, error) {
		doc, err := spec()
		if err != nil {
			return nil, err
		}
		ops := map[string]*route{}
		for path, item := range doc.Paths.Map() {
			for method, op := range item.Operations() {
				o := &route{route: &routers.Route{Spec: doc, Server: doc.Servers[0], Path: path, PathItem: item,
					Method: method, Operation: op}, query: map[string]bool{}}
				for _, p := range append(item.Parameters, op.Parameters...) {
					if p.Value != nil && p.Value.In == openapi3.ParameterInQuery {
						o.query[p.Value.Name] = true
					}
				}
				// The path item's parameters the operation does not
				// override, then the operation's.
				for _, p := range item.Parameters {
					if op.Parameters.GetByInAndName(p.Value.In, p.Value.Name) == nil {
						o.params = append(o.params, param{p.Value, http.CanonicalHeaderKey(p.Value.Name)})
					}
				}
				for _, p := range op.Parameters {
					o.params = append(o.params, param{p.Value, http.CanonicalHeaderKey(p.Value.Name)})
				}
				ops[method+" "+path] = o
			}
		}
		return ops, nil
	})}
	s.contracts = append(s.contracts, k)
	return k
}

// Op is the operation at method and path, resolved when first used.
func (k *Contract) Op(method, path string) *Operation {
	op := &Operation{k: k, key: method + " " + path}
	k.mu.Lock()
	k.named = append(k.named, op)
	k.mu.Unlock()
	return op
}

// Check waits for the contract and reports an operation named by Op that
// it lacks (a route mounted without its contract is a bug).
func (k *Contract) Check() error {
	k.mu.Lock()
	named := slices.Clone(k.named)
	k.mu.Unlock()
	for _, op := range named {
		if _, err := op.resolve(); err != nil {
			return err
		}
	}
	return nil
}

// Route turns a contract path ("/aisp/accounts/{AccountId}") into an echo
// route under the contract's base ("/open-banking/v3.1/aisp/accounts/:AccountId").
func (k *Contract) Route(p string) string {
	var sb strings.Builder
	sb.WriteString(k.Base)
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

// Mount adds a contract operation: authentication, then validation, then h.
// Extra middleware (response signing) goes first, around everything.
func (s *Server) Mount(e *echo.Echo, k *Contract, method, path string, n Need, h echo.HandlerFunc, extra ...echo.MiddlewareFunc) {
	op := k.Op(method, path)
	mw := append(extra, AcceptJSON, s.RequireToken(n), s.degrade, ValidateRequest(op))
	e.Add(method, k.Route(path), useCase(op, h), mw...)
}

// useCase traces an operation's handler — the standard's operation, the
// bank's use case it calls — as the use case's span.
func useCase(op *Operation, h echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r, err := op.resolve()
		if err != nil {
			return err
		}
		name := r.route.Operation.OperationID
		_, end := span(c, "usecase "+name, "usecase", attribute.String("sandbox.operation", name))
		err = h(c)
		end(err)
		return err
	}
}

// healthz says the process is up (liveness); readyz whether it can serve.
func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// headerLimit refuses a header block over the limit with 431.
func (s *Server) headerLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.Cfg.MaxHeaderBytes > 0 {
			n := len(c.Request().RequestURI)
			for k, vs := range c.Request().Header {
				for _, v := range vs {
					n += len(k) + len(v) + 4
				}
			}
			if n > s.Cfg.MaxHeaderBytes {
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
