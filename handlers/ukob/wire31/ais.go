package wire31

import (
	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/handlers/ukob/obwire"
	"github.com/obsandbox/sandbox/internal/bank"
)

// UK OB v3.1.11 AIS response shapes, and the Basic/Detail rules that decide
// which fields a consent's permissions show (AIS profile, SUMMARY §10).

type obAccount struct {
	AccountID            string                `json:"AccountId"`
	Status               string                `json:"Status,omitempty"`
	StatusUpdateDateTime string                `json:"StatusUpdateDateTime,omitempty"`
	Currency             string                `json:"Currency"`
	AccountType          string                `json:"AccountType"`
	AccountSubType       string                `json:"AccountSubType"`
	Description          string                `json:"Description,omitempty"`
	Nickname             string                `json:"Nickname,omitempty"`
	OpeningDate          string                `json:"OpeningDate,omitempty"`
	Account              []*obwire.CashAccount `json:"Account,omitempty"`
	Servicer             *obwire.Agent         `json:"Servicer,omitempty"`
}

func ToAccount(a bank.Account, perms bank.Permissions) obAccount {
	out := obAccount{AccountID: a.ID, Status: a.Status, StatusUpdateDateTime: obwire.ISOTime(a.OpenedAt), Currency: a.Currency,
		AccountType: a.Type, AccountSubType: a.SubType, Description: a.Description, Nickname: a.Nickname,
		OpeningDate: obwire.ISOTime(a.OpenedAt)}
	if perms.Has(bank.ReadAccountsDetail) {
		for _, id := range a.Identifiers(perms.Has(bank.ReadPAN)) {
			out.Account = append(out.Account, obwire.NewCashAccount(id))
		}
		if a.BIC != "" {
			out.Servicer = &obwire.Agent{SchemeName: bank.SchemeBICFI, Identification: a.BIC}
		}
	}
	return out
}

type obCreditLine struct {
	Included bool           `json:"Included"`
	Type     string         `json:"Type,omitempty"`
	Amount   *obwire.Amount `json:"Amount,omitempty"`
}

type obBalance struct {
	AccountID            string         `json:"AccountId"`
	CreditDebitIndicator string         `json:"CreditDebitIndicator"`
	Type                 string         `json:"Type"`
	DateTime             string         `json:"DateTime"`
	Amount               *obwire.Amount `json:"Amount"`
	CreditLine           []obCreditLine `json:"CreditLine,omitempty"`
}

func ToBalance(b bank.Balance) obBalance {
	out := obBalance{AccountID: b.AccountID, CreditDebitIndicator: obwire.CreditDebit(b.Amount), Type: b.Type,
		DateTime: obwire.ISOTime(b.At), Amount: obwire.NewAmount(b.Amount, b.Currency)}
	if l := b.CreditLine; l != nil {
		out.CreditLine = []obCreditLine{{Included: l.Included, Type: l.Type, Amount: obwire.NewAmount(l.Amount, b.Currency)}}
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
	CreditDebitIndicator string         `json:"CreditDebitIndicator"`
	Type                 string         `json:"Type"`
	Amount               *obwire.Amount `json:"Amount"`
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
	AccountID                      string              `json:"AccountId"`
	TransactionID                  string              `json:"TransactionId,omitempty"`
	TransactionReference           string              `json:"TransactionReference,omitempty"`
	CreditDebitIndicator           string              `json:"CreditDebitIndicator"`
	Status                         string              `json:"Status"`
	TransactionMutability          string              `json:"TransactionMutability,omitempty"`
	BookingDateTime                string              `json:"BookingDateTime"`
	ValueDateTime                  string              `json:"ValueDateTime,omitempty"`
	TransactionInformation         string              `json:"TransactionInformation,omitempty"`
	Amount                         *obwire.Amount      `json:"Amount"`
	BankTransactionCode            *obBankCode         `json:"BankTransactionCode,omitempty"`
	ProprietaryBankTransactionCode *obPropCode         `json:"ProprietaryBankTransactionCode,omitempty"`
	Balance                        *obTxBalance        `json:"Balance,omitempty"`
	MerchantDetails                *obMerchant         `json:"MerchantDetails,omitempty"`
	CreditorAccount                *obwire.CashAccount `json:"CreditorAccount,omitempty"`
	DebtorAccount                  *obwire.CashAccount `json:"DebtorAccount,omitempty"`
	CardInstrument                 *obCard             `json:"CardInstrument,omitempty"`
}

// bankIssuer names the sandbox bank as the issuer of its proprietary codes.
const bankIssuer = "SandboxBank"

func ToTransaction(t *bank.Transaction, detail bool) obTransaction {
	out := obTransaction{AccountID: t.AccountID, TransactionID: t.ID, TransactionReference: httpx.Truncate(t.Reference, 210),
		CreditDebitIndicator: obwire.CreditDebit(t.Amount), Status: t.Status, BookingDateTime: obwire.ISOTime(t.BookedAt),
		ValueDateTime: obwire.ISOTime(t.ValueAt), Amount: obwire.NewAmount(t.Amount, t.Currency)}
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
		out.Balance = &obTxBalance{CreditDebitIndicator: obwire.CreditDebit(t.Balance), Type: "InterimBooked", Amount: obwire.NewAmount(t.Balance, t.Currency)}
	}
	if t.MerchantName != "" {
		out.MerchantDetails = &obMerchant{MerchantName: t.MerchantName, MerchantCategoryCode: t.MerchantCategory}
	}
	if cp := t.Counterparty; cp != nil {
		if t.Amount < 0 {
			out.CreditorAccount = obwire.NewCashAccount(*cp)
		} else {
			out.DebtorAccount = obwire.NewCashAccount(*cp)
		}
	}
	return out
}

