package trainer

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/pki"
	"github.com/obsandbox/sandbox/internal/store"
	"github.com/obsandbox/sandbox/internal/tpp"
)

// The trainer view (SPEC §8): a page that shows, live, every decision the
// bank makes (from the audit stream), and runs the reference TPP's journeys
// one step at a time, showing each request and response.

func (s *Server) mountTrainer(e *echo.Echo) {
	s.journeys = &journeys{byID: map[string]*journey{}}
	e.GET("/trainer", s.trainerPage, trainerHeaders)
	e.GET("/trainer/incidents", s.incidentsPage, trainerHeaders)
	e.GET("/trainer/stream", s.trainerStream)
	e.POST("/trainer/journeys", s.startJourney)
	e.POST("/trainer/journeys/:id/next", s.nextStep)
	s.mountFlow(e)
}

// trainerHeaders are the PSU pages' headers, plus the page's own script and
// its calls back to the sandbox.
func trainerHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return httpx.PageHeaders(func(c echo.Context) error {
		c.Response().Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		return next(c)
	})
}

func (s *Server) trainerPage(c echo.Context) error {
	return s.Page(c, http.StatusOK, "trainer.html", map[string]any{"Title": "Trainer view", "Profile": s.Cfg.Profile,
		"AdminForJourneys": oauth.Strict(s.Cfg.Profile), "Window": s.windowRedirect() != ""})
}

// trainerStream sends committed audit entries as Server-Sent Events: those of
// one journey (?journey=ID — the id is the capability), or, with the admin
// token, every decision the bank makes.
func (s *Server) trainerStream(c echo.Context) error {
	var show func(store.AuditEntry) bool
	if id := c.QueryParam("journey"); id != "" {
		j := s.journeys.get(id)
		if j == nil {
			return errNoJourney
		}
		show = j.owns
	} else if s.IsAdmin(c.Request()) {
		show = func(store.AuditEntry) bool { return true }
	} else {
		return &oauth.Error{Status: http.StatusUnauthorized, Code: "invalid_token", Challenge: `Bearer realm="sandbox"`,
			Description: "watching every decision needs the admin token; a journey's own decisions need ?journey=<id>"}
	}
	if s.Auditor == nil {
		return c.NoContent(http.StatusNotFound)
	}
	// A stream outlives the server's write timeout; it ends with the server.
	rc := http.NewResponseController(c.Response())
	_ = rc.SetWriteDeadline(time.Time{})
	h := c.Response().Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	c.Response().WriteHeader(http.StatusOK)
	c.Response().Flush()
	entries, cancel := s.Auditor.Subscribe()
	defer cancel()
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-c.Request().Context().Done():
			return nil
		case <-s.Deps.Stopping:
			return nil
		case <-ping.C:
			fmt.Fprint(c.Response(), ": ping\n\n")
		case e := <-entries:
			if !show(e) {
				continue
			}
			b, err := json.Marshal(e)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.Response(), "event: decision\ndata: %s\n\n", b)
		}
		c.Response().Flush()
	}
}

// exchange is one HTTP request and answer of a journey step: an arrow of
// the sequence diagram, from the actor that sent it to the one that
// answered, with the bank's decision on it.
type exchange struct {
	Method        string `json:"method"`
	URL           string `json:"url"`
	Request       string `json:"request,omitempty"`
	Status        int    `json:"status"`
	Response      string `json:"response,omitempty"`
	Signed        bool   `json:"signed,omitempty"` // the answer carried x-jws-signature
	DPoP          string `json:"dpop,omitempty"`   // the request's DPoP proof, decoded
	From          string `json:"from"`
	To            string `json:"to"`
	Decision      string `json:"decision,omitempty"` // the bank's: allowed or refused
	Rule          string `json:"rule,omitempty"`     // the rule that decided
	InteractionID string `json:"interaction_id,omitempty"`
}

