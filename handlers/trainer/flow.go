package trainer

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/oauth"
	"github.com/obsandbox/sandbox/internal/store"
	"github.com/obsandbox/sandbox/internal/tpp"
)

// What the trainer view draws — a sequence diagram of every exchange with
// the bank's decision on it, the consent's state machine, tokens decoded
// claim by claim, a payment settling — and what it lets a trainer try:
// attacks the bank refuses, and the PSU's part on the bank's own pages in
// a second window.

// The actors of the sequence diagram, in the order the page draws them.
const (
	actorPSU     = "PSU"
	actorTPP     = "TPP"
	actorAS      = "Authorization server"
	actorGateway = "Gateway"
	actorRS      = "Resource server"
)

// How the PSU decides: in a second window on the bank's own pages, or
// headlessly (POST /sandbox/psu/authorize, the sandbox acting as the PSU).
const (
	modeWindow   = "window"
	modeHeadless = "headless"
)

// callbackPath is the trainer TPP's redirect URI (where the profile allows
// one on this sandbox): a page that hands the authorization response the
// PSU's window came back with to the journey.
const callbackPath = "/trainer/callback"

// psuWait is how long the PSU's step waits for the PSU to come back.
const psuWait = 10 * time.Minute

func (s *Server) mountFlow(e *echo.Echo) {
	e.GET(callbackPath, s.callbackPage, trainerHeaders)
	e.POST(callbackPath, s.callback)
	e.POST("/trainer/journeys/:id/attacks/:kind", s.attack)
	e.GET("/trainer/journeys/:id/payment", s.paymentView)
}

// windowRedirect is the redirect URI of the trainer page's own callback,
// or "" when the profile refuses it (fapi refuses a loopback one).
func (s *Server) windowRedirect() string {
	u := s.Cfg.Issuer + callbackPath
	if !oauth.RedirectURIAllowed(u, !oauth.Strict(s.Cfg.Profile)) {
		return ""
	}
	return u
}

// pathOf is a URL's path under the sandbox (a tenant's prefix left out).
func (s *Server) pathOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return strings.TrimPrefix(u.Path, s.Cfg.BasePath)
}

// actors says who sent an exchange and who answered it. Resource calls go
// through the bank's gateway, which refuses a call without a valid token,
// outside the consent or over a limit (401, 403, 429) before the resource
// server sees it; a call it lets through is drawn to the resource server.
func (s *Server) actors(x *exchange) {
	p := s.pathOf(x.URL)
	resource := strings.HasPrefix(p, "/open-banking/") || strings.HasPrefix(p, "/psd2/") // UK OB, Berlin Group
	gatewayRefused := x.Status == http.StatusUnauthorized || x.Status == http.StatusForbidden || x.Status == http.StatusTooManyRequests
	switch {
	case strings.HasPrefix(p, "/sandbox/psu/"), strings.HasPrefix(p, "/psu/"):
		x.From, x.To = actorPSU, actorAS
	case resource && gatewayRefused:
		x.From, x.To = actorTPP, actorGateway
	case resource:
		x.From, x.To = actorTPP, actorRS
	default:
		x.From, x.To = actorTPP, actorAS
	}
}

// recorder keeps the audit entries published while a step runs — stored
// ones and the refused traffic the trail only counts — for the step's
// exchanges to show the bank's decision on each.
type recorder struct {
	mu      sync.Mutex
	entries []store.AuditEntry
	quit    chan struct{}
	done    chan struct{}
	cancel  func()
	once    sync.Once
}

// maxRecorded bounds what a step keeps of a busy sandbox's traffic.
const maxRecorded = 5000

func (s *Server) record() *recorder {
	r := &recorder{quit: make(chan struct{}), done: make(chan struct{})}
	if s.Auditor == nil {
		close(r.done)
		return r
	}
	ch, cancel := s.Auditor.Subscribe()
	r.cancel = cancel
	go func() {
		defer close(r.done)
		for {
			select {
			case e := <-ch:
				r.add(e)
			case <-r.quit:
				for { // what was published before the flush is in the channel
					select {
					case e := <-ch:
						r.add(e)
					default:
						return
					}
				}
			}
		}
	}()
	return r
}

