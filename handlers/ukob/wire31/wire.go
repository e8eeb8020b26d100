// Package wire31 is UK Open Banking Read/Write v3.1.11's wire format: its
// account-information shapes, its payment Initiations, its status words and
// its OBErrorResponse1 with UK.OBIE.* codes.
package wire31

import (
	"encoding/json"
	"time"

	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/handlers/ukob/obwire"
	"github.com/obsandbox/sandbox/internal/bank"
)

// Base is where v3.1.11 is served.
const Base = "/open-banking/v3.1"

// Wire is v3.1.11's shapes (it implements ukob.Wire).
type Wire struct{}

func (Wire) Version() string                                { return bank.VersionUK31 }
func (Wire) Base() string                                   { return Base }
func (Wire) Envelope() httpx.ErrorRenderer                  { return Errors }
func (Wire) Account(a bank.Account, p bank.Permissions) any { return ToAccount(a, p) }
func (Wire) Balance(b bank.Balance) any                     { return ToBalance(b) }
func (Wire) Transaction(t *bank.Transaction, detail bool) any {
	return ToTransaction(t, detail)
}
func (Wire) Beneficiary(b bank.Beneficiary, detail bool) any { return ToBeneficiary(b, detail) }
func (Wire) DirectDebit(d bank.DirectDebit) any              { return ToDirectDebit(d) }
func (Wire) StandingOrder(o bank.StandingOrder, detail bool) any {
	return ToStandingOrder(o, detail)
}
func (Wire) ScheduledPayment(p bank.ScheduledPayment, detail bool) any {
	return ToScheduledPayment(p, detail)
}
func (Wire) Statement(s bank.Statement, detail bool) any { return ToStatement(s, detail) }
func (Wire) Party(p bank.Party) any                      { return ToParty(p) }
func (Wire) Product(p bank.Product) any                  { return ToProduct(p) }
func (Wire) Offer(o bank.Offer) any                      { return ToOffer(o) }

// ConsentStatus is the consent's own status: v3.1.11 has no expired status,
// and a consent the PSU revoked keeps its status (the standard's rule).
func (Wire) ConsentStatus(c *bank.Consent, _ time.Time) string { return c.Status }

// Initiation reads a domestic or international, scheduled or standing-order
// Initiation.
func (Wire) Initiation(kind string, raw json.RawMessage, now time.Time) (*bank.Initiation, error) {
	switch kind {
	case bank.ConsentInternationalPayment, bank.ConsentInternationalScheduled:
		return international(kind, raw, now)
	case bank.ConsentInternationalStanding:
		return intlStanding(raw, now)
	case bank.ConsentFilePayment:
		return obwire.ReadFileInitiation(raw, bank.FileTypeJSON31, now)
	}
	if kind == bank.ConsentDomesticStanding {
		o, err := standing(raw)
		if err != nil {
			return nil, err
		}
		return o.Initiation(now)
	}
	_, p, err := payment(raw)
	if err != nil {
		return nil, err
	}
	if kind == bank.ConsentDomesticScheduled {
		var w obScheduled
		if err := json.Unmarshal(raw, &w); err != nil {
			return nil, bank.Errorf(bank.KindFieldInvalid, "Data.Initiation", "the Initiation cannot be read")
		}
		return p.Scheduled(w.RequestedExecutionDateTime, "Data.Initiation.RequestedExecutionDateTime", now)
	}
	return p.Initiation("Data.Initiation")
}

// OrderStatus: v3.1.11's words are the bank's.
func (Wire) OrderStatus(_, status string) string { return status }

// PaymentDetail is an OBWritePaymentDetails1 item: the extended status
// (v3.1.11 has only those 20 there), a rejection's reason as a
// proprietary one.
func (Wire) PaymentDetail(kind, txID string, h bank.StatusChange) any {
	st := obPaymentStatus{PaymentTransactionID: txID, Status: detailStatus(kind, h.Status), StatusUpdateDateTime: obwire.ISOTime(h.At)}
	if h.Reason != "" {
		n := 256
		if kind == bank.OrderVRP {
			n = 128 // OBDomesticVRPDetails allows less
		}
		st.StatusDetail = &obStatusDetail{Status: h.Status, StatusReason: "ProprietaryRejection", StatusReasonDescription: httpx.Truncate(h.Reason, n)}
	}
	return st
}
