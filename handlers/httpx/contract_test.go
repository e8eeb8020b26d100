package httpx

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
)

// TestContractResolvesWhenUsed: operations are named at mount and found in
// the document only when first used (the parse is not waited for at
// start); Check reports a mounted operation the contract lacks.
func TestContractResolvesWhenUsed(t *testing.T) {
	t.Parallel()
	parsed := 0
	spec := func() (*openapi3.T, error) {
		parsed++
		return openapi3.NewLoader().LoadFromData([]byte(`{"openapi":"3.0.3","info":{"title":"t","version":"1"},
			"servers":[{"url":"/base"}],"paths":{"/a":{"get":{"operationId":"getA","parameters":[{"name":"q","in":"query","schema":{"type":"string"}}],
			"responses":{"200":{"description":"ok"}}}}}}`))
	}
	s := &Server{}
	k := s.NewContract(spec, "/base")
	a := k.Op("GET", "/a")
	if parsed != 0 {
		t.Fatal("naming an operation parsed the contract")
	}
	r, err := a.resolve()
	if err != nil || r.route.Operation.OperationID != "getA" || !r.query["q"] {
		t.Fatalf("resolve: %v %+v", err, r)
	}
	if err := k.Check(); err != nil {
		t.Fatalf("Check with every operation in the contract: %v", err)
	}
	named := len(k.named)
	for range 3 {
		if err := k.ValidateBody(t.Context(), "GET", "/a", []byte(`{}`)); err != nil {
			t.Fatalf("ValidateBody: %v", err)
		}
	}
	if len(k.named) != named {
		t.Errorf("ValidateBody named %d operations more (kept for readyz's check on every call)", len(k.named)-named)
	}
	if err := k.ValidateBody(t.Context(), "PUT", "/none", []byte(`{}`)); err == nil {
		t.Error("ValidateBody of an operation the contract lacks passed")
	}
	k.Op("POST", "/missing")
	if err := k.Check(); err == nil || !strings.Contains(err.Error(), "POST /missing") {
		t.Fatalf("Check with an operation the contract lacks: %v", err)
	}
	if parsed != 1 || len(s.contracts) != 1 {
		t.Errorf("parsed %d times, %d contracts kept for readyz", parsed, len(s.contracts))
	}
}

// TestValidationRemembersOnlyWhatPassed: a header or path value that passed
// its parameter is not checked again, and nothing else changes — a bad
// value is refused every time, also after good ones, and a value that
// passed one parameter is still checked against another (the same text
// can be valid for one and not the other).
func TestValidationRemembersOnlyWhatPassed(t *testing.T) {
	t.Parallel()
	spec := func() (*openapi3.T, error) {
		return openapi3.NewLoader().LoadFromData([]byte(`{"openapi":"3.0.3","info":{"title":"t","version":"1"},
			"servers":[{"url":"/base"}],"paths":{"/a/{id}":{"parameters":[{"name":"id","in":"path","required":true,"schema":{"type":"string","pattern":"^[a-z]+$"}}],
			"get":{"parameters":[{"name":"x-one","in":"header","required":true,"schema":{"type":"string","pattern":"^[0-9]{3}$"}},
			{"name":"x-two","in":"header","schema":{"type":"string","maxLength":2}}],"responses":{"200":{"description":"ok"}}}}}}`))
	}
	r, err := (&Server{}).NewContract(spec, "/base").Op("GET", "/a/{id}").resolve()
	if err != nil {
		t.Fatal(err)
	}
	if len(r.params) != 3 {
		t.Fatalf("%d parameters to validate, want the path item's and the operation's 3", len(r.params))
	}
	// Each answer is also kin-openapi's own ValidateRequest's.
	check := func(id string, header ...string) error {
		req := httptest.NewRequest(http.MethodGet, "/base/a/"+id, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Add(header[i], header[i+1])
		}
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: map[string]string{"id": id}, Route: r.route, Options: validationOptions}
		err := validate(t.Context(), in, r)
		if theirs := openapi3filter.ValidateRequest(t.Context(), in); (theirs == nil) != (err == nil) {
			t.Errorf("id %q headers %q: %v, kin-openapi's ValidateRequest: %v", id, header, err, theirs)
		}
		return err
	}
	for i, tc := range []struct {
		id     string
		header []string
		ok     bool
	}{
		{"abc", []string{"x-one", "123"}, true},
		{"abc", []string{"x-one", "123"}, true}, // remembered
		{"abc", []string{"x-one", "12a"}, false},
		{"ab1", []string{"x-one", "123"}, false},
		{"abc", []string{"x-one", "123", "x-two", "123"}, false}, // passed x-one, too long for x-two
		{"abc", []string{"x-one", "123", "x-two", "12"}, true},
		{"abc", []string{"x-one", "123", "x-one", "45x"}, true}, // twice: not remembered; kin-openapi reads the first
		{"abc", nil, false},
		{"abc", []string{"x-one", "12a"}, false}, // still refused after the good ones
	} {
		if err := check(tc.id, tc.header...); (err == nil) != tc.ok {
			t.Errorf("%d: id %q headers %q: error %v, want ok %v", i, tc.id, tc.header, err, tc.ok)
		}
	}
}

