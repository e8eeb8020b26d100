package pki

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// PSD2 test certificates (QWACs): a TPP's transport certificate that names
// its organisation (the subject's organizationIdentifier, ETSI EN 319 412-1
// §5.1.4) and carries its PSD2 roles in a QCStatement (ETSI TS 119 495
// §4–§5). Berlin Group NextGenPSD2 identifies the TPP by it.

// The PSD2 roles of ETSI TS 119 495 §4.2.
const (
	RoleAS = "PSP_AS" // account servicing
	RolePI = "PSP_PI" // payment initiation
	RoleAI = "PSP_AI" // account information
	RoleIC = "PSP_IC" // issuing of card-based payment instruments
)

// Roles are the PSD2 roles in the standard's order.
var Roles = []string{RoleAS, RolePI, RoleAI, RoleIC}

var (
	oidQCStatements  = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 3} // RFC 3739 §3.2.6
	oidQcCompliance  = asn1.ObjectIdentifier{0, 4, 0, 1862, 1, 1}       // ETSI EN 319 412-5 §4.2.1
	oidQcType        = asn1.ObjectIdentifier{0, 4, 0, 1862, 1, 6}       // §4.2.3
	oidQcTypeWeb     = asn1.ObjectIdentifier{0, 4, 0, 1862, 1, 6, 3}
	oidPSD2Statement = asn1.ObjectIdentifier{0, 4, 0, 19495, 2} // ETSI TS 119 495 §5.1
	oidOrgIdentifier = asn1.ObjectIdentifier{2, 5, 4, 97}       // organizationIdentifier
	roleOIDs         = map[string]asn1.ObjectIdentifier{        // §5.1: id-psd2-role-psp-*
		RoleAS: {0, 4, 0, 19495, 1, 1}, RolePI: {0, 4, 0, 19495, 1, 2}, RoleAI: {0, 4, 0, 19495, 1, 3}, RoleIC: {0, 4, 0, 19495, 1, 4},
	}
)

// The sandbox plays the national competent authority of its test TPPs.
const (
	NCAName = "Open Banking Sandbox (test authority)"
	NCAID   = "GB-SBX"
)

// OrgIDPattern is the form of a PSD2 organisation identifier (ETSI TS 119 495
// §5.2.1): "PSD", the country, "-", the authority's id, "-", the TPP's
// authorisation number.
var OrgIDPattern = regexp.MustCompile(`^PSD[A-Z]{2}-[A-Z]{2,8}-[A-Za-z0-9]{1,32}$`)

type qcStatement struct {
	ID   asn1.ObjectIdentifier
	Info asn1.RawValue `asn1:"optional"`
}

type roleOfPSP struct {
	OID  asn1.ObjectIdentifier
	Name string `asn1:"utf8"`
}

type psd2QcType struct {
	Roles   []roleOfPSP
	NCAName string `asn1:"utf8"`
	NCAID   string `asn1:"utf8"`
}

// NewOrgID is an organisation identifier the sandbox assigns.
func NewOrgID() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return "PSDGB-SBX-" + strings.ToUpper(hex.EncodeToString(b))
}

// psd2Extension is the QCStatements extension of a QWAC with roles.
func psd2Extension(roles []string) (pkix.Extension, error) {
	qt := psd2QcType{NCAName: NCAName, NCAID: NCAID}
	for _, r := range roles {
		oid, ok := roleOIDs[r]
		if !ok {
			return pkix.Extension{}, fmt.Errorf("pki: unknown PSD2 role %q", r)
		}
		qt.Roles = append(qt.Roles, roleOfPSP{OID: oid, Name: r})
	}
	info, err := asn1.Marshal(qt)
	if err != nil {
		return pkix.Extension{}, err
	}
	web, err := asn1.Marshal([]asn1.ObjectIdentifier{oidQcTypeWeb})
	if err != nil {
		return pkix.Extension{}, err
	}
	v, err := asn1.Marshal([]qcStatement{{ID: oidQcCompliance}, {ID: oidQcType, Info: asn1.RawValue{FullBytes: web}},
		{ID: oidPSD2Statement, Info: asn1.RawValue{FullBytes: info}}})
	return pkix.Extension{Id: oidQCStatements, Value: v}, err
}

