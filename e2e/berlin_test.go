package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/obsandbox/sandbox/internal/bank"
)

// Berlin Group NextGenPSD2 1.3.12 end to end: a TPP with a test QWAC from
// the sandbox's CA, over the same bank as the UK APIs. Every answer is
// checked against api/berlin-group-1.3.12.yaml and the official file.

const bg = "/psd2/v1"

// bgTPP is a Berlin Group TPP: its QWAC (as the TPP-QWAC-Certificate header
// carries it, dev profile) and the organisation identifier in it.
type bgTPP struct {
	s     *sandbox
	t     testing.TB
	cert  string
	orgID string
}

// qwac has the sandbox issue a QWAC with roles and returns the TPP.
func (s *sandbox) qwac(roles ...string) *bgTPP {
	s.t.Helper()
	var out struct {
		Cert  string `json:"certificate_base64"`
		OrgID string `json:"organisation_id"`
	}
	r := s.do(req{method: "POST", path: "/sandbox/certs", token: s.app.Config.AdminToken,
		body: map[string]any{"common_name": "eu-tpp", "organisation": "EU Fintech GmbH", "roles": roles}})
	expect(s.t, r, 201)
	r.JSON(s.t, &out)
	if out.Cert == "" || out.OrgID == "" {
		s.t.Fatalf("no certificate_base64 or organisation_id: %s", r.Body)
	}
	return &bgTPP{s: s, t: s.t, cert: out.Cert, orgID: out.OrgID}
}

var allRoles = []string{"PSP_AS", "PSP_PI", "PSP_AI", "PSP_IC"}

// call sends a Berlin Group request with a fresh X-Request-ID, the TPP's
// certificate and PSU-IP-Address (the PSU present); h adds headers or, with
// an empty value, removes one. The answer echoes the X-Request-ID.
func (p *bgTPP) call(method, path string, body any, h map[string]string) *response {
	p.t.Helper()
	hdr := map[string]string{"X-Request-ID": uuid.NewString(), "TPP-QWAC-Certificate": p.cert, "PSU-IP-Address": "192.0.2.10"}
	for k, v := range h {
		hdr[k] = v
	}
	r := p.s.do(req{method: method, path: bg + path, body: body, header: hdr})
	if id := hdr["X-Request-ID"]; id != "" && len(id) == 36 && r.Header.Get("X-Request-ID") != id {
		p.t.Errorf("%s %s: X-Request-ID %q, want the request's %q", method, path, r.Header.Get("X-Request-ID"), id)
	}
	return r
}

// tppCode is the first tppMessages code of an error answer.
func (r *response) tppCode(t testing.TB) string {
	t.Helper()
	var e struct {
		TPPMessages []struct{ Category, Code, Path, Text string } `json:"tppMessages"`
	}
	r.JSON(t, &e)
	if len(e.TPPMessages) == 0 {
		t.Fatalf("no tppMessages in %s", r.Body)
	}
	return e.TPPMessages[0].Code
}

// expectCode fails unless the answer has the status and tppMessages code.
func expectCode(t testing.TB, r *response, status int, code string) {
	t.Helper()
	expect(t, r, status)
	if got := r.tppCode(t); got != code {
		t.Fatalf("code %s, want %s; body %s", got, code, r.Body)
	}
}

const tppRedirect = "https://tpp.example/cb"

// sca is the SCA part of a 201.
type sca struct {
	ConsentID         string `json:"consentId"`
	ConsentStatus     string `json:"consentStatus"`
	PaymentID         string `json:"paymentId"`
	BasketID          string `json:"basketId"`
	TransactionStatus string `json:"transactionStatus"`
	ScaStatus         string `json:"scaStatus"`
	AuthorisationID   string `json:"authorisationId"`
	PSUMessage        string `json:"psuMessage"`
	Links             map[string]struct {
		Href string `json:"href"`
	} `json:"_links"`
}

func (x sca) link(t testing.TB, name string) string {
	t.Helper()
	l, ok := x.Links[name]
	if !ok {
		t.Fatalf("no _links.%s in %+v", name, x.Links)
	}
	return l.Href
}

// path turns a link of the API into a path under /psd2/v1.
func bgPath(t testing.TB, href string) string {
	t.Helper()
	i := strings.Index(href, bg+"/")
	if i < 0 {
		t.Fatalf("link %s is not under %s", href, bg)
	}
	return href[i+len(bg):]
}

