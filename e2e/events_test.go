package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/obsandbox/sandbox/api"
	"github.com/obsandbox/sandbox/handlers"
	"github.com/obsandbox/sandbox/internal/app"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/jws"
	"github.com/obsandbox/sandbox/internal/store"
	"github.com/obsandbox/sandbox/internal/tpp"
)

const (
	eventSubs        = "/open-banking/v3.1/event-subscriptions"
	eventPoll        = "/open-banking/v3.1/events"
	typeUpdate       = "urn:uk:org:openbanking:events:resource-update"
	typeRevoked      = "urn:uk:org:openbanking:events:consent-authorization-revoked"
	typeLinkedUpdate = "urn:uk:org:openbanking:events:account-access-consent-linked-account-update"
)

// The TPP side of event notifications: the official event-notifications
// file (POST /event-notifications, application/jwt) and its
// OBEventNotification1 schema, loaded once. nil when the official files
// are absent (only our own contract is checked then).
var (
	notifOnce  sync.Once
	notifRoute *routers.Route
	notifDoc   *openapi3.T
	notifErr   error
)

func officialNotifications(t testing.TB) (*routers.Route, *openapi3.T) {
	t.Helper()
	notifOnce.Do(func() {
		// The official file's body is application/jwt: read it as a string.
		openapi3filter.RegisterBodyDecoder("application/jwt", func(r io.Reader, _ http.Header, _ *openapi3.SchemaRef,
			_ openapi3filter.EncodingFn) (any, error) {
			b, err := io.ReadAll(r)
			return string(b), err
		})
		dir, ok := officialDir()
		if !ok {
			return // TestOfficialContracts skips and says why
		}
		raw, err := os.ReadFile(filepath.Join(dir, "event-notifications-openapi.yaml"))
		if err != nil {
			notifErr = err
			return
		}
		if notifDoc, notifErr = openapi3.NewLoader().LoadFromData(raw); notifErr != nil {
			return
		}
		item := notifDoc.Paths.Find("/event-notifications")
		notifRoute = &routers.Route{Spec: notifDoc, Path: "/event-notifications", PathItem: item, Method: http.MethodPost,
			Operation: item.Post}
	})
	if notifErr != nil {
		t.Fatal(notifErr)
	}
	if notifRoute == nil {
		warnNoOfficialFiles(t)
	}
	return notifRoute, notifDoc
}

// pushed is one request the receiver got.
type pushed struct {
	SET    string
	Header http.Header
	Status int // what the receiver answered; 0: it dropped the connection; -1: the bank gave up waiting
}

// receiver is a TPP's event-notifications endpoint on loopback. answer
// says what to do with the n-th request (1-based): a status, or 0 to drop
// the connection. Every request is checked against the official
// event-notifications file.
type receiver struct {
	t        testing.TB
	srv      *httptest.Server
	mu       sync.Mutex
	answer   func(n int) int
	got      []pushed
	hold     chan struct{} // non-nil: requests wait until it is closed
	arrivals chan struct{}
}

