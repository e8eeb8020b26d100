package ukob

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/handlers/ukob/obwire"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/gateway"
	"github.com/obsandbox/sandbox/internal/jws"
	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/scenario"
)

// BankOrgID is the sandbox bank's organisation id: the iss of its message
// signatures.
const BankOrgID = "0015800001SANDBOX"

// paymentType describes one family of payment orders: its consent kind,
// order kind, paths and ids.
type paymentType struct {
	consent  string // bank consent kind
	order    string // store order kind
	consents string // "domestic-payment-consents"
	orders   string // "domestic-payments"
	idName   string // "DomesticPaymentId": path parameter and response field
	funds    bool   // its consents have a funds-confirmation
	field    string // the response's id field, when it is not idName
}

var (
	domesticPayments = &paymentType{consent: bank.ConsentDomesticPayment, order: bank.OrderDomestic,
		consents: "domestic-payment-consents", orders: "domestic-payments", idName: "DomesticPaymentId", funds: true}
	scheduledPayments = &paymentType{consent: bank.ConsentDomesticScheduled, order: bank.OrderScheduled,
		consents: "domestic-scheduled-payment-consents", orders: "domestic-scheduled-payments", idName: "DomesticScheduledPaymentId"}
	standingOrders = &paymentType{consent: bank.ConsentDomesticStanding, order: bank.OrderStanding,
		consents: "domestic-standing-order-consents", orders: "domestic-standing-orders", idName: "DomesticStandingOrderId"}
	internationalPayments = &paymentType{consent: bank.ConsentInternationalPayment, order: bank.OrderInternational,
		consents: "international-payment-consents", orders: "international-payments", idName: "InternationalPaymentId", funds: true}
	internationalScheduled = &paymentType{consent: bank.ConsentInternationalScheduled, order: bank.OrderInternationalScheduled,
		consents: "international-scheduled-payment-consents", orders: "international-scheduled-payments",
		idName: "InternationalScheduledPaymentId", funds: true}
	internationalStanding = &paymentType{consent: bank.ConsentInternationalStanding, order: bank.OrderInternationalStanding,
		consents: "international-standing-order-consents", orders: "international-standing-orders",
		idName: "InternationalStandingOrderPaymentId", field: "InternationalStandingOrderId"}
)

// paymentTypes are the families served, in the order they are mounted.
var paymentTypes = []*paymentType{domesticPayments, scheduledPayments, standingOrders, internationalPayments, internationalScheduled,
	internationalStanding, filePayments}

func (s *Server) mountPIS(e *echo.Echo) {
	consents := httpx.Need{Scope: oauth.ScopePayments, Class: gateway.ClassConsents}
	orders := httpx.Need{Scope: oauth.ScopePayments, Class: gateway.ClassPayments}
	m := func(method, path string, n httpx.Need, h echo.HandlerFunc) {
		s.Mount(e, s.contract, method, path, n, h, s.signResponse)
	}
	for _, pt := range paymentTypes {
		psu := httpx.Need{Scope: oauth.ScopePayments, PSU: true, Consent: pt.consent, Class: gateway.ClassPayments, Version: s.w.Version()}
		m(http.MethodPost, "/pisp/"+pt.consents, consents, s.createPaymentConsent(pt))
		m(http.MethodGet, "/pisp/"+pt.consents+"/{ConsentId}", consents, s.getPaymentConsent(pt))
		if pt.funds {
			funds := httpx.Need{Scope: oauth.ScopePayments, PSU: true, Consent: pt.consent, Class: gateway.ClassFunds, Version: s.w.Version()}
			m(http.MethodGet, "/pisp/"+pt.consents+"/{ConsentId}/funds-confirmation", funds, s.paymentFundsConfirmation)
		}
		m(http.MethodPost, "/pisp/"+pt.orders, psu, s.createOrder(pt))
		m(http.MethodGet, "/pisp/"+pt.orders+"/{"+pt.idName+"}", orders, s.getOrder(pt))
		m(http.MethodGet, "/pisp/"+pt.orders+"/{"+pt.idName+"}/payment-details", orders, s.orderDetails(pt))
	}
	s.mountFiles(e)
}

