// Package api holds the sandbox's own OpenAPI contracts, embedded in the
// binary: openapi.yaml for UK Open Banking R/W v3.1.11 (served under
// /open-banking/v3.1) and ukob-v4.0.yaml for v4.0 (under /open-banking/v4.0;
// written by internal/gen from the official files); authorization-server.yaml
// and sandbox.yaml for the sandbox's own endpoints (the API explorer at /docs
// shows all four). The server validates
// every resource request against its contract and the tests validate every
// response against it; the v3.1.11 one is also served at
// /open-banking/v3.1/openapi.yaml. berlin-group-1.3.12.yaml is Berlin Group
// NextGenPSD2 1.3.12 (under /psd2/v1; also written by internal/gen).
package api

import (
	"context"
	_ "embed"
	"fmt"
	"net/url"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
)

// YAML is the v3.1.11 contract as written.
//
//go:embed openapi.yaml
var YAML []byte

//go:embed ukob-v4.0.yaml
var yamlV4 []byte

//go:embed authorization-server.yaml
var yamlAS []byte

//go:embed sandbox.yaml
var yamlSandbox []byte

//go:embed berlin-group-1.3.12.yaml
var yamlBG []byte

// Base paths: the path prefix each contract's paths live under (its server
// URL).
const (
	BasePath   = "/open-banking/v3.1"
	BasePathV4 = "/open-banking/v4.0"
	BasePathBG = "/psd2" // its paths start with /v1
)

// Contract is one of the embedded contracts.
type Contract struct {
	file     string
	basePath string
	yaml     []byte
}

// The contracts.
var (
	UKOBv3 = Contract{file: "openapi.yaml", basePath: BasePath, yaml: YAML}       // UK OB R/W v3.1.11
	UKOBv4 = Contract{file: "ukob-v4.0.yaml", basePath: BasePathV4, yaml: yamlV4} // UK OB R/W v4.0
	// AuthorizationServer describes /as/*, discovery and the PSU's pages;
	// Sandbox the controls (/sandbox/*), the trainer's API and the health
	// checks. They document; requests to them are not validated by them.
	AuthorizationServer = Contract{file: "authorization-server.yaml", yaml: yamlAS}
	Sandbox             = Contract{file: "sandbox.yaml", yaml: yamlSandbox}
	// BerlinGroup is Berlin Group NextGenPSD2 XS2A 1.3.12 (written by
	// internal/gen from the official file).
	BerlinGroup = Contract{file: "berlin-group-1.3.12.yaml", basePath: BasePathBG, yaml: yamlBG}
)

// All is every contract, in the order the API explorer lists them.
var All = []Contract{UKOBv3, UKOBv4, BerlinGroup, AuthorizationServer, Sandbox}

// File is the contract's file name in api/.
func (c Contract) File() string { return c.file }

// BasePath is the path prefix the contract's paths live under.
func (c Contract) BasePath() string { return c.basePath }

// YAML is the contract as written.
func (c Contract) YAML() []byte { return c.yaml }

// Load parses and validates the v3.1.11 contract.
func Load(ctx context.Context) (*openapi3.T, error) { return UKOBv3.Load(ctx) }

// Start begins loading the v3.1.11 contract in the background; see
// Contract.Start.
func Start(ctx context.Context) func() (*openapi3.T, error) { return UKOBv3.Start(ctx) }

// Load parses and validates the contract (its examples included).
func (c Contract) Load(ctx context.Context) (*openapi3.T, error) {
	doc, err := c.parse(ctx)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("api/%s: %w", c.file, err)
	}
	return doc, nil
}

// parse is Load without checking the document against OpenAPI 3.0: what a
// start does with the contracts built into the binary, which the tests load
// and check (TestContractsLoad) — a quarter of each contract's time.
func (c Contract) parse(ctx context.Context) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	loader.Context = ctx
	doc, err := loader.LoadFromData(c.yaml)
	if err != nil {
		return nil, fmt.Errorf("api/%s: %w", c.file, err)
	}
	if len(doc.Servers) == 0 {
		return nil, fmt.Errorf("api/%s: no server", c.file)
	}
	u, err := url.Parse(doc.Servers[0].URL)
	if err != nil || u.Path != c.basePath {
		return nil, fmt.Errorf("api/%s: server URL %q, want %q", c.file, doc.Servers[0].URL, c.basePath)
	}
	return doc, nil
}

// Start begins loading the contract in the background (it is the slowest
// part of a start) and returns the function that waits for it. The
// contract is parsed once per process: every sandbox in it (tenants, a
// test's many) shares the parsed document, which nothing changes after
// loading. One goroutine parses the contracts in the order they were
// started, so a start keeps the other CPUs; a caller that wants one before
// that goroutine reaches it parses it itself.
func (c Contract) Start(ctx context.Context) func() (*openapi3.T, error) {
	v, loaded := parsed.LoadOrStore(c.file, sync.OnceValues(func() (*openapi3.T, error) {
		// Not the first caller's cancellation: others wait for it too.
		return c.parse(context.WithoutCancel(ctx))
	}))
	f := v.(func() (*openapi3.T, error))
	if !loaded {
		parser.Do(func() {
			go func() {
				for f := range parseQueue {
					f() //nolint:errcheck // kept by the OnceValues, returned to its waiters
				}
			}()
		})
		select {
		case parseQueue <- f:
		default: // more contracts than the queue holds: parse this one beside it
			go f() //nolint:errcheck // as above
		}
	}
	return f
}

var (
	parser     sync.Once
	parseQueue = make(chan func() (*openapi3.T, error), 8)
)

// parsed holds each contract's parse, by file name.
var parsed sync.Map
