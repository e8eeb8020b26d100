package app

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/fixtures"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/gateway"
	"github.com/obsandbox/sandbox/internal/oauth"
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
		{"AllowPrivateJWKSOff", nil, nil, func(c Config) bool { return !c.AllowPrivateJWKS }, false},
		{"AllowPrivateJWKSFlag", []string{"--allow-private-jwks"}, nil, func(c Config) bool { return c.AllowPrivateJWKS }, false},
		{"AllowPrivateJWKSEnv", nil, map[string]string{"SANDBOX_ALLOW_PRIVATE_JWKS": "true"}, func(c Config) bool { return c.AllowPrivateJWKS }, false},
		{"ClientAuthFailuresDefaults", nil, nil, func(c Config) bool {
			return c.ClientAuthFailures == gateway.Rate{Per: 0.2, Burst: 20} && c.ClientAuthFailuresIP == gateway.Rate{Per: 1, Burst: 60}
		}, false},
		{"ClientAuthFailuresFlags", []string{"--client-auth-failures", "1:5", "--client-auth-failures-ip", "off"}, nil, func(c Config) bool {
			return c.ClientAuthFailures == gateway.Rate{Per: 1, Burst: 5} && c.ClientAuthFailuresIP == gateway.Off
		}, false},
		{"ClientAuthFailuresEnv", nil, map[string]string{"SANDBOX_CLIENT_AUTH_FAILURES_IP": "2:10"}, func(c Config) bool {
			return c.ClientAuthFailuresIP == gateway.Rate{Per: 2, Burst: 10}
		}, false},
		{"ErrClientAuthFailures", []string{"--client-auth-failures", "lots"}, nil, nil, true},
		{"ProfileFAPI2", []string{"--profile", "fapi2"}, nil, func(c Config) bool { return c.Profile == "fapi2" && c.TLS && c.UnattendedLimit == 4 }, false},
		{"ErrProfile", []string{"--profile", "lax"}, nil, nil, true},
		{"ErrAddr", []string{"--addr", "nonsense"}, nil, nil, true},
		{"ErrEnvValue", nil, map[string]string{"SANDBOX_SEED": "many"}, nil, true},
		{"TenantDefaults", nil, nil, func(c Config) bool { return c.TenantIdle == 10*time.Minute && c.TenantCreateRate.String() == "0.1:5" }, false},
		{"TenantEnvTwins", nil, map[string]string{"SANDBOX_TENANT_IDLE": "90s", "SANDBOX_TENANT_CREATE_RATE": "off"},
			func(c Config) bool { return c.TenantIdle == 90*time.Second && c.TenantCreateRate.Per == 0 }, false},
		{"ErrTenantIdle", []string{"--tenant-idle", "0s"}, nil, nil, true},
		{"TenantSparesEnv", []string{"--db", "postgres://h/db", "--key-file", "k.key"}, map[string]string{"SANDBOX_TENANT_SPARES": "2"}, func(c Config) bool { return c.TenantSpares == 2 }, false},
		{"ErrTenantSparesSQLite", []string{"--tenant-spares", "2"}, nil, nil, true},
		{"ErrTenantSpares", []string{"--db", "postgres://h/db", "--key-file", "k.key", "--tenant-spares", "17"}, nil, nil, true},
		{"ErrTenantSparesLongSchema", []string{"--db", "postgres://h/db?search_path=" + strings.Repeat("s", 32), "--key-file", "k.key", "--tenant-spares", "1"}, nil, nil, true},
		{"TenantSparesLongestSchema", []string{"--db", "postgres://h/db?search_path=" + strings.Repeat("s", 31), "--key-file", "k.key", "--tenant-spares", "1"}, nil,
			func(c Config) bool { return c.TenantSpares == 1 }, false},
		{"ErrTenantSparesNegative", []string{"--db", "postgres://h/db", "--key-file", "k.key", "--tenant-spares", "-1"}, nil, nil, true},
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
	t.Parallel()
	if code := Main(t.Context(), []string{"frobnicate"}, io.Discard, io.Discard); code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
	if code := Main(t.Context(), []string{"version"}, io.Discard, io.Discard); code != 0 {
		t.Errorf("version: exit code %d, want 0", code)
	}
}

