package app

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/gateway"
	"github.com/obsandbox/sandbox/internal/keyring"
	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/store"
	"github.com/obsandbox/sandbox/seed"
)

// Config is the sandbox's configuration: defaults, then SANDBOX_* environment
// variables, then flags.
type Config struct {
	Addr string
	// DB is a SQLite file, or a postgres:// URL: a database several
	// sandbox processes (replicas) may serve together.
	DB string
	// DBMaxConns bounds each PostgreSQL connection pool (writes, reads).
	DBMaxConns int
	// ReplicaID names this process in its logs (default: host:pid).
	ReplicaID string
	// DrainDelay is how long a stopping sandbox keeps serving while /readyz
	// says it is draining, for a load balancer to stop sending it traffic.
	DrainDelay time.Duration
	Seed       uint64
	PSUs       int
	SeedDate   time.Time
	Issuer     string
	Profile    string
	AdminToken string
	Reset      bool
	LogLevel   slog.Level
	LogFormat  string // text | json
	BodyLimit  int64
	AccessTTL  time.Duration
	// SettlementDelay: acceptance to AcceptedSettlementCompleted, sandbox time.
	SettlementDelay time.Duration
	// Rates per endpoint class; RateLimitOff turns them all off.
	Rates map[gateway.Class]gateway.Rate
	// ClientAuthFailures and ClientAuthFailuresIP limit failed client
	// authentications per client id and per source address (failures/s and
	// burst; gateway.Off: no limit).
	ClientAuthFailures, ClientAuthFailuresIP gateway.Rate
	// UnattendedLimit: AIS calls per consent per day without the PSU; -1
	// means the profile's default (4 in fapi and fapi2, off in dev).
	UnattendedLimit int
	CORSOrigins     []string
	// MaxTenants bounds the tenants (/t/<name>/...) that exist, open or
	// closed; 0: no tenants.
	MaxTenants int
	// MaxOpenTenants bounds the tenants open at once: opening one more
	// closes the one used least recently (unless every open one is
	// answering a request).
	MaxOpenTenants int
	// TenantIdle: a tenant unused this long (real time) is closed until its
	// next request.
	TenantIdle time.Duration
	// TenantCreateRate bounds the tenants one source address makes by a
	// first request (dev).
	TenantCreateRate gateway.Rate
	// TenantSpares is how many tenant schemas are kept migrated and seeded
	// ahead on PostgreSQL (0: none; SQLite tenants are a file copy).
	TenantSpares int
	// TenantOpening, when set, is called before a tenant is opened or made
	// (tests hold a tenant's seeding there).
	TenantOpening func(name string)
	// TLS serves HTTPS with the development CA's certificate and verifies
	// client certificates (mutual TLS); the fapi and fapi2 profiles turn it on.
	TLS bool
	// Connection limits: slow clients cannot hold connections.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	MaxHeaderBytes    int
	// AnomalyResponse: alert (record security events) or suspend (also
	// suspend the client on high-severity ones).
	AnomalyResponse string
	// AllowPrivateJWKS lets clients' jwks_uri name loopback and private
	// addresses (refused by default: the bank would fetch from its own
	// machine and networks on a registrant's word).
	AllowPrivateJWKS bool
	// JWKSRoots, when set, verify jwks_uri servers instead of the system's
	// roots (tests serve key sets from httptest TLS servers).
	JWKSRoots *x509.CertPool
	// Wall is the real clock (tests inject one); nil: time.Now.
	Wall func() time.Time
	// KeyBits overrides the RSA key size (tests use smaller keys to start fast).
	KeyBits int

	small bool // a tenant: its database keeps its memory small
	cold  bool // a spare being made: its database dials its own connections, leaving the warm ones to tenants
	// PProf serves net/http/pprof under /sandbox/debug/pprof/ (admin token).
	PProf bool
	// KeyFile holds the sandbox's master key (package keyring); "" is the
	// database's path plus ".key" (in memory for ":memory:").
	KeyFile string
	// Key is the master key itself, in hex (tests; SANDBOX_KEY, never a flag
	// that other users could read from the process list): it stands in for
	// the key file.
	Key string
	// Sync is how the bank's commits reach the disk: full or normal.
	Sync string
	// AuditRetention prunes audit entries older than this (sandbox time); 0
	// keeps them all.
	AuditRetention time.Duration
	// FixturesDir holds persona files (YAML or JSON, the fixtures' shape)
	// seeded with the bank, after the generated PSUs; "" for none.
	FixturesDir string
	// SIEMFile streams the audit trail and security events as JSON lines
	// to this file ("-": standard output); SIEMSyslog to an RFC 5424
	// collector (tcp://HOST:PORT or tls://HOST:PORT, trusting SIEMSyslogCA
	// or the system's roots); SIEMBuffer records wait at most.
	SIEMFile, SIEMSyslog, SIEMSyslogCA string
	SIEMBuffer                         int
	// OTLPEndpoint exports traces to this OTLP/HTTP URL (tests); "" takes
	// the collector OTEL_EXPORTER_OTLP_ENDPOINT names, if any.
	OTLPEndpoint string

	seedSet bool
}