// decoded is a JWT a step shows decoded (a request object, a JARM
// response, an ID or access token): its header and claims, and what each
// claim means.
type decoded struct {
	Title    string            `json:"title"`
	JWT      string            `json:"jwt"` // header and claims as JSON
	Header   map[string]any    `json:"header,omitempty"`
	Claims   map[string]any    `json:"claims,omitempty"`
	Meanings map[string]string `json:"meanings,omitempty"`
}

// step is one step of a journey: what it teaches and how to run it.
type step struct {
	Title   string `json:"title"`
	Explain string `json:"explain"`
	run     func(ctx context.Context, j *journey) (string, error)
}

// stepView is a step as the page lists it.
type stepView struct {
	Title   string `json:"title"`
	Explain string `json:"explain"`
	// PSU: the PSU acts in this step, in a second window on the bank's
	// own pages (window mode): the page opens it.
	PSU bool `json:"psu,omitempty"`
}

// journey is a reference TPP going through a journey, one step per click.
type journey struct {
	id        string
	kind, psu string
	version   string // the UK OB version the journey calls
	mode      string // how the PSU decides: modeWindow or modeHeadless
	steps     []step

	mu      sync.Mutex // held while a step runs
	next    int
	c       *tpp.Client
	log     []exchange
	decoded []decoded // what the current step shows decoded
	// state carried between steps
	cc, token  string
	auth       *tpp.Authorization
	redirectTo string
	initiation map[string]any
	ciba       *tpp.CIBARequest
	polledAt   time.Time // sandbox time of the last CIBA poll

	consent string
	refresh string          // the refresh token of a long-lived consent
	vrp     *tpp.VRPConsent // a VRP journey's mandate, as created
	code    string          // the authorization code, once exchanged
	payment string          // the last payment made
	visited []string        // the states the consent has been seen in
	// callback takes the authorization response the PSU's window comes
	// back with (window mode); psuRec records the bank's decisions from
	// before the window opens.
	callback chan string
	psuRec   *recorder
	// Berlin Group journeys (berlin.go)
	bg        *tpp.Berlin
	bgStarted *tpp.Started

	idsMu        sync.Mutex      // the stream and the payment view read these while a step runs
	interactions map[string]bool // x-fapi-interaction-id of every request the journey sent
}

// setPayment remembers the journey's last payment, which the payment view
// reads while a step may run.
func (j *journey) setPayment(id string) {
	j.idsMu.Lock()
	defer j.idsMu.Unlock()
	j.payment = id
}

// approveTitle is the title of the step where the PSU decides at the bank.
const approveTitle = "The PSU logs in and approves"

// psuAt reports whether the PSU acts at step i in a second window.
func (j *journey) psuAt(i int) bool { return j.mode == modeWindow && j.steps[i].Title == approveTitle }

// owns reports whether an audit entry is this journey's: it names the
// interaction id of one of its requests (remembered before the request is
// sent, so no entry arrives before the journey knows it).
func (j *journey) owns(e store.AuditEntry) bool {
	j.idsMu.Lock()
	defer j.idsMu.Unlock()
	return j.interactions[e.InteractionID]
}

