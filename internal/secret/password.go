// Package secret hashes passwords for storage: argon2id (RFC 9106) in the
// PHC string format, with the parameters OWASP's Password Storage Cheat
// Sheet gives as its minimum (19 MiB of memory, 2 passes, 1 lane), so that a
// copy of the database costs an attacker real work per guess.
package secret

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters of new hashes; CheckPassword reads them from each hash.
const (
	memoryKiB = 19 * 1024
	passes    = 2
	lanes     = 1
	saltLen   = 16
	keyLen    = 32
)

// prefix starts every hash HashPassword makes.
const prefix = "$argon2id$"

// HashPassword hashes a password with a fresh random salt.
func HashPassword(password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	sum := argon2.IDKey([]byte(password), salt, passes, memoryKiB, lanes, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("%sv=%d$m=%d,t=%d,p=%d$%s$%s", prefix, argon2.Version, memoryKiB, passes, lanes,
		b64.EncodeToString(salt), b64.EncodeToString(sum)), nil
}

// IsHash reports whether s is a hash HashPassword made (not a password).
func IsHash(s string) bool { return strings.HasPrefix(s, prefix) }

// ErrFormat is a stored hash that is not an argon2id PHC string.
var ErrFormat = errors.New("secret: not an argon2id hash")

// CheckPassword reports whether password is the one hash was made from.
func CheckPassword(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, ErrFormat
	}
	var v int
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false, ErrFormat
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 {
		return false, ErrFormat
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	sum, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(sum) == 0 {
		return false, ErrFormat
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(sum)))
	return subtle.ConstantTimeCompare(got, sum) == 1, nil
}
