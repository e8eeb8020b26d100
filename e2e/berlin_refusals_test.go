package e2e

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"

	"github.com/obsandbox/sandbox/internal/app"
	"github.com/obsandbox/sandbox/internal/gateway"
	"github.com/obsandbox/sandbox/internal/oauth"
)

func withoutRateLimits() option {
	return func(c *app.Config) {
		for _, class := range gateway.Classes {
			c.Rates[class] = gateway.Off
		}
	}
}

// TestBerlinGroupRefusals: each rule's refusal, with the standard's status
// and tppMessages code, and nothing changed at the bank.
func TestBerlinGroupRefusals(t *testing.T) {
	t.Parallel()
	s := start(t)
	tpp := s.qwac(allRoles...)
	erik := ibans(s, "erik")
	consent := recurring(map[string]any{"balances": refs(erik[0])}, 4)
	redirect := map[string]string{"TPP-Redirect-URI": tppRedirect}
	certOf := func(body map[string]any) string {
		var out struct {
			PEM string `json:"certificate_pem"`
		}
		r := s.do(req{method: "POST", path: "/sandbox/certs", token: s.app.Config.AdminToken, body: body})
		expect(t, r, 201)
		r.JSON(t, &out)
		b, _ := pem.Decode([]byte(out.PEM))
		return base64.StdEncoding.EncodeToString(b.Bytes)
	}
	before := s.bankHash() // every refusal below leaves the bank as it is
	for _, tc := range []struct {
		name         string
		method, path string
		body         any
		header       map[string]string
		status       int
		code         string
	}{
		{"CertificateMissing", "POST", "/consents", consent, map[string]string{"TPP-QWAC-Certificate": ""}, 401, "CERTIFICATE_MISSING"},
		{"CertificateGarbage", "POST", "/consents", consent, map[string]string{"TPP-QWAC-Certificate": "bm90IGEgY2VydGlmaWNhdGU="}, 401, "CERTIFICATE_INVALID"},
		{"CertificateExpired", "POST", "/consents", consent, map[string]string{"TPP-QWAC-Certificate": certOf(map[string]any{"common_name": "x",
			"roles": []string{"PSP_AI"}, "expired": true})}, 401, "CERTIFICATE_INVALID"},
		{"CertificateRevoked", "POST", "/consents", consent, map[string]string{"TPP-QWAC-Certificate": certOf(map[string]any{"common_name": "x",
			"roles": []string{"PSP_AI"}, "revoked": true})}, 401, "CERTIFICATE_INVALID"},
		{"NotAQWAC", "POST", "/consents", consent, map[string]string{"TPP-QWAC-Certificate": certOf(map[string]any{"common_name": "x"})}, 401, "CERTIFICATE_INVALID"},
		{"RoleInvalidAIS", "POST", "/consents", consent, map[string]string{"TPP-QWAC-Certificate": certOf(map[string]any{"common_name": "x",
			"roles": []string{"PSP_PI", "PSP_IC"}})}, 401, "ROLE_INVALID"},
		{"RoleInvalidPIS", "POST", "/payments/sepa-credit-transfers", sepa(erik[0].IBAN, "1.00", externalIBAN, "X"),
			map[string]string{"TPP-QWAC-Certificate": certOf(map[string]any{"common_name": "x", "roles": []string{"PSP_AI"}})}, 401, "ROLE_INVALID"},
		{"BadIBANConsent", "POST", "/consents", recurring(map[string]any{"balances": []map[string]string{{"iban": "DE89370400440532013001"}}}, 4),
			redirect, 400, "FORMAT_ERROR"},
		{"BadIBANPayment", "POST", "/payments/sepa-credit-transfers", sepa(erik[0].IBAN, "1.00", "DE00370400440532013000", "X"), redirect, 400, "FORMAT_ERROR"},
		{"UnknownDebtor", "POST", "/payments/sepa-credit-transfers", sepa(externalIBAN, "1.00", erik[1].IBAN, "X"), redirect, 400, "FORMAT_ERROR"},
		{"ProductXML", "POST", "/payments/pain.001-sepa-credit-transfers", sepa(erik[0].IBAN, "1.00", externalIBAN, "X"), redirect, 404, "PRODUCT_UNKNOWN"},
		{"ProductUnknown", "POST", "/payments/carrier-pigeons", sepa(erik[0].IBAN, "1.00", externalIBAN, "X"), redirect, 404, "PRODUCT_UNKNOWN"},
		{"SEPAInGBP", "POST", "/payments/sepa-credit-transfers", map[string]any{"debtorAccount": map[string]string{"iban": erik[0].IBAN},
			"instructedAmount": map[string]string{"currency": "GBP", "amount": "1.00"}, "creditorAccount": map[string]string{"iban": externalIBAN},
			"creditorName": "X"}, redirect, 400, "FORMAT_ERROR"},
		{"PastExecutionDate", "POST", "/payments/sepa-credit-transfers", func() map[string]any {
			b := sepa(erik[0].IBAN, "1.00", externalIBAN, "X")
			b["requestedExecutionDate"] = "2026-01-02"
			return b
		}(), redirect, 400, "EXECUTION_DATE_INVALID"},
		{"FrequencyOneOffTwice", "POST", "/consents", map[string]any{"access": map[string]any{"balances": refs(erik[0])}, "recurringIndicator": false,
			"validUntil": "2026-12-01", "frequencyPerDay": 2, "combinedServiceIndicator": false}, redirect, 400, "FORMAT_ERROR"},
		{"ValidUntilPast", "POST", "/consents", func() map[string]any {
			b := recurring(map[string]any{"balances": refs(erik[0])}, 4)
			b["validUntil"] = "2026-01-01"
			return b
		}(),
			redirect, 400, "FORMAT_ERROR"},
		{"UnknownField", "POST", "/consents", func() map[string]any {
			b := recurring(map[string]any{"balances": refs(erik[0])}, 4)
			b["permissions"] = "all"
			return b
		}(),
			redirect, 400, "FORMAT_ERROR"},
		{"MalformedJSON", "POST", "/consents", `{"access":`, redirect, 400, "FORMAT_ERROR"},
		{"MissingRequestID", "POST", "/consents", consent, map[string]string{"TPP-Redirect-URI": tppRedirect, "X-Request-ID": ""}, 400, "FORMAT_ERROR"},
		{"BadRequestID", "POST", "/consents", consent, map[string]string{"TPP-Redirect-URI": tppRedirect, "X-Request-ID": "not-a-uuid"}, 400, "FORMAT_ERROR"},
		{"MissingPSUIPAddress", "POST", "/consents", consent, map[string]string{"TPP-Redirect-URI": tppRedirect, "PSU-IP-Address": ""}, 400, "FORMAT_ERROR"},
		{"MissingRedirectURI", "POST", "/consents", consent, nil, 400, "FORMAT_ERROR"},
		{"RedirectURINotURL", "POST", "/consents", consent, map[string]string{"TPP-Redirect-URI": "javascript:alert(1)"}, 400, "FORMAT_ERROR"},
		{"UnknownPSUID", "POST", "/consents", consent, map[string]string{"TPP-Decoupled-Preferred": "true", "PSU-ID": "nobody"}, 401, "PSU_CREDENTIALS_INVALID"},
		{"ConsentUnknown", "GET", "/accounts", nil, map[string]string{"Consent-ID": "bgc-none"}, 403, "CONSENT_UNKNOWN"},
		{"ConsentIDMissing", "GET", "/accounts", nil, nil, 400, "FORMAT_ERROR"},
		{"ConsentUnknownByPath", "GET", "/consents/bgc-none", nil, nil, 403, "CONSENT_UNKNOWN"},
		{"PaymentUnknown", "GET", "/payments/sepa-credit-transfers/bgp-none", nil, nil, 404, "RESOURCE_UNKNOWN"},
		{"MethodNotOffered", "PATCH", "/consents", nil, nil, 405, "SERVICE_INVALID"},
		{"NoSuchResource", "GET", "/standing-orders", nil, nil, 404, "RESOURCE_UNKNOWN"},
		{"NotAcceptable", "GET", "/consents/bgc-none", nil, map[string]string{"Accept": "application/xml"}, 406, "REQUESTED_FORMATS_INVALID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tpp.call(tc.method, tc.path, tc.body, tc.header)
			expectCode(t, r, tc.status, tc.code)
			if r.Header.Get("X-Request-ID") == "" {
				t.Error("no X-Request-ID on the refusal")
			}
			if s.bankHash() != before {
				t.Error("the refusal changed the bank")
			}
		})
	}
	t.Run("UnsupportedMediaType", func(t *testing.T) {
		r := tpp.call("POST", "/consents", "<consent/>", map[string]string{"Content-Type": "application/xml", "TPP-Redirect-URI": tppRedirect})
		if r.Status != http.StatusUnsupportedMediaType || len(r.Body) != 0 {
			t.Errorf("%d %s, want 415 without a body (the standard gives it none)", r.Status, r.Body)
		}
	})
	t.Run("BodyTooLarge", func(t *testing.T) {
		before := s.bankHash()
		r := tpp.call("POST", "/consents", `{"access":{},"x":"`+strings.Repeat("a", 2<<20)+`"}`, redirect)
		expectCode(t, r, http.StatusRequestEntityTooLarge, "FORMAT_ERROR")
		if s.bankHash() != before {
			t.Error("the refusal changed the bank")
		}
	})
	t.Run("OneLinePEM", func(t *testing.T) {
		var out struct {
			PEM string `json:"certificate_pem"`
		}
		r := s.do(req{method: "POST", path: "/sandbox/certs", token: s.app.Config.AdminToken, body: map[string]any{"common_name": "pem", "roles": []string{"PSP_AI"}}})
		r.JSON(t, &out)
		p := &bgTPP{s: s, t: t, cert: strings.ReplaceAll(out.PEM, "\n", "")}
		expect(t, p.call("POST", "/consents", consent, redirect), 201)
	})
	// A certificate the bank has accepted is refused once revoked: what the
	// bank remembers of a header's certificate is its parse, not its
	// standing.
	t.Run("RevokedAfterUse", func(t *testing.T) {
		var out struct {
			Cert   string `json:"certificate_base64"`
			Serial string `json:"serial"`
		}
		r := s.do(req{method: "POST", path: "/sandbox/certs", token: s.app.Config.AdminToken, body: map[string]any{"common_name": "later", "roles": []string{"PSP_AI"}}})
		expect(t, r, 201)
		r.JSON(t, &out)
		p := &bgTPP{s: s, t: t, cert: out.Cert}
		expect(t, p.call("POST", "/consents", consent, redirect), 201)
		if err := s.app.Store.RevokeCertificate(context.Background(), out.Serial, s.app.Clock.Wall()); err != nil {
			t.Fatal(err)
		}
		expectCode(t, p.call("POST", "/consents", consent, redirect), 401, "CERTIFICATE_INVALID")
	})
	t.Run("AnotherTPPsConsent", func(t *testing.T) {
		id := tpp.validConsent("erik", "erik123", consent)
		other := s.qwac("PSP_AI")
		expectCode(t, other.call("GET", "/accounts", nil, map[string]string{"Consent-ID": id}), 403, "CONSENT_UNKNOWN")
		expectCode(t, other.call("GET", "/consents/"+id, nil, nil), 403, "CONSENT_UNKNOWN")
		expectCode(t, other.call("DELETE", "/consents/"+id, nil, nil), 403, "CONSENT_UNKNOWN")
		if tpp.consentStatus(id) != "valid" {
			t.Error("another TPP's DELETE changed the consent")
		}
	})
	t.Run("NotYetValid", func(t *testing.T) {
		c := tpp.consent(consent, nil)
		expectCode(t, tpp.call("GET", "/accounts/"+erik[0].ID+"/balances", nil, map[string]string{"Consent-ID": c.ConsentID}), 401, "CONSENT_INVALID")
	})
	t.Run("ReportParameters", func(t *testing.T) {
		id := tpp.validConsent("erik", "erik123", recurring(map[string]any{"transactions": refs(erik[0])}, 4))
		h := map[string]string{"Consent-ID": id}
		base := "/accounts/" + erik[0].ID + "/transactions?bookingStatus=booked"
		expectCode(t, tpp.call("GET", base+"&dateFrom=2026-10-01&deltaList=true", nil, h), 400, "PARAMETER_NOT_SUPPORTED")
		expectCode(t, tpp.call("GET", base+"&dateFrom=2026-10-01&entryReferenceFrom=x", nil, h), 400, "PARAMETER_NOT_SUPPORTED")
		expectCode(t, tpp.call("GET", base, nil, h), 400, "FORMAT_ERROR")
		expectCode(t, tpp.call("GET", base+"&dateFrom=2026-10-01&itemsPerPage=0", nil, h), 400, "FORMAT_ERROR")
		expectCode(t, tpp.call("GET", base+"&dateFrom=2026-10-01&dateTo=2026-09-01", nil, h), 400, "FORMAT_ERROR")
		expectCode(t, tpp.call("GET", "/accounts/"+erik[0].ID+"/transactions?bookingStatus=everything&dateFrom=2026-10-01", nil, h), 400, "FORMAT_ERROR")
		expectCode(t, tpp.call("GET", base+"&dateFrom=2026-10-01&sortBy=amount", nil, h), 400, "FORMAT_ERROR")
	})
}

