package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/app"
	"github.com/obsandbox/sandbox/internal/secret"
	"github.com/obsandbox/sandbox/internal/tpp"
)

// listedPSU is an entry of GET /sandbox/psus.
type listedPSU struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Accounts []struct {
		AccountID      string `json:"AccountId"`
		Currency       string `json:"Currency"`
		AccountSubType string `json:"AccountSubType"`
		Nickname       string `json:"Nickname"`
	} `json:"accounts"`
}

func (s *sandbox) psuList() []listedPSU {
	s.t.Helper()
	var out struct{ PSUs []listedPSU }
	r := s.do(req{method: "GET", path: "/sandbox/psus", token: s.app.Config.AdminToken})
	expect(s.t, r, 200)
	r.JSON(s.t, &out)
	return out.PSUs
}

func findPSU(list []listedPSU, name string) *listedPSU {
	for i := range list {
		if list[i].Username == name {
			return &list[i]
		}
	}
	return nil
}

// TestRuntimePSUListingShape: an entry of the listing without its AccountIds
// is a PSU definition; the answer is the entry as listed, AccountIds added,
// and the listing then shows the same entry — without the password, of
// which the bank keeps only an argon2id hash. The PSU logs in at once.
func TestRuntimePSUListingShape(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	admin := s.app.Config.AdminToken
	r := s.do(req{method: "POST", path: "/sandbox/psus", token: admin, body: `{"username":"zed","password":"zed-pass-1",
		"accounts":[{"Currency":"GBP","AccountSubType":"CurrentAccount","Nickname":"Main"},
		            {"Currency":"JPY","AccountSubType":"Savings","Nickname":"Yen pot"},
		            {"Currency":"GBP","AccountSubType":"CreditCard","Nickname":"Card"}]}`})
	expect(t, r, 201)
	var got listedPSU
	r.JSON(t, &got)
	if got.Username != "zed" || got.Password != "zed-pass-1" || len(got.Accounts) != 3 {
		t.Fatalf("201 body %s", r.Body)
	}
	for i, want := range []string{"CurrentAccount/GBP/Main", "Savings/JPY/Yen pot", "CreditCard/GBP/Card"} {
		a := got.Accounts[i]
		if a.AccountID == "" || a.AccountSubType+"/"+a.Currency+"/"+a.Nickname != want {
			t.Errorf("account %d: %+v, want %s with an AccountId", i, a, want)
		}
	}
	listed := findPSU(s.psuList(), "zed")
	if listed == nil || len(listed.Accounts) != 3 || listed.Accounts[0].AccountID != got.Accounts[0].AccountID {
		t.Fatalf("GET /sandbox/psus shows %+v, want the entry the 201 gave", listed)
	}
	if listed.Password != "" {
		t.Fatalf("GET /sandbox/psus lists zed's password %q: the bank keeps a hash only", listed.Password)
	}
	ctx := context.Background()
	stored, err := s.app.Store.PSU(ctx, "zed")
	if err != nil || !secret.IsHash(stored.PasswordHash) {
		t.Fatalf("zed's stored password %q (%v), want an argon2id hash", stored.PasswordHash, err)
	}
	// Headless login and approval work for the new PSU straight away; a
	// wrong password is refused.
	wrong := s.newTPP("private_key_jwt")
	cc := orFatal(wrong.ClientCredentials(ctx, "accounts"))(t)
	auth := orFatal(wrong.Authorize(ctx, orFatal(wrong.AccountConsent(ctx, cc, tpp.AllPermissions, nil))(t), tpp.AuthOptions{}))(t)
	expect(t, s.headless(auth, "zed", "zed-pass-2", "approve"), 401)
	c := s.newTPP("private_key_jwt")
	toks, _, err := c.AISJourney(ctx, "zed", "zed-pass-1", tpp.AllPermissions, []string{got.Accounts[1].AccountID})
	if err != nil {
		t.Fatal(err)
	}
	accts := items(t, s.get(ais+"/accounts", toks.AccessToken), "Account")
	if len(accts) != 1 || accts[0]["Currency"] != "JPY" {
		t.Fatalf("accounts %v, want the yen savings account", accts)
	}
	if b := s.balanceOf(toks.AccessToken, got.Accounts[1].AccountID, "InterimBooked"); b != 0 {
		t.Fatalf("a new account with no balance given: %d, want 0", b)
	}
}

