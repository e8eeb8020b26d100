package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Request is one HTTP request to send.
type Request struct {
	Method  string
	Path    string // with the query string
	Header  [][2]string
	Body    []byte
	Context any // handed back to Load's OnResponse (e.g. the consent it pays)
}

// encode serialises r as an HTTP/1.1 request for host (keep-alive).
func (r Request) encode(host string) []byte {
	var b bytes.Buffer
	b.Grow(256 + len(r.Body))
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: sandbox-bench\r\nAccept: application/json\r\n", r.Method, r.Path, host)
	for _, h := range r.Header {
		b.WriteString(h[0])
		b.WriteString(": ")
		b.WriteString(h[1])
		b.WriteString("\r\n")
	}
	if r.Body != nil || r.Method == http.MethodPost {
		b.WriteString("Content-Length: " + strconv.Itoa(len(r.Body)) + "\r\n")
	}
	b.WriteString("\r\n")
	b.Write(r.Body)
	return b.Bytes()
}

// Source hands out the requests of a run. Fixed sources repeat one request;
// pools give each prepared request once (or cycle through them).
type Source struct {
	reqs  [][]byte
	ctxs  []any
	cycle bool
	next  atomic.Int64
}

// Fixed is a source repeating r.
func Fixed(host string, r Request) *Source {
	return &Source{reqs: [][]byte{r.encode(host)}, ctxs: []any{r.Context}, cycle: true}
}

// Pool is a source giving each of rs once; with cycle it starts over when
// they are used up (for targets that keep no state).
func Pool(host string, rs []Request, cycle bool) *Source {
	s := &Source{cycle: cycle}
	for _, r := range rs {
		s.reqs = append(s.reqs, r.encode(host))
		s.ctxs = append(s.ctxs, r.Context)
	}
	return s
}

// take returns the next request, or false when a pool is used up.
func (s *Source) take() ([]byte, any, bool) {
	if len(s.reqs) == 0 {
		return nil, nil, false
	}
	i := s.next.Add(1) - 1
	if i >= int64(len(s.reqs)) {
		if !s.cycle {
			return nil, nil, false
		}
		i %= int64(len(s.reqs))
	}
	return s.reqs[i], s.ctxs[i], true
}

// Len is how many distinct requests the source has.
func (s *Source) Len() int { return len(s.reqs) }

// LoadOptions shape one closed-loop run.
type LoadOptions struct {
	Addr     string        // host:port on loopback
	Conns    int           // connections, each with one request in flight
	Warmup   time.Duration // run, but do not record, this long first
	Duration time.Duration // then record this long (or until a pool is used up)
	// OnResponse, when set, sees every response (in the recorded window or
	// not) with its body and the request's Context. It runs on the worker:
	// keep it short.
	OnResponse func(ctx any, status int, body []byte)
}

// Stats are the figures of one run.
type Stats struct {
	Requests  int64         `json:"requests"`
	Elapsed   time.Duration `json:"elapsed_ns"`
	RPS       float64       `json:"rps"`
	P50       time.Duration `json:"p50_ns"`
	P90       time.Duration `json:"p90_ns"`
	P99       time.Duration `json:"p99_ns"`
	Max       time.Duration `json:"max_ns"`
	Status    map[int]int64 `json:"status"`
	SockErrs  int64         `json:"socket_errors"`
	RespBytes int64         `json:"response_bytes"` // body size of the last response
	Exhausted bool          `json:"pool_exhausted"` // a pool ran out before Duration
	GenCPU    float64       `json:"generator_cores"`
	Engine    string        `json:"engine"` // go or wrk
}

// Non2xx counts responses outside 200-299.
func (s Stats) Non2xx() int64 {
	var n int64
	for st, c := range s.Status {
		if st < 200 || st > 299 {
			n += c
		}
	}
	return n
}

type worker struct {
	samples   []int64
	status    map[int]int64
	sockErrs  int64
	respBytes int64
	last      time.Time
	body      bytes.Buffer
}

