package oauth

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/obsandbox/sandbox/internal/store"
)

// Keys holds the bank's signing keys: the current one signs, every key not
// yet dropped verifies. Parsed keys are cached; Reload picks up rotations.
type Keys struct {
	mu      sync.RWMutex
	current *signingKey
	byKID   map[string]*signingKey
}

type signingKey struct {
	kid  string
	priv *rsa.PrivateKey
}

// KeyBits is the size of the bank's RSA keys (FAPI: at least 2048).
const KeyBits = 2048

// LoadKeys reads the bank's keys from the store, creating the first one if
// there is none.
func LoadKeys(ctx context.Context, s *store.Store, now time.Time) (*Keys, error) {
	return LoadKeysBits(ctx, s, now, KeyBits)
}

// KeyRetention is how long a rotated-out key keeps verifying: longer than
// any token it signed lives.
const KeyRetention = 24 * time.Hour

// LoadKeysBits is LoadKeys with another key size for a new key (tests use a
// small one to start fast; never below 1024).
func LoadKeysBits(ctx context.Context, s *store.Store, now time.Time, bits int) (*Keys, error) {
	k := &Keys{}
	if err := s.DropSigningKeys(ctx, now.Add(-KeyRetention)); err != nil {
		return nil, err
	}
	if err := k.Reload(ctx, s); err != nil {
		return nil, err
	}
	if k.current == nil {
		if err := rotate(ctx, s, now, max(bits, 1024)); err != nil {
			return nil, err
		}
		if err := k.Reload(ctx, s); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// RotateKeys creates a new current key; the old one is kept for
// verification until DropSigningKeys removes it.
func RotateKeys(ctx context.Context, s *store.Store, now time.Time) error {
	return rotate(ctx, s, now, KeyBits)
}

func rotate(ctx context.Context, s *store.Store, now time.Time, bits int) error {
	priv, err := generateKey(bits)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	return s.AddSigningKey(ctx, store.SigningKey{KID: thumbprint(&priv.PublicKey), Alg: "PS256", PrivateDER: der, CreatedAt: now}, now)
}

// spareKeys holds a few 2048-bit keys made ahead, off any request's path:
// a new bank (a tenant, a first start) takes one instead of waiting the
// 0.1–0.5 s of CPU an RSA key takes to make. Started by the first key made.
var spareKeys = struct {
	once sync.Once
	ch   chan *rsa.PrivateKey
}{ch: make(chan *rsa.PrivateKey, 4)}

// generateKey is a new RSA key of bits: a spare one when there is one (and
// another made in its place), else made now.
func generateKey(bits int) (*rsa.PrivateKey, error) {
	if bits != KeyBits {
		return rsa.GenerateKey(rand.Reader, bits)
	}
	spareKeys.once.Do(func() {
		go func() {
			for {
				k, err := rsa.GenerateKey(rand.Reader, KeyBits)
				if err != nil {
					return
				}
				spareKeys.ch <- k // waits while the spares are full
			}
		}()
	})
	select {
	case k := <-spareKeys.ch:
		return k, nil
	default:
		return rsa.GenerateKey(rand.Reader, bits)
	}
}

// thumbprint is the RFC 7638 JWK thumbprint, used as the kid.
func thumbprint(pub *rsa.PublicKey) string {
	tp, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		sum := sha256.Sum256(x509.MarshalPKCS1PublicKey(pub))
		tp = sum[:]
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

// Reload re-reads the keys from the store.
func (k *Keys) Reload(ctx context.Context, s *store.Store) error {
	recs, err := s.SigningKeys(ctx)
	if err != nil {
		return err
	}
	byKID := map[string]*signingKey{}
	var current *signingKey
	for _, r := range recs {
		p, err := x509.ParsePKCS8PrivateKey(r.PrivateDER)
		if err != nil {
			return fmt.Errorf("signing key %s: %w", r.KID, err)
		}
		priv, ok := p.(*rsa.PrivateKey)
		if !ok {
			return fmt.Errorf("signing key %s: not RSA", r.KID)
		}
		sk := &signingKey{kid: r.KID, priv: priv}
		byKID[r.KID] = sk
		if r.RetiredAt.IsZero() && current == nil {
			current = sk
		}
	}
	k.mu.Lock()
	k.current, k.byKID = current, byKID
	k.mu.Unlock()
	return nil
}

// KID is the id of the current signing key.
func (k *Keys) KID() string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.current.kid
}

// Sign signs claims with the current key (PS256) and the given typ header.
func (k *Keys) Sign(claims jwt.Claims, typ string) (string, error) {
	k.mu.RLock()
	cur := k.current
	k.mu.RUnlock()
	t := jwt.NewWithClaims(jwt.SigningMethodPS256, claims)
	t.Header["kid"] = cur.kid
	if typ != "" {
		t.Header["typ"] = typ
	}
	return t.SignedString(cur.priv)
}

// Signer returns the current key for detached signatures (x-jws-signature).
func (k *Keys) Signer() (kid string, key *rsa.PrivateKey) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.current.kid, k.current.priv
}

// Public returns the public key with the given kid.
func (k *Keys) Public(kid string) (*rsa.PublicKey, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	sk, ok := k.byKID[kid]
	if !ok {
		return nil, false
	}
	return &sk.priv.PublicKey, true
}

// JWKS is the public key set served on jwks_uri: public parts only.
func (k *Keys) JWKS() jose.JSONWebKeySet {
	k.mu.RLock()
	defer k.mu.RUnlock()
	var set jose.JSONWebKeySet
	add := func(sk *signingKey) {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &sk.priv.PublicKey, KeyID: sk.kid, Algorithm: "PS256", Use: "sig"})
	}
	add(k.current)
	kids := make([]string, 0, len(k.byKID))
	for kid := range k.byKID {
		if kid != k.current.kid {
			kids = append(kids, kid)
		}
	}
	sort.Strings(kids)
	for _, kid := range kids {
		add(k.byKID[kid])
	}
	return set
}