// zoe is a runtime PSU with balances, hand-written entries and generated
// history, in the fixtures' shape.
const zoe = `{
  "username": "zoe", "password": "zoe-pass-1", "name": "Zoe Student",
  "spending": "frugal", "history": {"months": 12, "seed": 7},
  "accounts": [
    {"key": "current", "nickname": "Student Account", "sub_type": "CurrentAccount", "currency": "GBP",
     "balance": "842.17", "overdraft": "1500.00",
     "salary": {"from": "Student Finance England", "amount": "1410.00", "day": 20, "reference": "MAINTENANCE LOAN"},
     "direct_debits": [{"to": "Three UK", "amount": "12.00", "day": 8}]},
    {"key": "eur", "nickname": "Erasmus", "sub_type": "Savings", "currency": "EUR", "balance": "120.00",
     "transactions": [
       {"date": "2026-09-02", "amount": "400.00", "counterparty": "Erasmus Grant", "reference": "GRANT"},
       {"date": "2026-09-15", "amount": "-35.50", "merchant": "LIBRERIA CENTRALE", "mcc": "5942"},
       {"date": "2026-10-01", "amount": "-9.99", "status": "Pending", "counterparty": "Spotify"}]}
  ]}`

// TestRuntimePSUJourneys: a PSU created at run time with balances,
// transactions and a year of generated history goes through a whole AIS
// journey (its balances and entries as written) and a payment journey (the
// money moves and settles on the clock); the ledgers reconcile throughout;
// DELETE removes it and its tokens stop working.
func TestRuntimePSUJourneys(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	admin := s.app.Config.AdminToken
	r := s.do(req{method: "POST", path: "/sandbox/psus", token: admin, body: zoe})
	expect(t, r, 201)
	var z listedPSU
	r.JSON(t, &z)
	cur, eur := z.Accounts[0].AccountID, z.Accounts[1].AccountID
	checkLedgers(t, s)

	c := s.newTPP("private_key_jwt")
	toks, _, err := c.AISJourney(ctx, "zoe", "zoe-pass-1", tpp.AllPermissions, []string{cur, eur})
	if err != nil {
		t.Fatal(err)
	}
	if b := s.balanceOf(toks.AccessToken, cur, "InterimBooked"); b != 84217 {
		t.Fatalf("current account InterimBooked %d, want 84217 (the balance given)", b)
	}
	if b := s.balanceOf(toks.AccessToken, eur, "InterimBooked"); b != 12000 {
		t.Fatalf("euro account InterimBooked %d, want 12000", b)
	}
	txs := items(t, s.get(ais+"/accounts/"+eur+"/transactions", toks.AccessToken), "Transaction")
	if len(txs) != 3 {
		t.Fatalf("%d euro entries, want the 3 written: %v", len(txs), txs)
	}
	var pending, merchant bool
	for _, tx := range txs {
		pending = pending || tx["Status"] == "Pending"
		if m, ok := tx["MerchantDetails"].(map[string]any); ok && m["MerchantName"] == "LIBRERIA CENTRALE" {
			merchant = true
		}
	}
	if !pending || !merchant {
		t.Fatalf("the euro entries lost their status or merchant: %v", txs)
	}
	year := items(t, s.get(ais+"/accounts/"+cur+"/transactions?page-size=1000", toks.AccessToken), "Transaction")
	loans := 0
	for _, tx := range year {
		if strings.Contains(tx["TransactionInformation"].(string), "MAINTENANCE LOAN") {
			loans++
		}
	}
	if loans < 11 {
		t.Fatalf("%d maintenance-loan credits in 12 months of history, want 11 or 12", loans)
	}

	// A payment from the new PSU's account, settled by the clock.
	avail := s.balanceOf(toks.AccessToken, cur, "InterimAvailable")
	id, status, err := c.PaymentJourney(ctx, "zoe", "zoe-pass-1", c.Initiation("25.00", payee, "RUNTIME PSU"), []string{cur})
	if err != nil || status != "Pending" {
		t.Fatalf("payment %s %s: %v", id, status, err)
	}
	if b := s.balanceOf(toks.AccessToken, cur, "InterimAvailable"); b != avail-2500 {
		t.Fatalf("InterimAvailable %d after paying 25.00, want %d", b, avail-2500)
	}
	expect(t, s.do(req{method: "POST", path: "/sandbox/clock", token: admin, body: map[string]string{"advance": "1m"}}), 200)
	if b := s.balanceOf(toks.AccessToken, cur, "InterimBooked"); b != 84217-2500 {
		t.Fatalf("InterimBooked %d after settlement, want %d", b, 84217-2500)
	}
	checkLedgers(t, s)

	// Removed: gone from the listing, its tokens refused, the seed's PSUs
	// cannot be removed, and the ledgers still reconcile.
	expect(t, s.do(req{method: "DELETE", path: "/sandbox/psus/zoe", token: admin}), 204)
	if findPSU(s.psuList(), "zoe") != nil {
		t.Fatal("zoe is still listed after DELETE")
	}
	expect(t, s.get(ais+"/accounts", toks.AccessToken), 401)
	expect(t, s.do(req{method: "DELETE", path: "/sandbox/psus/alice", token: admin}), 409)
	expect(t, s.do(req{method: "DELETE", path: "/sandbox/psus/zoe", token: admin}), 404)
	expect(t, s.do(req{method: "DELETE", path: "/sandbox/psus/zoe"}), 401)
	checkLedgers(t, s)
	// The same definition again: the same AccountIds.
	r = s.do(req{method: "POST", path: "/sandbox/psus", token: admin, body: zoe})
	expect(t, r, 201)
	var again listedPSU
	r.JSON(t, &again)
	if again.Accounts[0].AccountID != cur {
		t.Fatalf("re-created zoe has AccountId %s, want %s", again.Accounts[0].AccountID, cur)
	}
}

