package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/obsandbox/sandbox/api"
)

// The routes the benchmark drives, in the order it drives them.
const (
	RouteAccounts       = "accounts"        // GET /aisp/accounts (3 accounts)
	RouteBalances       = "balances"        // GET /aisp/accounts/{id}/balances
	RouteTransactions   = "transactions"    // GET /aisp/accounts/{id}/transactions, 50 rows, date filter
	RouteConsent        = "consent"         // POST /aisp/account-access-consents
	RouteToken          = "token"           // POST /as/token, client_credentials with private_key_jwt
	RoutePaymentConsent = "payment-consent" // POST /pisp/domestic-payment-consents (unique idempotency keys)
	RoutePayment        = "payment"         // POST /pisp/domestic-payments (unique consents and idempotency keys)
)

// AllRoutes lists every route.
// The same reads through UK OB v4.0 (the token of the v3.1.11 consent, as
// the migration rule allows): they keep the same ratio to bare.
const (
	RouteAccountsV4     = "accounts-v4.0"
	RouteBalancesV4     = "balances-v4.0"
	RouteTransactionsV4 = "transactions-v4.0"
	// RouteJourney is a whole TPP journey per unit, from registration to a
	// read (see Journey); the sandbox only.
	RouteJourney = "journey"
	// RouteJourneyES256 is the same journey by a TPP that signs its JWTs
	// ES256 (FAPI allows it beside PS256): the TPP's side costs less, the
	// bank's is the same.
	RouteJourneyES256 = "journey-es256"
)

var AllRoutes = []string{RouteAccounts, RouteBalances, RouteTransactions, RouteConsent, RouteToken, RoutePaymentConsent, RoutePayment,
	RouteAccountsV4, RouteBalancesV4, RouteTransactionsV4, RouteAccountsBG, RouteBalancesBG, RouteTransactionsBG, RouteJourney, RouteJourneyES256}

// fixedRoutes are the routes whose one request is sent again and again.
var fixedRoutes = []string{RouteAccounts, RouteBalances, RouteTransactions, RouteConsent, RouteAccountsV4, RouteBalancesV4, RouteTransactionsV4,
	RouteAccountsBG, RouteBalancesBG, RouteTransactionsBG}

// The targets.
const (
	TargetSandbox = "sandbox"
	TargetBare    = "bare"
	TargetPrism   = "prism"
)

// PrismPackage is the Prism release the comparison uses (as in
// shared/tools/peer-bench).
const PrismPackage = "@stoplight/prism-cli@5.16.0"

// Options choose what a run does.
type Options struct {
	Exe      string        // the sandbox binary: started as `seed`, `serve` and `bench --serve-bare`
	Out      string        // folder for the results file, logs, profiles and the database
	DB       string        // database file; "" is a new one in Out, removed at the end
	KeepDB   bool          // keep the database file
	PSUs     int           // generated PSUs (1,000 give about 1,000,000 transactions)
	Seed     uint64        // the seed
	Conns    int           // connections (closed loop: one request in flight each)
	Duration time.Duration // recorded time per route and target
	Warmup   time.Duration // unrecorded time before it (fixed routes)
	Targets  []string      // sandbox, bare, prism
	Routes   []string      // subset of AllRoutes
	Prism    string        // "auto" (prism on PATH, else npx), "off", or the command to run
	Engine   string        // load generator of the fixed routes: "auto" (wrk when on PATH, else go), "wrk" or "go"
	Threads  int           // wrk's threads; 0: one per core
	Payments int           // payment consents to prepare (the payment run stops when they are used up)
	Tokens   int           // client assertions to prepare for the token run
	Starts   int           // cold starts to time (the last one serves the load)
	// JourneyClients run whole journeys at once on the journey route.
	JourneyClients int
	Profile        bool  // take a CPU profile of the sandbox during each of its runs (/sandbox/debug/pprof)
	Curve          []int // PSU counts for the scale curve; when set the run is the curve only
	// TenantCurve are tenant counts for the tenant curve (one sandbox, its
	// tenants grown to each in turn); when set the run is that curve only.
	TenantCurve []int
	// Postgres, a PostgreSQL URL, runs the sandbox's routes again on it
	// after the suite, in the same run (a schema of its own, dropped).
	Postgres string
	// Sandbox, a base URL (http://host:port), measures a sandbox started
	// elsewhere — e.g. on a machine of its own, so that the load generator
	// does not share its cores — instead of seeding and starting one: its
	// routes only (no bare server or Prism beside it), with AdminToken, the
	// token it was started with. Its memory and CPU are not seen from here.
	Sandbox    string
	AdminToken string
	// Clock is the TPP's clock (its assertions' iat and exp); nil is the
	// wall clock.
	Clock func() time.Time
	Log   io.Writer // progress lines
}

