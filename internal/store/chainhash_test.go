package store

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"
)

// TestChainHashSameAsFmt: an entry's link is the fmt text it is defined
// as, MACed; one linker reused over entries of different lengths (its HMAC
// reset, its buffer reused) gives each the same as a fresh one.
func TestChainHashSameAsFmt(t *testing.T) {
	t.Parallel()
	l := (&Store{auditKey: []byte("key")}).linker()
	for _, e := range []AuditEntry{
		{Seq: 1, At: time.UnixMilli(1795000000123), InteractionID: "abc", IP: "127.0.0.1", ClientID: "c\"1", PSU: "alice", ConsentID: "aac-1", Method: "GET", Path: "/x\n", Status: 200, Decision: "allowed", Rule: "ok", Detail: "é \x00 \u2028 tab\t"},
		{Seq: 99999, At: time.UnixMilli(0), Status: 403, Detail: string([]byte{0xff, 0xfe})},
		{Seq: 7, ClientID: `a\b`, PSU: "~ !", ConsentID: "\x7f", Method: "\x1f", Path: "/open-banking/v3.1/aisp/accounts?x=1&y=%20"},
	} {
		h := hmac.New(sha256.New, []byte("key"))
		fmt.Fprintf(h, "%s|%d|%d|%q|%q|%q|%q|%q|%q|%q|%d|%q|%q|%q", "prev", e.Seq, e.At.UnixMilli(), e.InteractionID, e.IP, e.ClientID, e.PSU,
			e.ConsentID, e.Method, e.Path, e.Status, e.Decision, e.Rule, e.Detail)
		want := hex.EncodeToString(h.Sum(nil))
		if got := (&Store{auditKey: []byte("key")}).mac(entryBytes(nil, "prev", &e)); got != want {
			t.Errorf("got %s, want %s", got, want)
		}
		if got := l.entry("prev", &e); got != want {
			t.Errorf("reused linker: got %s, want %s", got, want)
		}
	}
}
