package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/app"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/store"
	"github.com/obsandbox/sandbox/internal/store/storetest"
	"github.com/obsandbox/sandbox/internal/tpp"
)

// wallBase is the tests' real time: fixed, so dates in responses are the
// same on every run. It advances with elapsed time from the start of a test.
var wallBase = time.Date(2026, time.November, 16, 12, 0, 0, 0, time.UTC)

// testIssuer is the issuer every test sandbox uses, so links are stable.
const testIssuer = "http://sandbox.test"

type sandbox struct {
	t      testing.TB
	app    *app.App
	url    string
	client *http.Client
	stop   func()       // shuts the server down (also done at cleanup)
	tpps   atomic.Int32 // reference TPPs made for this sandbox (tppKey)
}

// tppKey is the signing key of the next reference TPP made for this
// sandbox: the i-th TPP of every sandbox signs with the i-th of a list of
// keys made once per process, so the TPPs of one sandbox never share a key
// and a test does not wait for a fresh 2048-bit key (most of the suite's
// key generation otherwise).
func (s *sandbox) tppKey() tpp.Option { return tpp.WithKey(testKey(int(s.tpps.Add(1)) - 1)) }

var testKeys struct {
	sync.Mutex
	keys []*rsa.PrivateKey
}

func testKey(i int) *rsa.PrivateKey {
	testKeys.Lock()
	defer testKeys.Unlock()
	for len(testKeys.keys) <= i {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		testKeys.keys = append(testKeys.keys, key)
	}
	return testKeys.keys[i]
}

type option func(*app.Config)

func withProfile(p string) option { return func(c *app.Config) { c.Profile = p } }

// EnvE2EPostgres, set to 1, runs the end-to-end tests on PostgreSQL (the
// server SANDBOX_TEST_POSTGRES names), each sandbox in a fresh schema,
// instead of a SQLite file.
const EnvE2EPostgres = "SANDBOX_E2E_POSTGRES"

func onPostgres() bool { return os.Getenv(EnvE2EPostgres) == "1" }

// onPG puts a test's sandbox on PostgreSQL (a schema of its own) whichever
// pass runs it, for what exists on PostgreSQL only; the caller has skipped
// without a server (storetest.Postgres).
func onPG(tb testing.TB) option {
	return func(c *app.Config) {
		if !onPostgres() { // else start puts it there itself
			c.DB, c.KeyFile = pgFor(tb, c.DB)
		}
	}
}

// pgSchemas maps the SQLite files the tests name to the schemas that stand
// for them on PostgreSQL: a test that restarts a sandbox on its file finds
// its schema again, with the key file beside the file it named.
var pgSchemas sync.Map

func pgFor(t testing.TB, path string) (dsn, keyFile string) {
	if path == store.Memory || path == "" {
		return storetest.FreshSchema(t), filepath.Join(t.TempDir(), "sandbox.key")
	}
	if v, ok := pgSchemas.Load(path); ok {
		return v.(string), path + ".key"
	}
	dsn = storetest.FreshSchema(t)
	pgSchemas.Store(path, dsn)
	return dsn, path + ".key"
}

// start runs the real sandbox on 127.0.0.1:0 with a temp-dir database.
func start(t testing.TB, opts ...option) *sandbox {
	t.Helper()
	cfg := app.Defaults()
	cfg.Addr = "127.0.0.1:0"
	cfg.DB = filepath.Join(t.TempDir(), "sandbox.db")
	cfg.Issuer = testIssuer
	cfg.KeyBits = 1024 // fast start; the key size is not under test here
	cfg.LogLevel = slog.LevelWarn
	t0 := time.Now()
	cfg.Wall = func() time.Time { return wallBase.Add(time.Since(t0)) }
	for _, o := range opts {
		o(&cfg)
	}
	if onPostgres() {
		cfg.DB, cfg.KeyFile = pgFor(t, cfg.DB)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, testLog{t})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := a.Serve(ctx); err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	hc := &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if a.CA != nil {
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: a.CA.Pool()}}
	}
	return &sandbox{t: t, app: a, url: a.URL, stop: stop, client: hc}
}

// response is an answer with its body read.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test if it cannot.
func (r *response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, r.Body)
	}
}

// obError decodes an OBErrorResponse1 and returns its first ErrorCode.
func (r *response) obError(t testing.TB) string {
	t.Helper()
	var e struct {
		Errors []struct{ ErrorCode, Path string }
	}
	r.JSON(t, &e)
	if len(e.Errors) == 0 {
		t.Fatalf("no Errors in %s", r.Body)
	}
	return e.Errors[0].ErrorCode
}

// req is a request to make.
type req struct {
	method, path string
	token        string
	body         any // []byte and string are sent as they are; anything else as JSON
	header       map[string]string
}

