package bank

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Berlin Group payments: a payment initiation is kept as a consent of kind
// ConsentBGPayment, received until the PSU authorises it; then the bank
// makes its orders (store.Submit, the same as the UK APIs' payments: the
// same ledger, the same settlement on the sandbox clock), and its
// transactionStatus follows them.

// Payment services and the products the bank offers.
const (
	ServicePayments         = "payments"
	ServicePeriodicPayments = "periodic-payments"
	ServiceBulkPayments     = "bulk-payments"

	ProductSEPA        = "sepa-credit-transfers"
	ProductInstantSEPA = "instant-sepa-credit-transfers"
	ProductTarget2     = "target-2-payments"
	ProductCrossBorder = "cross-border-credit-transfers"
)

// BGProducts are the payment products the bank offers (the pain.001 XML
// ones are not).
var BGProducts = []string{ProductSEPA, ProductInstantSEPA, ProductTarget2, ProductCrossBorder}

// Transaction statuses (ISO 20022, transactionStatus).
const (
	TxReceived   = "RCVD"
	TxTechnical  = "ACTC" // authorised; not yet executed
	TxInProcess  = "ACSP" // accepted for settlement
	TxCompleted  = "ACSC" // the debtor's account is debited
	TxRejected   = "RJCT"
	TxCancelled  = "CANC"
	TxPartial    = "PART" // a bulk of which some payments were rejected
	TxPartAuthed = "PATC"
)

// BGAmount is an amount as the standard writes it.
type BGAmount struct {
	Currency string `json:"currency"`
	Amount   string `json:"amount"`
}

// BGPaymentEntry is one payment: a single or periodic one, or a bulk's
// element.
type BGPaymentEntry struct {
	EndToEndID       string       `json:"endToEndIdentification,omitempty"`
	InstructedAmount BGAmount     `json:"instructedAmount"`
	CreditorAccount  BGAccountRef `json:"creditorAccount"`
	CreditorName     string       `json:"creditorName"`
	Remittance       string       `json:"remittanceInformationUnstructured,omitempty"`
}

// BGPaymentRequest is a payment initiation's body, for any service.
type BGPaymentRequest struct {
	BGPaymentEntry
	DebtorAccount          BGAccountRef     `json:"debtorAccount"`
	RequestedExecutionDate string           `json:"requestedExecutionDate,omitempty"`
	StartDate              string           `json:"startDate,omitempty"`
	EndDate                string           `json:"endDate,omitempty"`
	Frequency              string           `json:"frequency,omitempty"`
	DayOfExecution         string           `json:"dayOfExecution,omitempty"`
	ExecutionRule          string           `json:"executionRule,omitempty"`
	Payments               []BGPaymentEntry `json:"payments,omitempty"`
	BatchBookingPreferred  bool             `json:"batchBookingPreferred,omitempty"`
}

// bgPayment is what the bank keeps of a payment initiation (the consent's
// Request): its service and product, the outcome a scenario forces on it,
// and the body as sent.
type bgPayment struct {
	Service string          `json:"service"`
	Product string          `json:"product"`
	Outcome string          `json:"outcome,omitempty"`
	Body    json.RawMessage `json:"body"`
}

// BGPayment is a payment initiation as the bank understands it.
type BGPayment struct {
	Service, Product string
	Body             json.RawMessage // as sent
	Request          BGPaymentRequest
	Debtor           Account
	Orders           []Initiation // one per payment, amounts in minor units
	Outcome          string
	Execute          time.Time // single and bulk: the requested date (zero: at once)
	Start, End       time.Time // periodic
}

// Total is the sum of the payments.
func (p *BGPayment) Total() int64 {
	var t int64
	for _, o := range p.Orders {
		t += o.Amount
	}
	return t
}

