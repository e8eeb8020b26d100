package sandboxtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/app"
	"github.com/obsandbox/sandbox/internal/oauth"
)

// Sandbox is a running sandbox.
type Sandbox struct {
	// URL is the base URL, which is also the OAuth issuer:
	// URL+"/.well-known/openid-configuration" is the discovery document,
	// URL+"/open-banking/v3.1/aisp" the account information API.
	URL string
	// AdminToken authorizes the sandbox controls (/sandbox/...).
	AdminToken string
	// Admin calls the sandbox controls with the admin token.
	Admin *Admin
	// Clock is the sandbox clock.
	Clock *Clock
	// HTTP is a client for the sandbox: it trusts the sandbox's development
	// CA when the sandbox serves TLS (the fapi profiles).
	HTTP *http.Client

	app  *app.App
	stop func()
	dir  string
}

// Option changes how a sandbox starts.
type Option func(*options)

type options struct {
	cfg app.Config
	log io.Writer
}

// WithProfile chooses the security profile: "dev" (the default), "fapi" or
// "fapi2" (both serve TLS and need signed registration).
func WithProfile(p string) Option { return func(o *options) { o.cfg.Profile = p } }

// WithSeed chooses the random seed of the generated bank (default 42).
func WithSeed(seed uint64) Option { return func(o *options) { o.cfg.Seed = seed } }

// WithGeneratedPSUs chooses how many generated PSUs join the fixture ones
// (default 2: a small bank starts fast).
func WithGeneratedPSUs(n int) Option { return func(o *options) { o.cfg.PSUs = n } }

// WithFixtures seeds the persona files of dir with the bank (see the
// --fixtures flag).
func WithFixtures(dir string) Option { return func(o *options) { o.cfg.FixturesDir = dir } }

// WithLog sends the sandbox's log (warnings and errors) to w; by default
// it is discarded.
func WithLog(w io.Writer) Option {
	return func(o *options) { o.cfg.LogLevel, o.log = slog.LevelWarn, w }
}

// New starts a sandbox for the test and stops it, removing its files, when
// the test ends. It fails the test if the sandbox cannot start.
func New(t testing.TB, opts ...Option) *Sandbox {
	t.Helper()
	s, err := Start(context.Background(), opts...)
	if err != nil {
		t.Fatalf("sandboxtest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Start starts a sandbox outside a test (an example, a TestMain); Close
// stops it.
func Start(ctx context.Context, opts ...Option) (*Sandbox, error) {
	dir, err := os.MkdirTemp("", "sandboxtest-")
	if err != nil {
		return nil, err
	}
	o := options{cfg: app.Defaults(), log: io.Discard}
	o.cfg.PSUs = 2
	o.cfg.LogLevel = slog.LevelError
	for _, f := range opts {
		f(&o)
	}
	o.cfg.Addr = "127.0.0.1:0"
	o.cfg.DB = filepath.Join(dir, "sandbox.db")
	o.cfg.MaxTenants = 0
	o.cfg.AdminToken = ""
	a, err := app.New(ctx, o.cfg, o.log)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Serve(sctx)
	}()
	hc := &http.Client{Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if a.CA != nil {
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: a.CA.Pool()}}
	}
	s := &Sandbox{URL: a.URL, AdminToken: a.Config.AdminToken, HTTP: hc, app: a, dir: dir}
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			cancel()
			<-done
			os.RemoveAll(dir)
		})
	}
	s.Admin = &Admin{s: s}
	s.Clock = &Clock{s: s}
	return s, nil
}

// Close stops the sandbox and removes its files.
func (s *Sandbox) Close() { s.stop() }

// ApproveOption changes the PSU's decision.
type ApproveOption func(*decision)

type decision struct {
	Username string   `json:"username"`
	Password string   `json:"password"`
	Decision string   `json:"decision"`
	Accounts []string `json:"accounts,omitempty"`
}

// As has another PSU decide (default alice / alice123).
func As(username, password string) ApproveOption {
	return func(d *decision) { d.Username, d.Password = username, password }
}

// Accounts chooses the accounts the PSU shares (default: all those the
// consent can cover) or, for a payment, the account to pay from.
func Accounts(ids ...string) ApproveOption { return func(d *decision) { d.Accounts = ids } }

// Deny has the PSU refuse: the redirect then carries error=access_denied.
func Deny() ApproveOption { return func(d *decision) { d.Decision = "deny" } }

// Approve has the PSU (alice unless As says otherwise) log in and approve
// the consent on the bank's pages, headlessly: it finds the authorization
// request the TPP pushed for the consent (PAR, RFC 9126) and returns the
// URL the bank sends the PSU's browser back to — the TPP's redirect URI
// with the code (and state, iss, or the signed response in fapi). A TPP that
// sends its request object by value instead gives its authorization URL to
// Authorize.
func (s *Sandbox) Approve(consentID string, opts ...ApproveOption) (string, error) {
	par, err := s.app.Store.PARForConsent(context.Background(), consentID, s.app.Clock.Now())
	if err != nil {
		return "", fmt.Errorf("sandboxtest: no pushed authorization request waits for consent %s (push one to %s first, or use Authorize with the authorization URL): %w",
			consentID, s.app.Auth.Issuer+oauth.PathPAR, err)
	}
	u := s.app.Auth.Issuer + oauth.PathAuthorize + "?" + url.Values{"client_id": {par.ClientID}, "request_uri": {par.RequestURI}}.Encode()
	return s.Authorize(u, opts...)
}

