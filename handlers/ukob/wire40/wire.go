// Package wire40 is UK Open Banking Read/Write v4.0's wire format over the
// same bank as v3.1.11: ISO 20022 status codes (AWAU, AUTH, PDNG, ACSC,
// BOOK, ITAV, ...), AccountCategory and AccountTypeCode, mandate-related
// information on direct debits and standing orders, structured remittance
// information, and OBErrorResponse1 with U0xx codes. Where v4.0 keeps
// v3.1.11's shape, it renders through package wire31 and changes only what
// differs.
package wire40

import (
	"encoding/json"
	"time"

	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/handlers/ukob/wire31"
	"github.com/obsandbox/sandbox/internal/bank"
)

// Base is where v4.0 is served.
const Base = "/open-banking/v4.0"

// Wire is v4.0's shapes (it implements ukob.Wire).
type Wire struct{}

func (Wire) Version() string               { return bank.VersionUK40 }
func (Wire) Base() string                  { return Base }
func (Wire) Envelope() httpx.ErrorRenderer { return Errors }

func (Wire) Account(a bank.Account, p bank.Permissions) any { return toAccount(a, p) }
func (Wire) Balance(b bank.Balance) any                     { return toBalance(b) }
func (Wire) Transaction(t *bank.Transaction, detail bool) any {
	return toTransaction(t, detail)
}
func (Wire) Beneficiary(b bank.Beneficiary, detail bool) any { return wire31.ToBeneficiary(b, detail) }
func (Wire) DirectDebit(d bank.DirectDebit) any              { return toDirectDebit(d) }
func (Wire) StandingOrder(o bank.StandingOrder, detail bool) any {
	return toStandingOrder(o, detail)
}
func (Wire) ScheduledPayment(p bank.ScheduledPayment, detail bool) any {
	return wire31.ToScheduledPayment(p, detail)
}
func (Wire) Statement(s bank.Statement, detail bool) any { return wire31.ToStatement(s, detail) }
func (Wire) Party(p bank.Party) any                      { return toParty(p) }
func (Wire) Product(p bank.Product) any                  { return wire31.ToProduct(p) }
func (Wire) Offer(o bank.Offer) any                      { return wire31.ToOffer(o) }

// Consent statuses: account-access and funds-confirmation consents
// (AWAU, AUTH, RJCT, EXPD, CANC) and payment consents (AWAU, AUTH, COND,
// RJCT).
var consentStatus = map[string]string{
	bank.StatusAwaitingAuthorisation: "AWAU",
	bank.StatusAuthorised:            "AUTH",
	bank.StatusRejected:              "RJCT",
	bank.StatusRevoked:               "CANC",
	bank.StatusConsumed:              "COND",
	bank.StatusAwaitingUpload:        "AWUP",
}

// ConsentStatus words a consent's state as v4.0 does: a long-lived consent
// past its ExpirationDateTime is EXPD, one the PSU revoked at the bank CANC
// ("cancelled at the ASPSP by the PSU", OB_Internal_Codeset).
func (Wire) ConsentStatus(c *bank.Consent, now time.Time) string {
	if !c.IsPayment() && c.Status == bank.StatusAuthorised {
		switch {
		case c.PSURevoked:
			return "CANC"
		case c.Expired(now):
			return "EXPD"
		}
	}
	return consentStatus[c.Status]
}

// Order statuses by kind of order (OBWriteDomesticResponse5 and siblings).
var orderStatus = map[string]map[string]string{
	bank.OrderDomestic: {bank.PaymentPending: "PDNG", bank.PaymentInProcess: "ACSP", bank.PaymentCompleted: "ACSC",
		bank.PaymentRejected: "RJCT"},
	bank.OrderScheduled: {bank.OrderInitiationPending: "PDNG", bank.OrderInitiationCompleted: "ACSC",
		bank.OrderInitiationFailed: "RJCT", "Cancelled": "CANC"},
	bank.OrderStanding: {bank.OrderInitiationPending: "PDNG", bank.OrderInitiationCompleted: "INCO",
		bank.OrderInitiationFailed: "INFA", "Cancelled": "CANC"},
	bank.OrderVRP: {bank.PaymentPending: "PDNG", bank.PaymentInProcess: "ACSP", bank.PaymentCompleted: "ACSC",
		bank.PaymentRejected: "RJCT"},
}