// Defaults returns the configuration with no flag or variable set.
func Defaults() Config {
	return Config{
		Addr: "127.0.0.1:8080", DB: "sandbox.db", Seed: 42, PSUs: seed.DefaultPSUs, SeedDate: seed.DefaultDate,
		Profile: oauth.ProfileDev, LogLevel: slog.LevelInfo, LogFormat: "text", BodyLimit: 1 << 20,
		AccessTTL: oauth.DefaultAccessTTL, SettlementDelay: bank.DefaultSettlementDelay,
		Rates: defaultRates(), ClientAuthFailures: gateway.DefaultClientAuthFailures, ClientAuthFailuresIP: gateway.DefaultClientAuthFailuresIP,
		UnattendedLimit: -1, AnomalyResponse: "alert", MaxTenants: 1000, MaxOpenTenants: 200,
		TenantIdle: 10 * time.Minute, TenantCreateRate: gateway.Rate{Per: 0.1, Burst: 5},
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second, MaxHeaderBytes: 64 << 10,
		Sync: store.SyncFull, SIEMBuffer: 4096,
	}
}

func defaultRates() map[gateway.Class]gateway.Rate {
	r := map[gateway.Class]gateway.Rate{}
	for _, c := range gateway.Classes {
		r[c] = gateway.DefaultRate
	}
	return r
}

// keyBits is the size of the RSA signing key a new bank makes: KeyBits
// when set, never below 1,024.
func (c *Config) keyBits() int {
	if c.KeyBits > 0 {
		return max(c.KeyBits, 1024)
	}
	return oauth.KeyBits
}