// roundTrip sends each of the journey's requests with an interaction id it
// remembers.
func (j *journey) roundTrip(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		id := uuid.NewString()
		j.idsMu.Lock()
		j.interactions[id] = true
		j.idsMu.Unlock()
		r = r.Clone(r.Context())
		r.Header.Set("x-fapi-interaction-id", id)
		return next.RoundTrip(r)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// journeys keeps the last maxJourneys journeys started from the page.
type journeys struct {
	mu    sync.Mutex
	byID  map[string]*journey
	order []string
	// awaiting are the journeys whose PSU is at the bank's pages, by the
	// state of their authorization request.
	awaiting map[string]*journey
}

const maxJourneys = 64

var errNoJourney = &oauth.Error{Status: http.StatusNotFound, Code: "not_found", Description: "no such journey; start another"}

func (js *journeys) add(j *journey) {
	js.mu.Lock()
	defer js.mu.Unlock()
	js.byID[j.id] = j
	js.order = append(js.order, j.id)
	if len(js.order) > maxJourneys {
		delete(js.byID, js.order[0])
		js.order = js.order[1:]
	}
}

func (js *journeys) get(id string) *journey {
	js.mu.Lock()
	defer js.mu.Unlock()
	return js.byID[id]
}

// await makes j the journey an authorization response with this state
// goes to, until the returned function is called.
func (js *journeys) await(state string, j *journey) func() {
	js.mu.Lock()
	defer js.mu.Unlock()
	if js.awaiting == nil {
		js.awaiting = map[string]*journey{}
	}
	js.awaiting[state] = j
	return func() {
		js.mu.Lock()
		defer js.mu.Unlock()
		delete(js.awaiting, state)
	}
}

// byState is the journey awaiting an authorization response with this
// state, or nil.
func (js *journeys) byState(state string) *journey {
	js.mu.Lock()
	defer js.mu.Unlock()
	return js.awaiting[state]
}

func (s *Server) startJourney(c echo.Context) error {
	if oauth.Strict(s.Cfg.Profile) && !s.IsAdmin(c.Request()) {
		return &oauth.Error{Status: http.StatusUnauthorized, Code: "invalid_token", Challenge: `Bearer realm="sandbox"`,
			Description: "in the fapi profile a journey mints a certificate and a software statement: it needs the admin token"}
	}
	var r struct {
		Kind    string `json:"kind"` // accounts | payment | ciba | vrp
		PSU     string `json:"psu"`
		Version string `json:"version"` // 3.1 (default) | 4.0
		// PSUMode: window — the PSU logs in and decides on the bank's own
		// pages in a second window — or headless (the default).
		PSUMode string `json:"psu_mode"`
	}
	if err := httpx.BindStrict(c, &r); err != nil {
		return err
	}
	if r.Kind != "accounts" && r.Kind != "payment" && r.Kind != "ciba" && r.Kind != "vrp" {
		return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "kind is accounts, payment, ciba or vrp"}
	}
	if r.PSU == "" {
		r.PSU = "alice"
	}
	if r.Version == "" {
		r.Version = "3.1"
	}
	if r.Version != "3.1" && r.Version != "4.0" && r.Version != berlinVersion {
		return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "version is 3.1, 4.0 or berlin-group"}
	}
	switch r.PSUMode {
	case "", modeHeadless:
		r.PSUMode = modeHeadless
	case modeWindow:
		if s.windowRedirect() == "" {
			return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request",
				Description: "the PSU cannot come back to this sandbox's trainer page in this profile (its redirect URI would be refused): use psu_mode headless"}
		}
	default:
		return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "psu_mode is window or headless"}
	}
	ctx := c.Request().Context()
	if _, err := s.Store.PSU(ctx, r.PSU); err != nil {
		return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "no test PSU " + strconv.Quote(r.PSU)}
	}
	if r.Kind == "ciba" || r.Version == berlinVersion { // their PSU acts headlessly (in the bank's app, or at its pages)
		r.PSUMode = modeHeadless
	}
	if r.PSUMode == modeHeadless && s.psuPassword(ctx, r.PSU) == "" { // the sandbox acts as the PSU
		return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request",
			Description: "the bank keeps only a hash of " + strconv.Quote(r.PSU) + "'s password (a PSU added at run time): run the journey with psu_mode window and log in as them"}
	}
	j := &journey{id: uuid.NewString(), kind: r.Kind, psu: r.PSU, version: r.Version, mode: r.PSUMode, interactions: map[string]bool{},
		callback: make(chan string, 1)}
	j.steps = s.journeySteps(j)
	s.journeys.add(j)
	views := make([]stepView, len(j.steps))
	for i, st := range j.steps {
		views[i] = stepView{Title: st.Title, Explain: st.Explain, PSU: j.psuAt(i)}
	}
	return c.JSON(http.StatusCreated, map[string]any{"id": j.id, "steps": views, "psu_mode": j.mode})
}