// Load drives src at o.Addr with o.Conns connections, each sending its next
// request as soon as the previous answer is read (closed loop), and returns
// the recorded figures. It stops at the end of Warmup+Duration, when a pool
// is used up, or when ctx ends; requests in flight are finished, and counted
// if they complete within the window.
func Load(ctx context.Context, src *Source, o LoadOptions) (Stats, error) {
	if o.Conns <= 0 {
		o.Conns = 1
	}
	var phase atomic.Int32 // 0 warm-up, 1 recording, 2 stop
	ws := make([]*worker, o.Conns)
	var wg sync.WaitGroup
	var dialErr atomic.Value
	exhausted := atomic.Bool{}
	start := time.Now()
	measureAt := start.Add(o.Warmup)
	stopAt := measureAt.Add(o.Duration)
	for i := range ws {
		w := &worker{status: map[int]int64{}, samples: make([]int64, 0, 4096)}
		ws[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.run(ctx, src, o, &phase, &exhausted, measureAt, stopAt); err != nil {
				dialErr.Store(err)
			}
		}()
	}
	if o.Warmup > 0 {
		select {
		case <-time.After(o.Warmup):
		case <-ctx.Done():
		}
	}
	phase.Store(1)
	cpu1 := processCPU()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(time.Until(stopAt))
	select {
	case <-t.C:
	case <-done:
	case <-ctx.Done():
	}
	t.Stop()
	phase.Store(2)
	<-done
	cpu2 := processCPU()

	end := stopAt
	if exhausted.Load() {
		end = measureAt
		for _, w := range ws {
			if w.last.After(end) {
				end = w.last
			}
		}
	}
	if e := time.Now(); e.Before(end) {
		end = e // ctx ended early
	}
	st := Stats{Status: map[int]int64{}, Exhausted: exhausted.Load(), Elapsed: end.Sub(measureAt), Engine: "go"}
	var all []int64
	for _, w := range ws {
		all = append(all, w.samples...)
		for k, v := range w.status {
			st.Status[k] += v
		}
		st.SockErrs += w.sockErrs
		if w.respBytes > 0 {
			st.RespBytes = w.respBytes
		}
	}
	st.Requests = int64(len(all))
	if st.Elapsed > 0 {
		st.RPS = float64(st.Requests) / st.Elapsed.Seconds()
		st.GenCPU = (cpu2 - cpu1) / st.Elapsed.Seconds()
	}
	slices.Sort(all)
	st.P50, st.P90, st.P99 = percentile(all, 50), percentile(all, 90), percentile(all, 99)
	if n := len(all); n > 0 {
		st.Max = time.Duration(all[n-1])
	}
	if err, _ := dialErr.Load().(error); err != nil && st.Requests == 0 {
		return st, err
	}
	return st, nil
}

// percentile of sorted nanosecond samples (nearest rank).
func percentile(sorted []int64, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return time.Duration(sorted[i])
}

func (w *worker) run(ctx context.Context, src *Source, o LoadOptions, phase *atomic.Int32, exhausted *atomic.Bool,
	measureAt, stopAt time.Time) error {
	var conn net.Conn
	var br *bufio.Reader
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for phase.Load() != 2 && ctx.Err() == nil {
		raw, rctx, ok := src.take()
		if !ok {
			exhausted.Store(true)
			return nil
		}
		if conn == nil {
			c, err := net.DialTimeout("tcp", o.Addr, 5*time.Second)
			if err != nil {
				w.sockErrs++
				if w.sockErrs > 100 {
					return fmt.Errorf("connect %s: %w", o.Addr, err)
				}
				time.Sleep(10 * time.Millisecond)
				continue
			}
			conn, br = c, bufio.NewReaderSize(c, 64<<10)
		}
		t0 := time.Now()
		_ = conn.SetDeadline(t0.Add(30 * time.Second))
		status, n, closeConn, err := w.roundTrip(conn, br, raw, o.OnResponse != nil)
		t1 := time.Now()
		if err != nil {
			w.sockErrs++
			conn.Close()
			conn = nil
			continue
		}
		if !t1.Before(measureAt) && !t1.After(stopAt) && !t0.Before(measureAt) {
			w.samples = append(w.samples, int64(t1.Sub(t0)))
			w.status[status]++
			w.respBytes = n
			w.last = t1
		}
		if o.OnResponse != nil {
			// Every answer, recorded or not: a pool's accounting (the
			// payments check) must see the requests that end after the window.
			o.OnResponse(rctx, status, w.body.Bytes())
		}
		if closeConn {
			conn.Close()
			conn = nil
		}
	}
	return nil
}

func (w *worker) roundTrip(conn net.Conn, br *bufio.Reader, raw []byte, keep bool) (status int, n int64, closeConn bool, err error) {
	if _, err = conn.Write(raw); err != nil {
		return 0, 0, true, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, 0, true, err
	}
	w.body.Reset()
	var dst io.Writer = io.Discard
	if keep {
		dst = &w.body
	}
	n, err = io.Copy(dst, resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, 0, true, err
	}
	return resp.StatusCode, n, resp.Close, nil
}

// Percentiles summarises durations (for non-load measurements such as
// cold starts): min, median, max.
func Percentiles(ds []time.Duration) (lo, med, hi time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[0], s[len(s)/2], s[len(s)-1]
}
