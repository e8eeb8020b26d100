package httpx

import (
	"context"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/obsandbox/sandbox/fixtures"
	"github.com/obsandbox/sandbox/internal/audit"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/clock"
	"github.com/obsandbox/sandbox/internal/drill"
	"github.com/obsandbox/sandbox/internal/events"
	"github.com/obsandbox/sandbox/internal/gateway"
	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/pki"
	"github.com/obsandbox/sandbox/internal/scenario"
	"github.com/obsandbox/sandbox/internal/siem"
	"github.com/obsandbox/sandbox/internal/store"
)

// Snapshot is a saved copy of the sandbox (POST /sandbox/snapshots).
type Snapshot struct {
	Name      string    `json:"name"`
	Bytes     int64     `json:"bytes"`
	CreatedAt time.Time `json:"created_at"`
}

// Snapshots saves and restores copies of the whole sandbox (the app does
// it: it owns the database file and what is held in memory).
type Snapshots interface {
	SaveSnapshot(ctx context.Context, name string) (Snapshot, error)
	RestoreSnapshot(ctx context.Context, name string) error
	Snapshots() ([]Snapshot, error)
	DeleteSnapshot(name string) error
}

// Tenant is an isolated sandbox under /t/<name>/ (the app serves them), as
// listed: open, or closed until its next request.
type Tenant struct {
	Name     string    `json:"name"`
	BaseURL  string    `json:"base_url"`
	Open     bool      `json:"open"`
	OpenedAt time.Time `json:"opened_at,omitzero"`
	LastUsed time.Time `json:"last_used,omitzero"`
}

// NewTenant is a tenant just made, with its own admin token.
type NewTenant struct {
	Name       string `json:"name"`
	BaseURL    string `json:"base_url"`
	AdminToken string `json:"admin_token"`
}

// Tenants makes, lists and deletes tenants.
type Tenants interface {
	Tenants() ([]Tenant, error)
	CreateTenant(ctx context.Context, name string) (NewTenant, error)
	DeleteTenant(ctx context.Context, name string) error
}

// PSUs adds and removes PSUs at run time (POST and DELETE /sandbox/psus;
// the app does it: it owns the generator and the bank's date).
type PSUs interface {
	// AddPSU validates the persona (a *fixtures.ValidationError lists what
	// is wrong; a taken username or account is bank.ErrConflict), adds it
	// and lists it as GET /sandbox/psus does.
	AddPSU(ctx context.Context, p fixtures.Persona) (store.PSU, error)
	// RemovePSU removes a PSU AddPSU added.
	RemovePSU(ctx context.Context, username string) error
}

// Config is what the HTTP layer needs to know of the sandbox's settings.
type Config struct {
	Issuer     string // public base URL, no trailing slash
	Profile    string
	AdminToken string
	BodyLimit  int64 // bytes; 413 above
	// MaxHeaderBytes bounds the request's header block (431 above; 0: none).
	MaxHeaderBytes int
	Version        string
	// Rates per endpoint class (nil: no rate limits); UnattendedLimit is the
	// AIS calls a consent may have per day without the PSU (0: off).
	Rates           map[gateway.Class]gateway.Rate
	UnattendedLimit int
	// CORSOrigins may call the resource APIs from a browser.
	CORSOrigins []string
	// BasePath is where this sandbox is mounted as the browser sees it: ""
	// at the root, "/t/<name>" for a tenant (redirects, cookies, page links).
	BasePath string
	// PProf mounts Go's profiler under /sandbox/debug/pprof/ (admin token).
	PProf bool
	// RootAdminToken, inside a tenant, is the root sandbox's admin token:
	// accepted as well as the tenant's own.
	RootAdminToken string
}

// Deps are the parts the handlers adapt.
type Deps struct {
	// Bank is the bank's use cases, which the standards' adapters call.
	Bank   *bank.Bank
	Store  *store.Store
	Auth   *oauth.Server
	Clock  *clock.Clock
	Log    *slog.Logger
	Spec   Spec // the UK OB v3.1.11 contract (api/openapi.yaml)
	SpecV4 Spec // the UK OB v4.0 contract (api/ukob-v4.0.yaml)
	SpecBG Spec // the Berlin Group contract (api/berlin-group-1.3.12.yaml)
	Config Config
	// Reset puts the bank back to its seed (POST /sandbox/reset).
	Reset func(context.Context) error
	// CA is the development certificate authority (nil without TLS).
	CA *pki.CA
	// Auditor records every security decision (nil: no audit trail).
	Auditor *audit.Auditor
	// Detector is the anomaly rules' state (reset with the bank).
	Detector *audit.Detector
	// Stopping is closed when the server shuts down: long-lived streams end.
	Stopping <-chan struct{}
	// Events signs, pushes and serves event notifications (nil: no events API).
	Events *events.Service
	// Scenarios is the live scenario catalogue (nil: no scenarios).
	Scenarios *scenario.Registry
	// Snapshots saves and restores the sandbox (nil: no snapshots).
	Snapshots Snapshots
	// Tenants makes and deletes tenants (nil: none, or inside a tenant).
	Tenants Tenants
	// PSUs adds and removes PSUs at run time (nil: not served).
	PSUs PSUs
	// Tracer traces every request (nil: no tracing; package telemetry).
	Tracer trace.TracerProvider
	// SIEM streams the audit trail and security events (nil: none).
	SIEM *siem.Streamer
	// Status is the bank's status: dependencies down, notices (nil: none).
	Status *gateway.Status
	// Drills runs incident response drills (nil: none).
	Drills *drill.Runner
}
