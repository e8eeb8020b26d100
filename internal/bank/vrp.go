package bank

import (
	"context"
	"encoding/json"
	"slices"
	"time"
)

// Variable recurring payments (UK OB VRP profile): a long-lived consent
// (a mandate) whose control parameters bound the payments the TPP then
// makes without the PSU, each one counted against them.
const (
	ConsentDomesticVRP = "domestic-vrp" // consent kind
	OrderVRP           = "domestic-vrp" // payment order kind
)

// VRPStore is what variable recurring payments need kept beyond payments.
type VRPStore interface {
	AccountsOfPSU(ctx context.Context, psu string) ([]Account, error)
	PaymentsOfConsent(ctx context.Context, consentID string) ([]Payment, error)
	// AmendConsent changes a consent's request, reading and version once
	// per idempotency key, in one transaction with the check f makes of
	// the consent as it is then; a replay returns the consent as it is now.
	AmendConsent(ctx context.Context, consentID string, id Idem, now time.Time, f func(*Consent) error) (Consent, bool, error)
}

// IsVRP reports whether the consent is a VRP mandate.
func (c *Consent) IsVRP() bool { return c.Kind == ConsentDomesticVRP }

// Initiates reports whether the consent makes payments: a payment consent
// or a VRP mandate.
func (c *Consent) Initiates() bool { return c.IsPayment() || c.IsVRP() }

// Controls are a VRP consent's control parameters (nil for other kinds).
func (c *Consent) Controls() *VRPControls {
	if c.Initiation == nil {
		return nil
	}
	return c.Initiation.Controls
}

// VRPOrder is a variable recurring payment a TPP submits with the PSU's
// token: Data.Initiation and Risk as in the consent, Data.Instruction the
// payment itself.
type VRPOrder struct {
	Token     *Consent // the consent the token is bound to
	ConsentID string   // the ConsentId the payment names
	// Initiation and Risk as sent; Shown gives the consent's as the
	// request's version shows them (a v3.1 consent used through v4.0 is
	// shown in v4.0's shape): they must be equal as JSON.
	Initiation, Risk []byte
	Shown            func(c *Consent) (initiation, risk []byte, err error)
	// Instruction as sent, and the bank's reading of it.
	Instruction []byte
	Payment     *Initiation
	// Data.VRPType, Data.PSUAuthenticationMethod, Data.PSUInteractionType
	// ("" for OffSession).
	Type, AuthMethod, Interaction string
	Idem                          Idem
	Outcome                       string // a scenario's forced outcome ("" for none)
}

// SubmitVRP makes a variable recurring payment under an authorised VRP
// consent, once per idempotency key. The payment must match the consent
// (Initiation, Risk, the creditor and reference it names) and fit its
// control parameters: the type, authentication method and interaction the
// consent allows, a sweep to another account of the same PSU, and — in
// one store transaction with the debit, so that concurrent payments cannot
// overspend — the validity, MaximumIndividualAmount and every periodic
// limit, counting the consent's earlier payments that were not rejected.
// A refusal moves nothing; insufficient funds is a Rejected payment. It
// returns the consent the payment was checked against (nil for a replay).
func (b *Bank) SubmitVRP(ctx context.Context, r VRPOrder) (*Payment, *Consent, error) {
	now := b.now()
	if id, found, err := b.store.Replay(ctx, r.Idem, now); err != nil {
		return nil, nil, idemErr(err)
	} else if found {
		p, err := b.store.Payment(ctx, id)
		return &p, nil, err
	}
	c, err := Bound(r.Token, r.ConsentID)
	if err != nil {
		return nil, nil, err
	}
	ctl := c.Controls()
	if ctl == nil {
		return nil, nil, Errorf(KindConsentStatus, "ConsentId", "consent %s is not a VRP consent", c.ID)
	}
	in, risk, err := r.Shown(c)
	if err != nil {
		return nil, nil, err
	}
	if !SameJSON(r.Initiation, in) {
		return nil, nil, Errorf(KindConsentMismatch, "Data.Initiation", "the Initiation differs from the consent's")
	}
	if !SameJSON(r.Risk, risk) {
		return nil, nil, Errorf(KindConsentMismatch, "Risk", "the Risk differs from the consent's")
	}
	pay, ci := r.Payment, c.Initiation
	if ci.Creditor.Scheme != "" && (pay.Creditor.Scheme != ci.Creditor.Scheme || pay.Creditor.Identification != ci.Creditor.Identification) {
		return nil, nil, Errorf(KindConsentMismatch, "Data.Instruction.CreditorAccount", "the consent pays %s only", ci.Creditor.Identification)
	}
	if ci.Reference != "" && pay.Reference != ci.Reference {
		return nil, nil, Errorf(KindConsentMismatch, "Data.Instruction.RemittanceInformation", "the reference must be the consent's, %q", ci.Reference)
	}
	interaction := r.Interaction
	if interaction == "" {
		interaction = VRPOffSession
	}
	switch {
	case !slices.Contains(ctl.Types, r.Type):
		return nil, nil, Errorf(KindFailsControlParameters, limitPath+"VRPType", "the consent allows %v payments, not %s", ctl.Types, r.Type)
	case !slices.Contains(ctl.AuthMethods, r.AuthMethod):
		return nil, nil, Errorf(KindFailsControlParameters, limitPath+"PSUAuthenticationMethods", "the consent allows %v, not %s", ctl.AuthMethods, r.AuthMethod)
	case !slices.Contains(ctl.InteractionTypes(), interaction):
		return nil, nil, Errorf(KindFailsControlParameters, limitPath+"PSUInteractionTypes", "the consent allows %v payments, not %s", ctl.InteractionTypes(), interaction)
	}
	if r.Type == VRPTypeSweeping {
		if err := b.sweep(ctx, c, pay.Creditor); err != nil {
			return nil, nil, err
		}
	}
	instruction, err := Canonical(r.Instruction)
	if err != nil {
		return nil, nil, Errorf(KindMalformed, "Data.Instruction", "the Instruction is not valid JSON")
	}
	initiation, _ := Canonical(r.Initiation)
	request, err := json.Marshal(map[string]json.RawMessage{"Initiation": initiation, "Instruction": instruction})
	if err != nil {
		return nil, nil, err
	}
	o := Order{
		Payment: Payment{ID: "vrp-" + b.newID(), Kind: OrderVRP, ConsentID: c.ID, ClientID: c.ClientID,
			Amount: pay.Amount, Currency: pay.Currency, Request: request,
			ProcessAt: now.Add(b.InProcessAfter()), SettleAt: now.Add(b.settlement)},
		Debtor: c.Accounts[0], Creditor: pay.Creditor, Reference: pay.Reference, Outcome: r.Outcome,
		Check: func(c *Consent) error {
			if c.Status != StatusAuthorised || c.Deleted || c.PSURevoked {
				return Errorf(KindConsentStatus, "", "the consent is %s, not Authorised", statusWord(c))
			}
			return nil
		},
		Limits: func(c *Consent, made []Payment) error {
			return c.Controls().Allow(c.CreatedAt, made, pay.Amount, now)
		},
	}
	p, _, err := b.store.Submit(ctx, o, r.Idem, now)
	if err != nil {
		return nil, nil, idemErr(err)
	}
	return &p, c, nil
}

