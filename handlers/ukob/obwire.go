package ukob

import (
	"time"

	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/internal/bank"
)

// Shapes shared by the UK OB v3.1.11 APIs.

type obAmount struct {
	Amount   string `json:"Amount"`
	Currency string `json:"Currency"`
}

func amount(minor int64, currency string) *obAmount {
	return &obAmount{Amount: bank.FormatMinor(minor), Currency: currency}
}

type obLinks struct {
	Self  string `json:"Self"`
	First string `json:"First,omitempty"`
	Prev  string `json:"Prev,omitempty"`
	Next  string `json:"Next,omitempty"`
	Last  string `json:"Last,omitempty"`
}

type obMeta struct {
	TotalPages             int    `json:"TotalPages,omitempty"`
	FirstAvailableDateTime string `json:"FirstAvailableDateTime,omitempty"`
	LastAvailableDateTime  string `json:"LastAvailableDateTime,omitempty"`
}

// isoTime renders a time as the standard wants it in responses: with seconds
// and an explicit offset ("2017-04-05T10:43:07+00:00").
func isoTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05") + "+00:00"
}

func creditDebit(v int64) string {
	if v < 0 {
		return "Debit"
	}
	return "Credit"
}

type obCashAccount struct {
	SchemeName              string `json:"SchemeName,omitempty"`
	Identification          string `json:"Identification,omitempty"`
	Name                    string `json:"Name,omitempty"`
	SecondaryIdentification string `json:"SecondaryIdentification,omitempty"`
}

func cashAccount(r bank.AccountRef) *obCashAccount {
	return &obCashAccount{SchemeName: r.Scheme, Identification: r.Identification, Name: httpx.Truncate(r.Name, 350), SecondaryIdentification: r.Secondary}
}

type obAgent struct {
	SchemeName     string `json:"SchemeName"`
	Identification string `json:"Identification"`
}
