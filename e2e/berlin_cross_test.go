package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/tpp"
)

// signed turns an amount and its indicator (UK) or sign (Berlin Group)
// into minor units.
func signed(t testing.TB, amount, indicator string) int64 {
	t.Helper()
	neg := strings.HasPrefix(amount, "-") || indicator == "Debit"
	v, err := bank.ParseMinor(strings.TrimPrefix(amount, "-"))
	if err != nil {
		t.Fatalf("amount %q: %v", amount, err)
	}
	if neg {
		v = -v
	}
	return v
}

// TestBerlinGroupCrossStandard: alice's current account through UK v3.1.11,
// UK v4.0 and Berlin Group — the same balances, type by type, and the same
// newest transactions (ids, amounts, booked or pending) — before and after a
// payment made in each standard, and once they settle. Each payment shows
// in all three.
func TestBerlinGroupCrossStandard(t *testing.T) {
	t.Parallel()
	// The sandbox clock stands still (frozen real time): payments settle
	// when the test advances it, not between its reads of the three APIs.
	s := start(t, realIssuer(), frozen())
	ctx := context.Background()
	cur := ibans(s, "alice")[0]
	ukTok, _ := s.directGrant("alice", bank.AccountAccessRequest{Permissions: allPermissions()}, []string{cur.ID})
	bgt := s.qwac("PSP_PI", "PSP_AI")
	watch := bgt.watch("alice", "alice123")
	type entry struct {
		ID     string
		Amount int64
		Booked bool
	}
	uk := func(base string) (map[string]int64, []entry) {
		bal := map[string]int64{}
		for _, b := range items(t, s.get(base+"/accounts/"+cur.ID+"/balances", ukTok), "Balance") {
			a := b["Amount"].(map[string]any)["Amount"].(string)
			bal[b["Type"].(string)] = signed(t, a, b["CreditDebitIndicator"].(string))
		}
		var txs []entry
		for _, x := range items(t, s.get(base+"/accounts/"+cur.ID+"/transactions?page-size=12", ukTok), "Transaction") {
			a := x["Amount"].(map[string]any)["Amount"].(string)
			txs = append(txs, entry{x["TransactionId"].(string), signed(t, a, x["CreditDebitIndicator"].(string)), x["Status"] == "Booked" || x["Status"] == "BOOK"})
		}
		return bal, txs
	}
	berlin := func() (map[string]int64, []entry) {
		bal := map[string]int64{}
		for _, typ := range []string{"interimAvailable", "interimBooked", "expected", "closingBooked"} {
			bal[typ] = bgt.balance(watch, cur.ID, typ)
		}
		r := bgt.call("GET", "/accounts/"+cur.ID+"/transactions?bookingStatus=both&dateFrom=2024-01-01&itemsPerPage=12", nil,
			map[string]string{"Consent-ID": watch})
		expect(t, r, 200)
		var rep struct {
			Transactions struct {
				Booked, Pending []struct {
					TransactionID     string
					TransactionAmount struct{ Amount string }
				}
			}
		}
		r.JSON(t, &rep)
		var txs []entry
		for _, x := range rep.Transactions.Booked {
			txs = append(txs, entry{x.TransactionID, signed(t, x.TransactionAmount.Amount, ""), true})
		}
		for _, x := range rep.Transactions.Pending {
			txs = append(txs, entry{x.TransactionID, signed(t, x.TransactionAmount.Amount, ""), false})
		}
		return bal, txs
	}
	sorted := func(e []entry) []entry {
		slices.SortFunc(e, func(a, b entry) int { return strings.Compare(a.ID, b.ID) })
		return e
	}
	compare := func(stage string, amounts ...int64) {
		t.Helper()
		b31, t31 := uk(ais)
		b40, t40 := uk(ais4)
		bbg, tbg := berlin()
		for _, m := range [][3]string{{"InterimAvailable", "ITAV", "interimAvailable"}, {"InterimBooked", "ITBD", "interimBooked"},
			{"Expected", "XPCD", "expected"}, {"ClosingBooked", "CLBD", "closingBooked"}} {
			_, ok31 := b31[m[0]]
			_, ok40 := b40[m[1]]
			if !ok31 || !ok40 {
				t.Errorf("%s: no %s balance through the UK APIs", stage, m[0])
			}
			if b31[m[0]] != b40[m[1]] || b31[m[0]] != bbg[m[2]] {
				t.Errorf("%s: %s v3.1 %d, v4.0 %d, Berlin Group %d", stage, m[0], b31[m[0]], b40[m[1]], bbg[m[2]])
			}
		}
		a, b, c := fmt.Sprint(sorted(t31)), fmt.Sprint(sorted(t40)), fmt.Sprint(sorted(tbg))
		if a != b || a != c || len(t31) != 12 {
			t.Errorf("%s: the newest transactions differ\nv3.1 %s\nv4.0 %s\nBG   %s", stage, a, b, c)
		}
		for _, amt := range amounts {
			if !slices.ContainsFunc(tbg, func(e entry) bool { return e.Amount == -amt }) {
				t.Errorf("%s: no debit of %d in the newest transactions %v", stage, amt, tbg)
			}
		}
	}
	compare("before the payments")

	c := s.newTPP("private_key_jwt")
	if _, _, err := c.PaymentJourney(ctx, "alice", "alice123", tpp.DomesticInitiation("12.34", payee, "UK 3.1"), []string{cur.ID}); err != nil {
		t.Fatal(err)
	}
	compare("after a v3.1.11 payment", 1234)
	c4 := s.v4TPP()
	if _, _, err := c4.PaymentJourney(ctx, "alice", "alice123", c4.Initiation("23.45", payee, "UK 4.0"), []string{cur.ID}); err != nil {
		t.Fatal(err)
	}
	compare("after a v4.0 payment", 1234, 2345)
	body := sepa(cur.IBAN, "34.56", "GB33BUKB20201555555555", "Paul Smith")
	body["instructedAmount"] = map[string]string{"currency": "GBP", "amount": "34.56"}
	p := bgt.pay("payments", "cross-border-credit-transfers", body, nil)
	s.headlessRedirect(p.link(t, "scaRedirect"), "alice", "alice123", "approve", nil)
	compare("after a Berlin Group payment", 1234, 2345, 3456)
	s.advance("3s")
	compare("once settled", 1234, 2345, 3456)
}
