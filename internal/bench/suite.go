package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/obsandbox/sandbox/api"
	"github.com/obsandbox/sandbox/internal/store"
	"github.com/obsandbox/sandbox/internal/tpp"
)

const (
	ais            = api.BasePath + "/aisp"
	ais4           = api.BasePathV4 + "/aisp"
	pis            = api.BasePath + "/pisp"
	redirectURI    = "https://tpp.bench.example/callback"
	assertionType  = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	txFrom         = "2025-01-01T00:00:00"
	benchPSU       = "alice" // three GBP accounts: the "3-account list"
	benchPassword  = "alice123"
	paymentAmount  = "0.01"
	maxPaymentPSUs = 200
)

// world is what the preparation obtained from the running sandbox through
// the real flows.
type world struct {
	base       string
	hc         *http.Client
	c          *tpp.Client
	aisToken   string // authorization-code token of alice's account-access consent (every permission)
	ccAccounts string // client-credentials tokens
	ccPayments string
	account    string // alice's current account
	initiation map[string]any
	risk       map[string]any
	consentRaw []byte
	consentSig string
	payers     []payer
	bg         *berlin // the Berlin Group reads' TPP and consent
}

type payer struct{ user, pass, account string }

// tppOptions are what every TPP of the run shares: its clock.
func (r *runner) tppOptions() []tpp.Option {
	if r.o.Clock == nil {
		return nil
	}
	return []tpp.Option{tpp.WithClock(r.o.Clock)}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func bearer(tok string) [2]string { return [2]string{"Authorization", "Bearer " + tok} }

var jsonCT = [2]string{"Content-Type", "application/json"}

// prepare registers a TPP (private_key_jwt) and runs the AIS journey for
// alice through the real consent flow with the headless PSU.
func (r *runner) prepare(ctx context.Context, base string, payments bool) (*world, error) {
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	c, err := tpp.New(ctx, base, redirectURI, append(r.tppOptions(), tpp.WithHTTPClient(hc))...)
	if err != nil {
		return nil, err
	}
	c.Name = "sandbox bench"
	if err := c.Register(ctx, "private_key_jwt"); err != nil {
		return nil, err
	}
	w := &world{base: base, hc: hc, c: c}
	toks, _, err := c.AISJourney(ctx, benchPSU, benchPassword, tpp.AllPermissions, nil)
	if err != nil {
		return nil, fmt.Errorf("AIS journey for %s: %w", benchPSU, err)
	}
	w.aisToken = toks.AccessToken
	var accts struct {
		Data struct {
			Account []struct{ AccountId, AccountSubType, Currency string }
		}
	}
	if err := c.Call(ctx, http.MethodGet, ais+"/accounts", "", w.aisToken, nil, http.StatusOK, &accts); err != nil {
		return nil, err
	}
	for _, a := range accts.Data.Account {
		if a.AccountSubType == "CurrentAccount" && w.account == "" {
			w.account = a.AccountId
		}
	}
	if w.account == "" {
		return nil, fmt.Errorf("%s has no current account", benchPSU)
	}
	if len(accts.Data.Account) != 3 {
		r.rep.Notes = append(r.rep.Notes, fmt.Sprintf("%s has %d accounts, not 3", benchPSU, len(accts.Data.Account)))
	}
	if w.ccAccounts, err = c.ClientCredentials(ctx, "accounts"); err != nil {
		return nil, err
	}
	if !payments {
		return w, nil
	}
	if w.ccPayments, err = c.ClientCredentials(ctx, "payments"); err != nil {
		return nil, err
	}
	w.initiation = tpp.DomesticInitiation(paymentAmount, tpp.Payee{Name: "Bench Payee Ltd", SortCode: "200415", Number: "33104477"}, "BENCH")
	w.risk = map[string]any{"PaymentContextCode": "PartyToParty"}
	w.consentRaw, _ = json.Marshal(map[string]any{"Data": map[string]any{"Initiation": w.initiation}, "Risk": w.risk})
	if w.consentSig, err = c.Signature(w.consentRaw); err != nil {
		return nil, err
	}
	// The payers: generated PSUs' current accounts (the admin's PSU list).
	var list struct {
		PSUs []struct {
			Username, Password string
			Accounts           []struct{ AccountId, Currency, AccountSubType string }
		} `json:"psus"`
	}
	if err := c.Call(ctx, http.MethodGet, "/sandbox/psus", "", r.admin, nil, http.StatusOK, &list); err != nil {
		return nil, err
	}
	for _, p := range list.PSUs {
		if !strings.HasPrefix(p.Username, "psu") {
			continue
		}
		for _, a := range p.Accounts {
			if a.AccountSubType == "CurrentAccount" && a.Currency == "GBP" {
				w.payers = append(w.payers, payer{p.Username, p.Password, a.AccountId})
				break
			}
		}
		if len(w.payers) == maxPaymentPSUs {
			break
		}
	}
	if len(w.payers) == 0 {
		w.payers = []payer{{benchPSU, benchPassword, w.account}}
	}
	return w, nil
}

// The requests of each route, as sent to the sandbox and the bare server.

func (w *world) accounts() Request {
	return Request{Method: http.MethodGet, Path: ais + "/accounts", Header: [][2]string{bearer(w.aisToken)}}
}

func (w *world) balances() Request {
	return Request{Method: http.MethodGet, Path: ais + "/accounts/" + w.account + "/balances", Header: [][2]string{bearer(w.aisToken)}}
}

func (w *world) transactions() Request {
	return Request{Method: http.MethodGet, Path: ais + "/accounts/" + w.account + "/transactions?fromBookingDateTime=" + txFrom + "&page-size=50",
		Header: [][2]string{bearer(w.aisToken)}}
}

// v4 is a read of the v3.1.11 route through v4.0.
func v4(r Request) Request {
	r.Path = strings.Replace(r.Path, ais, ais4, 1)
	return r
}

func (w *world) consent() Request {
	body := `{"Data":{"Permissions":["ReadAccountsDetail","ReadBalances","ReadTransactionsCredits","ReadTransactionsDebits","ReadTransactionsDetail"]},"Risk":{}}`
	return Request{Method: http.MethodPost, Path: ais + "/account-access-consents", Header: [][2]string{bearer(w.ccAccounts), jsonCT}, Body: []byte(body)}
}

// tokens signs n client assertions (single-use jti each) in parallel.
func (w *world) tokens(ctx context.Context, n int) ([]Request, error) {
	out := make([]Request, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr error
	var mu sync.Mutex
	for range max(1, runtimeProcs()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				a, err := w.c.Assertion(nil)
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				body := url.Values{"grant_type": {"client_credentials"}, "scope": {"accounts"},
					"client_assertion_type": {assertionType}, "client_assertion": {a}}.Encode()
				out[i] = Request{Method: http.MethodPost, Path: "/as/token",
					Header: [][2]string{{"Content-Type", "application/x-www-form-urlencoded"}}, Body: []byte(body)}
			}
		}()
	}
	wg.Wait()
	return out, errors.Join(firstErr, ctx.Err())
}

