// Package keyring holds the sandbox's master key: 32 random bytes kept in a
// file beside the database (created 0600 on first start), never in the
// database itself. Purpose-bound keys are derived from it with HKDF-SHA256
// (RFC 5869), so one file serves every use: the audit trail's keyed chain,
// and the wrapping of the data keys that seal secrets at rest (Wrapper).
// Someone who can write the database but not read the key file can neither
// forge what the keys protect nor read what they seal.
package keyring

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Size is the master key's length in bytes.
const Size = 32

// Keyring is a master key and where it came from.
type Keyring struct {
	master []byte
	Path   string // "" for a key that lives only in memory
}

// ErrMissing is a key file that does not exist where one was required.
var ErrMissing = errors.New("keyring: the key file does not exist")

// New makes a key that lives only in memory (a throw-away database).
func New() *Keyring {
	k := &Keyring{master: make([]byte, Size)}
	rand.Read(k.master)
	return k
}

// FromBytes makes a keyring from a master key (tests).
func FromBytes(b []byte) *Keyring { return &Keyring{master: append([]byte(nil), b...)} }

// Load reads the key file at path. With create, a missing file is made
// (0600, in a directory that must exist) with a fresh random key; without,
// a missing file is ErrMissing.
func Load(path string, create bool) (*Keyring, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if !create {
			return nil, fmt.Errorf("%w: %s", ErrMissing, path)
		}
		return createFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	k, err := FromHex(string(raw))
	if err != nil {
		return nil, fmt.Errorf("keyring: %s does not hold a %d-byte key in hex", path, Size)
	}
	k.Path = path
	return k, nil
}

// createFile writes a new key without ever replacing an existing file: two
// processes starting together end up with the same key.
func createFile(path string) (*Keyring, error) {
	k := New()
	k.Path = path
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return Load(path, false)
	}
	if err != nil {
		return nil, fmt.Errorf("keyring: cannot create %s: %w", filepath.Clean(path), err)
	}
	_, err = f.WriteString(hex.EncodeToString(k.master) + "\n")
	if err = errors.Join(err, f.Sync(), f.Close()); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("keyring: %w", err)
	}
	return k, nil
}

// Derive returns the key for one purpose (HKDF-SHA256 with the purpose as
// info). The same master and purpose always give the same key.
func (k *Keyring) Derive(purpose string) []byte {
	out, err := hkdf.Key(sha256.New, k.master, nil, purpose, 32)
	if err != nil {
		panic(err) // only for lengths HKDF cannot give
	}
	return out
}

// ID names the master key without revealing it: what a database records to
// tell which key sealed it.
func (k *Keyring) ID() string {
	m := hmac.New(sha256.New, k.Derive("key-id"))
	return hex.EncodeToString(m.Sum(nil))[:16]
}
