package sandboxtest_test

import (
	"errors"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/app"
	"github.com/obsandbox/sandbox/sandboxtest"
)

// TestIsolated: two sandboxes side by side share nothing — a PSU added to
// one and a clock moved in the other stay where they were done.
func TestIsolated(t *testing.T) {
	t.Parallel()
	a, b := sandboxtest.New(t), sandboxtest.New(t)
	if a.URL == b.URL || a.AdminToken == b.AdminToken {
		t.Fatalf("two sandboxes share %s / an admin token", a.URL)
	}
	if _, err := a.Admin.AddPSU(map[string]any{"username": "only-in-a", "password": "pw",
		"accounts": []map[string]string{{"Currency": "GBP", "AccountSubType": "CurrentAccount", "Nickname": "A"}}}); err != nil {
		t.Fatal(err)
	}
	bNow, _ := b.Clock.Now()
	if _, err := b.Clock.Advance(48 * time.Hour); err != nil {
		t.Fatal(err)
	}
	psus, err := b.Admin.PSUs()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range psus {
		if p.Username == "only-in-a" {
			t.Fatal("a PSU added to one sandbox shows in the other")
		}
	}
	aNow, _ := a.Clock.Now()
	if aNow.Sub(bNow) > time.Hour {
		t.Fatalf("a's clock %s moved with b's (from %s)", aNow, bNow)
	}
	if bAfter, _ := b.Clock.Now(); bAfter.Sub(bNow) < 48*time.Hour {
		t.Fatalf("b's clock %s, want 48h past %s", bAfter, bNow)
	}
}

// TestCleanedUp: when the test that made it ends, the sandbox stops
// answering and its files are gone. (The bank template the first sandbox
// of a process seeds lives as long as the process: see internal/app.)
func TestCleanedUp(t *testing.T) {
	// Not parallel: it sets TMPDIR, where the sandbox keeps its files.
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	t.Cleanup(func() { app.RemoveTemplates() }) // those made in tmp: the next sandbox makes its own
	sandboxDirs := func() []string {
		entries, _ := os.ReadDir(tmp)
		var out []string
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "sandboxtest-") {
				out = append(out, e.Name())
			}
		}
		return out
	}
	var sb *sandboxtest.Sandbox
	t.Run("uses", func(t *testing.T) {
		sb = sandboxtest.New(t)
		if _, err := sb.Admin.PSUs(); err != nil {
			t.Fatal(err)
		}
		if dirs := sandboxDirs(); len(dirs) != 1 {
			t.Fatalf("%v in TMPDIR while running, want the sandbox's folder", dirs)
		}
	})
	if _, err := sb.Admin.PSUs(); err == nil {
		t.Fatal("the sandbox still answers after its test ended")
	}
	if dirs := sandboxDirs(); len(dirs) != 0 {
		t.Fatalf("%v left in TMPDIR after the test ended", dirs)
	}
}

// TestApproveOptions: Approve finds the consent's pushed request; Deny and
// As change the PSU's decision; a consent without one is an error that
// says what to do.
func TestApproveOptions(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.New(t)
	consent := func() string {
		var reg struct {
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		}
		post(t, sb, "/as/register", "", "", `{"redirect_uris":["http://localhost:3000/cb"]}`, &reg)
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		post(t, sb, "/as/token", reg.ClientID, reg.ClientSecret, url.Values{"grant_type": {"client_credentials"}, "scope": {"accounts"}}.Encode(), &tok)
		var c struct{ Data struct{ ConsentId string } }
		post(t, sb, "/open-banking/v3.1/aisp/account-access-consents", "Bearer", tok.AccessToken,
			`{"Data":{"Permissions":["ReadAccountsBasic"]},"Risk":{}}`, &c)
		if _, err := sb.Approve(c.Data.ConsentId); err == nil || !strings.Contains(err.Error(), "pushed authorization request") {
			t.Fatalf("Approve before any pushed request: %v", err)
		}
		post(t, sb, "/as/par", reg.ClientID, reg.ClientSecret, url.Values{"response_type": {"code"}, "redirect_uri": {"http://localhost:3000/cb"},
			"scope": {"openid accounts"}, "code_challenge_method": {"S256"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"},
			"claims": {`{"id_token":{"openbanking_intent_id":{"value":"` + c.Data.ConsentId + `"}}}`}}.Encode(), nil)
		return c.Data.ConsentId
	}
	to, err := sb.Approve(consent(), sandboxtest.Deny())
	if err != nil || !strings.Contains(to, "error=access_denied") {
		t.Fatalf("Deny: %q, %v", to, err)
	}
	_, err = sb.Approve(consent(), sandboxtest.As("bob", "wrong"))
	var se *sandboxtest.Error
	if !errors.As(err, &se) || se.Status != http.StatusUnauthorized {
		t.Fatalf("a wrong password: %v, want a 401 *Error", err)
	}
	if to, err := sb.Approve(consent(), sandboxtest.As("bob", "bob123")); err != nil || !strings.Contains(to, "code=") {
		t.Fatalf("bob approves: %q, %v", to, err)
	}
}

// post sends a JSON body, or a form with client_id/secret as HTTP Basic
// (user "Bearer": secret is a token), and decodes the 2xx answer.
func post(t *testing.T, sb *sandboxtest.Sandbox, path, user, secret, body string, out any) {
	t.Helper()
	req, _ := http.NewRequest("POST", sb.URL+path, strings.NewReader(body))
	switch user {
	case "":
		req.Header.Set("Content-Type", "application/json")
	case "Bearer":
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+secret)
	default:
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(user, secret)
	}
	tpp := &exampleTPP{hc: sb.HTTP}
	if out == nil {
		out = &map[string]any{}
	}
	tpp.send(req, out)
}
