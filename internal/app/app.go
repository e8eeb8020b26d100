// Package app wires the sandbox together: configuration, the store, the
// sandbox clock, the seed, the authorization server and the HTTP server. Main
// and the end-to-end tests both run the sandbox through App.
package app

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/api"
	"github.com/obsandbox/sandbox/fixtures"
	"github.com/obsandbox/sandbox/handlers"
	"github.com/obsandbox/sandbox/internal/audit"
	"github.com/obsandbox/sandbox/internal/background"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/clock"
	"github.com/obsandbox/sandbox/internal/drill"
	"github.com/obsandbox/sandbox/internal/egress"
	"github.com/obsandbox/sandbox/internal/events"
	"github.com/obsandbox/sandbox/internal/gateway"
	"github.com/obsandbox/sandbox/internal/keyring"
	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/pki"
	"github.com/obsandbox/sandbox/internal/scenario"
	"github.com/obsandbox/sandbox/internal/siem"
	"github.com/obsandbox/sandbox/internal/store"
	"github.com/obsandbox/sandbox/internal/telemetry"
	"github.com/obsandbox/sandbox/seed"
	"go.opentelemetry.io/otel/trace"
)

// Version is the sandbox's version, set at build time with -ldflags.
var Version = "dev"

// App is a running sandbox.
type App struct {
	Config   Config
	Log      *slog.Logger
	Store    *store.Store
	Clock    *clock.Clock
	Auth     *oauth.Server
	Bank     *bank.Bank // the bank's use cases
	Events   *events.Service
	Fixtures *fixtures.Fixtures
	// Personas are the persona files' PSUs (--fixtures), seeded after the
	// generated ones.
	Personas []fixtures.Persona
	URL      string // where it listens, e.g. http://127.0.0.1:8080
	Seeded   *seed.Stats
	cloned   *bankTemplate // the new database was made a copy of this template
	// Scenarios is the live scenario catalogue.
	Scenarios *scenario.Registry

	echo     *echo.Echo
	srv      *http.Server
	ln       net.Listener
	auditor  *audit.Auditor
	detector *audit.Detector
	stopping chan struct{} // closed when the server shuts down (stopStreams)
	stopOnce sync.Once
	tenants  *tenants // the root's tenants (nil inside a tenant)
	// rootAdminToken is the root's admin token, inside a tenant: the root's
	// admin administers every tenant.
	rootAdminToken string
	// specs waits for the contracts New began loading (the slowest part of
	// a start); tenants share the root's.
	specs contracts
	// CA is the development certificate authority (TLS, TPP certificates).
	CA *pki.CA
	// showToken: the admin token was generated, not given (flag or
	// environment): the banner prints it.
	showToken bool
	// siem streams the audit trail (nil: no SIEM; the root's, shared by
	// its tenants); feed is this sandbox's records in it.
	siem *siem.Streamer
	feed *siem.Feed
	// tracer exports traces over OTLP (nil: none; the root's, shared).
	tracer *telemetry.Provider
	root   bool // the root sandbox (not a tenant)
	// status is the bank's status page; drills its incident drills.
	status *gateway.Status
	drills *drill.Runner
}

// seedRecord is what the database remembers of how its bank was built.
type seedRecord struct {
	Seed uint64    `json:"seed"`
	PSUs int       `json:"psus"`
	Date time.Time `json:"date"`
	// Personas is a digest of the persona files seeded (--fixtures).
	Personas string `json:"personas,omitempty"`
}

