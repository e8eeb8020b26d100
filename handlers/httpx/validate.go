package httpx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/internal/bank"
)

// Operation is one operation of a contract, named at mount and resolved
// when first used: the kin-openapi route (so no router runs per request) and
// the query parameters it declares.
type Operation struct {
	k   *Contract
	key string // "METHOD /path" as in the contract
	r   atomic.Pointer[route]
}

// resolve is the operation's route, waiting for the contract's parse the
// first time; an operation the contract lacks is an error (a bug: the
// tests check every mounted one).
func (op *Operation) resolve() (*route, error) {
	if r := op.r.Load(); r != nil {
		return r, nil
	}
	ops, err := op.k.ops()
	if err != nil {
		return nil, fmt.Errorf("httpx: the contract served under %s: %w", op.k.Base, err)
	}
	r, ok := ops[op.key]
	if !ok {
		return nil, fmt.Errorf("httpx: %s is not in the contract served under %s", op.key, op.k.Base)
	}
	op.r.Store(r)
	return r, nil
}

func init() {
	// A pain.001 payment file is XML: its body is read as it is (the bank
	// parses it), the contract saying only which media types it comes in.
	openapi3filter.RegisterBodyDecoder("application/xml", openapi3filter.FileBodyDecoder)
	openapi3filter.RegisterBodyDecoder("text/xml", openapi3filter.FileBodyDecoder)
}

var validationOptions = &openapi3filter.Options{
	// The bearer token is checked by the authentication middleware, before
	// validation; the contract's security requirements are documentation.
	AuthenticationFunc:  openapi3filter.NoopAuthenticationFunc,
	SkipSettingDefaults: true,
}

// validate is openapi3filter.ValidateRequest less two costs that buy
// nothing here: the contract's security requirements (documentation: the
// authentication middleware has checked the token; with no-op
// authentication kin-openapi only re-reads the body for them), and
// validating again a header or path value that already passed for the same
// parameter (a TPP sends the same certificate, consent id and token on
// call after call; checking a value against its parameter depends on
// nothing else) — or an optional header not sent at all, which passes
// (the Berlin Group declares a dozen PSU-* headers a read seldom sends).
// Each parameter's first error is the error, as there.
func validate(ctx context.Context, in *openapi3filter.RequestValidationInput, r *route) error {
	for _, p := range r.params {
		v, n := rawParam(in, p)
		switch {
		case n == 0 && p.In == openapi3.ParameterInHeader && !p.Required:
			continue
		case n == 1 && passed.has(p.Parameter, v):
			continue
		}
		if err := openapi3filter.ValidateParameter(ctx, in, p.Parameter); err != nil {
			return err
		}
		if n == 1 {
			passed.add(p.Parameter, v)
		}
	}
	if rb := r.route.Operation.RequestBody; rb != nil {
		return openapi3filter.ValidateRequestBody(ctx, in, rb.Value)
	}
	return nil
}

// rawParam is what a request gives a header or path parameter: how many
// values (a header may come twice) and the first; -1 for a query or cookie
// parameter, whose values are not looked at here.
func rawParam(in *openapi3filter.RequestValidationInput, p param) (string, int) {
	switch p.In {
	case openapi3.ParameterInHeader:
		if vs := in.Request.Header[p.header]; len(vs) > 0 {
			return vs[0], len(vs)
		}
		return "", 0
	case openapi3.ParameterInPath:
		if v, ok := in.PathParams[p.Name]; ok {
			return v, 1
		}
		return "", 0
	}
	return "", -1
}

// passed holds parameter values that passed validation, for every contract
// of the process (a parameter is one parsed contract's): at most
// maxPassedBytes of values and entries, forgotten all at once when full. A
// parameter whose values come once each (an interaction id, an idempotency
// key, a request's signature) stops being remembered once that shows, so
// it does not push out the ones that repeat.
var passed paramMemo

const (
	maxPassedBytes = 1 << 20
	maxPassedValue = 8 << 10 // a longer value is checked every time
	oneOffAfter    = 64      // values remembered before a parameter's hits are judged
)

type paramMemo struct {
	mu    sync.Mutex
	m     map[paramValue]struct{}
	bytes int
	use   map[*openapi3.Parameter]*paramUse
}

type paramValue struct {
	p *openapi3.Parameter
	v string
}

// paramUse is how a parameter's remembered values have served; judged
// afresh every rejudgeAfter values offered.
type paramUse struct{ offered, added, hits int }

const rejudgeAfter = 4096

func (m *paramMemo) has(p *openapi3.Parameter, v string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.m[paramValue{p, v}]
	if ok {
		m.use[p].hits++
	}
	return ok
}

