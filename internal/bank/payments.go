package bank

import (
	"fmt"
	"math/big"
	"strings"
	"time"
)

// Payment order statuses (v3.1.11 domestic payments).
const (
	PaymentPending   = "Pending"
	PaymentInProcess = "AcceptedSettlementInProcess"
	PaymentCompleted = "AcceptedSettlementCompleted"
	PaymentRejected  = "Rejected"

	// Scheduled payments and standing orders.
	OrderInitiationPending   = "InitiationPending"
	OrderInitiationCompleted = "InitiationCompleted"
	OrderInitiationFailed    = "InitiationFailed"
)

// Local instruments the sandbox's domestic payments take.
const (
	LocalInstrumentFPS   = "UK.OBIE.FPS"
	LocalInstrumentBACS  = "UK.OBIE.BACS"
	LocalInstrumentCHAPS = "UK.OBIE.CHAPS"
)

// Payment rules and defaults.
const (
	SupportedPaymentCurrency = "GBP"
	DefaultInProcessAfter    = time.Second     // Pending -> AcceptedSettlementInProcess
	DefaultSettlementDelay   = 2 * time.Second // -> AcceptedSettlementCompleted (SPEC §8)
	PaymentConsentLifetime   = 24 * time.Hour  // CutOffDateTime after creation
	IdempotencyWindow        = 24 * time.Hour  // a key replays for this long (sandbox clock)
	MaxIdempotencyKeyLength  = 40
	RejectInsufficientFunds  = "Insufficient funds in the debtor account"
)

// Initiation is a payment as the bank understands it: the fields of a
// domestic Initiation it acts on.
type Initiation struct {
	InstructionID   string      `json:"instruction_id"`
	EndToEndID      string      `json:"end_to_end_id"`
	LocalInstrument string      `json:"local_instrument,omitempty"`
	Amount          int64       `json:"amount"` // minor units
	Currency        string      `json:"currency"`
	Debtor          *AccountRef `json:"debtor,omitempty"`
	Creditor        AccountRef  `json:"creditor"`
	Reference       string      `json:"reference,omitempty"`
	Unstructured    string      `json:"unstructured,omitempty"`
	// Scheduled payments and standing orders.
	RequestedAt time.Time `json:"requested_at,omitempty"`
	Frequency   string    `json:"frequency,omitempty"`
	FirstAt     time.Time `json:"first_at,omitempty"`
	FinalAt     time.Time `json:"final_at,omitempty"`
	Count       int       `json:"count,omitempty"`     // number of payments; 0 open-ended
	Recurring   int64     `json:"recurring,omitempty"` // standing order: amount of the payments after the first
	Final       int64     `json:"final,omitempty"`     // standing order: amount of the last payment
	// International payments: the currency the creditor receives, who
	// bears the charges and the rate asked for (quoted at the consent).
	CurrencyOfTransfer string `json:"currency_of_transfer,omitempty"`
	ChargeBearer       string `json:"charge_bearer,omitempty"`
	FX                 *Quote `json:"fx,omitempty"`
	// File payments: the file's metadata (Count is NumberOfTransactions).
	FileType      string `json:"file_type,omitempty"`
	FileHash      string `json:"file_hash,omitempty"`
	ControlSum    int64  `json:"control_sum,omitempty"`
	HasControlSum bool   `json:"has_control_sum,omitempty"`
	// VRP consents: the control parameters the payments must fit.
	Controls *VRPControls `json:"controls,omitempty"`
}