// headless has the headless PSU decide at a scaRedirect URL and returns
// where the browser would be sent.
func (s *sandbox) headlessRedirect(scaRedirect, psu, password, decision string, accounts []string) string {
	s.t.Helper()
	body := map[string]any{"authorize_url": scaRedirect, "username": psu, "password": password, "decision": decision}
	if accounts != nil {
		body["accounts"] = accounts
	}
	r := s.do(req{method: "POST", path: "/sandbox/psu/authorize", body: body})
	expect(s.t, r, 200)
	var out struct {
		RedirectTo string `json:"redirect_to"`
	}
	r.JSON(s.t, &out)
	return out.RedirectTo
}

// consent creates a consent (redirect approach unless h says otherwise).
func (p *bgTPP) consent(body any, h map[string]string) sca {
	p.t.Helper()
	hdr := map[string]string{"TPP-Redirect-URI": tppRedirect, "TPP-Nok-Redirect-URI": tppRedirect + "?nok"}
	for k, v := range h {
		hdr[k] = v
	}
	r := p.call("POST", "/consents", body, hdr)
	expect(p.t, r, 201)
	var out sca
	r.JSON(p.t, &out)
	if out.ConsentStatus != "received" || r.Header.Get("Location") == "" || r.Header.Get("ASPSP-SCA-Approach") == "" {
		p.t.Fatalf("201 without received, Location or ASPSP-SCA-Approach: %v %s", r.Header, r.Body)
	}
	return out
}

// validConsent is a consent the PSU approved at the redirect pages.
func (p *bgTPP) validConsent(psu, password string, body any) string {
	p.t.Helper()
	c := p.consent(body, nil)
	if to := p.s.headlessRedirect(c.link(p.t, "scaRedirect"), psu, password, "approve", nil); to != tppRedirect {
		p.t.Fatalf("approved, the PSU goes to %s, want %s", to, tppRedirect)
	}
	var st struct{ ConsentStatus string }
	p.call("GET", "/consents/"+c.ConsentID+"/status", nil, nil).JSON(p.t, &st)
	if st.ConsentStatus != "valid" {
		p.t.Fatalf("consent %s is %s after approval", c.ConsentID, st.ConsentStatus)
	}
	return c.ConsentID
}

func recurring(access map[string]any, perDay int) map[string]any {
	return map[string]any{"access": access, "recurringIndicator": true, "validUntil": "2027-03-31", "frequencyPerDay": perDay,
		"combinedServiceIndicator": false}
}

func ibans(s *sandbox, psu string) []bank.Account {
	s.t.Helper()
	as, err := s.app.Store.AccountsOfPSU(context.Background(), psu)
	if err != nil {
		s.t.Fatal(err)
	}
	return as
}

func refs(as ...bank.Account) []map[string]string {
	var out []map[string]string
	for _, a := range as {
		out = append(out, map[string]string{"iban": a.IBAN})
	}
	return out
}

func decode(t testing.TB, r *response) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("%v: %s", err, r.Body)
	}
	return v
}

// TestBerlinGroupAISRedirect: a detailed consent on alice's current
// account, approved at the bank's pages (headless), then her accounts,
// balances, transactions and one transaction.
func TestBerlinGroupAISRedirect(t *testing.T) {
	t.Parallel()
	s := start(t)
	tpp := s.qwac(allRoles...)
	alice := ibans(s, "alice")
	cur := alice[0]
	id := tpp.validConsent("alice", "alice123", recurring(map[string]any{"accounts": refs(cur), "balances": refs(cur),
		"transactions": refs(cur)}, 4))
	h := map[string]string{"Consent-ID": id}
	r := tpp.call("GET", "/accounts?withBalance=true", nil, h)
	expect(t, r, 200)
	var list struct {
		Accounts []struct {
			ResourceID, IBAN, Currency string
			Balances                   []any
		}
	}
	r.JSON(t, &list)
	if len(list.Accounts) != 1 || list.Accounts[0].ResourceID != cur.ID || list.Accounts[0].IBAN != cur.IBAN || len(list.Accounts[0].Balances) == 0 {
		t.Fatalf("accounts %s", r.Body)
	}
	expect(t, tpp.call("GET", "/accounts/"+cur.ID, nil, h), 200)
	expect(t, tpp.call("GET", "/accounts/"+cur.ID+"/balances", nil, h), 200)
	r = tpp.call("GET", "/accounts/"+cur.ID+"/transactions?bookingStatus=both&dateFrom=2026-09-01&itemsPerPage=5", nil, h)
	expect(t, r, 200)
	var rep struct {
		Transactions struct {
			Booked []struct{ TransactionID string }
			Links  map[string]struct{ Href string } `json:"_links"`
		}
	}
	r.JSON(t, &rep)
	if len(rep.Transactions.Booked) == 0 || rep.Transactions.Links["next"].Href == "" {
		t.Fatalf("transactions %s", r.Body)
	}
	expect(t, tpp.call("GET", "/accounts/"+cur.ID+"/transactions/"+rep.Transactions.Booked[0].TransactionID, nil, h), 200)
}

