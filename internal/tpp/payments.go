package tpp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/google/uuid"

	"github.com/obsandbox/sandbox/internal/jws"
)

// Signature is the TPP's detached x-jws-signature of a body: PS256, its
// kid, iss the client (or org-id/software-id when registered with a
// software statement).
func (c *Client) Signature(body []byte) (string, error) {
	iss := c.ClientID
	if c.OrgID != "" && c.SoftwareID != "" {
		iss = c.OrgID + "/" + c.SoftwareID
	}
	return jws.Sign(body, c.KID, iss, c.Key, c.now())
}

// Payee is a creditor by sort code and account number.
type Payee struct{ Name, SortCode, Number string }

// DomesticInitiation builds a domestic payment's Initiation.
func DomesticInitiation(amount string, to Payee, reference string) map[string]any {
	return map[string]any{
		"InstructionIdentification": "INSTR-" + uuid.NewString()[:8],
		"EndToEndIdentification":    "E2E-" + uuid.NewString()[:8],
		"LocalInstrument":           "UK.OBIE.FPS",
		"InstructedAmount":          map[string]any{"Amount": amount, "Currency": "GBP"},
		"CreditorAccount": map[string]any{"SchemeName": "UK.OBIE.SortCodeAccountNumber",
			"Identification": to.SortCode + to.Number, "Name": to.Name},
		"RemittanceInformation": map[string]any{"Reference": reference, "Unstructured": "Sandbox payment"},
	}
}

// Initiation builds a domestic payment's Initiation in the TPP's version:
// v4.0 carries the reference as a structured creditor reference and the
// unstructured text as a list.
func (c *Client) Initiation(amount string, to Payee, reference string) map[string]any {
	in := DomesticInitiation(amount, to, reference)
	if c.Version == "4.0" {
		in["RemittanceInformation"] = map[string]any{
			"Structured":   []any{map[string]any{"CreditorReferenceInformation": map[string]any{"Reference": reference}}},
			"Unstructured": []string{"Sandbox payment"},
		}
	}
	return in
}

// SignedPost POSTs a PIS body with an idempotency key ("" for none) and the
// TPP's signature and returns the answer as it is.
func (c *Client) SignedPost(ctx context.Context, path, token, key string, body any) (int, []byte, http.Header, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return 0, nil, nil, err
	}
	sig, err := c.Signature(raw)
	if err != nil {
		return 0, nil, nil, err
	}
	h := map[string]string{"x-jws-signature": sig}
	if key != "" { // not every signed POST is idempotent (a VRP funds confirmation)
		h["x-idempotency-key"] = key
	}
	return c.Send(ctx, http.MethodPost, path, "application/json", token, raw, h)
}

// PaymentConsent creates a domestic payment consent.
func (c *Client) PaymentConsent(ctx context.Context, ccToken string, initiation map[string]any) (string, error) {
	st, body, _, err := c.SignedPost(ctx, c.API()+"/pisp/domestic-payment-consents", ccToken, uuid.NewString(),
		map[string]any{"Data": map[string]any{"Initiation": initiation}, "Risk": c.risk()})
	if err != nil {
		return "", err
	}
	if st != http.StatusCreated {
		return "", &StatusError{Status: st, Body: body}
	}
	var out struct{ Data struct{ ConsentId string } }
	return out.Data.ConsentId, json.Unmarshal(body, &out)
}

// Pay submits the payment of an authorised consent.
func (c *Client) Pay(ctx context.Context, token, consentID string, initiation map[string]any, key string) (id, status string, err error) {
	st, body, _, err := c.SignedPost(ctx, c.API()+"/pisp/domestic-payments", token, key, map[string]any{
		"Data": map[string]any{"ConsentId": consentID, "Initiation": initiation}, "Risk": c.risk()})
	if err != nil {
		return "", "", err
	}
	if st != http.StatusCreated {
		return "", "", &StatusError{Status: st, Body: body}
	}
	var out struct {
		Data struct{ DomesticPaymentId, Status string }
	}
	err = json.Unmarshal(body, &out)
	return out.Data.DomesticPaymentId, out.Data.Status, err
}

// PaymentJourney runs a domestic payment headlessly for a PSU: consent,
// authorisation (from the debtor account the PSU picks, or the first),
// code exchange, funds confirmation, payment. It returns the payment id and
// its first status.
func (c *Client) PaymentJourney(ctx context.Context, psu, password string, initiation map[string]any, debtor []string) (string, string, error) {
	cc, err := c.ClientCredentials(ctx, "payments")
	if err != nil {
		return "", "", err
	}
	id, err := c.PaymentConsent(ctx, cc, initiation)
	if err != nil {
		return "", "", fmt.Errorf("payment consent: %w", err)
	}
	toks, err := c.Approve(ctx, id, AuthOptions{Scope: "openid payments"}, psu, password, debtor)
	if err != nil {
		return "", "", err
	}
	return c.Pay(ctx, toks.AccessToken, id, initiation, uuid.NewString())
}

// PaymentStatus reads a payment's status with a client-credentials token.
func (c *Client) PaymentStatus(ctx context.Context, ccToken, id string) (string, error) {
	var out struct{ Data struct{ Status string } }
	err := c.Call(ctx, http.MethodGet, c.API()+"/pisp/domestic-payments/"+id, "", ccToken, nil, http.StatusOK, &out)
	return out.Data.Status, err
}
