package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	collector "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/obsandbox/sandbox/internal/app"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/tpp"
)

// otlpReceiver is an OTLP/HTTP trace receiver (the collector's
// /v1/traces, protobuf) that keeps every span it is sent.
type otlpReceiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	spans []*tracepb.Span
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "not OTLP/HTTP protobuf", http.StatusBadRequest)
			return
		}
		var body io.Reader = req.Body
		if req.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(req.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		raw, err := io.ReadAll(body)
		var msg collector.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(raw, &msg)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, rs := range msg.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				r.spans = append(r.spans, ss.Spans...)
			}
		}
		r.mu.Unlock()
		out, _ := proto.Marshal(&collector.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func attr(s *tracepb.Span, key string) string {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			if v := kv.Value.GetStringValue(); v != "" {
				return v
			}
			return strconv.FormatInt(kv.Value.GetIntValue(), 10)
		}
	}
	return ""
}

// TestTracesOverOTLP: a data request is traced through the gateway,
// authorization, the use case and the store — one trace, each span the
// child of the layer above, every span carrying the request's
// x-fapi-interaction-id — and exported over OTLP/HTTP to a real receiver.
func TestTracesOverOTLP(t *testing.T) {
	t.Parallel()
	rcv := newOTLPReceiver(t)
	s := start(t, realIssuer(), func(c *app.Config) { c.OTLPEndpoint = rcv.srv.URL + "/v1/traces" })
	ctx := context.Background()
	c := s.newTPP("private_key_jwt")
	toks, _, err := c.AISJourney(ctx, "alice", "alice123", tpp.AllPermissions, nil)
	if err != nil {
		t.Fatal(err)
	}
	const id = "0f1e2d3c-4b5a-4969-8877-665544332211"
	expect(t, s.do(req{method: "GET", path: ais + "/accounts", token: toks.AccessToken, header: map[string]string{"x-fapi-interaction-id": id}}), 200)
	s.stop() // flushes the exporter

	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	var mine []*tracepb.Span
	for _, sp := range rcv.spans {
		if attr(sp, "fapi.interaction_id") == id {
			mine = append(mine, sp)
		}
	}
	byID := map[string]*tracepb.Span{}
	var gateway, authz, usecase *tracepb.Span
	var stores []*tracepb.Span
	for _, sp := range mine {
		byID[string(sp.SpanId)] = sp
		switch {
		case sp.Name == "GET /open-banking/v3.1/aisp/accounts":
			gateway = sp
		case sp.Name == "authorize access token":
			authz = sp
		case sp.Name == "usecase GetAccounts":
			usecase = sp
		case strings.HasPrefix(sp.Name, "store."):
			stores = append(stores, sp)
		}
	}
	if gateway == nil || authz == nil || usecase == nil || len(stores) == 0 {
		names := []string{}
		for _, sp := range mine {
			names = append(names, sp.Name)
		}
		t.Fatalf("spans of the request: %v (of %d received)", names, len(rcv.spans))
	}
	if gateway.Kind != tracepb.Span_SPAN_KIND_SERVER || attr(gateway, "http.response.status_code") != "200" ||
		attr(gateway, "http.route") != "/open-banking/v3.1/aisp/accounts" || attr(gateway, "sandbox.client_id") != c.ClientID {
		t.Errorf("gateway span %v", gateway)
	}
	for _, sp := range mine {
		if string(sp.TraceId) != string(gateway.TraceId) {
			t.Errorf("span %s is in another trace", sp.Name)
		}
	}
	if string(authz.ParentSpanId) != string(gateway.SpanId) || string(usecase.ParentSpanId) != string(gateway.SpanId) {
		t.Error("authorization and the use case are not children of the gateway's span")
	}
	under := func(sp, ancestor *tracepb.Span) bool {
		for p := byID[string(sp.ParentSpanId)]; p != nil; p = byID[string(p.ParentSpanId)] {
			if p == ancestor {
				return true
			}
		}
		return false
	}
	var inAuthz, inUseCase bool
	for _, sp := range stores {
		inAuthz = inAuthz || under(sp, authz)
		inUseCase = inUseCase || under(sp, usecase)
		if attr(sp, "db.system.name") != "sqlite" && attr(sp, "db.system.name") != "postgresql" {
			t.Errorf("store span %s: db.system.name %q", sp.Name, attr(sp, "db.system.name"))
		}
	}
	if !inAuthz || !inUseCase {
		t.Errorf("store spans under authorization %v, under the use case %v", inAuthz, inUseCase)
	}
}

