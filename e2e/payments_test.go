package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/obsandbox/sandbox/internal/jws"
	"github.com/obsandbox/sandbox/internal/tpp"
)

const pis = "/open-banking/v3.1/pisp"

var payee = tpp.Payee{Name: "Greenfield Lettings", SortCode: "200415", Number: "33104477"}

// balanceOf reads one balance type of an account through AIS, in pence.
func (s *sandbox) balanceOf(token, account, typ string) int64 {
	s.t.Helper()
	for _, b := range items(s.t, s.get(ais+"/accounts/"+account+"/balances", token), "Balance") {
		if b["Type"] == typ {
			amt := b["Amount"].(map[string]any)["Amount"].(string)
			var whole, frac int64
			fmt.Sscanf(strings.Replace(amt, ".", " ", 1), "%d %d", &whole, &frac)
			v := whole*100 + frac
			if b["CreditDebitIndicator"] == "Debit" {
				v = -v
			}
			return v
		}
	}
	s.t.Fatalf("no %s balance", typ)
	return 0
}

// paymentSetup registers a TPP and gets alice's AIS token to watch her
// current account.
func paymentSetup(t *testing.T, s *sandbox) (*tpp.Client, string, string) {
	t.Helper()
	c := s.newTPP("private_key_jwt")
	toks, _, err := c.AISJourney(context.Background(), "alice", "alice123", tpp.AllPermissions, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, toks.AccessToken, s.accountsOf("alice")[0]
}

// approvedPayment makes a domestic payment consent for amount and has alice
// approve it on acct: the client-credentials token, the consent, its
// initiation and the PSU's tokens.
func approvedPayment(t *testing.T, c *tpp.Client, acct, amount, ref string) (cc, id string, in map[string]any, toks *tpp.Tokens) {
	t.Helper()
	ctx := context.Background()
	cc, _ = c.ClientCredentials(ctx, "payments")
	in = tpp.DomesticInitiation(amount, payee, ref)
	id, err := c.PaymentConsent(ctx, cc, in)
	if err != nil {
		t.Fatal(err)
	}
	if toks, err = c.Approve(ctx, id, tpp.AuthOptions{Scope: "openid payments"}, "alice", "alice123", []string{acct}); err != nil {
		t.Fatal(err)
	}
	return cc, id, in, toks
}

// TestPaymentJourney: consent, approval, funds check, payment; the money
// moves to the penny: InterimAvailable drops at once with a Pending debit,
// the same transaction is Booked on settlement (sandbox clock) and
// InterimBooked follows; the consent is Consumed.
func TestPaymentJourney(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c, aisTok, acct := paymentSetup(t, s)
	avail0, booked0 := s.balanceOf(aisTok, acct, "InterimAvailable"), s.balanceOf(aisTok, acct, "InterimBooked")

	cc, id, in, toks := approvedPayment(t, c, acct, "25.17", "RENT DEC")
	if toks.RefreshToken != "" {
		t.Error("a payment consent got a refresh token")
	}
	var fc struct {
		Data struct{ FundsAvailableResult struct{ FundsAvailable bool } }
	}
	r := s.get(pis+"/domestic-payment-consents/"+id+"/funds-confirmation", toks.AccessToken)
	expect(t, r, 200)
	r.JSON(t, &fc)
	if !fc.Data.FundsAvailableResult.FundsAvailable {
		t.Fatal("alice has no funds for 25.17")
	}
	pid, status, err := c.Pay(ctx, toks.AccessToken, id, in, uuid.NewString())
	if err != nil {
		t.Fatal(err)
	}
	if status != "Pending" {
		t.Errorf("status %s, want Pending", status)
	}
	if got := s.balanceOf(aisTok, acct, "InterimAvailable"); got != avail0-2517 {
		t.Errorf("InterimAvailable %d, want %d", got, avail0-2517)
	}
	if got := s.balanceOf(aisTok, acct, "InterimBooked"); got != booked0 {
		t.Errorf("InterimBooked moved before settlement: %d, want %d", got, booked0)
	}
	txs := items(t, s.get(ais+"/accounts/"+acct+"/transactions?page-size=5", aisTok), "Transaction")
	pending := txs[0]
	if pending["Status"] != "Pending" || pending["Amount"].(map[string]any)["Amount"] != "25.17" {
		t.Fatalf("newest transaction %v, want the pending 25.17 debit", pending)
	}
	admin := s.app.Config.AdminToken
	expect(t, s.do(req{method: "POST", path: "/sandbox/clock", token: admin, body: map[string]string{"advance": "3s"}}), 200)
	if st, _ := c.PaymentStatus(ctx, cc, pid); st != "AcceptedSettlementCompleted" {
		t.Errorf("status after settlement %s", st)
	}
	txs = items(t, s.get(ais+"/accounts/"+acct+"/transactions?page-size=5", aisTok), "Transaction")
	if txs[0]["TransactionId"] != pending["TransactionId"] || txs[0]["Status"] != "Booked" {
		t.Errorf("after settlement the newest transaction is %v, want %s booked", txs[0], pending["TransactionId"])
	}
	if got := s.balanceOf(aisTok, acct, "InterimBooked"); got != booked0-2517 {
		t.Errorf("InterimBooked %d, want %d", got, booked0-2517)
	}
	if got := s.balanceOf(aisTok, acct, "InterimAvailable"); got != avail0-2517 {
		t.Errorf("InterimAvailable %d after settlement, want %d", got, avail0-2517)
	}
	var det struct {
		Data struct{ PaymentStatus []struct{ Status string } }
	}
	s.get(pis+"/domestic-payments/"+pid+"/payment-details", cc).JSON(t, &det)
	var steps []string
	for _, p := range det.Data.PaymentStatus {
		steps = append(steps, p.Status)
	}
	if strings.Join(steps, ",") != "Pending,AcceptedSettlementInProcess,AcceptedSettlementCompleted" {
		t.Errorf("status history %v", steps)
	}
	var cn struct{ Data struct{ Status string } }
	s.get(pis+"/domestic-payment-consents/"+id, cc).JSON(t, &cn)
	if cn.Data.Status != "Consumed" {
		t.Errorf("consent status %s, want Consumed", cn.Data.Status)
	}
	if problems, _ := s.app.Store.CheckLedgers(ctx, 5); len(problems) > 0 {
		t.Errorf("ledger: %v", problems)
	}
}

// TestPaymentToAnotherCustomer: paying an account of this bank credits it
// on settlement.
func TestPaymentToAnotherCustomer(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.newTPP("private_key_jwt")
	carol, _, err := c.AISJourney(ctx, "carol", "carol123", tpp.AllPermissions, nil)
	if err != nil {
		t.Fatal(err)
	}
	personal := s.accountsOf("carol")[1]
	before := s.balanceOf(carol.AccessToken, personal, "InterimBooked")
	in := tpp.DomesticInitiation("40.00", tpp.Payee{Name: "Carol Mensah", SortCode: "090128", Number: "70011460"}, "DINNER")
	if _, _, err := c.PaymentJourney(ctx, "alice", "alice123", in, nil); err != nil {
		t.Fatal(err)
	}
	s.do(req{method: "POST", path: "/sandbox/clock", token: s.app.Config.AdminToken, body: map[string]string{"advance": "5s"}})
	if got := s.balanceOf(carol.AccessToken, personal, "InterimBooked"); got != before+4000 {
		t.Errorf("carol's booked balance %d, want %d", got, before+4000)
	}
	tx := items(t, s.get(ais+"/accounts/"+personal+"/transactions?page-size=1", carol.AccessToken), "Transaction")[0]
	if tx["CreditDebitIndicator"] != "Credit" || tx["Amount"].(map[string]any)["Amount"] != "40.00" {
		t.Errorf("carol's newest transaction %v", tx)
	}
}

// TestInsufficientFunds: bob cannot pay 1,000.00: funds confirmation says
// no, the payment is Rejected with a reason, and nothing moves.
func TestInsufficientFunds(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.newTPP("private_key_jwt")
	cc, _ := c.ClientCredentials(ctx, "payments")
	in := tpp.DomesticInitiation("1000.00", payee, "TOO MUCH")
	id, _ := c.PaymentConsent(ctx, cc, in)
	a, _ := c.Authorize(ctx, id, tpp.AuthOptions{Scope: "openid payments"})
	to, _ := c.Headless(ctx, a, "bob", "bob123", "approve", nil)
	code, err := c.Callback(ctx, a, to)
	if err != nil {
		t.Fatal(err)
	}
	toks, _ := c.Exchange(ctx, a, code)
	var fc struct {
		Data struct{ FundsAvailableResult struct{ FundsAvailable bool } }
	}
	s.get(pis+"/domestic-payment-consents/"+id+"/funds-confirmation", toks.AccessToken).JSON(t, &fc)
	if fc.Data.FundsAvailableResult.FundsAvailable {
		t.Error("bob has funds for 1,000.00")
	}
	before := s.bankHash()
	pid, status, err := c.Pay(ctx, toks.AccessToken, id, in, uuid.NewString())
	if err != nil {
		t.Fatal(err)
	}
	if status != "Rejected" {
		t.Fatalf("status %s, want Rejected", status)
	}
	var det struct {
		Data struct {
			PaymentStatus []struct {
				Status       string
				StatusDetail struct{ StatusReasonDescription string }
			}
		}
	}
	s.get(pis+"/domestic-payments/"+pid+"/payment-details", cc).JSON(t, &det)
	last := det.Data.PaymentStatus[len(det.Data.PaymentStatus)-1]
	if last.Status != "Rejected" || !strings.Contains(last.StatusDetail.StatusReasonDescription, "Insufficient") {
		t.Errorf("details %+v", det.Data.PaymentStatus)
	}
	_ = before
}

// TestIdempotency: a replay gives the same payment with 201; another body
// under the same key is refused and changes nothing; 50 concurrent replays
// make exactly one payment.
func TestIdempotency(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.newTPP("private_key_jwt")
	cc, _ := c.ClientCredentials(ctx, "payments")
	in := tpp.DomesticInitiation("12.00", payee, "IDEM")
	key := uuid.NewString()
	body := map[string]any{"Data": map[string]any{"Initiation": in}, "Risk": map[string]any{"PaymentContextCode": "PartyToParty"}}
	st1, b1, _, _ := c.SignedPost(ctx, pis+"/domestic-payment-consents", cc, key, body)
	st2, b2, _, _ := c.SignedPost(ctx, pis+"/domestic-payment-consents", cc, key, body)
	if st1 != 201 || st2 != 201 {
		t.Fatalf("statuses %d %d", st1, st2)
	}
	var c1, c2 struct{ Data struct{ ConsentId string } }
	json.Unmarshal(b1, &c1)
	json.Unmarshal(b2, &c2)
	if c1.Data.ConsentId != c2.Data.ConsentId {
		t.Fatalf("replay made a second consent: %s, %s", c1.Data.ConsentId, c2.Data.ConsentId)
	}
	// Whitespace and key order do not make another body.
	raw, _ := json.MarshalIndent(body, "", "    ")
	sig, _ := c.Signature(raw)
	st, _, _, _ := c.Send(ctx, "POST", pis+"/domestic-payment-consents", "application/json", cc, raw, map[string]string{"x-idempotency-key": key, "x-jws-signature": sig})
	if st != 201 {
		t.Errorf("the same body re-indented: %d", st)
	}
	changed := map[string]any{"Data": map[string]any{"Initiation": tpp.DomesticInitiation("13.00", payee, "IDEM")}, "Risk": map[string]any{}}
	n0, _ := s.app.Store.CountConsents(ctx)
	st, b, _, _ := c.SignedPost(ctx, pis+"/domestic-payment-consents", cc, key, changed)
	if st != 400 || !strings.Contains(string(b), "UK.OBIE.Header.Invalid") || !strings.Contains(string(b), "x-idempotency-key") {
		t.Errorf("another body under the key: %d %s", st, b)
	}
	if n1, _ := s.app.Store.CountConsents(ctx); n1 != n0 {
		t.Error("the refused body created a consent")
	}

	id := c1.Data.ConsentId
	a, _ := c.Authorize(ctx, id, tpp.AuthOptions{Scope: "openid payments"})
	to, _ := c.Headless(ctx, a, "alice", "alice123", "approve", nil)
	code, _ := c.Callback(ctx, a, to)
	toks, err := c.Exchange(ctx, a, code)
	if err != nil {
		t.Fatal(err)
	}
	pkey := uuid.NewString()
	var wg sync.WaitGroup
	ids := make([]string, 50)
	codes := make([]int, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, b, _, err := c.SignedPost(ctx, pis+"/domestic-payments", toks.AccessToken, pkey,
				map[string]any{"Data": map[string]any{"ConsentId": id, "Initiation": in}, "Risk": map[string]any{"PaymentContextCode": "PartyToParty"}})
			if err != nil {
				t.Error(err)
				return
			}
			var out struct {
				Data struct{ DomesticPaymentId string }
			}
			json.Unmarshal(b, &out)
			ids[i], codes[i] = out.Data.DomesticPaymentId, st
		}()
	}
	wg.Wait()
	for i := range ids {
		if codes[i] != 201 || ids[i] != ids[0] || ids[0] == "" {
			t.Fatalf("replay %d: %d %q, want 201 %q", i, codes[i], ids[i], ids[0])
		}
	}
	ps, _ := s.app.Store.PaymentsOfConsent(ctx, id)
	if len(ps) != 1 {
		t.Errorf("%d payments for one key, want 1", len(ps))
	}
}

