package gateway

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults for failed client authentications: per client id, 20 failures
// then one every 5 s; per source address, 60 then one a second.
var (
	DefaultClientAuthFailures   = Rate{Per: 0.2, Burst: 20}
	DefaultClientAuthFailuresIP = Rate{Per: 1, Burst: 60}
)

// TrustFor is how long a client id that authenticated successfully from an
// address stays known good there.
const TrustFor = 24 * time.Hour

// maxEntries bounds each map; past it, entries that carry nothing (a full
// bucket, an expired trust) are swept out.
const maxEntries = 10000

// AuthFailures limits failed client authentications — at the token, PAR,
// revocation and introspection endpoints — so that secrets cannot be
// guessed at speed and strangers cannot make the bank verify signatures
// without end. Each failure takes a token from three buckets: the client
// id's, the source address's, and the pair's (that client id from that
// address); an authentication is tried only while its buckets hold a token.
//
// A legitimate client should not pay for someone else's failures. So once a
// client id has authenticated from an address, the pair is known good (for
// TrustFor): from there, only the pair's own bucket applies. Failures
// against the client from other addresses (a distributed guess, or an
// attempt to lock the client out) and failures for other client ids from
// the same address (a shared NAT) then do not block it; only failures of
// that client id from that very address do — which cannot be told apart
// from the client's own.
//
// Only registered client ids get buckets (the caller says which ids are
// known), so unknown ids cannot grow the maps; IPv6 sources are counted
// per /64, the block one host usually holds.
type AuthFailures struct {
	now              func() time.Time
	perClient, perIP Rate

	mu      sync.Mutex
	clients map[string]*rate.Limiter // client id
	pairs   map[string]*rate.Limiter // client id + source
	ips     map[string]*rate.Limiter // source
	trusted map[string]time.Time     // client id + source -> until
}

// NewAuthFailures makes the limiter; a zero Rate turns its dimension off
// (both off: no limit). now is the sandbox clock.
func NewAuthFailures(perClient, perIP Rate, now func() time.Time) *AuthFailures {
	a := &AuthFailures{now: now, perClient: perClient, perIP: perIP}
	a.Reset()
	return a
}

// source is how an address is counted: IPv4 as is, IPv6 per /64.
func source(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.Unmap()
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

// Check says whether a client authentication claiming clientID ("" when
// none could be read) from ip may be tried now; refused, with RetryAfter.
// It changes nothing.
func (a *AuthFailures) Check(clientID, ip string) Verdict {
	now, src := a.now(), source(ip)
	a.mu.Lock()
	defer a.mu.Unlock()
	v := Verdict{Allowed: true}
	refuse := func(b *rate.Limiter, r Rate) {
		if b == nil || r.Per == 0 {
			return
		}
		if tokens := b.TokensAt(now); tokens < 1 {
			v.Allowed, v.Limit = false, r.Burst
			v.RetryAfter = max(v.RetryAfter, time.Duration((1-tokens)/r.Per*float64(time.Second)))
		}
	}
	if clientID != "" {
		key := clientID + "\x00" + src
		refuse(a.pairs[key], a.perClient)
		if until, ok := a.trusted[key]; ok && now.Before(until) {
			return v
		}
		refuse(a.clients[clientID], a.perClient)
	}
	refuse(a.ips[src], a.perIP)
	return v
}

// Failed counts a failed authentication from ip; clientID is the
// registered client it claimed to be, or "" (none, or an unknown id).
func (a *AuthFailures) Failed(clientID, ip string) {
	now, src := a.now(), source(ip)
	a.mu.Lock()
	defer a.mu.Unlock()
	take := func(m map[string]*rate.Limiter, key string, r Rate) {
		if r.Per == 0 {
			return
		}
		b := m[key]
		if b == nil {
			if len(m) >= maxEntries {
				a.sweep(now)
			}
			b = rate.NewLimiter(rate.Limit(r.Per), r.Burst)
			m[key] = b
		}
		b.AllowN(now, 1)
	}
	if clientID != "" {
		take(a.pairs, clientID+"\x00"+src, a.perClient)
		take(a.clients, clientID, a.perClient)
	}
	take(a.ips, src, a.perIP)
}

// Succeeded records that clientID authenticated from ip: the pair is known
// good for TrustFor.
func (a *AuthFailures) Succeeded(clientID, ip string) {
	if clientID == "" {
		return
	}
	now, key := a.now(), clientID+"\x00"+source(ip)
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.trusted[key]; !ok && len(a.trusted) >= maxEntries {
		a.sweep(now)
	}
	a.trusted[key] = now.Add(TrustFor)
}

// sweep drops what carries nothing: full buckets, expired trust. Called
// with mu held.
func (a *AuthFailures) sweep(now time.Time) {
	for _, m := range []map[string]*rate.Limiter{a.clients, a.pairs, a.ips} {
		for k, b := range m {
			if b.TokensAt(now) >= float64(b.Burst()) {
				delete(m, k)
			}
		}
	}
	for k, until := range a.trusted {
		if !now.Before(until) {
			delete(a.trusted, k)
		}
	}
}

// Reset forgets every failure and every known-good pair (POST /sandbox/reset).
func (a *AuthFailures) Reset() {
	a.mu.Lock()
	a.clients, a.pairs, a.ips, a.trusted = map[string]*rate.Limiter{}, map[string]*rate.Limiter{}, map[string]*rate.Limiter{}, map[string]time.Time{}
	a.mu.Unlock()
}