// bgFrequency turns a frequencyCode (ISO 20022 EventFrequency7Code) with its
// day of execution into the bank's schedule.
func bgFrequency(code string, start time.Time, dayOfExecution string) (string, error) {
	d := start.Day()
	if dayOfExecution != "" {
		d, _ = strconv.Atoi(dayOfExecution)
	}
	wd := int(start.Weekday())
	if wd == 0 {
		wd = 7
	}
	switch code {
	case "Daily":
		return "EvryDay", nil
	case "Weekly":
		return fmt.Sprintf("IntrvlWkDay:01:%02d", wd), nil
	case "EveryTwoWeeks":
		return fmt.Sprintf("IntrvlWkDay:02:%02d", wd), nil
	case "Monthly":
		return fmt.Sprintf("IntrvlMnthDay:01:%02d", d), nil
	case "EveryTwoMonths":
		return fmt.Sprintf("IntrvlMnthDay:02:%02d", d), nil
	case "Quarterly":
		return fmt.Sprintf("IntrvlMnthDay:03:%02d", d), nil
	case "SemiAnnual":
		return fmt.Sprintf("IntrvlMnthDay:06:%02d", d), nil
	case "Annual":
		return fmt.Sprintf("IntrvlMnthDay:12:%02d", d), nil
	}
	return "", Errorf(KindFieldInvalid, "frequency", "frequency %s is not offered (Daily, Weekly, EveryTwoWeeks, Monthly, EveryTwoMonths, Quarterly, SemiAnnual, Annual)", clip(code, 20))
}

// BGFrequencyCode is a standing order's schedule as a frequencyCode, with
// its day of execution (the reverse of bgFrequency; "" for one it cannot say).
func BGFrequencyCode(f string) (code, day string) {
	fr, err := ParseFrequency(f, "")
	if err != nil {
		return "", ""
	}
	switch fr.kind {
	case "EvryDay", "EvryWorkgDay":
		return "Daily", ""
	case "IntrvlWkDay":
		if fr.interval == 2 {
			return "EveryTwoWeeks", ""
		}
		return "Weekly", ""
	case "IntrvlMnthDay":
		if fr.day > 0 {
			day = strconv.Itoa(fr.day)
		}
		switch fr.interval {
		case 2:
			return "EveryTwoMonths", day
		case 3:
			return "Quarterly", day
		case 6:
			return "SemiAnnual", day
		case 12:
			return "Annual", day
		}
		return "Monthly", day
	case "QtrDay":
		return "Quarterly", ""
	}
	return "Monthly", ""
}

// executionHour is when on its day the bank executes a dated payment.
const executionHour = 6

