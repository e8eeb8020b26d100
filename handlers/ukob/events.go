package ukob

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/handlers/ukob/obwire"
	"github.com/obsandbox/sandbox/handlers/ukob/wire31"
	"github.com/obsandbox/sandbox/internal/audit"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/clock"
	"github.com/obsandbox/sandbox/internal/events"
	"github.com/obsandbox/sandbox/internal/gateway"
	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/store"
)

// mountEvents adds the events API (event-subscriptions and aggregated
// polling, the events-openapi of the version).
func (s *Server) mountEvents(e *echo.Echo) {
	if s.Deps.Events == nil {
		return
	}
	// A client-credentials token with any of the accounts, payments or
	// fundsconfirmations scopes (events-openapi security; the aggregated
	// polling profile, "Scopes").
	n := httpx.Need{Scope: oauth.ScopeAccounts, OrScope: []string{oauth.ScopePayments, oauth.ScopeFundsConfirmations}, Class: gateway.ClassConsents}
	m := func(method, path string, h echo.HandlerFunc, extra ...echo.MiddlewareFunc) {
		s.Mount(e, s.contract, method, path, n, h, append([]echo.MiddlewareFunc{jsonUTF8}, extra...)...)
	}
	// The subscription endpoints sign their responses (the resource's
	// "Signed Response"); polling is not signed, its SETs are.
	m(http.MethodPost, "/event-subscriptions", s.createEventSubscription, s.signResponse)
	m(http.MethodGet, "/event-subscriptions", s.listEventSubscriptions, s.signResponse)
	m(http.MethodPut, "/event-subscriptions/{EventSubscriptionId}", s.updateEventSubscription, s.signResponse)
	m(http.MethodDelete, "/event-subscriptions/{EventSubscriptionId}", s.deleteEventSubscription, s.signResponse)
	m(http.MethodPost, "/events", s.pollEvents)
}

// MountEventControls adds the administrator's controls over event delivery
// under /sandbox/events (once, whatever versions are served).
func MountEventControls(core *httpx.Server, e *echo.Echo) {
	if core.Deps.Events == nil {
		return
	}
	s := &Server{Server: core, w: wire31.Wire{}}
	admin := e.Group("/sandbox/events", s.RequireAdmin, httpx.NoStore)
	admin.GET("", s.listOutbox)
	admin.POST("/fire", s.fireEvent)
	admin.POST("/deliver", s.deliverEvents)
	admin.POST("/hold", s.holdEvents)
	admin.POST("/release", s.releaseEvents)
	admin.POST("/:jti/duplicate", s.duplicateEvent)
	admin.POST("/:jti/delay", s.delayEvent)
}

// jsonUTF8 labels JSON answers application/json; charset=utf-8, the one
// JSON media type the events file lists (the other files also list plain
// application/json). Errors are rendered by the one renderer as elsewhere.
func jsonUTF8(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		res := c.Response()
		res.Before(func() {
			if res.Header().Get(echo.HeaderContentType) == echo.MIMEApplicationJSON {
				res.Header().Set(echo.HeaderContentType, "application/json; charset=utf-8")
			}
		})
		return next(c)
	}
}

// Wire shapes of the events API (OBEventSubscription1 and friends).
type obEventSubscriptionData struct {
	EventSubscriptionID string   `json:"EventSubscriptionId,omitempty"`
	CallbackURL         string   `json:"CallbackUrl,omitempty"`
	Version             string   `json:"Version"`
	EventTypes          []string `json:"EventTypes,omitempty"`
}

type obEventSubscriptionRequest struct {
	Data obEventSubscriptionData `json:"Data"`
}

type obEventSubscriptionResponse struct {
	Data  obEventSubscriptionData `json:"Data"`
	Links obwire.Links            `json:"Links"`
	Meta  obwire.Meta             `json:"Meta"`
}

type obEventSubscriptionsResponse struct {
	Data struct {
		EventSubscription []obEventSubscriptionData `json:"EventSubscription"`
	} `json:"Data"`
	Links obwire.Links `json:"Links"`
	Meta  obwire.Meta  `json:"Meta"`
}

func subscriptionData(sub store.EventSubscription) obEventSubscriptionData {
	return obEventSubscriptionData{EventSubscriptionID: sub.ID, CallbackURL: sub.CallbackURL, Version: sub.Version, EventTypes: sub.EventTypes}
}

