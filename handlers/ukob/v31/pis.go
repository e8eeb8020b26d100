package v31

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
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

// initiation reads and checks a domestic Initiation.
func initiation(raw json.RawMessage) (*bank.Initiation, error) {
	var w obInitiation
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, bank.Errorf(bank.KindFieldInvalid, "Data.Initiation", "the Initiation cannot be read: %v", err)
	}
	in := &bank.Initiation{InstructionID: w.InstructionIdentification, EndToEndID: w.EndToEndIdentification,
		LocalInstrument: w.LocalInstrument, Currency: w.InstructedAmount.Currency, Creditor: w.CreditorAccount.Ref()}
	if w.DebtorAccount != nil {
		d := w.DebtorAccount.Ref()
		in.Debtor = &d
	}
	if r := w.RemittanceInformation; r != nil {
		in.Reference, in.Unstructured = r.Reference, r.Unstructured
	}
	return in, bank.CheckInitiation(in, w.InstructedAmount.Amount, "Data.Initiation")
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

func futureTime(v, path string, now time.Time) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return t, bank.Errorf(bank.KindFieldInvalidDate, path, "%s must be an ISO 8601 date-time with a timezone", path)
	}
	if !t.After(now) {
		return t, bank.Errorf(bank.KindFieldInvalidDate, path, "%s must be in the future", path)
	}
	return t.UTC(), nil
}

func scheduledInitiation(raw json.RawMessage, now time.Time) (*bank.Initiation, error) {
	in, err := initiation(raw)
	if err != nil {
		return nil, err
	}
	var w obScheduled
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, bank.Errorf(bank.KindFieldInvalid, "Data.Initiation", "the Initiation cannot be read")
	}
	in.RequestedAt, err = futureTime(w.RequestedExecutionDateTime, "Data.Initiation.RequestedExecutionDateTime", now)
	return in, err
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

// standingInitiation reads a standing order: its frequency, first date and
// amounts; payments stop after NumberOfPayments or FinalPaymentDateTime.
func standingInitiation(raw json.RawMessage, now time.Time) (*bank.Initiation, error) {
	const path = "Data.Initiation"
	var w obStanding
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, bank.Errorf(bank.KindFieldInvalid, path, "the Initiation cannot be read")
	}
	if _, err := bank.ParseFrequency(w.Frequency, path+".Frequency"); err != nil {
		return nil, err
	}
	in := &bank.Initiation{Frequency: w.Frequency, Reference: w.Reference, Currency: w.FirstPaymentAmount.Currency,
		Creditor: w.CreditorAccount.Ref()}
	if w.DebtorAccount != nil {
		d := w.DebtorAccount.Ref()
		in.Debtor = &d
	}
	var err error
	if in.FirstAt, err = futureTime(w.FirstPaymentDateTime, path+".FirstPaymentDateTime", now); err != nil {
		return nil, err
	}
	if w.FinalPaymentDateTime != "" {
		if in.FinalAt, err = futureTime(w.FinalPaymentDateTime, path+".FinalPaymentDateTime", now); err != nil {
			return nil, err
		}
		if in.FinalAt.Before(in.FirstAt) {
			return nil, bank.Errorf(bank.KindFieldInvalidDate, path+".FinalPaymentDateTime", "FinalPaymentDateTime is before FirstPaymentDateTime")
		}
	}
	if w.NumberOfPayments != "" {
		n, err := strconv.Atoi(w.NumberOfPayments)
		if err != nil || n < 1 {
			return nil, bank.Errorf(bank.KindFieldInvalid, path+".NumberOfPayments", "NumberOfPayments must be a whole number from 1")
		}
		in.Count = n
	}
	if err := bank.CheckInitiation(in, w.FirstPaymentAmount.Amount, path); err != nil {
		return nil, fixAmountPath(err, "FirstPaymentAmount")
	}
	in.Recurring, in.Final = in.Amount, 0
	for name, a := range map[string]*obwire.Amount{"RecurringPaymentAmount": w.RecurringPaymentAmount, "FinalPaymentAmount": w.FinalPaymentAmount} {
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

// fixAmountPath renames the InstructedAmount path CheckInitiation reports.
func fixAmountPath(err error, field string) error {
	var be *bank.Error
	if errors.As(err, &be) {
		be.Path = strings.Replace(be.Path, "InstructedAmount", field, 1)
	}
	return err
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
		if kind == bank.OrderStanding {
			return "Accepted"
		}
		return bank.PaymentCompleted
	}
	return status
}
