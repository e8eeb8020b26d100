package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// flowExchange is an exchange of a trainer step as the diagram draws it.
type flowExchange struct {
	Method, URL, From, To, Decision, Rule string
	Status                                int
}

// flowStep is the answer to POST /trainer/journeys/{id}/next.
type flowStep struct {
	Index     int
	Title     string
	Error     string
	Done      bool
	Exchanges []flowExchange
	Decoded   []struct {
		Title    string
		Claims   map[string]any
		Meanings map[string]string
	}
	Consent *struct {
		ID, Status      string
		States, Visited []string
	}
	Attacks      []struct{ Kind, Title string }
	Payment      string
	AuthorizeURL string `json:"authorize_url"`
}

// attackAnswer is the answer to POST /trainer/journeys/{id}/attacks/{kind}.
type attackAnswer struct {
	Kind, Title, Explain, Rule, Note, Error string
	Refused                                 bool
	Exchanges                               []flowExchange
}

// trainerJourney starts a trainer journey and returns its id and steps.
func trainerJourney(t *testing.T, s *sandbox, body string) (string, []struct {
	Title string
	PSU   bool
}) {
	t.Helper()
	r := s.do(req{method: http.MethodPost, path: "/trainer/journeys", body: body})
	expect(t, r, 201)
	var j struct {
		ID    string
		Steps []struct {
			Title string
			PSU   bool
		}
	}
	r.JSON(t, &j)
	return j.ID, j.Steps
}

func trainerNext(t *testing.T, s *sandbox, id string) flowStep {
	t.Helper()
	r := s.do(req{method: http.MethodPost, path: "/trainer/journeys/" + id + "/next"})
	expect(t, r, 200)
	var st flowStep
	r.JSON(t, &st)
	if st.Error != "" {
		t.Fatalf("step %d %q: %s", st.Index+1, st.Title, st.Error)
	}
	return st
}

func trainerAttack(t *testing.T, s *sandbox, id, kind string) attackAnswer {
	t.Helper()
	r := s.do(req{method: http.MethodPost, path: "/trainer/journeys/" + id + "/attacks/" + kind})
	expect(t, r, 200)
	var a attackAnswer
	r.JSON(t, &a)
	if a.Error != "" {
		t.Fatalf("attack %s: %s", kind, a.Error)
	}
	return a
}

// findExchange is the first exchange whose "METHOD path" contains what.
func findExchange(xs []flowExchange, what string) *flowExchange {
	for i := range xs {
		if u, err := url.Parse(xs[i].URL); err == nil && strings.Contains(xs[i].Method+" "+u.Path, what) {
			return &xs[i]
		}
	}
	return nil
}

func hasAttack(st flowStep, kind string) bool {
	for _, a := range st.Attacks {
		if a.Kind == kind {
			return true
		}
	}
	return false
}

