package berlin

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/pki"
	"github.com/obsandbox/sandbox/internal/scenario"
)

func (s *Server) mountPIS(e *echo.Echo) {
	for _, svc := range []string{bank.ServicePayments, bank.ServicePeriodicPayments, bank.ServiceBulkPayments} {
		base := "/v1/" + svc + "/{payment-product}"
		s.mount(e, http.MethodPost, base, pis, s.initiate(svc))
		s.mount(e, http.MethodGet, base+"/{paymentId}", pis, s.getPayment(svc))
		s.mount(e, http.MethodDelete, base+"/{paymentId}", pis, s.cancelPayment(svc))
		s.mount(e, http.MethodGet, base+"/{paymentId}/status", pis, s.paymentStatus(svc))
	}
	s.mount(e, http.MethodPost, "/v1/funds-confirmations", piis, s.funds)
	s.mount(e, http.MethodPost, "/v1/signing-baskets", sbs, s.createBasket)
	s.mount(e, http.MethodGet, "/v1/signing-baskets/{basketId}", sbs, s.getBasket)
	s.mount(e, http.MethodDelete, "/v1/signing-baskets/{basketId}", sbs, s.deleteBasket)
	s.mount(e, http.MethodGet, "/v1/signing-baskets/{basketId}/status", sbs, s.basketStatus)
}

type paymentCreated struct {
	TransactionStatus string     `json:"transactionStatus"`
	PaymentID         string     `json:"paymentId"`
	ChosenScaMethod   *scaMethod `json:"chosenScaMethod,omitempty"`
	Links             links      `json:"_links"`
	PSUMessage        string     `json:"psuMessage,omitempty"`
	ScaStatus         string     `json:"scaStatus,omitempty"`
}

// amountKey is the amount a payment's scenario binding is looked up by: its
// (first) instructed amount as the bank writes it.
func amountKey(raw []byte) string {
	var b struct {
		InstructedAmount struct{ Amount string } `json:"instructedAmount"`
		Payments         []struct {
			InstructedAmount struct{ Amount string } `json:"instructedAmount"`
		} `json:"payments"`
	}
	_ = json.Unmarshal(raw, &b)
	v := b.InstructedAmount.Amount
	if v == "" && len(b.Payments) > 0 {
		v = b.Payments[0].InstructedAmount.Amount
	}
	if m, err := bank.ParseMinor(v); err == nil {
		return bank.FormatMinor(m)
	}
	return ""
}

func (s *Server) initiate(svc string) echo.HandlerFunc {
	return func(c echo.Context) error {
		raw, err := readBody(c)
		if err != nil {
			return err
		}
		if err := s.prepareSCA(c); err != nil {
			return err
		}
		product := c.Param("payment-product")
		outcome := ""
		if sc, ok := s.ScenarioFor(c, nil, c.Request().Header.Get("PSU-ID"), amountKey(raw), func(sc scenario.Scenario) bool { return sc.Payment != "" }); ok {
			if sc.Payment == scenario.PaymentDuplicateReference {
				return bank.Errorf(bank.KindPaymentFailed, "", "sandbox scenario %s: the bank holds a payment with this reference already", sc.Name).WithRule("scenario." + sc.Name)
			}
			outcome = sc.Payment
		}
		cn, _, err := s.Bank.InitiateBGPayment(c.Request().Context(), bank.BGPaymentInput{ClientID: tppOf(c).OrgID, Service: svc, Product: product,
			Scenario: s.LastingScenario(c), Raw: raw, Outcome: outcome})
		if err != nil {
			return err
		}
		c.Set(httpx.KeyConsent, cn.ID)
		self := s.url("/v1/" + svc + "/" + product + "/" + cn.ID)
		sca, err := s.startSCA(c, resourceOf(bank.AuthPayment, self, cn.ID))
		if err != nil {
			return err
		}
		return created(c, self, sca.approach, paymentCreated{TransactionStatus: bank.TxReceived, PaymentID: cn.ID,
			Links: sca.links.add("self", self).add("status", self+"/status"), PSUMessage: sca.message, ScaStatus: sca.status, ChosenScaMethod: sca.method})
	}
}

func (s *Server) payment(c echo.Context, svc string) (*bank.Consent, *bank.BGPayment, error) {
	id := c.Param("paymentId")
	c.Set(httpx.KeyConsent, id)
	return s.Bank.BGPaymentResource(c.Request().Context(), tppOf(c).OrgID, svc, c.Param("payment-product"), id)
}

