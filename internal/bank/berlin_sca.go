package bank

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Berlin Group SCA: the authorisation sub-resources of consents, payments,
// payment cancellations and signing baskets, and the three approaches the
// bank offers — REDIRECT (the PSU at the bank's pages), DECOUPLED (the PSU
// approves in the bank's app: the pages' pending approvals or the headless
// PSU) and EMBEDDED (the PSU's password, an SCA method and an OTP sent
// through the TPP). The scaStatus moves as NextGenPSD2 defines it.

// Authorisation is one SCA routine of one PSU on a resource.
type Authorisation struct {
	ID       string // authorisationId
	Kind     string // AuthConsent | AuthPayment | AuthCancellation | AuthBasket
	Resource string // the consent, payment or basket id
	ClientID string
	Approach string // ApproachRedirect | ApproachDecoupled | ApproachEmbedded
	Status   string // scaStatus
	PSU      string // the PSU identified (PSU-ID, or who logged in at the pages)
	Method   string // the chosen SCA method
	Failures int    // wrong OTPs
	// Handle names the routine at the PSU's pages (scaRedirect, the
	// pending approvals): a capability, unguessable.
	Handle                      string
	RedirectURI, NokRedirectURI string
	Session, CSRF               string // the pages' login (the hash of its cookie) and form token
	CreatedAt, StatusAt         time.Time
	ExpiresAt                   time.Time
}

// What an authorisation authorises.
const (
	AuthConsent      = "consent"
	AuthPayment      = "payment"
	AuthCancellation = "cancellation"
	AuthBasket       = "basket"
)

// SCA approaches (ASPSP-SCA-Approach).
const (
	ApproachRedirect  = "REDIRECT"
	ApproachDecoupled = "DECOUPLED"
	ApproachEmbedded  = "EMBEDDED"
)

// scaStatus values.
const (
	ScaReceived         = "received"
	ScaPSUIdentified    = "psuIdentified"
	ScaPSUAuthenticated = "psuAuthenticated"
	ScaMethodSelected   = "scaMethodSelected"
	ScaStarted          = "started"
	ScaFinalised        = "finalised"
	ScaFailed           = "failed"
	ScaExempted         = "exempted"
)

// The bank's SCA rules.
const (
	// TestOTP is every PSU's one-time password in the sandbox.
	TestOTP = "123456"
	// MaxOTPFailures wrong OTPs fail a routine (each also counts towards
	// the PSU's lockout, as a wrong password does).
	MaxOTPFailures = 3
	// AuthorisationLifetime is how long a routine may take (sandbox
	// clock); after it the routine fails and its resource is rejected.
	AuthorisationLifetime = 30 * time.Minute
)

// Final reports whether the routine is over.
func (a *Authorisation) Final() bool {
	return a.Status == ScaFinalised || a.Status == ScaFailed || a.Status == ScaExempted
}

// ScaMethod is an SCA method the bank offers (authenticationObject).
type ScaMethod struct {
	ID, Type, Name, Explanation string
}

// ScaMethods are the embedded approach's methods: an OTP by text message or
// in the bank's app (the sandbox's OTP is TestOTP either way).
var ScaMethods = []ScaMethod{
	{ID: "sms", Type: "SMS_OTP", Name: "Text message to your mobile phone", Explanation: "A six-digit code by text message (the sandbox's is " + TestOTP + ")"},
	{ID: "app", Type: "PUSH_OTP", Name: "Sandbox Bank app", Explanation: "A six-digit code in the Sandbox Bank app (the sandbox's is " + TestOTP + ")"},
}

// DecoupledMethod is the decoupled approach's one method: approving in the
// bank's app (chosen implicitly: the routine starts at scaMethodSelected).
var DecoupledMethod = ScaMethod{ID: "app-approval", Type: "PUSH_OTP", Name: "Sandbox Bank app",
	Explanation: "Approve in the Sandbox Bank app (the PSU's pages, pending approvals)"}

