package bank

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Frequency is a standing order's schedule in the standard's codes
// (OBWriteDomesticStandingOrder3DataInitiation.Frequency): EvryDay,
// EvryWorkgDay, IntrvlDay:NN, IntrvlWkDay:0W:0D, WkInMnthDay:0W:0D,
// IntrvlMnthDay:MM:DD (DD -01..-05 counts from the month's end) and
// QtrDay:ENGLISH|SCOTTISH|RECEIVED.
type Frequency struct {
	code     string
	kind     string
	interval int
	day      int
	week     int
	quarter  [4][2]int
}

var quarterDays = map[string][4][2]int{
	"ENGLISH":  {{3, 25}, {6, 24}, {9, 29}, {12, 25}},
	"SCOTTISH": {{2, 2}, {5, 15}, {8, 1}, {11, 11}},
	"RECEIVED": {{3, 20}, {6, 19}, {9, 24}, {12, 20}},
}

// ParseFrequency reads a frequency code; an unknown one is
// UK.OBIE.Unsupported.Frequency.
func ParseFrequency(code, path string) (Frequency, error) {
	f := Frequency{code: code}
	parts := strings.Split(code, ":")
	num := func(i int) int {
		if i >= len(parts) {
			return 0
		}
		n, _ := strconv.Atoi(parts[i])
		return n
	}
	f.kind = parts[0]
	switch f.kind {
	case "EvryDay", "EvryWorkgDay":
		if len(parts) == 1 {
			return f, nil
		}
	case "IntrvlDay":
		if f.interval = num(1); len(parts) == 2 && f.interval >= 2 && f.interval <= 31 {
			return f, nil
		}
	case "IntrvlWkDay":
		if f.interval, f.day = num(1), num(2); len(parts) == 3 && f.interval >= 1 && f.interval <= 9 && f.day >= 1 && f.day <= 7 {
			return f, nil
		}
	case "WkInMnthDay":
		if f.week, f.day = num(1), num(2); len(parts) == 3 && f.week >= 1 && f.week <= 5 && f.day >= 1 && f.day <= 7 {
			return f, nil
		}
	case "IntrvlMnthDay":
		f.interval, f.day = num(1), num(2)
		okInterval := f.interval >= 1 && f.interval <= 6 || f.interval == 12 || f.interval == 24
		if len(parts) == 3 && okInterval && (f.day >= 1 && f.day <= 31 || f.day >= -5 && f.day <= -1) {
			return f, nil
		}
	case "QtrDay":
		if q, ok := quarterDays[strings.Join(parts[1:], ":")]; ok {
			f.quarter = q
			return f, nil
		}
	}
	return f, Errorf(KindUnsupportedFrequency, path, "frequency %q is not supported", code)
}

func (f Frequency) String() string { return f.code }

// weekday converts the standard's day number (01 Monday .. 07 Sunday).
func weekday(d int) time.Weekday { return time.Weekday(d % 7) }

// Next is the first occurrence strictly after t, keeping t's time of day,
// for a schedule anchored on first (the first payment).
func (f Frequency) Next(first, t time.Time) time.Time {
	day := func(y int, m time.Month, d int) time.Time {
		return time.Date(y, m, d, first.Hour(), first.Minute(), first.Second(), 0, time.UTC)
	}
	switch f.kind {
	case "EvryDay":
		return t.AddDate(0, 0, 1)
	case "EvryWorkgDay":
		n := t.AddDate(0, 0, 1)
		for n.Weekday() == time.Saturday || n.Weekday() == time.Sunday {
			n = n.AddDate(0, 0, 1)
		}
		return n
	case "IntrvlDay":
		return t.AddDate(0, 0, f.interval)
	case "IntrvlWkDay":
		n := t.AddDate(0, 0, 1)
		for n.Weekday() != weekday(f.day) {
			n = n.AddDate(0, 0, 1)
		}
		if !t.Before(first) && t.Weekday() == weekday(f.day) {
			return t.AddDate(0, 0, 7*f.interval)
		}
		return n
	case "WkInMnthDay":
		for m := 0; m < 14; m++ {
			base := time.Date(t.Year(), t.Month()+time.Month(m), 1, 0, 0, 0, 0, time.UTC)
			d := base
			for d.Weekday() != weekday(f.day) {
				d = d.AddDate(0, 0, 1)
			}
			d = d.AddDate(0, 0, 7*(f.week-1))
			if d.Month() != base.Month() {
				continue // no fifth such weekday this month
			}
			if c := day(d.Year(), d.Month(), d.Day()); c.After(t) {
				return c
			}
		}
	case "IntrvlMnthDay":
		start := time.Date(first.Year(), first.Month(), 1, 0, 0, 0, 0, time.UTC)
		for m := 0; m < 12*40; m += f.interval {
			base := start.AddDate(0, m, 0)
			last := base.AddDate(0, 1, -1).Day()
			d := f.day
			if d < 0 {
				d = last + d + 1
			}
			if c := day(base.Year(), base.Month(), min(d, last)); c.After(t) {
				return c
			}
		}
	case "QtrDay":
		for y := t.Year(); y <= t.Year()+1; y++ {
			for _, q := range f.quarter {
				if c := day(y, time.Month(q[0]), q[1]); c.After(t) {
					return c
				}
			}
		}
	}
	return time.Time{}
}

// Describe says the schedule in plain words for the PSU's consent page.
func (f Frequency) Describe() string {
	days := []string{"", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}
	switch f.kind {
	case "EvryDay":
		return "every day"
	case "EvryWorkgDay":
		return "every working day"
	case "IntrvlDay":
		return fmt.Sprintf("every %d days", f.interval)
	case "IntrvlWkDay":
		if f.interval == 1 {
			return "every " + days[f.day]
		}
		return fmt.Sprintf("every %d weeks on %s", f.interval, days[f.day])
	case "WkInMnthDay":
		return fmt.Sprintf("on the %s %s of each month", []string{"", "first", "second", "third", "fourth", "fifth"}[f.week], days[f.day])
	case "IntrvlMnthDay":
		when := fmt.Sprintf("on day %d", f.day)
		if f.day < 0 {
			when = fmt.Sprintf("%d day(s) before the month's end", -f.day-1)
			if f.day == -1 {
				when = "on the last day"
			}
		}
		if f.interval == 1 {
			return "monthly " + when
		}
		return fmt.Sprintf("every %d months %s", f.interval, when)
	case "QtrDay":
		return "on the quarter days"
	}
	return f.code
}
