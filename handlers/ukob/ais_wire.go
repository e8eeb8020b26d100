package ukob

import (
	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/internal/bank"
)

// UK OB v3.1.11 AIS response shapes, and the Basic/Detail rules that decide
// which fields a consent's permissions show (AIS profile, SUMMARY §10).

type obAccount struct {
	AccountID            string           `json:"AccountId"`
	Status               string           `json:"Status,omitempty"`
	StatusUpdateDateTime string           `json:"StatusUpdateDateTime,omitempty"`
	Currency             string           `json:"Currency"`
	AccountType          string           `json:"AccountType"`
	AccountSubType       string           `json:"AccountSubType"`
	Description          string           `json:"Description,omitempty"`
	Nickname             string           `json:"Nickname,omitempty"`
	OpeningDate          string           `json:"OpeningDate,omitempty"`
	Account              []*obCashAccount `json:"Account,omitempty"`
	Servicer             *obAgent         `json:"Servicer,omitempty"`
}

func toAccount(a bank.Account, perms bank.Permissions) obAccount {
	out := obAccount{AccountID: a.ID, Status: a.Status, StatusUpdateDateTime: isoTime(a.OpenedAt), Currency: a.Currency,
		AccountType: a.Type, AccountSubType: a.SubType, Description: a.Description, Nickname: a.Nickname,
		OpeningDate: isoTime(a.OpenedAt)}
	if perms.Has(bank.ReadAccountsDetail) {
		for _, id := range a.Identifiers(perms.Has(bank.ReadPAN)) {
			out.Account = append(out.Account, cashAccount(id))
		}
		if a.BIC != "" {
			out.Servicer = &obAgent{SchemeName: bank.SchemeBICFI, Identification: a.BIC}
		}
	}
	return out
}

type obCreditLine struct {
	Included bool      `json:"Included"`
	Type     string    `json:"Type,omitempty"`
	Amount   *obAmount `json:"Amount,omitempty"`
}

type obBalance struct {
	AccountID            string         `json:"AccountId"`
	CreditDebitIndicator string         `json:"CreditDebitIndicator"`
	Type                 string         `json:"Type"`
	DateTime             string         `json:"DateTime"`
	Amount               *obAmount      `json:"Amount"`
	CreditLine           []obCreditLine `json:"CreditLine,omitempty"`
}

func toBalance(b bank.Balance) obBalance {
	out := obBalance{AccountID: b.AccountID, CreditDebitIndicator: creditDebit(b.Amount), Type: b.Type,
		DateTime: isoTime(b.At), Amount: amount(b.Amount, b.Currency)}
	if l := b.CreditLine; l != nil {
		out.CreditLine = []obCreditLine{{Included: l.Included, Type: l.Type, Amount: amount(l.Amount, b.Currency)}}
	}
	return out
}

type obBankCode struct {
	Code    string `json:"Code"`
	SubCode string `json:"SubCode"`
}

type obPropCode struct {
	Code   string `json:"Code"`
	Issuer string `json:"Issuer,omitempty"`
}

type obTxBalance struct {
	CreditDebitIndicator string    `json:"CreditDebitIndicator"`
	Type                 string    `json:"Type"`
	Amount               *obAmount `json:"Amount"`
}

type obMerchant struct {
	MerchantName         string `json:"MerchantName,omitempty"`
	MerchantCategoryCode string `json:"MerchantCategoryCode,omitempty"`
}

type obCard struct {
	CardSchemeName    string `json:"CardSchemeName"`
	AuthorisationType string `json:"AuthorisationType,omitempty"`
	Name              string `json:"Name,omitempty"`
	Identification    string `json:"Identification,omitempty"`
}

type obTransaction struct {
	AccountID                      string         `json:"AccountId"`
	TransactionID                  string         `json:"TransactionId,omitempty"`
	TransactionReference           string         `json:"TransactionReference,omitempty"`
	CreditDebitIndicator           string         `json:"CreditDebitIndicator"`
	Status                         string         `json:"Status"`
	TransactionMutability          string         `json:"TransactionMutability,omitempty"`
	BookingDateTime                string         `json:"BookingDateTime"`
	ValueDateTime                  string         `json:"ValueDateTime,omitempty"`
	TransactionInformation         string         `json:"TransactionInformation,omitempty"`
	Amount                         *obAmount      `json:"Amount"`
	BankTransactionCode            *obBankCode    `json:"BankTransactionCode,omitempty"`
	ProprietaryBankTransactionCode *obPropCode    `json:"ProprietaryBankTransactionCode,omitempty"`
	Balance                        *obTxBalance   `json:"Balance,omitempty"`
	MerchantDetails                *obMerchant    `json:"MerchantDetails,omitempty"`
	CreditorAccount                *obCashAccount `json:"CreditorAccount,omitempty"`
	DebtorAccount                  *obCashAccount `json:"DebtorAccount,omitempty"`
	CardInstrument                 *obCard        `json:"CardInstrument,omitempty"`
}

