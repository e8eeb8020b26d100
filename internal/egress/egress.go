// Package egress is the bank's way out to addresses a TPP names — event
// notification callbacks, a client's jwks_uri. Its HTTP client uses no
// proxy, follows no redirect, gives up quickly and checks the address it
// actually dials, after DNS resolution, against a Policy: a host name cannot
// point the bank at a cloud metadata service, nor — where the policy says
// so — at the machine itself or its private networks (blind SSRF).
package egress

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"syscall"
	"time"
)

// Policy says which addresses the bank may call.
type Policy struct {
	// AllowPrivate allows loopback, private (RFC 1918, RFC 4193), shared
	// (RFC 6598) and "this network" addresses: a TPP under test often runs
	// beside the sandbox.
	AllowPrivate bool
}

// metadata are cloud metadata services outside the link-local range.
var metadata = []netip.Addr{netip.MustParseAddr("fd00:ec2::254"), netip.MustParseAddr("100.100.100.200")}

var (
	shared     = netip.MustParsePrefix("100.64.0.0/10")  // RFC 6598, carrier-grade NAT
	thisNet    = netip.MustParsePrefix("0.0.0.0/8")      // RFC 1122 "this network": 0.x reaches the host itself
	siteLocal  = netip.MustParsePrefix("fec0::/10")      // deprecated site-local (RFC 3879)
	v4Compat   = netip.MustParsePrefix("::/96")          // deprecated IPv4-compatible, with :: and ::1
	nat64      = netip.MustParsePrefix("64:ff9b::/96")   // RFC 6052: an IPv4 address behind a NAT64
	nat64Local = netip.MustParsePrefix("64:ff9b:1::/48") // RFC 8215
	broadcast  = netip.MustParseAddr("255.255.255.255")
)

// Refused says why the policy refuses to call ip, or returns nil. Always
// refused: unspecified, broadcast, link-local (169.254.0.0/16 holds the
// cloud metadata services), multicast and the known metadata addresses
// elsewhere; unless AllowPrivate, also loopback, private, shared and
// deprecated local ranges, and IPv4 addresses reached through IPv4-mapped
// IPv6 or NAT64 are judged as what they are.
func (p Policy) Refused(ip netip.Addr) error {
	ip = ip.Unmap()
	if ip.Is6() && (nat64.Contains(ip) || nat64Local.Contains(ip)) {
		b := ip.As16()
		if err := p.Refused(netip.AddrFrom4([4]byte(b[12:]))); err != nil {
			return err
		}
	}
	switch {
	case !ip.IsValid():
		return fmt.Errorf("not an IP address")
	case ip.IsUnspecified() || ip == broadcast:
		return fmt.Errorf("%s is an unspecified or broadcast address", ip)
	case ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast():
		return fmt.Errorf("%s is a link-local or multicast address", ip)
	}
	for _, m := range metadata {
		if ip == m {
			return fmt.Errorf("%s is a cloud metadata service", ip)
		}
	}
	if p.AllowPrivate {
		return nil
	}
	switch {
	case ip.IsLoopback() || thisNet.Contains(ip) || v4Compat.Contains(ip):
		return fmt.Errorf("%s is this machine (loopback)", ip)
	case ip.IsPrivate() || shared.Contains(ip) || siteLocal.Contains(ip):
		return fmt.Errorf("%s is a private address", ip)
	}
	return nil
}

// control is the dialer's check of the address it is about to connect to.
func (p Policy) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("the bank does not call %s: %w", address, err)
	}
	if err := p.Refused(ap.Addr()); err != nil {
		return fmt.Errorf("the bank does not call %s: %w", address, err)
	}
	return nil
}

// NewClient is an HTTP client under the policy: no proxy (the address
// checked is the one dialled), no redirects followed, timeout for the whole
// exchange, and roots (nil: the system's) to verify servers with.
func NewClient(p Policy, roots func() *x509.CertPool, timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: timeout, Control: p.control}
	return &http.Client{
		Timeout: timeout,
		Transport: lazyTransport(sync.OnceValue(func() *http.Transport {
			var pool *x509.CertPool // nil: the system's
			if roots != nil {
				pool = roots()
			}
			return &http.Transport{
				Proxy:                 nil,
				DialContext:           d.DialContext,
				TLSClientConfig:       &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
				TLSHandshakeTimeout:   timeout,
				ResponseHeaderTimeout: timeout,
				MaxIdleConnsPerHost:   2,
				IdleConnTimeout:       30 * time.Second,
			}
		})),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// lazyTransport is a transport made by its first request: loading the
// system's roots takes tens of milliseconds that a start need not wait for.
type lazyTransport func() *http.Transport

func (t lazyTransport) RoundTrip(r *http.Request) (*http.Response, error) { return t().RoundTrip(r) }

func (t lazyTransport) CloseIdleConnections() { t().CloseIdleConnections() }

// SystemRootsAnd is the system's roots and the certificates of extraPEM
// (the development CA), loaded when first asked for.
func SystemRootsAnd(extraPEM []byte) func() *x509.CertPool {
	return sync.OnceValue(func() *x509.CertPool {
		roots, err := x509.SystemCertPool()
		if err != nil {
			roots = x509.NewCertPool()
		}
		roots.AppendCertsFromPEM(extraPEM)
		return roots
	})
}
