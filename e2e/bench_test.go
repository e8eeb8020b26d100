package e2e

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/gateway"
)

// BenchmarkTransactionsPage measures GET /accounts/{AccountId}/transactions
// (50 rows) through the sandbox's whole stack — token verification and the
// database check, request validation, SQLite, JSON — against a bare echo
// handler returning the same bytes, in the same run, and reports the ratio.
func BenchmarkTransactionsPage(b *testing.B) {
	s := start(b, withRates(gateway.ClassData, "off")) // the load must not be rate limited
	accts := s.accountsOf("alice")
	tok, _ := s.directGrant("alice", bank.AccountAccessRequest{Permissions: allPermissions()}, accts)
	path := ais + "/accounts/" + accts[0] + "/transactions?page-size=50&fromBookingDateTime=2025-01-01"
	h := s.app.Handler()
	serve := func(h http.Handler) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	first := serve(h)
	if first.Code != 200 {
		b.Fatalf("status %d: %s", first.Code, first.Body)
	}
	body := first.Body.Bytes()
	bare := echo.New()
	bare.GET("/open-banking/v3.1/aisp/accounts/:AccountId/transactions", func(c echo.Context) error {
		return c.JSONBlob(http.StatusOK, body)
	})
	// Both are timed in the same loop, alternating, so machine noise hits
	// them alike; the ratio is what to read.
	var tSandbox, tBare time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if w := serve(h); w.Code != 200 {
			b.Fatalf("status %d", w.Code)
		}
		t1 := time.Now()
		serve(bare)
		tSandbox, tBare = tSandbox+t1.Sub(t0), tBare+time.Since(t1)
	}
	b.ReportMetric(float64(tSandbox.Nanoseconds())/float64(b.N), "sandbox-ns/op")
	b.ReportMetric(float64(tBare.Nanoseconds())/float64(b.N), "bare-ns/op")
	b.ReportMetric(float64(tBare)/float64(tSandbox), "sandbox/bare-throughput")
}
