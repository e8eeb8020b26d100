package handlers

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/jws"
	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/store"
)

// BankOrgID is the sandbox bank's organisation id: the iss of its message
// signatures.
const BankOrgID = "0015800001SANDBOX"

const pisp = "/open-banking/v3.1/pisp"

func (s *Server) mountPIS(e *echo.Echo) {
	client := need{scope: oauth.ScopePayments}
	psu := need{scope: oauth.ScopePayments, psu: true, consent: bank.ConsentDomesticPayment}
	m := func(method, path string, n need, h echo.HandlerFunc) { s.mount(e, method, path, n, h, s.signResponse) }
	m(http.MethodPost, "/pisp/domestic-payment-consents", client, s.createDomesticPaymentConsent)
	m(http.MethodGet, "/pisp/domestic-payment-consents/{ConsentId}", client, s.getDomesticPaymentConsent)
	m(http.MethodGet, "/pisp/domestic-payment-consents/{ConsentId}/funds-confirmation", psu, s.domesticFundsConfirmation)
	m(http.MethodPost, "/pisp/domestic-payments", psu, s.createDomesticPayment)
	m(http.MethodGet, "/pisp/domestic-payments/{DomesticPaymentId}", client, s.getDomesticPayment)
	m(http.MethodGet, "/pisp/domestic-payments/{DomesticPaymentId}/payment-details", client, s.domesticPaymentDetails)
}

// signResponse signs every PIS response with a body the standard lists
// (2xx, 400, 403, 500) with the bank's key: a detached x-jws-signature.
func (s *Server) signResponse(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		res := c.Response()
		w := &capture{ResponseWriter: res.Writer, status: http.StatusOK}
		res.Writer = w
		err := next(c)
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
		if s.cfg.Profile == oauth.ProfileFAPI {
			return bank.Errorf(bank.KindSignatureMissing, "x-jws-signature", "x-jws-signature is required on payment requests")
		}
		return nil
	}
	ctx := c.Request().Context()
	cl, err := s.auth.Client(ctx, PrincipalOf(c).Token.ClientID)
	if err != nil {
		return err
	}
	issuers := []string{cl.ClientID}
	if cl.OrgID != "" && cl.SoftwareID != "" {
		issuers = append(issuers, cl.OrgID+"/"+cl.SoftwareID)
	}
	return jws.Verify(sig, raw, jws.Expect{Issuers: issuers, Now: s.clock.Wall(),
		Key: func(kid string) (any, bool) { return s.auth.SigningKey(ctx, cl, kid) }})
}

