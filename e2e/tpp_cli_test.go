package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/obsandbox/sandbox/internal/app"
)

// runCLI runs the sandbox binary's Main with args and returns stdout.
func runCLI(t *testing.T, args ...string) []byte {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := app.Main(context.Background(), args, &out, &errOut); code != 0 {
		t.Fatalf("sandbox %v: exit %d\n%s", args, code, errOut.String())
	}
	return out.Bytes()
}

// TestBuiltInTPP runs `sandbox tpp accounts` and `sandbox tpp pay` against a
// real server, in dev and (with certificates and a software statement from
// the sandbox) in fapi and fapi2.
func TestBuiltInTPP(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ profile, version string }{{"dev", "3.1"}, {"fapi", "3.1"}, {"fapi2", "3.1"}, {"dev", "4.0"}} {
		t.Run(tc.profile+"-v"+tc.version, func(t *testing.T) {
			// The command is a separate program with the machine's clock.
			s := start(t, realIssuer(), withProfile(tc.profile), func(c *app.Config) { c.Wall = nil })
			args := []string{"--sandbox", s.url, "--quiet", "--admin-token", s.app.Config.AdminToken, "--redirect-uri", "https://tpp.example/cb",
				"--version", tc.version}
			var accounts struct {
				Data struct {
					Account []struct{ AccountId, Nickname string }
				}
			}
			if err := json.Unmarshal(runCLI(t, append([]string{"tpp", "accounts", "--psu", "alice"}, args...)...), &accounts); err != nil {
				t.Fatal(err)
			}
			if n := len(accounts.Data.Account); n != 3 {
				t.Fatalf("tpp accounts printed %d accounts, want alice's 3", n)
			}
			var pay struct {
				Data struct{ DomesticPaymentId, Status string }
			}
			if err := json.Unmarshal(runCLI(t, append([]string{"tpp", "pay", "--psu", "alice", "--amount", "3.21"}, args...)...), &pay); err != nil {
				t.Fatal(err)
			}
			if pay.Data.DomesticPaymentId == "" || pay.Data.Status == "Rejected" || pay.Data.Status == "RJCT" ||
				(tc.version == "4.0") != (len(pay.Data.Status) == 4) {
				t.Errorf("tpp pay: %+v", pay.Data)
			}
		})
	}
}

// TestBuiltInTPPReadRevokeScenario: `sandbox tpp accounts` reads accounts,
// balances and transactions, revokes the consent (the token then gets 401),
// works inside a tenant, and sends a scenario the bank honours.
func TestBuiltInTPPReadRevokeScenario(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer(), func(c *app.Config) { c.Wall = nil })
	args := []string{"tpp", "accounts", "--sandbox", s.url + "/t/cli", "--admin-token", s.app.Config.AdminToken,
		"--read", "accounts,balances,transactions", "--revoke"}
	var out, errOut bytes.Buffer
	if code := app.Main(context.Background(), args, &out, &errOut); code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut.String())
	}
	var got map[string]struct {
		Data map[string][]json.RawMessage
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got["accounts"].Data["Account"]) != 3 || len(got["balances"].Data["Balance"]) == 0 || len(got["transactions"].Data["Transaction"]) == 0 {
		t.Errorf("read: %.400s", out.String())
	}
	if !strings.Contains(errOut.String(), "revoked: its token now gets 401") || !strings.Contains(errOut.String(), "/t/cli/as/token") {
		t.Errorf("the exchanges printed:\n%.2000s", errOut.String())
	}
	var denied bytes.Buffer
	code := app.Main(context.Background(), []string{"tpp", "accounts", "--sandbox", s.url, "--quiet", "--scenario", "psu-denies"}, &out, &denied)
	if code != 1 || !strings.Contains(denied.String(), "access_denied") {
		t.Errorf("with psu-denies: exit %d, %s", code, denied.String())
	}
}