// New opens the database, seeds it on first start (or with Reset), loads the
// bank's keys and binds the listener. Serve then serves until its context ends.
func New(ctx context.Context, cfg Config, logOut io.Writer) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &App{Config: cfg, Log: newLogger(cfg, logOut), Clock: clock.New(cfg.Wall), specs: startContracts(ctx), root: true}
	ok := false
	defer func() {
		if !ok {
			a.Close()
		}
	}()
	var err error
	// The address first: one in use is reported at once, not after seeding.
	if a.ln, err = net.Listen("tcp", cfg.Addr); err != nil {
		return nil, listenError(cfg.Addr, err)
	}
	if err := a.open(ctx); err != nil {
		return nil, err
	}
	a.showToken = a.Config.AdminToken == "" // generated (now or at an earlier start), not given
	if err := a.Store.Exclusive(ctx, func() error { return a.loadAdminToken(ctx) }); err != nil {
		return nil, err
	}
	a.URL = deriveIssuer(a.ln.Addr())
	if cfg.TLS {
		a.URL = "https://" + strings.TrimPrefix(a.URL, "http://")
	}
	issuer := cfg.Issuer
	if issuer == "" {
		issuer = a.URL
	}
	// The CA issues TPP certificates in every mode (POST /sandbox/certs:
	// Berlin Group TPPs show theirs in a header without TLS) and serves
	// TLS with --tls.
	if err := a.Store.Exclusive(ctx, func() (err error) {
		a.CA, err = pki.Load(ctx, a.Store, a.Clock.Wall())
		return err
	}); err != nil {
		return nil, err
	}
	var tlsConfig *tls.Config
	if cfg.TLS {
		hosts := []string{"localhost", "127.0.0.1", "::1"}
		if u, err := url.Parse(issuer); err == nil && u.Hostname() != "" && !slices.Contains(hosts, u.Hostname()) {
			hosts = append([]string{u.Hostname()}, hosts...)
		}
		fapi := oauth.Strict(cfg.Profile)
		cert, err := a.CA.ServerCert(ctx, hosts, fapi, a.Clock.Wall())
		if err != nil {
			return nil, err
		}
		tlsConfig = a.CA.ServerConfig(cert, fapi)
	}
	if cfg.MaxTenants > 0 {
		a.tenants = newTenants(a)
	}
	if a.siem, err = openSIEM(cfg, a.Log); err != nil {
		return nil, err
	}
	if a.tracer, err = telemetry.Setup(ctx, Version, cfg.OTLPEndpoint); err != nil {
		return nil, err
	}
	if err := a.build(ctx, issuer, ""); err != nil {
		return nil, err
	}
	if err := recordServer(ctx, a.Store, a.URL, issuer); err != nil {
		return nil, err
	}
	a.srv = &http.Server{
		Handler:           a,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       120 * time.Second,
		// net/http's own refusal carries none of our headers: it only stops
		// what is far beyond the limit the handlers enforce (431 with them).
		MaxHeaderBytes: 4 * cfg.MaxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(a.Log.Handler(), slog.LevelDebug),
	}
	a.srv.RegisterOnShutdown(a.stopStreams) // ends the long-lived streams, the tenants' too
	ok = true
	return a, nil
}

// loadAdminToken settles the admin token: the configured one, else the one
// kept in the database, else a new one kept there.
func (a *App) loadAdminToken(ctx context.Context) error {
	if a.Config.AdminToken != "" {
		return nil
	}
	tok, err := a.Store.Setting(ctx, "admin_token")
	if errors.Is(err, bank.ErrNotFound) {
		tok = randomHex(16)
		err = a.Store.SetSetting(ctx, "admin_token", tok)
	}
	if err != nil {
		return fmt.Errorf("admin token: %w", err)
	}
	a.Config.AdminToken = tok
	return nil
}

// open loads the fixtures, opens the database, seeds it when it has no bank
// and sets the clock where it was left.
func (a *App) open(ctx context.Context) error {
	var err error
	if a.Fixtures, err = fixtures.Load(); err != nil {
		return err
	}
	if a.Config.FixturesDir != "" {
		if a.Personas, err = fixtures.LoadDir(a.Config.FixturesDir, a.Fixtures, a.Config.SeedDate); err != nil {
			return err
		}
	}
	if len(a.Personas) == 0 { // templates are of the seed alone
		if a.cloned, err = cloneTemplate(ctx, &a.Config, a.Fixtures); err != nil {
			return err
		}
	}
	if a.Store, err = openStore(ctx, &a.Config, false); err != nil {
		return err
	}
	if err := a.Store.Exclusive(ctx, func() error { return a.ensureSeeded(ctx) }); err != nil {
		return err
	}
	if off, err := a.Store.Setting(ctx, "clock_offset"); err == nil {
		d, _ := time.ParseDuration(off)
		a.Clock.SetOffset(d)
	}
	// A replica sharing the database moved the clock (or reset it).
	a.Store.OnSetting("clock_offset", func(v string) {
		d, _ := time.ParseDuration(v)
		a.Clock.SetOffset(d)
	})
	return nil
}

// keyFile is where cfg's key file is ("" for a throw-away database).
func keyFile(cfg *Config) string {
	if cfg.KeyFile == "" && cfg.DB != store.Memory && cfg.DB != "" && !store.IsPostgres(cfg.DB) {
		return cfg.DB + ".key"
	}
	return cfg.KeyFile
}