func (s *Server) nextStep(c echo.Context) error {
	j := s.journeys.get(c.Param("id"))
	if j == nil {
		return errNoJourney
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.next >= len(j.steps) {
		return c.JSON(http.StatusOK, map[string]any{"done": true})
	}
	st := j.steps[j.next]
	j.log, j.decoded = nil, nil
	wait := 30 * time.Second
	if j.psuAt(j.next) {
		// The PSU takes their time in the other window: this answer waits
		// for them, past the server's write timeout.
		wait = psuWait
		_ = http.NewResponseController(c.Response()).SetWriteDeadline(time.Time{})
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), wait)
	defer cancel()
	rec := j.psuRec // started with the previous step, before the PSU's window opened
	if rec == nil {
		rec = s.record()
	}
	j.psuRec = nil
	result, err := st.run(ctx, j)
	s.decide(j, rec.finish(s.FlushAudit), j.psuAt(j.next))
	out := map[string]any{"index": j.next, "title": st.Title, "explain": st.Explain, "exchanges": j.log, "result": result, "decoded": j.decoded}
	if err != nil {
		out["error"] = err.Error()
	} else {
		j.next++
	}
	out["done"] = j.next >= len(j.steps)
	s.recordPSU(j)
	s.flowState(context.WithoutCancel(ctx), j, out)
	return c.JSON(http.StatusOK, out)
}

// trainerTPP makes the reference TPP the page drives: it talks to this
// sandbox over HTTP like any TPP; in fapi it gets a certificate and a
// software statement straight from the sandbox.
func (s *Server) trainerTPP(ctx context.Context, j *journey) error {
	hc := &http.Client{Timeout: 30 * time.Second}
	var cert *pki.Issued
	if s.Deps.CA != nil {
		tc := &tls.Config{RootCAs: s.Deps.CA.Pool()}
		if oauth.Strict(s.Cfg.Profile) {
			var err error
			if cert, err = s.Deps.CA.Issue(ctx, pki.Request{CommonName: "trainer-tpp", Organisation: "Trainer TPP Ltd"}, s.Clock.Wall()); err != nil {
				return err
			}
			pair, err := tls.X509KeyPair(cert.CertPEM, cert.KeyPEM)
			if err != nil {
				return err
			}
			tc.Certificates = []tls.Certificate{pair}
		}
		hc.Transport = &http.Transport{TLSClientConfig: tc}
	}
	if hc.Transport == nil {
		hc.Transport = http.DefaultTransport
	}
	hc.Transport = j.roundTrip(hc.Transport)
	trace := func(req *http.Request, reqBody []byte, resp *http.Response, body []byte) {
		x := exchange{Method: req.Method, URL: req.URL.String(), Request: clip(reqBody), Status: resp.StatusCode,
			Response: clip(body), Signed: resp.Header.Get("x-jws-signature") != "",
			InteractionID: cmp.Or(req.Header.Get("x-fapi-interaction-id"), resp.Header.Get("x-fapi-interaction-id"))}
		if proof := req.Header.Get("DPoP"); proof != "" {
			x.DPoP = tpp.DecodeJWT(proof)
		}
		j.log = append(j.log, x)
	}
	redirect := cmp.Or(s.windowRedirect(), "https://trainer.example/callback") // where the PSU's window comes back, where it can
	key, err := s.key()
	if err != nil {
		return err
	}
	c, err := tpp.New(ctx, s.Cfg.Issuer, redirect, tpp.WithHTTPClient(hc), tpp.WithClock(s.Clock.Wall), tpp.WithKey(key))
	if err != nil {
		return err
	}
	c.Trace, c.Name, c.Version = trace, "Trainer's budgeting app", j.version
	j.c = c
	if s.Cfg.Profile == oauth.ProfileFAPI2 {
		if err := c.UseDPoP(); err != nil { // FAPI 2.0: DPoP-bound tokens
			return err
		}
	}
	if oauth.Strict(s.Cfg.Profile) {
		ssa, err := s.Auth.IssueSoftwareStatement(oauth.SoftwareStatement{SoftwareClientName: c.Name,
			SoftwareRedirectURIs: []string{c.RedirectURI}, SoftwareRoles: []string{"AISP", "PISP"}, SoftwareJWKS: ptr(c.JWKS())})
		if err != nil {
			return err
		}
		return c.RegisterJWT(ctx, ssa)
	}
	return c.Register(ctx, "private_key_jwt")
}

