package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/tpp"
)

// TestPendingCardsBook: the seeded bank shows pending card entries; three
// days on the sandbox clock book every one of them, at their amounts, with
// running balances, InterimBooked following and InterimAvailable unmoved.
func TestPendingCardsBook(t *testing.T) {
	t.Parallel()
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

// TestClockJump91Days: clock jumps expire everything time-bound — an
// account-access consent with a 30-day ExpirationDateTime (its refresh
// token too), an unused payment consent past its CutOffDateTime, an
// idempotency key past its 24 h window — while an open-ended consent keeps
// working.
func TestClockJump91Days(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.newTPP("private_key_jwt")
	journey := func(extra map[string]string) (access, refresh string) {
		cc, err := c.ClientCredentials(ctx, "accounts")
		if err != nil {
			t.Fatal(err)
		}
		id, err := c.AccountConsent(ctx, cc, tpp.AllPermissions, extra)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := c.Authorize(ctx, id, tpp.AuthOptions{})
		to, err := c.Headless(ctx, a, "alice", "alice123", "approve", nil)
		if err != nil {
			t.Fatal(err)
		}
		toks, err := c.Exchange(ctx, a, orFatal(c.Callback(ctx, a, to))(t))
		if err != nil {
			t.Fatal(err)
		}
		return toks.AccessToken, toks.RefreshToken
	}
	_, shortRefresh := journey(map[string]string{"ExpirationDateTime": s.app.Clock.Now().Add(30 * 24 * time.Hour).Format(time.RFC3339)})
	_, openRefresh := journey(nil)
	pcc, _ := c.ClientCredentials(ctx, "payments")
	unused, err := c.PaymentConsent(ctx, pcc, tpp.DomesticInitiation("5.00", payee, "UNUSED"))
	if err != nil {
		t.Fatal(err)
	}
	key := uuid.NewString()
	body := map[string]any{"Data": map[string]any{"Initiation": tpp.DomesticInitiation("6.00", payee, "IDEM")}, "Risk": map[string]any{}}
	st, first, _, err := c.SignedPost(ctx, pis+"/domestic-payment-consents", pcc, key, body)
	if err != nil || st != 201 {
		t.Fatalf("consent: %d %v", st, err)
	}

	s.advance("60d")
	if _, err := c.Refresh(ctx, shortRefresh); err == nil {
		t.Error("the 30-day consent's refresh token still works after 60 days")
	}
	open, err := c.Refresh(ctx, openRefresh)
	if err != nil {
		t.Fatalf("the open-ended consent's refresh token after 60 days: %v", err)
	}
	expect(t, s.get(ais+"/accounts", open.AccessToken), 200)
	s.advance("31d")
	pcc, _ = c.ClientCredentials(ctx, "payments")
	a, _ := c.Authorize(ctx, unused, tpp.AuthOptions{Scope: "openid payments"})
	if to, err := c.Headless(ctx, a, "alice", "alice123", "approve", nil); err == nil && !strings.Contains(to, "error=") {
		t.Errorf("a payment consent past its cut-off was approved: %s", to)
	}
	st, again, _, err := c.SignedPost(ctx, pis+"/domestic-payment-consents", pcc, key, body)
	if err != nil || st != 201 || string(again) == string(first) {
		t.Errorf("the idempotency key replayed after 91 days: %d %v", st, err)
	}
}