// loadKey reads cfg's key file, creating it when create is set, or the key
// the SANDBOX_KEY variable holds.
func loadKey(cfg *Config, create bool) (*keyring.Keyring, error) {
	if hexKey := cmp.Or(cfg.Key, os.Getenv(keyring.EnvKey)); hexKey != "" {
		key, err := keyring.FromHex(hexKey)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", keyring.EnvKey, err)
		}
		return key, nil
	}
	path := keyFile(cfg)
	if path == "" {
		return nil, nil
	}
	key, err := keyring.Load(path, create)
	if err != nil {
		return nil, fmt.Errorf("%w (the key file keys the audit trail and unwraps the keys sealing the bank's secrets: restore it, or give it with --key-file or %s)", err, keyring.EnvKey)
	}
	return key, nil
}

// contracts are the served APIs' contracts (package api), parsed in the
// background from the start, once per process: a start does not wait for
// them; the first request to an API (or readyz) does.
type contracts struct{ v3, v4, bg handlers.Spec }

func startContracts(ctx context.Context) contracts {
	return contracts{api.UKOBv3.Start(ctx), api.UKOBv4.Start(ctx), api.BerlinGroup.Start(ctx)}
}

// openStore opens the database of cfg with its key file: to serve it (the
// writer lock taken, the key file created if absent) or, with inspect, to
// read it while a server may hold it (with the key file if there is one).
func openStore(ctx context.Context, cfg *Config, inspect bool) (*store.Store, error) {
	if err := pathProblem(cfg.DB); err != nil {
		return nil, err
	}
	made := false // the key file is made by this start
	if p := keyFile(cfg); p != "" && !inspect && cfg.Key == "" && os.Getenv(keyring.EnvKey) == "" {
		_, statErr := os.Stat(p)
		made = errors.Is(statErr, os.ErrNotExist)
	}
	key, err := loadKey(cfg, !inspect)
	if errors.Is(err, keyring.ErrMissing) && inspect {
		key, err = nil, nil // reading needs no key; verifying the audit trail asks for it itself
	}
	if err != nil {
		return nil, err
	}
	path := keyFile(cfg)
	f, err := fixtures.Load()
	if err != nil {
		return nil, err
	}
	s, err := store.Open(ctx, cfg.DB, store.Options{Key: key, Sync: cfg.Sync, Inspect: inspect, MaxConns: cfg.DBMaxConns,
		Seeded: seed.Credentials(f.PSUs), Small: cfg.small, Cold: cfg.cold})
	if (errors.Is(err, store.ErrAuditKey) || errors.Is(err, store.ErrDataKey)) && made {
		os.Remove(path) // made just now for a database that has its own: out of the way of the right one
		return nil, fmt.Errorf("%w: the key file %s is missing, and this database was started with one; restore it (or give it with --key-file or %s)", err, path, keyring.EnvKey)
	}
	switch {
	case errors.Is(err, store.ErrInUse):
		return nil, fmt.Errorf("%w: one sandbox serves a database at a time; stop the other one, or give this one its own --db", err)
	case errors.Is(err, store.ErrAuditKey), errors.Is(err, store.ErrDataKey):
		return nil, fmt.Errorf("%w: the key %s is not the one this database was started with; restore that one", err, cmp.Or(path, keyring.EnvKey))
	case err != nil:
		return nil, dbError(cfg.DB, err)
	}
	return s, nil
}

// loadKeys reads the bank's signing keys, making the first (of
// --key-bits) under the store's lock: replicas starting together make one.
func (a *App) loadKeys(ctx context.Context) (keys *oauth.Keys, err error) {
	err = a.Store.Exclusive(ctx, func() (err error) {
		keys, err = oauth.LoadKeysBits(ctx, a.Store, a.Clock.Now(), a.Config.keyBits())
		return err
	})
	return keys, err
}

