package bank

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Berlin Group NextGenPSD2 XS2A 1.3.12 over the same bank: its consents
// (this file), its payments and signing baskets (berlin_pay.go) and its SCA
// routines (berlin_sca.go). A Berlin Group consent, payment or basket is
// kept as a Consent of its own kind, so that the PSU's pages, revocation,
// the audit trail and the ledger treat it as they treat the UK ones; the
// TPP is its organisation identifier (from its QWAC) where a UK consent
// names an OAuth client.

// Kinds of the Berlin Group resources, and the "version" they carry.
const (
	ConsentBGAccounts = "bg-account-access" // an AIS consent
	ConsentBGPayment  = "bg-payment"        // a payment initiation: single, periodic or bulk
	ConsentBGBasket   = "bg-signing-basket" // a signing basket
	VersionBG         = "berlin-group-1.3.12"
)

// BerlinStore is what the Berlin Group use cases keep besides consents,
// accounts and payments: authorisation sub-resources, the access counts of
// frequencyPerDay, and a few reads of their own.
type BerlinStore interface {
	UpdateConsent(ctx context.Context, id string, f func(*Consent) error) (Consent, error)
	AccountsOfPSU(ctx context.Context, psu string) ([]Account, error)
	AccountByIBAN(ctx context.Context, iban string) (Account, error)
	TransactionByID(ctx context.Context, a Account, id string) (Transaction, error)
	PaymentsOfConsent(ctx context.Context, consentID string) ([]Payment, error)
	StopOrder(ctx context.Context, paymentID string, now time.Time) error
	CountAccess(ctx context.Context, consentID, resource, period string, limit int) (bool, error)
	CheckPSULogin(ctx context.Context, username string, check func(stored string) bool, now time.Time) (bool, error)
	PSUExists(ctx context.Context, username string) (bool, error)

	CreateAuthorisation(ctx context.Context, a Authorisation) error
	Authorisation(ctx context.Context, id string) (Authorisation, error)
	AuthorisationByHandle(ctx context.Context, handle string) (Authorisation, error)
	AuthorisationsOf(ctx context.Context, resourceID, kind string) ([]Authorisation, error)
	UpdateAuthorisation(ctx context.Context, id string, f func(*Authorisation) error) (Authorisation, error)
	PendingDecoupled(ctx context.Context, psu string, now time.Time) ([]Authorisation, error)
}

// bg is the store's Berlin Group part (package store implements it).
func (b *Bank) bg() BerlinStore { return b.store.(BerlinStore) }

// BGAccountRef is an accountReference: the bank's accounts are addressed by
// IBAN, card accounts by their PAN or masked PAN.
type BGAccountRef struct {
	IBAN      string `json:"iban,omitempty"`
	BBAN      string `json:"bban,omitempty"`
	PAN       string `json:"pan,omitempty"`
	MaskedPAN string `json:"maskedPan,omitempty"`
	MSISDN    string `json:"msisdn,omitempty"`
	Currency  string `json:"currency,omitempty"`
}

// check refuses a reference the bank cannot resolve: one identifier, an
// IBAN with valid check digits (ISO 13616), or a card number.
func (r BGAccountRef) check(path string) error {
	n := 0
	for _, v := range []string{r.IBAN, r.BBAN, r.PAN, r.MaskedPAN, r.MSISDN} {
		if v != "" {
			n++
		}
	}
	switch {
	case n != 1:
		return Errorf(KindFieldInvalid, path, "an account reference names the account once: iban (or pan / maskedPan for a card account)")
	case r.BBAN != "" || r.MSISDN != "":
		return Errorf(KindFieldInvalid, path, "the bank addresses accounts by iban, card accounts by pan or maskedPan (not bban or msisdn)")
	case r.IBAN != "" && !ValidIBAN(r.IBAN):
		return Errorf(KindFieldInvalid, path+".iban", "%s is not a valid IBAN (ISO 13616 check digits)", clip(r.IBAN, 34))
	}
	return nil
}