// TestTrainerFlow: each exchange of a trainer journey says who sent it and
// who answered — a resource call the gateway refused ends at the gateway,
// one it let through at the resource server — and what the bank decided,
// with the rule; the consent's state machine follows the consent; the
// request object and the tokens come decoded with what each claim means;
// the attacks offered after each step are refused, each with its rule.
func TestTrainerFlow(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	id, steps := trainerJourney(t, s, `{"kind":"accounts","psu":"alice"}`)
	byTitle := map[string]flowStep{}
	for range steps {
		st := trainerNext(t, s, id)
		byTitle[st.Title] = st
		for _, x := range st.Exchanges {
			if x.From == "" || x.To == "" || (x.Decision != "allowed" && x.Decision != "refused") {
				t.Errorf("step %q: exchange %s %s drawn from %q to %q, decision %q", st.Title, x.Method, x.URL, x.From, x.To, x.Decision)
			}
		}
		if st.Title == "Exchange the code for tokens" {
			for _, kind := range []string{"replay-code", "another-psu", "tamper-token"} {
				if !hasAttack(st, kind) {
					t.Errorf("after the code exchange no %s attack is offered: %+v", kind, st.Attacks)
				}
			}
			// Another PSU's account with this consent's token.
			a := trainerAttack(t, s, id, "another-psu")
			if !a.Refused || a.Rule != "bola.foreign" || len(a.Exchanges) != 1 || a.Exchanges[0].To != "Gateway" || a.Exchanges[0].Status != 403 {
				t.Errorf("another PSU's account: %+v", a)
			}
			a = trainerAttack(t, s, id, "tamper-token")
			if !a.Refused || a.Rule != "token.invalid" || a.Exchanges[0].Status != 401 || a.Exchanges[0].To != "Gateway" {
				t.Errorf("a tampered token: %+v", a)
			}
		}
	}

	reg := byTitle["Register the app"].Exchanges
	if x := findExchange(reg, "POST /as/register"); x == nil || x.From != "TPP" || x.To != "Authorization server" || x.Decision != "allowed" {
		t.Errorf("registration drawn as %+v", x)
	}
	read := byTitle["Read the accounts and balances"].Exchanges
	if x := findExchange(read, "/aisp/accounts"); x == nil || x.To != "Resource server" || x.Status != 200 || x.Decision != "allowed" {
		t.Errorf("the accounts read drawn as %+v", x)
	}
	beyond := byTitle["Try to read beyond the consent"].Exchanges
	if x := findExchange(beyond, "/aisp/beneficiaries"); x == nil || x.To != "Gateway" || x.Decision != "refused" || x.Rule != "permission.missing" {
		t.Errorf("the read beyond the consent drawn as %+v", x)
	}
	approve := byTitle["The PSU logs in and approves"].Exchanges
	if x := findExchange(approve, "POST /sandbox/psu/authorize"); x == nil || x.From != "PSU" || x.To != "Authorization server" {
		t.Errorf("the headless PSU drawn as %+v", x)
	}

	// The consent's state machine.
	if c := byTitle["Create an account-access consent"].Consent; c == nil || c.Status != "AwaitingAuthorisation" || !strings.Contains(strings.Join(c.States, " "), "Authorised") {
		t.Errorf("the new consent: %+v", c)
	}
	if c := byTitle["Exchange the code for tokens"].Consent; c == nil || c.Status != "Authorised" || strings.Join(c.Visited, ",") != "AwaitingAuthorisation,Authorised" {
		t.Errorf("the approved consent: %+v", c)
	}
	if c := byTitle["Revoke the consent"].Consent; c == nil || c.Status != "Deleted" || strings.Join(c.Visited, ",") != "AwaitingAuthorisation,Authorised,Deleted" {
		t.Errorf("the deleted consent: %+v", c)
	}

	// Decoded with meanings: the request object and the access token.
	var ro, at bool
	for _, st := range byTitle {
		for _, d := range st.Decoded {
			switch {
			case strings.Contains(d.Title, "request object"):
				ro = d.Claims["redirect_uri"] != nil && d.Meanings["redirect_uri"] != "" && d.Meanings["state"] != ""
			case strings.Contains(d.Title, "access token"):
				at = d.Claims["openbanking_intent_id"] != nil && strings.Contains(d.Meanings["openbanking_intent_id"], "ConsentId")
			}
		}
	}
	if !ro || !at {
		t.Errorf("decoded with meanings: request object %v, access token %v", ro, at)
	}

	// The code replayed, at the end: refused, and the tokens it gave die.
	a := trainerAttack(t, s, id, "replay-code")
	if !a.Refused || a.Rule != "code.reused" || len(a.Exchanges) != 2 || a.Exchanges[0].Status != 400 || a.Exchanges[1].Status != 401 {
		t.Errorf("the replayed code: %+v, want refused by code.reused, then the token it gave refused", a)
	}
	// An attack not offered now is refused.
	expect(t, s.do(req{method: http.MethodPost, path: "/trainer/journeys/" + id + "/attacks/replay-code"}), 400)
	expect(t, s.do(req{method: http.MethodPost, path: "/trainer/journeys/" + id + "/attacks/nonsense"}), 400)
}

