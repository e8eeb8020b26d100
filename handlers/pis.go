package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/gateway"
	"github.com/obsandbox/sandbox/internal/jws"
	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/scenario"
)

// BankOrgID is the sandbox bank's organisation id: the iss of its message
// signatures.
const BankOrgID = "0015800001SANDBOX"

const pisp = "/open-banking/v3.1/pisp"

// paymentType describes one family of payment orders: its consent kind,
// paths, ids and how its Initiation is read.
type paymentType struct {
	consent       string // bank consent kind
	order         string // store order kind
	consents      string // "domestic-payment-consents"
	orders        string // "domestic-payments"
	idName        string // "DomesticPaymentId": path parameter and response field
	consentPrefix string
	orderPrefix   string
	parse         func(raw json.RawMessage, now time.Time) (*bank.Initiation, error)
}

var (
	domesticPayments = &paymentType{consent: bank.ConsentDomesticPayment, order: bank.OrderDomestic,
		consents: "domestic-payment-consents", orders: "domestic-payments", idName: "DomesticPaymentId",
		consentPrefix: "pdc-", orderPrefix: "dp-", parse: func(raw json.RawMessage, _ time.Time) (*bank.Initiation, error) { return initiation(raw) }}
	scheduledPayments = &paymentType{consent: bank.ConsentDomesticScheduled, order: bank.OrderScheduled,
		consents: "domestic-scheduled-payment-consents", orders: "domestic-scheduled-payments", idName: "DomesticScheduledPaymentId",
		consentPrefix: "psc-", orderPrefix: "dsp-", parse: scheduledInitiation}
	standingOrders = &paymentType{consent: bank.ConsentDomesticStanding, order: bank.OrderStanding,
		consents: "domestic-standing-order-consents", orders: "domestic-standing-orders", idName: "DomesticStandingOrderId",
		consentPrefix: "pso-", orderPrefix: "dso-", parse: standingInitiation}
)

func (s *Server) mountPIS(e *echo.Echo) {
	consents := need{scope: oauth.ScopePayments, class: gateway.ClassConsents}
	orders := need{scope: oauth.ScopePayments, class: gateway.ClassPayments}
	m := func(method, path string, n need, h echo.HandlerFunc) { s.mount(e, method, path, n, h, s.signResponse) }
	for _, pt := range []*paymentType{domesticPayments, scheduledPayments, standingOrders} {
		psu := need{scope: oauth.ScopePayments, psu: true, consent: pt.consent, class: gateway.ClassPayments}
		m(http.MethodPost, "/pisp/"+pt.consents, consents, s.createPaymentConsent(pt))
		m(http.MethodGet, "/pisp/"+pt.consents+"/{ConsentId}", consents, s.getPaymentConsent(pt))
		m(http.MethodPost, "/pisp/"+pt.orders, psu, s.createOrder(pt))
		m(http.MethodGet, "/pisp/"+pt.orders+"/{"+pt.idName+"}", orders, s.getOrder(pt))
		m(http.MethodGet, "/pisp/"+pt.orders+"/{"+pt.idName+"}/payment-details", orders, s.orderDetails(pt))
	}
	psu := need{scope: oauth.ScopePayments, psu: true, consent: bank.ConsentDomesticPayment, class: gateway.ClassFunds}
	m(http.MethodGet, "/pisp/domestic-payment-consents/{ConsentId}/funds-confirmation", psu, s.domesticFundsConfirmation)
}

