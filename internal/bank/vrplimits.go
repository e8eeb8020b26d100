package bank

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // Europe/London in the static binary, whatever the host has
)

// BankZone is the bank's time zone: calendar periods of VRP limits (a day,
// a calendar month, ...) begin at midnight here, and so do consent-aligned
// ones (a period starts on a date).
var BankZone = mustZone("Europe/London")

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// VRP control parameters (OBDomesticVRPControlParameters): the values the
// standard defines.
const (
	VRPTypeSweeping = "UK.OBIE.VRPType.Sweeping" // between accounts of the same PSU
	VRPTypeOther    = "UK.OBIE.VRPType.Other"    // commercial VRP

	VRPAuthSCA            = "UK.OBIE.SCA"
	VRPAuthSCANotRequired = "UK.OBIE.SCANotRequired"

	VRPInSession  = "InSession"
	VRPOffSession = "OffSession" // the default when a consent or a payment names none

	PeriodDay       = "Day"
	PeriodWeek      = "Week"
	PeriodFortnight = "Fortnight"
	PeriodMonth     = "Month"
	PeriodHalfYear  = "Half-year"
	PeriodYear      = "Year"

	AlignConsent  = "Consent"
	AlignCalendar = "Calendar"
)

// VRPControls are what a PSU authorises variable recurring payments within.
type VRPControls struct {
	ValidFrom     time.Time       `json:"valid_from,omitzero"` // zero: from the consent's creation
	ValidTo       time.Time       `json:"valid_to,omitzero"`   // zero: open-ended
	MaxIndividual int64           `json:"max_individual"`      // minor units
	Currency      string          `json:"currency"`
	Periodic      []PeriodicLimit `json:"periodic"`
	Types         []string        `json:"types"`        // VRPTypeSweeping, VRPTypeOther
	AuthMethods   []string        `json:"auth_methods"` // VRPAuthSCA, VRPAuthSCANotRequired
	Interactions  []string        `json:"interactions"` // VRPInSession, VRPOffSession; empty: OffSession
}

// PeriodicLimit is one PeriodicLimits entry: at most Amount in each period.
type PeriodicLimit struct {
	Type      string `json:"type"`      // PeriodDay ... PeriodYear
	Alignment string `json:"alignment"` // AlignConsent | AlignCalendar
	Amount    int64  `json:"amount"`    // minor units
	Currency  string `json:"currency"`
}

// limitPath is where a control parameter sits in the consent, as the
// FailsControlParameters error names it.
const limitPath = "Data.ControlParameters."

// Anchor is when consent-aligned periods start counting: the consent's
// ValidFromDateTime, else its creation.
func (c *VRPControls) Anchor(created time.Time) time.Time {
	if !c.ValidFrom.IsZero() {
		return c.ValidFrom
	}
	return created
}

// InteractionTypes are the PSU interaction types the consent allows
// (OffSession when it names none).
func (c *VRPControls) InteractionTypes() []string {
	if len(c.Interactions) == 0 {
		return []string{VRPOffSession}
	}
	return c.Interactions
}

// SweepingOnly reports whether the consent allows sweeping payments only.
func (c *VRPControls) SweepingOnly() bool {
	for _, t := range c.Types {
		if t != VRPTypeSweeping {
			return false
		}
	}
	return len(c.Types) > 0
}

// Window is the period of the limit that at falls in, [start, end): whole
// days from midnight in BankZone. Calendar periods are the calendar's (a
// week from Monday, a half-year from 1 January or 1 July); consent-aligned
// ones repeat from the anchor's date, a month-long one on the anchor's day
// of the month, or the month's last day when the month is shorter (31
// January, 28 or 29 February, 31 March, ...).
func (l PeriodicLimit) Window(anchor, at time.Time) (start, end time.Time) {
	t := at.In(BankZone)
	y, m, d := t.Date()
	if l.Alignment == AlignCalendar {
		switch l.Type {
		case PeriodDay:
			return midnight(y, m, d), midnight(y, m, d+1)
		case PeriodWeek:
			back := (int(t.Weekday()) + 6) % 7 // days since Monday
			return midnight(y, m, d-back), midnight(y, m, d-back+7)
		case PeriodMonth:
			return midnight(y, m, 1), midnight(y, m+1, 1)
		case PeriodHalfYear:
			h := time.January
			if m >= time.July {
				h = time.July
			}
			return midnight(y, h, 1), midnight(y, h+6, 1)
		case PeriodYear:
			return midnight(y, time.January, 1), midnight(y+1, time.January, 1)
		}
		// A calendar fortnight is not defined (the consent refuses it);
		// count it from the anchor as the standard asks.
	}
	ay, am, ad := anchor.In(BankZone).Date()
	if days := periodDays[l.Type]; days > 0 {
		n := floorDiv(daysBetween(ay, am, ad, y, m, d), days)
		return midnight(ay, am, ad+n*days), midnight(ay, am, ad+(n+1)*days)
	}
	months := periodMonths[l.Type]
	n := floorDiv((y-ay)*12+int(m-am), months)
	start = monthAnchored(ay, am, ad, n*months)
	if start.After(t) {
		n--
		start = monthAnchored(ay, am, ad, n*months)
	}
	return start, monthAnchored(ay, am, ad, (n+1)*months)
}

