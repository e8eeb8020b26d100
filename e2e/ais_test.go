package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/app"
	"github.com/obsandbox/sandbox/internal/bank"
)

var update = flag.Bool("update", false, "rewrite golden files")

func frozen() option {
	return func(c *app.Config) { c.Wall = func() time.Time { return wallBase } }
}

type page struct {
	Data  map[string]json.RawMessage
	Links struct{ Self, First, Prev, Next, Last string }
	Meta  struct {
		TotalPages                                    int
		FirstAvailableDateTime, LastAvailableDateTime string
	}
}

func decodePage(t testing.TB, r *response) page {
	t.Helper()
	var p page
	r.JSON(t, &p)
	return p
}

func items(t testing.TB, r *response, key string) []map[string]any {
	t.Helper()
	p := decodePage(t, r)
	var out []map[string]any
	raw, ok := p.Data[key]
	if !ok {
		t.Fatalf("no Data.%s in %.300s", key, r.Body)
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("Data.%s: %v", key, err)
	}
	return out
}

// TestAISEveryEndpoint calls every AIS data endpoint with a consent that
// grants everything; each answer is validated against both contracts by do.
func TestAISEveryEndpoint(t *testing.T) {
	t.Parallel()
	s := start(t)
	accts := s.accountsOf("alice")
	tok, _ := s.directGrant("alice", bank.AccountAccessRequest{Permissions: allPermissions()}, accts)
	bulk := map[string]string{"/accounts": "Account", "/balances": "Balance", "/transactions": "Transaction",
		"/beneficiaries": "Beneficiary", "/direct-debits": "DirectDebit", "/standing-orders": "StandingOrder",
		"/scheduled-payments": "ScheduledPayment", "/statements": "Statement", "/products": "Product", "/offers": "Offer"}
	for path, key := range bulk {
		r := s.get(ais+path, tok)
		expect(t, r, 200)
		if len(items(t, r, key)) == 0 {
			t.Errorf("%s: no %s for alice", path, key)
		}
	}
	perAccount := []string{"", "/balances", "/transactions", "/beneficiaries", "/direct-debits", "/standing-orders",
		"/scheduled-payments", "/statements", "/product", "/offers", "/party", "/parties"}
	for _, id := range accts {
		for _, sub := range perAccount {
			expect(t, s.get(ais+"/accounts/"+id+sub, tok), 200)
		}
	}
	st := items(t, s.get(ais+"/accounts/"+accts[0]+"/statements", tok), "Statement")
	if len(st) < 20 {
		t.Fatalf("alice has %d statements, want about 24", len(st))
	}
	sid := st[len(st)-1]["StatementId"].(string)
	base := ais + "/accounts/" + accts[0] + "/statements/" + sid
	expect(t, s.get(base, tok), 200)
	txs := items(t, s.get(base+"/transactions", tok), "Transaction")
	if len(txs) == 0 {
		t.Error("the last statement has no transactions")
	}
	pdf := s.get(base+"/file", tok)
	expect(t, pdf, 200)
	if !bytes.HasPrefix(pdf.Body, []byte("%PDF-1.4")) || pdf.Header.Get("Content-Type") != "application/pdf" {
		t.Errorf("statement file: %q, %.20q", pdf.Header.Get("Content-Type"), pdf.Body)
	}
	csv := s.do(req{method: "GET", path: base + "/file", token: tok, header: map[string]string{"Accept": "text/csv"}})
	expect(t, csv, 200)
	if !strings.HasPrefix(string(csv.Body), "Date,Description,Money in,Money out,Balance") {
		t.Errorf("statement CSV starts %.60q", csv.Body)
	}
	// The JSON form the official file lists: the statement and its booked
	// transactions, oldest first, the same entries as the CSV's rows.
	for _, accept := range []string{"application/json", "application/json; charset=utf-8", "application/xml, application/json"} {
		js := s.do(req{method: "GET", path: base + "/file", token: tok, header: map[string]string{"Accept": accept}})
		expect(t, js, 200)
		var file struct {
			Data struct {
				Statement   []struct{ StatementId string }
				Transaction []struct{ TransactionId, BookingDateTime string }
			}
		}
		js.JSON(t, &file)
		if len(file.Data.Statement) != 1 || file.Data.Statement[0].StatementId != sid {
			t.Errorf("Accept %s: statements %+v, want %s", accept, file.Data.Statement, sid)
		}
		rows := strings.Count(strings.TrimSpace(string(csv.Body)), "\n")
		if len(file.Data.Transaction) == 0 || len(file.Data.Transaction) != rows {
			t.Errorf("Accept %s: %d transactions, want the CSV's %d", accept, len(file.Data.Transaction), rows)
		}
		for i := 1; i < len(file.Data.Transaction); i++ {
			if file.Data.Transaction[i].BookingDateTime < file.Data.Transaction[i-1].BookingDateTime {
				t.Errorf("Accept %s: transactions not oldest first at %d", accept, i)
				break
			}
		}
	}
	expect(t, s.do(req{method: "GET", path: base + "/file", token: tok, header: map[string]string{"Accept": "application/json;q=0"}}), 406)
	var party struct {
		Data struct {
			Party struct{ Name, PartyId string }
		}
	}
	s.get(ais+"/party", tok).JSON(t, &party)
	if party.Data.Party.Name != "Alice Carter" {
		t.Errorf("party name %q, want Alice Carter", party.Data.Party.Name)
	}
}

