// Package storetest is the store's conformance suite: one set of behaviour
// tests written against the store's exported API, run against every backend
// (SQLite from a normal test, PostgreSQL when a server is named). A backend
// passes when it behaves as the SQLite store always has: what the bank's use
// cases, the authorization server, the audit trail and the event outbox rely
// on.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/fixtures"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/store"
	"github.com/obsandbox/sandbox/seed"
)

// Open gives a fresh, empty, migrated store; the suite closes it.
type Open func(t *testing.T) *store.Store

// Run runs every test of the suite against the backend open gives.
func Run(t *testing.T, open Open) {
	for _, tc := range []struct {
		name string
		f    func(*testing.T, Open)
	}{
		{"Settings", testSettings},
		{"ReseedSameBank", testReseed},
		{"Consents", testConsents},
		{"RememberedReadsFollowWrites", testRememberedReads},
		{"Tokens", testTokens},
		{"RefreshRotationRace", testRefreshRotationRace},
		{"Codes", testCodes},
		{"PARAndAssertions", testPARAndAssertions},
		{"Lockouts", testLockouts},
		{"LedgerPostingAndSettlement", testLedger},
		{"IdempotencyUnderConcurrency", testIdempotency},
		{"StandingOrderOnce", testStandingOrderOnce},
		{"InternationalSettlesInTwoCurrencies", testInternational},
		{"FilePaymentEachInstructionOnce", testFilePayment},
		{"VRPLimitsUnderConcurrency", testVRP},
		{"TransactionPaging", testPaging},
		{"AuditChain", testAudit},
		{"EventsOutbox", testEvents},
		{"RefusedTraffic", testRefused},
		{"Suspension", testSuspension},
		{"BerlinAuthorisations", testBerlinAuthorisations},
		{"BerlinAccessCounts", testBerlinAccessCounts},
		{"BerlinLedgerReads", testBerlinLedgerReads},
		{"SecretsSealed", testSecretsSealed},
		{"RuntimePSUs", testRuntimePSUs},
		{"ResetToTemplate", testResetToTemplate},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, open) })
	}
}

var day0 = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

func opened(t *testing.T, open Open) *store.Store {
	t.Helper()
	s := open(t)
	t.Cleanup(func() { s.Close() })
	return s
}

// suiteBank is the suite's bank: the fixture personas and two generated
// PSUs.
var suiteBank = seed.Options{Seed: 7, PSUs: 2, TxPerPSU: 300}

// bankOf seeds the suite's bank.
func bankOf(t *testing.T, open Open) *store.Store {
	t.Helper()
	s := opened(t, open)
	fx, err := fixtures.Load()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seed.Run(context.Background(), s, fx, suiteBank); err != nil {
		t.Fatal(err)
	}
	return s
}

// testReseed: seeding again gives the same bank, row ids included (what a
// reset without a template does).
func testReseed(t *testing.T, open Open) {
	ctx := context.Background()
	s := bankOf(t, open)
	dump := func() string {
		var b bytes.Buffer
		must(t, s.DumpBank(ctx, &b))
		return b.String()
	}
	first := dump()
	fx, err := fixtures.Load()
	must(t, err)
	_, err = seed.Run(ctx, s, fx, suiteBank)
	must(t, err)
	if again := dump(); again != first {
		t.Fatalf("the bank seeded again differs (%d bytes against %d)", len(again), len(first))
	}
}