// do sends r and validates the response against the contracts.
func (s *sandbox) do(r req) *response {
	s.t.Helper()
	var body io.Reader
	switch b := r.body.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(b)
	case string:
		body = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		body = bytes.NewReader(raw)
	}
	hr, err := http.NewRequest(r.method, s.url+r.path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.header {
		if v == "" {
			hr.Header.Del(k)
		} else {
			hr.Header.Set(k, v)
		}
	}
	resp, err := s.client.Do(hr)
	if err != nil {
		s.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	if resp.Header.Get("x-fapi-interaction-id") == "" {
		s.t.Errorf("%s %s -> %d: no x-fapi-interaction-id", r.method, r.path, resp.StatusCode)
	}
	checkResponse(s.t, hr, resp.StatusCode, resp.Header, raw)
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

func (s *sandbox) get(path, token string) *response {
	return s.do(req{method: "GET", path: path, token: token})
}

// expect fails the test unless the response has the status.
func expect(t testing.TB, r *response, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body: %.800s", r.Status, status, r.Body)
	}
}

const ais = "/open-banking/v3.1/aisp"

// allPermissions is every AIS permission.
func allPermissions() []string {
	var out []string
	for p := bank.ReadAccountsBasic; p <= bank.ReadTransactionsDetail; p <<= 1 {
		out = append(out, p.String())
	}
	return out
}

// accountsOf returns a PSU's AccountIds.
func (s *sandbox) accountsOf(psu string) []string {
	s.t.Helper()
	as, err := s.app.Store.AccountsOfPSU(context.Background(), psu)
	if err != nil {
		s.t.Fatal(err)
	}
	var ids []string
	for _, a := range as {
		ids = append(ids, a.ID)
	}
	return ids
}

// directGrant creates a client, an account-access consent authorised by psu
// for accounts, and an access token for it — through the bank's own consent
// rules and token issuer, without the OAuth journey (the journey has its
// own tests).
func (s *sandbox) directGrant(psu string, req bank.AccountAccessRequest, accounts []string) (token, clientID string) {
	s.t.Helper()
	ctx := context.Background()
	clientID = "client-" + strings.ReplaceAll(time.Now().Format("150405.000000000"), ".", "")
	if err := s.app.Store.CreateClient(ctx, store.Client{ID: clientID, Metadata: []byte("{}"), CreatedAt: s.app.Clock.Now()}); err != nil {
		s.t.Fatal(err)
	}
	c, err := bank.NewAccountAccessConsent("aac-"+clientID, clientID, req, s.app.Clock.Now())
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.app.Store.CreateConsent(ctx, c); err != nil {
		s.t.Fatal(err)
	}
	cn, err := s.app.Store.UpdateConsent(ctx, c.ID, func(c *bank.Consent) error {
		c.Status, c.PSU, c.Accounts, c.StatusAt = bank.StatusAuthorised, psu, accounts, s.app.Clock.Now()
		return nil
	})
	if err != nil {
		s.t.Fatal(err)
	}
	iss, err := s.app.Auth.IssueAccess(ctx, oauth.TokenRequest{ClientID: clientID, Scope: oauth.ScopeAccounts,
		GrantType: oauth.GrantAuthorizationCode, Consent: &cn, PSU: psu})
	if err != nil {
		s.t.Fatal(err)
	}
	return iss.Token, clientID
}

// clientToken issues a client-credentials token for an existing client.
func (s *sandbox) clientToken(clientID, scope string) string {
	s.t.Helper()
	iss, err := s.app.Auth.IssueAccess(context.Background(), oauth.TokenRequest{ClientID: clientID, Scope: scope,
		GrantType: oauth.GrantClientCredentials})
	if err != nil {
		s.t.Fatal(err)
	}
	return iss.Token
}

// testLog sends the sandbox's log to the test's log (shown when it fails).
type testLog struct{ t testing.TB }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func withTLS() option { return func(c *app.Config) { c.TLS = true } }

// withPrivateJWKS lets clients' jwks_uri name loopback addresses
// (--allow-private-jwks), where the tests' key servers run, and trusts the
// test TLS server's certificate.
func withPrivateJWKS(srv *httptest.Server) option {
	return func(c *app.Config) {
		c.AllowPrivateJWKS = true
		c.JWKSRoots = x509.NewCertPool()
		c.JWKSRoots.AddCert(srv.Certificate())
	}
}

// certificate has the sandbox's CA issue a TPP certificate.
type certificate struct {
	CertPEM   string `json:"certificate_pem"`
	KeyPEM    string `json:"private_key_pem"`
	SubjectDN string `json:"subject_dn"`
	X5t       string `json:"x5t#S256"`
}

func (s *sandbox) certificate(cn string, expired, revoked bool) certificate {
	s.t.Helper()
	var out certificate
	r := s.do(req{method: "POST", path: "/sandbox/certs", token: s.app.Config.AdminToken,
		body: map[string]any{"common_name": cn, "organisation": "Test TPP Ltd", "expired": expired, "revoked": revoked}})
	expect(s.t, r, 201)
	r.JSON(s.t, &out)
	return out
}

// mtlsClient is an HTTP client presenting the certificate (none if nil).
func (s *sandbox) mtlsClient(cert *certificate) *http.Client {
	s.t.Helper()
	cfg := &tls.Config{RootCAs: s.app.CA.Pool()}
	if cert != nil {
		pair, err := tls.X509KeyPair([]byte(cert.CertPEM), []byte(cert.KeyPEM))
		if err != nil {
			s.t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
