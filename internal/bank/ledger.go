package bank

import "time"

// Transaction statuses (OBEntryStatus1Code).
const (
	StatusBooked   = "Booked"
	StatusPending  = "Pending"
	StatusRejected = "Rejected"
)

// Transaction is one ledger entry of an account.
type Transaction struct {
	ID          string
	AccountID   string
	Status      string // StatusBooked | StatusPending | StatusRejected
	BookedAt    time.Time
	ValueAt     time.Time
	Amount      int64 // signed minor units: > 0 money in, < 0 money out
	Currency    string
	Reference   string
	Information string
	// Bank transaction code (ISO 20022 family / sub-family names) and the
	// bank's own short code (BGC, DD, SO, DEB, FPO, ...).
	Code, SubCode, ProprietaryCode string
	MerchantName, MerchantCategory string
	// Counterparty is the creditor of a debit or the debtor of a credit.
	Counterparty *AccountRef
	Card         *Card
	// Balance is the booked balance after this entry (booked entries only).
	Balance    int64
	HasBalance bool
}

// Credit reports whether the entry is money in.
func (t Transaction) Credit() bool { return t.Amount > 0 }

// Card is the card used for a card transaction.
type Card struct {
	Scheme   string // VISA | MasterCard | ...
	AuthType string // Contactless | PIN | ConsumerDevice | None
	Name     string
	Masked   string // masked card number
}

// LedgerState is what the store knows about an account's money at an instant;
// Balances derives the standard's balance types from it.
type LedgerState struct {
	Booked         int64     // sum of booked entries plus the opening balance
	PendingDebits  int64     // sum of pending money out, positive
	PendingCredits int64     // sum of pending money in, positive
	ClosingBooked  int64     // booked balance at the end of the previous day
	LastBooked     time.Time // time of the latest booked entry (zero if none)
}

// Balance is one balance of an account, signed (negative = owed to the bank).
type Balance struct {
	AccountID  string
	Currency   string
	Type       string // InterimAvailable | InterimBooked | ClosingBooked | Expected
	Amount     int64
	At         time.Time
	CreditLine *CreditLine
}

// CreditLine is an overdraft or a card limit shown with a balance.
type CreditLine struct {
	Included bool
	Type     string // Pre-Agreed | Credit | ...
	Amount   int64
}

// Available is the money the account can pay out now: booked, less pending
// debits, plus any arranged overdraft or card limit.
func (s LedgerState) Available(a Account) int64 {
	return s.Booked - s.PendingDebits + a.CreditLimit
}

// Balances derives the four balances a UK current account shows:
// InterimBooked (booked entries so far), InterimAvailable (less pending
// debits, including the credit line), Expected (after every pending entry),
// and ClosingBooked (end of the previous day).
func Balances(a Account, s LedgerState, now time.Time) []Balance {
	var line *CreditLine
	if a.CreditLimit > 0 {
		t := "Pre-Agreed"
		if a.IsCard() {
			t = "Credit"
		}
		line = &CreditLine{Included: true, Type: t, Amount: a.CreditLimit}
	}
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	closingAt := day.Add(-time.Second)
	return []Balance{
		{AccountID: a.ID, Currency: a.Currency, Type: "InterimAvailable", Amount: s.Available(a), At: now, CreditLine: line},
		{AccountID: a.ID, Currency: a.Currency, Type: "InterimBooked", Amount: s.Booked, At: now},
		{AccountID: a.ID, Currency: a.Currency, Type: "Expected", Amount: s.Booked - s.PendingDebits + s.PendingCredits, At: now},
		{AccountID: a.ID, Currency: a.Currency, Type: "ClosingBooked", Amount: s.ClosingBooked, At: closingAt},
	}
}
