package audit

import (
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/store"
)

// TestDetectorRules feeds scripted streams to the rules: each attack raises
// its event once (then stays quiet for the window), a normal stream none.
func TestDetectorRules(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	rules := Rules{FailureBurst: 5, ProbeDistinct: 3, TrafficSpike: 100, Window: time.Minute, ProbeWindow: 5 * time.Minute}
	entry := func(i int, status int, rule, path string) store.AuditEntry {
		return store.AuditEntry{Seq: int64(i + 1), At: t0.Add(time.Duration(i) * 100 * time.Millisecond), ClientID: "c1",
			Method: "GET", Path: path, Status: status, Rule: rule}
	}
	for _, tc := range []struct {
		name   string
		stream func(i int) store.AuditEntry
		n      int
		want   map[string]int // event -> how many times raised
		check  func(t *testing.T, ev store.SecurityEvent)
	}{
		{"normal_traffic", func(i int) store.AuditEntry { return entry(i*10, 200, "ok", "/x") }, 99, map[string]int{}, nil},
		{"traffic_spike", func(i int) store.AuditEntry { return entry(i, 200, "ok", "/x") }, 300, map[string]int{eventTrafficSpike: 1},
			func(t *testing.T, ev store.SecurityEvent) {
				if len(ev.Evidence) != 10 || ev.Evidence[9] != 100 {
					t.Errorf("evidence %v, want the last 10 seqs up to 100", ev.Evidence)
				}
			}},
		{"spread_out_is_no_spike", func(i int) store.AuditEntry { return entry(i*10, 200, "ok", "/x") }, 300, map[string]int{}, nil},
		{"failure_burst", func(i int) store.AuditEntry { return entry(i, 401, "token.invalid", "/x") }, 20, map[string]int{eventFailureBurst: 1}, nil},
		{"probe_distinct", func(i int) store.AuditEntry {
			return entry(i, 403, RuleForeignObject, "/accounts/"+string(rune('a'+i)))
		}, 3, map[string]int{eventObjectProbe: 1, eventFailureBurst: 0}, nil},
		{"same_object_is_no_probe", func(i int) store.AuditEntry { return entry(i, 403, RuleForeignObject, "/accounts/a") }, 4,
			map[string]int{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDetector(rules)
			got := map[string]int{}
			for i := range tc.n {
				for _, ev := range d.Observe(tc.stream(i)) {
					got[ev.Rule]++
					if tc.check != nil {
						tc.check(t, ev)
					}
				}
			}
			for ev, n := range tc.want {
				if got[ev] != n {
					t.Errorf("%s raised %d times, want %d (all: %v)", ev, got[ev], n, got)
				}
			}
			for ev, n := range got {
				if _, ok := tc.want[ev]; !ok {
					t.Errorf("unexpected %s (%d times)", ev, n)
				}
			}
		})
	}
}

// An entry stamped a window or more before the newest ones (the sandbox
// clock moved between stamping and counting) does not reset a bucket that
// counts newer entries.
func TestCounterIgnoresEntriesOlderThanItsBuckets(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	var c counter
	for i := range 5 {
		c.add(t0.Add(61*time.Second), int64(i), time.Minute)
	}
	c.add(t0, 99, time.Minute) // same bucket (61 s apart, 61 buckets), older second
	if got := c.within(t0.Add(61*time.Second), time.Minute); got != 5 {
		t.Errorf("within = %d after a stale entry, want the 5 newer ones", got)
	}
}

// TestDetectorForget: once a client is forgotten (its suspension lifted),
// the same probes raise the event again at once, needing fresh evidence:
// the old probes do not count, the quiet period does not hide it; other
// callers keep their state.
func TestDetectorForget(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	d := NewDetector(Rules{ProbeDistinct: 3, Window: time.Minute, ProbeWindow: 5 * time.Minute, Suspend: true})
	seq := int64(0)
	probe := func(client, object string) []store.SecurityEvent {
		seq++
		return d.Observe(store.AuditEntry{Seq: seq, At: t0.Add(time.Duration(seq) * time.Second), ClientID: client, Method: "GET",
			Path: "/accounts/" + object, Status: 403, Rule: RuleForeignObject})
	}
	probes := func(client string) (raised int) {
		for _, o := range []string{"a", "b", "c"} {
			raised += len(probe(client, o))
		}
		return raised
	}
	if n := probes("c1"); n != 1 {
		t.Fatalf("first probes raised %d events, want 1", n)
	}
	probe("c2", "a")
	probe("c2", "b")
	d.Forget("c1")
	if n := len(probe("c1", "d")); n != 0 {
		t.Errorf("one probe after Forget raised %d events: the old probes still count", n)
	}
	if n := probes("c1"); n != 1 {
		t.Errorf("the same probes after Forget raised %d events, want 1", n)
	}
	if n := len(probe("c2", "c")); n != 1 {
		t.Errorf("another client's third probe raised %d events, want 1 (its state kept)", n)
	}
}
