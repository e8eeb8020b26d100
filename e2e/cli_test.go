package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/obsandbox/sandbox/internal/app"
	"github.com/obsandbox/sandbox/internal/oauth"
)

// The sandbox binary's commands, run through app.Main as a user runs them.

// cli runs `sandbox args...` and returns its exit code, stdout and stderr.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := app.Main(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// lockedBuffer is an output a running command writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serveCLI runs `sandbox serve args...` until the test ends, on 127.0.0.1:0
// with a temp-dir database whatever args say, and returns its banner once
// printed.
func serveCLI(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, logs lockedBuffer
	done := make(chan int, 1)
	args = append(append([]string{"serve"}, args...), "--addr", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "cli.db"), "--log-level", "warn")
	go func() { done <- app.Main(ctx, args, &out, &logs) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("sandbox serve exited %d\n%s", code, logs.String())
		}
	})
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case code := <-done:
			done <- code
			t.Fatalf("sandbox serve %v exited %d\n%s", args, code, logs.String())
		default:
		}
		if b := out.String(); strings.Contains(b, "Test PSUs") { // the banner is one write
			return b
		}
	}
	t.Fatalf("no banner\n%s\n%s", out.String(), logs.String())
	return ""
}

// TestBanner: the start-up banner prints the admin token only when the
// sandbox made it, and in fapi suggests a first step that works as printed
// (fapi refuses the JSON registration dev suggests).
func TestBanner(t *testing.T) {
	t.Run("GivenByFlag", func(t *testing.T) {
		b := serveCLI(t, "--admin-token", "flag-secret-4711")
		if strings.Contains(b, "flag-secret-4711") || !strings.Contains(b, "given by --admin-token / SANDBOX_ADMIN_TOKEN") ||
			!strings.Contains(b, "/psd2/v1") || !strings.Contains(b, "TPP-QWAC-Certificate header") {
			t.Errorf("banner:\n%s", b)
		}
	})
	t.Run("GivenByEnvironment", func(t *testing.T) {
		t.Setenv("SANDBOX_ADMIN_TOKEN", "env-secret-4711")
		if b := serveCLI(t); strings.Contains(b, "env-secret-4711") {
			t.Errorf("banner:\n%s", b)
		}
	})
	t.Run("FAPIFirstStep", func(t *testing.T) {
		t.Setenv("SANDBOX_ADMIN_TOKEN", "")
		b := serveCLI(t, "--profile", "fapi")
		if strings.Contains(b, "Content-Type: application/json") {
			t.Errorf("the fapi banner suggests a JSON registration:\n%s", b)
		}
		m := regexp.MustCompile(`(?m)^\s+sandbox (tpp accounts .*)$`).FindStringSubmatch(b)
		if m == nil || !regexp.MustCompile(`Admin token  [0-9a-f]{32} `).MatchString(b) {
			t.Fatalf("no first step, or no generated admin token, in the banner:\n%s", b)
		}
		code, out, errOut := cli(t, append(strings.Fields(m[1]), "--quiet")...)
		var accounts struct {
			Data struct{ Account []json.RawMessage }
		}
		if code != 0 || json.Unmarshal([]byte(out), &accounts) != nil || len(accounts.Data.Account) != 3 {
			t.Errorf("sandbox %s: exit %d\n%.500s\n%s", m[1], code, out, errOut)
		}
	})
}

// TestHealthcheckCLI: `sandbox healthcheck` (the container's health check)
// answers for a sandbox in every mode it runs in: plain HTTP, --tls and
// fapi whether said by flag (which it cannot see) or by variable, with the
// certificate verified when --cacert is given.
func TestHealthcheckCLI(t *testing.T) {
	for _, k := range []string{"SANDBOX_TLS", "SANDBOX_PROFILE", "SANDBOX_URL", "SANDBOX_CACERT"} {
		t.Setenv(k, "")
	}
	addr := func(s *sandbox) string { u, _ := url.Parse(s.url); return u.Host }
	healthy := func(t *testing.T, args ...string) {
		t.Helper()
		if code, out, errOut := cli(t, append([]string{"healthcheck"}, args...)...); code != 0 || out != "healthy\n" {
			t.Errorf("healthcheck %v: exit %d %q %s", args, code, out, errOut)
		}
	}
	healthy(t, "--addr", addr(start(t)))
	tlsOn := start(t, withTLS())
	healthy(t, "--addr", addr(tlsOn))
	fapi := start(t, withProfile(oauth.ProfileFAPI))
	healthy(t, "--addr", addr(fapi))
	t.Run("ProfileFromEnvironment", func(t *testing.T) {
		t.Setenv("SANDBOX_PROFILE", "fapi")
		healthy(t, "--addr", addr(fapi))
	})
	dir := t.TempDir()
	ca, other := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "other.pem")
	os.WriteFile(ca, fapi.app.CA.CertPEM, 0o600)
	os.WriteFile(other, tlsOn.app.CA.CertPEM, 0o600) // another sandbox's CA
	healthy(t, "--addr", addr(fapi), "--cacert", ca)
	t.Run("BaseURLFromEnvironment", func(t *testing.T) {
		t.Setenv("SANDBOX_URL", fapi.url) // as the other commands take it
		healthy(t)
	})
	if code, _, errOut := cli(t, "healthcheck", "--addr", addr(fapi), "--cacert", other); code != 1 || !strings.Contains(errOut, "certificate") {
		t.Errorf("with a CA that did not sign the sandbox's certificate: exit %d %s", code, errOut)
	}
}

