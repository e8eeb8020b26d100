package bank

import (
	"testing"
	"time"
)

func TestFrequencyNext(t *testing.T) {
	t.Parallel()
	d := func(s string) time.Time { t, _ := time.Parse("2006-01-02T15:04", s); return t }
	first := d("2026-01-05T09:00") // a Monday
	tests := []struct {
		code, after, want string
	}{
		{"EvryDay", "2026-01-05T09:00", "2026-01-06T09:00"},
		{"EvryWorkgDay", "2026-01-09T09:00", "2026-01-12T09:00"},
		{"IntrvlDay:10", "2026-01-05T09:00", "2026-01-15T09:00"},
		{"IntrvlWkDay:01:01", "2026-01-05T09:00", "2026-01-12T09:00"},
		{"IntrvlWkDay:02:03", "2026-01-05T09:00", "2026-01-07T09:00"},
		{"WkInMnthDay:02:05", "2026-01-05T09:00", "2026-01-09T09:00"},
		{"IntrvlMnthDay:01:15", "2026-01-05T09:00", "2026-01-15T09:00"},
		{"IntrvlMnthDay:01:31", "2026-01-31T09:00", "2026-02-28T09:00"},
		{"IntrvlMnthDay:01:-01", "2026-01-31T09:00", "2026-02-28T09:00"},
		{"IntrvlMnthDay:03:05", "2026-01-05T09:00", "2026-04-05T09:00"},
		{"QtrDay:ENGLISH", "2026-01-05T09:00", "2026-03-25T09:00"},
		{"QtrDay:RECEIVED", "2026-11-05T09:00", "2026-12-20T09:00"},
	}
	for _, tt := range tests {
		f, err := ParseFrequency(tt.code, "Frequency")
		if err != nil {
			t.Fatalf("%s: %v", tt.code, err)
		}
		if got := f.Next(first, d(tt.after)); !got.Equal(d(tt.want)) {
			t.Errorf("%s after %s: got %s, want %s", tt.code, tt.after, got.Format("2006-01-02T15:04 Mon"), tt.want)
		}
	}
	for _, bad := range []string{"Monthly", "IntrvlDay:1", "IntrvlMnthDay:07:01", "QtrDay:WELSH", "NotKnown"} {
		if _, err := ParseFrequency(bad, "Frequency"); KindOf(err) != KindUnsupportedFrequency {
			t.Errorf("%q: %v, want Unsupported.Frequency", bad, err)
		}
	}
}