func newReceiver(t testing.TB) *receiver {
	r := &receiver{t: t, answer: func(int) int { return http.StatusAccepted }, arrivals: make(chan struct{}, 100)}
	route, _ := officialNotifications(t)
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if route != nil {
			req.Body = io.NopCloser(bytes.NewReader(body))
			in := &openapi3filter.RequestValidationInput{Request: req, PathParams: map[string]string{}, Route: route,
				Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
			if err := openapi3filter.ValidateRequest(req.Context(), in); err != nil {
				t.Errorf("the push does not match the official event-notifications file: %v", err)
			}
		}
		r.mu.Lock()
		i := len(r.got)
		status, hold := r.answer(i+1), r.hold
		r.got = append(r.got, pushed{SET: string(body), Header: req.Header.Clone(), Status: -1})
		r.mu.Unlock()
		r.arrivals <- struct{}{}
		if hold != nil {
			select {
			case <-hold:
			case <-req.Context().Done():
				return // never answered: Status stays -1
			}
		}
		r.mu.Lock()
		r.got[i].Status = status
		r.mu.Unlock()
		if status == 0 {
			if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
				conn.Close()
			}
			return
		}
		w.Header().Set("x-fapi-interaction-id", req.Header.Get("x-fapi-interaction-id"))
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// url is the CallbackUrl, as the subscription profile wants it.
func (r *receiver) url() string { return r.srv.URL + "/open-banking/v3.1/event-notifications" }

func (r *receiver) setAnswer(f func(n int) int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answer = f
}

// requests is every request so far; delivered, the ones answered 2xx.
func (r *receiver) requests() []pushed {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func (r *receiver) delivered() []pushed {
	var out []pushed
	for _, p := range r.requests() {
		if p.Status >= 200 && p.Status < 300 {
			out = append(out, p)
		}
	}
	return out
}

func always(status int) func(int) int { return func(int) int { return status } }

// eventClient registers a client directly and returns it with a
// client-credentials token for scope.
func (s *sandbox) eventClient(scope string) (clientID, token string) {
	s.t.Helper()
	clientID = "evc-" + uuid.NewString()
	if err := s.app.Store.CreateClient(context.Background(), store.Client{ID: clientID, Metadata: []byte("{}"), CreatedAt: s.app.Clock.Now()}); err != nil {
		s.t.Fatal(err)
	}
	return clientID, s.clientToken(clientID, scope)
}

// subscribe posts an event subscription with the given Data.
func (s *sandbox) subscribe(token string, data map[string]any) *response {
	s.t.Helper()
	return s.do(req{method: "POST", path: eventSubs, token: token, body: map[string]any{"Data": data}})
}

type subscriptionOut struct {
	Data struct {
		EventSubscriptionId, CallbackUrl, Version string
		EventTypes                                []string
	}
	Links struct{ Self string }
}

// authorisedConsent makes an account-access consent of the client and has
// alice authorise it (one resource-update event); it returns its id.
func (s *sandbox) authorisedConsent(clientID string) string {
	s.t.Helper()
	ctx := context.Background()
	c, err := bank.NewAccountAccessConsent("aac-"+uuid.NewString(), clientID, bank.AccountAccessRequest{Permissions: []string{"ReadAccountsBasic"}},
		s.app.Clock.Now())
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.app.Store.CreateConsent(ctx, c); err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.app.Store.UpdateConsent(ctx, c.ID, func(c *bank.Consent) error {
		c.Status, c.PSU, c.Accounts, c.StatusAt = bank.StatusAuthorised, "alice", s.accountsOf("alice")[:1], s.app.Clock.Now()
		return nil
	}); err != nil {
		s.t.Fatal(err)
	}
	return c.ID
}

type outboxDelivery struct {
	ID            int64  `json:"id"`
	Kind          string `json:"kind"`
	State         string `json:"state"`
	Attempts      int    `json:"attempts"`
	NextAttemptAt string `json:"next_attempt_at"`
	LastStatus    int    `json:"last_status"`
	LastError     string `json:"last_error"`
}

type outboxEvent struct {
	JTI          string           `json:"jti"`
	ClientID     string           `json:"client_id"`
	Type         string           `json:"type"`
	ResourceType string           `json:"resource_type"`
	ResourceID   string           `json:"resource_id"`
	Link         string           `json:"link"`
	Cause        string           `json:"cause"`
	AckedBy      string           `json:"acked_by"`
	SET          string           `json:"set"`
	Deliveries   []outboxDelivery `json:"deliveries"`
}

// outbox lists a client's events, newest first (admin).
func (s *sandbox) outbox(clientID string) []outboxEvent {
	s.t.Helper()
	r := s.do(req{method: "GET", path: "/sandbox/events?client_id=" + clientID, token: s.app.Config.AdminToken})
	expect(s.t, r, 200)
	var out struct{ Events []outboxEvent }
	r.JSON(s.t, &out)
	return out.Events
}

func (s *sandbox) fire(body map[string]any) outboxEvent {
	s.t.Helper()
	r := s.do(req{method: "POST", path: "/sandbox/events/fire", token: s.app.Config.AdminToken, body: body})
	expect(s.t, r, 201)
	var e outboxEvent
	r.JSON(s.t, &e)
	return e
}

type deliverReport struct{ Attempted, Delivered, Failed int }

// deliverEvents runs a delivery pass and waits for it (admin).
func (s *sandbox) deliverEvents() deliverReport {
	s.t.Helper()
	r := s.do(req{method: "POST", path: "/sandbox/events/deliver", token: s.app.Config.AdminToken})
	expect(s.t, r, 200)
	var rep deliverReport
	r.JSON(s.t, &rep)
	return rep
}

type pollOut struct {
	MoreAvailable bool              `json:"moreAvailable"`
	Sets          map[string]string `json:"sets"`
}

func (s *sandbox) poll(token string, body any) pollOut {
	s.t.Helper()
	r := s.do(req{method: "POST", path: eventPoll, token: token, body: body})
	expect(s.t, r, 200)
	var out pollOut
	r.JSON(s.t, &out)
	return out
}

var (
	oursOnce sync.Once
	ours     *openapi3.T
	oursErr  error
)

// verifySET checks an event notification the way a TPP must: its signature
// against the bank's published JWKS (PS256, the header's kid, typ JWT), and
// its claims against our OBEventNotification2 and, for a resource-update,
// the official OBEventNotification1. It returns the claims and the kid.
func (s *sandbox) verifySET(set string) (jwt.MapClaims, string) {
	s.t.Helper()
	var jwks jose.JSONWebKeySet
	s.get("/as/jwks", "").JSON(s.t, &jwks)
	var kid string
	tok, err := jwt.Parse(set, func(tok *jwt.Token) (any, error) {
		kid, _ = tok.Header["kid"].(string)
		keys := jwks.Key(kid)
		if len(keys) != 1 {
			return nil, fmt.Errorf("kid %q is not in the JWKS", kid)
		}
		return keys[0].Key, nil
	}, jwt.WithValidMethods([]string{"PS256"}), jwt.WithoutClaimsValidation())
	if err != nil {
		s.t.Fatalf("the SET does not verify against /as/jwks: %v", err)
	}
	if tok.Header["typ"] != "JWT" {
		s.t.Errorf("SET header typ %v, want JWT", tok.Header["typ"])
	}
	claims := tok.Claims.(jwt.MapClaims)
	oursOnce.Do(func() { ours, oursErr = api.Load(context.Background()) })
	if oursErr != nil {
		s.t.Fatal(oursErr)
	}
	if err := ours.Components.Schemas["OBEventNotification2"].Value.VisitJSON(map[string]any(claims)); err != nil {
		s.t.Errorf("SET claims do not match OBEventNotification2: %v\n%v", err, claims)
	}
	if evs, _ := claims["events"].(map[string]any); len(evs) == 1 && evs[typeUpdate] != nil {
		if _, doc := officialNotifications(s.t); doc != nil {
			if err := doc.Components.Schemas["OBEventNotification1"].Value.VisitJSON(map[string]any(claims)); err != nil {
				s.t.Errorf("SET claims do not match the official OBEventNotification1: %v\n%v", err, claims)
			}
		}
	}
	return claims, kid
}

// subject returns the one event of a SET's claims: its type and subject.
func subject(t testing.TB, claims jwt.MapClaims) (string, map[string]any, map[string]any) {
	t.Helper()
	evs, _ := claims["events"].(map[string]any)
	if len(evs) != 1 {
		t.Fatalf("events %v, want exactly one", claims["events"])
	}
	for typ, ev := range evs {
		e, _ := ev.(map[string]any)
		sub, _ := e["subject"].(map[string]any)
		return typ, e, sub
	}
	return "", nil, nil
}

// TestEventSubscriptionLifecycle: POST, GET, PUT, DELETE as the standard
// has them, one subscription per TPP (409 for a second), signed responses.
func TestEventSubscriptionLifecycle(t *testing.T) {
	t.Parallel()
	s := start(t)
	rcv := newReceiver(t)
	client, cc := s.eventClient("accounts")

	r := s.subscribe(cc, map[string]any{"CallbackUrl": rcv.url(), "Version": "3.1", "EventTypes": []string{"UK.OBIE.Resource-Update"}})
	expect(t, r, 201)
	var sub subscriptionOut
	r.JSON(t, &sub)
	id := sub.Data.EventSubscriptionId
	if !strings.HasPrefix(id, "es-") || len(id) > 40 || sub.Data.CallbackUrl != rcv.url() || sub.Data.Version != "3.1" ||
		!slices.Equal(sub.Data.EventTypes, []string{"UK.OBIE.Resource-Update"}) || sub.Links.Self != testIssuer+eventSubs+"/"+id {
		t.Fatalf("created %s", r.Body)
	}
	kid, key := s.app.Auth.Keys.Signer()
	if err := jws.Verify(r.Header.Get("x-jws-signature"), r.Body, jws.Expect{Issuers: []string{handlers.BankOrgID}, Now: s.app.Clock.Wall(),
		Key: func(k string) (any, bool) { return &key.PublicKey, k == kid }}); err != nil {
		t.Errorf("the response signature: %v", err)
	}

	r = s.subscribe(cc, map[string]any{"Version": "3.1"})
	expect(t, r, 409)
	if len(r.Body) != 0 {
		t.Errorf("409 with a body: %s", r.Body)
	}

	var list struct {
		Data struct{ EventSubscription []map[string]any }
	}
	r = s.get(eventSubs, s.clientToken(client, "payments")) // any of the three scopes
	expect(t, r, 200)
	if r.Header.Get("x-jws-signature") == "" {
		t.Error("GET is not signed")
	}
	r.JSON(t, &list)
	if len(list.Data.EventSubscription) != 1 || list.Data.EventSubscription[0]["EventSubscriptionId"] != id {
		t.Fatalf("list %s", r.Body)
	}

	// PUT without CallbackUrl: polling only from now on.
	r = s.do(req{method: "PUT", path: eventSubs + "/" + id, token: cc, body: map[string]any{"Data": map[string]any{
		"EventSubscriptionId": id, "Version": "3.1.11"}}})
	expect(t, r, 200)
	sub = subscriptionOut{}
	r.JSON(t, &sub)
	if sub.Data.CallbackUrl != "" || sub.Data.Version != "3.1.11" || sub.Data.EventTypes != nil {
		t.Errorf("after PUT %s", r.Body)
	}
	stored, err := s.app.Store.EventSubscriptionOf(context.Background(), client)
	if err != nil || stored.CallbackURL != "" || len(stored.Filter) != 0 {
		t.Errorf("stored %+v %v, want polling only, every type", stored, err)
	}

	expect(t, s.do(req{method: "DELETE", path: eventSubs + "/" + id, token: cc}), 204)
	s.get(eventSubs, cc).JSON(t, &list)
	if len(list.Data.EventSubscription) != 0 {
		t.Errorf("still listed after DELETE: %v", list)
	}
	r = s.do(req{method: "DELETE", path: eventSubs + "/" + id, token: cc})
	expect(t, r, 400)
	if code := r.obError(t); code != "UK.OBIE.Resource.NotFound" {
		t.Errorf("second DELETE: %s", code)
	}
	// A new one may be made once the old is gone.
	expect(t, s.subscribe(cc, map[string]any{"Version": "3.1"}), 201)
}

// TestEventSubscriptionRefusals: every refusal in the right envelope, and
// nothing stored or changed by any of them.
func TestEventSubscriptionRefusals(t *testing.T) {
	t.Parallel()
	s := start(t)
	client, cc := s.eventClient("accounts")
	other, otherCC := s.eventClient("fundsconfirmations")
	r := s.subscribe(otherCC, map[string]any{"Version": "3.1"})
	expect(t, r, 201)
	var otherSub subscriptionOut
	r.JSON(t, &otherSub)
	psuToken, _ := s.directGrant("alice", bank.AccountAccessRequest{Permissions: []string{"ReadAccountsBasic"}}, s.accountsOf("alice"))
	good := "http://127.0.0.1:9/open-banking/v3.1/event-notifications"
	data := func(f func(map[string]any)) map[string]any {
		d := map[string]any{"CallbackUrl": good, "Version": "3.1"}
		f(d)
		return map[string]any{"Data": d}
	}
	tests := []struct {
		name   string
		req    req
		status int
		code   string // "" : no body expected
		path   string
	}{
		{"ErrNoToken", req{method: "POST", path: eventSubs, body: data(func(map[string]any) {})}, 401, "", ""},
		{"ErrPSUToken", req{method: "POST", path: eventSubs, token: psuToken, body: data(func(map[string]any) {})}, 403, "UK.SBOX.Forbidden", ""},
		{"ErrNoEventScope", req{method: "POST", path: eventSubs, token: s.clientToken(client, "openid"), body: data(func(map[string]any) {})},
			403, "UK.SBOX.Forbidden", ""},
		{"ErrTokenInQuery", req{method: "GET", path: eventSubs + "?access_token=" + cc}, 401, "", ""},
		{"ErrCallbackHTTPElsewhere", req{method: "POST", path: eventSubs, token: cc, body: data(func(d map[string]any) {
			d["CallbackUrl"] = "http://tpp.example/open-banking/v3.1/event-notifications"
		})}, 400, "UK.OBIE.Field.Invalid", "Data.CallbackUrl"},
		{"ErrCallbackNoSuffix", req{method: "POST", path: eventSubs, token: cc, body: data(func(d map[string]any) {
			d["CallbackUrl"] = "https://tpp.example/callback"
		})}, 400, "UK.OBIE.Field.Invalid", "Data.CallbackUrl"},
		{"ErrCallbackMetadata", req{method: "POST", path: eventSubs, token: cc, body: data(func(d map[string]any) {
			d["CallbackUrl"] = "https://169.254.169.254/event-notifications"
		})}, 400, "UK.OBIE.Field.Invalid", "Data.CallbackUrl"},
		{"ErrCallbackUserInfo", req{method: "POST", path: eventSubs, token: cc, body: data(func(d map[string]any) {
			d["CallbackUrl"] = "https://me:secret@tpp.example/event-notifications"
		})}, 400, "UK.OBIE.Field.Invalid", "Data.CallbackUrl"},
		{"ErrCallbackNotURL", req{method: "POST", path: eventSubs, token: cc, body: data(func(d map[string]any) { d["CallbackUrl"] = "event-notifications" })},
			400, "UK.OBIE.Field.Invalid", "Data.CallbackUrl"},
		{"ErrVersion", req{method: "POST", path: eventSubs, token: cc, body: data(func(d map[string]any) { d["Version"] = "5.0" })},
			400, "UK.OBIE.Field.Invalid", "Data.Version"},
		{"ErrVersionMissing", req{method: "POST", path: eventSubs, token: cc, body: data(func(d map[string]any) { delete(d, "Version") })},
			400, "UK.OBIE.Field.Missing", "Data.Version"},
		{"ErrEventType", req{method: "POST", path: eventSubs, token: cc, body: data(func(d map[string]any) {
			d["EventTypes"] = []string{"UK.OBIE.Resource-Update", "UK.OBIE.Payment-Made"}
		})}, 400, "UK.OBIE.Unsupported.EventType", "Data.EventTypes"},
		{"ErrUnknownField", req{method: "POST", path: eventSubs, token: cc, body: data(func(d map[string]any) { d["Secret"] = "x" })},
			400, "UK.OBIE.Field.Unexpected", "Data.Secret"},
		{"ErrMalformed", req{method: "POST", path: eventSubs, token: cc, body: `{"Data":`}, 400, "UK.OBIE.Resource.InvalidFormat", ""},
		{"ErrContentType", req{method: "POST", path: eventSubs, token: cc, body: `{"Data":{"Version":"3.1"}}`,
			header: map[string]string{"Content-Type": "text/plain"}}, 415, "", ""},
		{"ErrPutAnotherClients", req{method: "PUT", path: eventSubs + "/" + otherSub.Data.EventSubscriptionId, token: cc,
			body: map[string]any{"Data": map[string]any{"EventSubscriptionId": otherSub.Data.EventSubscriptionId, "Version": "3.1"}}},
			403, "UK.SBOX.Forbidden", "EventSubscriptionId"},
		{"ErrDeleteAnotherClients", req{method: "DELETE", path: eventSubs + "/" + otherSub.Data.EventSubscriptionId, token: cc},
			403, "UK.SBOX.Forbidden", "EventSubscriptionId"},
		{"ErrPutUnknown", req{method: "PUT", path: eventSubs + "/es-nope", token: cc,
			body: map[string]any{"Data": map[string]any{"EventSubscriptionId": "es-nope", "Version": "3.1"}}}, 400, "UK.OBIE.Resource.NotFound", "EventSubscriptionId"},
		{"ErrPutOtherID", req{method: "PUT", path: eventSubs + "/" + otherSub.Data.EventSubscriptionId, token: otherCC,
			body: map[string]any{"Data": map[string]any{"EventSubscriptionId": "es-other", "Version": "3.1"}}},
			400, "UK.OBIE.Field.Invalid", "Data.EventSubscriptionId"},
		{"ErrPutBadCallback", req{method: "PUT", path: eventSubs + "/" + otherSub.Data.EventSubscriptionId, token: otherCC,
			body: map[string]any{"Data": map[string]any{"EventSubscriptionId": otherSub.Data.EventSubscriptionId, "Version": "3.1",
				"CallbackUrl": "ftp://tpp.example/event-notifications"}}}, 400, "UK.OBIE.Field.Invalid", "Data.CallbackUrl"},
		{"ErrPollNegativeMax", req{method: "POST", path: eventPoll, token: cc, body: map[string]any{"maxEvents": -1}},
			400, "UK.OBIE.Field.Invalid", "maxEvents"},
		{"ErrPollUnknownField", req{method: "POST", path: eventPoll, token: cc, body: map[string]any{"max": 1}},
			400, "UK.OBIE.Field.Unexpected", "max"},
		{"ErrPollPSUToken", req{method: "POST", path: eventPoll, token: psuToken, body: map[string]any{}}, 403, "UK.SBOX.Forbidden", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(tt.req)
			expect(t, r, tt.status)
			if tt.code == "" {
				if len(r.Body) != 0 {
					t.Errorf("body %s, want none", r.Body)
				}
				return
			}
			var e struct {
				Errors []struct{ ErrorCode, Path string }
			}
			r.JSON(t, &e)
			if len(e.Errors) == 0 || e.Errors[0].ErrorCode != tt.code || e.Errors[0].Path != tt.path {
				t.Errorf("got %s, want %s at %q", r.Body, tt.code, tt.path)
			}
		})
	}
	// Nothing was stored or changed.
	if _, err := s.app.Store.EventSubscriptionOf(context.Background(), client); err == nil {
		t.Error("a refused request stored a subscription")
	}
	got, err := s.app.Store.EventSubscriptionOf(context.Background(), other)
	if err != nil || got.CallbackURL != "" || got.Version != "3.1" {
		t.Errorf("the other client's subscription changed: %+v %v", got, err)
	}
}

// TestEventPushSignedAndVerified: a consent's authorisation reaches the
// TPP's endpoint as a SET that verifies against /as/jwks, with the headers
// and claims the standard names; a delivered event is acknowledged, so
// polling has nothing more. After a key rotation new SETs carry the new kid
// and old ones still verify.
func TestEventPushSignedAndVerified(t *testing.T) {
	t.Parallel()
	s := start(t, frozen())
	rcv := newReceiver(t)
	client, cc := s.eventClient("accounts")
	expect(t, s.subscribe(cc, map[string]any{"CallbackUrl": rcv.url(), "Version": "3.1"}), 201)
	consent := s.authorisedConsent(client)

	// The pass delivers it — or finds it delivered already by the
	// background one (every 250 ms of real time), on a busy machine.
	if rep := s.deliverEvents(); rep.Failed != 0 || rep.Attempted != rep.Delivered || rep.Delivered > 1 {
		t.Fatalf("pass %+v, want one delivery or none left", rep)
	}
	got := rcv.delivered()
	if len(got) != 1 {
		t.Fatalf("%d deliveries, want 1", len(got))
	}
	h := got[0].Header
	if h.Get("Content-Type") != "application/jwt" || h.Get("x-fapi-financial-id") != handlers.BankOrgID {
		t.Errorf("headers %v", h)
	}
	if _, err := uuid.Parse(h.Get("x-fapi-interaction-id")); err != nil {
		t.Errorf("x-fapi-interaction-id %q: %v", h.Get("x-fapi-interaction-id"), err)
	}
	claims, kid := s.verifySET(got[0].SET)
	link := testIssuer + ais + "/account-access-consents/" + consent
	ob := s.outbox(client)
	if len(ob) != 1 {
		t.Fatalf("outbox %+v", ob)
	}
	wall := s.app.Clock.Wall().Unix()
	if claims["iss"] != testIssuer || claims["aud"] != client || claims["sub"] != link || claims["jti"] != ob[0].JTI ||
		claims["iat"] != float64(wall) || claims["toe"] != float64(wall) || claims["txn"] == "" {
		t.Errorf("claims %v", claims)
	}
	typ, _, sub := subject(t, claims)
	rlk, _ := sub["http://openbanking.org.uk/rlk"].([]any)
	if typ != typeUpdate || sub["http://openbanking.org.uk/rid"] != consent || sub["http://openbanking.org.uk/rty"] != "account-access-consent" ||
		len(rlk) != 2 || rlk[0].(map[string]any)["link"] != link || rlk[0].(map[string]any)["version"] != "v3.1" ||
		rlk[1].(map[string]any)["version"] != "v4.0" || rlk[1].(map[string]any)["link"] != strings.Replace(link, "/v3.1/", "/v4.0/", 1) {
		// A v3.1 account-access consent is served through v4.0 too: its links in both.
		t.Errorf("event %v", claims["events"])
	}
	if d := ob[0].Deliveries; ob[0].AckedBy != "push" || len(d) != 1 || d[0].State != "delivered" || d[0].Attempts != 1 || d[0].LastStatus != 202 {
		t.Errorf("outbox %+v", ob[0])
	}
	if p := s.poll(cc, map[string]any{}); len(p.Sets) != 0 || p.MoreAvailable {
		t.Errorf("poll after delivery %+v, want nothing awaiting", p)
	}

	expect(t, s.do(req{method: "POST", path: "/sandbox/keys/rotate", token: s.app.Config.AdminToken}), 200)
	s.authorisedConsent(client)
	s.deliverEvents()
	got = rcv.delivered()
	if len(got) != 2 {
		t.Fatalf("%d deliveries, want 2", len(got))
	}
	_, newKid := s.verifySET(got[1].SET)
	if newKid == kid || newKid != s.app.Auth.Keys.KID() {
		t.Errorf("SET after rotation signed by %s, want the new key %s", newKid, s.app.Auth.Keys.KID())
	}
	s.verifySET(got[0].SET) // the old key still verifies
}

// TestEventRetriesWithBackoff: failures (5xx, a dropped connection) are
// retried after 1 s, 2 s, 4 s of sandbox time, never before; every attempt
// sends the same SET; the outbox shows each attempt.
func TestEventRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	s := start(t, frozen())
	rcv := newReceiver(t)
	rcv.setAnswer(func(n int) int { return map[int]int{1: 503, 2: 500, 3: 0}[n] + map[bool]int{true: 202}[n > 3] })
	client, cc := s.eventClient("payments")
	expect(t, s.subscribe(cc, map[string]any{"CallbackUrl": rcv.url(), "Version": "3.1"}), 201)
	s.authorisedConsent(client)

	delivery := func() outboxDelivery {
		t.Helper()
		ob := s.outbox(client)
		if len(ob) != 1 || len(ob[0].Deliveries) != 1 {
			t.Fatalf("outbox %+v", ob)
		}
		return ob[0].Deliveries[0]
	}
	steps := []struct {
		advance  string // "" : none
		attempts int    // the receiver's requests so far
		state    string
		status   int
		next     time.Duration // the retry's time after now; 0: none
	}{
		{"", 1, "pending", 503, time.Second},
		{"", 1, "pending", 503, time.Second}, // not due yet: no attempt
		{"1s", 2, "pending", 500, 2 * time.Second},
		{"1s", 2, "pending", 500, time.Second}, // half way
		{"1s", 3, "pending", 0, 4 * time.Second},
		{"3s", 3, "pending", 0, time.Second},
		{"1s", 4, "delivered", 202, 0},
		{"1h", 4, "delivered", 202, 0}, // delivered: never again
	}
	for i, st := range steps {
		if st.advance != "" {
			s.advance(st.advance)
		}
		s.deliverEvents()
		d := delivery()
		if n := len(rcv.requests()); n != st.attempts || d.Attempts != st.attempts || d.State != st.state || d.LastStatus != st.status {
			t.Fatalf("step %d: receiver saw %d requests; delivery %+v; want %d attempts, %s, last status %d", i, n, d, st.attempts, st.state, st.status)
		}
		if st.status == 0 && d.LastError == "" {
			t.Errorf("step %d: a dropped connection left no error", i)
		}
		if st.next != 0 {
			if want := s.app.Clock.Now().Add(st.next).Format(time.RFC3339Nano); d.NextAttemptAt != want {
				t.Errorf("step %d: next attempt %s, want %s", i, d.NextAttemptAt, want)
			}
		}
	}
	reqs := rcv.requests()
	for _, p := range reqs[1:] {
		if p.SET != reqs[0].SET {
			t.Error("a retry sent another SET")
		}
	}
	if len(rcv.delivered()) != 1 {
		t.Errorf("%d deliveries, want exactly one", len(rcv.delivered()))
	}
}

