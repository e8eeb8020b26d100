package bank

import (
	"bytes"
	"slices"
	"time"
)

// Consent kinds: which API a consent belongs to.
const (
	ConsentAccountAccess     = "account-access"
	ConsentDomesticPayment   = "domestic-payment"
	ConsentDomesticScheduled = "domestic-scheduled-payment"
	ConsentDomesticStanding  = "domestic-standing-order"
	ConsentFundsConfirmation = "funds-confirmation"
)

// Consent statuses (v3.1.11 words); StatusRejected is shared with transactions.
const (
	StatusAwaitingAuthorisation = "AwaitingAuthorisation"
	StatusAuthorised            = "Authorised"
	StatusRevoked               = "Revoked"
	StatusConsumed              = "Consumed"
)

// Consent is an intent a TPP created and a PSU may authorise.
type Consent struct {
	ID          string
	Ref         int64 // the store's row id
	Kind        string
	ClientID    string
	Status      string
	PSU         string // set when the PSU authorises (or rejects) it
	CreatedAt   time.Time
	StatusAt    time.Time
	ExpiresAt   time.Time // zero: open-ended
	TxFrom      time.Time // zero: unbounded
	TxTo        time.Time // zero: unbounded
	Permissions Permissions
	Accounts    []string    // AccountIds the PSU selected
	Request     []byte      // the consent request as kept (JSON)
	Initiation  *Initiation // payment consents: the payment the PSU authorises
	Deleted     bool        // deleted by the TPP
	PSURevoked  bool        // access revoked by the PSU at the bank
	Scenario    string      // the scenario it was created under (internal/scenario); "" for none
	Version     string      // the API version it was created through (VersionUK31, VersionUK40)
}

// Clone is a copy of the consent sharing nothing with it (what a store
// remembers is handed out as clones).
func (c Consent) Clone() Consent {
	c.Accounts = slices.Clone(c.Accounts)
	c.Request = bytes.Clone(c.Request)
	if c.Initiation != nil {
		in := *c.Initiation
		if in.Debtor != nil {
			d := *in.Debtor
			in.Debtor = &d
		}
		if in.FX != nil {
			q := *in.FX
			in.FX = &q
		}
		if in.Controls != nil {
			v := *in.Controls
			v.Periodic, v.Types = slices.Clone(v.Periodic), slices.Clone(v.Types)
			v.AuthMethods, v.Interactions = slices.Clone(v.AuthMethods), slices.Clone(v.Interactions)
			in.Controls = &v
		}
		c.Initiation = &in
	}
	return c
}

// Expired reports whether the consent is past its ExpirationDateTime at now.
func (c *Consent) Expired(now time.Time) bool {
	return !c.ExpiresAt.IsZero() && !now.Before(c.ExpiresAt)
}

// Usable reports whether tokens bound to the consent may be used at now: it
// is Authorised (or, for a payment consent, Consumed: its token still reads
// and replays the payment it made), not deleted, not revoked by the PSU and
// not expired.
func (c *Consent) Usable(now time.Time) bool {
	if c.Initiates() {
		// A payment consent's ExpiresAt is its CutOffDateTime, a VRP
		// consent's its ValidToDateTime: after it the token still reaches
		// the consent, which then refuses the payment with the reason
		// (UK.OBIE.Rules.AfterCutOffDateTime, FailsControlParameters).
		return (c.Status == StatusAuthorised || c.Status == StatusConsumed) && !c.Deleted && !c.PSURevoked
	}
	return c.Status == StatusAuthorised && !c.Deleted && !c.PSURevoked && !c.Expired(now)
}

// IsPayment reports whether the consent initiates payments.
func (c *Consent) IsPayment() bool {
	switch c.Kind {
	case ConsentDomesticPayment, ConsentDomesticScheduled, ConsentDomesticStanding, ConsentBGPayment, ConsentBGBasket,
		ConsentInternationalPayment, ConsentInternationalScheduled, ConsentInternationalStanding, ConsentFilePayment:
		return true
	}
	return false
}
