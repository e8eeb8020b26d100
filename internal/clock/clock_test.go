package clock

import (
	"sync"
	"testing"
	"time"
)

// TestAdvanceNeverPassesTheLimit: advances that together would pass
// MaxOffset (or wrap the int64 offset) are refused, however many race; the
// offset only grows.
func TestAdvanceNeverPassesTheLimit(t *testing.T) {
	t.Parallel()
	wall := time.Date(2026, 11, 16, 12, 0, 0, 0, time.UTC)
	c := New(func() time.Time { return wall })
	step := MaxOffset / 10
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 16 {
		wg.Go(func() {
			if _, err := c.Advance(step); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if ok != 10 || c.Offset() != MaxOffset {
		t.Errorf("%d advances taken, offset %s; want 10 and %s", ok, c.Offset(), MaxOffset)
	}
	for _, d := range []time.Duration{time.Nanosecond, 1<<63 - 1, 0, -time.Hour} {
		if _, err := c.Advance(d); err == nil {
			t.Errorf("advance %s at the limit was taken", d)
		}
	}
	if c.Offset() != MaxOffset || !c.Now().After(wall) {
		t.Errorf("offset %s, now %s", c.Offset(), c.Now())
	}
	c.SetOffset(1<<63 - 1)
	if c.Offset() != MaxOffset {
		t.Errorf("SetOffset kept %s", c.Offset())
	}
	c.Reset()
	if !c.Now().Equal(wall) {
		t.Errorf("after Reset now %s, want %s", c.Now(), wall)
	}
}
