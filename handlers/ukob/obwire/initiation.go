package obwire

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/obsandbox/sandbox/internal/bank"
)

// Payment is what a domestic Initiation says, in either version: each
// version's package reads its own shape into it, and the checks are made
// once, here and in the bank.
type Payment struct {
	InstructionID, EndToEndID, LocalInstrument string
	Amount                                     Amount
	Debtor                                     *AccountID
	Creditor                                   AccountID
	Reference, Unstructured                    string
}

// Initiation checks the payment against the bank's rules (path prefixes
// the JSON paths of errors: Data.Initiation).
func (p Payment) Initiation(path string) (*bank.Initiation, error) {
	in := &bank.Initiation{InstructionID: p.InstructionID, EndToEndID: p.EndToEndID, LocalInstrument: p.LocalInstrument,
		Currency: p.Amount.Currency, Creditor: p.Creditor.Ref(), Reference: p.Reference, Unstructured: p.Unstructured}
	if p.Debtor != nil {
		d := p.Debtor.Ref()
		in.Debtor = &d
	}
	return in, bank.CheckInitiation(in, p.Amount.Amount, path)
}

// Scheduled reads a scheduled payment's execution date: in the future.
func (p Payment) Scheduled(requested, path string, now time.Time) (*bank.Initiation, error) {
	in, err := p.Initiation("Data.Initiation")
	if err != nil {
		return nil, err
	}
	in.RequestedAt, err = FutureTime(requested, path, now)
	return in, err
}

// FutureTime reads a date-time that must be ahead of now.
func FutureTime(v, path string, now time.Time) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return t, bank.Errorf(bank.KindFieldInvalidDate, path, "%s must be an ISO 8601 date-time with a timezone", path)
	}
	if !t.After(now) {
		return t, bank.Errorf(bank.KindFieldInvalidDate, path, "%s must be in the future", path)
	}
	return t.UTC(), nil
}

// StandingOrder is what a standing order's Initiation says, in either
// version, and where each field sits in the version's shape (for errors).
type StandingOrder struct {
	Frequency, Reference, NumberOfPayments string
	First, Final                           string // date-times
	FirstAmount                            Amount
	RecurringAmount, FinalAmount           *Amount
	Debtor                                 *AccountID
	Creditor                               AccountID
	// Paths of the fields whose place differs between versions.
	FrequencyPath, FirstPath, FinalPath string
	// An international standing order: its one InstructedAmount (in
	// FirstAmount) is transferred in CurrencyOfTransfer.
	International                    bool
	CurrencyOfTransfer, ChargeBearer string
}

// Initiation checks a standing order: a supported frequency, a first date
// ahead, a final date after it, a count from 1, amounts all in the first
// one's currency; payments stop after NumberOfPayments or the final date.
func (o StandingOrder) Initiation(now time.Time) (*bank.Initiation, error) {
	const path = "Data.Initiation"
	if _, err := bank.ParseFrequency(o.Frequency, o.FrequencyPath); err != nil {
		return nil, err
	}
	in := &bank.Initiation{Frequency: o.Frequency, Reference: o.Reference, Currency: o.FirstAmount.Currency, Creditor: o.Creditor.Ref()}
	if o.Debtor != nil {
		d := o.Debtor.Ref()
		in.Debtor = &d
	}
	if o.First == "" {
		return nil, bank.Errorf(bank.KindFieldMissing, o.FirstPath, "%s is required: the bank needs the date of the first payment", o.FirstPath)
	}
	var err error
	if in.FirstAt, err = FutureTime(o.First, o.FirstPath, now); err != nil {
		return nil, err
	}
	if o.Final != "" {
		if in.FinalAt, err = FutureTime(o.Final, o.FinalPath, now); err != nil {
			return nil, err
		}
		if in.FinalAt.Before(in.FirstAt) {
			return nil, bank.Errorf(bank.KindFieldInvalidDate, o.FinalPath, "the final payment date is before the first")
		}
	}
	if o.NumberOfPayments != "" {
		n, err := strconv.Atoi(o.NumberOfPayments)
		if err != nil || n < 1 {
			return nil, bank.Errorf(bank.KindFieldInvalid, path+".NumberOfPayments", "NumberOfPayments must be a whole number from 1")
		}
		in.Count = n
	}
	if o.International {
		in.CurrencyOfTransfer, in.ChargeBearer = o.CurrencyOfTransfer, o.ChargeBearer
		if err := bank.CheckInternational(in, o.FirstAmount.Amount, path, "InstructedAmount"); err != nil {
			return nil, err
		}
		in.Recurring = in.Amount
		return in, nil
	}
	if err := bank.CheckInitiation(in, o.FirstAmount.Amount, path); err != nil {
		var be *bank.Error
		if errors.As(err, &be) {
			be.Path = strings.Replace(be.Path, "InstructedAmount", "FirstPaymentAmount", 1)
		}
		return nil, err
	}
	in.Recurring, in.Final = in.Amount, 0
	for name, a := range map[string]*Amount{"RecurringPaymentAmount": o.RecurringAmount, "FinalPaymentAmount": o.FinalAmount} {
		if a == nil {
			continue
		}
		v, err := bank.ParseMinor(a.Amount)
		if err != nil || v <= 0 {
			return nil, bank.Errorf(bank.KindFieldInvalid, path+"."+name+".Amount", "the amount must be positive with at most two decimals")
		}
		if a.Currency != in.Currency {
			return nil, bank.Errorf(bank.KindUnsupportedCurrency, path+"."+name+".Currency", "all the standing order's amounts are in %s", in.Currency)
		}
		if name == "RecurringPaymentAmount" {
			in.Recurring = v
		} else {
			in.Final = v
		}
	}
	return in, nil
}
