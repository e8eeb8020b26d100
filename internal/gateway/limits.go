package gateway

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Class is an endpoint class with its own buckets.
type Class string

// The endpoint classes (SPEC §8 "Rate limits").
const (
	ClassToken    Class = "token"
	ClassConsents Class = "consents"
	ClassData     Class = "data"
	ClassPayments Class = "payments"
	ClassFunds    Class = "funds"
	// Per-IP classes for endpoints without an authenticated client.
	ClassRegister Class = "register"
	ClassPAR      Class = "par"
	ClassLogin    Class = "login"
)

// Classes lists every class, in the order the flags document them.
var Classes = []Class{ClassToken, ClassConsents, ClassData, ClassPayments, ClassFunds, ClassRegister, ClassPAR, ClassLogin}

// Rate is a sustained rate with a burst; zero Per means unlimited.
type Rate struct {
	Per   float64 // requests per second
	Burst int
}

// Off is no limit.
var Off = Rate{}

// DefaultRate is 20 requests/s sustained with a burst of 100.
var DefaultRate = Rate{Per: 20, Burst: 100}

// ParseRate reads "20" (burst 5x), "20:100" or "off".
func ParseRate(v string) (Rate, error) {
	if v == "off" || v == "0" {
		return Off, nil
	}
	per, burst, hasBurst := strings.Cut(v, ":")
	p, err := strconv.ParseFloat(per, 64)
	if err != nil || p <= 0 || math.IsInf(p, 0) || math.IsNaN(p) {
		return Off, fmt.Errorf("rate %q: want requests per second, optionally :burst, or off", v)
	}
	r := Rate{Per: p, Burst: int(math.Ceil(5 * p))}
	if hasBurst {
		if r.Burst, err = strconv.Atoi(burst); err != nil || r.Burst < 1 {
			return Off, fmt.Errorf("rate %q: burst must be a whole number from 1", v)
		}
	}
	return r, nil
}

func (r Rate) String() string {
	if r.Per == 0 {
		return "off"
	}
	return fmt.Sprintf("%g:%d", r.Per, r.Burst)
}

// Verdict is the answer for one request.
type Verdict struct {
	Allowed    bool
	Limit      int           // the bucket's size
	Remaining  int           // requests left right now
	Reset      time.Duration // until the bucket is full again
	RetryAfter time.Duration // when refused: until one request fits
}

// Limiter keeps a token bucket per class and key (client id or IP).
type Limiter struct {
	now     func() time.Time
	mu      sync.Mutex
	rates   map[Class]Rate
	buckets map[string]*rate.Limiter
	shared  TakeFunc
	missed  func(err error, n int64) // told of the 1st, 2nd, 4th, 8th… shared take that failed
	misses  atomic.Int64
}

// TakeFunc takes one request from a token bucket kept outside this process
// (the database replicas share): allowed, and the tokens left.
type TakeFunc func(key string, per float64, burst int, now time.Time) (bool, float64, error)

// Share makes the limiter spend buckets take keeps, so that processes
// serving one sandbox together spend one budget. A bucket take cannot
// reach (an error) is spent in this process's memory meanwhile, and missed
// is told of it (of the 1st, 2nd, 4th… such error, so an outage is seen
// without a line per request).
func (l *Limiter) Share(take TakeFunc, missed func(err error, n int64)) {
	l.shared, l.missed = take, missed
}

// NewLimiter makes a limiter with a rate per class; now is the sandbox clock.
func NewLimiter(rates map[Class]Rate, now func() time.Time) *Limiter {
	return &Limiter{now: now, rates: rates, buckets: map[string]*rate.Limiter{}}
}

// Allow takes one request from the bucket of (class, key). The token bucket
// itself is x/time/rate's; it is safe for concurrent use and exact.
func (l *Limiter) Allow(c Class, key string) Verdict {
	r := l.rates[c]
	if r.Per == 0 {
		return Verdict{Allowed: true}
	}
	if l.shared != nil {
		now := l.now()
		if ok, tokens, err := l.shared(string(c)+"\x00"+key, r.Per, r.Burst, now); err == nil {
			v := Verdict{Limit: r.Burst, Allowed: ok, Remaining: max(0, int(tokens))}
			if !ok {
				v.RetryAfter = time.Duration((1 - tokens) / r.Per * float64(time.Second))
			}
			v.Reset = time.Duration((float64(r.Burst) - tokens) / r.Per * float64(time.Second))
			if l.misses.Load() != 0 { // reached again: the next outage is told from its first miss
				l.misses.Store(0)
			}
			return v
		} else if n := l.misses.Add(1); n&(n-1) == 0 && l.missed != nil {
			l.missed(err, n)
		}
	}
	l.mu.Lock()
	b, ok := l.buckets[string(c)+"\x00"+key]
	if !ok {
		b = rate.NewLimiter(rate.Limit(r.Per), r.Burst)
		l.buckets[string(c)+"\x00"+key] = b
	}
	l.mu.Unlock()
	now := l.now()
	v := Verdict{Limit: r.Burst, Allowed: b.AllowN(now, 1)}
	tokens := b.TokensAt(now)
	if !v.Allowed {
		// AllowN took nothing: one request fits once a whole token is back.
		v.RetryAfter = time.Duration((1 - tokens) / r.Per * float64(time.Second))
	}
	v.Remaining = max(0, int(tokens))
	v.Reset = time.Duration((float64(r.Burst) - tokens) / r.Per * float64(time.Second))
	return v
}

// Reset empties every bucket (POST /sandbox/reset).
func (l *Limiter) Reset() {
	l.mu.Lock()
	l.buckets = map[string]*rate.Limiter{}
	l.mu.Unlock()
}

// Unattended counts AIS calls made without the PSU present (no
// x-fapi-customer-ip-address) per consent per sandbox-clock day, and refuses
// those over the limit (UK OB: 4 a day).
type Unattended struct {
	now   func() time.Time
	limit int
	mu    sync.Mutex
	day   string
	used  map[string]int
}

// NewUnattended makes the counter; limit 0 is off.
func NewUnattended(limit int, now func() time.Time) *Unattended {
	return &Unattended{now: now, limit: limit, used: map[string]int{}}
}

// Allow counts one unattended call for the consent.
func (u *Unattended) Allow(consent string) Verdict {
	if u.limit <= 0 {
		return Verdict{Allowed: true}
	}
	now := u.now()
	day := now.Format("2006-01-02")
	u.mu.Lock()
	defer u.mu.Unlock()
	if day != u.day {
		u.day, u.used = day, map[string]int{}
	}
	tomorrow := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC).Sub(now)
	v := Verdict{Limit: u.limit, Reset: tomorrow}
	if u.used[consent] >= u.limit {
		v.RetryAfter = tomorrow
		return v
	}
	u.used[consent]++
	v.Allowed, v.Remaining = true, u.limit-u.used[consent]
	return v
}

// Reset forgets every count.
func (u *Unattended) Reset() {
	u.mu.Lock()
	u.used = map[string]int{}
	u.mu.Unlock()
}