// signResponse signs every PIS response with a body the standard lists
// (2xx, 400, 403, 500) with the bank's key: a detached x-jws-signature.
func (s *Server) signResponse(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		res := c.Response()
		w := &capture{ResponseWriter: res.Writer, status: http.StatusOK}
		res.Writer = w
		err := func() (err error) {
			// A panic becomes a signed 500 here rather than an empty answer.
			defer func() {
				if r := recover(); r != nil {
					s.log.ErrorContext(c.Request().Context(), "panic", "error", r)
					err = fmt.Errorf("panic: %v", r)
				}
			}()
			return next(c)
		}()
		if err != nil {
			c.Error(err)
		}
		res.Writer = w.ResponseWriter
		if st := w.status; (st >= 200 && st < 300 || st == 400 || st == 403 || st == 500) && w.buf.Len() > 0 {
			kid, key := s.auth.Keys.Signer()
			if sig, err := jws.Sign(w.buf.Bytes(), kid, BankOrgID, key, s.clock.Wall()); err == nil {
				res.Header().Set("x-jws-signature", sig)
			} else {
				s.log.ErrorContext(c.Request().Context(), "signing a response", "error", err)
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
		if oauth.Strict(s.cfg.Profile) {
			return bank.Errorf(bank.KindSignatureMissing, "x-jws-signature", "x-jws-signature is required on payment requests")
		}
		return nil
	}
	ctx := c.Request().Context()
	cl, err := s.auth.Client(ctx, PrincipalOf(c).Token.ClientID)
	if err != nil {
		return err
	}
	// A TPP registered with a software statement signs as org-id/software-id
	// (in fapi only so); one registered without, by its client id.
	issuers := []string{cl.ClientID}
	if cl.OrgID != "" && cl.SoftwareID != "" {
		issuers = append(issuers, cl.OrgID+"/"+cl.SoftwareID)
		if oauth.Strict(s.cfg.Profile) {
			issuers = issuers[1:]
		}
	}
	return jws.Verify(sig, raw, jws.Expect{Issuers: issuers, Now: s.clock.Wall(),
		Key: func(kid string) (any, bool) { return s.auth.SigningKey(ctx, cl, kid) }})
}

// idem is the idempotency of a POST (UK OB profile, "Idempotency").
func idem(c echo.Context, op string, raw []byte) (bank.Idem, error) {
	return bank.NewIdem(PrincipalOf(c).Token.ClientID, op, c.Request().Header.Get("x-idempotency-key"), raw)
}

// Wire shapes of the domestic Initiation (OBWriteDomestic2DataInitiation).
type obAccountID struct {
	SchemeName              string `json:"SchemeName"`
	Identification          string `json:"Identification"`
	Name                    string `json:"Name,omitempty"`
	SecondaryIdentification string `json:"SecondaryIdentification,omitempty"`
}

func (a *obAccountID) ref() bank.AccountRef {
	return bank.AccountRef{Scheme: a.SchemeName, Identification: a.Identification, Name: a.Name, Secondary: a.SecondaryIdentification}
}

type obInitiation struct {
	InstructionIdentification string       `json:"InstructionIdentification"`
	EndToEndIdentification    string       `json:"EndToEndIdentification"`
	LocalInstrument           string       `json:"LocalInstrument"`
	InstructedAmount          obAmount     `json:"InstructedAmount"`
	DebtorAccount             *obAccountID `json:"DebtorAccount"`
	CreditorAccount           obAccountID  `json:"CreditorAccount"`
	RemittanceInformation     *struct {
		Unstructured string `json:"Unstructured"`
		Reference    string `json:"Reference"`
	} `json:"RemittanceInformation"`
}

// initiation reads and checks a domestic Initiation.
func initiation(raw json.RawMessage) (*bank.Initiation, error) {
	var w obInitiation
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, bank.Errorf(bank.KindFieldInvalid, "Data.Initiation", "the Initiation cannot be read: %v", err)
	}
	in := &bank.Initiation{InstructionID: w.InstructionIdentification, EndToEndID: w.EndToEndIdentification,
		LocalInstrument: w.LocalInstrument, Currency: w.InstructedAmount.Currency, Creditor: w.CreditorAccount.ref()}
	if w.DebtorAccount != nil {
		d := w.DebtorAccount.ref()
		in.Debtor = &d
	}
	if r := w.RemittanceInformation; r != nil {
		in.Reference, in.Unstructured = r.Reference, r.Unstructured
	}
	return in, bank.CheckInitiation(in, w.InstructedAmount.Amount, "Data.Initiation")
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

func (s *Server) createPaymentConsentFor(c echo.Context, pt *paymentType) error {
	raw, err := body(c)
	if err != nil {
		return err
	}
	if err := s.verifySignature(c, raw); err != nil {
		return err
	}
	id, err := idem(c, pt.consents, raw)
	if err != nil {
		return err
	}
	stored, err := bank.Canonical(raw)
	if err != nil {
		return err
	}
	cn, err := s.bank.CreatePaymentConsent(c.Request().Context(), bank.PaymentConsentRequest{Kind: pt.consent,
		ClientID: PrincipalOf(c).Token.ClientID, Version: bank.VersionUK31, Scenario: s.lastingScenario(c), Idem: id, Request: stored,
		Parse: func(now time.Time) (*bank.Initiation, error) {
			var req pisBody
			if err := json.Unmarshal(raw, &req); err != nil {
				return nil, bank.Errorf(bank.KindMalformed, "", "the request body is not valid JSON")
			}
			return pt.parse(req.Data.Initiation, now)
		}})
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
func (s *Server) debtor(c echo.Context, cn *bank.Consent) (*obCashAccount, error) {
	ref, err := s.bank.Debtor(c.Request().Context(), cn)
	if err != nil || ref == nil {
		return nil, err
	}
	return cashAccount(*ref), nil
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
	data["ConsentId"], data["Status"] = cn.ID, cn.Status
	data["CreationDateTime"], data["StatusUpdateDateTime"] = isoTime(cn.CreatedAt), isoTime(cn.StatusAt)
	data["CutOffDateTime"] = isoTime(cn.ExpiresAt)
	switch pt {
	case domesticPayments:
		data["ExpectedExecutionDateTime"] = isoTime(cn.CreatedAt)
		data["ExpectedSettlementDateTime"] = isoTime(cn.CreatedAt.Add(s.bank.SettlementDelay()))
	case scheduledPayments:
		data["ExpectedExecutionDateTime"] = isoTime(cn.Initiation.RequestedAt)
		data["ExpectedSettlementDateTime"] = isoTime(cn.Initiation.RequestedAt)
	}
	d, err := s.debtor(c, cn)
	if err != nil {
		return err
	}
	if d != nil {
		data["Debtor"] = d
	}
	return c.JSON(status, map[string]any{"Data": data, "Risk": req.Risk,
		"Links": obLinks{Self: s.cfg.Issuer + pisp + "/" + pt.consents + "/" + cn.ID}, "Meta": obMeta{}})
}

func (s *Server) domesticFundsConfirmation(c echo.Context) error {
	cn, err := bank.Bound(PrincipalOf(c).Consent, c.Param("ConsentId"))
	if err != nil {
		return err
	}
	_, insufficient := s.scenarioFor(c, cn, "", bank.FormatMinor(cn.Initiation.Amount), func(sc scenario.Scenario) bool {
		return sc.Payment == scenario.PaymentInsufficientFunds
	})
	ok, err := s.bank.PaymentFundsCheck(c.Request().Context(), cn, insufficient)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"Data": map[string]any{"FundsAvailableResult": map[string]any{
		"FundsAvailableDateTime": isoTime(s.clock.Now()), "FundsAvailable": ok}},
		"Links": obLinks{Self: s.cfg.Issuer + c.Request().URL.Path}, "Meta": obMeta{}})
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
	token := PrincipalOf(c).Consent
	r := bank.OrderRequest{Token: token, ConsentID: req.Data.ConsentID, Initiation: req.Data.Initiation, Risk: req.Risk, Idem: id}
	if token.ID == req.Data.ConsentID && token.Initiation != nil {
		if sc, ok := s.scenarioFor(c, token, "", bank.FormatMinor(token.Initiation.Amount), func(sc scenario.Scenario) bool {
			return sc.Payment == scenario.PaymentDuplicateReference || (sc.Payment != "" && pt == domesticPayments)
		}); ok {
			if sc.Payment == scenario.PaymentDuplicateReference {
				return bank.Errorf(bank.KindDuplicateReference, "Data.Initiation.RemittanceInformation.Reference",
					"sandbox scenario %s: the bank holds a payment with this reference already", sc.Name).WithRule("scenario." + sc.Name)
			}
			r.Outcome = sc.Payment
		}
	}
	pay, cn, err := s.bank.SubmitOrder(c.Request().Context(), r)
	if err != nil {
		return err
	}
	return s.paymentResponse(c, http.StatusCreated, pt, pay, cn)
}