// payer is a GBP current account with a sort code, and its PSU.
func payers(t *testing.T, s *store.Store) []store.PSU {
	t.Helper()
	psus, err := s.PSUs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []store.PSU
	for _, p := range psus {
		for _, a := range p.Accounts {
			if a.SubType == "CurrentAccount" && a.Currency == "GBP" && a.SortCode != "" {
				out = append(out, store.PSU{Username: p.Username, Accounts: []bank.Account{a}})
				break
			}
		}
	}
	if len(out) < 2 {
		t.Fatalf("%d PSUs with a GBP current account, want 2 or more", len(out))
	}
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func testSettings(t *testing.T, open Open) {
	ctx := context.Background()
	s := opened(t, open)
	if _, err := s.Setting(ctx, "clock_offset"); !errors.Is(err, bank.ErrNotFound) {
		t.Fatalf("unset setting: %v, want ErrNotFound", err)
	}
	must(t, s.SetSetting(ctx, "clock_offset", "72h0m0s"))
	must(t, s.SetSetting(ctx, "clock_offset", "1h0m0s"))
	if v, err := s.Setting(ctx, "clock_offset"); err != nil || v != "1h0m0s" {
		t.Fatalf("clock_offset = %q, %v; want the last value written", v, err)
	}
	must(t, s.Ping(ctx))
}

func consent(id, client, psu string, accounts ...string) *bank.Consent {
	return &bank.Consent{ID: id, Kind: bank.ConsentAccountAccess, ClientID: client, Status: bank.StatusAwaitingAuthorisation,
		PSU: psu, Accounts: accounts, CreatedAt: day0, StatusAt: day0, ExpiresAt: day0.Add(90 * 24 * time.Hour),
		Permissions: 5, Request: []byte(`{"Data":{}}`)}
}

// testRememberedReads: a consent and a certificate's revocation, read (and
// so remembered) before a write, read as the write left them after it; a
// caller changing the consent it was handed changes nothing remembered.
func testRememberedReads(t *testing.T, open Open) {
	ctx := context.Background()
	s := opened(t, open)
	must(t, s.CreateConsent(ctx, consent("aac-m", "c1", "", "acc-a")))
	first, err := s.Consent(ctx, "aac-m")
	must(t, err)
	first.Accounts[0], first.Request[0] = "changed", 'X'
	again, err := s.Consent(ctx, "aac-m")
	must(t, err)
	if again.Accounts[0] != "acc-a" || again.Request[0] != '{' {
		t.Errorf("changing a consent handed out changed the one remembered: %v %s", again.Accounts, again.Request)
	}
	_, err = s.UpdateConsent(ctx, "aac-m", func(c *bank.Consent) error {
		c.Status, c.PSU = bank.StatusAuthorised, "alice"
		return nil
	})
	must(t, err)
	if after, err := s.Consent(ctx, "aac-m"); err != nil || after.Status != bank.StatusAuthorised {
		t.Errorf("after the update: %v %q, want Authorised", err, after.Status)
	}
	const serial = "0a1b2c"
	if revoked, err := s.CertificateRevoked(ctx, serial); err != nil || revoked {
		t.Fatalf("before revocation: %v %v", revoked, err)
	}
	must(t, s.RevokeCertificate(ctx, serial, day0))
	if revoked, err := s.CertificateRevoked(ctx, serial); err != nil || !revoked {
		t.Errorf("a certificate read before its revocation reads as not revoked after it (err %v)", err)
	}
}

func testConsents(t *testing.T, open Open) {
	ctx := context.Background()
	s := opened(t, open)
	c := consent("aac-1", "c1", "")
	must(t, s.CreateConsent(ctx, c))
	if c.Ref == 0 {
		t.Error("CreateConsent left Ref unset")
	}
	if err := s.CreateConsent(ctx, consent("aac-1", "c2", "")); !errors.Is(err, bank.ErrConflict) {
		t.Fatalf("a taken ConsentId: %v, want ErrConflict", err)
	}
	if _, err := s.Consent(ctx, "aac-none"); !errors.Is(err, bank.ErrNotFound) {
		t.Fatalf("unknown consent: %v, want ErrNotFound", err)
	}
	got, err := s.UpdateConsent(ctx, "aac-1", func(c *bank.Consent) error {
		c.Status, c.PSU, c.Accounts, c.StatusAt = bank.StatusAuthorised, "alice", []string{"acc-a", "acc-b"}, day0.Add(time.Minute)
		return nil
	})
	must(t, err)
	read, err := s.Consent(ctx, "aac-1")
	must(t, err)
	if read.Status != bank.StatusAuthorised || read.PSU != "alice" || !slices.Equal(read.Accounts, []string{"acc-a", "acc-b"}) ||
		!read.StatusAt.Equal(day0.Add(time.Minute)) || read.Version != bank.VersionUK31 || read.Permissions != 5 ||
		string(read.Request) != `{"Data":{}}` || read.Ref != got.Ref {
		t.Fatalf("read back %+v", read)
	}
	// A failing f writes nothing.
	boom := errors.New("boom")
	if _, err := s.UpdateConsent(ctx, "aac-1", func(c *bank.Consent) error { c.Status = "Rejected"; return boom }); !errors.Is(err, boom) {
		t.Fatalf("UpdateConsent: %v", err)
	}
	if c, _ := s.Consent(ctx, "aac-1"); c.Status != bank.StatusAuthorised {
		t.Fatalf("status %s after a failed update", c.Status)
	}
	must(t, s.CreateConsent(ctx, consent("aac-2", "c1", "alice")))
	list, err := s.ConsentsOfPSU(ctx, "alice")
	must(t, err)
	if len(list) != 2 || list[0].ID != "aac-2" || list[1].ID != "aac-1" {
		t.Fatalf("ConsentsOfPSU: %v, want newest first", ids(list))
	}
	if n, err := s.CountConsents(ctx); err != nil || n != 2 {
		t.Fatalf("CountConsents = %d, %v", n, err)
	}
	// Idempotent creation: a replay returns the first, another body is refused.
	idem := bank.Idem{ClientID: "c1", Operation: "account-access-consents", Key: "k1", BodyHash: "h1"}
	first, replay, err := s.CreateConsentIdempotent(ctx, consent("aac-3", "c1", ""), idem, day0)
	must(t, err)
	again, replay2, err := s.CreateConsentIdempotent(ctx, consent("aac-4", "c1", ""), idem, day0.Add(time.Hour))
	must(t, err)
	if replay || !replay2 || again.ID != first.ID {
		t.Fatalf("replay gave %s (replay %v, %v), want %s", again.ID, replay, replay2, first.ID)
	}
	idem.BodyHash = "h2"
	if _, _, err := s.CreateConsentIdempotent(ctx, consent("aac-5", "c1", ""), idem, day0.Add(time.Hour)); !errors.Is(err, bank.ErrIdempotencyMismatch) {
		t.Fatalf("another body: %v, want ErrIdempotencyMismatch", err)
	}
	// Past the window the key is free again.
	if c, replay, err := s.CreateConsentIdempotent(ctx, consent("aac-6", "c1", ""), idem, day0.Add(25*time.Hour)); err != nil || replay || c.ID != "aac-6" {
		t.Fatalf("after 25h: %s replay %v, %v", c.ID, replay, err)
	}
	// Deletion revokes the consent's tokens in the same transaction.
	must(t, s.SaveToken(ctx, store.Token{JTI: "t-1", Kind: "access", ClientID: "c1", ConsentID: "aac-1", Scope: "accounts",
		GrantType: "authorization_code", IssuedAt: day0, ExpiresAt: day0.Add(time.Hour)}))
	must(t, s.DeleteConsent(ctx, "aac-1", day0.Add(2*time.Minute)))
	if err := s.DeleteConsent(ctx, "aac-1", day0); !errors.Is(err, bank.ErrNotFound) {
		t.Fatalf("deleting twice: %v, want ErrNotFound", err)
	}
	if tok, err := s.TokenRecord(ctx, "t-1"); err != nil || !tok.RevokedAt.Equal(day0.Add(2*time.Minute)) {
		t.Fatalf("token after deletion: %+v, %v", tok, err)
	}
	if err := s.RevokeByPSU(ctx, "bob", "aac-2", day0); !errors.Is(err, bank.ErrNotFound) {
		t.Fatalf("revoking another PSU's consent: %v", err)
	}
	must(t, s.RevokeByPSU(ctx, "alice", "aac-2", day0))
	if c, _ := s.Consent(ctx, "aac-2"); !c.PSURevoked || c.Status != bank.StatusAwaitingAuthorisation {
		t.Fatalf("revoked by the PSU: %+v", c)
	}
}

func ids(cs []bank.Consent) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

func testTokens(t *testing.T, open Open) {
	ctx := context.Background()
	s := opened(t, open)
	must(t, s.CreateClient(ctx, store.Client{ID: "c1", Metadata: []byte(`{"software_id":"sw-1"}`), CreatedAt: day0}))
	c := consent("aac-1", "c1", "alice", "acc-a")
	c.Status = bank.StatusAuthorised
	must(t, s.CreateConsent(ctx, c))
	tok := store.Token{JTI: "t-1", Kind: "access", ClientID: "c1", ConsentID: "aac-1", PSU: "alice", Scope: "accounts",
		GrantType: "authorization_code", IssuedAt: day0, ExpiresAt: day0.Add(time.Hour), CNF: "x5t", AuthTime: day0.Add(-time.Minute)}
	must(t, s.SaveToken(ctx, tok))
	if err := s.SaveToken(ctx, tok); !errors.Is(err, bank.ErrConflict) {
		t.Fatalf("a jti saved twice: %v, want ErrConflict", err)
	}
	a, err := s.AccessOf(ctx, "t-1")
	must(t, err)
	if a.Token.CNF != "x5t" || !a.Token.AuthTime.Equal(tok.AuthTime) || a.Consent == nil || a.Consent.ID != "aac-1" || a.Suspended != "" {
		t.Fatalf("AccessOf = %+v", a)
	}
	// What AccessOf remembers never outlives a write.
	must(t, s.RevokeToken(ctx, "t-1", day0.Add(time.Minute)))
	if a, _ := s.AccessOf(ctx, "t-1"); !a.Token.RevokedAt.Equal(day0.Add(time.Minute)) {
		t.Fatalf("revoked token read as %+v", a.Token)
	}
	must(t, s.SaveToken(ctx, store.Token{JTI: "t-2", Kind: "access", ClientID: "c1", ConsentID: "aac-1", Scope: "accounts",
		GrantType: "authorization_code", IssuedAt: day0, ExpiresAt: day0.Add(time.Hour)}))
	if _, err := s.AccessOf(ctx, "t-2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateConsent(ctx, "aac-1", func(c *bank.Consent) error { c.Status = bank.StatusRevoked; return nil }); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.AccessOf(ctx, "t-2"); a.Consent.Status != bank.StatusRevoked {
		t.Fatalf("consent read through the token as %s after it was revoked", a.Consent.Status)
	}
	must(t, s.RevokeConsentTokens(ctx, "aac-1", day0.Add(2*time.Minute)))
	if a, _ := s.AccessOf(ctx, "t-2"); a.Token.RevokedAt.IsZero() {
		t.Fatal("RevokeConsentTokens left a token live")
	}
	if _, err := s.AccessOf(ctx, "t-none"); !errors.Is(err, bank.ErrNotFound) {
		t.Fatalf("unknown jti: %v", err)
	}
	// Signing keys: the newest is current, the previous retired at once.
	must(t, s.AddSigningKey(ctx, store.SigningKey{KID: "k1", Alg: "PS256", PrivateDER: []byte{1, 2, 3}, CreatedAt: day0}, day0))
	must(t, s.AddSigningKey(ctx, store.SigningKey{KID: "k2", Alg: "PS256", PrivateDER: []byte{4, 5}, CreatedAt: day0.Add(time.Hour)}, day0.Add(time.Hour)))
	keys, err := s.SigningKeys(ctx)
	must(t, err)
	if len(keys) != 2 || keys[0].KID != "k2" || !keys[0].RetiredAt.IsZero() || !keys[1].RetiredAt.Equal(day0.Add(time.Hour)) ||
		string(keys[1].PrivateDER) != "\x01\x02\x03" {
		t.Fatalf("signing keys %+v", keys)
	}
}

// testRefreshRotationRace: of concurrent rotations of one refresh token
// exactly one wins; the others learn it was rotated (reuse).
func testRefreshRotationRace(t *testing.T, open Open) {
	ctx := context.Background()
	s := opened(t, open)
	must(t, s.SaveToken(ctx, store.Token{JTI: "r-1", Kind: "refresh", ClientID: "c1", Scope: "accounts", GrantType: "authorization_code",
		IssuedAt: day0}))
	const n = 12
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { errs <- s.RotateRefresh(ctx, "r-1", day0.Add(time.Second)) })
	}
	wg.Wait()
	close(errs)
	won, rotated := 0, 0
	for err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, store.ErrRefreshRotated):
			rotated++
		default:
			t.Errorf("RotateRefresh: %v", err)
		}
	}
	if won != 1 || rotated != n-1 {
		t.Fatalf("%d rotations won, %d saw it rotated; want 1 and %d", won, rotated, n-1)
	}
	must(t, s.SaveToken(ctx, store.Token{JTI: "r-2", Kind: "refresh", ClientID: "c1", Scope: "accounts", GrantType: "authorization_code",
		IssuedAt: day0}))
	must(t, s.RevokeToken(ctx, "r-2", day0))
	if err := s.RotateRefresh(ctx, "r-2", day0); !errors.Is(err, store.ErrRefreshRevoked) {
		t.Fatalf("rotating a revoked token: %v, want ErrRefreshRevoked", err)
	}
}