// build makes the bank's keys, the authorization server, the audit trail,
// the scenarios, the event notifications and the handlers, for a sandbox
// seen at issuer (under base as the browser sees it).
func (a *App) build(ctx context.Context, issuer, base string) error {
	keys, err := a.loadKeys(ctx)
	if err != nil {
		return err
	}
	a.Auth = &oauth.Server{Store: a.Store, Clock: a.Clock, Keys: keys, Log: a.Log, Issuer: issuer, Profile: a.Config.Profile,
		AccessTTL: a.Config.AccessTTL, RefreshTTL: oauth.DefaultRefreshTTL, CodeTTL: oauth.DefaultCodeTTL, TLSClientAuth: a.Config.TLS,
		Seeded:     seed.Credentials(slices.Concat(a.Fixtures.PSUs, a.Personas)),
		JWKSPolicy: egress.Policy{AllowPrivate: a.Config.AllowPrivateJWKS}, JWKSRoots: a.Config.JWKSRoots,
		AuthFailures: gateway.NewAuthFailures(a.Config.ClientAuthFailures, a.Config.ClientAuthFailuresIP, a.Clock.Now)}
	specs := a.specs
	rules := audit.DefaultRules
	rules.Suspend = a.Config.AnomalyResponse == "suspend"
	a.detector = audit.NewDetector(rules)
	a.auditor = audit.New(a.Store, a.Log, a.detector)
	if a.Scenarios, err = a.loadScenarios(ctx); err != nil {
		return err
	}
	// A replica sharing the database changed the catalogue.
	scenarios := a.Scenarios
	a.Store.OnSetting("scenarios", func(v string) {
		if err := scenarios.Load([]byte(v)); err != nil {
			a.Log.Error("reloading the scenario catalogue another replica changed", "error", err)
		}
	})
	// A replica sharing the database rotated or dropped a signing key.
	a.Store.OnSetting(oauth.SettingSigningKeys, func(string) {
		if err := a.Auth.ReloadKeys(context.Background()); err != nil {
			a.Log.Error("reloading the signing keys another replica changed", "error", err)
		}
	})
	a.stopping = make(chan struct{})
	var caPEM []byte
	if a.CA != nil {
		caPEM = a.CA.CertPEM
	}
	a.Auth.Notify = oauth.NotifyClient(caPEM)
	a.Events = events.New(events.Config{Store: a.Store, Clock: a.Clock, Keys: keys, Issuer: issuer, FinancialID: handlers.BankOrgID,
		Log: a.Log, RootPEM: caPEM})
	a.Bank = bank.New(bank.Config{Store: a.Store, Now: a.Clock.Now, SettlementDelay: a.Config.SettlementDelay, Seed: a.Config.Seed,
		Login: func(ctx context.Context, username, password string) (bool, error) {
			err := a.Auth.LoginPSU(ctx, username, password)
			if errors.Is(err, oauth.ErrLogin) {
				return false, nil
			}
			return err == nil, err
		}})
	if a.siem != nil {
		a.feed = a.siem.Feed(strings.TrimPrefix(base, tenantPrefix), a.Store)
		a.Store.OnCommit(a.feed.Hook)
	}
	a.status = &gateway.Status{}
	a.drills = &drill.Runner{Store: a.Store, Auth: a.Auth, Clock: a.Clock, Events: a.Events, Status: a.status, CA: a.CA,
		Base: a.URL + base, Flush: a.auditor.Flush, Forget: a.detector.Forget, Log: a.Log}
	var tracer trace.TracerProvider
	if a.tracer != nil {
		tracer = a.tracer
	}
	a.echo, err = handlers.New(handlers.Deps{Bank: a.Bank, Snapshots: a, Stopping: a.stopping, Tracer: tracer, SIEM: a.siem, Status: a.status, Drills: a.drills, Tenants: a.tenantAPI(), PSUs: a, Events: a.Events, Scenarios: a.Scenarios, Auditor: a.auditor, Detector: a.detector, CA: a.CA, Store: a.Store, Auth: a.Auth, Clock: a.Clock, Log: a.Log, Spec: specs.v3, SpecV4: specs.v4, SpecBG: specs.bg,
		Config: handlers.Config{Issuer: issuer, BasePath: base, Profile: a.Config.Profile, AdminToken: a.Config.AdminToken, RootAdminToken: a.rootAdminToken,
			BodyLimit: a.Config.BodyLimit, MaxHeaderBytes: a.Config.MaxHeaderBytes, Version: Version,
			Rates: a.Config.Rates, UnattendedLimit: a.Config.UnattendedLimit, CORSOrigins: a.Config.CORSOrigins, PProf: a.Config.PProf}, Reset: a.Reset})
	return err
}

