// Package drill runs incident response drills against the sandbox itself:
// each a scripted incident with the four phases of a response plan (NIST SP
// 800-61r2 §3: detection and analysis; containment, eradication and
// recovery; post-incident activity). A drill plays the TPP and the attacker
// over HTTP like any client, so every step goes through the bank's real
// controls and lands in the audit trail; the post-incident report is then
// made from the audit trail and the security events of the drill's window.
package drill

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/obsandbox/sandbox/internal/clock"
	"github.com/obsandbox/sandbox/internal/events"
	"github.com/obsandbox/sandbox/internal/gateway"
	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/pki"
	"github.com/obsandbox/sandbox/internal/store"
	"github.com/obsandbox/sandbox/internal/tpp"
)

// Scenarios the runner knows.
const (
	CompromisedTPP = "compromised-tpp"
	SigningKey     = "signing-key"
	DependencyDown = "dependency-down"
)

// Scenarios lists them with what each rehearses.
var Scenarios = map[string]string{
	CompromisedTPP: "A TPP's credentials are stolen: the attacker replays its client assertions and probes other customers' accounts; the bank detects it, suspends the TPP, revokes its tokens and certificate; the TPP rotates its keys; access is restored and PSUs re-consent.",
	SigningKey:     "The bank's token-signing key leaks: the bank rotates it with no grace period, tokens it signed are refused, the JWKS no longer lists it, TPPs are told and recover with their refresh tokens.",
	DependencyDown: "The payment scheme the bank depends on is down: payment initiation answers 503 with Retry-After and the status page says so, while account information keeps serving; then service is restored.",
}

// Phases of a drill, in order.
var Phases = []string{"preparation", "detection", "containment", "eradication", "recovery", "post-incident analysis"}

// Runner runs drills for one sandbox.
type Runner struct {
	Store  *store.Store
	Auth   *oauth.Server
	Clock  *clock.Clock
	Events *events.Service
	Status *gateway.Status
	// CA issues and revokes TPP certificates (nil: loaded from the store).
	CA *pki.CA
	// Base is the sandbox's URL as its own TPPs call it.
	Base string
	// Flush returns once the audit trail holds every decision made so far
	// and the anomaly rules have seen them.
	Flush func()
	// Forget makes the anomaly rules judge a client afresh (an
	// administrator lifting a suspension).
	Forget func(clientID string)
	Log    *slog.Logger

	mu sync.Mutex // one drill at a time: they move the bank's keys and status
}

// Incident is one drill's record.
type Incident struct {
	ID          string    `json:"id"`
	Scenario    string    `json:"scenario"`
	Summary     string    `json:"summary"`
	Status      string    `json:"status"` // closed | failed
	Error       string    `json:"error,omitempty"`
	StartedAt   time.Time `json:"started_at"`
	EndedAt     time.Time `json:"ended_at"`
	Phases      []Phase   `json:"phases"`
	Client      string    `json:"client_id"`              // the TPP the incident is about
	PSUs        []string  `json:"psus"`                   // whose access it held
	CallbackURL string    `json:"callback_url,omitempty"` // where its event notifications go
	// DetectedAt and ContainedAt measure the response: from the first
	// hostile request (or the failure) to the first security event, and
	// from there to containment done.
	FirstHostileAt time.Time `json:"first_hostile_at"`
	DetectedAt     time.Time `json:"detected_at"`
	ContainedAt    time.Time `json:"contained_at"`
	// Evidence the phases checked (a token refused, an event delivered).
	Checks []Check `json:"checks"`
}

