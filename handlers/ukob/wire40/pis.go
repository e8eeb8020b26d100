package wire40

import (
	"encoding/json"
	"time"

	"github.com/obsandbox/sandbox/handlers/ukob/obwire"
	"github.com/obsandbox/sandbox/internal/bank"
)

// remittanceIn is OBRemittanceInformation2 as a TPP sends it: the bank
// takes the first creditor reference as the payment's reference (what
// v3.1.11 called Reference) and the first unstructured line.
type remittanceIn struct {
	Structured []struct {
		CreditorReferenceInformation *struct {
			Reference string `json:"Reference"`
		} `json:"CreditorReferenceInformation"`
	} `json:"Structured"`
	Unstructured []string `json:"Unstructured"`
}

func (r *remittanceIn) fields() (reference, unstructured string) {
	if r == nil {
		return "", ""
	}
	for _, s := range r.Structured {
		if c := s.CreditorReferenceInformation; c != nil && c.Reference != "" {
			reference = c.Reference
			break
		}
	}
	if len(r.Unstructured) > 0 {
		unstructured = r.Unstructured[0]
	}
	return reference, unstructured
}

// domestic is OBWriteDomestic2DataInitiation (and the scheduled one) in
// v4.0: what the bank acts on. The rest (UltimateCreditor, RegulatoryReporting,
// CreditorAgent, ...) is kept with the consent and echoed.
type domestic struct {
	InstructionIdentification  string            `json:"InstructionIdentification"`
	EndToEndIdentification     string            `json:"EndToEndIdentification"`
	LocalInstrument            string            `json:"LocalInstrument"`
	InstructedAmount           obwire.Amount     `json:"InstructedAmount"`
	DebtorAccount              *obwire.AccountID `json:"DebtorAccount"`
	CreditorAccount            obwire.AccountID  `json:"CreditorAccount"`
	RemittanceInformation      *remittanceIn     `json:"RemittanceInformation"`
	RequestedExecutionDateTime string            `json:"RequestedExecutionDateTime"`
}

// standing is the v4.0 standing-order Initiation: its schedule lives in
// MandateRelatedInformation, its reference in RemittanceInformation.
type standing struct {
	NumberOfPayments          string `json:"NumberOfPayments"`
	MandateRelatedInformation struct {
		FirstPaymentDateTime string `json:"FirstPaymentDateTime"`
		FinalPaymentDateTime string `json:"FinalPaymentDateTime"`
		Frequency            struct {
			Type string `json:"Type"`
		} `json:"Frequency"`
	} `json:"MandateRelatedInformation"`
	RemittanceInformation  *remittanceIn     `json:"RemittanceInformation"`
	FirstPaymentAmount     obwire.Amount     `json:"FirstPaymentAmount"`
	RecurringPaymentAmount *obwire.Amount    `json:"RecurringPaymentAmount"`
	FinalPaymentAmount     *obwire.Amount    `json:"FinalPaymentAmount"`
	DebtorAccount          *obwire.AccountID `json:"DebtorAccount"`
	CreditorAccount        obwire.AccountID  `json:"CreditorAccount"`
}

// international is the v4.0 international (or international scheduled)
// Initiation: a domestic one's fields and the currency of transfer, the
// charge bearer and the rate asked for.
type international struct {
	domestic
	CurrencyOfTransfer      string           `json:"CurrencyOfTransfer"`
	ChargeBearer            string           `json:"ChargeBearer"`
	ExchangeRateInformation *obwire.RateInfo `json:"ExchangeRateInformation"`
}

