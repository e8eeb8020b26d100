package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/tpp"
)

// UK OB v4.0 beside v3.1.11, over the same bank. Every answer is validated
// by do against api/ukob-v4.0.yaml and the official v4.0 files.
const (
	ais4  = "/open-banking/v4.0/aisp"
	pis4  = "/open-banking/v4.0/pisp"
	cbp4  = "/open-banking/v4.0/cbpii"
	api40 = "4.0"
)

// v4Errors decodes a v4.0 OBErrorResponse1: Errors only, 4-character codes.
func v4Error(t testing.TB, r *response) (code, path string) {
	t.Helper()
	var e struct {
		Code, Message string
		Errors        []struct{ ErrorCode, Message, Path string }
	}
	r.JSON(t, &e)
	if len(e.Errors) == 0 {
		t.Fatalf("no Errors in %s", r.Body)
	}
	if e.Code != "" || e.Message != "" {
		t.Errorf("a v4.0 error carries the deprecated Code/Message: %s", r.Body)
	}
	if len(e.Errors[0].ErrorCode) != 4 {
		t.Errorf("ErrorCode %q is not a 4-character code", e.Errors[0].ErrorCode)
	}
	return e.Errors[0].ErrorCode, e.Errors[0].Path
}

// v4TPP is a registered reference TPP calling v4.0.
func (s *sandbox) v4TPP() *tpp.Client {
	c := s.newTPP("private_key_jwt")
	c.Version = api40
	return c
}

// TestV4EveryEndpoint reads every v4.0 AIS endpoint through a consent made
// through v4.0 and checks the shapes v4.0 changed.
func TestV4EveryEndpoint(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.v4TPP()
	toks, consent, err := c.AISJourney(ctx, "alice", "alice123", tpp.AllPermissions, nil)
	if err != nil {
		t.Fatal(err)
	}
	cc, _ := c.ClientCredentials(ctx, "accounts")
	var cn struct{ Data struct{ Status string } }
	r := s.get(ais4+"/account-access-consents/"+consent, cc)
	expect(t, r, 200)
	r.JSON(t, &cn)
	if cn.Data.Status != "AUTH" {
		t.Errorf("consent status %q, want AUTH", cn.Data.Status)
	}
	tok := toks.AccessToken
	bulk := map[string]string{"/accounts": "Account", "/balances": "Balance", "/transactions": "Transaction",
		"/beneficiaries": "Beneficiary", "/direct-debits": "DirectDebit", "/standing-orders": "StandingOrder",
		"/scheduled-payments": "ScheduledPayment", "/statements": "Statement", "/products": "Product", "/offers": "Offer"}
	got := map[string][]map[string]any{}
	for path, key := range bulk {
		r := s.get(ais4+path, tok)
		expect(t, r, 200)
		if got[key] = items(t, r, key); len(got[key]) == 0 {
			t.Errorf("%s: no %s for alice", path, key)
		}
	}
	accts := s.accountsOf("alice")
	for _, id := range accts {
		for _, sub := range []string{"", "/balances", "/transactions", "/beneficiaries", "/direct-debits", "/standing-orders",
			"/scheduled-payments", "/statements", "/product", "/offers", "/party", "/parties"} {
			expect(t, s.get(ais4+"/accounts/"+id+sub, tok), 200)
		}
	}
	expect(t, s.get(ais4+"/party", tok), 200)
	st := items(t, s.get(ais4+"/accounts/"+accts[0]+"/statements", tok), "Statement")
	base := ais4 + "/accounts/" + accts[0] + "/statements/" + st[len(st)-1]["StatementId"].(string)
	expect(t, s.get(base, tok), 200)
	expect(t, s.get(base+"/transactions", tok), 200)
	expect(t, s.do(req{method: "GET", path: base + "/file", token: tok, header: map[string]string{"Accept": "application/json"}}), 200)

	// What v4.0 words differently.
	if a := got["Account"][0]; a["AccountTypeCode"] != "CACC" || a["AccountCategory"] != "Personal" || a["AccountSubType"] != nil {
		t.Errorf("account %v: want AccountCategory Personal, AccountTypeCode CACC, no AccountSubType", a)
	}
	types := map[any]bool{}
	for _, b := range got["Balance"] {
		types[b["Type"]] = true
	}
	for _, want := range []string{"ITAV", "ITBD", "XPCD", "CLBD"} {
		if !types[want] {
			t.Errorf("balance types %v lack %s", types, want)
		}
	}
	for _, tx := range got["Transaction"] {
		if s := tx["Status"]; s != "BOOK" && s != "PDNG" {
			t.Errorf("transaction status %v", s)
		}
	}
	if dd := got["DirectDebit"][0]; dd["MandateRelatedInformation"] == nil || dd["DirectDebitStatusCode"] != "ACTV" {
		t.Errorf("direct debit %v: want MandateRelatedInformation and ACTV", dd)
	}
	so := got["StandingOrder"][0]
	mri, _ := so["MandateRelatedInformation"].(map[string]any)
	if mri == nil || mri["Frequency"] == nil || so["Frequency"] != nil {
		t.Errorf("standing order %v: want the frequency in MandateRelatedInformation", so)
	}
	expect(t, s.do(req{method: "DELETE", path: ais4 + "/account-access-consents/" + consent, token: cc}), 204)
	expect(t, s.get(ais4+"/accounts", tok), 401)
	r = s.get(ais4+"/account-access-consents/"+consent, cc)
	expect(t, r, 400)
	if code, _ := v4Error(t, r); code != "U011" {
		t.Errorf("a deleted consent: %s, want U011", code)
	}
}

