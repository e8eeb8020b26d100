package e2e

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/app"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/gateway"
)

func withRates(class gateway.Class, r string) option {
	return func(c *app.Config) {
		rate, err := gateway.ParseRate(r)
		if err != nil {
			panic(err)
		}
		c.Rates[class] = rate
	}
}

// TestRateLimitsExact hammers the data endpoints with 8 parallel clients on a
// frozen sandbox clock: exactly the burst (100) gets through, the rest get
// 429 with Retry-After and RateLimit-* headers and no body; another client
// is unaffected; a clock advance refills at the rate.
func TestRateLimitsExact(t *testing.T) {
	t.Parallel()
	s := start(t, frozen())
	tok, _ := s.directGrant("alice", bank.AccountAccessRequest{Permissions: []string{"ReadAccountsBasic"}}, s.accountsOf("alice"))
	other, _ := s.directGrant("bob", bank.AccountAccessRequest{Permissions: []string{"ReadAccountsBasic"}}, s.accountsOf("bob"))
	var ok, limited atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				r := s.get(ais+"/accounts", tok)
				switch r.Status {
				case 200:
					ok.Add(1)
				case 429:
					limited.Add(1)
					once.Do(func() {
						if r.Header.Get("Retry-After") != "1" || r.Header.Get("RateLimit-Limit") != "100" || r.Header.Get("RateLimit-Remaining") != "0" || len(r.Body) != 0 {
							t.Errorf("429 headers %v body %q", r.Header, r.Body)
						}
					})
				default:
					t.Errorf("status %d", r.Status)
				}
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 100 || limited.Load() != 60 {
		t.Fatalf("%d allowed, %d limited; want exactly 100 and 60", ok.Load(), limited.Load())
	}
	expect(t, s.get(ais+"/accounts", other), 200)
	s.app.Clock.Advance(1e9) // one second: 20 more
	n := 0
	for s.get(ais+"/accounts", tok).Status == 200 {
		n++
	}
	if n != 20 {
		t.Errorf("one second later %d allowed, want 20", n)
	}
}

// TestRateLimitsPerClass: the token endpoint (per client) and the PSU login
// (per IP) have their own buckets; over the limit they answer RFC 6749 JSON.
func TestRateLimitsPerClass(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer(), frozen(), withRates(gateway.ClassToken, "1:3"), withRates(gateway.ClassLogin, "1:2"))
	ctx := context.Background()
	c := s.newTPP("client_secret_basic")
	for i := range 3 {
		if _, err := c.ClientCredentials(ctx, "accounts"); err != nil {
			t.Fatalf("token %d: %v", i+1, err)
		}
	}
	_, err := c.ClientCredentials(ctx, "accounts")
	if err == nil || !strings.Contains(err.Error(), "429") || !strings.Contains(err.Error(), "slow_down") {
		t.Errorf("fourth token: %v, want 429 slow_down", err)
	}
	login := func() int {
		return s.do(req{method: "POST", path: "/sandbox/psu/revoke", body: map[string]string{"username": "alice", "password": "x", "consent_id": "y"}}).Status
	}
	if a, b, c := login(), login(), login(); a != 401 || b != 401 || c != 429 {
		t.Errorf("three logins: %d %d %d, want 401 401 429", a, b, c)
	}
}

// TestUnattendedAccessLimit: without x-fapi-customer-ip-address a consent
// has 4 AIS calls a day; with the PSU present there is no such limit; the
// next sandbox day starts afresh.
func TestUnattendedAccessLimit(t *testing.T) {
	t.Parallel()
	s := start(t, frozen(), func(c *app.Config) { c.UnattendedLimit = 4 })
	tok, _ := s.directGrant("alice", bank.AccountAccessRequest{Permissions: []string{"ReadAccountsBasic"}}, s.accountsOf("alice"))
	for i := range 4 {
		expect(t, s.get(ais+"/accounts", tok), 200)
		_ = i
	}
	r := s.get(ais+"/accounts", tok)
	expect(t, r, 429)
	if r.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	present := map[string]string{"x-fapi-customer-ip-address": "203.0.113.7"}
	for range 6 {
		expect(t, s.do(req{method: "GET", path: ais + "/accounts", token: tok, header: present}), 200)
	}
	s.app.Clock.Advance(24 * 3600e9)
	tok, _ = s.directGrant("alice", bank.AccountAccessRequest{Permissions: []string{"ReadAccountsBasic"}}, s.accountsOf("alice"))
	expect(t, s.get(ais+"/accounts", tok), 200)
}