// TestBerlinGroupConsentLifecycle: GET consent (validUntil adjusted,
// lastActionDate), its authorisations, DELETE -> terminatedByTpp, after
// which its data calls get 401 CONSENT_INVALID.
func TestBerlinGroupConsentLifecycle(t *testing.T) {
	t.Parallel()
	s := start(t)
	tpp := s.qwac("PSP_AI")
	cur := ibans(s, "alice")[0]
	body := recurring(map[string]any{"balances": refs(cur)}, 4)
	body["validUntil"] = "9999-12-31"
	c := tpp.consent(body, nil)
	r := tpp.call("GET", "/consents/"+c.ConsentID, nil, nil)
	expect(t, r, 200)
	got := decode(t, r)
	want := s.app.Clock.Now().AddDate(0, 0, bank.MaxConsentDays).Format("2006-01-02")
	if got["validUntil"] != want || got["consentStatus"] != "received" || got["lastActionDate"] == nil {
		t.Errorf("consent %s; want validUntil %s", r.Body, want)
	}
	r = tpp.call("GET", "/consents/"+c.ConsentID+"/authorisations", nil, nil)
	expect(t, r, 200)
	var ids struct{ AuthorisationIDs []string }
	r.JSON(t, &ids)
	if len(ids.AuthorisationIDs) != 1 {
		t.Fatalf("authorisations %s, want the implicit one", r.Body)
	}
	auth := "/consents/" + c.ConsentID + "/authorisations/" + ids.AuthorisationIDs[0]
	if bgPath(t, c.link(t, "scaStatus")) != auth {
		t.Errorf("scaStatus link %s, want %s", c.link(t, "scaStatus"), auth)
	}
	scaStatus := func() string {
		var a struct{ ScaStatus string }
		tpp.call("GET", auth, nil, nil).JSON(t, &a)
		return a.ScaStatus
	}
	if st := scaStatus(); st != "received" {
		t.Errorf("scaStatus %s, want received", st)
	}
	s.headlessRedirect(c.link(t, "scaRedirect"), "alice", "alice123", "approve", nil)
	if st := scaStatus(); st != "finalised" {
		t.Errorf("scaStatus %s after approval, want finalised", st)
	}
	h := map[string]string{"Consent-ID": c.ConsentID}
	expect(t, tpp.call("GET", "/accounts/"+cur.ID+"/balances", nil, h), 200)
	expectCode(t, tpp.call("GET", "/accounts/"+cur.ID+"/transactions?bookingStatus=booked&dateFrom=2026-10-01", nil, h), 401, "CONSENT_INVALID")
	expectCode(t, tpp.call("GET", "/accounts/"+ibans(s, "alice")[1].ID+"/balances", nil, h), 401, "CONSENT_INVALID")
	expectCode(t, tpp.call("GET", "/accounts/00000000-0000-4000-8000-000000000000/balances", nil, h), 404, "RESOURCE_UNKNOWN")
	expect(t, tpp.call("DELETE", "/consents/"+c.ConsentID, nil, nil), 204)
	r = tpp.call("GET", "/consents/"+c.ConsentID+"/status", nil, nil)
	expect(t, r, 200)
	if st := decode(t, r)["consentStatus"]; st != "terminatedByTpp" {
		t.Errorf("after DELETE: %v, want terminatedByTpp", st)
	}
	expectCode(t, tpp.call("GET", "/accounts/"+cur.ID+"/balances", nil, h), 401, "CONSENT_INVALID")
	expectCode(t, tpp.call("DELETE", "/consents/"+c.ConsentID, nil, nil), 409, "STATUS_INVALID")

	// The PSU revokes another consent at the bank (the connected-apps page's
	// headless twin): revokedByPsu, and its reads stop.
	id := tpp.validConsent("alice", "alice123", body)
	expect(t, s.do(req{method: "POST", path: "/sandbox/psu/revoke", body: map[string]string{"username": "alice", "password": "alice123", "consent_id": id}}), 204)
	if st := tpp.consentStatus(id); st != "revokedByPsu" {
		t.Errorf("revoked by the PSU: %s", st)
	}
	expectCode(t, tpp.call("GET", "/accounts/"+cur.ID+"/balances", nil, map[string]string{"Consent-ID": id}), 401, "CONSENT_INVALID")
}