// TestV4Refusals: the same refusals as v3.1.11, in v4.0's envelope and
// codes.
func TestV4Refusals(t *testing.T) {
	t.Parallel()
	s := start(t)
	accts := s.accountsOf("alice")
	tok, clientID := s.directGrant("alice", bank.AccountAccessRequest{Permissions: []string{"ReadAccountsBasic"}}, accts[:1])
	cc := s.clientToken(clientID, "accounts")
	r := s.get(ais4+"/accounts", "")
	expect(t, r, 401)
	if len(r.Body) != 0 {
		t.Errorf("401 with a body: %s", r.Body)
	}
	for _, tc := range []struct {
		name, path, token string
		status            int
		code              string
	}{
		{"AccountOutsideTheConsent", ais4 + "/accounts/" + accts[1], tok, 403, "AG01"},
		{"AnotherPSUsAccount", ais4 + "/accounts/" + s.accountsOf("bob")[0], tok, 403, "AG01"},
		{"PermissionNotGranted", ais4 + "/balances", tok, 403, "AG01"},
		{"UnknownAccount", ais4 + "/accounts/no-such-account", tok, 400, "U011"},
		{"UnknownConsent", ais4 + "/account-access-consents/aac-nope", cc, 400, "U011"},
		{"PageZero", ais4 + "/accounts?page=0", tok, 400, "U002"},
		{"HugePage", ais4 + "/accounts?page-size=100000", tok, 400, "U002"},
		{"UnknownParameter", ais4 + "/accounts?foo=bar", tok, 400, "U005"},
		{"ClientTokenOnData", ais4 + "/accounts", cc, 403, "AG01"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.get(tc.path, tc.token)
			expect(t, r, tc.status)
			if code, _ := v4Error(t, r); code != tc.code {
				t.Errorf("ErrorCode %s, want %s", code, tc.code)
			}
		})
	}
	r = s.do(req{method: "POST", path: ais4 + "/account-access-consents", token: cc,
		body: map[string]any{"Data": map[string]any{"Permissions": []string{"ReadAccountsBasic"}, "Extra": 1}, "Risk": map[string]any{}}})
	expect(t, r, 400)
	if code, path := v4Error(t, r); code != "U005" || !strings.Contains(path, "Extra") {
		t.Errorf("unexpected field: %s at %s, want U005 at Data.Extra", code, path)
	}
	r = s.do(req{method: "POST", path: ais4 + "/account-access-consents", token: cc,
		body: map[string]any{"Data": map[string]any{"Permissions": []string{"ReadTransactionsBasic"}}, "Risk": map[string]any{}}})
	expect(t, r, 400)
	if code, _ := v4Error(t, r); code != "U002" {
		t.Errorf("permissions without accounts: %s, want U002", code)
	}
}

