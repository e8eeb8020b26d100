package audit

import (
	"fmt"
	"strings"
	"sync"
	"time"

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
	RuleForeignObject    = "bola.foreign"    // another client's or PSU's object
	RuleUnknownObject    = "bola.unknown_id" // an id that does not exist
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
	seen  map[string][]mark    // per caller: recent entries
	quiet map[string]time.Time // (caller, event) -> until when not to raise again
}

type mark struct {
	at     time.Time
	seq    int64
	status int
	rule   string
	object string
}

// NewDetector makes a detector with the rules.
func NewDetector(r Rules) *Detector {
	return &Detector{rules: r, seen: map[string][]mark{}, quiet: map[string]time.Time{}}
}

// Observe takes one committed entry and returns the events it raises.
func (d *Detector) Observe(e store.AuditEntry) []store.SecurityEvent {
	caller := e.ClientID
	if caller == "" {
		caller = "ip:" + e.IP
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	m := mark{at: e.At, seq: e.Seq, status: e.Status, rule: e.Rule, object: e.Method + " " + e.Path}
	keep := max(d.rules.Window, d.rules.ProbeWindow)
	list := append(d.seen[caller], m)
	for len(list) > 0 && e.At.Sub(list[0].at) > keep {
		list = list[1:]
	}
	d.seen[caller] = list

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
	var failures, probes, window []int64
	objects := map[string]bool{}
	for _, x := range list {
		inWindow := e.At.Sub(x.at) <= d.rules.Window
		if inWindow {
			window = append(window, x.seq)
			if x.status == 401 || x.status == 403 {
				failures = append(failures, x.seq)
			}
		}
		if strings.HasPrefix(x.rule, "bola.") && e.At.Sub(x.at) <= d.rules.ProbeWindow && !objects[x.object] {
			objects[x.object] = true
			probes = append(probes, x.seq)
		}
	}
	if d.rules.FailureBurst > 0 && len(failures) >= d.rules.FailureBurst {
		raise(eventFailureBurst, severityMedium, fmt.Sprintf("%d answers 401/403 within %s", len(failures), d.rules.Window), failures)
	}
	if d.rules.ProbeDistinct > 0 && len(probes) >= d.rules.ProbeDistinct {
		raise(eventObjectProbe, severityHigh, fmt.Sprintf("%d objects that are not the client's probed within %s", len(probes), d.rules.ProbeWindow), probes)
	}
	if d.rules.TrafficSpike > 0 && len(window) >= d.rules.TrafficSpike {
		raise(eventTrafficSpike, severityLow, fmt.Sprintf("%d requests within %s", len(window), d.rules.Window), window[len(window)-10:])
	}
	return out
}

// Reset forgets everything seen (POST /sandbox/reset).
func (d *Detector) Reset() {
	d.mu.Lock()
	d.seen, d.quiet = map[string][]mark{}, map[string]time.Time{}
	d.mu.Unlock()
}