func testCodes(t *testing.T, open Open) {
	ctx := context.Background()
	s := opened(t, open)
	code := store.AuthCode{Hash: "h1", ClientID: "c1", ConsentID: "aac-1", PSU: "alice", RedirectURI: "https://tpp/cb", Scope: "openid accounts",
		IssuedAt: day0, ExpiresAt: day0.Add(time.Minute), AuthTime: day0}
	must(t, s.SaveCode(ctx, code))
	if _, err := s.UseCode(ctx, "h1", "c2", day0); !errors.Is(err, store.ErrWrongClient) {
		t.Fatalf("another client's code: %v", err)
	}
	const n = 8
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, err := s.UseCode(ctx, "h1", "c1", day0.Add(time.Second))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	used := 0
	for err := range errs {
		if err == nil {
			used++
		} else if !errors.Is(err, store.ErrCodeReused) {
			t.Fatal(err)
		}
	}
	if used != 1 {
		t.Fatalf("a code used %d times, want once", used)
	}
	// Tokens saved from the first use after a reuse was seen are revoked.
	must(t, s.SaveToken(ctx, store.Token{JTI: "t-1", Kind: "access", ClientID: "c1", Scope: "accounts", GrantType: "authorization_code",
		IssuedAt: day0, Code: "h1"}))
	if reused, err := s.SettleCode(ctx, "h1", day0.Add(2*time.Second)); err != nil || !reused {
		t.Fatalf("SettleCode = %v, %v", reused, err)
	}
	if tok, _ := s.TokenRecord(ctx, "t-1"); tok.RevokedAt.IsZero() {
		t.Fatal("a token of a reused code is live")
	}
}