// readSubscription checks a subscription's fields (signature, version,
// event types, CallbackUrl) into sub.
func (s *Server) readSubscription(c echo.Context, sub *store.EventSubscription) error {
	raw, err := body(c)
	if err != nil {
		return err
	}
	if err := s.verifySignature(c, raw); err != nil {
		return err
	}
	var req obEventSubscriptionRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		return bank.Errorf(bank.KindMalformed, "", "the request body is not valid JSON")
	}
	d := req.Data
	if sub.ID != "" && d.EventSubscriptionID != sub.ID {
		return bank.Errorf(bank.KindFieldInvalid, "Data.EventSubscriptionId", "Data.EventSubscriptionId must be the one in the path")
	}
	filter, err := events.Filter(d.Version, d.EventTypes)
	if err != nil {
		return err
	}
	if d.CallbackURL != "" {
		if err := events.CheckCallbackURL(d.CallbackURL, oauth.Strict(s.Cfg.Profile)); err != nil {
			return err
		}
	}
	sub.CallbackURL, sub.Version, sub.EventTypes, sub.Filter = d.CallbackURL, d.Version, d.EventTypes, filter
	sub.UpdatedAt = s.Clock.Now()
	return nil
}

// createEventSubscription registers the calling client's subscription: at
// most one per TPP (409 for a second, the standard's rule). No CallbackUrl
// means aggregated polling only.
func (s *Server) createEventSubscription(c echo.Context) error {
	sub := store.EventSubscription{ClientID: httpx.PrincipalOf(c).Token.ClientID}
	if err := s.readSubscription(c, &sub); err != nil {
		return err
	}
	sub.ID, sub.CreatedAt = "es-"+uuid.NewString(), sub.UpdatedAt
	if err := s.Store.CreateEventSubscription(c.Request().Context(), sub); err != nil {
		if errors.Is(err, bank.ErrConflict) {
			c.Set(httpx.KeyRule, "event_subscription.exists")
			return echo.NewHTTPError(http.StatusConflict, "the client already has an event subscription")
		}
		return err
	}
	return c.JSON(http.StatusCreated, obEventSubscriptionResponse{Data: subscriptionData(sub),
		Links: obwire.Links{Self: s.Cfg.Issuer + s.w.Base() + "/event-subscriptions" + "/" + sub.ID}})
}

func (s *Server) listEventSubscriptions(c echo.Context) error {
	var out obEventSubscriptionsResponse
	out.Data.EventSubscription = []obEventSubscriptionData{}
	sub, err := s.Store.EventSubscriptionOf(c.Request().Context(), httpx.PrincipalOf(c).Token.ClientID)
	switch {
	case err == nil:
		out.Data.EventSubscription = append(out.Data.EventSubscription, subscriptionData(sub))
	case !errors.Is(err, bank.ErrNotFound):
		return err
	}
	out.Links.Self = s.Cfg.Issuer + s.w.Base() + "/event-subscriptions"
	return c.JSON(http.StatusOK, out)
}

// ownSubscription reads the subscription in the path: unknown -> 400
// NotFound, another client's -> 403 (the house rule for every resource).
func (s *Server) ownSubscription(c echo.Context) (store.EventSubscription, error) {
	id := c.Param("EventSubscriptionId")
	sub, err := s.Store.EventSubscription(c.Request().Context(), id)
	if errors.Is(err, bank.ErrNotFound) {
		return sub, bank.Errorf(bank.KindNotFound, "EventSubscriptionId", "no event subscription %s", httpx.Truncate(id, 64)).WithRule(audit.RuleUnknownObject)
	}
	if err != nil {
		return sub, err
	}
	if sub.ClientID != httpx.PrincipalOf(c).Token.ClientID {
		return sub, bank.Errorf(bank.KindForbidden, "EventSubscriptionId", "event subscription %s belongs to another client", sub.ID).WithRule(audit.RuleForeignObject)
	}
	return sub, nil
}

// updateEventSubscription replaces the subscription's CallbackUrl, Version
// and EventTypes (a field left out is removed: no CallbackUrl, polling only).
func (s *Server) updateEventSubscription(c echo.Context) error {
	sub, err := s.ownSubscription(c)
	if err != nil {
		return err
	}
	if err := s.readSubscription(c, &sub); err != nil {
		return err
	}
	if err := s.Store.UpdateEventSubscription(c.Request().Context(), sub); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, obEventSubscriptionResponse{Data: subscriptionData(sub),
		Links: obwire.Links{Self: s.Cfg.Issuer + s.w.Base() + "/event-subscriptions" + "/" + sub.ID}})
}

