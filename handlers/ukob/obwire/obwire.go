// Package obwire holds the UK Open Banking shapes that v3.1.11 and v4.0
// share: amounts, links and meta, account identifications, dates as the
// standard writes them.
package obwire

import (
	"time"

	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/internal/bank"
)

type Amount struct {
	Amount   string `json:"Amount"`
	Currency string `json:"Currency"`
}

func NewAmount(minor int64, currency string) *Amount {
	return &Amount{Amount: bank.FormatMinor(minor), Currency: currency}
}

type Links struct {
	Self  string `json:"Self"`
	First string `json:"First,omitempty"`
	Prev  string `json:"Prev,omitempty"`
	Next  string `json:"Next,omitempty"`
	Last  string `json:"Last,omitempty"`
}

type Meta struct {
	TotalPages             int    `json:"TotalPages,omitempty"`
	FirstAvailableDateTime string `json:"FirstAvailableDateTime,omitempty"`
	LastAvailableDateTime  string `json:"LastAvailableDateTime,omitempty"`
}

// ISOTime renders a time as the standard wants it in responses: with seconds
// and an explicit offset ("2017-04-05T10:43:07+00:00").
func ISOTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05") + "+00:00"
}

func CreditDebit(v int64) string {
	if v < 0 {
		return "Debit"
	}
	return "Credit"
}

type CashAccount struct {
	SchemeName              string `json:"SchemeName,omitempty"`
	Identification          string `json:"Identification,omitempty"`
	Name                    string `json:"Name,omitempty"`
	SecondaryIdentification string `json:"SecondaryIdentification,omitempty"`
}

func NewCashAccount(r bank.AccountRef) *CashAccount {
	return &CashAccount{SchemeName: r.Scheme, Identification: r.Identification, Name: httpx.Truncate(r.Name, 350), SecondaryIdentification: r.Secondary}
}

type Agent struct {
	SchemeName     string `json:"SchemeName"`
	Identification string `json:"Identification"`
}

// Wire shapes of the domestic Initiation (OBWriteDomestic2DataInitiation).
type AccountID struct {
	SchemeName              string `json:"SchemeName"`
	Identification          string `json:"Identification"`
	Name                    string `json:"Name,omitempty"`
	SecondaryIdentification string `json:"SecondaryIdentification,omitempty"`
}

func (a *AccountID) Ref() bank.AccountRef {
	return bank.AccountRef{Scheme: a.SchemeName, Identification: a.Identification, Name: a.Name, Secondary: a.SecondaryIdentification}
}

// Envelope is the standard's response body: Data, Links, Meta (the profile
// makes Links and Meta mandatory; Meta may be empty).
type Envelope struct {
	Data  any   `json:"Data"`
	Links Links `json:"Links"`
	Meta  Meta  `json:"Meta"`
}
