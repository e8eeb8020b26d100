package bank

import (
	"slices"
	"time"
)

// Grant is what an access token lets a resource call reach: built by the
// authorization middleware from the token and the consent it is bound to,
// read by the handlers. A handler never looks further than its Grant.
type Grant struct {
	ClientID    string
	ConsentID   string
	PSU         string   // username of the PSU who authorised the consent
	Scope       string   // the token's scope
	Accounts    []string // AccountIds the PSU selected
	Permissions Permissions
	TxFrom      time.Time // zero: unbounded
	TxTo        time.Time // zero: unbounded
}

// HasAccount reports whether the grant reaches the account.
func (g *Grant) HasAccount(id string) bool { return slices.Contains(g.Accounts, id) }

// Window narrows a requested booking-date range to the consent's transaction
// window. Zero times are unbounded. ok is false when nothing is left.
func (g *Grant) Window(from, to time.Time) (time.Time, time.Time, bool) {
	if !g.TxFrom.IsZero() && (from.IsZero() || from.Before(g.TxFrom)) {
		from = g.TxFrom
	}
	if !g.TxTo.IsZero() && (to.IsZero() || to.After(g.TxTo)) {
		to = g.TxTo
	}
	return from, to, from.IsZero() || to.IsZero() || !to.Before(from)
}

// Direction is the transaction direction a consent lets its holder read.
type Direction int

// Transaction directions.
const (
	DirectionNone Direction = iota
	DirectionCredits
	DirectionDebits
	DirectionBoth
)

// TxDirection reports which transactions the permissions show.
func (s Permissions) TxDirection() Direction {
	c, d := s.Has(ReadTransactionsCredits), s.Has(ReadTransactionsDebits)
	switch {
	case c && d:
		return DirectionBoth
	case c:
		return DirectionCredits
	case d:
		return DirectionDebits
	}
	return DirectionNone
}