// TestEventNoLossWhileReceiverDown: while the TPP's endpoint is down for
// hours, events wait and are retried; polling sees them meanwhile (without
// acknowledging them); when the endpoint is back every event arrives
// exactly once.
func TestEventNoLossWhileReceiverDown(t *testing.T) {
	t.Parallel()
	s := start(t, frozen())
	rcv := newReceiver(t)
	rcv.setAnswer(always(0))
	client, cc := s.eventClient("accounts")
	expect(t, s.subscribe(cc, map[string]any{"CallbackUrl": rcv.url(), "Version": "3.1"}), 201)
	var consents []string
	for range 3 {
		consents = append(consents, s.authorisedConsent(client))
	}
	for range 6 {
		s.deliverEvents()
		s.advance("20m")
	}
	if len(rcv.requests()) < 6 || len(rcv.delivered()) != 0 {
		t.Fatalf("%d attempts, %d delivered while down", len(rcv.requests()), len(rcv.delivered()))
	}
	cc = s.clientToken(client, "accounts") // tokens live an hour of sandbox time
	p := s.poll(cc, map[string]any{"returnImmediately": true})
	if len(p.Sets) != 3 || p.MoreAvailable {
		t.Fatalf("poll while down: %+v, want the 3 awaiting events", p)
	}
	rcv.setAnswer(always(http.StatusAccepted))
	s.advance("2h")
	s.deliverEvents()
	got := rcv.delivered()
	if len(got) != 3 {
		t.Fatalf("%d delivered after recovery, want 3", len(got))
	}
	// Each once; not necessarily in creation order: the worker may push a
	// later event whose retry is due while an earlier one still waits for
	// its own (a delivery in backoff does not hold the others back).
	about := map[any]int{}
	for i, g := range got {
		claims, _ := s.verifySET(g.SET)
		_, _, sub := subject(t, claims)
		about[sub["http://openbanking.org.uk/rid"]]++
		if p.Sets[claims["jti"].(string)] != g.SET {
			t.Errorf("delivery %d: the polled SET differs from the pushed one", i)
		}
	}
	for _, id := range consents {
		if about[id] != 1 {
			t.Errorf("consent %s's event delivered %d times after recovery, want once", id, about[id])
		}
	}
	s.advance("1h")
	s.deliverEvents()
	if n := len(rcv.delivered()); n != 3 {
		t.Errorf("%d deliveries after another pass, want still 3 (no duplicates)", n)
	}
	if p := s.poll(s.clientToken(client, "accounts"), map[string]any{}); len(p.Sets) != 0 {
		t.Errorf("poll after recovery: %d sets, want none", len(p.Sets))
	}
}

