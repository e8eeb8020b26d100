package e2e

import (
	"bytes"
	"context"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/obsandbox/sandbox/api"
)

// refDir is where the official specifications are: $SANDBOX_REF_DIR, or the
// shared folder beside the repository (always there in CI).
func refDir() string {
	if d := os.Getenv("SANDBOX_REF_DIR"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "shared", "ref")
}

// contract is one OpenAPI document with its operations indexed by the path
// prefix its server URL gives them.
type contract struct {
	name   string
	doc    *openapi3.T
	prefix string
	routes []*routers.Route
}

var (
	contractsOnce sync.Once
	contracts     []*contract
	contractsErr  error
)

// officialFiles maps each official v3.1.11 file to the base path its
// operations are served under.
var officialFiles = map[string]string{
	"account-info-openapi.yaml":       "/open-banking/v3.1/aisp",
	"payment-initiation-openapi.yaml": "/open-banking/v3.1/pisp",
	"confirmation-funds-openapi.yaml": "/open-banking/v3.1/cbpii",
	"events-openapi.yaml":             "/open-banking/v3.1",
}

func loadContracts(t testing.TB) []*contract {
	t.Helper()
	contractsOnce.Do(func() {
		ours, err := api.Load(context.Background())
		if err != nil {
			contractsErr = err
			return
		}
		contracts = append(contracts, index("api/openapi.yaml", ours, api.BasePath))
		dir := filepath.Join(refDir(), "obie", "v3.1.11")
		if _, err := os.Stat(dir); err != nil {
			return // the official files are absent: only our contract is checked
		}
		for file, prefix := range officialFiles {
			raw, err := os.ReadFile(filepath.Join(dir, file))
			if err != nil {
				contractsErr = err
				return
			}
			// Go's regexp has no lookahead: the official idempotency-key
			// pattern ^(?!\s)(.*)(\S)$ is rewritten to its equivalent.
			raw = bytes.ReplaceAll(raw, []byte(`^(?!\\s)(.*)(\\S)$`), []byte(`^\\S(.*\\S)?$`))
			loader := openapi3.NewLoader()
			doc, err := loader.LoadFromData(raw)
			if err != nil {
				contractsErr = err
				return
			}
			contracts = append(contracts, index("official "+file, doc, prefix))
		}
	})
	if contractsErr != nil {
		t.Fatal(contractsErr)
	}
	return contracts
}

func index(name string, doc *openapi3.T, prefix string) *contract {
	c := &contract{name: name, doc: doc, prefix: prefix}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			c.routes = append(c.routes, &routers.Route{Spec: doc, Path: path, PathItem: item, Method: method, Operation: op})
		}
	}
	return c
}

// find matches a request path against the contract's templates.
func (c *contract) find(method, path string) (*routers.Route, map[string]string) {
	if !strings.HasPrefix(path, c.prefix+"/") {
		return nil, nil
	}
	segs := strings.Split(strings.TrimPrefix(path, c.prefix), "/")
	for _, r := range c.routes {
		if r.Method != method {
			continue
		}
		tsegs := strings.Split(r.Path, "/")
		if len(tsegs) != len(segs) {
			continue
		}
		params := map[string]string{}
		ok := true
		for i, ts := range tsegs {
			if strings.HasPrefix(ts, "{") && strings.HasSuffix(ts, "}") {
				v, err := url.PathUnescape(segs[i])
				if err != nil {
					v = segs[i]
				}
				params[ts[1:len(ts)-1]] = v
			} else if ts != segs[i] {
				ok = false
				break
			}
		}
		if ok {
			return r, params
		}
	}
	return nil, nil
}

// skipOfficial lists operations whose non-JSON responses the official files
// cannot describe, with the reason; their JSON responses are checked.
var skipOfficial = map[string]string{
	// The official file offers only JSON for the statement file; the PDF and
	// CSV forms are described by our contract alone.
	"GET /accounts/{AccountId}/statements/{StatementId}/file": "statement files as PDF/CSV",
}

// checkResponse validates a response against every contract that has its
// operation. Our contract must have every /open-banking operation.
func checkResponse(t testing.TB, req *http.Request, status int, header http.Header, body []byte) {
	t.Helper()
	path := req.URL.EscapedPath()
	if !strings.HasPrefix(path, "/open-banking/") || strings.HasSuffix(path, "/openapi.yaml") || req.Method == http.MethodOptions {
		return
	}
	for i, c := range loadContracts(t) {
		route, params := c.find(req.Method, path)
		if route == nil {
			if i == 0 && status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: not in %s", req.Method, path, c.name)
			}
			continue
		}
		ct, _, _ := mime.ParseMediaType(header.Get("Content-Type"))
		if i > 0 && ((skipOfficial[req.Method+" "+route.Path] != "" && ct != "application/json") ||
			status == http.StatusRequestEntityTooLarge || status == http.StatusServiceUnavailable) {
			continue // the standard names no body limit and no 503: 413 and a scenario's 503 are ours alone
		}
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
			Status:                 status,
			Header:                 header,
			Body:                   io.NopCloser(bytes.NewReader(body)),
			Options:                &openapi3filter.Options{IncludeResponseStatus: true},
		}
		if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
			t.Errorf("%s %s -> %d: response does not match %s: %v\nbody: %.600s", req.Method, path, status, c.name, err, body)
		}
	}
}
