package bank

import (
	"context"
	"slices"
	"time"
)

// International payments (OBWriteInternational3 and its scheduled and
// standing-order siblings): the debtor pays InstructedAmount, expressed in
// the currency of transfer or of the debtor's account, to a creditor who
// receives CurrencyOfTransfer. The bank converts at the rate the consent
// asked for (ExchangeRateInformation): Agreed — the TPP's contract rate,
// honoured when it is near the bank's market rate; Actual — the bank's rate
// when the payment executes; Indicative — the consent shows the bank's
// rate with an expiry, the payment books at the rate when it executes, and
// the consent cannot be used after the quote expires. The debtor's account
// is debited in its own currency on the same ledger as every other payment
// (plus the bank's charge unless the creditor bears it); a creditor holding
// an account here in the currency of transfer is credited.
const (
	ConsentInternationalPayment   = "international-payment"
	ConsentInternationalScheduled = "international-scheduled-payment"
	ConsentInternationalStanding  = "international-standing-order"

	OrderInternational          = "international"
	OrderInternationalScheduled = "international-scheduled"
	OrderInternationalStanding  = "international-standing-order"
)

func init() {
	consentPrefix[ConsentInternationalPayment] = "ipc-"
	consentPrefix[ConsentInternationalScheduled] = "ispc-"
	consentPrefix[ConsentInternationalStanding] = "isoc-"
	orderKinds[ConsentInternationalPayment] = OrderInternational
	orderKinds[ConsentInternationalScheduled] = OrderInternationalScheduled
	orderKinds[ConsentInternationalStanding] = OrderInternationalStanding
	orderPrefix[OrderInternational] = "ip-"
	orderPrefix[OrderInternationalScheduled] = "isp-"
	orderPrefix[OrderInternationalStanding] = "iso-"
}

// IsInternational reports whether the consent is for an international
// payment, scheduled payment or standing order.
func (c *Consent) IsInternational() bool { return IsInternationalKind(c.Kind) }

// IsInternationalKind reports whether a consent or order kind is
// international.
func IsInternationalKind(kind string) bool {
	switch kind {
	case ConsentInternationalPayment, ConsentInternationalScheduled, ConsentInternationalStanding, // (the standing order's order kind too)
		OrderInternational, OrderInternationalScheduled:
		return true
	}
	return false
}

// internationalInstruments are the local instruments the bank sends
// international payments by.
var internationalInstruments = []string{"", "UK.OBIE.SWIFT", "UK.OBIE.SEPACreditTransfer", "UK.OBIE.SEPAInstantCreditTransfer",
	"UK.OBIE.Target", "UK.OBIE.Euro", LocalInstrumentCHAPS}

// CheckInternational applies the bank's rules to an international
// Initiation: a positive amount in a currency the bank holds, a currency of
// transfer it holds, a local instrument it sends by, a creditor it can
// identify, and ExchangeRateInformation the standard allows (an Agreed
// rate names its rate and contract; Actual and Indicative name neither).
// path prefixes the JSON paths of errors (Data.Initiation); amountName is
// the amount's member (InstructedAmount, FirstPaymentAmount).
func CheckInternational(in *Initiation, amount, path, amountName string) error {
	var f FX
	v, err := ParseMinor(amount)
	if err != nil || v <= 0 {
		return Errorf(KindFieldInvalid, path+"."+amountName+".Amount", "the amount must be positive with at most two decimals")
	}
	in.Amount = v
	if !f.Supported(in.Currency) {
		return Errorf(KindUnsupportedCurrency, path+"."+amountName+".Currency", "the bank holds and converts GBP, EUR and USD, not %s", in.Currency)
	}
	if !f.Supported(in.CurrencyOfTransfer) {
		return Errorf(KindUnsupportedCurrency, path+".CurrencyOfTransfer", "the bank transfers GBP, EUR and USD, not %s", in.CurrencyOfTransfer)
	}
	if !slices.Contains(internationalInstruments, in.LocalInstrument) {
		return Errorf(KindUnsupportedLocalInstrument, path+".LocalInstrument", "local instrument %s is not supported for international payments (UK.OBIE.SWIFT, UK.OBIE.SEPACreditTransfer, UK.OBIE.SEPAInstantCreditTransfer, UK.OBIE.Target, UK.OBIE.Euro, UK.OBIE.CHAPS)", in.LocalInstrument)
	}
	if in.ChargeBearer == "" {
		in.ChargeBearer = Shared
	}
	if err := CheckAccountRef(in.Creditor, path+".CreditorAccount"); err != nil {
		return err
	}
	if in.Debtor != nil {
		if err := CheckAccountRef(*in.Debtor, path+".DebtorAccount"); err != nil {
			return err
		}
	}
	q := in.FX
	if q == nil {
		in.FX = &Quote{Type: RateActual}
		return nil
	}
	const erp = ".ExchangeRateInformation"
	if !f.Supported(q.Unit) {
		return Errorf(KindUnsupportedCurrency, path+erp+".UnitCurrency", "the bank quotes GBP, EUR and USD, not %s", q.Unit)
	}
	if q.Unit != in.CurrencyOfTransfer && in.Currency != in.CurrencyOfTransfer && q.Unit != in.Currency {
		return Errorf(KindFieldInvalid, path+erp+".UnitCurrency", "the rate must be quoted in the currency of transfer or of the instructed amount")
	}
	switch q.Type {
	case RateAgreed:
		if q.Rate == 0 {
			return Errorf(KindFieldExpected, path+erp+".ExchangeRate", "an Agreed rate names its ExchangeRate")
		}
		if q.Contract == "" {
			return Errorf(KindFieldExpected, path+erp+".ContractIdentification", "an Agreed rate names its ContractIdentification")
		}
	default:
		if q.Rate != 0 {
			return Errorf(KindFieldUnexpected, path+erp+".ExchangeRate", "only an Agreed rate names an ExchangeRate; the bank quotes %s rates", q.Type)
		}
		if q.Contract != "" {
			return Errorf(KindFieldUnexpected, path+erp+".ContractIdentification", "only an Agreed rate names a contract")
		}
	}
	return nil
}