func initiation(kind string, raw json.RawMessage, now time.Time) (*bank.Initiation, error) {
	const path = "Data.Initiation"
	if kind == bank.ConsentFilePayment {
		return obwire.ReadFileInitiation(raw, bank.FileTypeJSON40, now)
	}
	if kind == bank.ConsentInternationalStanding {
		var w struct {
			standing
			InstructedAmount   obwire.Amount `json:"InstructedAmount"`
			CurrencyOfTransfer string        `json:"CurrencyOfTransfer"`
			ChargeBearer       string        `json:"ChargeBearer"`
		}
		if err := json.Unmarshal(raw, &w); err != nil {
			return nil, bank.Errorf(bank.KindFieldInvalid, path, "the Initiation cannot be read")
		}
		const mri = path + ".MandateRelatedInformation"
		reference, _ := w.RemittanceInformation.fields()
		m := w.MandateRelatedInformation
		return obwire.StandingOrder{Frequency: isoFrequency(m.Frequency.Type, m.FirstPaymentDateTime), Reference: reference,
			NumberOfPayments: w.NumberOfPayments, First: m.FirstPaymentDateTime, Final: m.FinalPaymentDateTime,
			FirstAmount: w.InstructedAmount, Debtor: w.DebtorAccount, Creditor: w.CreditorAccount,
			International: true, CurrencyOfTransfer: w.CurrencyOfTransfer, ChargeBearer: w.ChargeBearer,
			FrequencyPath: mri + ".Frequency.Type", FirstPath: mri + ".FirstPaymentDateTime", FinalPath: mri + ".FinalPaymentDateTime",
		}.Initiation(now)
	}
	if kind == bank.ConsentInternationalPayment || kind == bank.ConsentInternationalScheduled {
		var w international
		if err := json.Unmarshal(raw, &w); err != nil {
			return nil, bank.Errorf(bank.KindFieldInvalid, path, "the Initiation cannot be read: %v", err)
		}
		p := obwire.Payment{InstructionID: w.InstructionIdentification, EndToEndID: w.EndToEndIdentification,
			LocalInstrument: w.LocalInstrument, Amount: w.InstructedAmount, Debtor: w.DebtorAccount, Creditor: w.CreditorAccount}
		p.Reference, p.Unstructured = w.RemittanceInformation.fields()
		ip := obwire.International{Payment: p, CurrencyOfTransfer: w.CurrencyOfTransfer, ChargeBearer: w.ChargeBearer, Rate: w.ExchangeRateInformation}
		if kind == bank.ConsentInternationalScheduled {
			return ip.Scheduled(w.RequestedExecutionDateTime, path+".RequestedExecutionDateTime", now)
		}
		return ip.Initiation(path)
	}
	if kind == bank.ConsentDomesticStanding {
		var w standing
		if err := json.Unmarshal(raw, &w); err != nil {
			return nil, bank.Errorf(bank.KindFieldInvalid, path, "the Initiation cannot be read")
		}
		const mri = path + ".MandateRelatedInformation"
		reference, _ := w.RemittanceInformation.fields()
		m := w.MandateRelatedInformation
		return obwire.StandingOrder{Frequency: isoFrequency(m.Frequency.Type, m.FirstPaymentDateTime), Reference: reference,
			NumberOfPayments: w.NumberOfPayments, First: m.FirstPaymentDateTime, Final: m.FinalPaymentDateTime,
			FirstAmount: w.FirstPaymentAmount, RecurringAmount: w.RecurringPaymentAmount, FinalAmount: w.FinalPaymentAmount,
			Debtor: w.DebtorAccount, Creditor: w.CreditorAccount,
			FrequencyPath: mri + ".Frequency.Type", FirstPath: mri + ".FirstPaymentDateTime", FinalPath: mri + ".FinalPaymentDateTime",
		}.Initiation(now)
	}
	var w domestic
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, bank.Errorf(bank.KindFieldInvalid, path, "the Initiation cannot be read: %v", err)
	}
	p := obwire.Payment{InstructionID: w.InstructionIdentification, EndToEndID: w.EndToEndIdentification,
		LocalInstrument: w.LocalInstrument, Amount: w.InstructedAmount, Debtor: w.DebtorAccount, Creditor: w.CreditorAccount}
	p.Reference, p.Unstructured = w.RemittanceInformation.fields()
	if kind == bank.ConsentDomesticScheduled {
		return p.Scheduled(w.RequestedExecutionDateTime, path+".RequestedExecutionDateTime", now)
	}
	return p.Initiation(path)
}

// isoFrequency turns the OBFrequency6Code a standing order may name into
// the bank's schedule, anchored on the first payment's date: DAIL every
// day, WEEK every week on that weekday, FRTN every other, MNTH every month
// on that day, QURT every three months, MIAN every six, YEAR every twelve.
// A v3.1.11 pattern (IntrvlMnthDay:01:15) is taken as it is; anything else
// is left for the bank to refuse (UK.OBIE.Unsupported.Frequency).
func isoFrequency(code, first string) string {
	t, err := time.Parse(time.RFC3339, first)
	day := func() string {
		if err != nil {
			return "01"
		}
		return twoDigits(min(t.Day(), 28))
	}
	weekday := func() string {
		if err != nil {
			return "01"
		}
		return twoDigits((int(t.Weekday())+6)%7 + 1) // the standard's 01 is Monday
	}
	switch code {
	case "DAIL":
		return "EvryDay"
	case "WEEK":
		return "IntrvlWkDay:01:" + weekday()
	case "FRTN":
		return "IntrvlWkDay:02:" + weekday()
	case "MNTH":
		return "IntrvlMnthDay:01:" + day()
	case "QURT":
		return "IntrvlMnthDay:03:" + day()
	case "MIAN":
		return "IntrvlMnthDay:06:" + day()
	case "YEAR":
		return "IntrvlMnthDay:12:" + day()
	}
	return code
}

func twoDigits(n int) string { return string([]byte{byte('0' + n/10), byte('0' + n%10)}) }