// keyfunc resolves a bank-signed JWT's kid for jwt.Parse.
func (k *Keys) keyfunc(t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	pub, ok := k.Public(kid)
	if !ok {
		return nil, fmt.Errorf("unknown kid %q", kid)
	}
	return pub, nil
}

// RetireCompromised makes a new current key and drops kid at once — no
// grace period: every token, ID token and signature it made stops verifying
// (tokens the resource server had already checked included).
func (s *Server) RetireCompromised(ctx context.Context, kid string) (newKID string, err error) {
	if err := RotateKeys(ctx, s.Store, s.Clock.Now()); err != nil {
		return "", err
	}
	if err := s.Store.DropSigningKey(ctx, kid); err != nil {
		return "", err
	}
	if err := s.KeysChanged(ctx); err != nil {
		return "", err
	}
	return s.Keys.KID(), nil
}

// SettingSigningKeys is the setting a change of the bank's signing keys
// writes: processes sharing the database (replicas on PostgreSQL) reload
// theirs when it changes.
const SettingSigningKeys = "signing_keys"

// KeysChanged is what follows a change of the stored signing keys: this
// process signs and verifies with the stored ones, and the others sharing
// the database are told to.
func (s *Server) KeysChanged(ctx context.Context) error {
	if err := s.ReloadKeys(ctx); err != nil {
		return err
	}
	return s.Store.SetSetting(ctx, SettingSigningKeys, s.Keys.KID()+" "+strconv.FormatInt(s.Clock.Wall().UnixNano(), 10))
}

// ReloadKeys re-reads the signing keys and forgets the tokens it verified
// (one signed by a key now dropped must not pass on memory).
func (s *Server) ReloadKeys(ctx context.Context) error {
	if err := s.Keys.Reload(ctx, s.Store); err != nil {
		return err
	}
	s.verified.reset()
	return nil
}
