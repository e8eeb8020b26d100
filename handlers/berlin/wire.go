package berlin

import (
	"time"

	"github.com/obsandbox/sandbox/internal/bank"
)

// The standard's shapes of the bank's accounts, balances and transactions.

type amount struct {
	Currency string `json:"currency"`
	Amount   string `json:"amount"`
}

// money is a signed amount ("-12.30" for money out).
func money(minor int64, currency string) amount {
	s := bank.FormatMinor(minor)
	if minor < 0 {
		s = "-" + s
	}
	return amount{Currency: currency, Amount: s}
}

type accountRef struct {
	IBAN      string `json:"iban,omitempty"`
	MaskedPAN string `json:"maskedPan,omitempty"`
	Currency  string `json:"currency,omitempty"`
}

func refOf(a bank.Account) accountRef {
	if a.IsCard() {
		return accountRef{MaskedPAN: bank.MaskPANBG(a.PAN), Currency: a.Currency}
	}
	return accountRef{IBAN: a.IBAN, Currency: a.Currency}
}

type balance struct {
	BalanceAmount       amount `json:"balanceAmount"`
	BalanceType         string `json:"balanceType"`
	CreditLimitIncluded *bool  `json:"creditLimitIncluded,omitempty"`
	LastChangeDateTime  string `json:"lastChangeDateTime,omitempty"`
	ReferenceDate       string `json:"referenceDate,omitempty"`
}

// balanceTypes names the bank's balances as balanceType does.
var balanceTypes = map[string]string{"InterimAvailable": "interimAvailable", "InterimBooked": "interimBooked", "Expected": "expected",
	"ClosingBooked": "closingBooked"}

func balances(bs []bank.Balance) []balance {
	out := make([]balance, 0, len(bs))
	for _, b := range bs {
		x := balance{BalanceAmount: money(b.Amount, b.Currency), BalanceType: balanceTypes[b.Type], ReferenceDate: b.At.Format(time.DateOnly)}
		if b.Type == "InterimAvailable" {
			included := b.CreditLine != nil && b.CreditLine.Included
			x.CreditLimitIncluded = &included
		}
		out = append(out, x)
	}
	return out
}

type accountDetails struct {
	ResourceID      string    `json:"resourceId,omitempty"`
	IBAN            string    `json:"iban,omitempty"`
	Currency        string    `json:"currency"`
	OwnerName       string    `json:"ownerName,omitempty"`
	Name            string    `json:"name,omitempty"`
	Product         string    `json:"product,omitempty"`
	CashAccountType string    `json:"cashAccountType,omitempty"`
	Status          string    `json:"status,omitempty"`
	BIC             string    `json:"bic,omitempty"`
	Usage           string    `json:"usage,omitempty"`
	Balances        []balance `json:"balances,omitempty"`
	Links           links     `json:"_links,omitempty"`
}

type cardAccountDetails struct {
	ResourceID  string    `json:"resourceId,omitempty"`
	MaskedPAN   string    `json:"maskedPan"`
	Currency    string    `json:"currency"`
	OwnerName   string    `json:"ownerName,omitempty"`
	Name        string    `json:"name,omitempty"`
	Product     string    `json:"product,omitempty"`
	Status      string    `json:"status,omitempty"`
	Usage       string    `json:"usage,omitempty"`
	CreditLimit *amount   `json:"creditLimit,omitempty"`
	Balances    []balance `json:"balances,omitempty"`
	Links       links     `json:"_links,omitempty"`
}

// cashAccountTypes are ISO 20022 ExternalCashAccountType1Code.
var cashAccountTypes = map[string]string{"CurrentAccount": "CACC", "Savings": "SVGS"}

func status(a bank.Account) string {
	switch a.Status {
	case "Enabled":
		return "enabled"
	case "Deleted":
		return "deleted"
	}
	return "blocked"
}

func usage(a bank.Account) string {
	if a.Type == "Business" {
		return "ORGA"
	}
	return "PRIV"
}

func clip(s string, n int) string { return clipText(s, n) }

func details(a bank.Account, rights bank.BGRights, base string) accountDetails {
	d := accountDetails{ResourceID: a.ID, IBAN: a.IBAN, Currency: a.Currency, Name: clip(a.Nickname, 70)}
	if !rights.Details {
		return d // availableAccounts: the list only
	}
	d.OwnerName, d.Product, d.CashAccountType = clip(a.HolderName, 140), clip(a.Description, 35), cashAccountTypes[a.SubType]
	d.Status, d.BIC, d.Usage = status(a), a.BIC, usage(a)
	d.Links = accountLinks(rights, base+"/"+a.ID)
	return d
}

func cardDetails(a bank.Account, rights bank.BGRights, base string) cardAccountDetails {
	d := cardAccountDetails{ResourceID: a.ID, MaskedPAN: bank.MaskPANBG(a.PAN), Currency: a.Currency, Name: clip(a.Nickname, 70)}
	if !rights.Details {
		return d
	}
	d.OwnerName, d.Product, d.Status, d.Usage = clip(a.HolderName, 140), clip(a.Description, 35), status(a), usage(a)
	if a.CreditLimit > 0 {
		l := money(a.CreditLimit, a.Currency)
		d.CreditLimit = &l
	}
	d.Links = accountLinks(rights, base+"/"+a.ID)
	return d
}

func accountLinks(r bank.BGRights, self string) links {
	l := links{}
	if r.Balances {
		l.add("balances", self+"/balances")
	}
	if r.Transactions {
		l.add("transactions", self+"/transactions")
	}
	if len(l) == 0 {
		return nil
	}
	return l
}

