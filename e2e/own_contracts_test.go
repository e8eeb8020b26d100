package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/go-jose/go-jose/v4"

	"github.com/obsandbox/sandbox/api"
	"github.com/obsandbox/sandbox/internal/app"
)

// ownContracts checks answers against the contracts of the sandbox's own
// endpoints (api/authorization-server.yaml, api/sandbox.yaml) and records
// which of their operations were called.
type ownContracts struct {
	t       *testing.T
	cs      []*contract
	mu      sync.Mutex
	covered map[string]bool
}

var registerTextDecoders sync.Once

func newOwnContracts(t *testing.T) *ownContracts {
	t.Helper()
	registerTextDecoders.Do(func() {
		text := func(r io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
			b, err := io.ReadAll(r)
			return string(b), err
		}
		for _, ct := range []string{"text/html", "text/event-stream", "application/x-pem-file", "application/x-ndjson"} {
			openapi3filter.RegisterBodyDecoder(ct, text)
		}
	})
	o := &ownContracts{t: t, covered: map[string]bool{}}
	for _, k := range []api.Contract{api.AuthorizationServer, api.Sandbox} {
		doc, err := k.Load(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		o.cs = append(o.cs, index("api/"+k.File(), doc, ""))
	}
	return o
}

// check validates one answer: its operation must be documented, its status
// and body as the contract says.
func (o *ownContracts) check(req *http.Request, status int, header http.Header, body []byte) {
	o.t.Helper()
	path := strings.TrimSuffix(req.URL.EscapedPath(), "/")
	if path == "" {
		path = "/"
	}
	for _, c := range o.cs {
		route, params := exactFirst(c, req.Method, path)
		if route == nil {
			continue
		}
		o.mu.Lock()
		o.covered[req.Method+" "+route.Path] = true
		o.mu.Unlock()
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
			Status:                 status,
			Header:                 header,
			Body:                   io.NopCloser(bytes.NewReader(body)),
			Options:                &openapi3filter.Options{IncludeResponseStatus: true},
		}
		if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
			o.t.Errorf("%s %s -> %d: does not match %s: %v\nbody: %.500s", req.Method, path, status, c.name, err, body)
		}
		return
	}
	o.t.Errorf("%s %s -> %d is in neither api/authorization-server.yaml nor api/sandbox.yaml", req.Method, path, status)
}

// exactFirst matches a path as a router would: a literal segment beats a
// template (/sandbox/scenarios/bindings is not /sandbox/scenarios/{name}).
func exactFirst(c *contract, method, path string) (*routers.Route, map[string]string) {
	segs := strings.Split(path, "/")
	var best *routers.Route
	var bestParams map[string]string
	bestVars := -1
	for _, r := range c.routes {
		if r.Method != method {
			continue
		}
		tsegs := strings.Split(r.Path, "/")
		if len(tsegs) != len(segs) {
			continue
		}
		params, vars, ok := map[string]string{}, 0, true
		for i, ts := range tsegs {
			if strings.HasPrefix(ts, "{") && strings.HasSuffix(ts, "}") {
				v, err := url.PathUnescape(segs[i])
				if err != nil {
					v = segs[i]
				}
				params[ts[1:len(ts)-1]], vars = v, vars+1
			} else if ts != segs[i] {
				ok = false
				break
			}
		}
		if ok && (bestVars < 0 || vars < bestVars) {
			best, bestParams, bestVars = r, params, vars
		}
	}
	return best, bestParams
}

// uncovered lists the documented operations no call reached.
func (o *ownContracts) uncovered() []string {
	var out []string
	for _, c := range o.cs {
		for _, r := range c.routes {
			if !o.covered[r.Method+" "+r.Path] {
				out = append(out, c.name+": "+r.Method+" "+r.Path)
			}
		}
	}
	sort.Strings(out)
	return out
}

// caller sends requests to one sandbox and checks every answer.
type caller struct {
	t    *testing.T
	s    *sandbox
	o    *ownContracts
	hc   *http.Client
	base string
}