func statusWord(c *Consent) string {
	switch {
	case c.Deleted:
		return "deleted"
	case c.PSURevoked:
		return "revoked by the PSU"
	}
	return c.Status
}

// sweep checks a sweeping payment's creditor: another account of the
// consent's PSU at this bank (sweeping moves money between a PSU's own
// accounts).
func (b *Bank) sweep(ctx context.Context, c *Consent, to AccountRef) error {
	accts, err := b.store.AccountsOfPSU(ctx, c.PSU)
	if err != nil {
		return err
	}
	for _, a := range accts {
		if a.Matches(to) && a.ID != c.Accounts[0] {
			return nil
		}
	}
	return Errorf(KindFailsControlParameters, limitPath+"VRPType",
		"a sweeping payment goes to another account of the same PSU; %s is not one of %s's accounts", to.Identification, c.PSU)
}

// SweepsTo reports whether a consent's named creditor can take a sweep
// from the PSU's accounts: it is another of them. A consent that allows
// other payments, or names no creditor, can always be authorised.
func SweepsTo(c *Consent, accts []Account) bool {
	ctl := c.Controls()
	if ctl == nil || !ctl.SweepingOnly() || c.Initiation.Creditor.Scheme == "" {
		return true
	}
	return slices.ContainsFunc(accts, func(a Account) bool { return a.Matches(c.Initiation.Creditor) })
}

