package events

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/obsandbox/sandbox/internal/background"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/clock"
	"github.com/obsandbox/sandbox/internal/egress"
	"github.com/obsandbox/sandbox/internal/store"
)

// Signer signs a JWT with the bank's current key (oauth.Keys).
type Signer interface {
	Sign(claims jwt.Claims, typ string) (string, error)
}

// Policy is the bank's Event Notification Retry Policy (event-notifications
// resource, "Event Notification Retry Policy"): after the n-th failed
// attempt the next one is Base·2^(n-1) later, at most Max; after MaxAttempts
// the bank declares the endpoint unresponsive for that event and stops
// pushing it (it stays available to polling).
type Policy struct {
	Base        time.Duration
	Max         time.Duration
	MaxAttempts int
	// Timeout bounds one attempt: connect, TLS, request and answer.
	Timeout time.Duration
}

// DefaultPolicy retries after 1 s, 2 s, 4 s, ... up to an hour, 20 attempts
// in all (the last about 8 hours after the first), each with 5 s to answer.
var DefaultPolicy = Policy{Base: time.Second, Max: time.Hour, MaxAttempts: 20, Timeout: 5 * time.Second}

// Delay is how long after its n-th attempt (n >= 1) a failed delivery is
// tried again.
func (p Policy) Delay(n int) time.Duration {
	d := p.Base
	for i := 1; i < n && d < p.Max; i++ {
		d *= 2
	}
	return min(d, p.Max)
}

// Config is what a Service needs.
type Config struct {
	Store *store.Store
	Clock *clock.Clock
	Keys  Signer
	// Issuer is the bank's public base URL: the SETs' iss and the base of
	// their resource links.
	Issuer string
	// FinancialID is sent as x-fapi-financial-id on every push (the TPP
	// side's file still requires it).
	FinancialID string
	Log         *slog.Logger
	Policy      Policy // zero: DefaultPolicy
	// RootPEM are certificates trusted, besides the system's, for https
	// callbacks (the sandbox's development CA).
	RootPEM []byte
	// Interval is how often Run looks for due deliveries (default 250 ms of
	// real time; what is due is decided on the sandbox clock).
	Interval time.Duration
}

// Service signs, pushes and serves the bank's event notifications.
type Service struct {
	cfg    Config
	client *http.Client
	pass   sync.Mutex // one delivery pass at a time
}

// New returns a Service; Run starts its delivery worker.
func New(cfg Config) *Service {
	if cfg.Policy == (Policy{}) {
		cfg.Policy = DefaultPolicy
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 250 * time.Millisecond
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	var roots func() *x509.CertPool // nil: the system's
	if len(cfg.RootPEM) > 0 {
		roots = egress.SystemRootsAnd(cfg.RootPEM)
	}
	return &Service{cfg: cfg, client: egress.NewClient(callbacks, roots, cfg.Policy.Timeout)}
}

// Policy is the service's retry policy.
func (s *Service) Policy() Policy { return s.cfg.Policy }

// callbacks is the policy of the client that calls TPPs' callbacks:
// loopback and private networks are allowed on purpose (the TPP under test
// runs beside the sandbox); link-local (cloud metadata), multicast and
// unspecified addresses never, whatever a host name resolves to.
var callbacks = egress.Policy{AllowPrivate: true}

// Run delivers due events until ctx ends. A delivery under way when ctx
// ends is put back as it was (its attempt not counted): nothing is lost.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.Deliver(ctx); err != nil && ctx.Err() == nil {
				s.cfg.Log.Error("delivering event notifications", "error", err)
			}
		}
	}
}

// Report counts what a delivery pass did.
type Report struct {
	Attempted int `json:"attempted"`
	Delivered int `json:"delivered"`
	Failed    int `json:"failed"`
}

