package oauth

import (
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

const hashSHA256 = crypto.SHA256

// jwksCache keeps fetched client key sets for a few minutes (FAPI: JWKS by
// URL is discouraged but allowed; a TPP rotating keys sees them within the
// cache's lifetime).
type jwksCache struct {
	mu      sync.Mutex
	entries map[string]jwksEntry
}

type jwksEntry struct {
	set     *jose.JSONWebKeySet
	fetched time.Time
}

// fetchClient does not follow redirects: a jwks_uri must serve the keys.
var fetchClient = &http.Client{Timeout: 5 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

var errJWKSURI = fmt.Errorf("the client's jwks_uri did not give a valid key set")

func (s *Server) fetchJWKS(ctx context.Context, uri string) (*jose.JSONWebKeySet, error) {
	s.jwksMu.Lock()
	if s.jwks == nil {
		s.jwks = &jwksCache{entries: map[string]jwksEntry{}}
	}
	c := s.jwks
	s.jwksMu.Unlock()
	c.mu.Lock()
	e, ok := c.entries[uri]
	c.mu.Unlock()
	if ok && time.Since(e.fetched) < 5*time.Minute {
		return e.set, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, err
	}
	hc := fetchClient
	if s.HTTPClient != nil {
		hc = s.HTTPClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		s.Log.WarnContext(ctx, "jwks_uri fetch failed", "uri", uri, "error", err)
		return nil, errJWKSURI
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 256<<10)).Decode(&set) != nil || checkClientKeys(&set) != nil {
		return nil, errJWKSURI
	}
	c.mu.Lock()
	c.entries[uri] = jwksEntry{set: &set, fetched: time.Now()}
	c.mu.Unlock()
	return &set, nil
}
