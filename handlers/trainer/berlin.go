package trainer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/pki"
	"github.com/obsandbox/sandbox/internal/tpp"
)

// The trainer's Berlin Group NextGenPSD2 journeys (API "berlin-group"): the
// same bank through the EU's API — a QWAC instead of a registered client,
// a consent or a payment with its SCA in the redirect approach (or the
// decoupled one for the decoupled journey), the Consent-ID on every read,
// frequencyPerDay, tppMessages.

// berlinVersion is the journey "version" that picks Berlin Group.
const berlinVersion = "berlin-group"

// berlinTPP makes the journey's Berlin Group TPP: a QWAC with PSD2 roles
// from the sandbox's CA, in the TPP-QWAC-Certificate header in dev and over
// mutual TLS in the fapi profiles.
func (s *Server) berlinTPP(ctx context.Context, j *journey) (string, error) {
	q, err := s.Deps.CA.Issue(ctx, pki.Request{CommonName: "trainer-tpp", Organisation: "Trainer Fintech GmbH",
		Roles: []string{pki.RoleAI, pki.RolePI}}, s.Clock.Wall())
	if err != nil {
		return "", err
	}
	tc := &tls.Config{RootCAs: s.Deps.CA.Pool()}
	b := &tpp.Berlin{Base: s.Cfg.Issuer, OrgID: q.OrgID, RedirectURI: "https://trainer.example/callback", Approach: "REDIRECT"}
	if j.kind == "ciba" {
		b.Approach = "DECOUPLED"
	}
	if oauth.Strict(s.Cfg.Profile) {
		pair, err := tls.X509KeyPair(q.CertPEM, q.KeyPEM)
		if err != nil {
			return "", err
		}
		tc.Certificates = []tls.Certificate{pair}
	} else {
		b.QWAC = pki.DERBase64(q.CertPEM)
	}
	b.HTTP = &http.Client{Timeout: 30 * time.Second, Transport: j.roundTrip(&http.Transport{TLSClientConfig: tc})}
	b.Trace = func(req *http.Request, reqBody []byte, resp *http.Response, body []byte) {
		j.log = append(j.log, exchange{Method: req.Method, URL: req.URL.String(), Request: clip(reqBody), Status: resp.StatusCode, Response: clip(body)})
	}
	j.bg = b
	how := "in the TPP-QWAC-Certificate header (the dev profile's stand-in for mutual TLS)"
	if oauth.Strict(s.Cfg.Profile) {
		how = "over mutual TLS"
	}
	return fmt.Sprintf("organisation %s, roles PSP_AI and PSP_PI, shown %s", q.OrgID, how), nil
}

