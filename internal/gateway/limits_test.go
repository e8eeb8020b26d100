package gateway

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeClock) now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeClock) add(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

// TestLimiterExactUnderConcurrency: 16 goroutines hammer one bucket with a
// frozen clock; exactly the burst gets through, and another client is
// unaffected. Moving the clock refills at the rate.
func TestLimiterExactUnderConcurrency(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := NewLimiter(map[Class]Rate{ClassData: {Per: 20, Burst: 100}}, clk.now)
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if l.Allow(ClassData, "a").Allowed {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 100 {
		t.Fatalf("%d of 800 allowed, want exactly the burst of 100", ok.Load())
	}
	v := l.Allow(ClassData, "a")
	if v.Allowed || v.RetryAfter <= 0 || v.RetryAfter > 50*time.Millisecond+time.Millisecond {
		t.Errorf("over the limit: %+v, want refused with RetryAfter 1/20 s", v)
	}
	if !l.Allow(ClassData, "b").Allowed {
		t.Error("another client is limited by the first's traffic")
	}
	if !l.Allow(ClassToken, "a").Allowed {
		t.Error("an unlimited class refused")
	}
	clk.add(time.Second)
	n := 0
	for l.Allow(ClassData, "a").Allowed {
		n++
	}
	if n != 20 {
		t.Errorf("one second later %d allowed, want 20", n)
	}
}

// TestLimiterSharedFallsBack: a shared bucket that answers decides; one that
// cannot be reached leaves this process's own bucket to decide, and the
// outage is told at the 1st, 2nd, 4th and 8th miss, not at every request,
// and the next outage from its own first miss.
func TestLimiterSharedFallsBack(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := NewLimiter(map[Class]Rate{ClassData: {Per: 1, Burst: 3}}, clk.now)
	var down atomic.Bool
	var told []int64
	l.Share(func(key string, per float64, burst int, now time.Time) (bool, float64, error) {
		if down.Load() {
			return false, 0, errors.New("connection refused")
		}
		return false, 0.5, nil // the shared budget is spent
	}, func(err error, n int64) { told = append(told, n) })
	if v := l.Allow(ClassData, "a"); v.Allowed || v.RetryAfter != 500*time.Millisecond {
		t.Fatalf("shared bucket empty: %+v, want refused, retry after 0.5 s", v)
	}
	down.Store(true)
	n := 0
	for range 10 {
		if l.Allow(ClassData, "a").Allowed {
			n++
		}
	}
	if n != 3 {
		t.Errorf("shared bucket unreachable: %d of 10 allowed, want this process's burst of 3", n)
	}
	if !slices.Equal(told, []int64{1, 2, 4, 8}) {
		t.Errorf("outage told at misses %v, want [1 2 4 8]", told)
	}
	// Reached again, then a second outage: told from its first miss.
	down.Store(false)
	l.Allow(ClassData, "a")
	down.Store(true)
	l.Allow(ClassData, "a")
	if !slices.Equal(told, []int64{1, 2, 4, 8, 1}) {
		t.Errorf("a second outage told at misses %v, want [1 2 4 8 1]", told)
	}
}

func TestUnattended(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Date(2026, 1, 1, 23, 0, 0, 0, time.UTC)}
	u := NewUnattended(4, clk.now)
	for i := range 4 {
		if !u.Allow("c1").Allowed {
			t.Fatalf("call %d refused", i+1)
		}
	}
	v := u.Allow("c1")
	if v.Allowed || v.RetryAfter != time.Hour {
		t.Errorf("fifth call: %+v, want refused until midnight", v)
	}
	if !u.Allow("c2").Allowed {
		t.Error("another consent refused")
	}
	clk.add(time.Hour)
	if !u.Allow("c1").Allowed {
		t.Error("refused the next day")
	}
	if off := NewUnattended(0, clk.now); !off.Allow("x").Allowed {
		t.Error("a zero limit refused")
	}
}

func TestParseRate(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"20": "20:100", "20:40": "20:40", "off": "off", "0.5:1": "0.5:1"} {
		r, err := ParseRate(in)
		if err != nil || r.String() != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %s", in, r, err, want)
		}
	}
	for _, bad := range []string{"", "fast", "-1", "20:0", "20:x", "NaN"} {
		if _, err := ParseRate(bad); err == nil {
			t.Errorf("ParseRate(%q) accepted", bad)
		}
	}
}
