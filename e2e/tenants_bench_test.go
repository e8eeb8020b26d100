package e2e

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"math"
	"net/http"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/app"
	"github.com/obsandbox/sandbox/internal/bench"
	"github.com/obsandbox/sandbox/internal/gateway"
	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/store"
	"github.com/obsandbox/sandbox/internal/store/storetest"
	"github.com/obsandbox/sandbox/internal/tpp"
)

// BenchmarkTenantReady measures what a CI job waits for when it asks for a
// bank of its own: POST /sandbox/tenants, then the tenant's first answer
// (its discovery document), on the default seed.
func BenchmarkTenantReady(b *testing.B) {
	s := start(b, realIssuer(), func(c *app.Config) { c.MaxTenants = b.N + 1 })
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := range b.N {
		s.tenantReady(b, fmt.Sprintf("job-%d", i))
	}
	reportPer(b, "tenant", cpu0)
}

// BenchmarkTenantReadySpare is BenchmarkTenantReady on PostgreSQL with a
// spare schema ready for each new tenant (--tenant-spares 1; the wait for
// the spare is not timed).
func BenchmarkTenantReadySpare(b *testing.B) {
	storetest.Postgres(b)
	s := start(b, realIssuer(), onPG(b), func(c *app.Config) { c.MaxTenants, c.TenantSpares = b.N+1, 1 })
	ctx := context.Background()
	prefix := store.SchemaOf(s.app.Config.DB) + "_s_"
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := range b.N {
		b.StopTimer()
		for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if sp, err := s.app.Store.Catalog().List(ctx, prefix); err == nil && len(sp) > 0 {
				break
			}
			if time.Now().After(deadline) {
				b.Fatal("no spare schema within 90 s")
			}
		}
		b.StartTimer()
		s.tenantReady(b, fmt.Sprintf("job-%d", i))
	}
	reportPer(b, "tenant", cpu0)
}

// tenantReady asks for a new tenant and its first answer (its discovery
// document).
func (s *sandbox) tenantReady(b *testing.B, name string) {
	b.Helper()
	if r := s.admin("POST", "/sandbox/tenants", map[string]string{"name": name}); r.Status != 201 {
		b.Fatalf("create: %d %s", r.Status, r.Body)
	}
	if r := s.get("/t/"+name+"/.well-known/openid-configuration", ""); r.Status != 200 {
		b.Fatalf("first request: %d %s", r.Status, r.Body)
	}
}

// BenchmarkReset measures POST /sandbox/reset on the default seed, and
// fails when even the fastest reset takes longer than the 2 s the README's
// fixed points allow (CI runs every benchmark once).
func BenchmarkReset(b *testing.B) {
	s := start(b)
	b.ResetTimer()
	cpu0 := cpuTime()
	fastest := time.Duration(math.MaxInt64)
	for range b.N {
		t0 := time.Now()
		if r := s.admin("POST", "/sandbox/reset", nil); r.Status != 204 {
			b.Fatalf("reset: %d %s", r.Status, r.Body)
		}
		fastest = min(fastest, time.Since(t0))
	}
	reportPer(b, "reset", cpu0)
	if fastest > 2*time.Second {
		b.Errorf("the fastest reset took %s; a reset must take at most 2 s", fastest)
	}
}

// BenchmarkResetAfterUse is BenchmarkReset after what a test does before
// it (not timed): a payment made and the clock moved 40 days, which
// settles it, books card entries and pays standing orders.
func BenchmarkResetAfterUse(b *testing.B) {
	s := start(b, realIssuer())
	c := s.newTPP("private_key_jwt")
	ctx := context.Background()
	b.ResetTimer()
	cpu := time.Duration(0)
	for range b.N {
		b.StopTimer()
		if _, _, err := c.PaymentJourney(ctx, "alice", "alice123", tpp.DomesticInitiation("4.20", payee, "RESET"), nil); err != nil {
			b.Fatal(err)
		}
		s.advance("40d")
		cpu0 := cpuTime()
		b.StartTimer()
		if r := s.admin("POST", "/sandbox/reset", nil); r.Status != 204 {
			b.Fatalf("reset: %d %s", r.Status, r.Body)
		}
		b.StopTimer()
		cpu += cpuTime() - cpu0
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/reset")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/reset")
}

