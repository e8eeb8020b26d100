package bank

import (
	"errors"
	"time"
)

// TxQuery selects a page of transactions.
type TxQuery struct {
	Accounts   []Account
	From, To   time.Time // inclusive; zero: unbounded
	Direction  Direction
	BookedOnly bool
	// PendingOnly keeps the pending entries only (a Berlin Group report
	// with bookingStatus pending).
	PendingOnly bool
	Offset      int
	Limit       int
}

// TxPage is one page of transactions, newest first, with the total count of
// the selection and the first and last booking times of the accounts.
type TxPage struct {
	Items       []Transaction
	Total       int
	First, Last time.Time
}

// StatementQuery selects statements.
type StatementQuery struct {
	Accounts []Account
	ID       string    // one statement; "" for all
	From, To time.Time // statements that end on or after From and start on or before To
}

// Idem is the idempotency of a POST: the client, the operation, the key it
// sent and the hash of its body as canonical JSON.
type Idem struct {
	ClientID, Operation, Key, BodyHash string
}

// ErrIdempotencyMismatch: the key was used with another body.
var ErrIdempotencyMismatch = errors.New("idempotency key reused with a different body")

// Kinds of payment order.
const (
	OrderDomestic  = "domestic"
	OrderScheduled = "domestic-scheduled"
	OrderStanding  = "domestic-standing-order"
)

// Order is a payment order to submit: the bank's decision and ledger
// posting happen inside the store's transaction.
type Order struct {
	Payment   Payment // ID, Kind, ConsentID, ClientID, Amount, Currency, Request, ProcessAt, SettleAt set
	Debtor    string  // AccountId of the debtor account
	Creditor  AccountRef
	Reference string
	// Schedule, for a scheduled payment or a standing order: nothing moves
	// now; the sandbox clock executes it.
	Schedule *Initiation
	// Credits, for an international standing order, are what its creditor
	// receives in the currency of transfer for the first, recurring and
	// final payments.
	Credits [3]int64
	// Check validates the consent as it is inside the transaction (status,
	// ownership); an error refuses the order and writes nothing.
	Check func(*Consent) error
	// Limits, for a variable recurring payment, decides in the same
	// transaction on the payments the consent made before (every one,
	// oldest first); an error refuses the order and writes nothing. A
	// recurring consent is not consumed by its payments.
	Limits func(c *Consent, made []Payment) error
	// Outcome is what a scenario makes of the payment: "" (the ledger
	// decides), OutcomeInsufficientFunds (Rejected at once),
	// OutcomeRejectAfterPending, OutcomeStuckPending.
	Outcome string
}

// Outcomes a scenario can force on a domestic payment.
const (
	OutcomeInsufficientFunds  = "insufficient-funds"
	OutcomeRejectAfterPending = "reject-after-pending"
	OutcomeStuckPending       = "stuck-pending"
)

// FundsConfirmation is a CBPII funds check as recorded.
type FundsConfirmation struct {
	ID, ConsentID, Reference, Currency string
	Amount                             int64
	Available                          bool
	CreatedAt                          time.Time
}
