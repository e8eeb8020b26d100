package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/obsandbox/sandbox/internal/gateway"
)

// TestBerlinGroupOperations: what the sandbox does around every API applies
// to Berlin Group too — the audit trail (the TPP by its organisation
// identifier, the consent by its Consent-ID), the anomaly rules, the
// scenarios, the rate limits (429 ACCESS_EXCEEDED with Retry-After) and
// tenants.
func TestBerlinGroupOperations(t *testing.T) {
	t.Parallel()
	s := start(t, withRates(gateway.ClassData, "1:3"))
	tpp := s.qwac("PSP_AI", "PSP_PI")
	erik := ibans(s, "erik")
	id := tpp.validConsent("erik", "erik123", recurring(map[string]any{"balances": refs(erik[0])}, 4))

	t.Run("Audit", func(t *testing.T) {
		expectCode(t, tpp.call("GET", "/accounts/"+erik[1].ID+"/balances", nil, map[string]string{"Consent-ID": id}), 401, "CONSENT_INVALID")
		s.get("/sandbox/audit/verify", s.app.Config.AdminToken) // flushes
		var created, refused bool
		for _, e := range s.audit("client_id=" + tpp.orgID) {
			created = created || (e.Method == "POST" && e.Path == "/psd2/v1/consents" && e.Status == 201)
			refused = refused || (e.ConsentID == id && e.Status == 401 && e.Decision == "refused")
		}
		if !created || !refused {
			t.Errorf("the audit trail does not name the TPP %s's consent creation (%v) and refused read of consent %s (%v)", tpp.orgID, created, id, refused)
		}
	})
	t.Run("AnomalyRules", func(t *testing.T) {
		prober := s.qwac("PSP_AI")
		for i := range 4 {
			expectCode(t, prober.call("GET", "/consents/"+id+strings.Repeat("x", i), nil, nil), 403, "CONSENT_UNKNOWN")
		}
		s.get("/sandbox/audit/verify", s.app.Config.AdminToken)
		found := false
		for _, e := range s.events() {
			found = found || (e.ClientID == prober.orgID && e.Rule == "bola_probe")
		}
		if !found {
			t.Errorf("no bola_probe security event for the TPP that probed other consents: %+v", s.events())
		}
	})
	t.Run("RateLimits", func(t *testing.T) {
		h := map[string]string{"Consent-ID": id}
		var limited *response
		for range 6 {
			if r := tpp.call("GET", "/accounts/"+erik[0].ID+"/balances", nil, h); r.Status == 429 {
				limited = r
				break
			}
		}
		if limited == nil {
			t.Fatal("no 429 past the data class's burst of 3")
		}
		expectCode(t, limited, 429, "ACCESS_EXCEEDED")
		if limited.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	})
	t.Run("TransportScenario", func(t *testing.T) {
		r := tpp.call("GET", "/consents/"+id+"/status", nil, map[string]string{"x-sandbox-scenario": "unavailable"})
		if r.Status != http.StatusServiceUnavailable || len(r.Body) != 0 || r.Header.Get("Retry-After") != "30" || r.Header.Get("X-Request-ID") == "" {
			t.Errorf("unavailable: %d %v %s", r.Status, r.Header, r.Body)
		}
	})
	t.Run("PSUScenario", func(t *testing.T) {
		c := tpp.consent(recurring(map[string]any{"balances": refs(erik[0])}, 4), map[string]string{"x-sandbox-scenario": "psu-denies"})
		if to := s.headlessRedirect(c.link(t, "scaRedirect"), "erik", "erik123", "approve", nil); to != tppRedirect+"?nok" {
			t.Errorf("psu-denies: sent to %s", to)
		}
		if st := tpp.consentStatus(c.ConsentID); st != "rejected" {
			t.Errorf("psu-denies: %s", st)
		}
	})
	t.Run("AmountScenario", func(t *testing.T) {
		p := tpp.pay("payments", "sepa-credit-transfers", sepa(erik[0].IBAN, "0.66", externalIBAN, "Scenario"), nil)
		s.headlessRedirect(p.link(t, "scaRedirect"), "erik", "erik123", "approve", nil)
		if st := tpp.txStatus("payments", "sepa-credit-transfers", p.PaymentID); st != "RJCT" {
			t.Errorf("insufficient-funds (0.66): %s, want RJCT", st)
		}
	})
	t.Run("Tenant", func(t *testing.T) {
		hdr := map[string]string{"X-Request-ID": uuid.NewString(), "TPP-QWAC-Certificate": tpp.cert, "PSU-IP-Address": "192.0.2.1",
			"TPP-Redirect-URI": tppRedirect}
		r := s.do(req{method: "POST", path: "/t/eu-1/psd2/v1/consents", body: recurring(map[string]any{"balances": refs(erik[0])}, 4), header: hdr})
		expect(t, r, 201)
		var c sca
		r.JSON(t, &c)
		if !strings.Contains(c.link(t, "scaRedirect"), "/t/eu-1/psu/berlin/") || !strings.Contains(c.link(t, "self"), "/t/eu-1/psd2/v1/consents/") {
			t.Errorf("tenant links %+v", c.Links)
		}
		r = s.do(req{method: "GET", path: "/psd2/v1/consents/" + c.ConsentID, header: hdr})
		expectCode(t, r, 403, "CONSENT_UNKNOWN") // the root's bank knows nothing of the tenant's consent
	})
	t.Run("Reset", func(t *testing.T) {
		expect(t, s.do(req{method: "POST", path: "/sandbox/reset", token: s.app.Config.AdminToken}), 204)
		expectCode(t, tpp.call("GET", "/consents/"+id, nil, nil), 403, "CONSENT_UNKNOWN")
		n, err := s.app.Store.PendingDecoupled(context.Background(), "erik", s.app.Clock.Now())
		if err != nil || len(n) != 0 {
			t.Errorf("after a reset: %d decoupled authorisations, %v", len(n), err)
		}
		expect(t, tpp.call("GET", "/consents/"+tpp.validConsent("erik", "erik123", recurring(map[string]any{"balances": refs(erik[0])}, 4)), nil, nil), 200)
	})
}

