package gateway

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkLimiterAllow is one request through a client's bucket (the
// default 20/s with a burst of 100, refusing most: the cost is the same).
func BenchmarkLimiterAllow(b *testing.B) {
	l := NewLimiter(map[Class]Rate{ClassData: DefaultRate}, time.Now)
	b.ReportAllocs()
	for b.Loop() {
		l.Allow(ClassData, "client-1")
	}
}

// BenchmarkLimiterAllowParallel is every core at once over 64 clients: the
// limiter's one mutex under contention.
func BenchmarkLimiterAllowParallel(b *testing.B) {
	l := NewLimiter(map[Class]Rate{ClassData: {Per: 1e9, Burst: 1 << 30}}, time.Now)
	keys := make([]string, 64)
	for i := range keys {
		keys[i] = "client-" + strconv.Itoa(i)
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Allow(ClassData, keys[next.Add(1)%int64(len(keys))])
		}
	})
}