// Matches reports whether the reference names the account.
func (r BGAccountRef) Matches(a Account) bool {
	if r.Currency != "" && r.Currency != a.Currency {
		return false
	}
	switch {
	case r.IBAN != "":
		return a.IBAN == r.IBAN
	case r.PAN != "":
		return a.PAN != "" && a.PAN == r.PAN
	case r.MaskedPAN != "":
		return maskedMatch(r.MaskedPAN, a.PAN)
	}
	return false
}

// maskedMatch compares a masked card number with a PAN: the same length,
// and the same digit wherever the mask shows one.
func maskedMatch(masked, pan string) bool {
	if pan == "" || len(masked) != len(pan) {
		return false
	}
	for i := range masked {
		if c := masked[i]; c >= '0' && c <= '9' && c != pan[i] {
			return false
		}
	}
	return true
}

// MaskPANBG masks a card number as card accounts show it: the first six and
// the last four digits (PCI DSS), "492912******1234".
func MaskPANBG(pan string) string {
	if len(pan) < 12 {
		return MaskPAN(pan)
	}
	return pan[:6] + strings.Repeat("*", len(pan)-10) + pan[len(pan)-4:]
}

// BGAccess is a consent's access object.
type BGAccess struct {
	Accounts                     []BGAccountRef `json:"accounts"`
	Balances                     []BGAccountRef `json:"balances"`
	Transactions                 []BGAccountRef `json:"transactions"`
	AdditionalInformation        any            `json:"additionalInformation"`
	AvailableAccounts            string         `json:"availableAccounts"`
	AvailableAccountsWithBalance string         `json:"availableAccountsWithBalance"`
	AllPsd2                      string         `json:"allPsd2"`
	RestrictedTo                 []string       `json:"restrictedTo"`
}

// BGConsentRequest is a consent as the TPP asks for it.
type BGConsentRequest struct {
	Access                   BGAccess `json:"access"`
	RecurringIndicator       bool     `json:"recurringIndicator"`
	ValidUntil               string   `json:"validUntil"`
	FrequencyPerDay          int      `json:"frequencyPerDay"`
	CombinedServiceIndicator bool     `json:"combinedServiceIndicator"`
}

// The consent's rules.
const (
	// MaxConsentDays bounds validUntil: a later date (9999-12-31 asks for
	// the longest) is cut to this many days from today, as the consent then
	// shows (PSD2 RTS Art. 10: 180 days between strong authentications).
	MaxConsentDays = 180
)

// kind is the consent's kind of access: detailed lists, the bank-offered
// consent (the lists given empty: the PSU picks the accounts), the list of
// available accounts, or all PSD2 accounts.
func (r BGConsentRequest) kind() string {
	a := r.Access
	switch {
	case a.AllPsd2 != "":
		return "allPsd2"
	case a.AvailableAccounts != "" || a.AvailableAccountsWithBalance != "":
		return "availableAccounts"
	case (a.Accounts != nil && len(a.Accounts) == 0) || (a.Balances != nil && len(a.Balances) == 0) || (a.Transactions != nil && len(a.Transactions) == 0):
		return "bankOffered"
	}
	return "detailed"
}

// BankOffered reports whether the PSU chooses the consent's accounts.
func (r BGConsentRequest) BankOffered() bool { return r.kind() == "bankOffered" }

