package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
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

// officialDir is the folder of the official v3.1.11 files; ok is false when
// it is absent.
func officialDir() (dir string, ok bool) {
	dir = filepath.Join(refDir(), "obie", "v3.1.11")
	_, err := os.Stat(dir)
	return dir, err == nil
}

// noOfficialFiles says why responses are not checked against the official
// files, and how to have them checked.
func noOfficialFiles() string {
	dir, _ := officialDir()
	return fmt.Sprintf("the official UK OB v3.1.11 files are not in %s (set SANDBOX_REF_DIR to the folder holding "+
		"obie/v3.1.11): responses are checked against api/openapi.yaml only", dir)
}

var warnedOfficial atomic.Bool

// warnNoOfficialFiles notes once, in the log of the test that first meets
// it, that the official files are not checked (TestOfficialContracts skips
// with the same reason).
func warnNoOfficialFiles(t testing.TB) {
	t.Helper()
	if warnedOfficial.CompareAndSwap(false, true) {
		t.Logf("WARNING: %s", noOfficialFiles())
	}
}

// contract is one OpenAPI document with its operations indexed by the path
// prefix its server URL gives them; ours or an official file.
type contract struct {
	name   string
	doc    *openapi3.T
	prefix string
	routes []*routers.Route
	ours   bool
}

var (
	contractsOnce sync.Once
	contracts     []*contract
	contractsErr  error
)

// officialFiles maps each official file (under obie/) to the base path its
// operations are served under.
var officialFiles = map[string]string{
	"v3.1.11/account-info-openapi.yaml":       "/open-banking/v3.1/aisp",
	"v3.1.11/payment-initiation-openapi.yaml": "/open-banking/v3.1/pisp",
	"v3.1.11/confirmation-funds-openapi.yaml": "/open-banking/v3.1/cbpii",
	"v3.1.11/events-openapi.yaml":             "/open-banking/v3.1",
	"v4.0/account-info-openapi.yaml":          "/open-banking/v4.0/aisp",
	"v4.0/payment-initiation-openapi.yaml":    "/open-banking/v4.0/pisp",
	"v4.0/confirmation-funds-openapi.yaml":    "/open-banking/v4.0/cbpii",
	"v4.0/events-openapi.yaml":                "/open-banking/v4.0",
	"v3.1.11/vrp-openapi.yaml":                "/open-banking/v3.1/pisp",
	"v4.0/vrp-openapi.yaml":                   "/open-banking/v4.0/pisp",
	// Berlin Group NextGenPSD2 1.3.12: one file, its paths after /psd2.
	"../berlin-group/psd2-api_v1.3.12-2022-07-06.yaml": "/psd2",
}

// ourContracts are the contracts the sandbox serves.
var ourContracts = []api.Contract{api.UKOBv3, api.UKOBv4, api.BerlinGroup}

