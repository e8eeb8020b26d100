package egress

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRefused: what each policy refuses to call, IPv4 and IPv6 alike,
// IPv4-mapped and NAT64 addresses judged as the IPv4 address they carry.
func TestRefused(t *testing.T) {
	t.Parallel()
	always := []string{"169.254.169.254", "fe80::1", "0.0.0.0", "::", "224.0.0.1", "ff02::1", "255.255.255.255",
		"fd00:ec2::254", "100.100.100.200", "::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe"}
	private := []string{"127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1", "::127.0.0.1", "0.1.2.3", "10.1.2.3", "172.16.0.1",
		"192.168.0.10", "::ffff:192.168.0.10", "100.64.0.1", "fd12:3456::1", "fec0::1", "64:ff9b::7f00:1", "64:ff9b:1::a01:203"}
	public := []string{"8.8.8.8", "2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808", "172.32.0.1"}
	strict, lax := Policy{}, Policy{AllowPrivate: true}
	for _, s := range always {
		ip := netip.MustParseAddr(s)
		if strict.Refused(ip) == nil || lax.Refused(ip) == nil {
			t.Errorf("%s: not refused by both policies", s)
		}
	}
	for _, s := range private {
		ip := netip.MustParseAddr(s)
		if strict.Refused(ip) == nil {
			t.Errorf("%s: not refused without AllowPrivate", s)
		}
		if err := lax.Refused(ip); err != nil {
			t.Errorf("%s: refused with AllowPrivate: %v", s, err)
		}
	}
	for _, s := range public {
		ip := netip.MustParseAddr(s)
		if err := strict.Refused(ip); err != nil {
			t.Errorf("%s: refused: %v", s, err)
		}
	}
}

// TestClientChecksTheDialledAddress: the check is on the address dialled
// after DNS resolution (localhost is 127.0.0.1 or ::1), not on the URL's
// host; nothing reaches a refused server; redirects are not followed.
func TestClientChecksTheDialledAddress(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data", http.StatusFound)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	byName := "http://localhost:" + port + "/"
	get := func(c *http.Client, u string) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, u, nil)
		return c.Do(req)
	}
	if resp, err := get(NewClient(Policy{}, nil, 2*time.Second), byName); err == nil {
		resp.Body.Close()
		t.Error("the strict client called localhost")
	} else if !strings.Contains(err.Error(), "does not call") {
		t.Errorf("error %v, want the dialer's refusal", err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the refused server got %d requests", n)
	}
	lax := NewClient(Policy{AllowPrivate: true}, nil, 2*time.Second)
	resp, err := get(lax, srv.URL)
	if err != nil {
		t.Fatalf("calling a loopback server with AllowPrivate: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Errorf("status %d: the redirect was followed", resp.StatusCode)
	}
	if resp, err := get(lax, "http://169.254.169.254/"); err == nil {
		resp.Body.Close()
		t.Error("the client called 169.254.169.254")
	} else if !strings.Contains(err.Error(), "does not call") {
		t.Errorf("error %v, want the dialer's refusal", err)
	}
}
