package scenario_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/fixtures"
	"github.com/obsandbox/sandbox/internal/scenario"
)

func TestFixtureCatalogue(t *testing.T) {
	t.Parallel()
	c, err := scenario.Parse(fixtures.Scenarios())
	if err != nil {
		t.Fatal(err)
	}
	// Every behaviour the issue names is in the catalogue.
	want := map[string]func(scenario.Scenario) bool{
		"psu-denies":                 func(s scenario.Scenario) bool { return s.PSU == scenario.PSUDeny },
		"sca-fails":                  func(s scenario.Scenario) bool { return s.PSU == scenario.PSUSCAFail },
		"sca-timeout":                func(s scenario.Scenario) bool { return s.PSU == scenario.PSUSCATimeout },
		"some-accounts":              func(s scenario.Scenario) bool { return s.PSU == scenario.PSUSomeAccounts },
		"revoked-mid-session":        func(s scenario.Scenario) bool { return s.RevokeAfter == 1 },
		"insufficient-funds":         func(s scenario.Scenario) bool { return s.Payment == scenario.PaymentInsufficientFunds },
		"rejected-after-pending":     func(s scenario.Scenario) bool { return s.Payment == scenario.PaymentRejectAfterPending },
		"stuck-pending":              func(s scenario.Scenario) bool { return s.Payment == scenario.PaymentStuckPending },
		"duplicate-reference":        func(s scenario.Scenario) bool { return s.Payment == scenario.PaymentDuplicateReference },
		"rate-limited":               func(s scenario.Scenario) bool { return s.Status == 429 && s.RetryAfter > 0 },
		"server-error":               func(s scenario.Scenario) bool { return s.Status == 500 },
		"unavailable":                func(s scenario.Scenario) bool { return s.Status == 503 && s.RetryAfter > 0 },
		"unavailable-no-retry-after": func(s scenario.Scenario) bool { return s.Status == 503 && s.RetryAfter == 0 },
		"slow":                       func(s scenario.Scenario) bool { return s.Latency == scenario.Duration(2*time.Second) },
		"short-pages":                func(s scenario.Scenario) bool { return s.PageSize == 2 },
	}
	for name, ok := range want {
		i := -1
		for j, s := range c.Scenarios {
			if s.Name == name {
				i = j
			}
		}
		if i < 0 || !ok(c.Scenarios[i]) {
			t.Errorf("scenario %s: missing or not what it says", name)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		yaml string
		err  string // "" when valid
	}{
		{"OK", "scenarios: [{name: x, status: 503, retry_after: 5}]", ""},
		{"ErrBadName", "scenarios: [{name: X Y, status: 503}]", "name"},
		{"ErrStatus", "scenarios: [{name: x, status: 404}]", "status 404"},
		{"ErrRetryAfterAlone", "scenarios: [{name: x, retry_after: 5, latency: 1s}]", "retry_after needs a status"},
		{"ErrLatency", "scenarios: [{name: x, latency: 5m}]", "latency"},
		{"ErrLatencyFormat", "scenarios: [{name: x, latency: soon}]", "duration"},
		{"ErrPSU", "scenarios: [{name: x, psu: maybe}]", "psu"},
		{"ErrPayment", "scenarios: [{name: x, payment: lost}]", "payment"},
		{"ErrNothing", "scenarios: [{name: x, description: idle}]", "does nothing"},
		{"ErrTwice", "scenarios: [{name: x, status: 500}, {name: x, status: 503}]", "twice"},
		{"ErrUnknownField", "scenarios: [{name: x, status: 500, colour: red}]", "colour"},
		{"ErrBindingToNothing", "scenarios: [{name: x, status: 500}]\nbindings: {psus: {bob: y}}", "no scenario"},
		{"ErrBadAmount", "scenarios: [{name: x, status: 500}]\nbindings: {amounts: {ten: x}}", "not an amount"},
		{"ErrPath", "scenarios: [{name: x, status: 500, paths: [as/token]}]", "start with /"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := scenario.Parse([]byte(tc.yaml))
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("got %v, want an error containing %q", err, tc.err)
			}
		})
	}
}

func TestRegistry(t *testing.T) {
	t.Parallel()
	var saved []byte
	r, err := scenario.NewRegistry(fixtures.Scenarios(), nil, func(b []byte) error { saved = b; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Activate("unavailable", 2); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if s, ok := r.Active(); !ok || s.Name != "unavailable" {
			t.Fatalf("request %d: got %v %v, want unavailable", i, s.Name, ok)
		}
		r.Use("unavailable")
	}
	if s, ok := r.Active(); ok {
		t.Errorf("after two uses the scenario is still active: %s", s.Name)
	}
	// What is saved restores the registry.
	if err := r.SetBindings(scenario.Bindings{PSUs: map[string]string{"Bob": "psu-denies"}}); err != nil {
		t.Fatal(err)
	}
	r2, err := scenario.NewRegistry(fixtures.Scenarios(), saved, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := r2.ForPSU("bob"); !ok || s.Name != "psu-denies" {
		t.Errorf("restored binding: got %v %v", s.Name, ok)
	}
	var inUse *scenario.ErrInUse
	if err := r.Delete("psu-denies"); err == nil || !errors.As(err, &inUse) {
		t.Errorf("deleting a bound scenario: got %v, want ErrInUse", err)
	}
	if err := r.Delete("nope"); err == nil {
		t.Error("deleting an unknown scenario succeeded")
	}
	if _, err := r.Put(scenario.Scenario{Name: "bad", Status: 418}); err == nil {
		t.Error("an invalid scenario was accepted")
	}
	if _, ok := r.Get("bad"); ok {
		t.Error("an invalid scenario is in the catalogue")
	}
	if err := r.Reset(); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.ForPSU("bob"); ok {
		t.Error("reset kept the binding")
	}
}
