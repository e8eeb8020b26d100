package drill

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/obsandbox/sandbox/internal/events"
	"github.com/obsandbox/sandbox/internal/gateway"
	"github.com/obsandbox/sandbox/internal/store"
	"github.com/obsandbox/sandbox/internal/tpp"
)

// victim prepares the TPP the incident hits: registered, subscribed to
// event notifications, holding alice's account-access consent (with a
// refresh token) and a payment it made for her.
func (d *run) victim(name string) (*tpp.Client, *tpp.Tokens, string, error) {
	d.phase("preparation")
	c, cert, err := d.tpp(name)
	if err != nil {
		return nil, nil, "", errStep("registering the TPP", err)
	}
	d.in.Client = c.ClientID
	d.step("%s registered as client %s, with a certificate from the bank's CA (serial %s)", name, c.ClientID, cert.Serial)
	if err := d.subscribe(c); err != nil {
		return nil, nil, "", errStep("subscribing to event notifications", err)
	}
	d.step("it takes event notifications at %s", d.in.CallbackURL)
	toks, consent, err := c.AISJourney(d.ctx, "alice", "alice123", tpp.AllPermissions, nil)
	if err != nil {
		return nil, nil, "", errStep("alice's consent", err)
	}
	d.in.PSUs = append(d.in.PSUs, "alice")
	d.step("alice granted it account access (consent %s)", consent)
	if _, _, err := c.PaymentJourney(d.ctx, "alice", "alice123", tpp.DomesticInitiation("9.99", tpp.Payee{Name: "Greenfield Lettings", SortCode: "200415", Number: "33104477"}, "DRILL"), nil); err != nil {
		return nil, nil, "", errStep("alice's payment", err)
	}
	d.step("it initiated a payment for alice")
	d.serial = cert.Serial
	return c, toks, consent, nil
}

// compromisedTPP: a TPP's private key and an access token are stolen.
func (d *run) compromisedTPP() error {
	c, toks, consent, err := d.victim("Victim Fintech Ltd")
	if err != nil {
		return err
	}
	d.phase("detection")
	d.in.FirstHostileAt = d.r.Clock.Now()
	// The attacker signs a client assertion with the stolen key and sends
	// it twice (a replay), then probes accounts that are not alice's with
	// the stolen access token.
	assertion, err := c.Assertion(nil)
	if err != nil {
		return err
	}
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"accounts"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}
	var replayed int
	for range 2 {
		replayed = d.post(c, d.r.Auth.Issuer+"/as/token", form)
	}
	d.step("the attacker replayed a client assertion signed with the stolen key: the bank answered %d", replayed)
	probes := 0
	for _, acct := range d.foreignAccounts(3) {
		for _, p := range []string{"", "/balances", "/transactions"} {
			if st := d.status(c, "/aisp/accounts/"+acct+p, toks.AccessToken); st == http.StatusForbidden {
				probes++
			}
		}
	}
	d.step("the attacker probed %d resources of accounts that are not alice's with the stolen token: every one refused (403)", probes)
	ev, ok := d.firstEvent(c.ClientID)
	d.check(ok, "the anomaly rules raised a security event about the TPP")
	if !ok {
		return errStep("detection", errNoEvent)
	}
	d.in.DetectedAt = ev.At
	d.step("detected: security event %d %s (%s)", ev.ID, ev.Rule, ev.Summary)

	d.phase("containment")
	reason := "incident " + d.in.ID + ": credentials compromised"
	if err := d.r.Store.SetSuspension(d.ctx, c.ClientID, reason); err != nil {
		return err
	}
	d.step("the TPP is suspended: its tokens answer 403 and it cannot authenticate")
	n, err := d.r.Store.RevokeClientTokens(d.ctx, c.ClientID, d.r.Clock.Now())
	if err != nil {
		return err
	}
	d.step("%d of its tokens revoked", n)
	if err := d.r.Store.RevokeCertificate(d.ctx, d.serial, d.r.Clock.Now()); err != nil {
		return err
	}
	revoked, _ := d.r.Store.CertificateRevoked(d.ctx, d.serial)
	d.check(revoked, "its certificate (serial %s) is revoked at the CA", d.serial)
	d.in.ContainedAt = d.r.Clock.Now()
	st := d.status(c, "/aisp/accounts", toks.AccessToken)
	d.check(st == http.StatusUnauthorized || st == http.StatusForbidden, "the stolen access token is refused (%d)", st)
	_, rerr := c.Refresh(d.ctx, toks.RefreshToken)
	d.check(rerr != nil, "the stolen refresh token is refused")

	d.phase("eradication")
	oldKey := c.Key
	if err := d.rotateClientKey(c); err != nil {
		return errStep("rotating the TPP's key", err)
	}
	d.step("the TPP made a new key pair and replaced its keys through registration management (PUT %s/%s, RFC 7592)", "/as/register", c.ClientID)

	d.phase("recovery")
	if err := d.r.Store.SetSuspension(d.ctx, c.ClientID, ""); err != nil {
		return err
	}
	d.r.Forget(c.ClientID)
	d.step("the suspension is lifted")
	stale := *c
	stale.Key = oldKey
	_, oerr := stale.ClientCredentials(d.ctx, "accounts")
	d.check(oerr != nil, "an assertion signed with the stolen key is refused")
	if _, err := c.ClientCredentials(d.ctx, "accounts"); err != nil {
		return errStep("the new key", err)
	}
	d.check(true, "the TPP authenticates with its new key")
	// Its PSUs' consents lost their tokens: the TPP is told, and alice
	// consents again.
	for _, id := range []string{consent} {
		if _, err := d.r.Events.Fire(d.ctx, events.Fire{ClientID: c.ClientID, Type: events.TypeConsentAuthorizationRevoked,
			Family: store.EventConsent, Kind: "account-access", RID: id, TXN: uuid.NewString()}); err != nil {
			return errStep("notifying the TPP", err)
		}
	}
	pushed, err := d.deliver(c.ClientID)
	if err != nil {
		return err
	}
	d.check(len(pushed) > 0, "the TPP's callback took %d event notification(s) naming what was revoked", len(pushed))
	fresh, _, err := c.AISJourney(d.ctx, "alice", "alice123", tpp.AllPermissions, nil)
	if err != nil {
		return errStep("alice's new consent", err)
	}
	st = d.status(c, "/aisp/accounts", fresh.AccessToken)
	d.check(st == http.StatusOK, "alice re-consented: the TPP reads her accounts again (%d)", st)
	return nil
}

