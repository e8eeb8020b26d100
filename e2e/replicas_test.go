package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/google/uuid"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/keyring"
	"github.com/obsandbox/sandbox/internal/store"
	"github.com/obsandbox/sandbox/internal/store/storetest"
	"github.com/obsandbox/sandbox/internal/tpp"
)

// The replica suite (SPEC §9.3): three sandbox processes serve one
// PostgreSQL schema and act as one sandbox. The TPP reaches them through a
// small load balancer of the test's own, which sends each request to the
// replica the test picks; every replica is given the balancer's URL as its
// issuer, as behind a real one.

type replicas struct {
	t      *testing.T
	nodes  []*child
	lb     string       // the balancer's URL: the issuer
	target atomic.Int32 // the replica the balancer sends to
	admin  string
	dsn    string // the schema they share
	key    string // their key file
}

func startReplicas(t *testing.T, extra ...string) *replicas {
	t.Helper()
	return startReplicasAs(t, true, extra...)
}

// startReplicasAs starts three replicas on a new schema: the first alone
// (it migrates and seeds) and then the other two together, or all three
// together.
func startReplicasAs(t *testing.T, firstAlone bool, extra ...string) *replicas {
	t.Helper()
	dsn := storetest.FreshSchema(t)
	key := filepath.Join(t.TempDir(), "sandbox.key")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &replicas{t: t, lb: "http://" + ln.Addr().String(), admin: "replica-admin", dsn: dsn, key: key}
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		u, _ := url.Parse(r.nodes[r.target.Load()].url)
		pr.SetURL(u)
		pr.Out.Host = pr.In.Host // the replicas see the issuer's host, as behind a balancer
	}}
	srv := &http.Server{Handler: proxy}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	args := append([]string{"--db", dsn, "--key-file", key, "--issuer", r.lb, "--admin-token", r.admin,
		"--log-level", "warn"}, extra...)
	if firstAlone {
		r.nodes = append(r.nodes, startChild(t, args...))
	}
	var wg sync.WaitGroup
	more := make([]*child, 3-len(r.nodes))
	for i := range more {
		wg.Go(func() { more[i] = startChild(t, args...) })
	}
	wg.Wait()
	r.nodes = append(r.nodes, more...)
	return r
}

// via sends the balancer's traffic to replica i.
func (r *replicas) via(i int) { r.target.Store(int32(i)) }