func checkLedgers(t *testing.T, s *sandbox) {
	t.Helper()
	if problems, err := s.app.Store.CheckLedgers(context.Background(), 5); err != nil || len(problems) > 0 {
		t.Fatalf("ledgers: %v %v", problems, err)
	}
}

// TestRuntimePSUBadDefinitions: every bad definition is a 400 naming the
// field at fault (409 for a taken username or account), and changes nothing.
func TestRuntimePSUBadDefinitions(t *testing.T) {
	t.Parallel()
	s := start(t)
	admin := s.app.Config.AdminToken
	before := s.psuList()
	acct := `{"Currency":"GBP","AccountSubType":"CurrentAccount","Nickname":"Main"}`
	for _, tc := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"Malformed", `{"username":"x1",`, 400, ""},
		{"NotAnObject", `[1,2]`, 400, ""},
		{"Empty", ``, 400, "empty"},
		{"UnknownField", `{"username":"x1","password":"p","accounts":[` + acct + `],"colour":"red"}`, 400, "colour"},
		{"UnknownAccountField", `{"username":"x1","password":"p","accounts":[{"Currency":"GBP","AccountSubType":"CurrentAccount","IBAN":"x"}]}`, 400, "IBAN"},
		{"BothNames", `{"username":"x1","password":"p","accounts":[{"Currency":"GBP","currency":"EUR","AccountSubType":"Savings"}]}`, 400, "Currency and currency"},
		{"NoUsername", `{"password":"p","accounts":[` + acct + `]}`, 400, "username: is required"},
		{"BadUsername", `{"username":"a b/c","password":"p","accounts":[` + acct + `]}`, 400, "username"},
		{"NoPassword", `{"username":"x1","accounts":[` + acct + `]}`, 400, "password: is required"},
		{"NoAccounts", `{"username":"x1","password":"p","accounts":[]}`, 400, "at least one account"},
		{"BadCurrency", `{"username":"x1","password":"p","accounts":[{"Currency":"GBX","AccountSubType":"CurrentAccount"}]}`, 400, "accounts[0].currency: \"GBX\" is not an ISO 4217"},
		{"BadSubType", `{"username":"x1","password":"p","accounts":[{"Currency":"GBP","AccountSubType":"Piggybank"}]}`, 400, "accounts[0].sub_type"},
		{"BalanceAndOpening", `{"username":"x1","password":"p","accounts":[{"currency":"GBP","sub_type":"Savings","balance":"1","opening":"2"}]}`, 400, "not both"},
		{"BadAmount", `{"username":"x1","password":"p","accounts":[{"currency":"GBP","sub_type":"Savings","balance":"1.234"}]}`, 400, "accounts[0].balance"},
		{"FutureEntry", `{"username":"x1","password":"p","accounts":[{"currency":"GBP","sub_type":"Savings","transactions":[{"date":"2099-01-01","amount":"5"}]}]}`, 400, "after the bank's today"},
		{"ZeroEntry", `{"username":"x1","password":"p","accounts":[{"currency":"GBP","sub_type":"Savings","transactions":[{"date":"2026-01-01","amount":"0"}]}]}`, 400, "must not be zero"},
		{"SalaryWithoutHistory", `{"username":"x1","password":"p","accounts":[{"currency":"GBP","sub_type":"CurrentAccount","salary":{"from":"X","amount":"1","day":1}}]}`, 400, "history"},
		{"TooMuchHistory", `{"username":"x1","password":"p","history":{"months":600,"seed":1},"accounts":[` + acct + `]}`, 400, "history.months"},
		{"CardWithSortCode", `{"username":"x1","password":"p","accounts":[{"currency":"GBP","sub_type":"CreditCard","sort_code":"090128","number":"12345678"}]}`, 400, "card number"},
		{"UsernameTaken", `{"username":"alice","password":"p","accounts":[` + acct + `]}`, 409, "alice"},
		{"AccountNumberTaken", `{"username":"x1","password":"p","accounts":[{"currency":"GBP","sub_type":"CurrentAccount","sort_code":"090128","number":"41726350"}]}`, 409, "41726350"},
		{"AccountIdTaken", `{"username":"x1","password":"p","accounts":[{"AccountId":"` + s.accountsOf("bob")[0] + `","Currency":"GBP","AccountSubType":"CurrentAccount"}]}`, 409, "AccountId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(req{method: "POST", path: "/sandbox/psus", token: admin, body: tc.body})
			expect(t, r, tc.status)
			var e struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			r.JSON(t, &e)
			if e.Error == "" || !strings.Contains(e.Description, tc.want) {
				t.Fatalf("error %q %q, want one naming %q", e.Error, e.Description, tc.want)
			}
		})
	}
	expect(t, s.do(req{method: "POST", path: "/sandbox/psus", body: `{"username":"x1","password":"p","accounts":[` + acct + `]}`}), 401)
	after := s.psuList()
	if len(after) != len(before) {
		t.Fatalf("%d PSUs after the refused definitions, want %d", len(after), len(before))
	}
}