// TestBerlinGroupFrequencyPerDay: reads without the PSU (no PSU-IP-Address)
// are counted per resource and day of the sandbox clock: frequencyPerDay of
// them, then 429 ACCESS_EXCEEDED, whatever the rate limits say (here off);
// reads with the PSU present are not counted; the next day starts afresh. A
// one-off consent reads each resource once. An expired consent is 401
// CONSENT_EXPIRED.
func TestBerlinGroupFrequencyPerDay(t *testing.T) {
	t.Parallel()
	s := start(t, withoutRateLimits())
	tpp := s.qwac("PSP_AI")
	erik := ibans(s, "erik")
	id := tpp.validConsent("erik", "erik123", recurring(map[string]any{"balances": refs(erik...)}, 2))
	unattended := map[string]string{"Consent-ID": id, "PSU-IP-Address": ""}
	balances := "/accounts/" + erik[0].ID + "/balances"
	for range 2 {
		expect(t, tpp.call("GET", balances, nil, unattended), 200)
	}
	r := tpp.call("GET", balances, nil, unattended)
	expectCode(t, r, 429, "ACCESS_EXCEEDED")
	expect(t, tpp.call("GET", balances, nil, map[string]string{"Consent-ID": id}), 200) // the PSU is present
	expect(t, tpp.call("GET", "/accounts/"+erik[1].ID+"/balances", nil, unattended), 200)
	s.advance("1d")
	expect(t, tpp.call("GET", balances, nil, unattended), 200)

	oneOff := tpp.validConsent("erik", "erik123", map[string]any{"access": map[string]any{"balances": refs(erik[0])}, "recurringIndicator": false,
		"validUntil": s.app.Clock.Now().Format("2006-01-02"), "frequencyPerDay": 1, "combinedServiceIndicator": false})
	h := map[string]string{"Consent-ID": oneOff, "PSU-IP-Address": ""}
	expect(t, tpp.call("GET", balances, nil, h), 200)
	expectCode(t, tpp.call("GET", balances, nil, h), 429, "ACCESS_EXCEEDED")
	s.advance("2d")
	expectCode(t, tpp.call("GET", balances, nil, map[string]string{"Consent-ID": oneOff}), 401, "CONSENT_EXPIRED")
	if st := tpp.consentStatus(oneOff); st != "expired" {
		t.Errorf("consent %s, want expired", st)
	}
}

