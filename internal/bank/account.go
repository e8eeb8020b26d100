package bank

import "time"

// Account scheme names (OBExternalAccountIdentification4Code).
const (
	SchemeSortCode = "UK.OBIE.SortCodeAccountNumber"
	SchemeIBAN     = "UK.OBIE.IBAN"
	SchemePAN      = "UK.OBIE.PAN"
	SchemeBICFI    = "UK.OBIE.BICFI"
)

// AccountRef names an account by scheme, as a payee or a counterparty is named.
type AccountRef struct {
	Scheme         string `json:"scheme"` // e.g. SchemeSortCode
	Identification string `json:"identification"`
	Name           string `json:"name,omitempty"`
	Secondary      string `json:"secondary,omitempty"` // e.g. a building society roll number
}

// Account is an account the bank holds for a PSU.
type Account struct {
	ID          string // AccountId, stable for a given seed
	Ref         int64  // the store's row id; not shown to clients
	PSU         string // the owner's username
	Currency    string
	Type        string // Personal | Business
	SubType     string // CurrentAccount | Savings | CreditCard | ...
	Nickname    string
	Description string
	Status      string // Enabled | Disabled | ...
	OpenedAt    time.Time
	HolderName  string
	SortCode    string // 6 digits, UK accounts
	Number      string // 8 digits, UK accounts
	IBAN        string
	PAN         string // card accounts: the full card number
	BIC         string // servicer
	CardPAN     string // the card that pays from this account (debit or credit card)
	CardScheme  string // VISA | MasterCard
	CreditLimit int64  // minor units: arranged overdraft, or a card's credit limit
	ProductID   string
}

// Identifiers lists the account's scheme identifications in the order a
// UK bank shows them: sort code + number (or IBAN for non-UK accounts), then
// the card PAN, masked unless unmasked is true (ReadPAN); a card account
// shows its card number first, then its IBAN.
func (a Account) Identifiers(unmasked bool) []AccountRef {
	var out []AccountRef
	if a.SortCode != "" {
		out = append(out, AccountRef{Scheme: SchemeSortCode, Identification: a.SortCode + a.Number, Name: a.HolderName})
	}
	iban := AccountRef{Scheme: SchemeIBAN, Identification: a.IBAN, Name: a.HolderName}
	if a.IBAN != "" && !a.IsCard() {
		out = append(out, iban)
	}
	if a.PAN != "" {
		pan := a.PAN
		if !unmasked {
			pan = MaskPAN(pan)
		}
		out = append(out, AccountRef{Scheme: SchemePAN, Identification: pan, Name: a.HolderName})
	}
	if a.IBAN != "" && a.IsCard() {
		out = append(out, iban)
	}
	return out
}

// Matches reports whether a scheme identification names this account.
func (a Account) Matches(r AccountRef) bool {
	switch r.Scheme {
	case SchemeSortCode:
		return a.SortCode != "" && r.Identification == a.SortCode+a.Number
	case SchemeIBAN:
		return a.IBAN != "" && r.Identification == a.IBAN
	case SchemePAN:
		return a.PAN != "" && r.Identification == a.PAN
	}
	return false
}

// MaskPAN keeps the last four digits of a card number: "************1234".
func MaskPAN(pan string) string {
	if len(pan) <= 4 {
		return pan
	}
	b := []byte(pan)
	for i := 0; i < len(b)-4; i++ {
		b[i] = '*'
	}
	return string(b)
}

// IsCard reports whether the account is a card account, whose balance is
// normally owed to the bank.
func (a Account) IsCard() bool { return a.SubType == "CreditCard" || a.SubType == "ChargeCard" }
