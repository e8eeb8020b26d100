// Package clock is the sandbox clock: real time plus an offset that only moves
// forward (Advance) or back to zero (Reset). It governs the bank's own records
// (consent and token validity, code lifetime, settlement, schedules,
// idempotency windows, lockouts); timestamps inside JWTs use real time
// (SPEC §8 "Two clocks"). The wall clock is injected so tests never depend on
// the time of day.
package clock

import (
	"sync/atomic"
	"time"
)

// Clock is safe for concurrent use.
type Clock struct {
	wall   func() time.Time
	offset atomic.Int64 // nanoseconds
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

// SetOffset restores a persisted offset; negative values are taken as zero.
func (c *Clock) SetOffset(d time.Duration) { c.offset.Store(int64(max(d, 0))) }

// Advance moves the sandbox clock forward by d (> 0) and returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	if d > 0 {
		c.offset.Add(int64(d))
	}
	return c.Now()
}

// Reset puts the sandbox clock back to real time.
func (c *Clock) Reset() { c.offset.Store(0) }