func (r *recorder) add(e store.AuditEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.entries) < maxRecorded {
		r.entries = append(r.entries, e)
	}
}

// finish flushes the audit trail (every entry of the step's requests is
// then published) and returns what was recorded; it stops recording.
func (r *recorder) finish(flush func()) []store.AuditEntry {
	if r.cancel == nil {
		return nil
	}
	r.once.Do(func() {
		flush()
		close(r.quit)
		<-r.done
		r.cancel()
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.entries
}

// recordPSU starts recording for the PSU's step in a second window when it
// is the next to run: the page opens the window — and the PSU's browser
// asks for the authorization page — as it asks for the step. A recording
// nobody takes stops after psuWait.
func (s *Server) recordPSU(j *journey) {
	if j.next >= len(j.steps) || !j.psuAt(j.next) {
		return
	}
	r := s.record()
	time.AfterFunc(psuWait+time.Minute, func() { r.finish(func() {}) })
	j.psuRec = r
}

// decide puts the bank's decision on each of the journey's new exchanges:
// refused and the rule, or allowed, from the audit entries of its
// interaction id. After the PSU's step in a window, the PSU's own requests
// at the bank's pages come first.
func (s *Server) decide(j *journey, entries []store.AuditEntry, psuStep bool) {
	if psuStep {
		j.log = append(s.psuExchanges(j, entries), j.log...)
	}
	byID := map[string][]store.AuditEntry{}
	for _, e := range entries {
		byID[e.InteractionID] = append(byID[e.InteractionID], e)
	}
	for i := range j.log {
		x := &j.log[i]
		if x.From == "" {
			s.actors(x)
		}
		if x.Decision != "" {
			continue
		}
		if x.InteractionID != "" {
			for _, e := range byID[x.InteractionID] {
				switch {
				case e.Decision == store.DecisionRefused:
					x.Decision, x.Rule = e.Decision, e.Rule
				case e.Decision == store.DecisionAllowed && x.Decision == "":
					x.Decision, x.Rule = e.Decision, e.Rule
				}
			}
		}
		if x.Decision == "" { // not a decision the trail records (discovery, keys)
			x.Decision = store.DecisionAllowed
			if x.Status >= 400 {
				x.Decision = store.DecisionRefused
			}
		}
	}
}

// psuExchanges are the PSU's requests at the bank's pages among entries:
// the authorization request of the journey's client, the login and
// consent pages of its PSU — each once, with the bank's decision.
func (s *Server) psuExchanges(j *journey, entries []store.AuditEntry) []exchange {
	var out []exchange
	at := map[string]int{} // interaction id → index in out
	for _, e := range entries {
		p := strings.TrimPrefix(e.Path, s.Cfg.BasePath)
		authorize := p == oauth.PathAuthorize && (e.ClientID == "" || e.ClientID == j.c.ClientID)
		page := strings.HasPrefix(p, "/psu/") && (e.PSU == "" || e.PSU == j.psu)
		if (!authorize && !page) || e.Decision == store.DecisionCommitted || j.owns(e) {
			continue
		}
		if i, ok := at[e.InteractionID]; ok {
			if e.Decision == store.DecisionRefused {
				out[i].Decision, out[i].Rule = e.Decision, e.Rule
			}
			continue
		}
		at[e.InteractionID] = len(out)
		out = append(out, exchange{Method: e.Method, URL: s.Cfg.Issuer + p, Status: e.Status, From: actorPSU, To: actorAS,
			Decision: e.Decision, Rule: e.Rule, InteractionID: e.InteractionID})
	}
	return out
}

// approveInWindow waits for the PSU to decide on the bank's pages in the
// second window: the callback page brings the authorization response back.
func (s *Server) approveInWindow(ctx context.Context, j *journey) (string, error) {
	release := s.journeys.await(j.auth.State, j)
	defer release()
	select {
	case to := <-j.callback:
		j.redirectTo = to
	case <-ctx.Done():
		return "", errors.New("the PSU has not come back from the bank's pages: press Next step to open the window again, log in and decide")
	}
	j.log = append(j.log, exchange{Method: http.MethodGet, URL: j.redirectTo, Status: http.StatusOK, From: actorPSU, To: actorTPP,
		Decision: store.DecisionAllowed, Rule: "back to the app's redirect URI"})
	return j.redirectTo, nil
}

// callbackPage is the trainer TPP's redirect URI: its script sends the
// whole URL it was opened at (the answer may be in the fragment) back to
// the journey.
func (s *Server) callbackPage(c echo.Context) error {
	return s.Page(c, http.StatusOK, "trainer-callback.html", map[string]any{"Title": "Back at the app"})
}

// callback takes the authorization response the PSU's window came back
// with and gives it to the journey waiting for its state. The journey
// checks it as any TPP would (iss, state, the ID token or JARM signature).
func (s *Server) callback(c echo.Context) error {
	var r struct {
		URL string `json:"url"`
	}
	if err := httpx.BindStrict(c, &r); err != nil {
		return err
	}
	u, err := url.Parse(r.URL)
	if err != nil {
		return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "url is not a URL"}
	}
	params := u.Query()
	if frag, err := url.ParseQuery(u.Fragment); err == nil && len(frag) > 0 {
		params = frag
	}
	state := params.Get("state")
	if resp := params.Get("response"); resp != "" && state == "" { // JARM: the state is inside
		state = jarmState(resp)
	}
	j := s.journeys.byState(state)
	if state == "" || j == nil {
		return &oauth.Error{Status: http.StatusNotFound, Code: "not_found", Description: "no journey waits for this answer"}
	}
	select {
	case j.callback <- r.URL:
	default: // one answer is waiting already
	}
	return c.NoContent(http.StatusNoContent)
}

// jarmState reads the state of a signed authorization response without
// verifying it: only to route it; the journey verifies it.
func jarmState(raw string) string {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		State string `json:"state"`
	}
	if json.Unmarshal(b, &c) != nil {
		return ""
	}
	return c.State
}

