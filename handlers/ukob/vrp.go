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

// vrpPayments are variable recurring payments (the VRP files of the
// standard, under /pisp): a long-lived consent with control parameters,
// and payments the TPP makes under it without the PSU.
var vrpPayments = &paymentType{consent: bank.ConsentDomesticVRP, order: bank.OrderVRP,
	consents: "domestic-vrp-consents", orders: "domestic-vrps", idName: "DomesticVRPId"}

// mountVRP adds every operation of the version's VRP file: consents
// (create, read, delete, funds confirmation; where the contract has them,
// the v4.0 PUT and PATCH of a version migration) and payments (create,
// read, payment details). Every answer is signed as PIS answers are.
func (s *Server) mountVRP(e *echo.Echo) {
	client := httpx.Need{Scope: oauth.ScopePayments, Class: gateway.ClassConsents}
	orders := httpx.Need{Scope: oauth.ScopePayments, Class: gateway.ClassPayments}
	psu := func(class gateway.Class) httpx.Need {
		return httpx.Need{Scope: oauth.ScopePayments, PSU: true, Consent: bank.ConsentDomesticVRP, Class: class, Version: s.w.Version()}
	}
	m := func(method, path string, n httpx.Need, h echo.HandlerFunc) {
		s.Mount(e, s.contract, method, path, n, h, s.signResponse)
	}
	const consents, one = "/pisp/domestic-vrp-consents", "/pisp/domestic-vrp-consents/{ConsentId}"
	m(http.MethodPost, consents, client, s.createVRPConsent)
	m(http.MethodGet, one, client, s.getVRPConsent)
	m(http.MethodDelete, one, client, s.deleteConsent(bank.ConsentDomesticVRP))
	if s.w.Version() != bank.VersionUK31 { // v4.0 added amending a VRP consent (PUT, PATCH)
		m(http.MethodPut, one, client, s.amendVRPConsent(false))
		m(http.MethodPatch, one, client, s.amendVRPConsent(true))
	}
	m(http.MethodPost, one+"/funds-confirmation", psu(gateway.ClassFunds), s.vrpFundsConfirmation)
	m(http.MethodPost, "/pisp/domestic-vrps", psu(gateway.ClassPayments), s.createVRP)
	m(http.MethodGet, "/pisp/domestic-vrps/{DomesticVRPId}", orders, s.getVRP)
	m(http.MethodGet, "/pisp/domestic-vrps/{DomesticVRPId}/payment-details", orders, s.orderDetails(vrpPayments))
}

// vrpConsentBody is a VRP consent request as kept.
type vrpConsentBody struct {
	Data map[string]json.RawMessage `json:"Data"`
	Risk json.RawMessage            `json:"Risk"`
}

// shown is a VRP consent's request as this version shows it: a consent
// made through v3.1 and used through v4.0 is re-expressed in v4.0's shape.
func (s *Server) shown(cn *bank.Consent) (vrpConsentBody, error) {
	var req vrpConsentBody
	if err := json.Unmarshal(cn.Request, &req); err != nil {
		return req, err
	}
	if in, ok := req.Data["Initiation"]; ok {
		req.Data["Initiation"] = s.w.VRPMember("Initiation", in)
	}
	req.Risk = s.w.VRPMember("Risk", req.Risk)
	return req, nil
}

func (s *Server) createVRPConsent(c echo.Context) error {
	raw, req, err := s.consentRequest(c, bank.ConsentDomesticVRP, vrpPayments.consents)
	if err != nil {
		return err
	}
	req.Parse = func(now time.Time) (*bank.Initiation, error) {
		var req struct {
			Data json.RawMessage `json:"Data"`
		}
		if err := json.Unmarshal(raw, &req); err != nil {
			return nil, bank.Errorf(bank.KindMalformed, "", "the request body is not valid JSON")
		}
		return s.w.VRPConsent(req.Data, now)
	}
	cn, err := s.Bank.CreatePaymentConsent(c.Request().Context(), req)
	if err != nil {
		return err
	}
	return s.vrpConsentResponse(c, http.StatusCreated, cn)
}

