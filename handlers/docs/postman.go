package docs

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/api"
)

// The Postman collection (v2.1) of every contract, generated from them
// when asked for: a "Getting started" folder that checks a whole first
// journey, then every operation of each contract. A collection-level
// pre-request script gets the tokens (dev profile): it registers a client,
// creates an account-access consent, has the PSU approve it headlessly and
// exchanges the code, keeping everything in the environment — so that the
// first "Send" works. Every request checks that the bank did not fail (no
// 5xx: bad input is never a server error).

// PostmanSpecs are the contracts the collection covers: not Berlin Group's,
// whose calls the TPP's QWAC authenticates rather than the tokens the
// collection's script gets.
func PostmanSpecs() []Spec {
	var out []Spec
	for _, sp := range Specs {
		if sp.Contract.File() != api.BerlinGroup.File() {
			out = append(out, sp)
		}
	}
	return out
}

func (s *Server) postman(c echo.Context) error {
	specs := PostmanSpecs()
	docs := make([]*openapi3.T, len(specs))
	for i, sp := range specs {
		var err error
		if docs[i], err = s.loaded(sp); err != nil {
			return err
		}
	}
	col, err := Collection(docs, specs)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-cache")
	return c.JSONPretty(http.StatusOK, col, "  ")
}

func (s *Server) postmanEnvironment(c echo.Context) error {
	scheme := "http"
	if c.Request().TLS != nil {
		scheme = "https"
	}
	c.Response().Header().Set("Cache-Control", "no-cache")
	return c.JSONPretty(http.StatusOK, Environment(scheme+"://"+c.Request().Host+s.Cfg.BasePath), "  ")
}

// loaded is a contract parsed: the UK ones as the server loaded them.
func (s *Server) loaded(sp Spec) (*openapi3.T, error) {
	switch sp.Contract.File() {
	case api.UKOBv3.File():
		if s.Deps.Spec != nil {
			return s.Deps.Spec()
		}
	case api.UKOBv4.File():
		if s.Deps.SpecV4 != nil {
			return s.Deps.SpecV4()
		}
	case api.BerlinGroup.File():
		if s.Deps.SpecBG != nil {
			return s.Deps.SpecBG()
		}
	}
	return loadContract(sp.Contract)
}

// Environment is the Postman environment for a sandbox at baseURL: the
// PSU the pre-request script approves as, and the admin token to fill in
// for the sandbox controls.
func Environment(baseURL string) map[string]any {
	v := func(key, value, typ string) map[string]any {
		return map[string]any{"key": key, "value": value, "type": typ, "enabled": true}
	}
	return map[string]any{
		"name": "Open Banking Sandbox (" + baseURL + ")",
		"values": []any{
			v("baseUrl", baseURL, "default"),
			v("psu", "alice", "default"),
			v("psu_password", "alice123", "secret"),
			v("admin_token", "", "secret"),
		},
		"_postman_variable_scope": "environment",
	}
}

// Collection builds the collection from the contracts (docs[i] is
// specs[i]'s, parsed).
func Collection(docs []*openapi3.T, specs []Spec) (map[string]any, error) {
	folders := []any{gettingStarted()}
	for i, doc := range docs {
		var items []any
		for _, op := range operations(doc) {
			if op.streams() {
				continue // a stream never ends: not for a runner
			}
			items = append(items, op.item(specs[i].Contract.BasePath()))
		}
		folders = append(folders, map[string]any{"name": specs[i].Title, "item": items,
			"description": "Every operation of api/" + specs[i].Contract.File() + "."})
	}
	return map[string]any{
		"info": map[string]any{
			"name":        "Open Banking Sandbox",
			"schema":      "https://schema.getpostman.com/json/collection/v2.1.0/collection.json",
			"description": collectionDescription,
		},
		"event": []any{
			script("prerequest", preRequest),
			script("test", noServerError),
		},
		"variable": []any{
			map[string]any{"key": "baseUrl", "value": "http://127.0.0.1:8080"},
		},
		"item": folders,
	}, nil
}

