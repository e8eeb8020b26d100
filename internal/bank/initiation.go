package bank

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"
)

// PaymentStore is where payment consents, orders and funds checks are kept.
type PaymentStore interface {
	Consent(ctx context.Context, id string) (Consent, error)
	CreateConsentIdempotent(ctx context.Context, c *Consent, id Idem, now time.Time) (Consent, bool, error)
	Replay(ctx context.Context, id Idem, now time.Time) (string, bool, error)
	Submit(ctx context.Context, o Order, id Idem, now time.Time) (Payment, bool, error)
	Payment(ctx context.Context, id string) (Payment, error)
	CatchUp(ctx context.Context, clock func() time.Time) (int, error)
	SaveFundsConfirmation(ctx context.Context, f FundsConfirmation) error
}

// orderKinds maps a payment consent's kind to the kind of order it makes,
// and orderPrefix an order kind to the start of its ids.
var (
	orderKinds  = map[string]string{ConsentDomesticPayment: OrderDomestic, ConsentDomesticScheduled: OrderScheduled, ConsentDomesticStanding: OrderStanding}
	orderPrefix = map[string]string{OrderDomestic: "dp-", OrderScheduled: "dsp-", OrderStanding: "dso-"}
)

// OrderKind is the kind of order a payment consent of this kind makes.
func OrderKind(consentKind string) string { return orderKinds[consentKind] }