func testPARAndAssertions(t *testing.T, open Open) {
	ctx := context.Background()
	s := opened(t, open)
	must(t, s.SavePAR(ctx, store.PAR{RequestURI: "urn:par:1", ClientID: "c1", Params: []byte(`{"a":"b"}`), ExpiresAt: day0.Add(time.Minute)}))
	if p, err := s.PeekPAR(ctx, "urn:par:1", day0); err != nil || string(p.Params) != `{"a":"b"}` {
		t.Fatalf("PeekPAR = %+v, %v", p, err)
	}
	if _, err := s.TakePAR(ctx, "urn:par:1", day0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakePAR(ctx, "urn:par:1", day0); !errors.Is(err, bank.ErrNotFound) {
		t.Fatalf("a PAR taken twice: %v", err)
	}
	must(t, s.UseJTI(ctx, "c1", "j1", day0.Add(time.Minute), day0))
	if err := s.UseJTI(ctx, "c1", "j1", day0.Add(time.Minute), day0); !errors.Is(err, bank.ErrConflict) {
		t.Fatalf("an assertion jti used twice: %v, want ErrConflict", err)
	}
	must(t, s.UseJTI(ctx, "c2", "j1", day0.Add(time.Minute), day0))
	// Expired ones are forgotten.
	must(t, s.UseJTI(ctx, "c1", "j1", day0.Add(time.Hour), day0.Add(2*time.Minute)))
}

func testLockouts(t *testing.T, open Open) {
	ctx := context.Background()
	s := bankOf(t, open)
	psus, err := s.PSUs(ctx)
	must(t, err)
	user, pass := psus[0].Username, "right"
	check := func(p string) func(string) bool { return func(string) bool { return p == pass } }
	if ok, err := s.CheckPSULogin(ctx, user, check(pass), day0); err != nil || !ok {
		t.Fatalf("the right password: %v, %v", ok, err)
	}
	for i := range store.MaxLoginFailures {
		if ok, _ := s.CheckPSULogin(ctx, user, check("wrong"), day0.Add(time.Duration(i)*time.Second)); ok {
			t.Fatal("a wrong password accepted")
		}
	}
	if ok, _ := s.CheckPSULogin(ctx, user, check(pass), day0.Add(time.Minute)); ok {
		t.Fatal("a locked PSU logged in")
	}
	if ok, _ := s.CheckPSULogin(ctx, user, check(pass), day0.Add(store.LockoutDuration+time.Minute)); !ok {
		t.Fatal("the lock did not run out")
	}
	if ok, _ := s.CheckPSULogin(ctx, "nobody", check(""), day0); ok {
		t.Fatal("an unknown PSU logged in")
	}
}

// pay submits a domestic payment of amount from p to creditor.
func pay(ctx context.Context, s *store.Store, id string, p store.PSU, creditor bank.AccountRef, amount int64, idem bank.Idem, now time.Time) (bank.Payment, bool, error) {
	cid := "pdc-" + id
	if err := s.CreateConsent(ctx, &bank.Consent{ID: cid, Kind: bank.ConsentDomesticPayment, ClientID: idem.ClientID,
		Status: bank.StatusAuthorised, PSU: p.Username, Accounts: []string{p.Accounts[0].ID}, CreatedAt: now, StatusAt: now,
		ExpiresAt: now.Add(time.Hour)}); err != nil && !errors.Is(err, bank.ErrConflict) {
		return bank.Payment{}, false, err
	}
	return s.Submit(ctx, bank.Order{
		Payment: bank.Payment{ID: "dp-" + id, Kind: bank.OrderDomestic, ConsentID: cid, ClientID: idem.ClientID, Amount: amount,
			Currency: "GBP", Request: []byte(`{}`), ProcessAt: now.Add(time.Second), SettleAt: now.Add(3 * time.Second)},
		Debtor: p.Accounts[0].ID, Creditor: creditor, Reference: "REF",
		Check: func(c *bank.Consent) error {
			if c.Status != bank.StatusAuthorised {
				return bank.Errorf(bank.KindConsentStatus, "", "consent %s", c.Status)
			}
			return nil
		},
	}, idem, now)
}

func ref(a bank.Account) bank.AccountRef {
	return bank.AccountRef{Scheme: bank.SchemeSortCode, Identification: a.SortCode + a.Number, Name: a.HolderName}
}

func testLedger(t *testing.T, open Open) {
	ctx := context.Background()
	s := bankOf(t, open)
	ps := payers(t, s)
	from, to := ps[0], ps[1]
	before, err := s.Ledgers(ctx, []bank.Account{from.Accounts[0], to.Accounts[0]}, day0)
	must(t, err)
	p, replay, err := pay(ctx, s, "1", from, ref(to.Accounts[0]), 1234, bank.Idem{ClientID: "c1", Operation: "domestic-payments", Key: "1", BodyHash: "h"}, day0)
	must(t, err)
	if replay || p.Status != bank.PaymentPending || p.Transaction == "" {
		t.Fatalf("payment %+v replay %v", p, replay)
	}
	if c, _ := s.Consent(ctx, "pdc-1"); c.Status != bank.StatusConsumed {
		t.Fatalf("consent %s after the payment, want Consumed", c.Status)
	}
	mid, err := s.Ledgers(ctx, []bank.Account{from.Accounts[0]}, day0)
	must(t, err)
	if got := mid[from.Accounts[0].Ref].PendingDebits - before[from.Accounts[0].Ref].PendingDebits; got != 1234 {
		t.Fatalf("pending debits moved by %d, want 1234", got)
	}
	// Nothing is due before its time; then it steps to InProcess and settles.
	if n, err := s.CatchUp(ctx, at(day0.Add(500*time.Millisecond))); err != nil || n != 0 {
		t.Fatalf("CatchUp early = %d, %v", n, err)
	}
	// The clock set back between CatchUp's look and its write (a reset): the
	// time it read first is not applied.
	reads := 0
	setBack := func() time.Time {
		if reads++; reads == 1 {
			return day0.Add(time.Minute)
		}
		return day0
	}
	if n, err := s.CatchUp(ctx, setBack); err != nil || n != 0 || reads < 2 {
		t.Fatalf("CatchUp with the clock set back = %d, %v (clock read %d times); want 0 steps", n, err, reads)
	}
	// Reads catch up too, many at once: each step is applied once.
	var steps atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			n, err := s.CatchUp(ctx, at(day0.Add(time.Minute)))
			if err != nil {
				t.Error(err)
			}
			steps.Add(int64(n))
		})
	}
	wg.Wait()
	if n := steps.Load(); n != 2 {
		t.Fatalf("8 concurrent CatchUps made %d steps, want 2", n)
	}
	p, err = s.Payment(ctx, "dp-1")
	must(t, err)
	if p.Status != bank.PaymentCompleted || len(p.History) != 3 || !p.StatusAt.Equal(day0.Add(3*time.Second)) {
		t.Fatalf("settled payment %+v", p)
	}
	after, err := s.Ledgers(ctx, []bank.Account{from.Accounts[0], to.Accounts[0]}, day0)
	must(t, err)
	if d := after[from.Accounts[0].Ref].Booked - before[from.Accounts[0].Ref].Booked; d != -1234 {
		t.Fatalf("debtor booked moved by %d", d)
	}
	if d := after[to.Accounts[0].Ref].Booked - before[to.Accounts[0].Ref].Booked; d != 1234 {
		t.Fatalf("the creditor, held here, was credited %d", d)
	}
	// Far more than any balance: rejected, nothing posted.
	p, _, err = pay(ctx, s, "2", from, ref(to.Accounts[0]), 1<<40, bank.Idem{ClientID: "c1", Operation: "domestic-payments", Key: "2", BodyHash: "h"}, day0)
	must(t, err)
	if p.Status != bank.PaymentRejected || p.Reason == "" || p.Transaction != "" {
		t.Fatalf("an unaffordable payment: %+v", p)
	}
	if list, err := s.PaymentsOfConsent(ctx, "pdc-1"); err != nil || len(list) != 1 {
		t.Fatalf("PaymentsOfConsent = %d, %v", len(list), err)
	}
	if problems, err := s.CheckLedgers(ctx, 5); err != nil || len(problems) > 0 {
		t.Fatalf("ledgers: %v %v", problems, err)
	}
	page, err := s.Transactions(ctx, bank.TxQuery{Accounts: to.Accounts, Direction: bank.DirectionBoth, Limit: 1})
	must(t, err)
	if len(page.Items) != 1 || page.Items[0].Amount != 1234 || page.Items[0].Status != "Booked" || !page.Items[0].HasBalance ||
		page.Items[0].Balance != after[to.Accounts[0].Ref].Booked {
		t.Fatalf("the creditor's newest entry: %+v", page.Items)
	}
}