// TestKeysRotateCLI: `sandbox keys rotate` makes a key the running sandbox
// serves: through it with its admin token; on its file alone it refuses
// (the sandbox holds its keys in memory) and says what to run; on a file no
// sandbox serves it works offline.
func TestKeysRotateCLI(t *testing.T) {
	t.Setenv("SANDBOX_ADMIN_TOKEN", "")
	t.Setenv("SANDBOX_URL", "")
	s := start(t, realIssuer())
	served := func() []string {
		var set struct{ Keys []struct{ Kid string } }
		s.get("/as/jwks", "").JSON(t, &set)
		var kids []string
		for _, k := range set.Keys {
			kids = append(kids, k.Kid)
		}
		return kids
	}
	before := served()
	code, out, errOut := cli(t, "keys", "rotate", "--db", s.app.Config.DB)
	if code != 1 || !strings.Contains(errOut, "--admin-token") {
		t.Errorf("keys rotate on a served file: exit %d %q %s; want 1 and what to run instead", code, out, errOut)
	}
	if got := served(); strings.Join(got, " ") != strings.Join(before, " ") {
		t.Errorf("the served keys changed from %v to %v", before, got)
	}
	code, out, errOut = cli(t, "keys", "rotate", "--sandbox", s.url, "--admin-token", s.app.Config.AdminToken)
	f := strings.Fields(out) // new signing key KID, served by URL now
	if code != 0 || len(f) < 4 {
		t.Fatalf("keys rotate through the sandbox: exit %d %q %s", code, out, errOut)
	}
	kid := strings.TrimSuffix(f[3], ",")
	if got := served(); !strings.Contains(strings.Join(got, " "), kid) || len(got) != len(before)+1 {
		t.Errorf("the sandbox serves %v after rotating to %s (before: %v)", got, kid, before)
	}
	s.stop()
	if code, out, errOut := cli(t, "keys", "rotate", "--db", s.app.Config.DB); code != 0 || !strings.Contains(out, "next start") {
		t.Errorf("keys rotate on a file no sandbox serves: exit %d %q %s", code, out, errOut)
	}
}

// TestTPPCLIDefaults: `sandbox tpp` takes the sandbox and the admin token
// from SANDBOX_URL and SANDBOX_ADMIN_TOKEN as the other commands do, works
// in fapi without being told a redirect URI, and says what is wrong when the
// URL is not the sandbox's issuer or --browser cannot work.
func TestTPPCLIDefaults(t *testing.T) {
	accounts := func(t *testing.T, args ...string) {
		t.Helper()
		code, out, errOut := cli(t, append([]string{"tpp", "accounts", "--quiet"}, args...)...)
		var got struct {
			Data struct{ Account []json.RawMessage }
		}
		if code != 0 || json.Unmarshal([]byte(out), &got) != nil || len(got.Data.Account) != 3 {
			t.Errorf("tpp accounts %v: exit %d\n%.300s\n%s", args, code, out, errOut)
		}
	}
	t.Run("dev", func(t *testing.T) {
		s := start(t, realIssuer(), func(c *app.Config) { c.Wall = nil })
		t.Setenv("SANDBOX_URL", s.url)
		t.Setenv("SANDBOX_ADMIN_TOKEN", "")
		accounts(t)
	})
	t.Run("fapi", func(t *testing.T) {
		s := start(t, realIssuer(), withProfile(oauth.ProfileFAPI), func(c *app.Config) { c.Wall = nil })
		t.Setenv("SANDBOX_URL", s.url)
		t.Setenv("SANDBOX_ADMIN_TOKEN", s.app.Config.AdminToken)
		accounts(t)
		if code, _, errOut := cli(t, "tpp", "accounts", "--browser"); code != 1 || !strings.Contains(errOut, "fapi") {
			t.Errorf("--browser in fapi: exit %d %s", code, errOut)
		}
	})
	t.Run("NotTheIssuer", func(t *testing.T) {
		s := start(t) // issuer http://sandbox.test, listening on 127.0.0.1
		code, _, errOut := cli(t, "tpp", "accounts", "--quiet", "--sandbox", s.url)
		if code != 1 || !strings.Contains(errOut, "--sandbox "+testIssuer) {
			t.Errorf("exit %d %s; want 1 and the issuer to use", code, errOut)
		}
	})
}

