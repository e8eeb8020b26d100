package app

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/obsandbox/sandbox/handlers"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/clock"
	"github.com/obsandbox/sandbox/internal/gateway"
	"github.com/obsandbox/sandbox/internal/store"
)

// Tenants: /t/<name>/... is a whole sandbox of its own — its own SQLite file
// (<db>.tenants/<name>.db) with a bank seeded from the same seed, its own
// clients, consents, tokens, payments, clock, scenarios, rate limits, audit
// trail, events and admin token — at the issuer <issuer>/t/<name>. Parallel
// CI jobs each pick a name and never see each other.
//
// The admin makes one with POST /sandbox/tenants; in the dev profile a first
// request under /t/<name>/ also does, limited per source address. At most
// --max-tenants exist, open or closed (each keeps a file). A tenant idle for
// --tenant-idle is closed — its database and background work released — and
// reopens from its file on the next request. Opening or seeding one tenant
// holds up only the requests for that tenant.

var tenantName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

const tenantPrefix = "/t/"

var errTenantName = bank.Errorf(bank.KindFieldInvalid, "name", "a tenant name is 1 to 40 lower-case letters, digits or dashes, starting with a letter or digit")

type tenants struct {
	root *App
	// wall is real time, which idleness is measured on: closing a tenant
	// frees this process's memory and file handles, a matter of real time;
	// and a tenant's sandbox clock is its own, moved days at a time by the
	// tests running in it, which must not see it closed under them.
	wall    func() time.Time
	created *gateway.Limiter // tenants made by a first request, per source address

	mu      sync.Mutex
	changed *sync.Cond         // on mu: a tenant's users dropped to zero
	live    map[string]*tenant // opening, open or closing

	spareKick chan struct{} // a spare schema was taken (spares.go)
}

// tenant is one tenant held in memory.
type tenant struct {
	name  string
	ready chan struct{} // closed once opening has ended: app or err is set
	app   *App
	err   error
	stop  context.CancelFunc
	done  chan struct{} // closed once its background work has stopped
	since time.Time     // opened at (real time)

	// Under tenants.mu:
	users   int           // requests in flight, and the one opening it
	used    time.Time     // when it was last used (real time)
	closing chan struct{} // set once it is being closed; closed when it is gone
}

// classCreate is the per-source bucket of tenants made by a first request.
const classCreate gateway.Class = "tenant-create"

func newTenants(root *App) *tenants {
	wall := root.Clock.Wall
	ts := &tenants{root: root, wall: wall, live: map[string]*tenant{}, spareKick: make(chan struct{}, 1),
		created: gateway.NewLimiter(map[gateway.Class]gateway.Rate{classCreate: root.Config.TenantCreateRate}, wall)}
	ts.changed = sync.NewCond(&ts.mu)
	return ts
}

func (ts *tenants) dir() string { return ts.root.Store.Path() + ".tenants" }

func (ts *tenants) path(name string) string {
	if ts.pg() {
		return store.WithSchema(ts.root.Config.DB, tenantSchemaPrefix(ts.root.Config.DB)+strings.ReplaceAll(name, "-", "_"))
	}
	return filepath.Join(ts.dir(), name+".db")
}

// checkName refuses a name no tenant can have: not a tenant name, or on
// PostgreSQL one whose schema's name would pass the 63 bytes of an
// identifier (PostgreSQL would cut it short, and two tenants could share
// one schema).
func (ts *tenants) checkName(name string) error {
	if !tenantName.MatchString(name) {
		return errTenantName
	}
	if ts.pg() {
		if most := 63 - len(tenantSchemaPrefix(ts.root.Config.DB)); len(name) > most {
			return bank.Errorf(bank.KindFieldInvalid, "name", "a tenant name of this sandbox is at most %d characters (its schema is named after the sandbox's, %s)",
				most, store.SchemaOf(ts.root.Config.DB))
		}
	}
	return nil
}

// On PostgreSQL a tenant is a schema of the root's database, named after the
// root's schema and the tenant (dashes as underscores).
func (ts *tenants) pg() bool { return store.IsPostgres(ts.root.Config.DB) }

func tenantSchemaPrefix(db string) string { return store.SchemaOf(db) + "_t_" }

