package ukob

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/handlers/ukob/obwire"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/gateway"
	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/scenario"
)

// mountCBPII adds confirmation of funds for card-based payment instrument
// issuers: a long-lived consent naming one debtor account, and funds checks
// against its real available balance.
func (s *Server) mountCBPII(e *echo.Echo) {
	client := httpx.Need{Scope: oauth.ScopeFundsConfirmations, Class: gateway.ClassConsents}
	psu := httpx.Need{Scope: oauth.ScopeFundsConfirmations, PSU: true, Consent: bank.ConsentFundsConfirmation, Class: gateway.ClassFunds, Version: s.w.Version()}
	m := func(method, path string, n httpx.Need, h echo.HandlerFunc) {
		s.Mount(e, s.contract, method, path, n, h)
	}
	m(http.MethodPost, "/cbpii/funds-confirmation-consents", client, s.createFundsConsent)
	m(http.MethodGet, "/cbpii/funds-confirmation-consents/{ConsentId}", client, s.getFundsConsent)
	m(http.MethodDelete, "/cbpii/funds-confirmation-consents/{ConsentId}", client, s.deleteConsent(bank.ConsentFundsConfirmation))
	m(http.MethodPost, "/cbpii/funds-confirmations", psu, s.confirmFunds)
}

type obFundsConsentRequest struct {
	Data struct {
		ExpirationDateTime string           `json:"ExpirationDateTime"`
		DebtorAccount      obwire.AccountID `json:"DebtorAccount"`
	} `json:"Data"`
}

func (s *Server) createFundsConsent(c echo.Context) error {
	raw, err := body(c)
	if err != nil {
		return err
	}
	var req obFundsConsentRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		return bank.Errorf(bank.KindMalformed, "", "the request body is not valid JSON")
	}
	r := bank.FundsConsentRequest{ClientID: httpx.PrincipalOf(c).Token.ClientID, Version: s.w.Version(), Scenario: s.LastingScenario(c),
		Debtor: req.Data.DebtorAccount.Ref()}
	if v := req.Data.ExpirationDateTime; v != "" {
		if r.Expires, err = time.Parse(time.RFC3339, v); err != nil {
			return bank.Errorf(bank.KindFieldInvalidDate, "Data.ExpirationDateTime", "ExpirationDateTime must be a date-time in the future")
		}
	}
	if r.Request, err = bank.Canonical(raw); err != nil {
		return err
	}
	cn, err := s.Bank.CreateFundsConsent(c.Request().Context(), r)
	if err != nil {
		return err
	}
	return s.fundsConsentResponse(c, http.StatusCreated, cn)
}

func (s *Server) fundsConsentResponse(c echo.Context, status int, cn *bank.Consent) error {
	var req struct {
		Data map[string]json.RawMessage `json:"Data"`
	}
	if err := json.Unmarshal(cn.Request, &req); err != nil {
		return err
	}
	data := map[string]any{}
	for k, v := range req.Data {
		data[k] = v
	}
	data["ConsentId"], data["Status"] = cn.ID, s.w.ConsentStatus(cn, s.Clock.Now())
	data["CreationDateTime"], data["StatusUpdateDateTime"] = obwire.ISOTime(cn.CreatedAt), obwire.ISOTime(cn.StatusAt)
	return c.JSON(status, map[string]any{"Data": data, "Links": obwire.Links{Self: s.Cfg.Issuer + s.w.Base() + "/cbpii/funds-confirmation-consents/" + cn.ID},
		"Meta": obwire.Meta{}})
}

func (s *Server) getFundsConsent(c echo.Context) error {
	cn, err := s.ownConsent(c, bank.ConsentFundsConfirmation)
	if err != nil {
		return err
	}
	return s.fundsConsentResponse(c, http.StatusOK, cn)
}

// confirmFunds answers whether the consent's account can pay an amount now,
// from its real available balance. A reference is used once per consent.
func (s *Server) confirmFunds(c echo.Context) error {
	var req struct {
		Data struct {
			ConsentID        string        `json:"ConsentId"`
			Reference        string        `json:"Reference"`
			InstructedAmount obwire.Amount `json:"InstructedAmount"`
		} `json:"Data"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	token := httpx.PrincipalOf(c).Consent
	amount := req.Data.InstructedAmount.Amount
	if v, err := bank.ParseMinor(amount); err == nil {
		amount = bank.FormatMinor(v) // scenarios name amounts as the bank writes them
	}
	_, insufficient := s.ScenarioFor(c, token, "", amount, func(sc scenario.Scenario) bool {
		return sc.Payment == scenario.PaymentInsufficientFunds
	})
	f, err := s.Bank.ConfirmFunds(c.Request().Context(), bank.FundsCheck{Token: token, ConsentID: req.Data.ConsentID,
		Reference: req.Data.Reference, Amount: req.Data.InstructedAmount.Amount, Currency: req.Data.InstructedAmount.Currency,
		Insufficient: insufficient})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"Data": map[string]any{"FundsConfirmationId": f.ID, "ConsentId": f.ConsentID,
		"CreationDateTime": obwire.ISOTime(f.CreatedAt), "FundsAvailable": f.Available, "Reference": f.Reference, "InstructedAmount": req.Data.InstructedAmount},
		"Links": obwire.Links{Self: s.Cfg.Issuer + s.w.Base() + "/cbpii/funds-confirmations/" + f.ID}, "Meta": obwire.Meta{}})
}