// syslogCollector is a local RFC 5424 collector over TCP (octet counting).
type syslogCollector struct {
	ln   net.Listener
	mu   sync.Mutex
	msgs []string
}

func newSyslogCollector(t testing.TB, slow time.Duration) *syslogCollector {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	c := &syslogCollector{ln: ln}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				r := bufio.NewReader(conn)
				for {
					n, err := r.ReadString(' ')
					if err != nil {
						return
					}
					size, err := strconv.Atoi(strings.TrimSpace(n))
					if err != nil {
						return
					}
					buf := make([]byte, size)
					if _, err := io.ReadFull(r, buf); err != nil {
						return
					}
					c.mu.Lock()
					c.msgs = append(c.msgs, string(buf))
					c.mu.Unlock()
					time.Sleep(slow)
				}
			}()
		}
	}()
	return c
}

// TestSIEMStream: a journey's audit entries (the decisions the auditor
// writes and the entries state changes commit with) and a security event
// reach a syslog collector as RFC 5424 messages and a JSON-lines file, as
// they commit; every entry of the audit trail is there.
func TestSIEMStream(t *testing.T) {
	t.Parallel()
	col := newSyslogCollector(t, 0)
	file := filepath.Join(t.TempDir(), "siem.jsonl")
	s := start(t, realIssuer(), func(c *app.Config) {
		c.SIEMSyslog, c.SIEMFile = "tcp://"+col.ln.Addr().String(), file
	})
	ctx := context.Background()
	c := s.newTPP("private_key_jwt")
	toks, _, err := c.AISJourney(ctx, "alice", "alice123", tpp.AllPermissions, nil)
	if err != nil {
		t.Fatal(err)
	}
	bob := s.accountsOf("bob")
	for _, acct := range bob[:1] {
		for _, p := range []string{"", "/balances", "/transactions"} {
			expect(t, s.get(ais+"/accounts/"+acct+p, toks.AccessToken), 403) // a BOLA probe: bola_probe
		}
	}
	admin := s.app.Config.AdminToken
	var trail struct{ Entries []struct{ Seq int64 } }
	s.do(req{method: "GET", path: "/sandbox/audit?limit=10000", token: admin}).JSON(t, &trail)
	var evs struct{ Events []struct{ ID int64 } }
	s.do(req{method: "GET", path: "/sandbox/security-events", token: admin}).JSON(t, &evs)
	if len(evs.Events) == 0 {
		t.Fatal("the probe raised no security event")
	}
	s.stop() // ships what is left

	fileSeqs, fileEvents := map[int64]bool{}, map[int64]bool{}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var rec struct {
			Kind  string
			Audit *struct{ Seq int64 }
			Event *struct{ ID int64 } `json:"security_event"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("a line that is not JSON: %q", line)
		}
		if rec.Audit != nil {
			fileSeqs[rec.Audit.Seq] = true
		}
		if rec.Event != nil {
			fileEvents[rec.Event.ID] = true
		}
	}
	col.mu.Lock()
	msgs := append([]string(nil), col.msgs...)
	col.mu.Unlock()
	syslogSeqs := map[int64]bool{}
	committed := 0
	for _, m := range msgs {
		if !strings.HasPrefix(m, "<") || !strings.Contains(m, " obsandbox ") {
			t.Fatalf("not an RFC 5424 message: %q", m)
		}
		if i := strings.Index(m, ` seq="`); i > 0 {
			n, _ := strconv.ParseInt(m[i+6:i+6+strings.IndexByte(m[i+6:], '"')], 10, 64)
			syslogSeqs[n] = true
		}
		if strings.Contains(m, `decision="committed"`) {
			committed++
		}
	}
	for _, e := range trail.Entries {
		if !fileSeqs[e.Seq] || !syslogSeqs[e.Seq] {
			t.Errorf("audit entry %d: in the file %v, at the collector %v", e.Seq, fileSeqs[e.Seq], syslogSeqs[e.Seq])
		}
	}
	for _, e := range evs.Events {
		if !fileEvents[e.ID] {
			t.Errorf("security event %d is not in the file", e.ID)
		}
	}
	t.Logf("%d entries in the trail, %d messages, %d committed", len(trail.Entries), len(msgs), committed)
	if committed == 0 || len(trail.Entries) == 0 {
		t.Errorf("%d entries, %d committed ones at the collector", len(trail.Entries), committed)
	}
}

