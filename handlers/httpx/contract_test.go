package httpx

import (
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
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