// PSD2 is what a QWAC says of its TPP.
type PSD2 struct {
	OrgID string   // the subject's organizationIdentifier
	Name  string   // the subject's organisation (or common name)
	Roles []string // PSP_AS, PSP_PI, PSP_AI, PSP_IC
}

// Has reports whether the TPP holds a role.
func (p PSD2) Has(role string) bool { return slices.Contains(p.Roles, role) }

// ErrNotQWAC: a certificate without an organisation identifier or a PSD2
// QCStatement cannot identify a TPP.
var ErrNotQWAC = errors.New("not a PSD2 QWAC")

// PSD2Of reads the organisation and the roles of a QWAC.
func PSD2Of(cert *x509.Certificate) (PSD2, error) {
	var p PSD2
	for _, n := range cert.Subject.Names {
		if n.Type.Equal(oidOrgIdentifier) {
			p.OrgID, _ = n.Value.(string)
		}
	}
	if len(cert.Subject.Organization) > 0 {
		p.Name = cert.Subject.Organization[0]
	} else {
		p.Name = cert.Subject.CommonName
	}
	if p.OrgID == "" {
		return p, fmt.Errorf("%w: the subject has no organizationIdentifier", ErrNotQWAC)
	}
	found := false
	for _, ext := range cert.Extensions {
		if !ext.Id.Equal(oidQCStatements) {
			continue
		}
		var sts []qcStatement
		if _, err := asn1.Unmarshal(ext.Value, &sts); err != nil {
			return p, fmt.Errorf("%w: unreadable QCStatements: %v", ErrNotQWAC, err)
		}
		for _, st := range sts {
			if !st.ID.Equal(oidPSD2Statement) {
				continue
			}
			var qt psd2QcType
			if _, err := asn1.Unmarshal(st.Info.FullBytes, &qt); err != nil {
				return p, fmt.Errorf("%w: unreadable PSD2 statement: %v", ErrNotQWAC, err)
			}
			found = true
			for _, r := range qt.Roles {
				for name, oid := range roleOIDs {
					if r.OID.Equal(oid) && !slices.Contains(p.Roles, name) {
						p.Roles = append(p.Roles, name)
					}
				}
			}
		}
	}
	if !found {
		return p, fmt.Errorf("%w: no PSD2 QCStatement (ETSI TS 119 495)", ErrNotQWAC)
	}
	return p, nil
}

// ParseHeaderCert reads a certificate sent in a header: base64 DER, or PEM
// with its line breaks removed (or kept).
func ParseHeaderCert(v string) (*x509.Certificate, error) {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "-----BEGIN CERTIFICATE-----") {
		body := strings.TrimPrefix(v, "-----BEGIN CERTIFICATE-----")
		body, _, ok := strings.Cut(body, "-----END CERTIFICATE-----")
		if !ok {
			return nil, errors.New("a PEM certificate without its END line")
		}
		v = strings.Join(strings.Fields(body), "")
	}
	der, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		if der, err = base64.RawStdEncoding.DecodeString(v); err != nil {
			return nil, errors.New("neither base64 DER nor PEM")
		}
	}
	return x509.ParseCertificate(der)
}

// VerifyTPP checks a client certificate that did not come through the TLS
// handshake (the dev profile's header): issued by the sandbox's CA for
// client authentication, valid at now (real time), not revoked.
func (ca *CA) VerifyTPP(ctx context.Context, cert *x509.Certificate, now time.Time) error {
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return err
	}
	revoked, err := ca.store.CertificateRevoked(ctx, cert.SerialNumber.Text(16))
	if err != nil {
		return err
	}
	if revoked {
		return errors.New("the certificate is revoked")
	}
	return nil
}

// DERBase64 is a PEM certificate as base64 DER (the TPP-QWAC-Certificate
// header's form).
func DERBase64(certPEM []byte) string {
	b, _ := pem.Decode(certPEM)
	if b == nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(b.Bytes)
}