// BenchmarkRequestSlowSIEM: a data request with no SIEM, with a syslog
// collector that takes 5 ms per message (far slower than the bank makes
// them) and with one that stops reading: the request path never waits for
// the SIEM (the stream falls behind, drops from its buffer and re-reads
// from the trail later). What remains is the CPU the stream's own work
// takes, shared with the requests on a small machine.
func BenchmarkRequestSlowSIEM(b *testing.B) {
	for _, mode := range []string{"none", "slow", "stalled"} {
		b.Run(mode, func(b *testing.B) {
			opts := []option{realIssuer(), func(c *app.Config) { c.Rates = nil; c.SIEMBuffer = 64 }}
			if mode != "none" {
				delay := 5 * time.Millisecond
				if mode == "stalled" {
					delay = time.Hour // reads one message, then nothing
				}
				col := newSyslogCollector(b, delay)
				opts = append(opts, func(c *app.Config) { c.SIEMSyslog = "tcp://" + col.ln.Addr().String() })
			}
			s := start(b, opts...)
			token, _ := s.directGrant("alice", bank.AccountAccessRequest{Permissions: allPermissions()}, s.accountsOf("alice"))
			hr, _ := http.NewRequest("GET", s.url+ais+"/accounts", nil)
			hr.Header.Set("Authorization", "Bearer "+token)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				resp, err := s.client.Do(hr)
				if err != nil || resp.StatusCode != 200 {
					b.Fatalf("%v %v", resp, err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}

// TestSecOpsCLI: `sandbox incident start`, `sandbox incident report --html`
// and `sandbox keys rotate-data-key` drive a running sandbox through its
// admin API; the sandbox goes on serving after the rotation.
func TestSecOpsCLI(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	run := func(args ...string) (int, string) {
		var out bytes.Buffer
		args = append(args, "--sandbox", s.url, "--admin-token", s.app.Config.AdminToken)
		code := app.Main(ctx, args, &out, &out)
		return code, out.String()
	}
	code, out := run("incident", "start", "dependency-down")
	if code != 0 || !strings.Contains(out, `"status": "closed"`) {
		t.Fatalf("incident start: %d %s", code, out)
	}
	var in struct{ ID string }
	json.Unmarshal([]byte(out), &in)
	if code, out := run("incident", "report", in.ID, "--html"); code != 0 || !strings.HasPrefix(out, "<!doctype html>") {
		t.Errorf("incident report --html: %d %.200s", code, out)
	}
	if code, out := run("incident", "start", "no-such-drill"); code == 0 || !strings.Contains(out, "compromised-tpp") {
		t.Errorf("an unknown drill: %d %s", code, out)
	}
	if code, out := run("keys", "rotate-data-key"); code != 0 || !strings.Contains(out, "re-sealed under data key") {
		t.Errorf("keys rotate-data-key: %d %s", code, out)
	}
	c := s.newTPP("client_secret_basic")
	if _, _, err := c.AISJourney(ctx, "alice", "alice123", tpp.AllPermissions, nil); err != nil {
		t.Errorf("a journey after the rotation: %v", err)
	}
	page := s.do(req{method: "GET", path: "/trainer/incidents"})
	expect(t, page, 200)
	for _, want := range []string{`data-drill="compromised-tpp"`, `data-drill="signing-key"`, `data-drill="dependency-down"`, "/static/incidents.js"} {
		if !strings.Contains(string(page.Body), want) {
			t.Errorf("the trainer's security-operations page lacks %s", want)
		}
	}
	js := s.do(req{method: "GET", path: "/static/incidents.js"})
	expect(t, js, 200)
}
