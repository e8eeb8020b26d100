package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestTrainerVRPJourney: the trainer's VRP journey runs to the end in both
// versions — a mandate, one approval, payments without the PSU until the
// weekly limit says no (the bank's code and arithmetic shown), a refreshed
// token.
func TestTrainerVRPJourney(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	for _, v := range []struct{ version, code string }{{"3.1", "UK.OBIE.Rules.FailsControlParameters"}, {"4.0", "U014"}} {
		t.Run("v"+v.version, func(t *testing.T) {
			r := s.do(req{method: http.MethodPost, path: "/trainer/journeys", body: `{"kind":"vrp","psu":"alice","version":"` + v.version + `"}`})
			expect(t, r, 201)
			var j struct {
				ID    string
				Steps []struct{ Title string }
			}
			r.JSON(t, &j)
			results := map[string]string{}
			for i := range j.Steps {
				var st struct {
					Title, Result, Error string
					Done                 bool
				}
				r := s.do(req{method: http.MethodPost, path: "/trainer/journeys/" + j.ID + "/next"})
				expect(t, r, 200)
				r.JSON(t, &st)
				if st.Error != "" {
					t.Fatalf("step %d %q: %s", i+1, st.Title, st.Error)
				}
				results[st.Title] = st.Result
				if st.Done != (i == len(j.Steps)-1) {
					t.Errorf("step %d: done %v", i+1, st.Done)
				}
			}
			refused := results["Pay until the limit says no"]
			if !strings.Contains(refused, "400 "+v.code) || !strings.Contains(refused, "100.00 of 120.00 used") {
				t.Errorf("the refused payment says %q", refused)
			}
		})
	}
}