// TestPaymentRefusals: each rule of the payment APIs refused with its code.
func TestPaymentRefusals(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.newTPP("private_key_jwt")
	other := s.newTPP("private_key_jwt")
	cc, _ := c.ClientCredentials(ctx, "payments")
	in := tpp.DomesticInitiation("10.00", payee, "REF")
	consentBody := func(mod func(map[string]any)) map[string]any {
		i := tpp.DomesticInitiation("10.00", payee, "REF")
		if mod != nil {
			mod(i)
		}
		return map[string]any{"Data": map[string]any{"Initiation": i}, "Risk": map[string]any{}}
	}
	amount := func(a string) func(map[string]any) {
		return func(i map[string]any) { i["InstructedAmount"] = map[string]any{"Amount": a, "Currency": "GBP"} }
	}
	consentTests := []struct {
		name string
		body map[string]any
		code string
	}{
		{"ZeroAmount", consentBody(amount("0.00")), "UK.OBIE.Field.Invalid"},
		{"NegativeAmount", consentBody(amount("-5.00")), "UK.OBIE.Field.Invalid"},
		{"TooPrecise", consentBody(amount("10.001")), "UK.OBIE.Field.Invalid"},
		{"LowerCaseCurrency", consentBody(func(i map[string]any) { i["InstructedAmount"] = map[string]any{"Amount": "1.00", "Currency": "gbp"} }), "UK.OBIE.Field.Invalid"},
		{"EUR", consentBody(func(i map[string]any) { i["InstructedAmount"] = map[string]any{"Amount": "1.00", "Currency": "EUR"} }), "UK.OBIE.Unsupported.Currency"},
		{"BadSortCode", consentBody(func(i map[string]any) { i["CreditorAccount"].(map[string]any)["Identification"] = "20-04-15 33104477" }), "UK.OBIE.Field.Invalid"},
		{"BadIBAN", consentBody(func(i map[string]any) {
			i["CreditorAccount"] = map[string]any{"SchemeName": "UK.OBIE.IBAN", "Identification": "GB00SBOX09012841726350", "Name": "X"}
		}), "UK.OBIE.Field.Invalid"},
		{"PANScheme", consentBody(func(i map[string]any) {
			i["CreditorAccount"] = map[string]any{"SchemeName": "UK.OBIE.PAN", "Identification": "4929123456781234", "Name": "X"}
		}), "UK.OBIE.Unsupported.Scheme"},
		{"LocalInstrument", consentBody(func(i map[string]any) { i["LocalInstrument"] = "UK.OBIE.Paym" }), "UK.OBIE.Unsupported.LocalInstrument"},
		{"MissingCreditor", consentBody(func(i map[string]any) { delete(i, "CreditorAccount") }), "UK.OBIE.Field.Missing"},
	}
	for _, tt := range consentTests {
		t.Run(tt.name, func(t *testing.T) {
			st, b, hdr, _ := c.SignedPost(ctx, pis+"/domestic-payment-consents", cc, uuid.NewString(), tt.body)
			if st != 400 || !strings.Contains(string(b), tt.code) {
				t.Errorf("%d %s, want 400 %s", st, b, tt.code)
			}
			if hdr.Get("x-jws-signature") == "" {
				t.Error("a PIS 400 without x-jws-signature")
			}
		})
	}
	keyTests := []struct {
		name, key, code string
	}{
		{"MissingKey", "", "UK.OBIE.Header.Missing"},
		{"LongKey", strings.Repeat("k", 41), "UK.OBIE.Header.Invalid"},
		{"OnlySpaces", "   ", "UK.OBIE.Header.Invalid"},
	}
	for _, tt := range keyTests {
		t.Run(tt.name, func(t *testing.T) {
			raw, _ := json.Marshal(consentBody(nil))
			sig, _ := c.Signature(raw)
			h := map[string]string{"x-jws-signature": sig}
			if tt.key != "" {
				h["x-idempotency-key"] = tt.key
			}
			st, b, _, _ := c.Send(ctx, "POST", pis+"/domestic-payment-consents", "application/json", cc, raw, h)
			if st != 400 || !strings.Contains(string(b), tt.code) {
				t.Errorf("%d %s, want 400 %s", st, b, tt.code)
			}
		})
	}

	// An authorised consent and its token.
	id, _ := c.PaymentConsent(ctx, cc, in)
	a, _ := c.Authorize(ctx, id, tpp.AuthOptions{Scope: "openid payments"})
	to, _ := c.Headless(ctx, a, "alice", "alice123", "approve", nil)
	code, _ := c.Callback(ctx, a, to)
	toks, err := c.Exchange(ctx, a, code)
	if err != nil {
		t.Fatal(err)
	}
	pay := func(token, consent string, ini map[string]any, risk map[string]any) (int, string) {
		st, b, _, _ := c.SignedPost(ctx, pis+"/domestic-payments", token, uuid.NewString(),
			map[string]any{"Data": map[string]any{"ConsentId": consent, "Initiation": ini}, "Risk": risk})
		return st, string(b)
	}
	risk := map[string]any{"PaymentContextCode": "PartyToParty"}
	changed := func(mod func(map[string]any)) map[string]any {
		b, _ := json.Marshal(in)
		var i map[string]any
		json.Unmarshal(b, &i)
		mod(i)
		return i
	}
	otherCC, _ := other.ClientCredentials(ctx, "payments")
	otherConsent, _ := other.PaymentConsent(ctx, otherCC, in)
	aisToks, _, _ := c.AISJourney(ctx, "alice", "alice123", []string{"ReadAccountsBasic"}, nil)
	payTests := []struct {
		name   string
		token  string
		consnt string
		ini    map[string]any
		risk   map[string]any
		status int
		code   string
	}{
		{"AmountChanged", toks.AccessToken, id, changed(amount("10.01")), risk, 400, "UK.OBIE.Resource.ConsentMismatch"},
		{"CreditorChanged", toks.AccessToken, id, changed(func(i map[string]any) { i["CreditorAccount"].(map[string]any)["Identification"] = "20041599999999" }), risk, 400, "UK.OBIE.Resource.ConsentMismatch"},
		{"RiskChanged", toks.AccessToken, id, in, map[string]any{"PaymentContextCode": "TransferToSelf"}, 400, "UK.OBIE.Resource.ConsentMismatch"},
		{"AnotherClientsConsent", toks.AccessToken, otherConsent, in, risk, 403, "UK.SBOX.Forbidden"},
		{"AISToken", aisToks.AccessToken, id, in, risk, 403, "UK.SBOX.Forbidden"},
		{"ClientCredentialsToken", cc, id, in, risk, 403, "UK.SBOX.Forbidden"},
	}
	for _, tt := range payTests {
		t.Run(tt.name, func(t *testing.T) {
			st, b := pay(tt.token, tt.consnt, tt.ini, tt.risk)
			if st != tt.status || !strings.Contains(b, tt.code) {
				t.Errorf("%d %s, want %d %s", st, b, tt.status, tt.code)
			}
		})
	}
	t.Run("ConsumedConsent", func(t *testing.T) {
		if st, b := pay(toks.AccessToken, id, in, risk); st != 201 {
			t.Fatalf("first payment %d %s", st, b)
		}
		st, b := pay(toks.AccessToken, id, in, risk)
		if st != 400 || !strings.Contains(b, "UK.OBIE.Resource.InvalidConsentStatus") {
			t.Errorf("second payment on a consumed consent: %d %s", st, b)
		}
		r := s.get(pis+"/domestic-payment-consents/"+id+"/funds-confirmation", toks.AccessToken)
		expect(t, r, 400)
		if r.obError(t) != "UK.OBIE.Resource.InvalidConsentStatus" {
			t.Error(string(r.Body))
		}
	})
	t.Run("UnknownPayment", func(t *testing.T) {
		r := s.get(pis+"/domestic-payments/dp-nope", cc)
		expect(t, r, 400)
		if r.obError(t) != "UK.OBIE.Resource.NotFound" {
			t.Error(string(r.Body))
		}
	})
}

