package bench

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/obsandbox/sandbox/internal/tpp"
)

// journeyPermissions are what a CI test's consent typically asks for.
var journeyPermissions = []string{"ReadAccountsBasic", "ReadAccountsDetail", "ReadBalances"}

// Journey is what a CI suite does per test, as one measured unit: a TPP
// registers (its software's key, kept from run to run), gets a
// client-credentials token, creates an account-access consent, pushes its
// authorization request (PAR, code flow with PKCE), has the PSU approve it
// headlessly, exchanges the code (the ID token checked) and reads the
// accounts.
// Options are the TPP's (e.g. its clock).
func Journey(ctx context.Context, base string, tr http.RoundTripper, key *rsa.PrivateKey, opts ...tpp.Option) error {
	hc := &http.Client{Timeout: 60 * time.Second, Transport: tr}
	c, err := tpp.New(ctx, base, redirectURI, append([]tpp.Option{tpp.WithHTTPClient(hc), tpp.WithKey(key)}, opts...)...)
	if err != nil {
		return err
	}
	c.Name = "sandbox bench journey"
	if err := c.Register(ctx, "private_key_jwt"); err != nil {
		return err
	}
	cc, err := c.ClientCredentials(ctx, "accounts")
	if err != nil {
		return err
	}
	id, err := c.AccountConsent(ctx, cc, journeyPermissions, nil)
	if err != nil {
		return err
	}
	toks, err := c.Approve(ctx, id, tpp.AuthOptions{Flow: tpp.Code, PAR: true}, benchPSU, benchPassword, nil)
	if err != nil {
		return err
	}
	return c.Call(ctx, http.MethodGet, ais+"/accounts", "", toks.AccessToken, nil, http.StatusOK, nil)
}

// measureJourneys runs whole journeys (route RouteJourney or
// RouteJourneyES256) from o.JourneyClients clients at once (a closed loop:
// each starts its next journey when one ends) and records complete
// journeys per second and their latency.
func (r *runner) measureJourneys(ctx context.Context, sbx *Proc, route string) (Row, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return Row{}, err
	}
	opts := r.tppOptions()
	if route == RouteJourneyES256 {
		opts = append(opts, tpp.WithES256(nil))
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 4 * r.o.JourneyClients}
	defer tr.CloseIdleConnections()
	base := "http://" + sbx.Addr
	if err := Journey(ctx, base, tr, key, opts...); err != nil {
		return Row{}, fmt.Errorf("journey: %w", err)
	}
	return r.measureWith(ctx, sbx, route, TargetSandbox, r.o.Warmup, func() (Stats, error) {
		return closedLoop(ctx, r.o.JourneyClients, r.o.Warmup, r.o.Duration, func(ctx context.Context) error {
			return Journey(ctx, base, tr, key, opts...)
		})
	})
}

// closedLoop runs op from n goroutines, each starting again when its call
// ends, for warmup (not recorded) then d, and returns the figures of the
// calls that ended inside the recorded window. A failed call counts as a
// non-2xx answer (status 0) and its first error is returned with the stats.
func closedLoop(ctx context.Context, n int, warmup, d time.Duration, op func(context.Context) error) (Stats, error) {
	start := time.Now()
	from, to := start.Add(warmup), start.Add(warmup+d)
	var (
		mu       sync.Mutex
		samples  []int64
		failed   int64
		firstErr atomic.Value
		wg       sync.WaitGroup
	)
	for range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(to) {
					return
				}
				err := op(ctx)
				t1 := time.Now()
				if t1.Before(from) || t1.After(to) {
					continue
				}
				mu.Lock()
				if err != nil {
					failed++
					firstErr.CompareAndSwap(nil, err)
				} else {
					samples = append(samples, int64(t1.Sub(t0)))
				}
				mu.Unlock()
			}
		})
	}
	select {
	case <-time.After(warmup):
	case <-ctx.Done():
	}
	cpu0 := processCPU()
	wg.Wait()
	cpu1 := processCPU()
	st := Stats{Status: map[int]int64{http.StatusOK: int64(len(samples))}, Requests: int64(len(samples)), Elapsed: d, Engine: "go"}
	if failed > 0 {
		st.Status[0] = failed
	}
	st.RPS = float64(st.Requests) / d.Seconds()
	// The generator's CPU from the end of the warm-up to the last call's end
	// (which may run past the window), over the recorded time.
	st.GenCPU = (cpu1 - cpu0) / max(d.Seconds(), time.Since(from).Seconds())
	slices.Sort(samples)
	st.P50, st.P90, st.P99 = percentile(samples, 50), percentile(samples, 90), percentile(samples, 99)
	if k := len(samples); k > 0 {
		st.Max = time.Duration(samples[k-1])
	}
	err, _ := firstErr.Load().(error)
	return st, err
}
