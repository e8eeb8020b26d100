package tpp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/google/uuid"
)

// Abroad is a creditor of an international payment, by IBAN.
type Abroad struct{ Name, IBAN string }

// InternationalInitiation builds an international payment's Initiation in
// the TPP's version: amount in currency, transferred in transfer, the rate
// asked for (rateType "" for none; rate and contract for an Agreed one).
func (c *Client) InternationalInitiation(amount, currency, transfer string, to Abroad, reference, unit, rateType, rate, contract string) map[string]any {
	in := map[string]any{
		"InstructionIdentification": "INSTR-" + uuid.NewString()[:8],
		"EndToEndIdentification":    "E2E-" + uuid.NewString()[:8],
		"InstructedAmount":          map[string]any{"Amount": amount, "Currency": currency},
		"CurrencyOfTransfer":        transfer,
		"ChargeBearer":              "Shared",
		"CreditorAccount":           map[string]any{"SchemeName": "UK.OBIE.IBAN", "Identification": to.IBAN, "Name": to.Name},
		"RemittanceInformation":     map[string]any{"Reference": reference, "Unstructured": "Sandbox payment"},
	}
	if c.Version == "4.0" {
		in["RemittanceInformation"] = map[string]any{
			"Structured":   []any{map[string]any{"CreditorReferenceInformation": map[string]any{"Reference": reference}}},
			"Unstructured": []string{"Sandbox payment"},
		}
	}
	if rateType != "" {
		r := map[string]any{"UnitCurrency": unit, "RateType": rateType}
		if rate != "" {
			r["ExchangeRate"] = json.Number(rate)
			r["ContractIdentification"] = contract
		}
		in["ExchangeRateInformation"] = r
	}
	return in
}

// Kind names a family of payment orders by its paths and id.
type Kind struct{ Consents, Orders, IDName string }

// The families the reference TPP pays through.
var (
	Domestic      = Kind{"domestic-payment-consents", "domestic-payments", "DomesticPaymentId"}
	International = Kind{"international-payment-consents", "international-payments", "InternationalPaymentId"}
)

// ConsentOf creates a payment consent of a kind and returns its ConsentId
// and the whole answer.
func (c *Client) ConsentOf(ctx context.Context, ccToken string, k Kind, initiation map[string]any) (string, []byte, error) {
	st, body, _, err := c.SignedPost(ctx, c.API()+"/pisp/"+k.Consents, ccToken, uuid.NewString(),
		map[string]any{"Data": map[string]any{"Initiation": initiation}, "Risk": c.risk()})
	if err != nil {
		return "", nil, err
	}
	if st != http.StatusCreated {
		return "", body, &StatusError{Status: st, Body: body}
	}
	var out struct{ Data struct{ ConsentId string } }
	return out.Data.ConsentId, body, json.Unmarshal(body, &out)
}

// PayOf submits the order of an authorised consent of a kind and returns
// its id and the whole answer.
func (c *Client) PayOf(ctx context.Context, token string, k Kind, consentID string, initiation map[string]any, key string) (string, []byte, error) {
	st, body, _, err := c.SignedPost(ctx, c.API()+"/pisp/"+k.Orders, token, key, map[string]any{
		"Data": map[string]any{"ConsentId": consentID, "Initiation": initiation}, "Risk": c.risk()})
	if err != nil {
		return "", nil, err
	}
	if st != http.StatusCreated {
		return "", body, &StatusError{Status: st, Body: body}
	}
	var out map[string]map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		return "", body, err
	}
	id, _ := out["Data"][k.IDName].(string)
	return id, body, nil
}

// JourneyOf runs a payment of a kind headlessly for a PSU: consent,
// authorisation from the debtor account the PSU picks (or the first
// eligible one), code exchange, payment. It returns the order as answered.
func (c *Client) JourneyOf(ctx context.Context, k Kind, psu, password string, initiation map[string]any, debtor []string) ([]byte, error) {
	cc, err := c.ClientCredentials(ctx, "payments")
	if err != nil {
		return nil, err
	}
	id, _, err := c.ConsentOf(ctx, cc, k, initiation)
	if err != nil {
		return nil, fmt.Errorf("payment consent: %w", err)
	}
	toks, err := c.Approve(ctx, id, AuthOptions{Scope: "openid payments"}, psu, password, debtor)
	if err != nil {
		return nil, err
	}
	_, body, err := c.PayOf(ctx, toks.AccessToken, k, id, initiation, uuid.NewString())
	return body, err
}