// parseBGPayment reads and checks a payment initiation: the product's
// currency (SEPA, instant SEPA and TARGET2 in euros), IBANs with valid
// check digits, a debtor account of this bank in the payment's currency,
// dates today or later.
func (b *Bank) parseBGPayment(ctx context.Context, service, product string, raw json.RawMessage, now time.Time) (*BGPayment, error) {
	if !slices.Contains(BGProducts, product) {
		return nil, Errorf(KindProductUnknown, "payment-product", "the bank does not offer %s (it offers %v)", clip(product, 64), BGProducts)
	}
	p := &BGPayment{Service: service, Product: product, Body: raw}
	if err := json.Unmarshal(raw, &p.Request); err != nil {
		return nil, Errorf(KindMalformed, "", "the body is not a payment initiation")
	}
	r := p.Request
	if err := r.DebtorAccount.check("debtorAccount"); err != nil {
		return nil, err
	}
	if r.DebtorAccount.IBAN == "" {
		return nil, Errorf(KindFieldInvalid, "debtorAccount", "the debtor account is named by its IBAN")
	}
	debtor, err := b.bg().AccountByIBAN(ctx, r.DebtorAccount.IBAN)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, Errorf(KindFieldInvalid, "debtorAccount.iban", "no account of this bank has IBAN %s", r.DebtorAccount.IBAN)
	case err != nil:
		return nil, err
	case debtor.IsCard() || debtor.Status != "Enabled":
		return nil, Errorf(KindFieldInvalid, "debtorAccount.iban", "payments are made from an open payment account, not %s", debtor.SubType)
	case r.DebtorAccount.Currency != "" && r.DebtorAccount.Currency != debtor.Currency:
		return nil, Errorf(KindFieldInvalid, "debtorAccount.currency", "the debtor account is in %s", debtor.Currency)
	}
	p.Debtor = debtor
	entries := []BGPaymentEntry{r.BGPaymentEntry}
	path := func(i int, f string) string { return f }
	if service == ServiceBulkPayments {
		entries = r.Payments
		if len(entries) == 0 {
			return nil, Errorf(KindFieldMissing, "payments", "a bulk payment has at least one payment")
		}
		path = func(i int, f string) string { return fmt.Sprintf("payments[%d].%s", i, f) }
	}
	for i, e := range entries {
		amount, err := ParseMinor(e.InstructedAmount.Amount)
		if err != nil || amount <= 0 {
			return nil, Errorf(KindFieldInvalid, path(i, "instructedAmount.amount"), "the amount is positive with at most two decimals")
		}
		cur := e.InstructedAmount.Currency
		if product != ProductCrossBorder && cur != "EUR" {
			return nil, Errorf(KindFieldInvalid, path(i, "instructedAmount.currency"), "%s are in EUR, not %s", product, clip(cur, 3))
		}
		if cur != debtor.Currency {
			return nil, Errorf(KindFieldInvalid, path(i, "instructedAmount.currency"), "the debtor account is in %s: the bank converts no currency", debtor.Currency)
		}
		if err := e.CreditorAccount.check(path(i, "creditorAccount")); err != nil {
			return nil, err
		}
		if e.CreditorAccount.IBAN == "" {
			return nil, Errorf(KindFieldInvalid, path(i, "creditorAccount"), "the creditor account is named by its IBAN")
		}
		if e.CreditorAccount.IBAN == debtor.IBAN {
			return nil, Errorf(KindFieldInvalid, path(i, "creditorAccount.iban"), "an account cannot pay itself")
		}
		p.Orders = append(p.Orders, Initiation{EndToEndID: e.EndToEndID, Amount: amount, Currency: cur, Reference: e.Remittance,
			Debtor:   &AccountRef{Scheme: SchemeIBAN, Identification: debtor.IBAN, Name: debtor.HolderName},
			Creditor: AccountRef{Scheme: SchemeIBAN, Identification: e.CreditorAccount.IBAN, Name: e.CreditorName}})
	}
	today := day0(now)
	date := func(field, v string) (time.Time, error) {
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return t, Errorf(KindFieldInvalidDate, field, "%s is a date: YYYY-MM-DD", field)
		}
		if t.Before(today) {
			return t, Errorf(KindExecutionDateInvalid, field, "%s %s has passed", field, v)
		}
		return t, nil
	}
	switch service {
	case ServicePeriodicPayments:
		if p.Start, err = date("startDate", r.StartDate); err != nil {
			return nil, err
		}
		if r.EndDate != "" {
			if p.End, err = time.Parse(time.DateOnly, r.EndDate); err != nil {
				return nil, Errorf(KindFieldInvalidDate, "endDate", "endDate is a date: YYYY-MM-DD")
			}
			if p.End.Before(p.Start) {
				return nil, Errorf(KindExecutionDateInvalid, "endDate", "endDate is before startDate")
			}
		}
		freq, err := bgFrequency(r.Frequency, p.Start, r.DayOfExecution)
		if err != nil {
			return nil, err
		}
		first := p.Start.Add(executionHour * time.Hour)
		if d, _ := strconv.Atoi(r.DayOfExecution); d > 0 && d != p.Start.Day() && !slices.Contains([]string{"Daily", "Weekly", "EveryTwoWeeks"}, r.Frequency) {
			// The first execution is the first day of execution on or after startDate.
			at := func(m time.Time) time.Time {
				return time.Date(m.Year(), m.Month(), min(d, lastDay(m)), executionHour, 0, 0, 0, time.UTC)
			}
			if first = at(p.Start); first.Before(p.Start) {
				first = at(time.Date(p.Start.Year(), p.Start.Month()+1, 1, 0, 0, 0, 0, time.UTC))
			}
		}
		o := &p.Orders[0]
		o.Frequency, o.FirstAt, o.Recurring = freq, first, o.Amount
		if !p.End.IsZero() {
			o.FinalAt = p.End.Add(24*time.Hour - time.Second)
		}
	default:
		if r.RequestedExecutionDate != "" {
			t, err := date("requestedExecutionDate", r.RequestedExecutionDate)
			if err != nil {
				return nil, err
			}
			if t.After(today) {
				if product == ProductInstantSEPA {
					return nil, Errorf(KindExecutionDateInvalid, "requestedExecutionDate", "instant payments are executed at once, not on a later date")
				}
				p.Execute = t.Add(executionHour * time.Hour)
			}
		}
	}
	return p, nil
}