const collectionDescription = `Every endpoint of the Open Banking Sandbox, generated from its contracts (the API explorer at /docs shows the same).

Import the environment from /docs/postman-environment.json too. In the dev profile the collection gets its own tokens: before a request, if it has none, it registers a client, takes a client-credentials token, creates an account-access consent, has the PSU ({{psu}}) approve it headlessly (POST /sandbox/psu/authorize) and exchanges the code. Requests to /sandbox need admin_token (printed at start-up) in the environment.

Run it: newman run <baseUrl>/docs/postman.json -e <baseUrl>/docs/postman-environment.json --env-var admin_token=...`

func script(listen, src string) map[string]any {
	return map[string]any{"listen": listen, "script": map[string]any{"type": "text/javascript", "exec": strings.Split(src, "\n")}}
}

// preRequest gets the tokens once (again after a reset): the README's
// walk-through in pm.sendRequest calls.
const preRequest = `// Tokens for the whole collection (dev profile), got once and kept in the environment.
const base = pm.variables.get('baseUrl');
const need = !pm.environment.get('access_token') || Date.now() > Number(pm.environment.get('tokens_until') || 0);
if (need && !pm.request.url.toString().includes('/as/register')) {
  const redirect = 'http://localhost:3000/callback';
  const verifier = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'; // RFC 7636's example pair
  const challenge = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';
  const fail = (what, err, res) => { throw new Error('getting tokens: ' + what + ': ' + (err || (res && res.code + ' ' + res.text()))); };
  const basic = () => ({ type: 'basic', basic: [{ key: 'username', value: pm.environment.get('client_id') }, { key: 'password', value: pm.environment.get('client_secret') }] });
  const form = (o) => ({ mode: 'urlencoded', urlencoded: Object.keys(o).map((k) => ({ key: k, value: o[k] })) });
  pm.sendRequest({ url: base + '/as/register', method: 'POST', header: { 'Content-Type': 'application/json' },
    body: { mode: 'raw', raw: JSON.stringify({ client_name: 'Postman', redirect_uris: [redirect] }) } }, (err, res) => {
    if (err || res.code !== 201) return fail('register', err, res);
    const reg = res.json();
    pm.environment.set('client_id', reg.client_id);
    pm.environment.set('client_secret', reg.client_secret);
    pm.environment.set('registration_access_token', reg.registration_access_token);
    pm.sendRequest({ url: base + '/as/token', method: 'POST', auth: basic(), body: form({ grant_type: 'client_credentials' }) }, (err, res) => {
      if (err || res.code !== 200) return fail('client credentials', err, res);
      const cc = res.json().access_token;
      pm.environment.set('cc_token', cc);
      pm.sendRequest({ url: base + '/open-banking/v3.1/aisp/account-access-consents', method: 'POST',
        header: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + cc },
        body: { mode: 'raw', raw: JSON.stringify({ Data: { Permissions: ['ReadAccountsDetail', 'ReadBalances', 'ReadBeneficiariesDetail',
          'ReadDirectDebits', 'ReadOffers', 'ReadParty', 'ReadPartyPSU', 'ReadProducts', 'ReadScheduledPaymentsDetail',
          'ReadStandingOrdersDetail', 'ReadStatementsDetail', 'ReadTransactionsCredits', 'ReadTransactionsDebits',
          'ReadTransactionsDetail'] }, Risk: {} }) } }, (err, res) => {
        if (err || res.code !== 201) return fail('consent', err, res);
        const consent = res.json().Data.ConsentId;
        pm.environment.set('consent_id', consent);
        pm.sendRequest({ url: base + '/as/par', method: 'POST', auth: basic(), body: form({ response_type: 'code', redirect_uri: redirect,
          scope: 'openid accounts', state: 'postman', code_challenge: challenge, code_challenge_method: 'S256',
          claims: JSON.stringify({ id_token: { openbanking_intent_id: { value: consent } } }) }) }, (err, res) => {
          if (err || res.code !== 201) return fail('pushed authorization request', err, res);
          const authorize = base + '/as/authorize?client_id=' + encodeURIComponent(pm.environment.get('client_id')) +
            '&request_uri=' + encodeURIComponent(res.json().request_uri);
          pm.sendRequest({ url: base + '/sandbox/psu/authorize', method: 'POST', header: { 'Content-Type': 'application/json' },
            body: { mode: 'raw', raw: JSON.stringify({ authorize_url: authorize, username: pm.environment.get('psu') || 'alice',
              password: pm.environment.get('psu_password') || 'alice123', decision: 'approve' }) } }, (err, res) => {
            if (err || res.code !== 200) return fail('headless approval', err, res);
            const code = (res.json().redirect_to.match(/[?&]code=([^&]+)/) || [])[1];
            if (!code) return fail('headless approval', 'no code in ' + res.json().redirect_to);
            pm.sendRequest({ url: base + '/as/token', method: 'POST', auth: basic(), body: form({ grant_type: 'authorization_code',
              code: decodeURIComponent(code), redirect_uri: redirect, code_verifier: verifier }) }, (err, res) => {
              if (err || res.code !== 200) return fail('code exchange', err, res);
              const tok = res.json();
              pm.environment.set('access_token', tok.access_token);
              pm.environment.set('refresh_token', tok.refresh_token || '');
              pm.environment.set('tokens_until', String(Date.now() + 1000 * Math.min(tok.expires_in, 3000)));
              pm.sendRequest({ url: base + '/open-banking/v3.1/aisp/accounts', header: { Authorization: 'Bearer ' + tok.access_token } }, (err, res) => {
                if (err || res.code !== 200) return fail('accounts', err, res);
                pm.environment.set('account_id', res.json().Data.Account[0].AccountId);
              });
            });
          });
        });
      });
    });
  });
}`

