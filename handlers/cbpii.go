package handlers

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/gateway"
	"github.com/obsandbox/sandbox/internal/oauth"
)

const cbpii = "/open-banking/v3.1/cbpii"

// mountCBPII adds confirmation of funds for card-based payment instrument
// issuers: a long-lived consent naming one debtor account, and funds checks
// against its real available balance.
func (s *Server) mountCBPII(e *echo.Echo) {
	client := need{scope: oauth.ScopeFundsConfirmations, class: gateway.ClassConsents}
	psu := need{scope: oauth.ScopeFundsConfirmations, psu: true, consent: bank.ConsentFundsConfirmation, class: gateway.ClassFunds}
	m := func(method, path string, n need, h echo.HandlerFunc) { s.mount(e, method, path, n, h) }
	m(http.MethodPost, "/cbpii/funds-confirmation-consents", client, s.createFundsConsent)
	m(http.MethodGet, "/cbpii/funds-confirmation-consents/{ConsentId}", client, s.getFundsConsent)
	m(http.MethodDelete, "/cbpii/funds-confirmation-consents/{ConsentId}", client, s.deleteFundsConsent)
	m(http.MethodPost, "/cbpii/funds-confirmations", psu, s.confirmFunds)
}

type obFundsConsentRequest struct {
	Data struct {
		ExpirationDateTime string      `json:"ExpirationDateTime"`
		DebtorAccount      obAccountID `json:"DebtorAccount"`
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
	debtor := req.Data.DebtorAccount.ref()
	if err := bank.CheckAccountRef(debtor, "Data.DebtorAccount"); err != nil {
		return err
	}
	now := s.clock.Now()
	cn := &bank.Consent{ID: "fcc-" + uuid.NewString(), Kind: bank.ConsentFundsConfirmation, ClientID: PrincipalOf(c).Token.ClientID,
		Status: bank.StatusAwaitingAuthorisation, CreatedAt: now, StatusAt: now, Initiation: &bank.Initiation{Debtor: &debtor},
		Scenario: s.lastingScenario(c)}
	if v := req.Data.ExpirationDateTime; v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil || !t.After(now) {
			return bank.Errorf(bank.KindFieldInvalidDate, "Data.ExpirationDateTime", "ExpirationDateTime must be a date-time in the future")
		}
		cn.ExpiresAt = t.UTC()
	}
	if cn.Request, err = canonical(raw); err != nil {
		return err
	}
	if err := s.store.CreateConsent(c.Request().Context(), cn); err != nil {
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
	data["ConsentId"], data["Status"] = cn.ID, cn.Status
	data["CreationDateTime"], data["StatusUpdateDateTime"] = isoTime(cn.CreatedAt), isoTime(cn.StatusAt)
	return c.JSON(status, map[string]any{"Data": data, "Links": obLinks{Self: s.cfg.Issuer + cbpii + "/funds-confirmation-consents/" + cn.ID},
		"Meta": obMeta{}})
}

func (s *Server) getFundsConsent(c echo.Context) error {
	cn, err := s.ownConsent(c, bank.ConsentFundsConfirmation)
	if err != nil {
		return err
	}
	return s.fundsConsentResponse(c, http.StatusOK, cn)
}

func (s *Server) deleteFundsConsent(c echo.Context) error {
	cn, err := s.ownConsent(c, bank.ConsentFundsConfirmation)
	if err != nil {
		return err
	}
	if err := s.store.DeleteConsent(c.Request().Context(), cn.ID, s.clock.Now()); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// confirmFunds answers whether the consent's account can pay an amount now,
// from its real available balance. A reference is used once per consent.
func (s *Server) confirmFunds(c echo.Context) error {
	var req struct {
		Data struct {
			ConsentID        string   `json:"ConsentId"`
			Reference        string   `json:"Reference"`
			InstructedAmount obAmount `json:"InstructedAmount"`
		} `json:"Data"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	cn, err := boundConsent(c, req.Data.ConsentID)
	if err != nil {
		return err
	}
	amount, err := bank.ParseMinor(req.Data.InstructedAmount.Amount)
	if err != nil || amount <= 0 {
		return bank.Errorf(bank.KindFieldInvalid, "Data.InstructedAmount.Amount", "the amount must be positive with at most two decimals")
	}
	accts, err := s.store.Accounts(c.Request().Context(), cn.PSU, cn.Accounts[:1])
	if err != nil {
		return err
	}
	if len(accts) == 0 {
		return bank.Errorf(bank.KindNotFound, "", "the consent's account is gone")
	}
	if cur := req.Data.InstructedAmount.Currency; cur != accts[0].Currency {
		return bank.Errorf(bank.KindUnsupportedCurrency, "Data.InstructedAmount.Currency", "the account is in %s, not %s", accts[0].Currency, cur)
	}
	ok, err := s.fundsAvailable(c, cn, accts[0].ID, amount)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	f := bank.FundsConfirmation{ID: "fc-" + uuid.NewString(), ConsentID: cn.ID, Reference: req.Data.Reference, Amount: amount,
		Currency: accts[0].Currency, Available: ok, CreatedAt: now}
	if err := s.store.SaveFundsConfirmation(c.Request().Context(), f); err != nil {
		if errors.Is(err, bank.ErrConflict) {
			return bank.Errorf(bank.KindDuplicateReference, "Data.Reference", "reference %q was already used with this consent", truncate(f.Reference, 35))
		}
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"Data": map[string]any{"FundsConfirmationId": f.ID, "ConsentId": cn.ID,
		"CreationDateTime": isoTime(now), "FundsAvailable": ok, "Reference": f.Reference, "InstructedAmount": req.Data.InstructedAmount},
		"Links": obLinks{Self: s.cfg.Issuer + cbpii + "/funds-confirmations/" + f.ID}, "Meta": obMeta{}})
}