func withDB(path string) option { return func(c *app.Config) { c.DB = path } }

// TestEventShutdownLosesNothing: the background worker pushes on its own;
// a push under way when the sandbox stops is put back (its attempt not
// counted) and made after the restart; an event committed while the
// endpoint was down survives the restart too.
func TestEventShutdownLosesNothing(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "sandbox.db")
	s := start(t, frozen(), withDB(db))
	rcv := newReceiver(t)
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) }) // after the checks, before the receiver closes: a push never ended cannot hang it
	rcv.mu.Lock()
	rcv.hold = hold
	rcv.mu.Unlock()
	client, cc := s.eventClient("accounts")
	expect(t, s.subscribe(cc, map[string]any{"CallbackUrl": rcv.url(), "Version": "3.1"}), 201)
	consent := s.authorisedConsent(client)
	select {
	case <-rcv.arrivals: // the worker, not a test's pass, is pushing it
	case <-time.After(20 * time.Second):
		t.Fatal("the background worker did not push the event")
	}
	s.stop()
	// The held push stays held: it ends when the stopped sandbox's
	// connection does (never answered); a push after this one is not held.
	// (Releasing it could answer it after the stop, a delivery the stopped
	// sandbox never learnt of.)
	rcv.mu.Lock()
	rcv.hold = nil
	rcv.mu.Unlock()
	if n := len(rcv.delivered()); n != 0 {
		t.Fatalf("%d delivered", n)
	}

	s2 := start(t, frozen(), withDB(db))
	ob := s2.outbox(client)
	if len(ob) != 1 || len(ob[0].Deliveries) != 1 || ob[0].Deliveries[0].State != "pending" || ob[0].Deliveries[0].Attempts != 0 {
		t.Fatalf("after restart: %+v, want the push pending with no attempt counted", ob)
	}
	s2.deliverEvents()
	got := rcv.delivered()
	if len(got) != 1 {
		t.Fatalf("%d delivered after restart, want 1", len(got))
	}
	claims, _ := s2.verifySET(got[0].SET)
	if _, _, sub := subject(t, claims); sub["http://openbanking.org.uk/rid"] != consent {
		t.Errorf("delivered %v", claims)
	}
}