// TestRuntimePSUsAndReset: reset drops the PSUs added at run time and keeps
// those of the persona files (--fixtures), which are seeded with the bank.
func TestRuntimePSUsAndReset(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	persona := `psus:
  - username: greta
    password: greta123
    name: Greta Persona
    accounts:
      - {key: main, nickname: Greta Current, sub_type: CurrentAccount, currency: SEK, sort_code: "090177", number: "55500011", opening: "900.00"}
`
	if err := os.WriteFile(filepath.Join(dir, "greta.yaml"), []byte(persona), 0o644); err != nil {
		t.Fatal(err)
	}
	s := start(t, realIssuer(), func(c *app.Config) { c.FixturesDir = dir; c.PSUs = 2 })
	admin := s.app.Config.AdminToken
	g := findPSU(s.psuList(), "greta")
	if g == nil || len(g.Accounts) != 1 || g.Accounts[0].Currency != "SEK" {
		t.Fatalf("greta from --fixtures: %+v", g)
	}
	expect(t, s.do(req{method: "POST", path: "/sandbox/psus", token: admin, body: zoe}), 201)
	expect(t, s.do(req{method: "DELETE", path: "/sandbox/psus/greta", token: admin}), 409) // seeded, not added
	expect(t, s.do(req{method: "POST", path: "/sandbox/reset", token: admin}), 204)
	list := s.psuList()
	if findPSU(list, "zoe") != nil {
		t.Fatal("zoe, added at run time, survived the reset")
	}
	if g2 := findPSU(list, "greta"); g2 == nil || g2.Accounts[0].AccountID != g.Accounts[0].AccountID || g2.Password != "greta123" {
		t.Fatalf("greta after reset: %+v, want her back with the same AccountId and her password listed", g2)
	}
	checkLedgers(t, s)
	// Greta logs in with her file's password (the bank keeps none of it).
	if _, _, err := s.newTPP("private_key_jwt").AISJourney(context.Background(), "greta", "greta123", tpp.AllPermissions, nil); err != nil {
		t.Fatalf("greta's journey: %v", err)
	}
	expect(t, s.do(req{method: "POST", path: "/sandbox/psus", token: admin, body: zoe}), 201)
	// `sandbox psus` beside the server lists her password from the files.
	var out bytes.Buffer
	args := []string{"psus", "--db", s.app.Config.DB, "--fixtures", dir}
	if s.app.Config.KeyFile != "" {
		args = append(args, "--key-file", s.app.Config.KeyFile)
	}
	if code := app.Main(context.Background(), args, &out, &out); code != 0 || !regexp.MustCompile(`(?m)^greta +greta123 `).MatchString(out.String()) {
		t.Fatalf("sandbox psus --fixtures: %d\n%s", code, out.String())
	}
}

