package sandboxapi

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// rotateDataKey re-seals every secret at rest under a new data key and
// deletes the old one, while the sandbox serves.
func (s *Server) rotateDataKey(c echo.Context) error {
	r, err := s.Store.RotateDataKey(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

// sealedSecret is one secret as the database holds it beside what the bank
// reads from it.
type sealedSecret struct {
	Table  string `json:"table"`
	Column string `json:"column"`
	Row    string `json:"row"`
	// Sealed is the column's content (its first 96 characters).
	Sealed string `json:"sealed"`
	// DataKey names the data key that sealed it.
	DataKey string `json:"data_key"`
	// Reads is what the bank reads from it: the value itself for tokens and
	// secrets an administrator may see, a description for private keys.
	Reads string `json:"reads"`
}

// sealedSecrets lists every sealed secret (admin): the trainer shows a row
// as a copy of the database holds it and as the bank, holding the key,
// reads it.
func (s *Server) sealedSecrets(c echo.Context) error {
	rows, err := s.Store.SealedRows(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]sealedSecret, 0, len(rows))
	for _, r := range rows {
		v := sealedSecret{Table: r.Table, Column: r.Column, Row: r.Row, Sealed: r.Sealed, Reads: describeSecret(r.Column, r.Plain)}
		if rest, ok := strings.CutPrefix(r.Sealed, "sealed:v1:"); ok {
			v.DataKey, _, _ = strings.Cut(rest, ":")
		}
		if len(v.Sealed) > 96 {
			v.Sealed = v.Sealed[:96] + "…"
		}
		out = append(out, v)
	}
	return c.JSON(http.StatusOK, map[string]any{"secrets": out})
}

// describeSecret says what a secret opens to; a private key is named by its
// kind, size and fingerprint, never shown.
func describeSecret(col string, plain []byte) string {
	der := plain
	if b, _ := pem.Decode(plain); b != nil {
		der = b.Bytes
	}
	if col == "private_der" || col == "key_pem" {
		sum := sha256.Sum256(der)
		kind := "private key"
		if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
			kind = fmt.Sprintf("PKCS#8 %T", k)
			kind = strings.NewReplacer("*rsa.PrivateKey", "RSA private key", "*ecdsa.PrivateKey", "ECDSA private key").Replace(kind)
		}
		return fmt.Sprintf("%s, %d bytes, SHA-256 %s…", kind, len(der), hex.EncodeToString(sum[:8]))
	}
	return string(plain)
}

// siemStats reports the SIEM stream: its sinks, what it shipped, dropped,
// re-read from the audit trail and lost.
func (s *Server) siemStats(c echo.Context) error {
	if s.Deps.SIEM == nil {
		return c.JSON(http.StatusOK, map[string]any{"enabled": false})
	}
	return c.JSON(http.StatusOK, map[string]any{"enabled": true, "stats": s.Deps.SIEM.Stats()})
}
