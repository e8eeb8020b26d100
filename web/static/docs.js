// The API explorer: Swagger UI over the sandbox's contracts, a chooser
// between them, and the tokens "Try it out" sends (got headlessly in dev).
(function () {
  'use strict';
  var root = document.getElementById('docs');
  var base = root.dataset.base || '';
  var $ = function (id) { return document.getElementById(id); };
  var status = $('token-status');

  // tokenFor picks the token an endpoint takes (UK Open Banking: consents,
  // payment status reads and events take a client-credentials token; data,
  // payments and funds checks the PSU's; the sandbox controls the admin's).
  function tokenFor(url, method) {
    var p = new URL(url, location.href).pathname;
    if (p.indexOf(base) === 0) p = p.slice(base.length);
    if (p.indexOf('/sandbox/psu/') === 0 || p.indexOf('/as/') === 0) return '';
    if (p.indexOf('/sandbox/') === 0 || p.indexOf('/trainer/') === 0) return $('admin-token').value.trim();
    if (p.indexOf('/open-banking/') !== 0) return '';
    var cc = $('cc-token').value.trim(), access = $('access-token').value.trim();
    if (/\/funds-confirmation$/.test(p)) return access;
    if (/-consents(\/[^/]+)?$/.test(p) || /\/event-subscriptions/.test(p) || /\/events$/.test(p)) return cc;
    if (method === 'GET' && /\/pisp\/(domestic|international|file)[a-z-]*payments\//.test(p)) return cc;
    return access;
  }

  var ui = window.SwaggerUIBundle({
    url: $('spec').value,
    dom_id: '#swagger-ui',
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
    validatorUrl: null, // no call to an outside validator
    docExpansion: 'none',
    defaultModelsExpandDepth: -1,
    filter: true,
    tryItOutEnabled: true,
    persistAuthorization: false,
    requestInterceptor: function (req) {
      var has = Object.keys(req.headers || {}).some(function (h) { return h.toLowerCase() === 'authorization'; });
      if (!has) {
        var t = tokenFor(req.url, (req.method || 'GET').toUpperCase());
        if (t) req.headers.Authorization = 'Bearer ' + t;
      }
      return req;
    }
  });
  window.explorer = ui;
  $('spec').addEventListener('change', function () {
    ui.specActions.updateUrl($('spec').value);
    ui.specActions.download($('spec').value);
  });

  // The headless journey (dev profile), as the README's walk-through does it.
  var redirect = 'http://localhost:3000/callback';
  var verifier = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'; // RFC 7636's example pair
  var challenge = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';
  function call(method, path, opts) {
    opts = opts || {};
    var headers = opts.headers || {};
    var body = opts.json ? JSON.stringify(opts.json) : (opts.form ? new URLSearchParams(opts.form).toString() : undefined);
    if (opts.json) headers['Content-Type'] = 'application/json';
    if (opts.form) headers['Content-Type'] = 'application/x-www-form-urlencoded';
    if (opts.basic) headers.Authorization = 'Basic ' + btoa(opts.basic[0] + ':' + opts.basic[1]);
    if (opts.bearer) headers.Authorization = 'Bearer ' + opts.bearer;
    return fetch(base + path, { method: method, headers: headers, body: body }).then(function (r) {
      return r.text().then(function (text) {
        var v = {};
        try { v = text ? JSON.parse(text) : {}; } catch (e) { v = { text: text }; }
        if (!r.ok) throw new Error(method + ' ' + path + ' → ' + r.status + ' ' + (v.error_description || v.error || text));
        return v;
      });
    });
  }
  var get = $('get-tokens');
  if (get) get.addEventListener('click', function () {
    var psu = $('psu').value.trim(), password = $('password').value;
    var client;
    var consent;
    get.disabled = true;
    status.className = 'docs-note';
    status.textContent = 'Registering a client…';
    call('POST', '/as/register', { json: { client_name: 'API explorer', redirect_uris: [redirect] } })
      .then(function (reg) {
        client = [reg.client_id, reg.client_secret];
        status.textContent = 'Client ' + reg.client_id + ': client-credentials token…';
        return call('POST', '/as/token', { basic: client, form: { grant_type: 'client_credentials' } });
      })
      .then(function (cc) {
        $('cc-token').value = cc.access_token;
        status.textContent = 'Creating an account-access consent…';
        return call('POST', '/open-banking/v3.1/aisp/account-access-consents', { bearer: cc.access_token, json: {
          Data: { Permissions: ['ReadAccountsDetail', 'ReadBalances', 'ReadBeneficiariesDetail', 'ReadDirectDebits',
            'ReadOffers', 'ReadParty', 'ReadPartyPSU', 'ReadProducts', 'ReadScheduledPaymentsDetail',
            'ReadStandingOrdersDetail', 'ReadStatementsDetail', 'ReadTransactionsCredits', 'ReadTransactionsDebits',
            'ReadTransactionsDetail'] }, Risk: {} } });
      })
      .then(function (c) {
        consent = c.Data.ConsentId;
        status.textContent = 'Consent ' + consent + ': pushing the authorization request…';
        return call('POST', '/as/par', { basic: client, form: { response_type: 'code', redirect_uri: redirect,
          scope: 'openid accounts', state: 'explorer', code_challenge: challenge, code_challenge_method: 'S256',
          claims: JSON.stringify({ id_token: { openbanking_intent_id: { value: consent } } }) } });
      })
      .then(function (par) {
        status.textContent = psu + ' approves headlessly…';
        var authorize = location.origin + base + '/as/authorize?client_id=' + encodeURIComponent(client[0]) +
          '&request_uri=' + encodeURIComponent(par.request_uri);
        return call('POST', '/sandbox/psu/authorize', { json: { authorize_url: authorize, username: psu, password: password, decision: 'approve' } });
      })
      .then(function (d) {
        var code = new URL(d.redirect_to).searchParams.get('code');
        if (!code) throw new Error('no code in ' + d.redirect_to);
        return call('POST', '/as/token', { basic: client, form: { grant_type: 'authorization_code', code: code,
          redirect_uri: redirect, code_verifier: verifier } });
      })
      .then(function (t) {
        $('access-token').value = t.access_token;
        status.textContent = 'Ready: consent ' + consent + ' approved by ' + psu + '. Open an operation and press "Try it out".';
      })
      .catch(function (e) {
        status.className = 'docs-note error';
        status.textContent = e.message;
      })
      .then(function () { get.disabled = false; });
  });
}());
