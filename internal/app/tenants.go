package app

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/obsandbox/sandbox/handlers"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/clock"
)

// Tenants (issue 6, isolation): /t/<name>/... is a whole sandbox of its
// own — its own SQLite file (<db>.tenants/<name>.db) with a bank seeded from
// the same seed, its own clients, consents, tokens, payments, clock,
// scenarios, rate limits, audit trail and events — at the issuer
// <issuer>/t/<name>. Parallel CI jobs each pick a name and never see each
// other. In the dev profile a tenant is made by its first request; in fapi
// only by the admin (POST /sandbox/tenants). The admin token, the TLS
// certificate authority and the flags are the root's.

var tenantName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

const tenantPrefix = "/t/"

type tenants struct {
	root *App
	mu   sync.Mutex
	live map[string]*tenant
}

type tenant struct {
	app     *App
	created time.Time
	stop    context.CancelFunc
	done    chan struct{} // closed when its background work has stopped
}

func newTenants(root *App) *tenants { return &tenants{root: root, live: map[string]*tenant{}} }

func (ts *tenants) dir() string { return ts.root.Store.Path() + ".tenants" }

// ServeHTTP routes /t/<name>/... to the tenant, everything else to the root.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, tenantPrefix)
	if !ok || a.tenants == nil {
		a.echo.ServeHTTP(w, r)
		return
	}
	name, path, _ := strings.Cut(rest, "/")
	t, err := a.tenants.get(r.Context(), name, a.Config.Profile == "dev")
	if err != nil {
		tenantError(w, r, err)
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path, r2.URL.RawPath = "/"+path, ""
	t.app.echo.ServeHTTP(w, r2)
}

// tenantError answers a request for a tenant that cannot be served, in the
// RFC 6749 envelope the sandbox's own endpoints use.
func tenantError(w http.ResponseWriter, r *http.Request, err error) {
	status, code := http.StatusInternalServerError, "server_error"
	switch bank.KindOf(err) {
	case bank.KindFieldInvalid:
		status, code = http.StatusBadRequest, "invalid_request"
	case bank.KindNotFound:
		status, code = http.StatusNotFound, "not_found"
	case bank.KindConflict:
		status, code = http.StatusConflict, "conflict"
	}
	msg := err.Error()
	if status == http.StatusInternalServerError {
		msg = "the tenant could not be started"
	}
	id := r.Header.Get("x-fapi-interaction-id")
	if _, perr := uuid.Parse(id); perr != nil {
		id = uuid.NewString()
	}
	w.Header().Set("x-fapi-interaction-id", id)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": msg})
}

// get returns a running tenant, starting it from its file (or making and
// seeding it, when create) on first use.
func (ts *tenants) get(ctx context.Context, name string, create bool) (*tenant, error) {
	if !tenantName.MatchString(name) {
		return nil, bank.Errorf(bank.KindFieldInvalid, "name", "a tenant name is 1 to 40 lower-case letters, digits or dashes")
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if t, ok := ts.live[name]; ok {
		return t, nil
	}
	path := filepath.Join(ts.dir(), name+".db")
	if _, err := os.Stat(path); err != nil && !create {
		return nil, bank.Errorf(bank.KindNotFound, "name", "no tenant %s: the admin creates it with POST /sandbox/tenants", name)
	}
	if len(ts.live) >= ts.root.Config.MaxTenants {
		return nil, bank.Errorf(bank.KindConflict, "name", "%d tenants are running (--max-tenants): delete one first", len(ts.live))
	}
	t, err := ts.start(context.WithoutCancel(ctx), name, path)
	if err != nil {
		return nil, err
	}
	ts.live[name] = t
	return t, nil
}

// start opens (or seeds) a tenant's database and starts its background work.
func (ts *tenants) start(ctx context.Context, name, path string) (*tenant, error) {
	if err := os.MkdirAll(ts.dir(), 0o755); err != nil {
		return nil, err
	}
	root := ts.root
	cfg := root.Config
	cfg.DB, cfg.Reset = path, false
	cfg.Issuer = root.Auth.Issuer + tenantPrefix + name
	a := &App{Config: cfg, Log: root.Log.With("tenant", name), Clock: clock.New(cfg.Wall), CA: root.CA, URL: root.URL}
	if err := a.open(ctx); err != nil {
		a.Close()
		return nil, err
	}
	if err := a.build(ctx, cfg.Issuer, tenantPrefix+name); err != nil {
		a.Close()
		return nil, err
	}
	bg, stop := context.WithCancel(context.Background())
	t := &tenant{app: a, created: time.Now().UTC(), stop: stop, done: make(chan struct{})}
	go func() {
		defer close(t.done)
		a.background(bg)
	}()
	root.Log.Info("tenant started", "tenant", name, "db", path)
	return t, nil
}

// each runs f on every running tenant.
func (ts *tenants) each(f func(*tenant)) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, t := range ts.live {
		f(t)
	}
}

// close stops a tenant's background work and closes its database.
func (t *tenant) close() error {
	t.app.stopStreams()
	t.stop()
	<-t.done
	return t.app.Close()
}

// closeAll stops every tenant (the root is shutting down).
func (ts *tenants) closeAll() error {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	var errs []error
	for name, t := range ts.live {
		errs = append(errs, t.close())
		delete(ts.live, name)
	}
	return errors.Join(errs...)
}

// The admin API (handlers.Tenants).

func (a *App) tenantAPI() handlers.Tenants {
	if a.tenants == nil {
		return nil
	}
	return a.tenants
}

func (ts *tenants) info(name string, t *tenant) handlers.Tenant {
	out := handlers.Tenant{Name: name, Issuer: ts.root.Auth.Issuer + tenantPrefix + name}
	if t != nil {
		out.Running, out.StartedAt = true, t.created
	}
	return out
}

// Tenants lists the tenants: running, and saved on disk.
func (ts *tenants) Tenants() ([]handlers.Tenant, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	seen := map[string]bool{}
	out := []handlers.Tenant{}
	for name, t := range ts.live {
		out, seen[name] = append(out, ts.info(name, t)), true
	}
	entries, err := os.ReadDir(ts.dir())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".db"); ok && tenantName.MatchString(name) && !seen[name] {
			out = append(out, ts.info(name, nil))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// CreateTenant starts a tenant, seeding its bank; an existing one is
// started as it was left.
func (ts *tenants) CreateTenant(ctx context.Context, name string) (handlers.Tenant, error) {
	t, err := ts.get(ctx, name, true)
	if err != nil {
		return handlers.Tenant{}, err
	}
	return ts.info(name, t), nil
}

// DeleteTenant stops a tenant and deletes its database.
func (ts *tenants) DeleteTenant(_ context.Context, name string) error {
	if !tenantName.MatchString(name) {
		return bank.Errorf(bank.KindFieldInvalid, "name", "a tenant name is 1 to 40 lower-case letters, digits or dashes")
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	path := filepath.Join(ts.dir(), name+".db")
	t, running := ts.live[name]
	if _, err := os.Stat(path); err != nil && !running {
		return bank.Errorf(bank.KindNotFound, "name", "no tenant %s", name)
	}
	if running {
		delete(ts.live, name)
		if err := t.close(); err != nil {
			return err
		}
	}
	var errs []error
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, os.RemoveAll(path+".snapshots"))
	return errors.Join(errs...)
}
