package siem

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// JSONLines writes each record as one JSON object per line (a file a log
// shipper tails, or standard output in a container).
type JSONLines struct {
	name string
	w    io.Writer
	c    io.Closer // nil for standard output
}

// OpenJSONLines appends to the file at path, or writes to standard output
// for "-".
func OpenJSONLines(path string) (*JSONLines, error) {
	if path == "-" {
		return &JSONLines{name: "stdout", w: os.Stdout}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("--siem-file: %w", err)
	}
	return &JSONLines{name: "file:" + path, w: f, c: f}, nil
}

// NewJSONLines writes to w (tests).
func NewJSONLines(name string, w io.Writer) *JSONLines { return &JSONLines{name: name, w: w} }

func (j *JSONLines) Name() string { return j.name }

func (j *JSONLines) Write(_ context.Context, batch []Record) error {
	var b []byte
	for _, r := range batch {
		b = append(append(b, r.JSON()...), '\n')
	}
	_, err := j.w.Write(b)
	return err
}

func (j *JSONLines) Close() error {
	if j.c == nil {
		return nil
	}
	return j.c.Close()
}

// Syslog sends RFC 5424 messages to a collector over TCP, framed by octet
// counting (RFC 6587 §3.4.1), or over TLS (RFC 5425, which frames the same
// way). A broken connection is dialled again at the next batch.
type Syslog struct {
	addr     string
	tls      *tls.Config // nil: plain TCP
	hostname string
	app      string
	dial     time.Duration

	mu   sync.Mutex
	conn net.Conn
	bw   *bufio.Writer
	live atomic.Pointer[net.Conn] // conn, for Interrupt (which must not wait for mu)
}

// Interrupt closes the connection under a write that is stuck.
func (s *Syslog) Interrupt() {
	if c := s.live.Load(); c != nil {
		(*c).Close()
	}
}

// OpenSyslog reads "tcp://host:port" or "tls://host:port"; roots are the
// CAs a TLS collector's certificate must chain to (nil: the system's).
func OpenSyslog(target string, roots *x509.CertPool) (*Syslog, error) {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" || (u.Scheme != "tcp" && u.Scheme != "tls") {
		return nil, fmt.Errorf("--siem-syslog %q: want tcp://HOST:PORT or tls://HOST:PORT", target)
	}
	host, _ := os.Hostname()
	s := &Syslog{addr: u.Host, hostname: cmpOr(host, "-"), app: "obsandbox", dial: 5 * time.Second}
	if u.Scheme == "tls" {
		s.tls = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: u.Hostname(), RootCAs: roots}
	}
	return s, nil
}

func (s *Syslog) Name() string {
	if s.tls != nil {
		return "syslog+tls:" + s.addr
	}
	return "syslog:" + s.addr
}

func (s *Syslog) Write(ctx context.Context, batch []Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		d := &net.Dialer{Timeout: s.dial}
		var err error
		if s.tls != nil {
			s.conn, err = (&tls.Dialer{NetDialer: d, Config: s.tls}).DialContext(ctx, "tcp", s.addr)
		} else {
			s.conn, err = d.DialContext(ctx, "tcp", s.addr)
		}
		if err != nil {
			s.conn = nil
			return err
		}
		s.bw = bufio.NewWriter(s.conn)
		c := s.conn
		s.live.Store(&c)
	}
	s.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	for _, r := range batch {
		msg := s.Format(r)
		s.bw.WriteString(strconv.Itoa(len(msg)))
		s.bw.WriteByte(' ')
		s.bw.WriteString(msg)
	}
	if err := s.bw.Flush(); err != nil {
		s.conn.Close()
		s.conn = nil
		return err
	}
	return nil
}

func (s *Syslog) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}

// enterprise is the SD-ID's enterprise number: 32473 is the one RFC 5612
// reserves for documentation and examples, as a sandbox should use.
const enterprise = "32473"

// facility 13 is "log audit" (RFC 5424 §6.2.1, table 1).
const facility = 13

// Format renders one record as an RFC 5424 message (without framing):
// <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG, the record's
// JSON as MSG, its main fields as structured data.
func (s *Syslog) Format(r Record) string {
	sev, msgid := 6, "audit" // informational
	var sd []string
	if r.Audit != nil {
		e := r.Audit
		switch e.Decision {
		case "refused":
			sev = 4 // warning
		case "committed":
			sev = 5 // notice
		}
		sd = []string{"seq", strconv.FormatInt(e.Seq, 10), "decision", e.Decision, "rule", e.Rule, "status", strconv.Itoa(e.Status),
			"method", e.Method, "path", e.Path, "client_id", e.ClientID, "psu", e.PSU, "consent_id", e.ConsentID, "interaction_id", e.InteractionID, "ip", e.IP}
	} else {
		e := r.Event
		msgid = "security-event"
		switch e.Severity {
		case "high":
			sev = 2 // critical
		case "medium":
			sev = 4
		default:
			sev = 5
		}
		sd = []string{"id", strconv.FormatInt(e.ID, 10), "rule", e.Rule, "severity", e.Severity, "action", e.Action, "client_id", e.ClientID}
	}
	if r.Tenant != "" {
		sd = append(sd, "tenant", r.Tenant)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "<%d>1 %s %s %s %d %s [%s@%s", facility*8+sev, r.At().UTC().Format("2006-01-02T15:04:05.000000Z"),
		s.hostname, s.app, os.Getpid(), msgid, msgid, enterprise)
	for i := 0; i+1 < len(sd); i += 2 {
		if sd[i+1] == "" {
			continue
		}
		fmt.Fprintf(&b, ` %s="%s"`, sd[i], sdEscape(sd[i+1]))
	}
	b.WriteString("] ")
	b.Write(r.JSON())
	return b.String()
}

// sdEscape escapes a PARAM-VALUE (RFC 5424 §6.3.3): '"', '\' and ']'.
func sdEscape(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`).Replace(v)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
