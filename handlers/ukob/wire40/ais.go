package wire40

import (
	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/handlers/ukob/obwire"
	"github.com/obsandbox/sandbox/handlers/ukob/wire31"
	"github.com/obsandbox/sandbox/internal/bank"
)

// obwireTime is the standard's date-time form.
var obwireTime = obwire.ISOTime

// account is OBAccount6 in v4.0: AccountType and AccountSubType became
// AccountCategory and AccountTypeCode (ISO 20022 cash account type codes).
type account struct {
	AccountID            string                `json:"AccountId"`
	Status               string                `json:"Status,omitempty"`
	StatusUpdateDateTime string                `json:"StatusUpdateDateTime,omitempty"`
	Currency             string                `json:"Currency"`
	AccountCategory      string                `json:"AccountCategory,omitempty"`
	AccountTypeCode      string                `json:"AccountTypeCode,omitempty"`
	Description          string                `json:"Description,omitempty"`
	Nickname             string                `json:"Nickname,omitempty"`
	OpeningDate          string                `json:"OpeningDate,omitempty"`
	Account              []*obwire.CashAccount `json:"Account,omitempty"`
	Servicer             *obwire.Agent         `json:"Servicer,omitempty"`
}

// accountTypeCode maps v3.1.11's account subtypes to the nearest ISO 20022
// code of OBExternalAccountSubType1Code (the files give no table).
var accountTypeCode = map[string]string{
	"CurrentAccount": "CACC", "Savings": "SVGS", "CreditCard": "CARD", "ChargeCard": "CARD", "PrePaidCard": "CARD",
	"Loan": "LOAN", "Mortgage": "MORT", "Wallet": "WALT", "EMoney": "OTHR",
}

func toAccount(a bank.Account, p bank.Permissions) account {
	x := wire31.ToAccount(a, p)
	return account{AccountID: x.AccountID, Status: x.Status, StatusUpdateDateTime: x.StatusUpdateDateTime, Currency: x.Currency,
		AccountCategory: x.AccountType, AccountTypeCode: accountTypeCode[x.AccountSubType], Description: x.Description,
		Nickname: x.Nickname, OpeningDate: x.OpeningDate, Account: x.Account, Servicer: x.Servicer}
}

// balanceType maps v3.1.11's balance types to v4.0's codes.
var balanceType = map[string]string{
	"ClosingAvailable": "CLAV", "ClosingBooked": "CLBD", "Expected": "XPCD", "ForwardAvailable": "FWAV", "Information": "INFO",
	"InterimAvailable": "ITAV", "InterimBooked": "ITBD", "OpeningAvailable": "OPAV", "OpeningBooked": "OPBD",
	"PreviouslyClosedBooked": "PRCD",
}

func toBalance(b bank.Balance) any {
	x := wire31.ToBalance(b)
	x.Type = balanceType[x.Type]
	return x
}

// entryStatus maps transaction statuses to ExternalEntryStatus1Code.
var entryStatus = map[string]string{bank.StatusBooked: "BOOK", bank.StatusPending: "PDNG", bank.StatusRejected: "RJCT"}

func toTransaction(t *bank.Transaction, detail bool) any {
	x := wire31.ToTransaction(t, detail)
	x.Status = entryStatus[x.Status]
	if x.Balance != nil {
		x.Balance.Type = balanceType[x.Balance.Type]
	}
	return x
}

// mandateStatus maps the status of a direct debit or a standing order to
// ExternalMandateStatus1Code.
var mandateStatus = map[string]string{"Active": "ACTV", "Inactive": "CANC"}

// frequency is OBFrequency6: an ISO code, or the v3.1.11 pattern
// (IntrvlMnthDay:01:15), which v4.0 still takes as Type.
type frequency struct {
	Type string `json:"Type"`
}

// mandate is OBMandateRelatedInformation1.
type mandate struct {
	MandateIdentification string    `json:"MandateIdentification,omitempty"`
	FirstPaymentDateTime  string    `json:"FirstPaymentDateTime,omitempty"`
	FinalPaymentDateTime  string    `json:"FinalPaymentDateTime,omitempty"`
	Frequency             frequency `json:"Frequency"`
}

// ddFrequency maps v3.1.11's direct-debit frequencies to OBFrequency6Code.
var ddFrequency = map[string]string{
	"UK.OBIE.Annual": "YEAR", "UK.OBIE.Daily": "DAIL", "UK.OBIE.Fortnightly": "FRTN", "UK.OBIE.HalfYearly": "MIAN",
	"UK.OBIE.Monthly": "MNTH", "UK.OBIE.NotKnown": "NONE", "UK.OBIE.Quarterly": "QURT", "UK.OBIE.Weekly": "WEEK",
}

