package app

import (
	"bytes"
	"flag"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// run runs the sandbox binary's Main and returns its exit code, stdout and
// stderr.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(t.Context(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestHelp: --help at every level exits 0 and says what there is: the
// commands, and for tpp only the flags of the journey asked about.
func TestHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"serve", "--help"}} {
		code, _, errOut := run(t, args...)
		if code != 0 || !strings.Contains(errOut, "\n  tpp ") || !strings.Contains(errOut, "\n  healthcheck ") || !strings.Contains(errOut, "-addr") {
			t.Errorf("sandbox %v: exit %d, want 0 with the commands and the serving flags:\n%s", args, code, errOut)
		}
	}
	for _, args := range [][]string{{"tpp", "--help"}, {"tpp", "-h"}} {
		if code, _, errOut := run(t, args...); code != 0 || !strings.Contains(errOut, "sandbox tpp accounts") || !strings.Contains(errOut, "sandbox tpp pay") ||
			!strings.Contains(errOut, "sandbox tpp vrp") || !strings.Contains(errOut, "--standard berlin-group") {
			t.Errorf("sandbox %v: exit %d\n%s", args, code, errOut)
		}
	}
	if code, _, errOut := run(t, "tpp"); code != 1 || !strings.Contains(errOut, "sandbox tpp accounts") {
		t.Errorf("sandbox tpp: exit %d, want 1 and the usage\n%s", code, errOut)
	}
	for _, tc := range []struct {
		journey   string
		has, hasn []string
	}{
		{"accounts", []string{"-read", "-revoke", "-sandbox"}, []string{"-amount", "-to-sort-code", "-reference"}},
		{"pay", []string{"-amount", "-to-sort-code", "-sandbox"}, []string{"-read", "-revoke", "-limits", "-count"}},
		{"vrp", []string{"-amount", "-to-sort-code", "-count", "-max", "-limits", "-type", "-every"}, []string{"-read", "-revoke"}},
	} {
		code, _, errOut := run(t, "tpp", tc.journey, "--help")
		if code != 0 {
			t.Errorf("tpp %s --help: exit %d", tc.journey, code)
		}
		for _, f := range tc.has {
			if !regexp.MustCompile(`(?m)^  ` + f + `\b`).MatchString(errOut) {
				t.Errorf("tpp %s --help lacks %s", tc.journey, f)
			}
		}
		for _, f := range tc.hasn {
			if regexp.MustCompile(`(?m)^  ` + f + `\b`).MatchString(errOut) {
				t.Errorf("tpp %s --help lists %s, a flag of the other journey", tc.journey, f)
			}
		}
	}
}

// TestTPPStandardJourneys: Berlin Group has the accounts and pay journeys
// only; a VRP journey asked of it, or an unknown standard, is refused
// before anything is sent.
func TestTPPStandardJourneys(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"tpp", "vrp", "--standard", "berlin-group"}, "variable recurring payments are a UK Open Banking API"},
		{[]string{"tpp", "accounts", "--standard", "stet"}, `--standard "stet": uk or berlin-group`},
	} {
		// Nothing listens on port 1: a command that tried to connect would
		// fail with another message.
		code, _, errOut := run(t, append(tc.args, "--sandbox", "http://127.0.0.1:1", "--quiet")...)
		if code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("sandbox %v: exit %d, want 1 and %q:\n%s", tc.args, code, tc.want, errOut)
		}
	}
}

// TestBadFlagIsOneLine: a bad flag value is one line naming it and
// pointing at --help, not the whole usage.
func TestBadFlagIsOneLine(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--seed", "forty-two"}, {"serve", "--frobnicate"}, {"tpp", "accounts", "--amount", "1"}, {"clock", "--nope"}} {
		code, _, errOut := run(t, args...)
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		if code != 1 || len(lines) != 1 || !strings.Contains(errOut, "--help") {
			t.Errorf("sandbox %v: exit %d, %d lines, want 1 line pointing at --help:\n%s", args, code, len(lines), errOut)
		}
	}
}

// TestStartErrors: what keeps the sandbox from starting is said with what
// to do, and a busy address is found before any bank is seeded.
func TestStartErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	notDB := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("not a database\n", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(dir, "fresh.db")
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"AddressInUse", []string{"--addr", busy.Addr().String(), "--db", fresh}, []string{"is in use", "--addr 127.0.0.1:"}},
		{"DBIsAFolder", []string{"--addr", "127.0.0.1:0", "--db", dir}, []string{"is a folder", filepath.Join(dir, "sandbox.db")}},
		{"DBFolderMissing", []string{"--addr", "127.0.0.1:0", "--db", filepath.Join(dir, "no", "such", "x.db")}, []string{"does not exist"}},
		{"NotADatabase", []string{"--addr", "127.0.0.1:0", "--db", notDB}, []string{"is not a SQLite database"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := run(t, append([]string{"serve"}, tc.args...)...)
			for _, w := range tc.want {
				if code != 1 || !strings.Contains(errOut, w) {
					t.Errorf("exit %d, %q; want 1 and %q", code, errOut, w)
				}
			}
			if lines := strings.Count(strings.TrimSpace(errOut), "\n") + 1; lines > 1 {
				t.Errorf("%d lines of output, want one", lines)
			}
		})
	}
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Errorf("with its address in use the sandbox still made %s (%v): it seeded before finding the port busy", fresh, err)
	}
}

// TestCertsIssueWritesToItsFolder: `sandbox certs issue` writes the
// certificate and its key into --out (sandbox-certs/ by default, which
// .gitignore leaves out), named after the common name, never loose into the
// working folder.
func TestCertsIssueWritesToItsFolder(t *testing.T) {
	ignore, err := os.ReadFile("../../.gitignore")
	if err != nil || !strings.Contains(string(ignore), "\n/sandbox-certs/\n") {
		t.Errorf(".gitignore does not leave sandbox-certs/ out (%v)", err)
	}
	dir := t.TempDir()
	t.Chdir(dir)
	code, out, errOut := run(t, "certs", "issue", "--db", filepath.Join(dir, "s.db"), "--cn", "my tpp")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	for _, f := range []string{"sandbox-certs/my-tpp.pem", "sandbox-certs/my-tpp.key"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil || !strings.Contains(out, f) {
			t.Errorf("%s: %v; printed %q", f, err, out)
		}
	}
	loose, _ := filepath.Glob(filepath.Join(dir, "*.pem"))
	if len(loose) > 0 {
		t.Errorf("files written into the working folder: %v", loose)
	}
	if fi, err := os.Stat(filepath.Join(dir, "sandbox-certs/my-tpp.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the key's mode: %v %v", fi.Mode(), err)
	}
}

// TestSecretFlag: an admin token taken from the environment is used but
// never printed as the flag's default by --help; one given on the command
// line wins.
func TestSecretFlag(t *testing.T) {
	t.Setenv("SANDBOX_TEST_SECRET", "s3cret-from-env")
	for _, args := range [][]string{nil, {"--token", "given"}} {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		var help bytes.Buffer
		fs.SetOutput(&help)
		tok := secretFlag(fs, "token", "SANDBOX_TEST_SECRET", "a `token`")
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		fs.PrintDefaults()
		want := "s3cret-from-env"
		if len(args) > 0 {
			want = "given"
		}
		if got := tok.Value(); got != want {
			t.Errorf("%q: value %q, want %q", args, got, want)
		}
		if strings.Contains(help.String(), "s3cret") {
			t.Errorf("--help prints the secret:\n%s", help.String())
		}
	}
}