func (s *Server) getVRPConsent(c echo.Context) error {
	cn, err := s.ownConsent(c, bank.ConsentDomesticVRP)
	if err != nil {
		return err
	}
	return s.vrpConsentResponse(c, http.StatusOK, cn)
}

// vrpConsentResponse is OBDomesticVRPConsentResponse: the request as the
// TPP sent it (in this version's shape), with what the bank knows, the
// debtor account the PSU chose among it.
func (s *Server) vrpConsentResponse(c echo.Context, status int, cn *bank.Consent) error {
	req, err := s.shown(cn)
	if err != nil {
		return err
	}
	data := map[string]any{}
	for k, v := range req.Data {
		data[k] = v
	}
	data["ConsentId"], data["Status"] = cn.ID, s.w.ConsentStatus(cn, s.Clock.Now())
	data["CreationDateTime"], data["StatusUpdateDateTime"] = obwire.ISOTime(cn.CreatedAt), obwire.ISOTime(cn.StatusAt)
	if d, err := s.vrpDebtor(c, cn); err != nil {
		return err
	} else if d != nil {
		data["DebtorAccount"] = d
	}
	return c.JSON(status, map[string]any{"Data": data, "Risk": req.Risk,
		"Links": obwire.Links{Self: s.Cfg.Issuer + s.w.Base() + "/pisp/domestic-vrp-consents/" + cn.ID}, "Meta": obwire.Meta{}})
}

// vrpDebtor is the account the PSU chose, as OBCashAccountDebtorWithName
// (its Name at most 70 characters, v4.0's bound).
func (s *Server) vrpDebtor(c echo.Context, cn *bank.Consent) (*obwire.CashAccount, error) {
	d, err := s.debtor(c, cn)
	if d != nil {
		d.Name = httpx.Truncate(d.Name, 70)
	}
	return d, err
}

// amendVRPConsent is v4.0's PUT (the whole consent request) or PATCH (a
// JSON Patch, RFC 6902, of the consent request as v4.0 shows it) of a VRP
// consent, for a version migration: what the PSU authorised stays as it
// is (bank.AmendVRPConsent); the consent is then a v4.0 consent.
func (s *Server) amendVRPConsent(patch bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		raw, err := body(c)
		if err != nil {
			return err
		}
		if err := s.verifySignature(c, raw); err != nil {
			return err
		}
		ctx := c.Request().Context()
		clientID, consentID := httpx.PrincipalOf(c).Token.ClientID, c.Param("ConsentId")
		op := "PUT " + vrpPayments.consents + "/" + consentID
		if patch {
			op = "PATCH " + vrpPayments.consents + "/" + consentID
		}
		id, err := idem(c, op, raw)
		if err != nil {
			return err
		}
		doc := raw
		if patch {
			cn, err := s.ownConsent(c, bank.ConsentDomesticVRP)
			if err != nil {
				return err
			}
			now, err := s.shown(cn)
			if err != nil {
				return err
			}
			cur, err := json.Marshal(now)
			if err != nil {
				return err
			}
			if doc, err = applyPatch(cur, raw); err != nil {
				return err
			}
			if err := s.contract.ValidateBody(ctx, http.MethodPut, "/pisp/domestic-vrp-consents/{ConsentId}", doc); err != nil {
				return err
			}
		}
		stored, err := bank.Canonical(doc)
		if err != nil {
			return err
		}
		cn, err := s.Bank.AmendVRPConsent(ctx, bank.VRPAmendment{ClientID: clientID, Version: s.w.Version(), ConsentID: consentID,
			Idem: id, Request: stored, Parse: func(now time.Time) (*bank.Initiation, error) {
				var req struct {
					Data json.RawMessage `json:"Data"`
				}
				if err := json.Unmarshal(doc, &req); err != nil {
					return nil, bank.Errorf(bank.KindMalformed, "", "the consent is not valid JSON")
				}
				return s.w.VRPConsent(req.Data, now)
			}})
		if err != nil {
			return err
		}
		return s.vrpConsentResponse(c, http.StatusOK, cn)
	}
}

