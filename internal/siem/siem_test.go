package siem

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/store"
)

func openStore(t testing.TB) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), store.Memory, store.Options{Sync: store.SyncNormal})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// syslogListener is a local collector: it reads octet-counted RFC 5424
// frames (RFC 6587 §3.4.1) off every connection it accepts.
type syslogListener struct {
	ln   net.Listener
	mu   sync.Mutex
	msgs []string
	got  chan struct{}
}

func listen(t *testing.T, tlsConfig *tls.Config) *syslogListener {
	t.Helper()
	var ln net.Listener
	var err error
	if tlsConfig != nil {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", tlsConfig)
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	l := &syslogListener{ln: ln, got: make(chan struct{}, 1000)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go l.serve(c)
		}
	}()
	return l
}

func (l *syslogListener) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
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
		l.mu.Lock()
		l.msgs = append(l.msgs, string(buf))
		l.mu.Unlock()
		l.got <- struct{}{}
	}
}

func (l *syslogListener) wait(t *testing.T, n int) []string {
	t.Helper()
	for range n {
		select {
		case <-l.got:
		case <-time.After(10 * time.Second):
			t.Fatalf("the collector got %d messages of %d", len(l.messages()), n)
		}
	}
	return l.messages()
}

func (l *syslogListener) messages() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.msgs...)
}

// rfc5424 is the message grammar of RFC 5424 §6 with our structured data.
var rfc5424 = regexp.MustCompile(`^<(\d{1,3})>1 (\S+) (\S+) obsandbox (\d+) (audit|security-event) \[(audit|security-event)@32473( [a-z_]+="(?:[^"\\\]]|\\.)*")*\] (\{.*\})$`)

// TestSyslogStream: audit entries the auditor writes, the entry a state
// change commits with, and security events reach a local syslog collector
// as RFC 5424 messages, over TCP and over TLS.
func TestSyslogStream(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"tcp", "tls"} {
		t.Run(mode, func(t *testing.T) {
			var serverTLS *tls.Config
			var roots *x509.CertPool
			if mode == "tls" {
				serverTLS, roots = selfSigned(t)
			}
			l := listen(t, serverTLS)
			sink, err := OpenSyslog(mode+"://"+l.ln.Addr().String(), roots)
			if err != nil {
				t.Fatal(err)
			}
			st := New([]Sink{sink}, 16, quiet)
			defer st.Close()
			s := openStore(t)
			s.OnCommit(st.Feed("job-1", s).Hook)
			ctx := context.Background()
			at := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
			if err := s.AppendAudit(ctx, []*store.AuditEntry{{At: at, InteractionID: "7d3c2f1e-0000-4000-8000-000000000001", IP: "127.0.0.1",
				ClientID: "c1", Method: "GET", Path: "/open-banking/v3.1/aisp/accounts", Status: 403, Decision: "refused", Rule: "bola.foreign"}}); err != nil {
				t.Fatal(err)
			}
			actor := store.WithActor(ctx, func() store.AuditEntry {
				return store.AuditEntry{At: at, ClientID: "c1", Method: "POST", Path: "/sandbox/clock", InteractionID: "7d3c2f1e-0000-4000-8000-000000000002"}
			})
			if err := s.SetSetting(actor, "clock_offset", "1h0m0s"); err != nil {
				t.Fatal(err)
			}
			if err := s.RaiseEvent(ctx, &store.SecurityEvent{At: at, ClientID: "c1", Rule: "bola_probe", Severity: "high", Summary: `3 "objects"`, Action: "alerted"}); err != nil {
				t.Fatal(err)
			}
			msgs := l.wait(t, 3)
			wantPRI := []int{13*8 + 4, 13*8 + 5, 13*8 + 2} // warning, notice, critical
			for i, m := range msgs {
				g := rfc5424.FindStringSubmatch(m)
				if g == nil {
					t.Fatalf("message %d is not RFC 5424: %q", i, m)
				}
				if pri, _ := strconv.Atoi(g[1]); pri != wantPRI[i] {
					t.Errorf("message %d: PRI %s, want %d", i, g[1], wantPRI[i])
				}
				if _, err := time.Parse(time.RFC3339Nano, g[2]); err != nil {
					t.Errorf("message %d: timestamp %s: %v", i, g[2], err)
				}
				var rec Record
				if err := json.Unmarshal([]byte(g[len(g)-1]), &rec); err != nil || rec.Tenant != "job-1" {
					t.Errorf("message %d: MSG %s: %v", i, g[len(g)-1], err)
				}
				if !strings.Contains(m, `tenant="job-1"`) {
					t.Errorf("message %d has no tenant: %s", i, m)
				}
			}
			for i, want := range []string{`rule="bola.foreign"`, `decision="committed"`, `summary`} {
				if !strings.Contains(msgs[i], want) {
					t.Errorf("message %d lacks %s: %s", i, want, msgs[i])
				}
			}
			if !strings.Contains(msgs[1], `interaction_id="7d3c2f1e-0000-4000-8000-000000000002"`) || !strings.Contains(msgs[2], `msgid`) && !strings.Contains(msgs[2], "security-event") {
				t.Errorf("the change's entry or the event: %s / %s", msgs[1], msgs[2])
			}
		})
	}
}