// TestBerlinGroupMutualTLS: over mutual TLS the QWAC of the handshake names
// the TPP (dev with --tls, and fapi, where the header is refused).
func TestBerlinGroupMutualTLS(t *testing.T) {
	t.Parallel()
	for _, profile := range []string{oauth.ProfileDev, oauth.ProfileFAPI} {
		t.Run(profile, func(t *testing.T) {
			s := start(t, withTLS(), withProfile(profile))
			var out certificate
			r := s.do(req{method: "POST", path: "/sandbox/certs", token: s.app.Config.AdminToken,
				body: map[string]any{"common_name": "eu-tpp", "organisation": "EU Fintech GmbH", "roles": []string{"PSP_AI"}}})
			expect(t, r, 201)
			r.JSON(t, &out)
			tlsTPP := &bgTPP{s: s, t: t}
			saved := s.client
			s.client = s.mtlsClient(&out)
			expect(t, tlsTPP.call("POST", "/consents", recurring(map[string]any{"allPsd2": "allAccounts"}, 4),
				map[string]string{"TPP-Redirect-URI": tppRedirect, "TPP-QWAC-Certificate": ""}), 201)
			s.client = saved
			var b64 struct {
				Cert string `json:"certificate_base64"`
			}
			r.JSON(t, &b64)
			hdr := &bgTPP{s: s, t: t, cert: b64.Cert}
			r = hdr.call("POST", "/consents", recurring(map[string]any{"allPsd2": "allAccounts"}, 4), map[string]string{"TPP-Redirect-URI": tppRedirect})
			if profile == oauth.ProfileDev {
				expect(t, r, 201)
			} else {
				expectCode(t, r, 401, "CERTIFICATE_MISSING")
			}
		})
	}
}