// testIdempotency: concurrent submissions with one key make one payment;
// every other one replays it.
func testIdempotency(t *testing.T, open Open) {
	ctx := context.Background()
	s := bankOf(t, open)
	ps := payers(t, s)
	const n = 20
	idem := bank.Idem{ClientID: "c1", Operation: "domestic-payments", Key: "same", BodyHash: "h"}
	type result struct {
		p      bank.Payment
		replay bool
		err    error
	}
	res := make(chan result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p, replay, err := pay(ctx, s, fmt.Sprint(i), ps[0], ref(ps[1].Accounts[0]), 100, idem, day0)
			res <- result{p, replay, err}
		})
	}
	wg.Wait()
	close(res)
	made, ids := 0, map[string]bool{}
	for r := range res {
		if r.err != nil {
			t.Fatal(r.err)
		}
		if !r.replay {
			made++
		}
		ids[r.p.ID] = true
	}
	if made != 1 || len(ids) != 1 {
		t.Fatalf("%d payments made (%d distinct ids returned), want one", made, len(ids))
	}
	if id, found, err := s.Replay(ctx, idem, day0.Add(time.Hour)); err != nil || !found || !ids[id] {
		t.Fatalf("Replay = %s %v %v", id, found, err)
	}
	idem.BodyHash = "other"
	if _, _, err := s.Replay(ctx, idem, day0); !errors.Is(err, bank.ErrIdempotencyMismatch) {
		t.Fatalf("Replay with another body: %v", err)
	}
}

