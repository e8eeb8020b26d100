package bank

import (
	"context"
	"errors"
	"time"
)

// ConsentStore is where consents are kept.
type ConsentStore interface {
	CreateConsent(ctx context.Context, c *Consent) error
	Consent(ctx context.Context, id string) (Consent, error)
	DeleteConsent(ctx context.Context, id string, now time.Time) error
}

// Versions of the UK standard a consent is created through. Long-lived
// consents (account access, funds confirmation, VRP) made through v3.1
// carry over to v4.0 with the same ConsentId and tokens (the standard's
// migration rule: no re-consent); payment consents stay with their
// version, and v4.0 consents are not used through v3.1.
const (
	VersionUK31 = "3.1"
	VersionUK40 = "4.0"
)

// UsableThrough reports whether the consent may be used through an API
// version, and if not, why.
func (c *Consent) UsableThrough(version string) error {
	switch {
	case c.Version == version || c.Version == "":
		return nil
	case c.IsPayment():
		return Errorf(KindForbidden, "ConsentId", "consent %s was created through v%s: payment consents are used through the version that created them", c.ID, c.Version)
	case c.Version == VersionUK40:
		return Errorf(KindForbidden, "ConsentId", "consent %s was created through v4.0 and cannot be used through v%s", c.ID, version)
	}
	return nil // a v3.1 account-access, funds-confirmation or VRP consent, through v4.0
}

// consentPrefix is the start of each kind's ConsentIds.
var consentPrefix = map[string]string{
	ConsentAccountAccess:     "aac-",
	ConsentDomesticPayment:   "pdc-",
	ConsentDomesticScheduled: "psc-",
	ConsentDomesticStanding:  "pso-",
	ConsentFundsConfirmation: "fcc-",
	ConsentDomesticVRP:       "vrc-",
}

// CreateAccountAccessConsent checks an account-access consent request and
// keeps it, AwaitingAuthorisation.
func (b *Bank) CreateAccountAccessConsent(ctx context.Context, clientID, version string, r AccountAccessRequest, scenario string) (*Consent, error) {
	c, err := NewAccountAccessConsent(consentPrefix[ConsentAccountAccess]+b.newID(), clientID, r, b.now())
	if err != nil {
		return nil, err
	}
	c.Version, c.Scenario = version, scenario
	if err := b.store.CreateConsent(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// FundsConsentRequest is a funds-confirmation consent a TPP asks for.
type FundsConsentRequest struct {
	ClientID, Version, Scenario string
	Debtor                      AccountRef
	Expires                     time.Time // zero: open-ended
	Request                     []byte    // the request as kept (canonical JSON)
}

// CreateFundsConsent checks a funds-confirmation consent request (a
// well-formed debtor account, an expiry in the future) and keeps it.
func (b *Bank) CreateFundsConsent(ctx context.Context, r FundsConsentRequest) (*Consent, error) {
	if err := CheckAccountRef(r.Debtor, "Data.DebtorAccount"); err != nil {
		return nil, err
	}
	now := b.now()
	if !r.Expires.IsZero() && !r.Expires.After(now) {
		return nil, Errorf(KindFieldInvalidDate, "Data.ExpirationDateTime", "ExpirationDateTime must be a date-time in the future")
	}
	debtor := r.Debtor
	c := &Consent{ID: consentPrefix[ConsentFundsConfirmation] + b.newID(), Kind: ConsentFundsConfirmation, ClientID: r.ClientID,
		Version: r.Version, Status: StatusAwaitingAuthorisation, CreatedAt: now, StatusAt: now, ExpiresAt: r.Expires.UTC(),
		Initiation: &Initiation{Debtor: &debtor}, Request: r.Request, Scenario: r.Scenario}
	if r.Expires.IsZero() {
		c.ExpiresAt = time.Time{}
	}
	if err := b.store.CreateConsent(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// OwnConsent reads a consent of the given kind the client created, as seen
// through an API version: unknown, deleted or of another kind -> not found;
// another client's -> forbidden; one the version cannot use -> forbidden.
func (b *Bank) OwnConsent(ctx context.Context, clientID, kind, version, id string) (*Consent, error) {
	c, err := b.store.Consent(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && (c.Kind != kind || c.Deleted)) {
		return nil, Errorf(KindNotFound, "ConsentId", "no consent %s", clip(id, 64)).WithRule(RuleUnknownObject)
	}
	if err != nil {
		return nil, err
	}
	if c.ClientID != clientID {
		return nil, Errorf(KindForbidden, "ConsentId", "consent %s belongs to another client", c.ID).WithRule(RuleForeignObject)
	}
	if err := c.UsableThrough(version); err != nil {
		return nil, err
	}
	return &c, nil
}

// DeleteConsent is the TPP's revocation of a long-lived consent: it is gone
// (a later read is not found) and its tokens stop working at once.
func (b *Bank) DeleteConsent(ctx context.Context, clientID, kind, version, id string) error {
	c, err := b.OwnConsent(ctx, clientID, kind, version, id)
	if err != nil {
		return err
	}
	return b.store.DeleteConsent(ctx, c.ID, b.now())
}

// Bound checks that the ConsentId a request names is the one its PSU's
// token is bound to: a token reaches only its own consent.
func Bound(token *Consent, id string) (*Consent, error) {
	if id != token.ID {
		return nil, Errorf(KindForbidden, "ConsentId", "the access token is bound to consent %s, not %s", token.ID, clip(id, 64)).WithRule(RuleForeignObject)
	}
	return token, nil
}