// TestRuntimePSUAfterReset: a reset from the bank's template (no persona
// files) forgets the PSUs added at run time: the same one can be added
// again, logs in, and can be deleted.
func TestRuntimePSUAfterReset(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	admin := s.app.Config.AdminToken
	body := `{"username":"zed","password":"zed-pass-1","accounts":[{"Currency":"GBP","AccountSubType":"CurrentAccount","Nickname":"Main"}]}`
	expect(t, s.do(req{method: "POST", path: "/sandbox/psus", token: admin, body: body}), 201)
	expect(t, s.do(req{method: "POST", path: "/sandbox/reset", token: admin}), 204)
	if findPSU(s.psuList(), "zed") != nil {
		t.Fatal("zed, added at run time, survived the reset")
	}
	expect(t, s.do(req{method: "DELETE", path: "/sandbox/psus/zed", token: admin}), 404)
	expect(t, s.do(req{method: "POST", path: "/sandbox/psus", token: admin, body: body}), 201)
	if _, _, err := s.newTPP("private_key_jwt").AISJourney(context.Background(), "zed", "zed-pass-1", tpp.AllPermissions, nil); err != nil {
		t.Fatalf("zed's journey after the reset: %v", err)
	}
	expect(t, s.do(req{method: "DELETE", path: "/sandbox/psus/zed", token: admin}), 204)
}

// TestFixturesDirRefusesBadPersonas: a persona file with a mistake stops the
// start with the file and field named.
func TestFixturesDirRefusesBadPersonas(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := "username: hugo\npassword: h\naccounts:\n  - {sub_type: CurrentAccount, currency: XXX}\n"
	if err := os.WriteFile(filepath.Join(dir, "hugo.yml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := app.Defaults()
	cfg.Addr, cfg.DB, cfg.FixturesDir, cfg.KeyBits = "127.0.0.1:0", filepath.Join(t.TempDir(), "s.db"), dir, 1024
	cfg.Wall = func() time.Time { return wallBase }
	a, err := app.New(context.Background(), cfg, testLog{t})
	if err == nil {
		a.Close()
		t.Fatal("a persona with currency XXX was seeded")
	}
	if !strings.Contains(err.Error(), "hugo.yml") || !strings.Contains(err.Error(), "accounts[0].currency") {
		t.Fatalf("error %q, want the file and the field named", err)
	}
}

// TestPSUsAddCLI: `sandbox psus add FILE` posts every persona of a file to a
// running sandbox; a file with a mistake sends nothing; `sandbox psus
// delete` removes them.
func TestPSUsAddCLI(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := context.Background()
	run := func(args ...string) (int, string) {
		var out bytes.Buffer
		args = append(args, "--sandbox", s.url, "--admin-token", s.app.Config.AdminToken)
		code := app.Main(ctx, args, &out, &out)
		return code, out.String()
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "team.yaml")
	os.WriteFile(good, []byte(`psus:
  - username: ann
    password: ann123
    accounts: [{nickname: Ann Current, sub_type: CurrentAccount, currency: GBP, balance: "10.00"}]
  - username: ben
    password: ben123
    accounts: [{Nickname: Ben Wallet, AccountSubType: Wallet, Currency: USD}]
`), 0o600)
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"username":"cy","password":"c","accounts":[{"currency":"GBP","sub_type":"CurrentAccount","colour":"red"}]}`), 0o600)
	if code, out := run("psus", "add", bad); code != 1 || !strings.Contains(out, "colour") {
		t.Fatalf("psus add bad.json: %d %s", code, out)
	}
	if code, out := run("psus", "add", good); code != 0 || !strings.Contains(out, `"username": "ann"`) || !strings.Contains(out, `"AccountSubType": "Wallet"`) {
		t.Fatalf("psus add team.yaml: %d %s", code, out)
	}
	list := s.psuList()
	if findPSU(list, "ann") == nil || findPSU(list, "ben") == nil || findPSU(list, "cy") != nil {
		t.Fatalf("after psus add: ann %v ben %v cy %v", findPSU(list, "ann"), findPSU(list, "ben"), findPSU(list, "cy"))
	}
	if code, out := run("psus", "delete", "ann", "ben"); code != 0 || !strings.Contains(out, "deleted ben") {
		t.Fatalf("psus delete: %d %s", code, out)
	}
	if code, out := run("psus", "delete", "alice"); code != 1 || !strings.Contains(out, "409") {
		t.Fatalf("psus delete alice: %d %s", code, out)
	}
}
