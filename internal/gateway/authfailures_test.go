package gateway

import (
	"fmt"
	"testing"
	"time"
)

// TestAuthFailures: failures are limited per client id and per source;
// a pair that authenticated before is held only to its own failures.
func TestAuthFailures(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	perClient, perIP := Rate{Per: 0.2, Burst: 20}, Rate{Per: 1, Burst: 60}
	fresh := func() *AuthFailures { return NewAuthFailures(perClient, perIP, clk.now) }
	allowed := func(t *testing.T, a *AuthFailures, client, ip string, want bool) {
		t.Helper()
		if v := a.Check(client, ip); v.Allowed != want {
			t.Errorf("Check(%q, %s) = %+v, want allowed %v", client, ip, v, want)
		}
	}

	t.Run("PerSource", func(t *testing.T) {
		a := fresh()
		for range 60 {
			allowed(t, a, "", "192.0.2.1", true)
			a.Failed("", "192.0.2.1")
		}
		v := a.Check("", "192.0.2.1")
		if v.Allowed || v.RetryAfter <= 0 || v.RetryAfter > time.Second {
			t.Errorf("after 60 failures: %+v, want refused for at most 1 s", v)
		}
		allowed(t, a, "", "192.0.2.2", true)
		clk.add(time.Second)
		allowed(t, a, "", "192.0.2.1", true)
	})
	t.Run("PerClient", func(t *testing.T) {
		a := fresh()
		for i := range 20 {
			a.Failed("x", fmt.Sprintf("192.0.2.%d", i)) // spread over addresses
		}
		v := a.Check("x", "198.51.100.7")
		if v.Allowed || v.RetryAfter < 4*time.Second || v.RetryAfter > 5*time.Second {
			t.Errorf("after 20 failures of client x: %+v, want refused for 5 s from anywhere", v)
		}
		allowed(t, a, "y", "192.0.2.1", true)
		clk.add(5 * time.Second)
		allowed(t, a, "x", "198.51.100.7", true)
	})
	t.Run("KnownGoodPairIgnoresOthersFailures", func(t *testing.T) {
		a := fresh()
		a.Succeeded("x", "198.51.100.7")
		a.Succeeded("y", "192.0.2.1")
		for range 20 {
			a.Failed("x", "192.0.2.1") // someone at y's address guesses x's secret
		}
		for range 60 {
			a.Failed("", "192.0.2.1") // and sprays unknown ids
		}
		allowed(t, a, "x", "198.51.100.7", true) // x from its own address: others' failures against x do not count
		allowed(t, a, "y", "192.0.2.1", true)    // y behind the same address: others' failures there do not count
		allowed(t, a, "x", "192.0.2.1", false)   // x from the attacker's address: its own pair is spent
		allowed(t, a, "z", "192.0.2.1", false)   // a client never seen there: the address is spent
		allowed(t, a, "z", "203.0.113.9", true)
		for range 20 {
			a.Failed("x", "198.51.100.7")
		}
		allowed(t, a, "x", "198.51.100.7", false) // failures of the pair itself always count
		clk.add(TrustFor)
		for range 60 {
			a.Failed("", "192.0.2.1")
		}
		allowed(t, a, "y", "192.0.2.1", false) // the trust has run out
	})
	t.Run("IPv6PerSlash64", func(t *testing.T) {
		a := fresh()
		for i := range 60 {
			a.Failed("", fmt.Sprintf("2001:db8:1:2::%x", i+1))
		}
		allowed(t, a, "", "2001:db8:1:2:ffff::1", false)
		allowed(t, a, "", "2001:db8:1:3::1", true)
	})
	t.Run("Off", func(t *testing.T) {
		a := NewAuthFailures(Off, Off, clk.now)
		for range 1000 {
			a.Failed("x", "192.0.2.1")
		}
		allowed(t, a, "x", "192.0.2.1", true)
	})
	t.Run("Reset", func(t *testing.T) {
		a := fresh()
		for range 60 {
			a.Failed("", "192.0.2.1")
		}
		a.Reset()
		allowed(t, a, "", "192.0.2.1", true)
	})
}
