package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// The official Berlin Group file answers two operations with a oneOf that
// no answer can pass: its members close nothing (no additionalProperties:
// false), so a periodic payment is also a single one, and every update of
// an authorisation is several of the update responses at once. For those
// the official check takes the member the standard means for the request.

// berlinMember is the official schema an answer of an ambiguous operation
// is checked against ("" for the others).
func berlinMember(req *http.Request, route string) string {
	switch {
	case req.Method == http.MethodGet && route == "/v1/{payment-service}/{payment-product}/{paymentId}":
		svc := strings.Split(strings.TrimPrefix(req.URL.Path, "/psd2/v1/"), "/")[0]
		return map[string]string{"payments": "paymentInitiationWithStatusResponse", "periodic-payments": "periodicPaymentInitiationWithStatusResponse",
			"bulk-payments": "bulkPaymentInitiationWithStatusResponse"}[svc]
	case req.Method == http.MethodPut && strings.HasSuffix(route, "authorisations/{authorisationId}"):
		var body []byte
		if req.GetBody != nil {
			if rc, err := req.GetBody(); err == nil {
				body, _ = io.ReadAll(rc)
			}
		}
		switch {
		case bytes.Contains(body, []byte(`"psuData"`)):
			return "updatePsuAuthenticationResponse"
		case bytes.Contains(body, []byte(`"authenticationMethodId"`)):
			return "selectPsuAuthenticationMethodResponse"
		case bytes.Contains(body, []byte(`"scaAuthenticationData"`)):
			return "scaStatusResponse"
		case bytes.Contains(body, []byte(`"confirmationCode"`)):
			return "authorisationConfirmationResponse"
		}
		return "updatePsuIdentificationResponse"
	}
	return ""
}

// berlinSchema validates a JSON body against a named schema of a document.
func berlinSchema(doc *openapi3.T, name string, body []byte) error {
	ref := doc.Components.Schemas[name]
	if ref == nil || ref.Value == nil {
		return fmt.Errorf("the file has no schema %s", name)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return err
	}
	return ref.Value.VisitJSON(v)
}
