package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestCIRecipes: the copy-paste CI recipes under docs/ci are well-formed and
// run the one script of CI steps (which TestCIRecipeScript and .ci/run run
// against the real binary): the GitHub Actions workflow and the GitLab job
// start the sandbox and wait for its health check, the compose file starts
// the app under test only once the sandbox is healthy, at the issuer it is
// reached by. The container engine and the hosted runners are not here:
// these files are checked, not run.
func TestCIRecipes(t *testing.T) {
	t.Parallel()
	const script = "docs/ci/sandbox-ci.sh"
	root := filepath.Join("..")
	if _, err := os.Stat(filepath.Join(root, script)); err != nil {
		t.Fatal(err)
	}
	var gh struct {
		On   any `yaml:"on"`
		Jobs map[string]struct {
			RunsOn string `yaml:"runs-on"`
			Steps  []struct {
				Name, Uses, Run string
				Env             map[string]string
			}
		}
	}
	readYAML(t, filepath.Join(root, "docs/ci/github-actions.yml"), &gh)
	job, ok := gh.Jobs["sandbox"]
	if !ok || job.RunsOn == "" || gh.On == nil {
		t.Fatalf("github-actions.yml: no sandbox job with runs-on and on: %+v", gh)
	}
	var runs strings.Builder
	for _, st := range job.Steps {
		runs.WriteString(st.Uses + "\n" + st.Run + "\n")
	}
	for _, want := range []string{"actions/checkout", "actions/setup-go", "go install github.com/obsandbox/sandbox/cmd/sandbox", "sandbox healthcheck", "bash " + script} {
		if !strings.Contains(runs.String(), want) {
			t.Errorf("github-actions.yml: no step with %q", want)
		}
	}

	var gl map[string]struct {
		Image     string
		Script    []string
		Variables map[string]string
	}
	readYAML(t, filepath.Join(root, "docs/ci/gitlab-ci.yml"), &gl)
	glJob, ok := gl["open-banking"]
	if !ok || glJob.Image == "" {
		t.Fatalf("gitlab-ci.yml: no open-banking job with an image")
	}
	all := strings.Join(glJob.Script, "\n")
	for _, want := range []string{"go install github.com/obsandbox/sandbox/cmd/sandbox", "sandbox healthcheck", "bash " + script, "CI_JOB_ID"} {
		if !strings.Contains(all, want) {
			t.Errorf("gitlab-ci.yml: the script has no %q", want)
		}
	}

	var compose struct {
		Services map[string]struct {
			Build       struct{ Context, Dockerfile string }
			Environment map[string]string
			Healthcheck struct{ Test []string }
			DependsOn   map[string]struct{ Condition string } `yaml:"depends_on"`
		}
	}
	readYAML(t, filepath.Join(root, "docs/ci/docker-compose.yml"), &compose)
	sb, app := compose.Services["sandbox"], compose.Services["app"]
	if len(sb.Healthcheck.Test) == 0 || !strings.Contains(strings.Join(sb.Healthcheck.Test, " "), "healthcheck") {
		t.Error("docker-compose.yml: the sandbox has no health check")
	}
	if app.DependsOn["sandbox"].Condition != "service_healthy" {
		t.Error("docker-compose.yml: the app does not wait for a healthy sandbox")
	}
	if app.Environment["SANDBOX_URL"] != sb.Environment["SANDBOX_ISSUER"] || app.Environment["SANDBOX_URL"] == "" {
		t.Errorf("docker-compose.yml: the app reaches %q, the sandbox's issuer is %q: they must be the same",
			app.Environment["SANDBOX_URL"], sb.Environment["SANDBOX_ISSUER"])
	}
	for name, svc := range compose.Services {
		ctx := filepath.Join("../docs/ci", svc.Build.Context)
		if _, err := os.Stat(filepath.Join(ctx, svc.Build.Dockerfile)); err != nil {
			t.Errorf("docker-compose.yml: %s builds from a missing file: %v", name, err)
		}
	}
	df, err := os.ReadFile(filepath.Join(root, "docs/ci/Dockerfile.app"))
	if err != nil || !strings.Contains(string(df), "COPY "+script) {
		t.Errorf("Dockerfile.app does not copy %s: %v", script, err)
	}
}

// TestCIRecipeScript runs the recipes' CI steps (docs/ci/sandbox-ci.sh)
// against a sandbox process, as a CI job would (the test binary as the
// sandbox command: its TestMain is cmd/sandbox's main): health check, a tenant of its
// own, headless consent, sandbox tpp's exit codes, a runtime PSU, a payment.
func TestCIRecipeScript(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("no curl: the CI steps use it")
	}
	bin := sandboxCommand(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "../docs/ci/sandbox-ci.sh")
	cmd.Env = append(os.Environ(), "SANDBOX_BIN="+bin, "SANDBOX_URL=", "SANDBOX_ADMIN_TOKEN=", "SANDBOX_JOB=go-test")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "6 passed, 0 failed") {
		t.Fatalf("docs/ci/sandbox-ci.sh: %v\n%s", err, out)
	}
}