// paymentConsents are n consent requests with their own idempotency keys.
func (w *world) paymentConsents(n int) []Request {
	out := make([]Request, n)
	for i := range out {
		out[i] = Request{Method: http.MethodPost, Path: pis + "/domestic-payment-consents", Body: w.consentRaw,
			Header: [][2]string{bearer(w.ccPayments), jsonCT, {"x-idempotency-key", uuid.NewString()}, {"x-jws-signature", w.consentSig}}}
	}
	return out
}

var consentIDRe = regexp.MustCompile(`"ConsentId":"([^"]+)"`)

// authorise sends each payment consent through the PSU's approval (headless,
// code flow with PKCE), exchanges the code, and prepares the signed payment
// with its own idempotency key. The PSUs take turns.
func (w *world) authorise(ctx context.Context, ids []string, workers int) ([]Request, error) {
	out := make([]Request, len(ids))
	var next atomic.Int64
	var failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(ids) || ctx.Err() != nil {
					return
				}
				req, err := w.authoriseOne(ctx, ids[i], w.payers[i%len(w.payers)])
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				out[i] = req
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		err, _ := firstErr.Load().(error)
		return nil, fmt.Errorf("%d of %d payment authorisations failed; first: %w", n, len(ids), err)
	}
	return out, ctx.Err()
}

