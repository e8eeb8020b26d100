package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/app"
	"github.com/obsandbox/sandbox/internal/bank"
)

// TestRemoteCLI: `sandbox clock`, `sandbox reset` and `sandbox scenarios`
// drive a running sandbox through its admin API.
func TestRemoteCLI(t *testing.T) {
	s := start(t, realIssuer())
	ctx := context.Background()
	run := func(args ...string) (int, string) {
		var out bytes.Buffer
		args = append(args, "--sandbox", s.url, "--admin-token", s.app.Config.AdminToken)
		code := app.Main(ctx, args, &out, &out)
		return code, out.String()
	}
	before := s.app.Clock.Offset()
	if code, out := run("clock", "advance", "91d"); code != 0 || !strings.Contains(out, `"offset"`) {
		t.Fatalf("clock advance: %d %s", code, out)
	}
	if got := s.app.Clock.Offset() - before; got != 91*24*time.Hour {
		t.Errorf("the clock moved %s, want 91 days", got)
	}
	if code, out := run("clock"); code != 0 || !strings.Contains(out, "2184h") {
		t.Errorf("clock: %d %s", code, out)
	}
	if code, out := run("clock", "advance", "0d"); code != 1 || !strings.Contains(out, "400") {
		t.Errorf("a zero advance: %d %s", code, out)
	}
	for _, far := range []string{"36410d", "2562047h"} { // past the 100-year limit, or wrapping the offset
		if code, out := run("clock", "advance", far); code != 1 || !strings.Contains(out, "400") || !strings.Contains(out, "100 years") {
			t.Errorf("advance %s: %d %s", far, code, out)
		}
	}
	if got := s.app.Clock.Offset() - before; got != 91*24*time.Hour {
		t.Errorf("refused advances moved the clock: %s, want 91 days", got)
	}

	tok, _ := s.directGrant("alice", bank.AccountAccessRequest{Permissions: allPermissions()}, s.accountsOf("alice"))
	if code, out := run("scenarios", "activate", "server-error", "--times", "1"); code != 0 {
		t.Fatalf("activate: %d %s", code, out)
	}
	expect(t, s.get(ais+"/accounts", tok), 500)
	expect(t, s.get(ais+"/accounts", tok), 200)

	file := filepath.Join(t.TempDir(), "flaky.yaml")
	os.WriteFile(file, []byte("name: flaky\ndescription: every other call fails\nstatus: 503\nretry_after: 2\n"), 0o600)
	if code, out := run("scenarios", "put", file); code != 0 || !strings.Contains(out, `"retry_after": 2`) {
		t.Fatalf("put: %d %s", code, out)
	}
	if code, out := run("scenarios", "bind", "--psu", "bob", "flaky"); code != 0 || !strings.Contains(out, `"bob": "flaky"`) {
		t.Errorf("bind: %d %s", code, out)
	}
	if code, out := run("scenarios", "bind", "--amount", "1.23", "flaky"); code != 0 || !strings.Contains(out, `"1.23": "flaky"`) ||
		!strings.Contains(out, `"0.66": "insufficient-funds"`) {
		t.Errorf("bind an amount: %d %s", code, out)
	}
	if code, out := run("scenarios", "delete", "flaky"); code != 1 || !strings.Contains(out, "409") {
		t.Errorf("delete a bound scenario: %d %s", code, out)
	}
	if code, out := run("scenarios", "unbind", "--psu", "bob"); code != 0 || strings.Contains(out, `"bob"`) {
		t.Errorf("unbind: %d %s", code, out)
	}
	if code, out := run("scenarios", "list"); code != 0 || !strings.Contains(out, `"name": "flaky"`) {
		t.Errorf("list: %d %.300s", code, out)
	}
	if code, out := run("reset"); code != 0 || !strings.Contains(out, "back to the seed") {
		t.Fatalf("reset: %d %s", code, out)
	}
	if s.app.Clock.Offset() != 0 {
		t.Errorf("after reset the clock is %s ahead", s.app.Clock.Offset())
	}
	if code, out := run("scenarios", "show", "flaky"); code != 1 || !strings.Contains(out, "404") {
		t.Errorf("after reset the scenario is still there: %d %s", code, out)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"wrong_admin_token", []string{"reset", "--sandbox", s.url, "--admin-token", "guess"}, "401"},
		{"no_admin_token", []string{"clock", "--sandbox", s.url}, "admin token is needed"},
		{"bad_usage", []string{"scenarios", "fly", "--sandbox", s.url, "--admin-token", "x"}, "usage"},
		{"bad_scenario_file", []string{"scenarios", "put", file + ".missing", "--sandbox", s.url, "--admin-token", "x"}, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			t.Setenv("SANDBOX_ADMIN_TOKEN", "")
			if code := app.Main(ctx, tc.args, &out, &out); code != 1 || !strings.Contains(out.String(), tc.want) {
				t.Errorf("exit %d, output %q; want 1 and %q", code, out.String(), tc.want)
			}
		})
	}
}