// TestMessageSignatures: the bank checks x-jws-signature (required in fapi,
// verified when present in dev) and signs its PIS responses.
func TestMessageSignatures(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer())
	ctx := context.Background()
	c := s.newTPP("private_key_jwt")
	other := s.newTPP("private_key_jwt")
	cc, _ := c.ClientCredentials(ctx, "payments")
	body, _ := json.Marshal(map[string]any{"Data": map[string]any{"Initiation": tpp.DomesticInitiation("5.00", payee, "SIG")}, "Risk": map[string]any{}})
	now := s.app.Clock.Wall()
	header := func(mod func(map[string]any)) map[string]any {
		h := map[string]any{"alg": "PS256", "kid": c.KID, "typ": "JOSE", jws.ClaimIAT: now.Unix(), jws.ClaimISS: c.ClientID,
			jws.ClaimTAN: jws.TAN, "crit": []string{jws.ClaimIAT, jws.ClaimISS, jws.ClaimTAN}}
		if mod != nil {
			mod(h)
		}
		return h
	}
	sign := func(h map[string]any, payload []byte, key any) string {
		hb, _ := json.Marshal(h)
		head := base64.RawURLEncoding.EncodeToString(hb)
		sig, err := jwt.SigningMethodPS256.Sign(head+"."+base64.RawURLEncoding.EncodeToString(payload), key)
		if err != nil {
			t.Fatal(err)
		}
		return head + ".." + base64.RawURLEncoding.EncodeToString(sig)
	}
	tampered, _ := json.Marshal(map[string]any{"Data": map[string]any{"Initiation": tpp.DomesticInitiation("500.00", payee, "SIG")}, "Risk": map[string]any{}})
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + ".."
	tests := []struct {
		name, sig, code string
	}{
		{"OK", sign(header(nil), body, c.Key), ""},
		{"Tampered", sign(header(nil), tampered, c.Key), "UK.OBIE.Signature.Invalid"},
		{"WrongKey", sign(header(nil), body, other.Key), "UK.OBIE.Signature.Invalid"},
		{"AlgNone", none, "UK.OBIE.Signature.InvalidClaim"},
		{"NotDetached", "abc.def.ghi", "UK.OBIE.Signature.Malformed"},
		{"NoIAT", sign(header(func(h map[string]any) { delete(h, jws.ClaimIAT) }), body, c.Key), "UK.OBIE.Signature.MissingClaim"},
		{"NoISS", sign(header(func(h map[string]any) { delete(h, jws.ClaimISS) }), body, c.Key), "UK.OBIE.Signature.MissingClaim"},
		{"NoTAN", sign(header(func(h map[string]any) { delete(h, jws.ClaimTAN) }), body, c.Key), "UK.OBIE.Signature.MissingClaim"},
		{"CritMissingOne", sign(header(func(h map[string]any) { h["crit"] = []string{jws.ClaimIAT, jws.ClaimISS} }), body, c.Key), "UK.OBIE.Signature.InvalidClaim"},
		{"CritExtra", sign(header(func(h map[string]any) { h["crit"] = []string{jws.ClaimIAT, jws.ClaimISS, jws.ClaimTAN, "b64"} }), body, c.Key), "UK.OBIE.Signature.InvalidClaim"},
		{"IATFuture", sign(header(func(h map[string]any) { h[jws.ClaimIAT] = now.Add(time.Hour).Unix() }), body, c.Key), "UK.OBIE.Signature.InvalidClaim"},
		{"ISSAnotherClient", sign(header(func(h map[string]any) { h[jws.ClaimISS] = other.ClientID }), body, c.Key), "UK.OBIE.Signature.InvalidClaim"},
		{"B64False", sign(header(func(h map[string]any) { h["b64"] = false }), body, c.Key), "UK.OBIE.Signature.InvalidClaim"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, b, hdr, _ := c.Send(ctx, "POST", pis+"/domestic-payment-consents", "application/json", cc, body,
				map[string]string{"x-idempotency-key": uuid.NewString(), "x-jws-signature": tt.sig})
			if tt.code == "" {
				if st != 201 {
					t.Fatalf("%d %s", st, b)
				}
				// The bank's own signature verifies against its JWKS.
				kid, key := s.app.Auth.Keys.Signer()
				err := jws.Verify(hdr.Get("x-jws-signature"), b, jws.Expect{Issuers: []string{"0015800001SANDBOX"}, Now: s.app.Clock.Wall(),
					Key: func(k string) (any, bool) { return &key.PublicKey, k == kid }})
				if err != nil {
					t.Errorf("the bank's response signature: %v", err)
				}
				return
			}
			if st != 400 || !strings.Contains(string(b), tt.code) {
				t.Errorf("%d %s, want 400 %s", st, b, tt.code)
			}
		})
	}
}