// bankIssuer names the sandbox bank as the issuer of its proprietary codes.
const bankIssuer = "SandboxBank"

func toTransaction(t *bank.Transaction, detail bool) obTransaction {
	out := obTransaction{AccountID: t.AccountID, TransactionID: t.ID, TransactionReference: httpx.Truncate(t.Reference, 210),
		CreditDebitIndicator: creditDebit(t.Amount), Status: t.Status, BookingDateTime: isoTime(t.BookedAt),
		ValueDateTime: isoTime(t.ValueAt), Amount: amount(t.Amount, t.Currency)}
	out.TransactionMutability = "Immutable"
	if t.Status == bank.StatusPending {
		out.TransactionMutability = "Mutable"
	}
	if t.Code != "" {
		out.BankTransactionCode = &obBankCode{Code: t.Code, SubCode: t.SubCode}
	}
	if t.ProprietaryCode != "" {
		out.ProprietaryBankTransactionCode = &obPropCode{Code: t.ProprietaryCode, Issuer: bankIssuer}
	}
	if c := t.Card; c != nil && c.Scheme != "" {
		out.CardInstrument = &obCard{CardSchemeName: c.Scheme, AuthorisationType: c.AuthType}
		if detail {
			out.CardInstrument.Name, out.CardInstrument.Identification = c.Name, c.Masked
		}
	}
	if !detail {
		return out
	}
	out.TransactionInformation = httpx.Truncate(t.Information, 500)
	if t.HasBalance {
		out.Balance = &obTxBalance{CreditDebitIndicator: creditDebit(t.Balance), Type: "InterimBooked", Amount: amount(t.Balance, t.Currency)}
	}
	if t.MerchantName != "" {
		out.MerchantDetails = &obMerchant{MerchantName: t.MerchantName, MerchantCategoryCode: t.MerchantCategory}
	}
	if cp := t.Counterparty; cp != nil {
		if t.Amount < 0 {
			out.CreditorAccount = cashAccount(*cp)
		} else {
			out.DebtorAccount = cashAccount(*cp)
		}
	}
	return out
}

type obBeneficiary struct {
	AccountID       string         `json:"AccountId"`
	BeneficiaryID   string         `json:"BeneficiaryId,omitempty"`
	BeneficiaryType string         `json:"BeneficiaryType,omitempty"`
	Reference       string         `json:"Reference,omitempty"`
	CreditorAccount *obCashAccount `json:"CreditorAccount,omitempty"`
}

func toBeneficiary(b bank.Beneficiary, detail bool) obBeneficiary {
	out := obBeneficiary{AccountID: b.AccountID, BeneficiaryID: b.ID, BeneficiaryType: b.Type, Reference: b.Reference}
	if detail {
		out.CreditorAccount = cashAccount(b.Creditor)
	}
	return out
}

type obDirectDebit struct {
	AccountID               string    `json:"AccountId"`
	DirectDebitID           string    `json:"DirectDebitId,omitempty"`
	MandateIdentification   string    `json:"MandateIdentification"`
	DirectDebitStatusCode   string    `json:"DirectDebitStatusCode,omitempty"`
	Name                    string    `json:"Name"`
	PreviousPaymentDateTime string    `json:"PreviousPaymentDateTime,omitempty"`
	Frequency               string    `json:"Frequency,omitempty"`
	PreviousPaymentAmount   *obAmount `json:"PreviousPaymentAmount,omitempty"`
}

func toDirectDebit(d bank.DirectDebit) obDirectDebit {
	out := obDirectDebit{AccountID: d.AccountID, DirectDebitID: d.ID, MandateIdentification: d.Mandate,
		DirectDebitStatusCode: d.Status, Name: httpx.Truncate(d.Name, 70), Frequency: d.Frequency,
		PreviousPaymentDateTime: isoTime(d.PreviousAt)}
	if d.PreviousPaid > 0 {
		out.PreviousPaymentAmount = amount(d.PreviousPaid, d.Currency)
	}
	return out
}