// consentView is the consent's place in its state machine.
type consentView struct {
	ID      string   `json:"id"`
	Kind    string   `json:"kind"`
	Status  string   `json:"status"`
	States  []string `json:"states"`  // the machine's states, in order
	Visited []string `json:"visited"` // the states the consent has been seen in
}

// The states a consent is in beside its Status: deleted by the TPP, or
// revoked by the PSU at the bank (whose tokens then stop working while the
// status stays as it was).
const (
	stateDeleted    = "Deleted"
	statePSURevoked = "Revoked by the PSU"
)

// consentStates are the states a consent of the kind can take (UK OB
// v3.1.11: an account-access consent is Rejected or Authorised and deleted
// by the TPP, a payment consent Consumed by its payment, a VRP mandate
// long-lived until deleted).
func consentStates(kind string) []string {
	switch kind {
	case bank.ConsentAccountAccess, bank.ConsentDomesticVRP:
		return []string{bank.StatusAwaitingAuthorisation, bank.StatusAuthorised, bank.StatusRejected, stateDeleted, statePSURevoked}
	}
	return []string{bank.StatusAwaitingAuthorisation, bank.StatusAuthorised, bank.StatusRejected, bank.StatusConsumed}
}

// consent reads the journey's consent and remembers the states it passed.
func (s *Server) consent(ctx context.Context, j *journey) *consentView {
	if j.consent == "" {
		return nil
	}
	c, err := s.Store.Consent(ctx, j.consent)
	if err != nil {
		return nil
	}
	status := c.Status
	switch {
	case c.Deleted:
		status = stateDeleted
	case c.PSURevoked:
		status = statePSURevoked
	}
	if n := len(j.visited); n == 0 || j.visited[n-1] != status {
		j.visited = append(j.visited, status)
	}
	states := consentStates(c.Kind)
	if !slices.Contains(states, status) {
		states = append(states, status)
	}
	return &consentView{ID: c.ID, Kind: c.Kind, Status: status, States: states, Visited: slices.Clone(j.visited)}
}

// flowState adds to a step's answer what the page draws beside the
// exchanges: the consent's state, the attacks that can be tried now, the
// payment to watch settle, and the authorization URL the PSU's window
// opens.
func (s *Server) flowState(ctx context.Context, j *journey, out map[string]any) {
	if cv := s.consent(ctx, j); cv != nil {
		out["consent"] = cv
	}
	out["attacks"] = j.attacks()
	j.idsMu.Lock()
	if j.payment != "" {
		out["payment"] = j.payment
	}
	j.idsMu.Unlock()
	if j.auth != nil && j.redirectTo == "" {
		out["authorize_url"] = j.auth.URL
	}
}