// signResponse signs every PIS response with a body the standard lists
// (2xx, 400, 403, 500; v4.0 adds 409) with the bank's key: a detached x-jws-signature.
func (s *Server) signResponse(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		res := c.Response()
		w := &capture{ResponseWriter: res.Writer, status: http.StatusOK}
		res.Writer = w
		err := func() (err error) {
			// A panic becomes a signed 500 here rather than an empty answer.
			defer func() {
				if r := recover(); r != nil {
					s.Log.ErrorContext(c.Request().Context(), "panic", "error", r)
					err = fmt.Errorf("panic: %v", r)
				}
			}()
			return next(c)
		}()
		if err != nil {
			c.Error(err)
		}
		res.Writer = w.ResponseWriter
		if st := w.status; (st >= 200 && st < 300 || st == 400 || st == 403 || st == 409 || st == 500) && w.buf.Len() > 0 {
			kid, key := s.Auth.Keys.Signer()
			if sig, err := jws.Sign(w.buf.Bytes(), kid, BankOrgID, key, s.Clock.Wall()); err == nil {
				res.Header().Set("x-jws-signature", sig)
			} else {
				s.Log.ErrorContext(c.Request().Context(), "signing a response", "error", err)
			}
		}
		w.ResponseWriter.WriteHeader(w.status)
		_, werr := w.ResponseWriter.Write(w.buf.Bytes())
		return werr
	}
}

// capture holds a response until it is signed.
type capture struct {
	http.ResponseWriter
	status int
	buf    bytes.Buffer
}

func (w *capture) WriteHeader(status int)      { w.status = status }
func (w *capture) Write(b []byte) (int, error) { return w.buf.Write(b) }
func (w *capture) Flush()                      {}

// body reads the request body (validation already buffered it).
func body(c echo.Context) ([]byte, error) {
	b, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return nil, err
	}
	c.Request().Body = io.NopCloser(bytes.NewReader(b))
	return b, nil
}

// verifySignature checks the request's x-jws-signature: required in fapi,
// verified whenever present (SPEC §4.2).
func (s *Server) verifySignature(c echo.Context, raw []byte) error {
	sig := c.Request().Header.Get("x-jws-signature")
	if sig == "" {
		if oauth.Strict(s.Cfg.Profile) {
			return bank.Errorf(bank.KindSignatureMissing, "x-jws-signature", "x-jws-signature is required on payment requests")
		}
		return nil
	}
	ctx := c.Request().Context()
	cl, err := s.Auth.Client(ctx, httpx.PrincipalOf(c).Token.ClientID)
	if err != nil {
		return err
	}
	// A TPP registered with a software statement signs as org-id/software-id
	// (in fapi only so); one registered without, by its client id.
	issuers := []string{cl.ClientID}
	if cl.OrgID != "" && cl.SoftwareID != "" {
		issuers = append(issuers, cl.OrgID+"/"+cl.SoftwareID)
		if oauth.Strict(s.Cfg.Profile) {
			issuers = issuers[1:]
		}
	}
	return jws.Verify(sig, raw, jws.Expect{Issuers: issuers, Now: s.Clock.Wall(),
		Key: func(kid string) (any, bool) { return s.Auth.SigningKey(ctx, cl, kid) }})
}

// idem is the idempotency of a POST (UK OB profile, "Idempotency").
func idem(c echo.Context, op string, raw []byte) (bank.Idem, error) {
	return bank.NewIdem(httpx.PrincipalOf(c).Token.ClientID, op, c.Request().Header.Get("x-idempotency-key"), raw)
}

type pisBody struct {
	Data struct {
		ConsentID  string          `json:"ConsentId"`
		Initiation json.RawMessage `json:"Initiation"`
	} `json:"Data"`
	Risk json.RawMessage `json:"Risk"`
}

func (s *Server) createPaymentConsent(pt *paymentType) echo.HandlerFunc {
	return func(c echo.Context) error { return s.createPaymentConsentFor(c, pt) }
}

// consentRequest reads the request creating a payment consent of kind
// (its operation op, for the idempotency key): the body, its signature
// checked, the idempotency key, the body as kept; the caller adds how the
// bank parses it.
func (s *Server) consentRequest(c echo.Context, kind, op string) ([]byte, bank.PaymentConsentRequest, error) {
	raw, err := body(c)
	if err != nil {
		return nil, bank.PaymentConsentRequest{}, err
	}
	if err := s.verifySignature(c, raw); err != nil {
		return nil, bank.PaymentConsentRequest{}, err
	}
	id, err := idem(c, op, raw)
	if err != nil {
		return nil, bank.PaymentConsentRequest{}, err
	}
	stored, err := bank.Canonical(raw)
	if err != nil {
		return nil, bank.PaymentConsentRequest{}, err
	}
	return raw, bank.PaymentConsentRequest{Kind: kind, ClientID: httpx.PrincipalOf(c).Token.ClientID, Version: s.w.Version(),
		Scenario: s.LastingScenario(c), Idem: id, Request: stored}, nil
}

func (s *Server) createPaymentConsentFor(c echo.Context, pt *paymentType) error {
	raw, req, err := s.consentRequest(c, pt.consent, pt.consents)
	if err != nil {
		return err
	}
	req.Parse = func(now time.Time) (*bank.Initiation, error) {
		var req pisBody
		if err := json.Unmarshal(raw, &req); err != nil {
			return nil, bank.Errorf(bank.KindMalformed, "", "the request body is not valid JSON")
		}
		return s.w.Initiation(pt.consent, req.Data.Initiation, now)
	}
	cn, err := s.Bank.CreatePaymentConsent(c.Request().Context(), req)
	if err != nil {
		return err
	}
	return s.paymentConsentResponse(c, http.StatusCreated, pt, cn)
}

