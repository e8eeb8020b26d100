package app

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/obsandbox/sandbox/fixtures"
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
		{"keys", "keys rotate: make a new bank signing key (old ones keep verifying)", runKeys},
		{"psus", "list the test PSUs, their passwords and accounts", runPSUs},
		{"tpp", "tpp accounts|pay --sandbox URL --psu alice: run a reference TPP's journey headlessly, printing each exchange", runTPP},
		{"certs", "certs ca: print the development CA's root; certs issue --cn NAME: a TPP certificate (expired or revoked on request)", runCerts},
		{"audit", "audit verify: check the audit trail's hash chain; audit export: write it as JSON lines", runAudit},
		{"bench", "bench: seed a large bank and measure the sandbox against a bare server and Prism (docs/PERFORMANCE.md)", runBench},
		{"clock", "clock [advance 91d]: read or move a running sandbox's clock (--sandbox URL, --admin-token)", runClock},
		{"reset", "reset: put a running sandbox back to its seed (--sandbox URL, --admin-token)", runReset},
		{"snapshot", "snapshot save|restore|list|delete NAME: save a running sandbox's whole state and put it back later", runSnapshot},
		{"scenarios", "scenarios list|show|put|delete|activate|deactivate|bind|unbind: a running sandbox's scenario catalogue", runScenarios},
		{"healthcheck", "exit 0 if the sandbox at --url answers GET /healthz with 200 (container health checks)", runHealthcheck},
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
	if name == "help" || name == "-h" || name == "--help" {
		usage(errOut)
		return 0
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

// parse reads flags, then their SANDBOX_* environment twins for flags not
// given on the command line.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
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
		fmt.Fprintln(errOut, "Usage: sandbox [serve] [flags]\n\nServes the sandbox. Every flag has an environment twin: --db is SANDBOX_DB.\n\nFlags:")
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

// tuneGC trades memory the sandbox has to spare for fewer collections: the
// heap may grow to three times what is live (GOGC=200), while a soft limit
// of 64 MiB on Go's memory (SQLite's page caches come on top) makes the
// collector work harder before the process grows past what it should use.
// GOGC and GOMEMLIMIT in the environment win.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(64 << 20)
	}
}

// banner prints where the sandbox is and how to start using it.
func (a *App) banner(ctx context.Context, w io.Writer) {
	fmt.Fprintf(w, "Open Banking Sandbox %s — profile %s — database %s\n", Version, a.Config.Profile, a.Config.DB)
	fmt.Fprintf(w, "  API          %s/open-banking/v3.1/aisp   (contract: %s/open-banking/v3.1/openapi.yaml)\n", a.URL, a.URL)
	fmt.Fprintf(w, "  Discovery    %s/.well-known/openid-configuration\n", a.Auth.Issuer)
	fmt.Fprintf(w, "  Health       %s/healthz\n", a.URL)
	fmt.Fprintf(w, "  Admin token  %s   (Authorization: Bearer <token> on /sandbox/...)\n", a.Config.AdminToken)
	if n, err := a.Store.PSUCount(ctx); err == nil { // a count: listing 10,000 PSUs would delay the start
		fmt.Fprint(w, "  Test PSUs    ")
		for _, p := range a.Fixtures.PSUs {
			fmt.Fprintf(w, "%s/%s  ", p.Username, p.Password)
		}
		fmt.Fprintf(w, "(+%d generated: GET /sandbox/psus)\n", n-len(a.Fixtures.PSUs))
	}
	if a.Config.AllowPrivateJWKS {
		fmt.Fprintln(w, "  Warning      --allow-private-jwks: clients' jwks_uri may name loopback and private addresses, which the bank then fetches")
	}
	fmt.Fprintf(w, "  Register a client: curl -s -X POST %s/as/register -H 'Content-Type: application/json' -d '{\"redirect_uris\":[\"https://localhost:3000/callback\"]}'\n", a.URL)
}

func runSeed(ctx context.Context, args []string, out, errOut io.Writer) error {
	cfg := Defaults()
	cfg.DB = ""
	fs := flag.NewFlagSet("sandbox seed", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.StringVar(&cfg.DB, "db", "", "database file to build (required; replaces its bank, keeps its clients)")
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

func runHealthcheck(ctx context.Context, args []string, out, errOut io.Writer) error {
	cfg := Defaults()
	fs := flag.NewFlagSet("sandbox healthcheck", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "the sandbox's listen address")
	url := fs.String("url", "", "health URL (default: from --addr)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *url == "" {
		host, port, err := net.SplitHostPort(cfg.Addr)
		if err != nil {
			return err
		}
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		*url = "http://" + net.JoinHostPort(host, port) + "/healthz"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", *url, resp.Status)
	}
	fmt.Fprintln(out, "healthy")
	return nil
}

func runClient(ctx context.Context, args []string, out, errOut io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("usage: sandbox client create --redirect-uri URI [flags]")
	}
	return runClientCreate(ctx, args[1:], out, errOut)
}

func runKeys(ctx context.Context, args []string, out, errOut io.Writer) error {
	if len(args) == 0 || args[0] != "rotate" {
		return errors.New("usage: sandbox keys rotate [--db FILE]")
	}
	return runKeysRotate(ctx, args[1:], out, errOut)
}

func decodeSegment(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