type obBeneficiary struct {
	AccountID       string              `json:"AccountId"`
	BeneficiaryID   string              `json:"BeneficiaryId,omitempty"`
	BeneficiaryType string              `json:"BeneficiaryType,omitempty"`
	Reference       string              `json:"Reference,omitempty"`
	CreditorAccount *obwire.CashAccount `json:"CreditorAccount,omitempty"`
}

func ToBeneficiary(b bank.Beneficiary, detail bool) obBeneficiary {
	out := obBeneficiary{AccountID: b.AccountID, BeneficiaryID: b.ID, BeneficiaryType: b.Type, Reference: b.Reference}
	if detail {
		out.CreditorAccount = obwire.NewCashAccount(b.Creditor)
	}
	return out
}

type obDirectDebit struct {
	AccountID               string         `json:"AccountId"`
	DirectDebitID           string         `json:"DirectDebitId,omitempty"`
	MandateIdentification   string         `json:"MandateIdentification"`
	DirectDebitStatusCode   string         `json:"DirectDebitStatusCode,omitempty"`
	Name                    string         `json:"Name"`
	PreviousPaymentDateTime string         `json:"PreviousPaymentDateTime,omitempty"`
	Frequency               string         `json:"Frequency,omitempty"`
	PreviousPaymentAmount   *obwire.Amount `json:"PreviousPaymentAmount,omitempty"`
}

func ToDirectDebit(d bank.DirectDebit) obDirectDebit {
	out := obDirectDebit{AccountID: d.AccountID, DirectDebitID: d.ID, MandateIdentification: d.Mandate,
		DirectDebitStatusCode: d.Status, Name: httpx.Truncate(d.Name, 70), Frequency: d.Frequency,
		PreviousPaymentDateTime: obwire.ISOTime(d.PreviousAt)}
	if d.PreviousPaid > 0 {
		out.PreviousPaymentAmount = obwire.NewAmount(d.PreviousPaid, d.Currency)
	}
	return out
}

type obStandingOrder struct {
	AccountID               string              `json:"AccountId"`
	StandingOrderID         string              `json:"StandingOrderId,omitempty"`
	Frequency               string              `json:"Frequency"`
	Reference               string              `json:"Reference,omitempty"`
	FirstPaymentDateTime    string              `json:"FirstPaymentDateTime,omitempty"`
	NextPaymentDateTime     string              `json:"NextPaymentDateTime,omitempty"`
	LastPaymentDateTime     string              `json:"LastPaymentDateTime,omitempty"`
	FinalPaymentDateTime    string              `json:"FinalPaymentDateTime,omitempty"`
	StandingOrderStatusCode string              `json:"StandingOrderStatusCode,omitempty"`
	FirstPaymentAmount      *obwire.Amount      `json:"FirstPaymentAmount,omitempty"`
	NextPaymentAmount       *obwire.Amount      `json:"NextPaymentAmount,omitempty"`
	LastPaymentAmount       *obwire.Amount      `json:"LastPaymentAmount,omitempty"`
	CreditorAccount         *obwire.CashAccount `json:"CreditorAccount,omitempty"`
}

func ToStandingOrder(o bank.StandingOrder, detail bool) obStandingOrder {
	out := obStandingOrder{AccountID: o.AccountID, StandingOrderID: o.ID, Frequency: o.Frequency, Reference: o.Reference,
		FirstPaymentDateTime: obwire.ISOTime(o.FirstAt), NextPaymentDateTime: obwire.ISOTime(o.NextAt), LastPaymentDateTime: obwire.ISOTime(o.LastAt),
		FinalPaymentDateTime: obwire.ISOTime(o.FinalAt), StandingOrderStatusCode: o.Status,
		FirstPaymentAmount: obwire.NewAmount(o.Amount, o.Currency)}
	if !o.NextAt.IsZero() {
		out.NextPaymentAmount = obwire.NewAmount(o.Amount, o.Currency)
	}
	if !o.LastAt.IsZero() {
		out.LastPaymentAmount = obwire.NewAmount(o.Amount, o.Currency)
	}
	if detail {
		out.CreditorAccount = obwire.NewCashAccount(o.Creditor)
	}
	return out
}