// Method is the SCA method the routine chose, if any.
func (a *Authorisation) ChosenMethod() (ScaMethod, bool) {
	if a.Method == DecoupledMethod.ID {
		return DecoupledMethod, true
	}
	i := slices.IndexFunc(ScaMethods, func(m ScaMethod) bool { return m.ID == a.Method })
	if i < 0 {
		return ScaMethod{}, false
	}
	return ScaMethods[i], true
}

// ChooseApproach is the bank's choice of SCA approach from the TPP's
// preferences: TPP-Decoupled-Preferred true -> DECOUPLED;
// TPP-Redirect-Preferred false -> EMBEDDED; otherwise REDIRECT.
func ChooseApproach(decoupledPreferred, redirectPreferred *bool) string {
	switch {
	case decoupledPreferred != nil && *decoupledPreferred:
		return ApproachDecoupled
	case redirectPreferred != nil && !*redirectPreferred:
		return ApproachEmbedded
	}
	return ApproachRedirect
}

// resourceKind is the consent kind an authorisation's resource is kept as.
func resourceKind(kind string) string {
	switch kind {
	case AuthPayment, AuthCancellation:
		return ConsentBGPayment
	case AuthBasket:
		return ConsentBGBasket
	}
	return ConsentBGAccounts
}

// StartSCA starts an authorisation sub-resource.
type StartSCA struct {
	ClientID, Kind, Resource, Approach string
	PSU                                string // PSU-ID, when the TPP knows it
	RedirectURI, NokRedirectURI        string
	// A start that carries the first step's data (embedded).
	Step SCAStep
}

// SCAStep is what a PUT on an authorisation (or a POST that starts one)
// carries: at most one of the official bodies' members.
type SCAStep struct {
	Password, MethodID, OTP, Confirmation string
	// Veto, when set, may refuse the PSU's approval at the last step (a
	// scenario: the PSU denies, SCA fails).
	Veto func(c *Consent, psu string) (refuse bool)
}

func (s SCAStep) empty() bool {
	return s.Password == "" && s.MethodID == "" && s.OTP == "" && s.Confirmation == ""
}

// StartAuthorisation starts an SCA routine on a resource that waits for one
// (a payment's cancellation: on a payment that can only be cancelled so).
func (b *Bank) StartAuthorisation(ctx context.Context, r StartSCA) (*Authorisation, error) {
	c, err := b.bgOwn(ctx, r.ClientID, resourceKind(r.Kind), r.Resource)
	if err != nil {
		return nil, err
	}
	if r.Kind == AuthCancellation {
		how, err := b.Cancellable(ctx, c)
		if err != nil {
			return nil, err
		}
		if how != CancelNeedsPSU {
			return nil, Errorf(KindCancellationInvalid, "paymentId", "payment %s has no cancellation to authorise", c.ID)
		}
	} else if c.Status != StatusAwaitingAuthorisation || c.Deleted {
		return nil, Errorf(KindStatusInvalid, "", "%s has nothing left to authorise", c.ID)
	}
	if r.Approach == ApproachRedirect && r.RedirectURI == "" {
		return nil, Errorf(KindHeaderMissing, "TPP-Redirect-URI", "the redirect approach sends the PSU back to TPP-Redirect-URI: send it")
	}
	if r.PSU != "" {
		if err := b.KnownPSU(ctx, r.PSU); err != nil {
			return nil, err
		}
	}
	now := b.now()
	a := Authorisation{ID: "bga-" + b.newID(), Kind: r.Kind, Resource: c.ID, ClientID: r.ClientID, Approach: r.Approach, Status: ScaReceived,
		PSU: r.PSU, Handle: "bg-" + b.newID(), CSRF: b.newID(), RedirectURI: r.RedirectURI, NokRedirectURI: r.NokRedirectURI, CreatedAt: now, StatusAt: now,
		ExpiresAt: now.Add(AuthorisationLifetime)}
	switch {
	case r.Approach == ApproachDecoupled && r.PSU != "":
		a.Status, a.Method = ScaMethodSelected, DecoupledMethod.ID
	case r.Approach == ApproachEmbedded && r.PSU != "":
		a.Status = ScaPSUIdentified
	}
	if err := b.bg().CreateAuthorisation(ctx, a); err != nil {
		return nil, err
	}
	if !r.Step.empty() {
		return b.UpdateAuthorisation(ctx, UpdateSCA{ClientID: r.ClientID, Kind: r.Kind, Resource: c.ID, ID: a.ID, PSU: r.PSU, Step: r.Step})
	}
	return &a, nil
}

