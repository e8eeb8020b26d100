package audit

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/store"
)

// Rules are the anomaly rules' thresholds.
type Rules struct {
	FailureBurst  int           // 401/403 answers to one caller within Window
	ProbeDistinct int           // distinct foreign or unknown objects one client probed within ProbeWindow
	TrafficSpike  int           // requests of one client within Window
	Window        time.Duration // for bursts and spikes
	ProbeWindow   time.Duration
	Suspend       bool // suspend the client on high-severity events (else alert only)
}

// DefaultRules are the thresholds the sandbox starts with.
var DefaultRules = Rules{FailureBurst: 10, ProbeDistinct: 3, TrafficSpike: 1000, Window: time.Minute, ProbeWindow: 5 * time.Minute}

// Named rules set by the bank where it detects a replay or a probe.
const (
	RuleCodeReused       = "code.reused"
	RuleAssertionReplay  = "assertion.replayed"
	RuleRefreshReused    = "refresh.reused"
	RuleForeignObject    = bank.RuleForeignObject // another client's or PSU's object
	RuleUnknownObject    = bank.RuleUnknownObject // an id that does not exist
	severityHigh         = "high"
	severityMedium       = "medium"
	severityLow          = "low"
	actionAlerted        = "alerted"
	actionSuspended      = "suspended"
	eventFailureBurst    = "auth_failure_burst"
	eventObjectProbe     = "bola_probe"
	eventCodeReplay      = "code_replay"
	eventAssertionReplay = "assertion_replay"
	eventRefreshReuse    = "refresh_token_reuse"
	eventTrafficSpike    = "traffic_spike"
)

// Detector watches the committed audit stream for unusual activity.
type Detector struct {
	rules Rules
	mu    sync.Mutex
	seen  map[string]*recent   // per caller
	quiet map[string]time.Time // (caller, event) -> until when not to raise again
}

// recent is what one caller did lately, kept so that each entry costs the
// same however busy the caller is: queues trimmed at the front as entries
// age out of their window.
type recent struct {
	traffic  counter // every entry within Window
	failures []mark  // 401 and 403 answers within Window
	probes   []mark  // bola.* refusals within ProbeWindow
}

// counter counts entries in per-second buckets over a window (a busy client
// makes tens of thousands a minute: counted, not kept) and remembers the
// last few for evidence.
type counter struct {
	secs   []int64 // the unix second each bucket counts
	counts []int
	last   [10]int64 // the last entries' seqs, a ring
	seen   int
}

func (c *counter) add(at time.Time, seq int64, window time.Duration) {
	n := int(window/time.Second) + 1
	if len(c.secs) != n {
		c.secs, c.counts = make([]int64, n), make([]int, n)
	}
	sec := at.Unix()
	i := int(sec % int64(n))
	if i < 0 { // before 1970: Go's % keeps the sign
		i += n
	}
	switch {
	case c.secs[i] < sec:
		c.secs[i], c.counts[i] = sec, 1
	case c.secs[i] == sec:
		c.counts[i]++
	} // else older than the window the bucket counts now (an entry stamped before a clock jump): not counted
	c.last[c.seen%len(c.last)] = seq
	c.seen++
}

// within counts the entries of the window ending at now.
func (c *counter) within(now time.Time, window time.Duration) int {
	from := now.Add(-window).Unix()
	total := 0
	for i, sec := range c.secs {
		if sec > from && sec <= now.Unix() {
			total += c.counts[i]
		}
	}
	return total
}

// lastSeqs are the seqs of the last entries, oldest first.
func (c *counter) lastSeqs() []int64 {
	k := min(c.seen, len(c.last))
	out := make([]int64, 0, k)
	for j := c.seen - k; j < c.seen; j++ {
		out = append(out, c.last[j%len(c.last)])
	}
	return out
}

type mark struct {
	at     time.Time
	seq    int64
	object string // probes only
}

// trim drops the marks older than window before now.
func trim(q []mark, now time.Time, window time.Duration) []mark {
	i := 0
	for i < len(q) && now.Sub(q[i].at) > window {
		i++
	}
	if i == len(q) {
		return q[:0] // reuse the array
	}
	return q[i:]
}