// canonical is a JSON value with whitespace and key order removed: two
// bodies are the same request when their canonical forms are equal.
func canonical(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

func sameJSON(a, b []byte) bool {
	ca, err1 := canonical(a)
	cb, err2 := canonical(b)
	return err1 == nil && err2 == nil && bytes.Equal(ca, cb)
}

// idem is the idempotency of a POST (UK OB profile, "Idempotency").
func idem(c echo.Context, op string, raw []byte) (store.Idem, error) {
	cb, err := canonical(raw)
	if err != nil {
		return store.Idem{}, bank.Errorf(bank.KindMalformed, "", "the request body is not valid JSON")
	}
	sum := sha256.Sum256(cb)
	return store.Idem{ClientID: PrincipalOf(c).Token.ClientID, Operation: op, Key: c.Request().Header.Get("x-idempotency-key"),
		BodyHash: hex.EncodeToString(sum[:])}, nil
}

func idemErr(err error) error {
	if errors.Is(err, store.ErrIdempotencyMismatch) {
		return bank.Errorf(bank.KindHeaderInvalid, "x-idempotency-key",
			"this x-idempotency-key was used in the last 24 hours with a different body; nothing was changed")
	}
	return err
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

func (s *Server) createDomesticPaymentConsent(c echo.Context) error {
	raw, err := body(c)
	if err != nil {
		return err
	}
	if err := s.verifySignature(c, raw); err != nil {
		return err
	}
	var req pisBody
	if err := json.Unmarshal(raw, &req); err != nil {
		return bank.Errorf(bank.KindMalformed, "", "the request body is not valid JSON")
	}
	in, err := initiation(req.Data.Initiation)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	stored, err := canonical(raw)
	if err != nil {
		return err
	}
	cn := &bank.Consent{ID: "pdc-" + uuid.NewString(), Kind: bank.ConsentDomesticPayment, ClientID: PrincipalOf(c).Token.ClientID,
		Status: bank.StatusAwaitingAuthorisation, CreatedAt: now, StatusAt: now, ExpiresAt: now.Add(bank.PaymentConsentLifetime),
		Initiation: in, Request: stored}
	id, err := idem(c, "domestic-payment-consents", raw)
	if err != nil {
		return err
	}
	out, _, err := s.store.CreateConsentIdempotent(c.Request().Context(), cn, id, now)
	if err != nil {
		return idemErr(err)
	}
	return s.paymentConsentResponse(c, http.StatusCreated, &out)
}

func (s *Server) getDomesticPaymentConsent(c echo.Context) error {
	cn, err := s.ownConsent(c, bank.ConsentDomesticPayment)
	if err != nil {
		return err
	}
	return s.paymentConsentResponse(c, http.StatusOK, cn)
}

// debtor is the account the PSU chose, as OBCashAccountDebtor4.
func (s *Server) debtor(c echo.Context, cn *bank.Consent) (*obCashAccount, error) {
	if cn.PSU == "" || len(cn.Accounts) == 0 || cn.Status == bank.StatusRejected {
		return nil, nil
	}
	accts, err := s.store.Accounts(c.Request().Context(), cn.PSU, cn.Accounts[:1])
	if err != nil || len(accts) == 0 {
		return nil, err
	}
	ids := accts[0].Identifiers(false)
	if len(ids) == 0 {
		return nil, nil
	}
	return cashAccount(ids[0]), nil
}

// paymentConsentResponse echoes the consent request as the TPP sent it and
// adds what the bank knows (OBWriteDomesticConsentResponse5).
func (s *Server) paymentConsentResponse(c echo.Context, status int, cn *bank.Consent) error {
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
	data["ExpectedExecutionDateTime"] = isoTime(cn.CreatedAt)
	data["ExpectedSettlementDateTime"] = isoTime(cn.CreatedAt.Add(bank.DefaultSettlementDelay))
	d, err := s.debtor(c, cn)
	if err != nil {
		return err
	}
	if d != nil {
		data["Debtor"] = d
	}
	return c.JSON(status, map[string]any{"Data": data, "Risk": req.Risk,
		"Links": obLinks{Self: s.cfg.Issuer + pisp + "/domestic-payment-consents/" + cn.ID}, "Meta": obMeta{}})
}

// boundConsent checks that a PSU token's consent is the one in the path or
// body: a token reaches only its own consent (403).
func boundConsent(c echo.Context, id string) (*bank.Consent, error) {
	p := PrincipalOf(c)
	if id != p.Consent.ID {
		return nil, bank.Errorf(bank.KindForbidden, "ConsentId", "the access token is bound to consent %s, not %s", p.Consent.ID, truncate(id, 64))
	}
	return p.Consent, nil
}

func (s *Server) domesticFundsConfirmation(c echo.Context) error {
	cn, err := boundConsent(c, c.Param("ConsentId"))
	if err != nil {
		return err
	}
	if cn.Status != bank.StatusAuthorised {
		return bank.Errorf(bank.KindConsentStatus, "", "the consent is %s, not Authorised", cn.Status)
	}
	ok, err := s.fundsAvailable(c, cn.PSU, cn.Accounts[0], cn.Initiation.Amount)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"Data": map[string]any{"FundsAvailableResult": map[string]any{
		"FundsAvailableDateTime": isoTime(s.clock.Now()), "FundsAvailable": ok}},
		"Links": obLinks{Self: s.cfg.Issuer + c.Request().URL.Path}, "Meta": obMeta{}})
}

// fundsAvailable answers from the real available balance of the account.
func (s *Server) fundsAvailable(c echo.Context, psu, accountID string, amount int64) (bool, error) {
	ctx := c.Request().Context()
	if _, err := s.store.Settle(ctx, s.clock.Now()); err != nil {
		return false, err
	}
	accts, err := s.store.Accounts(ctx, psu, []string{accountID})
	if err != nil {
		return false, err
	}
	if len(accts) == 0 {
		return false, bank.Errorf(bank.KindNotFound, "", "the debtor account is gone")
	}
	st, err := s.store.Ledgers(ctx, accts, s.clock.Now())
	if err != nil {
		return false, err
	}
	ok, _ := bank.Accept(accts[0], st[accts[0].Ref], amount)
	return ok, nil
}

