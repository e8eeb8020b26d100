package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/app"
)

// needTool skips a test whose tool is missing, saying what to install —
// except in CI, where .ci/run installs it and the test must run.
func needTool(t *testing.T, what, install string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is missing; .ci/run installs it (%s)", what, install)
	}
	t.Skipf("%s is missing: %s to run this example", what, install)
}

// runExample runs an example's journey against a sandbox of its own and
// checks that it ends with its OK line.
func runExample(t *testing.T, dir string, name string, args ...string) {
	t.Helper()
	// The example signs its JWTs with this machine's clock, as a TPP does:
	// the sandbox keeps real time too.
	s := start(t, realIssuer(), func(c *app.Config) { c.Wall = nil })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SANDBOX_URL="+s.url)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "accounts read. OK") {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	t.Logf("%s", out)
}

// TestExamplePython runs docs/examples/python/journey.py (requests, PyJWT):
// private_key_jwt, PAR with PKCE, headless approval, the ID token verified
// against the JWKS, accounts and balances, revocation.
func TestExamplePython(t *testing.T) {
	t.Parallel()
	py := os.Getenv("SANDBOX_PYTHON")
	if py == "" {
		py = "python3"
		if _, err := os.Stat("/usr/bin/python3"); err == nil {
			py = "/usr/bin/python3" // Debian's, where apt installs the packages
		}
	}
	if err := exec.Command(py, "-c", "import requests, jwt, cryptography").Run(); err != nil {
		needTool(t, py+" with requests, PyJWT and cryptography", "apt-get install python3-requests python3-jwt python3-cryptography")
	}
	runExample(t, filepath.Join("..", "docs", "examples", "python"), py, "journey.py")
}

// TestExampleNode runs docs/examples/node/journey.mjs (openid-client): the
// same journey through the library's discovery, dynamic registration, PAR
// and code grant with its ID token checks.
func TestExampleNode(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "docs", "examples", "node")
	if _, err := exec.LookPath("node"); err != nil {
		needTool(t, "node", "apt-get install nodejs")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "openid-client")); err != nil {
		needTool(t, "openid-client", "npm ci in docs/examples/node")
	}
	runExample(t, dir, "node", "journey.mjs")
}