// TestTPPBrowserWaitsForTheRequestsLifetime: with --browser the URL carries
// the request object, good for exactly --wait, and the command gives up
// when it expires, saying so.
func TestTPPBrowserWaitsForTheRequestsLifetime(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer(), func(c *app.Config) { c.Wall = nil })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	redirect := "http://" + ln.Addr().String() + "/callback"
	ln.Close()
	code, _, errOut := cli(t, "tpp", "accounts", "--sandbox", s.url, "--quiet", "--browser", "--redirect-uri", redirect, "--wait", "2s")
	if code != 1 || !strings.Contains(errOut, "expired") || !strings.Contains(errOut, "within 2s") {
		t.Errorf("exit %d %s", code, errOut)
	}
	m := regexp.MustCompile(`(?m)^\s+(` + regexp.QuoteMeta(s.url) + `/as/authorize\?\S+)$`).FindStringSubmatch(errOut)
	if m == nil {
		t.Fatalf("no authorization URL printed:\n%s", errOut)
	}
	u, _ := url.Parse(m[1])
	var claims jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(u.Query().Get("request"), &claims); err != nil {
		t.Fatalf("the URL carries no request object (%v): %s", err, m[1])
	}
	exp, _ := claims.GetExpirationTime()
	nbf, _ := claims.GetNotBefore()
	if exp == nil || nbf == nil || exp.Sub(nbf.Time) > 2*time.Second {
		t.Errorf("the request object lives from %v to %v, want at most the 2s the command waits", nbf, exp)
	}
}

// TestClientCreateCLI: `sandbox client create` prints the URLs of the
// sandbox that served the file, and a client secret only when it has one.
func TestClientCreateCLI(t *testing.T) {
	t.Setenv("SANDBOX_ISSUER", "")
	s := start(t, realIssuer())
	issuer := s.app.Auth.Issuer
	s.stop()
	var c map[string]any
	code, out, errOut := cli(t, "client", "create", "--db", s.app.Config.DB, "--redirect-uri", "https://tpp.example/cb")
	if code != 0 || json.Unmarshal([]byte(out), &c) != nil {
		t.Fatalf("exit %d %s %s", code, out, errOut)
	}
	if c["issuer"] != issuer || c["token_endpoint"] != issuer+"/as/token" || !strings.HasPrefix(c["registration_client_uri"].(string), issuer+"/") {
		t.Errorf("printed issuer %v, token endpoint %v, registration URI %v; the sandbox's issuer is %s", c["issuer"], c["token_endpoint"], c["registration_client_uri"], issuer)
	}
	if _, has := c["client_secret"]; has {
		t.Errorf("a private_key_jwt client printed a client_secret %q", c["client_secret"])
	}
	code, out, _ = cli(t, "client", "create", "--db", s.app.Config.DB, "--redirect-uri", "https://tpp.example/cb", "--auth", "client_secret_basic")
	c = nil
	if code != 0 || json.Unmarshal([]byte(out), &c) != nil || c["client_secret"] == "" || c["client_secret"] == nil {
		t.Errorf("a client_secret_basic client: exit %d, secret %v", code, c["client_secret"])
	}
}

// needTools skips when the machine lacks a tool the README's scripts need
// (the CI image has them).
func needTools(t *testing.T, tools ...string) {
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: the walk-through scripts need it", tool)
		}
	}
}

// script runs one of the docs/ scripts with env and returns its exit code,
// stdout and stderr.
func script(t *testing.T, name string, env ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join("..", "docs", name))
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), errOut.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, out.String(), errOut.String()
}