func (s *Server) createDomesticPayment(c echo.Context) error {
	raw, err := body(c)
	if err != nil {
		return err
	}
	if err := s.verifySignature(c, raw); err != nil {
		return err
	}
	var req pisBody
	if err := json.Unmarshal(raw, &req); err != nil {
		return bank.Errorf(bank.KindMalformed, "", "the request body is not valid JSON")
	}
	cn, err := boundConsent(c, req.Data.ConsentID)
	if err != nil {
		return err
	}
	var consent pisBody
	if err := json.Unmarshal(cn.Request, &consent); err != nil {
		return err
	}
	if !sameJSON(req.Data.Initiation, consent.Data.Initiation) {
		return bank.Errorf(bank.KindConsentMismatch, "Data.Initiation", "the Initiation differs from the consent's")
	}
	if !sameJSON(req.Risk, consent.Risk) {
		return bank.Errorf(bank.KindConsentMismatch, "Risk", "the Risk differs from the consent's")
	}
	id, err := idem(c, "domestic-payments", raw)
	if err != nil {
		return err
	}
	initiationJSON, _ := canonical(req.Data.Initiation)
	now := s.clock.Now()
	in := cn.Initiation
	o := store.Order{
		Payment: bank.Payment{ID: "dp-" + uuid.NewString(), Kind: "domestic", ConsentID: cn.ID, ClientID: cn.ClientID,
			Amount: in.Amount, Currency: in.Currency, Request: initiationJSON,
			ProcessAt: now.Add(s.inProcessAfter()), SettleAt: now.Add(s.settlementDelay())},
		Debtor: cn.Accounts[0], Creditor: in.Creditor, Reference: in.Reference,
		Check: func(c *bank.Consent) error {
			if c.Status != bank.StatusAuthorised {
				return bank.Errorf(bank.KindConsentStatus, "", "the consent is %s, not Authorised", c.Status)
			}
			if !now.Before(c.ExpiresAt) {
				return bank.Errorf(bank.KindAfterCutOff, "", "the consent's CutOffDateTime %s has passed", isoTime(c.ExpiresAt))
			}
			return nil
		},
	}
	pay, _, err := s.store.Submit(c.Request().Context(), o, id, now)
	if err != nil {
		return idemErr(err)
	}
	return s.paymentResponse(c, http.StatusCreated, &pay)
}

func (s *Server) settlementDelay() time.Duration {
	if s.cfg.SettlementDelay > 0 {
		return s.cfg.SettlementDelay
	}
	return bank.DefaultSettlementDelay
}

func (s *Server) inProcessAfter() time.Duration { return s.settlementDelay() / 2 }

// ownPayment reads a payment of the calling client, settled up to now.
func (s *Server) ownPayment(c echo.Context) (*bank.Payment, error) {
	ctx := c.Request().Context()
	if _, err := s.store.Settle(ctx, s.clock.Now()); err != nil {
		return nil, err
	}
	id := c.Param("DomesticPaymentId")
	p, err := s.store.Payment(ctx, id)
	if errors.Is(err, bank.ErrNotFound) {
		return nil, bank.Errorf(bank.KindNotFound, "DomesticPaymentId", "no payment %s", truncate(id, 64))
	}
	if err != nil {
		return nil, err
	}
	if p.ClientID != PrincipalOf(c).Token.ClientID {
		return nil, bank.Errorf(bank.KindForbidden, "DomesticPaymentId", "payment %s belongs to another client", p.ID)
	}
	return &p, nil
}

func (s *Server) getDomesticPayment(c echo.Context) error {
	p, err := s.ownPayment(c)
	if err != nil {
		return err
	}
	return s.paymentResponse(c, http.StatusOK, p)
}

// paymentResponse is OBWriteDomesticResponse5.
func (s *Server) paymentResponse(c echo.Context, status int, p *bank.Payment) error {
	data := map[string]any{"DomesticPaymentId": p.ID, "ConsentId": p.ConsentID, "CreationDateTime": isoTime(p.CreatedAt),
		"Status": p.Status, "StatusUpdateDateTime": isoTime(p.StatusAt), "Initiation": json.RawMessage(p.Request)}
	if p.Status != bank.PaymentRejected {
		data["ExpectedExecutionDateTime"] = isoTime(p.CreatedAt)
		data["ExpectedSettlementDateTime"] = isoTime(p.SettleAt)
	}
	cn, err := s.store.Consent(c.Request().Context(), p.ConsentID)
	if err != nil {
		return err
	}
	if d, err := s.debtor(c, &cn); err != nil {
		return err
	} else if d != nil {
		data["Debtor"] = d
	}
	return c.JSON(status, map[string]any{"Data": data, "Links": obLinks{Self: s.cfg.Issuer + pisp + "/domestic-payments/" + p.ID}, "Meta": obMeta{}})
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

// domesticPaymentDetails is the payment's status history
// (OBWritePaymentDetailsResponse1).
func (s *Server) domesticPaymentDetails(c echo.Context) error {
	p, err := s.ownPayment(c)
	if err != nil {
		return err
	}
	txID := p.Transaction
	if txID == "" {
		txID = p.ID
	}
	out := make([]obPaymentStatus, 0, len(p.History))
	for _, h := range p.History {
		st := obPaymentStatus{PaymentTransactionID: txID, Status: h.Status, StatusUpdateDateTime: isoTime(h.At)}
		if h.Reason != "" {
			st.StatusDetail = &obStatusDetail{Status: h.Status, StatusReason: "ProprietaryRejection", StatusReasonDescription: truncate(h.Reason, 256)}
		}
		out = append(out, st)
	}
	return c.JSON(http.StatusOK, map[string]any{"Data": map[string]any{"PaymentStatus": out},
		"Links": obLinks{Self: s.cfg.Issuer + c.Request().URL.Path}, "Meta": obMeta{}})
}