// TestBuiltInTPPBrowser: with --browser the command prints the URL and waits
// at its redirect URI; a person (Chromium here) logs in and approves, and the
// command goes on to read the accounts.
func TestBuiltInTPPBrowser(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer(), func(c *app.Config) { c.Wall = nil })
	b := newBrowser(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	redirect := "http://" + ln.Addr().String() + "/callback"
	ln.Close() // the command listens there
	pr, pw := io.Pipe()
	var out bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- app.Main(b.ctx, []string{"tpp", "accounts", "--sandbox", s.url, "--browser", "--redirect-uri", redirect, "--wait", "50s"}, &out, pw)
		pw.Close()
	}()
	var authURL string
	lines := bufio.NewScanner(pr)
	for lines.Scan() {
		if u := strings.TrimSpace(lines.Text()); strings.HasPrefix(u, s.url+"/as/authorize?") {
			authURL = u
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if authURL == "" {
		t.Fatal("the command printed no authorization URL")
	}
	b.nav(t, chromedp.Navigate(authURL))
	b.psuLogin(t, "alice", "alice123")
	b.do(t, chromedp.WaitVisible(byCSS("#approve")))
	landed := b.nav(t, chromedp.Click(byCSS("#approve")))
	if !strings.HasPrefix(landed.URL, redirect+"?") || landed.Status != 200 {
		t.Errorf("the browser landed on %s (%d), want the command's redirect URI", landed.URL, landed.Status)
	}
	if code := <-done; code != 0 {
		t.Fatalf("exit %d", code)
	}
	var accounts struct {
		Data struct{ Account []json.RawMessage }
	}
	if err := json.Unmarshal(out.Bytes(), &accounts); err != nil || len(accounts.Data.Account) != 3 {
		t.Errorf("accounts after the browser approval: %v %.300s", err, out.String())
	}
}

// TestBuiltInTPPProfiles: `sandbox tpp` follows the sandbox's profile and
// shows what the profile adds: in fapi the JARM response decoded, in fapi2
// each DPoP proof decoded (or certificate-bound tokens with --binding
// mtls); --ciba runs the decoupled journey; --profile names the profile the
// sandbox must run.
func TestBuiltInTPPProfiles(t *testing.T) {
	t.Parallel()
	for _, profile := range []string{"fapi", "fapi2"} {
		t.Run(profile, func(t *testing.T) {
			s := start(t, realIssuer(), withProfile(profile), func(c *app.Config) { c.Wall = nil })
			base := []string{"tpp", "accounts", "--psu", "alice", "--sandbox", s.url, "--admin-token", s.app.Config.AdminToken}
			run := func(extra ...string) string {
				t.Helper()
				code, out, errOut := cli(t, append(base, extra...)...)
				var accounts struct {
					Data struct{ Account []json.RawMessage }
				}
				if code != 0 || json.Unmarshal([]byte(out), &accounts) != nil || len(accounts.Data.Account) != 3 {
					t.Fatalf("sandbox tpp %v: exit %d\n%.300s\n%s", extra, code, out, errOut)
				}
				return errOut
			}
			shows := map[string]string{"fapi": `JARM response {"header":{"alg":"PS256"`, "fapi2": `DPoP proof {"header":{"alg":"ES256"`}[profile]
			if errOut := run("--profile", profile); !strings.Contains(errOut, shows) {
				t.Errorf("the exchanges do not show %q:\n%s", shows, errOut)
			}
			if errOut := run("--ciba"); !strings.Contains(errOut, "/as/bc-authorize") {
				t.Errorf("--ciba did not use the backchannel authentication endpoint:\n%s", errOut)
			}
			if profile == "fapi2" {
				if errOut := run("--binding", "mtls"); strings.Contains(errOut, "DPoP proof") {
					t.Errorf("--binding mtls sent DPoP proofs:\n%s", errOut)
				}
			}
			other := map[string]string{"fapi": "fapi2", "fapi2": "fapi"}[profile]
			if code, _, errOut := cli(t, append(base, "--quiet", "--profile", other)...); code == 0 || !strings.Contains(errOut, "runs the "+profile+" profile") {
				t.Errorf("--profile %s against a %s sandbox: exit %d, %s", other, profile, code, errOut)
			}
		})
	}
}

// TestBuiltInTPPVRP runs `sandbox tpp vrp` in both versions (v4.0 in fapi2,
// with DPoP-bound tokens and signed requests): a mandate of
// 150.00 a week (from the consent's date), payments of 60.00 until the
// bank says no, each shown with the limit's arithmetic, the refusal with
// the code and the limit at fault.
func TestBuiltInTPPVRP(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ profile, version, pending, refused string }{
		{"dev", "3.1", "Pending", "UK.OBIE.Rules.FailsControlParameters"}, {"fapi2", "4.0", "PDNG", "U014"},
	} {
		t.Run(tc.profile+"-v"+tc.version, func(t *testing.T) {
			s := start(t, realIssuer(), withProfile(tc.profile), func(c *app.Config) { c.Wall = nil })
			var got struct {
				ConsentID string `json:"consent_id"`
				Refresh   bool   `json:"refresh_token_issued"`
				Payments  []struct {
					Status, Refused, Path string
					Limits                []string
				}
			}
			out := runCLI(t, "tpp", "vrp", "--sandbox", s.url, "--quiet", "--psu", "alice", "--version", tc.version,
				"--admin-token", s.app.Config.AdminToken, "--redirect-uri", "https://tpp.example/cb",
				"--amount", "60.00", "--count", "3", "--max", "100.00", "--limits", "Week:Consent:150.00")
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			if !got.Refresh || len(got.Payments) != 3 {
				t.Fatalf("tpp vrp: %s", out)
			}
			p := got.Payments
			if p[0].Status != tc.pending || p[1].Status != tc.pending || len(p[1].Limits) != 1 || !strings.Contains(p[1].Limits[0], "120.00 of 150.00 used") {
				t.Errorf("the first two payments: %+v", p[:2])
			}
			if p[2].Refused != tc.refused || p[2].Path != "Data.ControlParameters.PeriodicLimits[0].Amount" {
				t.Errorf("the third payment: %+v", p[2])
			}
		})
	}
}