type obStandingOrder struct {
	AccountID               string         `json:"AccountId"`
	StandingOrderID         string         `json:"StandingOrderId,omitempty"`
	Frequency               string         `json:"Frequency"`
	Reference               string         `json:"Reference,omitempty"`
	FirstPaymentDateTime    string         `json:"FirstPaymentDateTime,omitempty"`
	NextPaymentDateTime     string         `json:"NextPaymentDateTime,omitempty"`
	LastPaymentDateTime     string         `json:"LastPaymentDateTime,omitempty"`
	FinalPaymentDateTime    string         `json:"FinalPaymentDateTime,omitempty"`
	StandingOrderStatusCode string         `json:"StandingOrderStatusCode,omitempty"`
	FirstPaymentAmount      *obAmount      `json:"FirstPaymentAmount,omitempty"`
	NextPaymentAmount       *obAmount      `json:"NextPaymentAmount,omitempty"`
	LastPaymentAmount       *obAmount      `json:"LastPaymentAmount,omitempty"`
	CreditorAccount         *obCashAccount `json:"CreditorAccount,omitempty"`
}

func toStandingOrder(o bank.StandingOrder, detail bool) obStandingOrder {
	out := obStandingOrder{AccountID: o.AccountID, StandingOrderID: o.ID, Frequency: o.Frequency, Reference: o.Reference,
		FirstPaymentDateTime: isoTime(o.FirstAt), NextPaymentDateTime: isoTime(o.NextAt), LastPaymentDateTime: isoTime(o.LastAt),
		FinalPaymentDateTime: isoTime(o.FinalAt), StandingOrderStatusCode: o.Status,
		FirstPaymentAmount: amount(o.Amount, o.Currency)}
	if !o.NextAt.IsZero() {
		out.NextPaymentAmount = amount(o.Amount, o.Currency)
	}
	if !o.LastAt.IsZero() {
		out.LastPaymentAmount = amount(o.Amount, o.Currency)
	}
	if detail {
		out.CreditorAccount = cashAccount(o.Creditor)
	}
	return out
}

type obScheduledPayment struct {
	AccountID                string         `json:"AccountId"`
	ScheduledPaymentID       string         `json:"ScheduledPaymentId,omitempty"`
	ScheduledPaymentDateTime string         `json:"ScheduledPaymentDateTime"`
	ScheduledType            string         `json:"ScheduledType"`
	Reference                string         `json:"Reference,omitempty"`
	InstructedAmount         *obAmount      `json:"InstructedAmount"`
	CreditorAccount          *obCashAccount `json:"CreditorAccount,omitempty"`
}

func toScheduledPayment(p bank.ScheduledPayment, detail bool) obScheduledPayment {
	out := obScheduledPayment{AccountID: p.AccountID, ScheduledPaymentID: p.ID, ScheduledPaymentDateTime: isoTime(p.At),
		ScheduledType: p.Type, Reference: p.Reference, InstructedAmount: amount(p.Amount, p.Currency)}
	if detail {
		out.CreditorAccount = cashAccount(p.Creditor)
	}
	return out
}

type obStatementAmount struct {
	CreditDebitIndicator string    `json:"CreditDebitIndicator"`
	Type                 string    `json:"Type"`
	Amount               *obAmount `json:"Amount"`
}

type obStatementDateTime struct {
	DateTime string `json:"DateTime"`
	Type     string `json:"Type"`
}

type obStatement struct {
	AccountID            string                `json:"AccountId"`
	StatementID          string                `json:"StatementId,omitempty"`
	StatementReference   string                `json:"StatementReference,omitempty"`
	Type                 string                `json:"Type"`
	StartDateTime        string                `json:"StartDateTime"`
	EndDateTime          string                `json:"EndDateTime"`
	CreationDateTime     string                `json:"CreationDateTime"`
	StatementDescription []string              `json:"StatementDescription,omitempty"`
	StatementAmount      []obStatementAmount   `json:"StatementAmount,omitempty"`
	StatementDateTime    []obStatementDateTime `json:"StatementDateTime,omitempty"`
}

func toStatement(s bank.Statement, detail bool) obStatement {
	out := obStatement{AccountID: s.AccountID, StatementID: s.ID, StatementReference: s.Reference, Type: s.Type,
		StartDateTime: isoTime(s.Start), EndDateTime: isoTime(s.End), CreationDateTime: isoTime(s.CreatedAt),
		StatementDescription: []string{s.Description},
		StatementDateTime:    []obStatementDateTime{{DateTime: isoTime(s.CreatedAt), Type: "UK.OBIE.StatementAvailable"}}}
	if detail {
		out.StatementAmount = []obStatementAmount{
			{CreditDebitIndicator: creditDebit(s.Opening), Type: "UK.OBIE.PreviousClosingBalance", Amount: amount(s.Opening, s.Currency)},
			{CreditDebitIndicator: creditDebit(s.Closing), Type: "UK.OBIE.ClosingBalance", Amount: amount(s.Closing, s.Currency)},
			{CreditDebitIndicator: "Credit", Type: "UK.OBIE.TotalCredits", Amount: amount(s.Credits, s.Currency)},
			{CreditDebitIndicator: "Debit", Type: "UK.OBIE.TotalDebits", Amount: amount(s.Debits, s.Currency)},
		}
	}
	return out
}

