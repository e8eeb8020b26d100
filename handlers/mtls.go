package handlers

import (
	"crypto/sha256"
	"encoding/base64"

	"github.com/labstack/echo/v4"
)

type certInfo struct{ subject, thumb string }

// clientCert is the client certificate of a mutual-TLS connection, if any.
func clientCert(c echo.Context) *certInfo {
	st := c.Request().TLS
	if st == nil || len(st.PeerCertificates) == 0 {
		return nil
	}
	cert := st.PeerCertificates[0]
	sum := sha256.Sum256(cert.Raw)
	return &certInfo{subject: cert.Subject.String(), thumb: base64.RawURLEncoding.EncodeToString(sum[:])}
}

// certThumb is the x5t#S256 the connection's certificate binds tokens to
// (RFC 8705 §3.1), or "".
func certThumb(c echo.Context) string {
	if ci := clientCert(c); ci != nil {
		return ci.thumb
	}
	return ""
}
