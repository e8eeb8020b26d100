package drill

import (
	"bytes"
	"context"
	"html/template"
	"slices"
	"sort"
	"time"

	"github.com/obsandbox/sandbox/internal/store"
)

// Report is the post-incident analysis, made from the drill's record, the
// audit trail and the security events of its window.
type Report struct {
	Incident *Incident `json:"incident"`
	Timeline []Moment  `json:"timeline"`
	// Affected are the resources the incident reached: the TPP (or, for an
	// outage, every client refused by it) and, from the audit trail up to
	// containment, the PSUs and consents its calls named, and the payments
	// made under those consents.
	Affected Affected  `json:"affected"`
	Controls []Control `json:"controls"`
	// Security events raised in the window.
	Events        []store.SecurityEvent `json:"security_events"`
	TimeToDetect  string                `json:"time_to_detect"`
	TimeToContain string                `json:"time_to_contain"`
	DetectMS      int64                 `json:"time_to_detect_ms"`
	ContainMS     int64                 `json:"time_to_contain_ms"`
	AuditEntries  int                   `json:"audit_entries"`
}

// Moment is one line of the timeline.
type Moment struct {
	At   time.Time `json:"at"`
	Kind string    `json:"kind"` // phase | step | check | refused | security_event
	What string    `json:"what"`
}

// Affected are the resources an incident reached.
type Affected struct {
	Clients  []string `json:"clients"`
	PSUs     []string `json:"psus"`
	Consents []string `json:"consents"`
	Payments []string `json:"payments"`
}

// Control is a control that fired: a refusal rule of the audit trail or
// a security event's rule, with how often.
type Control struct {
	Rule  string `json:"rule"`
	Kind  string `json:"kind"` // refusal | security_event
	Count int    `json:"count"`
}

// Report makes the post-incident report of a drill.
func (r *Runner) Report(ctx context.Context, id string) (*Report, error) {
	in, err := r.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	r.Flush()
	entries, err := r.Store.AuditBetween(ctx, in.StartedAt, in.EndedAt)
	if err != nil {
		return nil, err
	}
	evs, err := r.Store.SecurityEvents(ctx, "")
	if err != nil {
		return nil, err
	}
	rep := &Report{Incident: in, AuditEntries: len(entries), Events: []store.SecurityEvent{}, Timeline: []Moment{}}
	for _, e := range evs {
		if !e.At.Before(in.StartedAt) && !e.At.After(in.EndedAt) {
			rep.Events = append(rep.Events, e)
		}
	}
	rep.Affected = affected(in, entries)
	for _, c := range rep.Affected.Consents {
		ps, err := r.Store.PaymentsOfConsent(ctx, c)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			rep.Affected.Payments = append(rep.Affected.Payments, p.ID)
		}
	}
	sort.Strings(rep.Affected.Payments)
	rep.Controls = controls(in, entries, rep.Events)
	if !in.DetectedAt.IsZero() && !in.FirstHostileAt.IsZero() {
		d := in.DetectedAt.Sub(in.FirstHostileAt)
		rep.TimeToDetect, rep.DetectMS = d.String(), d.Milliseconds()
	}
	if !in.ContainedAt.IsZero() && !in.DetectedAt.IsZero() {
		d := in.ContainedAt.Sub(in.DetectedAt)
		rep.TimeToContain, rep.ContainMS = d.String(), d.Milliseconds()
	}
	for _, p := range in.Phases {
		rep.Timeline = append(rep.Timeline, Moment{At: p.Started, Kind: "phase", What: p.Name})
		for _, s := range p.Steps {
			rep.Timeline = append(rep.Timeline, Moment{At: p.Started, Kind: "step", What: s})
		}
	}
	for _, e := range entries {
		if e.Decision == store.DecisionRefused && (e.ClientID == in.Client || e.Rule == "dependency.down") {
			rep.Timeline = append(rep.Timeline, Moment{At: e.At, Kind: "refused", What: e.Method + " " + e.Path + " → " +
				itoa(e.Status) + " " + e.Rule + " (audit " + itoa(int(e.Seq)) + ")"})
		}
	}
	for _, e := range rep.Events {
		rep.Timeline = append(rep.Timeline, Moment{At: e.At, Kind: "security_event", What: e.Rule + ": " + e.Summary + " (" + e.Action + ")"})
	}
	sort.SliceStable(rep.Timeline, func(i, j int) bool { return rep.Timeline[i].At.Before(rep.Timeline[j].At) })
	return rep, nil
}

