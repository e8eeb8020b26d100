package bank

import (
	"math/bits"
	"strings"
)

// Permission is one of the 21 account-access permissions of UK OB v3.1.11
// (OBReadConsent1.Data.Permissions). A Permissions value is a set of them.
type Permission uint32

// The permissions, in the standard's (alphabetical) order.
const (
	ReadAccountsBasic Permission = 1 << iota
	ReadAccountsDetail
	ReadBalances
	ReadBeneficiariesBasic
	ReadBeneficiariesDetail
	ReadDirectDebits
	ReadOffers
	ReadPAN
	ReadParty
	ReadPartyPSU
	ReadProducts
	ReadScheduledPaymentsBasic
	ReadScheduledPaymentsDetail
	ReadStandingOrdersBasic
	ReadStandingOrdersDetail
	ReadStatementsBasic
	ReadStatementsDetail
	ReadTransactionsBasic
	ReadTransactionsCredits
	ReadTransactionsDebits
	ReadTransactionsDetail
	permissionEnd
)

var permissionNames = [...]string{
	"ReadAccountsBasic", "ReadAccountsDetail", "ReadBalances", "ReadBeneficiariesBasic",
	"ReadBeneficiariesDetail", "ReadDirectDebits", "ReadOffers", "ReadPAN", "ReadParty",
	"ReadPartyPSU", "ReadProducts", "ReadScheduledPaymentsBasic", "ReadScheduledPaymentsDetail",
	"ReadStandingOrdersBasic", "ReadStandingOrdersDetail", "ReadStatementsBasic",
	"ReadStatementsDetail", "ReadTransactionsBasic", "ReadTransactionsCredits",
	"ReadTransactionsDebits", "ReadTransactionsDetail",
}

// Permissions is a set of Permission.
type Permissions uint32

// ParsePermission returns the permission with the standard's name.
func ParsePermission(name string) (Permission, bool) {
	for i, n := range permissionNames {
		if n == name {
			return Permission(1) << i, true
		}
	}
	return 0, false
}

func (p Permission) String() string {
	if p == 0 || p >= permissionEnd || p&(p-1) != 0 {
		return "Permission(?)"
	}
	return permissionNames[bits.TrailingZeros32(uint32(p))]
}

// Has reports whether every permission in want is in the set.
func (s Permissions) Has(want ...Permission) bool {
	for _, p := range want {
		if uint32(s)&uint32(p) == 0 {
			return false
		}
	}
	return true
}

// Any reports whether at least one of want is in the set.
func (s Permissions) Any(want ...Permission) bool {
	for _, p := range want {
		if uint32(s)&uint32(p) != 0 {
			return true
		}
	}
	return false
}

// With returns the set with p added.
func (s Permissions) With(p ...Permission) Permissions {
	for _, x := range p {
		s |= Permissions(x)
	}
	return s
}

// Names lists the set in the standard's order.
func (s Permissions) Names() []string {
	out := make([]string, 0, bits.OnesCount32(uint32(s)))
	for i, n := range permissionNames {
		if uint32(s)&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

func (s Permissions) String() string { return strings.Join(s.Names(), ",") }

// ParsePermissions validates a consent's Permissions array by the rules of the
// AIS profile ("Consent Elements"): not empty, every name known, no
// duplicates, ReadAccountsBasic or ReadAccountsDetail present, and
// TransactionsBasic/Detail only together with Credits and/or Debits (and the
// reverse). The error says which rule failed.
func ParsePermissions(names []string) (Permissions, error) {
	const path = "Data.Permissions"
	if len(names) == 0 {
		return 0, Errorf(KindFieldInvalid, path, "Permissions must not be empty")
	}
	var s Permissions
	for _, n := range names {
		p, ok := ParsePermission(n)
		if !ok {
			return 0, Errorf(KindFieldInvalid, path, "unsupported permission %q", n)
		}
		if s.Has(p) {
			return 0, Errorf(KindFieldInvalid, path, "permission %q is listed twice", n)
		}
		s = s.With(p)
	}
	if !s.Any(ReadAccountsBasic, ReadAccountsDetail) {
		return 0, Errorf(KindFieldInvalid, path, "Permissions must include ReadAccountsBasic or ReadAccountsDetail")
	}
	level := s.Any(ReadTransactionsBasic, ReadTransactionsDetail)
	direction := s.Any(ReadTransactionsCredits, ReadTransactionsDebits)
	if level && !direction {
		return 0, Errorf(KindFieldInvalid, path, "ReadTransactionsBasic or ReadTransactionsDetail needs ReadTransactionsCredits and/or ReadTransactionsDebits")
	}
	if direction && !level {
		return 0, Errorf(KindFieldInvalid, path, "ReadTransactionsCredits or ReadTransactionsDebits needs ReadTransactionsBasic or ReadTransactionsDetail")
	}
	return s, nil
}

// Describe gives the plain-words sentence a PSU sees for each permission on
// the consent screen, in the standard's order.
func (s Permissions) Describe() []string {
	var out []string
	add := func(ok bool, text string) {
		if ok {
			out = append(out, text)
		}
	}
	add(s.Has(ReadAccountsDetail), "Your account names, types, currencies, sort codes and account numbers")
	add(!s.Has(ReadAccountsDetail) && s.Has(ReadAccountsBasic), "Your account names, types and currencies (not the account numbers)")
	add(s.Has(ReadBalances), "Your account balances and credit limits")
	add(s.Has(ReadBeneficiariesDetail), "The people and businesses you have saved as payees, with their account details")
	add(!s.Has(ReadBeneficiariesDetail) && s.Has(ReadBeneficiariesBasic), "The people and businesses you have saved as payees (names and references only)")
	add(s.Has(ReadDirectDebits), "Your Direct Debits")
	add(s.Has(ReadStandingOrdersDetail), "Your standing orders, with the payees' account details")
	add(!s.Has(ReadStandingOrdersDetail) && s.Has(ReadStandingOrdersBasic), "Your standing orders (amounts, dates and references)")
	add(s.Has(ReadScheduledPaymentsDetail), "Your future-dated payments, with the payees' account details")
	add(!s.Has(ReadScheduledPaymentsDetail) && s.Has(ReadScheduledPaymentsBasic), "Your future-dated payments (amounts, dates and references)")
	tx := ""
	switch {
	case s.Has(ReadTransactionsCredits, ReadTransactionsDebits):
		tx = "money in and money out"
	case s.Has(ReadTransactionsCredits):
		tx = "money in only"
	case s.Has(ReadTransactionsDebits):
		tx = "money out only"
	}
	add(s.Has(ReadTransactionsDetail) && tx != "", "Your transactions ("+tx+"), with descriptions, merchants, payees and running balances")
	add(!s.Has(ReadTransactionsDetail) && s.Has(ReadTransactionsBasic) && tx != "", "Your transactions ("+tx+"): dates and amounts")
	add(s.Has(ReadStatementsDetail), "Your statements, with their amounts and the statement files")
	add(!s.Has(ReadStatementsDetail) && s.Has(ReadStatementsBasic), "Your statements (dates and types)")
	add(s.Has(ReadProducts), "Which products your accounts are")
	add(s.Has(ReadOffers), "Offers the bank has made you")
	add(s.Has(ReadParty), "The account holders' names and contact details")
	add(s.Has(ReadPartyPSU), "Your own name, address and contact details")
	add(s.Has(ReadPAN), "Your full card numbers")
	return out
}