// testStandingOrderOnce: concurrent catch-ups pay each occurrence once.
func testStandingOrderOnce(t *testing.T, open Open) {
	ctx := context.Background()
	s := bankOf(t, open)
	ps := payers(t, s)
	from := ps[0]
	must(t, s.CreateConsent(ctx, &bank.Consent{ID: "sodc-1", Kind: bank.ConsentDomesticStanding, ClientID: "c1",
		Status: bank.StatusAuthorised, PSU: from.Username, Accounts: []string{from.Accounts[0].ID}, CreatedAt: day0, StatusAt: day0}))
	first := day0.Add(24 * time.Hour).Truncate(24 * time.Hour)
	_, _, err := s.Submit(ctx, bank.Order{
		Payment: bank.Payment{ID: "so-1", Kind: bank.OrderStanding, ConsentID: "sodc-1", ClientID: "c1", Amount: 500, Currency: "GBP",
			Request: []byte(`{}`)},
		Debtor: from.Accounts[0].ID, Creditor: ref(ps[1].Accounts[0]), Reference: "RENT",
		Schedule: &bank.Initiation{Frequency: "EvryDay", FirstAt: first, Count: 3, Recurring: 500, Amount: 500,
			Creditor: ref(ps[1].Accounts[0]), Reference: "RENT"},
		Check: func(*bank.Consent) error { return nil },
	}, bank.Idem{ClientID: "c1", Operation: "domestic-standing-orders", Key: "so", BodyHash: "h"}, day0)
	must(t, err)
	before, err := s.Ledgers(ctx, from.Accounts, day0)
	must(t, err)
	var wg sync.WaitGroup
	total := make(chan int, 6)
	for range 6 {
		wg.Go(func() {
			n, err := s.CatchUp(ctx, at(first.Add(10*24*time.Hour)))
			if err != nil {
				t.Error(err)
			}
			total <- n
		})
	}
	wg.Wait()
	close(total)
	sum := 0
	for n := range total {
		sum += n
	}
	after, err := s.Ledgers(ctx, from.Accounts, day0)
	must(t, err)
	if d := before[from.Accounts[0].Ref].Booked - after[from.Accounts[0].Ref].Booked; d != 1500 {
		t.Fatalf("the debtor paid %d over three occurrences, want 1500 (catch-ups applied %d events)", d, sum)
	}
	orders, err := s.StandingOrders(ctx, from.Accounts)
	must(t, err)
	for _, o := range orders {
		if o.ID == "so-1" && o.Status != "Inactive" {
			t.Fatalf("the order is %s after its last payment", o.Status)
		}
	}
}

