package tpp

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/google/uuid"
)

// VRP types and methods the TPP asks for (OBDomesticVRPControlParameters).
const (
	VRPSweeping   = "UK.OBIE.VRPType.Sweeping"
	VRPCommercial = "UK.OBIE.VRPType.Other"
)

// VRPLimit is one PeriodicLimits entry: at most Amount (GBP) per period.
type VRPLimit struct {
	PeriodType      string `json:"PeriodType"`      // Day, Week, Fortnight, Month, Half-year, Year
	PeriodAlignment string `json:"PeriodAlignment"` // Consent or Calendar
	Amount          string `json:"Amount"`
	Currency        string `json:"Currency"`
}

// VRPMandate is the VRP consent the TPP asks the PSU for.
type VRPMandate struct {
	Type      string     // VRPSweeping or VRPCommercial
	MaxAmount string     // MaximumIndividualAmount, GBP
	Limits    []VRPLimit // PeriodicLimits (Currency GBP when empty)
	To        *Payee     // the creditor; nil: any the payments name
	Reference string
	ValidTo   time.Time // zero: open-ended
}

// remittance is a reference in the TPP's version: v4.0 structures it.
func (c *Client) remittance(reference, text string) map[string]any {
	if c.Version == "4.0" {
		return map[string]any{"Structured": []any{map[string]any{"CreditorReferenceInformation": map[string]any{"Reference": reference}}},
			"Unstructured": []string{text}}
	}
	return map[string]any{"Reference": reference, "Unstructured": text}
}

func payeeAccount(to Payee) map[string]any {
	return map[string]any{"SchemeName": "UK.OBIE.SortCodeAccountNumber", "Identification": to.SortCode + to.Number, "Name": to.Name}
}

// VRPConsentBody is OBDomesticVRPConsentRequest for the mandate, in the
// TPP's version.
func (c *Client) VRPConsentBody(m VRPMandate) map[string]any {
	limits := make([]VRPLimit, len(m.Limits))
	for i, l := range m.Limits {
		if l.Currency == "" {
			l.Currency = "GBP"
		}
		limits[i] = l
	}
	ctl := map[string]any{"MaximumIndividualAmount": map[string]any{"Amount": m.MaxAmount, "Currency": "GBP"}, "PeriodicLimits": limits,
		"VRPType": []string{m.Type}, "PSUAuthenticationMethods": []string{"UK.OBIE.SCANotRequired"}, "PSUInteractionTypes": []string{"OffSession"}}
	if !m.ValidTo.IsZero() {
		ctl["ValidToDateTime"] = m.ValidTo.UTC().Format(time.RFC3339)
	}
	in := map[string]any{}
	if m.To != nil {
		in["CreditorAccount"] = payeeAccount(*m.To)
	}
	if m.Reference != "" {
		in["RemittanceInformation"] = c.remittance(m.Reference, "Variable recurring payment")
	}
	risk := map[string]any{"PaymentContextCode": "TransferToSelf"}
	if m.Type != VRPSweeping {
		risk = map[string]any{"PaymentContextCode": "BillingGoodsAndServicesInArrears"}
	}
	return map[string]any{"Data": map[string]any{"ReadRefundAccount": "No", "ControlParameters": ctl, "Initiation": in}, "Risk": risk}
}

// VRPConsent is a VRP consent as its GET answers, with the members a VRP
// must repeat.
type VRPConsent struct {
	Data struct {
		ConsentID         string          `json:"ConsentId"`
		CreationDateTime  string          `json:"CreationDateTime"`
		Status            string          `json:"Status"`
		Initiation        json.RawMessage `json:"Initiation"`
		ControlParameters json.RawMessage `json:"ControlParameters"`
	} `json:"Data"`
	Risk json.RawMessage `json:"Risk"`
}

// CreateVRPConsent creates a VRP consent for the mandate.
func (c *Client) CreateVRPConsent(ctx context.Context, ccToken string, m VRPMandate) (*VRPConsent, error) {
	st, body, _, err := c.SignedPost(ctx, c.API()+"/pisp/domestic-vrp-consents", ccToken, uuid.NewString(), c.VRPConsentBody(m))
	if err != nil {
		return nil, err
	}
	if st != http.StatusCreated {
		return nil, &StatusError{Status: st, Body: body}
	}
	var out VRPConsent
	return &out, json.Unmarshal(body, &out)
}