// DebitCurrency is the currency the debtor's account must be in: that of
// the instructed amount when it is not the currency of transfer, else that
// of the rate's unit when it is not; "" when any account will do.
func (in *Initiation) DebitCurrency() string {
	switch {
	case in.Currency != in.CurrencyOfTransfer:
		return in.Currency
	case in.FX != nil && in.FX.Unit != "" && in.FX.Unit != in.CurrencyOfTransfer:
		return in.FX.Unit
	}
	return ""
}

// quoteConsent prices an international consent at now: the pair is the
// debit currency and the currency of transfer (unknown until the PSU picks
// the account when the payment names neither). An Agreed rate is checked
// against the market; an Actual or Indicative one is the market's, the
// Indicative quote expiring after IndicativeLifetime. It returns the
// consent's cut-off when the quote shortens it (zero otherwise).
func (f FX) quoteConsent(in *Initiation, now time.Time) (time.Time, error) {
	q, dc := in.FX, in.DebitCurrency()
	if q.Unit == "" {
		q.Unit = dc
	}
	other := in.CurrencyOfTransfer
	if q.Unit == in.CurrencyOfTransfer {
		other = dc
	}
	if q.Type == RateIndicative {
		q.Expires = now.Add(IndicativeLifetime)
	}
	if q.Unit == "" || other == "" || q.Unit == other {
		if q.Type == RateAgreed {
			return time.Time{}, Errorf(KindFieldInvalid, "Data.Initiation.ExchangeRateInformation.UnitCurrency",
				"an Agreed rate is between the debtor account's currency and the currency of transfer: give the InstructedAmount or the UnitCurrency in the debtor account's currency")
		}
		q.Unit, q.Other = "", ""
		return q.Expires, nil
	}
	q.Other = other
	market := f.Rate(q.Unit, q.Other, now)
	if q.Type == RateAgreed {
		off := q.Rate - market
		if off < 0 {
			off = -off
		}
		if off*rateScale/market > AgreedTolerance {
			return time.Time{}, Errorf(KindFieldInvalid, "Data.Initiation.ExchangeRateInformation.ExchangeRate",
				"the agreed rate 1 %s = %s %s does not match contract %s: the bank's rate is %s", q.Unit, FormatRate(q.Rate), q.Other,
				clip(q.Contract, 64), FormatRate(market))
		}
		return time.Time{}, nil
	}
	q.Rate = market
	return q.Expires, nil
}

// Charges is the bank's charge for an international payment, in the
// instructed currency, and who bears it.
type Charge struct {
	Bearer, Type string
	Amount       int64
	Currency     string
}

// Charges lists what an international payment costs.
func (in *Initiation) Charges() []Charge {
	return []Charge{{Bearer: in.ChargeBearer, Type: ChargeType, Amount: InternationalFee, Currency: in.Currency}}
}