func (o *ownContracts) caller(s *sandbox) *caller {
	jar, _ := cookiejar.New(nil)
	hc := *s.client
	hc.Jar = jar
	return &caller{t: o.t, s: s, o: o, hc: &hc, base: s.url}
}

type call struct {
	method, path string
	token        string     // Bearer
	basic        [2]string  // client_id, client_secret
	json         any        // sent as JSON
	form         url.Values // sent as a form
	raw          string     // sent as it is, with ctype
	ctype        string     //
	want         int        // the status expected
	out          any        // the JSON answer decoded here
	stream       bool       // read the headers only (Server-Sent Events)
}

func (c *caller) do(x call) *response {
	c.t.Helper()
	var body io.Reader
	ctype := x.ctype
	switch {
	case x.json != nil:
		b, _ := json.Marshal(x.json)
		body, ctype = bytes.NewReader(b), "application/json"
	case x.form != nil:
		body, ctype = strings.NewReader(x.form.Encode()), "application/x-www-form-urlencoded"
	case x.raw != "":
		body = strings.NewReader(x.raw)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, x.method, c.base+x.path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if x.token != "" {
		req.Header.Set("Authorization", "Bearer "+x.token)
	}
	if x.basic[0] != "" {
		req.SetBasicAuth(x.basic[0], x.basic[1])
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", x.method, x.path, err)
	}
	defer resp.Body.Close()
	var raw []byte
	if !x.stream {
		raw, _ = io.ReadAll(resp.Body)
	}
	if x.want != 0 && resp.StatusCode != x.want {
		c.t.Fatalf("%s %s: %d, want %d: %.500s", x.method, x.path, resp.StatusCode, x.want, raw)
	}
	c.o.check(req, resp.StatusCode, resp.Header, raw)
	if x.out != nil {
		if err := json.Unmarshal(raw, x.out); err != nil {
			c.t.Fatalf("%s %s: %v: %s", x.method, x.path, err, raw)
		}
	}
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, r *response) string {
	t.Helper()
	m := csrfRE.FindSubmatch(r.Body)
	if m == nil {
		t.Fatalf("no csrf field in the page: %.300s", r.Body)
	}
	return string(m[1])
}

// TestOwnContractsAccurate calls every operation of api/authorization-server.yaml
// and api/sandbox.yaml — the authorization server and the PSU's pages, the
// sandbox controls, the trainer's API, the explorer, the health checks — and
// validates each answer against them. An operation the contracts list but
// no call reaches fails the test, as does an answer they do not describe.
func TestOwnContractsAccurate(t *testing.T) {
	t.Parallel()
	o := newOwnContracts(t)
	s := start(t, realIssuer(), func(c *app.Config) { c.PProf = true })
	c := o.caller(s)
	admin := s.app.Config.AdminToken
	callback := "http://localhost:3000/callback"

	// Discovery and registration.
	c.do(call{method: "GET", path: "/.well-known/openid-configuration", want: 200})
	c.do(call{method: "GET", path: "/as/jwks", want: 200})
	var reg struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		RegToken     string `json:"registration_access_token"`
	}
	c.do(call{method: "POST", path: "/as/register", json: map[string]any{"client_name": "Contract TPP", "redirect_uris": []string{callback}}, want: 201, out: &reg})
	c.do(call{method: "POST", path: "/as/register", raw: "x", ctype: "text/plain", want: 415})
	c.do(call{method: "GET", path: "/as/register/" + reg.ClientID, token: reg.RegToken, want: 200})
	c.do(call{method: "PUT", path: "/as/register/" + reg.ClientID, token: reg.RegToken,
		json: map[string]any{"client_id": reg.ClientID, "client_name": "Contract TPP 2", "redirect_uris": []string{callback}}, want: 200})
	c.do(call{method: "GET", path: "/as/register/" + reg.ClientID, want: 401})
	cli := [2]string{reg.ClientID, reg.ClientSecret}
	var cc struct {
		AccessToken string `json:"access_token"`
	}

	// Tokens and an account-access consent, authorised through the pages.
	c.do(call{method: "POST", path: "/as/token", basic: cli, form: url.Values{"grant_type": {"client_credentials"}}, want: 200, out: &cc})
	c.do(call{method: "POST", path: "/as/token", basic: cli, form: url.Values{"grant_type": {"password"}}, want: 400})
	var consent struct{ Data struct{ ConsentId string } }
	r := s.do(req{method: "POST", path: ais + "/account-access-consents", token: cc.AccessToken,
		body: map[string]any{"Data": map[string]any{"Permissions": []string{"ReadAccountsBasic", "ReadBalances"}}, "Risk": map[string]any{}}})
	expect(t, r, 201)
	r.JSON(t, &consent)
	par := func(consentID string) string {
		var p struct {
			RequestURI string `json:"request_uri"`
		}
		c.do(call{method: "POST", path: "/as/par", basic: cli, want: 201, out: &p, form: url.Values{"response_type": {"code"},
			"redirect_uri": {callback}, "scope": {"openid accounts"}, "state": {"st"}, "code_challenge_method": {"S256"},
			"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"},
			"claims":         {`{"id_token":{"openbanking_intent_id":{"value":"` + consentID + `"}}}`}}})
		return "/as/authorize?" + url.Values{"client_id": {reg.ClientID}, "request_uri": {p.RequestURI}}.Encode()
	}
	c.do(call{method: "POST", path: "/as/par", basic: [2]string{reg.ClientID, "wrong"}, form: url.Values{"response_type": {"code"}}, want: 401})
	r = c.do(call{method: "GET", path: par(consent.Data.ConsentId), want: 303})
	page := strings.TrimPrefix(r.Header.Get("Location"), s.url)
	login := c.do(call{method: "GET", path: page, want: 200})
	c.do(call{method: "POST", path: page + "/login", form: url.Values{"csrf": {csrfOf(t, login)}, "username": {"alice"}, "password": {"alice123"}}, want: 303})
	agree := c.do(call{method: "GET", path: page, want: 200})
	r = c.do(call{method: "POST", path: page + "/decision", form: url.Values{"csrf": {csrfOf(t, agree)}, "decision": {"approve"},
		"accounts": {s.accountsOf("alice")[0]}}, want: 303})
	back, _ := url.Parse(r.Header.Get("Location"))
	var toks struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	c.do(call{method: "POST", path: "/as/token", basic: cli, want: 200, out: &toks, form: url.Values{"grant_type": {"authorization_code"},
		"code": {back.Query().Get("code")}, "redirect_uri": {callback}, "code_verifier": {"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"}}})
	c.do(call{method: "GET", path: "/as/userinfo", token: toks.AccessToken, want: 200})
	c.do(call{method: "POST", path: "/as/userinfo", token: toks.AccessToken, want: 200})
	c.do(call{method: "GET", path: "/as/userinfo", token: cc.AccessToken, want: 401})
	c.do(call{method: "POST", path: "/as/introspect", basic: cli, form: url.Values{"token": {toks.AccessToken}}, want: 200})
	c.do(call{method: "POST", path: "/as/bc-authorize", basic: cli, form: url.Values{"request": {"not-a-jwt"}}})
	c.do(call{method: "GET", path: "/as/authorize?client_id=nobody&request_uri=x", want: 400})

	// The connected-apps pages: log in, revoke, log out; a decoupled request's pages without a session.
	apps := c.do(call{method: "GET", path: "/psu/apps", want: 200})
	c.do(call{method: "POST", path: "/psu/login", form: url.Values{"csrf": {csrfOf(t, apps)}, "username": {"alice"}, "password": {"alice123"}}, want: 303})
	apps = c.do(call{method: "GET", path: "/psu/apps", want: 200})
	c.do(call{method: "POST", path: "/psu/apps/" + consent.Data.ConsentId + "/revoke", form: url.Values{"csrf": {csrfOf(t, apps)}}})
	c.do(call{method: "POST", path: "/psu/logout", form: url.Values{"csrf": {csrfOf(t, apps)}}, want: 303})
	c.do(call{method: "GET", path: "/psu/approvals/0123abcd"})
	c.do(call{method: "POST", path: "/psu/approvals/0123abcd/decision", form: url.Values{"csrf": {"x"}, "decision": {"approve"}}})
	c.do(call{method: "POST", path: "/as/revoke", basic: cli, form: url.Values{"token": {toks.RefreshToken}}, want: 200})

	// The headless PSU, on a second consent.
	r = s.do(req{method: "POST", path: ais + "/account-access-consents", token: cc.AccessToken,
		body: map[string]any{"Data": map[string]any{"Permissions": []string{"ReadAccountsBasic"}}, "Risk": map[string]any{}}})
	var second struct{ Data struct{ ConsentId string } }
	r.JSON(t, &second)
	authz := s.url + par(second.Data.ConsentId)
	c.do(call{method: "POST", path: "/sandbox/psu/authorize", want: 401, json: map[string]any{"authorize_url": authz,
		"username": "alice", "password": "nope", "decision": "approve"}})
	c.do(call{method: "POST", path: "/sandbox/psu/authorize", want: 200, json: map[string]any{"authorize_url": authz,
		"username": "alice", "password": "alice123", "decision": "approve"}})
	c.do(call{method: "POST", path: "/sandbox/psu/revoke", want: 204, json: map[string]any{"username": "alice", "password": "alice123", "consent_id": second.Data.ConsentId}})

	// PSUs, the clock, reset.
	c.do(call{method: "GET", path: "/sandbox/psus", token: admin, want: 200})
	c.do(call{method: "GET", path: "/sandbox/psus", want: 401})
	c.do(call{method: "POST", path: "/sandbox/psus", token: admin, want: 201, raw: zoe, ctype: "application/json"})
	c.do(call{method: "POST", path: "/sandbox/psus", token: admin, want: 400, json: map[string]any{"username": "x", "password": "y", "accounts": []any{map[string]any{"Currency": "GBX", "AccountSubType": "CurrentAccount"}}}})
	c.do(call{method: "POST", path: "/sandbox/psus", token: admin, want: 409, raw: zoe, ctype: "application/json"})
	c.do(call{method: "POST", path: "/sandbox/psus", token: admin, want: 415, raw: "<psu/>", ctype: "text/xml"})
	c.do(call{method: "DELETE", path: "/sandbox/psus/zoe", token: admin, want: 204})
	c.do(call{method: "DELETE", path: "/sandbox/psus/zoe", token: admin, want: 404})
	c.do(call{method: "DELETE", path: "/sandbox/psus/alice", token: admin, want: 409})
	c.do(call{method: "GET", path: "/sandbox/clock", token: admin, want: 200})
	c.do(call{method: "POST", path: "/sandbox/clock", token: admin, json: map[string]string{"advance": "1m"}, want: 200})
	c.do(call{method: "POST", path: "/sandbox/clock", token: admin, json: map[string]string{"advance": "-1h"}, want: 400})

	// Scenarios.
	c.do(call{method: "GET", path: "/sandbox/scenarios", token: admin, want: 200})
	c.do(call{method: "GET", path: "/sandbox/scenarios/psu-denies", token: admin, want: 200})
	c.do(call{method: "GET", path: "/sandbox/scenarios/no-such", token: admin, want: 404})
	c.do(call{method: "PUT", path: "/sandbox/scenarios/flaky", token: admin, json: map[string]any{"name": "flaky", "description": "503s", "status": 503}, want: 201})
	c.do(call{method: "PUT", path: "/sandbox/scenarios/flaky", token: admin, json: map[string]any{"name": "flaky", "description": "503s", "status": 503, "retry_after": 2}, want: 200})
	c.do(call{method: "PUT", path: "/sandbox/scenarios/bindings", token: admin, json: map[string]any{"psus": map[string]string{"bob": "flaky"}, "amounts": map[string]string{}}, want: 200})
	c.do(call{method: "DELETE", path: "/sandbox/scenarios/flaky", token: admin, want: 409})
	c.do(call{method: "PUT", path: "/sandbox/scenarios/bindings", token: admin, json: map[string]any{"psus": map[string]string{}, "amounts": map[string]string{}}, want: 200})
	c.do(call{method: "POST", path: "/sandbox/scenarios/active", token: admin, json: map[string]any{"name": "flaky", "times": 1}, want: 200})
	c.do(call{method: "DELETE", path: "/sandbox/scenarios/active", token: admin, want: 204})
	c.do(call{method: "DELETE", path: "/sandbox/scenarios/flaky", token: admin, want: 204})

	// Snapshots and tenants.
	saved, restored, deleted := 201, 204, 204
	if onPostgres() { // snapshots are SQLite files: 409 on PostgreSQL, as documented
		saved, restored, deleted = 409, 409, 409
	}
	c.do(call{method: "POST", path: "/sandbox/snapshots", token: admin, json: map[string]string{"name": "contract"}, want: saved})
	c.do(call{method: "GET", path: "/sandbox/snapshots", token: admin, want: 200})
	c.do(call{method: "POST", path: "/sandbox/snapshots/contract/restore", token: admin, want: restored})
	c.do(call{method: "DELETE", path: "/sandbox/snapshots/contract", token: admin, want: deleted})
	c.do(call{method: "POST", path: "/sandbox/tenants", token: admin, json: map[string]string{"name": "contract-job"}, want: 201})
	c.do(call{method: "GET", path: "/sandbox/tenants", token: admin, want: 200})
	c.do(call{method: "DELETE", path: "/sandbox/tenants/contract-job", token: admin, want: 204})

	// The directory, keys, certificates (the development CA without TLS too).
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	jwks := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "PS256", Use: "sig"}}}
	c.do(call{method: "POST", path: "/sandbox/directory/software-statements", token: admin, want: 201,
		json: map[string]any{"software_client_name": "Contract TPP", "software_redirect_uris": []string{"https://tpp.example/cb"}, "software_jwks": jwks}})
	c.do(call{method: "POST", path: "/sandbox/keys/rotate", token: admin, want: 200})
	c.do(call{method: "POST", path: "/sandbox/certs", token: admin, json: map[string]string{"common_name": "x"}, want: 201})
	c.do(call{method: "POST", path: "/sandbox/certs", token: admin, json: map[string]any{"common_name": "qwac", "roles": []string{"PSP_AI"}}, want: 201})
	c.do(call{method: "GET", path: "/sandbox/certs/ca.pem", want: 200})

	// Event notifications, for the first consent, to a polling subscription.
	expect(t, s.do(req{method: "POST", path: "/open-banking/v3.1/event-subscriptions", token: cc.AccessToken,
		body: map[string]any{"Data": map[string]any{"Version": "3.1"}}}), 201)
	var ev struct {
		JTI string `json:"jti"`
	}
	c.do(call{method: "POST", path: "/sandbox/events/fire", token: admin, json: map[string]string{"consent_id": consent.Data.ConsentId}, want: 201, out: &ev})
	c.do(call{method: "GET", path: "/sandbox/events", token: admin, want: 200})
	c.do(call{method: "POST", path: "/sandbox/events/deliver", token: admin, want: 200})
	c.do(call{method: "POST", path: "/sandbox/events/hold", token: admin, json: map[string]string{"client_id": reg.ClientID}, want: 200})
	c.do(call{method: "POST", path: "/sandbox/events/release", token: admin, json: map[string]string{"client_id": reg.ClientID}, want: 200})
	c.do(call{method: "POST", path: "/sandbox/events/" + ev.JTI + "/duplicate", token: admin, want: 409}) // polling: no CallbackUrl
	c.do(call{method: "POST", path: "/sandbox/events/" + ev.JTI + "/delay", token: admin, json: map[string]string{"delay": "10m"}})

	// The audit trail and security.
	c.do(call{method: "GET", path: "/sandbox/audit?limit=50", token: admin, want: 200})
	c.do(call{method: "GET", path: "/sandbox/audit/export", token: admin, want: 200})
	c.do(call{method: "GET", path: "/sandbox/audit/verify", token: admin, want: 200})
	c.do(call{method: "GET", path: "/sandbox/audit/head", token: admin, want: 200})
	c.do(call{method: "GET", path: "/sandbox/audit/refused", token: admin, want: 200})
	c.do(call{method: "GET", path: "/sandbox/security-events", token: admin, want: 200})
	c.do(call{method: "POST", path: "/sandbox/clients/" + reg.ClientID + "/suspend", token: admin, json: map[string]string{"reason": "contract test"}, want: 204})
	c.do(call{method: "POST", path: "/sandbox/clients/" + reg.ClientID + "/unsuspend", token: admin, want: 204})
	c.do(call{method: "POST", path: "/sandbox/clients/nobody/unsuspend", token: admin, want: 404})
	c.do(call{method: "GET", path: "/sandbox/debug/pprof/heap?debug=1", token: admin, want: 200})

	// The trainer's API, the pages, the explorer, the health checks.
	var j struct {
		ID string `json:"id"`
	}
	c.do(call{method: "POST", path: "/trainer/journeys", json: map[string]string{"kind": "accounts", "psu": "bob"}, want: 201, out: &j})
	c.do(call{method: "POST", path: "/trainer/journeys/" + j.ID + "/next", want: 200})
	c.do(call{method: "POST", path: "/trainer/journeys/nope/next", want: 404})
	c.do(call{method: "GET", path: "/trainer/stream?journey=" + j.ID, want: 200, stream: true})
	c.do(call{method: "GET", path: "/trainer/stream", want: 401})
	c.do(call{method: "GET", path: "/trainer", want: 200})
	c.do(call{method: "GET", path: "/", want: 200})
	c.do(call{method: "GET", path: "/docs", want: 200})
	for _, name := range []string{"ukob-v3.1.11.json", "ukob-v4.0.json", "authorization-server.json", "sandbox.json"} {
		c.do(call{method: "GET", path: "/docs/specs/" + name, want: 200})
	}
	c.do(call{method: "GET", path: "/docs/specs/nope.json", want: 404})
	c.do(call{method: "GET", path: "/docs/postman.json", want: 200})
	c.do(call{method: "GET", path: "/docs/postman-environment.json", want: 200})
	c.do(call{method: "GET", path: "/healthz", want: 200})
	c.do(call{method: "GET", path: "/readyz", want: 200})
	c.do(call{method: "GET", path: "/metrics", want: 200})
	c.do(call{method: "POST", path: "/sandbox/reset", token: admin, want: 204})
	c.do(call{method: "DELETE", path: "/as/register/" + reg.ClientID, token: reg.RegToken, want: 204})

	// With TLS: certificates from the development CA.
	tlsSandbox := start(t, withTLS())
	ct := o.caller(tlsSandbox)
	ct.do(call{method: "GET", path: "/sandbox/certs/ca.pem", want: 200})
	ct.do(call{method: "POST", path: "/sandbox/certs", token: tlsSandbox.app.Config.AdminToken, json: map[string]string{"common_name": "contract-tpp"}, want: 201})
	ct.do(call{method: "POST", path: "/sandbox/certs", token: tlsSandbox.app.Config.AdminToken, json: map[string]string{"kind": "nope"}, want: 400})

	if missing := o.uncovered(); len(missing) > 0 {
		t.Errorf("documented but never called:\n%s", strings.Join(missing, "\n"))
	}
	_ = time.Second
}