// affected reads from the audit trail what the incident reached: the
// incident's TPP (for an outage, every client it refused) and the PSUs and
// consents their calls named up to containment.
func affected(in *Incident, entries []store.AuditEntry) Affected {
	clients, psus, consents := map[string]bool{}, map[string]bool{}, map[string]bool{}
	if in.Scenario == DependencyDown {
		for _, e := range entries {
			if e.Rule == "dependency.down" && e.ClientID != "" {
				clients[e.ClientID] = true
			}
		}
	} else if in.Client != "" {
		clients[in.Client] = true
	}
	for _, e := range entries {
		if !clients[e.ClientID] || (!in.ContainedAt.IsZero() && e.At.After(in.ContainedAt)) {
			continue
		}
		if e.PSU != "" {
			psus[e.PSU] = true
		}
		if e.ConsentID != "" {
			consents[e.ConsentID] = true
		}
	}
	return Affected{Clients: keys(clients), PSUs: keys(psus), Consents: keys(consents), Payments: []string{}}
}

func controls(in *Incident, entries []store.AuditEntry, evs []store.SecurityEvent) []Control {
	count := map[[2]string]int{}
	for _, e := range entries {
		if e.Decision == store.DecisionRefused && (e.ClientID == in.Client || e.Rule == "dependency.down" || e.ClientID == "") {
			count[[2]string{e.Rule, "refusal"}]++
		}
	}
	for _, e := range evs {
		count[[2]string{e.Rule, "security_event"}]++
	}
	out := []Control{}
	for k, n := range count {
		out = append(out, Control{Rule: k[0], Kind: k[1], Count: n})
	}
	slices.SortFunc(out, func(a, b Control) int {
		if a.Kind != b.Kind {
			return compare(a.Kind, b.Kind)
		}
		return compare(a.Rule, b.Rule)
	})
	return out
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func itoa(n int) string {
	b := []byte{}
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	if neg {
		b = append([]byte{'-'}, b...)
	}
	return string(b)
}

// HTML renders the report as a printable page.
func (rep *Report) HTML() ([]byte, error) {
	var b bytes.Buffer
	err := reportPage.Execute(&b, rep)
	return b.Bytes(), err
}

var reportPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"t": func(t time.Time) string { return t.UTC().Format("15:04:05.000") },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Post-incident report {{.Incident.ID}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;max-width:60em;color:#111}
h1{font-size:1.5em}h2{font-size:1.15em;border-bottom:1px solid #999;margin-top:1.6em}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #bbb;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#eee}.ok{color:#060}.no{color:#a00;font-weight:bold}.k{color:#555;white-space:nowrap}
@media print{body{margin:0}h2{break-after:avoid}tr{break-inside:avoid}}
</style></head><body>
<h1>Post-incident report — {{.Incident.Scenario}}</h1>
<p>{{.Incident.Summary}}</p>
<table><tr><th>Incident</th><td>{{.Incident.ID}} ({{.Incident.Status}}{{if .Incident.Error}}: {{.Incident.Error}}{{end}})</td></tr>
<tr><th>Window</th><td>{{.Incident.StartedAt.UTC.Format "2006-01-02 15:04:05"}} – {{t .Incident.EndedAt}} UTC (sandbox clock)</td></tr>
<tr><th>Time to detect</th><td>{{.TimeToDetect}}</td></tr>
<tr><th>Time to contain</th><td>{{.TimeToContain}}</td></tr>
<tr><th>Audit entries in the window</th><td>{{.AuditEntries}}</td></tr></table>
<h2>Affected</h2>
<table><tr><th>Clients</th><td>{{range .Affected.Clients}}{{.}}<br>{{end}}</td></tr>
<tr><th>PSUs</th><td>{{range .Affected.PSUs}}{{.}}<br>{{end}}</td></tr>
<tr><th>Consents</th><td>{{range .Affected.Consents}}{{.}}<br>{{end}}</td></tr>
<tr><th>Payments</th><td>{{range .Affected.Payments}}{{.}}<br>{{end}}</td></tr></table>
<h2>Controls that fired</h2>
<table><tr><th>Rule</th><th>Kind</th><th>Count</th></tr>{{range .Controls}}<tr><td>{{.Rule}}</td><td>{{.Kind}}</td><td>{{.Count}}</td></tr>{{end}}</table>
<h2>Checks</h2>
<table><tr><th>Phase</th><th>Check</th><th>Held</th></tr>{{range .Incident.Checks}}<tr><td>{{.Phase}}</td><td>{{.What}}</td><td>{{if .OK}}<span class="ok">yes</span>{{else}}<span class="no">NO</span>{{end}}</td></tr>{{end}}</table>
<h2>Timeline</h2>
<table><tr><th>Time</th><th>Kind</th><th>What</th></tr>{{range .Timeline}}<tr><td class="k">{{t .At}}</td><td class="k">{{.Kind}}</td><td>{{.What}}</td></tr>{{end}}</table>
</body></html>
`))