// TestParamMemoDropsOneOffs: a parameter whose values never come back stops
// being remembered (and is judged again later); one whose values repeat
// stays remembered.
func TestParamMemoDropsOneOffs(t *testing.T) {
	t.Parallel()
	var m paramMemo
	oneOff, repeated := &openapi3.Parameter{Name: "x-fapi-interaction-id"}, &openapi3.Parameter{Name: "Authorization"}
	stored := func(p *openapi3.Parameter) int {
		n := 0
		for k := range m.m {
			if k.p == p {
				n++
			}
		}
		return n
	}
	for i := range 1000 {
		v := fmt.Sprint("id-", i)
		if m.has(oneOff, v) {
			t.Fatal("a value never sent before was found")
		}
		m.add(oneOff, v)
		tok := fmt.Sprint("token-", i%10)
		if !m.has(repeated, tok) {
			m.add(repeated, tok)
		}
	}
	if n := stored(oneOff); n != oneOffAfter {
		t.Errorf("%d one-off values remembered, want the first %d only", n, oneOffAfter)
	}
	if n := stored(repeated); n != 10 || !m.has(repeated, "token-3") {
		t.Errorf("%d repeated values remembered, want 10", n)
	}
	for i := range rejudgeAfter {
		m.add(oneOff, fmt.Sprint("later-", i))
	}
	if n := stored(oneOff); n <= oneOffAfter {
		t.Errorf("%d one-off values after %d more: the parameter was never judged again", n, rejudgeAfter)
	}
}

// TestParamMemoBounded: values that keep coming back are remembered up to
// maxPassedBytes and then all forgotten at once; a value over
// maxPassedValue is never remembered.
func TestParamMemoBounded(t *testing.T) {
	t.Parallel()
	var m paramMemo
	p := &openapi3.Parameter{Name: "Authorization"}
	v := strings.Repeat("t", 1000)
	most, forgotten := 0, false
	for i := range 3000 { // ~3 MB offered, 1,006 bytes a value: the bound is not a multiple of an entry
		tok := fmt.Sprintf("%s%06d", v, i)
		m.add(p, tok)
		if !m.has(p, tok) {
			t.Fatalf("value %d not remembered right after it passed", i)
		}
		if m.bytes > maxPassedBytes {
			t.Fatalf("%d bytes remembered after %d values, the bound is %d", m.bytes, i+1, maxPassedBytes)
		}
		if len(m.m) < most {
			forgotten = true
		}
		most = max(most, len(m.m))
	}
	if want := maxPassedBytes / (1006 + 64); !forgotten || most != want {
		t.Errorf("at most %d values remembered, forgotten at the bound: %v; want %d and then a fresh start", most, forgotten, want)
	}
	long := strings.Repeat("x", maxPassedValue+1)
	if m.add(p, long); m.has(p, long) {
		t.Error("a value over maxPassedValue was remembered")
	}
}
