// Package clock is the sandbox clock: real time plus an offset that only moves
// forward (Advance) or back to zero (Reset). It governs the bank's own records
// (consent and token validity, code lifetime, settlement, schedules,
// idempotency windows, lockouts); timestamps inside JWTs use real time
// (SPEC §8 "Two clocks"). The wall clock is injected so tests never depend on
// the time of day.
package clock

import (
	"fmt"
	"sync/atomic"
	"time"
)

// MaxOffset is the furthest the sandbox clock may run ahead of real time:
// 100 years (36,500 days). It is far beyond any consent, schedule or token
// lifetime a test needs, and far from the roughly 292 years at which the
// offset (int64 nanoseconds, time.Duration) would wrap and send the clock
// back before 1970.
const MaxOffset = 36500 * 24 * time.Hour

// Clock is safe for concurrent use.
type Clock struct {
	wall   func() time.Time
	offset atomic.Int64 // nanoseconds, 0..MaxOffset
}

// New returns a sandbox clock over wall (time.Now when nil).
func New(wall func() time.Time) *Clock {
	if wall == nil {
		wall = time.Now
	}
	return &Clock{wall: wall}
}

// Now is the sandbox time, in UTC.
func (c *Clock) Now() time.Time { return c.wall().Add(c.Offset()).UTC() }

// Wall is the real time, in UTC: the time JWTs carry.
func (c *Clock) Wall() time.Time { return c.wall().UTC() }

// Offset is how far the sandbox clock is ahead of real time.
func (c *Clock) Offset() time.Duration { return time.Duration(c.offset.Load()) }

// SetOffset restores a persisted offset, kept within 0..MaxOffset.
func (c *Clock) SetOffset(d time.Duration) { c.offset.Store(int64(min(max(d, 0), MaxOffset))) }

// Advance moves the sandbox clock forward by d and returns the new time. An
// advance that is not positive, or that would take the clock more than
// MaxOffset ahead of real time, changes nothing and is an error.
func (c *Clock) Advance(d time.Duration) (time.Time, error) {
	if d <= 0 {
		return time.Time{}, fmt.Errorf("the clock moves forward only: advance %s", d)
	}
	for {
		off := c.offset.Load()
		if d > MaxOffset-time.Duration(off) {
			return time.Time{}, fmt.Errorf("the sandbox clock runs at most 100 years (%dd) ahead of real time: it is %s ahead, so it can advance at most %s more",
				MaxOffset/(24*time.Hour), time.Duration(off), MaxOffset-time.Duration(off))
		}
		if c.offset.CompareAndSwap(off, off+int64(d)) {
			return c.Now(), nil
		}
	}
}

// Reset puts the sandbox clock back to real time.
func (c *Clock) Reset() { c.offset.Store(0) }