// TestWalkthroughScripts runs docs/walkthrough.sh and
// docs/payment-walkthrough.sh against a dev sandbox, and checks that they
// say what is wrong, with a non-zero exit, when no sandbox answers or it
// runs fapi.
func TestWalkthroughScripts(t *testing.T) {
	t.Parallel()
	needTools(t, "bash", "curl", "jq")
	s := start(t, realIssuer())
	code, out, errOut := script(t, "walkthrough.sh", "SANDBOX="+s.url)
	if code != 0 || !strings.HasSuffix(out, "204\n401\n") {
		t.Errorf("walkthrough.sh: exit %d\n%s\n%s", code, out, errOut)
	}
	// The same journey through v4.0: the balance it prints is in v4.0's words.
	code, out, errOut = script(t, "walkthrough.sh", "SANDBOX="+s.url, "API=v4.0")
	if code != 0 || !strings.HasSuffix(out, "204\n401\n") || !strings.Contains(out, `"Type": "ITAV"`) {
		t.Errorf("API=v4.0 walkthrough.sh: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = script(t, "payment-walkthrough.sh", "SANDBOX="+s.url, "ADMIN="+s.app.Config.AdminToken)
	if code != 0 || !strings.Contains(out, "AcceptedSettlementCompleted") {
		t.Errorf("payment-walkthrough.sh: exit %d\n%s\n%s", code, out, errOut)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	fapi := start(t, realIssuer(), withProfile(oauth.ProfileFAPI))
	for _, tc := range []struct {
		name, script string
		env          []string
		want         string
	}{
		{"NoSandbox", "walkthrough.sh", []string{"SANDBOX=" + closed}, "no sandbox answers at " + closed},
		{"NoSandboxPayment", "payment-walkthrough.sh", []string{"SANDBOX=" + closed, "ADMIN=x"}, "no sandbox answers at " + closed},
		{"UntrustedTLS", "walkthrough.sh", []string{"SANDBOX=" + fapi.url, "CURL_CA_BUNDLE="}, "does not trust the certificate"},
		{"FAPI", "walkthrough.sh", []string{"SANDBOX=" + fapi.url, "CURL_CA_BUNDLE=" + caFile(t, fapi)}, "runs the fapi profile"},
		{"NoAdminToken", "payment-walkthrough.sh", []string{"SANDBOX=" + s.url, "ADMIN=", "SANDBOX_ADMIN_TOKEN="}, "set ADMIN"},
		{"StepRefused", "payment-walkthrough.sh", []string{"SANDBOX=" + s.url, "ADMIN=not-the-token"}, "/sandbox/clock: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := script(t, tc.script, tc.env...)
			if code == 0 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want non-zero and %q", code, errOut, tc.want)
			}
		})
	}
}

// caFile writes the sandbox's CA to a file and returns its path.
func caFile(t *testing.T, s *sandbox) string {
	f := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(f, s.app.CA.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestFAPIQuickStart runs the README's "Quick start: the fapi profile" and
// "Quick start: the fapi2 profile" as written: the serve line (on a free
// port and a temp file), the exports (with the admin token the serve line
// printed), then each command.
func TestFAPIQuickStart(t *testing.T) {
	// Not parallel: quickStart sets the environment the commands read.
	for _, profile := range []string{"fapi", "fapi2"} {
		t.Run(profile, func(t *testing.T) { quickStart(t, profile) })
	}
}

func quickStart(t *testing.T, profile string) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)## Quick start: the " + profile + " profile\n.*?```sh\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatalf("the README has no %s quick start", profile)
	}
	t.Setenv("SANDBOX_URL", "")
	t.Setenv("SANDBOX_ADMIN_TOKEN", "")
	var base, token string
	ran := 0
	for _, line := range strings.Split(string(m[1]), "\n") {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case len(f) >= 3 && f[0] == "go" && f[1] == "run" && f[2] == "./cmd/sandbox" && base == "":
			banner := serveCLI(t, f[3:]...)
			base = regexp.MustCompile(`Health +(\S+)/healthz`).FindStringSubmatch(banner)[1]
			token = regexp.MustCompile(`Admin token +([0-9a-f]{32}) `).FindStringSubmatch(banner)[1]
		case f[0] == "export":
			for _, kv := range f[1:] {
				k, v, _ := strings.Cut(kv, "=")
				v = strings.ReplaceAll(strings.ReplaceAll(v, "https://127.0.0.1:8080", base), "$ADMIN", token)
				t.Setenv(k, v)
			}
		case len(f) >= 3 && f[0] == "go" && f[1] == "run" && f[2] == "./cmd/sandbox":
			code, out, errOut := cli(t, append(f[3:], "--quiet")...)
			if code != 0 || !json.Valid([]byte(out)) {
				t.Errorf("%s: exit %d\n%.300s\n%s", line, code, out, errOut)
			}
			ran++
		default:
			t.Fatalf("a line the test cannot run: %q", line)
		}
	}
	if base == "" || !strings.HasPrefix(base, "https://") || ran < 2 {
		t.Errorf("the quick start served %q and ran %d commands", base, ran)
	}
	if got, _, _ := cli(t, "tpp", "accounts", "--quiet", "--profile", profile); got != 0 {
		t.Errorf("the quick start's sandbox does not run the %s profile", profile)
	}
}