// VRPLimits is where a VRP consent stands at now: each periodic limit's
// period and what its payments used of it.
func (b *Bank) VRPLimits(ctx context.Context, c *Consent) ([]LimitUse, error) {
	ctl := c.Controls()
	if ctl == nil {
		return nil, Errorf(KindConsentStatus, "ConsentId", "consent %s is not a VRP consent", c.ID)
	}
	if err := b.CatchUp(ctx); err != nil {
		return nil, err
	}
	made, err := b.store.PaymentsOfConsent(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	return ctl.Uses(c.CreatedAt, made, b.now()), nil
}

// VRPFundsCheck is a VRP consent's funds confirmation: whether its debtor
// account can pay an amount now, from its real available balance (no,
// when a scenario says the funds are insufficient). The ConsentId of the
// path and of the body are the token's; the consent is Authorised; the
// amount is in its currency. It is not kept: a TPP asks before each
// payment, with the consent's reference each time.
func (b *Bank) VRPFundsCheck(ctx context.Context, token *Consent, pathID, bodyID, amount, currency string, insufficient bool) (FundsConfirmation, error) {
	c, err := Bound(token, pathID)
	if err != nil {
		return FundsConfirmation{}, err
	}
	if bodyID != c.ID {
		return FundsConfirmation{}, Errorf(KindFieldInvalid, "Data.ConsentId", "Data.ConsentId must be the consent of the path, %s", c.ID)
	}
	if c.Status != StatusAuthorised {
		return FundsConfirmation{}, Errorf(KindConsentStatus, "", "the consent is %s, not Authorised", c.Status)
	}
	v, err := ParseMinor(amount)
	if err != nil || v <= 0 {
		return FundsConfirmation{}, Errorf(KindFieldInvalid, "Data.InstructedAmount.Amount", "the amount must be positive with at most two decimals")
	}
	if ctl := c.Controls(); ctl != nil && currency != ctl.Currency {
		return FundsConfirmation{}, Errorf(KindUnsupportedCurrency, "Data.InstructedAmount.Currency", "the consent is in %s, not %s", ctl.Currency, currency)
	}
	ok := false
	if !insufficient {
		if ok, err = b.FundsAvailable(ctx, c, c.Accounts[0], v); err != nil {
			return FundsConfirmation{}, err
		}
	}
	return FundsConfirmation{ID: "vfc-" + b.newID(), ConsentID: c.ID, Amount: v, Currency: currency, Available: ok, CreatedAt: b.now()}, nil
}

// VRPAmendment is a v4.0 PUT or PATCH of a VRP consent: the whole consent
// request as it is to be kept, for a version migration.
type VRPAmendment struct {
	ClientID, Version, ConsentID string
	Idem                         Idem
	Request                      []byte // the new request (canonical JSON)
	// Parse reads the new request's Initiation and ControlParameters.
	Parse func(now time.Time) (*Initiation, error)
}

// AmendVRPConsent re-expresses a VRP consent in a version's shape (the
// standard's PUT and PATCH, "only to be used for version migrations"),
// once per idempotency key. What the PSU authorised cannot change without
// the PSU: the bank's reading of the new request — creditor, reference,
// control parameters — must be the consent's (the debtor may be left
// out); anything else (the Risk, SupplementaryData, v4.0-only members) is
// the TPP's to restate. The consent then belongs to the amending version:
// a v3.1 consent amended through v4.0 is a v4.0 consent, no longer used
// through v3.1. A rejected or revoked consent is not amended.
func (b *Bank) AmendVRPConsent(ctx context.Context, r VRPAmendment) (*Consent, error) {
	now := b.now()
	if _, found, err := b.store.Replay(ctx, r.Idem, now); err != nil {
		return nil, idemErr(err)
	} else if !found {
		if _, err := b.OwnConsent(ctx, r.ClientID, ConsentDomesticVRP, r.Version, r.ConsentID); err != nil {
			return nil, err
		}
	}
	in, err := r.Parse(now)
	if err != nil {
		return nil, err
	}
	c, _, err := b.store.AmendConsent(ctx, r.ConsentID, r.Idem, now, func(c *Consent) error {
		switch {
		case c.Deleted || c.PSURevoked || c.Status == StatusRejected:
			return Errorf(KindConsentStatus, "", "the consent is %s and cannot be amended", statusWord(c))
		case c.ClientID != r.ClientID:
			return Errorf(KindForbidden, "ConsentId", "consent %s belongs to another client", c.ID).WithRule(RuleForeignObject)
		}
		if err := sameAuthority(c.Initiation, in); err != nil {
			return err
		}
		if in.Debtor == nil {
			in.Debtor = c.Initiation.Debtor
		}
		c.Initiation, c.Request, c.Version = in, r.Request, r.Version
		return nil
	})
	if err != nil {
		return nil, idemErr(err)
	}
	return &c, nil
}

// sameAuthority reports how an amended VRP consent would authorise
// something the PSU did not: other control parameters, another creditor,
// reference or debtor.
func sameAuthority(was, now *Initiation) error {
	ctl := func(in *Initiation) []byte { b, _ := json.Marshal(in.Controls); return b }
	if string(ctl(was)) != string(ctl(now)) {
		return Errorf(KindConsentMismatch, "Data.ControlParameters", "the control parameters are the ones the PSU authorised; a change needs a new consent")
	}
	if now.Debtor != nil && (was.Debtor == nil || *now.Debtor != *was.Debtor) {
		return Errorf(KindConsentMismatch, "Data.Initiation.DebtorAccount", "the debtor account is the one the PSU authorised")
	}
	a, b := *was, *now
	a.Controls, b.Controls, a.Debtor, b.Debtor = nil, nil, nil, nil
	a.Creditor.Name, b.Creditor.Name = "", "" // a name may be restated (v4.0 allows 70 characters, v3.1 350)
	if x, y := mustJSON(a), mustJSON(b); x != y {
		return Errorf(KindConsentMismatch, "Data.Initiation", "the creditor and reference are the ones the PSU authorised")
	}
	return nil
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// PaymentsOfConsent lists the payments a consent made, oldest first.
func (b *Bank) PaymentsOfConsent(ctx context.Context, c *Consent) ([]Payment, error) {
	if err := b.CatchUp(ctx); err != nil {
		return nil, err
	}
	return b.store.PaymentsOfConsent(ctx, c.ID)
}