// personasDigest names the persona files' PSUs as seeded ("" for none).
func personasDigest(ps []fixtures.Persona) string {
	if len(ps) == 0 {
		return ""
	}
	b, _ := json.Marshal(ps)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

func newLogger(cfg Config, out io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	var h slog.Handler = slog.NewTextHandler(out, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(out, opts)
	}
	l := slog.New(interactionHandler{h})
	if id := replicaID(cfg); id != "" {
		l = l.With("replica", id)
	}
	return l
}

// replicaID names this process in its logs: --replica-id, else, when
// replicas may share the database, host:pid.
func replicaID(cfg Config) string {
	if cfg.ReplicaID != "" || !store.IsPostgres(cfg.DB) {
		return cfg.ReplicaID
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d", host, os.Getpid())
}

// interactionHandler adds the request's x-fapi-interaction-id to every log
// record made with its context (FAPI 6.2.1-12: log it).
type interactionHandler struct{ slog.Handler }

func (h interactionHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := handlers.InteractionIDFrom(ctx); id != "" {
		r.AddAttrs(slog.String("interaction_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h interactionHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return interactionHandler{h.Handler.WithAttrs(as)}
}

func (h interactionHandler) WithGroup(name string) slog.Handler {
	return interactionHandler{h.Handler.WithGroup(name)}
}

// ensureSeeded builds the bank when the database has none, or on Reset.
func (a *App) ensureSeeded(ctx context.Context) error {
	want := seedRecord{Seed: a.Config.Seed, PSUs: a.Config.PSUs, Date: a.Config.SeedDate, Personas: personasDigest(a.Personas)}
	if a.cloned != nil && !a.Config.Reset { // a copy of the template: the bank is there
		return a.seeded(ctx, want, a.cloned.stats)
	}
	raw, err := a.Store.Setting(ctx, "seed")
	switch {
	case errors.Is(err, bank.ErrNotFound) || a.Config.Reset:
	case err != nil:
		return err
	default:
		var have seedRecord
		if err := json.Unmarshal([]byte(raw), &have); err != nil {
			return fmt.Errorf("settings.seed: %w", err)
		}
		if a.Config.seedSet && have.Seed != want.Seed {
			a.Log.Warn("the database was seeded with another seed; start with --reset to re-seed", "have", have.Seed, "want", want.Seed)
		}
		if have.Personas != want.Personas {
			a.Log.Warn("the database was seeded with other persona files (--fixtures); start with --reset to seed these", "dir", a.Config.FixturesDir)
		}
		return nil
	}
	return a.Reseed(ctx, want)
}

// Reseed rebuilds the bank from the seed record and remembers it.
func (a *App) Reseed(ctx context.Context, r seedRecord) error {
	r.Personas = personasDigest(a.Personas) // reset seeds the persona files this process was given
	st, ok, err := a.reseedFromTemplate(ctx, r)
	if err != nil {
		return err
	}
	if !ok {
		if st, err = seed.Run(ctx, a.Store, a.Fixtures, seed.Options{Seed: r.Seed, PSUs: r.PSUs, Date: r.Date, Extra: a.Personas}); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	return a.seeded(ctx, r, st)
}

// seeded finishes a new bank: its pending card entries start from now on
// the sandbox clock, and the seed is remembered.
func (a *App) seeded(ctx context.Context, r seedRecord, st seed.Stats) error {
	if err := a.Store.StartCardClock(ctx, a.Clock.Now(), r.Date); err != nil {
		return err
	}
	a.Seeded = &st
	a.Log.Info("bank seeded", "seed", r.Seed, "psus", st.PSUs, "accounts", st.Accounts, "transactions", st.Transactions,
		"elapsed", st.Elapsed.Round(time.Millisecond))
	b, _ := json.Marshal(r)
	return a.Store.SetSetting(ctx, "seed", string(b))
}

// Reset puts the sandbox back to its seed (SPEC §8 "Reset"): the bank,
// consents, tokens, codes, sessions, lockouts and the clock offset. Clients
// and the bank's keys stay.
func (a *App) Reset(ctx context.Context) error {
	raw, err := a.Store.Setting(ctx, "seed")
	if err != nil {
		return err
	}
	var r seedRecord
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return err
	}
	a.Clock.Reset() // first: the new bank's pending card entries start from the reset clock
	if err := a.resetBank(ctx, r); err != nil {
		return err
	}
	return a.Scenarios.Reset()
}

// resetBank is Reset's change to the database: at once from the bank's
// template, else in steps (a bank too large for one, PostgreSQL).
func (a *App) resetBank(ctx context.Context, r seedRecord) error {
	if t, ok, err := a.template(ctx, r); err != nil || ok {
		if err != nil {
			return err
		}
		b, _ := json.Marshal(r)
		return a.Store.ResetTo(ctx, t.path, map[string]string{"seed": string(b), "clock_offset": "0s",
			store.SettingCardShift: store.CardShift(a.Clock.Now(), r.Date), store.SettingReset: rand.Text()})
	}
	// The clock first: a replica sharing the database that runs on the
	// new bank with its old, advanced clock would book and settle early;
	// one whose clock went back early makes nothing due early.
	if err := a.Store.SetSetting(ctx, "clock_offset", "0s"); err != nil {
		return err
	}
	if err := a.Store.ResetState(ctx); err != nil {
		return err
	}
	if err := a.Reseed(ctx, r); err != nil {
		return err
	}
	return a.Store.SetSetting(ctx, store.SettingReset, rand.Text())
}

// loadScenarios starts the scenario catalogue from fixtures/scenarios.yaml,
// or from the catalogue saved by an earlier run; every change is saved.
func (a *App) loadScenarios(ctx context.Context) (*scenario.Registry, error) {
	saved, err := a.Store.Setting(ctx, "scenarios")
	if err != nil && !errors.Is(err, bank.ErrNotFound) {
		return nil, err
	}
	return scenario.NewRegistry(fixtures.Scenarios(), []byte(saved), func(b []byte) error {
		// A change comes from an admin request or from counting one down;
		// it is saved at once, outside that request's cancellation.
		return a.Store.SetSetting(context.WithoutCancel(ctx), "scenarios", string(b))
	})
}

// Serve answers requests until ctx ends, then finishes in-flight requests
// (up to 10 s) and closes the database.
func (a *App) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() {
		if a.srv.TLSConfig != nil {
			errc <- a.srv.ServeTLS(a.ln, "", "")
			return
		}
		errc <- a.srv.Serve(a.ln)
	}()
	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	// The background work is waited for before the store closes: a
	// delivery it was making is recorded or put back, never lost.
	working := make(chan struct{})
	go func() { defer close(working); a.background(bg) }()
	select {
	case err := <-errc:
		stopBG()
		<-working
		a.Close()
		return err
	case <-ctx.Done():
	}
	if a.Config.DrainDelay > 0 {
		// Draining: /readyz answers 503 and new requests are still served
		// until the load balancer has noticed.
		a.stopStreams()
		a.Log.Info("draining", "for", a.Config.DrainDelay)
		time.Sleep(a.Config.DrainDelay)
	}
	stopBG()
	<-working
	a.Log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := a.srv.Shutdown(sctx)
	<-errc
	return errors.Join(err, a.Close())
}

// background moves payments along, delivers event notifications, keeps the
// audit trail (its head saved, retention applied) and closes idle tenants
// until ctx ends; a panic in any is logged and the work goes on. What it
// changes is recorded in the audit trail as the sandbox's own doing.
func (a *App) background(ctx context.Context) {
	ctx = store.WithActor(ctx, func() store.AuditEntry {
		return store.AuditEntry{At: a.Clock.Now(), Method: "SYSTEM", Path: "background"}
	})
	var wg sync.WaitGroup
	wg.Go(func() { background.Loop(ctx, a.Log, "settlement", a.settleLoop) })
	wg.Go(func() { background.Loop(ctx, a.Log, "event delivery", a.Events.Run) })
	wg.Go(func() { background.Loop(ctx, a.Log, "audit upkeep", a.auditLoop) })
	if a.tenants != nil {
		wg.Go(func() { background.Loop(ctx, a.Log, "closing idle tenants", a.tenants.closeIdleLoop) })
		if a.tenants.pg() && a.Config.TenantSpares > 0 {
			wg.Go(func() { background.Loop(ctx, a.Log, "spare tenant schemas", a.tenants.spareLoop) })
		}
	}
	wg.Wait()
}

// headPath is where the server keeps the audit trail's signed head, beside
// the database: `sandbox audit verify` checks against it by default.
func headPath(db string) string { return db + ".audit-head.json" }

// auditLoop saves the audit trail's signed head beside the database and
// applies the retention setting, once a minute (Close saves the last head).
func (a *App) auditLoop(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	var saved store.Head
	for {
		if a.Config.AuditRetention > 0 {
			now := a.Clock.Now()
			if n, err := a.Store.PruneAudit(ctx, now.Add(-a.Config.AuditRetention), now); err != nil && ctx.Err() == nil {
				a.Log.Error("applying audit retention", "error", err)
			} else if n > 0 {
				a.Log.Info("audit retention", "pruned", n)
			}
		}
		if err := a.saveHead(context.WithoutCancel(ctx), &saved); err != nil {
			a.Log.Error("saving the audit head", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// saveHead writes the signed head beside a database file when it moved.
func (a *App) saveHead(ctx context.Context, last *store.Head) error {
	// On PostgreSQL there is no file to keep it beside: the head is served by
	// GET /sandbox/audit/head and signed there.
	if a.Config.DB == store.Memory || a.Config.DB == "" || store.IsPostgres(a.Config.DB) || a.Auth == nil || a.Store == nil {
		return nil
	}
	if a.auditor != nil {
		a.auditor.Flush()
	}
	h, err := a.Store.AuditHead(ctx)
	if err != nil || h == *last {
		return err
	}
	signed, err := audit.SignHead(h, a.Auth.Keys, a.Auth.Issuer, a.Clock.Wall())
	if err != nil {
		return err
	}
	if err := audit.WriteHead(headPath(a.Config.DB), signed); err != nil {
		return err
	}
	*last = h
	return nil
}

// stopStreams ends the long-lived streams (the trainer's), of the tenants
// too: the server is shutting down.
func (a *App) stopStreams() {
	a.stopOnce.Do(func() {
		if a.stopping != nil {
			close(a.stopping)
		}
	})
	if a.tenants != nil {
		a.tenants.each(func(t *tenant) { t.app.stopStreams() })
	}
}

// settleLoop moves payments along on the sandbox clock, four times a second.
func (a *App) settleLoop(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := a.Store.CatchUp(ctx, a.Clock.Now); err != nil && ctx.Err() == nil {
				a.Log.Error("moving payments along", "error", err)
			}
		}
	}
}

// Close releases everything New acquired. Safe to call twice.
func (a *App) Close() error {
	var errs []error
	if a.ln != nil {
		a.ln.Close()
	}
	if a.tenants != nil {
		errs = append(errs, a.tenants.closeAll())
	}
	if a.auditor != nil {
		a.auditor.Close() // every queued entry is written before the store closes
		a.auditor = nil
		var none store.Head
		errs = append(errs, a.saveHead(context.Background(), &none)) // the final head
	}
	if a.root && a.siem != nil { // ships what is left, the dropped records re-read from the trail
		errs = append(errs, a.siem.Close())
		a.siem = nil
	}
	if a.feed != nil {
		a.Store.OnCommit(nil)
		a.feed.Close()
		a.feed = nil
	}
	if a.root && a.tracer != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, a.tracer.Shutdown(ctx))
		cancel()
		a.tracer = nil
	}
	if a.Store != nil {
		errs = append(errs, a.Store.Close())
		a.Store = nil
	}
	return errors.Join(errs...)
}

// openSIEM starts the SIEM stream cfg asks for (nil: none).
func openSIEM(cfg Config, log *slog.Logger) (*siem.Streamer, error) {
	var sinks []siem.Sink
	if cfg.SIEMFile != "" {
		j, err := siem.OpenJSONLines(cfg.SIEMFile)
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, j)
	}
	if cfg.SIEMSyslog != "" {
		var roots *x509.CertPool
		if cfg.SIEMSyslogCA != "" {
			pemBytes, err := os.ReadFile(cfg.SIEMSyslogCA)
			if err != nil {
				return nil, fmt.Errorf("--siem-syslog-ca: %w", err)
			}
			roots = x509.NewCertPool()
			if !roots.AppendCertsFromPEM(pemBytes) {
				return nil, fmt.Errorf("--siem-syslog-ca %s: no PEM certificate in it", cfg.SIEMSyslogCA)
			}
		}
		sl, err := siem.OpenSyslog(cfg.SIEMSyslog, roots)
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, sl)
	}
	if len(sinks) == 0 {
		return nil, nil
	}
	return siem.New(sinks, cfg.SIEMBuffer, log), nil
}

// Handler is the HTTP handler (for in-process tests and benchmarks).
func (a *App) Handler() http.Handler { return a }
