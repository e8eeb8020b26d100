package httpx

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/google/uuid"

	"github.com/obsandbox/sandbox/api"
)

// BenchmarkValidate measures request validation of a Berlin Group read
// (balances: a path parameter and sixteen declared headers, four sent, a
// new X-Request-ID each time) by validate against kin-openapi's own
// ValidateRequest, alternating in one loop; the ratio is what to read.
func BenchmarkValidate(b *testing.B) {
	doc, err := api.BerlinGroup.Load(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	r, err := (&Server{}).NewContract(func() (*openapi3.T, error) { return doc, nil }, api.BasePathBG).
		Op(http.MethodGet, "/v1/accounts/{account-id}/balances").resolve()
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, api.BasePathBG+"/v1/accounts/acc-1/balances", nil)
	req.Header.Set("TPP-QWAC-Certificate", "MIIFdzCCA1+gAwIBAgIUQ0b3JhbmdlLXNhbmRib3gtcXdhYy10ZXN0LWNlcnQwDQYJKoZIhvcNAQELBQAw")
	req.Header.Set("Consent-ID", "3f1a1b2c-1111-2222-3333-444455556666")
	req.Header.Set("PSU-IP-Address", "192.0.2.1")
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: map[string]string{"account-id": "acc-1"}, Route: r.route, Options: validationOptions}
	var ours, theirs time.Duration
	for b.Loop() {
		req.Header.Set("X-Request-ID", uuid.NewString())
		t0 := time.Now()
		if err := validate(b.Context(), in, r); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := openapi3filter.ValidateRequest(b.Context(), in); err != nil {
			b.Fatal(err)
		}
		ours, theirs = ours+t1.Sub(t0), theirs+time.Since(t1)
	}
	b.ReportMetric(float64(ours.Nanoseconds())/float64(b.N), "validate-ns/op")
	b.ReportMetric(float64(theirs.Nanoseconds())/float64(b.N), "kin-ns/op")
	b.ReportMetric(float64(theirs)/float64(ours), "kin/validate")
}