// claimMeaning says what the header parameters and claims the trainer
// shows mean (RFC 7515 §4.1, RFC 7519 §4.1, OpenID Connect Core §2 and
// §3.3.2.11, RFC 9449 §4.2, RFC 7636, the UK OB security profile).
var claimMeaning = map[string]string{
	"alg": "the signing algorithm", "kid": "which of the signer's keys (in its JWKS)", "typ": "what kind of JWT it is",
	"jwk": "the public key the proof is signed with", "crit": "extensions the reader must understand",
	"iss": "issuer: who made and signed it", "sub": "subject: whom it is about (the PSU, or the client)",
	"aud": "audience: who may accept it", "exp": "expiry (seconds since 1970): refused after it",
	"iat": "issued at (seconds since 1970)", "nbf": "not valid before (seconds since 1970)",
	"jti": "a unique id: a second use of it is a replay", "client_id": "the TPP it was issued to",
	"scope": "what it may be used for", "openbanking_intent_id": "the ConsentId it is bound to",
	"nonce": "the app's random value, echoed back: binds the answer to this request", "cnf": "confirmation: the key or certificate the token is bound to",
	"acr": "how strongly the PSU authenticated (SCA)", "auth_time": "when the PSU authenticated",
	"c_hash": "half a hash of the code: binds the ID token to it", "s_hash": "half a hash of the state: binds the ID token to it",
	"at_hash": "half a hash of the access token", "claims": "the claims asked for, here the consent (openbanking_intent_id)",
	"redirect_uri": "where the bank sends the PSU back: must be registered", "response_type": "what the app asks back (a code, an ID token)",
	"response_mode": "how the answer comes back (jwt: signed, JARM)", "state": "the app's value to match the answer to its request",
	"code_challenge": "PKCE: a hash of the app's secret verifier", "code_challenge_method": "PKCE: how the verifier is hashed (S256)",
	"login_hint": "the PSU the bank must reach (CIBA)", "binding_message": "shown to the PSU on both screens (CIBA)",
	"htm": "DPoP: the HTTP method of the request", "htu": "DPoP: the URL of the request", "ath": "DPoP: a hash of the access token",
	"code": "the authorization code", "error": "why the bank refused",
}

// decode is a JWT shown decoded: its header and claims, and what each
// claim means.
func decode(title, raw string) decoded {
	d := decoded{Title: title, JWT: tpp.DecodeJWT(raw)}
	var parts struct {
		Header map[string]any `json:"header"`
		Claims map[string]any `json:"claims"`
	}
	if json.Unmarshal([]byte(d.JWT), &parts) != nil {
		return d
	}
	d.Header, d.Claims, d.Meanings = parts.Header, parts.Claims, map[string]string{}
	for _, m := range []map[string]any{parts.Header, parts.Claims} {
		for k := range m {
			if meaning, ok := claimMeaning[k]; ok {
				d.Meanings[k] = meaning
			}
		}
	}
	return d
}

// requestObject is the signed request object of the journey's
// authorization request: in its URL, or in the pushed request (PAR).
func requestObject(j *journey) string {
	if u, err := url.Parse(j.auth.URL); err == nil && u.Query().Get("request") != "" {
		return u.Query().Get("request")
	}
	for _, x := range j.log {
		if x.Method == http.MethodPost && strings.HasSuffix(x.URL, "/par") {
			if form, err := url.ParseQuery(x.Request); err == nil {
				return form.Get("request")
			}
		}
	}
	return ""
}

// attackInfo is an attack the trainer may try at a point of the journey.
type attackInfo struct {
	Kind  string `json:"kind"`
	Title string `json:"title"`
}

// pays reports whether the journey's consent is for payments.
func (j *journey) pays() bool { return j.kind == "payment" || j.kind == "vrp" }