// KnownPSU refuses a PSU-ID that is no customer of the bank.
func (b *Bank) KnownPSU(ctx context.Context, psu string) error {
	ok, err := b.bg().PSUExists(ctx, psu)
	if err != nil {
		return err
	}
	if !ok {
		return Errorf(KindCredentialsInvalid, "PSU-ID", "PSU-ID %s is no customer of this bank", clip(psu, 64)).WithRule("psu.unknown")
	}
	return nil
}

// Authorisations lists a resource's authorisation sub-resources of a kind.
func (b *Bank) Authorisations(ctx context.Context, clientID, kind, resource string) ([]Authorisation, error) {
	c, err := b.bgOwn(ctx, clientID, resourceKind(kind), resource)
	if err != nil {
		return nil, err
	}
	as, err := b.bg().AuthorisationsOf(ctx, c.ID, kind)
	if err != nil {
		return nil, err
	}
	for i := range as {
		if err := b.expire(ctx, &as[i]); err != nil {
			return nil, err
		}
	}
	return as, nil
}

// Authorisation reads one authorisation sub-resource of a resource of the
// TPP's.
func (b *Bank) Authorisation(ctx context.Context, clientID, kind, resource, id string) (*Authorisation, error) {
	c, err := b.bgOwn(ctx, clientID, resourceKind(kind), resource)
	if err != nil {
		return nil, err
	}
	a, err := b.bg().Authorisation(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && (a.Resource != c.ID || a.Kind != kind)) {
		return nil, Errorf(KindNotFound, "authorisationId", "no authorisation %s of %s", clip(id, 64), c.ID).WithRule(RuleUnknownObject)
	}
	if err != nil {
		return nil, err
	}
	return &a, b.expire(ctx, &a)
}

// expire fails a routine past its lifetime, and rejects its resource.
func (b *Bank) expire(ctx context.Context, a *Authorisation) error {
	if a.Final() || b.now().Before(a.ExpiresAt) {
		return nil
	}
	out, err := b.decide(ctx, a, a.PSU, false, nil)
	if err == nil {
		*a = *out
	}
	var be *Error
	if errors.As(err, &be) && be.Kind == KindStatusInvalid {
		return nil // decided meanwhile
	}
	return err
}

// UpdateSCA is a PUT on an authorisation sub-resource.
type UpdateSCA struct {
	ClientID, Kind, Resource, ID string
	PSU                          string // PSU-ID
	Step                         SCAStep
}