// TestV4Payments: a domestic payment through v4.0 (its Initiation with
// structured remittance information, its Risk words), with v4.0's statuses
// and details, idempotency conflicts as 409 U029 where the file lists 409,
// and the money moving in the same ledger v3.1.11 reads.
func TestV4Payments(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.v4TPP()
	v3 := s.newTPP("private_key_jwt")
	aisTok := s.freshAIS(v3)
	acct := s.accountsOf("alice")[0]
	avail0 := s.balanceOf(aisTok, acct, "InterimAvailable")

	cc, _ := c.ClientCredentials(ctx, "payments")
	in := c.Initiation("31.40", payee, "V4 INVOICE 7")
	id, err := c.PaymentConsent(ctx, cc, in)
	if err != nil {
		t.Fatal(err)
	}
	var cn struct{ Data struct{ Status string } }
	s.get(pis4+"/domestic-payment-consents/"+id, cc).JSON(t, &cn)
	if cn.Data.Status != "AWAU" {
		t.Errorf("new consent %s, want AWAU", cn.Data.Status)
	}
	toks, err := c.Approve(ctx, id, tpp.AuthOptions{Scope: "openid payments"}, "alice", "alice123", []string{acct})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, s.get(pis4+"/domestic-payment-consents/"+id+"/funds-confirmation", toks.AccessToken), 200)
	key := uuid.NewString()
	pid, status, err := c.Pay(ctx, toks.AccessToken, id, in, key)
	if err != nil {
		t.Fatal(err)
	}
	if status != "PDNG" {
		t.Errorf("new payment %s, want PDNG", status)
	}
	// The same money, read through v3.1.11: the debit is there at once.
	if got := s.balanceOf(aisTok, acct, "InterimAvailable"); got != avail0-3140 {
		t.Errorf("v3.1.11 InterimAvailable %d, want %d", got, avail0-3140)
	}
	txs := items(t, s.get(ais+"/accounts/"+acct+"/transactions?page-size=1", aisTok), "Transaction")
	if txs[0]["Status"] != "Pending" || txs[0]["Amount"].(map[string]any)["Amount"] != "31.40" {
		t.Errorf("v3.1.11's newest transaction %v, want the pending 31.40", txs[0])
	}
	// A replay answers the same payment; another body under the key is 409.
	if again, _, err := c.Pay(ctx, toks.AccessToken, id, in, key); err != nil || again != pid {
		t.Errorf("replay: %s %v, want %s", again, err, pid)
	}
	st, body, _, _ := c.SignedPost(ctx, pis4+"/domestic-payments", toks.AccessToken, key, map[string]any{
		"Data": map[string]any{"ConsentId": id, "Initiation": c.Initiation("99.00", payee, "OTHER")}, "Risk": map[string]any{}})
	if st != 409 || !strings.Contains(string(body), `"U029"`) {
		t.Errorf("another body under the key: %d %s, want 409 U029", st, body)
	}
	consentKey := uuid.NewString()
	consentBody := func(ref string) map[string]any {
		return map[string]any{"Data": map[string]any{"Initiation": c.Initiation("1.00", payee, ref)},
			"Risk": map[string]any{"PaymentContextCode": "TransferToThirdParty"}}
	}
	if st, _, _, _ := c.SignedPost(ctx, pis4+"/domestic-payment-consents", cc, consentKey, consentBody("A")); st != 201 {
		t.Fatalf("consent: %d", st)
	}
	st, body, _, _ = c.SignedPost(ctx, pis4+"/domestic-payment-consents", cc, consentKey, consentBody("B"))
	if st != 400 || !strings.Contains(string(body), `"U006"`) {
		t.Errorf("consent key reused with another body: %d %s, want 400 U006 (the file lists no 409 there)", st, body)
	}

	s.advance("3s")
	var pay struct{ Data struct{ Status string } }
	s.get(pis4+"/domestic-payments/"+pid, cc).JSON(t, &pay)
	if pay.Data.Status != "ACSC" {
		t.Errorf("settled payment %s, want ACSC", pay.Data.Status)
	}
	var det struct {
		Data struct{ PaymentStatus []struct{ Status string } }
	}
	s.get(pis4+"/domestic-payments/"+pid+"/payment-details", cc).JSON(t, &det)
	var steps []string
	for _, p := range det.Data.PaymentStatus {
		steps = append(steps, p.Status)
	}
	if strings.Join(steps, ",") != "PDNG,ACSP,ACSC" {
		t.Errorf("history %v, want PDNG,ACSP,ACSC", steps)
	}
	s.get(pis4+"/domestic-payment-consents/"+id, cc).JSON(t, &cn)
	if cn.Data.Status != "COND" {
		t.Errorf("consumed consent %s, want COND", cn.Data.Status)
	}
	txs = items(t, s.get(ais+"/accounts/"+acct+"/transactions?page-size=1", aisTok), "Transaction")
	if txs[0]["Status"] != "Booked" {
		t.Errorf("after settlement v3.1.11 shows %v", txs[0]["Status"])
	}
	if problems, _ := s.app.Store.CheckLedgers(ctx, 5); len(problems) > 0 {
		t.Errorf("ledger: %v", problems)
	}
}

