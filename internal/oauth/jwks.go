package oauth

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/obsandbox/sandbox/internal/egress"
)

const hashSHA256 = crypto.SHA256

// Fetching a client's jwks_uri. The address is one a registrant names, so
// the bank fetches with care (blind SSRF): only over https, never from
// loopback, private, link-local or unspecified addresses unless the sandbox
// runs with --allow-private-jwks (the check is on the address dialled, after
// DNS resolution: see egress), with short timeouts, a size cap, no
// redirects, and failures remembered for a while so that a dead or slow
// address is not tried again on every request.
const (
	JWKSFetchTimeout = 2 * time.Second
	MaxJWKSSize      = 64 << 10
	JWKSCacheFor     = 5 * time.Minute // a fetched key set (FAPI: jwks by URL is allowed; a TPP rotating keys sees them within this)
	JWKSFailureFor   = time.Minute     // a failed fetch
)

// jwksCache keeps fetched key sets and failures, on the sandbox clock.
type jwksCache struct {
	client  *http.Client
	mu      sync.Mutex
	entries map[string]jwksEntry
}

type jwksEntry struct {
	set   *jose.JSONWebKeySet // nil: the fetch failed
	until time.Time
}

var errJWKSURI = fmt.Errorf("the client's jwks_uri did not give a valid key set")

// checkJWKSURI is the registration's check of a jwks_uri: an https URL
// whose host, when it is an IP address or localhost, the fetch policy
// allows. (A host name is checked again, as what it resolves to, at every
// fetch.)
func (s *Server) checkJWKSURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return errMetadata("jwks_uri must be an https URL")
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if ip, err := netip.ParseAddr(host); err == nil {
		if err := s.JWKSPolicy.Refused(ip); err != nil {
			return errMetadata("jwks_uri: the bank does not fetch from %v (the sandbox's --allow-private-jwks allows loopback and private addresses)", err)
		}
	} else if (host == "localhost" || strings.HasSuffix(host, ".localhost")) && !s.JWKSPolicy.AllowPrivate {
		return errMetadata("jwks_uri: the bank does not fetch from localhost (the sandbox's --allow-private-jwks allows it)")
	}
	return nil
}

func (s *Server) fetchJWKS(ctx context.Context, uri string) (*jose.JSONWebKeySet, error) {
	s.jwksMu.Lock()
	if s.jwks == nil {
		s.jwks = &jwksCache{client: egress.NewClient(s.JWKSPolicy, func() *x509.CertPool { return s.JWKSRoots }, JWKSFetchTimeout), entries: map[string]jwksEntry{}}
	}
	c := s.jwks
	s.jwksMu.Unlock()
	now := s.Clock.Now()
	c.mu.Lock()
	e, ok := c.entries[uri]
	c.mu.Unlock()
	if ok && now.Before(e.until) {
		if e.set == nil {
			return nil, errJWKSURI
		}
		return e.set, nil
	}
	// Not cut short by the request that asked: a failure is remembered.
	set, err := c.fetch(context.WithoutCancel(ctx), uri)
	e = jwksEntry{set: set, until: now.Add(JWKSCacheFor)}
	if err != nil {
		s.Log.WarnContext(ctx, "jwks_uri fetch failed; not tried again for a while", "uri", uri, "error", err, "for", JWKSFailureFor)
		e = jwksEntry{until: now.Add(JWKSFailureFor)}
	}
	c.mu.Lock()
	c.entries[uri] = e
	c.mu.Unlock()
	if err != nil {
		return nil, errJWKSURI
	}
	return set, nil
}

// fetch gets and checks one key set.
func (c *jwksCache) fetch(ctx context.Context, uri string) (*jose.JSONWebKeySet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	if resp.ContentLength > MaxJWKSSize {
		return nil, fmt.Errorf("the key set is %d bytes, more than %d", resp.ContentLength, MaxJWKSSize)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSSize+1))
	if err != nil {
		return nil, err
	}
	if len(body) > MaxJWKSSize {
		return nil, fmt.Errorf("the key set is more than %d bytes", MaxJWKSSize)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, err
	}
	if err := checkClientKeys(&set); err != nil {
		var oe *Error
		if errors.As(err, &oe) {
			return nil, errors.New(oe.Description)
		}
		return nil, err
	}
	return &set, nil
}