// priceOrder prices an international order when it executes at now from
// the debtor's account a: the rate applied (the agreed one, else the
// bank's actual rate in the hour of now, the quote's unit kept), the debit in the
// account's currency (the bank's charge added unless the creditor bears
// it) and the amount the creditor receives in the currency of transfer
// (less the charge when the creditor bears it).
func (f FX) priceOrder(in *Initiation, a Account, now time.Time) (debit, credit int64, applied *Quote, err error) {
	d, t := a.Currency, in.CurrencyOfTransfer
	if dc := in.DebitCurrency(); dc != "" && dc != d {
		return 0, 0, nil, Errorf(KindUnsupportedCurrency, "Data.Initiation.InstructedAmount.Currency",
			"the debtor account is in %s: this payment is debited in %s", d, dc)
	}
	if !f.Supported(d) {
		return 0, 0, nil, Errorf(KindUnsupportedCurrency, "", "the debtor account's currency %s is not converted", d)
	}
	q := Quote{Unit: d, Other: t, Type: RateActual, Rate: rateScale}
	if in.FX != nil {
		q.Type = in.FX.Type
		if in.FX.Unit == t {
			q.Unit, q.Other = t, d
		}
		if q.Type == RateAgreed {
			q = *in.FX
		}
	}
	if q.Type != RateAgreed {
		// The rate at execution: the actual one, whatever was quoted.
		q.Type, q.Rate = RateActual, f.Rate(q.Unit, q.Other, now)
		q.Expires, q.Contract = time.Time{}, ""
	}
	gross, net := in.Amount, in.Amount
	if in.ChargeBearer == BorneByCreditor {
		net -= InternationalFee
		if net <= 0 {
			return 0, 0, nil, Errorf(KindFieldInvalid, "Data.Initiation.ChargeBearer", "the creditor cannot bear a charge larger than the amount")
		}
	} else {
		gross += InternationalFee
	}
	if debit, err = q.Convert(gross, in.Currency, d); err != nil {
		return 0, 0, nil, Errorf(KindUnsupportedCurrency, "", "%v", err)
	}
	if credit, err = q.Convert(net, in.Currency, t); err != nil {
		return 0, 0, nil, Errorf(KindUnsupportedCurrency, "", "%v", err)
	}
	if d == t {
		return debit, credit, nil, nil
	}
	return debit, credit, &q, nil
}

// FXRate is the bank's rate between two currencies at the sandbox clock's
// now, and when it changes.
func (b *Bank) FXRate(unit, other string) (int64, time.Time) {
	now := b.now()
	return b.fx.Rate(unit, other, now), b.fx.NextChange(now)
}

// FX is the bank's rate table.
func (b *Bank) FX() FX { return b.fx }

// debtorAccount reads the account a payment consent's PSU chose.
func (b *Bank) debtorAccount(ctx context.Context, c *Consent) (Account, error) {
	accts, err := b.store.Accounts(ctx, c.PSU, c.Accounts[:1])
	if err != nil {
		return Account{}, err
	}
	if len(accts) == 0 {
		return Account{}, Errorf(KindNotFound, "", "the debtor account is gone")
	}
	return accts[0], nil
}

// priceInternational prices an international order (an indicative quote
// must not have expired by now): the payment's amount becomes the debit in
// the debtor account's currency. A payment executes at once and books at the
// rate of now; a scheduled payment at the rate of its execution date (the
// bank's rates are a function of the sandbox clock, so the rate of that hour
// is known now); a standing order's payments at the rate of its first
// payment's date.
func (b *Bank) priceInternational(ctx context.Context, c *Consent, o *Order, now time.Time) error {
	in := c.Initiation
	if in.FX != nil && in.FX.Type == RateIndicative && !in.FX.Expires.IsZero() && !now.Before(in.FX.Expires) {
		return Errorf(KindAfterCutOff, "Data.Initiation.ExchangeRateInformation",
			"the indicative exchange rate quoted with the consent expired at %s: ask for a new consent", in.FX.Expires.Format(time.RFC3339))
	}
	a, err := b.debtorAccount(ctx, c)
	if err != nil {
		return err
	}
	p, at := &o.Payment, now
	switch p.Kind {
	case OrderInternationalScheduled:
		at = in.RequestedAt
	case OrderInternationalStanding:
		at = in.FirstAt
	}
	if p.Amount, p.CreditAmount, p.FX, err = b.fx.priceOrder(in, a, at); err != nil {
		return err
	}
	p.Currency, p.CreditCurrency = a.Currency, in.CurrencyOfTransfer
	if o.Schedule != nil && in.Frequency != "" {
		s := *in
		o.Credits[0] = p.CreditAmount
		for i, v := range []*int64{&s.Recurring, &s.Final} {
			if *v == 0 {
				continue
			}
			one := *in
			one.Amount = *v
			if *v, o.Credits[i+1], _, err = b.fx.priceOrder(&one, a, at); err != nil {
				return err
			}
		}
		o.Schedule = &s
	}
	return nil
}