// vrpFundsConfirmation answers whether the consent's account can pay an
// amount now (OBVRPFundsConfirmationResponse).
func (s *Server) vrpFundsConfirmation(c echo.Context) error {
	raw, err := body(c)
	if err != nil {
		return err
	}
	if err := s.verifySignature(c, raw); err != nil {
		return err
	}
	var req struct {
		Data struct {
			ConsentID        string        `json:"ConsentId"`
			Reference        string        `json:"Reference"`
			InstructedAmount obwire.Amount `json:"InstructedAmount"`
		} `json:"Data"`
	}
	if err := json.Unmarshal(raw, &req); err != nil {
		return bank.Errorf(bank.KindMalformed, "", "the request body is not valid JSON")
	}
	token := httpx.PrincipalOf(c).Consent
	amount := req.Data.InstructedAmount.Amount
	if v, err := bank.ParseMinor(amount); err == nil {
		amount = bank.FormatMinor(v)
	}
	_, insufficient := s.ScenarioFor(c, token, "", amount, func(sc scenario.Scenario) bool {
		return sc.Payment == scenario.PaymentInsufficientFunds
	})
	f, err := s.Bank.VRPFundsCheck(c.Request().Context(), token, c.Param("ConsentId"), req.Data.ConsentID,
		req.Data.InstructedAmount.Amount, req.Data.InstructedAmount.Currency, insufficient)
	if err != nil {
		return err
	}
	result := "NotAvailable"
	if f.Available {
		result = "Available"
	}
	data := map[string]any{"FundsConfirmationId": f.ID, "ConsentId": f.ConsentID, "CreationDateTime": obwire.ISOTime(f.CreatedAt),
		"FundsAvailableResult": map[string]any{"FundsAvailableDateTime": obwire.ISOTime(f.CreatedAt), "FundsAvailable": result},
		"InstructedAmount":     req.Data.InstructedAmount}
	if req.Data.Reference != "" {
		data["Reference"] = req.Data.Reference
	}
	return c.JSON(http.StatusCreated, map[string]any{"Data": data,
		"Links": obwire.Links{Self: s.Cfg.Issuer + c.Request().URL.Path}, "Meta": obwire.Meta{}})
}

// vrpRequest is OBDomesticVRPRequest.
type vrpRequest struct {
	Data struct {
		ConsentID               string          `json:"ConsentId"`
		PSUAuthenticationMethod string          `json:"PSUAuthenticationMethod"`
		PSUInteractionType      string          `json:"PSUInteractionType"`
		VRPType                 string          `json:"VRPType"`
		Initiation              json.RawMessage `json:"Initiation"`
		Instruction             json.RawMessage `json:"Instruction"`
	} `json:"Data"`
	Risk json.RawMessage `json:"Risk"`
}