// Canonical is a JSON value with whitespace and key order removed: two
// bodies are the same request when their canonical forms are equal (the
// standard compares a payment with its consent, and a replay with its
// first request, as JSON).
func Canonical(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// SameJSON reports whether two JSON values are equal as JSON.
func SameJSON(a, b []byte) bool {
	ca, err1 := Canonical(a)
	cb, err2 := Canonical(b)
	return err1 == nil && err2 == nil && bytes.Equal(ca, cb)
}

// NewIdem is the idempotency of a POST with body (UK OB profile,
// "Idempotency"): a replay is the same key with the same body as JSON.
func NewIdem(clientID, operation, key string, body []byte) (Idem, error) {
	c, err := Canonical(body)
	if err != nil {
		return Idem{}, Errorf(KindMalformed, "", "the request body is not valid JSON")
	}
	sum := sha256.Sum256(c)
	return Idem{ClientID: clientID, Operation: operation, Key: key, BodyHash: hex.EncodeToString(sum[:])}, nil
}

// idemErr says what a key reused with another body means.
func idemErr(err error) error {
	if errors.Is(err, ErrIdempotencyMismatch) {
		return Errorf(KindIdempotencyConflict, "x-idempotency-key",
			"this x-idempotency-key was used in the last 24 hours with a different body; nothing was changed")
	}
	return err
}

// PaymentConsentRequest is a payment consent a TPP asks for.
type PaymentConsentRequest struct {
	Kind, ClientID, Version, Scenario string
	Idem                              Idem
	Request                           []byte // the TPP's request as kept (canonical JSON)
	// Parse reads the standard's Initiation at now; it is not called when
	// the key replays (the first request's consent is the answer).
	Parse func(now time.Time) (*Initiation, error)
}

// CreatePaymentConsent keeps a payment consent, AwaitingAuthorisation, once
// per idempotency key: a replay answers the consent the first request made,
// as it is now.
func (b *Bank) CreatePaymentConsent(ctx context.Context, r PaymentConsentRequest) (*Consent, error) {
	now := b.now()
	if id, found, err := b.store.Replay(ctx, r.Idem, now); err != nil {
		return nil, idemErr(err)
	} else if found {
		c, err := b.store.Consent(ctx, id)
		return &c, err
	}
	in, err := r.Parse(now)
	if err != nil {
		return nil, err
	}
	expires := now.Add(PaymentConsentLifetime)
	if in.Controls != nil {
		expires = in.Controls.ValidTo // a VRP consent lasts until its ValidToDateTime, if it has one
	}
	if IsInternationalKind(r.Kind) {
		// An indicative quote's expiry is the consent's cut-off.
		if until, err := b.fx.quoteConsent(in, now); err != nil {
			return nil, err
		} else if !until.IsZero() && until.Before(expires) {
			expires = until
		}
	}
	c := &Consent{ID: consentPrefix[r.Kind] + b.newID(), Kind: r.Kind, ClientID: r.ClientID, Version: r.Version,
		Status: StatusAwaitingAuthorisation, CreatedAt: now, StatusAt: now, ExpiresAt: expires,
		Initiation: in, Request: r.Request, Scenario: r.Scenario}
	if r.Kind == ConsentFilePayment {
		c.Status = StatusAwaitingUpload // the file comes next
	}
	out, _, err := b.store.CreateConsentIdempotent(ctx, c, r.Idem, now)
	if err != nil {
		return nil, idemErr(err)
	}
	return &out, nil
}

// FundsAvailable answers from the real available balance of an account of
// the consent's PSU whether it can pay amount now.
func (b *Bank) FundsAvailable(ctx context.Context, c *Consent, accountID string, amount int64) (bool, error) {
	if err := b.CatchUp(ctx); err != nil {
		return false, err
	}
	accts, err := b.store.Accounts(ctx, c.PSU, []string{accountID})
	if err != nil {
		return false, err
	}
	if len(accts) == 0 {
		return false, Errorf(KindNotFound, "", "the debtor account is gone")
	}
	st, err := b.store.Ledgers(ctx, accts, b.now())
	if err != nil {
		return false, err
	}
	ok, _ := Accept(accts[0], st[accts[0].Ref], amount)
	return ok, nil
}

// PaymentFundsCheck is a payment consent's funds confirmation: whether its
// debtor account can pay its amount now (no, when a scenario says the
// funds are insufficient). The consent must be Authorised.
func (b *Bank) PaymentFundsCheck(ctx context.Context, c *Consent, insufficient bool) (bool, error) {
	if c.Status != StatusAuthorised {
		return false, Errorf(KindConsentStatus, "", "the consent is %s, not Authorised", c.Status)
	}
	if insufficient {
		return false, nil
	}
	amount := c.Initiation.Amount
	if c.IsInternational() {
		// What the payment would debit now, charges included.
		a, err := b.debtorAccount(ctx, c)
		if err != nil {
			return false, err
		}
		if amount, _, _, err = b.fx.priceOrder(c.Initiation, a, b.now()); err != nil {
			return false, err
		}
	}
	return b.FundsAvailable(ctx, c, c.Accounts[0], amount)
}

// OrderRequest is a payment order a TPP submits with the PSU's token.
type OrderRequest struct {
	Token            *Consent // the consent the token is bound to
	ConsentID        string   // the ConsentId the order names
	Initiation, Risk []byte   // as sent: they must equal the consent's
	Idem             Idem
	Outcome          string // a scenario's forced outcome ("" for none)
}

// SubmitOrder makes the payment an authorised consent allows, once per
// idempotency key: the order names the token's consent, its Initiation and
// Risk equal the consent's as JSON, a scheduled date is still ahead; the
// store then decides on the debtor's available balance in one transaction
// with the consent (Authorised, before its cut-off), posts the debit and
// consumes the consent. It returns the consent the order was checked
// against (nil for a replay).
func (b *Bank) SubmitOrder(ctx context.Context, r OrderRequest) (*Payment, *Consent, error) {
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
	var consent struct {
		Data struct {
			Initiation json.RawMessage `json:"Initiation"`
		} `json:"Data"`
		Risk json.RawMessage `json:"Risk"`
	}
	if err := json.Unmarshal(c.Request, &consent); err != nil {
		return nil, nil, err
	}
	if !SameJSON(r.Initiation, consent.Data.Initiation) {
		return nil, nil, Errorf(KindConsentMismatch, "Data.Initiation", "the Initiation differs from the consent's")
	}
	if (len(r.Risk) > 0 || len(consent.Risk) > 0) && !SameJSON(r.Risk, consent.Risk) { // a file payment has no Risk
		return nil, nil, Errorf(KindConsentMismatch, "Risk", "the Risk differs from the consent's")
	}
	in := c.Initiation
	kind := OrderKind(c.Kind)
	// The date a scheduled payment or standing order starts must still be ahead.
	scheduled := kind == OrderScheduled || kind == OrderInternationalScheduled || (kind == OrderFile && in.RequestedAt.After(now))
	standing := kind == OrderStanding || kind == OrderInternationalStanding
	switch {
	case scheduled && !in.RequestedAt.After(now):
		return nil, nil, Errorf(KindFieldInvalidDate, "Data.Initiation.RequestedExecutionDateTime", "RequestedExecutionDateTime has passed")
	case standing && !in.FirstAt.After(now):
		return nil, nil, Errorf(KindFieldInvalidDate, "Data.Initiation.FirstPaymentDateTime", "FirstPaymentDateTime has passed")
	}
	request, _ := Canonical(r.Initiation)
	o := Order{
		Payment: Payment{ID: orderPrefix[kind] + b.newID(), Kind: kind, ConsentID: c.ID, ClientID: c.ClientID,
			Amount: in.Amount, Currency: in.Currency, Request: request,
			ProcessAt: now.Add(b.InProcessAfter()), SettleAt: now.Add(b.settlement)},
		Debtor: c.Accounts[0], Creditor: in.Creditor, Reference: in.Reference, Outcome: r.Outcome,
		Check: func(c *Consent) error {
			if c.Status != StatusAuthorised {
				return Errorf(KindConsentStatus, "", "the consent is %s, not Authorised", c.Status)
			}
			if !now.Before(c.ExpiresAt) {
				return Errorf(KindAfterCutOff, "", "the consent's CutOffDateTime %s has passed", c.ExpiresAt.Format(time.RFC3339))
			}
			return nil
		},
	}
	if scheduled || standing {
		o.Schedule = in
	}
	if IsInternationalKind(kind) {
		if err := b.priceInternational(ctx, c, &o, now); err != nil {
			return nil, nil, err
		}
	}
	p, _, err := b.store.Submit(ctx, o, r.Idem, now)
	if err != nil {
		return nil, nil, idemErr(err)
	}
	return &p, c, nil
}

// Order reads a payment order of the client, brought up to the sandbox
// clock: unknown or of another kind -> not found, another client's ->
// forbidden.
func (b *Bank) Order(ctx context.Context, clientID, kind, id string) (*Payment, error) {
	if err := b.CatchUp(ctx); err != nil {
		return nil, err
	}
	p, err := b.store.Payment(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && p.Kind != kind) {
		return nil, Errorf(KindNotFound, "", "no payment order %s", clip(id, 64)).WithRule(RuleUnknownObject)
	}
	if err != nil {
		return nil, err
	}
	if p.ClientID != clientID {
		return nil, Errorf(KindForbidden, "", "payment order %s belongs to another client", p.ID).WithRule(RuleForeignObject)
	}
	return &p, nil
}

// Debtor is the account a payment consent's PSU chose, as its first
// identifier (nil before the PSU chose, or once Rejected).
func (b *Bank) Debtor(ctx context.Context, c *Consent) (*AccountRef, error) {
	if c.PSU == "" || len(c.Accounts) == 0 || c.Status == StatusRejected {
		return nil, nil
	}
	accts, err := b.store.Accounts(ctx, c.PSU, c.Accounts[:1])
	if err != nil || len(accts) == 0 {
		return nil, err
	}
	ids := accts[0].Identifiers(false)
	if len(ids) == 0 {
		return nil, nil
	}
	return &ids[0], nil
}

// ConsentOf reads the consent a payment was made under.
func (b *Bank) ConsentOf(ctx context.Context, p *Payment) (*Consent, error) {
	c, err := b.store.Consent(ctx, p.ConsentID)
	return &c, err
}

// FundsCheck is a CBPII funds confirmation asked for.
type FundsCheck struct {
	Token            *Consent // the consent the token is bound to
	ConsentID        string   // the ConsentId the request names
	Reference        string
	Amount, Currency string
	Insufficient     bool // a scenario says no
}

// ConfirmFunds answers whether the consent's account can pay an amount
// now, from its real available balance, and records the check; a reference
// is used once per consent (UK.OBIE.Rules.DuplicateReference).
func (b *Bank) ConfirmFunds(ctx context.Context, r FundsCheck) (FundsConfirmation, error) {
	c, err := Bound(r.Token, r.ConsentID)
	if err != nil {
		return FundsConfirmation{}, err
	}
	amount, err := ParseMinor(r.Amount)
	if err != nil || amount <= 0 {
		return FundsConfirmation{}, Errorf(KindFieldInvalid, "Data.InstructedAmount.Amount", "the amount must be positive with at most two decimals")
	}
	accts, err := b.store.Accounts(ctx, c.PSU, c.Accounts[:1])
	if err != nil {
		return FundsConfirmation{}, err
	}
	if len(accts) == 0 {
		return FundsConfirmation{}, Errorf(KindNotFound, "", "the consent's account is gone")
	}
	if r.Currency != accts[0].Currency {
		return FundsConfirmation{}, Errorf(KindUnsupportedCurrency, "Data.InstructedAmount.Currency", "the account is in %s, not %s", accts[0].Currency, r.Currency)
	}
	ok := false
	if !r.Insufficient {
		if ok, err = b.FundsAvailable(ctx, c, accts[0].ID, amount); err != nil {
			return FundsConfirmation{}, err
		}
	}
	f := FundsConfirmation{ID: "fc-" + b.newID(), ConsentID: c.ID, Reference: r.Reference, Amount: amount,
		Currency: accts[0].Currency, Available: ok, CreatedAt: b.now()}
	if err := b.store.SaveFundsConfirmation(ctx, f); err != nil {
		if errors.Is(err, ErrConflict) {
			return f, Errorf(KindDuplicateReference, "Data.Reference", "reference %q was already used with this consent", clip(f.Reference, 35))
		}
		return f, err
	}
	return f, nil
}
