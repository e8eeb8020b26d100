package e2e

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// The three SCA approaches end to end, and the scaStatus transitions each
// goes through.

func (p *bgTPP) scaStatus(path string) string {
	p.t.Helper()
	r := p.call("GET", path, nil, nil)
	expect(p.t, r, 200)
	var a struct{ ScaStatus string }
	r.JSON(p.t, &a)
	return a.ScaStatus
}

func (p *bgTPP) consentStatus(id string) string {
	p.t.Helper()
	var st struct{ ConsentStatus string }
	p.call("GET", "/consents/"+id+"/status", nil, nil).JSON(p.t, &st)
	return st.ConsentStatus
}

// TestBerlinGroupEmbedded: TPP-Redirect-Preferred false -> EMBEDDED. The
// implicit authorisation (psuIdentified by PSU-ID) takes the password
// (psuAuthenticated, two methods), a method (scaMethodSelected, a
// challenge), and the OTP: a wrong one is 401 PSU_CREDENTIALS_INVALID and
// changes nothing but the PSU's lockout count; 123456 finalises it. Three
// wrong OTPs fail the routine and reject the consent.
func TestBerlinGroupEmbedded(t *testing.T) {
	t.Parallel()
	s := start(t)
	tpp := s.qwac("PSP_AI")
	cur := ibans(s, "alice")[0]
	embedded := map[string]string{"TPP-Redirect-Preferred": "false", "PSU-ID": "alice", "TPP-Redirect-URI": ""}
	c := tpp.consent(recurring(map[string]any{"balances": refs(cur)}, 4), embedded)
	if c.ScaStatus != "psuIdentified" {
		t.Fatalf("implicit embedded start: scaStatus %s, want psuIdentified", c.ScaStatus)
	}
	auth := bgPath(t, c.link(t, "updatePsuAuthentication"))
	put := func(body any) *response {
		return tpp.call("PUT", auth, body, map[string]string{"PSU-ID": "alice"})
	}
	expectCode(t, put(map[string]any{"psuData": map[string]string{"password": "wrong"}}), 401, "PSU_CREDENTIALS_INVALID")
	expectCode(t, put(map[string]string{"scaAuthenticationData": "123456"}), 409, "STATUS_INVALID")
	r := put(map[string]any{"psuData": map[string]string{"password": "alice123"}})
	expect(t, r, 200)
	var st struct {
		ScaStatus       string
		ScaMethods      []struct{ AuthenticationMethodID string }
		ChosenScaMethod struct{ AuthenticationMethodID string }
		ChallengeData   struct{ OtpMaxLength int }
		Links           map[string]struct{ Href string } `json:"_links"`
	}
	r.JSON(t, &st)
	if st.ScaStatus != "psuAuthenticated" || len(st.ScaMethods) != 2 || st.Links["selectAuthenticationMethod"].Href == "" {
		t.Fatalf("after the password: %s", r.Body)
	}
	expectCode(t, put(map[string]string{"authenticationMethodId": "carrier-pigeon"}), 400, "SCA_METHOD_UNKNOWN")
	r = put(map[string]string{"authenticationMethodId": "sms"})
	expect(t, r, 200)
	r.JSON(t, &st)
	if st.ScaStatus != "scaMethodSelected" || st.ChosenScaMethod.AuthenticationMethodID != "sms" || st.ChallengeData.OtpMaxLength != 6 ||
		st.Links["authoriseTransaction"].Href == "" {
		t.Fatalf("after the method: %s", r.Body)
	}
	expectCode(t, put(map[string]string{"scaAuthenticationData": "000000"}), 401, "PSU_CREDENTIALS_INVALID")
	if got := tpp.scaStatus(auth); got != "scaMethodSelected" {
		t.Errorf("a wrong OTP moved the routine to %s", got)
	}
	if got := tpp.consentStatus(c.ConsentID); got != "received" {
		t.Errorf("a wrong OTP made the consent %s", got)
	}
	r = put(map[string]string{"scaAuthenticationData": "123456"})
	expect(t, r, 200)
	r.JSON(t, &st)
	if st.ScaStatus != "finalised" || tpp.consentStatus(c.ConsentID) != "valid" {
		t.Fatalf("after the OTP: %s, consent %s", r.Body, tpp.consentStatus(c.ConsentID))
	}
	expectCode(t, put(map[string]string{"scaAuthenticationData": "123456"}), 409, "STATUS_INVALID")
	expect(t, tpp.call("GET", "/accounts/"+cur.ID+"/balances", nil, map[string]string{"Consent-ID": c.ConsentID}), 200)

	t.Run("ThreeWrongOTPs", func(t *testing.T) {
		c := tpp.consent(recurring(map[string]any{"balances": refs(cur)}, 4), embedded)
		auth := bgPath(t, c.link(t, "updatePsuAuthentication"))
		expect(t, put2(tpp, auth, map[string]any{"psuData": map[string]string{"password": "alice123"}}), 200)
		expect(t, put2(tpp, auth, map[string]string{"authenticationMethodId": "app"}), 200)
		for range 3 {
			expectCode(t, put2(tpp, auth, map[string]string{"scaAuthenticationData": "999999"}), 401, "PSU_CREDENTIALS_INVALID")
		}
		if got := tpp.scaStatus(auth); got != "failed" {
			t.Errorf("after three wrong OTPs: %s, want failed", got)
		}
		if got := tpp.consentStatus(c.ConsentID); got != "rejected" {
			t.Errorf("after three wrong OTPs the consent is %s, want rejected", got)
		}
		// Five failures (the wrong password above counts too) lock alice:
		// even her password is refused now, as at the bank's pages.
		r := s.do(req{method: "POST", path: "/sandbox/psu/authorize", body: map[string]any{"authorize_url": "http://x/psu/berlin/bg-none",
			"username": "alice", "password": "alice123", "decision": "approve"}})
		if r.Status == 200 {
			t.Errorf("alice is not locked after five failures: %s", r.Body)
		}
	})
}