func seqs(q []mark) []int64 {
	out := make([]int64, len(q))
	for i, m := range q {
		out[i] = m.seq
	}
	return out
}

// NewDetector makes a detector with the rules.
func NewDetector(r Rules) *Detector {
	return &Detector{rules: r, seen: map[string]*recent{}, quiet: map[string]time.Time{}}
}

// Observe takes one committed entry and returns the events it raises.
func (d *Detector) Observe(e store.AuditEntry) []store.SecurityEvent {
	caller := e.ClientID
	if caller == "" {
		caller = "ip:" + e.IP
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.seen[caller]
	if r == nil {
		r = &recent{}
		d.seen[caller] = r
	}
	m := mark{at: e.At, seq: e.Seq}
	r.traffic.add(e.At, e.Seq, d.rules.Window)
	r.failures = trim(r.failures, e.At, d.rules.Window)
	if e.Status == 401 || e.Status == 403 {
		r.failures = append(r.failures, m)
	}
	r.probes = trim(r.probes, e.At, d.rules.ProbeWindow)
	if strings.HasPrefix(e.Rule, "bola.") {
		m.object = e.Method + " " + e.Path
		r.probes = append(r.probes, m)
	}
	keep := max(d.rules.Window, d.rules.ProbeWindow)

	var out []store.SecurityEvent
	raise := func(event, severity, summary string, evidence []int64) {
		key := caller + "\x00" + event
		if until, ok := d.quiet[key]; ok && e.At.Before(until) {
			return
		}
		d.quiet[key] = e.At.Add(keep)
		action := actionAlerted
		if d.rules.Suspend && severity == severityHigh && e.ClientID != "" {
			action = actionSuspended
		}
		out = append(out, store.SecurityEvent{At: e.At, ClientID: e.ClientID, Rule: event, Severity: severity, Summary: summary,
			Evidence: evidence, Action: action})
	}
	switch e.Rule {
	case RuleCodeReused:
		raise(eventCodeReplay, severityHigh, "an authorization code was presented twice", []int64{e.Seq})
	case RuleAssertionReplay:
		raise(eventAssertionReplay, severityHigh, "a client assertion (jti) was replayed", []int64{e.Seq})
	case RuleRefreshReused:
		raise(eventRefreshReuse, severityHigh, "a rotated-out refresh token was presented again", []int64{e.Seq})
	}
	if d.rules.FailureBurst > 0 && len(r.failures) >= d.rules.FailureBurst {
		raise(eventFailureBurst, severityMedium, fmt.Sprintf("%d answers 401/403 within %s", len(r.failures), d.rules.Window), seqs(r.failures))
	}
	if d.rules.ProbeDistinct > 0 && len(r.probes) >= d.rules.ProbeDistinct {
		var probes []mark
		objects := map[string]bool{}
		for _, p := range r.probes {
			if !objects[p.object] {
				objects[p.object] = true
				probes = append(probes, p)
			}
		}
		if len(probes) >= d.rules.ProbeDistinct {
			raise(eventObjectProbe, severityHigh, fmt.Sprintf("%d objects that are not the client's probed within %s", len(probes), d.rules.ProbeWindow), seqs(probes))
		}
	}
	if n := r.traffic.within(e.At, d.rules.Window); d.rules.TrafficSpike > 0 && n >= d.rules.TrafficSpike {
		raise(eventTrafficSpike, severityLow, fmt.Sprintf("%d requests within %s", n, d.rules.Window), r.traffic.lastSeqs())
	}
	return out
}

// Forget drops what the rules remember of a client: its recent entries and
// the quiet periods of the events it raised. An administrator lifting a
// suspension calls it, so that the rules judge the client afresh: without
// it the quiet period of the event that suspended it would hide the same
// behaviour repeated right after (and its old entries would count again).
func (d *Detector) Forget(clientID string) {
	if clientID == "" {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.seen, clientID)
	prefix := clientID + "\x00"
	for key := range d.quiet {
		if strings.HasPrefix(key, prefix) {
			delete(d.quiet, key)
		}
	}
}

// Reset forgets everything seen (POST /sandbox/reset).
func (d *Detector) Reset() {
	d.mu.Lock()
	d.seen, d.quiet = map[string]*recent{}, map[string]time.Time{}
	d.mu.Unlock()
}