func ptr[T any](v T) *T { return &v }

func clip(b []byte) string {
	s := string(b)
	if len(s) > 4000 {
		s = s[:4000] + "\n…"
	}
	return s
}

func (s *Server) journeySteps(j *journey) []step {
	if j.version == berlinVersion {
		return s.berlinSteps(j)
	}
	register := step{"Register the app", "The TPP registers with the bank (dynamic client registration, RFC 7591): its redirect URI and its public keys. It gets a client_id.",
		func(ctx context.Context, j *journey) (string, error) {
			if err := s.trainerTPP(ctx, j); err != nil {
				return "", err
			}
			return "client_id " + j.c.ClientID, nil
		}}
	token := func(scope string) step {
		return step{"Get a client-credentials token", "The app proves who it is with a signed client assertion (private_key_jwt) and gets a token to create consents — not to read data.",
			func(ctx context.Context, j *journey) (string, error) {
				var err error
				j.cc, err = j.c.ClientCredentials(ctx, scope)
				return "a token with scope " + scope, err
			}}
	}
	flow, authExplain, codeExplain := s.trainerFlow()
	authorize := step{"Send the PSU to the bank", authExplain,
		func(ctx context.Context, j *journey) (string, error) {
			scope := "openid accounts"
			if j.kind == "payment" || j.kind == "vrp" {
				scope = "openid payments"
			}
			o := flow
			o.Scope = scope
			var err error
			j.auth, err = j.c.Authorize(ctx, j.consent, o)
			if err != nil {
				return "", err
			}
			if ro := requestObject(j); ro != "" {
				j.decoded = append(j.decoded, decode("The signed request object, decoded", ro))
			}
			return j.auth.URL, nil
		}}
	approve := step{approveTitle, "The PSU (" + j.psu + ") logs in at the bank, sees what the app asks for in plain words, picks the accounts and approves. (Headless here: the sandbox acts as the PSU with POST /sandbox/psu/authorize.)",
		func(ctx context.Context, j *journey) (string, error) {
			var err error
			j.redirectTo, err = j.c.Headless(ctx, j.auth, j.psu, s.psuPassword(ctx, j.psu), "approve", nil)
			return j.redirectTo, err
		}}
	if j.mode == modeWindow {
		approve = step{approveTitle, "A second window opens on the bank's own pages: the PSU (" + j.psu + ") logs in, sees what the app asks for in plain words, picks the accounts and approves. The bank then sends the PSU's browser back to the app's redirect URI with the code; this step waits for that.",
			func(ctx context.Context, j *journey) (string, error) { return s.approveInWindow(ctx, j) }}
	}
	exchangeCode := step{"Exchange the code for tokens", codeExplain,
		func(ctx context.Context, j *journey) (string, error) {
			code, err := j.c.Callback(ctx, j.auth, j.redirectTo)
			if err != nil {
				return "", err
			}
			if j.auth.JARM != "" {
				j.decoded = append(j.decoded, decode("The signed authorization response (JARM), decoded", j.auth.JARM))
			}
			toks, err := j.c.Exchange(ctx, j.auth, code)
			if err != nil {
				return "", err
			}
			j.code = code
			j.token, j.refresh = toks.AccessToken, toks.RefreshToken
			if id, ok := toks.Extra("id_token").(string); ok && id != "" {
				j.decoded = append(j.decoded, decode("The ID token, decoded", id))
			}
			j.decoded = append(j.decoded, decode("The access token, decoded", j.token))
			return "an access token (" + toks.Type() + ") for consent " + j.consent, nil
		}}
	// read is a step that GETs a path with the journey's token and expects a status.
	read := func(title, explain string, path func(*journey) string, status int, result string) step {
		return step{title, explain, func(ctx context.Context, j *journey) (string, error) {
			return result, j.c.Call(ctx, http.MethodGet, path(j), "", j.token, nil, status, nil)
		}}
	}
	accountConsent := step{"Create an account-access consent", "The app asks the bank for a consent: which data (permissions) and until when. It is AwaitingAuthorisation until the PSU decides.",
		func(ctx context.Context, j *journey) (string, error) {
			id, err := j.c.AccountConsent(ctx, j.cc, []string{"ReadAccountsDetail", "ReadBalances", "ReadTransactionsBasic",
				"ReadTransactionsCredits", "ReadTransactionsDebits"}, nil)
			j.consent = id
			return id, err
		}}
	readData := step{"Read the accounts and balances", "With the token the app reads exactly what was consented to — the accounts the PSU picked, then their balances: the bank checks the token, the consent, the accounts and the permissions on every call.",
		readAccounts}
	if j.kind == "ciba" {
		return []step{register, token("accounts"), accountConsent,
			{"Ask the bank to reach the PSU", "No redirect: the app sends the bank a signed authentication request (CIBA) naming the PSU (login_hint) and the consent, with a short binding message the PSU will see on both screens. The bank answers with an auth_req_id.",
				func(ctx context.Context, j *journey) (string, error) {
					var err error
					j.ciba, err = j.c.BackchannelAuthorize(ctx, j.consent, tpp.CIBAOptions{LoginHint: j.psu, BindingMessage: "TRAIN-" + j.id[:4]})
					if err != nil {
						return "", err
					}
					j.decoded = append(j.decoded, decode("The signed authentication request, decoded", j.ciba.Request))
					return fmt.Sprintf("auth_req_id %s: poll every %d s, expires in %d s", j.ciba.AuthReqID, j.ciba.Interval, j.ciba.ExpiresIn), nil
				}},
			{"Poll before the PSU decides", "The app asks the token endpoint for the tokens. The PSU has not decided: authorization_pending. Polling again sooner than the interval would get slow_down (and a longer interval).",
				func(ctx context.Context, j *journey) (string, error) {
					_, err := j.c.PollCIBA(ctx, j.ciba.AuthReqID)
					j.polledAt = s.Clock.Now()
					var te *tpp.TokenError
					if !errors.As(err, &te) || te.Code != "authorization_pending" {
						return "", fmt.Errorf("want authorization_pending, got %v", err)
					}
					return "authorization_pending, as expected", nil
				}},
			{"The PSU approves on their phone", "The PSU (" + j.psu + ") sees the request in the bank's app — here the connected-apps page, or headlessly as now — checks the binding message and approves. Nothing goes to the TPP's redirect URI.",
				func(ctx context.Context, j *journey) (string, error) {
					return "approved", j.c.HeadlessCIBA(ctx, j.ciba.AuthReqID, j.psu, s.psuPassword(ctx, j.psu), "approve", nil)
				}},
			{"Collect the tokens", "After waiting the interval, the app polls again and gets the tokens: an access token bound to the consent, an ID token, a refresh token.",
				func(ctx context.Context, j *journey) (string, error) {
					if wait := time.Duration(j.ciba.Interval)*time.Second - s.Clock.Now().Sub(j.polledAt); wait > 0 {
						select {
						case <-time.After(wait):
						case <-ctx.Done():
							return "", ctx.Err()
						}
					}
					toks, err := j.c.PollCIBA(ctx, j.ciba.AuthReqID)
					if err != nil {
						return "", err
					}
					j.token = toks.AccessToken
					j.decoded = append(j.decoded, decode("The access token, decoded", j.token))
					return "an access token (" + toks.Type() + ") for consent " + j.consent, nil
				}},
			readData,
		}
	}
	if j.kind == "vrp" {
		return append([]step{register, token("payments")}, vrpSteps(authorize, approve, exchangeCode)...)
	}
	if j.kind == "accounts" {
		return []step{register, token("accounts"), accountConsent,
			authorize, approve, exchangeCode, readData,
			read("Try to read beyond the consent", "The consent has no ReadBeneficiaries permission: the bank refuses (403) and says which rule decided.",
				func(*journey) string { return j.c.API() + "/aisp/beneficiaries" }, http.StatusForbidden, "refused as expected"),
			{"Revoke the consent", "The app deletes the consent (the PSU could also revoke it at the bank): the token stops working at once — the next call gets 401.",
				func(ctx context.Context, j *journey) (string, error) {
					if err := j.c.Call(ctx, http.MethodDelete, j.c.API()+"/aisp/account-access-consents/"+j.consent, "", j.cc, nil, http.StatusNoContent, nil); err != nil {
						return "", err
					}
					err := j.c.Call(ctx, http.MethodGet, j.c.API()+"/aisp/accounts", "", j.token, nil, http.StatusUnauthorized, nil)
					return "the token is dead", err
				}},
		}
	}
	return []step{register, token("payments"),
		{"Create a payment consent", "The app asks to pay 15.00 GBP to Greenfield Lettings. The request carries an x-idempotency-key and the app's x-jws-signature; the bank's answer is signed too.",
			func(ctx context.Context, j *journey) (string, error) {
				j.initiation = j.c.Initiation("15.00", tpp.Payee{Name: "Greenfield Lettings", SortCode: "200415", Number: "33104477"}, "TRAINER DEMO")
				id, err := j.c.PaymentConsent(ctx, j.cc, j.initiation)
				j.consent = id
				return id, err
			}},
		authorize, approve, exchangeCode,
		read("Confirm the funds", "Before paying, the app asks whether the PSU's account can cover the amount: the bank answers from the real available balance.",
			func(j *journey) string {
				return j.c.API() + "/pisp/domestic-payment-consents/" + j.consent + "/funds-confirmation"
			}, http.StatusOK, "funds checked"),
		{"Make the payment", "The payment must repeat the consent's Initiation and Risk exactly. The debtor's available balance drops at once; the payment is Pending, then settles on the sandbox clock.",
			func(ctx context.Context, j *journey) (string, error) {
				id, status, err := j.c.Pay(ctx, j.token, j.consent, j.initiation, uuid.NewString())
				j.setPayment(id)
				return id + " " + status, err
			}},
		{"Try to pay twice", "The consent is now Consumed: a second payment is refused (400 UK.OBIE.Resource.InvalidConsentStatus).",
			func(ctx context.Context, j *journey) (string, error) {
				st, _, _, err := j.c.SignedPost(ctx, j.c.API()+"/pisp/domestic-payments", j.token, uuid.NewString(),
					map[string]any{"Data": map[string]any{"ConsentId": j.consent, "Initiation": j.initiation}, "Risk": map[string]any{"PaymentContextCode": "PartyToParty"}})
				if err == nil && st != http.StatusBadRequest {
					err = fmt.Errorf("status %d, want 400", st)
				}
				return "refused as expected", err
			}},
	}
}