func (s *Server) deleteEventSubscription(c echo.Context) error {
	sub, err := s.ownSubscription(c)
	if err != nil {
		return err
	}
	if err := s.Store.DeleteEventSubscription(c.Request().Context(), sub.ID); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// MaxPollEvents is the most SETs one poll returns (a larger maxEvents is
// taken as this; the aggregated polling profile lets the bank set the bound).
const MaxPollEvents = 100

type obEventPolling struct {
	MaxEvents         *int     `json:"maxEvents"`
	ReturnImmediately *bool    `json:"returnImmediately"`
	Ack               []string `json:"ack"`
	SetErrs           map[string]struct {
		Err         string `json:"err"`
		Description string `json:"description"`
	} `json:"setErrs"`
}

type obEventPollingResponse struct {
	MoreAvailable bool              `json:"moreAvailable"`
	Sets          map[string]string `json:"sets"`
}

// pollEvents is aggregated polling (draft-ietf-secevent-http-poll): the
// client's positive (ack) and negative (setErrs) acknowledgements are
// applied, then up to maxEvents awaiting SETs returned as jti -> SET. An
// event reported in setErrs stays awaiting. Long polling is not offered:
// the answer is always immediate.
func (s *Server) pollEvents(c echo.Context) error {
	var req obEventPolling
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	p := store.Poll{ClientID: httpx.PrincipalOf(c).Token.ClientID, Ack: req.Ack, Max: MaxPollEvents}
	if req.MaxEvents != nil {
		p.Max = min(max(*req.MaxEvents, 0), MaxPollEvents)
	}
	if len(req.SetErrs) > 0 {
		p.SetErrs = map[string]string{}
		for jti, e := range req.SetErrs {
			b, _ := json.Marshal(e)
			p.SetErrs[jti] = string(b)
		}
	}
	evs, more, err := s.Deps.Events.Poll(c.Request().Context(), p)
	if err != nil {
		return err
	}
	out := obEventPollingResponse{MoreAvailable: more, Sets: map[string]string{}}
	for _, e := range evs {
		out.Sets[e.JTI] = e.SET
	}
	return c.JSON(http.StatusOK, out)
}

// Admin views and controls (/sandbox/events, admin token; RFC 6749 errors).

type deliveryView struct {
	ID                int64  `json:"id"`
	Kind              string `json:"kind"`
	State             string `json:"state"`
	Attempts          int    `json:"attempts"`
	NextAttemptAt     string `json:"next_attempt_at,omitempty"`
	LastAttemptAt     string `json:"last_attempt_at,omitempty"`
	LastStatus        int    `json:"last_status,omitempty"`
	LastError         string `json:"last_error,omitempty"`
	LastInteractionID string `json:"last_interaction_id,omitempty"`
	DeliveredAt       string `json:"delivered_at,omitempty"`
}

type eventView struct {
	JTI          string         `json:"jti"`
	TXN          string         `json:"txn"`
	ClientID     string         `json:"client_id"`
	Type         string         `json:"type"`
	ResourceType string         `json:"resource_type"`
	ResourceID   string         `json:"resource_id"`
	Link         string         `json:"link"`
	Reason       string         `json:"reason,omitempty"`
	Cause        string         `json:"cause"`
	SignedAt     string         `json:"signed_at,omitempty"`
	AckedAt      string         `json:"acked_at,omitempty"`
	AckedBy      string         `json:"acked_by,omitempty"`
	SetErr       string         `json:"set_err,omitempty"`
	SET          string         `json:"set,omitempty"`
	Deliveries   []deliveryView `json:"deliveries"`
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func (s *Server) eventView(e store.Event) eventView {
	rty, link, _ := s.Deps.Events.Link(e)
	v := eventView{JTI: e.JTI, TXN: e.TXN, ClientID: e.ClientID, Type: e.Type, ResourceType: rty, ResourceID: e.RID, Link: link,
		Reason: e.Reason, Cause: e.Cause, SignedAt: rfc3339(e.SignedAt), AckedAt: rfc3339(e.AckedAt), AckedBy: e.AckedBy,
		SetErr: e.SetErr, SET: e.SET, Deliveries: []deliveryView{}}
	for _, d := range e.Deliveries {
		dv := deliveryView{ID: d.ID, Kind: d.Kind, State: d.State, Attempts: d.Attempts, LastAttemptAt: rfc3339(d.LastAttemptAt),
			LastStatus: d.LastStatus, LastError: d.LastError, LastInteractionID: d.LastInteractionID, DeliveredAt: rfc3339(d.DeliveredAt)}
		if d.State == store.DeliveryPending {
			dv.NextAttemptAt = rfc3339(d.NextAttemptAt)
		}
		v.Deliveries = append(v.Deliveries, dv)
	}
	return v
}

func badRequest(format string, args ...any) error {
	return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: fmt.Sprintf(format, args...)}
}

// listOutbox lists the outbox, newest first, with every delivery and its
// attempts: ?client_id= &jti= &limit= (1..1000).
func (s *Server) listOutbox(c echo.Context) error {
	limit, err := httpx.QueryInt(c, "limit", 100)
	if err != nil {
		return err
	}
	evs, err := s.Store.Events(c.Request().Context(), store.EventQuery{ClientID: c.QueryParam("client_id"), JTI: c.QueryParam("jti"), Limit: int(limit)})
	if err != nil {
		return err
	}
	out := make([]eventView, 0, len(evs))
	for _, e := range evs {
		out = append(out, s.eventView(e))
	}
	return c.JSON(http.StatusOK, map[string]any{"events": out, "policy": s.policyView()})
}

func (s *Server) policyView() map[string]any {
	p := s.Deps.Events.Policy()
	return map[string]any{"first_retry": p.Base.String(), "max_interval": p.Max.String(), "max_attempts": p.MaxAttempts, "timeout": p.Timeout.String()}
}

// fireEvent makes a test event happen for a consent or a payment order of
// a client: {"consent_id"|"payment_id", "client_id"?, "type"?, "reason"?,
// "delay"?}. The owner of the resource is the event's audience; client_id,
// when sent, must be that owner. The subscription's EventTypes filter does
// not apply (the administrator asked for it); its CallbackUrl does.
func (s *Server) fireEvent(c echo.Context) error {
	var r struct {
		ConsentID string `json:"consent_id"`
		PaymentID string `json:"payment_id"`
		ClientID  string `json:"client_id"`
		Type      string `json:"type"`
		Reason    string `json:"reason"`
		Delay     string `json:"delay"`
	}
	if err := httpx.BindStrict(c, &r); err != nil {
		return err
	}
	ctx := c.Request().Context()
	f := events.Fire{Type: events.TypeResourceUpdate, Reason: httpx.Truncate(r.Reason, 128), TXN: httpx.InteractionID(c)}
	if r.Type != "" {
		t, ok := events.ParseType(r.Type)
		if !ok {
			return badRequest("type %q is not an event type the bank sends", httpx.Truncate(r.Type, 100))
		}
		f.Type = t
	}
	switch {
	case (r.ConsentID == "") == (r.PaymentID == ""):
		return badRequest("name the resource: consent_id or payment_id (one of them)")
	case r.ConsentID != "":
		cn, err := s.Store.Consent(ctx, r.ConsentID)
		if errors.Is(err, bank.ErrNotFound) {
			return &oauth.Error{Status: http.StatusNotFound, Code: "not_found", Description: "no consent " + httpx.Truncate(r.ConsentID, 64)}
		} else if err != nil {
			return err
		}
		f.ClientID, f.Family, f.Kind, f.RID = cn.ClientID, store.EventConsent, cn.Kind, cn.ID
	default:
		p, err := s.Store.Payment(ctx, r.PaymentID)
		if errors.Is(err, bank.ErrNotFound) {
			return &oauth.Error{Status: http.StatusNotFound, Code: "not_found", Description: "no payment order " + httpx.Truncate(r.PaymentID, 64)}
		} else if err != nil {
			return err
		}
		f.ClientID, f.Family, f.Kind, f.RID = p.ClientID, store.EventPayment, p.Kind, p.ID
	}
	if f.Type == events.TypeLinkedAccountUpdate && (f.Family != store.EventConsent || f.Kind != bank.ConsentAccountAccess) {
		return badRequest("account-access-consent-linked-account-update is about an account-access consent")
	}
	if f.Reason != "" && f.Type == events.TypeResourceUpdate {
		return badRequest("a reason belongs to consent-authorization-revoked and account-access-consent-linked-account-update events only")
	}
	if r.ClientID != "" && r.ClientID != f.ClientID {
		return badRequest("the resource belongs to client %s, not %s", f.ClientID, httpx.Truncate(r.ClientID, 64))
	}
	if r.Delay != "" {
		d, err := clock.ParseAdvance(r.Delay)
		if err != nil {
			return badRequest("delay: %s", err.Error())
		}
		f.Delay = d
	}
	e, err := s.Deps.Events.Fire(ctx, f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, s.eventView(e))
}

// deliverEvents runs a delivery pass now and answers when it is done: every
// delivery due on the sandbox clock has been attempted (the worker does the
// same four times a second; this is for tests and for the impatient).
func (s *Server) deliverEvents(c echo.Context) error {
	rep, err := s.Deps.Events.Deliver(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, rep)
}

func (s *Server) adminEvent(c echo.Context) (store.Event, error) {
	e, err := s.Store.EventByJTI(c.Request().Context(), c.Param("jti"))
	if errors.Is(err, bank.ErrNotFound) {
		return e, &oauth.Error{Status: http.StatusNotFound, Code: "not_found", Description: "no event " + httpx.Truncate(c.Param("jti"), 64)}
	}
	return e, err
}

// duplicateEvent pushes an event's SET again, the same bytes and jti:
// {"count"?: 1..10} more deliveries, due at once.
func (s *Server) duplicateEvent(c echo.Context) error {
	var r struct {
		Count int `json:"count"`
	}
	if c.Request().ContentLength != 0 {
		if err := httpx.BindStrict(c, &r); err != nil {
			return err
		}
	}
	if r.Count == 0 {
		r.Count = 1
	}
	if r.Count < 1 || r.Count > 10 {
		return badRequest("count must be 1 to 10")
	}
	e, err := s.adminEvent(c)
	if err != nil {
		return err
	}
	for range r.Count {
		if _, err := s.Store.DuplicateDelivery(c.Request().Context(), e.JTI, s.Clock.Now()); err != nil {
			if errors.Is(err, store.ErrNoCallback) {
				return &oauth.Error{Status: http.StatusConflict, Code: "conflict", Description: err.Error()}
			}
			return err
		}
	}
	if e, err = s.adminEvent(c); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, s.eventView(e))
}