// TestTrainerFlowPayment: the payment journey's payment is shown settling
// on the sandbox clock; its attacks — a tampered x-jws-signature, the
// payment token used to read accounts — are refused with their rules.
func TestTrainerFlowPayment(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	id, steps := trainerJourney(t, s, `{"kind":"payment","psu":"alice"}`)
	var paid string
	for range steps {
		st := trainerNext(t, s, id)
		if st.Title == "Create a payment consent" {
			if !hasAttack(st, "tamper-signature") {
				t.Errorf("no tamper-signature attack after the payment consent: %+v", st.Attacks)
			}
			a := trainerAttack(t, s, id, "tamper-signature")
			if !a.Refused || a.Rule != "UK.OBIE.Signature.Invalid" || a.Exchanges[0].Status != 400 {
				t.Errorf("a tampered signature: %+v", a)
			}
		}
		if st.Title == "Make the payment" {
			paid = st.Payment
			var p struct {
				Status  string
				History []struct{ Status string }
			}
			r := s.get("/trainer/journeys/"+id+"/payment", "")
			expect(t, r, 200)
			r.JSON(t, &p)
			if p.Status != "Pending" {
				t.Errorf("the payment just made: %+v, want Pending", p)
			}
			expect(t, s.do(req{method: http.MethodPost, path: "/sandbox/clock", token: s.app.Config.AdminToken, body: map[string]string{"advance": "1m"}}), 200)
			r = s.get("/trainer/journeys/"+id+"/payment", "")
			expect(t, r, 200)
			r.JSON(t, &p)
			if p.Status != "AcceptedSettlementCompleted" || len(p.History) < 2 {
				t.Errorf("the payment a minute later: %+v, want it settled with its history", p)
			}
		}
		if st.Title == "Try to pay twice" {
			if c := st.Consent; c == nil || c.Status != "Consumed" {
				t.Errorf("the consent after the payment: %+v", c)
			}
			a := trainerAttack(t, s, id, "wrong-consent-token")
			if !a.Refused || a.Rule == "" || a.Rule == "HTTP 403" || a.Exchanges[0].Status != 403 || a.Exchanges[0].To != "Gateway" {
				t.Errorf("the payment token on accounts: %+v, want refused at the gateway by a named rule", a)
			}
		}
	}
	if paid == "" {
		t.Fatal("the payment step named no payment")
	}
	expect(t, s.get("/trainer/journeys/nope/payment", ""), 404)
}

// TestTrainerPSUModes: the PSU's part runs headlessly or in a second
// window on the bank's pages (where the trainer's redirect URI can be
// registered); a PSU added at run time, whose password the bank keeps only
// as a hash, can only log in themselves. The callback page hands an answer
// only to a journey waiting for its state.
func TestTrainerPSUModes(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	admin := s.app.Config.AdminToken
	expect(t, s.do(req{method: http.MethodPost, path: "/sandbox/psus", token: admin,
		body: `{"username":"zed","password":"zed-pass-1","accounts":[{"Currency":"GBP","AccountSubType":"CurrentAccount","Nickname":"Main"}]}`}), 201)
	for _, tc := range []struct {
		name, body string
		want       int
	}{
		{"window", `{"kind":"accounts","psu":"alice","psu_mode":"window"}`, 201},
		{"headless", `{"kind":"accounts","psu":"alice","psu_mode":"headless"}`, 201},
		{"runtime_psu_in_a_window", `{"kind":"payment","psu":"zed","psu_mode":"window"}`, 201},
		{"runtime_psu_headless", `{"kind":"accounts","psu":"zed"}`, 400},
		{"unknown_mode", `{"kind":"accounts","psu":"alice","psu_mode":"phone"}`, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, s.do(req{method: http.MethodPost, path: "/trainer/journeys", body: tc.body}), tc.want)
		})
	}
	id, steps := trainerJourney(t, s, `{"kind":"accounts","psu":"alice","psu_mode":"window"}`)
	if len(steps) != 9 || !steps[4].PSU || steps[3].PSU {
		t.Fatalf("window-mode steps %+v: want the fifth, the PSU's, marked", steps)
	}
	var st flowStep
	for range 4 {
		st = trainerNext(t, s, id)
	}
	if !strings.HasPrefix(st.AuthorizeURL, s.url+"/as/authorize?") || !hasAttack(st, "tamper-request") {
		t.Fatalf("after sending the PSU to the bank: authorize_url %q, attacks %+v", st.AuthorizeURL, st.Attacks)
	}
	// A tampered request object is refused before any login.
	if a := trainerAttack(t, s, id, "tamper-request"); !a.Refused || a.Exchanges[0].Status != 400 || a.Rule != "invalid_request_object" {
		t.Errorf("a tampered request object: %+v, want refused by invalid_request_object", a)
	}
	// No journey waits for an answer yet: the callback takes none.
	cb := map[string]string{"url": s.url + "/trainer/callback#code=x&state=not-waited-for"}
	expect(t, s.do(req{method: http.MethodPost, path: "/trainer/callback", body: cb}), 404)
	expect(t, s.do(req{method: http.MethodPost, path: "/trainer/callback", body: `{"url":`}), 400)
	r := s.get("/trainer/callback", "")
	expect(t, r, 200)
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("the callback page's CSP %q", csp)
	}

	// In a profile that refuses the trainer's own redirect URI (here the
	// issuer is not this loopback address), only headless runs.
	o := start(t)
	expect(t, o.do(req{method: http.MethodPost, path: "/trainer/journeys", body: `{"kind":"accounts","psu_mode":"window"}`}), 400)
	expect(t, o.do(req{method: http.MethodPost, path: "/trainer/journeys", body: `{"kind":"accounts"}`}), 201)
}
