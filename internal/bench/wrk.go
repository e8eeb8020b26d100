package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// wrkScript makes wrk print its figures in one machine-readable line.
const wrkScript = `done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRKRESULT %d %d %d %d %d %.0f %.0f %.0f %.0f\n",
    summary.requests, summary.duration, summary.bytes, e.status,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
`

// wrkThreads is the threads wrk runs: --wrk-threads, else one per core as
// shared/tools/peer-bench does (the highest bare ceiling). On a machine
// this small its threads then compete with the server's for the cores, and
// a descheduled thread's connections wait: fewer threads cost the ceiling
// some throughput and the tail much less (docs/PERFORMANCE.md).
func wrkThreads(o Options) int {
	if o.Threads > 0 {
		return min(o.Threads, o.Conns)
	}
	return min(max(1, runtimeProcs()), o.Conns)
}

// wrkLoad drives one fixed request with wrk (github.com/wg/wrk; Debian's
// package wrk): a C event loop, cheaper per request than any Go client, so
// the bare ceiling is not held down by the generator. wrk counts
// non-2xx/3xx answers only as a total, kept here under status 0.
func wrkLoad(ctx context.Context, wrk, dir string, r Request, addr string, threads int, o LoadOptions) (Stats, error) {
	script := filepath.Join(dir, "wrk-report.lua")
	if err := os.WriteFile(script, []byte(wrkScript), 0o644); err != nil {
		return Stats{}, err
	}
	args := []string{"-t" + strconv.Itoa(threads), "-c" + strconv.Itoa(o.Conns), "--timeout", "30s"}
	for _, h := range r.Header {
		args = append(args, "-H", h[0]+": "+h[1])
	}
	url := "http://" + addr + r.Path
	if r.Method != "GET" {
		body := filepath.Join(dir, "wrk-body.lua")
		lua := fmt.Sprintf("wrk.method = %q\nwrk.body = %q\n", r.Method, string(r.Body))
		if err := os.WriteFile(body, []byte(lua+wrkScript), 0o644); err != nil {
			return Stats{}, err
		}
		script = body
	}
	secs := func(d time.Duration) string { return strconv.Itoa(max(1, int(d.Round(time.Second).Seconds()))) + "s" }
	if o.Warmup > 0 {
		warm := exec.CommandContext(ctx, wrk, append(append([]string{}, args...), "-d"+secs(o.Warmup), "-s", script, url)...)
		if out, err := warm.CombinedOutput(); err != nil {
			return Stats{}, fmt.Errorf("wrk: %v: %s", err, out)
		}
	}
	cmd := exec.CommandContext(ctx, wrk, append(append([]string{}, args...), "-d"+secs(o.Duration), "-s", script, url)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		return Stats{}, fmt.Errorf("wrk: %v: %s", err, out.String())
	}
	wall := time.Since(t0)
	var f []string
	for _, line := range strings.Split(out.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, "WRKRESULT "); ok {
			f = strings.Fields(rest)
		}
	}
	if len(f) != 9 {
		return Stats{}, fmt.Errorf("wrk: no result line in %q", out.String())
	}
	n := make([]int64, len(f))
	for i, s := range f {
		n[i], _ = strconv.ParseInt(s, 10, 64)
	}
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	st := Stats{Requests: n[0], Elapsed: us(n[1]), SockErrs: n[4], P50: us(n[5]), P90: us(n[6]), P99: us(n[7]), Max: us(n[8]),
		Status: map[int]int64{}, Engine: "wrk"}
	if st.Elapsed > 0 {
		st.RPS = float64(st.Requests) / st.Elapsed.Seconds()
	}
	if n[0] > 0 {
		st.RespBytes = n[2] / n[0] // headers included
	}
	st.Status[200] = n[0] - n[3]
	if n[3] > 0 {
		st.Status[0] = n[3]
	}
	if ps := cmd.ProcessState; ps != nil && wall > 0 {
		st.GenCPU = (ps.UserTime() + ps.SystemTime()).Seconds() / wall.Seconds()
	}
	return st, nil
}
