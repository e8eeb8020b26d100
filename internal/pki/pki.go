// Package pki is the sandbox's development certificate authority: it makes
// (once, then keeps in the database) a root CA and the server's certificate,
// issues TPP transport and signing certificates — PSD2 QWACs with roles
// (psd2.go), expired or revoked ones on request, to test failure — and keeps
// the list of revoked serials the TLS layer checks.
package pki

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/store"
)

// CA is the sandbox's certificate authority.
type CA struct {
	Cert    *x509.Certificate
	CertPEM []byte
	key     crypto.Signer
	store   *store.Store
}

// Load reads the CA from the store, creating it on first use.
func Load(ctx context.Context, s *store.Store, now time.Time) (*CA, error) {
	certPEM, keyPEM, err := s.PKIItem(ctx, "ca")
	if errors.Is(err, bank.ErrNotFound) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: "Open Banking Sandbox Development CA",
			Organization: []string{"Open Banking Sandbox"}, Country: []string{"GB"}},
			NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0), IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			return nil, err
		}
		certPEM, keyPEM, err = encode(der, key)
		if err != nil {
			return nil, err
		}
		if err := s.SavePKIItem(ctx, "ca", certPEM, keyPEM); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	cert, key, err := decode(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, CertPEM: certPEM, key: key, store: s}, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	return n
}

func encode(der []byte, key crypto.Signer) ([]byte, []byte, error) {
	k, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k}), nil
}

func decode(certPEM, keyPEM []byte) (*x509.Certificate, crypto.Signer, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, fmt.Errorf("pki: bad PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("pki: key cannot sign")
	}
	return cert, signer, nil
}

// Pool is a pool holding the CA, for clients and for verifying clients.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Issued is a certificate with its key, PEM-encoded.
type Issued struct {
	CertPEM   []byte
	KeyPEM    []byte
	SubjectDN string // as tls_client_auth_subject_dn should be registered
	X5tS256   string // the thumbprint access tokens get bound to
	Serial    string
	NotAfter  time.Time
	OrgID     string // a QWAC's organisation identifier
}

// Request describes a certificate to issue.
type Request struct {
	CommonName   string
	Organisation string
	OrgUnit      string
	Hosts        []string // server certificates: DNS names and IPs
	Server       bool
	RSA          bool // an RSA key (2048 bits) rather than ECDSA P-256
	Signing      bool // a signing certificate rather than a transport one
	Expired      bool // already expired (to test failure)
	Revoked      bool // listed as revoked at once (to test failure)
	// Roles, when set, make a PSD2 QWAC (psd2.go): the roles in a
	// QCStatement and OrgID (assigned when empty) as organizationIdentifier.
	Roles []string
	OrgID string
}