func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "collector"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

// blockingSink takes nothing until released, then records what it got.
type blockingSink struct {
	release chan struct{}
	mu      sync.Mutex
	got     []Record
}

func (b *blockingSink) Name() string { return "slow" }
func (b *blockingSink) Write(_ context.Context, batch []Record) error {
	<-b.release
	b.mu.Lock()
	b.got = append(b.got, batch...)
	b.mu.Unlock()
	return nil
}
func (b *blockingSink) Close() error { return nil }

// TestSlowSinkLosesNothing: with a SIEM that takes nothing, commits go on
// (the hook never waits), the records beyond the buffer are counted as
// dropped and raise a security event, and once the SIEM takes records
// again every entry reaches it exactly once — the dropped ones re-read
// from the audit trail.
func TestSlowSinkLosesNothing(t *testing.T) {
	t.Parallel()
	sink := &blockingSink{release: make(chan struct{})}
	st := New([]Sink{sink}, 4, quiet)
	defer st.Close()
	s := openStore(t)
	s.OnCommit(st.Feed("", s).Hook)
	ctx := context.Background()
	const n = 200
	for i := range n {
		if err := s.AppendAudit(ctx, []*store.AuditEntry{{At: time.Unix(int64(1790000000+i), 0), Method: "GET", Path: "/p", Status: 200,
			Decision: "allowed", Rule: "ok"}}); err != nil {
			t.Fatal(err)
		}
	}
	if st.Stats().Dropped == 0 {
		t.Fatal("nothing dropped with a buffer of 4 and a SIEM that takes nothing")
	}
	close(sink.release)
	fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := st.Flush(fctx); err != nil {
		t.Fatalf("flush: %v (%+v)", err, st.Stats())
	}
	seen := map[int64]int{}
	events := 0
	sink.mu.Lock()
	for _, r := range sink.got {
		if r.Audit != nil {
			seen[r.Audit.Seq]++
		} else if r.Event.Rule == EventBacklog {
			events++
		}
	}
	sink.mu.Unlock()
	for seq := int64(1); seq <= n; seq++ {
		if seen[seq] != 1 {
			t.Errorf("entry %d reached the SIEM %d times", seq, seen[seq])
		}
	}
	stats := st.Stats()
	if stats.Lost != 0 || stats.Backfilled == 0 {
		t.Errorf("stats %+v", stats)
	}
	evs, err := s.SecurityEvents(ctx, "")
	if err != nil || len(evs) == 0 || evs[0].Rule != EventBacklog {
		t.Errorf("security events %v, %v: want a %s", evs, err, EventBacklog)
	}
	if events == 0 {
		t.Error("the backlog event did not reach the SIEM")
	}
}

// BenchmarkCommitSlowSIEM measures a commit of one audit entry with no
// SIEM, with a SIEM that keeps up, and with one that takes nothing: the
// hook adds a channel send at most.
func BenchmarkCommitSlowSIEM(b *testing.B) {
	for _, mode := range []string{"none", "fast", "stalled"} {
		b.Run(mode, func(b *testing.B) {
			s := openStore(b)
			switch mode {
			case "fast":
				st := New([]Sink{NewJSONLines("discard", io.Discard)}, DefaultBuffer, quiet)
				defer st.Close()
				s.OnCommit(st.Feed("", s).Hook)
			case "stalled":
				sink := &blockingSink{release: make(chan struct{})}
				st := New([]Sink{sink}, DefaultBuffer, quiet)
				defer func() { close(sink.release); st.Close() }()
				s.OnCommit(st.Feed("", s).Hook)
			}
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s.AppendAudit(ctx, []*store.AuditEntry{{At: time.Unix(1790000000, 0), Method: "GET", Path: "/p", Status: 200, Decision: "allowed", Rule: "ok"}})
			}
		})
	}
}