// noServerError is every request's check: the bank answered, and not with
// a server error.
const noServerError = `pm.test(pm.info.requestName + ': answered without a server error', function () {
  pm.expect(pm.response.code, pm.response.text().slice(0, 300)).to.be.below(500);
});`

// gettingStarted is the first journey, each step checked.
func gettingStarted() map[string]any {
	get := func(name, path, token, tests string) map[string]any {
		return map[string]any{"name": name, "request": map[string]any{"method": "GET", "url": url(path), "auth": bearer(token)},
			"event": []any{script("test", tests)}}
	}
	return map[string]any{
		"name":        "Getting started",
		"description": "The first journey: discovery, then the PSU's accounts, balances and transactions with the token the collection got.",
		"item": []any{
			get("Discovery", "/.well-known/openid-configuration", "", `pm.test('discovery names the token endpoint', function () {
  pm.response.to.have.status(200);
  pm.expect(pm.response.json().token_endpoint).to.include('/as/token');
});`),
			get("The PSU's accounts", "/open-banking/v3.1/aisp/accounts", "access_token", `pm.test('the accounts the PSU shared', function () {
  pm.response.to.have.status(200);
  pm.expect(pm.response.json().Data.Account.length).to.be.above(0);
});`),
			get("Balances of the first account", "/open-banking/v3.1/aisp/accounts/{{account_id}}/balances", "access_token", `pm.test('balances', function () {
  pm.response.to.have.status(200);
  pm.expect(pm.response.json().Data.Balance.length).to.be.above(0);
});`),
			get("A page of transactions", "/open-banking/v3.1/aisp/accounts/{{account_id}}/transactions?page-size=10", "access_token", `pm.test('transactions, newest first', function () {
  pm.response.to.have.status(200);
  pm.expect(pm.response.json().Data.Transaction.length).to.be.above(0);
});`),
			get("The consent, with the client-credentials token", "/open-banking/v3.1/aisp/account-access-consents/{{consent_id}}", "cc_token", `pm.test('the consent is Authorised', function () {
  pm.response.to.have.status(200);
  pm.expect(pm.response.json().Data.Status).to.eql('Authorised');
});`),
			get("The same accounts through v4.0", "/open-banking/v4.0/aisp/accounts", "access_token", `pm.test('a v3.1 consent reads v4.0', function () {
  pm.response.to.have.status(200);
});`),
		},
	}
}

func url(path string) map[string]any {
	raw := "{{baseUrl}}" + path
	p, query, _ := strings.Cut(path, "?")
	u := map[string]any{"raw": raw, "host": []string{"{{baseUrl}}"}, "path": strings.Split(strings.TrimPrefix(p, "/"), "/")}
	if query != "" {
		var q []any
		for _, kv := range strings.Split(query, "&") {
			k, v, _ := strings.Cut(kv, "=")
			q = append(q, map[string]any{"key": k, "value": v})
		}
		u["query"] = q
	}
	return u
}

