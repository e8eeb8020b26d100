package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Target is one of issue 7's goals, judged on a run's figures.
type Target struct {
	What  string `json:"what"`
	Got   string `json:"got"`
	Met   bool   `json:"met"`
	Known bool   `json:"known"` // false: the run did not measure it
}

// Row returns the row of route on target, if measured.
func (rep *Report) Row(route, target string) (Row, bool) {
	for _, r := range rep.Rows {
		if r.Route == route && r.Target == target && r.Stats.Requests > 0 {
			return r, true
		}
	}
	return Row{}, false
}

// Ratio is sandbox req/s over other's on route.
func (rep *Report) Ratio(route, other string) (float64, bool) {
	s, ok1 := rep.Row(route, TargetSandbox)
	o, ok2 := rep.Row(route, other)
	if !ok1 || !ok2 || o.Stats.RPS == 0 {
		return 0, false
	}
	return s.Stats.RPS / o.Stats.RPS, true
}

func (rep *Report) server(name string) Server {
	for _, s := range rep.Servers {
		if s.Name == name {
			return s
		}
	}
	return Server{}
}

// Targets judges the run against issue 7's targets.
func (rep *Report) Targets() []Target {
	var ts []Target
	ratio := func(route, other string, min float64, what string) {
		t := Target{What: what}
		if v, ok := rep.Ratio(route, other); ok {
			t.Known, t.Met, t.Got = true, v >= min, fmt.Sprintf("%.2f×", v)
		}
		ts = append(ts, t)
	}
	ratio(RouteAccounts, TargetBare, 0.35, "3-account list ≥ 0.35× bare")
	ratio(RouteAccounts, TargetPrism, 10, "3-account list ≥ 10× Prism")
	ratio(RouteTransactions, TargetBare, 0.20, "50-transaction page ≥ 0.20× bare")
	ratio(RouteTransactions, TargetPrism, 5, "50-transaction page ≥ 5× Prism")
	ratio(RouteAccountsV4, TargetBare, 0.35, "3-account list through v4.0 ≥ 0.35× bare")
	ratio(RouteTransactionsV4, TargetBare, 0.20, "50-transaction page through v4.0 ≥ 0.20× bare")
	ratio(RouteAccountsBG, TargetBare, 0.35, "account list through Berlin Group ≥ 0.35× bare")
	ratio(RouteTransactionsBG, TargetBare, 0.20, "50-transaction page through Berlin Group ≥ 0.20× bare")
	for _, rt := range []string{RouteAccounts, RouteBalances, RouteTransactions} {
		t := Target{What: "p99 ≤ 25 ms at 64 connections: " + rt}
		if r, ok := rep.Row(rt, TargetSandbox); ok {
			t.Known, t.Met, t.Got = true, r.Stats.P99 <= 25*time.Millisecond, fmt.Sprintf("%.1f ms", ms(r.Stats.P99))
		}
		ts = append(ts, t)
	}
	t := Target{What: "payment submission ≥ 1,000/s, none lost or duplicated"}
	if r, ok := rep.Row(RoutePayment, TargetSandbox); ok && rep.Payments.Checked {
		p := rep.Payments
		t.Known = true
		t.Met = r.Stats.RPS >= 1000 && p.Lost == 0 && p.Duplicated == 0 && p.Unanswered == 0 && r.Stats.Non2xx() == 0
		t.Got = fmt.Sprintf("%.0f/s, %d lost, %d duplicated, %d non-201", r.Stats.RPS, p.Lost, p.Duplicated, r.Stats.Non2xx())
		if p.ThroughAPI {
			t.Met = t.Met && p.Unverified == 0
			t.Got += fmt.Sprintf(", %d not read back (checked through the API: a second payment of one consent, or one stored without a 201, is not seen)", p.Unverified)
		}
	}
	ts = append(ts, t)
	t = Target{What: "whole journeys (register → consent → PAR → approval → token → read) ≥ 200/s at 16 clients"}
	for _, route := range []string{RouteJourney, RouteJourneyES256} { // a TPP signing PS256, then ES256
		if r, ok := rep.Row(route, TargetSandbox); ok {
			t.Known, t.Met = true, t.Met || r.Stats.RPS >= 200 && r.Stats.Non2xx() == 0
			t.Got = strings.TrimPrefix(t.Got+fmt.Sprintf("; %s %.0f/s, p50 %.1f ms, p99 %.1f ms, %d failed", route, r.Stats.RPS,
				ms(r.Stats.P50), ms(r.Stats.P99), r.Stats.Non2xx()), "; ")
		}
	}
	ts = append(ts, t)
	t = Target{What: "seeding 1,000,000 transactions ≤ 6 s"}
	if s := rep.Seed; s.Transactions >= 1_000_000 {
		t.Known, t.Met = true, s.Elapsed <= 6*time.Second
		t.Got = fmt.Sprintf("%.2f s for %d (command %.2f s)", s.Elapsed.Seconds(), s.Transactions, s.Wall.Seconds())
	}
	ts = append(ts, t)
	t = Target{What: "start on a 1M-transaction database ≤ 100 ms to a healthy /healthz"}
	if _, med, hi := Percentiles(rep.ColdStarts); med > 0 && rep.Seed.Transactions >= 1_000_000 {
		t.Known, t.Met = true, med <= 100*time.Millisecond
		t.Got = fmt.Sprintf("median %.0f ms (max %.0f ms)", ms(med), ms(hi))
	}
	ts = append(ts, t)
	t = Target{What: "sandbox peak RSS under load ≤ 120 MB"}
	if s := rep.server(TargetSandbox); s.PeakRSS > 0 {
		t.Known, t.Met, t.Got = true, s.PeakRSS <= 120<<20, mb(s.PeakRSS)
	}
	ts = append(ts, t)
	return ts
}

