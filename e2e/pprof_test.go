package e2e

import (
	"strings"
	"testing"

	"github.com/obsandbox/sandbox/internal/app"
)

// TestPProf: the profiler is off by default, and behind the admin token
// when --pprof turns it on.
func TestPProf(t *testing.T) {
	t.Parallel()
	t.Run("OffByDefault", func(t *testing.T) {
		s := start(t)
		expect(t, s.get("/sandbox/debug/pprof/", s.app.Config.AdminToken), 404)
		expect(t, s.get("/sandbox/debug/pprof/heap", s.app.Config.AdminToken), 404)
	})
	s := start(t, func(c *app.Config) { c.PProf = true })
	t.Run("ErrNoAdminToken", func(t *testing.T) {
		expect(t, s.get("/sandbox/debug/pprof/", ""), 401)
		expect(t, s.get("/sandbox/debug/pprof/heap", "not-the-admin-token"), 401)
	})
	t.Run("OK", func(t *testing.T) {
		r := s.get("/sandbox/debug/pprof/", s.app.Config.AdminToken)
		expect(t, r, 200)
		if !strings.Contains(string(r.Body), "goroutine") {
			t.Errorf("index page without the profiles: %.300s", r.Body)
		}
		expect(t, s.get("/sandbox/debug/pprof/heap?debug=1", s.app.Config.AdminToken), 200)
		expect(t, s.get("/sandbox/debug/pprof/cmdline", s.app.Config.AdminToken), 200)
	})
}