func loadContracts(t testing.TB) []*contract {
	t.Helper()
	contractsOnce.Do(func() {
		for _, k := range ourContracts {
			doc, err := k.Load(context.Background())
			if err != nil {
				contractsErr = err
				return
			}
			c := index("api/"+k.File(), doc, k.BasePath())
			c.ours = true
			contracts = append(contracts, c)
		}
		dir, ok := officialDir()
		if !ok {
			return // only our contract is checked: TestOfficialContracts skips and says why
		}
		for file, prefix := range officialFiles {
			raw, err := os.ReadFile(filepath.Join(dir, "..", file))
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
	// The template with the most literal segments wins, as routers match
	// (/v1/consents/{id}/status before /v1/{payment-service}/{payment-product}/{paymentId}).
	var best *routers.Route
	var bestParams map[string]string
	bestLiterals := -1
	for _, r := range c.routes {
		if r.Method != method {
			continue
		}
		tsegs := strings.Split(r.Path, "/")
		if len(tsegs) != len(segs) {
			continue
		}
		params := map[string]string{}
		ok, literals := true, 0
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
			} else {
				literals++
			}
		}
		if ok && literals > bestLiterals {
			best, bestParams, bestLiterals = r, params, literals
		}
	}
	return best, bestParams
}

// skipOfficial lists operations whose non-JSON responses the official files
// cannot describe, with the reason; their JSON responses are checked.
var skipOfficial = map[string]string{
	// The official file offers only JSON for the statement file; the PDF and
	// CSV forms are described by our contract alone.
	"GET /accounts/{AccountId}/statements/{StatementId}/file": "statement files as PDF/CSV",
}

// officialCannotDescribe lists operations whose 200 answers the official
// files cannot describe at all, with the reason: their File is an empty
// closed object, and a payment file or a report file has members.
var officialCannotDescribe = map[string]string{
	"GET /file-payment-consents/{ConsentId}/file":    "the payment file as uploaded (JSON or pain.001 XML)",
	"GET /file-payments/{FilePaymentId}/report-file": "the report file",
}

// checkResponse validates a response against every contract that has its
// operation. Our contract must have every /open-banking operation.
func checkResponse(t testing.TB, req *http.Request, status int, header http.Header, body []byte) {
	t.Helper()
	path := req.URL.EscapedPath()
	if !strings.HasPrefix(path, "/open-banking/") && !strings.HasPrefix(path, "/psd2/") || strings.HasSuffix(path, "/openapi.yaml") || req.Method == http.MethodOptions {
		return
	}
	cs := loadContracts(t)
	if len(cs) == len(ourContracts) {
		warnNoOfficialFiles(t)
	}
	for _, c := range cs {
		route, params := c.find(req.Method, path)
		if route == nil {
			if c.ours && strings.HasPrefix(path, c.prefix+"/") && status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: not in %s", req.Method, path, c.name)
			}
			continue
		}
		ct, _, _ := mime.ParseMediaType(header.Get("Content-Type"))
		if !c.ours && ((skipOfficial[req.Method+" "+route.Path] != "" && ct != "application/json") ||
			(officialCannotDescribe[req.Method+" "+route.Path] != "" && status == http.StatusOK) ||
			status == http.StatusRequestEntityTooLarge || status == http.StatusServiceUnavailable) {
			continue // the standard names no body limit and no 503: 413 and a scenario's 503 are ours alone
		}
		if !c.ours && c.prefix == "/psd2" && status == http.StatusOK {
			if member := berlinMember(req, route.Path); member != "" {
				// The official oneOf matches this answer more than once
				// (its members close nothing): the member the standard
				// means for this request is checked instead.
				if err := berlinSchema(c.doc, member, body); err != nil {
					t.Errorf("%s %s -> %d: response does not match %s's %s: %v\nbody: %.600s", req.Method, path, status, c.name, member, err, body)
				}
				continue
			}
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

// TestOfficialContracts: the official files are there and load, so every
// response the other tests receive is also checked against them; and every
// operation of our contract under an official file's base path is one of
// that file's (the standard's names and paths). Without the files it skips
// and says where it looked; the other tests then check our contract only.
func TestOfficialContracts(t *testing.T) {
	t.Parallel()
	officialContracts(t)
}

func officialContracts(t *testing.T) {
	if _, ok := officialDir(); !ok {
		t.Skipf("%s", noOfficialFiles())
	}
	cs := loadContracts(t)
	if len(cs) != len(ourContracts)+len(officialFiles) {
		t.Fatalf("%d contracts loaded, want ours (%d) and %d official files", len(cs), len(ourContracts), len(officialFiles))
	}
	if route, _ := officialNotifications(t); route == nil {
		t.Error("the official event-notifications file did not load")
	}
	for _, ours := range cs[:len(ourContracts)] {
		for _, r := range ours.routes {
			path := ours.prefix + r.Path
			found := false
			for _, c := range cs[len(ourContracts):] {
				if route, _ := c.find(r.Method, path); route != nil {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("%s %s is in %s but in no official file", r.Method, path, ours.name)
			}
		}
	}
}

// TestOfficialContractsSkipVisibly: without the official files the check
// against them is skipped, visibly, not passed in silence.
func TestOfficialContractsSkipVisibly(t *testing.T) {
	t.Setenv("SANDBOX_REF_DIR", t.TempDir())
	skipped := false
	t.Run("WithoutOfficialFiles", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		officialContracts(t)
	})
	if !skipped {
		t.Error("TestOfficialContracts did not skip without the official files")
	}
	if msg := noOfficialFiles(); !strings.Contains(msg, os.Getenv("SANDBOX_REF_DIR")) || !strings.Contains(msg, "SANDBOX_REF_DIR") {
		t.Errorf("the reason %q names neither the folder nor SANDBOX_REF_DIR", msg)
	}
}