// Defaults are the options of `sandbox bench` with no flags.
func Defaults() Options {
	return Options{Out: "bench-results", PSUs: 1000, Seed: 42, Conns: 64, Duration: 10 * time.Second, Warmup: 2 * time.Second,
		Targets: []string{TargetSandbox, TargetBare, TargetPrism}, Routes: AllRoutes, Prism: "auto", Engine: "auto",
		Payments: 8000, Tokens: 8000, Starts: 5, JourneyClients: 16}
}

// Row is one route measured on one target.
type Row struct {
	Route  string `json:"route"`
	Target string `json:"target"`
	Stats  Stats  `json:"stats"`
	// ServerCores is the target's own CPU use; absent when not measured
	// (a sandbox started elsewhere).
	ServerCores float64 `json:"server_cores,omitempty"`
	// MachineCores is how busy the whole machine was (all processes): what
	// exceeds server + generator is someone else's work, i.e. noise.
	MachineCores float64 `json:"machine_cores"`
	Note         string  `json:"note,omitempty"`
}

// Server is what is known of one target process.
type Server struct {
	Name    string        `json:"name"`
	PeakRSS int64         `json:"peak_rss_bytes,omitempty"` // absent: not measured (started elsewhere)
	Ready   time.Duration `json:"ready_ns"`
	Skipped string        `json:"skipped,omitempty"`
	Command string        `json:"command,omitempty"`
}

// SeedResult is what seeding the bank took.
type SeedResult struct {
	PSUs         int           `json:"psus"`
	Accounts     int           `json:"accounts"`
	Transactions int           `json:"transactions"`
	Elapsed      time.Duration `json:"elapsed_ns"` // as the seed command reports it (generation + load)
	Wall         time.Duration `json:"wall_ns"`    // the whole command, process start to exit
	DBBytes      int64         `json:"db_bytes"`
	Line         string        `json:"line"`
}

// PaymentCheck compares the 201s received with the payments stored.
type PaymentCheck struct {
	Prepared   int `json:"prepared"`    // authorised consents with a signed payment ready
	Sent       int `json:"sent"`        // payment requests answered
	Created    int `json:"created_201"` // of which 201
	Stored     int `json:"stored"`      // payments in the database for the consents used
	Lost       int `json:"lost"`        // 201 received, no payment stored
	Duplicated int `json:"duplicated"`  // more than one payment for a consent, or one id twice
	Unanswered int `json:"unanswered"`  // payment stored without a 201 seen (socket error)
	Checked    bool
	// ThroughAPI: read back through the API (a sandbox started elsewhere),
	// not in its database; Stored counts the 201s found, and a payment
	// stored without a 201 cannot be seen.
	ThroughAPI bool `json:"through_api,omitempty"`
	Unverified int  `json:"unverified,omitempty"` // answered 201, could not be read back (through the API)
}

// Flows is the preparation through the real consent flow.
type Flows struct {
	Count   int           `json:"count"`
	Elapsed time.Duration `json:"elapsed_ns"`
}