// catalog is the PostgreSQL database's schemas, on the root's connections.
func (ts *tenants) catalog() store.Catalog { return ts.root.Store.Catalog() }

// exists reports whether a tenant has a database (a file, or a schema);
// an error when the database cannot tell (not "no such tenant").
func (ts *tenants) exists(name string) (bool, error) {
	if ts.pg() {
		return ts.catalog().Exists(context.Background(), store.SchemaOf(ts.path(name)))
	}
	_, err := os.Stat(ts.path(name))
	return err == nil, nil
}

// ServeHTTP routes /t/<name>/... to the tenant, everything else to the root.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, tenantPrefix)
	if !ok || a.tenants == nil {
		a.echo.ServeHTTP(w, r)
		return
	}
	name, path, _ := strings.Cut(rest, "/")
	how := openExisting
	if a.Config.Profile == "dev" {
		how = openOrCreate
	}
	t, err := a.tenants.acquire(r.Context(), name, how, sourceOf(r))
	if err != nil {
		tenantError(w, r, err)
		return
	}
	defer a.tenants.release(t)
	r2 := r.Clone(r.Context())
	r2.URL.Path, r2.URL.RawPath = "/"+path, ""
	t.app.echo.ServeHTTP(w, r2)
}

// sourceOf is the address a request came from.
func sourceOf(r *http.Request) string {
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return ip
	}
	return r.RemoteAddr
}

// errCreateLimited refuses a source that made too many tenants lately.
type errCreateLimited struct{ retryAfter time.Duration }

func (e errCreateLimited) Error() string {
	return "too many tenants made from this address lately (--tenant-create-rate): use an existing one, or retry after the Retry-After seconds"
}

// tenantError answers a request for a tenant that cannot be served, in the
// RFC 6749 envelope the sandbox's own endpoints use.
func tenantError(w http.ResponseWriter, r *http.Request, err error) {
	status, code := http.StatusInternalServerError, "server_error"
	var limited errCreateLimited
	switch {
	case errors.As(err, &limited):
		status, code = http.StatusTooManyRequests, "slow_down"
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(limited.retryAfter.Seconds()))))
	case bank.KindOf(err) == bank.KindFieldInvalid:
		status, code = http.StatusBadRequest, "invalid_request"
	case bank.KindOf(err) == bank.KindNotFound:
		status, code = http.StatusNotFound, "not_found"
	case bank.KindOf(err) == bank.KindConflict:
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

// access says what acquire may do with a tenant that is not open.
type access int

const (
	openExisting access = iota // open it from its file; no file: not found
	openOrCreate               // a first request in dev: make it if it has no file (limited per source)
	createNew                  // the admin makes it: it must not exist
)