func put2(p *bgTPP, path string, body any) *response {
	p.t.Helper()
	return p.call("PUT", path, body, map[string]string{"PSU-ID": "alice"})
}

// TestBerlinGroupExplicitStart: with TPP-Explicit-Authorisation-Preferred
// the TPP starts the authorisation itself (POST .../authorisations), here
// embedded with the PSU's password in the start.
func TestBerlinGroupExplicitStart(t *testing.T) {
	t.Parallel()
	s := start(t)
	tpp := s.qwac("PSP_AI")
	cur := ibans(s, "bob")[0]
	c := tpp.consent(recurring(map[string]any{"accounts": refs(cur)}, 4), map[string]string{"TPP-Redirect-Preferred": "false",
		"TPP-Explicit-Authorisation-Preferred": "true", "TPP-Redirect-URI": ""})
	start := bgPath(t, c.link(t, "startAuthorisationWithPsuAuthentication"))
	if list := tpp.call("GET", start, nil, nil); !strings.Contains(string(list.Body), `"authorisationIds":[]`) {
		t.Fatalf("an explicit start made an authorisation: %s", list.Body)
	}
	r := tpp.call("POST", start, map[string]any{"psuData": map[string]string{"password": "bob123"}},
		map[string]string{"PSU-ID": "bob", "TPP-Redirect-Preferred": "false"})
	expect(t, r, 201)
	var a struct {
		ScaStatus, AuthorisationID string
	}
	r.JSON(t, &a)
	if a.ScaStatus != "psuAuthenticated" || a.AuthorisationID == "" || r.Header.Get("ASPSP-SCA-Approach") != "EMBEDDED" {
		t.Fatalf("explicit start: %s", r.Body)
	}
	auth := start + "/" + a.AuthorisationID
	expect(t, tpp.call("PUT", auth, map[string]string{"authenticationMethodId": "app"}, nil), 200)
	expect(t, tpp.call("PUT", auth, map[string]string{"scaAuthenticationData": "123456"}, nil), 200)
	if got := tpp.consentStatus(c.ConsentID); got != "valid" {
		t.Fatalf("consent %s", got)
	}
}