func (s *Server) getPaymentConsent(pt *paymentType) echo.HandlerFunc {
	return func(c echo.Context) error {
		cn, err := s.ownConsent(c, pt.consent)
		if err != nil {
			return err
		}
		return s.paymentConsentResponse(c, http.StatusOK, pt, cn)
	}
}

// debtor is the account the PSU chose, as OBCashAccountDebtor4.
func (s *Server) debtor(c echo.Context, cn *bank.Consent) (*obwire.CashAccount, error) {
	ref, err := s.Bank.Debtor(c.Request().Context(), cn)
	if err != nil || ref == nil {
		return nil, err
	}
	return obwire.NewCashAccount(*ref), nil
}

// paymentConsentResponse echoes the consent request as the TPP sent it and
// adds what the bank knows (OBWriteDomesticConsentResponse5).
func (s *Server) paymentConsentResponse(c echo.Context, status int, pt *paymentType, cn *bank.Consent) error {
	var req struct {
		Data map[string]json.RawMessage `json:"Data"`
		Risk json.RawMessage            `json:"Risk"`
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
	data["CutOffDateTime"] = obwire.ISOTime(cn.ExpiresAt)
	switch pt.order {
	case bank.OrderDomestic, bank.OrderInternational:
		data["ExpectedExecutionDateTime"] = obwire.ISOTime(cn.CreatedAt)
		data["ExpectedSettlementDateTime"] = obwire.ISOTime(cn.CreatedAt.Add(s.Bank.SettlementDelay()))
	case bank.OrderScheduled, bank.OrderInternationalScheduled:
		data["ExpectedExecutionDateTime"] = obwire.ISOTime(cn.Initiation.RequestedAt)
		data["ExpectedSettlementDateTime"] = obwire.ISOTime(cn.Initiation.RequestedAt)
	}
	if cn.IsInternational() {
		data["Charges"] = obwire.Charges(cn.Initiation)
		// A standing order's shapes have no ExchangeRateInformation.
		if r := obwire.NewExchangeRate(cn.Initiation.FX); r != nil && pt.order != bank.OrderInternationalStanding {
			data["ExchangeRateInformation"] = r
		}
	}
	d, err := s.debtor(c, cn)
	if err != nil {
		return err
	}
	if d != nil {
		data["Debtor"] = d
	}
	out := map[string]any{"Data": data, "Links": obwire.Links{Self: s.Cfg.Issuer + s.w.Base() + "/pisp/" + pt.consents + "/" + cn.ID}, "Meta": obwire.Meta{}}
	if len(req.Risk) > 0 {
		out["Risk"] = req.Risk // a file payment has none
	}
	return c.JSON(status, out)
}

func (s *Server) paymentFundsConfirmation(c echo.Context) error {
	cn, err := bank.Bound(httpx.PrincipalOf(c).Consent, c.Param("ConsentId"))
	if err != nil {
		return err
	}
	_, insufficient := s.ScenarioFor(c, cn, "", bank.FormatMinor(cn.Initiation.Amount), func(sc scenario.Scenario) bool {
		return sc.Payment == scenario.PaymentInsufficientFunds
	})
	ok, err := s.Bank.PaymentFundsCheck(c.Request().Context(), cn, insufficient)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"Data": map[string]any{"FundsAvailableResult": map[string]any{
		"FundsAvailableDateTime": obwire.ISOTime(s.Clock.Now()), "FundsAvailable": ok}},
		"Links": obwire.Links{Self: s.Cfg.Issuer + c.Request().URL.Path}, "Meta": obwire.Meta{}})
}

func (s *Server) createOrder(pt *paymentType) echo.HandlerFunc {
	return func(c echo.Context) error { return s.createOrderFor(c, pt) }
}

