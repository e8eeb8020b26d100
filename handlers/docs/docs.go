// Package docs serves the API explorer at /docs: Swagger UI (vendored in
// web/static/swagger-ui, served from the binary) over every contract of
// package api — the UK Open Banking versions, the authorization server and
// the sandbox controls — each with its server set to this sandbox, so that
// "Try it out" calls it; and the Postman collection built from the same
// contracts.
package docs

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/api"
	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/internal/oauth"
)

// Server is the explorer over the shared server.
type Server struct {
	*httpx.Server
	specs sync.Map // spec name -> func() ([]byte, error)
}

// Spec is one contract the explorer lists.
type Spec struct {
	Name     string // in /docs/specs/{Name}
	Title    string // in the page's chooser
	Contract api.Contract
}

// Specs are the contracts the explorer lists, in its order.
var Specs = []Spec{
	{"ukob-v3.1.11.json", "UK Open Banking v3.1.11 (AIS, PIS, CBPII, events)", api.UKOBv3},
	{"ukob-v4.0.json", "UK Open Banking v4.0", api.UKOBv4},
	{"berlin-group-1.3.12.json", "Berlin Group NextGenPSD2 1.3.12 (/psd2/v1; the TPP's QWAC in TPP-QWAC-Certificate)", api.BerlinGroup},
	{"authorization-server.json", "Authorization server (/as, discovery, PSU pages)", api.AuthorizationServer},
	{"sandbox.json", "Sandbox controls (/sandbox, trainer, health)", api.Sandbox},
}

// Mount adds /docs, /docs/specs/{name} and the Postman files.
func Mount(core *httpx.Server, e *echo.Echo) {
	s := &Server{Server: core}
	e.GET("/docs", s.page, docsHeaders)
	e.GET("/docs/", func(c echo.Context) error { return c.Redirect(http.StatusMovedPermanently, s.At("/docs")) })
	e.GET("/docs/specs/:name", s.spec)
	e.GET("/docs/postman.json", s.postman)
	e.GET("/docs/postman-environment.json", s.postmanEnvironment)
}

// docsHeaders are the pages' headers with the explorer's own script and
// styles (Swagger UI sets styles from script and draws icons as data:
// images) and its calls to this sandbox ("Try it out").
func docsHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return httpx.PageHeaders(func(c echo.Context) error {
		c.Response().Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; connect-src 'self'; "+
			"style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		return next(c)
	})
}

func (s *Server) page(c echo.Context) error {
	return s.Page(c, http.StatusOK, "docs.html", map[string]any{"Title": "API explorer", "Profile": s.Cfg.Profile,
		"Specs": Specs, "Dev": !oauth.Strict(s.Cfg.Profile)})
}

// spec answers a contract as JSON with its server this sandbox as the page
// reached it, so the explorer's calls come here.
func (s *Server) spec(c echo.Context) error {
	for _, sp := range Specs {
		if sp.Name != c.Param("name") {
			continue
		}
		f, _ := s.specs.LoadOrStore(sp.Name, sync.OnceValues(func() ([]byte, error) { return s.render(sp) }))
		b, err := f.(func() ([]byte, error))()
		if err != nil {
			return err
		}
		// The server is where the page was asked from (scheme, host and a
		// tenant's path), so "Try it out" stays on the page's origin.
		scheme := "http"
		if c.Request().TLS != nil {
			scheme = "https"
		}
		server, err := json.Marshal([]map[string]string{{"url": scheme + "://" + c.Request().Host + s.Cfg.BasePath + sp.Contract.BasePath(),
			"description": "this sandbox"}})
		if err != nil {
			return err
		}
		out := make([]byte, 0, len(b)+len(server)+16)
		out = append(append(append(out, `{"servers":`...), server...), ',')
		out = append(out, b[1:]...)
		c.Response().Header().Set("Cache-Control", "no-cache")
		return c.JSONBlob(http.StatusOK, out)
	}
	return &oauth.Error{Status: http.StatusNotFound, Code: "not_found", Description: "no such contract; see /docs"}
}

func (s *Server) render(sp Spec) ([]byte, error) {
	var spec httpx.Spec
	switch sp.Contract.File() { // the standards' contracts, as the server parsed them
	case api.UKOBv3.File():
		spec = s.Deps.Spec
	case api.UKOBv4.File():
		spec = s.Deps.SpecV4
	case api.BerlinGroup.File():
		spec = s.Deps.SpecBG
	}
	var loaded *openapi3.T
	if spec != nil {
		var err error
		if loaded, err = spec(); err != nil {
			return nil, err
		}
	}
	doc, err := Document(sp.Contract, loaded, "")
	if err != nil {
		return nil, err
	}
	delete(doc, "servers") // set per request
	return json.Marshal(doc)
}

// Document is a contract (loaded, or nil to load it) as generic JSON with
// its one server the sandbox at base (the issuer) plus the contract's base
// path.
func Document(c api.Contract, loaded *openapi3.T, base string) (map[string]any, error) {
	doc := loaded
	if doc == nil {
		var err error
		if doc, err = loadContract(c); err != nil {
			return nil, err
		}
	}
	raw, err := doc.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	out["servers"] = []map[string]string{{"url": base + c.BasePath(), "description": "this sandbox"}}
	dropAuthorizationParams(out)
	return out, nil
}

// dropAuthorizationParams removes the Authorization header from the
// operations' parameters (the UK contracts list it): the explorer sets it
// from its tokens or the Authorize button, and Swagger UI would otherwise
// refuse to send a request until it is typed in.
func dropAuthorizationParams(doc map[string]any) {
	comps, _ := doc["components"].(map[string]any)
	named, _ := comps["parameters"].(map[string]any)
	isAuth := func(p any) bool {
		m, ok := p.(map[string]any)
		if !ok {
			return false
		}
		if ref, ok := m["$ref"].(string); ok {
			const prefix = "#/components/parameters/"
			if target, ok := named[strings.TrimPrefix(ref, prefix)].(map[string]any); ok && strings.HasPrefix(ref, prefix) {
				m = target
			}
		}
		name, _ := m["name"].(string)
		return m["in"] == "header" && strings.EqualFold(name, "Authorization")
	}
	paths, _ := doc["paths"].(map[string]any)
	for _, item := range paths {
		im, _ := item.(map[string]any)
		for key, v := range im {
			op, ok := v.(map[string]any)
			if !ok {
				continue
			}
			params, ok := op["parameters"].([]any)
			if !ok {
				continue
			}
			kept := params[:0:0]
			for _, p := range params {
				if !isAuth(p) {
					kept = append(kept, p)
				}
			}
			op["parameters"] = kept
			im[key] = op
		}
	}
}

var parsed sync.Map // contract file -> func() (*openapi3.T, error)

// loadContract parses a contract once per process.
func loadContract(c api.Contract) (*openapi3.T, error) {
	f, _ := parsed.LoadOrStore(c.File(), sync.OnceValues(func() (*openapi3.T, error) { return c.Load(context.Background()) }))
	return f.(func() (*openapi3.T, error))()
}