// trainerFlow is the redirect flow the profile's reference TPP uses, and
// what the authorize and code-exchange steps explain about it.
func (s *Server) trainerFlow() (tpp.AuthOptions, string, string) {
	switch s.Cfg.Profile {
	case oauth.ProfileFAPI:
		return tpp.AuthOptions{Flow: tpp.Code, ResponseMode: "jwt"},
			"The app signs a request object naming the consent (openbanking_intent_id), asks for response_type=code with response_mode=jwt (FAPI 1.0 Advanced: code only with JARM) and a nonce, and sends the PSU to the bank's authorize URL.",
			"The bank sent the PSU back with one parameter, response: a JWT it signed (JARM) holding the code, state and iss, for this client (aud) and briefly (exp). The app checks the signature against the bank's JWKS before it trusts the code, then trades the code — with its certificate, so the token is bound to it — for an access token bound to the consent."
	case oauth.ProfileFAPI2:
		return tpp.AuthOptions{Flow: tpp.Code, PAR: true},
			"FAPI 2.0: the app first pushes the authorization request to the bank (PAR) with its client assertion — response_type=code, PKCE S256, the consent — and sends the PSU to the authorize URL with only the request_uri the bank gave.",
			"The bank sent the PSU back with the code, state and iss (RFC 9207). The app trades the code — with the PKCE verifier and a DPoP proof it signs with its own key (shown decoded with the request; the bank first asks for its nonce: use_dpop_nonce) — for an access token bound to that key (cnf.jkt) and to the consent."
	}
	return tpp.AuthOptions{},
		"The app signs a request object naming the consent (openbanking_intent_id) and sends the PSU to the bank's authorize URL.",
		"The bank sent the PSU back with a code and a signed ID token (checked: c_hash, s_hash, nonce, iss). The app trades the code for an access token bound to the consent."
}

