package tpp

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Berlin is a reference Berlin Group NextGenPSD2 TPP: identified by a test
// QWAC from the sandbox (in the TPP-QWAC-Certificate header in dev, over
// mutual TLS otherwise), it creates consents and payments under /psd2/v1,
// takes the PSU through the bank's SCA (redirect, decoupled or embedded,
// headlessly) and reads or pays. sandbox tpp --standard berlin-group, the
// trainer view and the tests drive it.
type Berlin struct {
	Base string // the sandbox's base URL
	HTTP *http.Client
	// QWAC is the TPP-QWAC-Certificate header's value; "" when the
	// certificate goes over mutual TLS (HTTP presents it).
	QWAC        string
	OrgID       string
	RedirectURI string // TPP-Redirect-URI of the redirect approach
	Approach    string // the approach the TPP prefers: REDIRECT (default), DECOUPLED or EMBEDDED
	// Trace, when set, is told every HTTP exchange.
	Trace func(req *http.Request, reqBody []byte, resp *http.Response, respBody []byte)
	// Header is added to every request (e.g. x-sandbox-scenario).
	Header http.Header
}

// BerlinBase is where the API is served.
const BerlinBase = "/psd2/v1"

// QWAC is a test QWAC the sandbox issued.
type QWAC struct {
	CertPEM string   `json:"certificate_pem"`
	KeyPEM  string   `json:"private_key_pem"`
	Base64  string   `json:"certificate_base64"`
	OrgID   string   `json:"organisation_id"`
	Roles   []string `json:"roles"`
}

// IssueQWAC asks the sandbox (admin token) for a QWAC with PSD2 roles.
func IssueQWAC(ctx context.Context, hc *http.Client, base, admin, name string, roles []string) (*QWAC, error) {
	raw, _ := json.Marshal(map[string]any{"common_name": name, "organisation": name, "roles": roles})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/sandbox/certs", bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("POST /sandbox/certs: %d %s", resp.StatusCode, body)
	}
	var q QWAC
	return &q, json.Unmarshal(body, &q)
}

// UseMutualTLS presents the QWAC over mutual TLS (instead of the header).
func (b *Berlin) UseMutualTLS(q *QWAC) error {
	pair, err := tls.X509KeyPair([]byte(q.CertPEM), []byte(q.KeyPEM))
	if err != nil {
		return err
	}
	tr, ok := b.HTTP.Transport.(*http.Transport)
	if !ok {
		return fmt.Errorf("tpp: mutual TLS needs an *http.Transport")
	}
	tr = tr.Clone()
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{}
	}
	tr.TLSClientConfig.Certificates = []tls.Certificate{pair}
	b.HTTP = &http.Client{Timeout: b.HTTP.Timeout, Transport: tr, CheckRedirect: b.HTTP.CheckRedirect}
	b.QWAC = ""
	return nil
}

// Do sends a request: a path under /psd2/v1 (or any absolute URL) with a
// fresh X-Request-ID, the TPP's certificate, the PSU's IP address and h.
func (b *Berlin) Do(ctx context.Context, method, path string, body any, h map[string]string) (int, []byte, http.Header, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return 0, nil, nil, err
		}
	}
	u := path
	if !strings.HasPrefix(u, "http") {
		u = b.Base + BerlinBase + path
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(raw))
	if err != nil {
		return 0, nil, nil, err
	}
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range b.Header {
		req.Header[k] = vs
	}
	req.Header.Set("X-Request-ID", uuid.NewString())
	req.Header.Set("PSU-IP-Address", "192.0.2.1")
	if b.QWAC != "" {
		req.Header.Set("TPP-QWAC-Certificate", b.QWAC)
	}
	for k, v := range h {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := b.HTTP.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if b.Trace != nil {
		b.Trace(req, raw, resp, out)
	}
	return resp.StatusCode, out, resp.Header, err
}

// Call sends a request and decodes the answer into out; another status
// than want is a *StatusError.
func (b *Berlin) Call(ctx context.Context, method, path string, body any, h map[string]string, want int, out any) error {
	st, resp, _, err := b.Do(ctx, method, path, body, h)
	if err != nil {
		return err
	}
	if st != want {
		return &StatusError{Status: st, Body: resp}
	}
	if out != nil && len(resp) > 0 {
		return json.Unmarshal(resp, out)
	}
	return nil
}

// Link is an _links entry.
type Link struct {
	Href string `json:"href"`
}

// Started is a consent's, payment's or basket's 201: its id, status and the
// links of its SCA.
type Started struct {
	ConsentID         string          `json:"consentId"`
	PaymentID         string          `json:"paymentId"`
	BasketID          string          `json:"basketId"`
	ConsentStatus     string          `json:"consentStatus"`
	TransactionStatus string          `json:"transactionStatus"`
	ScaStatus         string          `json:"scaStatus"`
	PSUMessage        string          `json:"psuMessage"`
	Links             map[string]Link `json:"_links"`
}