func (s *Server) berlinSteps(j *journey) []step {
	qwac := step{"Get a QWAC", "A Berlin Group TPP does not register: the bank knows it by its eIDAS certificate (QWAC), which names its organisation and carries its PSD2 roles (ETSI TS 119 495). The sandbox's CA plays the qualified trust service provider.",
		func(ctx context.Context, j *journey) (string, error) { return s.berlinTPP(ctx, j) }}
	approach := "The PSU (" + j.psu + ") logs in at the bank's page the scaRedirect link opens, reviews the request and approves; the bank sends the browser back to TPP-Redirect-URI. (Headless here; open the scaRedirect link of the previous step to do it in the browser.)"
	if j.kind == "ciba" {
		approach = "Decoupled: the bank asks the PSU (" + j.psu + ") in its app — the connected-apps page's pending approvals, or headlessly as now with the authorisation's URL. Nothing goes through the TPP; it polls the scaStatus."
	}
	authorise := step{"The PSU authorises", approach, func(ctx context.Context, j *journey) (string, error) {
		if err := j.bg.Authorise(ctx, j.bgStarted, j.psu, s.psuPassword(ctx, j.psu)); err != nil {
			return "", err
		}
		return "scaStatus finalised", nil
	}}
	if j.kind == "payment" {
		return []step{qwac,
			{"Initiate a payment", "The TPP posts the payment itself — service payments, product sepa-credit-transfers for a euro account (cross-border-credit-transfers otherwise) — with the debtor's IBAN. It is RCVD; the answer's _links say how the PSU authorises it.",
				func(ctx context.Context, j *journey) (string, error) {
					accts, err := s.Store.AccountsOfPSU(ctx, j.psu)
					if err != nil {
						return "", err
					}
					for _, a := range accts {
						if a.IsCard() || a.SubType != "CurrentAccount" {
							continue
						}
						product := "cross-border-credit-transfers"
						if a.Currency == "EUR" {
							product = "sepa-credit-transfers"
						}
						j.bgStarted, err = j.bg.Initiate(ctx, "payments", product, map[string]any{"debtorAccount": map[string]string{"iban": a.IBAN},
							"instructedAmount": map[string]string{"currency": a.Currency, "amount": "15.00"}, "creditorAccount": map[string]string{"iban": "DE89370400440532013000"},
							"creditorName": "Spree Books GmbH", "remittanceInformationUnstructured": "TRAINER DEMO"}, j.psu)
						if err != nil {
							return "", err
						}
						return "payment " + j.bgStarted.PaymentID + " is " + j.bgStarted.TransactionStatus, nil
					}
					return "", errors.New(j.psu + " has no current account")
				}},
			authorise,
			{"Follow its status", "Authorised, the bank made the payment from the same ledger as the UK APIs: ACTC with the money held, ACSP, then ACSC once settled on the sandbox clock.",
				func(ctx context.Context, j *journey) (string, error) {
					st, err := j.bg.PollStatus(ctx, j.bgStarted.Links["status"].Href, time.Now().Add(5*time.Second))
					return "transactionStatus " + st, err
				}},
			{"Try to cancel it", "An executed single payment cannot be cancelled: 405 with the tppMessages code CANCELLATION_INVALID.",
				func(ctx context.Context, j *journey) (string, error) {
					err := j.bg.Call(ctx, http.MethodDelete, j.bgStarted.Links["self"].Href, nil, nil, http.StatusMethodNotAllowed, nil)
					return "refused as expected", err
				}},
		}
	}
	var consent string
	h := func() map[string]string { return map[string]string{"Consent-ID": consent} }
	return []step{qwac,
		{"Create a consent", "The TPP asks for a bank-offered consent (empty account lists: the PSU picks the accounts) with recurringIndicator, validUntil and frequencyPerDay 1: one read a day without the PSU.",
			func(ctx context.Context, j *journey) (string, error) {
				var err error
				j.bgStarted, err = j.bg.Consent(ctx, map[string]any{"access": map[string]any{"accounts": []any{}, "balances": []any{}, "transactions": []any{}},
					"recurringIndicator": true, "validUntil": "9999-12-31", "frequencyPerDay": 1, "combinedServiceIndicator": false}, j.psu)
				if err != nil {
					return "", err
				}
				consent = j.bgStarted.ConsentID
				links := make([]string, 0, len(j.bgStarted.Links))
				for k := range j.bgStarted.Links {
					links = append(links, k)
				}
				return fmt.Sprintf("consent %s, %s; links: %s", consent, j.bgStarted.ConsentStatus, strings.Join(links, ", ")), nil
			}},
		authorise,
		{"Read the accounts and balances", "Every read names the consent (Consent-ID). With the PSU present (PSU-IP-Address) it is not counted against frequencyPerDay.",
			func(ctx context.Context, j *journey) (string, error) {
				var list struct {
					Accounts []tpp.BerlinAccount `json:"accounts"`
				}
				err := j.bg.Call(ctx, http.MethodGet, "/accounts?withBalance=true", nil, h(), http.StatusOK, &list)
				return fmt.Sprintf("%d accounts the PSU chose", len(list.Accounts)), err
			}},
		{"Read again without the PSU, twice", "Without PSU-IP-Address the bank counts each read of a resource against frequencyPerDay (1): the second in the same day is refused — 429 ACCESS_EXCEEDED — whatever the rate limits say.",
			func(ctx context.Context, j *journey) (string, error) {
				away := map[string]string{"Consent-ID": consent, "PSU-IP-Address": ""}
				if err := j.bg.Call(ctx, http.MethodGet, "/accounts", nil, away, http.StatusOK, nil); err != nil {
					return "", err
				}
				err := j.bg.Call(ctx, http.MethodGet, "/accounts", nil, away, http.StatusTooManyRequests, nil)
				return "the second read refused as expected", err
			}},
		{"Terminate the consent", "The TPP deletes the consent (terminatedByTpp): its next read is 401 CONSENT_INVALID.",
			func(ctx context.Context, j *journey) (string, error) {
				if err := j.bg.Call(ctx, http.MethodDelete, "/consents/"+consent, nil, nil, http.StatusNoContent, nil); err != nil {
					return "", err
				}
				err := j.bg.Call(ctx, http.MethodGet, "/accounts", nil, h(), http.StatusUnauthorized, nil)
				return "the consent is terminated", err
			}},
	}
}
