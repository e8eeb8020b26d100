package bank

import (
	"testing"
	"time"
)

// london reads a wall-clock time in the bank's zone ("2026-03-29 00:30").
func london(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02 15:04", s, BankZone)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestPeriodicLimitWindow: the period a moment falls in, for every period
// type and alignment, at the boundaries that go wrong: month ends, leap
// years, British Summer Time starting and ending, a consent made on the
// 31st or on 29 February, fortnights from the consent's date.
func TestPeriodicLimitWindow(t *testing.T) {
	t.Parallel()
	const none = "2000-01-01 00:00" // anchor of calendar periods: unused
	for _, tc := range []struct {
		name               string
		period, align      string
		anchor, at         string
		wantStart, wantEnd string
	}{
		{"DayCalendarBSTStarts", PeriodDay, AlignCalendar, none, "2026-03-29 00:30", "2026-03-29 00:00", "2026-03-30 00:00"},
		{"DayCalendarLastMinute", PeriodDay, AlignCalendar, none, "2026-11-16 23:59", "2026-11-16 00:00", "2026-11-17 00:00"},
		{"DayConsentIsTheCalendarDay", PeriodDay, AlignConsent, "2026-11-10 15:00", "2026-11-16 09:00", "2026-11-16 00:00", "2026-11-17 00:00"},
		{"WeekCalendarSundayNight", PeriodWeek, AlignCalendar, none, "2026-11-22 23:59", "2026-11-16 00:00", "2026-11-23 00:00"},
		{"WeekCalendarMonday", PeriodWeek, AlignCalendar, none, "2026-11-23 00:00", "2026-11-23 00:00", "2026-11-30 00:00"},
		{"WeekConsentFromWednesday", PeriodWeek, AlignConsent, "2026-11-18 16:20", "2026-11-25 00:00", "2026-11-25 00:00", "2026-12-02 00:00"},
		{"WeekConsentDayBefore", PeriodWeek, AlignConsent, "2026-11-18 16:20", "2026-11-24 23:59", "2026-11-18 00:00", "2026-11-25 00:00"},
		{"FortnightConsentLastMinute", PeriodFortnight, AlignConsent, "2026-11-16 14:00", "2026-11-29 23:59", "2026-11-16 00:00", "2026-11-30 00:00"},
		{"FortnightConsentNext", PeriodFortnight, AlignConsent, "2026-11-16 14:00", "2026-11-30 00:00", "2026-11-30 00:00", "2026-12-14 00:00"},
		{"FortnightConsentAcrossBSTEnd", PeriodFortnight, AlignConsent, "2026-10-19 09:00", "2026-11-01 23:00", "2026-10-19 00:00", "2026-11-02 00:00"},
		{"MonthCalendarLastSecond", PeriodMonth, AlignCalendar, none, "2026-01-31 23:59", "2026-01-01 00:00", "2026-02-01 00:00"},
		{"MonthCalendarFirst", PeriodMonth, AlignCalendar, none, "2026-02-01 00:00", "2026-02-01 00:00", "2026-03-01 00:00"},
		{"MonthCalendarLeapFebruary", PeriodMonth, AlignCalendar, none, "2028-02-29 12:00", "2028-02-01 00:00", "2028-03-01 00:00"},
		{"MonthConsentFrom31stInFebruary", PeriodMonth, AlignConsent, "2026-01-31 10:00", "2026-02-27 12:00", "2026-01-31 00:00", "2026-02-28 00:00"},
		{"MonthConsentFrom31stOn28th", PeriodMonth, AlignConsent, "2026-01-31 10:00", "2026-02-28 00:00", "2026-02-28 00:00", "2026-03-31 00:00"},
		{"MonthConsentFrom31stIn30DayMonth", PeriodMonth, AlignConsent, "2026-01-31 10:00", "2026-04-30 08:00", "2026-04-30 00:00", "2026-05-31 00:00"},
		{"MonthConsentFrom31stLeapYear", PeriodMonth, AlignConsent, "2028-01-31 10:00", "2028-02-29 00:00", "2028-02-29 00:00", "2028-03-31 00:00"},
		{"MonthConsentBeforeTheDay", PeriodMonth, AlignConsent, "2026-11-16 12:00", "2026-12-15 23:59", "2026-11-16 00:00", "2026-12-16 00:00"},
		{"HalfYearCalendarFirstHalf", PeriodHalfYear, AlignCalendar, none, "2026-06-30 23:59", "2026-01-01 00:00", "2026-07-01 00:00"},
		{"HalfYearCalendarSecondHalf", PeriodHalfYear, AlignCalendar, none, "2026-07-01 00:00", "2026-07-01 00:00", "2027-01-01 00:00"},
		{"HalfYearConsentFrom31stAugust", PeriodHalfYear, AlignConsent, "2026-08-31 09:00", "2027-02-28 09:00", "2027-02-28 00:00", "2027-08-31 00:00"},
		{"YearCalendarNewYearsEve", PeriodYear, AlignCalendar, none, "2028-12-31 23:59", "2028-01-01 00:00", "2029-01-01 00:00"},
		{"YearConsentFrom29FebNonLeap", PeriodYear, AlignConsent, "2024-02-29 10:00", "2025-02-28 00:00", "2025-02-28 00:00", "2026-02-28 00:00"},
		{"YearConsentFrom29FebDayBefore", PeriodYear, AlignConsent, "2024-02-29 10:00", "2025-02-27 23:59", "2024-02-29 00:00", "2025-02-28 00:00"},
		{"YearConsentFrom29FebNextLeap", PeriodYear, AlignConsent, "2024-02-29 10:00", "2028-02-29 00:00", "2028-02-29 00:00", "2029-02-28 00:00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := PeriodicLimit{Type: tc.period, Alignment: tc.align}
			start, end := l.Window(london(t, tc.anchor), london(t, tc.at))
			if want := london(t, tc.wantStart); !start.Equal(want) {
				t.Errorf("start %v, want %v", start, want)
			}
			if want := london(t, tc.wantEnd); !end.Equal(want) {
				t.Errorf("end %v, want %v", end, want)
			}
		})
	}
}