type standingOrderDetails struct {
	StartDate      string `json:"startDate"`
	Frequency      string `json:"frequency"`
	EndDate        string `json:"endDate,omitempty"`
	DayOfExecution string `json:"dayOfExecution,omitempty"`
}

type additionalInformationStructured struct {
	StandingOrderDetails standingOrderDetails `json:"standingOrderDetails"`
}

type transaction struct {
	TransactionID                     string                           `json:"transactionId,omitempty"`
	EntryReference                    string                           `json:"entryReference,omitempty"`
	BookingDate                       string                           `json:"bookingDate,omitempty"`
	ValueDate                         string                           `json:"valueDate,omitempty"`
	TransactionAmount                 amount                           `json:"transactionAmount"`
	CreditorName                      string                           `json:"creditorName,omitempty"`
	CreditorAccount                   *accountRef                      `json:"creditorAccount,omitempty"`
	DebtorName                        string                           `json:"debtorName,omitempty"`
	DebtorAccount                     *accountRef                      `json:"debtorAccount,omitempty"`
	RemittanceInformationUnstructured string                           `json:"remittanceInformationUnstructured,omitempty"`
	AdditionalInformation             string                           `json:"additionalInformation,omitempty"`
	AdditionalInformationStructured   *additionalInformationStructured `json:"additionalInformationStructured,omitempty"`
	ProprietaryBankTransactionCode    string                           `json:"proprietaryBankTransactionCode,omitempty"`
	BalanceAfterTransaction           *balance                         `json:"balanceAfterTransaction,omitempty"`
	Links                             links                            `json:"_links,omitempty"`
}

// counterparty is a counterparty's account reference, when it is an IBAN.
func counterparty(r *bank.AccountRef) *accountRef {
	if r == nil || r.Scheme != bank.SchemeIBAN {
		return nil
	}
	return &accountRef{IBAN: r.Identification}
}

func txOf(t *bank.Transaction, self string) transaction {
	x := transaction{TransactionID: t.ID, EntryReference: t.ID, TransactionAmount: money(t.Amount, t.Currency),
		ProprietaryBankTransactionCode: clip(t.ProprietaryCode, 35), AdditionalInformation: clip(t.Information, 500)}
	if t.Status == bank.StatusBooked {
		x.BookingDate, x.ValueDate = t.BookedAt.Format(time.DateOnly), t.ValueAt.Format(time.DateOnly)
	}
	x.RemittanceInformationUnstructured = clip(t.Reference, 140)
	if x.RemittanceInformationUnstructured == "" {
		x.RemittanceInformationUnstructured = clip(t.Information, 140)
	}
	name := t.MerchantName
	if t.Counterparty != nil {
		name = t.Counterparty.Name
	}
	if t.Amount < 0 {
		x.CreditorName, x.CreditorAccount = clip(name, 70), counterparty(t.Counterparty)
	} else {
		x.DebtorName, x.DebtorAccount = clip(name, 70), counterparty(t.Counterparty)
	}
	if t.HasBalance {
		b := balance{BalanceAmount: money(t.Balance, t.Currency), BalanceType: "interimBooked"}
		x.BalanceAfterTransaction = &b
	}
	x.Links = links{}.add("transactionDetails", self+"/"+t.ID)
	return x
}

// informationOf is an active standing order as a report's information entry.
func informationOf(so bank.StandingOrder) transaction {
	code, day := bank.BGFrequencyCode(so.Frequency)
	x := transaction{TransactionAmount: money(-so.Amount, so.Currency), CreditorName: clip(so.Creditor.Name, 70),
		CreditorAccount: counterparty(&so.Creditor), RemittanceInformationUnstructured: clip(so.Reference, 140)}
	if code != "" {
		d := standingOrderDetails{StartDate: so.FirstAt.Format(time.DateOnly), Frequency: code, DayOfExecution: day}
		if !so.FinalAt.IsZero() {
			d.EndDate = so.FinalAt.Format(time.DateOnly)
		}
		x.AdditionalInformationStructured = &additionalInformationStructured{d}
	}
	return x
}

type cardTransaction struct {
	CardTransactionID              string `json:"cardTransactionId,omitempty"`
	TransactionDate                string `json:"transactionDate,omitempty"`
	BookingDate                    string `json:"bookingDate,omitempty"`
	TransactionAmount              amount `json:"transactionAmount"`
	MerchantCategoryCode           string `json:"merchantCategoryCode,omitempty"`
	MaskedPAN                      string `json:"maskedPAN,omitempty"`
	TransactionDetails             string `json:"transactionDetails,omitempty"`
	ProprietaryBankTransactionCode string `json:"proprietaryBankTransactionCode,omitempty"`
}

func cardTxOf(t *bank.Transaction, a bank.Account) cardTransaction {
	x := cardTransaction{CardTransactionID: t.ID, TransactionDate: t.BookedAt.Format(time.DateOnly), TransactionAmount: money(t.Amount, t.Currency),
		MaskedPAN: bank.MaskPANBG(a.PAN), ProprietaryBankTransactionCode: clip(t.ProprietaryCode, 35)}
	if t.Status == bank.StatusBooked {
		x.BookingDate = t.BookedAt.Format(time.DateOnly)
	}
	if len(t.MerchantCategory) == 4 {
		x.MerchantCategoryCode = t.MerchantCategory
	}
	x.TransactionDetails = t.Information
	if t.MerchantName != "" && t.Information == "" {
		x.TransactionDetails = t.MerchantName
	}
	x.TransactionDetails = clip(x.TransactionDetails, 1000)
	return x
}