func testPaging(t *testing.T, open Open) {
	ctx := context.Background()
	s := bankOf(t, open)
	psus, err := s.PSUs(ctx)
	must(t, err)
	accts := psus[len(psus)-1].Accounts
	all, err := s.Transactions(ctx, bank.TxQuery{Accounts: accts, Direction: bank.DirectionBoth, Limit: 100000})
	must(t, err)
	if all.Total < 100 || len(all.Items) != all.Total {
		t.Fatalf("%d of %d transactions", len(all.Items), all.Total)
	}
	for i := 1; i < len(all.Items); i++ {
		if all.Items[i].BookedAt.After(all.Items[i-1].BookedAt) {
			t.Fatalf("entry %d is newer than the one before it", i)
		}
	}
	var paged []string
	for off := 0; off < all.Total; off += 37 {
		p, err := s.Transactions(ctx, bank.TxQuery{Accounts: accts, Direction: bank.DirectionBoth, Offset: off, Limit: 37})
		must(t, err)
		if p.Total != all.Total {
			t.Fatalf("page total %d, want %d", p.Total, all.Total)
		}
		for _, tx := range p.Items {
			paged = append(paged, tx.ID)
		}
	}
	want := make([]string, len(all.Items))
	for i, tx := range all.Items {
		want[i] = tx.ID
	}
	if !slices.Equal(paged, want) {
		t.Fatal("the pages, put together, are not the whole list in order")
	}
	if p, err := s.Transactions(ctx, bank.TxQuery{Accounts: accts, Direction: bank.DirectionBoth, Offset: all.Total, Limit: 10}); err != nil || len(p.Items) != 0 {
		t.Fatalf("past the end: %d items, %v", len(p.Items), err)
	}
	mid := all.Items[len(all.Items)/2].BookedAt
	credits, err := s.Transactions(ctx, bank.TxQuery{Accounts: accts, From: mid, Direction: bank.DirectionCredits, Limit: 100000})
	must(t, err)
	for _, tx := range credits.Items {
		if tx.Amount <= 0 || tx.BookedAt.Before(mid) {
			t.Fatalf("credit filter returned %+v", tx)
		}
	}
	none, err := s.Transactions(ctx, bank.TxQuery{Accounts: accts, Direction: bank.DirectionNone, Limit: 10})
	must(t, err)
	if none.Total != 0 {
		t.Fatalf("DirectionNone: %d", none.Total)
	}
	booked, err := s.Transactions(ctx, bank.TxQuery{Accounts: accts, Direction: bank.DirectionBoth, BookedOnly: true, Limit: 100000})
	must(t, err)
	for _, tx := range booked.Items {
		if tx.Status != "Booked" {
			t.Fatalf("BookedOnly returned a %s entry", tx.Status)
		}
	}
	// Every list of the accounts reads.
	_, err = s.Beneficiaries(ctx, accts)
	must(t, err)
	_, err = s.DirectDebits(ctx, accts)
	must(t, err)
	_, err = s.ScheduledPayments(ctx, accts)
	must(t, err)
	_, err = s.Products(ctx, accts)
	must(t, err)
	_, err = s.Offers(ctx, accts)
	must(t, err)
	_, err = s.Statements(ctx, bank.StatementQuery{Accounts: accts})
	must(t, err)
	if _, err := s.PartiesOfAccount(ctx, accts[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PartyOfPSU(ctx, accts[0].PSU); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.AccountExists(ctx, accts[0].ID); err != nil || !ok {
		t.Fatalf("AccountExists = %v, %v", ok, err)
	}
	got, err := s.Accounts(ctx, accts[0].PSU, []string{accts[0].ID, "nope"})
	if err != nil || len(got) != 1 || got[0].ID != accts[0].ID {
		t.Fatalf("Accounts = %v, %v", got, err)
	}
}

func testAudit(t *testing.T, open Open) {
	ctx := context.Background()
	s := opened(t, open)
	var entries []*store.AuditEntry
	for i := range 5 {
		entries = append(entries, &store.AuditEntry{At: day0.Add(time.Duration(i) * time.Second), InteractionID: fmt.Sprint("i-", i),
			IP: "127.0.0.1", ClientID: "c1", Method: "GET", Path: "/x", Status: 200, Decision: store.DecisionAllowed, Rule: "ok"})
	}
	must(t, s.AppendAudit(ctx, entries[:2]))
	must(t, s.AppendAudit(ctx, entries[2:]))
	if entries[4].Seq != entries[0].Seq+4 || entries[1].PrevHash != entries[0].Hash {
		t.Fatalf("chain: %+v", entries)
	}
	// A change made for an actor commits with its entry.
	actx := store.WithActor(ctx, func() store.AuditEntry {
		return store.AuditEntry{At: day0, InteractionID: "i-w", ClientID: "c1", Method: "POST", Path: "/consents"}
	})
	must(t, s.CreateConsent(actx, consent("aac-1", "c1", "")))
	// A write that changes nothing records nothing.
	must(t, s.RevokeToken(actx, "t-none", day0))
	got, err := s.Audit(ctx, store.AuditQuery{ClientID: "c1"})
	must(t, err)
	if len(got) != 6 || got[5].Decision != store.DecisionCommitted || got[5].InteractionID != "i-w" {
		t.Fatalf("%d entries, last %+v", len(got), got[len(got)-1])
	}
	// It counts the rows the change made (one consent), on every backend.
	if got[5].Detail != "CreateConsent: 1 rows" {
		t.Errorf("the change's entry says %q, want %q", got[5].Detail, "CreateConsent: 1 rows")
	}
	head, err := s.AuditHead(ctx)
	must(t, err)
	if head.Count != got[5].Seq || head.Hash != got[5].Hash {
		t.Fatalf("head %+v", head)
	}
	if _, err := s.VerifyAudit(ctx, &head); err != nil {
		t.Fatalf("verify: %v", err)
	}
	ev := &store.SecurityEvent{At: day0, ClientID: "c1", Rule: "burst", Severity: "high", Summary: "s", Evidence: []int64{1, 2}, Action: "alerted"}
	must(t, s.RaiseEvent(ctx, ev))
	if evs, err := s.SecurityEvents(ctx, "c1"); err != nil || len(evs) != 1 || !slices.Equal(evs[0].Evidence, []int64{1, 2}) {
		t.Fatalf("security events %+v, %v", evs, err)
	}
	if n, err := s.PruneAudit(ctx, day0.Add(3*time.Second), day0.Add(time.Hour)); err != nil || n < 1 {
		t.Fatalf("PruneAudit = %d, %v", n, err)
	}
	if r, err := s.VerifyAudit(ctx, nil); err != nil || r.Audit.Reason != "retention" {
		t.Fatalf("verify after pruning: %+v, %v", r, err)
	}
}

const typeUpdate = "urn:uk:org:openbanking:events:resource-update"

func testEvents(t *testing.T, open Open) {
	ctx := context.Background()
	s := opened(t, open)
	must(t, s.CreateEventSubscription(ctx, store.EventSubscription{ID: "es-1", ClientID: "c1", CallbackURL: "http://127.0.0.1:1/cb",
		Version: "3.1", CreatedAt: day0, UpdatedAt: day0}))
	must(t, s.CreateConsent(ctx, consent("aac-1", "c1", "")))
	must(t, s.CreateConsent(ctx, consent("aac-2", "c2", "")))
	for _, id := range []string{"aac-1", "aac-2"} {
		if _, err := s.UpdateConsent(ctx, id, func(c *bank.Consent) error { c.Status = bank.StatusAuthorised; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := s.Events(ctx, store.EventQuery{ClientID: "c1"})
	must(t, err)
	if len(evs) != 1 || evs[0].Type != typeUpdate || evs[0].RID != "aac-1" || len(evs[0].Deliveries) != 1 {
		t.Fatalf("c1's events %+v", evs)
	}
	if evs, _ := s.Events(ctx, store.EventQuery{ClientID: "c2"}); len(evs) != 0 {
		t.Fatalf("an event for a client with no subscription: %+v", evs)
	}
	uns, err := s.UnsignedEvents(ctx, "", 10)
	must(t, err)
	if len(uns) != 1 {
		t.Fatalf("%d unsigned", len(uns))
	}
	must(t, s.SignEvent(ctx, uns[0].Ref, "set-1", day0))
	must(t, s.SignEvent(ctx, uns[0].Ref, "set-2", day0)) // the first signature stays
	if due, err := s.DueClients(ctx, day0); err != nil || !slices.Equal(due, []string{"c1"}) {
		t.Fatalf("DueClients = %v, %v", due, err)
	}
	// Concurrent claims: one gets the delivery, leased.
	lease := func(n int) time.Duration { return time.Minute }
	var wg sync.WaitGroup
	got := make(chan store.Delivery, 6)
	for range 6 {
		wg.Go(func() {
			d, ok, err := s.ClaimDelivery(ctx, "c1", day0, lease)
			if err != nil {
				t.Error(err)
			}
			if ok {
				got <- d
			}
		})
	}
	wg.Wait()
	close(got)
	var claims []store.Delivery
	for d := range got {
		claims = append(claims, d)
	}
	if len(claims) != 1 || claims[0].SET != "set-1" || claims[0].Attempts != 1 {
		t.Fatalf("claims %+v, want one of set-1", claims)
	}
	must(t, s.FinishDelivery(ctx, claims[0].ID, store.Outcome{OK: true, Status: 202, At: day0}))
	evs, more, err := s.PollEvents(ctx, store.Poll{ClientID: "c1", Max: 10, Now: day0})
	must(t, err)
	if len(evs) != 0 || more {
		t.Fatalf("a pushed event is still polled: %+v", evs)
	}
	// Polling acknowledges; released claims do not count.
	if _, err := s.UpdateConsent(ctx, "aac-1", func(c *bank.Consent) error { c.Status = bank.StatusRevoked; return nil }); err != nil {
		t.Fatal(err)
	}
	uns, _ = s.UnsignedEvents(ctx, "c1", 10)
	if len(uns) != 1 {
		t.Fatalf("%d unsigned after a second change", len(uns))
	}
	must(t, s.SignEvent(ctx, uns[0].Ref, "set-3", day0))
	d, ok, err := s.ClaimDelivery(ctx, "c1", day0, lease)
	if err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	must(t, s.ReleaseClaim(ctx, d.ID, day0))
	evs, _, err = s.PollEvents(ctx, store.Poll{ClientID: "c1", Max: 10, Now: day0})
	if err != nil || len(evs) != 1 || evs[0].SET != "set-3" {
		t.Fatalf("poll: %+v %v", evs, err)
	}
	_, _, err = s.PollEvents(ctx, store.Poll{ClientID: "c1", Ack: []string{evs[0].JTI}, Max: 10, Now: day0})
	must(t, err)
	if _, ok, _ := s.ClaimDelivery(ctx, "c1", day0.Add(time.Hour), lease); ok {
		t.Fatal("an event acknowledged by polling is still pushed")
	}
}

func testRefused(t *testing.T, open Open) {
	ctx := context.Background()
	s := opened(t, open)
	r := store.Refused{Minute: day0, Source: "127.0.0.1", Rule: "no-token", N: 3}
	must(t, s.AddRefused(ctx, []store.Refused{r}))
	r.N = 4
	must(t, s.AddRefused(ctx, []store.Refused{r, {Minute: day0, Source: "127.0.0.2", Rule: "no-token", N: 1}}))
	got, err := s.RefusedTraffic(ctx, day0.Add(-time.Hour), 10)
	must(t, err)
	if len(got) != 2 || got[0].N != 7 || got[0].Source != "127.0.0.1" || !got[0].Minute.Equal(day0) {
		t.Fatalf("refused traffic %+v", got)
	}
}

func testSuspension(t *testing.T, open Open) {
	ctx := context.Background()
	s := opened(t, open)
	must(t, s.CreateClient(ctx, store.Client{ID: "c1", Metadata: []byte(`{"software_id":"sw-1"}`), CreatedAt: day0}))
	must(t, s.SaveToken(ctx, store.Token{JTI: "t-1", Kind: "access", ClientID: "c1", Scope: "accounts", GrantType: "client_credentials", IssuedAt: day0}))
	if a, err := s.AccessOf(ctx, "t-1"); err != nil || a.Suspended != "" {
		t.Fatalf("AccessOf = %+v, %v", a, err)
	}
	must(t, s.SetSuspension(ctx, "c1", "anomaly"))
	if a, _ := s.AccessOf(ctx, "t-1"); a.Suspended != "anomaly" {
		t.Fatalf("suspension not seen: %+v", a)
	}
	c, err := s.Client(ctx, "c1")
	must(t, err)
	if c.Suspended != "anomaly" {
		t.Fatalf("client %+v", c)
	}
}

// at is a clock standing still at t.
func at(t time.Time) func() time.Time { return func() time.Time { return t } }