// TestPeriodInLondonNotUTC: at 23:30 UTC on 30 June (00:30 on 1 July in
// London, British Summer Time) a calendar month is July's.
func TestPeriodInLondonNotUTC(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, time.June, 30, 23, 30, 0, 0, time.UTC)
	start, _ := PeriodicLimit{Type: PeriodMonth, Alignment: AlignCalendar}.Window(time.Time{}, at)
	if start.Month() != time.July {
		t.Errorf("period starts %v, want 1 July (London time)", start)
	}
}

func gbp(t *testing.T, s string) int64 {
	t.Helper()
	v, err := ParseMinor(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestVRPControlsAllow: each payment is counted against the maximum per
// payment and every periodic limit for the period the sandbox clock is
// in; exactly at a limit passes, one penny over fails naming the limit;
// rejected payments do not count, pending and settled ones do.
func TestVRPControlsAllow(t *testing.T) {
	t.Parallel()
	created := london(t, "2026-11-10 15:00")
	ctl := &VRPControls{MaxIndividual: gbp(t, "100.00"), Currency: "GBP", ValidTo: london(t, "2027-11-10 00:00"),
		Periodic: []PeriodicLimit{
			{Type: PeriodDay, Alignment: AlignConsent, Amount: gbp(t, "150.00"), Currency: "GBP"},
			{Type: PeriodMonth, Alignment: AlignCalendar, Amount: gbp(t, "300.00"), Currency: "GBP"},
		}}
	pay := func(at, amount, status string) Payment {
		return Payment{CreatedAt: london(t, at), Amount: gbp(t, amount), Status: status}
	}
	made := []Payment{
		pay("2026-10-31 23:59", "100.00", PaymentCompleted), // last month: not this month's
		pay("2026-11-14 10:00", "100.00", PaymentCompleted),
		pay("2026-11-15 10:00", "50.00", PaymentInProcess),
		pay("2026-11-16 09:00", "100.00", PaymentRejected), // rejected: never counts
		pay("2026-11-16 09:30", "90.00", PaymentPending),
	}
	for _, tc := range []struct {
		name, at, amount string
		path             string // "" when allowed
	}{
		{"OKExactlyAtTheDayAndMonthLimits", "2026-11-16 10:00", "60.00", ""},
		{"ErrOnePennyOverTheDayLimit", "2026-11-16 10:00", "60.01", "Data.ControlParameters.PeriodicLimits[0].Amount"},
		{"OKNextDay", "2026-11-17 00:00", "60.00", ""},
		{"ErrOnePennyOverTheMonthLimitNextDay", "2026-11-17 00:00", "60.01", "Data.ControlParameters.PeriodicLimits[1].Amount"},
		{"OKNextMonth", "2026-12-01 00:00", "100.00", ""},
		{"ErrMaximumIndividualAmount", "2026-12-01 00:00", "100.01", "Data.ControlParameters.MaximumIndividualAmount.Amount"},
		{"ErrAfterValidTo", "2027-11-10 00:00", "1.00", "Data.ControlParameters.ValidToDateTime"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ctl.Allow(created, made, gbp(t, tc.amount), london(t, tc.at))
			if tc.path == "" {
				if err != nil {
					t.Fatalf("got %v, want allowed", err)
				}
				return
			}
			be, ok := err.(*Error)
			if !ok || be.Kind != KindFailsControlParameters || be.Path != tc.path {
				t.Fatalf("got %v, want FailsControlParameters at %s", err, tc.path)
			}
		})
	}
	early := &VRPControls{MaxIndividual: 100, Currency: "GBP", ValidFrom: london(t, "2026-12-01 00:00")}
	if err := early.Allow(created, nil, 1, london(t, "2026-11-30 23:59")); KindOf(err) != KindFailsControlParameters {
		t.Errorf("before ValidFromDateTime: got %v", err)
	}
	if err := early.Allow(created, nil, 1, london(t, "2026-12-01 00:00")); err != nil {
		t.Errorf("at ValidFromDateTime: got %v", err)
	}
}

// TestVRPUses: the arithmetic as the TPP tool prints it.
func TestVRPUses(t *testing.T) {
	t.Parallel()
	ctl := &VRPControls{MaxIndividual: 10000, Currency: "GBP", ValidFrom: london(t, "2026-11-16 12:00"),
		Periodic: []PeriodicLimit{{Type: PeriodFortnight, Alignment: AlignConsent, Amount: 30000, Currency: "GBP"}}}
	made := []Payment{{CreatedAt: london(t, "2026-11-29 23:59"), Amount: 12345, Status: PaymentPending}}
	u := ctl.Uses(time.Time{}, made, london(t, "2026-11-29 23:59"))
	if got, want := u[0].String(), "Fortnight (Consent) 2026-11-16..2026-11-30: 123.45 of 300.00 used"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if u[0].Left() != 30000-12345 {
		t.Errorf("left %d", u[0].Left())
	}
	if u = ctl.Uses(time.Time{}, made, london(t, "2026-11-30 00:00")); u[0].Used != 0 {
		t.Errorf("next fortnight used %d, want 0", u[0].Used)
	}
}

func TestVRPControlsCheck(t *testing.T) {
	t.Parallel()
	now := london(t, "2026-11-16 12:00")
	ok := func() VRPControls {
		return VRPControls{MaxIndividual: 100, Currency: "GBP", Types: []string{VRPTypeSweeping}, AuthMethods: []string{VRPAuthSCANotRequired},
			Periodic: []PeriodicLimit{{Type: PeriodMonth, Alignment: AlignCalendar, Amount: 1000, Currency: "GBP"}}}
	}
	for _, tc := range []struct {
		name   string
		change func(*VRPControls)
		kind   Kind
		path   string
	}{
		{"OK", func(*VRPControls) {}, KindInternal, ""},
		{"ErrEuro", func(c *VRPControls) { c.Currency = "EUR" }, KindUnsupportedCurrency, "Data.ControlParameters.MaximumIndividualAmount.Currency"},
		{"ErrLimitCurrency", func(c *VRPControls) { c.Periodic[0].Currency = "USD" }, KindUnsupportedCurrency, "Data.ControlParameters.PeriodicLimits[0].Currency"},
		{"ErrZeroLimit", func(c *VRPControls) { c.Periodic[0].Amount = 0 }, KindFieldInvalid, "Data.ControlParameters.PeriodicLimits[0].Amount"},
		{"ErrCalendarFortnight", func(c *VRPControls) { c.Periodic[0].Type = PeriodFortnight }, KindFieldInvalid, "Data.ControlParameters.PeriodicLimits[0].PeriodAlignment"},
		{"ErrUnknownType", func(c *VRPControls) { c.Types = append(c.Types, "UK.OBIE.VRPType.Gambling") }, KindFieldInvalid, "Data.ControlParameters.VRPType[1]"},
		{"ErrUnknownMethod", func(c *VRPControls) { c.AuthMethods = []string{"UK.OBIE.Fingerprint"} }, KindFieldInvalid, "Data.ControlParameters.PSUAuthenticationMethods[0]"},
		{"ErrValidToPast", func(c *VRPControls) { c.ValidTo = now }, KindFieldInvalidDate, "Data.ControlParameters.ValidToDateTime"},
		{"ErrValidToBeforeFrom", func(c *VRPControls) { c.ValidFrom, c.ValidTo = now.AddDate(0, 1, 0), now.AddDate(0, 0, 1) }, KindFieldInvalidDate, "Data.ControlParameters.ValidToDateTime"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok()
			tc.change(&c)
			err := c.Check(now)
			if tc.path == "" {
				if err != nil {
					t.Fatalf("got %v", err)
				}
				return
			}
			be, isErr := err.(*Error)
			if !isErr || be.Kind != tc.kind || be.Path != tc.path {
				t.Fatalf("got %v, want %v at %s", err, tc.kind, tc.path)
			}
		})
	}
}

