package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"path/filepath"
	"strings"
	"testing"

	"github.com/obsandbox/sandbox/internal/app"
	"github.com/obsandbox/sandbox/internal/tpp"
)

// TestSnapshots: a snapshot taken online is restored byte for byte — the
// bank after payments, clock jumps and card bookings, the clients registered
// since, the clock and the scenarios — while the audit trail keeps
// everything that happened, restores included, and still verifies.
func TestSnapshots(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer(), func(c *app.Config) { c.DB = filepath.Join(t.TempDir(), "snap.db") })
	ctx := context.Background()
	dump := func() [32]byte {
		var b bytes.Buffer
		if err := s.app.Store.DumpBank(ctx, &b); err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(b.Bytes())
	}
	before := s.newTPP("private_key_jwt")
	bank0 := dump()
	offset0 := s.app.Clock.Offset()
	expect(t, s.admin("POST", "/sandbox/snapshots", map[string]string{"name": "clean"}), 201)

	// Change everything a suite would.
	if _, _, err := before.PaymentJourney(ctx, "alice", "alice123", tpp.DomesticInitiation("42.42", payee, "SNAPSHOT"), nil); err != nil {
		t.Fatal(err)
	}
	s.advance("4d")
	expect(t, s.admin("POST", "/sandbox/scenarios/active", map[string]string{"name": "server-error"}), 200)
	after := s.newTPP("private_key_jwt")
	if dump() == bank0 {
		t.Fatal("nothing changed the bank: the test proves nothing")
	}

	expect(t, s.admin("POST", "/sandbox/snapshots/clean/restore", nil), 204)
	if dump() != bank0 {
		t.Error("the restored bank differs from the snapshot's")
	}
	if got := s.app.Clock.Offset(); got != offset0 {
		t.Errorf("clock offset %s after restore, want %s", got, offset0)
	}
	if _, err := before.ClientCredentials(ctx, "accounts"); err != nil {
		t.Errorf("a client registered before the snapshot: %v", err)
	}
	if _, err := after.ClientCredentials(ctx, "accounts"); err == nil {
		t.Error("a client registered after the snapshot still gets tokens")
	}
	if _, _, err := before.AISJourney(ctx, "alice", "alice123", tpp.AllPermissions, nil); err != nil {
		t.Errorf("the active scenario survived the restore: %v", err)
	}
	var verify struct {
		Valid          bool
		EntriesChecked int `json:"entries_checked"`
	}
	s.admin("GET", "/sandbox/audit/verify", nil).JSON(t, &verify)
	var trail struct{ Entries []struct{ Path string } }
	s.admin("GET", "/sandbox/audit?limit=10000", nil).JSON(t, &trail)
	restoreSeen := false
	for _, e := range trail.Entries {
		restoreSeen = restoreSeen || strings.HasSuffix(e.Path, "/restore")
	}
	if !verify.Valid || !restoreSeen {
		t.Errorf("audit trail after restore: valid %v, restore recorded %v", verify.Valid, restoreSeen)
	}

	var list struct {
		Snapshots []struct {
			Name  string
			Bytes int64
		}
	}
	s.admin("GET", "/sandbox/snapshots", nil).JSON(t, &list)
	if len(list.Snapshots) != 1 || list.Snapshots[0].Name != "clean" || list.Snapshots[0].Bytes == 0 {
		t.Errorf("snapshots %+v", list.Snapshots)
	}
	for _, tc := range []struct {
		name, method, path string
		body               any
		token              string
		status             int
	}{
		{"ErrExists", "POST", "/sandbox/snapshots", map[string]string{"name": "clean"}, "admin", 409},
		{"ErrBadName", "POST", "/sandbox/snapshots", map[string]string{"name": "../etc"}, "admin", 400},
		{"ErrNoAdminToken", "POST", "/sandbox/snapshots/clean/restore", nil, "", 401},
		{"ErrUnknown", "POST", "/sandbox/snapshots/nope/restore", nil, "admin", 404},
		{"Deleted", "DELETE", "/sandbox/snapshots/clean", nil, "admin", 204},
		{"ErrDeletedRestore", "POST", "/sandbox/snapshots/clean/restore", nil, "admin", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := tc.token
			if tok == "admin" {
				tok = s.app.Config.AdminToken
			}
			expect(t, s.do(req{method: tc.method, path: tc.path, token: tok, body: tc.body}), tc.status)
		})
	}
	t.Run("cli", func(t *testing.T) {
		run := func(args ...string) (int, string) {
			var out bytes.Buffer
			code := app.Main(ctx, append(args, "--sandbox", s.url, "--admin-token", s.app.Config.AdminToken), &out, &out)
			return code, out.String()
		}
		if code, out := run("snapshot", "save", "ci-1"); code != 0 || !strings.Contains(out, `"name": "ci-1"`) {
			t.Fatalf("save: %d %s", code, out)
		}
		if code, out := run("snapshot", "restore", "ci-1"); code != 0 || !strings.Contains(out, "restored ci-1") {
			t.Errorf("restore: %d %s", code, out)
		}
		if code, out := run("snapshot", "list"); code != 0 || !strings.Contains(out, "ci-1") {
			t.Errorf("list: %d %s", code, out)
		}
		if code, out := run("snapshot", "restore", "ci-2"); code != 1 || !strings.Contains(out, "404") {
			t.Errorf("restore of an unknown snapshot: %d %s", code, out)
		}
	})
}
