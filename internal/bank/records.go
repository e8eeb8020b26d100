package bank

import "time"

// Beneficiary is a payee the PSU saved on an account.
type Beneficiary struct {
	ID        string
	AccountID string
	Type      string // Trusted | Ordinary
	Reference string
	Creditor  AccountRef
}

// DirectDebit is a Direct Debit mandate on an account.
type DirectDebit struct {
	ID           string
	AccountID    string
	Mandate      string // MandateIdentification
	Name         string // the originator
	Status       string // Active | Inactive
	Frequency    string // UK.OBIE.Monthly, ...
	Currency     string
	PreviousAt   time.Time
	PreviousPaid int64 // minor units, positive
}

// StandingOrder is a regular payment an account makes.
type StandingOrder struct {
	ID          string
	AccountID   string
	Frequency   string // the standard's frequency code, e.g. "IntrvlMnthDay:01:01"
	Reference   string
	Status      string // Active | Inactive
	Currency    string
	Amount      int64 // each payment, minor units
	FirstAt     time.Time
	NextAt      time.Time // zero when none is due
	LastAt      time.Time // zero when none was made
	FinalAt     time.Time // zero for open-ended
	Creditor    AccountRef
	CreditorBIC string
}

// ScheduledPayment is a single future-dated payment.
type ScheduledPayment struct {
	ID        string
	AccountID string
	At        time.Time
	Type      string // Execution | Arrival
	Reference string
	Currency  string
	Amount    int64
	Creditor  AccountRef
}

// Statement is a monthly statement of an account.
type Statement struct {
	ID          string
	AccountID   string
	Reference   string
	Type        string // RegularPeriodic
	Start, End  time.Time
	CreatedAt   time.Time
	Currency    string
	Opening     int64 // booked balance at Start, signed
	Closing     int64 // booked balance at End, signed
	Credits     int64 // total money in, positive
	Debits      int64 // total money out, positive
	Description string
}

// Party is a person or business that holds or acts on accounts.
type Party struct {
	ID        string
	Number    string
	Type      string // Sole | Joint | Delegate
	Name      string
	LegalName string
	Email     string
	Phone     string // the standard's form: +44-7700900123
	Mobile    string
	Address   Address
	Business  bool
	Role      string // on an account: OBExternalAccountRole1Code, e.g. UK.OBIE.Principal
}

// Address is a postal address.
type Address struct {
	Lines     []string
	Street    string
	Building  string
	PostCode  string
	Town      string
	Country   string
	Residence bool // Residential, else Business
}

// Product is the product an account is an instance of.
type Product struct {
	ID          string
	AccountID   string
	Name        string
	Type        string // PersonalCurrentAccount | BusinessCurrentAccount | CommercialCreditCard | Other
	OtherName   string // for Type Other
	OtherDesc   string
	MarketingID string
}

// Offer is an offer the bank makes on an account.
type Offer struct {
	ID          string
	AccountID   string
	Type        string // BalanceTransfer | LimitIncrease | PromotionalRate | ...
	Description string
	Start, End  time.Time
	Rate        string
	Currency    string
	Amount      int64
	Fee         int64
	URL         string
}
