package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/app"
)

// TestBuiltInTPPBerlinGroup runs `sandbox tpp --standard berlin-group
// accounts|pay` against a real server: in dev (the QWAC in its header) with
// each SCA approach, and in fapi (the QWAC over mutual TLS).
func TestBuiltInTPPBerlinGroup(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ profile, sca string }{{"dev", "redirect"}, {"dev", "decoupled"}, {"dev", "embedded"}, {"fapi", "redirect"}} {
		t.Run(tc.profile+"-"+tc.sca, func(t *testing.T) {
			s := start(t, realIssuer(), withProfile(tc.profile), func(c *app.Config) { c.Wall = nil })
			args := []string{"--standard", "berlin-group", "--sandbox", s.url, "--quiet", "--admin-token", s.app.Config.AdminToken, "--sca", tc.sca}
			if s.app.CA != nil && strings.HasPrefix(s.url, "https") {
				args = append(args, "--ca", caFile(t, s))
			}
			var got map[string]any
			raw := runCLI(t, append([]string{"tpp", "accounts", "--psu", "alice", "--read", "accounts,balances", "--revoke"}, args...)...)
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatalf("%v: %s", err, raw)
			}
			list, _ := got["accounts"].(map[string]any)["accounts"].([]any)
			if len(list) != 2 || len(got["balances"].(map[string]any)) != 2 {
				t.Errorf("alice's payment accounts and their balances: %s", raw)
			}
			raw = runCLI(t, append([]string{"tpp", "pay", "--amount", "4.20"}, args...)...)
			var p map[string]any
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatalf("%v: %s", err, raw)
			}
			if p["transactionStatus"] == "RCVD" || p["transactionStatus"] == "RJCT" || p["instructedAmount"].(map[string]any)["currency"] != "EUR" {
				t.Errorf("erik's SEPA payment: %s", raw)
			}
		})
	}
	t.Run("NeedsAdminToken", func(t *testing.T) {
		s := start(t, realIssuer(), func(c *app.Config) { c.Wall = nil })
		code, _, errOut := cli(t, "tpp", "accounts", "--standard", "berlin-group", "--sandbox", s.url, "--quiet")
		if code == 0 || !strings.Contains(errOut, "admin token") {
			t.Errorf("exit %d: %s", code, errOut)
		}
	})
}

// TestBerlinGroupWalkthrough runs the README's Berlin Group walk-through as
// written, with bash, curl and jq, against a dev sandbox.
func TestBerlinGroupWalkthrough(t *testing.T) {
	t.Parallel()
	needTools(t, "bash", "curl", "jq")
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)## Berlin Group NextGenPSD2 1\\.3\\.12.*?```sh\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("the README has no Berlin Group walk-through")
	}
	s := start(t, realIssuer())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", string(m[1]))
	cmd.Env = append(os.Environ(), "SANDBOX="+s.url, "ADMIN="+s.app.Config.AdminToken)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s\n%s", err, out.String(), errOut.String())
	}
	got := out.String()
	for _, want := range []string{"https://tpp.example/cb\nvalid\n", "psuAuthenticated\nscaMethodSelected\nfinalised\nACTC\nACSC\n", `"balanceType"`, `pageIndex=1`} {
		if !strings.Contains(got, want) {
			t.Errorf("the walk-through's output has no %q:\n%s", want, got)
		}
	}
}
