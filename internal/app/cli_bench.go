package app

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/obsandbox/sandbox/internal/bench"
)

// runBench is `sandbox bench`: the project's own load benchmark (issue 7).
// It seeds a large bank, starts this binary's `serve` as a child, obtains
// tokens through the real consent flow and drives closed-loop load against
// the sandbox, a bare echo server with the same bytes and Prism; see
// internal/bench and docs/PERFORMANCE.md.
func runBench(ctx context.Context, args []string, out, errOut io.Writer) error {
	o := bench.Defaults()
	fs := flag.NewFlagSet("sandbox bench", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.StringVar(&o.Out, "out", o.Out, "folder for the results file (bench-<time>.txt and .json), logs, profiles and the database")
	fs.StringVar(&o.DB, "db", "", "database file to seed (default: <out>/bench.db, removed at the end)")
	fs.BoolVar(&o.KeepDB, "keep-db", false, "keep the database file")
	fs.IntVar(&o.PSUs, "psus", o.PSUs, "generated PSUs (1000 give about 1,000,000 transactions)")
	fs.Uint64Var(&o.Seed, "seed", o.Seed, "random seed")
	fs.IntVar(&o.Conns, "connections", o.Conns, "connections, each with one request in flight (closed loop)")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "recorded time per route and target")
	fs.IntVar(&o.Threads, "wrk-threads", 0, "wrk's threads (default: one per core)")
	fs.DurationVar(&o.Warmup, "warmup", o.Warmup, "unrecorded warm-up before each fixed route")
	list := func(name string, dst *[]string, usage string) {
		fs.Func(name, usage+" (default "+strings.Join(*dst, ",")+")", func(v string) error {
			*dst = nil
			for _, x := range strings.Split(v, ",") {
				if x = strings.TrimSpace(x); x != "" {
					*dst = append(*dst, x)
				}
			}
			return nil
		})
	}
	list("targets", &o.Targets, "comma-separated targets: sandbox, bare, prism")
	list("routes", &o.Routes, "comma-separated routes")
	fs.StringVar(&o.Prism, "prism", o.Prism, `how to run Prism: "auto" (prism on PATH, ./node_modules/.bin/prism, else npx `+bench.PrismPackage+`), "off", or a command`)
	fs.StringVar(&o.Engine, "engine", o.Engine, `load generator of the fixed routes: "auto" (wrk when on the PATH, else the built-in Go one), "wrk" or "go"`)
	fs.IntVar(&o.Payments, "payments", o.Payments, "payment consents to create and authorise; the payment run stops when they are used up")
	fs.IntVar(&o.Tokens, "tokens", o.Tokens, "client assertions to sign for the token run; it stops when they are used up")
	fs.IntVar(&o.Starts, "starts", o.Starts, "cold starts to time")
	fs.IntVar(&o.JourneyClients, "journey-clients", o.JourneyClients, "clients running whole journeys at once on the journey route")
	fs.BoolVar(&o.Profile, "profile", false, "start the sandbox with --pprof and save a CPU profile and a goroutine dump of each of its routes in <out>")
	fs.Func("curve", "instead of the suite: the sandbox alone on banks of these PSU counts, e.g. 6,1000,10000 (~10k, 1M, 10M transactions)", func(v string) error {
		for _, x := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(x))
			if err != nil || n < 0 {
				return fmt.Errorf("--curve: %q is not a PSU count", x)
			}
			o.Curve = append(o.Curve, n)
		}
		return nil
	})
	fs.StringVar(&o.Postgres, "postgres", "", "also run the sandbox's routes on this PostgreSQL database (postgres://…; a schema of its own, e.g. ?search_path=bench, dropped before and after), reported beside SQLite in the same run")
	fs.Func("tenant-curve", "instead of the suite: one sandbox whose tenants grow to these counts, e.g. 10,100,1000 (time to a tenant's first answer, memory, reads in a busy tenant meanwhile)", func(v string) error {
		for _, x := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(x))
			if err != nil || n < 1 {
				return fmt.Errorf("--tenant-curve: %q is not a tenant count", x)
			}
			o.TenantCurve = append(o.TenantCurve, n)
		}
		return nil
	})
	fs.StringVar(&o.Sandbox, "sandbox", "", "instead of seeding and starting one: measure the sandbox already running at this base URL (http://host:port, started with --rate-limit off on a bank seeded with --psus), e.g. on a machine of its own so that this generator does not share its cores; its routes only")
	admin := secretFlag(fs, "admin-token", "SANDBOX_ADMIN_TOKEN", "with --sandbox: the admin `token` it was started with (SANDBOX_ADMIN_TOKEN)")
	serveBare := fs.String("serve-bare", "", "internal: serve the canned routes of this file as the bare ceiling (the benchmark's child process)")
	addr := fs.String("addr", "127.0.0.1:0", "internal: with --serve-bare, the listen address")
	fs.Usage = func() {
		fmt.Fprintln(errOut, "Usage: sandbox bench [flags]\n\nSeeds a bank of --psus PSUs, starts the sandbox, gets tokens through the real consent flow and measures\n"+
			"req/s, latency and peak memory of the sandbox, a bare echo server returning the same bytes and Prism serving\n"+
			"api/openapi.yaml, route by route, then prints the ratios and writes them to a results file. Needs nothing\n"+
			"but this binary; Prism is skipped (with a line saying why) when it cannot be started.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *serveBare != "" {
		return bench.ServeBare(ctx, *addr, *serveBare)
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if o.Sandbox != "" {
		for _, name := range []string{"db", "keep-db", "psus", "seed", "starts"} {
			if given[name] {
				return fmt.Errorf("--%s has no effect with --sandbox: the sandbox was seeded and started where it runs", name)
			}
		}
		if !given["targets"] {
			o.Targets = []string{bench.TargetSandbox} // the bare server and Prism would run here, not beside it
		}
		o.AdminToken = admin.Value()
	}
	o.Log = errOut
	_, err := bench.Run(ctx, o, out)
	return err
}
