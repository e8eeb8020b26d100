package wire31

import (
	"encoding/json"
	"time"

	"github.com/obsandbox/sandbox/handlers/ukob/obwire"
	"github.com/obsandbox/sandbox/internal/bank"
)

type obInitiation struct {
	InstructionIdentification string            `json:"InstructionIdentification"`
	EndToEndIdentification    string            `json:"EndToEndIdentification"`
	LocalInstrument           string            `json:"LocalInstrument"`
	InstructedAmount          obwire.Amount     `json:"InstructedAmount"`
	DebtorAccount             *obwire.AccountID `json:"DebtorAccount"`
	CreditorAccount           obwire.AccountID  `json:"CreditorAccount"`
	RemittanceInformation     *struct {
		Unstructured string `json:"Unstructured"`
		Reference    string `json:"Reference"`
	} `json:"RemittanceInformation"`
}

// payment reads a domestic Initiation's fields.
func payment(raw json.RawMessage) (obInitiation, obwire.Payment, error) {
	var w obInitiation
	if err := json.Unmarshal(raw, &w); err != nil {
		return w, obwire.Payment{}, bank.Errorf(bank.KindFieldInvalid, "Data.Initiation", "the Initiation cannot be read: %v", err)
	}
	p := obwire.Payment{InstructionID: w.InstructionIdentification, EndToEndID: w.EndToEndIdentification,
		LocalInstrument: w.LocalInstrument, Amount: w.InstructedAmount, Debtor: w.DebtorAccount, Creditor: w.CreditorAccount}
	if r := w.RemittanceInformation; r != nil {
		p.Reference, p.Unstructured = r.Reference, r.Unstructured
	}
	return w, p, nil
}

type obPaymentStatus struct {
	PaymentTransactionID string          `json:"PaymentTransactionId"`
	Status               string          `json:"Status"`
	StatusUpdateDateTime string          `json:"StatusUpdateDateTime"`
	StatusDetail         *obStatusDetail `json:"StatusDetail,omitempty"`
}

type obStatusDetail struct {
	LocalInstrument         string `json:"LocalInstrument,omitempty"`
	Status                  string `json:"Status"`
	StatusReason            string `json:"StatusReason,omitempty"`
	StatusReasonDescription string `json:"StatusReasonDescription,omitempty"`
}

// Wire shapes of the scheduled and standing-order Initiations.
type obScheduled struct {
	obInitiation
	RequestedExecutionDateTime string `json:"RequestedExecutionDateTime"`
}

type obStanding struct {
	Frequency              string            `json:"Frequency"`
	Reference              string            `json:"Reference"`
	NumberOfPayments       string            `json:"NumberOfPayments"`
	FirstPaymentDateTime   string            `json:"FirstPaymentDateTime"`
	FinalPaymentDateTime   string            `json:"FinalPaymentDateTime"`
	FirstPaymentAmount     obwire.Amount     `json:"FirstPaymentAmount"`
	RecurringPaymentAmount *obwire.Amount    `json:"RecurringPaymentAmount"`
	FinalPaymentAmount     *obwire.Amount    `json:"FinalPaymentAmount"`
	DebtorAccount          *obwire.AccountID `json:"DebtorAccount"`
	CreditorAccount        obwire.AccountID  `json:"CreditorAccount"`
}

func standing(raw json.RawMessage) (obwire.StandingOrder, error) {
	const path = "Data.Initiation"
	var w obStanding
	if err := json.Unmarshal(raw, &w); err != nil {
		return obwire.StandingOrder{}, bank.Errorf(bank.KindFieldInvalid, path, "the Initiation cannot be read")
	}
	return obwire.StandingOrder{Frequency: w.Frequency, Reference: w.Reference, NumberOfPayments: w.NumberOfPayments,
		First: w.FirstPaymentDateTime, Final: w.FinalPaymentDateTime, FirstAmount: w.FirstPaymentAmount,
		RecurringAmount: w.RecurringPaymentAmount, FinalAmount: w.FinalPaymentAmount, Debtor: w.DebtorAccount, Creditor: w.CreditorAccount,
		FrequencyPath: path + ".Frequency", FirstPath: path + ".FirstPaymentDateTime", FinalPath: path + ".FinalPaymentDateTime"}, nil
}