// flagSet declares the serving flags over cfg. Each flag has an environment
// twin: --db / SANDBOX_DB.
func flagSet(name string, cfg *Config, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen address (host:port)")
	fs.StringVar(&cfg.DB, "db", cfg.DB, `SQLite database file; ":memory:" for a throw-away bank; or a PostgreSQL URL (postgres://user:pass@host:5432/db?search_path=schema) that several sandbox processes serve together`)
	fs.IntVar(&cfg.DBMaxConns, "db-max-conns", cfg.DBMaxConns, "PostgreSQL: connections of each of the two pools, writes and reads (0: 8)")
	fs.DurationVar(&cfg.DrainDelay, "drain-delay", cfg.DrainDelay, "on SIGTERM, keep serving this long while /readyz answers 503 (draining), then finish the requests in flight and stop: give the load balancer's check interval")
	fs.StringVar(&cfg.ReplicaID, "replica-id", cfg.ReplicaID, "this process's name in its logs, to tell replicas apart (default: host:pid)")
	fs.Func("seed", fmt.Sprintf("random seed of the generated bank (default %d)", cfg.Seed), func(v string) error {
		n, err := strconv.ParseUint(v, 10, 64)
		cfg.Seed, cfg.seedSet = n, true
		return err
	})
	fs.IntVar(&cfg.PSUs, "psus", cfg.PSUs, "generated PSUs added to the fixture personas when seeding")
	fs.StringVar(&cfg.FixturesDir, "fixtures", cfg.FixturesDir, "a directory of persona files (*.yaml, *.yml, *.json; the fixtures' shape, one persona or a psus: list each) seeded with the bank and kept by reset")
	fs.Func("seed-date", "date the generated history ends (YYYY-MM-DD; default "+cfg.SeedDate.Format("2006-01-02")+")", func(v string) error {
		t, err := time.Parse("2006-01-02", v)
		cfg.SeedDate = t
		return err
	})
	fs.StringVar(&cfg.Issuer, "issuer", cfg.Issuer, "public base URL of the sandbox, the OAuth issuer (default: derived from --addr)")
	fs.StringVar(&cfg.Profile, "profile", cfg.Profile, "security profile: dev (relaxed, says so on every response), fapi (FAPI 1.0 Advanced) or fapi2 (FAPI 2.0 Security Profile)")
	fs.StringVar(&cfg.AdminToken, "admin-token", cfg.AdminToken, "bearer token for /sandbox/... (generated, kept in the database and printed when absent)")
	fs.BoolVar(&cfg.Reset, "reset", cfg.Reset, "re-seed the bank at start (clients and keys are kept)")
	fs.Func("log-level", "log level: debug, info, warn or error (default info)", func(v string) error {
		return cfg.LogLevel.UnmarshalText([]byte(v))
	})
	fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "log format: text or json")
	fs.Int64Var(&cfg.BodyLimit, "body-limit", cfg.BodyLimit, "largest request body in bytes (413 above)")
	fs.DurationVar(&cfg.AccessTTL, "token-ttl", cfg.AccessTTL, "access token lifetime")
	fs.Func("rate-limit", "rate limit of every endpoint class, per client (per IP where unauthenticated): RATE[:BURST] requests/s, or off (default 20:100)", func(v string) error {
		r, err := gateway.ParseRate(v)
		for _, c := range gateway.Classes {
			cfg.Rates[c] = r
		}
		return err
	})
	for _, class := range gateway.Classes {
		fs.Func("rate-limit-"+string(class), "rate limit of the "+string(class)+" endpoints only (overrides --rate-limit)", func(v string) error {
			r, err := gateway.ParseRate(v)
			cfg.Rates[class] = r
			return err
		})
	}
	fs.Func("client-auth-failures", "failed client authentications allowed per client id: RATE[:BURST] failures/s, or off (default "+
		cfg.ClientAuthFailures.String()+"); over it, 429 until the bucket refills", func(v string) error {
		var err error
		cfg.ClientAuthFailures, err = gateway.ParseRate(v)
		return err
	})
	fs.Func("client-auth-failures-ip", "failed client authentications allowed per source address (IPv6 per /64): RATE[:BURST], or off (default "+
		cfg.ClientAuthFailuresIP.String()+")", func(v string) error {
		var err error
		cfg.ClientAuthFailuresIP, err = gateway.ParseRate(v)
		return err
	})
	fs.IntVar(&cfg.UnattendedLimit, "unattended-limit", cfg.UnattendedLimit, "AIS calls per consent per day without x-fapi-customer-ip-address (-1: 4 in fapi and fapi2, off in dev; 0: off)")
	fs.Func("cors-origins", "comma-separated origins allowed to call the resource APIs from a browser (none by default)", func(v string) error {
		cfg.CORSOrigins = nil
		for _, o := range strings.Split(v, ",") {
			if o = strings.TrimSpace(o); o != "" {
				if o == "*" {
					return fmt.Errorf("--cors-origins: name the origins; * is not allowed")
				}
				cfg.CORSOrigins = append(cfg.CORSOrigins, strings.TrimRight(o, "/"))
			}
		}
		return nil
	})
	fs.BoolVar(&cfg.TLS, "tls", cfg.TLS, "serve HTTPS with a certificate from the sandbox's development CA and accept client certificates (mutual TLS); on in fapi and fapi2")
	fs.DurationVar(&cfg.ReadHeaderTimeout, "read-header-timeout", cfg.ReadHeaderTimeout, "time a client has to send its request headers")
	fs.DurationVar(&cfg.ReadTimeout, "read-timeout", cfg.ReadTimeout, "time a client has to send its whole request")
	fs.DurationVar(&cfg.WriteTimeout, "write-timeout", cfg.WriteTimeout, "time to write a response")
	fs.IntVar(&cfg.MaxHeaderBytes, "max-header-bytes", cfg.MaxHeaderBytes, "largest request header block (431 above)")
	fs.IntVar(&cfg.MaxTenants, "max-tenants", cfg.MaxTenants, "tenants (/t/<name>/..., each its own bank) that may exist, open or closed; 0 turns tenants off")
	fs.IntVar(&cfg.MaxOpenTenants, "max-open-tenants", cfg.MaxOpenTenants, "tenants open at once; opening one more closes the one used least recently (it reopens from its file)")
	fs.DurationVar(&cfg.TenantIdle, "tenant-idle", cfg.TenantIdle, "close a tenant unused this long (real time); its next request reopens it from its file")
	fs.IntVar(&cfg.TenantSpares, "tenant-spares", cfg.TenantSpares, "PostgreSQL: tenant schemas kept migrated and seeded ahead, in the background, so that a new tenant is ready in tens of milliseconds (each ~1 s of the database's work, and 3 connections warmed up on it, at most 16 in all, plus 3 dialled ahead; SQLite tenants are a file copy and need none)")
	fs.Func("tenant-create-rate", "dev: tenants one address may make by a first request under /t/<name>/: RATE[:BURST] per second, or off (default "+cfg.TenantCreateRate.String()+")", func(v string) error {
		r, err := gateway.ParseRate(v)
		cfg.TenantCreateRate = r
		return err
	})
	fs.StringVar(&cfg.AnomalyResponse, "anomaly-response", cfg.AnomalyResponse, "what a high-severity security event does: alert, or suspend the client until an admin lifts it")
	fs.BoolVar(&cfg.AllowPrivateJWKS, "allow-private-jwks", cfg.AllowPrivateJWKS, "let clients' jwks_uri name loopback and private addresses (a TPP's key server beside the sandbox); off: refused")
	fs.BoolVar(&cfg.PProf, "pprof", cfg.PProf, "serve Go's profiler at /sandbox/debug/pprof/ (admin token; off by default)")
	fs.StringVar(&cfg.SIEMFile, "siem-file", cfg.SIEMFile, "stream every audit entry and security event as they commit, as JSON lines, to this file (- for standard output)")
	fs.StringVar(&cfg.SIEMSyslog, "siem-syslog", cfg.SIEMSyslog, "stream them as RFC 5424 syslog messages to a collector: tcp://HOST:PORT or tls://HOST:PORT")
	fs.StringVar(&cfg.SIEMSyslogCA, "siem-syslog-ca", cfg.SIEMSyslogCA, "PEM file of the CA a tls:// syslog collector's certificate chains to (default: the system's roots)")
	fs.IntVar(&cfg.SIEMBuffer, "siem-buffer", cfg.SIEMBuffer, "records waiting for a slow SIEM before they are dropped from the stream (and re-read from the audit trail later)")
	fs.DurationVar(&cfg.SettlementDelay, "settlement-delay", cfg.SettlementDelay, "sandbox time from accepting a payment to AcceptedSettlementCompleted (half of it Pending)")
	storageFlags(fs, cfg)
	return fs
}