// readAccounts reads the accounts the PSU shared and their balances, and
// says what it read: each account's name and type with its available and
// booked balances (the standard's InterimAvailable and InterimBooked).
func readAccounts(ctx context.Context, j *journey) (string, error) {
	var accts struct {
		Data struct {
			Account []struct{ AccountId, AccountSubType, AccountTypeCode, Nickname string }
		}
	}
	if err := j.c.Call(ctx, http.MethodGet, j.c.API()+"/aisp/accounts", "", j.token, nil, http.StatusOK, &accts); err != nil {
		return "", err
	}
	var bals struct {
		Data struct {
			Balance []struct {
				AccountId, CreditDebitIndicator, Type string
				Amount                                struct{ Amount, Currency string }
			}
		}
	}
	if err := j.c.Call(ctx, http.MethodGet, j.c.API()+"/aisp/balances", "", j.token, nil, http.StatusOK, &bals); err != nil {
		return "", err
	}
	if len(accts.Data.Account) == 0 {
		return "", fmt.Errorf("the bank answered with no account, though the PSU shared some")
	}
	amounts := map[string]string{} // AccountId + balance type → signed amount
	for _, b := range bals.Data.Balance {
		sign := ""
		if b.CreditDebitIndicator == "Debit" {
			sign = "-"
		}
		amounts[b.AccountId+" "+b.Type] = sign + b.Amount.Amount + " " + b.Amount.Currency
	}
	var out strings.Builder
	fmt.Fprintf(&out, "%d accounts with their balances:", len(accts.Data.Account))
	for _, a := range accts.Data.Account {
		avail, booked := amounts[a.AccountId+" InterimAvailable"], amounts[a.AccountId+" InterimBooked"]
		if j.version == "4.0" { // v4.0's codes for the same balances
			avail, booked = amounts[a.AccountId+" ITAV"], amounts[a.AccountId+" ITBD"]
		}
		fmt.Fprintf(&out, "\n%s (%s): %s available, %s booked", a.Nickname, cmp.Or(a.AccountSubType, a.AccountTypeCode), avail, booked)
	}
	return out.String(), nil
}

// psuPassword is a test PSU's password (from the fixtures: the bank keeps
// hashes only).
func (s *Server) psuPassword(ctx context.Context, username string) string {
	psus, err := s.Store.PSUs(ctx)
	if err == nil {
		for _, p := range psus {
			if strings.EqualFold(p.Username, username) {
				pw, _ := s.Auth.TestPassword(p.Username, p.PasswordHash)
				return pw
			}
		}
	}
	return ""
}
