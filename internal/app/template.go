package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/obsandbox/sandbox/fixtures"
	"github.com/obsandbox/sandbox/internal/keyring"
	"github.com/obsandbox/sandbox/internal/store"
	"github.com/obsandbox/sandbox/seed"
)

// Bank templates: the first sandbox of a process that needs a bank seeds
// it once into a template file; every later one with the same seed,
// fixtures and schema — a tenant, a reset, each sandbox a test starts —
// copies it (a new database is a copy of the file, a reset copies the
// bank's rows) instead of generating it again. The data is the same bank
// byte for byte. The files live in a directory of the system's temporary
// folder for the life of the process.

// templateMaxPSUs bounds the banks kept as templates: a larger bank is
// seeded in place (a template would double its disk for one copy).
const templateMaxPSUs = 200

// bankTemplate is a sealed template and what seeding it wrote.
type bankTemplate struct {
	path  string
	stats seed.Stats
}

var templates struct {
	mu  sync.Mutex
	dir string
	by  map[string]func() (*bankTemplate, error)
}

// templateFor returns the template of the bank r and fx describe, seeding
// it on first use (once per process, whoever asks meanwhile waits), or
// false when the bank is too large to keep as a template.
func templateFor(ctx context.Context, fx *fixtures.Fixtures, r seedRecord) (*bankTemplate, bool, error) {
	if r.PSUs > templateMaxPSUs {
		return nil, false, nil
	}
	key, err := templateKey(fx, r)
	if err != nil {
		return nil, false, err
	}
	templates.mu.Lock()
	if templates.by == nil {
		templates.by = map[string]func() (*bankTemplate, error){}
	}
	build, ok := templates.by[key]
	if !ok {
		build = sync.OnceValues(func() (*bankTemplate, error) {
			return buildTemplate(context.WithoutCancel(ctx), fx, r, key)
		})
		templates.by[key] = build
	}
	templates.mu.Unlock()
	t, err := build()
	if err != nil {
		templates.mu.Lock()
		delete(templates.by, key) // the next one tries again
		templates.mu.Unlock()
		return nil, false, err
	}
	return t, true, nil
}

// templateKey names a bank: the seed record, the fixtures and the schema
// version the template was written with.
func templateKey(fx *fixtures.Fixtures, r seedRecord) (string, error) {
	b, err := json.Marshal(struct {
		Seed     seedRecord
		Fixtures *fixtures.Fixtures
		Schema   int
	}{r, fx, store.LatestVersion()})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12]), nil
}

func buildTemplate(ctx context.Context, fx *fixtures.Fixtures, r seedRecord, key string) (*bankTemplate, error) {
	dir, err := templateDir()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, key+".db")
	s, err := store.Open(ctx, path, store.Options{Key: keyring.New(), Sync: store.SyncNormal})
	if err != nil {
		return nil, err
	}
	st, err := seed.Run(ctx, s, fx, seed.Options{Seed: r.Seed, PSUs: r.PSUs, Date: r.Date})
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("seed: %w", err)
	}
	if err := s.SealTemplate(ctx); err != nil {
		return nil, err
	}
	return &bankTemplate{path: path, stats: st}, nil
}

// templatePrefix starts the name of every process's template directory;
// the pid follows.
const templatePrefix = "sandbox-templates-"

// templateDir makes this process's template directory, first removing
// those of processes that no longer run (killed before they could).
func templateDir() (string, error) {
	templates.mu.Lock()
	defer templates.mu.Unlock()
	if templates.dir != "" {
		return templates.dir, nil
	}
	tmp := os.TempDir()
	if old, err := filepath.Glob(filepath.Join(tmp, templatePrefix+"*")); err == nil {
		for _, d := range old {
			pid, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(filepath.Base(d), templatePrefix), "-", 2)[0])
			if err == nil && pid != os.Getpid() && !running(pid) {
				os.RemoveAll(d)
			}
		}
	}
	dir, err := os.MkdirTemp(tmp, templatePrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return "", err
	}
	templates.dir = dir
	return dir, nil
}

// RemoveTemplates deletes this process's templates, at its end (cmd/sandbox
// after Main returns; a test binary's TestMain).
func RemoveTemplates() error {
	templates.mu.Lock()
	defer templates.mu.Unlock()
	dir := templates.dir
	templates.dir, templates.by = "", nil
	if dir == "" {
		return nil
	}
	return os.RemoveAll(dir)
}

// reseedFromTemplate replaces the bank with the template's copy, or
// reports false when r's bank is not kept as a template.
func (a *App) reseedFromTemplate(ctx context.Context, r seedRecord) (seed.Stats, bool, error) {
	t, ok, err := a.template(ctx, r)
	if err != nil || !ok {
		return seed.Stats{}, ok, err
	}
	t0 := time.Now()
	if err := a.Store.CopyBank(ctx, t.path); err != nil {
		return seed.Stats{}, false, err
	}
	st := t.stats
	st.Elapsed = time.Since(t0)
	return st, true, nil
}

// template is templateFor this sandbox's bank r — on PostgreSQL too (its
// rows are copied from the file) — when the bank is the seed's alone
// (persona files are seeded in place).
func (a *App) template(ctx context.Context, r seedRecord) (*bankTemplate, bool, error) {
	if len(a.Personas) > 0 {
		return nil, false, nil
	}
	return templateFor(ctx, a.Fixtures, r)
}

// cloneTemplate makes the new database file cfg names a copy of the
// template of its bank, and reports whether it did (not for a database
// that exists, is not a file, or whose bank is too large).
func cloneTemplate(ctx context.Context, cfg *Config, fx *fixtures.Fixtures) (*bankTemplate, error) {
	if cfg.DB == store.Memory || cfg.DB == "" || store.IsPostgres(cfg.DB) {
		return nil, nil
	}
	if _, err := os.Stat(cfg.DB); !errors.Is(err, os.ErrNotExist) || pathProblem(cfg.DB) != nil {
		return nil, nil // there is a database, or opening will say what is wrong
	}
	t, ok, err := templateFor(ctx, fx, seedRecord{Seed: cfg.Seed, PSUs: cfg.PSUs, Date: cfg.SeedDate})
	if err != nil || !ok {
		return nil, err
	}
	t0 := time.Now()
	if err := store.CloneTemplate(t.path, cfg.DB); err != nil {
		return nil, err
	}
	copied := *t
	copied.stats.Elapsed = time.Since(t0) // what this bank took: a copy, not the seeding
	return &copied, nil
}