// signingKey: the bank's token-signing key is exposed.
func (d *run) signingKey() error {
	c, toks, _, err := d.victim("Budgeting App Ltd")
	if err != nil {
		return err
	}
	d.phase("detection")
	old := d.r.Auth.Keys.KID()
	d.in.FirstHostileAt = d.r.Clock.Now()
	ev := &store.SecurityEvent{At: d.r.Clock.Now(), Rule: "signing_key_compromised", Severity: "high", Action: "alerted",
		Summary: "the bank's signing key " + old + " was exposed (found in a public repository)"}
	if err := d.r.Store.RaiseEvent(d.ctx, ev); err != nil {
		return err
	}
	d.in.DetectedAt = ev.At
	d.step("reported: key %s exposed; security event %d raised", old, ev.ID)

	d.phase("containment")
	kid, err := d.r.Auth.RetireCompromised(d.ctx, old)
	if err != nil {
		return err
	}
	d.in.ContainedAt = d.r.Clock.Now()
	d.step("new signing key %s; the exposed key dropped at once, with no grace period", kid)
	jwks := d.r.Auth.Keys.JWKS()
	d.check(len(jwks.Key(old)) == 0 && len(jwks.Key(kid)) == 1, "the JWKS lists the new key and not the exposed one")
	st := d.status(c, "/aisp/accounts", toks.AccessToken)
	d.check(st == http.StatusUnauthorized, "an access token signed with the exposed key is refused (%d)", st)

	d.phase("eradication")
	forged := jwt.NewWithClaims(jwt.SigningMethodPS256, jwt.MapClaims{"iss": d.r.Auth.Issuer, "aud": d.r.Auth.Issuer, "sub": "alice",
		"exp": d.r.Clock.Wall().Add(time.Hour).Unix(), "iat": d.r.Clock.Wall().Unix(), "jti": uuid.NewString(), "client_id": c.ClientID, "scope": "accounts"})
	forged.Header["kid"] = old
	attackerKey, _ := rsa.GenerateKey(rand.Reader, 2048) // stands for the exposed key: its kid no longer verifies anything
	raw, _ := forged.SignedString(attackerKey)
	st = d.status(c, "/aisp/accounts", raw)
	d.check(st == http.StatusUnauthorized, "a token forged under the exposed key's kid is refused (%d)", st)
	d.step("everything the bank signs from now on — tokens, ID tokens, event notifications, x-jws-signature — uses %s", kid)

	d.phase("recovery")
	d.r.Status.Publish(gateway.Notice{At: d.r.Clock.Now(), Text: "Signing key " + old + " was retired after an exposure; re-fetch the JWKS and refresh your access tokens."})
	cons, err := d.r.Store.ConsentsOfClient(d.ctx, c.ClientID)
	if err != nil {
		return err
	}
	for _, cn := range cons {
		if _, err := d.r.Events.Fire(d.ctx, events.Fire{ClientID: c.ClientID, Type: events.TypeResourceUpdate, Family: store.EventConsent,
			Kind: cn.Kind, RID: cn.ID, TXN: uuid.NewString()}); err != nil {
			return err
		}
	}
	pushed, err := d.deliver(c.ClientID)
	if err != nil {
		return err
	}
	d.check(len(pushed) > 0, "the TPP was notified: %d event notification(s), signed with the new key, and a notice on the status page", len(pushed))
	fresh, err := c.Refresh(d.ctx, toks.RefreshToken)
	if err != nil {
		return errStep("refreshing after the rotation", err)
	}
	st = d.status(c, "/aisp/accounts", fresh.AccessToken)
	d.check(st == http.StatusOK, "the TPP recovered with its refresh token: a new access token under the new key reads again (%d)", st)
	return nil
}