// preferences are the headers that ask for the TPP's approach.
func (b *Berlin) preferences(psu string) map[string]string {
	h := map[string]string{}
	switch b.Approach {
	case "DECOUPLED":
		h["TPP-Decoupled-Preferred"], h["PSU-ID"] = "true", psu
	case "EMBEDDED":
		h["TPP-Redirect-Preferred"], h["PSU-ID"] = "false", psu
	default:
		h["TPP-Redirect-URI"] = b.RedirectURI
	}
	return h
}

// Consent creates a consent for psu in the TPP's approach.
func (b *Berlin) Consent(ctx context.Context, body any, psu string) (*Started, error) {
	var out Started
	err := b.Call(ctx, http.MethodPost, "/consents", body, b.preferences(psu), http.StatusCreated, &out)
	return &out, err
}

// Initiate initiates a payment of a service and product for psu.
func (b *Berlin) Initiate(ctx context.Context, service, product string, body any, psu string) (*Started, error) {
	var out Started
	err := b.Call(ctx, http.MethodPost, "/"+service+"/"+product, body, b.preferences(psu), http.StatusCreated, &out)
	return &out, err
}

// Authorise takes the PSU through the routine a 201 started, headlessly:
// at the redirect pages (POST /sandbox/psu/authorize with the scaRedirect
// URL), in the app (with the authorisation's URL), or through the API
// (password, method, the test OTP). It returns when the routine is
// finalised, or an error saying how it ended.
func (b *Berlin) Authorise(ctx context.Context, s *Started, psu, password string) error {
	auth := s.Links["scaStatus"].Href
	switch {
	case s.Links["scaRedirect"].Href != "":
		var out struct {
			RedirectTo string `json:"redirect_to"`
		}
		if err := b.headless(ctx, map[string]any{"authorize_url": s.Links["scaRedirect"].Href, "username": psu, "password": password,
			"decision": "approve"}, http.StatusOK, &out); err != nil {
			return err
		}
		if out.RedirectTo != b.RedirectURI {
			return fmt.Errorf("the bank sent the PSU to %s, not TPP-Redirect-URI: the authorisation failed", out.RedirectTo)
		}
	case b.Approach == "DECOUPLED":
		if err := b.headless(ctx, map[string]any{"authorisation_url": auth, "username": psu, "password": password, "decision": "approve"},
			http.StatusNoContent, nil); err != nil {
			return err
		}
	case b.Approach == "EMBEDDED":
		update := s.Links["updatePsuAuthentication"].Href
		for _, step := range []map[string]any{{"psuData": map[string]string{"password": password}}, {"authenticationMethodId": "sms"},
			{"scaAuthenticationData": "123456"}} {
			if err := b.Call(ctx, http.MethodPut, update, step, map[string]string{"PSU-ID": psu}, http.StatusOK, nil); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("the answer has no SCA link this TPP follows: %v", s.Links)
	}
	var st struct{ ScaStatus string }
	if err := b.Call(ctx, http.MethodGet, auth, nil, nil, http.StatusOK, &st); err != nil {
		return err
	}
	if st.ScaStatus != "finalised" {
		return fmt.Errorf("the authorisation is %s, not finalised", st.ScaStatus)
	}
	return nil
}

// headless is the sandbox's headless PSU.
func (b *Berlin) headless(ctx context.Context, body map[string]any, want int, out any) error {
	raw, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.Base+"/sandbox/psu/authorize", bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if b.Trace != nil {
		b.Trace(req, raw, resp, got)
	}
	if resp.StatusCode != want {
		return &StatusError{Status: resp.StatusCode, Body: got}
	}
	if out != nil {
		return json.Unmarshal(got, out)
	}
	return nil
}

// BerlinAccount is an account of the accounts list.
type BerlinAccount struct {
	ResourceID string `json:"resourceId"`
	IBAN       string `json:"iban"`
	Currency   string `json:"currency"`
	Name       string `json:"name"`
}

// PollStatus reads a payment's status until it is final (ACSC, RJCT,
// CANC, PART) or until, whatever it is.
func (b *Berlin) PollStatus(ctx context.Context, statusURL string, until time.Time) (string, error) {
	for {
		var st struct{ TransactionStatus string }
		if err := b.Call(ctx, http.MethodGet, statusURL, nil, nil, http.StatusOK, &st); err != nil {
			return "", err
		}
		switch st.TransactionStatus {
		case "ACSC", "RJCT", "CANC", "PART":
			return st.TransactionStatus, nil
		}
		if time.Now().After(until) {
			return st.TransactionStatus, nil
		}
		select {
		case <-time.After(500 * time.Millisecond):
		case <-ctx.Done():
			return st.TransactionStatus, ctx.Err()
		}
	}
}
