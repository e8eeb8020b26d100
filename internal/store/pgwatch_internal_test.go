package store

import (
	"slices"
	"testing"
)

// The sandbox clock's offset is told before any other setting, the rest
// by name: a reset's settings, and the bank it brought, are used on the
// clock it set back.
func TestClockOffsetToldFirst(t *testing.T) {
	t.Parallel()
	got := toldInOrder(map[string]bool{"scenarios": true, SettingReset: true, "clock_offset": true, "a": true, SettingCardShift: true})
	want := []string{"clock_offset", "a", SettingCardShift, SettingReset, "scenarios"}
	if !slices.Equal(got, want) {
		t.Fatalf("told in the order %v, want %v", got, want)
	}
}
