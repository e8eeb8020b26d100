package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

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
// the sandbox) in fapi.
func TestBuiltInTPP(t *testing.T) {
	for _, profile := range []string{"dev", "fapi"} {
		t.Run(profile, func(t *testing.T) {
			// The command is a separate program with the machine's clock.
			s := start(t, realIssuer(), withProfile(profile), func(c *app.Config) { c.Wall = nil })
			args := []string{"--sandbox", s.url, "--quiet", "--admin-token", s.app.Config.AdminToken, "--redirect-uri", "https://tpp.example/cb"}
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
			if pay.Data.DomesticPaymentId == "" || pay.Data.Status == "Rejected" {
				t.Errorf("tpp pay: %+v", pay.Data)
			}
		})
	}
}