// delayEvent holds back the next attempt of an event's waiting deliveries:
// {"delay": "30s"} (Go duration or Nd) of sandbox time from now.
func (s *Server) delayEvent(c echo.Context) error {
	var r struct {
		Delay string `json:"delay"`
	}
	if err := httpx.BindStrict(c, &r); err != nil {
		return err
	}
	d, err := clock.ParseAdvance(r.Delay)
	if err != nil {
		return badRequest("delay: %s", err.Error())
	}
	e, err := s.adminEvent(c)
	if err != nil {
		return err
	}
	n, err := s.Store.DelayDeliveries(c.Request().Context(), e.JTI, s.Clock.Now().Add(d))
	if err != nil {
		return err
	}
	if n == 0 {
		return &oauth.Error{Status: http.StatusConflict, Code: "conflict", Description: "the event has no delivery waiting to be pushed"}
	}
	if e, err = s.adminEvent(c); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.eventView(e))
}

type holdRequest struct {
	ClientID string `json:"client_id"`
	Order    string `json:"order"` // release: original (default) | reverse
}

func (s *Server) holdRequest(c echo.Context) (holdRequest, error) {
	var r holdRequest
	if err := httpx.BindStrict(c, &r); err != nil {
		return r, err
	}
	if r.ClientID == "" {
		return r, badRequest("client_id is required")
	}
	return r, nil
}