// ownPayment reads a payment order of the calling client, brought up to
// the sandbox clock.
func (s *Server) ownPayment(c echo.Context, pt *paymentType) (*bank.Payment, error) {
	p, err := s.bank.Order(c.Request().Context(), PrincipalOf(c).Token.ClientID, pt.order, c.Param(pt.idName))
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
	data := map[string]any{pt.idName: p.ID, "ConsentId": p.ConsentID, "CreationDateTime": isoTime(p.CreatedAt),
		"Status": p.Status, "StatusUpdateDateTime": isoTime(p.StatusAt), "Initiation": json.RawMessage(p.Request)}
	if pt != standingOrders && p.Status != bank.PaymentRejected && p.Status != bank.OrderInitiationFailed {
		data["ExpectedExecutionDateTime"] = isoTime(p.ProcessAt)
		data["ExpectedSettlementDateTime"] = isoTime(p.SettleAt)
	}
	if cn == nil {
		var err error
		if cn, err = s.bank.ConsentOf(c.Request().Context(), p); err != nil {
			return err
		}
	}
	if d, err := s.debtor(c, cn); err != nil {
		return err
	} else if d != nil {
		data["Debtor"] = d
	}
	return c.JSON(status, map[string]any{"Data": data, "Links": obLinks{Self: s.cfg.Issuer + pisp + "/" + pt.orders + "/" + p.ID}, "Meta": obMeta{}})
}