// CurvePoint is the sandbox on one bank size.
type CurvePoint struct {
	Seed       SeedResult      `json:"seed"`
	ColdStarts []time.Duration `json:"cold_starts_ns"`
	Rows       []Row           `json:"rows"`
	PeakRSS    int64           `json:"peak_rss_bytes"`
}

// Report is everything a run measured; it is written as JSON and as text.
type Report struct {
	Started     time.Time       `json:"started"`
	Command     string          `json:"command"`
	Machine     Machine         `json:"machine"`
	Conns       int             `json:"connections"`
	Duration    time.Duration   `json:"duration_ns"`
	Warmup      time.Duration   `json:"warmup_ns"`
	Seed        SeedResult      `json:"seed"`
	ColdStarts  []time.Duration `json:"cold_starts_ns"`
	Rows        []Row           `json:"rows"`
	Servers     []Server        `json:"servers"`
	Payments    PaymentCheck    `json:"payments"`
	AuthFlows   Flows           `json:"payment_authorisations"`
	Curve       []CurvePoint    `json:"curve,omitempty"`
	Tenants     []TenantPoint   `json:"tenants,omitempty"`
	Postgres    *PostgresRun    `json:"postgres,omitempty"`
	TenantQuiet Stats           `json:"tenant_probe_alone"` // the probe tenant's reads with nothing else going on
	Profiles    []string        `json:"profiles,omitempty"`
	Engine      string          `json:"engine"`
	Remote      string          `json:"remote,omitempty"` // the sandbox measured, started elsewhere (--sandbox)
	Notes       []string        `json:"notes,omitempty"`
	ResultsFile string          `json:"-"`
}

// Machine describes where the run happened.
type Machine struct {
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	MemoryMB   int64  `json:"memory_mb"`
	Kernel     string `json:"kernel"`
	Go         string `json:"go"`
	GOMAXPROCS int    `json:"gomaxprocs"`
}

func machine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), GOMAXPROCS: runtime.GOMAXPROCS(0)}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				m.MemoryMB = kb / 1024
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// runner carries a run's state.
type runner struct {
	o      Options
	rep    *Report
	logw   io.Writer
	t0     time.Time
	admin  string
	procs  []*Proc
	procMu sync.Mutex
	wrk    string // wrk's path when it drives the fixed routes

	// The payment run: what was sent and what came back, checked against
	// the database once the sandbox has stopped.
	paymentPool     []Request
	paymentOutcomes map[string]paymentOutcome
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }

func (r *runner) logf(format string, args ...any) {
	if r.logw != nil {
		fmt.Fprintf(r.logw, "[%5.1fs] %s\n", time.Since(r.t0).Seconds(), fmt.Sprintf(format, args...))
	}
}

func (r *runner) want(route string) bool {
	for _, x := range r.o.Routes {
		if x == route {
			return true
		}
	}
	return false
}

func (r *runner) wantTarget(t string) bool {
	for _, x := range r.o.Targets {
		if x == t {
			return true
		}
	}
	return false
}

func (r *runner) track(p *Proc) {
	r.procMu.Lock()
	r.procs = append(r.procs, p)
	r.procMu.Unlock()
}

// stopAll stops every process the run started and still runs.
func (r *runner) stopAll() {
	r.procMu.Lock()
	ps := r.procs
	r.procs = nil
	r.procMu.Unlock()
	for _, p := range ps {
		_ = p.Stop()
	}
}