// TestEventDuplicatesOnlyWhenAsked: without the admin every event arrives
// once, however many passes run; the admin's duplicate sends the very same
// SET again, as many times as asked.
func TestEventDuplicatesOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	s := start(t, frozen())
	rcv := newReceiver(t)
	client, cc := s.eventClient("accounts")
	expect(t, s.subscribe(cc, map[string]any{"CallbackUrl": rcv.url(), "Version": "3.1"}), 201)
	for range 3 {
		s.authorisedConsent(client)
	}
	for range 3 {
		s.deliverEvents()
		s.advance("1h")
	}
	count := func() map[string]int {
		n := map[string]int{}
		for _, p := range rcv.delivered() {
			claims, _ := s.verifySET(p.SET)
			n[claims["jti"].(string)]++
		}
		return n
	}
	seen := count()
	if len(seen) != 3 {
		t.Fatalf("jtis delivered %v, want 3 distinct", seen)
	}
	for jti, n := range seen {
		if n != 1 {
			t.Errorf("%s delivered %d times without being asked", jti, n)
		}
	}
	jti := s.outbox(client)[0].JTI
	admin := s.app.Config.AdminToken
	expect(t, s.do(req{method: "POST", path: "/sandbox/events/" + jti + "/duplicate", token: admin}), 201)
	expect(t, s.do(req{method: "POST", path: "/sandbox/events/" + jti + "/duplicate", token: admin, body: map[string]int{"count": 2}}), 201)
	s.deliverEvents()
	seen = count()
	if seen[jti] != 4 {
		t.Errorf("%s delivered %d times, want 1 + 3 duplicates", jti, seen[jti])
	}
	var sets []string
	for _, p := range rcv.delivered() {
		if claims, _ := s.verifySET(p.SET); claims["jti"] == jti {
			sets = append(sets, p.SET)
		}
	}
	for _, set := range sets[1:] {
		if set != sets[0] {
			t.Error("a duplicate is not byte for byte the original SET")
		}
	}

	tests := []struct {
		name   string
		path   string
		token  string
		body   any
		status int
	}{
		{"ErrNoAdminToken", "/sandbox/events/" + jti + "/duplicate", "", nil, 401},
		{"ErrUnknownEvent", "/sandbox/events/nope/duplicate", admin, nil, 404},
		{"ErrCount", "/sandbox/events/" + jti + "/duplicate", admin, map[string]int{"count": 11}, 400},
		{"ErrUnknownField", "/sandbox/events/" + jti + "/duplicate", admin, map[string]int{"times": 2}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(req{method: "POST", path: tt.path, token: tt.token, body: tt.body})
			expect(t, r, tt.status)
			var e struct{ Error string }
			r.JSON(t, &e)
			if e.Error == "" {
				t.Errorf("no RFC 6749 error in %s", r.Body)
			}
		})
	}
	s.deliverEvents()
	if got := count()[jti]; got != 4 {
		t.Errorf("refused duplicates were sent: %d", got)
	}

	// A polling-only client has nothing to push to.
	pollClient, pollCC := s.eventClient("accounts")
	expect(t, s.subscribe(pollCC, map[string]any{"Version": "3.1"}), 201)
	s.authorisedConsent(pollClient)
	expect(t, s.do(req{method: "POST", path: "/sandbox/events/" + s.outbox(pollClient)[0].JTI + "/duplicate", token: admin}), 409)
}