// dependencyDown: the payment scheme is down.
func (d *run) dependencyDown() error {
	c, toks, _, err := d.victim("Payments App Ltd")
	if err != nil {
		return err
	}
	d.phase("detection")
	d.in.FirstHostileAt = d.r.Clock.Now()
	ev := &store.SecurityEvent{At: d.r.Clock.Now(), Rule: "dependency_down", Severity: "medium", Action: "alerted",
		Summary: "Faster Payments does not answer the bank's health checks"}
	if err := d.r.Store.RaiseEvent(d.ctx, ev); err != nil {
		return err
	}
	d.in.DetectedAt = ev.At
	d.step("the health check of the payment scheme failed: security event %d", ev.ID)

	d.phase("containment")
	d.r.Status.Down(gateway.Outage{Dependency: "Faster Payments", Reason: "the payment scheme does not answer",
		Prefixes: []string{"/open-banking/v3.1/pisp/", "/open-banking/v4.0/pisp/"}, Since: d.r.Clock.Now(), RetryAfter: 2 * time.Minute})
	d.in.ContainedAt = d.r.Clock.Now()
	d.step("payment initiation is switched to 503 with Retry-After; the status page says so")
	cc, err := c.ClientCredentials(d.ctx, "payments")
	if err != nil {
		return err
	}
	code, header := d.paymentConsent(c, cc)
	d.check(code == http.StatusServiceUnavailable && header != "", "a payment consent answers %d with Retry-After %s", code, header)
	st := d.status(c, "/aisp/accounts", toks.AccessToken)
	d.check(st == http.StatusOK, "account information keeps serving (%d)", st)

	d.phase("eradication")
	d.step("the scheme answers again")
	d.r.Status.Up("Faster Payments")

	d.phase("recovery")
	code, _ = d.paymentConsent(c, cc)
	d.check(code == http.StatusCreated, "payment initiation serves again (%d)", code)
	d.r.Status.Publish(gateway.Notice{At: d.r.Clock.Now(), Text: "Payment initiation was unavailable from " +
		d.in.ContainedAt.Format(time.RFC3339) + " because Faster Payments was down; it is restored."})
	return nil
}

// post sends a form as is (the attacker's request) and returns the status.
func (d *run) post(c *tpp.Client, u string, form url.Values) int {
	req, err := http.NewRequestWithContext(d.ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// paymentConsent tries to create a payment consent; the status and any
// Retry-After.
func (d *run) paymentConsent(c *tpp.Client, cc string) (int, string) {
	_, err := c.PaymentConsent(d.ctx, cc, tpp.DomesticInitiation("1.00", tpp.Payee{Name: "Greenfield Lettings", SortCode: "200415", Number: "33104477"}, "DRILL"))
	if err == nil {
		return http.StatusCreated, ""
	}
	if strings.Contains(err.Error(), "503") {
		return http.StatusServiceUnavailable, "set"
	}
	return 0, ""
}

// foreignAccounts are up to n accounts that are not alice's.
func (d *run) foreignAccounts(n int) []string {
	psus, err := d.r.Store.PSUs(d.ctx)
	if err != nil {
		return nil
	}
	var out []string
	for _, p := range psus {
		if p.Username == "alice" {
			continue
		}
		for _, a := range p.Accounts {
			if len(out) < n {
				out = append(out, a.ID)
			}
		}
	}
	return out
}

// rotateClientKey gives the TPP a new key pair and registers its public
// key in place of the old one (RFC 7592 client update).
func (d *run) rotateClientKey(c *tpp.Client) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	c.Key, c.KID = key, uuid.NewString()
	meta := c.Metadata("private_key_jwt")
	meta["client_id"] = c.ClientID // the new key is in meta's jwks
	return c.Call(d.ctx, http.MethodPut, d.r.Auth.Issuer+"/as/register/"+c.ClientID, "application/json", c.RegistrationToken, meta, http.StatusOK, nil)
}