type obPaymentStatus struct {
	PaymentTransactionID string          `json:"PaymentTransactionId"`
	Status               string          `json:"Status"`
	StatusUpdateDateTime string          `json:"StatusUpdateDateTime"`
	StatusDetail         *obStatusDetail `json:"StatusDetail,omitempty"`
}

type obStatusDetail struct {
	LocalInstrument         string `json:"LocalInstrument,omitempty"`
	Status                  string `json:"Status"`
	StatusReason            string `json:"StatusReason,omitempty"`
	StatusReasonDescription string `json:"StatusReasonDescription,omitempty"`
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
	out := make([]obPaymentStatus, 0, len(p.History))
	for _, h := range p.History {
		st := obPaymentStatus{PaymentTransactionID: txID, Status: detailStatus(pt, h.Status), StatusUpdateDateTime: isoTime(h.At)}
		if h.Reason != "" {
			st.StatusDetail = &obStatusDetail{Status: h.Status, StatusReason: "ProprietaryRejection", StatusReasonDescription: truncate(h.Reason, 256)}
		}
		out = append(out, st)
	}
	return c.JSON(http.StatusOK, map[string]any{"Data": map[string]any{"PaymentStatus": out},
		"Links": obLinks{Self: s.cfg.Issuer + c.Request().URL.Path}, "Meta": obMeta{}})
}

// Wire shapes of the scheduled and standing-order Initiations.
type obScheduled struct {
	obInitiation
	RequestedExecutionDateTime string `json:"RequestedExecutionDateTime"`
}

func futureTime(v, path string, now time.Time) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return t, bank.Errorf(bank.KindFieldInvalidDate, path, "%s must be an ISO 8601 date-time with a timezone", path)
	}
	if !t.After(now) {
		return t, bank.Errorf(bank.KindFieldInvalidDate, path, "%s must be in the future", path)
	}
	return t.UTC(), nil
}

func scheduledInitiation(raw json.RawMessage, now time.Time) (*bank.Initiation, error) {
	in, err := initiation(raw)
	if err != nil {
		return nil, err
	}
	var w obScheduled
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, bank.Errorf(bank.KindFieldInvalid, "Data.Initiation", "the Initiation cannot be read")
	}
	in.RequestedAt, err = futureTime(w.RequestedExecutionDateTime, "Data.Initiation.RequestedExecutionDateTime", now)
	return in, err
}