// TestV4StandingOrderAndScheduled: v4.0's standing order (its schedule in
// MandateRelatedInformation with an ISO frequency code, its reference in
// RemittanceInformation) and scheduled payment, with v4.0's statuses.
func TestV4StandingOrderAndScheduled(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.v4TPP()
	cc, _ := c.ClientCredentials(ctx, "payments")
	now := s.app.Clock.Now()
	first := now.AddDate(0, 0, 3).UTC().Format("2006-01-02T15:04:05+00:00")
	so := map[string]any{
		"NumberOfPayments":          "3",
		"MandateRelatedInformation": map[string]any{"Frequency": map[string]any{"Type": "MNTH"}, "FirstPaymentDateTime": first},
		"RemittanceInformation": map[string]any{"Structured": []any{map[string]any{
			"CreditorReferenceInformation": map[string]any{"Reference": "POCKET MONEY"}}}},
		"FirstPaymentAmount": map[string]any{"Amount": "5.00", "Currency": "GBP"},
		"CreditorAccount": map[string]any{"SchemeName": "UK.OBIE.SortCodeAccountNumber",
			"Identification": payee.SortCode + payee.Number, "Name": payee.Name},
	}
	consent := func(family string, initiation map[string]any) (string, string) {
		st, b, _, err := c.SignedPost(ctx, pis4+"/"+family+"-consents", cc, uuid.NewString(), map[string]any{
			"Data": map[string]any{"Permission": "Create", "Initiation": initiation}, "Risk": map[string]any{}})
		if err != nil || st != 201 {
			t.Fatalf("%s consent: %d %s %v", family, st, b, err)
		}
		var out struct{ Data struct{ ConsentId string } }
		json.Unmarshal(b, &out)
		toks, err := c.Approve(ctx, out.Data.ConsentId, tpp.AuthOptions{Scope: "openid payments"}, "alice", "alice123", nil)
		if err != nil {
			t.Fatal(err)
		}
		return out.Data.ConsentId, toks.AccessToken
	}
	id, tok := consent("domestic-standing-order", so)
	st, b, _, _ := c.SignedPost(ctx, pis4+"/domestic-standing-orders", tok, uuid.NewString(),
		map[string]any{"Data": map[string]any{"ConsentId": id, "Initiation": so}, "Risk": map[string]any{}})
	if st != 201 || !strings.Contains(string(b), `"Status":"INCO"`) {
		t.Fatalf("standing order: %d %s, want it set up (INCO)", st, b)
	}
	var order struct {
		Data struct{ DomesticStandingOrderId string }
	}
	json.Unmarshal(b, &order)
	expect(t, s.get(pis4+"/domestic-standing-order-consents/"+id, cc), 200)
	expect(t, s.get(pis4+"/domestic-standing-orders/"+order.Data.DomesticStandingOrderId, cc), 200)
	r := s.get(pis4+"/domestic-standing-orders/"+order.Data.DomesticStandingOrderId+"/payment-details", cc)
	expect(t, r, 200)
	if !strings.Contains(string(r.Body), `"Status":"ACCP"`) {
		t.Errorf("a standing order set up: %s, want ACCP in its details", r.Body)
	}
	sched := c.Initiation("12.00", payee, "LATER")
	sched["RequestedExecutionDateTime"] = first
	id, tok = consent("domestic-scheduled-payment", sched)
	st, b, _, _ = c.SignedPost(ctx, pis4+"/domestic-scheduled-payments", tok, uuid.NewString(),
		map[string]any{"Data": map[string]any{"ConsentId": id, "Initiation": sched}, "Risk": map[string]any{}})
	if st != 201 || !strings.Contains(string(b), `"Status":"PDNG"`) {
		t.Fatalf("scheduled payment: %d %s", st, b)
	}
	var out struct {
		Data struct{ DomesticScheduledPaymentId string }
	}
	json.Unmarshal(b, &out)
	s.advance("4d")
	cc, _ = c.ClientCredentials(ctx, "payments") // the first one expired with the days
	var got struct{ Data struct{ Status string } }
	s.get(pis4+"/domestic-scheduled-payments/"+out.Data.DomesticScheduledPaymentId, cc).JSON(t, &got)
	if got.Data.Status != "ACSC" {
		t.Errorf("executed scheduled payment %s, want ACSC", got.Data.Status)
	}
	r = s.get(pis4+"/domestic-scheduled-payments/"+out.Data.DomesticScheduledPaymentId+"/payment-details", cc)
	expect(t, r, 200)
	if !strings.Contains(string(r.Body), `"Status":"ACSC"`) {
		t.Errorf("an executed scheduled payment's details: %s", r.Body)
	}
	bad := map[string]any{}
	for k, v := range so {
		bad[k] = v
	}
	bad["MandateRelatedInformation"] = map[string]any{"Frequency": map[string]any{"Type": "ADHO"}, "FirstPaymentDateTime": first}
	st, b, _, _ = c.SignedPost(ctx, pis4+"/domestic-standing-order-consents", cc, uuid.NewString(), map[string]any{
		"Data": map[string]any{"Permission": "Create", "Initiation": bad}, "Risk": map[string]any{}})
	if st != 400 || !strings.Contains(string(b), `"U025"`) {
		t.Errorf("an ad hoc frequency: %d %s, want 400 U025 (Unsupported.Frequency)", st, b)
	}
}