// Authorize is the headless PSU on an authorization URL (the one the TPP
// would send the browser to): it returns the URL the bank sends the browser
// back to.
func (s *Sandbox) Authorize(authorizeURL string, opts ...ApproveOption) (string, error) {
	d := decision{Username: "alice", Password: "alice123", Decision: "approve"}
	for _, o := range opts {
		o(&d)
	}
	var out struct {
		RedirectTo string `json:"redirect_to"`
	}
	body := map[string]any{"authorize_url": authorizeURL, "username": d.Username, "password": d.Password, "decision": d.Decision}
	if len(d.Accounts) > 0 {
		body["accounts"] = d.Accounts
	}
	if err := s.call(http.MethodPost, "/sandbox/psu/authorize", "", body, &out); err != nil {
		return "", err
	}
	return out.RedirectTo, nil
}

// ApproveDecoupled has the PSU approve a decoupled (CIBA) authentication
// request "on their phone" (fapi and fapi2 profiles).
func (s *Sandbox) ApproveDecoupled(authReqID string, opts ...ApproveOption) error {
	d := decision{Username: "alice", Password: "alice123", Decision: "approve"}
	for _, o := range opts {
		o(&d)
	}
	body := map[string]any{"auth_req_id": authReqID, "username": d.Username, "password": d.Password, "decision": d.Decision}
	if len(d.Accounts) > 0 {
		body["accounts"] = d.Accounts
	}
	return s.call(http.MethodPost, "/sandbox/psu/authorize", "", body, nil)
}

// Error is an answer of the sandbox that was not the one expected.
type Error struct {
	Status int
	Body   string
}

func (e *Error) Error() string { return fmt.Sprintf("sandbox answered %d: %s", e.Status, e.Body) }

// call sends a JSON request and decodes a 2xx answer into out.
func (s *Sandbox) call(method, path, token string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return &Error{Status: resp.StatusCode, Body: strings.TrimSpace(string(b))}
	}
	if out != nil && len(b) > 0 {
		return json.Unmarshal(b, out)
	}
	return nil
}

// Admin calls the sandbox controls.
type Admin struct{ s *Sandbox }

// Do sends a request to a sandbox control with the admin token (body as
// JSON, nil for none) and decodes the 2xx answer into out (nil: ignored).
// Any other answer is an *Error.
func (a *Admin) Do(method, path string, body, out any) error {
	return a.s.call(method, path, a.s.AdminToken, body, out)
}

// PSU is a PSU as GET /sandbox/psus lists it.
type PSU struct {
	Username string    `json:"username"`
	Password string    `json:"password"`
	Accounts []Account `json:"accounts"`
}

// Account is one account of a listed PSU.
type Account struct {
	AccountID      string `json:"AccountId"`
	Currency       string `json:"Currency"`
	AccountSubType string `json:"AccountSubType"`
	Nickname       string `json:"Nickname"`
}

// PSUs lists the bank's PSUs.
func (a *Admin) PSUs() ([]PSU, error) {
	var out struct {
		PSUs []PSU `json:"psus"`
	}
	err := a.Do(http.MethodGet, "/sandbox/psus", nil, &out)
	return out.PSUs, err
}

// AddPSU adds a PSU at run time: persona is anything that encodes to a
// persona in the fixtures' shape (a map, a struct with JSON tags, a
// json.RawMessage), or a PSU without AccountIds.
func (a *Admin) AddPSU(persona any) (PSU, error) {
	var out PSU
	err := a.Do(http.MethodPost, "/sandbox/psus", persona, &out)
	return out, err
}

// RemovePSU removes a PSU AddPSU added.
func (a *Admin) RemovePSU(username string) error {
	return a.Do(http.MethodDelete, "/sandbox/psus/"+url.PathEscape(username), nil, nil)
}

// Reset puts the bank back to its seed (clients and keys stay).
func (a *Admin) Reset() error { return a.Do(http.MethodPost, "/sandbox/reset", nil, nil) }

// ActivateScenario makes the bank misbehave as the named scenario says for
// the next times requests (0: until deactivated).
func (a *Admin) ActivateScenario(name string, times int) error {
	return a.Do(http.MethodPost, "/sandbox/scenarios/active", map[string]any{"name": name, "times": times}, nil)
}

// Clock is the sandbox clock: real time plus an offset that only moves
// forward. It governs the bank (consent expiry, settlement, scheduled
// payments); JWT timestamps keep real time.
type Clock struct{ s *Sandbox }

// Now reads the sandbox time.
func (c *Clock) Now() (time.Time, error) {
	var out struct {
		Now time.Time `json:"now"`
	}
	err := c.s.Admin.Do(http.MethodGet, "/sandbox/clock", nil, &out)
	return out.Now, err
}

// Advance moves the sandbox clock forward by d; everything due by then
// (settlement, standing orders, card bookings) has happened when it returns.
func (c *Clock) Advance(d time.Duration) (time.Time, error) {
	if d <= 0 {
		return time.Time{}, errors.New("sandboxtest: the clock only moves forward")
	}
	var out struct {
		Now time.Time `json:"now"`
	}
	err := c.s.Admin.Do(http.MethodPost, "/sandbox/clock", map[string]string{"advance": d.String()}, &out)
	return out.Now, err
}
