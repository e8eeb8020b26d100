package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/obsandbox/sandbox/internal/app"
	"github.com/obsandbox/sandbox/internal/tpp"
)

type auditEntry struct {
	Seq                                     int64
	ClientID                                string `json:"client_id"`
	ConsentID                               string `json:"consent_id"`
	PSU, Method, Path, Decision, Rule, Hash string
	Status                                  int
}

func (s *sandbox) audit(query string) []auditEntry {
	s.t.Helper()
	var out struct{ Entries []auditEntry }
	r := s.get("/sandbox/audit?"+query, s.app.Config.AdminToken)
	expect(s.t, r, 200)
	r.JSON(s.t, &out)
	return out.Entries
}

type securityEvent struct {
	ClientID string `json:"client_id"`
	Rule     string
	Severity string
	Action   string
	Evidence []int64
}

func (s *sandbox) events() []securityEvent {
	s.t.Helper()
	var out struct{ Events []securityEvent }
	s.get("/sandbox/security-events", s.app.Config.AdminToken).JSON(s.t, &out)
	return out.Events
}

// TestAuditTrail: every decision is recorded with who, what, the decision
// and the rule; the chain verifies; an edited or deleted row in the file is
// reported by `sandbox audit verify`.
func TestAuditTrail(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "audit.db")
	s := start(t, realIssuer(), func(c *app.Config) { c.DB = db })
	ctx := context.Background()
	c := s.newTPP("private_key_jwt")
	toks, consent, err := c.AISJourney(ctx, "alice", "alice123", []string{"ReadAccountsBasic"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, s.get(ais+"/accounts", toks.AccessToken), 200)
	expect(t, s.get(ais+"/accounts/"+s.accountsOf("bob")[0], toks.AccessToken), 403)
	entries := s.audit("client_id=" + url.QueryEscape(c.ClientID))
	var allowed, refused *auditEntry
	for i, e := range entries {
		if e.Path == ais+"/accounts" && e.Decision == "allowed" {
			allowed = &entries[i]
		}
		if e.Status == 403 {
			refused = &entries[i]
		}
	}
	if allowed == nil || allowed.ConsentID != consent || allowed.PSU != "alice" || allowed.Rule != "ok" {
		t.Errorf("the allowed read: %+v", allowed)
	}
	if refused == nil || refused.Decision != "refused" || refused.Rule != "bola.foreign" {
		t.Errorf("the refused read: %+v", refused)
	}
	var tokenEntry bool
	for _, e := range entries {
		tokenEntry = tokenEntry || (e.Path == "/as/token" && e.Decision == "allowed")
	}
	if !tokenEntry {
		t.Error("the token requests are not in the client's trail")
	}
	var verify struct {
		Valid          bool
		EntriesChecked int `json:"entries_checked"`
	}
	s.get("/sandbox/audit/verify", s.app.Config.AdminToken).JSON(t, &verify)
	if !verify.Valid || verify.EntriesChecked < len(entries) {
		t.Fatalf("verify: %+v", verify)
	}
	export := s.get("/sandbox/audit/export", s.app.Config.AdminToken)
	if n := bytes.Count(export.Body, []byte("\n")); n < verify.EntriesChecked {
		t.Errorf("export has %d lines, the chain %d entries", n, verify.EntriesChecked)
	}
	s.stop()

	run := func() (int, string) {
		var out bytes.Buffer
		code := app.Main(ctx, []string{"audit", "verify", "--db", db}, &out, &out)
		return code, out.String()
	}
	if code, out := run(); code != 0 || !strings.Contains(out, "intact") {
		t.Fatalf("verify of an untouched file: %d %s", code, out)
	}
	tamper := func(stmts ...string) {
		raw, err := sql.Open("sqlite", db)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		for _, q := range stmts {
			if _, err := raw.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	// The triggers stop a casual edit ...
	raw, _ := sql.Open("sqlite", db)
	if _, err := raw.Exec("UPDATE audit_log SET decision = 'allowed' WHERE status = 403"); err == nil {
		t.Error("an UPDATE of the audit log went through")
	}
	raw.Close()
	// ... and the chain catches a determined one.
	tamper("DROP TRIGGER audit_log_no_update", "UPDATE audit_log SET decision = 'allowed' WHERE status = 403")
	if code, out := run(); code == 0 || !strings.Contains(out, "edited") {
		t.Errorf("verify after an edit: %d %s", code, out)
	}
	tamper("DROP TRIGGER audit_log_no_delete", "DELETE FROM audit_log WHERE seq = 2")
	if code, out := run(); code == 0 || !strings.Contains(out, "missing") {
		t.Errorf("verify after a deletion: %d %s", code, out)
	}
	_ = io.Discard
}

// TestAnomalies: scripted attacks raise exactly the expected events; a
// normal journey raises none; with --anomaly-response suspend the client is
// stopped until an admin lifts it.
func TestAnomalies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("NormalJourneyRaisesNothing", func(t *testing.T) {
		s := start(t, realIssuer())
		c := s.newTPP("private_key_jwt")
		toks, _, err := c.AISJourney(ctx, "alice", "alice123", tpp.AllPermissions, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"/accounts", "/balances", "/transactions"} {
			expect(t, s.get(ais+p, toks.AccessToken), 200)
		}
		if _, err := c.Refresh(ctx, toks.RefreshToken); err != nil {
			t.Fatal(err)
		}
		if evs := s.events(); len(evs) != 0 {
			t.Errorf("a normal journey raised %+v", evs)
		}
	})
	t.Run("Attacks", func(t *testing.T) {
		s := start(t, realIssuer())
		c := s.newTPP("private_key_jwt")
		toks, _, err := c.AISJourney(ctx, "alice", "alice123", []string{"ReadAccountsBasic"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range append(s.accountsOf("bob"), s.accountsOf("carol")...) {
			s.get(ais+"/accounts/"+id, toks.AccessToken)
		}
		if _, err := c.Refresh(ctx, toks.RefreshToken); err != nil {
			t.Fatal(err)
		}
		c.Refresh(ctx, toks.RefreshToken) // reuse
		as, _ := c.Assertion(nil)
		form := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {as}}
		s.postForm("/as/token", form)
		s.postForm("/as/token", form) // replayed assertion
		cc, _ := c.ClientCredentials(ctx, "accounts")
		id, _ := c.AccountConsent(ctx, cc, []string{"ReadAccountsBasic"}, nil)
		a, _ := c.Authorize(ctx, id, tpp.AuthOptions{})
		to, _ := c.Headless(ctx, a, "alice", "alice123", "approve", nil)
		code, _ := c.Callback(ctx, a, to)
		if _, err := c.Exchange(ctx, a, code); err != nil {
			t.Fatal(err)
		}
		c.Exchange(ctx, a, code) // replayed code
		for range 10 {
			s.get(ais+"/accounts", "garbage")
		}
		got := map[string]string{}
		for _, e := range s.events() {
			if _, dup := got[e.Rule]; dup {
				t.Errorf("%s raised twice", e.Rule)
			}
			got[e.Rule] = e.Severity
			// An anonymous caller's refusals are counted, not stored: their
			// event has no entries to point at (the counts are below).
			if len(e.Evidence) == 0 && e.ClientID != "" {
				t.Errorf("%s has no evidence", e.Rule)
			}
		}
		var refused struct {
			Refused []struct {
				Source, Rule string
				N            int
			}
		}
		s.get("/sandbox/audit/refused", s.app.Config.AdminToken).JSON(t, &refused)
		counted := 0
		for _, r := range refused.Refused {
			if r.Source == "127.0.0.1" && strings.HasPrefix(r.Rule, "401 ") {
				counted += r.N
			}
		}
		if counted < 10 {
			t.Errorf("refused traffic counts %d anonymous 401s, want at least 10: %+v", counted, refused.Refused)
		}
		want := map[string]string{"bola_probe": "high", "refresh_token_reuse": "high", "assertion_replay": "high", "code_replay": "high",
			"auth_failure_burst": "medium"}
		for r, sev := range want {
			if got[r] != sev {
				t.Errorf("event %s: got severity %q, want %q (all: %v)", r, got[r], sev, got)
			}
		}
		if len(got) != len(want) {
			t.Errorf("events %v, want exactly %v", got, want)
		}
	})
	t.Run("Suspend", func(t *testing.T) {
		s := start(t, realIssuer(), func(c *app.Config) { c.AnomalyResponse = "suspend" })
		c := s.newTPP("private_key_jwt")
		toks, _, err := c.AISJourney(ctx, "alice", "alice123", []string{"ReadAccountsBasic"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range s.accountsOf("bob")[:1] {
			s.get(ais+"/accounts/"+id, toks.AccessToken)
		}
		for _, id := range s.accountsOf("carol") {
			s.get(ais+"/accounts/"+id, toks.AccessToken)
		}
		evs := s.events()
		if len(evs) != 1 || evs[0].Action != "suspended" {
			t.Fatalf("events %+v, want one suspension", evs)
		}
		r := s.get(ais+"/accounts", toks.AccessToken)
		expect(t, r, 403)
		if !strings.Contains(string(r.Body), "suspended") {
			t.Errorf("the refusal does not say why: %s", r.Body)
		}
		if _, err := c.ClientCredentials(ctx, "accounts"); err == nil {
			t.Error("a suspended client got a token")
		}
		expect(t, s.do(req{method: "POST", path: "/sandbox/clients/" + c.ClientID + "/unsuspend", token: s.app.Config.AdminToken}), 204)
		expect(t, s.get(ais+"/accounts", toks.AccessToken), 200)
	})
}

// TestAnonymousTrafficIsCounted: requests from a caller who proved nothing
// (a bad token, no token, an unknown path, a public key set) leave counts
// per minute, source and rule, not one audit entry each, however many they
// are; the anomaly rules still see them.
func TestAnonymousTrafficIsCounted(t *testing.T) {
	t.Parallel()
	s := start(t)
	head := func() int64 {
		var h struct{ Count int64 }
		s.get("/sandbox/audit/head", s.app.Config.AdminToken).JSON(t, &h)
		return h.Count
	}
	before := head()
	for range 200 {
		s.get(ais+"/accounts", "garbage")
		s.get(ais+"/accounts", "")
		s.get("/as/jwks", "")
		s.do(req{method: "POST", path: "/as/token", body: "grant_type=client_credentials&client_id=nobody&client_secret=x",
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
	}
	// The admin's own two reads of the head are the only new entries.
	if grown := head() - before; grown > 2 {
		t.Errorf("800 anonymous requests added %d audit entries", grown)
	}
	var out struct {
		Refused []struct {
			Source, Rule string
			N            int
		}
	}
	s.get("/sandbox/audit/refused", s.app.Config.AdminToken).JSON(t, &out)
	total := 0
	for _, r := range out.Refused {
		if r.Source != "127.0.0.1" {
			t.Errorf("counted under source %q", r.Source)
		}
		total += r.N
	}
	if total < 800 {
		t.Errorf("counted %d requests, want 800: %+v", total, out.Refused)
	}
	if len(out.Refused) > 10 {
		t.Errorf("%d count rows for 4 kinds of request", len(out.Refused))
	}
	found := false
	for _, e := range s.events() {
		found = found || e.Rule == "auth_failure_burst"
	}
	if !found {
		t.Error("the anomaly rules did not see the anonymous failures")
	}
}