// TestBerlinGroupBankOffered: a consent with empty lists; the PSU chooses
// one account at the bank; the consent then shows it, and only it is read.
func TestBerlinGroupBankOffered(t *testing.T) {
	t.Parallel()
	s := start(t)
	tpp := s.qwac("PSP_AI")
	alice := ibans(s, "alice")
	c := tpp.consent(recurring(map[string]any{"accounts": []any{}, "balances": []any{}, "transactions": []any{}}, 4), nil)
	s.headlessRedirect(c.link(t, "scaRedirect"), "alice", "alice123", "approve", []string{alice[1].ID})
	r := tpp.call("GET", "/consents/"+c.ConsentID, nil, nil)
	expect(t, r, 200)
	var got struct {
		Access        map[string][]map[string]string
		ConsentStatus string
	}
	r.JSON(t, &got)
	if got.ConsentStatus != "valid" || len(got.Access["balances"]) != 1 || got.Access["balances"][0]["iban"] != alice[1].IBAN {
		t.Fatalf("consent %s", r.Body)
	}
	r = tpp.call("GET", "/accounts", nil, map[string]string{"Consent-ID": c.ConsentID})
	expect(t, r, 200)
	var list struct{ Accounts []struct{ ResourceID string } }
	r.JSON(t, &list)
	if len(list.Accounts) != 1 || list.Accounts[0].ResourceID != alice[1].ID {
		t.Fatalf("accounts %s", r.Body)
	}
	expectCode(t, tpp.call("GET", "/accounts/"+alice[0].ID, nil, map[string]string{"Consent-ID": c.ConsentID}), 401, "CONSENT_INVALID")
}

// TestBerlinGroupGlobalConsents: availableAccounts lists accounts and no
// more; allPsd2 reaches every account, card accounts included.
func TestBerlinGroupGlobalConsents(t *testing.T) {
	t.Parallel()
	s := start(t)
	tpp := s.qwac("PSP_AI")
	alice := ibans(s, "alice")
	card := alice[2]
	avail := tpp.validConsent("alice", "alice123", map[string]any{"access": map[string]any{"availableAccounts": "allAccounts"},
		"recurringIndicator": false, "validUntil": "2026-12-01", "frequencyPerDay": 1, "combinedServiceIndicator": false})
	h := map[string]string{"Consent-ID": avail}
	r := tpp.call("GET", "/accounts", nil, h)
	expect(t, r, 200)
	var list struct{ Accounts []map[string]any }
	r.JSON(t, &list)
	if len(list.Accounts) != 2 || list.Accounts[0]["_links"] != nil {
		t.Fatalf("available accounts %s: want the two payment accounts, without links", r.Body)
	}
	expectCode(t, tpp.call("GET", "/accounts/"+alice[0].ID, nil, h), 401, "CONSENT_INVALID")
	all := tpp.validConsent("alice", "alice123", recurring(map[string]any{"allPsd2": "allAccounts"}, 4))
	h = map[string]string{"Consent-ID": all}
	r = tpp.call("GET", "/card-accounts?", nil, h)
	expect(t, r, 200)
	var cards struct {
		CardAccounts []struct{ ResourceID, MaskedPan string }
	}
	r.JSON(t, &cards)
	if len(cards.CardAccounts) != 1 || cards.CardAccounts[0].ResourceID != card.ID || cards.CardAccounts[0].MaskedPan != bank.MaskPANBG(card.PAN) {
		t.Fatalf("card accounts %s", r.Body)
	}
	expect(t, tpp.call("GET", "/card-accounts/"+card.ID, nil, h), 200)
	expect(t, tpp.call("GET", "/card-accounts/"+card.ID+"/balances", nil, h), 200)
	r = tpp.call("GET", "/card-accounts/"+card.ID+"/transactions?bookingStatus=both&dateFrom=2026-10-01&itemsPerPage=10", nil, h)
	expect(t, r, 200)
	var rep struct {
		CardTransactions struct {
			Booked []struct{ CardTransactionID, MaskedPAN string }
		}
	}
	r.JSON(t, &rep)
	if len(rep.CardTransactions.Booked) == 0 {
		t.Fatalf("card transactions %s", r.Body)
	}
	// A card account is not a payment account, and the reverse.
	expectCode(t, tpp.call("GET", "/accounts/"+card.ID, nil, h), 404, "RESOURCE_UNKNOWN")
	expectCode(t, tpp.call("GET", "/card-accounts/"+alice[0].ID, nil, h), 404, "RESOURCE_UNKNOWN")
	// The information report: the account's standing orders.
	r = tpp.call("GET", "/accounts/"+alice[0].ID+"/transactions?bookingStatus=information", nil, h)
	expect(t, r, 200)
	var info struct {
		Transactions struct {
			Information []map[string]any
		}
	}
	r.JSON(t, &info)
	if len(info.Transactions.Information) < 2 {
		t.Fatalf("information %s: want alice's standing orders", r.Body)
	}
}