// acquire returns an open tenant for one request (release it after),
// opening it from its file or making it as how allows. Only the requests
// for this tenant wait while it opens or seeds; those for a tenant being
// closed wait until it is closed, then open it again.
func (ts *tenants) acquire(ctx context.Context, name string, how access, source string) (*tenant, error) {
	if err := ts.checkName(name); err != nil {
		return nil, err
	}
	ts.mu.Lock()
	for {
		t := ts.live[name]
		if t == nil {
			break
		}
		if t.closing != nil {
			closing := t.closing
			ts.mu.Unlock()
			select {
			case <-closing:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			ts.mu.Lock()
			continue
		}
		if how == createNew {
			ts.mu.Unlock()
			return nil, bank.Errorf(bank.KindConflict, "name", "tenant %s exists", name)
		}
		t.users++
		ts.mu.Unlock()
		select {
		case <-t.ready:
		case <-ctx.Done():
			ts.release(t)
			return nil, ctx.Err()
		}
		if t.err != nil {
			ts.release(t)
			return nil, t.err
		}
		return t, nil
	}
	// Not in memory: open it from its file, or make it.
	path := ts.path(name)
	exists, err := ts.exists(name)
	if err == nil {
		err = ts.mayOpen(name, exists, how, source)
	}
	if err != nil {
		ts.mu.Unlock()
		return nil, err
	}
	t := &tenant{name: name, ready: make(chan struct{}), users: 1, used: ts.wall()}
	ts.live[name] = t
	lru := ts.overLimitLocked()
	ts.mu.Unlock()
	if lru != nil { // closed first: memory stays within the limit
		if err := ts.finish(lru, nil); err != nil {
			ts.root.Log.Error("closing the tenant used least recently", "tenant", lru.name, "error", err)
		}
	}

	// Opening (and seeding) runs without the lock: the other tenants go on.
	if hook := ts.root.Config.TenantOpening; hook != nil {
		hook(name)
	}
	octx := context.WithoutCancel(ctx)
	made, spare := false, false // made: the name is this process's to make (and to drop if it fails)
	if !exists {
		spare, t.err = ts.claim(octx, path, true)
		made = t.err == nil
	}
	if spare {
		defer ts.kickSpares()
	}
	if t.err == nil {
		t.err = ts.open(octx, t, path, spare)
	}
	if t.err != nil && spare { // the spare may be the cause: once more, made here
		ts.root.Log.Warn("a tenant made from a spare schema did not open; making it afresh", "tenant", name, "error", t.err)
		if t.err = ts.removeFiles(path); t.err == nil { // still ours to drop if this fails
			if _, t.err = ts.claim(octx, path, false); t.err == nil {
				t.err = ts.open(octx, t, path, false)
			} else {
				made = false
			}
		}
	}
	if errors.Is(t.err, store.ErrSchemaExists) { // another replica made it first
		t.err = bank.Errorf(bank.KindConflict, "name", "tenant %s exists", name)
		if how != createNew {
			t.err = ts.open(octx, t, path, false)
		}
	}
	close(t.ready)
	if t.err != nil {
		ts.root.Log.Error("starting a tenant", "tenant", name, "error", t.err)
		if made {
			ts.removeFiles(path)
		}
		ts.mu.Lock()
		if ts.live[name] == t {
			delete(ts.live, name)
		}
		ts.mu.Unlock()
		ts.release(t)
		return nil, t.err
	}
	return t, nil
}

// mayOpen decides, under ts.mu, whether a tenant that is not in memory may
// be opened (exists) or made.
func (ts *tenants) mayOpen(name string, exists bool, how access, source string) error {
	switch {
	case exists && how == createNew:
		return bank.Errorf(bank.KindConflict, "name", "tenant %s exists", name)
	case exists:
		return nil
	case how == openExisting:
		return bank.Errorf(bank.KindNotFound, "name", "no tenant %s: the admin creates it with POST /sandbox/tenants", name)
	}
	n, err := ts.countLocked()
	if err != nil {
		return err
	}
	if n >= ts.root.Config.MaxTenants {
		return bank.Errorf(bank.KindConflict, "name", "%d tenants exist (--max-tenants, open or closed): delete one first", n)
	}
	if how == openOrCreate {
		if v := ts.created.Allow(classCreate, source); !v.Allowed {
			return errCreateLimited{v.RetryAfter}
		}
	}
	return nil
}

// countLocked counts the tenants that exist: in memory or on disk.
func (ts *tenants) countLocked() (int, error) {
	names, err := ts.onDisk()
	if err != nil {
		return 0, err
	}
	for name := range ts.live {
		names[name] = true
	}
	return len(names), nil
}

// onDisk is the tenants with a file.
func (ts *tenants) onDisk() (map[string]bool, error) {
	out := map[string]bool{}
	if ts.pg() {
		prefix := tenantSchemaPrefix(ts.root.Config.DB)
		schemas, err := ts.catalog().List(context.Background(), prefix)
		for _, s := range schemas {
			if name := strings.ReplaceAll(strings.TrimPrefix(s, prefix), "_", "-"); tenantName.MatchString(name) {
				out[name] = true
			}
		}
		return out, err
	}
	entries, err := os.ReadDir(ts.dir())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".db"); ok && tenantName.MatchString(name) {
			out[name] = true
		}
	}
	return out, nil
}

// release ends one use of a tenant.
func (ts *tenants) release(t *tenant) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	t.users--
	t.used = ts.wall()
	if t.users == 0 {
		ts.changed.Broadcast()
	}
}

