package e2e

import (
	"context"
	"testing"

	"github.com/obsandbox/sandbox/internal/bank"
)

// TestPendingCardsBook: the seeded bank shows pending card entries; three
// days on the sandbox clock book every one of them, at their amounts, with
// running balances, InterimBooked following and InterimAvailable unmoved.
func TestPendingCardsBook(t *testing.T) {
	s := start(t, realIssuer(), frozen())
	acct := s.accountsOf("alice")[0]
	grant := func() string {
		tok, _ := s.directGrant("alice", bank.AccountAccessRequest{Permissions: allPermissions()}, []string{acct})
		return tok
	}
	pendingCards := func(tok string) (ids map[string]int64) {
		ids = map[string]int64{}
		for _, tx := range items(t, s.get(ais+"/accounts/"+acct+"/transactions?page-size=1000", tok), "Transaction") {
			if tx["Status"] == "Pending" && tx["CardInstrument"] != nil {
				ids[tx["TransactionId"].(string)] = amountOf(tx)
			}
		}
		return ids
	}
	tok := grant()
	pending := pendingCards(tok)
	if len(pending) == 0 {
		t.Fatal("alice's current account has no pending card entry to book")
	}
	booked0, avail0 := s.balanceOf(tok, acct, "InterimBooked"), s.balanceOf(tok, acct, "InterimAvailable")
	s.advance("1h")
	if got := pendingCards(grant()); len(got) != len(pending) {
		t.Errorf("after an hour %d of %d pending card entries are left", len(got), len(pending))
	}
	s.advance("3d")
	tok = grant()
	if got := pendingCards(tok); len(got) != 0 {
		t.Errorf("after three days %d card entries are still pending", len(got))
	}
	var sum int64
	for _, v := range pending {
		sum += v
	}
	booked := map[string]map[string]any{}
	for _, tx := range items(t, s.get(ais+"/accounts/"+acct+"/transactions?page-size=1000", tok), "Transaction") {
		booked[tx["TransactionId"].(string)] = tx
	}
	for id, amt := range pending {
		tx, ok := booked[id]
		if !ok || tx["Status"] != "Booked" || amountOf(tx) != amt || tx["Balance"] == nil {
			t.Errorf("card entry %s after booking: %v", id, tx)
		}
	}
	if got := s.balanceOf(tok, acct, "InterimBooked"); got != booked0+sum {
		t.Errorf("InterimBooked %d, want %d + %d", got, booked0, sum)
	}
	if got := s.balanceOf(tok, acct, "InterimAvailable"); got != avail0 {
		t.Errorf("InterimAvailable %d, want %d (pending entries were already counted)", got, avail0)
	}
	if problems, err := s.app.Store.CheckLedgers(context.Background(), 5); err != nil || len(problems) > 0 {
		t.Errorf("ledger: %v %v", problems, err)
	}
}

// amountOf is a transaction's signed amount in pence.
func amountOf(tx map[string]any) int64 {
	m, _ := tx["Amount"].(map[string]any)
	v, _ := bank.ParseMinor(m["Amount"].(string))
	if tx["CreditDebitIndicator"] == "Debit" {
		v = -v
	}
	return v
}