// UpdateAuthorisation takes a step of an SCA routine through the API: the
// decoupled approach's identification, or the embedded approach's
// identification, password, method and OTP, in that order.
func (b *Bank) UpdateAuthorisation(ctx context.Context, r UpdateSCA) (*Authorisation, error) {
	a, err := b.Authorisation(ctx, r.ClientID, r.Kind, r.Resource, r.ID)
	if err != nil {
		return nil, err
	}
	if a.Final() {
		return nil, Errorf(KindStatusInvalid, "authorisationId", "the authorisation is %s", a.Status)
	}
	if r.PSU != "" && a.PSU != "" && r.PSU != a.PSU {
		return nil, Errorf(KindCredentialsInvalid, "PSU-ID", "the authorisation is for another PSU")
	}
	psu := a.PSU
	if psu == "" {
		psu = r.PSU
	}
	step := r.Step
	if step.Confirmation != "" {
		return nil, Errorf(KindStatusInvalid, "confirmationCode", "the bank asks for no confirmation code")
	}
	// set moves the routine from the status it was read in.
	set := func(from string, f func(*Authorisation)) (*Authorisation, error) {
		out, err := b.bg().UpdateAuthorisation(ctx, a.ID, func(x *Authorisation) error {
			if x.Status != from {
				return Errorf(KindStatusInvalid, "authorisationId", "the authorisation moved on to %s meanwhile", x.Status)
			}
			f(x)
			x.StatusAt = b.now()
			return nil
		})
		return &out, err
	}
	identify := func(status, method string) (*Authorisation, error) {
		if psu == "" {
			return nil, Errorf(KindHeaderMissing, "PSU-ID", "identify the PSU with the PSU-ID header")
		}
		if err := b.KnownPSU(ctx, psu); err != nil {
			return nil, err
		}
		return set(a.Status, func(x *Authorisation) { x.PSU, x.Status, x.Method = psu, status, method })
	}
	switch a.Approach {
	case ApproachRedirect:
		return nil, Errorf(KindStatusInvalid, "authorisationId", "a redirect authorisation is completed at the bank: send the PSU to its scaRedirect link")
	case ApproachDecoupled:
		if a.Status == ScaReceived && step.empty() {
			return identify(ScaMethodSelected, DecoupledMethod.ID)
		}
		return nil, Errorf(KindStatusInvalid, "authorisationId", "the PSU approves in the bank's app (decoupled): poll the scaStatus")
	}
	switch {
	case step.Password != "":
		if a.Status != ScaReceived && a.Status != ScaPSUIdentified {
			return nil, Errorf(KindStatusInvalid, "psuData", "the PSU is already authenticated (%s): select a method or send the OTP", a.Status)
		}
		if psu == "" {
			return nil, Errorf(KindHeaderMissing, "PSU-ID", "send the PSU-ID header with the PSU's password")
		}
		ok, err := b.login(ctx, psu, step.Password)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, Errorf(KindCredentialsInvalid, "psuData.password", "the PSU-ID or password is wrong, or the PSU is locked for a while").WithRule("psu.login_failed")
		}
		return set(a.Status, func(x *Authorisation) { x.PSU, x.Status = psu, ScaPSUAuthenticated })
	case step.MethodID != "":
		if a.Status != ScaPSUAuthenticated {
			return nil, Errorf(KindStatusInvalid, "authenticationMethodId", "the routine is %s: the method is chosen after the password", a.Status)
		}
		if !slices.ContainsFunc(ScaMethods, func(m ScaMethod) bool { return m.ID == step.MethodID }) {
			return nil, Errorf(KindScaMethodUnknown, "authenticationMethodId", "the PSU has no SCA method %s", clip(step.MethodID, 35))
		}
		return set(a.Status, func(x *Authorisation) { x.Status, x.Method = ScaMethodSelected, step.MethodID })
	case step.OTP != "":
		if a.Status != ScaMethodSelected {
			return nil, Errorf(KindStatusInvalid, "scaAuthenticationData", "the routine is %s: the OTP comes after the method is chosen", a.Status)
		}
		ok, err := b.bg().CheckPSULogin(ctx, psu, func(string) bool { return step.OTP == TestOTP }, b.now())
		if err != nil {
			return nil, err
		}
		if !ok {
			out, err := set(a.Status, func(x *Authorisation) { x.Failures++ })
			if err != nil {
				return nil, err
			}
			msg := fmt.Sprintf("the OTP is wrong (%d of %d tries)", out.Failures, MaxOTPFailures)
			if out.Failures >= MaxOTPFailures {
				if _, err := b.decide(ctx, out, psu, false, nil); err != nil {
					return nil, err
				}
				msg = "the OTP is wrong: the authorisation has failed"
			}
			return nil, Errorf(KindCredentialsInvalid, "scaAuthenticationData", "%s", msg).WithRule("psu.otp_failed")
		}
		approve := true
		if step.Veto != nil {
			if c, err := b.store.Consent(ctx, a.Resource); err == nil {
				approve = !step.Veto(&c, psu)
			}
		}
		return b.decide(ctx, a, psu, approve, nil)
	}
	if a.Status == ScaReceived {
		return identify(ScaPSUIdentified, "")
	}
	return nil, Errorf(KindStatusInvalid, "", "the routine is %s: send %s", a.Status, nextStep(a.Status))
}