var (
	periodDays   = map[string]int{PeriodDay: 1, PeriodWeek: 7, PeriodFortnight: 14}
	periodMonths = map[string]int{PeriodMonth: 1, PeriodHalfYear: 6, PeriodYear: 12}
)

func midnight(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, BankZone) }

// monthAnchored is midnight of the anchor's day of the month, months after
// the anchor's month, or of that month's last day when it is shorter.
func monthAnchored(y int, m time.Month, d, months int) time.Time {
	first := time.Date(y, m+time.Month(months), 1, 0, 0, 0, 0, time.UTC)
	last := first.AddDate(0, 1, -1).Day()
	return midnight(first.Year(), first.Month(), min(d, last))
}

// daysBetween counts calendar days from one date to another.
func daysBetween(y1 int, m1 time.Month, d1, y2 int, m2 time.Month, d2 int) int {
	a := time.Date(y1, m1, d1, 0, 0, 0, 0, time.UTC)
	b := time.Date(y2, m2, d2, 0, 0, 0, 0, time.UTC)
	return int(b.Sub(a) / (24 * time.Hour))
}

func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// LimitUse is how much of one periodic limit the payments of a consent
// have used in the period at hand.
type LimitUse struct {
	Index      int // in PeriodicLimits
	Limit      PeriodicLimit
	Start, End time.Time
	Used       int64 // minor units: payments that count, made in [Start, End)
}

// Left is what the period still allows.
func (u LimitUse) Left() int64 { return max(u.Limit.Amount-u.Used, 0) }

// String says the arithmetic in words: "Month (Calendar) 2026-11-01..2026-12-01: 450.00 of 500.00 used".
func (u LimitUse) String() string {
	return fmt.Sprintf("%s (%s) %s..%s: %s of %s used", u.Limit.Type, u.Limit.Alignment,
		u.Start.Format("2006-01-02"), u.End.Format("2006-01-02"), FormatMinor(u.Used), FormatMinor(u.Limit.Amount))
}

// Counts reports whether a payment counts towards the limits: accepted ones
// do, pending or settled; a rejected one never moved money.
func Counts(p Payment) bool {
	return p.Status != PaymentRejected && p.Status != OrderInitiationFailed
}

// Uses is, for each periodic limit, the period at holds and what the
// consent's payments made in it used. created is the consent's creation.
func (c *VRPControls) Uses(created time.Time, made []Payment, at time.Time) []LimitUse {
	anchor := c.Anchor(created)
	out := make([]LimitUse, len(c.Periodic))
	for i, l := range c.Periodic {
		u := LimitUse{Index: i, Limit: l}
		u.Start, u.End = l.Window(anchor, at)
		for _, p := range made {
			if Counts(p) && !p.CreatedAt.Before(u.Start) && p.CreatedAt.Before(u.End) {
				u.Used += p.Amount
			}
		}
		out[i] = u
	}
	return out
}

// Allow decides whether a payment of amount at now fits the control
// parameters, given the payments the consent made before: inside
// ValidFromDateTime..ValidToDateTime, at most MaximumIndividualAmount, and
// within every PeriodicLimits entry for the period now is in. A refusal is
// UK.OBIE.Rules.FailsControlParameters naming the parameter that fails.
func (c *VRPControls) Allow(created time.Time, made []Payment, amount int64, now time.Time) error {
	switch {
	case !c.ValidFrom.IsZero() && now.Before(c.ValidFrom):
		return Errorf(KindFailsControlParameters, limitPath+"ValidFromDateTime", "the consent is valid from %s", c.ValidFrom.Format(time.RFC3339))
	case !c.ValidTo.IsZero() && !now.Before(c.ValidTo):
		return Errorf(KindFailsControlParameters, limitPath+"ValidToDateTime", "the consent was valid until %s", c.ValidTo.Format(time.RFC3339))
	case amount > c.MaxIndividual:
		return Errorf(KindFailsControlParameters, limitPath+"MaximumIndividualAmount.Amount",
			"%s is over the MaximumIndividualAmount of %s", FormatMinor(amount), FormatMinor(c.MaxIndividual))
	}
	for _, u := range c.Uses(created, made, now) {
		if u.Used+amount > u.Limit.Amount {
			return Errorf(KindFailsControlParameters, fmt.Sprintf("%sPeriodicLimits[%d].Amount", limitPath, u.Index),
				"%s would exceed the %s limit: %s; %s left", FormatMinor(amount), strings.ToLower(u.Limit.Type), u, FormatMinor(u.Left()))
		}
	}
	return nil
}