type obStanding struct {
	Frequency              string       `json:"Frequency"`
	Reference              string       `json:"Reference"`
	NumberOfPayments       string       `json:"NumberOfPayments"`
	FirstPaymentDateTime   string       `json:"FirstPaymentDateTime"`
	FinalPaymentDateTime   string       `json:"FinalPaymentDateTime"`
	FirstPaymentAmount     obAmount     `json:"FirstPaymentAmount"`
	RecurringPaymentAmount *obAmount    `json:"RecurringPaymentAmount"`
	FinalPaymentAmount     *obAmount    `json:"FinalPaymentAmount"`
	DebtorAccount          *obAccountID `json:"DebtorAccount"`
	CreditorAccount        obAccountID  `json:"CreditorAccount"`
}

// standingInitiation reads a standing order: its frequency, first date and
// amounts; payments stop after NumberOfPayments or FinalPaymentDateTime.
func standingInitiation(raw json.RawMessage, now time.Time) (*bank.Initiation, error) {
	const path = "Data.Initiation"
	var w obStanding
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, bank.Errorf(bank.KindFieldInvalid, path, "the Initiation cannot be read")
	}
	if _, err := bank.ParseFrequency(w.Frequency, path+".Frequency"); err != nil {
		return nil, err
	}
	in := &bank.Initiation{Frequency: w.Frequency, Reference: w.Reference, Currency: w.FirstPaymentAmount.Currency,
		Creditor: w.CreditorAccount.ref()}
	if w.DebtorAccount != nil {
		d := w.DebtorAccount.ref()
		in.Debtor = &d
	}
	var err error
	if in.FirstAt, err = futureTime(w.FirstPaymentDateTime, path+".FirstPaymentDateTime", now); err != nil {
		return nil, err
	}
	if w.FinalPaymentDateTime != "" {
		if in.FinalAt, err = futureTime(w.FinalPaymentDateTime, path+".FinalPaymentDateTime", now); err != nil {
			return nil, err
		}
		if in.FinalAt.Before(in.FirstAt) {
			return nil, bank.Errorf(bank.KindFieldInvalidDate, path+".FinalPaymentDateTime", "FinalPaymentDateTime is before FirstPaymentDateTime")
		}
	}
	if w.NumberOfPayments != "" {
		n, err := strconv.Atoi(w.NumberOfPayments)
		if err != nil || n < 1 {
			return nil, bank.Errorf(bank.KindFieldInvalid, path+".NumberOfPayments", "NumberOfPayments must be a whole number from 1")
		}
		in.Count = n
	}
	if err := bank.CheckInitiation(in, w.FirstPaymentAmount.Amount, path); err != nil {
		return nil, fixAmountPath(err, "FirstPaymentAmount")
	}
	in.Recurring, in.Final = in.Amount, 0
	for name, a := range map[string]*obAmount{"RecurringPaymentAmount": w.RecurringPaymentAmount, "FinalPaymentAmount": w.FinalPaymentAmount} {
		if a == nil {
			continue
		}
		v, err := bank.ParseMinor(a.Amount)
		if err != nil || v <= 0 {
			return nil, bank.Errorf(bank.KindFieldInvalid, path+"."+name+".Amount", "the amount must be positive with at most two decimals")
		}
		if a.Currency != in.Currency {
			return nil, bank.Errorf(bank.KindUnsupportedCurrency, path+"."+name+".Currency", "all the standing order's amounts are in %s", in.Currency)
		}
		if name == "RecurringPaymentAmount" {
			in.Recurring = v
		} else {
			in.Final = v
		}
	}
	return in, nil
}

// fixAmountPath renames the InstructedAmount path CheckInitiation reports.
func fixAmountPath(err error, field string) error {
	var be *bank.Error
	if errors.As(err, &be) {
		be.Path = strings.Replace(be.Path, "InstructedAmount", field, 1)
	}
	return err
}

// detailStatus maps an order's status to the extended payment-details
// status (v3.1.11 has only those 20 there): a waiting scheduled payment is
// Pending, an executed one AcceptedSettlementCompleted, a standing order
// set up Accepted, a failure Rejected.
func detailStatus(pt *paymentType, status string) string {
	switch status {
	case bank.OrderInitiationPending:
		return bank.PaymentPending
	case bank.OrderInitiationFailed:
		return bank.PaymentRejected
	case bank.OrderInitiationCompleted:
		if pt == standingOrders {
			return "Accepted"
		}
		return bank.PaymentCompleted
	}
	return status
}