// CheckInitiation applies the bank's rules to a domestic payment: positive
// amount with at most two decimals, GBP only, the schemes and local
// instruments a UK bank supports, and well-formed sort codes and IBANs.
// path prefixes the JSON paths in errors (Data.Initiation).
func CheckInitiation(in *Initiation, amount, path string) error {
	v, err := ParseMinor(amount)
	if err != nil {
		return Errorf(KindFieldInvalid, path+".InstructedAmount.Amount", "the amount must be positive with at most two decimals: %v", err)
	}
	if v <= 0 {
		return Errorf(KindFieldInvalid, path+".InstructedAmount.Amount", "the amount must be greater than zero")
	}
	in.Amount = v
	if in.Currency != SupportedPaymentCurrency {
		return Errorf(KindUnsupportedCurrency, path+".InstructedAmount.Currency", "domestic payments are in GBP, not %s", in.Currency)
	}
	switch in.LocalInstrument {
	case "", LocalInstrumentFPS, LocalInstrumentBACS, LocalInstrumentCHAPS:
	default:
		return Errorf(KindUnsupportedLocalInstrument, path+".LocalInstrument", "local instrument %s is not supported (UK.OBIE.FPS, UK.OBIE.BACS, UK.OBIE.CHAPS)", in.LocalInstrument)
	}
	if err := CheckAccountRef(in.Creditor, path+".CreditorAccount"); err != nil {
		return err
	}
	if in.Debtor != nil {
		if err := CheckAccountRef(*in.Debtor, path+".DebtorAccount"); err != nil {
			return err
		}
	}
	return nil
}

// CheckAccountRef checks an account identification the bank can pay to or
// from: a sort code and account number (14 digits) or an IBAN.
func CheckAccountRef(r AccountRef, path string) error {
	switch r.Scheme {
	case SchemeSortCode:
		if len(r.Identification) != 14 || strings.Trim(r.Identification, "0123456789") != "" {
			return Errorf(KindFieldInvalid, path+".Identification", "a sort code and account number is 14 digits (6 + 8)")
		}
	case SchemeIBAN:
		if !ValidIBAN(r.Identification) {
			return Errorf(KindFieldInvalid, path+".Identification", "not a valid IBAN")
		}
	default:
		return Errorf(KindUnsupportedScheme, path+".SchemeName", "scheme %s is not supported (UK.OBIE.SortCodeAccountNumber, UK.OBIE.IBAN)", r.Scheme)
	}
	return nil
}

// ValidIBAN checks an IBAN's form and mod-97 check digits (ISO 13616).
func ValidIBAN(s string) bool {
	if len(s) < 15 || len(s) > 34 {
		return false
	}
	var sb strings.Builder
	for _, c := range s[4:] + s[:4] {
		switch {
		case c >= '0' && c <= '9':
			sb.WriteRune(c)
		case c >= 'A' && c <= 'Z':
			fmt.Fprintf(&sb, "%d", c-'A'+10)
		default:
			return false
		}
	}
	n, ok := new(big.Int).SetString(sb.String(), 10)
	return ok && new(big.Int).Mod(n, big.NewInt(97)).Int64() == 1
}

// Payment is a payment order the bank accepted (or rejected).
type Payment struct {
	ID          string
	Ref         int64
	Kind        string // domestic | domestic-scheduled | domestic-standing-order | domestic-vrp
	ConsentID   string
	ClientID    string
	Status      string
	CreatedAt   time.Time
	StatusAt    time.Time
	AccountID   string // the debtor account
	Amount      int64
	Currency    string
	Reason      string    // why it was rejected
	ProcessAt   time.Time // Pending -> AcceptedSettlementInProcess
	SettleAt    time.Time // -> AcceptedSettlementCompleted (booked)
	Request     []byte    // the order's Data as the TPP sent it (JSON)
	History     []StatusChange
	Transaction string // TransactionId of its ledger entry, if any
	// International payments: what the creditor receives, in the currency
	// of transfer, and the rate applied (nil when none was).
	CreditAmount   int64
	CreditCurrency string
	FX             *Quote
}

// StatusChange is one step of a payment's status history.
type StatusChange struct {
	Status string    `json:"status"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"`
}

// Accept decides whether the debtor account can pay amount now: the
// available balance (booked, less pending debits, plus the credit line)
// must cover it.
func Accept(a Account, s LedgerState, amount int64) (bool, string) {
	if s.Available(a) < amount {
		return false, RejectInsufficientFunds
	}
	return true, ""
}
