package bench

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLoadPool: every prepared request is sent once, on keep-alive
// connections, and each answer reaches OnResponse with its request's
// context; the run ends when the pool is used up.
func TestLoadPool(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	seen := map[string]int{}
	conns := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen[r.Header.Get("x-idempotency-key")+" "+string(b)]++
		conns[r.RemoteAddr] = true
		mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "/missing") {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusCreated)
		w.Write(bytes.Repeat([]byte("x"), 5000)) // chunked and plain bodies both parse
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	var reqs []Request
	for i := range 300 {
		path := "/pay"
		if i%100 == 0 {
			path = "/missing"
		}
		reqs = append(reqs, Request{Method: http.MethodPost, Path: path, Body: []byte{byte('a' + i%26)},
			Header: [][2]string{{"x-idempotency-key", "k" + strconv.Itoa(i)}}, Context: i})
	}
	got := map[int]int{}
	st, err := Load(context.Background(), Pool(host, reqs, false), LoadOptions{Addr: host, Conns: 4, Duration: time.Hour,
		OnResponse: func(ctx any, status int, body []byte) {
			mu.Lock()
			got[ctx.(int)] = status
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	if st.Requests != 300 || !st.Exhausted || st.SockErrs != 0 {
		t.Errorf("requests %d, exhausted %v, socket errors %d; want 300, true, 0", st.Requests, st.Exhausted, st.SockErrs)
	}
	if st.Status[201] != 297 || st.Status[404] != 3 || st.Non2xx() != 3 {
		t.Errorf("statuses %v, want 297×201 and 3×404", st.Status)
	}
	if len(seen) != 300 {
		t.Errorf("%d distinct requests reached the server, want 300", len(seen))
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("request %q sent %d times", k, n)
		}
	}
	if len(got) != 300 {
		t.Errorf("OnResponse saw %d requests, want 300", len(got))
	}
	if len(conns) > 4 {
		t.Errorf("%d connections, want at most 4 (keep-alive)", len(conns))
	}
	if st.P50 <= 0 || st.P99 < st.P50 || st.Max < st.P99 {
		t.Errorf("percentiles p50 %v p99 %v max %v", st.P50, st.P99, st.Max)
	}
}

// TestBareHandler: the ceiling answers with the sandbox's bytes.
func TestBareHandler(t *testing.T) {
	t.Parallel()
	h := BareHandler([]Canned{
		{Method: http.MethodGet, Path: "/open-banking/v3.1/aisp/accounts", Status: 200, ContentType: "application/json; charset=UTF-8", Body: []byte(`{"Data":{}}`)},
		{Method: http.MethodPost, Path: "/as/token", Status: 200, ContentType: "application/json", Body: []byte(`{"access_token":"t"}`)},
	})
	for _, tc := range []struct{ method, path, body string }{
		{http.MethodGet, "/open-banking/v3.1/aisp/accounts?page=1", `{"Data":{}}`},
		{http.MethodPost, "/as/token", `{"access_token":"t"}`},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(tc.method, tc.path, strings.NewReader("grant_type=x")))
		if w.Code != 200 || w.Body.String() != tc.body {
			t.Errorf("%s %s: %d %s, want 200 %s", tc.method, tc.path, w.Code, w.Body, tc.body)
		}
	}
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	s := []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 5}, {90, 9}, {99, 10}, {100, 10}} {
		if got := percentile(s, tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("empty: %v", got)
	}
}

// TestTargets: the report judges issue 7's ratio targets from its rows.
func TestTargets(t *testing.T) {
	t.Parallel()
	rep := &Report{Rows: []Row{
		{Route: RouteAccounts, Target: TargetSandbox, Stats: Stats{Requests: 1, RPS: 4000, P99: 20 * time.Millisecond}},
		{Route: RouteAccounts, Target: TargetBare, Stats: Stats{Requests: 1, RPS: 10000}},
		{Route: RouteAccounts, Target: TargetPrism, Stats: Stats{Requests: 1, RPS: 500}},
	}}
	ts := rep.Targets()
	want := map[string]bool{"3-account list ≥ 0.35× bare": true, "3-account list ≥ 10× Prism": false}
	for _, tg := range ts {
		if w, ok := want[tg.What]; ok && (!tg.Known || tg.Met != w) {
			t.Errorf("%s: known %v met %v (%s), want met %v", tg.What, tg.Known, tg.Met, tg.Got, w)
		}
		if tg.What == "50-transaction page ≥ 0.20× bare" && tg.Known {
			t.Errorf("%s: judged without figures", tg.What)
		}
	}
}