// Issue makes a certificate signed by the CA.
func (ca *CA) Issue(ctx context.Context, r Request, now time.Time) (*Issued, error) {
	var key crypto.Signer
	var err error
	if r.RSA {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: serial(), NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0),
		Subject: pkix.Name{CommonName: r.CommonName, Country: []string{"GB"}}}
	if r.Organisation != "" {
		tmpl.Subject.Organization = []string{r.Organisation}
	}
	if r.OrgUnit != "" {
		tmpl.Subject.OrganizationalUnit = []string{r.OrgUnit}
	}
	if r.Expired {
		tmpl.NotBefore, tmpl.NotAfter = now.AddDate(0, 0, -30), now.AddDate(0, 0, -1)
	}
	if len(r.Roles) > 0 {
		if r.OrgID == "" {
			r.OrgID = NewOrgID()
		}
		tmpl.Subject.ExtraNames = append(tmpl.Subject.ExtraNames, pkix.AttributeTypeAndValue{Type: oidOrgIdentifier, Value: r.OrgID})
		ext, err := psd2Extension(r.Roles)
		if err != nil {
			return nil, err
		}
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, ext)
	}
	switch {
	case r.Server:
		tmpl.KeyUsage, tmpl.ExtKeyUsage = x509.KeyUsageDigitalSignature, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		for _, h := range r.Hosts {
			if ip := net.ParseIP(h); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, h)
			}
		}
	case r.Signing:
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment
	default:
		tmpl.KeyUsage, tmpl.ExtKeyUsage = x509.KeyUsageDigitalSignature, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := encode(der, key)
	if err != nil {
		return nil, err
	}
	cert, _ := x509.ParseCertificate(der)
	out := &Issued{CertPEM: certPEM, KeyPEM: keyPEM, SubjectDN: cert.Subject.String(), X5tS256: Thumbprint(der),
		Serial: cert.SerialNumber.Text(16), NotAfter: cert.NotAfter, OrgID: r.OrgID}
	if r.Revoked {
		if err := ca.store.RevokeCertificate(ctx, out.Serial, now); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Thumbprint is the x5t#S256 of a certificate (RFC 8705 §3.1).
func Thumbprint(der []byte) string {
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ServerCert returns the server's certificate for the hosts, made once and
// kept (remade when the hosts change): an RSA one with withRSA (the FAPI
// cipher suites are ECDHE-RSA), else ECDSA.
func (ca *CA) ServerCert(ctx context.Context, hosts []string, withRSA bool, now time.Time) (tls.Certificate, error) {
	name := fmt.Sprintf("server:%v", hosts)
	if withRSA {
		name = "server-rsa:" + name
	}
	certPEM, keyPEM, err := ca.store.PKIItem(ctx, name)
	if errors.Is(err, bank.ErrNotFound) {
		is, err := ca.Issue(ctx, Request{CommonName: hosts[0], Organisation: "Open Banking Sandbox", Hosts: hosts, Server: true, RSA: withRSA}, now)
		if err != nil {
			return tls.Certificate{}, err
		}
		certPEM, keyPEM = is.CertPEM, is.KeyPEM
		if err := ca.store.SavePKIItem(ctx, name, certPEM, keyPEM); err != nil {
			return tls.Certificate{}, err
		}
	} else if err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(append(certPEM, ca.CertPEM...), keyPEM)
}

// The TLS 1.2 cipher suites the sandbox offers. Without a FAPI profile:
// AEAD suites with forward secrecy (BCP 195). In the FAPI profiles: those of
// FAPI 1.0 Advanced §8.5, which are TLS_DHE_RSA_WITH_AES_128_GCM_SHA256,
// TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_DHE_RSA_WITH_AES_256_GCM_SHA384
// and TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 — less the two DHE ones, which
// Go's crypto/tls does not implement (finite-field Diffie-Hellman is not in
// it at all). The two ECDHE-RSA suites are also among those RFC 9325 §4.2
// recommends, which the FAPI 2.0 Security Profile (§5.2.1) refers to. TLS
// 1.3, whose suites are all AEAD, is offered besides.
var (
	suitesAEAD = []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
	// SuitesFAPI are the FAPI profiles' TLS 1.2 suites.
	SuitesFAPI = []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384}
)

// ServerConfig is the TLS configuration of the sandbox: TLS 1.2 or later with
// AEAD suites only (FAPI 1 §7.1, BCP 195) — with fapi, exactly the FAPI
// suites Go has (SuitesFAPI; the certificate must then be RSA); client
// certificates verified against the CA when given, refused when expired or
// revoked. Requiring a certificate is the handlers' job (per endpoint and
// profile).
func (ca *CA) ServerConfig(cert tls.Certificate, fapi bool) *tls.Config {
	suites := suitesAEAD
	if fapi {
		suites = SuitesFAPI
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		CipherSuites: suites,
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    ca.Pool(),
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return nil
			}
			revoked, err := ca.store.CertificateRevoked(context.Background(), cs.PeerCertificates[0].SerialNumber.Text(16))
			if err != nil {
				return err
			}
			if revoked {
				return fmt.Errorf("the client certificate is revoked")
			}
			return nil
		},
	}
}
