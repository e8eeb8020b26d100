package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/obsandbox/sandbox/internal/app"
)

// TestAuditTamperEvident: someone who can write the database file (but not
// read the key file beside it) edits, deletes, reorders, re-chains or cuts
// off audit entries and security events, or moves an anchor or edits a
// saved head; `sandbox audit verify --head` names each, and passes an
// untouched copy.
func TestAuditTamperEvident(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	db := filepath.Join(dir, "audit.db")
	s := start(t, realIssuer(), func(c *app.Config) { c.DB = db })
	c := s.newTPP("private_key_jwt")
	toks, _, err := c.AISJourney(ctx, "alice", "alice123", []string{"ReadAccountsBasic"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range append(s.accountsOf("bob"), s.accountsOf("carol")...) { // a probe: security events too
		s.get(ais+"/accounts/"+id, toks.AccessToken)
	}
	head := s.get("/sandbox/audit/head", s.app.Config.AdminToken)
	expect(t, head, 200)
	var h struct {
		Count  int64
		Hash   string
		Signed string
		Events struct{ Count int64 }
	}
	head.JSON(t, &h)
	if h.Count < 10 || h.Hash == "" || h.Signed == "" || h.Events.Count < 1 {
		t.Fatalf("head %s", head.Body)
	}
	headFile := filepath.Join(dir, "saved-head.json")
	if err := os.WriteFile(headFile, head.Body, 0o600); err != nil {
		t.Fatal(err)
	}
	s.stop()
	if _, err := os.Stat(db + ".audit-head.json"); err != nil {
		t.Errorf("the server kept no head beside the database: %v", err)
	}
	key, err := os.ReadFile(db + ".key")
	if err != nil {
		t.Fatal(err)
	}

	// copyDB is a fresh copy of the stopped sandbox's file and key file.
	n := 0
	copyDB := func() string {
		n++
		cp := filepath.Join(dir, fmt.Sprintf("copy%d.db", n))
		for _, suffix := range []string{"", ".key", ".audit-head.json"} {
			raw, err := os.ReadFile(db + suffix)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(cp+suffix, raw, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return cp
	}
	verify := func(file string, args ...string) (int, string) {
		var out bytes.Buffer
		code := app.Main(ctx, append([]string{"audit", "verify", "--db", file}, args...), &out, &out)
		return code, out.String()
	}
	exec := func(file string, stmts ...string) {
		raw, err := sql.Open("sqlite", file)
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
	// rechain recomputes every link after the anchor with mac, as an
	// attacker would after an edit.
	rechain := func(file string, mac func([]byte) string) {
		raw, err := sql.Open("sqlite", file)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		rows, err := raw.Query(`SELECT seq, at, interaction_id, ip, client_id, psu, consent_id, method, path, status, decision, rule, detail
			FROM audit_log ORDER BY seq`)
		if err != nil {
			t.Fatal(err)
		}
		type row struct {
			seq, at, status                                                int64
			iid, ip, client, psu, consent, method, path, dec, rule, detail string
		}
		var all []row
		for rows.Next() {
			var r row
			rows.Scan(&r.seq, &r.at, &r.iid, &r.ip, &r.client, &r.psu, &r.consent, &r.method, &r.path, &r.status, &r.dec, &r.rule, &r.detail)
			all = append(all, r)
		}
		rows.Close()
		var anchorSeq int64
		prev := ""
		raw.QueryRow("SELECT seq, hash FROM audit_anchors WHERE chain = 'audit'").Scan(&anchorSeq, &prev)
		for _, r := range all {
			if r.seq <= anchorSeq {
				continue
			}
			link := fmt.Sprintf("%s|%d|%d|%q|%q|%q|%q|%q|%q|%q|%d|%q|%q|%q", prev, r.seq, r.at, r.iid, r.ip, r.client, r.psu, r.consent,
				r.method, r.path, r.status, r.dec, r.rule, r.detail)
			h := mac([]byte(link))
			if _, err := raw.Exec("UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?", prev, h, r.seq); err != nil {
				t.Fatal(err)
			}
			prev = h
		}
	}
	noTriggers := []string{"DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete",
		"DROP TRIGGER security_events_no_update", "DROP TRIGGER security_events_no_delete"}
	editRefusal := "UPDATE audit_log SET decision = 'allowed', status = 200 WHERE seq = (SELECT min(seq) FROM audit_log WHERE status = 403)"

	if code, out := verify(copyDB(), "--head", headFile); code != 0 || !strings.Contains(out, "intact") {
		t.Fatalf("an untouched copy: %d %s", code, out)
	}
	if code, out := verify(copyDB()); code != 0 || !strings.Contains(out, "audit-head.json") {
		t.Errorf("without --head the head kept beside the database is used: %d %s", code, out)
	}
	for _, tc := range []struct {
		name   string
		tamper func(file string)
		args   []string
		want   string
	}{
		{"Edited", func(f string) { exec(f, append(noTriggers, editRefusal)...) }, nil, "edited"},
		{"EditedAndRechainedWithoutTheKey", func(f string) {
			exec(f, append(noTriggers, editRefusal)...)
			rechain(f, func(b []byte) string { sum := sha256.Sum256(b); return hex.EncodeToString(sum[:]) })
		}, nil, "keyed hash"},
		{"EditedAndRechainedWithAnotherKey", func(f string) {
			exec(f, append(noTriggers, editRefusal)...)
			rechain(f, func(b []byte) string {
				m := hmac.New(sha256.New, []byte("guess"))
				m.Write(b)
				return hex.EncodeToString(m.Sum(nil))
			})
		}, nil, "keyed hash"},
		{"Deleted", func(f string) { exec(f, append(noTriggers, "DELETE FROM audit_log WHERE seq = 3")...) }, nil, "missing"},
		{"Reordered", func(f string) {
			exec(f, append(noTriggers,
				"UPDATE audit_log SET seq = -1 WHERE seq = 4", "UPDATE audit_log SET seq = 4 WHERE seq = 5", "UPDATE audit_log SET seq = 5 WHERE seq = -1")...)
		}, nil, "entry 4"},
		{"Truncated", func(f string) {
			exec(f, append(noTriggers, "DELETE FROM audit_log WHERE seq > (SELECT max(seq) - 3 FROM audit_log)")...)
		}, []string{"--head", headFile}, "truncated"},
		{"Emptied", func(f string) { exec(f, append(noTriggers, "DELETE FROM audit_log")...) }, []string{"--head", headFile}, "truncated"},
		{"EventEdited", func(f string) {
			exec(f, append(noTriggers, "UPDATE security_events SET severity = 'low'")...)
		}, nil, "security events"},
		{"EventsEmptied", func(f string) { exec(f, append(noTriggers, "DELETE FROM security_events")...) }, []string{"--head", headFile}, "truncated"},
		{"AnchorMoved", func(f string) {
			exec(f, append(noTriggers, "UPDATE audit_anchors SET seq = seq + 3 WHERE chain = 'audit'", "DELETE FROM audit_log WHERE seq <= 3")...)
		}, nil, "anchor"},
		{"HeadEdited", func(string) {
			var saved map[string]any
			raw, _ := os.ReadFile(headFile)
			json.Unmarshal(raw, &saved)
			saved["count"] = float64(3)
			edited, _ := json.Marshal(saved)
			os.WriteFile(filepath.Join(dir, "edited-head.json"), edited, 0o600)
		}, []string{"--head", filepath.Join(dir, "edited-head.json")}, "edited"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := copyDB()
			tc.tamper(f)
			code, out := verify(f, tc.args...)
			if code == 0 || !strings.Contains(out, "BROKEN") && !strings.Contains(out, "head") || !strings.Contains(out, tc.want) {
				t.Errorf("verify: exit %d, %q; want a failure naming %q", code, out, tc.want)
			}
		})
	}
	t.Run("KeyFileMissing", func(t *testing.T) {
		f := copyDB()
		os.Remove(f + ".key")
		if code, out := verify(f); code == 0 || !strings.Contains(out, "key file") {
			t.Errorf("verify without the key file: %d %s", code, out)
		}
		os.WriteFile(f+".key", []byte(strings.Repeat("ab", 32)+"\n"), 0o600)
		if code, out := verify(f); code == 0 || !strings.Contains(out, "another key") {
			t.Errorf("verify with another key file: %d %s", code, out)
		}
	})
	if !bytes.Equal(key, mustRead(t, db+".key")) {
		t.Error("verify changed the key file")
	}
	_ = io.Discard
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