// TestBuiltInTPPInternationalAndFile runs the README's "International and
// file payments" lines as written (`go run ./cmd/sandbox` is the sandbox's
// Main, against a fresh sandbox of the default seed) and checks what they
// print: the payments with the rate applied, the report files.
func TestBuiltInTPPInternationalAndFile(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)## International and file payments\n.*?```sh\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("the README has no international and file payments example")
	}
	s := start(t, realIssuer(), func(c *app.Config) { c.Wall = nil })
	ran := 0
	for _, line := range strings.Split(string(m[1]), "\n") {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "go" || f[2] != "./cmd/sandbox" {
			continue
		}
		args := append(f[3:], "--sandbox", s.url, "--quiet")
		for i, a := range args {
			if strings.HasPrefix(a, "docs/") {
				args[i] = "../" + a
			}
		}
		ran++
		var got struct {
			Data struct {
				InternationalPaymentId, FilePaymentId, Status string
				ExchangeRateInformation                       *struct{ RateType string }
				Instructions                                  []struct{ Status, TransactionId string }
			}
		}
		out := runCLI(t, args...)
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%v: %v: %s", f, err, out)
		}
		d := got.Data
		switch {
		case slices.Contains(f, "--international"):
			if d.InternationalPaymentId == "" || d.ExchangeRateInformation == nil || d.Status == "Rejected" {
				t.Errorf("%v: %s", f, out)
			}
		default:
			if d.FilePaymentId == "" || len(d.Instructions) < 2 || slices.ContainsFunc(d.Instructions, func(x struct{ Status, TransactionId string }) bool {
				return x.TransactionId == ""
			}) {
				t.Errorf("%v: %s", f, out)
			}
		}
	}
	if ran != 4 {
		t.Errorf("ran %d of the README's lines, want 4", ran)
	}
}
