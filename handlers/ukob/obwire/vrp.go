package obwire

import (
	"fmt"
	"time"

	"github.com/obsandbox/sandbox/internal/bank"
)

// ControlParameters is OBDomesticVRPControlParameters, the same in
// v3.1.11 and v4.0.
type ControlParameters struct {
	ValidFromDateTime       string `json:"ValidFromDateTime"`
	ValidToDateTime         string `json:"ValidToDateTime"`
	MaximumIndividualAmount Amount `json:"MaximumIndividualAmount"`
	PeriodicLimits          []struct {
		PeriodType      string `json:"PeriodType"`
		PeriodAlignment string `json:"PeriodAlignment"`
		Amount          string `json:"Amount"`
		Currency        string `json:"Currency"`
	} `json:"PeriodicLimits"`
	VRPType                  []string `json:"VRPType"`
	PSUAuthenticationMethods []string `json:"PSUAuthenticationMethods"`
	PSUInteractionTypes      []string `json:"PSUInteractionTypes"`
}

// Controls reads the parameters and checks them against the bank's rules
// at now.
func (p ControlParameters) Controls(now time.Time) (*bank.VRPControls, error) {
	const path = "Data.ControlParameters."
	c := &bank.VRPControls{Currency: p.MaximumIndividualAmount.Currency, Types: p.VRPType,
		AuthMethods: p.PSUAuthenticationMethods, Interactions: p.PSUInteractionTypes}
	var err error
	if c.MaxIndividual, err = bank.ParseMinor(p.MaximumIndividualAmount.Amount); err != nil {
		return nil, bank.Errorf(bank.KindFieldInvalid, path+"MaximumIndividualAmount.Amount", "the amount must have at most two decimals: %v", err)
	}
	for i, l := range p.PeriodicLimits {
		v, err := bank.ParseMinor(l.Amount)
		if err != nil {
			return nil, bank.Errorf(bank.KindFieldInvalid, fmt.Sprintf("%sPeriodicLimits[%d].Amount", path, i), "the amount must have at most two decimals: %v", err)
		}
		c.Periodic = append(c.Periodic, bank.PeriodicLimit{Type: l.PeriodType, Alignment: l.PeriodAlignment, Amount: v, Currency: l.Currency})
	}
	for _, d := range []struct {
		v    string
		t    *time.Time
		name string
	}{{p.ValidFromDateTime, &c.ValidFrom, "ValidFromDateTime"}, {p.ValidToDateTime, &c.ValidTo, "ValidToDateTime"}} {
		if d.v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, d.v)
		if err != nil {
			return nil, bank.Errorf(bank.KindFieldInvalidDate, path+d.name, "%s must be an ISO 8601 date-time with a timezone", d.name)
		}
		*d.t = t.UTC()
	}
	return c, c.Check(now)
}

// VRPConsent is what a VRP consent's Data says, in either version: its
// Initiation (every member optional) and ControlParameters.
type VRPConsent struct {
	Debtor, Creditor        *AccountID
	Reference, Unstructured string
	Controls                ControlParameters
}

// Initiation is the bank's reading of the consent: well-formed accounts,
// valid control parameters.
func (v VRPConsent) Initiation(now time.Time) (*bank.Initiation, error) {
	const path = "Data.Initiation"
	ctl, err := v.Controls.Controls(now)
	if err != nil {
		return nil, err
	}
	in := &bank.Initiation{Currency: ctl.Currency, Reference: v.Reference, Unstructured: v.Unstructured, Controls: ctl}
	if v.Creditor != nil {
		in.Creditor = v.Creditor.Ref()
		if err := bank.CheckAccountRef(in.Creditor, path+".CreditorAccount"); err != nil {
			return nil, err
		}
	}
	if v.Debtor != nil {
		d := v.Debtor.Ref()
		in.Debtor = &d
		if err := bank.CheckAccountRef(d, path+".DebtorAccount"); err != nil {
			return nil, err
		}
	}
	return in, nil
}
