package app

import (
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
)

func TestFlagsAndEnvironment(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(Config) bool
		wantErr bool
	}{
		{"Defaults", nil, nil, func(c Config) bool {
			return c.Addr == "127.0.0.1:8080" && c.DB == "sandbox.db" && c.Seed == 42 && c.Profile == "dev"
		}, false},
		{"Flag", []string{"--db", "x.db", "--seed", "7"}, nil, func(c Config) bool { return c.DB == "x.db" && c.Seed == 7 }, false},
		{"EnvTwin", nil, map[string]string{"SANDBOX_DB": "env.db", "SANDBOX_PROFILE": "fapi"}, func(c Config) bool { return c.DB == "env.db" && c.Profile == "fapi" }, false},
		{"FlagBeatsEnv", []string{"--db", "flag.db"}, map[string]string{"SANDBOX_DB": "env.db"}, func(c Config) bool { return c.DB == "flag.db" }, false},
		{"ErrProfile", []string{"--profile", "lax"}, nil, nil, true},
		{"ErrAddr", []string{"--addr", "nonsense"}, nil, nil, true},
		{"ErrEnvValue", nil, map[string]string{"SANDBOX_SEED": "many"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			cfg := Defaults()
			fs := flagSet("test", &cfg, io.Discard)
			err := parse(fs, tt.args)
			if err == nil {
				err = cfg.Validate()
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error=%v", err, tt.wantErr)
			}
			if tt.check != nil && !tt.check(cfg) {
				t.Errorf("config %+v", cfg)
			}
		})
	}
}

func TestUnknownCommand(t *testing.T) {
	if code := Main(t.Context(), []string{"frobnicate"}, io.Discard, io.Discard); code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
	if code := Main(t.Context(), []string{"version"}, io.Discard, io.Discard); code != 0 {
		t.Errorf("version: exit code %d, want 0", code)
	}
}

// TestOneDefaultURL: the URL the sandbox derives with no flags, the one it
// derives in the container (the Dockerfile's SANDBOX_ADDR, published with
// `docker run -p 8080:8080`) and the one the CLI and the README use are the
// same, so a client library that checks the issuer (go-oidc) accepts it.
// Docker itself is not run here: the derivation is what decides.
func TestOneDefaultURL(t *testing.T) {
	docker, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`SANDBOX_ADDR=(\S+)`).FindSubmatch(docker)
	if m == nil {
		t.Fatal("the Dockerfile sets no SANDBOX_ADDR")
	}
	for _, addr := range []string{string(m[1]), Defaults().Addr, "[::]:8080", ":8080"} {
		tcp, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := deriveIssuer(tcp); got != DefaultURL {
			t.Errorf("--addr %s derives %s, want %s", addr, got, DefaultURL)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, other := range []string{"http://localhost:8080", "https://localhost:8080"} {
		if n := strings.Count(string(readme), other); n > 0 {
			t.Errorf("the README names %s %d times: the sandbox derives %s", other, n, DefaultURL)
		}
	}
}
