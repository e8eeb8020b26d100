package obwire

import (
	"encoding/json"
	"time"

	"github.com/obsandbox/sandbox/internal/bank"
)

// RateInfo is an Initiation's ExchangeRateInformation as a TPP sends it
// (the same in v3.1.11 and v4.0).
type RateInfo struct {
	UnitCurrency           string      `json:"UnitCurrency"`
	ExchangeRate           json.Number `json:"ExchangeRate"`
	RateType               string      `json:"RateType"`
	ContractIdentification string      `json:"ContractIdentification"`
}

// International is what an international Initiation says, in either
// version, beyond a domestic one's fields.
type International struct {
	Payment
	CurrencyOfTransfer, ChargeBearer string
	Rate                             *RateInfo
}

// Initiation checks the payment against the bank's rules (path prefixes
// the JSON paths of errors: Data.Initiation).
func (p International) Initiation(path string) (*bank.Initiation, error) {
	in := &bank.Initiation{InstructionID: p.InstructionID, EndToEndID: p.EndToEndID, LocalInstrument: p.LocalInstrument,
		Currency: p.Amount.Currency, Creditor: p.Creditor.Ref(), Reference: p.Reference, Unstructured: p.Unstructured,
		CurrencyOfTransfer: p.CurrencyOfTransfer, ChargeBearer: p.ChargeBearer}
	if p.Debtor != nil {
		d := p.Debtor.Ref()
		in.Debtor = &d
	}
	if r := p.Rate; r != nil {
		in.FX = &bank.Quote{Unit: r.UnitCurrency, Type: r.RateType, Contract: r.ContractIdentification}
		if r.ExchangeRate != "" {
			v, err := bank.ParseRate(r.ExchangeRate.String())
			if err != nil {
				return nil, bank.Errorf(bank.KindFieldInvalid, path+".ExchangeRateInformation.ExchangeRate", "%v", err)
			}
			in.FX.Rate = v
		}
	}
	return in, bank.CheckInternational(in, p.Amount.Amount, path, "InstructedAmount")
}

// Scheduled reads an international scheduled payment: its execution date
// is in the future.
func (p International) Scheduled(requested, path string, now time.Time) (*bank.Initiation, error) {
	in, err := p.Initiation("Data.Initiation")
	if err != nil {
		return nil, err
	}
	in.RequestedAt, err = FutureTime(requested, path, now)
	return in, err
}

// Charge is an item of a consent's or payment's Charges (the same in both
// versions).
type Charge struct {
	ChargeBearer string `json:"ChargeBearer"`
	Type         string `json:"Type"`
	Amount       Amount `json:"Amount"`
}

// Charges are the bank's charges for an international payment.
func Charges(in *bank.Initiation) []Charge {
	var out []Charge
	for _, c := range in.Charges() {
		out = append(out, Charge{ChargeBearer: c.Bearer, Type: c.Type, Amount: *NewAmount(c.Amount, c.Currency)})
	}
	return out
}

// ExchangeRate is ExchangeRateInformation in a response: the rate quoted
// with a consent, or applied to a payment.
type ExchangeRate struct {
	UnitCurrency           string      `json:"UnitCurrency"`
	ExchangeRate           json.Number `json:"ExchangeRate"`
	RateType               string      `json:"RateType"`
	ContractIdentification string      `json:"ContractIdentification,omitempty"`
	ExpirationDateTime     string      `json:"ExpirationDateTime,omitempty"`
}

// NewExchangeRate shows a quote; nil when it has no rate yet (the pair is
// known once the PSU picks the account).
func NewExchangeRate(q *bank.Quote) *ExchangeRate {
	if q == nil || q.Rate == 0 || q.Unit == "" {
		return nil
	}
	return &ExchangeRate{UnitCurrency: q.Unit, ExchangeRate: json.Number(bank.FormatRate(q.Rate)), RateType: q.Type,
		ContractIdentification: q.Contract, ExpirationDateTime: ISOTime(q.Expires)}
}