// TestV4FundsConfirmation: CBPII through v4.0.
func TestV4FundsConfirmation(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.v4TPP()
	cc, _ := c.ClientCredentials(ctx, "fundsconfirmations")
	var out struct {
		Data struct{ ConsentId, Status string }
	}
	r := s.do(req{method: "POST", path: cbp4 + "/funds-confirmation-consents", token: cc, body: map[string]any{"Data": map[string]any{
		"DebtorAccount": map[string]any{"SchemeName": "UK.OBIE.SortCodeAccountNumber", "Identification": aliceCurrent(s), "Name": "Alice"}}}})
	expect(t, r, 201)
	r.JSON(t, &out)
	if out.Data.Status != "AWAU" {
		t.Errorf("new funds consent %s, want AWAU", out.Data.Status)
	}
	toks, err := c.Approve(ctx, out.Data.ConsentId, tpp.AuthOptions{Scope: "openid fundsconfirmations"}, "alice", "alice123", nil)
	if err != nil {
		t.Fatal(err)
	}
	r = s.do(req{method: "POST", path: cbp4 + "/funds-confirmations", token: toks.AccessToken, body: map[string]any{"Data": map[string]any{
		"ConsentId": out.Data.ConsentId, "Reference": "CHECK-1", "InstructedAmount": map[string]any{"Amount": "10.00", "Currency": "GBP"}}}})
	expect(t, r, 201)
	if !strings.Contains(string(r.Body), `"FundsAvailable":true`) {
		t.Errorf("funds confirmation %s", r.Body)
	}
	r = s.get(cbp4+"/funds-confirmation-consents/"+out.Data.ConsentId, cc)
	expect(t, r, 200)
	if !strings.Contains(string(r.Body), `"Status":"AUTH"`) {
		t.Errorf("an authorised funds consent: %s", r.Body)
	}
	expect(t, s.do(req{method: "DELETE", path: cbp4 + "/funds-confirmation-consents/" + out.Data.ConsentId, token: cc}), 204)
	r = s.get(cbp4+"/funds-confirmation-consents/"+out.Data.ConsentId, cc)
	expect(t, r, 400)
	if code, _ := v4Error(t, r); code != "U011" {
		t.Errorf("a deleted consent: %s, want U011", code)
	}
}