func mb(b int64) string { return fmt.Sprintf("%.0f MB", float64(b)/(1<<20)) }

func yesNo(t Target) string {
	switch {
	case !t.Known:
		return "not measured"
	case t.Met:
		return "met"
	}
	return "NOT MET"
}

// Print writes the report as text.
func (rep *Report) Print(w io.Writer) {
	m := rep.Machine
	fmt.Fprintf(w, "\n== sandbox bench %s\n", rep.Started.Format(time.RFC3339))
	where, over := "machine", "on loopback"
	if rep.Remote != "" {
		where, over = "generator's machine", "to the sandbox at "+rep.Remote+" (started elsewhere: its CPU and memory are not seen from here)"
	}
	fmt.Fprintf(w, "%s: %s, %d cores, %d MB, Linux %s, %s (GOMAXPROCS %d)\n", where, m.CPU, m.Cores, m.MemoryMB, m.Kernel, m.Go, m.GOMAXPROCS)
	fmt.Fprintf(w, "command: %s\n", rep.Command)
	fmt.Fprintf(w, "load: closed loop %s, %d connections, %s warm-up + %s recorded per route and target (pools: until used up)\n",
		over, rep.Conns, rep.Warmup, rep.Duration)
	fmt.Fprintf(w, "generator: %s\n", rep.Engine)
	if len(rep.Curve) > 0 {
		rep.printCurve(w)
		return
	}
	if len(rep.Tenants) > 0 {
		rep.printTenants(w)
		return
	}
	if s := rep.Seed; s.Transactions > 0 {
		fmt.Fprintf(w, "seed: %s (command %.2f s, database %s)\n", s.Line, s.Wall.Seconds(), mb(s.DBBytes))
	}
	if len(rep.ColdStarts) > 0 {
		lo, med, hi := Percentiles(rep.ColdStarts)
		fmt.Fprintf(w, "cold start, exec to healthy /healthz: %s (min %.1f, median %.1f, max %.1f ms)\n", durList(rep.ColdStarts), ms(lo), ms(med), ms(hi))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "route\ttarget\treq/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\trequests\tnon-2xx\tsock err\tresp B\tsrv CPU\tgen CPU\tall CPU\tgen\t")
	for _, r := range rep.Rows {
		if r.Note != "" {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t(%s)\n", r.Route, r.Target, r.Note)
			continue
		}
		s := r.Stats
		ex := ""
		if s.Exhausted {
			ex = " (pool used up)"
		}
		srv := fmt.Sprintf("%.2f", r.ServerCores)
		if rep.Remote != "" && r.Target == TargetSandbox {
			srv = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.2f\t%.2f\t%.2f\t%.1f\t%d\t%d\t%d\t%d\t%s\t%.2f\t%.2f\t%s\t%s\n", r.Route, r.Target, s.RPS, ms(s.P50), ms(s.P90),
			ms(s.P99), ms(s.Max), s.Requests, s.Non2xx(), s.SockErrs, s.RespBytes, srv, s.GenCPU, r.MachineCores, s.Engine, ex)
	}
	tw.Flush()
	fmt.Fprintf(w, "(resp B: body bytes (go) or bytes with headers (wrk) per response; srv CPU, gen CPU: cores used by the server and by\n"+
		" the load generator; all CPU: the whole machine's busy cores of %d, well above srv + gen when other work was running:\n"+
		" compare ratios within a run)\n", rep.Machine.Cores)
	fmt.Fprintln(w, "\nratios of req/s (same run):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "route\tsandbox/bare\tsandbox/prism\tpostgres/sqlite\t")
	for _, rt := range AllRoutes {
		b, okb := rep.Ratio(rt, TargetBare)
		p, okp := rep.Ratio(rt, TargetPrism)
		q, okq := rep.Ratio(rt, TargetPostgres)
		if okq {
			q = 1 / q
		}
		if !okb && !okp && !okq {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", rt, ratioText(b, okb), ratioText(p, okp), ratioText(q, okq))
	}
	tw.Flush()
	fmt.Fprintln(w, "\nservers:")
	for _, s := range rep.Servers {
		if s.Skipped != "" {
			fmt.Fprintf(w, "  %-8s skipped: %s\n", s.Name, s.Skipped)
			continue
		}
		if s.PeakRSS == 0 && s.Ready == 0 {
			fmt.Fprintf(w, "  %-8s %s\n", s.Name, s.Command)
			continue
		}
		fmt.Fprintf(w, "  %-8s peak RSS (VmHWM) %s, ready %.0f ms after exec; %s\n", s.Name, mb(s.PeakRSS), ms(s.Ready), s.Command)
	}
	if p := rep.Payments; p.Prepared > 0 {
		check := fmt.Sprintf("database: %d stored, %d lost, %d duplicated, %d stored without a 201", p.Stored, p.Lost, p.Duplicated, p.Unanswered)
		if p.ThroughAPI {
			check = fmt.Sprintf("read back through the API: %d found, %d lost, %d duplicated, %d could not be read (a second payment of one "+
				"consent, or one stored without a 201, cannot be seen from here)", p.Stored, p.Lost, p.Duplicated, p.Unverified)
		}
		fmt.Fprintf(w, "\npayments: %d consents authorised through the real flow in %.1f s (%.0f/s); %d payments answered, %d with 201; %s\n",
			rep.AuthFlows.Count, rep.AuthFlows.Elapsed.Seconds(), float64(rep.AuthFlows.Count)/max(rep.AuthFlows.Elapsed.Seconds(), 1e-9),
			p.Sent, p.Created, check)
	}
	if pg := rep.Postgres; pg != nil {
		fmt.Fprintf(w, "postgres: %s; seed %s (command %.2f s)\n", pg.DSN, pg.Seed.Line, pg.Seed.Wall.Seconds())
		if p := pg.Payments; p.Prepared > 0 {
			fmt.Fprintf(w, "postgres payments: %d answered, %d with 201; database: %d stored, %d lost, %d duplicated, %d stored without a 201\n",
				p.Sent, p.Created, p.Stored, p.Lost, p.Duplicated, p.Unanswered)
		}
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	for _, f := range rep.Profiles {
		fmt.Fprintf(w, "profile: %s (go tool pprof -top %s)\n", f, f)
	}
	fmt.Fprintln(w, "\ntargets (issue 7), this run:")
	for _, t := range rep.Targets() {
		fmt.Fprintf(w, "  %-13s %s: %s\n", "["+yesNo(t)+"]", t.What, orDash(t.Got))
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func ratioText(v float64, ok bool) string {
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

func durList(ds []time.Duration) string {
	var parts []string
	for _, d := range ds {
		parts = append(parts, fmt.Sprintf("%.1f ms", ms(d)))
	}
	return strings.Join(parts, ", ")
}

func (rep *Report) printCurve(w io.Writer) {
	fmt.Fprintln(w, "\nscale curve (sandbox only):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "transactions\tPSUs\tseed s\ttx/s seeded\tdb MB\tstart ms (median)\troute\treq/s\tp50 ms\tp99 ms\tnon-2xx\tpeak RSS MB\t")
	for _, c := range rep.Curve {
		_, med, _ := Percentiles(c.ColdStarts)
		for i, r := range c.Rows {
			if i == 0 {
				fmt.Fprintf(tw, "%d\t%d\t%.2f\t%.0f\t%.0f\t%.1f\t", c.Seed.Transactions, c.Seed.PSUs, c.Seed.Elapsed.Seconds(),
					float64(c.Seed.Transactions)/max(c.Seed.Elapsed.Seconds(), 1e-9), float64(c.Seed.DBBytes)/(1<<20), ms(med))
			} else {
				fmt.Fprint(tw, "\t\t\t\t\t\t")
			}
			rss := ""
			if i == 0 {
				rss = fmt.Sprintf("%.0f", float64(c.PeakRSS)/(1<<20))
			}
			fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%.2f\t%d\t%s\t\n", r.Route, r.Stats.RPS, ms(r.Stats.P50), ms(r.Stats.P99), r.Stats.Non2xx(), rss)
		}
	}
	tw.Flush()
	// Paged reads at the largest size against the one nearest 1M.
	var ref, big *CurvePoint
	for i := range rep.Curve {
		c := &rep.Curve[i]
		if ref == nil || abs(c.Seed.Transactions-1_000_000) < abs(ref.Seed.Transactions-1_000_000) {
			ref = c
		}
		if big == nil || c.Seed.Transactions > big.Seed.Transactions {
			big = c
		}
	}
	if ref != nil && big != nil && big != ref {
		for _, rt := range []string{RouteTransactions, RouteAccounts} {
			a, b := curveRow(ref, rt), curveRow(big, rt)
			if a == nil || b == nil || a.Stats.RPS == 0 {
				continue
			}
			ratio := b.Stats.RPS / a.Stats.RPS
			verdict := "NOT MET"
			if ratio >= 0.8 {
				verdict = "met"
			}
			fmt.Fprintf(w, "%s at %d transactions: %.2f× the req/s at %d (target for paged reads: within 20%%) [%s]\n",
				rt, big.Seed.Transactions, ratio, ref.Seed.Transactions, verdict)
		}
	}
}

func curveRow(c *CurvePoint, route string) *Row {
	for i := range c.Rows {
		if c.Rows[i].Route == route {
			return &c.Rows[i]
		}
	}
	return nil
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func (rep *Report) printTenants(w io.Writer) {
	q := rep.TenantQuiet
	fmt.Fprintf(w, "\ntenant curve (one sandbox, default seed; each tenant asked for, first answer, then one whole journey in it):\n")
	fmt.Fprintf(w, "probe tenant's account list alone: p50 %.2f ms, p99 %.2f ms (%d reads)\n", ms(q.P50), ms(q.P99), q.Requests)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tenants\tmade\tready p50 ms\tready p99 ms\tjourney p50 ms\topen\tRSS MB\tpeak RSS MB\tprobe p50 ms\tprobe p99 ms\tprobe p99 / alone\t")
	for _, t := range rep.Tenants {
		fmt.Fprintf(tw, "%d\t%d\t%.1f\t%.1f\t%.1f\t%d\t%.0f\t%.0f\t%.2f\t%.2f\t%.2f\t\n", t.Tenants, t.Made, ms(t.ReadyP50), ms(t.ReadyP99),
			ms(t.JourneyP50), t.Open, float64(t.RSS)/(1<<20), float64(t.PeakRSS)/(1<<20), ms(t.Busy.P50), ms(t.Busy.P99),
			float64(t.Busy.P99)/max(float64(q.P99), 1))
	}
	tw.Flush()
	last := rep.Tenants[len(rep.Tenants)-1]
	verdict := "NOT MET"
	if last.Tenants >= 1000 && last.PeakRSS <= 1<<30 {
		verdict = "met"
	} else if last.Tenants < 1000 {
		verdict = "not measured"
	}
	fmt.Fprintf(w, "target: 1,000 tenants within 1 GB of RSS: %d tenants, peak %s [%s]\n", last.Tenants, mb(last.PeakRSS), verdict)
}