// TestEventAdminDelayAndReorder: the admin fires test events, delays a
// push on the sandbox clock, and holds a client's pushes to release them
// newest first.
func TestEventAdminDelayAndReorder(t *testing.T) {
	t.Parallel()
	s := start(t, frozen())
	rcv := newReceiver(t)
	admin := s.app.Config.AdminToken
	client, cc := s.eventClient("accounts")
	expect(t, s.subscribe(cc, map[string]any{"CallbackUrl": rcv.url(), "Version": "3.1", "EventTypes": []string{"UK.OBIE.Consent-Authorization-Revoked"}}), 201)
	consent := s.authorisedConsent(client) // resource-update: filtered out
	if ob := s.outbox(client); len(ob) != 0 {
		t.Fatalf("the subscription's filter let through %+v", ob)
	}

	// Fire with a delay: nothing until 30 s of sandbox time have passed.
	e := s.fire(map[string]any{"consent_id": consent, "type": "UK.OBIE.Account-Access-Consent-Linked-Account-Update",
		"reason": "UK.OBIE.AccountClosure", "delay": "30s"})
	if e.Type != typeLinkedUpdate || e.ClientID != client || e.ResourceID != consent || e.SET == "" || e.Cause != "fired by the administrator" {
		t.Fatalf("fired %+v", e)
	}
	s.deliverEvents()
	s.advance("29s")
	s.deliverEvents()
	if n := len(rcv.requests()); n != 0 {
		t.Fatalf("%d pushes before the delay ran out", n)
	}
	s.advance("1s")
	s.deliverEvents()
	got := rcv.delivered()
	if len(got) != 1 || got[0].SET != e.SET {
		t.Fatalf("%d delivered after the delay, want the fired SET", len(got))
	}
	claims, _ := s.verifySET(got[0].SET)
	if typ, ev, sub := subject(t, claims); typ != typeLinkedUpdate || ev["reason"] != "UK.OBIE.AccountClosure" ||
		sub["http://openbanking.org.uk/rty"] != "account-access-consent" {
		t.Errorf("fired event %v", claims["events"])
	}

	// Delay an already waiting push (fired a second ahead on the frozen
	// sandbox clock, so that the background delivery cannot push it
	// before the test delays it).
	e = s.fire(map[string]any{"consent_id": consent, "client_id": client, "type": typeRevoked, "delay": "1s"})
	expect(t, s.do(req{method: "POST", path: "/sandbox/events/" + e.JTI + "/delay", token: admin, body: map[string]string{"delay": "1h"}}), 200)
	s.deliverEvents()
	s.advance("59m")
	s.deliverEvents()
	if n := len(rcv.delivered()); n != 1 {
		t.Fatalf("a delayed push went early (%d delivered)", n)
	}
	s.advance("1m")
	s.deliverEvents()
	if n := len(rcv.delivered()); n != 2 {
		t.Fatalf("%d delivered after the delay, want 2", n)
	}
	r := s.do(req{method: "POST", path: "/sandbox/events/" + e.JTI + "/delay", token: admin, body: map[string]string{"delay": "1h"}})
	expect(t, r, 409) // delivered: nothing waits

	// Hold, fire three, release newest first.
	var held struct{ Held int }
	s.do(req{method: "POST", path: "/sandbox/events/hold", token: admin, body: map[string]string{"client_id": client}}).JSON(t, &held)
	var fired []string
	for range 3 {
		fired = append(fired, s.fire(map[string]any{"consent_id": consent, "type": typeRevoked}).JTI)
	}
	s.deliverEvents()
	if n := len(rcv.delivered()); n != 2 {
		t.Fatalf("held pushes went out (%d delivered)", n)
	}
	var rel struct{ Released int }
	s.do(req{method: "POST", path: "/sandbox/events/release", token: admin, body: map[string]string{"client_id": client, "order": "reverse"}}).JSON(t, &rel)
	if rel.Released != 3 {
		t.Errorf("released %d, want 3", rel.Released)
	}
	s.deliverEvents()
	got = rcv.delivered()[2:]
	if len(got) != 3 {
		t.Fatalf("%d delivered after release, want 3", len(got))
	}
	for i, g := range got {
		claims, _ := s.verifySET(g.SET)
		if claims["jti"] != fired[2-i] {
			t.Errorf("release position %d: %v, want %s (newest first)", i, claims["jti"], fired[2-i])
		}
	}

	tests := []struct {
		name   string
		path   string
		token  string
		body   any
		status int
	}{
		{"ErrNoAdminToken", "/sandbox/events/fire", "", map[string]any{"consent_id": consent}, 401},
		{"ErrNoResource", "/sandbox/events/fire", admin, map[string]any{}, 400},
		{"ErrBothResources", "/sandbox/events/fire", admin, map[string]any{"consent_id": consent, "payment_id": "dp-1"}, 400},
		{"ErrUnknownConsent", "/sandbox/events/fire", admin, map[string]any{"consent_id": "aac-nope"}, 404},
		{"ErrUnknownType", "/sandbox/events/fire", admin, map[string]any{"consent_id": consent, "type": "UK.OBIE.Nope"}, 400},
		{"ErrAnotherClient", "/sandbox/events/fire", admin, map[string]any{"consent_id": consent, "client_id": "someone-else"}, 400},
		{"ErrBadDelay", "/sandbox/events/fire", admin, map[string]any{"consent_id": consent, "delay": "-5s"}, 400},
		{"ErrReasonOnResourceUpdate", "/sandbox/events/fire", admin, map[string]any{"consent_id": consent, "reason": "UK.OBIE.CASS"}, 400},
		{"ErrUnknownPayment", "/sandbox/events/fire", admin, map[string]any{"payment_id": "dp-nope", "type": typeLinkedUpdate}, 404},
		{"ErrDelayBadValue", "/sandbox/events/" + e.JTI + "/delay", admin, map[string]string{"delay": "soon"}, 400},
		{"ErrHoldUnknownClient", "/sandbox/events/hold", admin, map[string]string{"client_id": "nobody"}, 404},
		{"ErrReleaseOrder", "/sandbox/events/release", admin, map[string]string{"client_id": client, "order": "random"}, 400},
	}
	before := len(s.outbox(client))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(req{method: "POST", path: tt.path, token: tt.token, body: tt.body})
			expect(t, r, tt.status)
			var e struct{ Error string }
			r.JSON(t, &e)
			if e.Error == "" {
				t.Errorf("no RFC 6749 error in %s", r.Body)
			}
		})
	}
	if after := len(s.outbox(client)); after != before {
		t.Errorf("refused admin requests added %d events", after-before)
	}
}