type obScheduledPayment struct {
	AccountID                string              `json:"AccountId"`
	ScheduledPaymentID       string              `json:"ScheduledPaymentId,omitempty"`
	ScheduledPaymentDateTime string              `json:"ScheduledPaymentDateTime"`
	ScheduledType            string              `json:"ScheduledType"`
	Reference                string              `json:"Reference,omitempty"`
	InstructedAmount         *obwire.Amount      `json:"InstructedAmount"`
	CreditorAccount          *obwire.CashAccount `json:"CreditorAccount,omitempty"`
}

func ToScheduledPayment(p bank.ScheduledPayment, detail bool) obScheduledPayment {
	out := obScheduledPayment{AccountID: p.AccountID, ScheduledPaymentID: p.ID, ScheduledPaymentDateTime: obwire.ISOTime(p.At),
		ScheduledType: p.Type, Reference: p.Reference, InstructedAmount: obwire.NewAmount(p.Amount, p.Currency)}
	if detail {
		out.CreditorAccount = obwire.NewCashAccount(p.Creditor)
	}
	return out
}

type obStatementAmount struct {
	CreditDebitIndicator string         `json:"CreditDebitIndicator"`
	Type                 string         `json:"Type"`
	Amount               *obwire.Amount `json:"Amount"`
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

func ToStatement(s bank.Statement, detail bool) obStatement {
	out := obStatement{AccountID: s.AccountID, StatementID: s.ID, StatementReference: s.Reference, Type: s.Type,
		StartDateTime: obwire.ISOTime(s.Start), EndDateTime: obwire.ISOTime(s.End), CreationDateTime: obwire.ISOTime(s.CreatedAt),
		StatementDescription: []string{s.Description},
		StatementDateTime:    []obStatementDateTime{{DateTime: obwire.ISOTime(s.CreatedAt), Type: "UK.OBIE.StatementAvailable"}}}
	if detail {
		out.StatementAmount = []obStatementAmount{
			{CreditDebitIndicator: obwire.CreditDebit(s.Opening), Type: "UK.OBIE.PreviousClosingBalance", Amount: obwire.NewAmount(s.Opening, s.Currency)},
			{CreditDebitIndicator: obwire.CreditDebit(s.Closing), Type: "UK.OBIE.ClosingBalance", Amount: obwire.NewAmount(s.Closing, s.Currency)},
			{CreditDebitIndicator: "Credit", Type: "UK.OBIE.TotalCredits", Amount: obwire.NewAmount(s.Credits, s.Currency)},
			{CreditDebitIndicator: "Debit", Type: "UK.OBIE.TotalDebits", Amount: obwire.NewAmount(s.Debits, s.Currency)},
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

func ToParty(p bank.Party) obParty {
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

func ToProduct(p bank.Product) obProduct {
	out := obProduct{ProductName: p.Name, ProductID: p.ID, AccountID: p.AccountID, ProductType: p.Type, MarketingStateID: p.MarketingID}
	if p.Type == "Other" {
		out.OtherProductType = &obOtherProductType{Name: p.OtherName, Description: p.OtherDesc}
	}
	return out
}

type obOffer struct {
	AccountID     string         `json:"AccountId"`
	OfferID       string         `json:"OfferId,omitempty"`
	OfferType     string         `json:"OfferType,omitempty"`
	Description   string         `json:"Description,omitempty"`
	StartDateTime string         `json:"StartDateTime,omitempty"`
	EndDateTime   string         `json:"EndDateTime,omitempty"`
	Rate          string         `json:"Rate,omitempty"`
	URL           string         `json:"URL,omitempty"`
	Amount        *obwire.Amount `json:"Amount,omitempty"`
	Fee           *obwire.Amount `json:"Fee,omitempty"`
}

func ToOffer(o bank.Offer) obOffer {
	out := obOffer{AccountID: o.AccountID, OfferID: o.ID, OfferType: o.Type, Description: o.Description,
		StartDateTime: obwire.ISOTime(o.Start), EndDateTime: obwire.ISOTime(o.End), Rate: o.Rate, URL: o.URL}
	if o.Amount > 0 {
		out.Amount = obwire.NewAmount(o.Amount, o.Currency)
	}
	if o.Fee > 0 {
		out.Fee = obwire.NewAmount(o.Fee, o.Currency)
	}
	return out
}
