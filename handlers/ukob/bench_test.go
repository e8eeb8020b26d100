package ukob

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/api"
	"github.com/obsandbox/sandbox/fixtures"
	"github.com/obsandbox/sandbox/handlers/httpx"
	"github.com/obsandbox/sandbox/handlers/ukob/obwire"
	"github.com/obsandbox/sandbox/handlers/ukob/wire31"
	"github.com/obsandbox/sandbox/internal/bank"
	"github.com/obsandbox/sandbox/internal/store"
	"github.com/obsandbox/sandbox/seed"
)

var benchSpec struct {
	once sync.Once
	spec *openapi3.T
	err  error
}

// benchOps loads the contract once and indexes its operations as New does.
func benchOps(b *testing.B) *Server {
	b.Helper()
	benchSpec.once.Do(func() { benchSpec.spec, benchSpec.err = api.Load(context.Background()) })
	if benchSpec.err != nil {
		b.Fatal(benchSpec.err)
	}
	core := &httpx.Server{Cfg: httpx.Config{Issuer: "http://127.0.0.1:8080"}}
	spec := func() (*openapi3.T, error) { return benchSpec.spec, nil }
	return &Server{Server: core, w: wire31.Wire{}, contract: core.NewContract(spec, api.BasePath)}
}

func benchValidate(b *testing.B, op *httpx.Operation, newReq func() *http.Request, names, values []string) {
	b.Helper()
	e := echo.New()
	h := httpx.ValidateRequest(op)(func(echo.Context) error { return nil })
	b.ReportAllocs()
	for b.Loop() {
		c := e.NewContext(newReq(), httptest.NewRecorder())
		c.SetParamNames(names...)
		c.SetParamValues(values...)
		if err := h(c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateTransactionsQuery is request validation of the 50-row
// transactions page: declared query parameters, then kin-openapi's check
// of parameters and headers against api/openapi.yaml.
func BenchmarkValidateTransactionsQuery(b *testing.B) {
	s := benchOps(b)
	op := s.contract.Op("GET", "/aisp/accounts/{AccountId}/transactions")
	benchValidate(b, op, func() *http.Request {
		r := httptest.NewRequest(http.MethodGet, api.BasePath+"/aisp/accounts/acc-1/transactions?fromBookingDateTime=2025-01-01T00:00:00&page-size=50", nil)
		r.Header.Set("Authorization", "Bearer x")
		return r
	}, []string{"AccountId"}, []string{"acc-1"})
}

// BenchmarkValidatePaymentBody is request validation of a domestic payment:
// headers, the JSON shape limits and the body against its schema.
func BenchmarkValidatePaymentBody(b *testing.B) {
	s := benchOps(b)
	op := s.contract.Op("POST", "/pisp/domestic-payments")
	body := `{"Data":{"ConsentId":"pdc-4b7a2f0e-1c3d-4e5f-8a9b-0c1d2e3f4a5b","Initiation":{"InstructionIdentification":"INSTR-1a2b3c4d",` +
		`"EndToEndIdentification":"E2E-5e6f7a8b","LocalInstrument":"UK.OBIE.FPS","InstructedAmount":{"Amount":"10.00","Currency":"GBP"},` +
		`"CreditorAccount":{"SchemeName":"UK.OBIE.SortCodeAccountNumber","Identification":"20041533104477","Name":"Greenfield Lettings"},` +
		`"RemittanceInformation":{"Reference":"RENT","Unstructured":"Sandbox payment"}}},"Risk":{"PaymentContextCode":"PartyToParty"}}`
	benchValidate(b, op, func() *http.Request {
		r := httptest.NewRequest(http.MethodPost, api.BasePath+"/pisp/domestic-payments", strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer x")
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("x-idempotency-key", "key-0001")
		r.Header.Set("x-jws-signature", "eyJhbGciOiJQUzI1NiJ9..c2ln")
		return r
	}, nil, nil)
}

var benchPage struct {
	once  sync.Once
	page  bank.TxPage
	accts []bank.Account
	err   error
}

// benchTransactions reads a real 50-row page (alice's current account) from
// a small seeded bank, once.
func benchTransactions(b *testing.B) (bank.TxPage, []bank.Account) {
	b.Helper()
	benchPage.once.Do(func() {
		ctx := context.Background()
		dir := b.TempDir()
		st, err := store.Open(ctx, filepath.Join(dir, "bench.db"), store.Options{})
		if err != nil {
			benchPage.err = err
			return
		}
		defer st.Close()
		fx, err := fixtures.Load()
		if err != nil {
			benchPage.err = err
			return
		}
		if _, err := seed.Run(ctx, st, fx, seed.Options{Seed: 42}); err != nil {
			benchPage.err = err
			return
		}
		accts, err := st.AccountsOfPSU(ctx, "alice")
		if err != nil {
			benchPage.err = err
			return
		}
		benchPage.accts = accts
		benchPage.page, benchPage.err = st.Transactions(ctx, bank.TxQuery{Accounts: accts[:1], From: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), Direction: bank.DirectionBoth, Limit: 50})
	})
	if benchPage.err != nil {
		b.Fatal(benchPage.err)
	}
	return benchPage.page, benchPage.accts
}

// BenchmarkEncodeTransactions is the JSON side of the 50-row page: the wire
// mapping and encoding/json, as the handler's c.JSON does it.
func BenchmarkEncodeTransactions(b *testing.B) {
	page, _ := benchTransactions(b)
	b.ReportAllocs()
	var n int
	for b.Loop() {
		out := make([]any, len(page.Items))
		for i := range page.Items {
			out[i] = wire31.Wire{}.Transaction(&page.Items[i], true)
		}
		env := obwire.Envelope{Data: map[string]any{"Transaction": out}, Links: obwire.Links{Self: "http://127.0.0.1:8080/x"},
			Meta: obwire.Meta{TotalPages: 9, FirstAvailableDateTime: obwire.ISOTime(page.First), LastAvailableDateTime: obwire.ISOTime(page.Last)}}
		w := &countWriter{}
		if err := json.NewEncoder(w).Encode(env); err != nil {
			b.Fatal(err)
		}
		n = w.n
	}
	b.ReportMetric(float64(n), "bytes/page")
}

// BenchmarkEncodeAccounts is the same for the 3-account list.
func BenchmarkEncodeAccounts(b *testing.B) {
	_, accts := benchTransactions(b)
	perms, err := bank.ParsePermissions([]string{"ReadAccountsDetail"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		out := mapped(accts, func(a bank.Account) any { return wire31.Wire{}.Account(a, perms) })
		env := obwire.Envelope{Data: map[string]any{"Account": out}, Links: obwire.Links{Self: "http://127.0.0.1:8080/x"}, Meta: obwire.Meta{TotalPages: 1}}
		if err := json.NewEncoder(io.Discard).Encode(env); err != nil {
			b.Fatal(err)
		}
	}
}

type countWriter struct{ n int }

func (w *countWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }
