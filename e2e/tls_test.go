package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/tpp"
)

// TestTLSHandshake: TLS 1.2 or later only; expired and revoked client
// certificates are refused at the handshake.
func TestTLSHandshake(t *testing.T) {
	t.Parallel()
	s := start(t, withTLS())
	addr := strings.TrimPrefix(s.url, "https://")
	old := &tls.Config{RootCAs: s.app.CA.Pool(), MaxVersion: tls.VersionTLS11}
	if conn, err := tls.Dial("tcp", addr, old); err == nil {
		conn.Close()
		t.Fatal("a TLS 1.1 handshake succeeded")
	}
	for _, tt := range []struct {
		name             string
		expired, revoked bool
	}{{"Expired", true, false}, {"Revoked", false, true}} {
		t.Run(tt.name, func(t *testing.T) {
			cert := s.certificate("bad-"+tt.name, tt.expired, tt.revoked)
			_, err := s.mtlsClient(&cert).Get(s.url + "/healthz")
			if err == nil {
				t.Fatalf("a %s client certificate was accepted", tt.name)
			}
		})
	}
	good := s.certificate("good", false, false)
	resp, err := s.mtlsClient(&good).Get(s.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Errorf("connection state %+v", resp.TLS)
	}
}

// TestCertificateBoundTokens (fapi): tokens are bound to the certificate the
// client used at the token endpoint (cnf.x5t#S256); the same token over a
// connection with another certificate, or none, is refused; the token
// endpoint itself refuses a client without a certificate.
func TestCertificateBoundTokens(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer(), withProfile("fapi"))
	ctx := context.Background()
	certA, certB := s.certificate("tpp-a", false, false), s.certificate("tpp-b", false, false)
	c, err := tpp.New(ctx, s.url, callback, tpp.WithHTTPClient(s.mtlsClient(&certA)), tpp.WithClock(s.app.Clock.Wall), s.tppKey())
	if err != nil {
		t.Fatal(err)
	}
	ssa, err := c.SoftwareStatement(ctx, s.app.Config.AdminToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RegisterJWT(ctx, ssa); err != nil {
		t.Fatal(err)
	}
	toks, _, err := c.AISJourney(ctx, "alice", "alice123", []string{"ReadAccountsBasic"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	get := func(hc *http.Client) int {
		req, _ := http.NewRequest("GET", s.url+ais+"/accounts", nil)
		req.Header.Set("Authorization", "Bearer "+toks.AccessToken)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := get(s.mtlsClient(&certA)); st != 200 {
		t.Errorf("with its own certificate: %d", st)
	}
	if st := get(s.mtlsClient(&certB)); st != 401 {
		t.Errorf("with another certificate: %d, want 401", st)
	}
	if st := get(s.mtlsClient(nil)); st != 401 {
		t.Errorf("without a certificate: %d, want 401", st)
	}
	var intro map[string]any
	c.PostForm(ctx, s.url+"/as/introspect", url.Values{"token": {toks.AccessToken}}, &intro)
	if cnf, _ := intro["cnf"].(map[string]any); cnf["x5t#S256"] != certA.X5t {
		t.Errorf("introspection cnf %v, want %s", intro["cnf"], certA.X5t)
	}
	c.HTTP = s.mtlsClient(nil)
	if _, err := c.ClientCredentials(ctx, "accounts"); err == nil || !strings.Contains(err.Error(), "mutual TLS") {
		t.Errorf("a token without a client certificate in fapi: %v", err)
	}
}

// TestTLSClientAuth: a client authenticates with its certificate; a
// certificate whose subject is not the registered one is refused.
func TestTLSClientAuth(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer(), withTLS())
	certA, certB := s.certificate("tls-client-a", false, false), s.certificate("tls-client-b", false, false)
	r := s.do(req{method: "POST", path: "/as/register", body: map[string]any{"redirect_uris": []string{callback},
		"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": certA.SubjectDN}})
	expect(t, r, 201)
	var reg struct {
		ClientID string `json:"client_id"`
	}
	r.JSON(t, &reg)
	token := func(hc *http.Client) int {
		resp, err := hc.PostForm(s.url+"/as/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"accounts"}, "client_id": {reg.ClientID}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := token(s.mtlsClient(&certA)); st != 200 {
		t.Errorf("with the registered certificate: %d", st)
	}
	if st := token(s.mtlsClient(&certB)); st != 401 {
		t.Errorf("with a certificate of another subject: %d, want 401", st)
	}
	if st := token(s.mtlsClient(nil)); st != 401 {
		t.Errorf("without a certificate: %d, want 401", st)
	}
	var d struct {
		Methods []string `json:"token_endpoint_auth_methods_supported"`
		Bound   bool     `json:"tls_client_certificate_bound_access_tokens"`
	}
	s.get("/.well-known/openid-configuration", "").JSON(t, &d)
	if !d.Bound || !strings.Contains(strings.Join(d.Methods, " "), "tls_client_auth") {
		t.Errorf("discovery over TLS: %+v", d)
	}
	if h := s.get("/psu/apps", "").Header.Get("Strict-Transport-Security"); h == "" {
		t.Error("no HSTS on the PSU pages over TLS")
	}
}

// TestFAPITLSSuites: the fapi and fapi2 listeners speak TLS 1.2 with exactly
// the FAPI 1.0 Advanced §8.5 suites Go has — the two ECDHE-RSA ones, over an
// RSA certificate from the development CA — and TLS 1.3; a Go client
// restricted to each allowed suite connects, TLS 1.1 and CBC, ChaCha20,
// ECDSA and non-forward-secret suites are refused. (The §8.5 DHE suites
// cannot be tried: Go's crypto/tls implements no DHE, client or server.)
func TestFAPITLSSuites(t *testing.T) {
	t.Parallel()
	for _, profile := range []string{oauth.ProfileFAPI, oauth.ProfileFAPI2} {
		t.Run(profile, func(t *testing.T) {
			s := start(t, realIssuer(), withProfile(profile))
			addr := strings.TrimPrefix(s.url, "https://")
			dial := func(cfg *tls.Config) (tls.ConnectionState, error) {
				cfg.RootCAs = s.app.CA.Pool()
				conn, err := tls.Dial("tcp", addr, cfg)
				if err != nil {
					return tls.ConnectionState{}, err
				}
				defer conn.Close()
				return conn.ConnectionState(), nil
			}
			for _, suite := range []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384} {
				st, err := dial(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}})
				if err != nil {
					t.Errorf("TLS 1.2 with %s: %v", tls.CipherSuiteName(suite), err)
					continue
				}
				if st.CipherSuite != suite || st.Version != tls.VersionTLS12 || st.PeerCertificates[0].PublicKeyAlgorithm != x509.RSA {
					t.Errorf("%s: negotiated %s, version %x, key %s", tls.CipherSuiteName(suite), tls.CipherSuiteName(st.CipherSuite), st.Version, st.PeerCertificates[0].PublicKeyAlgorithm)
				}
			}
			if st, err := dial(&tls.Config{MinVersion: tls.VersionTLS13}); err != nil || st.Version != tls.VersionTLS13 {
				t.Errorf("TLS 1.3: %v", err)
			}
			// The old versions offered for real (Go's client offers them
			// only when MinVersion says so), and refused by the server.
			for name, v := range map[string]uint16{"TLS1.1": tls.VersionTLS11, "TLS1.0": tls.VersionTLS10} {
				_, err := dial(&tls.Config{MinVersion: v, MaxVersion: v})
				if err == nil || !strings.Contains(err.Error(), "protocol version") {
					t.Errorf("%s: %v, want the server's protocol version alert", name, err)
				}
			}
			refused := map[string]*tls.Config{}
			for _, suite := range []uint16{
				tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
				tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
				tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
				tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			} {
				refused[tls.CipherSuiteName(suite)] = &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}}
			}
			for name, cfg := range refused {
				if st, err := dial(cfg); err == nil {
					t.Errorf("%s: connected with %s", name, tls.CipherSuiteName(st.CipherSuite))
				}
			}
		})
	}
}