// Deliver makes one delivery pass: it signs the events not signed yet, then
// pushes every delivery due on the sandbox clock, each client's in order
// (ord, then creation), up to 4 clients at a time. A client whose callback
// fails is left for the next pass: its other deliveries keep their turn.
func (s *Service) Deliver(ctx context.Context) (Report, error) {
	s.pass.Lock()
	defer s.pass.Unlock()
	if err := s.signPending(ctx, ""); err != nil {
		return Report{}, err
	}
	now := s.cfg.Clock.Now()
	clients, err := s.cfg.Store.DueClients(ctx, now)
	if err != nil || len(clients) == 0 {
		return Report{}, err
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		rep  Report
		errs []error
		sem  = make(chan struct{}, 4)
	)
	for _, c := range clients {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var r Report
			err := background.Catch(s.cfg.Log, "event delivery to "+c, func() (err error) {
				r, err = s.deliverClient(ctx, c, now)
				return err
			})
			mu.Lock()
			defer mu.Unlock()
			rep.Attempted += r.Attempted
			rep.Delivered += r.Delivered
			rep.Failed += r.Failed
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	return rep, errors.Join(errs...)
}

func (s *Service) deliverClient(ctx context.Context, client string, now time.Time) (Report, error) {
	var rep Report
	for {
		d, ok, err := s.cfg.Store.ClaimDelivery(ctx, client, now, s.cfg.Policy.Delay)
		if err != nil || !ok {
			if ctx.Err() != nil {
				err = nil
			}
			return rep, err
		}
		o := s.push(ctx, d)
		// The outcome is recorded even while stopping.
		bg := context.WithoutCancel(ctx)
		if !o.OK && ctx.Err() != nil {
			return rep, s.cfg.Store.ReleaseClaim(bg, d.ID, now)
		}
		rep.Attempted++
		o.GiveUp = !o.OK && d.Attempts >= s.cfg.Policy.MaxAttempts
		if err := s.cfg.Store.FinishDelivery(bg, d.ID, o); err != nil {
			return rep, err
		}
		if !o.OK {
			rep.Failed++
			s.cfg.Log.Info("event notification not delivered", "client_id", client, "jti", d.JTI, "attempt", d.Attempts,
				"status", o.Status, "error", o.Error, "gave_up", o.GiveUp)
			return rep, nil
		}
		rep.Delivered++
	}
}

// push POSTs a SET to its callback (Event Notification API: body
// application/jwt, x-fapi-financial-id, x-fapi-interaction-id). Any 2xx is
// an acknowledgement (the standard asks for 202); anything else, a timeout
// or a network error is a failure to retry.
func (s *Service) push(ctx context.Context, d store.Delivery) (o store.Outcome) {
	o.InteractionID = uuid.NewString()
	defer func() { o.At = s.cfg.Clock.Now() }()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.CallbackURL, strings.NewReader(d.SET))
	if err != nil {
		o.Error = truncate(err.Error(), 300)
		return o
	}
	req.Header.Set("Content-Type", "application/jwt")
	req.Header.Set("x-fapi-financial-id", s.cfg.FinancialID)
	req.Header.Set("x-fapi-interaction-id", o.InteractionID)
	req.Header.Set("User-Agent", "obsandbox-event-notifications")
	resp, err := s.client.Do(req)
	if err != nil {
		o.Error = truncate(err.Error(), 300)
		return o
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	o.Status, o.OK = resp.StatusCode, resp.StatusCode >= 200 && resp.StatusCode < 300
	if !o.OK {
		o.Error = fmt.Sprintf("the callback answered %d", resp.StatusCode)
	}
	return o
}

// signPending signs the events of a client ("" for all) that have no SET yet.
func (s *Service) signPending(ctx context.Context, clientID string) error {
	for {
		evs, err := s.cfg.Store.UnsignedEvents(ctx, clientID, 200)
		if err != nil {
			return err
		}
		for _, e := range evs {
			set, err := s.Sign(e)
			if err != nil {
				return fmt.Errorf("event %s: %w", e.JTI, err)
			}
			if err := s.cfg.Store.SignEvent(ctx, e.Ref, set, s.cfg.Clock.Now()); err != nil {
				return err
			}
		}
		if len(evs) < 200 {
			return nil
		}
	}
}

// Link is the absolute URL of an event's resource (through the first
// version that serves it), and its resource type.
func (s *Service) Link(e store.Event) (rty, link string, err error) {
	rty, links, err := s.links(e)
	if err != nil {
		return "", "", err
	}
	return rty, links[0]["link"], nil
}

// apiBases are the versions of the UK standard the bank serves, oldest first.
var apiBases = []struct{ version, name, base string }{
	{bank.VersionUK31, "v3.1", "/open-banking/v3.1"},
	{bank.VersionUK40, "v4.0", "/open-banking/v4.0"},
}

// links are the URLs of an event's resource in every version that serves
// it (the rlk claim): a payment, or a payment consent, through the version
// that made it; an account-access, funds-confirmation or VRP consent made
// through v3.1 — and a VRP made under one — through v3.1 and v4.0 alike
// (the migration rule), one made through v4.0 through v4.0 only.
func (s *Service) links(e store.Event) (string, []map[string]string, error) {
	r, ok := resources[[2]string{e.Family, e.Kind}]
	if !ok {
		return "", nil, fmt.Errorf("no resource type for %s %s", e.Family, e.Kind)
	}
	version, both := s.resourceVersion(e)
	var out []map[string]string
	for _, b := range apiBases {
		if b.version == version || both {
			out = append(out, map[string]string{"version": b.name, "link": s.cfg.Issuer + b.base + r.path + e.RID})
		}
	}
	return r.rty, out, nil
}

// resourceVersion is the version that made an event's resource, and
// whether every version serves it.
func (s *Service) resourceVersion(e store.Event) (string, bool) {
	ctx := context.Background()
	consentID := e.RID
	if e.Family == store.EventPayment {
		p, err := s.cfg.Store.Payment(ctx, e.RID)
		if err != nil {
			return bank.VersionUK31, false
		}
		consentID = p.ConsentID
	}
	c, err := s.cfg.Store.Consent(ctx, consentID)
	if err != nil || c.Version == "" {
		return bank.VersionUK31, false
	}
	return c.Version, c.Version == bank.VersionUK31 && !c.IsPayment() && (e.Family == store.EventConsent || c.IsVRP())
}

// Sign makes an event's SET (OBEventNotification2): iss the bank, aud the
// client, sub the resource's URL and rlk its URL in each version that
// serves it, jti and txn from the outbox, iat and toe real time (SPEC §8:
// the bank's JWTs carry real time; the event is signed within a delivery
// pass of its commit), events with the one event and its subject. The
// header is alg PS256, kid of the bank's current key, typ JWT.
func (s *Service) Sign(e store.Event) (string, error) {
	rty, links, err := s.links(e)
	if err != nil {
		return "", err
	}
	link := links[0]["link"]
	event := map[string]any{"subject": map[string]any{
		"subject_type":                  "http://openbanking.org.uk/rid_http://openbanking.org.uk/rty",
		"http://openbanking.org.uk/rid": e.RID,
		"http://openbanking.org.uk/rty": rty,
		"http://openbanking.org.uk/rlk": links,
	}}
	if e.Reason != "" {
		event["reason"] = e.Reason
	}
	now := s.cfg.Clock.Wall().Unix()
	return s.cfg.Keys.Sign(jwt.MapClaims{"iss": s.cfg.Issuer, "iat": now, "jti": e.JTI, "aud": e.ClientID, "sub": link,
		"txn": e.TXN, "toe": now, "events": map[string]any{e.Type: event}}, "JWT")
}

// Poll is one aggregated-polling exchange (POST /events): the client's
// acknowledgements are applied, then up to p.Max awaiting SETs returned.
func (s *Service) Poll(ctx context.Context, p store.Poll) ([]store.Event, bool, error) {
	if err := s.signPending(ctx, p.ClientID); err != nil {
		return nil, false, err
	}
	p.Now = s.cfg.Clock.Now()
	return s.cfg.Store.PollEvents(ctx, p)
}

// Fire is an event the administrator makes happen.
type Fire struct {
	ClientID, Type, Family, Kind, RID, Reason string
	// TXN correlates it (the admin request's interaction id); Delay holds
	// its first push back.
	TXN   string
	Delay time.Duration
}

// Fire records a test event for a client's resource, signed at once and
// pushed like any other (after Delay, on the sandbox clock).
func (s *Service) Fire(ctx context.Context, f Fire) (store.Event, error) {
	e := store.Event{JTI: uuid.NewString(), TXN: f.TXN, ClientID: f.ClientID, Type: f.Type, Family: f.Family, Kind: f.Kind,
		RID: f.RID, Reason: f.Reason, Cause: "fired by the administrator"}
	if e.TXN == "" {
		e.TXN = uuid.NewString()
	}
	if _, _, err := s.Link(e); err != nil {
		return store.Event{}, err
	}
	var due time.Time
	if f.Delay > 0 {
		due = s.cfg.Clock.Now().Add(f.Delay)
	}
	if err := s.cfg.Store.AddEvent(ctx, &e, due); err != nil {
		return store.Event{}, err
	}
	if err := s.signPending(ctx, f.ClientID); err != nil {
		return store.Event{}, err
	}
	return s.cfg.Store.EventByJTI(ctx, e.JTI)
}