func (m *paramMemo) add(p *openapi3.Parameter, v string) {
	if len(v) > maxPassedValue {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.use == nil {
		m.use = map[*openapi3.Parameter]*paramUse{}
	}
	u := m.use[p]
	if u == nil {
		u = &paramUse{}
		m.use[p] = u
	}
	if u.offered++; u.offered%rejudgeAfter == 0 {
		u.added, u.hits = 0, 0
	}
	if u.added >= oneOffAfter && u.hits < u.added/8 {
		return // its values do not come back
	}
	size := len(v) + 64 // and the entry's own
	if m.m == nil || m.bytes+size > maxPassedBytes {
		m.m, m.bytes = map[paramValue]struct{}{}, 0
	}
	m.m[paramValue{p, v}] = struct{}{}
	m.bytes += size
	u.added++
}

// ValidateRequest checks a request against its operation in the contract:
// no undeclared query parameter, then parameters, headers and body by
// kin-openapi, whose errors become the standard's codes.
func ValidateRequest(op *Operation) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r, err := op.resolve()
			if err != nil {
				return err
			}
			req := c.Request()
			query := req.URL.Query()
			for k := range query {
				if !r.query[k] {
					return bank.Errorf(bank.KindFieldUnexpected, k, "query parameter %q is not allowed here", k)
				}
			}
			if req.Body != nil && req.ContentLength != 0 && (req.Method == http.MethodPost || req.Method == http.MethodPut || req.Method == http.MethodPatch) {
				raw, err := io.ReadAll(req.Body)
				if err != nil {
					if TooLarge(err) {
						return echo.ErrStatusRequestEntityTooLarge
					}
					return bank.Errorf(bank.KindMalformed, "", "the request body could not be read")
				}
				req.Body = io.NopCloser(bytes.NewReader(raw))
				if err := checkBody(raw); err != nil {
					return err
				}
			}
			names, values := c.ParamNames(), c.ParamValues()
			params := make(map[string]string, len(names))
			for i, n := range names {
				params[n] = values[i]
			}
			in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, QueryParams: query, Route: r.route, Options: validationOptions}
			if err := validate(req.Context(), in, r); err != nil {
				return validationError(err)
			}
			return next(c)
		}
	}
}

// ValidateBody checks a JSON body against the request body of an
// operation of the contract, as if it had been sent to it: what a JSON
// Patch makes of a resource is checked as the PUT of the whole resource.
func (k *Contract) ValidateBody(ctx context.Context, method, path string, body []byte) error {
	ops, err := k.ops()
	if err != nil {
		return err
	}
	op, ok := ops[method+" "+path]
	if !ok {
		return fmt.Errorf("httpx: %s %s is not in the contract served under %s", method, path, k.Base)
	}
	rb := op.route.Operation.RequestBody
	if rb == nil || rb.Value == nil {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, method, k.Route(path), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	in := &openapi3filter.RequestValidationInput{Request: req, Route: op.route, Options: validationOptions}
	if err := openapi3filter.ValidateRequestBody(ctx, in, rb.Value); err != nil {
		return validationError(err)
	}
	return nil
}

var unsupportedProperty = regexp.MustCompile(`property "([^"]+)" is unsupported`)

// validationError maps a kin-openapi validation error to the standard's
// error codes (SPEC §8 "Error codes").
func validationError(err error) error {
	var re *openapi3filter.RequestError
	if !errors.As(err, &re) {
		return bank.Errorf(bank.KindFieldInvalid, "", "%s", err.Error())
	}
	if p := re.Parameter; p != nil {
		missing := errors.Is(re.Err, openapi3filter.ErrInvalidRequired)
		switch p.In {
		case openapi3.ParameterInHeader:
			if missing {
				return bank.Errorf(bank.KindHeaderMissing, p.Name, "header %s is required", p.Name)
			}
			return bank.Errorf(bank.KindHeaderInvalid, p.Name, "header %s has an invalid value", p.Name)
		default:
			switch {
			case missing:
				return bank.Errorf(bank.KindFieldMissing, p.Name, "%s is required", p.Name)
			case strings.HasSuffix(p.Name, "DateTime"):
				return bank.Errorf(bank.KindFieldInvalidDate, p.Name, "%s is not a valid date-time (YYYY-MM-DD or YYYY-MM-DDThh:mm:ss)", p.Name)
			}
			return bank.Errorf(bank.KindFieldInvalid, p.Name, "%s has an invalid value: %s", p.Name, schemaReason(re.Err))
		}
	}
	if re.RequestBody != nil {
		switch {
		case strings.HasPrefix(re.Reason, "header Content-Type has unexpected value"):
			return echo.NewHTTPError(http.StatusUnsupportedMediaType)
		case errors.Is(re.Err, openapi3filter.ErrInvalidRequired):
			return bank.Errorf(bank.KindMalformed, "", "a JSON request body is required")
		}
		var se *openapi3.SchemaError
		if errors.As(re.Err, &se) {
			return schemaError(se)
		}
		var pe *openapi3filter.ParseError
		if errors.As(re.Err, &pe) {
			return bank.Errorf(bank.KindMalformed, "", "the request body is not valid JSON")
		}
		return bank.Errorf(bank.KindMalformed, "", "the request body could not be read")
	}
	return bank.Errorf(bank.KindFieldInvalid, "", "%s", re.Reason)
}

func schemaReason(err error) string {
	var se *openapi3.SchemaError
	if errors.As(err, &se) {
		return se.Reason
	}
	if err == nil {
		return "invalid"
	}
	return err.Error()
}

// schemaError turns a body schema failure into the code for its kind, with
// the JSON path of the field (Data.Initiation.InstructedAmount.Amount).
func schemaError(se *openapi3.SchemaError) error {
	path := strings.Join(se.JSONPointer(), ".")
	switch se.SchemaField {
	case "required":
		return bank.Errorf(bank.KindFieldMissing, path, "%s is required", path)
	case "properties", "additionalProperties":
		if m := unsupportedProperty.FindStringSubmatch(se.Reason); m != nil {
			path = strings.TrimPrefix(path+"."+m[1], ".")
		}
		return bank.Errorf(bank.KindFieldUnexpected, path, "%s is not allowed here", path)
	case "format":
		if f := se.Schema.Format; f == "date-time" || f == "date" {
			return bank.Errorf(bank.KindFieldInvalidDate, path, "%s must be an ISO 8601 date-time with a timezone", path)
		}
	case "type":
		if path == "" {
			return bank.Errorf(bank.KindMalformed, "", "the request body must be a JSON object")
		}
	}
	return bank.Errorf(bank.KindFieldInvalid, path, "%s: %s", path, se.Reason)
}
