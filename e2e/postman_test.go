package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// newmanPath finds Postman's runner: $SANDBOX_NEWMAN, or newman on the PATH
// (.ci/run installs it from npm). Without it the test skips, saying how to
// install it, except in CI, where it must run.
func newmanPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SANDBOX_NEWMAN"); p != "" {
		return p
	}
	if p, err := exec.LookPath("newman"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("newman is not installed; .ci/run installs it (npm install newman)")
	}
	t.Skip("newman is not installed: npm install -g newman (or set SANDBOX_NEWMAN) to run the Postman collection")
	return ""
}

// TestPostmanCollectionNewman imports the collection and environment the
// sandbox serves (/docs/postman.json, generated from the contracts) into
// Postman's own runner and runs it against a live sandbox: the
// collection's pre-request script gets its tokens headlessly, the
// "Getting started" journey's checks pass with 200s, and every other
// operation of every contract answers without a server error.
func TestPostmanCollectionNewman(t *testing.T) {
	t.Parallel()
	newman := newmanPath(t)
	s := start(t, realIssuer())
	dir := t.TempDir()
	for name, path := range map[string]string{"collection.json": "/docs/postman.json", "environment.json": "/docs/postman-environment.json"} {
		r := s.get(path, "")
		expect(t, r, 200)
		if err := os.WriteFile(filepath.Join(dir, name), r.Body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var col struct {
		Item []struct {
			Name string
			Item []json.RawMessage
		}
	}
	s.get("/docs/postman.json", "").JSON(t, &col)
	total := 0
	for _, f := range col.Item {
		total += len(f.Item)
	}
	report := filepath.Join(dir, "report.json")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, newman, "run", filepath.Join(dir, "collection.json"), "-e", filepath.Join(dir, "environment.json"),
		"--env-var", "admin_token="+s.app.Config.AdminToken, "--reporters", "cli,json", "--reporter-json-export", report,
		"--reporter-cli-no-success-assertions", "--timeout-request", "30000")
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("newman: %v\n%s", err, tail(string(out), 6000))
	}
	var rep struct {
		Run struct {
			Stats struct {
				Requests, Assertions, PrerequestScripts struct{ Total, Failed int }
			}
			Failures   []json.RawMessage
			Executions []struct {
				Item     struct{ Name string }
				Response struct{ Code int }
			}
		}
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	st := rep.Run.Stats
	if st.Assertions.Failed > 0 || st.Requests.Failed > 0 || len(rep.Run.Failures) > 0 {
		t.Fatalf("newman: %d of %d assertions failed, %d requests failed\n%s", st.Assertions.Failed, st.Assertions.Total,
			st.Requests.Failed, tail(string(out), 6000))
	}
	// Executions list the pre-request script's calls too: an item's own
	// request is its last.
	last := map[string]int{}
	for _, e := range rep.Run.Executions {
		last[e.Item.Name] = e.Response.Code
	}
	if len(last) != total || total < 150 {
		t.Fatalf("newman ran %d of the collection's %d requests", len(last), total)
	}
	if col.Item[0].Name != "Getting started" {
		t.Fatalf("the first folder is %q, want Getting started", col.Item[0].Name)
	}
	for _, raw := range col.Item[0].Item {
		var it struct{ Name string }
		json.Unmarshal(raw, &it)
		if last[it.Name] != 200 {
			t.Errorf("Getting started: %q answered %d, want 200", it.Name, last[it.Name])
		}
	}
	if st.Assertions.Total < total {
		t.Errorf("%d assertions for %d requests: every request should check its answer", st.Assertions.Total, total)
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