// attacks are what can be tried once the journey has reached its point.
func (j *journey) attacks() []attackInfo {
	var out []attackInfo
	if j.cc != "" && j.consent != "" {
		out = append(out, attackInfo{"tamper-token", "Tamper with a token's signature"})
	}
	if j.auth != nil && j.redirectTo == "" && strings.Contains(j.auth.URL, "request=") {
		out = append(out, attackInfo{"tamper-request", "Tamper with the signed request object"})
	}
	if j.code != "" {
		out = append(out, attackInfo{"replay-code", "Replay the authorization code"})
	}
	if j.token != "" && !j.pays() {
		out = append(out, attackInfo{"another-psu", "Use this consent's token on another PSU's account"})
	}
	if j.token != "" && j.pays() {
		out = append(out, attackInfo{"wrong-consent-token", "Use the payment consent's token to read accounts"})
	}
	if j.kind == "payment" && j.cc != "" && j.initiation != nil {
		out = append(out, attackInfo{"tamper-signature", "Tamper with a payment's x-jws-signature"})
	}
	return out
}

// attackResult is what an attack did and how the bank answered.
type attackResult struct {
	Kind      string       `json:"kind"`
	Title     string       `json:"title"`
	Explain   string       `json:"explain"`
	Exchanges []exchange   `json:"exchanges"`
	Refused   bool         `json:"refused"` // the bank refused it, as it must
	Rule      string       `json:"rule"`    // the rule that refused it
	Note      string       `json:"note,omitempty"`
	Error     string       `json:"error,omitempty"`
	Attacks   []attackInfo `json:"attacks"` // what can be tried now
}

// flip changes one character in the middle of a JWT's signature.
func flip(jwt string) string {
	i := strings.LastIndexByte(jwt, '.')
	if i < 0 || i+2 > len(jwt) {
		return jwt + "x"
	}
	b := []byte(jwt)
	k := i + 1 + (len(jwt)-i-1)/2
	if b[k] == 'A' {
		b[k] = 'B'
	} else {
		b[k] = 'A'
	}
	return string(b)
}

func (s *Server) attack(c echo.Context) error {
	j := s.journeys.get(c.Param("id"))
	if j == nil {
		return errNoJourney
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	kind := c.Param("kind")
	i := slices.IndexFunc(j.attacks(), func(a attackInfo) bool { return a.Kind == kind })
	if i < 0 {
		return &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "this attack cannot be tried at this point of the journey"}
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 30*time.Second)
	defer cancel()
	j.log, j.decoded = nil, nil
	r := attackResult{Kind: kind, Title: j.attacks()[i].Title}
	rec := s.record()
	err := s.runAttack(ctx, j, &r)
	s.decide(j, rec.finish(s.FlushAudit), false)
	if err != nil {
		r.Error = err.Error()
	}
	r.Exchanges = j.log
	for _, x := range r.Exchanges {
		if x.Decision == store.DecisionRefused {
			r.Refused, r.Rule = true, x.Rule
			if r.Rule == "" {
				r.Rule = fmt.Sprintf("HTTP %d", x.Status)
			}
			break
		}
	}
	r.Attacks = j.attacks()
	return c.JSON(http.StatusOK, r)
}

