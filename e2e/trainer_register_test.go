package e2e

import (
	"net/http"
	"testing"

	"github.com/obsandbox/sandbox/internal/app"
	"github.com/obsandbox/sandbox/internal/gateway"
	"github.com/obsandbox/sandbox/internal/oauth"
)

// TestTrainerFAPIRegistrationRefused: in fapi, a registration the bank
// refuses (here: the per-IP registration limit) is the first step's error,
// not a journey carrying on with no client.
func TestTrainerFAPIRegistrationRefused(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer(), withProfile(oauth.ProfileFAPI), withTLS(), func(c *app.Config) {
		c.Rates[gateway.ClassRegister] = gateway.Rate{Per: 0.001, Burst: 1}
	})
	step := func() map[string]any {
		r := s.do(req{method: http.MethodPost, path: "/trainer/journeys", token: s.app.Config.AdminToken, body: `{"kind":"accounts","psu":"alice"}`})
		expect(t, r, 201)
		var j struct{ ID string }
		r.JSON(t, &j)
		r = s.do(req{method: http.MethodPost, path: "/trainer/journeys/" + j.ID + "/next"})
		expect(t, r, 200)
		var out map[string]any
		r.JSON(t, &out)
		return out
	}
	if first := step(); first["error"] != nil {
		t.Fatalf("the first journey could not register: %v", first["error"])
	}
	second := step()
	if second["error"] == nil || second["index"] != float64(0) {
		t.Errorf("a refused registration reads as %v (result %v), want the step's error", second["error"], second["result"])
	}
}