func (w *world) authoriseOne(ctx context.Context, id string, p payer) (Request, error) {
	a, err := w.c.Authorize(ctx, id, tpp.AuthOptions{Flow: tpp.Code, Scope: "openid payments"})
	if err != nil {
		return Request{}, err
	}
	to, err := w.c.Headless(ctx, a, p.user, p.pass, "approve", []string{p.account})
	if err != nil {
		return Request{}, err
	}
	code, err := w.c.Callback(ctx, a, to)
	if err != nil {
		return Request{}, err
	}
	toks, err := w.c.Exchange(ctx, a, code)
	if err != nil {
		return Request{}, err
	}
	raw, _ := json.Marshal(map[string]any{"Data": map[string]any{"ConsentId": id, "Initiation": w.initiation}, "Risk": w.risk})
	sig, err := w.c.Signature(raw)
	if err != nil {
		return Request{}, err
	}
	return Request{Method: http.MethodPost, Path: pis + "/domestic-payments", Body: raw, Context: id,
		Header: [][2]string{bearer(toks.AccessToken), jsonCT, {"x-idempotency-key", uuid.NewString()}, {"x-jws-signature", sig}}}, nil
}

// capture sends r once to the sandbox and keeps its answer for the bare
// server.
func (w *world) capture(ctx context.Context, r Request, want int) (Canned, error) {
	path, _, _ := strings.Cut(r.Path, "?")
	req, err := http.NewRequestWithContext(ctx, r.Method, w.base+r.Path, strings.NewReader(string(r.Body)))
	if err != nil {
		return Canned{}, err
	}
	for _, h := range r.Header {
		req.Header.Set(h[0], h[1])
	}
	resp, err := w.hc.Do(req)
	if err != nil {
		return Canned{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return Canned{}, err
	}
	if resp.StatusCode != want {
		return Canned{}, fmt.Errorf("%s %s: %d, want %d: %.300s", r.Method, path, resp.StatusCode, want, body)
	}
	return Canned{Method: r.Method, Path: path, Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: body}, nil
}

// forPrism rewrites sandbox requests for Prism, which serves the contract's
// paths without the server's base path.
func forPrism(rs ...Request) []Request {
	out := make([]Request, len(rs))
	for i, r := range rs {
		r.Path = strings.TrimPrefix(r.Path, api.BasePath)
		out[i] = r
	}
	return out
}

// suite is the full benchmark on one large bank.
func (r *runner) suite(ctx context.Context) error {
	o := r.o
	db := o.DB
	if db == "" {
		db = filepath.Join(o.Out, "bench.db")
	}
	var sbx *Proc
	var sandboxInfo Server
	if o.Sandbox != "" {
		sbx = remoteProc(o.Sandbox)
		sandboxInfo = Server{Name: TargetSandbox, Command: "started elsewhere: " + o.Sandbox}
		if err := r.checkRemote(ctx, sbx); err != nil {
			return err
		}
	} else {
		if !o.KeepDB {
			defer removeDB(db)
		}
		r.logf("seeding %d PSUs into %s", o.PSUs, db)
		var err error
		if r.rep.Seed, err = r.seedBank(ctx, db, o.PSUs); err != nil {
			return err
		}
		r.logf("seeded: %s", r.rep.Seed.Line)
		var starts []time.Duration
		sbx, starts, err = r.coldStarts(ctx, db, o.Starts, o.Profile)
		r.rep.ColdStarts = starts
		if err != nil {
			return err
		}
		sandboxInfo = Server{Name: TargetSandbox, Command: "sandbox serve --db " + db + " --rate-limit off" + map[bool]string{true: " --pprof", false: ""}[o.Profile]}
		_, sandboxInfo.Ready, _ = Percentiles(starts)
	}

	// Prism starts (slowly) while the TPP prepares.
	type started struct {
		p     *Proc
		ready time.Duration
		cmd   string
		err   error
	}
	prismc := make(chan started, 1)
	if r.wantTarget(TargetPrism) {
		go func() {
			p, d, cmd, err := r.startPrism(ctx, "bench")
			prismc <- started{p, d, cmd, err}
		}()
	} else {
		prismc <- started{err: errors.New("not among --targets")}
	}

	wantPay := r.want(RoutePayment) || r.want(RoutePaymentConsent)
	r.logf("preparing: register a TPP, AIS journey for %s (headless PSU)", benchPSU)
	w, err := r.prepare(ctx, "http://"+sbx.Addr, wantPay)
	if err != nil {
		return err
	}
	var tokenPool []Request
	if r.want(RouteToken) {
		r.logf("signing %d client assertions", o.Tokens+1)
		if tokenPool, err = w.tokens(ctx, o.Tokens+1); err != nil {
			return err
		}
	}

	// One answer of each route, for the bare server to replay.
	var canned []Canned
	add := func(req Request, want int) error {
		cn, err := w.capture(ctx, req, want)
		canned = append(canned, cn)
		return err
	}
	fixed := map[string]Request{RouteAccounts: w.accounts(), RouteBalances: w.balances(), RouteTransactions: w.transactions(), RouteConsent: w.consent(),
		RouteAccountsV4: v4(w.accounts()), RouteBalancesV4: v4(w.balances()), RouteTransactionsV4: v4(w.transactions())}
	if slices.ContainsFunc(berlinRoutes, r.want) {
		r.logf("preparing the Berlin Group reads: a QWAC, a consent approved at the redirect pages")
		if err := w.prepareBerlin(ctx, r.admin); err != nil {
			return err
		}
		maps.Copy(fixed, w.berlinRequests())
	}
	for _, rt := range fixedRoutes {
		if !r.want(rt) {
			continue
		}
		want := http.StatusOK
		if rt == RouteConsent {
			want = http.StatusCreated
		}
		if err := add(fixed[rt], want); err != nil {
			return err
		}
		if rt == RouteTransactionsBG {
			if n := strings.Count(string(canned[len(canned)-1].Body), `"transactionId"`); n != 50 {
				r.rep.Notes = append(r.rep.Notes, fmt.Sprintf("the Berlin Group transactions page holds %d transactions, not 50", n))
			}
		}
		if rt == RouteTransactions || rt == RouteTransactionsV4 {
			if n := strings.Count(string(canned[len(canned)-1].Body), `"TransactionId"`); n != 50 {
				r.rep.Notes = append(r.rep.Notes, fmt.Sprintf("the transactions page holds %d transactions, not 50", n))
			}
		}
	}
	if r.want(RouteToken) {
		if err := add(tokenPool[0], http.StatusOK); err != nil {
			return err
		}
		tokenPool = tokenPool[1:]
	}
	var samplePayment Request
	if wantPay {
		one := w.paymentConsents(1)[0]
		cn, err := w.capture(ctx, one, http.StatusCreated)
		if err != nil {
			return err
		}
		canned = append(canned, cn)
		m := consentIDRe.FindSubmatch(cn.Body)
		if m == nil {
			return fmt.Errorf("payment consent: no ConsentId in %s", cn.Body)
		}
		reqs, err := w.authorise(ctx, []string{string(m[1])}, 1)
		if err != nil {
			return err
		}
		samplePayment = reqs[0]
		if err := add(samplePayment, http.StatusCreated); err != nil {
			return err
		}
	}

	var bare *Proc
	bareInfo := Server{Name: TargetBare, Command: "sandbox bench --serve-bare (echo, the sandbox's bytes)"}
	if r.wantTarget(TargetBare) {
		if bare, bareInfo.Ready, err = r.startBare(ctx, canned); err != nil {
			return err
		}
	} else {
		bareInfo.Skipped = "not among --targets"
	}
	ps := <-prismc
	prism := ps.p
	prismInfo := Server{Name: TargetPrism, Ready: ps.ready, Command: ps.cmd}
	if ps.err != nil {
		prismInfo.Skipped = ps.err.Error()
		if r.wantTarget(TargetPrism) {
			r.logf("prism skipped: %v", ps.err)
		}
	} else {
		r.logf("prism ready after %s (pid %d)", ps.ready.Round(time.Millisecond), prism.Pid())
	}

	// Each route on each target in turn, so that noise on the machine hits
	// the three alike.
	others := func(route string, reqs []Request, warm time.Duration, inContract bool) error {
		if bare != nil {
			if _, err := r.measure(ctx, bare, route, TargetBare, Pool(bare.Addr, reqs, true), warm, nil); err != nil {
				return err
			}
		}
		if prism != nil {
			if !inContract {
				r.rep.Rows = append(r.rep.Rows, Row{Route: route, Target: TargetPrism, Note: "not in api/openapi.yaml"})
				return nil
			}
			if _, err := r.measure(ctx, prism, route, TargetPrism, Pool(prism.Addr, forPrism(reqs...), true), warm, nil); err != nil {
				return err
			}
		}
		return nil
	}
	for _, rt := range fixedRoutes {
		if !r.want(rt) {
			continue
		}
		if r.wantTarget(TargetSandbox) {
			if _, err := r.measureFixed(ctx, sbx, rt, TargetSandbox, fixed[rt], o.Warmup); err != nil {
				return err
			}
		}
		if bare != nil {
			if _, err := r.measureFixed(ctx, bare, rt, TargetBare, fixed[rt], o.Warmup); err != nil {
				return err
			}
		}
		if prism != nil && !strings.HasSuffix(rt, "-v4.0") && !slices.Contains(berlinRoutes, rt) { // Prism serves api/openapi.yaml (v3.1.11)
			if _, err := r.measureFixed(ctx, prism, rt, TargetPrism, forPrism(fixed[rt])[0], o.Warmup); err != nil {
				return err
			}
		}
	}
	if r.want(RouteToken) {
		if r.wantTarget(TargetSandbox) {
			if _, err := r.measure(ctx, sbx, RouteToken, TargetSandbox, Pool(sbx.Addr, tokenPool, false), 0, nil); err != nil {
				return err
			}
		}
		if err := others(RouteToken, tokenPool[:min(len(tokenPool), 1000)], o.Warmup, false); err != nil {
			return err
		}
	}
	for _, route := range []string{RouteJourney, RouteJourneyES256} {
		if r.want(route) && r.wantTarget(TargetSandbox) {
			if _, err := r.measureJourneys(ctx, sbx, route); err != nil {
				return err
			}
		}
	}
	if wantPay {
		if err := r.payments(ctx, w, sbx, samplePayment, others); err != nil {
			return err
		}
	}

	if o.Profile {
		// Where the memory is: the Go heap and runtime (MemStats at the end
		// of the text) against the process's RSS; the rest is SQLite's.
		f := filepath.Join(o.Out, "heap-end.txt")
		if r.fetchDebug(ctx, sbx, "/sandbox/debug/pprof/heap?debug=1", f, 30*time.Second) {
			r.rep.Profiles = append(r.rep.Profiles, f)
			note := fmt.Sprintf("sandbox RSS at the end %s (peak %s); Go's own figures in %s", mb(sbx.RSS()), mb(sbx.PeakRSS()), f)
			if !sbx.local() {
				note = "the sandbox's heap at the end (Go's own figures): " + f
			}
			r.rep.Notes = append(r.rep.Notes, note)
		}
	}
	sandboxInfo.PeakRSS = sbx.PeakRSS()
	r.rep.Servers = append(r.rep.Servers, sandboxInfo)
	if bare != nil {
		bareInfo.PeakRSS = bare.PeakRSS()
	}
	if prism != nil {
		prismInfo.PeakRSS = prism.PeakRSS()
	}
	r.rep.Servers = append(r.rep.Servers, bareInfo, prismInfo)
	r.stopAll()
	if wantPay && r.rep.Payments.Prepared > 0 {
		if o.Sandbox != "" {
			return r.checkPaymentsRemote(ctx, w)
		}
		if err := r.checkPayments(ctx, db); err != nil {
			return err
		}
	}
	return nil
}

type paymentOutcome struct {
	status int
	id     string
}

var paymentIDRe = regexp.MustCompile(`"DomesticPaymentId":"([^"]+)"`)

// payments measures consent creation (which also makes the consents the
// payments need), has the PSUs approve them, then measures submission.
func (r *runner) payments(ctx context.Context, w *world, sbx *Proc, sample Request,
	others func(string, []Request, time.Duration, bool) error) error {
	o := r.o
	consentReqs := w.paymentConsents(o.Payments)
	var mu sync.Mutex
	var ids []string
	collect := func(_ any, status int, body []byte) {
		if status != http.StatusCreated {
			return
		}
		if m := consentIDRe.FindSubmatch(body); m != nil {
			mu.Lock()
			ids = append(ids, string(m[1]))
			mu.Unlock()
		}
	}
	rows := len(r.rep.Rows)
	if r.wantTarget(TargetSandbox) {
		if _, err := r.measure(ctx, sbx, RoutePaymentConsent, TargetSandbox, Pool(sbx.Addr, consentReqs, false), 0, collect); err != nil {
			return err
		}
	}
	if r.want(RoutePaymentConsent) {
		if err := others(RoutePaymentConsent, consentReqs[:min(len(consentReqs), 1000)], o.Warmup, true); err != nil {
			return err
		}
	} else {
		r.rep.Rows = r.rep.Rows[:rows] // made only for the payments, not reported
	}
	if !r.want(RoutePayment) {
		return nil
	}
	payReqs := []Request{sample}
	if len(ids) > 0 {
		workers := 4 * runtimeProcs()
		r.logf("authorising %d payment consents: PSU approval (headless) and code exchange, %d at a time", len(ids), workers)
		t0 := time.Now()
		var err error
		if payReqs, err = w.authorise(ctx, ids, workers); err != nil {
			return err
		}
		r.rep.AuthFlows = Flows{Count: len(ids), Elapsed: time.Since(t0)}
		r.logf("authorised %d in %s (%.0f/s)", len(ids), r.rep.AuthFlows.Elapsed.Round(time.Millisecond), float64(len(ids))/r.rep.AuthFlows.Elapsed.Seconds())
		r.rep.Payments.Prepared = len(payReqs)
		r.paymentPool = payReqs
	}
	outcomes := map[string]paymentOutcome{}
	record := func(ctx any, status int, body []byte) {
		id, _ := ctx.(string)
		var pid string
		if m := paymentIDRe.FindSubmatch(body); m != nil {
			pid = string(m[1])
		}
		mu.Lock()
		outcomes[id] = paymentOutcome{status, pid}
		mu.Unlock()
	}
	if r.wantTarget(TargetSandbox) && len(ids) > 0 {
		if _, err := r.measure(ctx, sbx, RoutePayment, TargetSandbox, Pool(sbx.Addr, payReqs, false), 0, record); err != nil {
			return err
		}
		r.paymentOutcomes = outcomes
	}
	return others(RoutePayment, payReqs[:min(len(payReqs), 1000)], o.Warmup, true)
}

// checkPayments opens the database once the sandbox has stopped and checks
// that every 201 is one stored payment and nothing else was paid.
func (r *runner) checkPayments(ctx context.Context, db string) error {
	s, err := r.openForCheck(ctx, db)
	if err != nil {
		return err
	}
	defer s.Close()
	pc := &r.rep.Payments
	seen := map[string]bool{}
	for _, req := range r.paymentPool {
		id, _ := req.Context.(string)
		out, answered := r.paymentOutcomes[id]
		stored, err := s.PaymentsOfConsent(ctx, id)
		if err != nil {
			return err
		}
		pc.Stored += len(stored)
		if answered {
			pc.Sent++
		}
		created := answered && out.status == http.StatusCreated
		if created {
			pc.Created++
			if seen[out.id] {
				pc.Duplicated++
			}
			seen[out.id] = true
		}
		switch {
		case len(stored) > 1:
			pc.Duplicated += len(stored) - 1
		case created && (len(stored) == 0 || stored[0].ID != out.id):
			pc.Lost++
		case !created && len(stored) == 1:
			pc.Unanswered++
		}
	}
	pc.Checked = true
	return nil
}

func removeDB(db string) {
	if store.IsPostgres(db) {
		_ = store.DropSchema(context.Background(), db)
		return
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(db + suffix)
	}
}
