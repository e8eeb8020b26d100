package audit

import (
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/obsandbox/sandbox/internal/store"
)

// SignedHead is the audit trail's head as served and saved: both chains'
// last links and a JWT the bank signed over them (PS256), so that a head
// kept outside the database shows entries cut off the end later, and an
// edited head file shows too.
type SignedHead struct {
	store.Head
	At     time.Time `json:"at"`
	Signed string    `json:"signed"`
}

type headClaims struct {
	jwt.RegisteredClaims
	Count       int64  `json:"count"`
	Hash        string `json:"hash"`
	EventsCount int64  `json:"events_count"`
	EventsHash  string `json:"events_hash"`
}

// HeadTyp is the typ header of a signed head.
const HeadTyp = "audit-head+jwt"

// Signer signs claims with the bank's current key.
type Signer interface {
	Sign(claims jwt.Claims, typ string) (string, error)
}

// SignHead signs a head as the bank (iss) at now (real time, as every JWT
// the bank issues).
func SignHead(h store.Head, k Signer, iss string, now time.Time) (SignedHead, error) {
	c := headClaims{RegisteredClaims: jwt.RegisteredClaims{Issuer: iss, IssuedAt: jwt.NewNumericDate(now)},
		Count: h.Count, Hash: h.Hash, EventsCount: h.Events.Count, EventsHash: h.Events.Hash}
	signed, err := k.Sign(c, HeadTyp)
	return SignedHead{Head: h, At: now.UTC(), Signed: signed}, err
}

// Verify checks the head's signature with the bank's public keys and that
// it signs exactly the head's fields.
func (h SignedHead) Verify(public func(kid string) (*rsa.PublicKey, bool)) error {
	var c headClaims
	_, err := jwt.ParseWithClaims(h.Signed, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if pub, ok := public(kid); ok {
			return pub, nil
		}
		return nil, fmt.Errorf("the bank has no key %q", kid)
	}, jwt.WithValidMethods([]string{"PS256"}), jwt.WithoutClaimsValidation())
	if err != nil {
		return fmt.Errorf("the head's signature does not verify: %w", err)
	}
	if c.Count != h.Count || c.Hash != h.Hash || c.EventsCount != h.Events.Count || c.EventsHash != h.Events.Hash {
		return errors.New("the head's fields differ from what the bank signed (edited)")
	}
	return nil
}

// ReadHead reads a head saved with WriteHead (or from GET /sandbox/audit/head).
func ReadHead(path string) (SignedHead, error) {
	var h SignedHead
	raw, err := os.ReadFile(path)
	if err != nil {
		return h, err
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return h, fmt.Errorf("%s: not an audit head: %w", path, err)
	}
	return h, nil
}

// WriteHead saves a head to path, replacing it whole (a reader never sees
// half a file).
func WriteHead(path string, h SignedHead) error {
	raw, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".audit-head-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(append(raw, '\n'))
	if err = errors.Join(err, tmp.Sync(), tmp.Close()); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
