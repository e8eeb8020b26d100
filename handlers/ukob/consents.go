package ukob

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/handlers/ukob/obwire"
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
	Links obwire.Links    `json:"Links"`
	Meta  obwire.Meta     `json:"Meta"`
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
	self := s.Cfg.Issuer + s.w.Base() + "/aisp/account-access-consents/" + cn.ID
	return c.JSON(status, obConsentResponse{
		Data: obConsentData{ConsentID: cn.ID, CreationDateTime: obwire.ISOTime(cn.CreatedAt), Status: s.w.ConsentStatus(cn, s.Clock.Now()),
			StatusUpdateDateTime: obwire.ISOTime(cn.StatusAt), Permissions: cn.Permissions.Names(),
			ExpirationDateTime: r.Expiration, TxFrom: r.TxFrom, TxTo: r.TxTo},
		Risk: json.RawMessage("{}"), Links: obwire.Links{Self: self},
	})
}

func (s *Server) createAccountAccessConsent(c echo.Context) error {
	var req obConsentRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	cn, err := s.Bank.CreateAccountAccessConsent(c.Request().Context(), httpx.PrincipalOf(c).Token.ClientID, s.w.Version(), req.Data, s.LastingScenario(c))
	if err != nil {
		return err
	}
	return s.consentResponse(c, http.StatusCreated, cn)
}

// ownConsent reads a consent of the given kind that the calling client
// created, as v3.1 sees it.
func (s *Server) ownConsent(c echo.Context, kind string) (*bank.Consent, error) {
	return s.Bank.OwnConsent(c.Request().Context(), httpx.PrincipalOf(c).Token.ClientID, kind, s.w.Version(), c.Param("ConsentId"))
}

func (s *Server) getAccountAccessConsent(c echo.Context) error {
	cn, err := s.ownConsent(c, bank.ConsentAccountAccess)
	if err != nil {
		return err
	}
	return s.consentResponse(c, http.StatusOK, cn)
}

// deleteConsent is the TPP's revocation: the consent is gone (a later GET
// answers 400) and its tokens stop working at once.
func (s *Server) deleteConsent(kind string) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := s.Bank.DeleteConsent(c.Request().Context(), httpx.PrincipalOf(c).Token.ClientID, kind, s.w.Version(), c.Param("ConsentId")); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}
}