// TestAISGolden pins alice's accounts, balances and first page of
// transactions at seed 42 (go test ./e2e -run Golden -update rewrites them).
func TestAISGolden(t *testing.T) {
	t.Parallel()
	s := start(t, frozen())
	accts := s.accountsOf("alice")
	tok, _ := s.directGrant("alice", bank.AccountAccessRequest{Permissions: allPermissions()}, accts)
	for name, path := range map[string]string{
		"alice_accounts":     ais + "/accounts",
		"alice_balances":     ais + "/balances",
		"alice_transactions": ais + "/accounts/" + accts[0] + "/transactions?page-size=25",
	} {
		t.Run(name, func(t *testing.T) {
			r := s.get(path, tok)
			expect(t, r, 200)
			var v any
			r.JSON(t, &v)
			got, _ := json.MarshalIndent(v, "", "  ")
			golden(t, name, append(got, '\n'))
		})
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./e2e -update creates it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s (go test ./e2e -run Golden -update if on purpose)\ngot:\n%.1500s", name, path, got)
	}
}

// TestAISPermissions checks that Basic and Detail permissions, the
// direction permissions, the transaction window and the selected accounts
// decide what a consent shows.
func TestAISPermissions(t *testing.T) {
	t.Parallel()
	s := start(t)
	accts := s.accountsOf("alice")
	card := accts[2]

	basic, _ := s.directGrant("alice", bank.AccountAccessRequest{Permissions: []string{"ReadAccountsBasic",
		"ReadTransactionsBasic", "ReadTransactionsCredits", "ReadBeneficiariesBasic"}}, accts[:1])
	detail, _ := s.directGrant("alice", bank.AccountAccessRequest{Permissions: []string{"ReadAccountsDetail",
		"ReadTransactionsDetail", "ReadTransactionsDebits", "ReadBeneficiariesDetail", "ReadPAN"}}, accts)

	t.Run("SelectedAccountsOnly", func(t *testing.T) {
		got := items(t, s.get(ais+"/accounts", basic), "Account")
		if len(got) != 1 || got[0]["AccountId"] != accts[0] {
			t.Fatalf("got %v, want only %s", got, accts[0])
		}
	})
	t.Run("BasicHidesIdentifiers", func(t *testing.T) {
		a := items(t, s.get(ais+"/accounts/"+accts[0], basic), "Account")[0]
		if _, ok := a["Account"]; ok {
			t.Errorf("ReadAccountsBasic shows Account identifiers: %v", a)
		}
		d := items(t, s.get(ais+"/accounts/"+accts[0], detail), "Account")[0]
		if _, ok := d["Account"]; !ok {
			t.Errorf("ReadAccountsDetail hides Account identifiers: %v", d)
		}
	})
	t.Run("ReadPANUnmasks", func(t *testing.T) {
		noPAN, _ := s.directGrant("alice", bank.AccountAccessRequest{Permissions: []string{"ReadAccountsDetail"}}, accts)
		ids := func(tok string) string {
			a := items(t, s.get(ais+"/accounts/"+card, tok), "Account")[0]
			b, _ := json.Marshal(a["Account"])
			return string(b)
		}
		if got := ids(noPAN); !strings.Contains(got, "************") {
			t.Errorf("without ReadPAN the PAN is shown: %s", got)
		}
		if got := ids(detail); strings.Contains(got, "*") {
			t.Errorf("with ReadPAN the PAN is masked: %s", got)
		}
	})
	t.Run("CreditsOnlyBasic", func(t *testing.T) {
		txs := items(t, s.get(ais+"/accounts/"+accts[0]+"/transactions?page-size=200", basic), "Transaction")
		if len(txs) == 0 {
			t.Fatal("no credits")
		}
		for _, tx := range txs {
			if tx["CreditDebitIndicator"] != "Credit" {
				t.Fatalf("ReadTransactionsCredits shows a %v", tx["CreditDebitIndicator"])
			}
			for _, f := range []string{"TransactionInformation", "Balance", "MerchantDetails", "CreditorAccount", "DebtorAccount"} {
				if _, ok := tx[f]; ok {
					t.Fatalf("ReadTransactionsBasic shows %s: %v", f, tx)
				}
			}
		}
	})
	t.Run("DebitsOnlyDetail", func(t *testing.T) {
		txs := items(t, s.get(ais+"/accounts/"+accts[0]+"/transactions?page-size=200", detail), "Transaction")
		withInfo := 0
		for _, tx := range txs {
			if tx["CreditDebitIndicator"] != "Debit" {
				t.Fatalf("ReadTransactionsDebits shows a %v", tx["CreditDebitIndicator"])
			}
			if _, ok := tx["TransactionInformation"]; ok {
				withInfo++
			}
		}
		if withInfo == 0 {
			t.Error("ReadTransactionsDetail shows no TransactionInformation")
		}
	})
	t.Run("BeneficiaryBasicHidesAccount", func(t *testing.T) {
		for _, b := range items(t, s.get(ais+"/beneficiaries", basic), "Beneficiary") {
			if _, ok := b["CreditorAccount"]; ok {
				t.Fatalf("ReadBeneficiariesBasic shows CreditorAccount: %v", b)
			}
		}
		if bs := items(t, s.get(ais+"/beneficiaries", detail), "Beneficiary"); len(bs) == 0 || bs[0]["CreditorAccount"] == nil {
			t.Fatalf("ReadBeneficiariesDetail hides CreditorAccount: %v", bs)
		}
	})
	t.Run("TransactionWindow", func(t *testing.T) {
		from, to := "2026-03-01T00:00:00+00:00", "2026-03-31T23:59:59+00:00"
		tok, _ := s.directGrant("alice", bank.AccountAccessRequest{Permissions: []string{"ReadAccountsBasic",
			"ReadTransactionsBasic", "ReadTransactionsCredits", "ReadTransactionsDebits", "ReadStatementsBasic"},
			TxFrom: from, TxTo: to}, accts)
		// Asking for more than the window gives only the window.
		r := s.get(ais+"/accounts/"+accts[0]+"/transactions?fromBookingDateTime=2025-01-01&page-size=1000", tok)
		txs := items(t, r, "Transaction")
		if len(txs) < 20 {
			t.Fatalf("%d transactions in March 2026, want a month's worth", len(txs))
		}
		for _, tx := range txs {
			b := tx["BookingDateTime"].(string)
			if b < "2026-03-01" || b > "2026-03-31T23:59:59+00:00" {
				t.Fatalf("transaction booked %s outside the consent window", b)
			}
		}
		sts := items(t, s.get(ais+"/accounts/"+accts[0]+"/statements", tok), "Statement")
		if len(sts) != 1 || !strings.HasPrefix(sts[0]["StartDateTime"].(string), "2026-03-01") {
			t.Fatalf("statements inside the window: %v", sts)
		}
	})
}