// detailStatus maps an order's status to the extended payment-details
// status (v3.1.11 has only those 20 there): a waiting scheduled payment is
// Pending, an executed one AcceptedSettlementCompleted, a standing order
// set up Accepted, a failure Rejected.
func detailStatus(kind, status string) string {
	switch status {
	case bank.OrderInitiationPending:
		return bank.PaymentPending
	case bank.OrderInitiationFailed:
		return bank.PaymentRejected
	case bank.OrderInitiationCompleted:
		if kind == bank.OrderStanding || kind == bank.OrderInternationalStanding {
			return "Accepted"
		}
		return bank.PaymentCompleted
	}
	return status
}

// obInternational is an international (or international scheduled)
// Initiation: a domestic one's fields and the currency of transfer, the
// charge bearer and the rate asked for.
type obInternational struct {
	obInitiation
	CurrencyOfTransfer         string           `json:"CurrencyOfTransfer"`
	ChargeBearer               string           `json:"ChargeBearer"`
	ExchangeRateInformation    *obwire.RateInfo `json:"ExchangeRateInformation"`
	RequestedExecutionDateTime string           `json:"RequestedExecutionDateTime"`
}

func international(kind string, raw json.RawMessage, now time.Time) (*bank.Initiation, error) {
	const path = "Data.Initiation"
	var w obInternational
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, bank.Errorf(bank.KindFieldInvalid, path, "the Initiation cannot be read: %v", err)
	}
	_, p, err := payment(raw)
	if err != nil {
		return nil, err
	}
	ip := obwire.International{Payment: p, CurrencyOfTransfer: w.CurrencyOfTransfer, ChargeBearer: w.ChargeBearer, Rate: w.ExchangeRateInformation}
	if kind == bank.ConsentInternationalScheduled {
		return ip.Scheduled(w.RequestedExecutionDateTime, path+".RequestedExecutionDateTime", now)
	}
	return ip.Initiation(path)
}

// obIntlStanding is an international standing order's Initiation: one
// InstructedAmount for every payment, transferred in CurrencyOfTransfer.
type obIntlStanding struct {
	Frequency            string            `json:"Frequency"`
	Reference            string            `json:"Reference"`
	NumberOfPayments     string            `json:"NumberOfPayments"`
	FirstPaymentDateTime string            `json:"FirstPaymentDateTime"`
	FinalPaymentDateTime string            `json:"FinalPaymentDateTime"`
	ChargeBearer         string            `json:"ChargeBearer"`
	CurrencyOfTransfer   string            `json:"CurrencyOfTransfer"`
	InstructedAmount     obwire.Amount     `json:"InstructedAmount"`
	DebtorAccount        *obwire.AccountID `json:"DebtorAccount"`
	CreditorAccount      obwire.AccountID  `json:"CreditorAccount"`
}

func intlStanding(raw json.RawMessage, now time.Time) (*bank.Initiation, error) {
	const path = "Data.Initiation"
	var w obIntlStanding
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, bank.Errorf(bank.KindFieldInvalid, path, "the Initiation cannot be read")
	}
	return obwire.StandingOrder{Frequency: w.Frequency, Reference: w.Reference, NumberOfPayments: w.NumberOfPayments,
		First: w.FirstPaymentDateTime, Final: w.FinalPaymentDateTime, FirstAmount: w.InstructedAmount,
		Debtor: w.DebtorAccount, Creditor: w.CreditorAccount, International: true, CurrencyOfTransfer: w.CurrencyOfTransfer,
		ChargeBearer: w.ChargeBearer, FrequencyPath: path + ".Frequency", FirstPath: path + ".FirstPaymentDateTime",
		FinalPath: path + ".FinalPaymentDateTime"}.Initiation(now)
}
