package psu

import (
	"strings"

	"github.com/obsandbox/sandbox/internal/bank"
)

// vrpView is what the consent page shows of a VRP consent: whom it pays,
// the reference, and the limits every payment must fit, in plain words.
func vrpView(data map[string]any, cn *bank.Consent) {
	in, ctl := cn.Initiation, cn.Controls()
	data["Title"], data["Mandate"] = "Set up variable recurring payments", true
	payee, account := "Any payee the app names", ""
	switch {
	case in.Creditor.Scheme != "":
		payee, account = in.Creditor.Name, in.Creditor.Identification
		if in.Creditor.Scheme == bank.SchemeSortCode && len(account) == 14 {
			account = "Sort code " + account[:2] + "-" + account[2:4] + "-" + account[4:6] + ", account " + account[6:]
		}
	case ctl.SweepingOnly():
		payee = "Your own accounts (sweeping)"
	}
	limits := ctl.Describe()
	when := "Until you or the app cancel it"
	if !ctl.ValidTo.IsZero() {
		when = "Until " + ctl.ValidTo.In(bank.BankZone).Format("2 January 2006, 15:04 MST")
	}
	if !ctl.ValidFrom.IsZero() {
		when = "From " + ctl.ValidFrom.In(bank.BankZone).Format("2 January 2006") + "; " + strings.ToLower(when[:1]) + when[1:]
	}
	ref := in.Reference
	if ref == "" {
		ref = in.Unstructured
	}
	data["Payment"] = map[string]string{"Amount": limits[0], "Payee": payee, "PayeeAccount": account, "Reference": ref,
		"When": when, "Later": strings.Join(limits[1:], "; ")}
}