// open opens (or makes and seeds) a tenant's database and starts its
// background work.
func (ts *tenants) open(ctx context.Context, t *tenant, path string, spare bool) error {
	if !ts.pg() {
		if err := os.MkdirAll(ts.dir(), 0o755); err != nil {
			return err
		}
	}
	root := ts.root
	cfg := root.Config
	cfg.DB, cfg.Reset, cfg.AdminToken = path, false, "" // the tenant's own admin token, kept in its file
	cfg.small = true                                    // one of many open at once
	cfg.Issuer = root.Auth.Issuer + tenantPrefix + t.name
	a := &App{Config: cfg, Log: root.Log.With("tenant", t.name), Clock: clock.New(cfg.Wall), CA: root.CA, URL: root.URL,
		rootAdminToken: root.Config.AdminToken, specs: root.specs, siem: root.siem, tracer: root.tracer}
	if err := a.open(ctx); err != nil {
		a.Close()
		return err
	}
	// Under the store's lock, as the root's: replicas opening a new tenant
	// together make one admin token, not one each.
	if err := a.Store.Exclusive(ctx, func() error { return a.loadAdminToken(ctx) }); err != nil {
		a.Close()
		return err
	}
	if spare { // made a while ago: its pending card entries start from now, as a bank seeded now
		if err := a.Store.StartCardClock(ctx, a.Clock.Now(), cfg.SeedDate); err != nil {
			a.Close()
			return err
		}
	}
	if err := a.build(ctx, cfg.Issuer, tenantPrefix+t.name); err != nil {
		a.Close()
		return err
	}
	bg, stop := context.WithCancel(context.Background())
	t.app, t.stop, t.done, t.since = a, stop, make(chan struct{}), ts.wall()
	go func() {
		defer close(t.done)
		a.background(bg)
	}()
	root.Log.Info("tenant opened", "tenant", t.name, "db", store.Redacted(path))
	return nil
}

// opened reports whether the tenant has opened (and not failed to).
func (t *tenant) opened() bool {
	select {
	case <-t.ready:
		return t.err == nil && t.app != nil
	default:
		return false
	}
}

// close stops a tenant's background work and closes its database.
func (t *tenant) close() error {
	if !t.opened() {
		return nil
	}
	t.stop()
	<-t.done
	return t.app.Close()
}

// remove takes a tenant out of service: no new request reaches it, the
// long-lived streams end, the requests in flight finish (when drain), it is
// closed, and then runs (while its name is still held, so no request reopens
// its file meanwhile).
func (ts *tenants) remove(name string, drain bool, then func() error) error {
	ts.mu.Lock()
	t := ts.live[name]
	for t != nil && t.closing != nil {
		closing := t.closing
		ts.mu.Unlock()
		<-closing
		ts.mu.Lock()
		t = ts.live[name]
	}
	if t == nil { // not in memory: hold the name while then runs
		t = &tenant{name: name, ready: make(chan struct{})}
		close(t.ready)
		ts.live[name] = t
	}
	t.closing = make(chan struct{})
	ts.mu.Unlock()

	<-t.ready
	if t.opened() {
		t.app.stopStreams()
	}
	ts.mu.Lock()
	for drain && t.users > 0 {
		ts.changed.Wait()
	}
	ts.mu.Unlock()
	return ts.finish(t, then)
}

// finish closes a tenant marked closing, runs then, and frees its name.
func (ts *tenants) finish(t *tenant, then func() error) error {
	err := t.close()
	if then != nil {
		err = errors.Join(err, then())
	}
	ts.mu.Lock()
	if ts.live[t.name] == t {
		delete(ts.live, t.name)
	}
	ts.mu.Unlock()
	close(t.closing)
	return err
}

// overLimitLocked, under ts.mu, picks the open tenant to close when more
// than --max-open-tenants are open or opening: the one used least recently
// among those no request is using (none when all are in use). It is
// marked closing; the caller finishes it.
func (ts *tenants) overLimitLocked() *tenant {
	var open int
	var lru *tenant
	for _, t := range ts.live {
		if t.closing != nil {
			continue
		}
		open++
		if t.users == 0 && t.opened() && (lru == nil || t.used.Before(lru.used)) {
			lru = t
		}
	}
	if open <= ts.root.Config.MaxOpenTenants || lru == nil {
		return nil
	}
	lru.closing = make(chan struct{})
	return lru
}