// Check applies the bank's rules to control parameters a TPP asks for at
// now: amounts positive in the consent's one currency (GBP, a domestic
// VRP), no calendar-aligned fortnight (the standard defines none), known
// types and methods, a validity that ends after it starts and in the
// future.
func (c *VRPControls) Check(now time.Time) error {
	const p = limitPath
	if c.Currency != SupportedPaymentCurrency {
		return Errorf(KindUnsupportedCurrency, p+"MaximumIndividualAmount.Currency", "domestic VRPs are in GBP, not %s", c.Currency)
	}
	if c.MaxIndividual <= 0 {
		return Errorf(KindFieldInvalid, p+"MaximumIndividualAmount.Amount", "the amount must be greater than zero")
	}
	for i, l := range c.Periodic {
		at := fmt.Sprintf("%sPeriodicLimits[%d]", p, i)
		switch {
		case l.Currency != c.Currency:
			return Errorf(KindUnsupportedCurrency, at+".Currency", "every limit is in the MaximumIndividualAmount's currency, %s", c.Currency)
		case l.Amount <= 0:
			return Errorf(KindFieldInvalid, at+".Amount", "the amount must be greater than zero")
		case periodDays[l.Type] == 0 && periodMonths[l.Type] == 0:
			return Errorf(KindFieldInvalid, at+".PeriodType", "PeriodType %q is not one of Day, Week, Fortnight, Month, Half-year, Year", l.Type)
		case l.Alignment != AlignConsent && l.Alignment != AlignCalendar:
			return Errorf(KindFieldInvalid, at+".PeriodAlignment", "PeriodAlignment %q is not Consent or Calendar", l.Alignment)
		case l.Type == PeriodFortnight && l.Alignment == AlignCalendar:
			return Errorf(KindFieldInvalid, at+".PeriodAlignment", "a Fortnight has no calendar alignment: use Consent")
		}
	}
	for i, t := range c.Types {
		if t != VRPTypeSweeping && t != VRPTypeOther {
			return Errorf(KindFieldInvalid, fmt.Sprintf("%sVRPType[%d]", p, i), "VRPType %q is not %s or %s", t, VRPTypeSweeping, VRPTypeOther)
		}
	}
	for i, m := range c.AuthMethods {
		if m != VRPAuthSCA && m != VRPAuthSCANotRequired {
			return Errorf(KindFieldInvalid, fmt.Sprintf("%sPSUAuthenticationMethods[%d]", p, i), "PSUAuthenticationMethods %q is not %s or %s", m, VRPAuthSCA, VRPAuthSCANotRequired)
		}
	}
	for i, m := range c.Interactions {
		if m != VRPInSession && m != VRPOffSession {
			return Errorf(KindFieldInvalid, fmt.Sprintf("%sPSUInteractionTypes[%d]", p, i), "PSUInteractionTypes %q is not InSession or OffSession", m)
		}
	}
	if !c.ValidTo.IsZero() {
		if !c.ValidTo.After(now) {
			return Errorf(KindFieldInvalidDate, p+"ValidToDateTime", "ValidToDateTime must be in the future")
		}
		if !c.ValidFrom.IsZero() && !c.ValidTo.After(c.ValidFrom) {
			return Errorf(KindFieldInvalidDate, p+"ValidToDateTime", "ValidToDateTime must be after ValidFromDateTime")
		}
	}
	return nil
}

// Describe says the limits in plain words for the PSU's consent page.
func (c *VRPControls) Describe() []string {
	out := []string{"Up to £" + FormatMinor(c.MaxIndividual) + " a payment"}
	names := map[string]string{PeriodDay: "day", PeriodWeek: "week", PeriodFortnight: "fortnight", PeriodMonth: "month",
		PeriodHalfYear: "half-year", PeriodYear: "year"}
	for _, l := range c.Periodic {
		what := names[l.Type]
		if l.Alignment == AlignCalendar {
			what = "calendar " + what
		} else {
			what += " from the start of this agreement"
		}
		out = append(out, fmt.Sprintf("At most £%s per %s", FormatMinor(l.Amount), what))
	}
	return out
}