type obAddress struct {
	AddressType    string   `json:"AddressType,omitempty"`
	AddressLine    []string `json:"AddressLine,omitempty"`
	StreetName     string   `json:"StreetName,omitempty"`
	BuildingNumber string   `json:"BuildingNumber,omitempty"`
	PostCode       string   `json:"PostCode,omitempty"`
	TownName       string   `json:"TownName,omitempty"`
	Country        string   `json:"Country"`
}

type obParty struct {
	PartyID        string      `json:"PartyId"`
	PartyNumber    string      `json:"PartyNumber,omitempty"`
	PartyType      string      `json:"PartyType,omitempty"`
	Name           string      `json:"Name,omitempty"`
	FullLegalName  string      `json:"FullLegalName,omitempty"`
	LegalStructure string      `json:"LegalStructure,omitempty"`
	AccountRole    string      `json:"AccountRole,omitempty"`
	EmailAddress   string      `json:"EmailAddress,omitempty"`
	Phone          string      `json:"Phone,omitempty"`
	Mobile         string      `json:"Mobile,omitempty"`
	Address        []obAddress `json:"Address,omitempty"`
}

func toParty(p bank.Party) obParty {
	out := obParty{PartyID: p.ID, PartyNumber: p.Number, PartyType: p.Type, Name: p.Name, FullLegalName: p.LegalName,
		AccountRole: p.Role, EmailAddress: p.Email, Phone: p.Phone, Mobile: p.Mobile}
	if p.Business {
		out.LegalStructure = "UK.OBIE.Sole"
		if len(p.LegalName) > 4 && p.LegalName[len(p.LegalName)-4:] == " Ltd" {
			out.LegalStructure = "UK.OBIE.PrivateLimitedCompany"
		}
	} else {
		out.LegalStructure = "UK.OBIE.Individual"
	}
	a := p.Address
	if a.Country != "" {
		t := "Residential"
		if !a.Residence {
			t = "Business"
		}
		out.Address = []obAddress{{AddressType: t, AddressLine: a.Lines, StreetName: a.Street, BuildingNumber: httpx.Truncate(a.Building, 16),
			PostCode: a.PostCode, TownName: a.Town, Country: a.Country}}
	}
	return out
}

type obOtherProductType struct {
	Name        string `json:"Name"`
	Description string `json:"Description"`
}

type obProduct struct {
	ProductName      string              `json:"ProductName,omitempty"`
	ProductID        string              `json:"ProductId,omitempty"`
	AccountID        string              `json:"AccountId"`
	ProductType      string              `json:"ProductType"`
	MarketingStateID string              `json:"MarketingStateId,omitempty"`
	OtherProductType *obOtherProductType `json:"OtherProductType,omitempty"`
}

func toProduct(p bank.Product) obProduct {
	out := obProduct{ProductName: p.Name, ProductID: p.ID, AccountID: p.AccountID, ProductType: p.Type, MarketingStateID: p.MarketingID}
	if p.Type == "Other" {
		out.OtherProductType = &obOtherProductType{Name: p.OtherName, Description: p.OtherDesc}
	}
	return out
}

type obOffer struct {
	AccountID     string    `json:"AccountId"`
	OfferID       string    `json:"OfferId,omitempty"`
	OfferType     string    `json:"OfferType,omitempty"`
	Description   string    `json:"Description,omitempty"`
	StartDateTime string    `json:"StartDateTime,omitempty"`
	EndDateTime   string    `json:"EndDateTime,omitempty"`
	Rate          string    `json:"Rate,omitempty"`
	URL           string    `json:"URL,omitempty"`
	Amount        *obAmount `json:"Amount,omitempty"`
	Fee           *obAmount `json:"Fee,omitempty"`
}

func toOffer(o bank.Offer) obOffer {
	out := obOffer{AccountID: o.AccountID, OfferID: o.ID, OfferType: o.Type, Description: o.Description,
		StartDateTime: isoTime(o.Start), EndDateTime: isoTime(o.End), Rate: o.Rate, URL: o.URL}
	if o.Amount > 0 {
		out.Amount = amount(o.Amount, o.Currency)
	}
	if o.Fee > 0 {
		out.Fee = amount(o.Fee, o.Currency)
	}
	return out
}