func bearer(variable string) map[string]any {
	if variable == "" {
		return map[string]any{"type": "noauth"}
	}
	return map[string]any{"type": "bearer", "bearer": []any{map[string]any{"key": "token", "value": "{{" + variable + "}}", "type": "string"}}}
}

// operation is one operation of a contract.
type operation struct {
	method, path string
	op           *openapi3.Operation
	params       openapi3.Parameters
}

func operations(doc *openapi3.T) []operation {
	var out []operation
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			params := append(append(openapi3.Parameters{}, item.Parameters...), op.Parameters...)
			out = append(out, operation{method, path, op, params})
		}
	}
	order := map[string]int{"GET": 0, "POST": 1, "PUT": 2, "PATCH": 3, "DELETE": 4}
	sort.Slice(out, func(i, j int) bool {
		if out[i].path != out[j].path {
			return out[i].path < out[j].path
		}
		return order[out[i].method] < order[out[j].method]
	})
	return out
}

func (o operation) streams() bool {
	for _, r := range o.op.Responses.Map() {
		if r.Value != nil && r.Value.Content.Get("text/event-stream") != nil {
			return true
		}
	}
	return false
}

// pathVars names the environment variable a path parameter takes.
var pathVars = map[string]string{"AccountId": "account_id", "ConsentId": "consent_id", "client_id": "client_id", "username": "psu"}

var paramRE = regexp.MustCompile(`\{([^}]+)\}`)

// auth says how an operation's request authenticates: the token its
// endpoint takes (see docs.js, the same rule).
func (o operation) auth(full string) map[string]any {
	switch {
	case strings.HasPrefix(full, "/sandbox/psu/"), full == "/as/register", strings.HasPrefix(full, "/psu/"),
		full == "/as/authorize", full == "/as/jwks", strings.HasPrefix(full, "/.well-known/"), strings.HasPrefix(full, "/docs"),
		full == "/" || full == "/healthz" || full == "/readyz" || full == "/metrics" || full == "/trainer":
		return bearer("")
	case strings.HasPrefix(full, "/as/register/"):
		return bearer("registration_access_token")
	case strings.HasPrefix(full, "/as/userinfo"):
		return bearer("access_token")
	case strings.HasPrefix(full, "/as/"):
		return map[string]any{"type": "basic", "basic": []any{
			map[string]any{"key": "username", "value": "{{client_id}}", "type": "string"},
			map[string]any{"key": "password", "value": "{{client_secret}}", "type": "string"}}}
	case strings.HasPrefix(full, "/sandbox/"), strings.HasPrefix(full, "/trainer/"):
		return bearer("admin_token")
	case strings.HasSuffix(full, "/funds-confirmation"):
		return bearer("access_token")
	case strings.Contains(full, "-consents"), strings.Contains(full, "/event-subscriptions"), strings.HasSuffix(full, "/events"):
		return bearer("cc_token")
	case o.method == "GET" && regexp.MustCompile(`/pisp/[a-z-]*payments/`).MatchString(full):
		return bearer("cc_token")
	}
	return bearer("access_token")
}