func lastDay(t time.Time) int { return time.Date(t.Year(), t.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day() }

// BGPaymentInput is a payment initiation as received.
type BGPaymentInput struct {
	ClientID, Service, Product, Scenario string
	Raw                                  []byte
	// Outcome is what a scenario makes of the payment when it is executed
	// ("" for none; OutcomeInsufficientFunds, ...).
	Outcome string
}

// InitiateBGPayment checks a payment initiation and keeps it, RCVD.
func (b *Bank) InitiateBGPayment(ctx context.Context, in BGPaymentInput) (*Consent, *BGPayment, error) {
	now := b.now()
	body, err := Canonical(in.Raw)
	if err != nil {
		return nil, nil, Errorf(KindMalformed, "", "the body is not valid JSON")
	}
	p, err := b.parseBGPayment(ctx, in.Service, in.Product, body, now)
	if err != nil {
		return nil, nil, err
	}
	p.Outcome = in.Outcome
	kept, err := json.Marshal(bgPayment{Service: in.Service, Product: in.Product, Outcome: in.Outcome, Body: body})
	if err != nil {
		return nil, nil, err
	}
	first := p.Orders[0]
	sum := first
	sum.Amount = p.Total()
	c := &Consent{ID: "bgp-" + b.newID(), Kind: ConsentBGPayment, ClientID: in.ClientID, Version: VersionBG, Status: StatusAwaitingAuthorisation,
		CreatedAt: now, StatusAt: now, ExpiresAt: now.Add(PaymentConsentLifetime), Request: kept, Scenario: in.Scenario, Initiation: &sum}
	if err := b.store.CreateConsent(ctx, c); err != nil {
		return nil, nil, err
	}
	return c, p, nil
}

// BGPaymentOf reads back a payment initiation kept by InitiateBGPayment.
func (b *Bank) BGPaymentOf(ctx context.Context, c *Consent) (*BGPayment, error) {
	var kept bgPayment
	if err := json.Unmarshal(c.Request, &kept); err != nil {
		return nil, err
	}
	// The checks passed when it was made; its dates are read as they were.
	p, err := b.parseBGPayment(ctx, kept.Service, kept.Product, kept.Body, c.CreatedAt)
	if err != nil {
		return nil, err
	}
	p.Outcome = kept.Outcome
	return p, nil
}

// BGPaymentResource reads a payment of the TPP's under its service and
// product: another's -> forbidden, none (or another service or product)
// -> not found.
func (b *Bank) BGPaymentResource(ctx context.Context, clientID, service, product, id string) (*Consent, *BGPayment, error) {
	if !slices.Contains(BGProducts, product) {
		return nil, nil, Errorf(KindProductUnknown, "payment-product", "the bank does not offer %s", clip(product, 64))
	}
	c, err := b.bgOwn(ctx, clientID, ConsentBGPayment, id)
	if err != nil {
		return nil, nil, err
	}
	p, err := b.BGPaymentOf(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	if p.Service != service || p.Product != product {
		return nil, nil, Errorf(KindNotFound, "paymentId", "payment %s is not a %s of %s", c.ID, service, product).WithRule(RuleUnknownObject)
	}
	return c, p, nil
}

// BGPaymentState is a payment initiation's state now.
type BGPaymentState struct {
	Status string    // transactionStatus
	Orders []Payment // what the bank made of it
}

// BGPaymentStatus brings the payment's orders up to the sandbox clock and
// says its transactionStatus: RCVD until authorised; ACTC authorised and
// not yet executed; ACSP accepted for settlement (a standing order that has
// paid); ACSC the debtor's account debited (a standing order that ended);
// RJCT refused by the PSU or the bank (insufficient funds); CANC cancelled;
// PART a bulk of which some payments were rejected.
func (b *Bank) BGPaymentStatus(ctx context.Context, c *Consent) (BGPaymentState, error) {
	var st BGPaymentState
	if err := b.CatchUp(ctx); err != nil {
		return st, err
	}
	switch {
	case c.Deleted:
		st.Status = TxCancelled
		return st, nil
	case c.Status == StatusAwaitingAuthorisation:
		st.Status = TxReceived
		return st, nil
	case c.Status == StatusRejected:
		st.Status = TxRejected
		return st, nil
	}
	orders, err := b.bg().PaymentsOfConsent(ctx, c.ID)
	if err != nil {
		return st, err
	}
	st.Orders = orders
	if len(orders) == 0 {
		st.Status = TxTechnical
		return st, nil
	}
	var rejected, done, moving int
	for _, o := range orders {
		switch o.Status {
		case PaymentRejected, OrderInitiationFailed:
			rejected++
		case PaymentCompleted, OrderInitiationCompleted:
			done++
		case PaymentInProcess:
			moving++
		case "Cancelled":
			st.Status = TxCancelled
			return st, nil
		}
	}
	if orders[0].Kind == OrderStanding {
		return b.standingStatus(ctx, c, orders[0])
	}
	switch {
	case rejected == len(orders):
		st.Status = TxRejected
	case rejected > 0:
		st.Status = TxPartial
	case done == len(orders):
		st.Status = TxCompleted
	case done+moving > 0:
		st.Status = TxInProcess
	default:
		st.Status = TxTechnical
	}
	return st, nil
}

// standingStatus is a periodic payment's status: ACTC before its first
// payment, ACSP while it pays, ACSC once it has ended.
func (b *Bank) standingStatus(ctx context.Context, c *Consent, o Payment) (BGPaymentState, error) {
	st := BGPaymentState{Orders: []Payment{o}, Status: TxTechnical}
	accts, err := b.store.Accounts(ctx, c.PSU, c.Accounts)
	if err != nil {
		return st, err
	}
	sos, err := b.store.StandingOrders(ctx, accts)
	if err != nil {
		return st, err
	}
	for _, so := range sos {
		if so.ID != o.ID {
			continue
		}
		switch {
		case so.Status != "Active":
			st.Status = TxCompleted
		case !so.LastAt.IsZero():
			st.Status = TxInProcess
		}
	}
	return st, nil
}

// BGCancellation is what cancelling a payment takes.
type BGCancellation int

// What a cancellation does.
const (
	CancelledAtOnce   BGCancellation = iota // it was not authorised: cancelled (204)
	CancelNeedsPSU                          // its orders run: the PSU authorises the cancellation (202)
	CancellationNever                       // it cannot be cancelled any more (405)
)

// Cancellable says what cancelling the payment takes: a payment still
// received is cancelled at once; an authorised future-dated or periodic
// one needs the PSU's authorisation; any other cannot be.
func (b *Bank) Cancellable(ctx context.Context, c *Consent) (BGCancellation, error) {
	if c.Deleted || c.Status == StatusRejected {
		return CancellationNever, nil
	}
	if c.Status == StatusAwaitingAuthorisation {
		return CancelledAtOnce, nil
	}
	st, err := b.BGPaymentStatus(ctx, c)
	if err != nil {
		return 0, err
	}
	for _, o := range st.Orders {
		open := (o.Kind == OrderScheduled && o.Status == OrderInitiationPending) || (o.Kind == OrderStanding && st.Status != TxCompleted)
		if !open {
			return CancellationNever, nil
		}
	}
	if len(st.Orders) == 0 {
		return CancellationNever, nil
	}
	return CancelNeedsPSU, nil
}

// CancelBGPayment is the TPP's DELETE on a payment: cancelled at once when
// it was not authorised, else it says that the PSU must authorise the
// cancellation (or that it cannot be cancelled: 405 CANCELLATION_INVALID).
func (b *Bank) CancelBGPayment(ctx context.Context, c *Consent) (BGCancellation, error) {
	how, err := b.Cancellable(ctx, c)
	switch {
	case err != nil:
		return 0, err
	case how == CancellationNever:
		st, _ := b.BGPaymentStatus(ctx, c)
		return how, Errorf(KindCancellationInvalid, "paymentId", "payment %s is %s: it can no longer be cancelled", c.ID, st.Status)
	case how == CancelledAtOnce:
		_, err := b.bg().UpdateConsent(ctx, c.ID, func(x *Consent) error {
			if x.Status != StatusAwaitingAuthorisation || x.Deleted {
				return Errorf(KindStatusInvalid, "paymentId", "payment %s was authorised meanwhile", c.ID)
			}
			x.Deleted, x.StatusAt = true, b.now()
			return nil
		})
		return how, err
	}
	return how, nil
}

// executeBGPayment makes the orders of an authorised payment, once: each
// payment an order of the bank's (a domestic one, a scheduled one on its
// date, or a standing order), decided on the debtor's available balance.
func (b *Bank) executeBGPayment(ctx context.Context, c *Consent) error {
	p, err := b.BGPaymentOf(ctx, c)
	if err != nil {
		return err
	}
	now := b.now()
	settle := b.settlement
	if p.Product == ProductInstantSEPA {
		settle = 0 // SCT Inst: settled at once
	}
	for i, in := range p.Orders {
		in := in
		kind := OrderDomestic
		switch {
		case p.Service == ServicePeriodicPayments:
			kind = OrderStanding
		case !p.Execute.IsZero():
			kind, in.RequestedAt = OrderScheduled, p.Execute
		}
		request, _ := json.Marshal(in)
		o := Order{
			Payment: Payment{ID: "bgo-" + b.newID(), Kind: kind, ConsentID: c.ID, ClientID: c.ClientID, Amount: in.Amount,
				Currency: in.Currency, Request: request, ProcessAt: now.Add(settle / 2), SettleAt: now.Add(settle)},
			Debtor: p.Debtor.ID, Creditor: in.Creditor, Reference: in.Reference, Outcome: p.Outcome,
			Check: func(x *Consent) error {
				if x.Status != StatusAuthorised && x.Status != StatusConsumed {
					return Errorf(KindStatusInvalid, "", "the payment is %s", x.Status)
				}
				return nil
			},
		}
		if kind != OrderDomestic {
			o.Schedule = &in
		}
		// Once per payment of the initiation, however often it is executed.
		idem := Idem{ClientID: c.ClientID, Operation: "bg-payment-order", Key: fmt.Sprintf("%s#%d", c.ID, i), BodyHash: "-"}
		if _, _, err := b.store.Submit(ctx, o, idem, now); err != nil {
			return err
		}
	}
	return nil
}

// BGFundsRequest is a PIIS funds confirmation.
type BGFundsRequest struct {
	ClientID  string
	ConsentID string // optional: a consent of the TPP's that reaches the account
	Account   BGAccountRef
	Amount    BGAmount
}

// BGFunds answers whether an account can pay an amount now, from its
// available balance. With a consent, the consent must be the TPP's, valid
// and reach the account.
func (b *Bank) BGFunds(ctx context.Context, r BGFundsRequest) (bool, error) {
	if err := r.Account.check("account"); err != nil {
		return false, err
	}
	amount, err := ParseMinor(r.Amount.Amount)
	if err != nil || amount <= 0 {
		return false, Errorf(KindFieldInvalid, "instructedAmount.amount", "the amount is positive with at most two decimals")
	}
	var a Account
	if r.Account.IBAN != "" {
		a, err = b.bg().AccountByIBAN(ctx, r.Account.IBAN)
	} else {
		err = ErrNotFound
	}
	if r.ConsentID != "" {
		c, cerr := b.BGConsent(ctx, r.ClientID, r.ConsentID)
		if cerr != nil {
			return false, cerr
		}
		if st := BGConsentStatus(c, b.now()); st != BGValid {
			if st == BGExpired {
				return false, Errorf(KindConsentExpired, "Consent-ID", "consent %s has expired", c.ID)
			}
			return false, Errorf(KindConsentInvalid, "Consent-ID", "consent %s is %s", c.ID, st)
		}
		if accts, aerr := b.store.Accounts(ctx, c.PSU, c.Accounts); aerr == nil && err != nil {
			// A card account named by its card number, within the consent.
			for _, x := range accts {
				if r.Account.Matches(x) {
					a, err = x, nil
				}
			}
		}
		if err == nil && !c.BGRights(a).Listed {
			return false, Errorf(KindConsentInvalid, "account", "consent %s does not reach this account", c.ID)
		}
	}
	switch {
	case errors.Is(err, ErrNotFound):
		return false, Errorf(KindFieldInvalid, "account", "no account of this bank matches the reference (IBAN; a card account by pan within a consent)")
	case err != nil:
		return false, err
	case r.Amount.Currency != a.Currency:
		return false, Errorf(KindFieldInvalid, "instructedAmount.currency", "the account is in %s", a.Currency)
	}
	if err := b.CatchUp(ctx); err != nil {
		return false, err
	}
	st, err := b.store.Ledgers(ctx, []Account{a}, b.now())
	if err != nil {
		return false, err
	}
	ok, _ := Accept(a, st[a.Ref], amount)
	return ok, nil
}

// BGBasket is a signing basket: payments and consents the PSU authorises
// with one SCA.
type BGBasket struct {
	PaymentIDs []string `json:"paymentIds,omitempty"`
	ConsentIDs []string `json:"consentIds,omitempty"`
}

// CreateBasket keeps a signing basket of the TPP's payments and consents
// that wait for authorisation.
func (b *Bank) CreateBasket(ctx context.Context, clientID string, r BGBasket) (*Consent, error) {
	if len(r.PaymentIDs)+len(r.ConsentIDs) == 0 {
		return nil, Errorf(KindFieldMissing, "paymentIds", "a signing basket holds at least one payment or consent")
	}
	for i, ids := range [][]string{r.PaymentIDs, r.ConsentIDs} {
		kind, field := ConsentBGPayment, "paymentIds"
		if i == 1 {
			kind, field = ConsentBGAccounts, "consentIds"
		}
		for j, id := range ids {
			c, err := b.bgOwn(ctx, clientID, kind, id)
			if err != nil {
				return nil, Errorf(KindFieldInvalid, fmt.Sprintf("%s[%d]", field, j), "%s is not a %s of this TPP", clip(id, 64), field[:len(field)-3])
			}
			if c.Status != StatusAwaitingAuthorisation || c.Deleted {
				return nil, Errorf(KindStatusInvalid, fmt.Sprintf("%s[%d]", field, j), "%s is not waiting for authorisation", c.ID)
			}
			if slices.Contains(ids[:j], id) {
				return nil, Errorf(KindFieldInvalid, fmt.Sprintf("%s[%d]", field, j), "%s is in the basket twice", c.ID)
			}
		}
	}
	raw, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	now := b.now()
	c := &Consent{ID: "bgb-" + b.newID(), Kind: ConsentBGBasket, ClientID: clientID, Version: VersionBG, Status: StatusAwaitingAuthorisation,
		CreatedAt: now, StatusAt: now, ExpiresAt: now.Add(PaymentConsentLifetime), Request: raw}
	if err := b.store.CreateConsent(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// Basket reads a signing basket of the TPP's.
func (b *Bank) Basket(ctx context.Context, clientID, id string) (*Consent, BGBasket, error) {
	var r BGBasket
	c, err := b.bgOwn(ctx, clientID, ConsentBGBasket, id)
	if err != nil {
		return nil, r, err
	}
	err = json.Unmarshal(c.Request, &r)
	return c, r, err
}

// BasketStatus is a basket's transactionStatus: RCVD, ACTC once
// authorised, RJCT, CANC once deleted.
func BasketStatus(c *Consent) string {
	switch {
	case c.Deleted:
		return TxCancelled
	case c.Status == StatusRejected:
		return TxRejected
	case c.Status == StatusAwaitingAuthorisation:
		return TxReceived
	}
	return TxTechnical
}

// DeleteBasket cancels a basket not yet authorised; its payments and
// consents stay as they are.
func (b *Bank) DeleteBasket(ctx context.Context, clientID, id string) error {
	c, _, err := b.Basket(ctx, clientID, id)
	if err != nil {
		return err
	}
	_, err = b.bg().UpdateConsent(ctx, c.ID, func(x *Consent) error {
		if x.Status != StatusAwaitingAuthorisation || x.Deleted {
			return Errorf(KindStatusInvalid, "basketId", "signing basket %s is %s: only a basket not yet authorised is deleted", x.ID, BasketStatus(x))
		}
		x.Deleted, x.StatusAt = true, b.now()
		return nil
	})
	return err
}
