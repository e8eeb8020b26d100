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

var fetchClient = &http.Client{Timeout: 5 * time.Second}

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
	resp, err := fetchClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jwks_uri: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks_uri: %s", resp.Status)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<10)).Decode(&set); err != nil {
		return nil, fmt.Errorf("jwks_uri: %w", err)
	}
	c.mu.Lock()
	c.entries[uri] = jwksEntry{set: &set, fetched: time.Now()}
	c.mu.Unlock()
	return &set, nil
}