// TestBerlinGroupDecoupled: TPP-Decoupled-Preferred true -> DECOUPLED. With
// PSU-ID the routine waits at scaMethodSelected for the PSU's app; the
// headless PSU approves through the authorisation's URL (204): finalised,
// valid. Without PSU-ID the TPP identifies the PSU first
// (updatePsuIdentification).
func TestBerlinGroupDecoupled(t *testing.T) {
	t.Parallel()
	s := start(t)
	tpp := s.qwac("PSP_AI")
	cur := ibans(s, "erik")[0]
	dec := map[string]string{"TPP-Decoupled-Preferred": "true", "PSU-ID": "erik", "TPP-Redirect-URI": ""}
	c := tpp.consent(recurring(map[string]any{"transactions": refs(cur)}, 4), dec)
	if c.ScaStatus != "scaMethodSelected" || c.PSUMessage == "" {
		t.Fatalf("decoupled start: %+v", c)
	}
	authURL := c.link(t, "scaStatus")
	approve := func(user, pass, url string) *response {
		return s.do(req{method: "POST", path: "/sandbox/psu/authorize", body: map[string]any{"authorisation_url": url, "username": user,
			"password": pass, "decision": "approve"}})
	}
	expect(t, approve("alice", "alice123", authURL), 403) // not alice's
	if got := tpp.scaStatus(bgPath(t, authURL)); got != "scaMethodSelected" {
		t.Fatalf("another PSU's try moved it to %s", got)
	}
	expect(t, approve("erik", "erik123", authURL), 204)
	if got := tpp.scaStatus(bgPath(t, authURL)); got != "finalised" {
		t.Errorf("scaStatus %s, want finalised", got)
	}
	if got := tpp.consentStatus(c.ConsentID); got != "valid" {
		t.Errorf("consent %s, want valid", got)
	}
	expect(t, approve("erik", "erik123", authURL), 400) // decided already

	delete(dec, "PSU-ID")
	c = tpp.consent(recurring(map[string]any{"transactions": refs(cur)}, 4), dec)
	auth := bgPath(t, c.link(t, "updatePsuIdentification"))
	if c.ScaStatus != "received" {
		t.Fatalf("decoupled without PSU-ID: %s", c.ScaStatus)
	}
	expectCode(t, tpp.call("PUT", auth, map[string]any{}, map[string]string{"PSU-ID": "nobody"}), 401, "PSU_CREDENTIALS_INVALID")
	r := tpp.call("PUT", auth, map[string]any{}, map[string]string{"PSU-ID": "erik"})
	expect(t, r, 200)
	if got := decode(t, r)["scaStatus"]; got != "scaMethodSelected" {
		t.Fatalf("after identification: %v", got)
	}
	expect(t, s.do(req{method: "POST", path: "/sandbox/psu/authorize", body: map[string]any{"authorisation_url": s.url + bg + auth,
		"username": "erik", "password": "erik123", "decision": "deny"}}), 204)
	if got := tpp.consentStatus(c.ConsentID); got != "rejected" {
		t.Errorf("denied: consent %s, want rejected", got)
	}
	if got := tpp.scaStatus(auth); got != "failed" {
		t.Errorf("denied: scaStatus %s, want failed", got)
	}

	// Not approved in time: 30 minutes of sandbox time.
	dec["PSU-ID"] = "erik"
	c = tpp.consent(recurring(map[string]any{"transactions": refs(cur)}, 4), dec)
	s.advance("31m")
	if got := tpp.scaStatus(bgPath(t, c.link(t, "scaStatus"))); got != "failed" {
		t.Errorf("after 31 minutes: scaStatus %s, want failed", got)
	}
	if got := tpp.consentStatus(c.ConsentID); got != "rejected" {
		t.Errorf("after 31 minutes: consent %s, want rejected", got)
	}
	expect(t, approve("erik", "erik123", c.link(t, "scaStatus")), 400)
}

// pageClient is a PSU's browser for form pages: cookies, no redirects followed.
type pageClient struct {
	t  *testing.T
	hc *http.Client
}

func (s *sandbox) formClient(t *testing.T) *pageClient {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &pageClient{t, hc}
}

