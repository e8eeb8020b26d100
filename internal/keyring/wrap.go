package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Wrapper protects the data keys that seal secrets at rest (envelope
// encryption, as NIST SP 800-57 Part 1 §6.2.1.3 describes key wrapping): the
// database keeps each data key only wrapped, and the key that wraps them
// never enters it. A Keyring wraps with a key derived from its master key;
// a KMS (its Encrypt and Decrypt calls) can stand in for it.
type Wrapper interface {
	// ID names the wrapping key without revealing it.
	ID() string
	Wrap(dataKey []byte) ([]byte, error)
	Unwrap(wrapped []byte) ([]byte, error)
}

var _ Wrapper = (*Keyring)(nil)

// ErrUnwrap is a wrapped data key the key cannot open: another key file.
var ErrUnwrap = errors.New("keyring: the data key was wrapped with another key")

// Wrap seals a data key under the key-wrapping key (AES-256-GCM).
func (k *Keyring) Wrap(dataKey []byte) ([]byte, error) {
	return Seal(k.Derive("data-key-wrap"), dataKey, []byte("sandbox data key"))
}

// Unwrap opens a data key Wrap sealed; ErrUnwrap under another key.
func (k *Keyring) Unwrap(wrapped []byte) ([]byte, error) {
	out, err := Open(k.Derive("data-key-wrap"), wrapped, []byte("sandbox data key"))
	if err != nil {
		return nil, ErrUnwrap
	}
	return out, nil
}

// Seal encrypts plain with AES-256-GCM under key, binding aad (what the
// value is, where it lives): a fresh random nonce, then the ciphertext and
// its tag.
func Seal(key, plain, aad []byte) ([]byte, error) {
	g, err := gcm(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, g.NonceSize(), g.NonceSize()+len(plain)+g.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return g.Seal(nonce, nonce, plain, aad), nil
}

// Open decrypts what Seal made with the same key and aad.
func Open(key, sealed, aad []byte) ([]byte, error) {
	g, err := gcm(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < g.NonceSize()+g.Overhead() {
		return nil, errors.New("keyring: sealed value too short")
	}
	return g.Open(nil, sealed[:g.NonceSize()], sealed[g.NonceSize():], aad)
}

func gcm(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// EnvKey is the environment variable that may hold the master key itself
// (64 hex digits) instead of a key file: a secret a container platform
// injects.
const EnvKey = "SANDBOX_KEY"

// FromHex reads a master key written as hex (the key file's content, or
// the EnvKey variable's).
func FromHex(s string) (*Keyring, error) {
	master, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(master) != Size {
		return nil, fmt.Errorf("keyring: not a %d-byte key in hex", Size)
	}
	return &Keyring{master: master}, nil
}
