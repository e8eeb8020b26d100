package pki

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/store"
)

func testCA(t *testing.T) *CA {
	t.Helper()
	s, err := store.Open(context.Background(), store.Memory, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ca, err := Load(context.Background(), s, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func parsePEM(t *testing.T, b []byte) *x509.Certificate {
	t.Helper()
	blk, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestQWAC: a certificate issued with roles names its organisation and
// carries the roles (ETSI TS 119 495), read back from base64 DER and from
// PEM without line breaks; one without roles is no QWAC.
func TestQWAC(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ca := testCA(t)
	now := time.Now()
	is, err := ca.Issue(ctx, Request{CommonName: "tpp", Organisation: "TPP Ltd", Roles: []string{RoleAI, RolePI}}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !OrgIDPattern.MatchString(is.OrgID) {
		t.Errorf("assigned organisation id %q does not match %s", is.OrgID, OrgIDPattern)
	}
	oneLine := strings.ReplaceAll(string(is.CertPEM), "\n", "")
	for name, header := range map[string]string{"DER": DERBase64(is.CertPEM), "PEM": oneLine} {
		cert, err := ParseHeaderCert(header)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		p, err := PSD2Of(cert)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if p.OrgID != is.OrgID || p.Name != "TPP Ltd" || !slices.Equal(p.Roles, []string{RolePI, RoleAI}) && !slices.Equal(p.Roles, []string{RoleAI, RolePI}) {
			t.Errorf("%s: got %+v", name, p)
		}
		if err := ca.VerifyTPP(ctx, cert, now); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	fixed, err := ca.Issue(ctx, Request{CommonName: "tpp", Roles: []string{RoleIC}, OrgID: "PSDGB-SBX-FIXED1"}, now)
	if err != nil || fixed.OrgID != "PSDGB-SBX-FIXED1" {
		t.Errorf("fixed organisation id: %v %q", err, fixed.OrgID)
	}
	plain, err := ca.Issue(ctx, Request{CommonName: "plain"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := PSD2Of(parsePEM(t, plain.CertPEM)); !errors.Is(err, ErrNotQWAC) {
		t.Errorf("a certificate without roles: %v, want ErrNotQWAC", err)
	}
	if _, err := ca.Issue(ctx, Request{CommonName: "x", Roles: []string{"PSP_XX"}}, now); err == nil {
		t.Error("an unknown role was issued")
	}
	if _, err := ParseHeaderCert("not a certificate"); err == nil {
		t.Error("garbage parsed as a certificate")
	}
}

// TestVerifyTPP: expired, revoked and foreign certificates are refused.
func TestVerifyTPP(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ca, other := testCA(t), testCA(t)
	now := time.Now()
	for name, r := range map[string]Request{
		"Expired": {CommonName: "e", Roles: []string{RoleAI}, Expired: true},
		"Revoked": {CommonName: "r", Roles: []string{RoleAI}, Revoked: true},
	} {
		is, err := ca.Issue(ctx, r, now)
		if err != nil {
			t.Fatal(err)
		}
		if err := ca.VerifyTPP(ctx, parsePEM(t, is.CertPEM), now); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	is, err := other.Issue(ctx, Request{CommonName: "f", Roles: []string{RoleAI}}, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.VerifyTPP(ctx, parsePEM(t, is.CertPEM), now); err == nil {
		t.Error("a certificate of another CA was accepted")
	}
}
