package e2e

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/app"
	"github.com/obsandbox/sandbox/internal/bench"
	"github.com/obsandbox/sandbox/internal/gateway"
)

// TestBenchRemoteSandbox: `sandbox bench --sandbox URL` measures a sandbox
// it did not start (here one on loopback; in use, one on a machine of its
// own): its reads and payments, every payment answered 201
// read back through the API; what cannot be seen from outside (memory,
// CPU) is reported as not measured, never as met, and the admin token stays
// out of the results file.
func TestBenchRemoteSandbox(t *testing.T) {
	t.Parallel()
	s := start(t, frozen(), realIssuer(), func(c *app.Config) {
		for _, class := range gateway.Classes {
			c.Rates[class] = gateway.Off
		}
	})
	o := bench.Defaults()
	o.Sandbox, o.AdminToken, o.Clock = s.url, s.app.Config.AdminToken, s.app.Clock.Wall
	o.Targets = []string{bench.TargetSandbox}
	// Whole journeys take the same path as on a sandbox the benchmark
	// starts; on a busy machine none may end inside a short window.
	o.Routes = []string{bench.RouteAccounts, bench.RoutePayment}
	var log lockedBuffer
	o.Out, o.Engine, o.Log = t.TempDir(), "go", &log
	o.Conns, o.Payments = 4, 12
	o.Warmup, o.Duration = 0, 500*time.Millisecond
	var out bytes.Buffer
	rep, err := bench.Run(context.Background(), o, &out)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out.String())
	}
	for _, route := range o.Routes {
		row, ok := rep.Row(route, bench.TargetSandbox)
		if !ok || row.Stats.Requests == 0 || row.Stats.Non2xx() != 0 {
			t.Errorf("%s: row %+v (found %v), want answers and none failed", route, row.Stats, ok)
		}
	}
	p := rep.Payments
	if !p.Checked || !p.ThroughAPI || p.Created == 0 || p.Stored != p.Created || p.Lost != 0 || p.Duplicated != 0 {
		t.Errorf("payments %+v: want every 201 read back through the API", p)
	}
	for _, tg := range rep.Targets() {
		if strings.Contains(tg.What, "peak RSS") && tg.Known {
			t.Errorf("%s judged (%s) though the sandbox's memory is not seen from here", tg.What, tg.Got)
		}
	}
	text := out.String()
	if !strings.Contains(text, "started elsewhere: "+s.url) || !strings.Contains(text, "read back through the API: ") {
		t.Errorf("the report does not say what it measured and how:\n%s", text)
	}
	js, err := os.ReadFile(strings.TrimSuffix(rep.ResultsFile, ".txt") + ".json")
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"server_cores"`, `"peak_rss_bytes"`} { // not measured: absent, not 0
		if strings.Contains(string(js), field) {
			t.Errorf("the results file gives %s for a sandbox it cannot see", field)
		}
	}
	for name, b := range map[string]string{"report": text, "results file": string(js), "progress log": log.String()} {
		if strings.Contains(b, s.app.Config.AdminToken) {
			t.Errorf("the admin token is in the %s", name)
		}
	}

	// What the run cannot do is refused before anything is sent.
	for name, change := range map[string]func(*bench.Options){
		"wrong admin token": func(o *bench.Options) { o.AdminToken = "not-the-token" },
		"no admin token":    func(o *bench.Options) { o.AdminToken = "" },
		"bare beside it":    func(o *bench.Options) { o.Targets = []string{bench.TargetSandbox, bench.TargetBare} },
		"a tenant's path":   func(o *bench.Options) { o.Sandbox += "/t/job-1" },
		"https":             func(o *bench.Options) { o.Sandbox = strings.Replace(o.Sandbox, "http:", "https:", 1) },
		"tenant curve":      func(o *bench.Options) { o.TenantCurve = []int{10} },
	} {
		o2 := o
		o2.Routes = []string{bench.RouteAccounts}
		change(&o2)
		rep, err := bench.Run(context.Background(), o2, io.Discard)
		if err == nil || rep != nil && len(rep.Rows) > 0 {
			t.Errorf("%s: error %v: want refused before any load", name, err)
		}
	}
}