// aliceCurrent is alice's current account as sort code and number.
func aliceCurrent(s *sandbox) string {
	s.t.Helper()
	as, err := s.app.Store.AccountsOfPSU(context.Background(), "alice")
	if err != nil {
		s.t.Fatal(err)
	}
	return as[0].SortCode + as[0].Number
}

// TestVersionMigration: long-lived consents carry over from v3.1.11 to v4.0
// with the same ConsentId and tokens (the standard's migration rule);
// payment consents stay with their version; v4.0 consents are refused on
// v3.1 paths; the PSU's revocation reads CANC in v4.0 while v3.1.11 keeps
// the status.
func TestVersionMigration(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	v3 := s.newTPP("private_key_jwt")
	toks, consent, err := v3.AISJourney(ctx, "alice", "alice123", []string{"ReadAccountsDetail", "ReadBalances"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cc, _ := v3.ClientCredentials(ctx, "accounts")
	expect(t, s.get(ais4+"/accounts", toks.AccessToken), 200)
	r := s.get(ais4+"/account-access-consents/"+consent, cc)
	expect(t, r, 200)
	if !strings.Contains(string(r.Body), `"Status":"AUTH"`) {
		t.Errorf("a v3.1 consent through v4.0: %s", r.Body)
	}
	// A refreshed token works on both.
	ref, err := v3.Refresh(ctx, toks.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, s.get(ais4+"/balances", ref.AccessToken), 200)
	expect(t, s.get(ais+"/balances", ref.AccessToken), 200)

	v4 := s.v4TPP()
	t4, c4, err := v4.AISJourney(ctx, "alice", "alice123", []string{"ReadAccountsBasic"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cc4, _ := v4.ClientCredentials(ctx, "accounts")
	expect(t, s.get(ais+"/accounts", t4.AccessToken), 403)
	expect(t, s.get(ais+"/account-access-consents/"+c4, cc4), 403)
	expect(t, s.get(ais4+"/accounts", t4.AccessToken), 200)

	pc, _ := v3.ClientCredentials(ctx, "payments")
	pid, err := v3.PaymentConsent(ctx, pc, tpp.DomesticInitiation("2.00", payee, "V3"))
	if err != nil {
		t.Fatal(err)
	}
	r = s.get(pis4+"/domestic-payment-consents/"+pid, pc)
	expect(t, r, 403)
	if code, _ := v4Error(t, r); code != "AG01" {
		t.Errorf("a v3.1 payment consent through v4.0: %s", code)
	}

	expect(t, s.do(req{method: "POST", path: "/sandbox/psu/revoke", body: map[string]string{"username": "alice", "password": "alice123",
		"consent_id": consent}}), 204)
	for _, p := range []struct{ path, want string }{{ais + "/account-access-consents/" + consent, `"Status":"Authorised"`},
		{ais4 + "/account-access-consents/" + consent, `"Status":"CANC"`}} {
		r := s.get(p.path, cc)
		expect(t, r, 200)
		if !strings.Contains(string(r.Body), p.want) {
			t.Errorf("%s after the PSU revoked: %s, want %s", p.path, r.Body, p.want)
		}
	}
	expect(t, s.get(ais4+"/accounts", ref.AccessToken), 401)
}

// TestV4Events: event subscriptions and aggregated polling through v4.0;
// a SET links its resource in every version that serves it: a consent
// made through v3.1 in both, one made through v4.0 in v4.0 only.
func TestV4Events(t *testing.T) {
	t.Parallel()
	s := start(t)
	clientID, token := s.eventClient("accounts")
	r := s.do(req{method: "POST", path: "/open-banking/v4.0/event-subscriptions", token: token,
		body: map[string]any{"Data": map[string]any{"Version": "4.0"}}})
	expect(t, r, 201)
	var sub subscriptionOut
	r.JSON(t, &sub)
	if !strings.HasPrefix(sub.Links.Self, s.url+"/open-banking/v4.0/event-subscriptions/") && !strings.Contains(sub.Links.Self, "/open-banking/v4.0/event-subscriptions/") {
		t.Errorf("Links.Self %s", sub.Links.Self)
	}
	v3consent := s.authorisedConsent(clientID)
	ctx := context.Background()
	c4, err := bank.NewAccountAccessConsent("aac-v4-"+uuid.NewString(), clientID, bank.AccountAccessRequest{Permissions: []string{"ReadAccountsBasic"}},
		s.app.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	c4.Version = bank.VersionUK40
	if err := s.app.Store.CreateConsent(ctx, c4); err != nil {
		t.Fatal(err)
	}
	v4consent := c4.ID
	for _, id := range []string{v3consent, v4consent} {
		s.fire(map[string]any{"consent_id": id})
	}
	r = s.do(req{method: "POST", path: "/open-banking/v4.0/events", token: token, body: map[string]any{"maxEvents": 10, "returnImmediately": true}})
	expect(t, r, 200)
	var out pollOut
	r.JSON(t, &out)
	if len(out.Sets) == 0 {
		t.Fatal("no SETs polled through v4.0")
	}
	versions := map[string][]string{}
	for _, set := range out.Sets {
		claims, _ := s.verifySET(set)
		for _, ev := range claims["events"].(map[string]any) {
			subj := ev.(map[string]any)["subject"].(map[string]any)
			rid := subj["http://openbanking.org.uk/rid"].(string)
			for _, l := range subj["http://openbanking.org.uk/rlk"].([]any) {
				versions[rid] = append(versions[rid], l.(map[string]any)["version"].(string))
			}
		}
	}
	if got := strings.Join(versions[v3consent], ","); !strings.HasPrefix(got, "v3.1,v4.0") {
		t.Errorf("a v3.1 consent's links: %s, want v3.1,v4.0", got)
	}
	if got := strings.Join(versions[v4consent], ","); got != "v4.0" {
		t.Errorf("a v4.0 consent's links: %s, want v4.0", got)
	}
	expect(t, s.get("/open-banking/v4.0/event-subscriptions", token), 200)
	subPath := "/open-banking/v4.0/event-subscriptions/" + sub.Data.EventSubscriptionId
	expect(t, s.do(req{method: "PUT", path: subPath, token: token, body: map[string]any{"Data": map[string]any{
		"EventSubscriptionId": sub.Data.EventSubscriptionId, "Version": "4.0", "EventTypes": []string{"UK.OBIE.Resource-Update"}}}}), 200)
	expect(t, s.do(req{method: "DELETE", path: subPath, token: token}), 204)
	r = s.do(req{method: "POST", path: "/open-banking/v4.0/event-subscriptions", token: token,
		body: map[string]any{"Data": map[string]any{"Version": "5.0"}}})
	expect(t, r, 400)
	if code, _ := v4Error(t, r); code != "U002" {
		t.Errorf("an unserved version: %s, want U002", code)
	}
}
