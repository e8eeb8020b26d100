package handlers

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/internal/audit"
	"github.com/obsandbox/sandbox/internal/bank"
)

type obConsentRequest struct {
	Data bank.AccountAccessRequest `json:"Data"`
	Risk json.RawMessage           `json:"Risk"`
}

type obConsentData struct {
	ConsentID            string   `json:"ConsentId"`
	CreationDateTime     string   `json:"CreationDateTime"`
	Status               string   `json:"Status"`
	StatusUpdateDateTime string   `json:"StatusUpdateDateTime"`
	Permissions          []string `json:"Permissions"`
	ExpirationDateTime   string   `json:"ExpirationDateTime,omitempty"`
	TxFrom               string   `json:"TransactionFromDateTime,omitempty"`
	TxTo                 string   `json:"TransactionToDateTime,omitempty"`
}

type obConsentResponse struct {
	Data  obConsentData   `json:"Data"`
	Risk  json.RawMessage `json:"Risk"`
	Links obLinks         `json:"Links"`
	Meta  obMeta          `json:"Meta"`
}

// bindJSON decodes a body the contract already validated.
func bindJSON(c echo.Context, v any) error {
	if err := json.NewDecoder(c.Request().Body).Decode(v); err != nil {
		return bank.Errorf(bank.KindMalformed, "", "the request body is not valid JSON")
	}
	return nil
}

func (s *Server) consentResponse(c echo.Context, status int, cn *bank.Consent) error {
	r := cn.AccountAccess()
	self := s.cfg.Issuer + "/open-banking/v3.1/aisp/account-access-consents/" + cn.ID
	return c.JSON(status, obConsentResponse{
		Data: obConsentData{ConsentID: cn.ID, CreationDateTime: isoTime(cn.CreatedAt), Status: cn.Status,
			StatusUpdateDateTime: isoTime(cn.StatusAt), Permissions: cn.Permissions.Names(),
			ExpirationDateTime: r.Expiration, TxFrom: r.TxFrom, TxTo: r.TxTo},
		Risk: json.RawMessage("{}"), Links: obLinks{Self: self},
	})
}

func (s *Server) createAccountAccessConsent(c echo.Context) error {
	var req obConsentRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	p := PrincipalOf(c)
	cn, err := bank.NewAccountAccessConsent("aac-"+uuid.NewString(), p.Token.ClientID, req.Data, s.clock.Now())
	if err != nil {
		return err
	}
	cn.Scenario = s.lastingScenario(c)
	if err := s.store.CreateConsent(c.Request().Context(), cn); err != nil {
		return err
	}
	return s.consentResponse(c, http.StatusCreated, cn)
}

// ownConsent reads a consent of the given kind that the calling client
// created: unknown, deleted or of another kind -> 400 NotFound; another
// client's -> 403.
func (s *Server) ownConsent(c echo.Context, kind string) (*bank.Consent, error) {
	id := c.Param("ConsentId")
	cn, err := s.store.Consent(c.Request().Context(), id)
	if errors.Is(err, bank.ErrNotFound) || (err == nil && (cn.Kind != kind || cn.Deleted)) {
		return nil, bank.Errorf(bank.KindNotFound, "ConsentId", "no consent %s", truncate(id, 64)).WithRule(audit.RuleUnknownObject)
	}
	if err != nil {
		return nil, err
	}
	if cn.ClientID != PrincipalOf(c).Token.ClientID {
		return nil, bank.Errorf(bank.KindForbidden, "ConsentId", "consent %s belongs to another client", cn.ID).WithRule(audit.RuleForeignObject)
	}
	return &cn, nil
}

func (s *Server) getAccountAccessConsent(c echo.Context) error {
	cn, err := s.ownConsent(c, bank.ConsentAccountAccess)
	if err != nil {
		return err
	}
	return s.consentResponse(c, http.StatusOK, cn)
}

// deleteAccountAccessConsent is the TPP's revocation: the consent is gone
// (a later GET answers 400) and its tokens stop working at once.
func (s *Server) deleteAccountAccessConsent(c echo.Context) error {
	cn, err := s.ownConsent(c, bank.ConsentAccountAccess)
	if err != nil {
		return err
	}
	if err := s.store.DeleteConsent(c.Request().Context(), cn.ID, s.clock.Now()); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