var _ = http.StatusOK

// TestReadsSeeSettlementAtOnce: once the sandbox clock has passed a
// payment's settlement, the very next read shows it — transactions and
// balances through v3.1.11 and v4.0 as through the Berlin Group — without
// waiting for the background loop that moves payments along (the clock is
// moved here directly, as time passes, not through the admin API, which
// catches up itself).
func TestReadsSeeSettlementAtOnce(t *testing.T) {
	t.Parallel()
	s := start(t, realIssuer(), frozen())
	ctx := context.Background()
	c, aisTok, acct := paymentSetup(t, s)
	booked0 := s.balanceOf(aisTok, acct, "InterimBooked")
	_, id, in, toks := approvedPayment(t, c, acct, "7.31", "SETTLE NOW")
	if _, _, err := c.Pay(ctx, toks.AccessToken, id, in, uuid.NewString()); err != nil {
		t.Fatal(err)
	}
	s.app.Clock.Advance(time.Minute)
	for base, booked := range map[string]string{ais: "Booked", strings.Replace(ais, "v3.1", "v4.0", 1): "BOOK"} {
		txs := items(t, s.get(base+"/accounts/"+acct+"/transactions?page-size=5", aisTok), "Transaction")
		if len(txs) == 0 {
			t.Fatalf("%s: no transactions", base)
		}
		if txs[0]["Status"] != booked || txs[0]["Amount"].(map[string]any)["Amount"] != "7.31" {
			t.Errorf("%s: newest transaction %v, want the 7.31 debit booked", base, txs[0])
		}
	}
	if got := s.balanceOf(aisTok, acct, "InterimBooked"); got != booked0-731 {
		t.Errorf("InterimBooked %d right after settlement, want %d", got, booked0-731)
	}
	// Moving the payment along is the bank's doing, not the reader's.
	for _, e := range s.audit("client_id=" + c.ClientID) {
		if e.Decision == "committed" && e.Method == http.MethodGet {
			t.Errorf("the read %s is recorded as committing a change (entry %d)", e.Path, e.Seq)
		}
	}
}