func (s *Server) createOrderFor(c echo.Context, pt *paymentType) error {
	raw, err := body(c)
	if err != nil {
		return err
	}
	if err := s.verifySignature(c, raw); err != nil {
		return err
	}
	id, err := idem(c, pt.orders, raw)
	if err != nil {
		return err
	}
	var req pisBody
	if err := json.Unmarshal(raw, &req); err != nil {
		return bank.Errorf(bank.KindMalformed, "", "the request body is not valid JSON")
	}
	token := httpx.PrincipalOf(c).Consent
	r := bank.OrderRequest{Token: token, ConsentID: req.Data.ConsentID, Initiation: req.Data.Initiation, Risk: req.Risk, Idem: id}
	if token.ID == req.Data.ConsentID && token.Initiation != nil {
		if sc, ok := s.ScenarioFor(c, token, "", bank.FormatMinor(token.Initiation.Amount), func(sc scenario.Scenario) bool {
			return sc.Payment == scenario.PaymentDuplicateReference || (sc.Payment != "" && sc.Payment != scenario.PaymentFailsControls && (pt == domesticPayments || pt == internationalPayments))
		}); ok {
			if sc.Payment == scenario.PaymentDuplicateReference {
				return bank.Errorf(bank.KindDuplicateReference, "Data.Initiation.RemittanceInformation.Reference",
					"sandbox scenario %s: the bank holds a payment with this reference already", sc.Name).WithRule("scenario." + sc.Name)
			}
			r.Outcome = sc.Payment
		}
	}
	pay, cn, err := s.Bank.SubmitOrder(c.Request().Context(), r)
	if err != nil {
		return err
	}
	return s.paymentResponse(c, http.StatusCreated, pt, pay, cn)
}

// ownPayment reads a payment order of the calling client, brought up to
// the sandbox clock.
func (s *Server) ownPayment(c echo.Context, pt *paymentType) (*bank.Payment, error) {
	p, err := s.Bank.Order(c.Request().Context(), httpx.PrincipalOf(c).Token.ClientID, pt.order, c.Param(pt.idName))
	if be := (*bank.Error)(nil); errors.As(err, &be) {
		be.Path = pt.idName
	}
	return p, err
}

func (s *Server) getOrder(pt *paymentType) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, err := s.ownPayment(c, pt)
		if err != nil {
			return err
		}
		return s.paymentResponse(c, http.StatusOK, pt, p, nil)
	}
}

// paymentResponse is OBWriteDomesticResponse5 (and its scheduled and
// standing-order siblings). cn is the payment's consent when the caller has
// it (its PSU and accounts never change), else nil.
func (s *Server) paymentResponse(c echo.Context, status int, pt *paymentType, p *bank.Payment, cn *bank.Consent) error {
	field := pt.idName
	if pt.field != "" {
		field = pt.field // the standard names it InternationalStandingOrderId there
	}
	data := map[string]any{field: p.ID, "ConsentId": p.ConsentID, "CreationDateTime": obwire.ISOTime(p.CreatedAt),
		"Status": s.w.OrderStatus(pt.order, p.Status), "StatusUpdateDateTime": obwire.ISOTime(p.StatusAt), "Initiation": json.RawMessage(p.Request)}
	noDates := pt.order == bank.OrderStanding || pt.order == bank.OrderInternationalStanding || pt.order == bank.OrderFile // their shapes have none
	if !noDates && p.Status != bank.PaymentRejected && p.Status != bank.OrderInitiationFailed {
		data["ExpectedExecutionDateTime"] = obwire.ISOTime(p.ProcessAt)
		data["ExpectedSettlementDateTime"] = obwire.ISOTime(p.SettleAt)
	}
	if cn == nil {
		var err error
		if cn, err = s.Bank.ConsentOf(c.Request().Context(), p); err != nil {
			return err
		}
	}
	if d, err := s.debtor(c, cn); err != nil {
		return err
	} else if d != nil {
		data["Debtor"] = d
	}
	if cn.IsInternational() {
		data["Charges"] = obwire.Charges(cn.Initiation)
		// The rate applied, once it was: a scheduled payment shows it when it has executed.
		if r := obwire.NewExchangeRate(p.FX); r != nil && pt.order != bank.OrderInternationalStanding && p.Status != bank.OrderInitiationPending {
			data["ExchangeRateInformation"] = r
		}
	}
	return c.JSON(status, map[string]any{"Data": data, "Links": obwire.Links{Self: s.Cfg.Issuer + s.w.Base() + "/pisp/" + pt.orders + "/" + p.ID}, "Meta": obwire.Meta{}})
}

// orderDetails is a payment order's status history
// (OBWritePaymentDetailsResponse1).
func (s *Server) orderDetails(pt *paymentType) echo.HandlerFunc {
	return func(c echo.Context) error { return s.orderDetailsFor(c, pt) }
}

func (s *Server) orderDetailsFor(c echo.Context, pt *paymentType) error {
	p, err := s.ownPayment(c, pt)
	if err != nil {
		return err
	}
	txID := p.Transaction
	if txID == "" {
		txID = p.ID
	}
	out := make([]any, 0, len(p.History))
	for _, h := range p.History {
		out = append(out, s.w.PaymentDetail(pt.order, txID, h))
	}
	return c.JSON(http.StatusOK, map[string]any{"Data": map[string]any{"PaymentStatus": out},
		"Links": obwire.Links{Self: s.Cfg.Issuer + c.Request().URL.Path}, "Meta": obwire.Meta{}})
}