// Run runs the benchmark (or the scale curve) and writes the report to w
// and to a results file in o.Out.
func Run(ctx context.Context, o Options, w io.Writer) (*Report, error) {
	if o.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		o.Exe = exe
	}
	if o.Conns <= 0 || o.Duration <= 0 {
		return nil, errors.New("bench: connections and duration must be positive")
	}
	for _, rt := range o.Routes {
		if !contains(AllRoutes, rt) {
			return nil, fmt.Errorf("bench: unknown route %q (want %s)", rt, strings.Join(AllRoutes, ","))
		}
	}
	for _, t := range o.Targets {
		if t != TargetSandbox && t != TargetBare && t != TargetPrism {
			return nil, fmt.Errorf("bench: unknown target %q (want sandbox,bare,prism)", t)
		}
	}
	if o.Starts < 1 {
		o.Starts = 1
	}
	admin := randomHex(16)
	if o.Sandbox != "" {
		var err error
		if o.Sandbox, err = remoteBase(o); err != nil {
			return nil, err
		}
		admin = o.AdminToken
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	r := &runner{o: o, logw: o.Log, t0: time.Now(), admin: admin}
	r.rep = &Report{Started: time.Now().UTC(), Command: redactedCommand(os.Args), Machine: machine(), Conns: o.Conns,
		Duration: o.Duration, Warmup: o.Warmup, Remote: o.Sandbox}
	switch o.Engine {
	case "go":
	case "auto", "wrk", "":
		p, err := lookPath("wrk", "apt-get install wrk")
		if err != nil && o.Engine == "wrk" {
			return nil, err
		}
		r.wrk = p
	default:
		return nil, fmt.Errorf("bench: --engine %q: want auto, wrk or go", o.Engine)
	}
	if r.wrk != "" {
		r.rep.Engine = fmt.Sprintf("wrk (%s, threads: %d) for the fixed routes, the Go generator for the prepared pools", r.wrk, wrkThreads(r.o))
	} else {
		r.rep.Engine = "the Go generator (wrk not found: apt-get install wrk gives a cheaper generator for the fixed routes)"
	}
	r.logf("load generator: %s", r.rep.Engine)
	defer r.stopAll()
	var err error
	switch {
	case len(o.TenantCurve) > 0:
		err = r.tenantCurve(ctx)
	case len(o.Curve) > 0:
		err = r.curve(ctx)
	default:
		err = r.suite(ctx)
		if err == nil && o.Postgres != "" {
			err = r.postgresToo(ctx)
		}
	}
	r.stopAll()
	if err != nil {
		return r.rep, err
	}
	var text bytes.Buffer
	r.rep.Print(io.MultiWriter(w, &text))
	stamp := r.rep.Started.Format("20060102-150405")
	base := filepath.Join(o.Out, "bench-"+stamp)
	if len(o.Curve) > 0 {
		base = filepath.Join(o.Out, "curve-"+stamp)
	}
	if len(o.TenantCurve) > 0 {
		base = filepath.Join(o.Out, "tenants-"+stamp)
	}
	js, _ := json.MarshalIndent(r.rep, "", "  ")
	if err := os.WriteFile(base+".json", js, 0o644); err != nil {
		return r.rep, err
	}
	if err := os.WriteFile(base+".txt", text.Bytes(), 0o644); err != nil {
		return r.rep, err
	}
	r.rep.ResultsFile = base + ".txt"
	fmt.Fprintf(w, "\nresults: %s and %s\n", base+".txt", base+".json")
	return r.rep, nil
}

// redactedCommand is the command line as the results file shows it,
// without the admin token's value.
func redactedCommand(args []string) string {
	out := slices.Clone(args)
	for i, a := range out {
		switch {
		case (a == "--admin-token" || a == "-admin-token") && i+1 < len(out):
			out[i+1] = "…"
		case strings.HasPrefix(a, "--admin-token=") || strings.HasPrefix(a, "-admin-token="):
			k, _, _ := strings.Cut(a, "=")
			out[i] = k + "=…"
		}
	}
	return strings.Join(out, " ")
}

