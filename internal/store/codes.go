package store

import (
	"time"

	"github.com/obsandbox/sandbox/internal/bank"
)

// The transactions table keeps statuses and card authorisation types as small
// integers; these tables are the only place that knows the mapping.
var (
	statusNames   = [...]string{bank.StatusBooked, bank.StatusPending, bank.StatusRejected}
	cardAuthNames = [...]string{"", "Contactless", "PIN", "ConsumerDevice", "None"}
)

func statusCode(s string) int {
	for i, n := range statusNames {
		if n == s {
			return i
		}
	}
	return 0
}

func cardAuthCode(c *bank.Card) int {
	if c == nil {
		return 0
	}
	for i, n := range cardAuthNames[1:] {
		if n == c.AuthType {
			return i + 1
		}
	}
	return 4
}

// unix stores a time as unix seconds; the zero time as 0.
func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// fromUnix reads unix seconds; 0 as the zero time.
func fromUnix(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}