// TestVRPConsentAcrossVersionsAndTime: a VRP consent is long-lived — made
// through v3.1 it is used through v4.0 (not the other way round), unlike a
// payment consent — and its token stays usable past ValidToDateTime so the
// payment is refused with the reason, until the PSU or the TPP revokes it.
func TestVRPConsentAcrossVersionsAndTime(t *testing.T) {
	t.Parallel()
	now := london(t, "2026-11-16 12:00")
	vrp := Consent{ID: "vrc-1", Kind: ConsentDomesticVRP, Status: StatusAuthorised, Version: VersionUK31, ExpiresAt: now}
	if err := vrp.UsableThrough(VersionUK40); err != nil {
		t.Errorf("a v3.1 VRP consent through v4.0: %v", err)
	}
	vrp.Version = VersionUK40
	if KindOf(vrp.UsableThrough(VersionUK31)) != KindForbidden {
		t.Error("a v4.0 VRP consent is used through v3.1")
	}
	pay := Consent{ID: "pdc-1", Kind: ConsentDomesticPayment, Version: VersionUK31}
	if KindOf(pay.UsableThrough(VersionUK40)) != KindForbidden {
		t.Error("a v3.1 payment consent is used through v4.0")
	}
	if !vrp.Usable(now.Add(time.Hour)) {
		t.Error("a VRP consent's token stopped at ValidToDateTime instead of the payment being refused")
	}
	vrp.PSURevoked = true
	if vrp.Usable(now) || !vrp.Initiates() || vrp.IsPayment() {
		t.Error("a revoked VRP consent is usable, or not a consent that initiates payments")
	}
}
