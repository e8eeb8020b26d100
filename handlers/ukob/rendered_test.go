package ukob

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/obsandbox/sandbox/handlers/ukob/obwire"
	"github.com/obsandbox/sandbox/handlers/ukob/wire31"
	"github.com/obsandbox/sandbox/internal/bank"
)

func testItems() []bank.Transaction {
	at := time.Date(2026, 3, 4, 10, 30, 0, 0, time.UTC)
	return []bank.Transaction{
		{ID: "t1", AccountID: "a1", Status: bank.StatusBooked, BookedAt: at, ValueAt: at, Amount: -1250, Currency: "GBP",
			Reference: "Tesco <Metro> & co", Information: "card \"purchase\"", Code: "IssuedCreditTransfers", SubCode: "DomesticCreditTransfer",
			MerchantName: "Tesco", MerchantCategory: "5411", Card: &bank.Card{Scheme: "Visa", AuthType: "ConsumerDevice", Name: "A N Other", Masked: "****1234"},
			Counterparty: &bank.AccountRef{Scheme: "UK.OBIE.SortCodeAccountNumber", Identification: "20041533104477", Name: "Payee"},
			Balance:      98750, HasBalance: true},
		{ID: "t2", AccountID: "a1", Status: bank.StatusPending, BookedAt: at.Add(time.Hour), ValueAt: at.Add(time.Hour), Amount: 500, Currency: "GBP"},
	}
}

// The fast path writes, byte for byte, what c.JSON writes for the same
// envelope, for both permission levels and with or without links.
func TestPageJSONIsWhatJSONWrites(t *testing.T) {
	t.Parallel()
	e := echo.New()
	links := obwire.Links{Self: "http://127.0.0.1/aisp/transactions?a=<b>&c=d", First: "http://x/?page=1", Last: "http://x/?page=3"}
	meta := obwire.Meta{TotalPages: 3, FirstAvailableDateTime: "2026-01-01T00:00:00+00:00"}
	for _, detail := range []bool{true, false} {
		items := testItems()
		var r rendered
		raw, err := r.transactions(wire31.Wire{}, items, detail)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]any, len(items))
		for i := range items {
			out[i] = wire31.Wire{}.Transaction(&items[i], detail)
		}
		want := httptest.NewRecorder()
		if err := e.NewContext(httptest.NewRequest(http.MethodGet, "/", nil), want).JSON(http.StatusOK,
			obwire.Envelope{Data: map[string]any{"Transaction": out}, Links: links, Meta: meta}); err != nil {
			t.Fatal(err)
		}
		got := httptest.NewRecorder()
		if err := pageJSON(e.NewContext(httptest.NewRequest(http.MethodGet, "/", nil), got), "Transaction", raw, links, meta); err != nil {
			t.Fatal(err)
		}
		if got.Body.String() != want.Body.String() {
			t.Errorf("detail %v:\n got %s\nwant %s", detail, got.Body, want.Body)
		}
		if g, w := got.Header().Get("Content-Type"), want.Header().Get("Content-Type"); g != w {
			t.Errorf("content type %q, want %q", g, w)
		}
	}
}

// A rendering is reused only for the very page it was made from: another
// page with equal content (a fresh read after a write) is rendered anew,
// and the two permission levels never share one.
func TestRenderedOnlyForTheSamePage(t *testing.T) {
	t.Parallel()
	var r rendered
	page := testItems()
	basic, _ := r.transactions(wire31.Wire{}, page, false)
	detail, _ := r.transactions(wire31.Wire{}, page, true)
	if string(basic) == string(detail) {
		t.Fatal("basic and detail renderings are the same")
	}
	if again, _ := r.transactions(wire31.Wire{}, page, false); &again[0] != &basic[0] {
		t.Error("the same page was rendered twice")
	}
	fresh := testItems()
	fresh[0].Status = bank.StatusRejected // what a write could change
	got, _ := r.transactions(wire31.Wire{}, fresh, false)
	if &got[0] == &basic[0] || string(got) == string(basic) {
		t.Errorf("a new page got the old rendering: %s", got)
	}
	if empty, _ := r.transactions(wire31.Wire{}, nil, true); string(empty) != "[]" {
		t.Errorf("empty page = %s", empty)
	}
}