func TestSeedLine(t *testing.T) {
	t.Parallel()
	for line, want := range map[string]string{
		"1004 PSUs, 1488 accounts, 1071563 transactions in 4.207s (254721 transactions/s)":      "4.207s",
		"10004 PSUs, 14948 accounts, 10703284 transactions in 1m6.033s (162090 transactions/s)": "1m6.033s",
		"10 PSUs, 18 accounts, 10754 transactions in 72ms (149251 transactions/s)":              "72ms",
	} {
		m := seedLine.FindStringSubmatch(line)
		if m == nil || m[4] != want {
			t.Errorf("%q: %q, want %q", line, m, want)
			continue
		}
		if _, err := time.ParseDuration(m[4]); err != nil {
			t.Error(err)
		}
	}
}

// TestClosedLoop: calls ending in the recorded window are counted, the
// failed ones as status 0 with the first error returned; none ending in the
// warm-up are.
func TestClosedLoop(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	boom := errors.New("boom")
	st, err := closedLoop(context.Background(), 4, 20*time.Millisecond, 100*time.Millisecond, func(context.Context) error {
		time.Sleep(time.Millisecond)
		if calls.Add(1)%10 == 0 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want boom", err)
	}
	ok, failed := st.Status[http.StatusOK], st.Status[0]
	if ok == 0 || failed == 0 || st.Requests != ok || ok+failed >= calls.Load() {
		t.Fatalf("%d ok, %d failed of %d calls (the warm-up's must not count): %+v", ok, failed, calls.Load(), st)
	}
	if st.P50 < time.Millisecond || st.P99 < st.P50 || st.RPS != float64(ok)/0.1 {
		t.Fatalf("figures %+v", st)
	}
}

// TestJourneyTarget: the journey target is judged on journeys per second
// and no failed journey.
func TestJourneyTarget(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		stats Stats
		met   bool
	}{
		{Stats{Requests: 2500, RPS: 250, Status: map[int]int64{200: 2500}}, true},
		{Stats{Requests: 1500, RPS: 150, Status: map[int]int64{200: 1500}}, false},
		{Stats{Requests: 2500, RPS: 250, Status: map[int]int64{200: 2500, 0: 1}}, false},
	} {
		rep := &Report{Rows: []Row{{Route: RouteJourney, Target: TargetSandbox, Stats: tc.stats}}}
		found := false
		for _, tg := range rep.Targets() {
			if strings.HasPrefix(tg.What, "whole journeys") {
				found = true
				if !tg.Known || tg.Met != tc.met {
					t.Errorf("%+v: known %v met %v, want met %v", tc.stats, tg.Known, tg.Met, tc.met)
				}
			}
		}
		if !found {
			t.Fatal("no journey target")
		}
	}
}

// TestPostgresRatio: the report gives PostgreSQL's req/s over SQLite's,
// route by route, from the same run.
func TestPostgresRatio(t *testing.T) {
	t.Parallel()
	rep := &Report{Rows: []Row{
		{Route: RouteAccounts, Target: TargetSandbox, Stats: Stats{Requests: 1, RPS: 8000}},
		{Route: RouteAccounts, Target: TargetPostgres, Stats: Stats{Requests: 1, RPS: 2000}},
	}}
	var b bytes.Buffer
	rep.Print(&b)
	if !regexp.MustCompile(`(?m)^\s*accounts\s+-\s+-\s+0\.25\s*$`).Match(b.Bytes()) {
		t.Fatalf("no postgres/sqlite ratio of 0.25 for accounts in:\n%s", b.String())
	}
}