// TestAISPaging pages through alice's transactions and checks Links and Meta.
func TestAISPaging(t *testing.T) {
	t.Parallel()
	s := start(t)
	accts := s.accountsOf("alice")
	tok, _ := s.directGrant("alice", bank.AccountAccessRequest{Permissions: allPermissions()}, accts)
	path := ais + "/accounts/" + accts[0] + "/transactions"
	first := s.get(path+"?page-size=50&fromBookingDateTime=2025-06-01", tok)
	expect(t, first, 200)
	p := decodePage(t, first)
	if p.Meta.TotalPages < 5 || p.Links.Next == "" || p.Links.Prev != "" || !strings.HasPrefix(p.Links.Self, testIssuer+"/open-banking/") {
		t.Fatalf("first page: Meta %+v Links %+v", p.Meta, p.Links)
	}
	seen := map[string]bool{}
	next := p.Links.Next
	pages := 1
	for _, tx := range items(t, first, "Transaction") {
		seen[tx["TransactionId"].(string)] = true
	}
	for next != "" {
		u, err := url.Parse(next)
		if err != nil {
			t.Fatal(err)
		}
		if u.Query().Get("fromBookingDateTime") != "2025-06-01" {
			t.Fatalf("Next lost the filter: %s", next)
		}
		r := s.get(u.RequestURI(), tok)
		expect(t, r, 200)
		for _, tx := range items(t, r, "Transaction") {
			id := tx["TransactionId"].(string)
			if seen[id] {
				t.Fatalf("transaction %s on two pages", id)
			}
			seen[id] = true
			if tx["BookingDateTime"].(string) < "2025-06-01" {
				t.Fatalf("filter not honoured on page %d", pages+1)
			}
		}
		next = decodePage(t, r).Links.Next
		pages++
	}
	if pages != p.Meta.TotalPages {
		t.Errorf("followed %d pages, Meta.TotalPages %d", pages, p.Meta.TotalPages)
	}
	past := s.get(fmt.Sprintf("%s?page=%d&page-size=50", path, 9999), tok)
	expect(t, past, 200)
	if got := items(t, past, "Transaction"); len(got) != 0 {
		t.Errorf("a page past the end holds %d transactions", len(got))
	}
	// A timezone on a date filter is ignored (AIS profile, Filtering).
	a := s.get(path+"?fromBookingDateTime="+url.QueryEscape("2026-10-01T00:00:00+05:00"), tok)
	b := s.get(path+"?fromBookingDateTime=2026-10-01T00:00:00", tok)
	if la, lb := len(items(t, a, "Transaction")), len(items(t, b, "Transaction")); la != lb || la == 0 {
		t.Errorf("with timezone %d transactions, without %d", la, lb)
	}
}

// bankHash fingerprints the bank, consents included, to prove a refused
// request changed nothing.
func (s *sandbox) bankHash() string {
	s.t.Helper()
	h := sha256.New()
	w := bufio.NewWriterSize(h, 64<<10)
	if err := s.app.Store.DumpBank(context.Background(), w); err != nil {
		s.t.Fatal(err)
	}
	n, err := s.app.Store.CountConsents(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	fmt.Fprintf(w, "consents %d", n)
	if err := w.Flush(); err != nil {
		s.t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}
