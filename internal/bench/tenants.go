package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// TenantPoint is the tenant curve at one count: the tenants made to reach
// it (each asked for, answered its first request, then used by a whole
// journey, as a CI job would), memory once they all exist, and reads in one
// tenant kept busy meanwhile, against the same reads with nothing else going
// on.
type TenantPoint struct {
	Tenants    int           `json:"tenants"`
	Made       int           `json:"made"`         // tenants made for this point
	ReadyP50   time.Duration `json:"ready_p50_ns"` // POST /sandbox/tenants to the tenant's first answer
	ReadyP99   time.Duration `json:"ready_p99_ns"`
	JourneyP50 time.Duration `json:"journey_p50_ns"` // the journey in a tenant just made
	Open       int           `json:"open"`           // tenants open at the end (--max-open-tenants bounds it)
	RSS        int64         `json:"rss_bytes"`
	PeakRSS    int64         `json:"peak_rss_bytes"`
	Busy       Stats         `json:"busy"` // reads in the probe tenant while the tenants were made
}

// tenantCurve starts one sandbox and grows its tenants to each count of
// o.TenantCurve in turn.
func (r *runner) tenantCurve(ctx context.Context) error {
	most := slices.Max(r.o.TenantCurve)
	db := filepath.Join(r.o.Out, "tenants.db")
	defer removeDB(db)
	defer os.RemoveAll(db + ".tenants")
	sbx, ready, err := r.startSandbox(ctx, db, false, "--max-tenants", strconv.Itoa(most+1))
	if err != nil {
		return err
	}
	r.rep.ColdStarts = []time.Duration{ready}
	base := "http://" + sbx.Addr
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	if err := r.makeTenant(ctx, hc, base, "probe"); err != nil {
		return err
	}
	w, err := r.prepare(ctx, base+"/t/probe", false)
	if err != nil {
		return err
	}
	probe := func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/t/probe"+ais+"/accounts", nil)
		req.Header.Set("Authorization", "Bearer "+w.aisToken)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("probe read: %s", resp.Status)
		}
		return nil
	}
	r.logf("tenants: reads in the probe tenant alone")
	quiet, err := closedLoop(ctx, 1, r.o.Warmup, r.o.Duration, probe)
	if err != nil {
		return err
	}
	r.rep.TenantQuiet = quiet
	r.logf("alone: p50 %.2f ms, p99 %.2f ms (%d reads)", ms(quiet.P50), ms(quiet.P99), quiet.Requests)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	made := 0
	for _, n := range r.o.TenantCurve {
		pt := TenantPoint{Tenants: n}
		// The probe reads on, one at a time, while this point's tenants
		// are made and used.
		pctx, stop := context.WithCancel(ctx)
		busy := make(chan Stats, 1)
		go func() {
			st, _ := closedLoop(pctx, 1, 0, time.Hour, probe)
			busy <- st
		}()
		var readies, journeys []time.Duration
		t0 := time.Now()
		for ; made < n; made++ {
			name := fmt.Sprintf("job-%d", made)
			t1 := time.Now()
			if err := r.makeTenant(ctx, hc, base, name); err != nil {
				stop()
				return err
			}
			t2 := time.Now()
			if err := Journey(ctx, base+"/t/"+name, hc.Transport, key, r.tppOptions()...); err != nil {
				stop()
				return fmt.Errorf("tenant %s: journey: %w", name, err)
			}
			readies, journeys = append(readies, t2.Sub(t1)), append(journeys, time.Since(t2))
			pt.Made++
		}
		elapsed := time.Since(t0)
		stop()
		pt.Busy = <-busy
		// closedLoop divides by the window it was given (an hour): by the
		// time the tenants took instead.
		pt.Busy.Elapsed, pt.Busy.RPS = elapsed, float64(pt.Busy.Requests)/max(elapsed.Seconds(), 1e-9)
		slices.Sort(readies)
		slices.Sort(journeys)
		pt.ReadyP50, pt.ReadyP99 = pctl(readies, 50), pctl(readies, 99)
		pt.JourneyP50 = pctl(journeys, 50)
		pt.RSS, pt.PeakRSS = sbx.RSS(), sbx.PeakRSS()
		if pt.Open, err = r.openTenants(ctx, hc, base); err != nil {
			return err
		}
		r.logf("%d tenants: ready p50 %.1f ms p99 %.1f ms; RSS %s (peak %s), %d open; probe p99 %.2f ms busy, %.2f ms alone",
			n, ms(pt.ReadyP50), ms(pt.ReadyP99), mb(pt.RSS), mb(pt.PeakRSS), pt.Open, ms(pt.Busy.P99), ms(quiet.P99))
		r.rep.Tenants = append(r.rep.Tenants, pt)
	}
	return nil
}

func pctl(sorted []time.Duration, p float64) time.Duration {
	ns := make([]int64, len(sorted))
	for i, d := range sorted {
		ns[i] = int64(d)
	}
	return percentile(ns, p)
}

// makeTenant asks for a tenant and waits for its first answer.
func (r *runner) makeTenant(ctx context.Context, hc *http.Client, base, name string) error {
	body, _ := json.Marshal(map[string]string{"name": name})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/sandbox/tenants", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+r.admin)
	req.Header.Set("Content-Type", "application/json")
	if err := expectStatus(hc, req, http.StatusCreated); err != nil {
		return fmt.Errorf("tenant %s: %w", name, err)
	}
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, base+"/t/"+name+"/.well-known/openid-configuration", nil)
	return expectStatus(hc, req, http.StatusOK)
}

// openTenants counts the open tenants GET /sandbox/tenants lists.
func (r *runner) openTenants(ctx context.Context, hc *http.Client, base string) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/sandbox/tenants", nil)
	req.Header.Set("Authorization", "Bearer "+r.admin)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var list struct {
		Tenants []struct {
			Open bool `json:"open"`
		} `json:"tenants"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return 0, fmt.Errorf("GET /sandbox/tenants: %w", err)
	}
	n := 0
	for _, t := range list.Tenants {
		if t.Open {
			n++
		}
	}
	return n, nil
}

func expectStatus(hc *http.Client, req *http.Request, want int) error {
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, b)
	}
	return nil
}