// TestTrainerBerlinGroup runs the trainer's Berlin Group journeys to the
// end — accounts (redirect), decoupled, payment — in dev (the QWAC in its
// header) and fapi (over mutual TLS); the journey's stream shows its
// requests' decisions.
func TestTrainerBerlinGroup(t *testing.T) {
	t.Parallel()
	for _, profile := range []string{"dev", "fapi"} {
		t.Run(profile, func(t *testing.T) {
			s := start(t, realIssuer(), withProfile(profile))
			for _, kind := range []string{"accounts", "ciba", "payment"} {
				psu := "alice"
				if kind == "payment" {
					psu = "erik"
				}
				r := s.do(req{method: http.MethodPost, path: "/trainer/journeys", token: s.app.Config.AdminToken,
					body: `{"kind":"` + kind + `","psu":"` + psu + `","version":"berlin-group"}`})
				expect(t, r, 201)
				var j struct{ ID string }
				r.JSON(t, &j)
				var all strings.Builder
				for i := 0; ; i++ {
					r := s.do(req{method: http.MethodPost, path: "/trainer/journeys/" + j.ID + "/next"})
					expect(t, r, 200)
					var out struct {
						Error, Title string
						Done         bool
					}
					r.JSON(t, &out)
					if out.Error != "" {
						t.Fatalf("%s step %d (%s): %s", kind, i+1, out.Title, out.Error)
					}
					all.Write(r.Body)
					if out.Done {
						break
					}
				}
				want := map[string][]string{"accounts": {"/psd2/v1/consents", "ACCESS_EXCEEDED", "CONSENT_INVALID", "scaRedirect"},
					"ciba": {"scaMethodSelected", "authorisation_url", "Sandbox Bank app"}, "payment": {"sepa-credit-transfers", "CANCELLATION_INVALID"}}[kind]
				for _, w := range want {
					if !strings.Contains(all.String(), w) {
						t.Errorf("the %s journey never shows %s", kind, w)
					}
				}
			}
		})
	}
}