// remoteBase checks what a run against a sandbox started elsewhere can do
// and returns its base URL's scheme and host (the load generators speak
// plain HTTP/1.1 to a host:port).
func remoteBase(o Options) (string, error) {
	u, err := url.Parse(o.Sandbox)
	switch {
	case err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("bench: --sandbox %q: want the sandbox's base URL, e.g. http://10.0.0.5:8080", o.Sandbox)
	case u.Scheme != "http":
		return "", fmt.Errorf("bench: --sandbox %q: only plain http is measured (a sandbox started without --tls)", o.Sandbox)
	case strings.Trim(u.Path, "/") != "":
		return "", fmt.Errorf("bench: --sandbox %q: give the sandbox's root URL, not a path in it (a tenant's /t/NAME is not measured)", o.Sandbox)
	case o.AdminToken == "":
		return "", errors.New("bench: --sandbox needs the admin token the sandbox was started with (--admin-token or SANDBOX_ADMIN_TOKEN)")
	case len(o.TenantCurve) > 0 || len(o.Curve) > 0 || o.Postgres != "":
		return "", errors.New("bench: --sandbox measures the suite's routes only: the curves and --postgres start sandboxes of their own")
	}
	for _, t := range o.Targets {
		if t != TargetSandbox {
			return "", fmt.Errorf("bench: --sandbox measures the sandbox alone: target %q runs on this machine, so its ratio would mean nothing; use --targets sandbox", t)
		}
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), "80") // the load generators dial host:port
	}
	return "http://" + u.Host, nil
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

var seedLine = regexp.MustCompile(`(\d+) PSUs, (\d+) accounts, (\d+) transactions in ([0-9hmµnuµs.]+) \(`)

// seedBank runs `sandbox seed` as a child and reads its report.
func (r *runner) seedBank(ctx context.Context, db string, psus int) (SeedResult, error) {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(db + suffix)
	}
	res := SeedResult{PSUs: psus}
	t0 := time.Now()
	p, err := startProc("seed", filepath.Join(r.o.Out, "seed.log"),
		append([]string{r.o.Exe, "seed", "--db", db, "--psus", strconv.Itoa(psus), "--seed", strconv.FormatUint(r.o.Seed, 10)}, r.keyFile(db)...), nil)
	if err != nil {
		return res, err
	}
	select {
	case <-p.exited:
	case <-ctx.Done():
		p.Stop()
		return res, ctx.Err()
	}
	res.Wall = time.Since(t0)
	p.logFile.Close()
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		b, _ := os.ReadFile(p.logFile.Name())
		return res, fmt.Errorf("sandbox seed exited %d: %s", code, b)
	}
	b, _ := os.ReadFile(p.logFile.Name())
	res.Line = strings.TrimSpace(string(b))
	m := seedLine.FindStringSubmatch(res.Line)
	if m == nil {
		return res, fmt.Errorf("sandbox seed: unexpected output %q", res.Line)
	}
	res.PSUs, _ = strconv.Atoi(m[1])
	res.Accounts, _ = strconv.Atoi(m[2])
	res.Transactions, _ = strconv.Atoi(m[3])
	res.Elapsed, _ = time.ParseDuration(m[4])
	if fi, err := os.Stat(db); err == nil {
		res.DBBytes = fi.Size()
	}
	return res, nil
}

