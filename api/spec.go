// Package api holds the sandbox's own OpenAPI contract (openapi.yaml), embedded
// in the binary. The server validates every resource request against it and
// the tests validate every response against it; it is also served at
// /open-banking/v3.1/openapi.yaml.
package api

import (
	"context"
	_ "embed"
	"fmt"
	"net/url"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
)

// YAML is the contract as written.
//
//go:embed openapi.yaml
var YAML []byte

// BasePath is the path prefix the contract's paths live under (its server URL).
const BasePath = "/open-banking/v3.1"

// Load parses and validates the embedded contract.
func Load(ctx context.Context) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	loader.Context = ctx
	doc, err := loader.LoadFromData(YAML)
	if err != nil {
		return nil, fmt.Errorf("api/openapi.yaml: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("api/openapi.yaml: %w", err)
	}
	if len(doc.Servers) == 0 {
		return nil, fmt.Errorf("api/openapi.yaml: no server")
	}
	u, err := url.Parse(doc.Servers[0].URL)
	if err != nil || u.Path != BasePath {
		return nil, fmt.Errorf("api/openapi.yaml: server URL %q, want %q", doc.Servers[0].URL, BasePath)
	}
	return doc, nil
}

// Start begins loading the contract in the background (it is the slowest
// part of a start) and returns the function that waits for it.
func Start(ctx context.Context) func() (*openapi3.T, error) {
	type result struct {
		doc *openapi3.T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		doc, err := Load(ctx)
		ch <- result{doc, err}
	}()
	return sync.OnceValues(func() (*openapi3.T, error) {
		r := <-ch
		return r.doc, r.err
	})
}
