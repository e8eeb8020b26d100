package ukob

import (
	"encoding/json"
	"time"

	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/internal/bank"
)

// Wire is one version of the standard's shapes: the handlers, written once,
// parse requests and render answers through it. Each version's package
// (wire31, wire40) implements it; what does not differ between versions lives in
// obwire.
type Wire interface {
	// Version is the bank's name of the version (bank.VersionUK31, ...);
	// Base is the path its API is served under.
	Version() string
	Base() string
	// Envelope renders errors in the version's OBErrorResponse1.
	Envelope() httpx.ErrorRenderer

	// Account information: one item of each list, in the detail the
	// consent's permissions allow.
	Account(a bank.Account, p bank.Permissions) any
	Balance(b bank.Balance) any
	Transaction(t *bank.Transaction, detail bool) any
	Beneficiary(b bank.Beneficiary, detail bool) any
	DirectDebit(d bank.DirectDebit) any
	StandingOrder(o bank.StandingOrder, detail bool) any
	ScheduledPayment(p bank.ScheduledPayment, detail bool) any
	Statement(s bank.Statement, detail bool) any
	Party(p bank.Party) any
	Product(p bank.Product) any
	Offer(o bank.Offer) any

	// ConsentStatus is a consent's Status as the version words it at now.
	ConsentStatus(c *bank.Consent, now time.Time) string

	// Initiation reads a payment consent's Data.Initiation for a consent
	// kind, checking it against the bank's rules at now.
	Initiation(kind string, raw json.RawMessage, now time.Time) (*bank.Initiation, error)
	// OrderStatus is a payment order's Status as the version words it.
	OrderStatus(kind, status string) string
	// PaymentDetail is one step of a payment order's history
	// (payment-details' PaymentStatus item).
	PaymentDetail(kind, transactionID string, h bank.StatusChange) any

	// Variable recurring payments. VRPConsent reads a VRP consent
	// request's Data (Initiation and ControlParameters) at now;
	// VRPInstruction a VRP's Data.Instruction. VRPMember shows a member
	// of a VRP consent or payment as kept ("Initiation", "Instruction",
	// "Risk") in the version's shape: a consent made through an earlier
	// version is used through a later one. VRPStatusReason is what a
	// rejected VRP's Data says of the reason.
	VRPConsent(data json.RawMessage, now time.Time) (*bank.Initiation, error)
	VRPInstruction(raw json.RawMessage) (*bank.Initiation, error)
	VRPMember(name string, raw json.RawMessage) json.RawMessage
	VRPStatusReason(reason string) map[string]any
}