// TestEventPolling: aggregated polling for a subscription without a
// callback: maxEvents and moreAvailable, ack, setErrs (the event stays
// awaiting), ack-only polls, and one client never sees or acknowledges
// another's events. Nothing is pushed.
func TestEventPolling(t *testing.T) {
	t.Parallel()
	s := start(t, frozen())
	client, cc := s.eventClient("fundsconfirmations")
	other, otherCC := s.eventClient("accounts")
	expect(t, s.subscribe(cc, map[string]any{"Version": "3.1"}), 201)
	expect(t, s.subscribe(otherCC, map[string]any{"Version": "3.1"}), 201)
	var consents []string
	for range 3 {
		consents = append(consents, s.authorisedConsent(client))
	}
	s.authorisedConsent(other)

	p := s.poll(cc, map[string]any{"maxEvents": 2, "returnImmediately": false})
	if len(p.Sets) != 2 || !p.MoreAvailable {
		t.Fatalf("first poll %+v, want 2 and more", p)
	}
	var first []string
	for jti, set := range p.Sets {
		claims, _ := s.verifySET(set)
		if claims["jti"] != jti || claims["aud"] != client {
			t.Errorf("set %s has claims %v", jti, claims)
		}
		_, _, sub := subject(t, claims)
		if rid := sub["http://openbanking.org.uk/rid"]; rid != consents[0] && rid != consents[1] {
			t.Errorf("first poll returned %v, want the two oldest", rid)
		}
		first = append(first, jti)
	}
	// The other client cannot acknowledge them.
	if op := s.poll(otherCC, map[string]any{"ack": first}); len(op.Sets) != 1 {
		t.Errorf("the other client's poll: %+v, want its own one event", op)
	}
	// Ack only.
	p = s.poll(cc, map[string]any{"ack": first, "maxEvents": 0})
	if len(p.Sets) != 0 || !p.MoreAvailable {
		t.Fatalf("ack-only poll %+v, want no sets and more available", p)
	}
	p = s.poll(cc, map[string]any{})
	if len(p.Sets) != 1 || p.MoreAvailable {
		t.Fatalf("third poll %+v, want the last one", p)
	}
	var last string
	for jti := range p.Sets {
		last = jti
	}
	// A negative acknowledgement keeps it awaiting.
	p = s.poll(cc, map[string]any{"setErrs": map[string]any{last: map[string]string{"err": "jwtAud", "description": "wrong audience"}}})
	if _, ok := p.Sets[last]; !ok {
		t.Fatalf("an event reported in setErrs is no longer returned: %+v", p)
	}
	if ob := s.outbox(client); ob[0].JTI != last || len(ob[0].Deliveries) != 0 {
		t.Errorf("outbox %+v: want no push deliveries for a polling-only client", ob[0])
	}
	p = s.poll(cc, map[string]any{"ack": []string{last, "unknown-jti"}})
	if len(p.Sets) != 0 || p.MoreAvailable {
		t.Errorf("final poll %+v, want nothing", p)
	}
}