// TestRateLimitOff: --rate-limit off lifts every bucket.
func TestRateLimitOff(t *testing.T) {
	t.Parallel()
	s := start(t, frozen(), func(c *app.Config) {
		for _, class := range gateway.Classes {
			c.Rates[class] = gateway.Off
		}
	})
	tok, _ := s.directGrant("alice", bank.AccountAccessRequest{Permissions: []string{"ReadAccountsBasic"}}, s.accountsOf("alice"))
	for i := range 150 {
		if r := s.get(ais+"/accounts", tok); r.Status != 200 {
			t.Fatalf("request %d: %d", i+1, r.Status)
		}
	}
}

// TestMetrics: /metrics serves Prometheus text with requests by route and
// status, latency, rate-limit refusals, consents by status.
func TestMetrics(t *testing.T) {
	t.Parallel()
	s := start(t, frozen(), withRates(gateway.ClassData, "1:1"))
	tok, _ := s.directGrant("alice", bank.AccountAccessRequest{Permissions: []string{"ReadAccountsBasic"}}, s.accountsOf("alice"))
	s.get(ais+"/accounts", tok)
	s.get(ais+"/accounts", tok)
	r := s.get("/metrics", "")
	expect(t, r, 200)
	for _, want := range []string{
		`sandbox_http_requests_total{code="200",method="GET",route="/open-banking/v3.1/aisp/accounts"} 1`,
		`sandbox_http_requests_total{code="429",method="GET",route="/open-banking/v3.1/aisp/accounts"} 1`,
		`sandbox_rate_limited_total{class="data"} 1`,
		`sandbox_consents{kind="account-access",status="Authorised"} 1`,
		`sandbox_http_request_duration_seconds_bucket`,
	} {
		if !strings.Contains(string(r.Body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestResourceLimits: a slow client is cut off by the header timeout, a
// huge header block is refused (431), deep JSON and huge arrays are refused
// before parsing, and the server stays up.
func TestResourceLimits(t *testing.T) {
	t.Parallel()
	s := start(t, func(c *app.Config) { c.ReadHeaderTimeout = 300 * time.Millisecond; c.MaxHeaderBytes = 8192 })
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n")) // and then nothing more
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 512)
	_, err = io.ReadFull(conn, buf)
	if err == nil {
		t.Fatal("a slow client held the connection")
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server did not close a connection whose headers never finished")
	}
	big := strings.Repeat("a", 20000) // net/http allows 4 KiB of slack over MaxHeaderBytes
	expect(t, s.do(req{method: "GET", path: "/healthz", header: map[string]string{"x-padding": big}}), 431)

	_, client := s.directGrant("alice", bank.AccountAccessRequest{Permissions: []string{"ReadAccountsBasic"}}, nil)
	cc := s.clientToken(client, "accounts")
	deep := strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40)
	r := s.do(req{method: "POST", path: ais + "/account-access-consents", token: cc, body: `{"Data":` + deep + `,"Risk":{}}`})
	expect(t, r, 400)
	if r.obError(t) != "UK.OBIE.Resource.InvalidFormat" {
		t.Error(string(r.Body))
	}
	perms := `"` + strings.Repeat(`ReadAccountsBasic","`, 1500) + `ReadAccountsBasic"`
	r = s.do(req{method: "POST", path: ais + "/account-access-consents", token: cc, body: `{"Data":{"Permissions":[` + perms + `]},"Risk":{}}`})
	expect(t, r, 400)
	if r.obError(t) != "UK.OBIE.Field.Invalid" {
		t.Error(string(r.Body))
	}
	expect(t, s.get("/healthz", ""), 200)
}
