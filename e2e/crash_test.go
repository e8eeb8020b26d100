package e2e

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/obsandbox/sandbox/internal/app"
	"github.com/obsandbox/sandbox/internal/keyring"
	"github.com/obsandbox/sandbox/internal/store"
	"github.com/obsandbox/sandbox/internal/tpp"
)

// TestMain lets the test binary act as the sandbox command in a child
// process (SANDBOX_E2E_MAIN holds its arguments as JSON, or "args" for the
// command line's own, see sandboxCommand), so that a test can kill a real
// sandbox process or hand a script a sandbox command without building one.
func TestMain(m *testing.M) {
	if raw := os.Getenv("SANDBOX_E2E_MAIN"); raw != "" {
		argv := os.Args[1:]
		if raw != "args" {
			if err := json.Unmarshal([]byte(raw), &argv); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := app.Main(ctx, argv, os.Stdout, os.Stderr)
		stop()
		app.RemoveTemplates()
		os.Exit(code)
	}
	app.KeepGCDefaults = true // this process hosts many sandboxes; the children above are one each, tuned as served
	parallelByDefault()
	code := m.Run()
	stopChromium()
	app.RemoveTemplates()
	os.Exit(code)
}

// child is a sandbox process started from the test binary.
type child struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{}
}

// startChild runs `sandbox serve args...` in a child process and waits
// until it answers /healthz.
func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	argv, _ := json.Marshal(append([]string{"serve", "--addr", addr}, args...))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SANDBOX_E2E_MAIN="+string(argv))
	logf, err := os.Create(filepath.Join(t.TempDir(), "child.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, url: "http://" + addr, done: make(chan struct{})}
	go func() { cmd.Wait(); logf.Close(); close(c.done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-c.done
		if t.Failed() { // what the sandbox said is part of why
			log, _ := os.ReadFile(logf.Name())
			t.Logf("%s's log (last 4 KB):\n%s", c.url, log[max(0, len(log)-4096):])
		}
	})
	for range 300 {
		if r, err := http.Get(c.url + "/healthz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return c
			}
		}
		select {
		case <-c.done:
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("the sandbox exited: %s", log)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatal("the sandbox did not become healthy")
	return nil
}

// TestCrashKeepsEveryPaymentsAuditEntry kills the sandbox with SIGKILL while
// payments are being made and checks the file: every payment that
// committed has its audit entry (written in the same transaction), and the
// audit chain is whole.
func TestCrashKeepsEveryPaymentsAuditEntry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "crash.db")
	c := startChild(t, "--db", db, "--rate-limit", "off", "--admin-token", "crash-admin")
	cl, err := tpp.New(ctx, c.url, callback, tpp.WithKey(testKey(0)))
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Register(ctx, "private_key_jwt"); err != nil {
		t.Fatal(err)
	}
	cc, err := cl.ClientCredentials(ctx, "payments")
	if err != nil {
		t.Fatal(err)
	}
	initiation := func(i int) map[string]any {
		return map[string]any{"InstructionIdentification": fmt.Sprintf("crash-%d", i), "EndToEndIdentification": "crash",
			"InstructedAmount": map[string]any{"Amount": "1.00", "Currency": "GBP"},
			"CreditorAccount":  map[string]any{"SchemeName": "UK.OBIE.SortCodeAccountNumber", "Identification": "20041533104477", "Name": "Greenfield Lettings"}}
	}
	type ready struct {
		consent, token string
		i              int
	}
	const n = 40
	var all []ready
	for i := range n {
		id, err := cl.PaymentConsent(ctx, cc, initiation(i))
		if err != nil {
			t.Fatal(err)
		}
		toks, err := cl.Approve(ctx, id, tpp.AuthOptions{Scope: "openid payments"}, "alice", "alice123", nil)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ready{id, toks.AccessToken, i})
	}
	work := make(chan ready, n)
	for _, r := range all {
		work <- r
	}
	close(work)
	var answered atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for r := range work {
				if _, _, err := cl.Pay(ctx, r.token, r.consent, initiation(r.i), uuid.NewString()); err == nil {
					answered.Add(1)
				}
			}
		})
	}
	for answered.Load() < n/3 {
		time.Sleep(time.Millisecond)
	}
	c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
	wg.Wait()

	key, err := keyring.Load(db+".key", false)
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(ctx, db, store.Options{Key: key}) // the lock died with the process
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	paid := 0
	for _, r := range all {
		ps, err := s.PaymentsOfConsent(ctx, r.consent)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) == 0 {
			continue
		}
		paid++
		entries, err := s.Audit(ctx, store.AuditQuery{ConsentID: r.consent, Decision: store.DecisionCommitted})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range entries {
			found = found || strings.HasSuffix(e.Path, "/domestic-payments")
		}
		if !found {
			t.Errorf("payment of consent %s committed without its audit entry (entries: %+v)", r.consent, entries)
		}
	}
	if paid < int(answered.Load()) {
		t.Errorf("%d payments answered 201 but only %d stored", answered.Load(), paid)
	}
	if _, err := s.VerifyAudit(ctx, nil); err != nil {
		t.Errorf("the audit trail after the crash: %v", err)
	}
	t.Logf("%d payments answered, %d stored when the process was killed", answered.Load(), paid)
}

// TestSecondServerRefused: a second sandbox on a file one already serves
// refuses to start and says why.
func TestSecondServerRefused(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "one.db")
	start(t, func(c *app.Config) { c.DB = db })
	cfg := app.Defaults()
	cfg.Addr, cfg.DB, cfg.KeyBits = "127.0.0.1:0", db, 1024
	a, err := app.New(context.Background(), cfg, io.Discard)
	if err == nil {
		a.Close()
		t.Fatal("a second sandbox started on the same file")
	}
	if !strings.Contains(err.Error(), "in use") || !strings.Contains(err.Error(), fmt.Sprint(os.Getpid())) {
		t.Errorf("the refusal: %v", err)
	}
}

// parallelByDefault lets four tests per CPU run at once unless -parallel
// says otherwise: the tests here wait on a browser, child processes and
// loopback far more than they compute, so GOMAXPROCS (go test's default)
// leaves the CPUs idle. Two per CPU on PostgreSQL, whose server shares the
// CPUs with them.
func parallelByDefault() {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		per := 4
		if onPostgres() {
			per = 2
		}
		flag.Set("test.parallel", strconv.Itoa(per*runtime.GOMAXPROCS(0)))
	}
}

// sandboxCommand writes an executable that runs this test binary as the
// sandbox command (cmd/sandbox's main is app.Main, as in TestMain), for the
// scripts the tests run: no go build in a test.
func sandboxCommand(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "sandbox")
	script := "#!/bin/sh\nSANDBOX_E2E_MAIN=args exec '" + exe + "' \"$@\"\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}