// startSandbox starts `sandbox serve` on db and returns it once /healthz
// answers 200, with the time from exec to that answer.
func (r *runner) startSandbox(ctx context.Context, db string, profile bool, extra ...string) (*Proc, time.Duration, error) {
	port, err := freePort()
	if err != nil {
		return nil, 0, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	args := []string{r.o.Exe, "serve", "--db", db, "--addr", addr, "--rate-limit", "off", "--admin-token", r.admin,
		"--log-level", "warn"}
	if profile {
		args = append(args, "--pprof")
	}
	args = append(append(args, r.keyFile(db)...), extra...)
	t0 := time.Now()
	p, err := startProc(TargetSandbox, filepath.Join(r.o.Out, "sandbox.log"), args, nil)
	if err != nil {
		return nil, 0, err
	}
	p.Addr = addr
	r.track(p)
	d, err := p.waitHTTP(ctx, "http://"+addr+"/healthz", nil, http.StatusOK, t0, 60*time.Second)
	if err != nil {
		return nil, 0, err
	}
	return p, d, nil
}

// coldStarts starts the sandbox n times on db, timing exec to a healthy
// /healthz, and leaves the last one running.
func (r *runner) coldStarts(ctx context.Context, db string, n int, profile bool) (*Proc, []time.Duration, error) {
	var ds []time.Duration
	for i := range n {
		p, d, err := r.startSandbox(ctx, db, profile)
		if err != nil {
			return nil, ds, err
		}
		ds = append(ds, d)
		r.logf("sandbox healthy %s after exec (start %d of %d, pid %d)", d.Round(time.Millisecond/10), i+1, n, p.Pid())
		if i == n-1 {
			return p, ds, nil
		}
		if err := p.Stop(); err != nil {
			return nil, ds, err
		}
	}
	return nil, ds, nil
}

// startBare starts the bare server (`sandbox bench --serve-bare FILE`).
func (r *runner) startBare(ctx context.Context, canned []Canned) (*Proc, time.Duration, error) {
	file := filepath.Join(r.o.Out, "bare-routes.json")
	b, _ := json.Marshal(canned)
	if err := os.WriteFile(file, b, 0o644); err != nil {
		return nil, 0, err
	}
	port, err := freePort()
	if err != nil {
		return nil, 0, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	t0 := time.Now()
	p, err := startProc(TargetBare, filepath.Join(r.o.Out, "bare.log"), []string{r.o.Exe, "bench", "--serve-bare", file, "--addr", addr}, nil)
	if err != nil {
		return nil, 0, err
	}
	p.Addr = addr
	r.track(p)
	d, err := p.waitHTTP(ctx, "http://"+addr+"/healthz", nil, http.StatusOK, t0, 30*time.Second)
	return p, d, err
}

// prismCommand finds how to run Prism: --prism CMD, prism on PATH, or npx
// (which fetches the package from the npm registry once).
func (r *runner) prismCommand() ([]string, error) {
	switch r.o.Prism {
	case "off", "":
		return nil, errors.New("--prism off")
	case "auto":
		if p, err := lookPath("prism", ""); err == nil {
			return []string{p}, nil
		}
		if p, err := lookPath("node_modules/.bin/prism", ""); err == nil {
			return []string{p}, nil
		}
		npx, err := lookPath("npx", "install Node.js and npm (apt-get install nodejs npm), or npm install "+PrismPackage)
		if err != nil {
			return nil, err
		}
		return []string{npx, "--yes", PrismPackage}, nil
	}
	return strings.Fields(r.o.Prism), nil
}

// startPrism starts `prism mock` on the project's api/openapi.yaml (its
// examples) and waits until it answers the accounts route.
func (r *runner) startPrism(ctx context.Context, token string) (*Proc, time.Duration, string, error) {
	cmd, err := r.prismCommand()
	if err != nil {
		return nil, 0, "", err
	}
	spec := filepath.Join(r.o.Out, "openapi.yaml")
	if err := os.WriteFile(spec, api.YAML, 0o644); err != nil {
		return nil, 0, "", err
	}
	port, err := freePort()
	if err != nil {
		return nil, 0, "", err
	}
	argv := append(cmd, "mock", "-h", "127.0.0.1", "-p", strconv.Itoa(port), spec)
	t0 := time.Now()
	p, err := startProc(TargetPrism, filepath.Join(r.o.Out, "prism.log"), argv, nil)
	if err != nil {
		return nil, 0, "", err
	}
	p.Addr = fmt.Sprintf("127.0.0.1:%d", port)
	r.track(p)
	d, err := p.waitHTTP(ctx, "http://"+p.Addr+"/aisp/accounts", http.Header{"Authorization": {"Bearer " + token}}, http.StatusOK, t0, 120*time.Second)
	if err != nil {
		p.Stop()
		return nil, 0, "", err
	}
	return p, d, strings.Join(argv, " "), nil
}

// measure runs one route on one target and records the row.
func (r *runner) measure(ctx context.Context, p *Proc, route, target string, src *Source, warmup time.Duration,
	onResp func(any, int, []byte)) (Row, error) {
	return r.measureWith(ctx, p, route, target, warmup, func() (Stats, error) {
		return Load(ctx, src, LoadOptions{Addr: p.Addr, Conns: r.o.Conns, Warmup: warmup, Duration: r.o.Duration, OnResponse: onResp})
	})
}

// measureFixed runs one fixed request: with wrk when it is the engine, else
// with the Go generator.
func (r *runner) measureFixed(ctx context.Context, p *Proc, route, target string, req Request, warmup time.Duration) (Row, error) {
	if r.wrk == "" {
		return r.measure(ctx, p, route, target, Fixed(p.Addr, req), warmup, nil)
	}
	return r.measureWith(ctx, p, route, target, warmup, func() (Stats, error) {
		return wrkLoad(ctx, r.wrk, r.o.Out, req, p.Addr, wrkThreads(r.o), LoadOptions{Conns: r.o.Conns, Warmup: warmup, Duration: r.o.Duration})
	})
}

func (r *runner) measureWith(ctx context.Context, p *Proc, route, target string, warmup time.Duration, run func() (Stats, error)) (Row, error) {
	row := Row{Route: route, Target: target}
	var prof chan string
	if r.o.Profile && target == TargetSandbox {
		prof = make(chan string, 1)
		go func() { prof <- r.cpuProfile(ctx, p, route, warmup) }()
	}
	c0, t0 := p.CPU(), time.Now()
	m0, _ := machineCPU()
	st, err := run()
	if wall := time.Since(t0); wall > 0 {
		m1, _ := machineCPU()
		row.ServerCores = (p.CPU() - c0).Seconds() / wall.Seconds()
		row.MachineCores = (m1 - m0).Seconds() / wall.Seconds()
	}
	row.Stats = st
	if prof != nil {
		if f := <-prof; f != "" {
			r.rep.Profiles = append(r.rep.Profiles, f)
		}
	}
	r.logf("%-15s %-8s %8.0f req/s  p50 %6.2f ms  p99 %7.2f ms  non-2xx %d  socket errors %d  (%d requests, %s%s)",
		route, target, st.RPS, ms(st.P50), ms(st.P99), st.Non2xx(), st.SockErrs, st.Requests, st.Engine, map[bool]string{true: ", pool used up", false: ""}[st.Exhausted])
	r.rep.Rows = append(r.rep.Rows, row)
	return row, err
}

// cpuProfile fetches a CPU profile of the sandbox while a route runs.
func (r *runner) cpuProfile(ctx context.Context, p *Proc, route string, warmup time.Duration) string {
	select {
	case <-time.After(warmup):
	case <-ctx.Done():
		return ""
	}
	secs := max(1, int(r.o.Duration.Seconds())-1)
	// Halfway, where the goroutines wait (CPU profiles show only work).
	go func() {
		select {
		case <-time.After(r.o.Duration / 2):
		case <-ctx.Done():
			return
		}
		r.fetchDebug(ctx, p, "/sandbox/debug/pprof/goroutine?debug=1", filepath.Join(r.o.Out, "goroutines-"+route+".txt"), 30*time.Second)
	}()
	f := filepath.Join(r.o.Out, "cpu-"+route+".pprof")
	if !r.fetchDebug(ctx, p, fmt.Sprintf("/sandbox/debug/pprof/profile?seconds=%d", secs), f, time.Duration(secs+30)*time.Second) {
		return ""
	}
	return f
}

// fetchDebug saves a /sandbox/debug/pprof answer of the sandbox to file.
func (r *runner) fetchDebug(ctx context.Context, p *Proc, path, file string, timeout time.Duration) bool {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.Addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+r.admin)
	resp, err := (&http.Client{Timeout: timeout}).Do(req)
	if err != nil {
		r.logf("%s: %v", path, err)
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		r.logf("%s: %s", path, resp.Status)
		return false
	}
	b, _ := io.ReadAll(resp.Body)
	return os.WriteFile(file, b, 0o644) == nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