// TestRedactedCommand: the results file records the command without the
// admin token's value, however the flag is written.
func TestRedactedCommand(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"sandbox bench --sandbox http://h:1 --admin-token s3cret --routes accounts": "sandbox bench --sandbox http://h:1 --admin-token … --routes accounts",
		"sandbox bench -admin-token s3cret":                                         "sandbox bench -admin-token …",
		"sandbox bench --admin-token=s3cret --psus 20":                              "sandbox bench --admin-token=… --psus 20",
		"sandbox bench --psus 20":                                                   "sandbox bench --psus 20",
	} {
		if got := redactedCommand(strings.Fields(in)); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

// TestReadBack: through the API, a 201 whose payment is not stored is
// lost, an id answered twice is a duplicate, one that cannot be read is
// unverified (never found), and a payment of another consent stops the run.
func TestReadBack(t *testing.T) {
	t.Parallel()
	pool := func(ids ...string) []Request {
		var rs []Request
		for _, id := range ids {
			rs = append(rs, Request{Context: id})
		}
		return rs
	}
	r := &runner{rep: &Report{}, logw: io.Discard}
	r.paymentPool = pool("c1", "c2", "c3", "c4", "c5", "c6", "c7")
	r.paymentOutcomes = map[string]paymentOutcome{
		"c1": {201, "p1"}, "c2": {201, "p2"}, "c3": {201, "p1"}, "c4": {201, "p4"}, "c5": {400, ""}, "c6": {201, ""},
	} // c7: no answer
	owner := map[string]string{"p1": "c1", "p4": "c4"}
	err := r.readBack(func(pid string) (string, error) {
		switch pid {
		case "p2":
			return "", errNotStored
		case "p4":
			return "", errors.New("connection reset")
		}
		return owner[pid], nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := r.rep.Payments
	want := PaymentCheck{Sent: 6, Created: 5, Stored: 1, Lost: 1, Duplicated: 1, Unverified: 2, Checked: true, ThroughAPI: true}
	if got != want {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if tg := paymentTarget(t, &Report{Payments: got, Rows: []Row{{Route: RoutePayment, Target: TargetSandbox, Stats: Stats{Requests: 6, RPS: 5000}}}}); tg.Met {
		t.Errorf("payment target met with payments lost and unverified: %s", tg.Got)
	}
	clean := PaymentCheck{Sent: 6, Created: 6, Stored: 6, Checked: true, ThroughAPI: true}
	if tg := paymentTarget(t, &Report{Payments: clean, Rows: []Row{{Route: RoutePayment, Target: TargetSandbox, Stats: Stats{Requests: 6, RPS: 5000}}}}); !tg.Met || !strings.Contains(tg.Got, "through the API") {
		t.Errorf("payment target through the API: met %v, %s", tg.Met, tg.Got)
	}

	r = &runner{rep: &Report{}, logw: io.Discard, paymentPool: pool("c1"), paymentOutcomes: map[string]paymentOutcome{"c1": {201, "p9"}}}
	if err := r.readBack(func(string) (string, error) { return "c2", nil }); err == nil {
		t.Error("a payment of another consent passed")
	}
}

func paymentTarget(t *testing.T, rep *Report) Target {
	t.Helper()
	for _, tg := range rep.Targets() {
		if strings.HasPrefix(tg.What, "payment submission") {
			return tg
		}
	}
	t.Fatal("no payment target")
	return Target{}
}

// TestRemoteBase: what a run against a sandbox started elsewhere accepts.
func TestRemoteBase(t *testing.T) {
	t.Parallel()
	ok := Options{AdminToken: "t", Targets: []string{TargetSandbox}}
	for in, want := range map[string]string{
		"http://10.0.0.5:8080":  "http://10.0.0.5:8080",
		"http://10.0.0.5:8080/": "http://10.0.0.5:8080",
		"http://sandbox-host":   "http://sandbox-host:80",
		"http://[::1]":          "http://[::1]:80",
	} {
		o := ok
		o.Sandbox = in
		if got, err := remoteBase(o); err != nil || got != want {
			t.Errorf("%q: %q, %v; want %q", in, got, err, want)
		}
	}
	for name, o := range map[string]Options{
		"https":           {Sandbox: "https://h:443", AdminToken: "t"},
		"a path":          {Sandbox: "http://h:1/t/job-1", AdminToken: "t"},
		"user info":       {Sandbox: "http://u:p@h:1", AdminToken: "t"},
		"no host":         {Sandbox: "h:1", AdminToken: "t"},
		"no token":        {Sandbox: "http://h:1"},
		"bare beside it":  {Sandbox: "http://h:1", AdminToken: "t", Targets: []string{TargetSandbox, TargetBare}},
		"a tenant curve":  {Sandbox: "http://h:1", AdminToken: "t", TenantCurve: []int{10}},
		"postgres beside": {Sandbox: "http://h:1", AdminToken: "t", Postgres: "postgres://x"},
	} {
		if got, err := remoteBase(o); err == nil {
			t.Errorf("%s: accepted as %q", name, got)
		}
	}
}