func (s *Server) createVRP(c echo.Context) error {
	raw, err := body(c)
	if err != nil {
		return err
	}
	if err := s.verifySignature(c, raw); err != nil {
		return err
	}
	id, err := idem(c, vrpPayments.orders, raw)
	if err != nil {
		return err
	}
	var req vrpRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		return bank.Errorf(bank.KindMalformed, "", "the request body is not valid JSON")
	}
	pay, err := s.w.VRPInstruction(req.Data.Instruction)
	if err != nil {
		return err
	}
	token := httpx.PrincipalOf(c).Consent
	r := bank.VRPOrder{Token: token, ConsentID: req.Data.ConsentID, Initiation: req.Data.Initiation, Risk: req.Risk,
		Instruction: req.Data.Instruction, Payment: pay, Type: req.Data.VRPType, AuthMethod: req.Data.PSUAuthenticationMethod,
		Interaction: req.Data.PSUInteractionType, Idem: id,
		Shown: func(cn *bank.Consent) ([]byte, []byte, error) {
			b, err := s.shown(cn)
			return b.Data["Initiation"], b.Risk, err
		}}
	if token.ID == req.Data.ConsentID {
		// revoke_after counts the payments the mandate made: this one
		// would be the next.
		if err := s.RevokeAfter(c, token, func() (int, error) {
			made, err := s.Bank.PaymentsOfConsent(c.Request().Context(), token)
			return len(made) + 1, err
		}); err != nil {
			return err
		}
		if sc, ok := s.ScenarioFor(c, token, "", bank.FormatMinor(pay.Amount), func(sc scenario.Scenario) bool { return sc.Payment != "" }); ok {
			switch sc.Payment {
			case scenario.PaymentDuplicateReference:
				return bank.Errorf(bank.KindDuplicateReference, "Data.Instruction.RemittanceInformation",
					"sandbox scenario %s: the bank holds a payment with this reference already", sc.Name).WithRule("scenario." + sc.Name)
			case scenario.PaymentFailsControls:
				return bank.Errorf(bank.KindFailsControlParameters, "Data.ControlParameters.PeriodicLimits[0].Amount",
					"sandbox scenario %s: the period's limit counts as used up", sc.Name).WithRule("scenario." + sc.Name)
			}
			r.Outcome = sc.Payment
		}
	}
	p, cn, err := s.Bank.SubmitVRP(c.Request().Context(), r)
	if err != nil {
		return err
	}
	return s.vrpResponse(c, http.StatusCreated, p, cn)
}

func (s *Server) getVRP(c echo.Context) error {
	p, err := s.ownPayment(c, vrpPayments)
	if err != nil {
		return err
	}
	return s.vrpResponse(c, http.StatusOK, p, nil)
}

// vrpResponse is OBDomesticVRPResponse: the payment's Initiation and
// Instruction as sent (in this version's shape), its status, the debtor
// account, the consent's Risk, the reason when it was rejected, and the
// refund account when the consent asked for it (ReadRefundAccount).
func (s *Server) vrpResponse(c echo.Context, status int, p *bank.Payment, cn *bank.Consent) error {
	if cn == nil {
		var err error
		if cn, err = s.Bank.ConsentOf(c.Request().Context(), p); err != nil {
			return err
		}
	}
	if err := cn.UsableThrough(s.w.Version()); err != nil {
		return err
	}
	var kept struct{ Initiation, Instruction json.RawMessage }
	if err := json.Unmarshal(p.Request, &kept); err != nil {
		return err
	}
	consent, err := s.shown(cn)
	if err != nil {
		return err
	}
	data := map[string]any{"DomesticVRPId": p.ID, "ConsentId": p.ConsentID, "CreationDateTime": obwire.ISOTime(p.CreatedAt),
		"Status": s.w.OrderStatus(bank.OrderVRP, p.Status), "StatusUpdateDateTime": obwire.ISOTime(p.StatusAt),
		"Initiation": s.w.VRPMember("Initiation", kept.Initiation), "Instruction": s.w.VRPMember("Instruction", kept.Instruction)}
	if p.Status == bank.PaymentRejected {
		for k, v := range s.w.VRPStatusReason(p.Reason) {
			data[k] = v
		}
	} else {
		data["ExpectedExecutionDateTime"] = obwire.ISOTime(p.ProcessAt)
		data["ExpectedSettlementDateTime"] = obwire.ISOTime(p.SettleAt)
	}
	d, err := s.vrpDebtor(c, cn)
	if err != nil {
		return err
	}
	if d != nil {
		data["DebtorAccount"] = d
		if string(consent.Data["ReadRefundAccount"]) == `"Yes"` {
			data["Refund"] = d
		}
	}
	return c.JSON(status, map[string]any{"Data": data, "Risk": consent.Risk,
		"Links": obwire.Links{Self: s.Cfg.Issuer + s.w.Base() + "/pisp/domestic-vrps/" + p.ID}, "Meta": obwire.Meta{}})
}
