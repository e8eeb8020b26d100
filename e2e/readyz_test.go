package e2e

import (
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/app"
)

// TestReadyzAndDrain: /readyz says ready while the database answers with
// this binary's schema; once the process is told to stop it says draining
// (503) for --drain-delay while requests are still served, so a load
// balancer stops sending traffic before the listener closes.
func TestReadyzAndDrain(t *testing.T) {
	t.Parallel()
	s := start(t, func(c *app.Config) { c.DrainDelay = 2 * time.Second })
	r := s.get("/readyz", "")
	expect(t, r, 200)
	var body struct{ Status string }
	r.JSON(t, &body)
	if body.Status != "ready" {
		t.Fatalf("/readyz before stopping: %s", r.Body)
	}
	stopped := make(chan struct{})
	t0 := time.Now()
	go func() { s.stop(); close(stopped) }()
	if !within(time.Second, func() bool { return s.get("/readyz", "").Status == 503 }) {
		t.Fatal("/readyz did not say 503 within 1s of the stop")
	}
	r = s.get("/readyz", "")
	r.JSON(t, &body)
	if body.Status != "draining" {
		t.Fatalf("/readyz while draining: %d %s", r.Status, r.Body)
	}
	// Still served while draining: the process is up and answers the API.
	expect(t, s.get("/healthz", ""), 200)
	expect(t, s.get("/.well-known/openid-configuration", ""), 200)
	<-stopped
	if d := time.Since(t0); d < 2*time.Second {
		t.Fatalf("stopped %s after being told to, before the drain delay (2s) was over", d)
	}
}
