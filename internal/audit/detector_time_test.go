package audit

import (
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/store"
)

// TestDetectorAnyTime: the rules take entries stamped at any time without
// failing — before 1970 (where a wrapped sandbox clock once sent them, and a
// negative bucket index crashed the process) — and still count a century
// ahead, the furthest the sandbox clock goes.
func TestDetectorAnyTime(t *testing.T) {
	t.Parallel()
	observe := func(t0 time.Time) (raised int) {
		d := NewDetector(Rules{TrafficSpike: 50, Window: time.Minute})
		for i := range 50 {
			raised += len(d.Observe(store.AuditEntry{Seq: int64(i + 1), At: t0.Add(time.Duration(i) * 100 * time.Millisecond), ClientID: "c1", Status: 200}))
		}
		return raised
	}
	observe(time.Unix(-3600, 0).UTC())
	if raised := observe(time.Date(2126, 11, 1, 0, 0, 0, 0, time.UTC)); raised != 1 {
		t.Errorf("%d events for 50 requests in 5 s in 2126, want the traffic spike once", raised)
	}
}