// TestBannerSaysPrivateJWKS: the start-up banner says when jwks_uri may
// reach loopback and private addresses, and only then.
func TestBannerSaysPrivateJWKS(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{false, true} {
		cfg := Defaults()
		cfg.Addr, cfg.DB, cfg.PSUs, cfg.KeyBits, cfg.AllowPrivateJWKS = "127.0.0.1:0", filepath.Join(t.TempDir(), "b.db"), 0, 1024, on
		a, err := New(t.Context(), cfg, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		a.banner(t.Context(), &out)
		a.Close()
		if got := strings.Contains(out.String(), "--allow-private-jwks"); got != on {
			t.Errorf("--allow-private-jwks %v: the banner mentions it: %v\n%s", on, got, out.String())
		}
	}
}

// TestOneDefaultURL: the URL the sandbox derives with no flags, the one it
// derives in the container (the Dockerfile's SANDBOX_ADDR, published with
// `docker run -p 8080:8080`) and the one the CLI and the README use are the
// same, so a client library that checks the issuer (go-oidc) accepts it.
// Docker itself is not run here: the derivation is what decides.
func TestOneDefaultURL(t *testing.T) {
	t.Parallel()
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

// TestTenantNameFitsItsSchema: on PostgreSQL a tenant's schema is named
// after the sandbox's; a name that would make it longer than an identifier
// may be (PostgreSQL cuts it short, and two tenants would share a schema)
// is refused as a bad name, as is one that is no tenant name at all.
func TestTenantNameFitsItsSchema(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		db, name string
		ok       bool
	}{
		{"bank.db", strings.Repeat("a", 40), true},
		{"postgres://h/db", strings.Repeat("a", 40), true},
		{"postgres://h/db?search_path=" + strings.Repeat("s", 30), strings.Repeat("a", 30), true}, // 63
		{"postgres://h/db?search_path=" + strings.Repeat("s", 30), strings.Repeat("a", 31), false},
		{"postgres://h/db", "Upper", false},
	} {
		ts := &tenants{root: &App{Config: Config{DB: tt.db}}}
		err := ts.checkName(tt.name)
		if (err == nil) != tt.ok || (err != nil && bank.KindOf(err) != bank.KindFieldInvalid) {
			t.Errorf("%s on %s: %v, want ok %v (else a bad name)", tt.name, tt.db, err, tt.ok)
		}
	}
}

// TestSpareKindFollowsTheKeyMade: a spare is made with its first signing
// key, so its kind names the key's size as made: settings that make the
// same key are one kind (replicas configured alike keep each other's
// spares), others are not.
func TestSpareKindFollowsTheKeyMade(t *testing.T) {
	t.Parallel()
	fx, err := fixtures.Load()
	if err != nil {
		t.Fatal(err)
	}
	kind := func(bits int) string {
		cfg := Defaults()
		cfg.DB, cfg.KeyBits = "postgres://h/db?search_path=root", bits
		mine, _, err := (&tenants{root: &App{Config: cfg, Fixtures: fx}}).spareKind()
		if err != nil {
			t.Fatal(err)
		}
		return mine
	}
	for _, tt := range []struct {
		a, b int
		same bool
	}{
		{0, oauth.KeyBits, true},
		{-1, 0, true},
		{512, 1024, true},
		{1024, oauth.KeyBits, false},
		{3072, oauth.KeyBits, false},
	} {
		if got := kind(tt.a) == kind(tt.b); got != tt.same {
			t.Errorf("--key-bits %d and %d one spare kind: %v, want %v", tt.a, tt.b, got, tt.same)
		}
	}
}
