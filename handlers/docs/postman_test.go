package docs

import (
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestCollectionCoversTheContracts: the Postman collection has a folder per
// contract with every operation (streams left out), each addressed from
// {{baseUrl}} with the token its endpoint takes.
func TestCollectionCoversTheContracts(t *testing.T) {
	t.Parallel()
	specs := PostmanSpecs()
	docs := make([]*openapi3.T, len(specs))
	for i, sp := range specs {
		var err error
		if docs[i], err = loadContract(sp.Contract); err != nil {
			t.Fatal(err)
		}
	}
	col, err := Collection(docs, specs)
	if err != nil {
		t.Fatal(err)
	}
	folders := col["item"].([]any)
	if len(folders) != len(specs)+1 || len(specs) != len(Specs)-1 {
		t.Fatalf("%d folders, want Getting started and one per contract", len(folders))
	}
	auth := map[string]string{}
	for i, doc := range docs {
		want := 0
		for _, op := range operations(doc) {
			if !op.streams() {
				want++
			}
		}
		items := folders[i+1].(map[string]any)["item"].([]any)
		if len(items) != want || want == 0 {
			t.Errorf("%s: %d requests, want %d", specs[i].Title, len(items), want)
		}
		for _, it := range items {
			m := it.(map[string]any)
			req := m["request"].(map[string]any)
			raw := req["url"].(map[string]any)["raw"].(string)
			if !strings.HasPrefix(raw, "{{baseUrl}}/") || strings.ContainsAny(raw, "{}") && !strings.Contains(raw, "{{") {
				t.Errorf("%s: url %q", m["name"], raw)
			}
			a := req["auth"].(map[string]any)
			kind := a["type"].(string)
			if kind == "bearer" {
				kind = a["bearer"].([]any)[0].(map[string]any)["value"].(string)
			}
			auth[req["method"].(string)+" "+strings.TrimPrefix(raw, "{{baseUrl}}")] = kind
		}
	}
	for req, want := range map[string]string{
		"GET /open-banking/v3.1/aisp/accounts":                                                    "{{access_token}}",
		"POST /open-banking/v3.1/aisp/account-access-consents":                                    "{{cc_token}}",
		"GET /open-banking/v3.1/pisp/domestic-payment-consents/{{consent_id}}/funds-confirmation": "{{access_token}}",
		"GET /sandbox/psus":                     "{{admin_token}}",
		"POST /sandbox/psu/authorize":           "noauth",
		"POST /as/token":                        "basic",
		"GET /as/register/{{client_id}}":        "{{registration_access_token}}",
		"GET /.well-known/openid-configuration": "noauth",
	} {
		if auth[req] != want {
			t.Errorf("%s: auth %q, want %q", req, auth[req], want)
		}
	}
}