func (o operation) item(basePath string) map[string]any {
	full := basePath + o.path
	path := paramRE.ReplaceAllStringFunc(full, func(m string) string {
		name := m[1 : len(m)-1]
		if v, ok := pathVars[name]; ok {
			return "{{" + v + "}}"
		}
		for _, p := range o.params {
			if p.Value != nil && p.Value.Name == name && p.Value.Schema != nil && p.Value.Schema.Value != nil && p.Value.Schema.Value.Example != nil {
				return fmt.Sprint(p.Value.Schema.Value.Example)
			}
		}
		return "unknown-" + strings.ToLower(name)
	})
	req := map[string]any{"method": o.method, "url": url(path), "auth": o.auth(full), "description": o.op.Description}
	var headers []any
	for _, p := range o.params {
		if p.Value == nil || p.Value.In != "header" || !p.Value.Required || strings.EqualFold(p.Value.Name, "Authorization") {
			continue
		}
		value := "{{$guid}}"
		if !strings.EqualFold(p.Value.Name, "x-idempotency-key") && p.Value.Schema != nil && p.Value.Schema.Value != nil && p.Value.Schema.Value.Example != nil {
			value = fmt.Sprint(p.Value.Schema.Value.Example)
		}
		headers = append(headers, map[string]any{"key": p.Value.Name, "value": value})
	}
	if rb := o.op.RequestBody; rb != nil && rb.Value != nil {
		if body, ct := requestBody(rb.Value); ct != "" {
			headers = append(headers, map[string]any{"key": "Content-Type", "value": ct})
			req["body"] = body
		}
	}
	if headers != nil {
		req["header"] = headers
	}
	name := o.op.Summary
	if name == "" {
		name = o.op.OperationID
	}
	it := map[string]any{"name": name + " — " + o.method + " " + full, "request": req}
	switch {
	case full == "/sandbox/reset" || (o.method == "DELETE" && strings.HasPrefix(full, "/as/register/")) || full == "/sandbox/snapshots/{name}/restore":
		// The tokens die with the bank's state: get new ones next time.
		it["event"] = []any{script("test", "pm.environment.unset('access_token');")}
	}
	return it
}

// requestBody is an example body: the contract's own example, else one
// made from the schema's required fields.
func requestBody(rb *openapi3.RequestBody) (map[string]any, string) {
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "application/x-www-form-urlencoded", "application/jwt"} {
		mt := rb.Content.Get(ct)
		if mt == nil {
			continue
		}
		example := mt.Example
		if example == nil {
			for _, name := range sortedKeys(mt.Examples) {
				if e := mt.Examples[name]; e != nil && e.Value != nil {
					example = e.Value.Value
					break
				}
			}
		}
		if example == nil && mt.Schema != nil {
			example = sample(mt.Schema, 0)
		}
		if ct == "application/x-www-form-urlencoded" {
			var fields []any
			if m, ok := example.(map[string]any); ok {
				for _, k := range sortedKeys(m) {
					fields = append(fields, map[string]any{"key": k, "value": fmt.Sprint(m[k])})
				}
			}
			return map[string]any{"mode": "urlencoded", "urlencoded": fields}, ct
		}
		if ct == "application/jwt" {
			return map[string]any{"mode": "raw", "raw": "<a signed JWT>"}, ct
		}
		raw, _ := json.MarshalIndent(example, "", "  ")
		return map[string]any{"mode": "raw", "raw": string(raw), "options": map[string]any{"raw": map[string]any{"language": "json"}}}, ct
	}
	return nil, ""
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// sample makes a value that fits a schema: its example, its first enum
// value, or its required properties filled the same way.
func sample(ref *openapi3.SchemaRef, depth int) any {
	if ref == nil || ref.Value == nil || depth > 8 {
		return nil
	}
	s := ref.Value
	switch {
	case s.Example != nil:
		return s.Example
	case len(s.Enum) > 0:
		return s.Enum[0]
	case len(s.AllOf) > 0:
		out := map[string]any{}
		for _, part := range s.AllOf {
			if m, ok := sample(part, depth+1).(map[string]any); ok {
				for k, v := range m {
					out[k] = v
				}
			}
		}
		return out
	case len(s.OneOf) > 0:
		return sample(s.OneOf[0], depth+1)
	case len(s.AnyOf) > 0:
		return sample(s.AnyOf[0], depth+1)
	}
	switch {
	case s.Type.Is("object") || len(s.Properties) > 0:
		out := map[string]any{}
		for _, name := range s.Required {
			out[name] = sample(s.Properties[name], depth+1)
		}
		return out
	case s.Type.Is("array"):
		if s.Items != nil {
			return []any{sample(s.Items, depth+1)}
		}
		return []any{}
	case s.Type.Is("integer"), s.Type.Is("number"):
		return 1
	case s.Type.Is("boolean"):
		return true
	case s.Format == "date-time":
		return "2026-11-01T00:00:00+00:00"
	case s.Format == "date":
		return "2026-11-01"
	}
	return "example"
}