// storageFlags declares the flags of the database and its key file.
func storageFlags(fs *flag.FlagSet, cfg *Config) {
	fs.StringVar(&cfg.KeyFile, "key-file", cfg.KeyFile, "the sandbox's key file, which keys the audit trail (default: the database's path plus .key, created 0600)")
	fs.StringVar(&cfg.Sync, "sync", cfg.Sync, "how the bank's commits reach the disk: full (nothing lost even on power loss) or normal (faster; a power loss may lose the last commits, a crash of the process loses nothing)")
	fs.DurationVar(&cfg.AuditRetention, "audit-retention", cfg.AuditRetention, "prune audit entries, security events and refused-traffic counts older than this (sandbox time); 0 keeps them all")
}

// env applies the SANDBOX_* twin of every flag that fs declares.
func env(fs *flag.FlagSet, getenv func(string) string) error {
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		name := "SANDBOX_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
	})
	return errors.Join(errs...)
}

// Validate checks the configuration and fills in what derives from it.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("--addr %q: %w", c.Addr, err)
	}
	if c.Profile != oauth.ProfileDev && !oauth.Strict(c.Profile) {
		return fmt.Errorf("--profile %q: want dev, fapi or fapi2", c.Profile)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("--log-format %q: want text or json", c.LogFormat)
	}
	if c.BodyLimit < 1024 {
		return fmt.Errorf("--body-limit %d: at least 1024 bytes", c.BodyLimit)
	}
	if c.PSUs < 0 {
		return fmt.Errorf("--psus %d: must not be negative", c.PSUs)
	}
	if c.ReadHeaderTimeout <= 0 || c.ReadTimeout <= 0 || c.WriteTimeout <= 0 || c.MaxHeaderBytes < 4096 {
		return fmt.Errorf("timeouts must be positive and --max-header-bytes at least 4096")
	}
	if c.AnomalyResponse != "alert" && c.AnomalyResponse != "suspend" {
		return fmt.Errorf("--anomaly-response %q: want alert or suspend", c.AnomalyResponse)
	}
	if c.SettlementDelay < time.Second {
		return fmt.Errorf("--settlement-delay %s: at least 1s", c.SettlementDelay)
	}
	if c.Sync != store.SyncFull && c.Sync != store.SyncNormal {
		return fmt.Errorf("--sync %q: want full or normal", c.Sync)
	}
	if store.IsPostgres(c.DB) && c.KeyFile == "" && c.Key == "" && os.Getenv(keyring.EnvKey) == "" {
		return fmt.Errorf("--db %s: a PostgreSQL database needs --key-file (or SANDBOX_KEY): the key that chains the audit trail and seals the bank's secrets lives outside the database, and every replica must be given the same file", store.Redacted(c.DB))
	}
	if c.SIEMBuffer < 1 {
		return fmt.Errorf("--siem-buffer %d: at least 1", c.SIEMBuffer)
	}
	if c.AuditRetention < 0 || (c.AuditRetention > 0 && c.AuditRetention < time.Hour) {
		return fmt.Errorf("--audit-retention %s: 0 (keep everything) or at least 1h", c.AuditRetention)
	}
	if c.MaxOpenTenants < 1 {
		return fmt.Errorf("--max-open-tenants %d: at least 1", c.MaxOpenTenants)
	}
	if c.TenantSpares < 0 || c.TenantSpares > 16 {
		return fmt.Errorf("--tenant-spares %d: 0 to 16", c.TenantSpares)
	}
	if c.TenantSpares > 0 && !store.IsPostgres(c.DB) {
		return errors.New("--tenant-spares is for PostgreSQL tenants (a SQLite tenant is a file copy, made in tens of milliseconds)")
	}
	if schema := store.SchemaOf(c.DB); c.TenantSpares > 0 && len(schema) > maxSparesSchema {
		return fmt.Errorf("--tenant-spares: schema %q is too long to name its spares after (at most %d characters)", schema, maxSparesSchema)
	}
	if c.TenantIdle < time.Second {
		return fmt.Errorf("--tenant-idle %s: at least 1s", c.TenantIdle)
	}
	if c.AccessTTL < time.Minute {
		return fmt.Errorf("--token-ttl %s: at least 1m", c.AccessTTL)
	}
	c.Issuer = strings.TrimRight(c.Issuer, "/")
	if oauth.Strict(c.Profile) {
		c.TLS = true // FAPI: TLS everywhere, mutual TLS for certificate-bound tokens
	}
	if c.UnattendedLimit < 0 {
		c.UnattendedLimit = 0
		if oauth.Strict(c.Profile) {
			c.UnattendedLimit = 4
		}
	}
	return nil
}

// DefaultURL is where the sandbox is reached with no flags, and the URL the
// CLI's commands talk to by default: what deriveIssuer gives for the default
// --addr and for the container's 0.0.0.0:8080 alike, so one URL works for
// `go run` and `docker run -p 8080:8080`.
const DefaultURL = "http://127.0.0.1:8080"

// deriveIssuer is the base URL clients reach the listener at. A listener on
// every interface (0.0.0.0, ::) is reached on this machine at 127.0.0.1.
func deriveIssuer(addr net.Addr) string {
	host, port, _ := net.SplitHostPort(addr.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	} else if ip.To4() == nil {
		host = "[" + host + "]"
	}
	return "http://" + host + ":" + port
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