func (b *pageClient) get(u string) (int, string) {
	b.t.Helper()
	resp, err := b.hc.Get(u)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (b *pageClient) post(u string, v url.Values) (int, string, string) {
	b.t.Helper()
	resp, err := b.hc.PostForm(u, v)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header.Get("Location")
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// TestBerlinGroupPSUPages: the redirect approach at the bank's real pages
// (log in, review the Berlin Group consent, approve: back to
// TPP-Redirect-URI), and the decoupled approach among the connected-apps
// page's pending approvals.
func TestBerlinGroupPSUPages(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	tpp := s.qwac("PSP_AI", "PSP_PI")
	erik := ibans(s, "erik")
	t.Run("Redirect", func(t *testing.T) {
		c := tpp.consent(recurring(map[string]any{"accounts": refs(erik[0]), "balances": refs(erik[0])}, 2), nil)
		b := s.formClient(t)
		st, page := b.get(c.link(t, "scaRedirect"))
		if st != 200 || !strings.Contains(page, tpp.orgID) || !strings.Contains(page, "Log in") {
			t.Fatalf("the scaRedirect page: %d\n%s", st, page)
		}
		action := regexp.MustCompile(`action="([^"]+/login)"`).FindStringSubmatch(page)
		st, _, loc := b.post(s.url+action[1], url.Values{"csrf": {csrfField.FindStringSubmatch(page)[1]}, "username": {"erik"}, "password": {"erik123"}})
		if st != http.StatusSeeOther {
			t.Fatalf("login: %d", st)
		}
		if got := tpp.scaStatus(bgPath(t, c.link(t, "scaStatus"))); got != "psuAuthenticated" {
			t.Errorf("after the login: scaStatus %s, want psuAuthenticated", got)
		}
		_, page = b.get(s.url + loc)
		if !strings.Contains(page, "Balances of account(s) ****"+erik[0].IBAN[len(erik[0].IBAN)-4:]) || !strings.Contains(page, "up to 2 time(s) a day") {
			t.Fatalf("the consent page does not say what the consent shows:\n%s", page)
		}
		decision := regexp.MustCompile(`action="([^"]+/decision)"`).FindStringSubmatch(page)
		st, _, loc = b.post(s.url+decision[1], url.Values{"csrf": {csrfField.FindStringSubmatch(page)[1]}, "decision": {"approve"}, "accounts": {erik[0].ID}})
		if st != http.StatusSeeOther || loc != tppRedirect {
			t.Fatalf("the decision: %d to %s, want %s", st, loc, tppRedirect)
		}
		if got := tpp.consentStatus(c.ConsentID); got != "valid" {
			t.Errorf("consent %s", got)
		}
	})
	t.Run("DecoupledPendingApproval", func(t *testing.T) {
		r := tpp.call("POST", "/payments/sepa-credit-transfers", sepa(erik[0].IBAN, "12.50", erik[1].IBAN, "Erik Savings"),
			map[string]string{"TPP-Decoupled-Preferred": "true", "PSU-ID": "erik"})
		expect(t, r, 201)
		var p sca
		r.JSON(t, &p)
		b := s.formClient(t)
		_, page := b.get(s.url + "/psu/apps")
		b.post(s.url+"/psu/login", url.Values{"csrf": {csrfField.FindStringSubmatch(page)[1]}, "username": {"erik"}, "password": {"erik123"}})
		_, page = b.get(s.url + "/psu/apps")
		link := regexp.MustCompile(`href="(/psu/approvals/bg-[^"]+)">[^\n]*make a payment`).FindStringSubmatch(page)
		if link == nil {
			t.Fatalf("the apps page lists no pending Berlin Group approval:\n%s", page)
		}
		_, page = b.get(s.url + link[1])
		if !strings.Contains(page, "€12.50") || !strings.Contains(page, erik[1].IBAN) {
			t.Fatalf("the approval page does not show the payment:\n%s", page)
		}
		st, body, _ := b.post(s.url+link[1]+"/decision", url.Values{"csrf": {csrfField.FindStringSubmatch(page)[1]}, "decision": {"approve"}})
		if st != 200 || !strings.Contains(body, "You approved") {
			t.Fatalf("the decision: %d\n%s", st, body)
		}
		var ps struct{ TransactionStatus string }
		tpp.call("GET", "/payments/sepa-credit-transfers/"+p.PaymentID+"/status", nil, nil).JSON(t, &ps)
		if ps.TransactionStatus == "RCVD" || ps.TransactionStatus == "RJCT" {
			t.Errorf("approved in the app: %s", ps.TransactionStatus)
		}
	})
}

// sepa is a SEPA credit transfer body.
func sepa(debtor, amount, creditor, name string) map[string]any {
	return map[string]any{"debtorAccount": map[string]string{"iban": debtor}, "instructedAmount": map[string]string{"currency": "EUR", "amount": amount},
		"creditorAccount": map[string]string{"iban": creditor}, "creditorName": name, "remittanceInformationUnstructured": "SANDBOX " + amount}
}
