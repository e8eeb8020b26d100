package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/clock"
)

// TestClockLimit: the sandbox clock never wraps or goes back. An advance
// that would take it more than clock.MaxOffset ahead of real time is
// refused (400, saying why); the offset only grows; and the bank, its
// background work and the anomaly rules keep going at the far end.
func TestClockLimit(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	admin := s.app.Config.AdminToken
	advance := func(d string) *response {
		return s.do(req{method: "POST", path: "/sandbox/clock", token: admin, body: map[string]string{"advance": d}})
	}
	// Each of these once wrapped the offset (int64 nanoseconds) or moved time back.
	for _, d := range []string{"2562047h", "106751d", "106752d", "213504d", "9223372036d", "36501d"} {
		r := advance(d)
		expect(t, r, 400)
		if !strings.Contains(string(r.Body), "100 years") {
			t.Errorf("advance %s: %s, want the limit named", d, r.Body)
		}
	}
	last := s.app.Clock.Offset()
	for _, tc := range []struct {
		advance string
		status  int
	}{{"36000d", 200}, {"400d", 200}, {"101d", 400}, {"2562047h", 400}, {"1h", 200}, {"100d", 400}, {"99d", 200}} {
		expect(t, advance(tc.advance), tc.status)
		off := s.app.Clock.Offset()
		if off < last || off > clock.MaxOffset {
			t.Fatalf("after advance %s the offset is %s (was %s, limit %s)", tc.advance, off, last, clock.MaxOffset)
		}
		last = off
	}
	// The far future works: requests are audited and watched by the
	// anomaly rules (ten refused tokens make an event), payments move.
	for range 12 {
		expect(t, s.get(ais+"/accounts", "not-a-token"), 401)
	}
	var evs struct{ Events []struct{ Rule string } }
	s.admin("GET", "/sandbox/security-events", nil).JSON(t, &evs)
	if len(evs.Events) == 0 {
		t.Errorf("no security event at the far end of the clock")
	}
	var clk struct{ Now string }
	s.admin("GET", "/sandbox/clock", nil).JSON(t, &clk)
	if now, err := time.Parse(time.RFC3339, clk.Now); err != nil || now.Year() < 2120 {
		t.Errorf("clock now %q (%v)", clk.Now, err)
	}
	expect(t, s.get("/healthz", ""), 200)
}