// Phase is one phase of the response and what was done in it.
type Phase struct {
	Name    string    `json:"name"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
	Steps   []string  `json:"steps"`
}

// Check is a control the drill verified.
type Check struct {
	Phase string `json:"phase"`
	What  string `json:"what"`
	OK    bool   `json:"ok"`
}

// ErrBusy is a drill started while another runs.
var ErrBusy = errors.New("another drill is running")

// ErrUnknown is a scenario the runner does not know.
var ErrUnknown = errors.New("unknown scenario")

// Start runs a drill to its end and returns its record. callbackURL, when
// given, is where the drill's TPP takes its event notifications (it must
// end in /event-notifications); else the drill's own receiver takes them.
func (r *Runner) Start(ctx context.Context, scenario, callbackURL string) (*Incident, error) {
	if _, ok := Scenarios[scenario]; !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknown, scenario)
	}
	if !r.mu.TryLock() {
		return nil, ErrBusy
	}
	defer r.mu.Unlock()
	in := &Incident{ID: "inc-" + uuid.NewString()[:8], Scenario: scenario, Summary: Scenarios[scenario], StartedAt: r.Clock.Now(),
		CallbackURL: callbackURL, PSUs: []string{}, Checks: []Check{}}
	d := &run{r: r, in: in, ctx: context.WithoutCancel(ctx)}
	var err error
	switch scenario {
	case CompromisedTPP:
		err = d.compromisedTPP()
	case SigningKey:
		err = d.signingKey()
	case DependencyDown:
		err = d.dependencyDown()
	}
	d.phase("post-incident analysis", "the report is made from the audit trail and the security events of the incident's window")
	d.end()
	in.EndedAt = r.Clock.Now()
	in.Status = "closed"
	if err != nil {
		in.Status, in.Error = "failed", err.Error()
		r.Log.Error("incident drill failed", "incident", in.ID, "scenario", scenario, "error", err)
	}
	if err := r.save(ctx, in); err != nil {
		return nil, err
	}
	return in, nil
}

func (r *Runner) save(ctx context.Context, in *Incident) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return r.Store.SaveIncident(context.WithoutCancel(ctx), in.ID, in.Scenario, in.StartedAt, b)
}

// Get reads a drill's record; bank.ErrNotFound if none.
func (r *Runner) Get(ctx context.Context, id string) (*Incident, error) {
	b, err := r.Store.Incident(ctx, id)
	if err != nil {
		return nil, err
	}
	var in Incident
	return &in, json.Unmarshal(b, &in)
}

// List lists the drills run, newest first.
func (r *Runner) List(ctx context.Context) ([]Incident, error) {
	recs, err := r.Store.Incidents(ctx)
	if err != nil {
		return nil, err
	}
	out := []Incident{}
	for _, b := range recs {
		var in Incident
		if err := json.Unmarshal(b, &in); err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, nil
}

// run is one drill in progress.
type run struct {
	r      *Runner
	in     *Incident
	ctx    context.Context
	cur    *Phase
	serial string // the TPP's certificate
}

var errNoEvent = errors.New("no security event was raised")

func (d *run) phase(name string, steps ...string) {
	d.end()
	d.in.Phases = append(d.in.Phases, Phase{Name: name, Started: d.r.Clock.Now(), Steps: steps})
	d.cur = &d.in.Phases[len(d.in.Phases)-1]
}

func (d *run) end() {
	if d.cur != nil && d.cur.Ended.IsZero() {
		d.cur.Ended = d.r.Clock.Now()
	}
}

func (d *run) step(format string, args ...any) {
	d.cur.Steps = append(d.cur.Steps, fmt.Sprintf(format, args...))
}

// check records a control verified (or not) in the current phase.
func (d *run) check(ok bool, format string, args ...any) {
	d.in.Checks = append(d.in.Checks, Check{Phase: d.cur.Name, What: fmt.Sprintf(format, args...), OK: ok})
}

// tpp registers a TPP with the sandbox, over HTTP like any other (dev:
// JSON metadata; the FAPI profiles: a certificate and a software statement
// from the sandbox, a signed registration).
func (d *run) tpp(name string) (*tpp.Client, *pki.Issued, error) {
	ca, err := d.ca()
	if err != nil {
		return nil, nil, err
	}
	cert, err := ca.Issue(d.ctx, pki.Request{CommonName: name, Organisation: name}, d.r.Clock.Wall())
	if err != nil {
		return nil, nil, err
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	tc := &tls.Config{RootCAs: ca.Pool()}
	if oauth.Strict(d.r.Auth.Profile) {
		pair, err := tls.X509KeyPair(cert.CertPEM, cert.KeyPEM)
		if err != nil {
			return nil, nil, err
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	hc.Transport = &http.Transport{TLSClientConfig: tc}
	c, err := tpp.New(d.ctx, d.r.Auth.Issuer, "https://tpp.example/callback", tpp.WithHTTPClient(hc), tpp.WithClock(d.r.Clock.Wall))
	if err != nil {
		return nil, nil, err
	}
	c.Name = name
	if d.r.Auth.Profile == oauth.ProfileFAPI2 {
		if err := c.UseDPoP(); err != nil {
			return nil, nil, err
		}
	}
	if oauth.Strict(d.r.Auth.Profile) {
		jwks := c.JWKS()
		ssa, err := d.r.Auth.IssueSoftwareStatement(oauth.SoftwareStatement{SoftwareClientName: name,
			SoftwareRedirectURIs: []string{c.RedirectURI}, SoftwareRoles: []string{"AISP", "PISP"}, SoftwareJWKS: &jwks})
		if err != nil {
			return nil, nil, err
		}
		err = c.RegisterJWT(d.ctx, ssa)
		return c, cert, err
	}
	return c, cert, c.Register(d.ctx, "private_key_jwt")
}

func (d *run) ca() (*pki.CA, error) {
	if d.r.CA != nil {
		return d.r.CA, nil
	}
	return pki.Load(d.ctx, d.r.Store, d.r.Clock.Wall())
}

// subscribe subscribes the TPP to event notifications at the drill's
// callback (its own receiver when none was given).
func (d *run) subscribe(c *tpp.Client) error {
	if d.in.CallbackURL == "" {
		d.in.CallbackURL = d.r.Base + "/sandbox/incidents/" + d.in.ID + "/tpp/event-notifications"
	}
	cc, err := c.ClientCredentials(d.ctx, "accounts")
	if err != nil {
		return err
	}
	body := map[string]any{"Data": map[string]any{"CallbackUrl": d.in.CallbackURL, "Version": "3.1"}}
	return c.Call(d.ctx, http.MethodPost, c.API()+"/event-subscriptions", "application/json", cc, body, http.StatusCreated, nil)
}

// status is the answer a TPP gets calling path with token.
func (d *run) status(c *tpp.Client, path, token string) int {
	req, err := http.NewRequestWithContext(d.ctx, http.MethodGet, c.Base+c.API()+path, nil)
	if err != nil {
		return 0
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// deliver pushes the waiting event notifications now and reports which of
// the TPP's events its callback took.
func (d *run) deliver(clientID string) ([]store.Event, error) {
	if _, err := d.r.Events.Deliver(d.ctx); err != nil {
		return nil, err
	}
	evs, err := d.r.Store.Events(d.ctx, store.EventQuery{ClientID: clientID})
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(evs, func(e store.Event) bool { return e.AckedBy != "push" }), nil
}

// firstEvent is the first security event about client raised since the
// drill started, after the anomaly rules have seen everything.
func (d *run) firstEvent(clientID string) (store.SecurityEvent, bool) {
	d.r.Flush()
	evs, err := d.r.Store.SecurityEvents(d.ctx, clientID)
	if err != nil {
		return store.SecurityEvent{}, false
	}
	i := slices.IndexFunc(evs, func(e store.SecurityEvent) bool { return !e.At.Before(d.in.StartedAt) })
	if i < 0 {
		return store.SecurityEvent{}, false
	}
	return evs[i], true
}

func errStep(what string, err error) error { return fmt.Errorf("%s: %w", what, err) }