// TestEventsFromPaymentsAndRevocation drives real journeys with the
// reference TPP: a domestic payment's consent and order statuses, as they
// change, reach the TPP's endpoint as resource-update events; a PSU's
// revocation of an AIS consent as consent-authorization-revoked.
func TestEventsFromPaymentsAndRevocation(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	rcv := newReceiver(t)
	c := s.newTPP("private_key_jwt")
	cc, err := c.ClientCredentials(ctx, "payments")
	if err != nil {
		t.Fatal(err)
	}
	expect(t, s.subscribe(cc, map[string]any{"CallbackUrl": rcv.url(), "Version": "3.1",
		"EventTypes": []string{"UK.OBIE.Resource-Update", "UK.OBIE.Consent-Authorization-Revoked"}}), 201)
	payment, _, err := c.PaymentJourney(ctx, "alice", "alice123", tpp.DomesticInitiation("12.34", payee, "EVENTS"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.advance("5s") // settles it
	toks, aisConsent, err := c.AISJourney(ctx, "alice", "alice123", []string{"ReadAccountsBasic"}, nil)
	if err != nil || toks == nil {
		t.Fatal(err)
	}
	expect(t, s.do(req{method: "POST", path: "/sandbox/psu/revoke", body: map[string]string{"username": "alice", "password": "alice123",
		"consent_id": aisConsent}}), 204)
	s.deliverEvents()

	type seen struct{ typ, rty, rid string }
	var got []seen
	for _, p := range rcv.delivered() {
		claims, _ := s.verifySET(p.SET)
		if claims["aud"] != c.ClientID {
			t.Errorf("aud %v, want %s", claims["aud"], c.ClientID)
		}
		typ, _, sub := subject(t, claims)
		got = append(got, seen{typ, sub["http://openbanking.org.uk/rty"].(string), sub["http://openbanking.org.uk/rid"].(string)})
	}
	if len(got) != 6 {
		t.Fatalf("events %+v, want 6", got)
	}
	pc := got[0].rid
	want := []seen{
		{typeUpdate, "domestic-payment-consent", pc}, // Authorised
		{typeUpdate, "domestic-payment-consent", pc}, // Consumed
		{typeUpdate, "domestic-payment", payment},    // AcceptedSettlementInProcess
		{typeUpdate, "domestic-payment", payment},    // AcceptedSettlementCompleted
		{typeUpdate, "account-access-consent", aisConsent},
		{typeRevoked, "account-access-consent", aisConsent},
	}
	if !slices.Equal(got, want) {
		t.Errorf("events\n got %+v\nwant %+v", got, want)
	}
	causes := map[string]bool{}
	for _, e := range s.outbox(c.ClientID) {
		causes[e.Cause] = true
	}
	for _, cause := range []string{"status AwaitingAuthorisation -> Authorised", "status Authorised -> Consumed",
		"status Pending -> AcceptedSettlementInProcess", "status AcceptedSettlementInProcess -> AcceptedSettlementCompleted",
		"access revoked by the PSU"} {
		if !causes[cause] {
			t.Errorf("no event caused by %q in %v", cause, causes)
		}
	}
}