func (s *Server) runAttack(ctx context.Context, j *journey, r *attackResult) error {
	api := j.c.API()
	switch r.Kind {
	case "tamper-token":
		tok, path := j.cc, api+j.consentPath()
		if j.token != "" && !j.pays() {
			tok, path = j.token, api+"/aisp/accounts"
		}
		r.Explain = "The attacker changes one character of a token's signature — as one would to forge its claims — and calls the bank with it. The signature no longer verifies with the bank's key: the gateway refuses the call (401) before any data is read."
		_, _, _, err := j.c.Send(ctx, http.MethodGet, path, "", flip(tok), nil, nil)
		return err
	case "tamper-request":
		r.Explain = "The attacker edits the signed request object in the authorization URL — to swap the consent, or the redirect URI. Its signature no longer verifies with the app's registered key: the bank refuses the request and shows an error page instead of a login, sending nobody anywhere."
		u, err := url.Parse(j.auth.URL)
		if err != nil {
			return err
		}
		q := u.Query()
		q.Set("request", flip(q.Get("request")))
		u.RawQuery = q.Encode()
		_, _, _, err = j.c.Send(ctx, http.MethodGet, u.String(), "", "", nil, nil)
		return err
	case "replay-code":
		r.Explain = "The authorization code is sent a second time, as an attacker who intercepted it would. A code is single use (RFC 6749 §4.1.2): the bank refuses it (invalid_grant) and revokes the tokens the code gave, so a stolen code is worthless — the journey's own token stops working too."
		if _, err := j.c.Exchange(ctx, j.auth, j.code); err == nil {
			return errors.New("the bank accepted the code twice")
		}
		if j.token != "" {
			path := api + "/aisp/accounts"
			if j.pays() {
				path = api + j.consentPath()
			}
			if _, _, _, err := j.c.Send(ctx, http.MethodGet, path, "", j.token, nil, nil); err != nil {
				return err
			}
		}
		j.token, j.code, j.refresh = "", "", ""
		r.Note = "The journey's access token was revoked with the code: its next calls are refused (start another journey to go on)."
		return nil
	case "another-psu":
		other, err := s.otherAccount(ctx, j.psu)
		if err != nil {
			return err
		}
		r.Explain = "The app holds a valid token for " + j.psu + "'s consent and asks for an account of another PSU with it (broken object-level authorisation). The bank checks every account against the consent: refused (403), and the rule says why."
		_, _, _, err = j.c.Send(ctx, http.MethodGet, api+"/aisp/accounts/"+other+"/balances", "", j.token, nil, nil)
		return err
	case "wrong-consent-token":
		r.Explain = "The token the PSU granted for a payment is used to read account information: its consent is a payment consent, not an account-access one. The bank refuses."
		_, _, _, err := j.c.Send(ctx, http.MethodGet, api+"/aisp/accounts", "", j.token, nil, nil)
		return err
	case "tamper-signature":
		r.Explain = "A payment consent is sent with its x-jws-signature altered, as a man in the middle changing the amount would leave it. The bank verifies the detached signature against the app's registered key and refuses (400 UK.OBIE.Signature.Invalid): nothing is created."
		raw, err := json.Marshal(map[string]any{"Data": map[string]any{"Initiation": j.initiation}, "Risk": map[string]any{"PaymentContextCode": "PartyToParty"}})
		if err != nil {
			return err
		}
		sig, err := j.c.Signature(raw)
		if err != nil {
			return err
		}
		_, _, _, err = j.c.Send(ctx, http.MethodPost, api+"/pisp/domestic-payment-consents", "application/json", j.cc, raw,
			map[string]string{"x-jws-signature": flip(sig), "x-idempotency-key": uuid.NewString()})
		return err
	}
	return fmt.Errorf("unknown attack %q", r.Kind)
}

// consentPath is the journey's consent under the API.
func (j *journey) consentPath() string {
	switch j.kind {
	case "payment":
		return "/pisp/domestic-payment-consents/" + j.consent
	case "vrp":
		return "/pisp/domestic-vrp-consents/" + j.consent
	}
	return "/aisp/account-access-consents/" + j.consent
}

// otherAccount is an account of a PSU other than psu.
func (s *Server) otherAccount(ctx context.Context, psu string) (string, error) {
	psus, err := s.Store.PSUs(ctx)
	if err != nil {
		return "", err
	}
	for _, p := range psus {
		if p.Username != psu && len(p.Accounts) > 0 {
			return p.Accounts[0].ID, nil
		}
	}
	return "", errors.New("no other PSU has an account")
}

// paymentView is the journey's last payment as it settles on the sandbox
// clock (the journey id is the capability).
func (s *Server) paymentView(c echo.Context) error {
	j := s.journeys.get(c.Param("id"))
	if j == nil {
		return errNoJourney
	}
	j.idsMu.Lock()
	id := j.payment
	j.idsMu.Unlock()
	if id == "" {
		return &oauth.Error{Status: http.StatusNotFound, Code: "not_found", Description: "the journey has made no payment yet"}
	}
	ctx := c.Request().Context()
	if err := s.Bank.CatchUp(ctx); err != nil {
		return err
	}
	p, err := s.Store.Payment(ctx, id)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]any{"payment_id": p.ID, "status": p.Status, "history": p.History,
		"now": s.Clock.Now().Format(time.RFC3339), "settlement_delay": s.Bank.SettlementDelay().String()})
}