func holdErr(err error) error {
	if errors.Is(err, bank.ErrNotFound) {
		return &oauth.Error{Status: http.StatusNotFound, Code: "not_found", Description: "the client has no event subscription"}
	}
	return err
}

// holdEvents stops pushing to a client: its waiting deliveries and those
// of its new events are held until released ({"client_id"}).
func (s *Server) holdEvents(c echo.Context) error {
	r, err := s.holdRequest(c)
	if err != nil {
		return err
	}
	n, err := s.Store.HoldDeliveries(c.Request().Context(), r.ClientID)
	if err != nil {
		return holdErr(err)
	}
	return c.JSON(http.StatusOK, map[string]any{"client_id": r.ClientID, "held": n})
}

// releaseEvents ends a hold: {"client_id", "order": "original"|"reverse"};
// the held deliveries are due at once, oldest first or, reversed, newest
// first — a TPP's handler then sees its events out of order.
func (s *Server) releaseEvents(c echo.Context) error {
	r, err := s.holdRequest(c)
	if err != nil {
		return err
	}
	if r.Order != "" && r.Order != "original" && r.Order != "reverse" {
		return badRequest(`order must be "original" or "reverse"`)
	}
	n, err := s.Store.ReleaseDeliveries(c.Request().Context(), r.ClientID, r.Order == "reverse", s.Clock.Now())
	if err != nil {
		return holdErr(err)
	}
	return c.JSON(http.StatusOK, map[string]any{"client_id": r.ClientID, "released": n, "order": cmp.Or(r.Order, "original")})
}