// BenchmarkStart measures a test's own sandbox: start (a fresh database,
// seeded), stop.
func BenchmarkStart(b *testing.B) {
	cpu0 := cpuTime()
	for range b.N {
		s := start(b)
		s.stop()
	}
	reportPer(b, "start", cpu0)
}

// reportPer reports the wall time and the CPU time (this process's: the
// sandbox and its client, both in it) per operation. On a shared machine
// the CPU time is the steadier of the two.
func reportPer(b *testing.B, what string, cpu0 time.Duration) {
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/"+what)
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/"+what)
}

// cpuTime is the CPU time this process has used (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTenantMemory measures what an open tenant holds: 50 tenants
// opened, each used as a test would (a client registered, a consent
// approved, its accounts, balances and transactions read), the heap and
// the resident set before and after, per tenant.
func BenchmarkTenantMemory(b *testing.B) {
	const n = 50
	ctx := context.Background()
	for range b.N {
		s := start(b, realIssuer(), func(c *app.Config) { c.MaxTenants = n + 1 })
		heap0, rss0 := memNow()
		for i := range n {
			name := fmt.Sprintf("job-%d", i)
			if r := s.admin("POST", "/sandbox/tenants", map[string]string{"name": name}); r.Status != 201 {
				b.Fatalf("create: %d %s", r.Status, r.Body)
			}
			// What a test does in it: a client, a consent, reads.
			c, err := tpp.New(ctx, s.url+"/t/"+name, callback, tpp.WithHTTPClient(s.client), s.tppKey())
			if err != nil {
				b.Fatal(err)
			}
			c.Now = s.app.Clock.Wall
			if err := c.Register(ctx, "private_key_jwt"); err != nil {
				b.Fatal(err)
			}
			tok, _, err := c.AISJourney(ctx, "alice", "alice123", tpp.AllPermissions, nil)
			if err != nil {
				b.Fatal(err)
			}
			for _, p := range []string{"/accounts", "/balances", "/transactions"} {
				if err := c.Call(ctx, "GET", c.API()+"/aisp"+p, "", tok.AccessToken, nil, 200, nil); err != nil {
					b.Fatal(err)
				}
			}
		}
		heap1, rss1 := memNow()
		b.ReportMetric(float64(heap1-heap0)/n/1e6, "heap-MB/tenant")
		b.ReportMetric(float64(rss1-rss0)/n/1e6, "rss-MB/tenant")
		s.stop()
	}
}

// memNow is the live heap (after a collection) and the resident set.
func memNow() (heap, rss int64) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	raw, _ := os.ReadFile("/proc/self/statm")
	var pages, resident int64
	fmt.Sscan(string(raw), &pages, &resident)
	return int64(m.HeapAlloc), resident * int64(os.Getpagesize())
}

// BenchmarkJourney measures what a CI suite does per test, whole: a TPP
// registers, gets a client-credentials token, creates a consent, pushes its
// authorization request, has the PSU approve it headlessly, exchanges the
// code and reads the accounts — 16 journeys at once (sandbox bench's
// journey routes measure the same against a separate process). The bank
// signs with its production key size; the TPP signs its JWTs PS256 or
// ES256 (FAPI allows either; the TPP's signatures are most of its side's
// CPU, and this process is both sides).
func BenchmarkJourney(b *testing.B) {
	s := start(b, realIssuer(), func(c *app.Config) { // as sandbox bench: a load, not an attack
		for _, class := range gateway.Classes {
			c.Rates[class] = gateway.Off
		}
		c.KeyBits = oauth.KeyBits
	})
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	for _, alg := range []string{"PS256", "ES256"} {
		b.Run(alg, func(b *testing.B) {
			opts := []tpp.Option{tpp.WithClock(s.app.Clock.Wall)}
			if alg == "ES256" {
				opts = append(opts, tpp.WithES256(nil))
			}
			tr := &http.Transport{MaxIdleConnsPerHost: 64}
			defer tr.CloseIdleConnections()
			b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
			b.ResetTimer()
			cpu0 := cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := bench.Journey(context.Background(), s.url, tr, key, opts...); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "journeys/s")
			reportPer(b, "journey", cpu0)
		})
	}
}