func (s *Server) getPayment(svc string) echo.HandlerFunc {
	return func(c echo.Context) error {
		cn, p, err := s.payment(c, svc)
		if err != nil {
			return err
		}
		st, err := s.Bank.BGPaymentStatus(c.Request().Context(), cn)
		if err != nil {
			return err
		}
		var body map[string]any
		if err := json.Unmarshal(p.Body, &body); err != nil {
			return err
		}
		body["transactionStatus"] = st.Status
		return c.JSON(http.StatusOK, body)
	}
}

func (s *Server) paymentStatus(svc string) echo.HandlerFunc {
	return func(c echo.Context) error {
		cn, _, err := s.payment(c, svc)
		if err != nil {
			return err
		}
		st, err := s.Bank.BGPaymentStatus(c.Request().Context(), cn)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]string{"transactionStatus": st.Status})
	}
}

func (s *Server) cancelPayment(svc string) echo.HandlerFunc {
	return func(c echo.Context) error {
		cn, _, err := s.payment(c, svc)
		if err != nil {
			return err
		}
		ctx := c.Request().Context()
		how, err := s.Bank.CancelBGPayment(ctx, cn)
		if err != nil {
			return err
		}
		if how == bank.CancelledAtOnce {
			return c.NoContent(http.StatusNoContent)
		}
		st, err := s.Bank.BGPaymentStatus(ctx, cn)
		if err != nil {
			return err
		}
		r := resourceOf(bank.AuthCancellation, s.url("/v1/"+svc+"/"+c.Param("payment-product")+"/"+cn.ID), cn.ID)
		return c.JSON(http.StatusAccepted, map[string]any{"transactionStatus": st.Status, "_links": links{}.add("startAuthorisation", r.coll)})
	}
}

// fundsRequest is a confirmationOfFunds body.
type fundsRequest struct {
	CardNumber       string            `json:"cardNumber"`
	Account          bank.BGAccountRef `json:"account"`
	Payee            string            `json:"payee"`
	InstructedAmount bank.BGAmount     `json:"instructedAmount"`
}

func (s *Server) funds(c echo.Context) error {
	var r fundsRequest
	if err := bind(c, &r); err != nil {
		return err
	}
	consent := c.Request().Header.Get("Consent-ID")
	c.Set(httpx.KeyConsent, consent)
	ok, err := s.Bank.BGFunds(c.Request().Context(), bank.BGFundsRequest{ClientID: tppOf(c).OrgID, ConsentID: consent, Account: r.Account,
		Amount: r.InstructedAmount})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]bool{"fundsAvailable": ok})
}

func (s *Server) createBasket(c echo.Context) error {
	var r bank.BGBasket
	if err := bind(c, &r); err != nil {
		return err
	}
	tpp := tppOf(c)
	if len(r.PaymentIDs) > 0 && !tpp.Has(pki.RolePI) || len(r.ConsentIDs) > 0 && !tpp.Has(pki.RoleAI) {
		return bank.Errorf(bank.KindRoleInvalid, "", "a basket of payments needs the PSP_PI role, of consents PSP_AI; the certificate has %v", tpp.Roles).WithRule("role.invalid")
	}
	if err := s.prepareSCA(c); err != nil {
		return err
	}
	cn, err := s.Bank.CreateBasket(c.Request().Context(), tpp.OrgID, r)
	if err != nil {
		return err
	}
	self := s.url("/v1/signing-baskets/" + cn.ID)
	sca, err := s.startSCA(c, resourceOf(bank.AuthBasket, self, cn.ID))
	if err != nil {
		return err
	}
	return created(c, self, sca.approach, map[string]any{"transactionStatus": bank.TxReceived, "basketId": cn.ID,
		"_links": sca.links.add("self", self).add("status", self+"/status"), "psuMessage": sca.message})
}

func (s *Server) getBasket(c echo.Context) error {
	cn, r, err := s.Bank.Basket(c.Request().Context(), tppOf(c).OrgID, c.Param("basketId"))
	if err != nil {
		return err
	}
	out := map[string]any{"transactionStatus": bank.BasketStatus(cn)}
	if len(r.PaymentIDs) > 0 {
		out["payments"] = r.PaymentIDs
	}
	if len(r.ConsentIDs) > 0 {
		out["consents"] = r.ConsentIDs
	}
	self := s.url("/v1/signing-baskets/" + cn.ID)
	out["_links"] = links{}.add("self", self).add("status", self+"/status")
	return c.JSON(http.StatusOK, out)
}

func (s *Server) basketStatus(c echo.Context) error {
	cn, _, err := s.Bank.Basket(c.Request().Context(), tppOf(c).OrgID, c.Param("basketId"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"transactionStatus": bank.BasketStatus(cn)})
}

func (s *Server) deleteBasket(c echo.Context) error {
	if err := s.Bank.DeleteBasket(c.Request().Context(), tppOf(c).OrgID, c.Param("basketId")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