// checkBGConsent applies the consent's rules (NextGenPSD2 IG §6.3) and
// returns its expiry: the day after validUntil (cut to MaxConsentDays).
func checkBGConsent(r BGConsentRequest, now time.Time) (time.Time, error) {
	a := r.Access
	if r.FrequencyPerDay < 1 {
		return time.Time{}, Errorf(KindFieldInvalid, "frequencyPerDay", "frequencyPerDay is at least 1")
	}
	if !r.RecurringIndicator && r.FrequencyPerDay != 1 {
		return time.Time{}, Errorf(KindFieldInvalid, "frequencyPerDay", "a one-off consent (recurringIndicator false) has frequencyPerDay 1")
	}
	until, err := time.Parse(time.DateOnly, r.ValidUntil)
	if err != nil {
		return time.Time{}, Errorf(KindFieldInvalidDate, "validUntil", "validUntil is a date: YYYY-MM-DD")
	}
	today := day0(now)
	if until.Before(today) {
		return time.Time{}, Errorf(KindFieldInvalidDate, "validUntil", "validUntil %s has passed", r.ValidUntil)
	}
	if max := today.AddDate(0, 0, MaxConsentDays); until.After(max) {
		until = max
	}
	lists := map[string][]BGAccountRef{"accounts": a.Accounts, "balances": a.Balances, "transactions": a.Transactions}
	given := a.Accounts != nil || a.Balances != nil || a.Transactions != nil
	if a.AdditionalInformation != nil {
		return time.Time{}, Errorf(KindParameterNotSupported, "access.additionalInformation", "the bank does not offer additionalInformation (owner names, trusted beneficiaries)")
	}
	for _, v := range []struct{ name, value string }{{"availableAccounts", a.AvailableAccounts},
		{"availableAccountsWithBalance", a.AvailableAccountsWithBalance}, {"allPsd2", a.AllPsd2}} {
		if v.value != "" && v.value != "allAccounts" && v.value != "allAccountsWithOwnerName" {
			return time.Time{}, Errorf(KindFieldInvalid, "access."+v.name, "access.%s is allAccounts or allAccountsWithOwnerName", v.name)
		}
	}
	switch n := count(a.AvailableAccounts != "", a.AvailableAccountsWithBalance != "", a.AllPsd2 != "", given); {
	case n == 0:
		return time.Time{}, Errorf(KindFieldMissing, "access", "access names no service: accounts, balances, transactions, availableAccounts or allPsd2")
	case n > 1:
		return time.Time{}, Errorf(KindFieldInvalid, "access", "access asks for one of: account lists, availableAccounts, availableAccountsWithBalance, allPsd2")
	}
	empty, full := 0, 0
	for name, l := range lists {
		switch {
		case l == nil:
		case len(l) == 0:
			empty++
		default:
			full++
			for i, ref := range l {
				if err := ref.check(fmt.Sprintf("access.%s[%d]", name, i)); err != nil {
					return time.Time{}, err
				}
			}
		}
	}
	if empty > 0 && full > 0 {
		return time.Time{}, Errorf(KindFieldInvalid, "access", "a bank-offered consent gives every list it uses empty (the PSU chooses the accounts)")
	}
	return until.AddDate(0, 0, 1), nil
}