func nextStep(status string) string {
	switch status {
	case ScaPSUIdentified:
		return "psuData.password"
	case ScaPSUAuthenticated:
		return "authenticationMethodId"
	}
	return "scaAuthenticationData (the OTP)"
}

// decide ends a routine: approved, it is applied to its resource (the
// consent becomes valid on the PSU's accounts, the payment is executed,
// the cancellation cancels, a basket's resources are authorised);
// refused, the routine fails and its resource is rejected. An approval the
// PSU cannot give (accounts not theirs) fails the routine as well, and is
// returned as the error.
func (b *Bank) decide(ctx context.Context, a *Authorisation, psu string, approve bool, chosen []string) (*Authorisation, error) {
	now := b.now()
	status := ScaFinalised
	if !approve {
		status = ScaFailed
	}
	// Claimed first, so that two decisions at once cannot both count.
	out, err := b.bg().UpdateAuthorisation(ctx, a.ID, func(x *Authorisation) error {
		if x.Final() {
			return Errorf(KindStatusInvalid, "authorisationId", "the authorisation is %s already", x.Status)
		}
		x.Status, x.StatusAt = status, now
		if x.PSU == "" {
			x.PSU = psu
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	c, err := b.store.Consent(ctx, a.Resource)
	if err != nil {
		return nil, err
	}
	var refusal error
	if approve {
		refusal = b.apply(ctx, a.Kind, &c, psu, chosen)
		var be *Error
		if refusal != nil && !errors.As(refusal, &be) {
			return nil, refusal
		}
	}
	if !approve || refusal != nil {
		if refusal != nil {
			if out, err = b.bg().UpdateAuthorisation(ctx, a.ID, func(x *Authorisation) error {
				x.Status = ScaFailed
				return nil
			}); err != nil {
				return nil, err
			}
		}
		if a.Kind != AuthCancellation {
			if _, err := b.bg().UpdateConsent(ctx, c.ID, func(x *Consent) error {
				if x.Status == StatusAwaitingAuthorisation && !x.Deleted {
					x.Status, x.StatusAt, x.PSU = StatusRejected, now, psu
				}
				return nil
			}); err != nil {
				return nil, err
			}
		}
	}
	return &out, refusal
}

// apply gives the PSU's approval effect on a resource.
func (b *Bank) apply(ctx context.Context, kind string, c *Consent, psu string, chosen []string) error {
	now := b.now()
	authorise := func(accounts []string) error {
		_, err := b.bg().UpdateConsent(ctx, c.ID, func(x *Consent) error {
			if x.Status != StatusAwaitingAuthorisation || x.Deleted {
				return Errorf(KindStatusInvalid, "", "%s is no longer waiting for authorisation", x.ID)
			}
			x.Status, x.StatusAt, x.PSU, x.Accounts = StatusAuthorised, now, psu, accounts
			return nil
		})
		return err
	}
	switch kind {
	case AuthConsent:
		accts, err := b.consentAccounts(ctx, c, psu, chosen)
		if err != nil {
			return err
		}
		return authorise(accts)
	case AuthPayment:
		p, err := b.BGPaymentOf(ctx, c)
		if err != nil {
			return err
		}
		if p.Debtor.PSU != psu {
			return Errorf(KindPaymentFailed, "debtorAccount", "the debtor account %s is not one of the PSU's accounts", p.Debtor.IBAN).WithRule(RuleForeignObject)
		}
		if err := authorise([]string{p.Debtor.ID}); err != nil {
			return err
		}
		x, err := b.store.Consent(ctx, c.ID)
		if err != nil {
			return err
		}
		return b.executeBGPayment(ctx, &x)
	case AuthCancellation:
		if c.PSU != psu {
			return Errorf(KindPaymentFailed, "paymentId", "only the PSU who authorised the payment cancels it").WithRule(RuleForeignObject)
		}
		orders, err := b.bg().PaymentsOfConsent(ctx, c.ID)
		if err != nil {
			return err
		}
		for _, o := range orders {
			if err := b.bg().StopOrder(ctx, o.ID, now); err != nil {
				return err
			}
		}
		_, err = b.bg().UpdateConsent(ctx, c.ID, func(x *Consent) error {
			x.Deleted, x.StatusAt = true, now
			return nil
		})
		return err
	case AuthBasket:
		var r BGBasket
		if _, r, _ = b.Basket(ctx, c.ClientID, c.ID); len(r.PaymentIDs)+len(r.ConsentIDs) == 0 {
			return Errorf(KindStatusInvalid, "basketId", "the basket is empty")
		}
		for _, id := range r.ConsentIDs {
			x, err := b.store.Consent(ctx, id)
			if err != nil {
				return err
			}
			if err := b.apply(ctx, AuthConsent, &x, psu, nil); err != nil {
				return err
			}
		}
		for _, id := range r.PaymentIDs {
			x, err := b.store.Consent(ctx, id)
			if err != nil {
				return err
			}
			if err := b.apply(ctx, AuthPayment, &x, psu, nil); err != nil {
				return err
			}
		}
		return authorise(nil)
	}
	return fmt.Errorf("bank: authorisation of kind %q", kind)
}

// consentAccounts are the accounts a consent gets when the PSU approves it:
// those its lists name (each must be the PSU's), or for a bank-offered
// consent those the PSU chose (default all), or all the PSU's accounts.
func (b *Bank) consentAccounts(ctx context.Context, c *Consent, psu string, chosen []string) ([]string, error) {
	all, err := b.bg().AccountsOfPSU(ctx, psu)
	if err != nil {
		return nil, err
	}
	eligible := all[:0]
	for _, a := range all {
		if a.Status == "Enabled" {
			eligible = append(eligible, a)
		}
	}
	r := c.BGConsent()
	var out []string
	switch r.kind() {
	case "detailed":
		for _, l := range [][]BGAccountRef{r.Access.Accounts, r.Access.Balances, r.Access.Transactions} {
			for _, ref := range l {
				i := slices.IndexFunc(eligible, func(a Account) bool { return ref.Matches(a) })
				if i < 0 {
					return nil, Errorf(KindConsentInvalid, "access", "the consent names an account (%s) that is not one of the PSU's", refText(ref)).WithRule(RuleForeignObject)
				}
				if !slices.Contains(out, eligible[i].ID) {
					out = append(out, eligible[i].ID)
				}
			}
		}
	case "bankOffered":
		for _, id := range chosen {
			if !slices.ContainsFunc(eligible, func(a Account) bool { return a.ID == id }) {
				return nil, Errorf(KindConsentInvalid, "accounts", "account %s is not one the PSU can choose", clip(id, 64)).WithRule(RuleForeignObject)
			}
			out = append(out, id)
		}
		if len(chosen) > 0 {
			break
		}
		fallthrough
	default:
		for _, a := range eligible {
			out = append(out, a.ID)
		}
	}
	if len(out) == 0 {
		return nil, Errorf(KindConsentInvalid, "access", "the PSU has no account this consent can use")
	}
	return out, nil
}

func refText(r BGAccountRef) string {
	switch {
	case r.IBAN != "":
		return r.IBAN
	case r.PAN != "":
		return MaskPAN(r.PAN)
	}
	return r.MaskedPAN
}

// BGApproval is a routine the PSU acts on at the bank's pages (a redirect)
// or in the app (decoupled), with its resource.
type BGApproval struct {
	Authorisation *Authorisation
	Resource      *Consent
}

// ApprovalByHandle reads a routine by its handle for the PSU's pages: gone,
// over or expired -> not found.
func (b *Bank) ApprovalByHandle(ctx context.Context, handle string) (*BGApproval, error) {
	a, err := b.bg().AuthorisationByHandle(ctx, handle)
	if errors.Is(err, ErrNotFound) {
		return nil, Errorf(KindNotFound, "", "this authorisation is unknown")
	}
	if err != nil {
		return nil, err
	}
	if err := b.expire(ctx, &a); err != nil {
		return nil, err
	}
	if a.Final() {
		return nil, Errorf(KindNotFound, "", "this authorisation is %s: start again from the app", a.Status)
	}
	c, err := b.store.Consent(ctx, a.Resource)
	if err != nil {
		return nil, err
	}
	return &BGApproval{Authorisation: &a, Resource: &c}, nil
}

// ApprovalByID reads a decoupled routine by its authorisationId, for the
// PSU who must approve it (the headless PSU's authorisation_url): another
// PSU's or none -> forbidden, not decoupled or over -> invalid.
func (b *Bank) ApprovalByID(ctx context.Context, psu, id string) (*BGApproval, error) {
	a, err := b.bg().Authorisation(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && a.PSU != psu) {
		return nil, Errorf(KindForbidden, "authorisation_url", "no authorisation of yours has that id")
	}
	if err != nil {
		return nil, err
	}
	if a.Approach != ApproachDecoupled {
		return nil, Errorf(KindFieldInvalid, "authorisation_url", "authorisation %s is %s, not decoupled", a.ID, a.Approach)
	}
	return b.ApprovalByHandle(ctx, a.Handle)
}

// LoginRedirect records who logged in at a redirect routine's pages (the
// PSU-ID's PSU only, when the TPP gave one): psuAuthenticated.
func (b *Bank) LoginRedirect(ctx context.Context, handle, psu, session string) (*Authorisation, error) {
	ap, err := b.ApprovalByHandle(ctx, handle)
	if err != nil {
		return nil, err
	}
	if ap.Authorisation.Approach != ApproachRedirect {
		return nil, Errorf(KindFieldInvalid, "", "this authorisation is not a redirect")
	}
	out, err := b.bg().UpdateAuthorisation(ctx, ap.Authorisation.ID, func(x *Authorisation) error {
		if x.Final() {
			return Errorf(KindStatusInvalid, "", "the authorisation is %s", x.Status)
		}
		if x.PSU != "" && x.PSU != psu {
			return Errorf(KindForbidden, "", "the app asked for another customer's approval").WithRule(RuleForeignObject)
		}
		x.PSU, x.Session, x.Status, x.StatusAt = psu, session, ScaPSUAuthenticated, b.now()
		return nil
	})
	return &out, err
}

// Decide is the PSU's decision on a routine at the bank's pages, in the
// app, or the headless PSU's: approve (with the accounts a bank-offered
// consent gets) or deny. It returns the routine as it ends and, when the
// approval could not be given, why.
func (b *Bank) Decide(ctx context.Context, ap *BGApproval, psu string, approve bool, chosen []string) (*Authorisation, error) {
	a := ap.Authorisation
	if a.PSU != "" && a.PSU != psu {
		return nil, Errorf(KindForbidden, "", "the app asked for another customer's approval").WithRule(RuleForeignObject)
	}
	return b.decide(ctx, a, psu, approve, chosen)
}

// PendingBGApprovals are the decoupled routines waiting for the PSU in the
// app, oldest first.
func (b *Bank) PendingBGApprovals(ctx context.Context, psu string) ([]BGApproval, error) {
	as, err := b.bg().PendingDecoupled(ctx, psu, b.now())
	if err != nil {
		return nil, err
	}
	var out []BGApproval
	for i := range as {
		c, err := b.store.Consent(ctx, as[i].Resource)
		if err != nil {
			return nil, err
		}
		out = append(out, BGApproval{Authorisation: &as[i], Resource: &c})
	}
	return out, nil
}
