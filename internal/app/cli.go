package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/obsandbox/sandbox/fixtures"
	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/store"
	"github.com/obsandbox/sandbox/seed"
)

// command is a subcommand of the sandbox binary.
type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, out, errOut io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "serve the sandbox (the default when no command is given)", runServe},
		{"seed", "build a bank into a database file and exit (large banks: --psus 1000)", runSeed},
		{"client", "client create --redirect-uri URI: register a TPP client (keys, software statement) and print it", runClient},
		{"keys", "keys rotate --admin-token T: a new bank signing key, served by the running sandbox at once (old ones keep verifying); keys rotate-data-key: re-seal every secret at rest under a new data key", runKeys},
		{"psus", "list the test PSUs, their passwords and accounts; psus add FILE / psus delete NAME: add or remove PSUs of a running sandbox", runPSUs},
		{"tpp", "tpp accounts|pay|vrp --psu alice: a reference TPP's whole journey against a running sandbox (SANDBOX_URL), printing each exchange", runTPP},
		{"certs", "certs ca: print the development CA's root; certs issue --cn NAME: a TPP certificate and key into sandbox-certs/", runCerts},
		{"incident", "incident start <compromised-tpp|signing-key|dependency-down>: run an incident response drill; incident report <id> [--html]: its post-incident report", runIncident},
		{"audit", "audit verify: check the audit trail's hash chain; audit export: write it as JSON lines", runAudit},
		{"bench", "bench: seed a large bank and measure the sandbox against a bare server and Prism (docs/PERFORMANCE.md)", runBench},
		{"clock", "clock [advance 91d]: read or move a running sandbox's clock (--sandbox URL, --admin-token)", runClock},
		{"reset", "reset: put a running sandbox back to its seed (--sandbox URL, --admin-token)", runReset},
		{"snapshot", "snapshot save|restore|list|delete NAME: save a running sandbox's whole state and put it back later", runSnapshot},
		{"scenarios", "scenarios list|show|put|delete|activate|deactivate|bind|unbind: a running sandbox's scenario catalogue", runScenarios},
		{"healthcheck", "exit 0 if this machine's sandbox answers GET /healthz with 200, over HTTP or HTTPS (container health checks)", runHealthcheck},
		{"version", "print the version", func(_ context.Context, _ []string, out, _ io.Writer) error {
			fmt.Fprintln(out, "sandbox", Version)
			return nil
		}},
	}
}

// Main runs the sandbox binary with args (without the program name) and
// returns the process exit code.
func Main(ctx context.Context, args []string, out, errOut io.Writer) int {
	name := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if name == "help" {
		name, args = "serve", []string{"--help"} // the commands, then the serving flags
	}
	for _, c := range commands() {
		if c.name == name {
			err := c.run(ctx, args, out, errOut)
			switch {
			case errors.Is(err, flag.ErrHelp):
				return 0
			case err != nil:
				fmt.Fprintln(errOut, "sandbox:", err)
				return 1
			}
			return 0
		}
	}
	fmt.Fprintf(errOut, "sandbox: unknown command %q\n\n", name)
	usage(errOut)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Open Banking Sandbox: a UK Open Banking v3.1.11 bank simulator.")
	fmt.Fprintln(w, "\nUsage: sandbox [command] [flags]   (sandbox <command> --help for its flags)")
	fmt.Fprintln(w, "\nCommands:")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	tw.Flush()
}

// parseFlags parses args: --help prints the command's usage; a bad flag is
// one line naming it, with a pointer to --help instead of the whole usage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	usage, out := fs.Usage, fs.Output()
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.Usage = usage
	fs.SetOutput(out)
	switch {
	case errors.Is(err, flag.ErrHelp):
		usage()
		return err
	case err != nil:
		return fmt.Errorf("%w (%s --help lists the flags)", err, fs.Name())
	}
	return nil
}

// secretValue is a flag whose value, when not given, is an environment
// variable's, read when used: --help never prints it as a default.
type secretValue struct {
	env, v string
	set    bool
}

// secretFlag defines a secret flag named name, its default from env.
func secretFlag(fs *flag.FlagSet, name, env, usage string) *secretValue {
	f := &secretValue{env: env}
	fs.Var(f, name, usage)
	return f
}

func (f *secretValue) String() string { return "" }