type directDebit struct {
	AccountID                 string         `json:"AccountId"`
	DirectDebitID             string         `json:"DirectDebitId,omitempty"`
	DirectDebitStatusCode     string         `json:"DirectDebitStatusCode,omitempty"`
	MandateRelatedInformation mandate        `json:"MandateRelatedInformation"`
	Name                      string         `json:"Name"`
	PreviousPaymentDateTime   string         `json:"PreviousPaymentDateTime,omitempty"`
	PreviousPaymentAmount     *obwire.Amount `json:"PreviousPaymentAmount,omitempty"`
}

func toDirectDebit(d bank.DirectDebit) directDebit {
	f := ddFrequency[d.Frequency]
	if f == "" {
		f = "NONE"
	}
	out := directDebit{AccountID: d.AccountID, DirectDebitID: d.ID, DirectDebitStatusCode: mandateStatus[d.Status],
		MandateRelatedInformation: mandate{MandateIdentification: d.Mandate, Frequency: frequency{Type: f}},
		Name:                      httpx.Truncate(d.Name, 70), PreviousPaymentDateTime: obwireTime(d.PreviousAt)}
	if d.PreviousPaid > 0 {
		out.PreviousPaymentAmount = obwire.NewAmount(d.PreviousPaid, d.Currency)
	}
	return out
}

// remittance is OBRemittanceInformation2: v4.0 carries the reference v3.1.11
// had in Reference as the creditor's reference of a structured item.
type remittance struct {
	Structured   []structured `json:"Structured,omitempty"`
	Unstructured []string     `json:"Unstructured,omitempty"`
}

type structured struct {
	CreditorReferenceInformation *creditorReference `json:"CreditorReferenceInformation,omitempty"`
}

type creditorReference struct {
	Reference string `json:"Reference,omitempty"`
}

func remittanceOf(reference, unstructured string) *remittance {
	if reference == "" && unstructured == "" {
		return nil
	}
	r := &remittance{}
	if reference != "" {
		r.Structured = []structured{{CreditorReferenceInformation: &creditorReference{Reference: httpx.Truncate(reference, 35)}}}
	}
	if unstructured != "" {
		r.Unstructured = []string{httpx.Truncate(unstructured, 140)}
	}
	return r
}

type standingOrder struct {
	AccountID                 string              `json:"AccountId"`
	StandingOrderID           string              `json:"StandingOrderId,omitempty"`
	NextPaymentDateTime       string              `json:"NextPaymentDateTime,omitempty"`
	LastPaymentDateTime       string              `json:"LastPaymentDateTime,omitempty"`
	StandingOrderStatusCode   string              `json:"StandingOrderStatusCode,omitempty"`
	FirstPaymentAmount        *obwire.Amount      `json:"FirstPaymentAmount,omitempty"`
	NextPaymentAmount         *obwire.Amount      `json:"NextPaymentAmount,omitempty"`
	LastPaymentAmount         *obwire.Amount      `json:"LastPaymentAmount,omitempty"`
	CreditorAccount           *obwire.CashAccount `json:"CreditorAccount,omitempty"`
	MandateRelatedInformation mandate             `json:"MandateRelatedInformation"`
	RemittanceInformation     *remittance         `json:"RemittanceInformation,omitempty"`
}

func toStandingOrder(o bank.StandingOrder, detail bool) standingOrder {
	x := wire31.ToStandingOrder(o, detail)
	return standingOrder{AccountID: x.AccountID, StandingOrderID: x.StandingOrderID, NextPaymentDateTime: x.NextPaymentDateTime,
		LastPaymentDateTime: x.LastPaymentDateTime, StandingOrderStatusCode: mandateStatus[x.StandingOrderStatusCode],
		FirstPaymentAmount: x.FirstPaymentAmount, NextPaymentAmount: x.NextPaymentAmount, LastPaymentAmount: x.LastPaymentAmount,
		CreditorAccount: x.CreditorAccount,
		MandateRelatedInformation: mandate{FirstPaymentDateTime: x.FirstPaymentDateTime, FinalPaymentDateTime: x.FinalPaymentDateTime,
			Frequency: frequency{Type: x.Frequency}},
		RemittanceInformation: remittanceOf(x.Reference, "")}
}

// addressType maps v3.1.11's address types to v4.0's codes.
var addressType = map[string]string{
	"Business": "BIZZ", "Correspondence": "CORR", "DeliveryTo": "DLVY", "MailTo": "MLTO", "POBox": "PBOX",
	"Postal": "ADDR", "Residential": "HOME", "Statement": "STAT",
}

func toParty(p bank.Party) any {
	x := wire31.ToParty(p)
	for i := range x.Address {
		x.Address[i].AddressType = addressType[x.Address[i].AddressType]
	}
	return x
}