// closeIdle closes the open tenants no request has used for --tenant-idle
// and returns how many it closed.
func (ts *tenants) closeIdle() int {
	now := ts.wall()
	ts.mu.Lock()
	var idle []*tenant
	for _, t := range ts.live {
		if t.closing == nil && t.users == 0 && t.opened() && now.Sub(t.used) >= ts.root.Config.TenantIdle {
			t.closing = make(chan struct{})
			idle = append(idle, t)
		}
	}
	ts.mu.Unlock()
	for _, t := range idle {
		if err := ts.finish(t, nil); err != nil {
			ts.root.Log.Error("closing an idle tenant", "tenant", t.name, "error", err)
		} else {
			ts.root.Log.Info("idle tenant closed", "tenant", t.name)
		}
	}
	return len(idle)
}

// closeIdleLoop closes idle tenants until ctx ends, looking a few times per
// --tenant-idle (between once a second and once a minute).
func (ts *tenants) closeIdleLoop(ctx context.Context) {
	tick := time.NewTicker(min(max(ts.root.Config.TenantIdle/4, time.Second), time.Minute))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			ts.closeIdle()
		}
	}
}

// CloseIdleTenants closes now the tenants idle for --tenant-idle (as the
// server does by itself every little while) and returns how many it closed.
func (a *App) CloseIdleTenants() int {
	if a.tenants == nil {
		return 0
	}
	return a.tenants.closeIdle()
}

// each runs f on every open tenant.
func (ts *tenants) each(f func(*tenant)) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, t := range ts.live {
		if t.opened() {
			f(t)
		}
	}
}

// closeAll closes every tenant: the root is shutting down, its server has
// already waited for the requests in flight (as long as it would).
func (ts *tenants) closeAll() error {
	ts.mu.Lock()
	names := make([]string, 0, len(ts.live))
	for name := range ts.live {
		names = append(names, name)
	}
	ts.mu.Unlock()
	var errs []error
	for _, name := range names {
		errs = append(errs, ts.remove(name, false, nil))
	}
	return errors.Join(errs...)
}

func (ts *tenants) removeFiles(path string) error {
	if store.IsPostgres(path) {
		return ts.catalog().Drop(context.Background(), store.SchemaOf(path))
	}
	var errs []error
	for _, f := range []string{path, path + "-wal", path + "-shm", path + ".key", path + ".lock", headPath(path)} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(append(errs, os.RemoveAll(path+".snapshots"))...)
}

// The admin API (handlers.Tenants).

func (a *App) tenantAPI() handlers.Tenants {
	if a.tenants == nil {
		return nil
	}
	return a.tenants
}

func (ts *tenants) baseURL(name string) string { return ts.root.Auth.Issuer + tenantPrefix + name }

// Tenants lists the tenants, open and closed.
func (ts *tenants) Tenants() ([]handlers.Tenant, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	names, err := ts.onDisk()
	if err != nil {
		return nil, err
	}
	out := []handlers.Tenant{}
	for name, t := range ts.live {
		if t.opened() && t.closing == nil {
			out = append(out, handlers.Tenant{Name: name, BaseURL: ts.baseURL(name), Open: true, OpenedAt: t.since, LastUsed: t.used})
			delete(names, name)
		}
	}
	for name := range names {
		out = append(out, handlers.Tenant{Name: name, BaseURL: ts.baseURL(name)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// CreateTenant makes a tenant and seeds its bank; one that exists is a
// conflict.
func (ts *tenants) CreateTenant(ctx context.Context, name string) (handlers.NewTenant, error) {
	t, err := ts.acquire(ctx, name, createNew, "")
	if err != nil {
		return handlers.NewTenant{}, err
	}
	defer ts.release(t)
	return handlers.NewTenant{Name: name, BaseURL: ts.baseURL(name), AdminToken: t.app.Config.AdminToken}, nil
}

// DeleteTenant closes a tenant and deletes its files.
func (ts *tenants) DeleteTenant(_ context.Context, name string) error {
	if err := ts.checkName(name); err != nil {
		return err
	}
	path := ts.path(name)
	found := false
	err := ts.remove(name, true, func() error {
		ok, err := ts.exists(name)
		if !ok || err != nil {
			return err
		}
		found = true
		return ts.removeFiles(path)
	})
	if err == nil && !found {
		return bank.Errorf(bank.KindNotFound, "name", "no tenant %s", name)
	}
	return err
}

var _ handlers.Tenants = (*tenants)(nil)
