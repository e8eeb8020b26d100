package httpx

import (
	"crypto/sha256"
	"encoding/base64"

	"github.com/labstack/echo/v4"
)

type certInfo struct{ Subject, Thumb string }

// ClientCert is the client certificate of a mutual-TLS connection, if any.
func ClientCert(c echo.Context) *certInfo {
	st := c.Request().TLS
	if st == nil || len(st.PeerCertificates) == 0 {
		return nil
	}
	cert := st.PeerCertificates[0]
	sum := sha256.Sum256(cert.Raw)
	return &certInfo{Subject: cert.Subject.String(), Thumb: base64.RawURLEncoding.EncodeToString(sum[:])}
}

// CertThumb is the x5t#S256 the connection's certificate binds tokens to
// (RFC 8705 §3.1), or "".
func CertThumb(c echo.Context) string {
	if ci := ClientCert(c); ci != nil {
		return ci.Thumb
	}
	return ""
}
