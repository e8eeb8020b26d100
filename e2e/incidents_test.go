package e2e

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/drill"
)

// setReceiver is a TPP's event-notification endpoint: it keeps the event
// types of the SETs pushed to it.
type setReceiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	types []string
}

func newSETReceiver(t *testing.T) *setReceiver {
	r := &setReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		parts := strings.Split(string(body), ".")
		if len(parts) != 3 || req.Header.Get("Content-Type") != "application/jwt" {
			http.Error(w, "not a SET", http.StatusBadRequest)
			return
		}
		raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var set struct{ Events map[string]json.RawMessage }
		json.Unmarshal(raw, &set)
		r.mu.Lock()
		for typ := range set.Events {
			r.types = append(r.types, typ)
		}
		r.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// TestIncidentDrills runs each drill end to end: its phases happen in
// order, every control it checks holds (the affected tokens refused, the
// certificate revoked, the old key gone from the JWKS, 503 with
// Retry-After while the rest serves), event notifications reach the TPP's
// callback, and the report lists exactly the resources the audit trail
// shows the incident reached, with the times to detect and contain.
func TestIncidentDrills(t *testing.T) {
	for _, scenario := range []string{drill.CompromisedTPP, drill.SigningKey, drill.DependencyDown} {
		t.Run(scenario, func(t *testing.T) {
			t.Parallel()
			s := start(t, realIssuer())
			admin := s.app.Config.AdminToken
			rcv := newSETReceiver(t)
			var jwksBefore struct{ Keys []struct{ Kid string } }
			s.do(req{method: "GET", path: "/as/jwks"}).JSON(t, &jwksBefore)

			r := s.do(req{method: "POST", path: "/sandbox/incidents", token: admin,
				body: map[string]string{"scenario": scenario, "callback_url": rcv.srv.URL + "/open-banking/v3.1/event-notifications"}})
			expect(t, r, 201)
			var in drill.Incident
			r.JSON(t, &in)
			if in.Status != "closed" {
				t.Fatalf("incident %s: %s", in.Status, in.Error)
			}
			var names []string
			for i, p := range in.Phases {
				names = append(names, p.Name)
				if p.Ended.Before(p.Started) || (i > 0 && p.Started.Before(in.Phases[i-1].Ended)) {
					t.Errorf("phase %s out of order", p.Name)
				}
			}
			if !slices.Equal(names, drill.Phases) {
				t.Errorf("phases %v, want %v", names, drill.Phases)
			}
			if len(in.Checks) == 0 {
				t.Error("the drill checked nothing")
			}
			for _, c := range in.Checks {
				if !c.OK {
					t.Errorf("%s: %s did not hold", c.Phase, c.What)
				}
			}
			if in.DetectedAt.Before(in.FirstHostileAt) || in.ContainedAt.Before(in.DetectedAt) || in.FirstHostileAt.IsZero() {
				t.Errorf("hostile %v, detected %v, contained %v", in.FirstHostileAt, in.DetectedAt, in.ContainedAt)
			}

			var rep drill.Report
			s.do(req{method: "GET", path: "/sandbox/incidents/" + in.ID + "/report", token: admin}).JSON(t, &rep)
			// What the audit trail says the incident reached.
			var trail struct {
				Entries []struct {
					At                   time.Time
					ClientID             string `json:"client_id"`
					PSU                  string
					ConsentID            string `json:"consent_id"`
					Rule, Decision, Path string
					Status               int
				}
			}
			s.do(req{method: "GET", path: "/sandbox/audit?limit=10000", token: admin}).JSON(t, &trail)
			clients, psus, consents := map[string]bool{}, map[string]bool{}, map[string]bool{}
			if scenario == drill.DependencyDown {
				for _, e := range trail.Entries {
					if e.Rule == "dependency.down" {
						clients[e.ClientID] = true
						if e.Status != 503 || !strings.Contains(e.Path, "/pisp/") {
							t.Errorf("refused by the outage: %d %s", e.Status, e.Path)
						}
					}
				}
			} else {
				clients[in.Client] = true
			}
			for _, e := range trail.Entries {
				if clients[e.ClientID] && !e.At.Before(in.StartedAt) && !e.At.After(in.ContainedAt) {
					if e.PSU != "" {
						psus[e.PSU] = true
					}
					if e.ConsentID != "" {
						consents[e.ConsentID] = true
					}
				}
			}
			set := func(m map[string]bool) []string {
				out := []string{}
				for k := range m {
					out = append(out, k)
				}
				sort.Strings(out)
				return out
			}
			if got, want := rep.Affected.Clients, set(clients); !slices.Equal(got, want) {
				t.Errorf("affected clients %v, the audit trail says %v", got, want)
			}
			if got, want := rep.Affected.PSUs, set(psus); !slices.Equal(got, want) || len(want) == 0 {
				t.Errorf("affected PSUs %v, the audit trail says %v", got, want)
			}
			if got, want := rep.Affected.Consents, set(consents); !slices.Equal(got, want) || len(want) == 0 {
				t.Errorf("affected consents %v, the audit trail says %v", got, want)
			}
			if len(rep.Affected.Payments) == 0 {
				t.Error("the TPP's payment is not among the affected resources")
			}
			if rep.TimeToDetect == "" || rep.TimeToContain == "" || len(rep.Controls) == 0 || len(rep.Timeline) == 0 {
				t.Errorf("report %+v", rep)
			}
			html := s.do(req{method: "GET", path: "/sandbox/incidents/" + in.ID + "/report?format=html", token: admin})
			expect(t, html, 200)
			if !strings.HasPrefix(html.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(html.Body), "Time to contain") {
				t.Errorf("HTML report: %s", html.Header.Get("Content-Type"))
			}

			switch scenario {
			case drill.CompromisedTPP:
				rcv.mu.Lock()
				got := slices.Contains(rcv.types, "urn:uk:org:openbanking:events:consent-authorization-revoked")
				rcv.mu.Unlock()
				if !got {
					t.Errorf("the TPP's callback got %v, want a consent-authorization-revoked", rcv.types)
				}
				rules := map[string]bool{}
				for _, c := range rep.Controls {
					rules[c.Rule] = true
				}
				if !rules["assertion.replayed"] || !rules["bola.foreign"] || !rules["bola_probe"] {
					t.Errorf("controls %v", rep.Controls)
				}
			case drill.SigningKey:
				var after struct{ Keys []struct{ Kid string } }
				s.do(req{method: "GET", path: "/as/jwks"}).JSON(t, &after)
				for _, k := range after.Keys {
					if k.Kid == jwksBefore.Keys[0].Kid {
						t.Errorf("the exposed key %s is still in the JWKS", k.Kid)
					}
				}
				rcv.mu.Lock()
				n := len(rcv.types)
				rcv.mu.Unlock()
				if n == 0 {
					t.Error("the TPP was not notified")
				}
			case drill.DependencyDown:
				var st struct {
					Status  string
					Notices []struct{ Text string }
				}
				s.do(req{method: "GET", path: "/status"}).JSON(t, &st)
				if st.Status != "operational" || len(st.Notices) == 0 {
					t.Errorf("status after the outage: %+v", st)
				}
			}
		})
	}
}