func count(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// day0 is the start of t's day (UTC).
func day0(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// BGConsentInput is a consent request as received.
type BGConsentInput struct {
	ClientID, Scenario string
	Raw                []byte // the body as sent
}

// CreateBGConsent checks a consent request and keeps it, received.
func (b *Bank) CreateBGConsent(ctx context.Context, in BGConsentInput) (*Consent, error) {
	var r BGConsentRequest
	if err := json.Unmarshal(in.Raw, &r); err != nil {
		return nil, Errorf(KindMalformed, "", "the body is not a consent request")
	}
	now := b.now()
	expires, err := checkBGConsent(r, now)
	if err != nil {
		return nil, err
	}
	raw, err := Canonical(in.Raw)
	if err != nil {
		return nil, err
	}
	c := &Consent{ID: "bgc-" + b.newID(), Kind: ConsentBGAccounts, ClientID: in.ClientID, Version: VersionBG, Status: StatusAwaitingAuthorisation,
		CreatedAt: now, StatusAt: now, ExpiresAt: expires, Request: raw, Scenario: in.Scenario, Permissions: bgPermissions(r)}
	if err := b.store.CreateConsent(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// bgPermissions are the UK permissions that say in words what the consent
// shows (the PSU's pages describe it with them).
func bgPermissions(r BGConsentRequest) Permissions {
	var p Permissions
	a := r.Access
	tx := Permissions(ReadTransactionsDetail | ReadTransactionsCredits | ReadTransactionsDebits)
	switch r.kind() {
	case "allPsd2":
		return Permissions(ReadAccountsDetail|ReadBalances) | tx
	case "availableAccounts":
		p = Permissions(ReadAccountsBasic)
		if a.AvailableAccountsWithBalance != "" {
			p |= Permissions(ReadBalances)
		}
		return p
	}
	p = Permissions(ReadAccountsDetail)
	if a.Balances != nil {
		p |= Permissions(ReadBalances)
	}
	if a.Transactions != nil {
		p |= tx
	}
	return p
}

// BGConsent is the consent request a Berlin Group consent was made with.
func (c *Consent) BGConsent() BGConsentRequest {
	var r BGConsentRequest
	_ = json.Unmarshal(c.Request, &r)
	return r
}

// ValidUntil is the consent's last valid day (as adjusted by the bank).
func (c *Consent) ValidUntil() string {
	return c.ExpiresAt.AddDate(0, 0, -1).Format(time.DateOnly)
}

// Consent statuses in Berlin Group's words (consentStatus).
const (
	BGReceived        = "received"
	BGRejected        = "rejected"
	BGValid           = "valid"
	BGRevokedByPSU    = "revokedByPsu"
	BGExpired         = "expired"
	BGTerminatedByTPP = "terminatedByTpp"
)

// BGConsentStatus is a consent's consentStatus at now.
func BGConsentStatus(c *Consent, now time.Time) string {
	switch {
	case c.Deleted:
		return BGTerminatedByTPP
	case c.PSURevoked:
		return BGRevokedByPSU
	case c.Status == StatusRejected:
		return BGRejected
	case c.Status == StatusAwaitingAuthorisation:
		return BGReceived
	case c.Expired(now):
		return BGExpired
	}
	return BGValid
}

// bgOwn reads a Berlin Group resource of a kind the TPP made: none, another
// kind or another TPP's -> unknown (the TPP learns nothing of others').
func (b *Bank) bgOwn(ctx context.Context, clientID, kind, id string) (*Consent, error) {
	unknown := func(rule string) error {
		switch {
		case kind == ConsentBGAccounts:
			return Errorf(KindConsentUnknown, "consentId", "no consent %s of this TPP", clip(id, 64)).WithRule(rule)
		case rule == RuleForeignObject:
			return Errorf(KindForbidden, "", "%s belongs to another TPP", clip(id, 64)).WithRule(rule)
		}
		return Errorf(KindNotFound, "", "no resource %s", clip(id, 64)).WithRule(rule)
	}
	c, err := b.store.Consent(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound) || (err == nil && c.Kind != kind):
		return nil, unknown(RuleUnknownObject)
	case err != nil:
		return nil, err
	case c.ClientID != clientID:
		return nil, unknown(RuleForeignObject)
	}
	return &c, nil
}

// BGConsent reads a consent of the TPP's (a terminated one too: its
// status says so).
func (b *Bank) BGConsent(ctx context.Context, clientID, id string) (*Consent, error) {
	return b.bgOwn(ctx, clientID, ConsentBGAccounts, id)
}

// DeleteBGConsent is the TPP terminating its consent: terminatedByTpp, and
// no data call passes it any more.
func (b *Bank) DeleteBGConsent(ctx context.Context, clientID, id string) error {
	c, err := b.BGConsent(ctx, clientID, id)
	if err != nil {
		return err
	}
	if c.Deleted {
		return Errorf(KindStatusInvalid, "consentId", "consent %s is already terminated", c.ID)
	}
	return b.store.DeleteConsent(ctx, c.ID, b.now())
}

// BGRights are what a consent lets a TPP read of one account.
type BGRights struct {
	Listed, Details, Balances, Transactions bool
}

// BGRights says what the consent gives of an account it reaches.
func (c *Consent) BGRights(a Account) BGRights { return c.BGConsent().rights(c, a) }

// rights is BGRights for the consent c made with the request r.
func (r BGConsentRequest) rights(c *Consent, a Account) BGRights {
	if !slices.Contains(c.Accounts, a.ID) {
		return BGRights{}
	}
	switch r.kind() {
	case "allPsd2":
		return BGRights{true, true, true, true}
	case "availableAccounts":
		return BGRights{Listed: true, Balances: r.Access.AvailableAccountsWithBalance != ""}
	}
	in := func(l []BGAccountRef) bool {
		if l == nil {
			return false
		}
		if len(l) == 0 {
			return true // bank-offered: every account the PSU chose
		}
		return slices.ContainsFunc(l, func(ref BGAccountRef) bool { return ref.Matches(a) })
	}
	g := BGRights{Balances: in(r.Access.Balances), Transactions: in(r.Access.Transactions)}
	g.Details = in(r.Access.Accounts) || g.Balances || g.Transactions
	g.Listed = g.Details
	return g
}

// BGGrant is what a Berlin Group data call may reach: its valid consent and
// the accounts the PSU gave it.
type BGGrant struct {
	Consent  *Consent
	Accounts []Account
	request  *BGConsentRequest // the consent's request, read on first use
}

// Rights is the consent's BGRights of a, its request read once per grant (a
// list asks for every account twice).
func (g *BGGrant) Rights(a Account) BGRights {
	if g.request == nil {
		r := g.Consent.BGConsent()
		g.request = &r
	}
	return g.request.rights(g.Consent, a)
}

// BGDataAccess checks a data call's consent (Consent-ID): the TPP's, valid,
// not expired; and counts the call against frequencyPerDay when the PSU is
// not present (no PSU-IP-Address): each resource (path) that many times a
// day on the sandbox clock, a one-off consent's once for its life. Over it
// -> rate limited (429 ACCESS_EXCEEDED), whatever the rate limits say.
func (b *Bank) BGDataAccess(ctx context.Context, clientID, consentID, resource string, present bool) (*BGGrant, error) {
	c, err := b.BGConsent(ctx, clientID, consentID)
	if err != nil {
		return nil, err
	}
	now := b.now()
	switch st := BGConsentStatus(c, now); st {
	case BGValid:
	case BGExpired:
		return nil, Errorf(KindConsentExpired, "Consent-ID", "consent %s expired at the end of %s", c.ID, c.ValidUntil())
	default:
		return nil, Errorf(KindConsentInvalid, "Consent-ID", "consent %s is %s, not valid", c.ID, st).WithRule("consent.status")
	}
	if !present {
		r := c.BGConsent()
		period := now.UTC().Format(time.DateOnly)
		if !r.RecurringIndicator {
			period = "once"
		}
		ok, err := b.bg().CountAccess(ctx, c.ID, resource, period, r.FrequencyPerDay)
		if err != nil {
			return nil, err
		}
		if !ok {
			what := fmt.Sprintf("%d time(s) a day", r.FrequencyPerDay)
			if !r.RecurringIndicator {
				what = "once (a one-off consent)"
			}
			return nil, Errorf(KindRateLimited, "Consent-ID", "this resource was read %s without the PSU present (frequencyPerDay); send PSU-IP-Address when the PSU is there", what).WithRule("consent.frequency_per_day")
		}
	}
	accts, err := b.store.Accounts(ctx, c.PSU, c.Accounts)
	if err != nil {
		return nil, err
	}
	return &BGGrant{Consent: c, Accounts: accts}, nil
}

// Listed is the accounts the grant lists: payment accounts, or card
// accounts with card.
func (g *BGGrant) Listed(card bool) []Account {
	var out []Account
	for _, a := range g.Accounts {
		if a.IsCard() == card && g.Rights(a).Listed {
			out = append(out, a)
		}
	}
	return out
}

// BGAccount resolves an account a data call names: unknown (or a card
// account on the payment-account endpoints, and the reverse) -> not found;
// one outside the consent, or a service the consent does not give it ->
// the consent is invalid for it.
func (b *Bank) BGAccount(ctx context.Context, g *BGGrant, id string, card bool, need func(BGRights) bool, what string) (Account, error) {
	for _, a := range g.Accounts {
		if a.ID != id {
			continue
		}
		if a.IsCard() != card {
			break
		}
		if !need(g.Rights(a)) {
			return a, Errorf(KindConsentInvalid, "account-id", "consent %s does not give access to the %s of this account", g.Consent.ID, what).WithRule(RuleMissingPermits)
		}
		return a, nil
	}
	exists, err := b.store.AccountExists(ctx, id)
	if err != nil {
		return Account{}, err
	}
	if exists && !slices.ContainsFunc(g.Accounts, func(a Account) bool { return a.ID == id }) {
		return Account{}, Errorf(KindConsentInvalid, "account-id", "account %s is not part of consent %s", clip(id, 64), g.Consent.ID).WithRule(RuleForeignObject)
	}
	return Account{}, Errorf(KindNotFound, "account-id", "no account %s", clip(id, 64)).WithRule(RuleUnknownObject)
}

// grant is the UK use cases' view of one account of the grant, with every
// permission the Berlin Group rights map to.
func (g *BGGrant) grant(a Account) *Grant {
	return &Grant{ClientID: g.Consent.ClientID, ConsentID: g.Consent.ID, PSU: g.Consent.PSU, Accounts: []string{a.ID},
		Permissions: Permissions(ReadAccountsDetail | ReadBalances | ReadTransactionsDetail | ReadTransactionsCredits | ReadTransactionsDebits |
			ReadStandingOrdersDetail)}
}

// BGBalances are an account's balances now: the same as every standard's.
func (b *Bank) BGBalances(ctx context.Context, g *BGGrant, a Account) ([]Balance, error) {
	return b.Balances(ctx, g.grant(a), a.ID)
}

// Booking statuses of a transaction report (bookingStatus).
const (
	BookingBooked      = "booked"
	BookingPending     = "pending"
	BookingBoth        = "both"
	BookingInformation = "information"
	BookingAll         = "all"
)

// BGTxRequest is a transaction report a TPP asks for.
type BGTxRequest struct {
	BookingStatus string
	From, To      time.Time // booking dates, inclusive; zero To: today
	Offset, Limit int
}

// BGReport is a page of an account's transaction report: booked and pending
// entries (newest first) and, for "information", its active standing orders.
type BGReport struct {
	Page        TxPage
	Information []StandingOrder
}

// BGTransactions is a page of an account's transactions by booking status.
func (b *Bank) BGTransactions(ctx context.Context, g *BGGrant, a Account, r BGTxRequest) (BGReport, error) {
	var rep BGReport
	gr := g.grant(a)
	if r.BookingStatus == BookingInformation || r.BookingStatus == BookingAll {
		sos, err := b.StandingOrders(ctx, gr, a.ID)
		if err != nil {
			return rep, err
		}
		for _, so := range sos {
			if so.Status == "Active" {
				rep.Information = append(rep.Information, so)
			}
		}
		if r.BookingStatus == BookingInformation {
			return rep, nil
		}
	}
	if err := b.settled(ctx); err != nil {
		return rep, err
	}
	q := TxQuery{Accounts: []Account{a}, From: r.From, To: r.To, Offset: r.Offset, Limit: r.Limit, Direction: DirectionBoth}
	switch r.BookingStatus {
	case BookingBooked:
		q.BookedOnly = true
	case BookingPending:
		q.PendingOnly = true
	}
	var err error
	rep.Page, err = b.store.Transactions(ctx, q)
	return rep, err
}

// BGTransaction is one transaction of an account (transactionId).
func (b *Bank) BGTransaction(ctx context.Context, a Account, id string) (Transaction, error) {
	t, err := b.bg().TransactionByID(ctx, a, id)
	if errors.Is(err, ErrNotFound) {
		return t, Errorf(KindNotFound, "transactionId", "no transaction %s on this account", clip(id, 64)).WithRule(RuleUnknownObject)
	}
	return t, err
}