func (f *secretValue) Set(v string) error {
	f.v, f.set = v, true
	return nil
}

// Value is the flag's value, else the environment variable's.
func (f *secretValue) Value() string {
	if f.set {
		return f.v
	}
	return os.Getenv(f.env)
}

// parse reads flags, then their SANDBOX_* environment twins for flags not
// given on the command line.
func parse(fs *flag.FlagSet, args []string) error {
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	return env(fs, func(k string) string {
		name := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(k, "SANDBOX_")), "_", "-")
		if given[name] {
			return ""
		}
		return os.Getenv(k)
	})
}

func runServe(ctx context.Context, args []string, out, errOut io.Writer) error {
	cfg := Defaults()
	fs := flagSet("sandbox serve", &cfg, errOut)
	fs.Usage = func() {
		usage(errOut)
		fmt.Fprintln(errOut, "\nsandbox [serve] [flags] serves the sandbox. Every flag has an environment twin: --db is SANDBOX_DB.\n\nFlags of serve:")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	tuneGC()
	a, err := New(ctx, cfg, errOut)
	if err != nil {
		return err
	}
	a.banner(ctx, out)
	return a.Serve(ctx)
}

// KeepGCDefaults has serve leave Go's collector settings alone: for a
// process that hosts many sandboxes, as the end-to-end tests' does (they run
// serve in-process too). The soft limit tuneGC sets is for a process that
// serves one; with dozens the live heap passes it, and the collector then
// runs without pause (it cost those tests 40% of their time).
var KeepGCDefaults bool

// tuneGC trades memory the sandbox has to spare for fewer collections: the
// heap may grow to three times what is live (GOGC=200), while a soft limit
// of 64 MiB on Go's memory (SQLite's page caches come on top) makes the
// collector work harder before the process grows past what it should use.
// GOGC and GOMEMLIMIT in the environment win; KeepGCDefaults skips both.
func tuneGC() {
	if KeepGCDefaults {
		return
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(64 << 20)
	}
}

// banner prints where the sandbox is and how to start using it, in one
// write. It prints the admin token only when the sandbox made it: one given
// by flag or environment is the user's own, and logs are no place for it.
func (a *App) banner(ctx context.Context, out io.Writer) {
	var b strings.Builder
	a.writeBanner(ctx, &b)
	io.WriteString(out, b.String())
}

func (a *App) writeBanner(ctx context.Context, w io.Writer) {
	fmt.Fprintf(w, "Open Banking Sandbox %s — profile %s — database %s\n", Version, a.Config.Profile, store.Redacted(a.Config.DB))
	fmt.Fprintf(w, "  API          %s/open-banking/v3.1/aisp   (contract: %s/open-banking/v3.1/openapi.yaml)\n", a.URL, a.URL)
	how := "over mutual TLS"
	if !oauth.Strict(a.Config.Profile) {
		how = "in dev in the TPP-QWAC-Certificate header"
	}
	fmt.Fprintf(w, "  Berlin Group %s/psd2/v1   (NextGenPSD2 1.3.12; the TPP's QWAC from POST /sandbox/certs with \"roles\", %s)\n", a.URL, how)
	fmt.Fprintf(w, "  Discovery    %s/.well-known/openid-configuration\n", a.Auth.Issuer)
	fmt.Fprintf(w, "  Health       %s/healthz\n", a.URL)
	token := "<admin token>"
	if a.showToken {
		token = a.Config.AdminToken
		fmt.Fprintf(w, "  Admin token  %s   (Authorization: Bearer <token> on /sandbox/...)\n", token)
	} else {
		fmt.Fprintln(w, "  Admin token  the one given by --admin-token / SANDBOX_ADMIN_TOKEN   (Authorization: Bearer <token> on /sandbox/...)")
	}
	if n, err := a.Store.PSUCount(ctx); err == nil { // a count: listing 10,000 PSUs would delay the start
		fmt.Fprint(w, "  Test PSUs    ")
		for _, p := range a.Fixtures.PSUs {
			fmt.Fprintf(w, "%s/%s  ", p.Username, p.Password)
		}
		for _, p := range a.Personas {
			fmt.Fprintf(w, "%s/%s  ", p.Username, p.Password)
		}
		fmt.Fprintf(w, "(+%d generated or added: GET /sandbox/psus)\n", n-len(a.Fixtures.PSUs)-len(a.Personas))
	}
	if a.Config.AllowPrivateJWKS {
		fmt.Fprintln(w, "  Warning      --allow-private-jwks: clients' jwks_uri may name loopback and private addresses, which the bank then fetches")
	}
	if oauth.Strict(a.Config.Profile) {
		// fapi takes no JSON registration: a client needs a certificate for
		// mutual TLS and a software statement, both from the sandbox.
		fmt.Fprintln(w, "  First step   a reference TPP gets a certificate and a software statement, registers, and reads alice's accounts:")
		fmt.Fprintf(w, "    sandbox tpp accounts --sandbox %s --admin-token %s --psu alice\n", a.Auth.Issuer, token)
		fmt.Fprintf(w, "  By hand      the CA: GET %s/sandbox/certs/ca.pem; a TPP certificate: POST /sandbox/certs; a software statement:\n", a.URL)
		fmt.Fprintln(w, "               POST /sandbox/directory/software-statements (both with the admin token); then POST /as/register a signed")
		fmt.Fprintln(w, "               request (application/jwt) over mutual TLS — README, \"Quick start: the fapi profile\"")
		return
	}
	fmt.Fprintf(w, "  Register a client: curl -s -X POST %s/as/register -H 'Content-Type: application/json' -d '{\"redirect_uris\":[\"https://localhost:3000/callback\"]}'\n", a.URL)
	fmt.Fprintf(w, "  Or the whole journey: sandbox tpp accounts --sandbox %s --psu alice\n", a.Auth.Issuer)
}

func runSeed(ctx context.Context, args []string, out, errOut io.Writer) error {
	cfg := Defaults()
	cfg.DB = ""
	fs := flag.NewFlagSet("sandbox seed", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.StringVar(&cfg.DB, "db", "", "database file to build (required; replaces its bank, keeps its clients), or a postgres:// URL")
	fs.StringVar(&cfg.KeyFile, "key-file", os.Getenv("SANDBOX_KEY_FILE"), "the sandbox's key file (required with PostgreSQL: the one the replicas are given)")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "random seed")
	fs.IntVar(&cfg.PSUs, "psus", cfg.PSUs, "generated PSUs beyond the fixture personas")
	txPerPSU := fs.Int("tx-per-psu", 1000, "rough number of transactions per generated PSU")
	fs.Func("seed-date", "date the history ends (YYYY-MM-DD)", func(v string) error {
		t, err := time.Parse("2006-01-02", v)
		cfg.SeedDate = t
		return err
	})
	fs.Usage = func() {
		fmt.Fprintln(errOut, "Usage: sandbox seed --db FILE [--psus N] [--seed S]\n\nBuilds a bank from the fixtures plus N generated PSUs (about --tx-per-psu\ntransactions each) and reports the speed.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if cfg.DB == "" {
		fs.Usage()
		return errors.New("--db is required")
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	s, err := openStore(ctx, &cfg, false)
	if err != nil {
		return err
	}
	defer s.Close()
	fx, err := fixtures.Load()
	if err != nil {
		return err
	}
	st, err := seed.Run(ctx, s, fx, seed.Options{Seed: cfg.Seed, PSUs: cfg.PSUs, Date: cfg.SeedDate, TxPerPSU: *txPerPSU})
	if err != nil {
		return err
	}
	if err := s.StartCardClock(ctx, time.Now(), cfg.SeedDate); err != nil {
		return err
	}
	rec := fmt.Sprintf(`{"seed":%d,"psus":%d,"date":%q}`, cfg.Seed, cfg.PSUs, cfg.SeedDate.Format(time.RFC3339))
	if err := s.SetSetting(ctx, "seed", rec); err != nil {
		return err
	}
	fmt.Fprintln(out, st)
	return nil
}

// runHealthcheck is the container's health check: GET /healthz on this
// machine's sandbox, exit 0 on 200. It reads the variables serve reads
// (SANDBOX_ADDR, SANDBOX_TLS, SANDBOX_PROFILE); a sandbox started with --tls
// or --profile fapi as flags, which it cannot see, is found out by its
// answer to plain HTTP, and asked again over HTTPS. /healthz needs no client
// certificate, in any profile.
func runHealthcheck(ctx context.Context, args []string, out, errOut io.Writer) error {
	cfg := Defaults()
	fs := flag.NewFlagSet("sandbox healthcheck", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "the sandbox's listen address")
	fs.BoolVar(&cfg.TLS, "tls", cfg.TLS, "the sandbox serves HTTPS (found out when not said)")
	fs.StringVar(&cfg.Profile, "profile", cfg.Profile, "the sandbox's profile (fapi serves HTTPS)")
	cacert := fs.String("cacert", "", "PEM file of the CA that signed the sandbox's certificate (sandbox certs ca); without it a sandbox on this machine's loopback is not verified")
	target := fs.String("url", "", "the sandbox's base URL or health URL (SANDBOX_URL; default: /healthz at --addr)")
	fs.Usage = func() {
		fmt.Fprintln(errOut, "Usage: sandbox healthcheck [--addr HOST:PORT] [--url URL] [--cacert FILE]\n\nExits 0 if the sandbox answers GET /healthz with 200 (HTTP or HTTPS).\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if *target == "" {
		host, port, err := net.SplitHostPort(cfg.Addr)
		if err != nil {
			return fmt.Errorf("--addr %q: %w", cfg.Addr, err)
		}
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			host = "127.0.0.1"
		}
		scheme := "http"
		if cfg.TLS || oauth.Strict(cfg.Profile) {
			scheme = "https"
		}
		*target = scheme + "://" + net.JoinHostPort(host, port) + "/healthz"
	}
	if u, err := url.Parse(*target); err == nil && strings.Trim(u.Path, "/") == "" {
		*target = strings.TrimRight(*target, "/") + "/healthz" // a base URL, as the other commands take
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	status, err := healthz(ctx, *target, *cacert)
	if errors.Is(err, errHTTPSServer) {
		*target = "https://" + strings.TrimPrefix(*target, "http://")
		status, err = healthz(ctx, *target, *cacert)
	}
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("%s: %d %s", *target, status, http.StatusText(status))
	}
	fmt.Fprintln(out, "healthy")
	return nil
}

// errHTTPSServer: plain HTTP reached a server that speaks TLS.
var errHTTPSServer = errors.New("the sandbox serves HTTPS")

// healthz gets target and returns the status.
func healthz(ctx context.Context, target, cacert string) (int, error) {
	u, err := url.Parse(target)
	if err != nil {
		return 0, err
	}
	tr := &http.Transport{}
	if u.Scheme == "https" {
		tc := &tls.Config{}
		switch ip := net.ParseIP(u.Hostname()); {
		case cacert != "":
			pem, err := os.ReadFile(cacert)
			if err != nil {
				return 0, err
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return 0, fmt.Errorf("--cacert %s: no certificate in it", cacert)
			}
		case u.Hostname() == "localhost" || (ip != nil && ip.IsLoopback()):
			// A liveness probe of the process beside it, trusting nothing
			// but the status (Kubernetes' HTTPS probes do the same): the
			// development CA is in no trust store.
			tc.InsecureSkipVerify = true
		default:
			return 0, fmt.Errorf("%s is not on this machine: give --cacert (sandbox certs ca) to check it over TLS", u.Host)
		}
		tr.TLSClientConfig = tc
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return 0, err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	// Go's server answers plain HTTP on a TLS port with this 400.
	if u.Scheme == "http" && resp.StatusCode == http.StatusBadRequest && bytes.Contains(body, []byte("HTTP request to an HTTPS server")) {
		return 0, errHTTPSServer
	}
	return resp.StatusCode, nil
}

func runClient(ctx context.Context, args []string, out, errOut io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("usage: sandbox client create --redirect-uri URI [flags]")
	}
	return runClientCreate(ctx, args[1:], out, errOut)
}

func runKeys(ctx context.Context, args []string, out, errOut io.Writer) error {
	switch {
	case len(args) > 0 && args[0] == "rotate":
		return runKeysRotate(ctx, args[1:], out, errOut)
	case len(args) > 0 && args[0] == "rotate-data-key":
		return runKeysRotateData(ctx, args[1:], out, errOut)
	}
	return errors.New("usage: sandbox keys rotate|rotate-data-key [--admin-token TOKEN | --db FILE]")
}

func decodeSegment(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