func init() {
	// International orders take the words of their domestic siblings.
	orderStatus[bank.OrderInternational] = orderStatus[bank.OrderDomestic]
	orderStatus[bank.OrderInternationalScheduled] = orderStatus[bank.OrderScheduled]
	orderStatus[bank.OrderInternationalStanding] = orderStatus[bank.OrderStanding]
	detailStatus[bank.OrderInternational] = detailStatus[bank.OrderDomestic]
	detailStatus[bank.OrderInternationalScheduled] = detailStatus[bank.OrderScheduled]
	detailStatus[bank.OrderInternationalStanding] = detailStatus[bank.OrderStanding]
	orderStatus[bank.OrderFile] = map[string]string{bank.OrderInitiationPending: "PDNG", bank.OrderInitiationCompleted: "INCO",
		bank.OrderInitiationFailed: "INFA"}
	detailStatus[bank.OrderFile] = detailStatus[bank.OrderScheduled]
}

func (Wire) OrderStatus(kind, status string) string {
	if s, ok := orderStatus[kind][status]; ok {
		return s
	}
	return status
}

// Payment-details statuses (the 12 codes OBWritePaymentDetails1 takes): a
// standing order set up is ACCP (accepted, customer profile), an executed
// scheduled payment ACSC.
var detailStatus = map[string]map[string]string{
	bank.OrderDomestic: orderStatus[bank.OrderDomestic],
	bank.OrderVRP:      orderStatus[bank.OrderVRP],
	bank.OrderScheduled: {bank.OrderInitiationPending: "PDNG", bank.OrderInitiationCompleted: "ACSC",
		bank.OrderInitiationFailed: "RJCT", bank.PaymentRejected: "RJCT"},
	bank.OrderStanding: {bank.OrderInitiationPending: "PDNG", bank.OrderInitiationCompleted: "ACCP",
		bank.OrderInitiationFailed: "RJCT", bank.PaymentRejected: "RJCT"},
}

type paymentStatus struct {
	PaymentTransactionID string        `json:"PaymentTransactionId"`
	Status               string        `json:"Status"`
	StatusUpdateDateTime string        `json:"StatusUpdateDateTime"`
	StatusDetail         *statusDetail `json:"StatusDetail,omitempty"`
}

type statusDetail struct {
	Status                  string `json:"Status"`
	StatusReason            string `json:"StatusReason,omitempty"`
	StatusReasonDescription string `json:"StatusReasonDescription,omitempty"`
}

// PaymentDetail is an OBWritePaymentDetails1 item; a rejection's reason is
// the ISO 20022 code when the bank knows one (AM04, insufficient funds),
// else NARR with the bank's words.
func (Wire) PaymentDetail(kind, txID string, h bank.StatusChange) any {
	code := detailStatus[kind][h.Status]
	if code == "" {
		code = "PDNG"
	}
	st := paymentStatus{PaymentTransactionID: txID, Status: code, StatusUpdateDateTime: obwireTime(h.At)}
	if h.Reason != "" {
		reason := "NARR"
		if h.Reason == bank.RejectInsufficientFunds {
			reason = "AM04"
		}
		st.StatusDetail = &statusDetail{Status: code, StatusReason: reason, StatusReasonDescription: httpx.Truncate(h.Reason, 256)}
	}
	return st
}

// Initiation reads a v4.0 domestic, scheduled or standing-order Initiation.
func (Wire) Initiation(kind string, raw json.RawMessage, now time.Time) (*bank.Initiation, error) {
	return initiation(kind, raw, now)
}