// GetVRPConsent reads a VRP consent (in the TPP's version's shape: a
// consent made through v3.1 read through v4.0 comes in v4.0's).
func (c *Client) GetVRPConsent(ctx context.Context, ccToken, id string) (*VRPConsent, error) {
	var out VRPConsent
	err := c.Call(ctx, http.MethodGet, c.API()+"/pisp/domestic-vrp-consents/"+id, "", ccToken, nil, http.StatusOK, &out)
	return &out, err
}

// VRP is one variable recurring payment under a consent.
type VRP struct {
	Consent   *VRPConsent // as created or read: its Initiation and Risk are repeated
	Type      string      // Data.VRPType; the mandate's when empty
	Amount    string
	To        Payee
	Reference string
}

// VRPResult is a VRP as the bank answers it.
type VRPResult struct {
	Data struct {
		DomesticVRPID    string `json:"DomesticVRPId"`
		CreationDateTime string `json:"CreationDateTime"`
		Status           string `json:"Status"`
	} `json:"Data"`
}

// VRPBody is OBDomesticVRPRequest for a payment.
func (c *Client) VRPBody(p VRP) map[string]any {
	instr := map[string]any{
		"InstructionIdentification": "VRP-" + uuid.NewString()[:8],
		"EndToEndIdentification":    "E2E-" + uuid.NewString()[:8],
		"LocalInstrument":           "UK.OBIE.FPS",
		"InstructedAmount":          map[string]any{"Amount": p.Amount, "Currency": "GBP"},
		"CreditorAccount":           payeeAccount(p.To),
	}
	if p.Reference != "" {
		instr["RemittanceInformation"] = c.remittance(p.Reference, "Variable recurring payment")
	}
	return map[string]any{"Data": map[string]any{"ConsentId": p.Consent.Data.ConsentID, "PSUAuthenticationMethod": "UK.OBIE.SCANotRequired",
		"PSUInteractionType": "OffSession", "VRPType": p.Type, "Initiation": p.Consent.Data.Initiation, "Instruction": instr},
		"Risk": p.Consent.Risk}
}

// PayVRP makes a VRP with the PSU's token; an answer other than 201 is a
// *StatusError (a payment over a limit: 400 FailsControlParameters).
func (c *Client) PayVRP(ctx context.Context, token string, p VRP) (*VRPResult, error) {
	st, body, _, err := c.SignedPost(ctx, c.API()+"/pisp/domestic-vrps", token, uuid.NewString(), c.VRPBody(p))
	if err != nil {
		return nil, err
	}
	if st != http.StatusCreated {
		return nil, &StatusError{Status: st, Body: body}
	}
	var out VRPResult
	return &out, json.Unmarshal(body, &out)
}

// VRPFunds asks whether the consent's account can pay amount now.
func (c *Client) VRPFunds(ctx context.Context, token, consentID, amount, reference string) (bool, error) {
	data := map[string]any{"ConsentId": consentID, "InstructedAmount": map[string]any{"Amount": amount, "Currency": "GBP"}}
	if reference != "" {
		data["Reference"] = reference
	}
	st, body, _, err := c.SignedPost(ctx, c.API()+"/pisp/domestic-vrp-consents/"+consentID+"/funds-confirmation", token, "", map[string]any{"Data": data})
	if err != nil {
		return false, err
	}
	if st != http.StatusCreated {
		return false, &StatusError{Status: st, Body: body}
	}
	var out struct {
		Data struct {
			FundsAvailableResult struct{ FundsAvailable string }
		}
	}
	err = json.Unmarshal(body, &out)
	return out.Data.FundsAvailableResult.FundsAvailable == "Available", err
}

// VRPJourney sets a mandate up headlessly for a PSU: client credentials, the
// consent, the PSU's approval from their account (the first one the page
// offers, or debtor), the code exchange. The tokens come with a refresh
// token: a VRP consent is long-lived.
func (c *Client) VRPJourney(ctx context.Context, psu, password string, m VRPMandate, debtor []string) (*VRPConsent, *Tokens, error) {
	cc, err := c.ClientCredentials(ctx, "payments")
	if err != nil {
		return nil, nil, err
	}
	cn, err := c.CreateVRPConsent(ctx, cc, m)
	if err != nil {
		return nil, nil, err
	}
	toks, err := c.Approve(ctx, cn.Data.ConsentID, AuthOptions{Scope: "openid payments"}, psu, password, debtor)
	return cn, toks, err
}