// adminCall calls a /sandbox/ endpoint of replica i.
func (r *replicas) adminCall(i int, method, path string, body any, out any) int {
	r.t.Helper()
	c := &tpp.Client{HTTP: http.DefaultClient}
	st, raw, _, err := c.Send(context.Background(), method, r.nodes[i].url+path, "application/json", r.admin, body, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	if out != nil && st < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			r.t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	return st
}

// within polls cond until it holds or d has passed.
func within(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestReplicasActAsOneSandbox(t *testing.T) {
	t.Parallel()
	storetest.Postgres(t)
	ctx := context.Background()
	r := startReplicas(t, "--rate-limit", "off", "--rate-limit-data", "5:10", "--settlement-delay", "2s")
	cl, err := tpp.New(ctx, r.lb, callback, tpp.WithKey(testKey(0)))
	if err != nil {
		t.Fatal(err)
	}
	r.via(0)
	if err := cl.Register(ctx, "private_key_jwt"); err != nil {
		t.Fatal(err)
	}

	// balances is alice's balances through replica i, as "account type
	// amount" lines, or "" when the data bucket refused the read.
	balances := func(t *testing.T, i int, tok string) string {
		st, raw, h, err := cl.Send(ctx, http.MethodGet, r.nodes[i].url+"/open-banking/v3.1/aisp/balances", "", tok, nil, nil)
		if st == http.StatusTooManyRequests {
			return ""
		}
		if err != nil || st != http.StatusOK {
			t.Fatalf("balances through replica %d: %d %v %s %s", i, st, err, h.Get("WWW-Authenticate"), raw)
		}
		var out struct {
			Data struct {
				Balance []struct {
					AccountId, Type, CreditDebitIndicator string
					Amount                                struct{ Amount string }
				}
			}
		}
		if err := json.Unmarshal(raw, &out); err != nil || len(out.Data.Balance) == 0 {
			t.Fatalf("balances through replica %d: %v %s", i, err, raw)
		}
		var lines []string
		for _, b := range out.Data.Balance {
			lines = append(lines, b.AccountId+" "+b.Type+" "+b.CreditDebitIndicator+" "+b.Amount.Amount)
		}
		slices.Sort(lines)
		return strings.Join(lines, "\n")
	}
	grant := func(t *testing.T) string {
		r.via(1)
		cc, err := cl.ClientCredentials(ctx, "accounts")
		if err != nil {
			t.Fatal(err)
		}
		id, err := cl.AccountConsent(ctx, cc, []string{"ReadAccountsDetail", "ReadBalances"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		toks, err := cl.Approve(ctx, id, tpp.AuthOptions{Scope: "openid accounts"}, "alice", "alice123", nil)
		if err != nil {
			t.Fatal(err)
		}
		return toks.AccessToken
	}

	var aisToken, consentID string
	var seedBalances string
	t.Run("ConsentMadeOnAApprovedOnBReadOnC", func(t *testing.T) {
		r.via(0)
		cc, err := cl.ClientCredentials(ctx, "accounts")
		if err != nil {
			t.Fatal(err)
		}
		if consentID, err = cl.AccountConsent(ctx, cc, []string{"ReadAccountsDetail", "ReadBalances"}, nil); err != nil {
			t.Fatal(err)
		}
		r.via(1)
		toks, err := cl.Approve(ctx, consentID, tpp.AuthOptions{Scope: "openid accounts"}, "alice", "alice123", nil)
		if err != nil {
			t.Fatal(err)
		}
		aisToken = toks.AccessToken
		st, body, _, err := cl.Send(ctx, http.MethodGet, r.nodes[2].url+"/open-banking/v3.1/aisp/accounts", "", aisToken, nil, nil)
		if err != nil || st != http.StatusOK {
			t.Fatalf("accounts through C: %d %v %s", st, err, body)
		}
		if seedBalances = balances(t, 2, aisToken); seedBalances == "" {
			t.Fatal("balances through C: the data bucket refused the read")
		}
	})

	t.Run("RateLimitIsOneBudget", func(t *testing.T) {
		// Refilled: the journey above spent some of the data bucket.
		time.Sleep(2500 * time.Millisecond)
		var ok, limited atomic.Int32
		var wg sync.WaitGroup
		t0 := time.Now()
		for i := range 30 {
			wg.Go(func() {
				st, _, _, err := cl.Send(ctx, http.MethodGet, r.nodes[i%3].url+"/open-banking/v3.1/aisp/accounts", "", aisToken, nil, nil)
				switch {
				case err != nil:
					t.Error(err)
				case st == http.StatusOK:
					ok.Add(1)
				case st == http.StatusTooManyRequests:
					limited.Add(1)
				default:
					t.Errorf("status %d", st)
				}
			})
		}
		wg.Wait()
		// The bucket refills at 5/s while the burst is under way: one budget
		// admits 10 ± 1 plus that; one per replica would admit 30.
		refill := 5 * time.Since(t0).Seconds()
		if n := float64(ok.Load()); n < 9 || n > 11+refill {
			t.Fatalf("a burst of 10 spread over three replicas admitted %v of 30 (%d refused) in %s, want 10 ± 1 (+%.1f refilled)",
				n, limited.Load(), time.Since(t0).Round(time.Millisecond), refill)
		}
		t.Logf("admitted %d of 30 in %s", ok.Load(), time.Since(t0).Round(time.Millisecond))
	})

	t.Run("RevocationOnARefusedByBAndCWithin1s", func(t *testing.T) {
		time.Sleep(2500 * time.Millisecond) // the data bucket refills
		// Both B and C have read (and so remembered) the grant.
		for _, i := range []int{1, 2} {
			if st, _, _, _ := cl.Send(ctx, http.MethodGet, r.nodes[i].url+"/open-banking/v3.1/aisp/accounts", "", aisToken, nil, nil); st != http.StatusOK {
				t.Fatalf("replica %d before the revocation: %d", i, st)
			}
		}
		cc, err := cl.ClientCredentials(ctx, "accounts")
		if err != nil {
			t.Fatal(err)
		}
		st, body, _, err := cl.Send(ctx, http.MethodDelete, r.nodes[0].url+"/open-banking/v3.1/aisp/account-access-consents/"+consentID, "", cc, nil, nil)
		if err != nil || st != http.StatusNoContent {
			t.Fatalf("delete through A: %d %v %s", st, err, body)
		}
		t0 := time.Now()
		for _, i := range []int{1, 2} {
			if !within(time.Second-time.Since(t0), func() bool {
				st, _, _, _ := cl.Send(ctx, http.MethodGet, r.nodes[i].url+"/open-banking/v3.1/aisp/accounts", "", aisToken, nil, nil)
				return st == http.StatusUnauthorized || st == http.StatusForbidden
			}) {
				t.Fatalf("replica %d still served the revoked consent 1s after its deletion", i)
			}
		}
	})

	t.Run("KeyRotationOnASeenByBAndC", func(t *testing.T) {
		var rotated struct{ KID string }
		if st := r.adminCall(0, http.MethodPost, "/sandbox/keys/rotate", nil, &rotated); st != http.StatusOK || rotated.KID == "" {
			t.Fatalf("rotate through A: %d %+v", st, rotated)
		}
		r.via(0)
		cc, err := cl.ClientCredentials(ctx, "accounts")
		if err != nil {
			t.Fatal(err)
		}
		if kid := jwtKID(t, cc); kid != rotated.KID {
			t.Fatalf("A signed with %q, not the key it rotated to (%q)", kid, rotated.KID)
		}
		t0 := time.Now()
		for _, i := range []int{1, 2} {
			body := map[string]any{"Data": map[string]any{"Permissions": []string{"ReadAccountsDetail"}}, "Risk": map[string]any{}}
			if !within(time.Second-time.Since(t0), func() bool {
				st, _, _, _ := cl.Send(ctx, http.MethodPost, r.nodes[i].url+"/open-banking/v3.1/aisp/account-access-consents", "application/json", cc, body, nil)
				return st == http.StatusCreated
			}) {
				t.Fatalf("replica %d refused a token of the key A rotated to, 1s after the rotation", i)
			}
		}
	})

	t.Run("ClockAdvanceOnBSeenByA", func(t *testing.T) {
		var before, after struct{ Now time.Time }
		r.adminCall(0, http.MethodGet, "/sandbox/clock", nil, &before)
		if st := r.adminCall(1, http.MethodPost, "/sandbox/clock", map[string]string{"advance": "1h"}, nil); st != http.StatusOK {
			t.Fatalf("advance through B: %d", st)
		}
		if !within(time.Second, func() bool {
			r.adminCall(0, http.MethodGet, "/sandbox/clock", nil, &after)
			return after.Now.Sub(before.Now) >= time.Hour
		}) {
			t.Fatalf("A's clock went from %s to %s within 1s of B's advance of 1h", before.Now, after.Now)
		}
	})

	initiation := func(id string) map[string]any {
		return map[string]any{"InstructionIdentification": id, "EndToEndIdentification": "replicas",
			"InstructedAmount": map[string]any{"Amount": "1.00", "Currency": "GBP"},
			"CreditorAccount":  map[string]any{"SchemeName": "UK.OBIE.SortCodeAccountNumber", "Identification": "20041533104477", "Name": "Greenfield Lettings"}}
	}
	payToken := func(t *testing.T, id string) (string, string) {
		r.via(0)
		cc, err := cl.ClientCredentials(ctx, "payments")
		if err != nil {
			t.Fatal(err)
		}
		cid, err := cl.PaymentConsent(ctx, cc, initiation(id))
		if err != nil {
			t.Fatal(err)
		}
		toks, err := cl.Approve(ctx, cid, tpp.AuthOptions{Scope: "openid payments"}, "alice", "alice123", nil)
		if err != nil {
			t.Fatal(err)
		}
		return cid, toks.AccessToken
	}

	t.Run("ConcurrentReplaysMakeOnePayment", func(t *testing.T) {
		cid, tok := payToken(t, "replay")
		body, _ := json.Marshal(map[string]any{"Data": map[string]any{"ConsentId": cid, "Initiation": initiation("replay")},
			"Risk": map[string]any{"PaymentContextCode": "PartyToParty"}})
		sig, err := cl.Signature(body)
		if err != nil {
			t.Fatal(err)
		}
		key := uuid.NewString()
		var mu sync.Mutex
		ids := map[string]int{}
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Go(func() {
				st, raw, _, err := cl.Send(ctx, http.MethodPost, r.nodes[i%3].url+"/open-banking/v3.1/pisp/domestic-payments", "application/json",
					tok, body, map[string]string{"x-idempotency-key": key, "x-jws-signature": sig})
				if err != nil || st != http.StatusCreated {
					t.Errorf("replay %d: %d %v %s", i, st, err, raw)
					return
				}
				var out struct {
					Data struct{ DomesticPaymentId string }
				}
				json.Unmarshal(raw, &out)
				mu.Lock()
				ids[out.Data.DomesticPaymentId]++
				mu.Unlock()
			})
		}
		wg.Wait()
		if len(ids) != 1 {
			t.Fatalf("50 replays of one key over three replicas made %d payments: %v", len(ids), ids)
		}
	})

	t.Run("StandingOrderPaidOnceWhileThreeRun", func(t *testing.T) {
		var clock struct{ Now time.Time }
		r.adminCall(0, http.MethodGet, "/sandbox/clock", nil, &clock)
		first := clock.Now.Add(72 * time.Hour).Truncate(time.Second)
		so := map[string]any{"Frequency": "IntrvlWkDay:01:0" + fmt.Sprint(int(first.Weekday()+6)%7+1), "Reference": "SO REPLICAS",
			"NumberOfPayments":     "4",
			"FirstPaymentDateTime": first.Format(time.RFC3339), "FirstPaymentAmount": map[string]any{"Amount": "20.00", "Currency": "GBP"},
			"RecurringPaymentAmount": map[string]any{"Amount": "10.00", "Currency": "GBP"}, "FinalPaymentAmount": map[string]any{"Amount": "5.00", "Currency": "GBP"},
			"CreditorAccount": map[string]any{"SchemeName": "UK.OBIE.SortCodeAccountNumber", "Identification": "20041533104477", "Name": "Greenfield Lettings"}}
		r.via(0)
		cc, err := cl.ClientCredentials(ctx, "payments")
		if err != nil {
			t.Fatal(err)
		}
		st, b, _, err := cl.SignedPost(ctx, "/open-banking/v3.1/pisp/domestic-standing-order-consents", cc, uuid.NewString(),
			map[string]any{"Data": map[string]any{"Permission": "Create", "Initiation": so}, "Risk": map[string]any{}})
		if err != nil || st != http.StatusCreated {
			t.Fatalf("standing order consent: %d %s %v", st, b, err)
		}
		var consent struct{ Data struct{ ConsentId string } }
		json.Unmarshal(b, &consent)
		toks, err := cl.Approve(ctx, consent.Data.ConsentId, tpp.AuthOptions{Scope: "openid payments"}, "alice", "alice123", nil)
		if err != nil {
			t.Fatal(err)
		}
		if st, b, _, err = cl.SignedPost(ctx, "/open-banking/v3.1/pisp/domestic-standing-orders", toks.AccessToken, uuid.NewString(),
			map[string]any{"Data": map[string]any{"ConsentId": consent.Data.ConsentId, "Initiation": so}, "Risk": map[string]any{}}); err != nil || st != http.StatusCreated {
			t.Fatalf("standing order: %d %s %v", st, b, err)
		}
		// Every replica's background work runs on the moved clock; the
		// order pays each of its four payments once.
		if st := r.adminCall(1, http.MethodPost, "/sandbox/clock", map[string]string{"advance": "40d"}, nil); st != http.StatusOK {
			t.Fatalf("advance through B: %d", st)
		}
		keys, err := keyring.Load(r.key, false)
		if err != nil {
			t.Fatal(err)
		}
		db, err := store.Open(ctx, r.dsn, store.Options{Key: keys, Inspect: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		count := func() int { // the ledger's entries of the order, from the bank's dump
			var b bytes.Buffer
			if err := db.DumpBank(ctx, &b); err != nil {
				t.Fatal(err)
			}
			n, table := 0, ""
			for _, line := range strings.Split(b.String(), "\n") {
				if name, ok := strings.CutPrefix(line, "# "); ok {
					table, _, _ = strings.Cut(name, " ")
				} else if table == "transactions" && strings.Contains(line, "|SO REPLICAS|") {
					n++
				}
			}
			return n
		}
		if !within(5*time.Second, func() bool { return count() >= 4 }) {
			t.Fatalf("%d of the standing order's 4 payments made 5s after the clock moved 40 days", count())
		}
		time.Sleep(time.Second) // four more rounds of each replica's background work
		if n := count(); n != 4 {
			t.Fatalf("the standing order's 4 payments were made %d times between three replicas", n)
		}
	})

	t.Run("TenantMadeOnceWhenTwoReplicasAreAsked", func(t *testing.T) {
		// Both replicas see no schema for the name and go to make it: one
		// makes it, the other is told it exists (before, both answered 201
		// with an admin token each, one of them overwritten). The tenant
		// answers through the third replica to the token the 201 gave.
		var st [2]int
		var body [2][]byte
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Go(func() {
				c := &tpp.Client{HTTP: http.DefaultClient}
				var err error
				st[i], body[i], _, err = c.Send(ctx, http.MethodPost, r.nodes[i].url+"/sandbox/tenants", "application/json", r.admin,
					map[string]string{"name": "race"}, nil)
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		won := slices.Index(st[:], http.StatusCreated)
		if won < 0 || st[1-won] != http.StatusConflict {
			t.Fatalf("two replicas asked to make one tenant answered %v (%s | %s), want one 201 and one 409", st, body[0], body[1])
		}
		var nt newTenant
		if err := json.Unmarshal(body[won], &nt); err != nil {
			t.Fatal(err)
		}
		c := &tpp.Client{HTTP: http.DefaultClient}
		if got, raw, _, err := c.Send(ctx, http.MethodGet, r.nodes[2].url+"/t/race/sandbox/psus", "", nt.AdminToken, nil, nil); err != nil || got != http.StatusOK {
			t.Fatalf("the tenant through the third replica with the 201's admin token: %d %v %s", got, err, raw)
		}
		// A first request under /t/<name>/ makes the tenant (dev profile):
		// two at once through two replicas both get it, whichever made it.
		for i := range 2 {
			wg.Go(func() {
				st[i], body[i], _, _ = c.Send(ctx, http.MethodGet, r.nodes[i].url+"/t/race-first/.well-known/openid-configuration", "", "", nil, nil)
			})
		}
		wg.Wait()
		if st != [2]int{http.StatusOK, http.StatusOK} {
			t.Fatalf("two first requests to a new tenant through two replicas answered %v (%.200s | %.200s), want 200 twice", st, body[0], body[1])
		}
	})

	// lockedOut fails the client's authentication at replica i until it
	// refuses to try (429): each replica counts failures in memory.
	lockedOut := func(t *testing.T, i int) bool {
		var disc struct {
			TokenEndpoint string `json:"token_endpoint"`
		}
		st, raw, _, err := cl.Send(ctx, http.MethodGet, r.nodes[i].url+"/.well-known/openid-configuration", "", "", nil, nil)
		if err != nil || st != http.StatusOK || json.Unmarshal(raw, &disc) != nil {
			t.Fatalf("discovery: %d %v", st, err)
		}
		u, _ := url.Parse(disc.TokenEndpoint)
		for range 30 {
			forged, err := jwt.NewWithClaims(jwt.SigningMethodPS256, jwt.RegisteredClaims{Issuer: cl.ClientID, Subject: cl.ClientID,
				Audience: jwt.ClaimStrings{disc.TokenEndpoint}, ID: uuid.NewString(), IssuedAt: jwt.NewNumericDate(time.Now()),
				ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Minute))}).SignedString(testKey(1)) // not the client's key
			if err != nil {
				t.Fatal(err)
			}
			form := url.Values{"grant_type": {"client_credentials"}, "scope": {"accounts"}, "client_id": {cl.ClientID},
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {forged}}
			st, _, _, err := cl.Send(ctx, http.MethodPost, r.nodes[i].url+u.Path, "application/x-www-form-urlencoded", "", []byte(form.Encode()), nil)
			if err != nil {
				t.Fatal(err)
			}
			if st == http.StatusTooManyRequests {
				return true
			}
		}
		return false
	}

	// admitted reports whether replica i lets the client authenticate.
	admitted := func(i int) bool {
		r.via(i)
		_, err := cl.ClientCredentials(ctx, "accounts")
		return err == nil
	}

	t.Run("ResetOnBSeenByAAndC", func(t *testing.T) {
		time.Sleep(2500 * time.Millisecond) // the data bucket refills
		tok := grant(t)
		for _, i := range []int{0, 2} { // A and C read (and remember) the balances
			got := balances(t, i, tok)
			if got == "" {
				t.Fatalf("replica %d: the data bucket refused the read", i)
			}
			if got == seedBalances {
				t.Fatal("the payments above changed no balance: the test proves nothing")
			}
		}
		if !lockedOut(t, 0) {
			t.Fatal("30 failed client authentications at A and no 429")
		}
		if st := r.adminCall(1, http.MethodPost, "/sandbox/reset", nil, nil); st != http.StatusNoContent {
			t.Fatalf("reset through B: %d", st)
		}
		// A forgets its count of the client's failures, as B did (a
		// bucket refills one failure in 5 s: not within the second).
		if !within(time.Second, func() bool { return admitted(0) }) {
			t.Fatal("the client locked out at A is still refused there a second after the reset through B")
		}
		tok = grant(t) // the reset ended every consent (and emptied the data bucket's count)
		for _, i := range []int{0, 2} {
			var got string
			if !within(time.Second, func() bool { got = balances(t, i, tok); return got == seedBalances }) {
				t.Fatalf("replica %d a second after the reset through B:\n%s\nwant the seed's:\n%s", i, got, seedBalances)
			}
		}
	})

	t.Run("ListenerReconnectionIsNoReset", func(t *testing.T) {
		// B, which made the last reset, locks the client out; then every
		// replica's listening connection drops. Told every setting again
		// on reconnecting, B must not take its own reset for a new one.
		if !lockedOut(t, 1) {
			t.Fatal("30 failed client authentications at B and no 429")
		}
		conn := storetest.Connect(t, r.dsn)
		listening := func() (n int) {
			if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%LISTEN "sandbox_' || $1 || '%'`,
				store.SchemaOf(r.dsn)).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		before := listening()
		if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%LISTEN "sandbox_' || $1 || '%'`,
			store.SchemaOf(r.dsn)); err != nil || before == 0 {
			t.Fatalf("dropping %d listening connections: %v", before, err)
		}
		if !within(10*time.Second, func() bool { return listening() == before }) {
			t.Fatal("the replicas did not listen again within 10 s")
		}
		for range 3 { // the settings are told again once listening: the client stays refused meanwhile
			if admitted(1) {
				t.Fatal("B forgot its count of the client's failures on reconnecting, with no reset since its own")
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	t.Run("SettlementGoesOnWhenItsReplicaIsKilled", func(t *testing.T) {
		cid, tok := payToken(t, "settle")
		r.via(0)
		id, status, err := cl.Pay(ctx, tok, cid, initiation("settle"), uuid.NewString())
		if err != nil || status != "Pending" {
			t.Fatalf("pay through A: %s %s %v", id, status, err)
		}
		r.nodes[0].cmd.Process.Kill() // kill -9: no shutdown, no hand-over
		<-r.nodes[0].done
		// Read from the database, not through a replica: a read through
		// the API would settle the payment itself (it catches up first),
		// and the test must see the survivors' background work do it.
		keys, err := keyring.Load(r.key, false)
		if err != nil {
			t.Fatal(err)
		}
		db, err := store.Open(ctx, r.dsn, store.Options{Key: keys, Inspect: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var last string
		if !within(10*time.Second, func() bool {
			p, err := db.Payment(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			last = p.Status
			return last == bank.PaymentCompleted
		}) {
			t.Fatalf("payment %s is %s 10s after the replica that took it was killed (settlement delay 2s), with no request made", id, last)
		}
	})
}

// jwtKID is the kid in a JWT's header.
func jwtKID(t *testing.T, raw string) string {
	t.Helper()
	tok, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := tok.Header["kid"].(string)
	return kid
}

// TestReplicasStartTogether: three replicas started at once on an empty
// schema make one bank with one CA and one signing key between them — what
// a first start creates is created once, not by each (a replica with a CA
// or a key the others do not have would issue what they refuse).
func TestReplicasStartTogether(t *testing.T) {
	t.Parallel()
	storetest.Postgres(t)
	r := startReplicasAs(t, false)
	get := func(i int, path string) string {
		resp, err := http.Get(r.nodes[i].url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("replica %d %s: %d %s", i, path, resp.StatusCode, b)
		}
		return string(b)
	}
	var disc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal([]byte(get(0, "/.well-known/openid-configuration")), &disc); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(disc.JWKSURI)
	if err != nil {
		t.Fatal(err)
	}
	var jwks struct{ Keys []struct{ KID string } }
	if err := json.Unmarshal([]byte(get(0, u.Path)), &jwks); err != nil || len(jwks.Keys) != 1 {
		t.Fatalf("replica 0's JWKS: %v %+v: want one key", err, jwks)
	}
	for _, path := range []string{"/sandbox/certs/ca.pem", u.Path} {
		first := get(0, path)
		for i := 1; i < 3; i++ {
			if got := get(i, path); got != first {
				t.Errorf("replica %d's %s differs from replica 0's", i, path)
			}
		}
	}
}
